// Running PROGRAM with a trace pipe and reading its records: the part of costrace that is about
// processes and fds, not about output.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "hook/trace_record.h"
#include "tools/costrace/options.h"

namespace cohook::costrace {

class TraceSession {
 public:
  using RecordHandler = std::function<void(const trace::RecordHeader&, std::string_view)>;

  // Starts argv[options.program_index...] under libcohook.so with COHOOK_TRACE set. Exits
  // costrace with 2 if libcohook.so cannot be found or the pipe cannot be made.
  TraceSession(const Options& options, char** argv);

  // Reads records until the program has exited and (with -f) every process that inherited the
  // pipe has closed it; without -f, until the program has exited and the pipe is drained.
  // Returns the program's wait status.
  int run(const RecordHandler& handler);
  pid_t pid() const { return pid_; }

 private:
  bool read_available(const RecordHandler& handler);  // false at end of file

  const Options& options_;
  pid_t pid_ = -1;
  int read_fd_ = -1;
  std::string pending_;  // bytes of a record not yet complete
};

// The COHOOK_TRACE value for the program (hook/trace.h documents the form).
std::string trace_spec(const Options& options, int fd, pid_t pid);

}  // namespace cohook::costrace
