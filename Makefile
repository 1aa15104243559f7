# cohook: `make` builds lib/libcohook.{a,so} and the tools; see `make help`.
#
# Flavours share the sources and differ in flags and output folder:
#   release -> lib/, bin/ and build/release      asan -> build/asan      tsan -> build/tsan
#   aarch64 -> build/aarch64 (cross compiled with Debian's g++-aarch64-linux-gnu, run under qemu)

PREFIX ?= /usr/local
comma := ,
# The library's version, and the ABI version in its SONAME (libcohook.so.$(SOVERSION)).
VERSION := 0.1.0
SOVERSION := 0
FLAVOUR ?= release
# Parallel work trees may set BUILD_ROOT to keep their objects apart.
BUILD_ROOT ?= build
OUT := $(BUILD_ROOT)/$(FLAVOUR)

# The target architecture: what the compiler targets, or the machine's own when there is no compiler
# yet (on a fresh machine this file is parsed before `make deps` installs g++).
ifeq ($(FLAVOUR),aarch64)
CXX := aarch64-linux-gnu-g++
CC := aarch64-linux-gnu-gcc
ARCH := aarch64
else
ARCH := $(firstword $(shell $(CXX) -dumpmachine 2>/dev/null | cut -d- -f1) $(shell uname -m))
endif
ifeq ($(ARCH),x86_64)
SWITCH_ASM := coctx/switch_x86_64_sysv_elf_gas.S
else ifeq ($(ARCH),aarch64)
SWITCH_ASM := coctx/switch_arm64_aapcs_elf_gas.S
else
$(error cohook has a context switch for x86_64 and aarch64 only, not $(ARCH))
endif

WARN := -Wall -Wextra
CXXFLAGS_COMMON := -std=c++20 -g $(WARN) -pthread -fPIC -I. -Iinclude -MMD -MP
ifeq ($(FLAVOUR),asan)
# -Wno-maybe-uninitialized: GCC 12 at -O1 with these sanitizers warns inside libstdc++'s own
# <regex> (std::function members of its NFA states, used by the diag and trace tests), code the
# release and TSan builds compile without a word.
CXXFLAGS_FLAVOUR := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -Wno-maybe-uninitialized
LDFLAGS_FLAVOUR := -fsanitize=address,undefined
else ifeq ($(FLAVOUR),tsan)
CXXFLAGS_FLAVOUR := -O1 -fsanitize=thread
LDFLAGS_FLAVOUR := -fsanitize=thread
else
CXXFLAGS_FLAVOUR := -O2
endif
# The library keeps everything hidden but the public API and the interposed C symbols.
LIB_CXXFLAGS := $(CXXFLAGS_COMMON) $(CXXFLAGS_FLAVOUR) -fvisibility=hidden -fvisibility-inlines-hidden
APP_CXXFLAGS := $(CXXFLAGS_COMMON) $(CXXFLAGS_FLAVOUR)
LIB_LDLIBS := -ldl -pthread

LIB_SRCS := $(wildcard coctx/*.cc poller/*.cc sched/*.cc hook/*.cc green/*.cc compat/*.cc) $(SWITCH_ASM)
LIB_OBJS := $(patsubst %,$(OUT)/obj/%.o,$(LIB_SRCS))

ifeq ($(FLAVOUR)$(BUILD_ROOT),releasebuild)
LIBDIR := lib
BINDIR := bin
else
LIBDIR := $(OUT)/lib
BINDIR := $(OUT)/bin
endif
STATIC_LIB := $(LIBDIR)/libcohook.a
# Debian's layout: the real file, the SONAME link the loader looks for, the dev link -lcohook
# and LD_PRELOAD=.../libcohook.so use.
SHARED_REAL := $(LIBDIR)/libcohook.so.$(VERSION)
SHARED_SONAME := $(LIBDIR)/libcohook.so.$(SOVERSION)
SHARED_LIB := $(LIBDIR)/libcohook.so

TEST_SRCS := $(wildcard test/*_test.cc)
TEST_BINS := $(patsubst test/%.cc,$(OUT)/test/%,$(TEST_SRCS))
TEST_SUPPORT := $(patsubst %.cc,$(OUT)/app/%.o,$(wildcard test/support/*.cc))
BENCH_SRCS := $(wildcard bench/*_bench.cc)
BENCH_BINS := $(patsubst bench/%.cc,$(OUT)/bench/%,$(BENCH_SRCS))
EXAMPLE_SRCS := $(wildcard examples/*.cc)
EXAMPLE_BINS := $(patsubst examples/%.cc,$(BINDIR)/%,$(EXAMPLE_SRCS)) $(BINDIR)/echo_threads_plain
# Single-file tools are tools/NAME.cc; a tool of several files is tools/NAME/*.cc (costrace). Both
# link the code they share from tools/common/.
TOOL_SRCS := $(wildcard tools/*.cc)
TOOL_BINS := $(patsubst tools/%.cc,$(BINDIR)/%,$(TOOL_SRCS)) $(if $(wildcard tools/costrace/*.cc),$(BINDIR)/costrace)
TOOL_COMMON_OBJS := $(patsubst %.cc,$(OUT)/app/%.o,$(wildcard tools/common/*.cc))
# costrace also names errno values as the library does (for --chrome-trace): those objects of
# hook/, never the library (its hooks would interpose costrace's own calls).
COSTRACE_OBJS := $(patsubst %.cc,$(OUT)/app/%.o,$(wildcard tools/costrace/*.cc)) $(OUT)/app/hook/trace_decode_errno.o $(OUT)/app/hook/trace_line.o

# Recursively expanded: pkg-config runs when a link recipe runs, after `make deps` has installed
# libabsl-dev, never at parse time (on a fresh machine it is not there yet).
ABSL_LIBS = $(shell pkg-config --libs absl_flags_parse absl_str_format absl_time 2>/dev/null)
GTEST_LIBS := -lgmock -lgtest -lgtest_main
# Boost.Context is an optional benchmark baseline (jump_fcontext); benchmarks test __has_include.
# Also resolved at link time, and with the shell: make caches directory listings, so $(wildcard)
# could miss a library that `make deps` installed during this very run.
BOOST_CONTEXT_LIBS = $(if $(shell ls /usr/lib/*/libboost_context.so 2>/dev/null),-lboost_context)
BENCH_LIBS = -lbenchmark $(BOOST_CONTEXT_LIBS)

