//! Opening every part of every current bid with the rebuilt key, each checked against its
//! receipt, and the sealed base price; blocking work, run in `spawn_blocking`.

use super::*;

/// How far a running decryption has come, shared with the task that reports it.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Bids decrypted (and checked) so far.
    pub(super) opened: std::sync::atomic::AtomicU64,
    /// Bids to decrypt.
    pub(super) total: std::sync::atomic::AtomicU64,
}

impl Progress {
    /// `(bids decrypted, bids in all)` now.
    pub(super) fn now(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.opened.load(Relaxed), self.total.load(Relaxed))
    }
}

/// A part of a current bid, as the opening reads it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct OpeningPart {
    pub(super) bid_id: String,
    pub(super) bidder_org_id: String,
    pub(super) bidder_name: String,
    pub(super) receipt_audit_seq: i64,
    pub(super) part_id: String,
    pub(super) label: String,
    pub(super) name: String,
    pub(super) sha256: String,
    pub(super) size_bytes: i64,
}

/// What became of one part.
#[derive(Clone, Debug)]
pub(super) enum PartOutcome {
    Opened {
        plain_sha256: String,
        plain_len: u64,
    },
    Failed {
        code: String,
        message: String,
        fault: Fault,
    },
}

impl PartOutcome {
    fn failed(failure: &PartFailure<'_>, message: String) -> PartOutcome {
        PartOutcome::Failed {
            code: failure.code().to_string(),
            message,
            fault: failure.fault(),
        }
    }
}

pub(super) struct BidResult {
    pub(super) bid_id: String,
    pub(super) bidder_org_id: String,
    pub(super) bidder_name: String,
    pub(super) audit_seq: i64,
    pub(super) parts: Vec<(OpeningPart, PartOutcome)>,
    pub(super) form: Option<BidForm>,
    /// `opened`, `revoked` or `withdrawn`.
    pub(super) status: &'static str,
    pub(super) reason: Option<String>,
}

/// Reads and hashes the stored envelope as `open_stream` consumes it.
pub(super) struct HashingReader<R> {
    inner: R,
    ctx: digest::Context,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Keeps the bid form in memory (bounded) and in a blob writer.
pub(super) struct FormSink {
    buf: Vec<u8>,
    overflow: bool,
    blob: BlobWriter,
}

impl std::io::Write for FormSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_FORM_BYTES {
            self.overflow = true;
            return Err(std::io::Error::other("bid form too large"));
        }
        self.buf.extend_from_slice(data);
        self.blob.write_all(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.blob.flush()
    }
}

/// Decrypts one part into a temporary blob; returns the outcome, the writer to keep if
/// the bid turns out valid, and the form bytes for the form.
pub(super) fn open_part(
    blobs: &BlobStore,
    key: &PrivateKey,
    tender_id: &str,
    part: &OpeningPart,
) -> (PartOutcome, Option<BlobWriter>, Option<Vec<u8>>) {
    let failed =
        |f: PartFailure<'_>, message: String| (PartOutcome::failed(&f, message), None, None);
    let file = match blobs.reader(&part.sha256).map_err(|e| e.to_string()) {
        Ok(f) => f,
        Err(e) => {
            return failed(
                PartFailure::EnvelopeUnreadable,
                format!("the stored envelope cannot be read: {e}"),
            );
        }
    };
    let blob = match blobs.writer() {
        Ok(w) => w,
        Err(e) => {
            return failed(
                PartFailure::PlaintextStorage,
                format!("no room for the plaintext: {e}"),
            );
        }
    };
    let mut reader = HashingReader {
        inner: file,
        ctx: digest::Context::new(&digest::SHA256),
    };
    let is_form = part.label == "form";
    let mut form = FormSink {
        buf: Vec::new(),
        overflow: false,
        blob,
    };
    let result = if is_form {
        seal::open_stream(&mut reader, &mut form, key, tender_id, &part.bidder_org_id)
    } else {
        seal::open_stream(
            &mut reader,
            &mut form.blob,
            key,
            tender_id,
            &part.bidder_org_id,
        )
    };
    // Whatever happened, the digest must cover the whole stored file.
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    let stored = hex::encode(reader.ctx.finish());
    if stored != part.sha256 {
        return failed(
            PartFailure::StoredEnvelopeChanged,
            format!(
                "the stored envelope no longer matches the receipt digest {} (platform storage fault)",
                part.sha256
            ),
        );
    }
    match result {
        Ok(opened) => {
            let plain_len = opened.header.plaintext_len;
            // The plaintext digest comes from the blob writer when `decrypt_all` keeps the
            // part (valid bids only); until then it is empty.
            (
                PartOutcome::Opened {
                    plain_sha256: String::new(),
                    plain_len,
                },
                Some(form.blob),
                is_form.then_some(form.buf),
            )
        }
        Err(_) if form.overflow => failed(
            PartFailure::FormTooLarge,
            format!("the bid form is larger than {MAX_FORM_BYTES} bytes"),
        ),
        Err(e) => {
            let failure = PartFailure::Envelope(&e);
            let message = match failure.fault() {
                // Say why the bidder answers for it: the record is public.
                Fault::Bidder => format!(
                    "{e}; the stored envelope matches the receipt and the opening key was verified, \
                     so the envelope as sealed by the bidder cannot be opened / 存储的密封文件与回执一致且开标密钥已验证，投标文件因投标人原因无法解密"
                ),
                Fault::Platform => e.to_string(),
            };
            failed(failure, message)
        }
    }
}

