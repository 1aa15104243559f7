#!/usr/bin/env bash
# `make demo`: one thread-per-connection echo server, run natively and as green threads under
# corun, beside the same server written for coroutines and written by hand with epoll, under the
# same load, at 100, 1,000 and 10,000 connections. One table.
#
#   threads     bin/echo_threads_plain (examples/echo_threads_plain.c): legacy C, one pthread per
#               connection, built without cohook
#   corun       the very same binary under `bin/corun --threads 2`: its pthreads become green threads
#   coroutines  bin/echo_coroutines: the same blocking echo function in cohook coroutines (linked)
#   epoll       bin/echo_epoll --threads 2: non-blocking sockets, an epoll loop per thread
#   preload     (only if asked for) the thread server with libcohook.so preloaded, native threads
#
# For each server and connection count a fresh server on an ephemeral 127.0.0.1 port gets
# bin/loadgen, which makes every connection, warms each up with one request, then measures every
# request's latency and checks every byte echoed. Meanwhile this script samples the server's
# threads and the machine's KernelStack from /proc. Each row says what failed, if anything; the
# table is always printed. Exit status: 0 when every row that ran succeeded, 1 otherwise (a row
# whose server is not built yet, corun before it exists, is shown as such and is no failure).
#
# Knobs (environment): DEMO_CONNECTIONS ("100 1000 10000"), DEMO_DURATION_MS (3000),
# DEMO_MESSAGE_SIZE (64), DEMO_THREADS (scheduler/event-loop threads for corun, coroutines and
# epoll: 2), DEMO_SERVERS ("threads corun coroutines epoll"; add "preload" for that row),
# DEMO_BIN and DEMO_LIB (where the programs and libcohook.so are; by default where `make` put
# them, following BUILD_ROOT and FLAVOUR as the Makefile does).
set -u -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
# shellcheck source=scripts/lib/echo-runs.sh
. scripts/lib/echo-runs.sh

die() {
  echo "demo: FAILED: $*" >&2
  exit 1
}

check_number() {  # check_number NAME VALUE LOW HIGH: a whole number in range, or die
  if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
    die "$1 must be a whole number from $3 to $4, not '$2'"
  fi
}

read_config() {
  local build_root=${BUILD_ROOT:-build} flavour=${FLAVOUR:-release}
  if [ "$flavour$build_root" = releasebuild ]; then
    bin_dir=${DEMO_BIN:-bin}
    lib_dir=${DEMO_LIB:-lib}
  else
    bin_dir=${DEMO_BIN:-$build_root/$flavour/bin}
    lib_dir=${DEMO_LIB:-$build_root/$flavour/lib}
  fi
  read -r -a loads <<<"${DEMO_CONNECTIONS:-100 1000 10000}"
  read -r -a servers <<<"${DEMO_SERVERS:-threads corun coroutines epoll}"
  duration_ms=${DEMO_DURATION_MS:-3000}
  message_size=${DEMO_MESSAGE_SIZE:-64}
  threads=${DEMO_THREADS:-2}
  check_number DEMO_DURATION_MS "$duration_ms" 100 60000
  check_number DEMO_MESSAGE_SIZE "$message_size" 1 65536
  check_number DEMO_THREADS "$threads" 1 64
  [ ${#loads[@]} -gt 0 ] || die "DEMO_CONNECTIONS is empty"
  max_load=0
  local c s
  for c in "${loads[@]}"; do
    check_number DEMO_CONNECTIONS "$c" 1 20000
    [ "$c" -gt "$max_load" ] && max_load=$c
  done
  for s in "${servers[@]}"; do
    case $s in threads | corun | coroutines | epoll | preload) ;; *) die "DEMO_SERVERS: unknown server '$s'" ;; esac
  done
  # Servers exit by themselves after this, whatever happens to this script.
  server_max_seconds=$((duration_ms / 1000 + 60))
}

