// What ends a socket's privacy (FdTable, "private socket"): the events, other than dup and close,
// after which a socket's settings must be read from the kernel again because some descriptor
// cohook does not watch may now change them. Each is reported BEFORE it happens.
//
// Reported here, in hook/: ioctl FIONBIO and setsockopt SO_RCVTIMEO/SO_SNDTIMEO (interposed in
// socket_privacy.cc), fcntl F_SETFL (fd_hooks.cc), fds sent with SCM_RIGHTS (socket_io_hooks.cc),
// system and popen (process_hooks.cc), and fork, _Fork, posix_spawn, posix_spawnp and the exec
// family (child_process_hooks.cc; libcohook.so's green layer replaces the last two groups with
// its own, which report too). An exec reports because in a vfork child it runs in the parent's
// memory: that is how vfork + exec is seen.
#pragma once

#include <sys/socket.h>

namespace cohook::hook {

// A child process is about to be made (or an exec to run in a vfork child): it shares every fd.
void note_child_process();
// message is about to be sent: any fd it carries with SCM_RIGHTS reaches another process.
void note_fds_sent(const msghdr* message);

}  // namespace cohook::hook
