# shellcheck shell=bash
# The r_* results are read by the scripts that source this file, and bin_dir, work, duration_ms
# and message_size are theirs: shellcheck cannot see across the source.
# shellcheck disable=SC2034,SC2154
# Sourced by scripts/demo.sh and scripts/bench-corun.sh: start an echo server, load it with
# bin/loadgen, watch it from /proc meanwhile, stop it. Bash only; nothing here runs by itself.
#
# The caller sets bin_dir (where loadgen is) and work (a scratch folder), and calls
# echo_runs_setup once, before starting anything: it installs the trap that stops every server
# and load generator started here, however the script ends.
#
# Everything is bounded in time: each server gets --max_seconds and exits by itself after it,
# each loadgen runs under `timeout`, and a server that will not stop is killed.

server_groups=()  # process groups of the servers still running (each server runs under setsid)
load_groups=()    # process groups of the load generators still running (timeout and loadgen)

echo_runs_cleanup() {
  local p
  for p in "${server_groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  for p in "${load_groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${work:-}" ] && rm -rf "$work"
}

echo_runs_setup() {
  trap echo_runs_cleanup EXIT
  trap 'echo "$(basename "$0"): interrupted" >&2; exit 130' INT TERM
}

without() {  # without ID LIST... -> LIST minus ID, one a line
  local id=$1 p
  shift
  for p in "$@"; do [ "$p" != "$id" ] && printf '%s\n' "$p"; done
}

status_field() {  # status_field PID NAME -> the number after "NAME:" in /proc/PID/status
  awk -v name="$2:" '$1 == name { print $2; exit }' "/proc/$1/status" 2>/dev/null
}

cpu_ticks() {  # cpu_ticks PID -> the process's user + system CPU time, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null
}

kernel_stack_kb() {  # the kernel memory held by every thread's kernel stack, system-wide
  awk '$1 == "KernelStack:" { print $2; exit }' /proc/meminfo
}

# raise_limits CONNECTIONS: the servers and loadgen inherit this shell's limits. Each side holds
# one descriptor per connection; the thread server one thread (and pid) per connection. Returns 1
# with a message when the machine cannot give what CONNECTIONS needs.
raise_limits() {
  local connections=$1 need_fds=$(($1 + 256))
  if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need_fds" ]; then
    if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need_fds" ]; then
      # Root may raise the hard limit too, up to the kernel's ceiling (fs.nr_open).
      local nr_open
      nr_open=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)
      if [ "$(id -u)" -ne 0 ] || [ "$nr_open" -lt "$need_fds" ] || ! ulimit -Hn "$need_fds" 2>/dev/null; then
        echo "$connections connections need $need_fds open files per process, but the hard limit" \
          "(ulimit -Hn) is $(ulimit -Hn): raise it (as root: ulimit -Hn $need_fds), or lower the connection count" >&2
        return 1
      fi
    fi
    ulimit -Sn "$need_fds" || return 1
  fi
  # Thread-per-connection: one task per connection. Root is exempt from RLIMIT_NPROC.
  if [ "$(id -u)" -ne 0 ] && [ "$(ulimit -Su)" != unlimited ] && [ "$(ulimit -Su)" -lt $((connections + 1000)) ]; then
    ulimit -Su "$(ulimit -Hu)" 2>/dev/null
    [ "$(ulimit -Su)" != unlimited ] && [ "$(ulimit -Su)" -lt $((connections + 1000)) ] &&
      echo "warning: ulimit -u is $(ulimit -Su): the thread server may not get $connections threads" >&2
  fi
  local pid_max tasks
  pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 4194304)
  tasks=$(awk '{ split($4, n, "/"); print n[2] }' /proc/loadavg)  # threads on the machine now
  [ $((tasks + connections + 1000)) -gt "$pid_max" ] &&
    echo "warning: kernel.pid_max is $pid_max and $tasks tasks run: the thread server may not get $connections threads" >&2
  # loadgen connects from 127.0.0.1: one ephemeral port per connection.
  local low high
  read -r low high </proc/sys/net/ipv4/ip_local_port_range
  if [ $((high - low)) -lt $((connections + 1000)) ]; then
    echo "$connections connections need as many ephemeral ports, but net.ipv4.ip_local_port_range is $low-$high" >&2
    return 1
  fi
  return 0
}

