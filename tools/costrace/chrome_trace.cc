// Chrome trace-event JSON, written as records arrive (see chrome_trace.h for the layout).
#include "tools/costrace/chrome_trace.h"

#include <cinttypes>

#include "hook/trace_calls.h"
#include "hook/trace_decode.h"

namespace cohook::costrace {
namespace {

using trace::RecordFlags;
using trace::RecordHeader;
using trace::RecordKind;

// Coroutine tracks sit above every Linux thread id (pid_max is at most 2^22).
constexpr std::uint64_t kCoroutineTrackBase = std::uint64_t{1} << 30;

bool outside_coroutine(const RecordHeader& header) {
  return (header.flags & trace::kOutsideCoroutine) != 0 || header.coroutine == 0;
}

std::string_view call_name(std::uint16_t call) {
  if (call < static_cast<std::uint16_t>(trace::TracedCall::kCount)) return trace::kTracedCalls[call].name;
  return "call";
}

// The length of the valid UTF-8 sequence at text[i], or 0 if it is not one (overlong forms,
// surrogates and code points past U+10FFFF included, as JSON parsers reject them).
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  std::size_t length;
  std::uint32_t code;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code = code << 6 | (byte(i + k) & 0x3f);
  }
  if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000) || code > 0x10ffff) return 0;
  if (code >= 0xd800 && code <= 0xdfff) return 0;
  return length;
}

}  // namespace

ChromeTraceWriter::ChromeTraceWriter(std::FILE* out) : out_(out) {
  std::fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", out_);
}

void ChromeTraceWriter::begin_event() {
  std::fputs(first_event_ ? "\n" : ",\n", out_);
  first_event_ = false;
}

void ChromeTraceWriter::put_string(std::string_view text) {
  std::fputc('"', out_);
  for (std::size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t length = utf8_sequence(text, i);
      if (length == 0) {
        std::fputs("\\ufffd", out_);  // not UTF-8: the replacement character, one per bad byte
        ++i;
      } else {
        std::fwrite(text.data() + i, 1, length, out_);
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        std::fputs("\\\"", out_);
        break;
      case '\\':
        std::fputs("\\\\", out_);
        break;
      case '\n':
        std::fputs("\\n", out_);
        break;
      case '\t':
        std::fputs("\\t", out_);
        break;
      case '\r':
        std::fputs("\\r", out_);
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          std::fprintf(out_, "\\u%04x", c);
        } else {
          std::fputc(c, out_);
        }
    }
    ++i;
  }
  std::fputc('"', out_);
}

