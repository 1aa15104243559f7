// NonblockingWindow: for the few calls that have no per-call non-blocking form, O_NONBLOCK is set
// on the open file description for exactly one system call and restored right after it.
//
// Which calls: accept and accept4 (the listener's O_NONBLOCK is the only thing that makes them
// return EAGAIN; polling first and then accepting blocks the thread whenever another acceptor,
// in this process or another, takes the connection in between), connect (a blocking connect
// has no other way to return before the handshake) and sendfile (it has no MSG_DONTWAIT).
//
// What others can see: for the length of that one call, the file is non-blocking. Other cohook
// paths read the flag with file_status_flags(), which waits for any open window on the same fd,
// so they never mistake cohook's flag for the user's. A plain thread (or another process) that
// enters a call on the same file during the window gets EAGAIN; one already blocked in the
// kernel keeps blocking. A fork during a window leaves the child the same file, which the
// parent restores a moment later.
#pragma once

namespace cohook::hook {

class NonblockingWindow {
 public:
  // Locks fd's window and reads its status flags.
  explicit NonblockingWindow(int fd);
  NonblockingWindow(const NonblockingWindow&) = delete;
  NonblockingWindow& operator=(const NonblockingWindow&) = delete;
  ~NonblockingWindow() { close(); }

  // The user made the file non-blocking: the call is theirs, EAGAIN included; nothing to set.
  // Also true when the flags cannot be read (the call then fails on its own, with libc's errno).
  bool user_nonblocking() const { return user_nonblocking_; }
  // Sets O_NONBLOCK (unless the user had it). Returns false if the kernel refused.
  bool open();
  // Restores the flags and releases the window; errno is kept. Idempotent.
  void close();

 private:
  int fd_;
  int flags_ = -1;
  bool user_nonblocking_ = false;
  bool set_ = false;
  bool locked_ = false;
};

// fcntl(fd, F_GETFL) that never sees a window's O_NONBLOCK: the status flags the user set.
int file_status_flags(int fd);

}  // namespace cohook::hook
