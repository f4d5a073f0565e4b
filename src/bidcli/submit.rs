//! `sunbid bid submit` and `sunbid receipt verify` over HTTP.
//!
//! Submission, in this order, so that nothing leaves the machine before it is known to be
//! right: check the bid form locally; log in (or take a token); fetch who we are (the bidder
//! id is the user's organisation), the tender and its opening key; seal every part and
//! stream its envelope up in the same pass (constant memory, no temporary file, SHA-256 of
//! the envelope computed on the way out); submit the part list; verify the receipt's signature and that it
//! records exactly the envelopes sent; write it.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ring::digest;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::form::{BidForm, MAX_FORM_LEN, validate_form};
use super::receipt::{
    MAX_RECEIPT_LEN, ProofSummary, Receipt, SentPart, SignedReceipt, check_inclusion,
    check_matches, key_label, verify_receipt, verify_receipt_any,
};
use super::{ClientError, ReceiptError};
use crate::audit::checkpoint::{VerifierKey, parse_verifier_key};
use crate::seal::{PartInfo, PublicKey, SealError, Sealer};

/// Read buffer size: four seal chunks per read of the source file.
const IO_BUF: usize = 256 * 1024;

/// Sealed chunks queued between the sealing thread and the socket (64 KiB each).
const PIECES_IN_FLIGHT: usize = 8;

/// AES-256-GCM tag appended to every sealed chunk.
const TAG_LEN: usize = 16;

/// How the CLI proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// A Bearer token (`--token` or `$SUNBID_TOKEN`).
    Token(String),
    /// Log in with a username and password (the password read from standard input).
    Password {
        /// Login name.
        username: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::Password { username, .. } => {
                write!(
                    f,
                    "Password {{ username: {username:?}, password: <redacted> }}"
                )
            }
        }
    }
}

/// Everything `sunbid bid submit` needs.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Base URL of the platform, e.g. `http://localhost:8080`.
    pub server: String,
    /// The tender's public code.
    pub tender: String,
    /// The bid form (`bid.json`).
    pub form: PathBuf,
    /// Attachments, each sealed as its own part.
    pub attachments: Vec<PathBuf>,
    /// Who is submitting.
    pub credentials: Credentials,
    /// A pinned platform verifier key; otherwise the published one is fetched.
    pub vkey: Option<String>,
    /// Where to write the receipt (default `receipt-<tender>.json`).
    pub out: Option<PathBuf>,
}

/// Where the key that verified a receipt came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Given on the command line.
    Pinned,
    /// Fetched from this URL.
    Published(String),
}

/// What a successful submission produced.
#[derive(Debug, Clone)]
pub struct SubmitOutcome {
    /// The verified receipt.
    pub receipt: Receipt,
    /// Where it was written.
    pub receipt_path: PathBuf,
    /// The parts sent.
    pub sent: Vec<SentPart>,
    /// The bid form as checked.
    pub form: BidForm,
    /// `name+keyid` of the key the receipt verified with.
    pub key_label: String,
    /// The full verifier key, to pin next time.
    pub vkey: String,
    /// Where that key came from.
    pub key_source: KeySource,
}

#[derive(Deserialize)]
struct LoginAnswer {
    token: String,
}

#[derive(Deserialize)]
struct Me {
    username: String,
    org_id: Option<String>,
}

#[derive(Deserialize)]
struct TenderAnswer {
    tender_id: String,
}

#[derive(Deserialize)]
struct OpeningKeyAnswer {
    tender_id: String,
    public_key: String,
}

#[derive(Deserialize)]
struct UploadAnswer {
    part_id: String,
    sha256: String,
    size: u64,
}

#[derive(Deserialize)]
struct PlatformKeyAnswer {
    vkey: String,
    /// Every key, active and retired (servers before key rotation list none).
    #[serde(default)]
    keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    vkey: String,
}