void ChromeTraceWriter::put_time(std::int64_t ns) {
  if (ns < 0) ns = 0;
  std::fprintf(out_, "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
}

ChromeTraceWriter::Track& ChromeTraceWriter::track_for(const RecordHeader& header, TrackKey& key) {
  bool thread = outside_coroutine(header);
  key.pid = header.pid;
  key.track =
      thread ? static_cast<std::uint32_t>(header.tid) : kCoroutineTrackBase + header.coroutine % kCoroutineTrackBase;
  if (!processes_.contains(header.pid)) {
    processes_[header.pid] = true;
    begin_event();
    std::fprintf(out_, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":", header.pid);
    std::string name = "pid " + std::to_string(header.pid);
    put_string(name);
    std::fputs("}}", out_);
  }
  auto [it, inserted] = tracks_.try_emplace(key);
  if (inserted && header.kind != RecordKind::kCoroutineName) {
    std::string name = thread ? "thread " + std::to_string(header.tid) : "co " + std::to_string(header.coroutine);
    name_track(key, header, name);
  }
  it->second.last_use = records_;
  return it->second;
}

void ChromeTraceWriter::name_track(const TrackKey& key, const RecordHeader&, std::string_view name) {
  begin_event();
  std::fprintf(out_,
               "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%" PRIu64 ",\"args\":{\"name\":", key.pid,
               key.track);
  put_string(name);
  std::fputs("}}", out_);
}

void ChromeTraceWriter::write_call(const TrackKey& key, Track& track, const RecordHeader& header,
                                   std::string_view first, std::string_view second, bool unfinished) {
  std::int64_t start = unfinished ? track.parked_start_ns : header.start_ns;
  std::int64_t duration = unfinished ? last_time_ns_ - start : header.duration_ns;
  if (duration < 0) duration = 0;
  std::uint16_t call = unfinished ? track.parked_call : header.call;
  bool coroutine = key.track >= kCoroutineTrackBase;
  // The coroutine ran (or waited to run) from its previous call's end to this call's start.
  if (coroutine && track.last_end_ns != 0 && start > track.last_end_ns) {
    begin_event();
    std::fprintf(out_,
                 "{\"ph\":\"X\",\"name\":\"running\",\"cat\":\"coroutine\",\"pid\":%d,\"tid\":%" PRIu64 ",\"ts\":",
                 key.pid, key.track);
    put_time(track.last_end_ns);
    std::fputs(",\"dur\":", out_);
    put_time(start - track.last_end_ns);
    std::fputs("}", out_);
  }
  begin_event();
  std::fputs("{\"ph\":\"X\",\"name\":", out_);
  put_string(call_name(call));
  std::fprintf(out_, ",\"cat\":\"call\",\"pid\":%d,\"tid\":%" PRIu64 ",\"ts\":", key.pid, key.track);
  put_time(start);
  std::fputs(",\"dur\":", out_);
  put_time(duration);
  std::fputs(",\"args\":{\"line\":", out_);
  std::string line;
  line.reserve(first.size() + second.size() + 16);
  line.append(first).append(second);
  if (unfinished) line.append(" <unfinished ...>");
  put_string(line);
  if (!unfinished) {
    std::fprintf(out_, ",\"result\":%" PRId64, header.result);
    if (header.error != 0) {
      const char* name = trace::errno_name(header.error);
      std::fputs(",\"errno\":", out_);
      put_string(name != nullptr ? name : std::to_string(header.error));
    }
    std::fputs(",\"parked_us\":", out_);
    put_time(header.parked_ns);
  }
  if ((header.flags & trace::kTruncated) != 0) std::fputs(",\"truncated\":true", out_);
  std::fputs("}}", out_);
  std::int64_t parked = unfinished ? duration : header.parked_ns;
  if (parked > 0) {
    if (parked > duration) parked = duration;
    begin_event();
    std::fputs("{\"ph\":\"X\",\"name\":", out_);
    put_string("parked: " + std::string(call_name(call)));
    std::fprintf(out_, ",\"cat\":\"parked\",\"pid\":%d,\"tid\":%" PRIu64 ",\"ts\":", key.pid, key.track);
    put_time(start + duration - parked);
    std::fputs(",\"dur\":", out_);
    put_time(parked);
    std::fputs("}", out_);
  }
  track.last_end_ns = start + duration;
}

void ChromeTraceWriter::forget_idle_tracks() {
  if (tracks_.size() < forget_at_) return;
  for (auto it = tracks_.begin(); it != tracks_.end();) {
    if (!it->second.parked && records_ - it->second.last_use > kIdleTracks) {
      it = tracks_.erase(it);
    } else {
      ++it;
    }
  }
  forget_at_ = std::max<std::uint64_t>(kIdleTracks * 2, tracks_.size() * 2);
}

void ChromeTraceWriter::record(const RecordHeader& header, std::string_view text) {
  if (finished_ || header.kind == RecordKind::kSummary) return;
  ++records_;
  std::int64_t end = header.start_ns + header.duration_ns;
  if (end > last_time_ns_) last_time_ns_ = end;
  TrackKey key;
  Track& track = track_for(header, key);
  switch (header.kind) {
    case RecordKind::kCoroutineName: {
      std::string name =
          outside_coroutine(header) ? "thread " + std::to_string(header.tid) : "co " + std::to_string(header.coroutine);
      if (!text.empty()) name.append(" ").append(text);
      name_track(key, header, name);
      break;
    }
    case RecordKind::kCallStart:
      track.parked = true;
      track.parked_start_ns = header.start_ns;
      track.parked_call = header.call;
      track.parked_text.assign(text);
      break;
    case RecordKind::kCallEnd: {
      std::string first = track.parked ? std::move(track.parked_text) : std::string();
      track.parked = false;
      track.parked_text = std::string();  // give the memory back: the next call may never park
      write_call(key, track, header, first, text, false);
      break;
    }
    case RecordKind::kCall:
      write_call(key, track, header, text, {}, false);
      break;
    default:
      break;  // a kind this costrace does not know: nothing to draw
  }
  forget_idle_tracks();
}

void ChromeTraceWriter::finish() {
  if (finished_) return;
  for (auto& [key, track] : tracks_) {
    if (!track.parked) continue;
    RecordHeader header{};
    write_call(key, track, header, track.parked_text, {}, true);
  }
  finished_ = true;
  std::fputs("\n]}\n", out_);
  std::fflush(out_);
}

}  // namespace cohook::costrace
