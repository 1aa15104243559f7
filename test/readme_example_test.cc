// The README's example is examples/hello.cc, word for word, and it runs as the README says.
#include <cstdio>
#include <cstdlib>
#include <fstream>
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

TEST(ReadmeExampleTest, ReadmeShowsExactlyTheExampleThatIsBuilt) {
  std::string root = env_or("COHOOK_SOURCE_DIR", ".");
  std::string readme = read_file(root + "/README.md");
  std::string example = read_file(root + "/examples/hello.cc");
  ASSERT_FALSE(example.empty());
  std::string marker = "<!-- example: examples/hello.cc -->\n```cpp\n";
  auto start = readme.find(marker);
  ASSERT_NE(start, std::string::npos) << "README.md lost its example marker";
  start += marker.size();
  auto end = readme.find("```", start);
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(readme.substr(start, end - start), example);
}

TEST(ReadmeExampleTest, ExampleRunsAndPrintsWhatTheReadmeSays) {
  std::string binary = env_or("COHOOK_TEST_BIN_DIR", "bin") + "/hello";
  FILE* pipe = ::popen(binary.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
  int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << binary;
  EXPECT_EQ(output, "read 5 bytes: hello\nsum of squares: 14\n");
}

TEST(ReadmeExampleTest, BadEnvironmentValueStopsBeforeMainWithStatus2) {
  std::string binary = env_or("COHOOK_TEST_BIN_DIR", "bin") + "/hello";
  for (const char* setting : {"COHOOK_STACK_SIZE=12Q", "COHOOK_STACK_SIZE=1k", "COHOOK_THREADS=0",
                              "COHOOK_THREADS=two"}) {
    std::string command = std::string("env ") + setting + " " + binary + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buf[256];
    while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
    int status = ::pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << setting;
    std::string name(setting, std::string(setting).find('='));
    EXPECT_NE(output.find("cohook: " + name + "="), std::string::npos) << output;
    EXPECT_EQ(output.find("sum of squares"), std::string::npos) << "ran anyway: " << output;
  }
}

}  // namespace
