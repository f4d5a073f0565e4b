#!/usr/bin/env bash
# The public tender list page (with demo data, SQLite) against a bare axum route returning
# a fixed string, both under wrk in the same run. Needs wrk (apt-get install wrk).
# Usage: benches/http_wrk.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
cargo build --release --quiet --bin sunbid --example bare_axum
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
RUST_LOG=warn target/release/sunbid serve --demo --data-dir "$data" --listen 127.0.0.1:18180 --public-url http://localhost:18180 >/dev/null &
target/release/examples/bare_axum 127.0.0.1:18181 &
for port in 18180 18181; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
done
run() { wrk -t2 -c"$conns" -d"${secs}s" "$1" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
echo "== bare axum route"; bare=$(run http://127.0.0.1:18181/)
echo "== Sunbid tender list page (/)"; list=$(run http://127.0.0.1:18180/)
echo "== search (/?q=教学楼)"; search=$(run "http://127.0.0.1:18180/?q=%E6%95%99%E5%AD%A6%E6%A5%BC")
awk -v b="$bare" -v l="$list" -v s="$search" 'BEGIN { printf "list page: %.0f req/s = %.1f%% of bare axum (%.0f req/s); search: %.0f req/s = %.1f%%\n", l, 100*l/b, b, s, 100*s/b }'
