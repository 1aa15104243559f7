// Every example the README shows is a file in examples/, word for word: hello.cc (the first
// example) and one examples/api_*.cc per primitive of the API section. Each builds (the Makefile
// builds every example into bin/) and prints what it should.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

std::string bin(const std::string& name) { return env_or("COHOOK_TEST_BIN_DIR", "bin") + "/" + name; }

// Runs a shell command; its stdout, and its wait status in *status.
std::string run(const std::string& command, int* status) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string output;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
  *status = ::pclose(pipe);
  return output;
}

// What each example prints.
const std::map<std::string, std::string> kOutputs = {
    {"hello", "read 5 bytes: hello\nsum of squares: 14\n"},
    {"api_select", "word hello\ntimeout\nnothing ready\n"},
    {"api_channel",
     "try_send: 1\ntry_send: 0\nsend_for: 0\nrecv_for: 1\nrecv_for timed out: 1\ntry_recv after close: 0\n"},
    {"api_semaphore", "never more than 3 at once\n"},
    {"api_shared_mutex", "answer 42\n"},
    {"api_once", "loaded 1 time(s)\n"},
    {"api_barrier", "3 rounds\n"},
    {"api_task_group", "failed: page 2: not found\npage 0, page 1\n"},
    {"api_future", "answer 42\ncaught: no answer\n"},
    {"api_runtime_spawn", "from a plain thread: 3\n"},
};

TEST(ReadmeExamplesTest, EveryExampleIsInTheReadmeWordForWord) {
  std::string root = env_or("COHOOK_SOURCE_DIR", ".");
  std::string readme = read_file(root + "/README.md");
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/examples")) {
    std::string file = entry.path().filename().string();
    std::string name = entry.path().stem().string();
    if ((file.rfind("api_", 0) != 0 && name != "hello") || entry.path().extension() != ".cc") continue;
    ++found;
    EXPECT_TRUE(kOutputs.count(name)) << name << " has no expected output in this test";
    std::string marker = "<!-- example: examples/" + file + " -->\n```cpp\n";
    auto start = readme.find(marker);
    ASSERT_NE(start, std::string::npos) << "README.md does not show examples/" << file;
    start += marker.size();
    auto end = readme.find("```", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(readme.substr(start, end - start), read_file(entry.path().string())) << file;
  }
  EXPECT_EQ(found, static_cast<int>(kOutputs.size()));
}

TEST(ReadmeExamplesTest, EveryExampleRunsAndPrintsWhatItShould) {
  for (const auto& [name, expected] : kOutputs) {
    int status = -1;
    std::string output = run("timeout 60 " + bin(name), &status);
    EXPECT_EQ(status, 0) << name;
    EXPECT_EQ(output, expected) << name;
  }
}

TEST(ReadmeExamplesTest, BadEnvironmentValueStopsBeforeMainWithStatus2) {
  for (const char* setting : {"COHOOK_STACK_SIZE=12Q", "COHOOK_STACK_SIZE=1k", "COHOOK_THREADS=0",
                              "COHOOK_THREADS=two"}) {
    int status = -1;
    std::string output = run(std::string("env ") + setting + " " + bin("hello") + " 2>&1", &status);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << setting;
    std::string name(setting, std::string(setting).find('='));
    EXPECT_NE(output.find("cohook: " + name + "="), std::string::npos) << output;
    EXPECT_EQ(output.find("sum of squares"), std::string::npos) << "ran anyway: " << output;
  }
}

}  // namespace
