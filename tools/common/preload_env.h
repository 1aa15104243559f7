// What corun and costrace share: finding libcohook.so and preparing the environment that runs a
// program under it (LD_PRELOAD, COHOOK_MODE, COHOOK_THREADS, COHOOK_STACK_SIZE).
#pragma once

#include <string>

namespace cohook::tools {

struct PreloadSettings {
  bool native_threads = false;       // --native-threads
  const char* threads = nullptr;     // --threads N (validated by parse_threads_flag)
  const char* stack_size = nullptr;  // --stack-size SIZE (validated by parse_stack_size_flag)
};

// The same forms libcohook.so accepts for COHOOK_THREADS (1..1024) and COHOOK_STACK_SIZE (16K..1G).
bool parse_threads_flag(const char* text);
bool parse_stack_size_flag(const char* text);
extern const char* const kThreadsForm;
extern const char* const kStackSizeForm;

// libcohook.so in ../lib next to the running executable's directory (the build tree's lib/, or
// PREFIX/lib after make install); "" if it is not there.
std::string find_cohook_library();

// Sets LD_PRELOAD (libcohook.so first, entries already there kept), COHOOK_MODE and the sizes,
// for this process and so for what it execs.
void set_preload_environment(const std::string& library, const PreloadSettings& settings);

}  // namespace cohook::tools