/// Decrypts every part of every current bid (blocking; runs in `spawn_blocking`), the bids
/// shared out over one thread per core: each bid's parts are independent of the others', and
/// one core decrypting in turn left the rest idle while a large tender waited to open.
pub(super) fn decrypt_all(
    blobs: &BlobStore,
    key: &PrivateKey,
    tender_id: &str,
    parts: Vec<OpeningPart>,
    progress: &Progress,
) -> Vec<BidResult> {
    let mut by_bid: Vec<(String, Vec<OpeningPart>)> = Vec::new();
    for p in parts {
        match by_bid.last_mut() {
            Some((id, list)) if *id == p.bid_id => list.push(p),
            _ => by_bid.push((p.bid_id.clone(), vec![p])),
        }
    }
    progress.total.store(
        u64::try_from(by_bid.len()).unwrap_or(u64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(by_bid.len())
        .max(1);
    // The S3 store reads through the runtime: every worker enters it, as this thread has.
    let runtime = tokio::runtime::Handle::try_current().ok();
    let queue = std::sync::Mutex::new(by_bid.into_iter().enumerate());
    let mut results: Vec<(usize, BidResult)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                    let mut done = Vec::new();
                    loop {
                        let next = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(poisoned) => poisoned.into_inner().next(),
                        };
                        let Some((index, (bid_id, parts))) = next else {
                            break;
                        };
                        if let Some(result) = open_bid(blobs, key, tender_id, bid_id, parts) {
                            done.push((index, result));
                        }
                        progress
                            .opened
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    // The record lists the bids in the order they were received, whoever opened them.
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Opens the parts of one bid and decides its outcome; `None` for a bid without parts.
fn open_bid(
    blobs: &BlobStore,
    key: &PrivateKey,
    tender_id: &str,
    bid_id: String,
    parts: Vec<OpeningPart>,
) -> Option<BidResult> {
    let first = parts.first()?;
    let (org, name, seq) = (
        first.bidder_org_id.clone(),
        first.bidder_name.clone(),
        first.receipt_audit_seq,
    );
    let mut outcomes = Vec::with_capacity(parts.len());
    let mut writers = Vec::with_capacity(parts.len());
    let mut form_bytes = None;
    for part in parts {
        let (outcome, writer, form) = open_part(blobs, key, tender_id, &part);
        if form.is_some() {
            form_bytes = form;
        }
        writers.push(writer);
        outcomes.push((part, outcome));
    }
    let first_failure = |who: Fault| {
        outcomes.iter().find_map(|(p, o)| match o {
            PartOutcome::Failed {
                code,
                message,
                fault,
            } if *fault == who => Some(format!("{} ({}): {code}: {message}", p.name, p.label)),
            _ => None,
        })
    };
    let platform_fail = first_failure(Fault::Platform);
    let bidder_fail = first_failure(Fault::Bidder);
    let (mut status, mut reason, mut form) = match (platform_fail, bidder_fail) {
        (Some(r), _) => ("withdrawn", Some(r), None),
        (None, Some(r)) => ("revoked", Some(r), None),
        (None, None) => ("opened", None, None),
    };
    if status == "opened" {
        match form_bytes.as_deref().map(BidForm::parse) {
            Some(Ok(f)) => form = Some(f),
            Some(Err(e)) => {
                status = "revoked";
                reason = Some(format!("{}: {e}", PartFailure::FormInvalid.code()));
            }
            None => {
                status = "revoked";
                reason = Some(format!(
                    "{}: no bid form was opened",
                    PartFailure::FormMissing.code()
                ));
            }
        }
    }
    if status == "opened" {
        // Keep the plaintext of valid bids (see the module comment).
        for ((part, outcome), writer) in outcomes.iter_mut().zip(writers) {
            let Some(w) = writer else { continue };
            match w.finish() {
                Ok((digest, _)) => {
                    if let PartOutcome::Opened { plain_sha256, .. } = outcome {
                        *plain_sha256 = digest;
                    }
                }
                Err(e) => {
                    status = "withdrawn";
                    reason = Some(format!(
                        "{} ({}): {}: the plaintext could not be stored: {e}",
                        part.name,
                        part.label,
                        PartFailure::PlaintextStorage.code()
                    ));
                }
            }
        }
    }
    // Writers not finished are dropped here: their temporary plaintext is deleted.
    Some(BidResult {
        bid_id,
        bidder_org_id: org,
        bidder_name: name,
        audit_seq: seq,
        parts: outcomes,
        form: if status == "opened" { form } else { None },
        status,
        reason,
    })
}

/// Largest base-price plaintext read at the opening (it is `{"base_price_fen": <int>}`).
pub(super) const MAX_BASE_PRICE_PLAIN: usize = 4096;

/// Collects a small plaintext, refusing more than `MAX_BASE_PRICE_PLAIN` bytes.
pub(super) struct SmallSink(Vec<u8>);

impl std::io::Write for SmallSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + data.len() > MAX_BASE_PRICE_PLAIN {
            return Err(std::io::Error::other("base price plaintext too large"));
        }
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens the sealed base price (标底) with the opening key: `Ok(fen)` or the reason it
/// could not be read (recorded, never failing the opening).
pub(super) fn open_base_price(
    blobs: &BlobStore,
    key: &PrivateKey,
    tender_id: &str,
    sha256: &str,
) -> Result<i64, String> {
    let file = blobs
        .reader(sha256)
        .map_err(|e| e.to_string())
        .map_err(|e| format!("PLATFORM_STORAGE: the stored envelope cannot be read: {e}"))?;
    let mut reader = HashingReader {
        inner: file,
        ctx: digest::Context::new(&digest::SHA256),
    };
    let mut sink = SmallSink(Vec::new());
    let result = seal::open_stream(
        &mut reader,
        &mut sink,
        key,
        tender_id,
        service::BASE_PRICE_BIDDER_ID,
    );
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    if hex::encode(reader.ctx.finish()) != sha256 {
        return Err(format!(
            "PLATFORM_STORED_ENVELOPE_CHANGED: the stored envelope no longer matches its digest {sha256}"
        ));
    }
    result.map_err(|e| format!("{}: {e}", e.code()))?;
    #[derive(serde::Deserialize)]
    struct BasePrice {
        base_price_fen: i64,
    }
    let parsed: BasePrice = serde_json::from_slice(&sink.0)
        .map_err(|e| format!("BASE_PRICE_INVALID: not {{\"base_price_fen\": <int>}}: {e}"))?;
    if !(0..=1_000_000_000_000_000).contains(&parsed.base_price_fen) {
        return Err("BASE_PRICE_INVALID: base_price_fen must be 0–10^15".into());
    }
    Ok(parsed.base_price_fen)
}
