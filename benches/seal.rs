//! Seal v1 throughput against raw ring AES-256-GCM, in the same run (issue 3, "Benchmarks"):
//!
//! - `raw_seal` / `raw_open`: ring's AES-256-GCM over the same number of bytes in 64 KiB
//!   chunks, a fresh nonce per chunk, nothing else — the ceiling;
//! - `seal_stream`: a whole part through [`seal_stream`] from a repeatable reader (no file,
//!   nothing held in memory) into a null writer;
//! - `open_stream`: the envelope sealed once into a temporary file, then opened with
//!   [`open_stream`] into a null writer through the blob store's reader (reading the file
//!   from the page cache is part of the cost, as it is at a real opening);
//! - `open_stream_mem`: the same bytes opened as 16 passes over a 1/16-size envelope held
//!   in memory — `open_stream`'s own cost without the file read.
//!
//! Size: 1 GiB, or `SEAL_BENCH_BYTES`. Run on one core with
//! `taskset -c 0 cargo bench --bench seal`; `benches/seal_compare.sh` does that and prints
//! the ratios. Figures: docs/BENCHMARKS.md "Sealing".

// Benchmark harness: a failed setup step should stop the run loudly (crate-wide lints
// deny these in the platform's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sunbid::seal::{CHUNK_SIZE, PartInfo, derive_keypair, open_stream, seal_stream};

const TENDER: &str = "bench-tender";
const BIDDER: &str = "bench-bidder";
const CHUNK: usize = CHUNK_SIZE as usize;
const TAG: usize = 16;

fn bench_bytes() -> u64 {
    std::env::var("SEAL_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30)
}

/// `len` bytes of a fixed pattern, produced on the fly.
struct Pattern {
    block: Vec<u8>,
    pos: usize,
    left: u64,
}

impl Pattern {
    fn new(len: u64) -> Pattern {
        Pattern {
            block: (0..CHUNK * 4).map(|i| (i * 31 % 251) as u8).collect(),
            pos: 0,
            left: len,
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.block[self.pos..];
        let n = rest.len().min(buf.len()).min(self.left as usize);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos = (self.pos + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

fn nonce(i: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&i.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x42; 32]).unwrap())
}

/// The ceiling: ring AES-256-GCM sealing `len` bytes in 64 KiB chunks, one buffer.
fn raw_seal(key: &LessSafeKey, len: u64) {
    let aad = [7u8; 32];
    let mut buf = Vec::with_capacity(CHUNK + TAG);
    let chunks = len.div_ceil(CHUNK as u64).max(1);
    for i in 0..chunks {
        buf.clear();
        buf.resize(CHUNK, 0x5a);
        key.seal_in_place_append_tag(nonce(i, i + 1 == chunks), Aad::from(aad), &mut buf)
            .unwrap();
    }
    std::hint::black_box(&buf);
}

/// The ceiling for opening: one authentic chunk copied into a work buffer and opened,
/// `len / 64 KiB` times.
fn raw_open(key: &LessSafeKey, sealed: &[u8], len: u64) {
    let aad = [7u8; 32];
    let mut work = Vec::with_capacity(CHUNK + TAG);
    let chunks = len.div_ceil(CHUNK as u64).max(1);
    for _ in 0..chunks {
        work.clear();
        work.extend_from_slice(sealed);
        let plain = key
            .open_in_place(nonce(0, false), Aad::from(aad), &mut work)
            .unwrap();
        std::hint::black_box(plain);
    }
}

fn seal_bench(c: &mut Criterion) {
    let len = bench_bytes();
    let (sk, pk) = derive_keypair(&[0x5b; 32]);
    let rng = ring::rand::SystemRandom::new();
    let part = PartInfo {
        tender_id: TENDER,
        bidder_id: BIDDER,
        label: "bench.bin",
        plaintext_len: len,
    };
    let dir = tempfile::tempdir().unwrap();
    let envelope = dir.path().join("part.sunbidseal");
    {
        let mut out = BufWriter::new(File::create(&envelope).unwrap());
        seal_stream(&mut Pattern::new(len), &mut out, &pk, &part, &rng).unwrap();
        out.flush().unwrap();
    }
    // A 1/16-size envelope in memory, opened 16 times per iteration.
    let slice_len = len / 16;
    let mut small = Vec::new();
    seal_stream(
        &mut Pattern::new(slice_len),
        &mut small,
        &pk,
        &PartInfo {
            plaintext_len: slice_len,
            ..part
        },
        &rng,
    )
    .unwrap();
    let key = key();
    let mut one = vec![0x5a; CHUNK];
    key.seal_in_place_append_tag(nonce(0, false), Aad::from([7u8; 32]), &mut one)
        .unwrap();

    let label = if len == 1 << 30 {
        "1GiB".to_string()
    } else {
        format!("{len}B")
    };
    let mut g = c.benchmark_group(format!("seal_{label}"));
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(len));
    g.bench_function("raw_seal", |b| b.iter(|| raw_seal(&key, len)));
    g.bench_function("seal_stream", |b| {
        b.iter(|| {
            seal_stream(
                &mut Pattern::new(len),
                &mut std::io::sink(),
                &pk,
                &part,
                &rng,
            )
            .unwrap()
        })
    });
    g.bench_function("raw_open", |b| b.iter(|| raw_open(&key, &one, len)));
    g.bench_function("open_stream", |b| {
        b.iter(|| {
            // The blob store's reader: a default `BufReader`, which 64 KiB chunk reads
            // bypass (a larger buffer would add a copy the opening does not make).
            let mut input = BufReader::new(File::open(&envelope).unwrap());
            open_stream(&mut input, &mut std::io::sink(), &sk, TENDER, BIDDER).unwrap()
        })
    });
    g.bench_function("open_stream_mem", |b| {
        b.iter(|| {
            for _ in 0..16 {
                open_stream(
                    &mut small.as_slice(),
                    &mut std::io::sink(),
                    &sk,
                    TENDER,
                    BIDDER,
                )
                .unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, seal_bench);
criterion_main!(benches);
