// Which sanitizer this translation unit is built with, and the fiber-switch interfaces they
// expose. Internal to coctx (and tests).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define COHOOK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COHOOK_ASAN 1
#endif
#endif
#ifndef COHOOK_ASAN
#define COHOOK_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define COHOOK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COHOOK_TSAN 1
#endif
#endif
#ifndef COHOOK_TSAN
#define COHOOK_TSAN 0
#endif

#if COHOOK_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define COHOOK_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define COHOOK_NO_SANITIZE_ADDRESS
#endif

#if COHOOK_TSAN
#include <sanitizer/tsan_interface.h>
#endif
