#!/usr/bin/env bash
# What a user does after `make install`, in a temporary prefix: build the README's example with
# pkg-config, run it (rpath: a private prefix is not in the loader's path), link it statically,
# and build a libco program with cohook-libco. Prints "install_test: PASSED" or the failing step.
# Usage: test/install_test.sh   (from anywhere; uses the source tree it is in)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install_test: FAILED: $*"; exit 1; }
expected=$'read 5 bytes: hello\nsum of squares: 14'

prefix=$tmp/prefix
make -C "$root" --no-print-directory install PREFIX="$prefix" >"$tmp/install.log" 2>&1 ||
  { tail -20 "$tmp/install.log"; fail "make install PREFIX=$prefix"; }
# install-deps.sh prints nothing when the packages are there: ask make what it would run instead.
make -C "$root" --no-print-directory -n install PREFIX="$prefix" 2>&1 | grep -q "install-deps" &&
  fail "make install would run install-deps.sh"
make -C "$root" --no-print-directory -n install PREFIX="$prefix" 2>&1 | grep -qE "examples/|test/" &&
  fail "make install would build examples or tests"
for f in lib/libcohook.a lib/libcohook.so lib/libcohook.so.0 include/cohook/cohook.hpp \
         include/cohook/compat/co_routine.h lib/pkgconfig/cohook.pc lib/pkgconfig/cohook-libco.pc; do
  [ -e "$prefix/$f" ] || fail "$f not installed"
done
[ "$(readlink "$prefix/lib/libcohook.so")" = libcohook.so.0 ] || fail "libcohook.so is not a link to libcohook.so.0"
soname=$(readelf -d "$prefix/lib/libcohook.so.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libcohook.so.0 ] || fail "SONAME is '$soname', expected libcohook.so.0"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cd "$tmp" || exit 1

# Shared, with the rpath a private prefix needs.
# shellcheck disable=SC2046  # pkg-config output is a list of flags
g++ -std=c++20 "$root/examples/hello.cc" -o hello $(pkg-config --cflags --libs cohook) -Wl,-rpath,"$prefix/lib" ||
  fail "building hello.cc with pkg-config --cflags --libs cohook"
readelf -d hello | grep -q 'NEEDED.*libcohook.so.0' || fail "hello does not record libcohook.so.0 as needed"
out=$(timeout 60 ./hello) || fail "hello exited with $?"
[ "$out" = "$expected" ] || fail "hello printed: $out"

# Static: the archive whole, and the private flags.
# shellcheck disable=SC2046
g++ -std=c++20 "$root/examples/hello.cc" -o hello_static $(pkg-config --cflags cohook) \
  $(pkg-config --variable=static_libs cohook) || fail "static link with static_libs"
readelf -d hello_static | grep -q libcohook && fail "hello_static still needs libcohook.so"
out=$(timeout 60 ./hello_static) || fail "hello_static exited with $?"
[ "$out" = "$expected" ] || fail "hello_static printed: $out"
static_flags=$(echo $(pkg-config --static --libs cohook))  # echo: pkg-config leaves a trailing blank
[ "$static_flags" = "-L$prefix/lib -lcohook -ldl -pthread" ] || fail "pkg-config --static --libs cohook: $static_flags"

# libco: #include "co_routine.h" unchanged, through cohook-libco.
# shellcheck disable=SC2046
g++ -std=c++20 "$root/examples/libco_echo.cc" -o libco_echo $(pkg-config --cflags --libs cohook-libco) \
  -Wl,-rpath,"$prefix/lib" || fail "building libco_echo.cc with cohook-libco"
ldd ./libco_echo | grep -q "$prefix/lib/libcohook.so.0" || fail "libco_echo does not load the installed library"

echo "install_test: PASSED"
