// costrace end to end: bin/costrace runs test/programs/trace_subject (built without cohook) and
// its output is compared with the calls the program is known to make. Variable fields (pids,
// fds, addresses, times) are matched by regular expressions.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "green_test_util.h"

namespace {

using green_test::bin_dir;
using green_test::program;
using green_test::run;
using green_test::slurp;

std::string costrace() { return bin_dir() + "/costrace"; }
std::string lib_dir() {
  const char* dir = std::getenv("COHOOK_TEST_LIB_DIR");
  return dir != nullptr ? dir : bin_dir() + "/../lib";
}
std::string subject() { return program("trace_subject"); }

struct Traced {
  green_test::Result run;
  std::string trace;  // what -o wrote
  std::vector<std::string> lines;
};

Traced trace(const std::string& flags, const std::string& arguments) {
  char path[] = "/tmp/cohook-costrace-XXXXXX";
  int fd = ::mkstemp(path);
  ::close(fd);
  Traced traced;
  traced.run = run("timeout 60 " + costrace() + " -o " + path + " " + flags + " " + subject() + " " + arguments);
  traced.trace = slurp(path);
  ::unlink(path);
  std::istringstream in(traced.trace);
  for (std::string line; std::getline(in, line);) traced.lines.push_back(line);
  return traced;
}

int count_matching(const std::vector<std::string>& lines, const std::string& pattern) {
  std::regex re(pattern);
  int n = 0;
  for (const auto& line : lines) n += std::regex_search(line, re) ? 1 : 0;
  return n;
}

const char* kPrefix = R"(^\[pid \d+ co \d+\] )";

// Every test preloads libcohook.so into an uninstrumented program.
class Costrace : public ::testing::Test {
 protected:
  void SetUp() override {
    if (green_test::sanitizer_build())
      GTEST_SKIP() << "a sanitizer build of libcohook.so cannot be preloaded into uninstrumented programs";
  }
};

TEST_F(Costrace, LinesForReadWriteErrorsSleepsAndSocketpair) {
  Traced t = trace("-T", "basic 3");
  ASSERT_EQ(t.run.status, 3) << t.run.err;  // the program's own exit status
  std::string p = kPrefix;
  EXPECT_EQ(count_matching(t.lines, p + R"(pipe2\(\[\d+, \d+\], 0\) = 0 <\d+\.\d{6}>$)"), 1) << t.trace;
  EXPECT_EQ(count_matching(t.lines, p + R"(write\(\d+, "hello\\n", 6\) = 6 <\d+\.\d{6}>$)"), 1) << t.trace;
  EXPECT_EQ(count_matching(t.lines, p + R"(read\(\d+, "hello\\n", 64\) = 6 <\d+\.\d{6}>$)"), 1) << t.trace;
  EXPECT_EQ(count_matching(t.lines, p + R"(read\(-1, 0x[0-9a-f]+, 1\) = -1 EBADF \(Bad file descriptor\) <)"), 1)
      << t.trace;
  EXPECT_EQ(count_matching(t.lines, p + R"(socketpair\(AF_UNIX, SOCK_STREAM, 0, \[\d+, \d+\]\) = 0 <)"), 1) << t.trace;
  // usleep and nanosleep, as strace shows what glibc issues for them; a coroutine parks for it.
  EXPECT_EQ(count_matching(t.lines, p + R"(clock_nanosleep\(CLOCK_REALTIME, 0, \{tv_sec=0, tv_nsec=20000000\}, 0x[0-9a-f]+\) = 0 <0\.0\d{5}> <parked 0\.0\d{5}>$)"), 1)
      << t.trace;
  EXPECT_EQ(count_matching(t.lines, p + R"(clock_nanosleep\(CLOCK_REALTIME, 0, \{tv_sec=0, tv_nsec=10000000\}, NULL\) = 0 <)"), 1)
      << t.trace;
  EXPECT_EQ(count_matching(t.lines, R"(^\[pid \d+\] \+\+\+ exited with 3 \+\+\+$)"), 1) << t.trace;
  // The same program without costrace: same status, and costrace left its stdout alone.
  green_test::Result plain = run(subject() + " basic 3");
  EXPECT_EQ(plain.status, 3);
  EXPECT_EQ(t.run.out, plain.out);
}

TEST_F(Costrace, OutsideCoroutinesCallsAreMarked) {
  Traced t = trace("--native-threads", "basic 0");
  ASSERT_EQ(t.run.status, 0) << t.run.err;
  EXPECT_EQ(count_matching(t.lines, R"(^\[pid \d+ co -\] write\(\d+, "hello\\n", 6\) = 6$)"), 1) << t.trace;
  EXPECT_EQ(count_matching(t.lines, R"(co \d+\] write)"), 0) << t.trace;
}

TEST_F(Costrace, StringSizeAndTimestamps) {
  Traced t = trace("-s 3 -tt", "basic 0");
  ASSERT_EQ(t.run.status, 0) << t.run.err;
  EXPECT_EQ(count_matching(t.lines, R"(^\[pid \d+ co \d+\] \d\d:\d\d:\d\d\.\d{6} write\(\d+, "hel"\.\.\., 6\) = 6$)"), 1)
      << t.trace;
  Traced epoch = trace("-ttt", "basic 0");
  EXPECT_EQ(count_matching(epoch.lines, R"(^\[pid \d+ co \d+\] \d{10}\.\d{6} read\(\d+, "hello\\n", 64\) = 6$)"), 1)
      << epoch.trace;
}

// One row of strace -c's table: calls and errors of `name`.
bool table_row(const std::vector<std::string>& lines, const std::string& name, long* calls, long* errors) {
  std::regex re(R"(^\s*\d+\.\d\d\s+\d+\.\d{6}\s+\d+\s+(\d+)\s+(\d+)?\s+\d+\.\d{6} )" + name + "$");
  for (const auto& line : lines) {
    std::smatch m;
    if (std::regex_search(line, m, re)) {
      *calls = std::stol(m[1]);
      *errors = m[2].matched ? std::stol(m[2]) : 0;
      return true;
    }
  }
  return false;
}

TEST_F(Costrace, SummaryCountsEqualTheCallsMade) {
  Traced t = trace("-c", "pairs 2000");
  ASSERT_EQ(t.run.status, 0) << t.run.err;
  long calls = 0, errors = 0;
  ASSERT_TRUE(table_row(t.lines, "write", &calls, &errors)) << t.trace;
  EXPECT_EQ(calls, 2000);
  EXPECT_EQ(errors, 0);
  ASSERT_TRUE(table_row(t.lines, "read", &calls, &errors)) << t.trace;
  EXPECT_EQ(calls, 2000);
  EXPECT_EQ(count_matching(t.lines, R"(^% time     seconds  usecs/call     calls    errors      parked syscall$)"), 1);
  EXPECT_EQ(count_matching(t.lines, R"(read\()"), 0) << "-c prints no lines";

  Traced basic = trace("-c", "basic 0");
  ASSERT_TRUE(table_row(basic.lines, "read", &calls, &errors)) << basic.trace;
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(errors, 1);
  // -C: lines and a table that counts the same.
  Traced both = trace("-C", "pairs 300");
  EXPECT_EQ(count_matching(both.lines, R"(\] write\(\d+, "0123456789abcde\\0", 16\) = 16$)"), 300) << both.trace;
  ASSERT_TRUE(table_row(both.lines, "write", &calls, &errors)) << both.trace;
  EXPECT_EQ(calls, 300);
}

TEST_F(Costrace, TraceFiltersNamesClassesAndNegation) {
  Traced reads = trace("-e trace=read", "basic 0");
  EXPECT_EQ(count_matching(reads.lines, R"(\] read\()"), 2) << reads.trace;
  EXPECT_EQ(count_matching(reads.lines, R"(\] (write|pipe2|socketpair|clock_nanosleep)\()"), 0) << reads.trace;

  Traced not_reads = trace("-e trace=!read", "basic 0");
  EXPECT_EQ(count_matching(not_reads.lines, R"(\] read\()"), 0) << not_reads.trace;
  EXPECT_EQ(count_matching(not_reads.lines, R"(\] write\()"), 1) << not_reads.trace;

  Traced network = trace("-e trace=%network", "basic 0");
  EXPECT_EQ(count_matching(network.lines, R"(\] socketpair\()"), 1) << network.trace;
  EXPECT_EQ(count_matching(network.lines, R"(\] (read|write|pipe2)\()"), 0) << network.trace;

  Traced clock = trace("-e trace=%clock", "basic 0");
  EXPECT_EQ(count_matching(clock.lines, R"(\] clock_nanosleep\()"), 2) << clock.trace;
  EXPECT_EQ(count_matching(clock.lines, R"(\] (read|write)\()"), 0) << clock.trace;
}

TEST_F(Costrace, FourThreadsWritingNeverGarbleALine) {
  Traced t = trace("--threads 4 -s 64", "writers");
  ASSERT_EQ(t.run.status, 0) << t.run.err;
  std::regex whole(R"(^\[pid \d+ co \d+\] write\(\d+, "writer ([0-3]) ([a-d])\2{39}\\n", 50\) = 50$)");
  int writes = 0;
  for (const auto& line : t.lines) {
    if (line.find("write(") == std::string::npos) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, whole)) << "garbled: " << line;
    EXPECT_EQ(m[2].str()[0], 'a' + (m[1].str()[0] - '0')) << line;
    ++writes;
  }
  EXPECT_EQ(writes, 4 * 300);
}

