// costrace --chrome-trace FILE: the trace records as Chrome trace-event JSON (the {"traceEvents":
// [...]} form that Perfetto and chrome://tracing open).
//
// Layout: pid is the traced process; each coroutine has its own track (tid 2^30 + id, which no
// Linux thread id reaches: pid_max is at most 2^22) named "co 17" or "co 17 <name>" by thread_name
// metadata, and each plain OS thread making calls outside coroutines has one named "thread <tid>".
// Every hooked call is a complete event ("X") named after the call, its strace line, result and
// errno in args. A call that parked contains a nested "parked: read" slice as long as the time the
// coroutine spent parked (placed at the end of the call: after the wake-up only the retried system
// call remains). Between two calls of one coroutine a "running" slice shows it ran (or was ready).
//
// Streaming: each event is written when its record arrives, never buffered for the whole run.
// Memory is bounded by the number of live coroutines: what is kept is, per coroutine with a parked
// call, the first half of its line (at most one record's text), and, per recently active track,
// its last call's end (tracks idle for the last kIdleTracks records are forgotten; if one comes
// back it is named again and starts without a "running" slice).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_map>

#include "hook/trace_record.h"

namespace cohook::costrace {

class ChromeTraceWriter {
 public:
  explicit ChromeTraceWriter(std::FILE* out);
  ChromeTraceWriter(const ChromeTraceWriter&) = delete;
  ChromeTraceWriter& operator=(const ChromeTraceWriter&) = delete;

  // Every record costrace reads, in arrival order. Summaries are ignored.
  void record(const trace::RecordHeader& header, std::string_view text);
  // Closes the JSON (calls still parked are written as unfinished, up to the last time seen) and
  // flushes. The writer takes no more records after it.
  void finish();

  // Tracks idle for this many records (and with no parked call) are forgotten.
  static constexpr std::uint64_t kIdleTracks = 4096;
  // How many tracks the writer holds state for now: at most 2 * (kIdleTracks + 1 + parked calls).
  std::size_t tracks_remembered() const { return tracks_.size(); }

 private:
  struct TrackKey {
    std::int32_t pid;
    std::uint64_t track;  // the tid written to the JSON
    bool operator==(const TrackKey&) const = default;
  };
  struct TrackKeyHash {
    std::size_t operator()(const TrackKey& key) const {
      return std::hash<std::uint64_t>()(key.track * 1000003u ^ static_cast<std::uint32_t>(key.pid));
    }
  };
  struct Track {
    std::uint64_t last_use = 0;    // the record count when last seen
    std::int64_t last_end_ns = 0;  // end of its last call; 0 before the first
    bool parked = false;           // a kCallStart is waiting for its kCallEnd
    std::int64_t parked_start_ns = 0;
    std::uint16_t parked_call = 0;
    std::string parked_text;  // the kCallStart's half of the line
  };

  Track& track_for(const trace::RecordHeader& header, TrackKey& key);
  void name_track(const TrackKey& key, const trace::RecordHeader& header, std::string_view name);
  void write_call(const TrackKey& key, Track& track, const trace::RecordHeader& header, std::string_view first,
                  std::string_view second, bool unfinished);
  void forget_idle_tracks();
  void begin_event();
  void put_string(std::string_view text);  // a JSON string literal, quotes included
  void put_time(std::int64_t ns);          // microseconds with three decimals

  std::FILE* out_;
  bool first_event_ = true;
  bool finished_ = false;
  std::uint64_t records_ = 0;
  std::uint64_t forget_at_ = kIdleTracks * 2;
  std::int64_t last_time_ns_ = 0;
  std::unordered_map<TrackKey, Track, TrackKeyHash> tracks_;
  std::unordered_map<std::int32_t, bool> processes_;  // pids already given a process_name
};

}  // namespace cohook::costrace
