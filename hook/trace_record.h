// What a traced process sends to costrace: the wire format between libcohook.so (COHOOK_TRACE set)
// and tools/costrace, the only two parties that read it.
//
// Each record is one write(2) of at most PIPE_BUF bytes to the trace fd, a pipe costrace reads: the
// kernel makes such a write atomic, so records from many threads, coroutines and forked processes
// never interleave and no lock is needed on the sending side. A record is a RecordHeader followed by
// `size - sizeof(RecordHeader)` bytes of text (no terminating NUL).
#pragma once

#include <limits.h>

#include <cstdint>

namespace cohook::trace {

constexpr std::size_t kMaxRecordSize = PIPE_BUF;  // 4096 on Linux

enum class RecordKind : std::uint8_t {
  // A call that completed: the text is the whole strace line without pid/coroutine prefix or
  // timestamps, "read(5, \"GET\"..., 4096) = 78", then, with -k, the stack: one frame per line,
  // each " > /lib/x86_64-linux-gnu/libc.so.6(read+0x12) [0x7f...]".
  kCall = 1,
  // A call about to park (only a parking call sends it; one that does not park sends one kCall).
  // The text is the line up to where strace would print <unfinished ...>: "read(5, ".
  kCallStart = 2,
  // The end of the call announced by the kCallStart with the same pid, tid and coroutine. The text
  // is the rest of the line: "\"GET\"..., 4096) = 78". costrace prints one joined line if nothing
  // else came between, else strace's "<unfinished ...>" / "<... read resumed>" pair.
  kCallEnd = 3,
  // -c: one process's totals, sent when it exits or execs (per-call records are not sent then).
  // The text has one line per call name used: "<call-index> <calls> <errors> <total_ns> <parked_ns>\n".
  kSummary = 4,
  // The name a coroutine was given (sent once, before its first call record): the text is the name.
  kCoroutineName = 5,
};

enum RecordFlags : std::uint8_t {
  kOutsideCoroutine = 1,  // made by a plain thread or with hooks off: printed "co -"
  kTruncated = 2,         // the text was cut to fit one record
};

struct RecordHeader {
  std::uint16_t size;          // the whole record, header included
  RecordKind kind;
  std::uint8_t flags;          // RecordFlags
  std::uint16_t call;          // index into the traced-call table (hook/trace_calls.h)
  std::uint16_t reserved;
  std::int32_t pid;
  std::int32_t tid;            // the OS thread (the scheduler thread for a coroutine)
  std::uint64_t coroutine;     // Coroutine::id(); 0 outside a coroutine
  std::int64_t start_ns;       // CLOCK_REALTIME when the call was entered (-t, -tt, -ttt; chrome-trace)
  std::int64_t duration_ns;    // entry to return (-T); 0 in kCallStart
  std::int64_t parked_ns;      // of which the coroutine was parked; 0 in kCallStart
  std::int64_t result;         // the call's return value; 0 in kCallStart
  std::int32_t error;          // errno when result == -1, else 0
  std::int32_t reserved2;
};
static_assert(sizeof(RecordHeader) == 64, "the wire header is fixed");

}  // namespace cohook::trace