# start_server LOG COMMAND... : starts COMMAND --port 0 --max_seconds N in a process group of its
# own and waits for its "port N" line. Sets server_group, server_pid (the process to watch: corun
# execs the program, but a launcher that forks is followed to its child) and server_port.
start_server() {
  local log=$1
  shift
  # In a script a background job is not a group leader, so setsid execs in place: $! is both the
  # process and its new group.
  setsid "$@" --port 0 --max_seconds "${server_max_seconds:-120}" >"$log" 2>&1 &
  server_group=$!
  server_groups+=("$server_group")
  server_port=
  local tries=0
  until server_port=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$log" 2>/dev/null | head -1) && [ -n "$server_port" ]; do
    if ! kill -0 "$server_group" 2>/dev/null; then
      echo "server did not start: $*" >&2
      sed 's/^/    server | /' "$log" >&2
      return 1
    fi
    tries=$((tries + 1))
    if [ "$tries" -gt 200 ]; then
      echo "server printed no 'port N' line within 10 s: $*" >&2
      return 1
    fi
    sleep 0.05
  done
  server_pid=$server_group
  local children
  children=$(cat "/proc/$server_group/task/$server_group/children" 2>/dev/null)
  case "$(cat "/proc/$server_group/comm" 2>/dev/null)" in
    echo_*) ;;
    *) [ -n "$children" ] && server_pid=${children%% *} ;;
  esac
  return 0
}

stop_server() {  # stop_server GROUP: SIGTERM, then SIGKILL after 2 s
  kill -TERM -- "-$1" 2>/dev/null
  local tries=0
  while kill -0 -- "-$1" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 20 ]; then
      kill -KILL -- "-$1" 2>/dev/null
      break
    fi
    sleep 0.1
  done
  wait "$1" 2>/dev/null
  mapfile -t server_groups < <(without "$1" "${server_groups[@]}")
}

# median_kernel_stack SAMPLES -> from lines "threads kernel_stack_kb", the median KernelStack of
# the samples taken while the server had its most threads (one sample is noise: other processes
# on the machine start and end threads too).
median_kernel_stack() {
  sort -n -k1,1 -k2,2 "$1" | awk '
    { t[NR] = $1; k[NR] = $2 }
    END {
      if (NR == 0) exit
      peak = t[NR]; n = 0
      for (i = 1; i <= NR; i++) if (t[i] == peak) kept[++n] = k[i]
      print kept[int((n + 1) / 2)]
    }'
}