# Objects are intermediates of chained pattern rules; keep them so rebuilds stay incremental.
.SECONDARY:

.PHONY: all lib deps test asan tsan memcheck stress bench demo install cross clean help examples tools
all: lib tools examples

# `make install` never installs packages: NO_DEPS=1 drops the order-only `deps` prerequisite
# from every compile rule (a missing package then shows as a compiler or linker error).
DEPS := $(if $(NO_DEPS),,deps)

help:
	@echo "make            build lib/libcohook.{a,so} and the examples in bin/$(if $(TOOL_SRCS), and tools)"
	@echo "make test       build and run the GoogleTest suites (and the aarch64 cross build)"
	@echo "make asan|tsan  run the suites under AddressSanitizer / ThreadSanitizer"
	@echo "make memcheck   run the switching suites under valgrind memcheck"
	@echo "make stress     cross-thread hand-offs for minutes (STRESS_SCALE, STRESS_SECONDS; any FLAVOUR)"
	@echo "make bench      run the microbenchmarks (Google Benchmark) and the corun benchmark"
	@echo "make demo       run a bundled server under load, side by side with the alternatives"
	@echo "make install PREFIX=/usr/local   build and install headers, libraries$(if $(TOOL_SRCS), tools), pkg-config files"
	@echo "make deps       install missing Debian packages (other targets call it)"

# Every build target first makes sure the packages are there; it is quiet when they are.
deps:
	@scripts/install-deps.sh

lib: $(STATIC_LIB) $(SHARED_LIB) $(SHARED_SONAME)
tools: $(TOOL_BINS)
examples: $(EXAMPLE_BINS)