check_programs() {
  local program
  for program in echo_threads_plain echo_coroutines echo_epoll loadgen; do
    [ -x "$bin_dir/$program" ] || die "$bin_dir/$program is missing: run 'make' (or 'make demo') first"
  done
  [ -f "$lib_dir/libcohook.so" ] || die "$lib_dir/libcohook.so is missing: run 'make' first"
  preload_lib=$lib_dir/libcohook.so
  [[ "$preload_lib" = /* ]] || preload_lib=$root/$preload_lib
}

# server_command KEY: sets label and command (an array) for that server, or returns 1 with
# missing set when it is not built.
server_command() {
  missing=
  case $1 in
    threads)
      label="threads (native)"
      command=("$bin_dir/echo_threads_plain")
      ;;
    corun)
      label="threads under corun"
      command=("$bin_dir/corun" --threads "$threads" -- "$bin_dir/echo_threads_plain")
      [ -x "$bin_dir/corun" ] || missing="not built yet ($bin_dir/corun does not exist)"
      ;;
    coroutines)
      label="coroutines (linked)"
      command=("$bin_dir/echo_coroutines" --threads "$threads")
      ;;
    epoll)
      label="epoll (hand-written)"
      command=("$bin_dir/echo_epoll" --threads "$threads")
      ;;
    preload)
      label="threads + LD_PRELOAD"
      command=(env LD_PRELOAD="$preload_lib" "$bin_dir/echo_threads_plain")
      ;;
  esac
  [ -z "$missing" ]
}

print_header() {
  echo "cohook demo: echo servers under load on 127.0.0.1, $(nproc) cores shared by everything (loadgen too)"
  echo "  threads (native)     examples/echo_threads_plain.c: legacy C, a pthread per connection, no cohook"
  echo "  threads under corun  the same binary, unchanged, run as 'corun --threads $threads': green threads"
  echo "  coroutines (linked)  examples/echo_coroutines.cc: the same echo function in cohook coroutines, $threads threads"
  echo "  epoll (hand-written) examples/echo_epoll.cc: non-blocking, an epoll loop on each of $threads threads"
  echo "  Each connection sends ${message_size} bytes, waits for the echo, checks every byte, repeats;"
  echo "  ${duration_ms} ms per run after a warm-up round; a fresh server per run."
  echo
}

# format_row LABEL CONNECTIONS RESULT: one line of the table from the r_* figures of measure().
format_row() {
  awk -v label="$1" -v conns="$2" -v result="$3" -v rps="$r_rps" -v p50="$r_p50_us" -v p99="$r_p99_us" \
    -v rss="$r_rss_kb" -v threads="$r_threads" -v kstack="$r_kstack_kb" -v cpu="$r_cpu_us" '
    function num(x) { return x ~ /^-?[0-9.]+$/ }
    function ms(us) { return num(us) ? sprintf("%.2f", us / 1000) : "-" }
    function mib(kb,  s) { if (!num(kb)) return "-"; s = sprintf("%.1f", kb / 1024); return s == "-0.0" ? "0.0" : s }
    BEGIN {
      per_conn = num(rss) ? sprintf("%.1f", rss / conns) : "-"
      printf "%-21s %6s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n", label, conns, rps, ms(p50), ms(p99), cpu, mib(rss),
             per_conn, threads, mib(kstack), result
    }'
}

rows=()
failures=()

run_server() {  # run_server KEY CONNECTIONS
  local key=$1 connections=$2
  if ! server_command "$key"; then
    rows+=("$(printf '%-21s %6s  %s' "$label" "$connections" "$missing")")
    return
  fi
  measure "$key" "$connections" "${command[@]}"
  local result=ok
  if [ -n "$r_problem" ]; then
    result="FAILED: $r_problem"
    failures+=("$label at $connections connections: $r_problem")
    show_problem "$label" "$connections"
  fi
  printf '  %-21s %6s connections: %s req/s  %s\n' "$label" "$connections" "$r_rps" "$result"
  rows+=("$(format_row "$label" "$connections" "$result")")
}

print_table() {
  echo
  printf '%-21s %6s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n' "" "" "" "p50" "p99" "CPU/req" "peak RSS" "RSS/conn" \
    "OS" "kstacks" ""
  printf '%-21s %6s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n' server conns req/s ms ms us MiB KiB threads MiB result
  local row
  for row in "${rows[@]}"; do echo "$row"; done
  echo
  echo "CPU/req: the server's CPU time (user + system) per request while measured, steadier than req/s when"
  echo "other work shares the machine. peak RSS: the server's VmHWM. kstacks: growth of KernelStack in"
  echo "/proc/meminfo (machine-wide; other processes move it by a few MiB) from before the server started to the"
  echo "loaded plateau: the kernel stack (16 KiB on x86-64) each OS thread costs besides its RSS. OS threads: the"
  echo "most seen in /proc while loaded. Latency is per request in a closed loop: about connections / req/s."
  echo "See examples/README.md for how to read it; figures move from run to run on a busy machine."
}

main() {
  read_config
  check_programs
  work=$(mktemp -d "${TMPDIR:-/tmp}/cohook-demo.XXXXXX") || die "cannot create a temporary folder"
  echo_runs_setup
  raise_limits "$max_load" || die "cannot run $max_load connections on this machine (see above)"
  print_header
  local c s f
  for c in "${loads[@]}"; do
    for s in "${servers[@]}"; do run_server "$s" "$c"; done
  done
  print_table
  if [ ${#failures[@]} -gt 0 ]; then
    echo >&2
    for f in "${failures[@]}"; do echo "demo: FAILED: $f" >&2; done
    exit 1
  fi
}

main "$@"
