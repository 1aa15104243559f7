// costrace's Chrome trace writer (tools/costrace/chrome_trace.cc): synthetic records in, JSON out,
// parsed back with python3's json module (what a strict reader accepts, not a string match).
#include "tools/costrace/chrome_trace.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "hook/trace_calls.h"

namespace {

using cohook::costrace::ChromeTraceWriter;
using cohook::trace::RecordHeader;
using cohook::trace::RecordKind;
using cohook::trace::TracedCall;

constexpr std::int64_t kBase = 1'700'000'000'000'000'000;  // ns since the epoch, like CLOCK_REALTIME
constexpr std::uint64_t kCoroutineTrack = std::uint64_t{1} << 30;

RecordHeader header(RecordKind kind, std::uint64_t coroutine, TracedCall call = TracedCall::read) {
  RecordHeader h{};
  h.kind = kind;
  h.call = static_cast<std::uint16_t>(call);
  h.pid = 4242;
  h.tid = 4243;
  h.coroutine = coroutine;
  if (coroutine == 0) h.flags = cohook::trace::kOutsideCoroutine;
  return h;
}

// One parsed event: the fields python printed, each as ascii() of the JSON value.
struct Event {
  std::string ph, name, cat, tid, ts, dur, line, result, error;
};

// Writes the records' JSON to a file, parses it with python3 and returns one Event per element of
// traceEvents (the parse fails the test if the JSON is invalid).
class ChromeTraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
    char path[] = "/tmp/cohook_chrome_trace_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    path_ = path;
    file_ = fdopen(fd, "w");
    writer_ = std::make_unique<ChromeTraceWriter>(file_);
  }
  void TearDown() override {
    if (file_ != nullptr) std::fclose(file_);
    if (!path_.empty()) unlink(path_.c_str());
  }

  void add(const RecordHeader& h, std::string_view text) { writer_->record(h, text); }

  std::vector<Event> parse() {
    writer_->finish();
    std::fflush(file_);
    std::string script =
        "import json,sys\n"
        "doc=json.load(open(sys.argv[1],encoding='utf-8'))\n"
        "for e in doc['traceEvents']:\n"
        "  a=e.get('args',{})\n"
        "  print('\\t'.join(ascii(x) for x in [e['ph'],e['name'],e.get('cat',''),e['tid'],e.get('ts',''),"
        "e.get('dur',''),a.get('line',a.get('name','')),a.get('result',''),a.get('errno','')]))\n";
    std::string script_path = path_ + ".py";
    FILE* s = std::fopen(script_path.c_str(), "w");
    std::fputs(script.c_str(), s);
    std::fclose(s);
    // Debian's interpreter when there is one: a version manager's shim costs seconds per start.
    std::string python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    std::string command = python + " " + script_path + " " + path_;
    FILE* p = popen(command.c_str(), "r");
    std::string output;
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, p)) > 0) output.append(buffer, n);
    int status = pclose(p);
    unlink(script_path.c_str());
    EXPECT_EQ(status, 0) << "python3 could not parse the trace:\n" << output;
    std::vector<Event> events;
    std::istringstream lines(output);
    std::string row;
    while (std::getline(lines, row)) {
      std::vector<std::string> fields;
      std::size_t start = 0;
      for (std::size_t tab; (tab = row.find('\t', start)) != std::string::npos; start = tab + 1)
        fields.push_back(row.substr(start, tab - start));
      fields.push_back(row.substr(start));
      EXPECT_EQ(fields.size(), 9u) << row;
      if (fields.size() != 9) continue;
      events.push_back(
          {fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7], fields[8]});
    }
    return events;
  }

  std::string path_;
  FILE* file_ = nullptr;
  std::unique_ptr<ChromeTraceWriter> writer_;
};

std::string quoted(const std::string& text) {
  return "'" + text + "'";
}

TEST_F(ChromeTraceTest, OneNamedTrackPerCoroutineAndPerPlainThread) {
  RecordHeader name = header(RecordKind::kCoroutineName, 17);
  add(name, "conn");
  for (std::uint64_t co : {17, 18, 17}) {
    RecordHeader call = header(RecordKind::kCall, co, TracedCall::write);
    call.start_ns = kBase + static_cast<std::int64_t>(co) * 1000;
    call.duration_ns = 500;
    call.result = 3;
    add(call, "write(5, \"abc\", 3) = 3");
  }
  RecordHeader plain = header(RecordKind::kCall, 0, TracedCall::close);
  plain.start_ns = kBase;
  add(plain, "close(3) = 0");

  std::map<std::string, std::vector<std::string>> names;  // tid -> thread_name values
  for (const Event& e : parse())
    if (e.ph == "'M'" && e.name == "'thread_name'") names[e.tid].push_back(e.line);
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[std::to_string(kCoroutineTrack + 17)], std::vector<std::string>{quoted("co 17 conn")});
  EXPECT_EQ(names[std::to_string(kCoroutineTrack + 18)], std::vector<std::string>{quoted("co 18")});
  EXPECT_EQ(names["4243"], std::vector<std::string>{quoted("thread 4243")});
}