TEST_F(Costrace, ParkedCallsInterleavedShowUnfinishedAndResumed) {
  Traced t = trace("--threads 1", "interleave");
  ASSERT_EQ(t.run.status, 0) << t.run.err;
  EXPECT_EQ(count_matching(t.lines, R"(^\[pid \d+ co (\d+)\] read\(\d+,  <unfinished \.\.\.>$)"), 1) << t.trace;
  EXPECT_EQ(count_matching(t.lines, R"(^\[pid \d+ co \d+\] <\.\.\. read resumed>"wake", 16\) = 4$)"), 1) << t.trace;
  EXPECT_EQ(count_matching(t.lines, R"(\] write\(\d+, "wake", 4\) = 4$)"), 1) << t.trace;

  Traced joined = trace("--threads 1", "sequential");
  ASSERT_EQ(joined.run.status, 0) << joined.run.err;
  EXPECT_EQ(count_matching(joined.lines, R"(\] read\(\d+, "abcd", 4\) = 4$)"), 2) << joined.trace;
  EXPECT_EQ(count_matching(joined.lines, R"(unfinished|resumed)"), 0) << joined.trace;
}

TEST_F(Costrace, FollowsForksOnlyWithF) {
  Traced without = trace("", "fork");
  ASSERT_EQ(without.run.status, 0) << without.run.err;
  EXPECT_EQ(count_matching(without.lines, R"(write\(\d+, "child", 5\))"), 0) << without.trace;
  EXPECT_EQ(count_matching(without.lines, R"(wait4\()"), 1) << without.trace;
  Traced with = trace("-f", "fork");
  ASSERT_EQ(with.run.status, 0) << with.run.err;
  EXPECT_EQ(count_matching(with.lines, R"(write\(\d+, "child", 5\) = 5$)"), 1) << with.trace;
}

