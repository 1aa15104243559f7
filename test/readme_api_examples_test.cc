// Every example in the README's API section is an examples/api_*.cc file, word for word, and
// each one builds (the Makefile builds every example into bin/) and prints what it should.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

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

// What each example prints.
const std::map<std::string, std::string> kOutputs = {
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

TEST(ReadmeApiExamplesTest, EveryApiExampleIsInTheReadmeWordForWord) {
  std::string root = env_or("COHOOK_SOURCE_DIR", ".");
  std::string readme = read_file(root + "/README.md");
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/examples")) {
    std::string file = entry.path().filename().string();
    if (file.rfind("api_", 0) != 0 || entry.path().extension() != ".cc") continue;
    ++found;
    std::string name = entry.path().stem().string();
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

TEST(ReadmeApiExamplesTest, EveryApiExampleRunsAndPrintsWhatItShould) {
  for (const auto& [name, expected] : kOutputs) {
    std::string binary = env_or("COHOOK_TEST_BIN_DIR", "bin") + "/" + name;
    FILE* pipe = ::popen(("timeout 60 " + binary).c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buf[256];
    while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
    int status = ::pclose(pipe);
    EXPECT_EQ(status, 0) << binary;
    EXPECT_EQ(output, expected) << binary;
  }
}

}  // namespace
