#!/usr/bin/env bash
# Runs the aarch64 build's context-switch check under qemu-user: `make cross` calls it with
# build/aarch64/cross/switch_check. Also checks that the cross-built shared library next
# to it is really an aarch64 ELF. The exit status is the check's (1 if anything here is missing).
#
#   scripts/run-cross.sh BINARY [LIBRARY]
# LIBRARY defaults to BINARY's ../lib/libcohook.so (build/aarch64/lib/libcohook.so for make cross).
set -u

die() {
  echo "run-cross: $*" >&2
  exit 1
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: $0 BINARY [LIBRARY]"; fi
binary=$1
library=${2:-$(dirname "$(dirname "$binary")")/lib/libcohook.so}

# Machine field of an ELF file, from readelf (binutils), else from file(1).
elf_machine() {
  if command -v readelf >/dev/null 2>&1; then
    readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p'
  elif command -v file >/dev/null 2>&1; then
    file -b "$1"
  fi
}

is_aarch64_elf() {
  case "$(elf_machine "$1")" in
    *AArch64* | *aarch64*) return 0 ;;  # readelf: "AArch64"; file: "ARM aarch64"
    *) return 1 ;;
  esac
}

[ -f "$binary" ] || die "no such file: $binary (build it with: make cross)"
[ -f "$library" ] || die "no such file: $library (build it with: make cross)"
command -v readelf >/dev/null 2>&1 || command -v file >/dev/null 2>&1 ||
  die "neither readelf (binutils) nor file is installed: cannot check the ELF machine"

for f in "$library" "$binary"; do
  if ! is_aarch64_elf "$f"; then
    die "$f is not an aarch64 ELF (machine: $(elf_machine "$f" || echo unknown))"
  fi
done
echo "run-cross: $library: aarch64 ELF shared object"

qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then
  echo "run-cross: qemu-aarch64 is not installed, so the aarch64 switch check cannot run here." >&2
  echo "run-cross: install it with: apt-get install qemu-user (or run: make deps)" >&2
  exit 1
fi

# The binary is dynamically linked: qemu loads its libc and libstdc++ from the cross toolchain's
# sysroot (Debian's libc6-arm64-cross and libstdc++6-arm64-cross, pulled in by g++-aarch64-linux-gnu).
[ -d /usr/aarch64-linux-gnu/lib ] || die "no aarch64 sysroot in /usr/aarch64-linux-gnu (install g++-aarch64-linux-gnu, or run: make deps)"
sysroot=(-L /usr/aarch64-linux-gnu)

echo "run-cross: $qemu $binary"
"$qemu" "${sysroot[@]}" "$binary"
status=$?
if [ "$status" -ne 0 ]; then
  echo "run-cross: $binary failed under qemu (exit status $status)" >&2
else
  echo "run-cross: aarch64 switch check passed under qemu"
fi
exit "$status"