/// Every key the platform publishes (active first), to verify a receipt that a retired key
/// may have signed.
async fn published_keys(api: &Api) -> Result<Vec<(VerifierKey, String)>, ClientError> {
    let answer: PlatformKeyAnswer = api.get("/api/v1/platform-key").await?;
    std::iter::once(answer.vkey)
        .chain(answer.keys.into_iter().map(|k| k.vkey))
        .map(|v| {
            parse_verifier_key(&v)
                .map(|k| (k, v))
                .map_err(|e| ClientError::Protocol(format!("platform key: {e}")))
        })
        .collect()
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// A small JSON API client.
struct Api {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

impl Api {
    fn new(server: &str) -> Result<Api, ClientError> {
        let base = server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "--server must be an http:// or https:// URL, not {server:?}"
            )));
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("sunbid-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            // Per read, not per request: a 1 GiB upload takes as long as it takes.
            .read_timeout(Duration::from_secs(300))
            .build()?;
        Ok(Api {
            base,
            client,
            token: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let resp = self.authed(self.client.get(self.url(path))).send().await?;
        json_answer(resp).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, ClientError> {
        let resp = self
            .authed(self.client.post(self.url(path)).json(body))
            .send()
            .await?;
        json_answer(resp).await
    }
}

/// The body of a 2xx answer as text, or the server's `{"code","message"}` as an error.
async fn text_answer(resp: reqwest::Response) -> Result<String, ClientError> {
    let status = resp.status();
    let text = resp.text().await?;
    if status.is_success() {
        return Ok(text);
    }
    Err(match serde_json::from_str::<ErrorBody>(&text) {
        Ok(e) => ClientError::Server {
            status: status.as_u16(),
            code: e.code,
            message: e.message,
        },
        Err(_) => ClientError::Server {
            status: status.as_u16(),
            code: "HTTP_ERROR".into(),
            message: format!(
                "the server answered {status}{}",
                if text.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", text.chars().take(200).collect::<String>())
                }
            ),
        },
    })
}

async fn json_answer<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let url = resp.url().path().to_owned();
    let text = text_answer(resp).await?;
    serde_json::from_str(&text).map_err(|e| ClientError::Protocol(format!("{url}: {e}")))
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters pass).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file name fit for the default receipt path.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn bar(len: u64, msg: String) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:<28!} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg);
    pb
}

/// One part to seal and send.
struct Part {
    label: &'static str,
    name: String,
    source: PathBuf,
    plaintext_len: u64,
}

fn file_name(path: &Path) -> Result<String, ClientError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ClientError::Usage(format!("{} has no usable file name", path.display())))?;
    if name.len() > 255 {
        return Err(ClientError::Usage(format!(
            "the file name {name:?} is longer than 255 bytes; rename it before sealing"
        )));
    }
    Ok(name.to_owned())
}

