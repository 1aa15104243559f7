#!/usr/bin/env bash
# `make demo`: the same echo server written three ways, under the same load, side by side.
#
#   threads      examples/echo_threads.cc     blocking code, one OS thread per connection
#   coroutines   examples/echo_coroutines.cc  the same blocking code, one cohook coroutine per
#                                             connection on a few scheduler threads
#   epoll        examples/echo_epoll.cc       hand-written non-blocking epoll loop, one thread
#
# plus the thread server with libcohook.so preloaded (native threads: hooks pass through) and,
# once bin/corun exists, under corun (green threads). For each, a fresh server on an ephemeral
# 127.0.0.1 port gets bin/loadgen at each connection count; the script samples the server's
# memory and threads from /proc meanwhile, stops it, and prints one table.
#
# It exits non-zero with a message if a server does not start or dies, or if any run reports an
# error. Knobs (environment): DEMO_CONNECTIONS ("100 2000"), DEMO_DURATION_MS (4000),
# DEMO_MESSAGE_SIZE (64), DEMO_THREADS (coroutine scheduler threads, 2), DEMO_BIN and DEMO_LIB
# (where the programs and libcohook.so are; by default where `make` put them, following
# BUILD_ROOT and FLAVOUR as the Makefile does).
set -u -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
# The Makefile's layout: release in build/ goes to bin/ and lib/, anything else to its own folder
# (make passes BUILD_ROOT and FLAVOUR given on its command line down to us).
build_root=${BUILD_ROOT:-build}
flavour=${FLAVOUR:-release}
if [ "$flavour$build_root" = releasebuild ]; then
  bin_dir=${DEMO_BIN:-bin}
  lib_dir=${DEMO_LIB:-lib}
else
  bin_dir=${DEMO_BIN:-$build_root/$flavour/bin}
  lib_dir=${DEMO_LIB:-$build_root/$flavour/lib}
fi
read -r -a loads <<<"${DEMO_CONNECTIONS:-100 2000}"
duration_ms=${DEMO_DURATION_MS:-4000}
message_size=${DEMO_MESSAGE_SIZE:-64}
co_threads=${DEMO_THREADS:-2}
max_seconds=$((duration_ms / 1000 + 60))  # servers exit by themselves after this, whatever happens

die() {
  echo "demo: FAILED: $*" >&2
  exit 1
}

