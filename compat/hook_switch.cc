// libco's per-coroutine switch for hooked system calls: co_enable_hook_sys and friends, and
// co_accept. A coroutine from co_create starts with hooks off (set in routine.cc); with hooks off
// the hook layer sends its calls straight to libc. On a thread's own stack hooks never apply.
#include <sys/socket.h>

#include "compat/routine.h"

extern "C" {

void co_enable_hook_sys() {
  if (cohook::Coroutine* self = cohook::Coroutine::current()) self->set_hooks_enabled(true);
}

void co_disable_hook_sys() {
  if (cohook::Coroutine* self = cohook::Coroutine::current()) self->set_hooks_enabled(false);
}

bool co_is_enable_sys_hook() {
  cohook::Coroutine* self = cohook::Coroutine::current();
  return self != nullptr && self->hooks_enabled();
}

// libco did not hook accept and offered this instead; cohook's hook layer covers accept, so
// co_accept is accept: it parks a hooked coroutine on a blocking socket, and returns EAGAIN on a
// socket the user made non-blocking, as libco's did.
int co_accept(int fd, struct sockaddr* addr, socklen_t* len) { return ::accept(fd, addr, len); }

}  // extern "C"
