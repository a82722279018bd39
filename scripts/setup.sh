#!/usr/bin/env bash
# Installs what building a3grpc needs when it is missing: a C++ compiler, make, cmake and curl
# (to download the gRPC C core's source from PyPI once), as Debian packages. No protoc:
# a3grpc-build reads protos with rust-protobuf's parser. With --python (for the tests) it also installs Debian's grpc-proto
# (the interop service's protos) and makes the venv of Python interop peers (grpcio 1.70,
# grpcio-tools, grpcio-health-checking, grpcio-reflection, a3grpc 0.3.0, and h2 for raw HTTP/2
# floods, from PyPI).
#
# As root it installs with apt-get; otherwise it prints the exact command and fails.
# Sourced by demo.sh and test.sh; safe to run on its own.
set -euo pipefail

A3GRPC_VENV="${A3GRPC_VENV:-$HOME/.cache/a3grpc/venv}"
export A3GRPC_VENV
setup_log="${TMPDIR:-/tmp}/a3grpc-setup.log"
python_pins=("grpcio==1.70.0" "grpcio-tools==1.70.0" "grpcio-health-checking==1.70.0" "protobuf==5.29.6" "a3grpc==0.3.0" "a3py==0.3.0" "grpcio-reflection==1.70.0" "h2==4.1.0" "opentelemetry-api==1.29.0" "opentelemetry-sdk==1.29.0" "opentelemetry-instrumentation-grpc==0.50b0")

say() { printf 'a3grpc: %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $* with apt-get (log: $setup_log)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >"$setup_log" 2>&1; then
      say "apt-get could not install $*; the last lines of $setup_log:"
      tail -n 15 "$setup_log"
      exit 1
    fi
  else
    say "missing: $*. Install them, then run this again:"
    printf '    sudo apt-get install -y %s\n' "$*"
    exit 1
  fi
}

missing=()
command -v cargo >/dev/null 2>&1 || { say "cargo is missing: install Rust from https://rustup.rs"; exit 1; }
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v curl >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || missing+=(curl ca-certificates)
if [ "${1:-}" = "--python" ]; then
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  # The interop server's protos (grpc.testing) come from Debian's grpc-proto.
  [ -n "${A3GRPC_GRPC_PROTO_DIR:-}" ] || [ -f /usr/share/grpc-proto/grpc/testing/test.proto ] || missing+=(grpc-proto)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
fi

if [ "${1:-}" = "--python" ]; then
  stamp="$A3GRPC_VENV/.a3grpc-pins"
  if [ ! -x "$A3GRPC_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${python_pins[*]}" ]; then
    say "creating the Python interop venv at $A3GRPC_VENV (log: $setup_log)"
    rm -rf "$A3GRPC_VENV"
    if ! { python3 -m venv "$A3GRPC_VENV" && "$A3GRPC_VENV/bin/pip" install -q "${python_pins[@]}"; } >"$setup_log" 2>&1; then
      say "the venv could not be made; the last lines of $setup_log:"
      tail -n 15 "$setup_log"
      exit 1
    fi
    printf '%s' "${python_pins[*]}" >"$stamp"
  fi
fi

# The engine: grpcio-sys and grpcio with a3grpc's patches, prepared in engine/ (engine/README.md).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/engine.sh"

# Where cargo builds, as it decides (CARGO_TARGET_DIR, a cargo config's target-dir, or target/).
target_dir() {
  cargo metadata --no-deps --format-version 1 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

# The per-user cache of the compiled gRPC C core (engine/grpcio-sys/build.rs).
core_cache() {
  case "${A3GRPC_CORE_CACHE:-}" in
    off | 0) ;;
    "") printf '%s\n' "${XDG_CACHE_HOME:-$HOME/.cache}/a3grpc/core" ;;
    *) printf '%s\n' "$A3GRPC_CORE_CACHE" ;;
  esac
}

# How far the core's compilation is, from cmake's progress marks in the target folder.
core_progress() {
  local marks total dir
  for dir in "$1"/*/build/a3grpc-grpcio-sys-*/out/build/CMakeFiles/Progress; do
    [ -f "$dir/count.txt" ] || continue
    total="$(cat "$dir/count.txt")"
    marks="$(find "$dir" -type f ! -name count.txt | wc -l)"
    # A finished one is an earlier build's.
    [ "$marks" -lt "$total" ] || continue
    # In steps of 10%, so the log shows progress without a line every few seconds.
    local step="$((100 * marks / (total > 0 ? total : 1) / 10 * 10))"
    printf 'gRPC core %s%%\n' "$step"
    return
  done
}

# Builds quietly: a failure shows its last lines and where the whole log is, not a wall of
# C++ compiler output. While the gRPC C core compiles (once per machine) it says how far it is.
build_quietly() {
  local log="${TMPDIR:-/tmp}/a3grpc-build.log"
  local target cache
  target="$(target_dir)"
  cache="$(core_cache)"
  if [ -n "$cache" ] && ! ls "$cache"/*/MANIFEST >/dev/null 2>&1; then
    say "first build on this machine: compiling the gRPC C core takes 17 to 29 minutes on 2 cores; it is then kept in $cache for every later build"
  fi
  say "building ($*; log: $log)"
  cargo build --release "$@" >"$log" 2>&1 &
  local build=$! last="" now status=0
  while kill -0 "$build" 2>/dev/null; do
    now="$(core_progress "$target")"
    if [ -n "$now" ] && [ "$now" != "$last" ]; then
      say "compiling: $now"
      last="$now"
    fi
    sleep 5
  done
  wait "$build" || status=$?
  if [ "$status" != 0 ]; then
    say "the build failed; the last lines of $log:"
    grep -E '^(error|warning: unused)' -A 8 "$log" | head -n 40 || true
    tail -n 15 "$log"
    exit 1
  fi
}
