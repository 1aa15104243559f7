// Per-coroutine data through libco's headers only: CO_ROUTINE_SPECIFIC, co_get/setspecific on a
// pthread key, and the per-coroutine environment of co_set_env_list + setenv/getenv/unsetenv.
#include <gtest/gtest.h>
#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cohook/compat/co_routine.h"
#include "cohook/compat/co_routine_specific.h"

namespace {

struct Session {
  int id;
  char user[32];
};
CO_ROUTINE_SPECIFIC(Session, g_session)

struct Probe {
  int id = 0;
  bool zero_at_start = false;
  bool kept_across_yields = false;
  bool key_kept = false;
};

pthread_key_t g_key;

void* specific_routine(void* arg) {
  auto* probe = static_cast<Probe*>(arg);
  probe->zero_at_start = g_session->id == 0 && g_session->user[0] == '\0';
  g_session->id = probe->id;
  std::snprintf(g_session->user, sizeof g_session->user, "user-%d", probe->id);
  co_setspecific(g_key, probe);
  for (int i = 0; i < 10; ++i) co_yield_ct();
  std::string expected = "user-" + std::to_string(probe->id);
  probe->kept_across_yields = g_session->id == probe->id && expected == g_session->user;
  probe->key_kept = co_getspecific(g_key) == probe;
  return nullptr;
}

TEST(LibcoSpecific, EachCoroutineHasItsOwn) {
  ASSERT_EQ(pthread_key_create(&g_key, nullptr), 0);
  g_session->id = -1;  // the main stack's own
  int main_value = 42;
  ASSERT_EQ(co_setspecific(g_key, &main_value), 0);
  std::vector<Probe> probes(20);
  std::vector<stCoRoutine_t*> routines(20);
  for (int i = 0; i < 20; ++i) {
    probes[i].id = i + 1;
    ASSERT_EQ(co_create(&routines[i], nullptr, specific_routine, &probes[i]), 0);
  }
  for (int round = 0; round <= 10; ++round)
    for (stCoRoutine_t* co : routines) co_resume(co);
  for (const Probe& p : probes) {
    EXPECT_TRUE(p.zero_at_start) << p.id;
    EXPECT_TRUE(p.kept_across_yields) << p.id;
    EXPECT_TRUE(p.key_kept) << p.id;
  }
  EXPECT_EQ(g_session->id, -1);
  EXPECT_EQ(co_getspecific(g_key), &main_value);
  EXPECT_EQ(pthread_getspecific(g_key), &main_value);  // outside coroutines: the thread's value
  for (stCoRoutine_t* co : routines) co_release(co);
  pthread_key_delete(g_key);
}

const char* kHookedNames[] = {"COHOOK_LIBCO_TEST_CGI", "COHOOK_LIBCO_TEST_OTHER"};

struct EnvProbe {
  int id = 0;
  bool hooked = false;
  std::string seen_before_set = "unset";
  std::string seen_after_yield;
  bool unset_works = false;
  std::string unlisted_seen;
};

void* env_routine(void* arg) {
  auto* probe = static_cast<EnvProbe*>(arg);
  if (probe->hooked) co_enable_hook_sys();
  const char* before = getenv("COHOOK_LIBCO_TEST_CGI");
  probe->seen_before_set = before != nullptr ? before : "null";
  std::string mine = "value-" + std::to_string(probe->id);
  setenv("COHOOK_LIBCO_TEST_CGI", mine.c_str(), 1);
  setenv("COHOOK_LIBCO_TEST_CGI", "not-overwritten", 0);
  co_yield_ct();
  const char* after = getenv("COHOOK_LIBCO_TEST_CGI");
  probe->seen_after_yield = after != nullptr ? after : "null";
  const char* unlisted = getenv("COHOOK_LIBCO_TEST_UNLISTED");
  probe->unlisted_seen = unlisted != nullptr ? unlisted : "null";
  if (probe->hooked) {
    unsetenv("COHOOK_LIBCO_TEST_CGI");
    probe->unset_works = getenv("COHOOK_LIBCO_TEST_CGI") == nullptr;
  }
  return nullptr;
}

TEST(LibcoEnv, ListedNamesArePerCoroutineInsideHookedCoroutines) {
  co_set_env_list(kHookedNames, sizeof kHookedNames / sizeof kHookedNames[0]);
  ASSERT_EQ(setenv("COHOOK_LIBCO_TEST_CGI", "process", 1), 0);
  ASSERT_EQ(setenv("COHOOK_LIBCO_TEST_UNLISTED", "everyone", 1), 0);
  std::vector<EnvProbe> probes(3);
  std::vector<stCoRoutine_t*> routines(3);
  for (int i = 0; i < 3; ++i) {
    probes[i].id = i;
    probes[i].hooked = i != 2;  // the last one never enables hooks: it sees the process env
    ASSERT_EQ(co_create(&routines[i], nullptr, env_routine, &probes[i]), 0);
  }
  for (int i = 0; i < 2; ++i) co_resume(routines[i]);
  EXPECT_STREQ(getenv("COHOOK_LIBCO_TEST_CGI"), "process");  // untouched by the hooked ones
  co_resume(routines[2]);  // unhooked: writes the process env
  EXPECT_STREQ(getenv("COHOOK_LIBCO_TEST_CGI"), "value-2");
  for (stCoRoutine_t* co : routines) co_resume(co);
  EXPECT_EQ(probes[0].seen_before_set, "null");  // as in libco, a coroutine's copy starts empty
  EXPECT_EQ(probes[0].seen_after_yield, "value-0");
  EXPECT_EQ(probes[1].seen_after_yield, "value-1");
  EXPECT_EQ(probes[2].seen_before_set, "process");
  EXPECT_EQ(probes[2].seen_after_yield, "value-2");
  EXPECT_TRUE(probes[0].unset_works);
  EXPECT_TRUE(probes[1].unset_works);
  for (const EnvProbe& p : probes) EXPECT_EQ(p.unlisted_seen, "everyone");
  EXPECT_STREQ(getenv("COHOOK_LIBCO_TEST_CGI"), "value-2");
  for (stCoRoutine_t* co : routines) co_release(co);
  unsetenv("COHOOK_LIBCO_TEST_CGI");
  unsetenv("COHOOK_LIBCO_TEST_UNLISTED");
  EXPECT_EQ(getenv("COHOOK_LIBCO_TEST_CGI"), nullptr);
}

}  // namespace