TEST_F(Costrace, TraceFdSurvivesAProgramClosingEveryFd) {
  Traced t = trace("", "closeall");
  ASSERT_EQ(t.run.status, 0) << t.run.err;
  // The trace fd among them: refused as an fd the program never opened.
  EXPECT_EQ(count_matching(t.lines, R"(\] close\(\d+\) = )"), 1098) << "every fd from 3 to 1100 was closed";
  EXPECT_EQ(count_matching(t.lines, R"(\] write\(\d+, "after", 5\) = 5$)"), 1) << t.trace;
}

TEST_F(Costrace, StacksWithK) {
  Traced t = trace("-k -e trace=write", "basic 0");
  ASSERT_EQ(t.run.status, 0) << t.run.err;
  for (std::size_t i = 0; i < t.lines.size(); ++i) {
    if (t.lines[i].find("write(") == std::string::npos) continue;
    ASSERT_LT(i + 1, t.lines.size());
    EXPECT_EQ(t.lines[i + 1].rfind(" > ", 0), 0u) << t.trace;
    // The first frame is the program's own (the tracer's and the hook's frames are left out).
    EXPECT_NE(t.lines[i + 1].find("main+"), std::string::npos) << t.trace;
  }
}

TEST_F(Costrace, BadFlagsAndProgramsAreReported) {
  green_test::Result bad = run(costrace() + " --bogus true");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown flag --bogus"), std::string::npos) << bad.err;
  green_test::Result bad_set = run(costrace() + " -e trace=frobnicate true");
  EXPECT_EQ(bad_set.status, 2);
  EXPECT_NE(bad_set.err.find("frobnicate"), std::string::npos) << bad_set.err;
  green_test::Result missing = run(costrace() + " /nonexistent/program");
  EXPECT_EQ(missing.status, 127);
  green_test::Result help = run(costrace() + " --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: costrace"), std::string::npos);
  // A bad COHOOK_TRACE set by hand: the variable's name and the accepted form, status 2.
  green_test::Result bad_spec =
      run("COHOOK_TRACE=fd=x LD_PRELOAD=" + lib_dir() + "/libcohook.so " + subject() + " basic 0");
  EXPECT_EQ(bad_spec.status, 2);
  EXPECT_NE(bad_spec.err.find("COHOOK_TRACE='fd=x' is not valid"), std::string::npos) << bad_spec.err;
}

