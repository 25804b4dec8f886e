#!/usr/bin/env bash
# Any harness, in shell: start echo-svc on a free port, wait for its ready file, talk to it,
# stop it. Usage: ready_file_test.sh [path/to/echo-svc]
set -euo pipefail
svc=${1:-echo-svc}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

"$svc" --port 0 --bind 127.0.0.1 --ready-file "$dir/ready" >/dev/null &
pid=$!
for _ in $(seq 200); do  # up to 10 s
  [ -s "$dir/ready" ] && break
  kill -0 "$pid" || { echo "echo-svc exited before it was ready" >&2; exit 1; }
  sleep 0.05
done
port=$(sed -n '1s/.*://p' "$dir/ready")
[ -n "$port" ] || { echo "no ready file within 10 s" >&2; exit 1; }

reply=$(python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1', $port), timeout=5); s.sendall(b'ping'); s.shutdown(socket.SHUT_WR); sys.stdout.write(s.makefile('rb').read().decode())")
[ "$reply" = ping ] || { echo "expected 'ping', got '$reply'" >&2; exit 1; }

kill -TERM "$pid"
wait "$pid"
[ ! -e "$dir/ready" ] || { echo "ready file left after a clean exit" >&2; exit 1; }
echo "ok: echo-svc on port $port echoed 'ping'"
