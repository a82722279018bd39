#!/usr/bin/env bash
# The benchmark, in one command: the a3grpc server (Views on the pool, and inline), the same
# service on raw grpcio, on tonic (bench/tonic, built here; tokio and hyper never enter the
# library's build), and Python a3grpc 0.3.0, each driven by the same load generator in
# this run. Prints the table with the ratios and writes bench/results.md, bench/results.csv
# and bench/chart.svg.
# Extra arguments go to `bench compare` (e.g. --seconds 5 --rounds 5).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh --python

build_quietly --examples
say "building the tonic reference server (bench/tonic)"
cargo build --release --quiet --manifest-path bench/tonic/Cargo.toml --target-dir "$(target_dir)"
CARGO_MANIFEST_DIR="$PWD" "$(target_dir)/release/examples/bench" compare --out bench "$@"