TEST_F(Costrace, ChromeTraceParsesWithOneNamedTrackPerCoroutine) {
  char path[] = "/tmp/cohook-chrome-XXXXXX";
  int fd = ::mkstemp(path);
  ::close(fd);
  Traced t = trace(std::string("--threads 1 --chrome-trace ") + path, "interleave");
  ASSERT_EQ(t.run.status, 0) << t.run.err;
  // The coroutines that made calls, from the lines...
  std::set<std::string> coroutines;
  std::regex co(R"(^\[pid \d+ co (\d+)\])");
  for (const auto& line : t.lines) {
    std::smatch m;
    if (std::regex_search(line, m, co)) coroutines.insert(m[1]);
  }
  ASSERT_EQ(coroutines.size(), 3u) << t.trace;
  // ...each have a named track in the JSON, which parses; the parked read is a call event with a
  // parked slice inside.
  std::string check = "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); e=d[\"traceEvents\"]; "
                      "print(\"\\n\".join(sorted(x[\"args\"][\"name\"] for x in e if x.get(\"name\")==\"thread_name\"))); "
                      "print(\"calls\", sum(1 for x in e if x.get(\"ph\")==\"X\" and x.get(\"name\")==\"read\")); "
                      "print(\"parked\", sum(1 for x in e if x.get(\"ph\")==\"X\" and x.get(\"name\",\"\").startswith(\"parked\")))' ";
  green_test::Result parsed = run(check + path);
  ::unlink(path);
  ASSERT_EQ(parsed.status, 0) << "not JSON: " << parsed.err;
  for (const auto& id : coroutines) {
    EXPECT_EQ(count_matching({parsed.out}, "(^|\n)co " + id + "( |\n|$)"), 1) << parsed.out;
  }
  EXPECT_NE(parsed.out.find("calls 1"), std::string::npos) << parsed.out;
  EXPECT_EQ(parsed.out.find("parked 0"), std::string::npos) << parsed.out;
}

}  // namespace
