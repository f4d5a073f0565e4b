#!/usr/bin/env bash
# The final-minute burst over HTTP (issues 14 and 15), in one run against:
#   1. the reference: a bare axum upload handler (benches/burst.rs --serve-reference);
#   2. one `sunbid serve` on SQLite;
#   3. three `sunbid serve` on one PostgreSQL database behind nginx (round robin), blobs in
#      s3s-fs when it is installed (else one shared blob folder, said in the output).
# Each Sunbid gets the demo staff (--demo), trust_proxy (each bidder's X-Forwarded-For
# address is its own for the login limit) and the 0-day bench rulebook
# (benches/burst-rulebooks/, so the tender closes minutes after it is published).
#
# Usage: benches/burst.sh [extra generator args, e.g. --spread 50]
# Environment: BURST_SETUPS (default "reference sqlite pg"), BURST_N (bidders, default 1000), SUNBID_BIN (the server, default
# target/release/sunbid, built if missing), BURST_PROFILE (cargo profile of the generator,
# default release; BURST_GEN: an already built generator binary instead), SUNBID_TEST_PG_URL (PostgreSQL, default
# postgres://postgres@127.0.0.1:5432/postgres), SUNBID_TEST_S3_BIN (s3s-fs, default
# $HOME/.cargo/bin/s3s-fs or on the PATH), NGINX (default nginx on the PATH or /usr/sbin).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=${BURST_N:-1000}
profile=${BURST_PROFILE:-release}
pg_url=${SUNBID_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
bin=${SUNBID_BIN:-target/release/sunbid}
[ -x "$bin" ] || cargo build --release --bin sunbid
gen=${BURST_GEN:-$(cargo bench --profile "$profile" --bench burst --no-run 2>&1 |
  sed -n 's/.*Executable benches\/burst.rs (\(.*\))/\1/p' | tail -1)}
[ -x "$gen" ] || { echo "could not build the generator (benches/burst.rs)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
chmod 755 "$work"
pids=()
db=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$db" ]; then psql -q "$pg_url" -c "drop database if exists $db" >/dev/null 2>&1 || true; fi
  if [ -n "${BURST_KEEP:-}" ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() {
  for _ in $(seq 600); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "not up: $1" >&2; return 1
}
peak() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

export RUST_LOG=${RUST_LOG:-warn}
export SUNBID_TRUST_PROXY=true
export SUNBID_RULEBOOK_DIR=$root/benches/burst-rulebooks
export SUNBID_JOB_POLL_SECONDS=1
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: $bin; generator: $gen; bidders: $n; args: $*"
echo
echo "| setup | bids | wall | p50 | p95 | p99 | max (ms) | answered | held | lost | last receipt before deadline |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"

setups=" ${BURST_SETUPS:-reference sqlite pg} "
# 1. The reference.
if [[ $setups == *" reference "* ]]; then
rp=$(port)
"$gen" --serve-reference "127.0.0.1:$rp" & pids+=($!)
sleep 0.5
"$gen" --reference "http://127.0.0.1:$rp" --bidders "$n" --label "reference: bare axum upload handler" "$@" | grep '^|'
fi

# 2. One process on SQLite.
if [[ $setups == *" sqlite "* ]]; then
p1=$(port)
"$bin" serve --demo --data-dir "$work/sqlite" --listen "127.0.0.1:$p1" --public-url "http://localhost:$p1" \
  >"$work/sqlite.log" 2>&1 & sqlite_pid=$!; pids+=($sqlite_pid)
wait_up "http://127.0.0.1:$p1/readyz"
"$gen" --target "http://127.0.0.1:$p1" --bidders "$n" --label "1 process, SQLite" "$@" | grep '^|'
echo "  server peak RSS (VmHWM): $(peak $sqlite_pid)"
kill "$sqlite_pid"
fi

# 3. Three processes on PostgreSQL behind nginx, blobs in s3s-fs.
[[ $setups == *" pg "* ]] || exit 0
db="sunbid_burst_$$"
psql -q "$pg_url" -c "create database $db" >/dev/null
db_url="${pg_url%/*}/$db"
mkdir -p "$work/keys"
"$bin" keys generate --out "$work/keys/platform.pk8" >/dev/null
"$bin" keys generate --out "$work/keys/session.pk8" >/dev/null
export SUNBID_PLATFORM_KEY_FILE=$work/keys/platform.pk8 SUNBID_SESSION_KEY_FILE=$work/keys/session.pk8
s3=${SUNBID_TEST_S3_BIN:-$HOME/.cargo/bin/s3s-fs}
[ -x "$s3" ] || s3=$(command -v s3s-fs || true)
if [ -n "$s3" ] && [ -x "$s3" ]; then
  sp=$(port)
  mkdir -p "$work/s3/bench"
  "$s3" --host 127.0.0.1 --port "$sp" --access-key bench --secret-key bench-secret-key "$work/s3" \
    >/dev/null 2>&1 & pids+=($!)
  export SUNBID_BLOB_URL=s3://bench/blobs SUNBID_S3_ENDPOINT=http://127.0.0.1:$sp SUNBID_S3_REGION=us-east-1 \
    SUNBID_S3_ACCESS_KEY_ID=bench SUNBID_S3_SECRET_ACCESS_KEY=bench-secret-key
  blobs="s3s-fs"
else
  blobs="one shared blob folder (no s3s-fs found)"
fi
ups=""
procs=()
# One public URL for the three (the proxy's): session tokens name it, and any process
# must accept a token another one issued.
np=$(port)
for i in 0 1 2; do
  pp=$(port)
  # Without S3 the three share one data folder, so every process sees every blob.
  dir=$work/pg; [ -n "${SUNBID_BLOB_URL:-}" ] && dir=$work/pg$i
  "$bin" serve --demo --data-dir "$dir" --database-url "$db_url" --listen "127.0.0.1:$pp" \
    --public-url "http://localhost:$np" >"$work/pg$i.log" 2>&1 & procs+=($!); pids+=($!)
  wait_up "http://127.0.0.1:$pp/readyz"
  ups="$ups server 127.0.0.1:$pp max_fails=1 fail_timeout=30s;"
done
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off; worker_processes 1; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
worker_rlimit_nofile 65536;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  upstream sunbid { $ups keepalive 64; }
  server {
    listen 127.0.0.1:$np;
    client_max_body_size 0;
    proxy_request_buffering off;
    location / {
      proxy_pass http://sunbid; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_set_header Host \$http_host;
      proxy_read_timeout 300s;
    }
  }
}
EOF
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" & pids+=($!)
wait_up "http://127.0.0.1:$np/readyz"
"$gen" --target "http://127.0.0.1:$np" --bidders "$n" --label "3 processes, PostgreSQL, nginx, $blobs" "$@" | grep '^|'
echo "  servers' peak RSS (VmHWM): $(for p in "${procs[@]}"; do peak "$p"; echo -n ' '; done)"
