//! Seals or opens one file with the seal v1 stream, for the memory and `rage` comparisons in
//! `benches/seal_compare.sh` (figures: docs/BENCHMARKS.md "Sealing"). The opening key is
//! derived from a fixed benchmark seed, never a real one.
//!
//! `cargo run --release --example seal_file -- seal INPUT OUTPUT`
//! `cargo run --release --example seal_file -- open INPUT OUTPUT`
//! `cargo run --release --example seal_file -- gen BYTES OUTPUT` (a repeatable test file)

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::process::ExitCode;

use sunbid::seal::{PartInfo, derive_keypair, open_stream, seal_stream};

const SEED: [u8; 32] = [0x5b; 32];
const TENDER: &str = "bench-tender";
const BIDDER: &str = "bench-bidder";
const BUF: usize = 256 * 1024;

fn run(args: &[String]) -> Result<(), String> {
    let (mode, input, output) = match args {
        [m, i, o] => (m.as_str(), i.as_str(), o.as_str()),
        _ => return Err("usage: seal_file seal|open INPUT OUTPUT, or gen BYTES OUTPUT".into()),
    };
    let (sk, pk) = derive_keypair(&SEED);
    let out = File::create(output).map_err(|e| format!("{output}: {e}"))?;
    let mut writer = BufWriter::with_capacity(BUF, out);
    match mode {
        "gen" => {
            let len: u64 = input.parse().map_err(|_| "BYTES must be a number")?;
            let mut reader = pattern(len);
            std::io::copy(&mut reader, &mut writer).map_err(|e| e.to_string())?;
        }
        "seal" => {
            let file = File::open(input).map_err(|e| format!("{input}: {e}"))?;
            let len = file.metadata().map_err(|e| e.to_string())?.len();
            let mut reader = BufReader::with_capacity(BUF, file);
            let part = PartInfo {
                tender_id: TENDER,
                bidder_id: BIDDER,
                label: "bench.bin",
                plaintext_len: len,
            };
            seal_stream(
                &mut reader,
                &mut writer,
                &pk,
                &part,
                &ring::rand::SystemRandom::new(),
            )
            .map_err(|e| e.to_string())?;
        }
        "open" => {
            let file = File::open(input).map_err(|e| format!("{input}: {e}"))?;
            let mut reader = BufReader::with_capacity(BUF, file);
            open_stream(&mut reader, &mut writer, &sk, TENDER, BIDDER)
                .map_err(|e| e.to_string())?;
        }
        other => return Err(format!("unknown mode {other}")),
    }
    writer.flush().map_err(|e| e.to_string())
}

/// `len` bytes of a fixed, non-constant pattern.
fn pattern(len: u64) -> impl Read {
    let block: Vec<u8> = (0..BUF).map(|i| (i * 31 % 251) as u8).collect();
    Cycle { block, pos: 0 }.take(len)
}

struct Cycle {
    block: Vec<u8>,
    pos: usize,
}

impl Read for Cycle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.block.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos = (self.pos + n) % self.block.len();
        Ok(n)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
