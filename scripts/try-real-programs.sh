#!/usr/bin/env bash
# Real threaded programs nobody here wrote, from Debian, each run natively and under
# `corun --threads 2`, driven by its own kind of client; prints a table. Not part of `make test`
# (it installs packages and takes a few minutes): run it by hand or in a separate CI job.
#
#   scripts/try-real-programs.sh [--no-install] [PROGRAM...]
#   PROGRAM: python-http apache-worker stunnel privoxy memcached perl-threads redis redis-io-threads
#
# Everything listens on 127.0.0.1 only; every server is started here and stopped by its pid.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CORUN="$ROOT/bin/corun"
THREADS=2
REQUESTS=${REQUESTS:-2000}
CONCURRENCY=${CONCURRENCY:-20}
PORT_BASE=${PORT_BASE:-18400}

install=1
if [ "${1:-}" = "--no-install" ]; then install=0; shift; fi
programs=("$@")
[ ${#programs[@]} -eq 0 ] && programs=(python-http apache-worker stunnel privoxy memcached perl-threads redis redis-io-threads)

[ -x "$CORUN" ] || { echo "try-real-programs: $CORUN missing: run make first" >&2; exit 2; }

if [ $install = 1 ]; then
  # No service may start on install (Debian's policy-rc.d convention: 101 = action forbidden).
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    stunnel4 privoxy apache2 apache2-utils memcached redis-server redis-tools perl python3 curl openssl >/dev/null ||
    { echo "try-real-programs: apt-get install failed" >&2; exit 2; }
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

WORK=$(mktemp -d /tmp/cohook-real-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/www"
head -c 10000 /dev/urandom | base64 > "$WORK/www/page.txt"   # ~13.5 KB
EXPECTED_SUM=$(md5sum < "$WORK/www/page.txt" | cut -d' ' -f1)

declare -a ROWS
SERVER_PID=

wait_port() {  # port, seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# start MODE LOG CMD...: runs CMD natively (MODE=native) or under corun, in the background.
start() {
  local mode=$1 log=$2
  shift 2
  if [ "$mode" = native ]; then
    "$@" >"$log" 2>&1 &
  else
    "$CORUN" --threads $THREADS -- "$@" >"$log" 2>&1 &
  fi
  SERVER_PID=$!
}

stop() {
  [ -n "$SERVER_PID" ] || return
  kill -TERM "$SERVER_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}

os_threads() { ls /proc/"$1"/task 2>/dev/null | wc -l; }

# Peak OS threads of the server and its child processes while the client runs: sample_threads
# starts sampling in the background, peak_threads stops it and prints the peak.
sample_threads() {
  (
    peak=0
    while :; do
      n=$(os_threads "$SERVER_PID")
      for child in $(pgrep -P "$SERVER_PID"); do n=$((n + $(os_threads "$child"))); done
      [ "$n" -gt "$peak" ] && peak=$n && echo "$peak" >"$WORK/peak"
      sleep 0.2
    done
  ) &
  SAMPLER_PID=$!
}
peak_threads() {
  kill "$SAMPLER_PID" 2>/dev/null
  wait "$SAMPLER_PID" 2>/dev/null
  cat "$WORK/peak" 2>/dev/null || echo "?"
  rm -f "$WORK/peak"
}

# ab against URL [extra ab flags]; prints "ok N/M, R req/s" or the failure.
run_ab() {
  local url=$1
  shift
  local out
  out=$(timeout 120 ab -q -n "$REQUESTS" -c "$CONCURRENCY" -s 20 "$@" "$url" 2>&1)
  local rc=$?
  local complete failed rps length
  complete=$(sed -n 's/^Complete requests: *//p' <<<"$out")
  failed=$(sed -n 's/^Failed requests: *//p' <<<"$out")
  rps=$(sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p' <<<"$out")
  length=$(sed -n 's/^Document Length: *\([0-9]*\).*/\1/p' <<<"$out")
  if [ $rc -ne 0 ] || [ -z "$complete" ]; then
    echo "FAIL (ab rc $rc: $(tail -1 <<<"$out"))"
  elif [ "${failed:-1}" != 0 ]; then
    echo "FAIL ($failed of $complete failed)"
  else
    echo "ok $complete/$REQUESTS x ${length}B, $rps req/s"
  fi
}

# The body through URL must be the page, byte for byte.
check_body() {
  local sum
  sum=$(timeout 20 curl -sS "$@" | md5sum | cut -d' ' -f1)
  [ "$sum" = "$EXPECTED_SUM" ] && echo "body ok" || echo "body WRONG"
}

row() { ROWS+=("$(printf '| %-16s | %-7s | %s |' "$1" "$2" "$3")"); }

# ---- backends the proxies forward to (always native) ----
BACKEND_PORT=$((PORT_BASE + 99))
start_backend() {
  /usr/bin/python3 -m http.server --bind 127.0.0.1 "$BACKEND_PORT" --directory "$WORK/www" >"$WORK/backend.log" 2>&1 &
  BACKEND_PID=$!
  wait_port "$BACKEND_PORT" 10
}
stop_backend() { kill -TERM "$BACKEND_PID" 2>/dev/null; wait "$BACKEND_PID" 2>/dev/null; }

# ---- each program: try_NAME MODE PORT ----

try_python-http() {
  start "$1" "$WORK/python-$1.log" /usr/bin/python3 -m http.server --bind 127.0.0.1 "$2" --directory "$WORK/www"
  if ! wait_port "$2" 20; then echo "FAIL (no listen)"; return; fi
  sample_threads
  local result
  result="$(run_ab "http://127.0.0.1:$2/page.txt"), $(check_body "http://127.0.0.1:$2/page.txt")"
  echo "$result, peak $(peak_threads) OS threads"
}

try_apache-worker() {
  local dir="$WORK/apache-$1"
  mkdir -p "$dir"
  local m=/usr/lib/apache2/modules
  cat >"$dir/httpd.conf" <<EOF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$2
LoadModule mpm_worker_module $m/mod_mpm_worker.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule mime_module $m/mod_mime.so
LoadModule dir_module $m/mod_dir.so
TypesConfig /etc/mime.types
PidFile $dir/httpd.pid
ErrorLog $dir/error.log
LogLevel warn
Mutex file:$dir default
User nobody
Group nogroup
DocumentRoot "$WORK/www"
<Directory "$WORK/www">
  Require all granted
</Directory>
StartServers 2
ServerLimit 4
ThreadsPerChild 25
MaxRequestWorkers 100
MinSpareThreads 25
MaxSpareThreads 75
EOF
  chmod -R a+rX "$WORK"
  start "$1" "$dir/stdout.log" /usr/sbin/apache2 -f "$dir/httpd.conf" -DFOREGROUND
  if ! wait_port "$2" 20; then echo "FAIL (no listen: $(tail -1 "$dir/error.log" "$dir/stdout.log" 2>/dev/null | tr '\n' ' '))"; return; fi
  sample_threads
  local result children
  result="$(run_ab "http://127.0.0.1:$2/page.txt"), $(check_body "http://127.0.0.1:$2/page.txt")"
  children=$(pgrep -P "$SERVER_PID" | wc -l)
  echo "$result, $children worker processes, peak $(peak_threads) OS threads in all"
}

try_stunnel() {
  local dir="$WORK/stunnel-$1"
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 2 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    >/dev/null 2>&1
  cat >"$dir/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 3
[web]
accept = 127.0.0.1:$2
connect = 127.0.0.1:$BACKEND_PORT
cert = $dir/cert.pem
key = $dir/key.pem
EOF
  start "$1" "$dir/log" stunnel4 "$dir/stunnel.conf"
  if ! wait_port "$2" 20; then echo "FAIL (no listen: $(tail -1 "$dir/log"))"; return; fi
  sample_threads
  local result
  result="$(run_ab "https://127.0.0.1:$2/page.txt"), $(check_body -k "https://127.0.0.1:$2/page.txt")"
  echo "$result, peak $(peak_threads) OS threads"
}

try_privoxy() {
  local dir="$WORK/privoxy-$1"
  mkdir -p "$dir"
  cat >"$dir/config" <<EOF
confdir /etc/privoxy
logdir $dir
listen-address 127.0.0.1:$2
toggle 0
enable-remote-toggle 0
max-client-connections 256
EOF
  start "$1" "$dir/stdout.log" privoxy --no-daemon "$dir/config"
  if ! wait_port "$2" 20; then echo "FAIL (no listen: $(tail -1 "$dir/stdout.log"))"; return; fi
  sample_threads
  local result
  result="$(run_ab "http://127.0.0.1:$BACKEND_PORT/page.txt" -X "127.0.0.1:$2"), $(check_body -x "127.0.0.1:$2" "http://127.0.0.1:$BACKEND_PORT/page.txt")"
  echo "$result, peak $(peak_threads) OS threads"
}

# A line-protocol client: CONNS connections in parallel, each ROUNDS request/response pairs,
# every reply checked. Prints "ok N/M, R req/s" or the failure.
line_client() {  # port kind conns rounds
  timeout 120 python3 - "$@" <<'EOF'
import socket, sys, threading, time
port, kind, conns, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ok = [0] * conns
def recv_until(s, end):
    data = b""
    while not data.endswith(end):
        chunk = s.recv(65536)
        if not chunk: raise EOFError("closed")
        data += chunk
    return data
def worker(i):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        for r in range(rounds):
            value = b"v%d-%d-" % (i, r) + b"x" * 100
            if kind == "memcached":
                key = b"k%d_%d" % (i, r)
                s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))
                if recv_until(s, b"\r\n") != b"STORED\r\n": return
                s.sendall(b"get %s\r\n" % key)
                if recv_until(s, b"END\r\n") != b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(value), value): return
            elif kind == "redis":
                key = b"k%d_%d" % (i, r)
                s.sendall(b"SET %s %s\r\n" % (key, value))
                if recv_until(s, b"\r\n") != b"+OK\r\n": return
                s.sendall(b"GET %s\r\n" % key)
                got = recv_until(s, value + b"\r\n")
                if got != b"$%d\r\n%s\r\n" % (len(value), value): return
            else:  # echo
                s.sendall(value + b"\n")
                if recv_until(s, b"\n") != value + b"\n": return
            ok[i] += 1
        s.close()
    except Exception as e:
        sys.stderr.write("conn %d: %s\n" % (i, e))
start = time.time()
threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.time() - start
done = sum(ok)
total = conns * rounds
if done == total: print("ok %d/%d round trips, %.0f/s" % (done, total, done / elapsed))
else: print("FAIL (%d of %d round trips)" % (done, total))
EOF
  [ $? -eq 124 ] && echo "FAIL (client timed out: server hung)"
}

try_memcached() {
  start "$1" "$WORK/memcached-$1.log" memcached -u nobody -l 127.0.0.1 -p "$2" -U 0 -t 4
  if ! wait_port "$2" 20; then echo "FAIL (no listen)"; return; fi
  sample_threads
  local result
  result=$(line_client "$2" memcached 20 100)
  echo "$result, peak $(peak_threads) OS threads"
}

try_perl-threads() {
  # A thread-per-connection echo server in the style of perlthrtut: accept, then threads->create.
  start "$1" "$WORK/perl-$1.log" perl -Mthreads -MIO::Socket::INET -e '
    my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 128, ReuseAddr => 1) or die $!;
    while (my $c = $l->accept) {
      threads->create(sub { my $c = shift; while (my $line = <$c>) { print $c $line } close $c }, $c)->detach;
    }' "$2"
  if ! wait_port "$2" 20; then echo "FAIL (no listen: $(tail -1 "$WORK/perl-$1.log"))"; return; fi
  sample_threads
  local result
  result="$(line_client "$2" echo 20 50)"
  result="$result, peak $(peak_threads) OS threads"
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID"
    local status=$?
    result="$result; server died, status $status ($(tail -1 "$WORK/perl-$1.log"))"
    SERVER_PID=
  fi
  echo "$result"
}

try_redis() {
  start "$1" "$WORK/redis-$1.log" redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no $REDIS_EXTRA
  if ! wait_port "$2" 20; then echo "FAIL (no listen)"; return; fi
  sample_threads
  local result
  result=$(line_client "$2" redis 20 100)
  echo "$result, peak $(peak_threads) OS threads"
}

try_redis-io-threads() {
  REDIS_EXTRA="--io-threads 4 --io-threads-do-reads yes" try_redis "$@"
}
REDIS_EXTRA=

if ! start_backend; then echo "try-real-programs: the python backend did not start" >&2; exit 1; fi
port=$PORT_BASE
for name in "${programs[@]}"; do
  if ! declare -F "try_$name" >/dev/null; then echo "try-real-programs: unknown program $name" >&2; exit 2; fi
  for mode in native corun; do
    port=$((port + 1))
    echo "== $name ($mode) on port $port" >&2
    # Not in $(...): the server's pid must reach stop() in this shell.
    "try_$name" "$mode" "$port" >"$WORK/result"
    stop
    result=$(cat "$WORK/result")
    row "$name" "$mode" "$result"
  done
done
stop_backend

echo
echo "Real programs, natively and under \`corun --threads $THREADS\` ($REQUESTS requests at concurrency $CONCURRENCY for HTTP):"
echo
printf '| %-16s | %-7s | %s |\n' program run result
printf '|%s|%s|%s|\n' ------------------ --------- --------
for r in "${ROWS[@]}"; do echo "$r"; done