fn regular_file_len(path: &Path) -> Result<u64, ClientError> {
    let meta = std::fs::metadata(path).map_err(ClientError::io(format!("{}", path.display())))?;
    if !meta.is_file() {
        return Err(ClientError::Usage(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(meta.len())
}

/// Seals `part` chunk by chunk, handing each piece of the envelope (header, then every
/// sealed chunk) to `send` as soon as it is made; returns the envelope's SHA-256 and length.
/// Blocking. One chunk buffer is in flight per piece: memory stays flat whatever the size.
fn seal_pieces(
    part: &Part,
    mut sealer: Sealer,
    pb: &ProgressBar,
    mut send: impl FnMut(Vec<u8>) -> Result<(), ClientError>,
) -> Result<([u8; 32], u64), ClientError> {
    let seal_err = |source: SealError| ClientError::Seal {
        name: part.name.clone(),
        source,
    };
    let input = std::fs::File::open(&part.source)
        .map_err(ClientError::io(format!("{}", part.source.display())))?;
    let mut reader = BufReader::with_capacity(IO_BUF, input);
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut len = 0u64;
    let mut emit = |piece: Vec<u8>, ctx: &mut digest::Context| {
        ctx.update(&piece);
        len = len.saturating_add(piece.len() as u64);
        send(piece)
    };
    emit(sealer.header().to_vec(), &mut ctx)?;
    let read_err = |e| ClientError::io(format!("{}", part.source.display()))(e);
    while let Some(want) = sealer.next_chunk_len() {
        let mut buf = Vec::with_capacity(want + TAG_LEN);
        (&mut reader)
            .take(want as u64)
            .read_to_end(&mut buf)
            .map_err(read_err)?;
        if buf.len() != want {
            return Err(ClientError::Usage(format!(
                "{} changed while it was being sealed (it is shorter than when the bid began)",
                part.source.display()
            )));
        }
        pb.inc(want as u64);
        sealer.seal_chunk(&mut buf).map_err(seal_err)?;
        emit(buf, &mut ctx)?;
    }
    let mut probe = [0u8; 1];
    if reader.read(&mut probe).map_err(read_err)? != 0 {
        return Err(ClientError::Usage(format!(
            "{} changed while it was being sealed (it is longer than when the bid began)",
            part.source.display()
        )));
    }
    sealer.finish().map_err(seal_err)?;
    let mut sha = [0u8; 32];
    sha.copy_from_slice(ctx.finish().as_ref());
    Ok((sha, len))
}

/// Seals one part and streams its envelope up in the same pass (no temporary file): the
/// sealing thread feeds the request body through a short queue, so the cipher and the
/// socket work at once. Checks the server's digest of what it received.
async fn seal_and_send(
    api: &Api,
    tender: &str,
    part: Part,
    sealer: Sealer,
) -> Result<(SentPart, String), ClientError> {
    let size = sealer
        .envelope_header()
        .envelope_len()
        .map_err(|source| ClientError::Seal {
            name: part.name.clone(),
            source,
        })?;
    let label = part.label.to_owned();
    let name = part.name.clone();
    let pb = bar(part.plaintext_len, format!("sealing and sending {name}"));
    let (pieces, mut queue) =
        tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(PIECES_IN_FLIGHT);
    let progress = pb.clone();
    let sealing = tokio::task::spawn_blocking(move || {
        let sent = seal_pieces(&part, sealer, &progress, |piece| {
            pieces
                .blocking_send(Ok(Bytes::from(piece)))
                .map_err(|_| ClientError::Protocol("the upload stopped early".into()))
        });
        if let Err(e) = &sent {
            // Ends the body with an error: the server never sees a complete envelope.
            let _ = pieces.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
        sent
    });
    let stream = futures_util::stream::poll_fn(move |cx| queue.poll_recv(cx));
    let req = api
        .client
        .post(api.url(&format!(
            "/api/v1/tenders/{}/bid/parts",
            path_segment(tender)
        )))
        .query(&[("label", label.as_str()), ("name", name.as_str())])
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(stream));
    let resp = api.authed(req).send().await;
    let sealed = sealing
        .await
        .map_err(|e| ClientError::Protocol(format!("sealing task failed: {e}")))?;
    pb.finish_and_clear();
    // A sealing failure explains a refused upload better than the refusal does.
    let (sha256, sealed_len) = sealed?;
    let answer: UploadAnswer = json_answer(resp?).await?;
    let sent = SentPart {
        label,
        name,
        sha256,
        size: sealed_len,
    };
    let ours = hex::encode(sent.sha256);
    if !answer.sha256.eq_ignore_ascii_case(&ours) || answer.size != sent.size {
        return Err(ClientError::Protocol(format!(
            "the server recorded {} as {} bytes with SHA-256 {}, but sent were {} bytes with \
             SHA-256 {ours}; the bid was not submitted",
            sent.name, answer.size, answer.sha256, sent.size
        )));
    }
    Ok((sent, answer.part_id))
}

/// The platform's verifier key: pinned, or as published by the server.
async fn platform_key(
    api: &Api,
    pinned: Option<&str>,
) -> Result<(VerifierKey, String, KeySource), ClientError> {
    let (vkey, source) = match pinned {
        Some(v) => (v.trim().to_owned(), KeySource::Pinned),
        None => {
            let answer: PlatformKeyAnswer = api.get("/api/v1/platform-key").await?;
            (
                answer.vkey,
                KeySource::Published(api.url("/api/v1/platform-key")),
            )
        }
    };
    let key = parse_verifier_key(&vkey).map_err(|e| match source {
        KeySource::Pinned => ClientError::Usage(format!("--vkey: {e}")),
        KeySource::Published(_) => ClientError::Protocol(format!("platform key: {e}")),
    })?;
    Ok((key, vkey, source))
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so a reader never
/// sees half a receipt.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let what = || format!("writing {}", path.display());
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(ClientError::io(what()))?;
    tmp.write_all(bytes).map_err(ClientError::io(what()))?;
    tmp.persist(path)
        .map_err(|e| ClientError::io(what())(e.error))?;
    Ok(())
}

/// Runs `sunbid bid submit`. Progress goes to standard error; the caller prints the summary.
pub async fn submit_bid(opts: &SubmitOptions) -> Result<SubmitOutcome, ClientError> {
    // 1. Everything that can be checked locally, before any request.
    let (form, parts) = local_parts(opts)?;
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("receipt-{}.json", file_safe(&opts.tender))));

    // 2. Who we are, the tender, its opening key, the platform key.
    let mut api = Api::new(&opts.server)?;
    api.token = Some(match &opts.credentials {
        Credentials::Token(t) => t.clone(),
        Credentials::Password { username, password } => {
            let answer: LoginAnswer = api
                .post(
                    "/api/v1/auth/login",
                    &json!({"username": username, "password": password}),
                )
                .await?;
            answer.token
        }
    });
    let me: Me = api.get("/api/v1/me").await?;
    let bidder_id = me.org_id.ok_or_else(|| {
        ClientError::Usage(format!(
            "user {} belongs to no organisation: bids are submitted by a bidder company's users",
            me.username
        ))
    })?;
    let code = path_segment(&opts.tender);
    let tender: TenderAnswer = api.get(&format!("/api/v1/tenders/{code}")).await?;
    let opening: OpeningKeyAnswer = api
        .get(&format!("/api/v1/tenders/{code}/opening-key"))
        .await?;
    if opening.tender_id != tender.tender_id {
        return Err(ClientError::Protocol(format!(
            "the opening key is for tender {}, not {}",
            opening.tender_id, tender.tender_id
        )));
    }
    let key_bytes = URL_SAFE_NO_PAD
        .decode(opening.public_key.trim().trim_end_matches('='))
        .map_err(|_| ClientError::Protocol("the opening key is not base64url".into()))?;
    let opening_key = PublicKey::from_bytes(&key_bytes)
        .map_err(|e| ClientError::Protocol(format!("the opening key: {e}")))?;
    let (platform_key, vkey, key_source) = platform_key(&api, opts.vkey.as_deref()).await?;
    eprintln!(
        "sealing {} part(s) for tender {} ({}) as bidder {bidder_id}",
        parts.len(),
        opts.tender,
        tender.tender_id
    );

    // 3. Seal every part locally, then stream each envelope up.
    let (sent, part_ids) = seal_and_upload(
        &api,
        &opts.tender,
        &tender.tender_id,
        &bidder_id,
        &opening_key,
        parts,
    )
    .await?;

    // 4. Submit and check the receipt before trusting it.
    let resp = api
        .authed(
            api.client
                .post(api.url(&format!("/api/v1/tenders/{code}/bid/submit"))),
        )
        .json(&json!({ "parts": part_ids }))
        .send()
        .await?;
    let text = text_answer(resp).await?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| ClientError::Protocol(format!("the receipt is not JSON: {e}")))?;
    let pretty = serde_json::to_vec_pretty(&doc)
        .map_err(|e| ClientError::Protocol(format!("the receipt: {e}")))?;
    // Written whatever the checks say: it is what the platform answered, and evidence if
    // the checks fail.
    write_atomically(&out, &pretty)?;
    let checked = verify_receipt(&pretty, &platform_key).and_then(|signed| {
        check_matches(
            &signed.receipt,
            &opts.tender,
            &tender.tender_id,
            &bidder_id,
            &sent,
        )
        .map(|()| signed)
    });
    let signed = checked.map_err(|e| {
        ClientError::Protocol(format!(
            "{e}\nthe server's answer was saved to {} — keep it and contact the trading centre",
            out.display()
        ))
    })?;

    // 5. The inclusion proof of the submission, so the receipt verifies offline that the
    // submission is in the audit log. The receipt stands without it, so a failure here is
    // only a warning.
    let index = signed.receipt.audit_index;
    match api
        .get::<Value>(&format!("/api/v1/audit/proof/tlog?seq={index}"))
        .await
    {
        Ok(p) => {
            let mut doc = doc;
            if let Some(d) = doc.as_object_mut() {
                d.insert(
                    "audit_entry".into(),
                    p.get("entry").cloned().unwrap_or(Value::Null),
                );
                d.insert(
                    "tlog_proof".into(),
                    p.get("proof").cloned().unwrap_or(Value::Null),
                );
            }
            let with_proof = serde_json::to_vec_pretty(&doc)
                .map_err(|e| ClientError::Protocol(format!("the receipt: {e}")))?;
            match check_inclusion(&with_proof, &signed.receipt, &platform_key, &[]) {
                Ok(_) => write_atomically(&out, &with_proof)?,
                Err(e) => eprintln!("warning: the server's inclusion proof is not kept: {e}"),
            }
        }
        Err(e) => eprintln!("warning: no inclusion proof for the receipt yet: {e}"),
    }
    Ok(SubmitOutcome {
        receipt: signed.receipt,
        receipt_path: out,
        sent,
        form,
        key_label: key_label(&platform_key),
        vkey,
        key_source,
    })
}

