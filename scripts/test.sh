#!/usr/bin/env bash
# Runs the whole test suite: unit, integration (real loopback sockets, Python interop peers),
# examples and doc tests, then clippy. Installs what is missing first (see setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh --python

# The library's modules depend one way only: each on those before it in this order, the
# ARCHITECTURE.md's Layout table. The graph tool lives beside the repository with the project's shared
# tools.
layers="error wire flow sync engine method trace otlp metrics reflection health channel call view interceptor dispatch servicer conf server client testing"
graph="../shared/tools/module-graph.py"
if [ -f "$graph" ]; then
  say "module graph"
  python3 "$graph" src >/dev/null || { python3 "$graph" src; say "the modules use each other in a circle"; exit 1; }
  if ! python3 "$graph" src | awk -v layers="$layers" '
      BEGIN { n = split(layers, names, " "); for (i = 1; i <= n; i++) at[names[i]] = i }
      / -> / {
        m = $1; if (!(m in at)) { print "  " m ": not in the layer order of scripts/test.sh"; bad = 1; next }
        deps = $0; sub(/.* -> /, "", deps); if (deps == "-") next
        k = split(deps, d, ", ")
        for (i = 1; i <= k; i++) if (at[d[i]] >= at[m]) { print "  " m " uses " d[i] ", which comes after it"; bad = 1 }
      }
      END { exit bad }'; then
    say "a module uses one listed after it (ARCHITECTURE.md, Layout)"
    exit 1
  fi
fi

# Formatting. The engine's grpcio keeps upstream's style (its own rustfmt.toml), in which its
# patches are written, so the whole workspace is checked.
if cargo fmt --version >/dev/null 2>&1; then
  say "formatting"
  cargo fmt --all --check >/dev/null || { say "not formatted: run cargo fmt --all"; exit 1; }
else
  say "rustfmt is not installed (rustup component add rustfmt): skipped"
fi

# Everything is built and tested with the optional `otlp` feature on (its test exports spans);
# clippy also reads the library without it.
features="a3grpc/otlp"
build_quietly --all-targets --features "$features"
# --no-deps: the engine's crates are workspace members for packaging, but upstream's code.
if cargo clippy --version >/dev/null 2>&1; then
  say "clippy"
  cargo clippy --release --all-targets --features "$features" --quiet --no-deps -- -D warnings
  cargo clippy --release -p a3grpc --lib --quiet --no-deps -- -D warnings
else
  say "clippy is not installed (rustup component add clippy): skipped"
fi
say "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps --features "$features" --quiet

cargo test --release --features "$features"