$(OUT)/obj/%.cc.o: %.cc | $(DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(LIB_CXXFLAGS) -c $< -o $@

$(OUT)/obj/%.S.o: %.S | $(DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(LIB_CXXFLAGS) -c $< -o $@

# Green mode (green/) is for preloading unmodified programs (corun): only libcohook.so has it. In
# the archive, its pthread definitions would replace the real ones in every program linked with
# it, and under TSan/ASan they would also replace the sanitizer's interceptors.
STATIC_LIB_OBJS := $(filter-out $(OUT)/obj/green/%,$(LIB_OBJS))
$(STATIC_LIB): $(STATIC_LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# cohook's own objects call the real pthread functions even though the library interposes them
# for green threads (green/internal_calls.cc says why): each name here gets -Wl,--wrap.
COHOOK_WRAPPED := pthread_create pthread_getattr_np pthread_getspecific pthread_setspecific pthread_mutex_lock \
  pthread_mutex_unlock pthread_once pthread_self sched_yield pthread_sigmask sigprocmask
# hook/real_lock_count.cc counts real locks for programs linked with the archive; in the shared
# library, green/ interposes the same names and counts them itself.
SHARED_LIB_OBJS := $(filter-out $(OUT)/obj/hook/real_lock_count.cc.o,$(LIB_OBJS))
$(SHARED_REAL): $(SHARED_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) -shared -Wl,-soname,libcohook.so.$(SOVERSION) -o $@ $^ $(LDFLAGS_FLAVOUR) $(LIB_LDLIBS) \
	  $(patsubst %,-Wl$(comma)--wrap=%,$(COHOOK_WRAPPED)) -Wl,-z,now -Wl,-z,relro

$(SHARED_SONAME): $(SHARED_REAL)
	ln -sf $(notdir $<) $@

$(SHARED_LIB): $(SHARED_SONAME)
	ln -sf $(notdir $<) $@

# Tests, benchmarks, examples and tools link the static library whole: an interposed symbol that
# something earlier on the line already defines (libasan defines read, write, poll...) would
# otherwise leave its hook object out of the link, and the call unhooked.
WHOLE_STATIC_LIB = -Wl,--whole-archive $(STATIC_LIB) -Wl,--no-whole-archive
$(OUT)/app/%.o: %.cc | $(DEPS)
	@mkdir -p $(dir $@)
	$(CXX) $(APP_CXXFLAGS) -c $< -o $@

# libco programs include "co_routine.h" unchanged: give them the compat include path.
$(OUT)/app/examples/libco_%.o: APP_CXXFLAGS += -Iinclude/cohook/compat

# Built as Debian builds its packages: read, recv, poll... compile to the __*_chk entry points.
$(OUT)/app/test/hook_fortify_test.o: APP_CXXFLAGS += -D_FORTIFY_SOURCE=2

# Tests that drive third-party client libraries also link those libraries.
$(OUT)/test/real_library_test: EXTRA_LIBS := -lcurl -lhiredis -lssl -lcrypto

# A test of a tools/ source links that source's object too.
$(OUT)/test/chrome_trace_test: $(OUT)/app/tools/costrace/chrome_trace.o
$(OUT)/test/chrome_trace_test: EXTRA_LIBS := $(OUT)/app/tools/costrace/chrome_trace.o

$(OUT)/test/%: $(OUT)/app/test/%.o $(TEST_SUPPORT) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $< $(TEST_SUPPORT) $(WHOLE_STATIC_LIB) $(LDFLAGS_FLAVOUR) $(GTEST_LIBS) $(ABSL_LIBS) $(EXTRA_LIBS) $(LIB_LDLIBS)

$(OUT)/bench/%: $(OUT)/app/bench/%.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $< $(WHOLE_STATIC_LIB) $(LDFLAGS_FLAVOUR) $(BENCH_LIBS) $(ABSL_LIBS) $(LIB_LDLIBS)

$(BINDIR)/%: $(OUT)/app/examples/%.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $< $(WHOLE_STATIC_LIB) $(LDFLAGS_FLAVOUR) $(ABSL_LIBS) $(LIB_LDLIBS)

# The legacy thread-per-connection server: plain C and pthreads, built without cohook, so that the
# demo runs the very same binary natively and under corun (a program linked with libcohook.a would
# keep its own hooks, and a preloaded copy would never be called).
$(OUT)/app/examples/%.c.o: examples/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -g $(WARN) -pthread -MMD -MP $(CXXFLAGS_FLAVOUR) -c $< -o $@
$(BINDIR)/echo_threads_plain: $(OUT)/app/examples/echo_threads_plain.c.o
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(LDFLAGS_FLAVOUR) -pthread

$(BINDIR)/%: $(OUT)/app/tools/%.o $(TOOL_COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $^ $(LDFLAGS_FLAVOUR) $(ABSL_LIBS) $(LIB_LDLIBS)

$(BINDIR)/costrace: $(COSTRACE_OBJS) $(TOOL_COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $^ $(LDFLAGS_FLAVOUR) $(ABSL_LIBS) $(LIB_LDLIBS)

test: deps
	@$(MAKE) --no-print-directory FLAVOUR=$(FLAVOUR) build-tests
	@scripts/run-tests.sh $(OUT) $(FLAVOUR)
ifeq ($(FLAVOUR),release)
	@$(MAKE) --no-print-directory cross
endif

# Plain programs (no cohook linked) that tests run with libcohook.so preloaded.
TEST_PROGRAMS := $(patsubst test/programs/%.cc,$(OUT)/test/programs/%,$(wildcard test/programs/*.cc))
$(OUT)/test/programs/%: $(OUT)/app/test/programs/%.o
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $< $(LDFLAGS_FLAVOUR) -pthread

# Legacy C programs (no cohook header) that tests run under bin/corun; always built without
# sanitizers: they are run with the release libcohook.so preloaded, or natively.
TEST_C_PROGRAMS := $(patsubst test/programs/%.c,$(OUT)/test/programs/%,$(wildcard test/programs/*.c))
$(OUT)/test/programs/%: test/programs/%.c $(wildcard test/programs/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -o $@ $< -pthread

.PHONY: build-tests
build-tests: $(TEST_BINS) $(SHARED_LIB) $(EXAMPLE_BINS) $(TOOL_BINS) $(TEST_PROGRAMS) $(TEST_C_PROGRAMS)

# valgrind memcheck over the suites that switch, share stacks and park (death tests and the
# 100k-coroutine test excluded: forking and 100k fibers under memcheck take minutes).
# --fair-sched=yes: valgrind runs one thread at a time, and its default lock lets a thread that
# keeps making system calls take it straight back, so an idle scheduler thread never gets to
# steal the work the scheduler tests expect it to take.
MEMCHECK_SUITES := context_test scheduler_test sync_test hook_io_test libco_routine_test libco_share_stack_test
memcheck: deps
	@$(MAKE) --no-print-directory build-tests
	@for t in $(MEMCHECK_SUITES); do echo "== memcheck $$t"; \
	  valgrind --error-exitcode=9 -q --fair-sched=yes $(OUT)/test/$$t --gtest_brief=1 \
	    --gtest_filter='-*Death*:*HundredThousand*' || exit 1; done

# test/stress_test at length: STRESS_SCALE times the operations of `make test`, up to
# STRESS_SECONDS per case (16 cases), e.g. `make stress FLAVOUR=tsan STRESS_SECONDS=60`.
STRESS_SCALE ?= 20
STRESS_SECONDS ?= 30
stress: deps
	@$(MAKE) --no-print-directory FLAVOUR=$(FLAVOUR) $(OUT)/test/stress_test
	COHOOK_STRESS_SCALE=$(STRESS_SCALE) COHOOK_STRESS_SECONDS=$(STRESS_SECONDS) $(OUT)/test/stress_test

asan:
	@$(MAKE) --no-print-directory FLAVOUR=asan test
tsan:
	@$(MAKE) --no-print-directory FLAVOUR=tsan test

# aarch64: build the library and the context-switch test, then run that test under qemu-user.
cross: deps
	@$(MAKE) --no-print-directory FLAVOUR=aarch64 $(BUILD_ROOT)/aarch64/lib/libcohook.so $(BUILD_ROOT)/aarch64/cross/switch_check
	@scripts/run-cross.sh $(BUILD_ROOT)/aarch64/cross/switch_check

# A gtest-free check of the switch, built for whatever $(CXX) targets (aarch64 under `make cross`).
# Linked against the cross toolchain's shared libc (qemu-user finds it with -L, run-cross.sh):
# a -static link has no dlsym(RTLD_NEXT) for the archive's real-lock counter, and warns about
# the dlopen of libunwind.
$(OUT)/cross/switch_check: $(OUT)/app/test/cross/switch_check.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $< $(STATIC_LIB) $(LIB_LDLIBS)

# The microbenchmarks, summary_bench last (its table of headline ratios), then the green-thread
# benchmark: the thread server under corun at 10,000 connections against the epoll server
# (scripts/bench-corun.sh).
bench: deps
	@$(MAKE) --no-print-directory FLAVOUR=$(FLAVOUR) $(BENCH_BINS) examples tools lib $(OUT)/test/programs/trace_subject
	@for b in $(filter-out %/summary_bench,$(BENCH_BINS)) $(filter %/summary_bench,$(BENCH_BINS)); do \
	  echo "== $$b"; $$b $(BENCH_ARGS) || exit 1; done
	@scripts/bench-corun.sh
	@scripts/bench-costrace.sh

demo: all
	@scripts/demo.sh

# Builds only what it installs (the libraries, and the tools once there are any), never
# examples or tests, and never runs install-deps.sh.
install:
	@$(MAKE) --no-print-directory NO_DEPS=1 FLAVOUR=$(FLAVOUR) lib $(TOOL_BINS)
	install -d $(DESTDIR)$(PREFIX)/include/cohook/compat $(DESTDIR)$(PREFIX)/include/cohook/detail \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/cohook/*.hpp $(DESTDIR)$(PREFIX)/include/cohook/
	install -m 644 include/cohook/detail/*.hpp $(DESTDIR)$(PREFIX)/include/cohook/detail/
	install -m 644 include/cohook/compat/*.h $(DESTDIR)$(PREFIX)/include/cohook/compat/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_REAL) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libcohook.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcohook.so.$(SOVERSION)
	ln -sf libcohook.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libcohook.so
	$(if $(TOOL_BINS),install -d $(DESTDIR)$(PREFIX)/bin && install -m 755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/)
	for pc in cohook cohook-libco; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' scripts/$$pc.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/$$pc.pc; done

clean:
	rm -rf build lib bin

-include $(shell find $(OUT) -name '*.d' 2>/dev/null)