/// Step 1 of a submission: the form checked and every part's file found, before any
/// request.
fn local_parts(opts: &SubmitOptions) -> Result<(BidForm, Vec<Part>), ClientError> {
    let form_len = regular_file_len(&opts.form)?;
    if form_len > MAX_FORM_LEN as u64 {
        return Err(
            super::FormError::TooLarge(usize::try_from(form_len).unwrap_or(usize::MAX)).into(),
        );
    }
    let form_bytes =
        std::fs::read(&opts.form).map_err(ClientError::io(format!("{}", opts.form.display())))?;
    let form = validate_form(&form_bytes)?;
    for field in &form.unknown_fields {
        eprintln!("warning: the bid form has a field {field:?} that the opening does not read");
    }
    let mut parts = vec![Part {
        label: "form",
        name: file_name(&opts.form)?,
        source: opts.form.clone(),
        plaintext_len: form_bytes.len() as u64,
    }];
    drop(form_bytes);
    for path in &opts.attachments {
        parts.push(Part {
            label: "attachment",
            name: file_name(path)?,
            plaintext_len: regular_file_len(path)?,
            source: path.clone(),
        });
    }
    Ok((form, parts))
}

/// Step 3 of a submission: each part sealed to the opening key and streamed up as it is
/// sealed; returns what was sent and the server's part ids, in order.
async fn seal_and_upload(
    api: &Api,
    tender: &str,
    tender_id: &str,
    bidder_id: &str,
    opening_key: &PublicKey,
    parts: Vec<Part>,
) -> Result<(Vec<SentPart>, Vec<String>), ClientError> {
    let mut sent = Vec::with_capacity(parts.len());
    let mut part_ids = Vec::with_capacity(parts.len());
    let rng = ring::rand::SystemRandom::new();
    for part in parts {
        let info = PartInfo {
            tender_id,
            bidder_id,
            label: &part.name,
            plaintext_len: part.plaintext_len,
        };
        let sealer = Sealer::new(opening_key, &info, &rng).map_err(|source| ClientError::Seal {
            name: part.name.clone(),
            source,
        })?;
        let (this, part_id) = seal_and_send(api, tender, part, sealer).await?;
        eprintln!(
            "  {:<10} {}  {} bytes sealed, sha256 {}",
            this.label,
            this.name,
            this.size,
            hex::encode(this.sha256)
        );
        part_ids.push(part_id);
        sent.push(this);
    }
    Ok((sent, part_ids))
}

