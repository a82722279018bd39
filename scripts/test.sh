#!/usr/bin/env bash
# Runs the whole test suite: unit, integration (real loopback sockets, Python interop peers),
# examples and doc tests, then clippy. Installs what is missing first (see setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh --python

# The library's modules depend one way only (the README's Layout); the checker lives beside
# the repository where the project's shared tools are.
graph="../shared/tools/module-graph.py"
if [ -f "$graph" ]; then
  say "module graph"
  python3 "$graph" src >/dev/null || { python3 "$graph" src; say "the modules use each other in a circle"; exit 1; }
fi

build_quietly --all-targets
if cargo clippy --version >/dev/null 2>&1; then
  say "clippy"
  cargo clippy --release --all-targets --quiet -- -D warnings
else
  say "clippy is not installed (rustup component add clippy): skipped"
fi
say "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps --quiet

cargo test --release