TEST_F(ChromeTraceTest, ParkedCallIsOneCallEventWithParkedAndRunningSlices) {
  RecordHeader first = header(RecordKind::kCall, 7, TracedCall::write);
  first.start_ns = kBase;
  first.duration_ns = 2000;
  first.result = 4;
  add(first, "write(5, \"ping\", 4) = 4");
  RecordHeader start = header(RecordKind::kCallStart, 7);
  start.start_ns = kBase + 10'000;
  add(start, "read(5, ");
  RecordHeader end = header(RecordKind::kCallEnd, 7);
  end.start_ns = kBase + 10'000;
  end.duration_ns = 5'000'000;
  end.parked_ns = 4'990'000;
  end.result = -1;
  end.error = 104;
  add(end, "0x7ffc12345678, 4096) = -1 ECONNRESET (Connection reset by peer)");

  std::vector<Event> calls, parked, running;
  for (const Event& e : parse()) {
    if (e.ph != "'X'") continue;
    if (e.cat == "'call'") calls.push_back(e);
    if (e.cat == "'parked'") parked.push_back(e);
    if (e.cat == "'coroutine'") running.push_back(e);
  }
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].name, "'read'");
  EXPECT_EQ(calls[1].line, quoted("read(5, 0x7ffc12345678, 4096) = -1 ECONNRESET (Connection reset by peer)"));
  EXPECT_EQ(calls[1].result, "-1");
  EXPECT_EQ(calls[1].error, "'ECONNRESET'");
  EXPECT_EQ(calls[1].dur, "5000.0");  // microseconds
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].name, "'parked: read'");
  EXPECT_EQ(parked[0].dur, "4990.0");
  EXPECT_EQ(parked[0].tid, std::to_string(kCoroutineTrack + 7));
  ASSERT_EQ(running.size(), 1u);  // from the write's end to the read's start
  EXPECT_EQ(running[0].name, "'running'");
  EXPECT_EQ(running[0].dur, "8.0");
}

TEST_F(ChromeTraceTest, CallStillParkedAtFinishIsWrittenUnfinished) {
  RecordHeader start = header(RecordKind::kCallStart, 9, TracedCall::accept4);
  start.start_ns = kBase;
  add(start, "accept4(3, ");
  RecordHeader other = header(RecordKind::kCall, 10, TracedCall::write);
  other.start_ns = kBase + 1'000'000;
  other.duration_ns = 1'000'000;
  add(other, "write(1, \"x\", 1) = 1");
  bool found = false;
  for (const Event& e : parse()) {
    if (e.cat != "'call'" || e.name != "'accept4'") continue;
    found = true;
    EXPECT_EQ(e.line, quoted("accept4(3,  <unfinished ...>"));
    EXPECT_EQ(e.dur, "2000.0");  // up to the last time any record reached
  }
  EXPECT_TRUE(found);
}

TEST_F(ChromeTraceTest, AnyBytesInTheTextBecomeValidJson) {
  RecordHeader call = header(RecordKind::kCall, 3);
  call.start_ns = kBase;
  // Quote, backslash, newline, tab, control bytes, DEL, a lone high byte, a valid two-byte and
  // four-byte sequence, an overlong encoding of '/', a UTF-16 surrogate, a truncated sequence.
  std::string text = std::string("q\" b\\ n\n t\t c\x01\x1f d\x7f h\xff ") + "\xc3\xa9 \xf0\x9f\x98\x80 " +
                     "\xc0\xaf \xed\xa0\x80 " + std::string("z\0", 2) + " \xe2\x82";
  add(call, text);
  RecordHeader name = header(RecordKind::kCoroutineName, 4);
  add(name, "we\"ird\\\n");
  std::vector<Event> events = parse();
  bool found_call = false, found_name = false;
  for (const Event& e : events) {
    if (e.cat == "'call'") {
      found_call = true;
      EXPECT_EQ(
          e.line,
          "'q\""
          R"( b\\ n\n t\t c\x01\x1f d\x7f h\ufffd \xe9 \U0001f600 \ufffd\ufffd \ufffd\ufffd\ufffd z\x00 \ufffd\ufffd')");
    }
    if (e.ph == "'M'" && e.tid == std::to_string(kCoroutineTrack + 4)) {
      found_name = true;
      EXPECT_EQ(e.line, R"('co 4 we"ird\\\n')");
    }
  }
  EXPECT_TRUE(found_call);
  EXPECT_TRUE(found_name);
}

TEST_F(ChromeTraceTest, SummariesAreIgnoredAndIdleTracksForgottenWithoutLosingParkedOnes) {
  RecordHeader summary = header(RecordKind::kSummary, 0);
  add(summary, "0 10 0 1000 0\n");
  RecordHeader start = header(RecordKind::kCallStart, 1);
  start.start_ns = kBase;
  add(start, "read(5, ");
  // Many short-lived coroutines, more than the writer remembers.
  constexpr std::uint64_t kMany = ChromeTraceWriter::kIdleTracks * 3;
  for (std::uint64_t co = 2; co < 2 + kMany; ++co) {
    RecordHeader call = header(RecordKind::kCall, co, TracedCall::close);
    call.start_ns = kBase + static_cast<std::int64_t>(co);
    add(call, "close(3) = 0");
    ASSERT_LE(writer_->tracks_remembered(), 2 * (ChromeTraceWriter::kIdleTracks + 1 + 1));  // one parked
  }
  RecordHeader end = header(RecordKind::kCallEnd, 1);
  end.start_ns = kBase;
  end.duration_ns = 1'000'000'000;
  end.parked_ns = 999'000'000;
  end.result = 2;
  add(end, "\"hi\", 4096) = 2");
  std::size_t calls = 0;
  bool read_joined = false;
  for (const Event& e : parse()) {
    if (e.cat != "'call'") continue;
    ++calls;
    if (e.name == "'read'") read_joined = e.line == quoted(R"(read(5, "hi", 4096) = 2)");
  }
  EXPECT_EQ(calls, kMany + 1);
  EXPECT_TRUE(read_joined);
}

}  // namespace