/// Runs `sunbid receipt verify`: reads the file, takes the pinned key or fetches the
/// platform's, and checks the signature. `Err(ClientError::Receipt(_))` is a receipt that
/// does not verify; other errors mean the check could not be made.
pub async fn verify_receipt_file(
    path: &Path,
    server: Option<&str>,
    vkey: Option<&str>,
    witnesses: &[String],
) -> Result<
    (
        SignedReceipt,
        String,
        String,
        KeySource,
        Option<ProofSummary>,
    ),
    ClientError,
> {
    let witnesses = witnesses
        .iter()
        .map(|w| {
            crate::audit::cosign::parse_witness_vkey(w.trim())
                .map_err(|e| ClientError::Usage(format!("--witness-vkey {w}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let what = format!("reading {}", path.display());
    let meta = std::fs::metadata(path).map_err(ClientError::io(what.clone()))?;
    if meta.len() > MAX_RECEIPT_LEN as u64 {
        return Err(ReceiptError::Malformed(format!(
            "{} is {} bytes, far larger than any receipt",
            path.display(),
            meta.len()
        ))
        .into());
    }
    let text = std::fs::read(path).map_err(ClientError::io(what))?;
    let (keys, source) = match (vkey, server) {
        (Some(v), _) => {
            let key = parse_verifier_key(v.trim())
                .map_err(|e| ClientError::Usage(format!("--vkey: {e}")))?;
            (vec![(key, v.trim().to_owned())], KeySource::Pinned)
        }
        (None, Some(server)) => {
            let api = Api::new(server)?;
            let keys = published_keys(&api).await?;
            (keys, KeySource::Published(api.url("/api/v1/platform-key")))
        }
        (None, None) => {
            return Err(ClientError::Usage(
                "give --vkey KEY (pinned) or --server URL (fetch the platform's published key)"
                    .into(),
            ));
        }
    };
    let trusted: Vec<VerifierKey> = keys.iter().map(|(k, _)| k.clone()).collect();
    let (signed, key) = verify_receipt_any(&text, &trusted)?;
    let proof = check_inclusion(&text, &signed.receipt, &key, &witnesses)?;
    let vkey = keys
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .unwrap_or_default();
    Ok((signed, key_label(&key), vkey, source, proof))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("ZB-2025-0001"), "ZB-2025-0001");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("标"), "%E6%A0%87");
    }

    #[test]
    fn default_receipt_names_are_file_safe() {
        assert_eq!(file_safe("ZB-2025/01"), "ZB-2025_01");
        assert_eq!(file_safe("../x"), ".._x");
    }

    #[test]
    fn credentials_never_print_secrets() {
        let c = Credentials::Password {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credentials::Token("tok123".into())).contains("tok123"));
    }

    #[test]
    fn a_source_that_changed_size_is_refused_while_sealing() {
        let dir = tempfile::tempdir().unwrap();
        let (_, pk) = crate::seal::derive_keypair(&[9u8; 32]);
        for (declared, actual) in [(200_000u64, 150_000usize), (200_000, 200_001)] {
            let src = dir.path().join("plans.pdf");
            std::fs::write(&src, vec![7u8; actual]).unwrap();
            let part = Part {
                label: "attachment",
                name: "plans.pdf".into(),
                source: src,
                plaintext_len: declared,
            };
            let info = PartInfo {
                tender_id: "T1",
                bidder_id: "B1",
                label: "plans.pdf",
                plaintext_len: declared,
            };
            let sealer = Sealer::new(&pk, &info, &ring::rand::SystemRandom::new()).unwrap();
            let err = seal_pieces(&part, sealer, &ProgressBar::hidden(), |_| Ok(())).unwrap_err();
            assert!(
                matches!(&err, ClientError::Usage(m) if m.contains("changed while it was being sealed")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn sealing_hashes_exactly_the_envelope_written() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("plans.pdf");
        std::fs::write(&src, vec![7u8; 200_000]).unwrap();
        let (sk, pk) = crate::seal::derive_keypair(&[9u8; 32]);
        let part = Part {
            label: "attachment",
            name: "plans.pdf".into(),
            source: src,
            plaintext_len: 200_000,
        };
        let info = PartInfo {
            tender_id: "T1",
            bidder_id: "B1",
            label: "plans.pdf",
            plaintext_len: 200_000,
        };
        let sealer = Sealer::new(&pk, &info, &ring::rand::SystemRandom::new()).unwrap();
        let pb = ProgressBar::hidden();
        let mut bytes = Vec::new();
        let (sha, len) = seal_pieces(&part, sealer, &pb, |piece| {
            bytes.extend_from_slice(&piece);
            Ok(())
        })
        .unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert_eq!(
            digest::digest(&digest::SHA256, &bytes).as_ref(),
            sha.as_slice()
        );
        let mut plain = Vec::new();
        crate::seal::open_stream(&mut bytes.as_slice(), &mut plain, &sk, "T1", "B1").unwrap();
        assert_eq!(plain, vec![7u8; 200_000]);
    }
}