# measure KEY CONNECTIONS COMMAND... : a fresh server, loadgen with CONNECTIONS connections for
# duration_ms (a global), /proc sampled every 0.1 s meanwhile, then the server is stopped.
# Sets r_rps r_p50_us r_p99_us r_rss_kb r_threads r_kstack_kb (the KernelStack growth from just
# before the server started to the loaded plateau), r_cpu_us (the server's CPU time per request
# while loadgen measured, user + system), r_load_log, r_server_log, and r_problem (empty when
# every connection was made and every byte came back).
measure() {
  local key=$1 connections=$2
  shift 2
  r_rps=- r_p50_us=- r_p99_us=- r_rss_kb=- r_threads=- r_kstack_kb=- r_cpu_us=- r_problem=
  r_server_log="$work/$key-$connections.server"
  r_load_log="$work/$key-$connections.load"
  local samples="$work/$key-$connections.samples"
  : >"$samples"
  local kstack_before
  kstack_before=$(kernel_stack_kb)
  if ! start_server "$r_server_log" "$@" 2>>"$r_load_log"; then
    r_problem="server did not start"
    return
  fi
  local pid=$server_pid
  # Connecting and the warm-up round are bounded by loadgen's own timeout (20 s), the run by
  # duration_ms, the drain by 5 s; timeout is the backstop. In a group of its own, so that the
  # cleanup reaches loadgen too, not only timeout.
  setsid timeout --kill-after=2 $((duration_ms / 1000 + 35)) "$bin_dir/loadgen" --port "$server_port" \
    --connections "$connections" --duration_ms "$duration_ms" --message_size "${message_size:-64}" \
    >>"$r_load_log" 2>&1 &
  local load=$!
  load_groups+=("$load")
  local threads cpu_start=
  while kill -0 "$load" 2>/dev/null; do
    threads=$(status_field "$pid" Threads)
    [ -n "$threads" ] && echo "$threads $(kernel_stack_kb)" >>"$samples"
    [ -z "$cpu_start" ] && grep -q '^loadgen: warmed up' "$r_load_log" && cpu_start=$(cpu_ticks "$pid")
    sleep 0.1
  done
  wait "$load"
  local load_status=$? cpu_end
  cpu_end=$(cpu_ticks "$pid")
  mapfile -t load_groups < <(without "$load" "${load_groups[@]}")
  r_rss_kb=$(status_field "$pid" VmHWM)
  local alive=yes
  kill -0 "$pid" 2>/dev/null || alive=no
  stop_server "$server_group"

  [ -s "$samples" ] && r_threads=$(sort -n "$samples" | tail -1 | cut -d' ' -f1)
  local kstack_loaded
  kstack_loaded=$(median_kernel_stack "$samples")
  [ -n "$kstack_loaded" ] && r_kstack_kb=$((kstack_loaded - kstack_before))
  [ -n "$r_rss_kb" ] || r_rss_kb=-

  local errors=- established=- kv
  for kv in $(grep '^result ' "$r_load_log" | tail -1); do
    case $kv in
      rps=*) r_rps=${kv#rps=} ;;
      p50_us=*) r_p50_us=${kv#p50_us=} ;;
      p99_us=*) r_p99_us=${kv#p99_us=} ;;
      errors=*) errors=${kv#errors=} ;;
      connections=*) established=${kv#connections=} ;;
    esac
  done
  if [ -n "$cpu_start" ] && [ -n "$cpu_end" ] && [[ "$r_rps" =~ ^[0-9]+$ ]] && [ "$r_rps" -gt 0 ]; then
    r_cpu_us=$(awk -v ticks=$((cpu_end - cpu_start)) -v hz="$(getconf CLK_TCK)" -v rps="$r_rps" \
      -v ms="$duration_ms" 'BEGIN { printf "%.1f", ticks / hz * 1e6 / (rps * ms / 1000) }')
  fi
  if [ "$alive" = no ]; then
    r_problem="the server died during the run"
  elif [ "$load_status" -eq 124 ] || [ "$load_status" -eq 137 ]; then
    r_problem="loadgen did not finish in time"
  elif [ "$errors" = - ]; then
    r_problem="loadgen printed no result (exit status $load_status)"
  elif [ "$established" != "$connections" ]; then
    r_problem="only $established of $connections connections made"
  elif [ "$errors" != 0 ]; then
    r_problem="$errors connection errors"
  elif [ "$load_status" -ne 0 ]; then
    r_problem="loadgen exit status $load_status"
  fi
}

# show_problem LABEL CONNECTIONS: what loadgen and the server said, for a failed run.
show_problem() {
  echo "$1 at $2 connections: $r_problem" >&2
  sed 's/^/    loadgen | /' "$r_load_log" >&2
  tail -5 "$r_server_log" 2>/dev/null | sed 's/^/    server  | /' >&2
}
