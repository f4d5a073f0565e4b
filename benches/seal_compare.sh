#!/usr/bin/env bash
# Sealing benchmarks of issue 3, in one run, on one core (taskset -c 0):
#  1. criterion (benches/seal.rs): raw ring AES-256-GCM vs seal_stream / open_stream of a
#     1 GiB part, with the ratios;
#  2. peak memory (max RSS, /usr/bin/time -v) of sealing and opening 64 MiB and 1 GiB files
#     with examples/seal_file.rs, to show it does not grow with the size;
#  3. the same 1 GiB file through rage (age, ChaCha20-Poly1305 in 64 KiB chunks), timed with
#     hyperfine next to seal_file.
# Needs: /usr/bin/time, taskset, jq, hyperfine (apt-get install hyperfine), rage (found on
# PATH, in $RAGE, or installed here with `cargo install rage --locked` into a temp root).
# Usage: benches/seal_compare.sh [bytes]      (default 1073741824; ~4 GiB of temp disk)
# Figures: docs/BENCHMARKS.md "Sealing".
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
small=$((64 * 1024 * 1024))
work=$(mktemp -d "${TMPDIR:-/tmp}/sunbid-seal-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
one="taskset -c 0"

echo "== machine"
echo "nproc: $(nproc); cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(rustc -V)"
grep -qw aes /proc/cpuinfo && echo "AES-NI: yes" || echo "AES-NI: no"

cargo build --release --quiet --example seal_file --bin sunbid
cargo bench --quiet --bench seal --no-run 2>/dev/null
seal_file=target/release/examples/seal_file

rage=${RAGE:-$(command -v rage || true)}
if [ -z "$rage" ] && [ -x /tmp/rage-install/bin/rage ]; then rage=/tmp/rage-install/bin/rage; fi
if [ -z "$rage" ]; then
  echo "== installing rage (cargo install rage --locked)"
  if CARGO_TARGET_DIR="$work/rage-target" cargo install rage --locked --root "$work/rage" >"$work/rage.log" 2>&1; then
    rage=$work/rage/bin/rage
  else
    echo "rage failed to build; see the tail of its log:"; tail -20 "$work/rage.log"
  fi
fi

echo "== 1. criterion: raw AES-256-GCM vs seal_stream/open_stream ($size bytes, one core)"
SEAL_BENCH_BYTES=$size $one cargo bench --quiet --bench seal -- --noplot 2>&1 | grep -E "^seal_|time:|thrpt:" || true
group=seal_$([ "$size" = 1073741824 ] && echo 1GiB || echo "${size}B")
mean() { jq '.mean.point_estimate' "target/criterion/$group/$1/new/estimates.json"; }
awk -v n="$size" -v rs="$(mean raw_seal)" -v ss="$(mean seal_stream)" \
    -v ro="$(mean raw_open)" -v os="$(mean open_stream)" -v om="$(mean open_stream_mem)" 'BEGIN {
  g = n / 1073741824
  printf "raw seal %.2f GiB/s, seal_stream %.2f GiB/s = %.1f%% of raw\n", g/(rs/1e9), g/(ss/1e9), 100*rs/ss
  printf "raw open %.2f GiB/s, open_stream %.2f GiB/s = %.1f%% of raw\n", g/(ro/1e9), g/(os/1e9), 100*ro/os
  printf "open_stream from memory (16 x 1/16) %.2f GiB/s = %.1f%% of raw\n", g/(om/1e9), 100*ro/om
  printf "seal + open: %.1f%% of raw from a file, %.1f%% from memory (target >= 80%%)\n", 100*(rs+ro)/(ss+os), 100*(rs+ro)/(ss+om)
}'

echo "== 2. peak memory (max RSS) of seal_file, one core"
$seal_file gen "$small" "$work/small.bin"
$seal_file gen "$size" "$work/big.bin"
rss() { # label, command…
  local label=$1; shift
  /usr/bin/time -v "$@" 2>"$work/time.txt" >/dev/null
  printf "%-34s max RSS %6d KiB, %s s\n" "$label" \
    "$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")" \
    "$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt")"
}
rss "seal 64 MiB" $one $seal_file seal "$work/small.bin" "$work/small.seal"
rss "seal $size B" $one $seal_file seal "$work/big.bin" "$work/big.seal"
rss "open 64 MiB" $one $seal_file open "$work/small.seal" /dev/null
rss "open $size B" $one $seal_file open "$work/big.seal" /dev/null
rm -f "$work/small.bin" "$work/small.seal"

if [ -n "$rage" ]; then
  echo "== 3. seal_file vs rage ($("$rage" --version)), $size bytes, one core, output to /dev/null"
  "${rage}-keygen" -o "$work/age.key" 2>/dev/null || "$(dirname "$rage")/rage-keygen" -o "$work/age.key"
  recipient=$(sed -n 's/^# public key: //p' "$work/age.key")
  "$rage" -r "$recipient" -o "$work/big.age" "$work/big.bin"
  rss "rage -r (encrypt) $size B" $one "$rage" -r "$recipient" -o /dev/null "$work/big.bin"
  rss "rage -d (decrypt) $size B" $one "$rage" -d -i "$work/age.key" -o /dev/null "$work/big.age"
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 1 --runs "${RUNS:-5}" --export-markdown "$work/hf.md" \
      -n "sunbid seal" "$one $seal_file seal $work/big.bin /dev/null" \
      -n "rage -r" "$one $rage -r $recipient -o /dev/null $work/big.bin" \
      -n "sunbid open" "$one $seal_file open $work/big.seal /dev/null" \
      -n "rage -d" "$one $rage -d -i $work/age.key -o /dev/null $work/big.age" >/dev/null
    cat "$work/hf.md"
  else
    for c in "$seal_file seal $work/big.bin /dev/null" "$rage -r $recipient -o /dev/null $work/big.bin" \
             "$seal_file open $work/big.seal /dev/null" "$rage -d -i $work/age.key -o /dev/null $work/big.age"; do
      rss "$(basename "${c%% *}") ${c#* }" $one $c
    done
  fi
else
  echo "== 3. rage: not available, comparison skipped"
fi

echo "== 4. sunbid bid submit of the $size-byte file over loopback HTTP (demo server, SQLite)"

port=${PORT:-18190}
RUST_LOG=warn target/release/sunbid serve --demo --data-dir "$work/data" \
  --listen "127.0.0.1:$port" --public-url "http://localhost:$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
cat >"$work/bid.json" <<'JSON'
{"price_fen": 4500000000, "duration_days": 365, "quality": "合格", "project_manager": "李工",
 "declarations": ["投标保证金已缴纳"]}
JSON
printf 'sunbid-demo-2026\n' | rss "bid submit (seal + upload) $size B" target/release/sunbid bid submit \
  --server "http://127.0.0.1:$port" --tender SZ2026-JS-002 --form "$work/bid.json" \
  --attach "$work/big.bin" --username bidder2 --out "$work/receipt.json"
echo "server max RSS: $(sed -n 's/^VmHWM: *//p' /proc/$server/status)"
target/release/sunbid receipt verify "$work/receipt.json" --server "http://127.0.0.1:$port" 2>/dev/null
