// NativeSyncScope: marks cohook's own use of libstdc++ synchronisation that reaches the pthread
// functions through libstdc++ itself (std::condition_variable::notify_one is not inline, so the
// linker's --wrap cannot redirect it). In green mode those pthread functions are emulated for
// green threads; inside this scope they are the real ones, as cohook's own objects need.
#pragma once

namespace cohook {

extern constinit thread_local int t_native_sync_depth __attribute__((tls_model("initial-exec")));
// True on threads cohook runs for itself (scheduler loops, offload workers): outside a coroutine,
// their pthread calls are always the real ones.
extern constinit thread_local bool t_cohook_thread __attribute__((tls_model("initial-exec")));

class NativeSyncScope {
 public:
  NativeSyncScope() { ++t_native_sync_depth; }
  ~NativeSyncScope() { --t_native_sync_depth; }
  NativeSyncScope(const NativeSyncScope&) = delete;
  NativeSyncScope& operator=(const NativeSyncScope&) = delete;
};

}  // namespace cohook
