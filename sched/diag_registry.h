// Every scheduler of the process, and how the diagnostics collect what its coroutines are doing:
// each scheduler describes its own coroutines (unwinding their saved contexts) at its next safe
// point, so no stack is read while its coroutine could run. A scheduler that does not reach a
// safe point in time (a coroutine hogs it, or its thread runs no loop) is named instead.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sched/coroutine.h"
#include "sched/stack_trace.h"

namespace cohook::diag {

struct CoroutineRecord {
  std::uint64_t id = 0;
  std::string name;
  CoroutineState state = CoroutineState::kCreated;
  const char* wait_what = nullptr;  // static strings ("read", "mutex")
  int wait_fd = -1;
  std::int64_t parked_ms = -1;  // how long parked (-1: not parked)
  bool current = false;         // the coroutine that asked for the dump
  int thread_index = 0;         // position of its scheduler in the registry
  StackTrace stack;
};

struct CaptureRequest;

// One per scheduler, owned by the registry.
struct SchedulerSlot {
  Scheduler* scheduler = nullptr;
  pthread_t thread{};
  int index = 0;
  std::atomic<std::uint64_t>* switch_epoch = nullptr;
  std::atomic<CaptureRequest*> request{nullptr};
  // Hog watchdog state (diagnostics thread and the hog signal handler; see diag_thread.cc).
  std::uint64_t seen_epoch = 0;
  std::int64_t seen_since_ms = 0;
  std::int64_t seen_cpu_ms = 0;  // the thread's CPU time when the stretch was first seen
  std::uint64_t reported_epoch = 0;
  std::atomic<int> hog_capture{0};  // 1: asked, 2: captured
  std::uint64_t hog_id = 0;
  char hog_name[64] = {};
  StackTrace hog_stack;
};

// What a scheduler said about itself at its safe point (for the global deadlock check).
struct SchedulerState {
  int index = 0;
  bool idle = false;  // nothing ready, no timer, no fd wait, no wake-up pending
  std::uint64_t switch_epoch = 0;
  std::size_t live = 0;
  bool in_runtime = false;
};

struct Collection {
  std::vector<CoroutineRecord> records;
  std::vector<SchedulerState> states;
  std::vector<std::string> silent;  // schedulers that did not answer, described
  int threads = 0;
};

// Describes the coroutines of every scheduler; `only_ids` (if not null) limits it to those.
// The caller's own scheduler (if any) is described directly. Waits at most `patience` for the
// others. Not from a signal handler.
// With describe false, only `states` is filled (cheap: no unwinding).
Collection collect(const std::vector<std::uint64_t>* only_ids, std::chrono::milliseconds patience,
                   bool describe = true);

// Runs fn(slot) for every registered scheduler, under the registry lock (fn must not block).
template <class Fn>
void for_each_slot(Fn fn);
void lock_registry();
void unlock_registry();
std::vector<SchedulerSlot*>& slots_locked();

template <class Fn>
void for_each_slot(Fn fn) {
  lock_registry();
  for (SchedulerSlot* s : slots_locked()) fn(*s);
  unlock_registry();
}

// The name reports give a coroutine: what the provider says (green mode: the name the program
// gave the thread with pthread_setname_np), else the coroutine's own. Only where `c` cannot run
// meanwhile: on its home thread, at a safe point or from itself.
const char* display_name(const Coroutine& c);
// Set once, before any report (null: the coroutine's own names). Returns null for "no opinion".
void set_name_provider(const char* (*provider)(const Coroutine& c));

// Starts the diagnostics thread (dump signal, hog watchdog, reports) if it is not running.
void ensure_diag_thread();

}  // namespace cohook::diag
