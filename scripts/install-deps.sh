#!/usr/bin/env bash
# Installs the Debian packages cohook builds, tests and benchmarks with, when any is missing.
# Called by `make deps` (and so by every make target that builds); quiet when all are present.
set -eu
packages=(g++ make libabsl-dev libunwind-dev libgtest-dev libgmock-dev libbenchmark-dev valgrind
          g++-aarch64-linux-gnu qemu-user pkg-config procps iproute2 libboost-context-dev
          libcurl4-openssl-dev libhiredis-dev libssl-dev redis-server
          strace python3 bc)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "cohook: installing missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "cohook: not root and no sudo; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
