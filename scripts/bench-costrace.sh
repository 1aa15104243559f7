#!/usr/bin/env bash
# The tracer benchmark (`make bench` runs it): a syscall-heavy program, 200,000 write+read pairs of
# 16 bytes on a pipe (test/programs/trace_subject pairs), run
#   plain              the program alone
#   corun              under libcohook.so without tracing (what costrace adds to, for reference)
#   costrace -c        traced, counting every call (target: at most 1.5x plain)
#   strace -f -c       the same count by ptrace
# three times each, interleaved, and prints the median wall time of each and the ratios.
# Knobs: BENCH_PAIRS (200000); BUILD_ROOT and FLAVOUR as for make.
set -u -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
build_root=${BUILD_ROOT:-build}
flavour=${FLAVOUR:-release}
if [ "$flavour$build_root" = releasebuild ]; then bin_dir=bin; else bin_dir=$build_root/$flavour/bin; fi
subject=$build_root/$flavour/test/programs/trace_subject
pairs=${BENCH_PAIRS:-200000}

if [ ! -x "$bin_dir/costrace" ] || [ ! -x "$subject" ]; then
  echo "bench-costrace: $bin_dir/costrace or $subject not built yet; skipped"
  exit 0
fi

# Wall seconds of one run of "$@" (output discarded); exits the script if the run fails.
seconds() {
  local start end
  start=$(date +%s.%N)
  if ! "$@" >/dev/null 2>&1; then
    echo "bench-costrace: run failed: $*" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

declare -a plain corun costrace strace_runs
have_strace=1
command -v strace >/dev/null || have_strace=0
for _ in 1 2 3; do
  plain+=("$(seconds "$subject" pairs "$pairs")")
  corun+=("$(seconds "$bin_dir/corun" "$subject" pairs "$pairs")")
  costrace+=("$(seconds "$bin_dir/costrace" -c -o /dev/null "$subject" pairs "$pairs")")
  if [ $have_strace = 1 ]; then
    strace_runs+=("$(seconds strace -f -c -o /dev/null "$subject" pairs "$pairs")")
  fi
done

p=$(median "${plain[@]}")
c=$(median "${corun[@]}")
t=$(median "${costrace[@]}")
ratio=$(echo "$t / $p" | bc -l)
echo "costrace: $pairs write+read pairs on a pipe, median of 3 (seconds)"
printf '  plain            %8.3f\n' "$p"
printf '  corun (no trace) %8.3f  %5.2fx plain\n' "$c" "$(echo "$c / $p" | bc -l)"
printf '  costrace -c      %8.3f  %5.2fx plain  (target <= 1.5x: %s)\n' "$t" "$ratio" \
  "$(if [ "$(echo "$ratio <= 1.5" | bc -l)" = 1 ]; then echo met; else echo MISSED; fi)"
if [ $have_strace = 1 ]; then
  s=$(median "${strace_runs[@]}")
  printf '  strace -f -c     %8.3f  %5.2fx plain  (costrace -c is %.1fx faster)\n' "$s" "$(echo "$s / $p" | bc -l)" \
    "$(echo "$s / $t" | bc -l)"
else
  echo "  strace -f -c     (strace not installed: make deps)"
fi
