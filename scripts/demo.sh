#!/usr/bin/env bash
# The demo: starts the example server, calls it with the example client (one reply, one typed
# error), then stops the server with SIGTERM and checks it exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

build_quietly --examples
examples="$(target_dir)/release/examples"
work="$(mktemp -d)"
trap 'kill "$server_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/conf.toml" <<'CONF'
host = "127.0.0.1"
port = 0
max_workers = 4
servicer_mappings = "app.mappings.servicer_mappings"
graceful_shutdown_seconds = 3
CONF

echo "== server: $examples/server $work/conf.toml"
"$examples/server" "$work/conf.toml" 2>"$work/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 300); do
  port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log" | head -n 1)"
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; say "the server did not start"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/server.log"; say "the server did not report its port"; exit 1; }
cat "$work/server.log"

echo "== client: $examples/client 127.0.0.1:$port"
"$examples/client" "127.0.0.1:$port"

echo "== stopping the server with SIGTERM"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
tail -n +2 "$work/server.log" | grep -v "listening on" || true
[ "$status" = 0 ] || { say "the server exited with status $status"; exit 1; }
echo "== server stopped gracefully (exit 0)"
