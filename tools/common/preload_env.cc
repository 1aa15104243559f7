#include "tools/common/preload_env.h"

#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "sched/config_parse.h"

namespace cohook::tools {

const char* const kThreadsForm = "expected a whole number from 1 to 1024";
const char* const kStackSizeForm = "expected a size from 16K to 1G: bytes, or a number with K, M or G (e.g. 256K)";

bool parse_threads_flag(const char* text) {
  int threads = 0;
  return cohook::parse_count(text, 1024, &threads);
}

bool parse_stack_size_flag(const char* text) {
  std::size_t bytes = 0;
  return cohook::parse_size(text, &bytes) && bytes >= (std::size_t{16} << 10) && bytes <= (std::size_t{1} << 30);
}

std::string find_cohook_library() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  self[n] = '\0';
  std::string dir(self);
  dir.erase(dir.rfind('/'));  // .../bin
  std::string candidate = dir.substr(0, dir.rfind('/')) + "/lib/libcohook.so";
  return ::access(candidate.c_str(), R_OK) == 0 ? candidate : "";
}

void set_preload_environment(const std::string& library, const PreloadSettings& settings) {
  std::string preload = library;
  if (const char* existing = std::getenv("LD_PRELOAD"); existing != nullptr && *existing != '\0') {
    if (std::string_view(existing).find(library) != std::string_view::npos) preload = existing;
    else preload += std::string(" ") + existing;
  }
  ::setenv("LD_PRELOAD", preload.c_str(), 1);
  ::setenv("COHOOK_MODE", settings.native_threads ? "native" : "green", 1);
  if (settings.threads != nullptr) ::setenv("COHOOK_THREADS", settings.threads, 1);
  if (settings.stack_size != nullptr) ::setenv("COHOOK_STACK_SIZE", settings.stack_size, 1);
}

}  // namespace cohook::tools
