#!/usr/bin/env bash
# Runs every GoogleTest binary of a build and ends with one summary line:
#   make test: N passed, N failed
# Usage: scripts/run-tests.sh OUT_DIR FLAVOUR
set -u
out=$1
flavour=${2:-release}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$flavour" = release ] && [ "$out" = build/release ]; then
  export COHOOK_TEST_LIB_DIR="$root/lib" COHOOK_TEST_BIN_DIR="$root/bin"
else
  export COHOOK_TEST_LIB_DIR="$root/$out/lib" COHOOK_TEST_BIN_DIR="$root/$out/bin"
fi
export COHOOK_SOURCE_DIR="$root"
# Death tests fork; "threadsafe" re-executes the binary, which is right for a program with threads.
export GTEST_DEATH_TEST_STYLE=threadsafe
case "$flavour" in
  asan) export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:${ASAN_OPTIONS:-}" ;;
  tsan) export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}" ;;
esac
passed=0 failed=0 broken=()
for t in "$out"/test/*_test; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  log="$out/test/$name.log"
  echo "== $name"
  timeout 600 "$t" >"$log" 2>&1
  rc=$?
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ $rc -ne 0 ]; then
    [ -z "$f" ] && failed=$((failed + 1))  # crashed or timed out before gtest could count
    broken+=("$name")
    grep -E "^\[  FAILED  \]|Failure|rror|ERROR|cohook:" "$log" | head -40
    echo "   (exit $rc; full log: $log)"
  else
    tail -1 "$log" | sed 's/^/   /'
  fi
done
# Packaging: install into a temporary prefix and build programs the way the README says. The
# release library is what gets installed, so it runs with the release suites only.
if [ "$flavour" = release ]; then
  echo "== install_test.sh"
  log="$out/test/install_test.log"
  if timeout 600 "$root/test/install_test.sh" >"$log" 2>&1; then
    passed=$((passed + 1))
    tail -1 "$log" | sed 's/^/   /'
  else
    failed=$((failed + 1))
    broken+=("install_test.sh")
    tail -20 "$log"
    echo "   (full log: $log)"
  fi
fi
echo "== $flavour suites done"
echo "tests: $passed passed, $failed failed"
[ ${#broken[@]} -eq 0 ] || { echo "failing: ${broken[*]}"; exit 1; }