# Every process started here is stopped on the way out, however we leave. Each server runs in a
# process group of its own (setsid), so that a launcher's children (corun) go with it.
pids=()    # loadgen runs
groups=()  # server process groups
work=$(mktemp -d "${TMPDIR:-/tmp}/cohook-demo.XXXXXX") || die "cannot create a temporary folder"
cleanup() {
  local p
  for p in "${groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM
without() {  # without ID LIST... -> LIST minus ID
  local id=$1 p
  shift
  for p in "$@"; do [ "$p" != "$id" ] && printf '%s\n' "$p"; done
}

for program in echo_threads echo_coroutines echo_epoll loadgen; do
  [ -x "$bin_dir/$program" ] || die "$bin_dir/$program is missing: run 'make' (or 'make demo') first"
done
[ -f "$lib_dir/libcohook.so" ] || die "$lib_dir/libcohook.so is missing: run 'make' first"
preload_lib="$root/$lib_dir/libcohook.so"
[[ "$lib_dir" = /* ]] && preload_lib="$lib_dir/libcohook.so"

# Preloading works only into a program that does not carry the hooks itself: bin/echo_threads is
# linked with libcohook.a, and its own read/write/accept would win over the preloaded ones. So
# the thread rows use the same source built without cohook.
plain_threads="$bin_dir/echo_threads_plain"
if [ ! -x "$plain_threads" ]; then
  plain_threads=$build_root/demo/echo_threads_plain
  if [ ! -x "$plain_threads" ] || [ examples/echo_threads.cc -nt "$plain_threads" ]; then
    echo "demo: building $plain_threads (examples/echo_threads.cc without cohook)"
    mkdir -p "$build_root/demo" || die "cannot create $build_root/demo"
    # shellcheck disable=SC2046  # pkg-config output is a list of words
    "${CXX:-g++}" -std=c++20 -O2 -pthread $(pkg-config --cflags absl_flags_parse) examples/echo_threads.cc \
      -o "$plain_threads.tmp.$$" $(pkg-config --libs absl_flags_parse) && mv -f "$plain_threads.tmp.$$" "$plain_threads" ||
      { rm -f "$plain_threads.tmp.$$"; die "could not build $plain_threads"; }
  fi
fi

[[ "$duration_ms" =~ ^[0-9]+$ ]] && [ "$duration_ms" -ge 100 ] && [ "$duration_ms" -le 60000 ] ||
  die "DEMO_DURATION_MS must be a number of milliseconds from 100 to 60000, not '$duration_ms'"
[[ "$co_threads" =~ ^[0-9]+$ ]] && [ "$co_threads" -ge 1 ] || die "DEMO_THREADS must be a whole number, not '$co_threads'"

# Descriptors: each side holds one per connection (the servers and loadgen inherit this limit).
max_load=0
for c in "${loads[@]}"; do
  [[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -ge 1 ] || die "DEMO_CONNECTIONS must be whole numbers, not '$c'"
  [ "$c" -gt "$max_load" ] && max_load=$c
done
need_fds=$((max_load + 256))
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need_fds" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$need_fds" ]; then
    die "$max_load connections need $need_fds file descriptors, but the hard limit (ulimit -Hn) is $hard"
  fi
  ulimit -Sn "$need_fds" || die "could not raise the open-file limit to $need_fds"
fi
# The thread server needs one thread per connection.
if [ "$(ulimit -Su)" != unlimited ] && [ "$(ulimit -Su)" -lt $((max_load + 1000)) ]; then
  ulimit -Su "$(ulimit -Hu)" 2>/dev/null
  [ "$(ulimit -Su)" != unlimited ] && [ "$(ulimit -Su)" -lt $((max_load + 1000)) ] &&
    echo "demo: warning: ulimit -u is $(ulimit -Su): the thread server may not get $max_load threads" >&2
fi

# Starts a server in the background; sets server_group (its process group), server_pid (the
# process to watch) and server_port.
start_server() {
  local log=$1
  shift
  # In a script, a background job is not a group leader, so setsid execs in place: $! is both
  # the process and its new group.
  setsid "$@" --port 0 --max_seconds "$max_seconds" >"$log" 2>&1 &
  server_group=$!
  groups+=("$server_group")
  server_port=
  local tries=0
  while [ -z "$server_port" ]; do
    server_port=$( [ -f "$log" ] && sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$log" | head -1)
    [ -n "$server_port" ] && break
    kill -0 "$server_group" 2>/dev/null || {
      sed 's/^/    | /' "$log" >&2
      die "server did not start: $*"
    }
    tries=$((tries + 1))
    [ "$tries" -gt 200 ] && die "server printed no 'port N' line within 10 s: $*"
    sleep 0.05
  done
  # A launcher (corun) may run the server as its child: watch the process that has the threads.
  server_pid=$server_group
  local children
  children=$(cat "/proc/$server_group/task/$server_group/children" 2>/dev/null)
  case "$(cat "/proc/$server_group/comm" 2>/dev/null)" in
    echo_*) ;;
    *) [ -n "$children" ] && server_pid=${children%% *} ;;
  esac
}

stop_server() {  # stop_server GROUP
  kill -TERM -- "-$1" 2>/dev/null
  wait "$1" 2>/dev/null
  local tries=0
  while kill -0 -- "-$1" 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -gt 20 ] && { kill -KILL -- "-$1" 2>/dev/null; sleep 0.1; break; }
    sleep 0.1
  done
  mapfile -t groups < <(without "$1" "${groups[@]}")
}

status_field() {  # status_field PID NAME -> the number in /proc/PID/status
  awk -v name="$2:" '$1 == name { print $2; exit }' "/proc/$1/status" 2>/dev/null
}

rows=()
failures=()
declare -A rps_of

# run_row KEY LABEL CONNECTIONS COMMAND... : one fresh server, one load run, one table row.
run_row() {
  local key=$1 label=$2 connections=$3
  shift 3
  local log="$work/$key-$connections.server" out="$work/$key-$connections.load"
  start_server "$log" "$@"
  local pid=$server_pid
  "$bin_dir/loadgen" --port "$server_port" --connections "$connections" --duration_ms "$duration_ms" \
    --message_size "$message_size" --pipeline 1 >"$out" 2>&1 &
  local load=$!
  pids+=("$load")
  # loadgen stops by itself (connect timeout + duration + drain); this is the backstop.
  local threads=0 t overdue=$((SECONDS + duration_ms / 1000 + 30)) late=no
  while kill -0 "$load" 2>/dev/null; do
    t=$(status_field "$pid" Threads)
    [ -n "$t" ] && [ "$t" -gt "$threads" ] && threads=$t
    if [ "$SECONDS" -gt "$overdue" ]; then
      kill -KILL "$load" 2>/dev/null
      late=yes
      break
    fi
    sleep 0.1
  done
  wait "$load"
  local load_status=$?
  mapfile -t pids < <(without "$load" "${pids[@]}")
  local peak_kb
  peak_kb=$(status_field "$pid" VmHWM)
  local alive=yes
  kill -0 "$pid" 2>/dev/null || alive=no
  stop_server "$server_group"

  local rps=- p50=- p99=- errors=- established=- kv
  for kv in $(grep '^result ' "$out" | tail -1); do
    case $kv in
      rps=*) rps=${kv#rps=} ;;
      p50_us=*) p50=${kv#p50_us=} ;;
      p99_us=*) p99=${kv#p99_us=} ;;
      errors=*) errors=${kv#errors=} ;;
      connections=*) established=${kv#connections=} ;;
    esac
  done
  local rss=-
  [ -n "$peak_kb" ] && rss=$(awk -v kb="$peak_kb" 'BEGIN { printf "%.1f", kb / 1024 }')
  rows+=("$(printf '%-38s %6s %9s %9s %9s %7s %9s %11s' "$label" "$connections" "$rps" "$p50" "$p99" "$errors" "$rss" "$threads")")
  rps_of[$key-$connections]=$rps

  local problem=
  if [ "$alive" = no ]; then
    problem="the server exited during the run"
  elif [ "$late" = yes ]; then
    problem="loadgen did not finish in time"
  elif [ "$errors" = - ]; then
    problem="loadgen printed no result (exit status $load_status)"
  elif [ "$errors" != 0 ]; then
    problem="$errors errors"
  elif [ "$established" != "$connections" ]; then
    problem="only $established of $connections connections"
  elif [ "$load_status" -ne 0 ]; then
    problem="loadgen exit status $load_status"
  fi
  if [ -n "$problem" ]; then
    failures+=("$label at $connections connections: $problem")
    echo "demo: $label at $connections connections: $problem" >&2
    sed 's/^/    loadgen | /' "$out" >&2
    tail -5 "$log" | sed 's/^/    server  | /' >&2
  fi
  printf '  %-38s %6s connections: %s req/s%s\n' "$label" "$connections" "$rps" "${problem:+  <- $problem}"
}

cores=$(nproc)
echo "cohook demo: echo servers under load on 127.0.0.1"
echo "  load: $bin_dir/loadgen (one thread, its own epoll loop); each connection sends a ${message_size}-byte message,"
echo "  waits for the echo, checks every byte, repeats; ${duration_ms} ms per run; a fresh server per run."
echo "  Everything shares this machine's $cores cores, the load generator included."
echo

corun_note=
for c in "${loads[@]}"; do
  run_row threads "threads (thread per connection)" "$c" "$plain_threads"
  run_row preload "threads + LD_PRELOAD (native threads)" "$c" env LD_PRELOAD="$preload_lib" "$plain_threads"
  run_row coroutines "coroutines (cohook, $co_threads thread$([ "$co_threads" = 1 ] || echo s))" "$c" "$bin_dir/echo_coroutines" --threads "$co_threads"
  run_row epoll "epoll (hand-written, 1 thread)" "$c" "$bin_dir/echo_epoll"
  if [ -x "$bin_dir/corun" ]; then
    run_row corun "threads under corun (green threads)" "$c" "$bin_dir/corun" -- "$plain_threads"
  else
    corun_note="threads under corun (green threads): this row comes once tools/corun exists ($bin_dir/corun is picked up automatically)."
  fi
done

echo
echo "server                                  conns     req/s    p50 µs    p99 µs  errors   RSS MiB  OS threads"
for row in "${rows[@]}"; do echo "$row"; done
[ -n "$corun_note" ] && echo "$corun_note"

ratio() {  # ratio A B -> A/B as "1.23x", or "n/a"
  awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else printf "n/a" }'
}
line="req/s ratios:"
for c in "${loads[@]}"; do
  line+=" at $c conns, coroutines/threads $(ratio "${rps_of[coroutines-$c]:-}" "${rps_of[threads-$c]:-}"),"
  line+=" coroutines/epoll $(ratio "${rps_of[coroutines-$c]:-}" "${rps_of[epoll-$c]:-}");"
done
echo "${line%;}"
echo "RSS is the server's peak resident memory (VmHWM; each OS thread also holds a kernel stack that RSS does"
echo "not show); OS threads is the most seen in /proc while loaded. Latency is a closed loop's: about"
echo "connections / req/s. Figures move from run to run on a busy machine; see examples/README.md."
echo "The thread rows run examples/echo_threads.cc built without cohook ($plain_threads), so that the"
echo "preloaded libcohook.so is what handles its calls; outside coroutines the hooks pass straight to libc."

if [ ${#failures[@]} -gt 0 ]; then
  echo >&2
  for f in "${failures[@]}"; do echo "demo: FAILED: $f" >&2; done
  exit 1
fi
