//! Seal format v1: one envelope per bid part. The byte layout is specified in
//! `docs/seal-format.md`; this module is its reference implementation.
//!
//! ```text
//! header   magic "SUNBIDSEAL" ‖ version 0x01 ‖ kem_id ‖ kdf_id ‖ aead_id ‖ chunk_size (u32)
//!          ‖ plaintext_len (u64) ‖ len ‖ tender_id ‖ len ‖ bidder_id ‖ len ‖ label
//!          ‖ enc (65) ‖ wrapped content key (48)
//! chunks   AES-256-GCM(content key, nonce_i, SHA-256(header), plaintext chunk i) ‖ tag
//! ```
//!
//! The content key is wrapped with HPKE base mode (RFC 9180 §5.1.1 `SetupBaseS`, §5.2
//! `Seal`) with `info = "sunbid/v1/" ‖ tender_id ‖ "/" ‖ bidder_id` and, as associated data,
//! every header byte before the wrapped key: an envelope cannot be moved to another tender
//! or bidder, and no header field can be changed without the unwrap failing. The content is
//! encrypted in 64 KiB chunks with the STREAM construction (Hoang, Reyhanitabar, Rogaway,
//! Vizár, "Online authenticated-encryption and its nonce-reuse misuse-resistance", 2015):
//! nonce = 11-byte big-endian chunk counter ‖ last-chunk flag, so chunks cannot be
//! reordered, dropped or appended, and the final chunk cannot be cut off unnoticed.
//!
//! Sealing and opening stream in constant memory (one chunk buffer). The server, which has
//! no key, checks structure and binding with [`EnvelopeHeader::parse`],
//! [`EnvelopeHeader::check_binding`] and [`EnvelopeHeader::check_total_len`].

use std::io::{Read, Write};

use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use super::rng::{DrawnRng, random_array};
use super::{AEAD_ID, HpkeAead, KDF_ID, KEM_ID, Kdf, Kem, PUBLIC_KEY_LEN, PrivateKey, PublicKey};
use super::{SealError, sha256};

/// The 10 bytes every envelope starts with.
pub const MAGIC: &[u8; 10] = b"SUNBIDSEAL";
/// The format version this module writes and reads.
pub const VERSION: u8 = 1;
/// Plaintext bytes per chunk (the last chunk may be shorter, never longer).
pub const CHUNK_SIZE: u32 = 65_536;
/// The AES-256-GCM tag appended to every chunk.
pub const TAG_LEN: usize = 16;
/// The content key size (AES-256).
pub const CONTENT_KEY_LEN: usize = 32;
/// The HPKE-sealed content key: 32 bytes of ciphertext plus a 16-byte tag (RFC 9180 §5.2).
pub const WRAPPED_KEY_LEN: usize = CONTENT_KEY_LEN + TAG_LEN;
/// The fixed part of the header: magic through `plaintext_len`.
const FIXED_LEN: usize = 10 + 1 + 2 + 2 + 2 + 4 + 8;
/// The longest a v1 header can be: three 255-byte strings with their length bytes.
pub const MAX_HEADER_LEN: usize = FIXED_LEN + 3 * (1 + 255) + PUBLIC_KEY_LEN + WRAPPED_KEY_LEN;
/// Whenever a chunk fails to authenticate, positions this far either side are tried to tell
/// a moved chunk from an altered one. Bounded so that a hostile envelope cannot make the
/// diagnosis cost more than a few MiB of decryption.
const REORDER_WINDOW: u64 = 64;

/// What the bidder states about a part before sealing it.
#[derive(Debug, Clone, Copy)]
pub struct PartInfo<'a> {
    /// The tender id (1–255 bytes of UTF-8, no `/`).
    pub tender_id: &'a str,
    /// The bidder id (1–255 bytes of UTF-8, no `/`).
    pub bidder_id: &'a str,
    /// A label for the part, e.g. `bid-form` or an attachment's file name (0–255 bytes).
    pub label: &'a str,
    /// The exact plaintext length, written into the header so truncation is detectable.
    pub plaintext_len: u64,
}

/// A parsed v1 header: what the server can know about an envelope without any key.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// The tender it was sealed for.
    pub tender_id: String,
    /// The bidder it was sealed by.
    pub bidder_id: String,
    /// The part's label (may be empty).
    pub label: String,
    /// The plaintext length.
    pub plaintext_len: u64,
    /// The raw header bytes (the chunk AAD is their SHA-256; HPKE's AAD is all but the last
    /// [`WRAPPED_KEY_LEN`]).
    raw: Vec<u8>,
}

impl std::fmt::Debug for EnvelopeHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeHeader")
            .field("tender_id", &self.tender_id)
            .field("bidder_id", &self.bidder_id)
            .field("label", &self.label)
            .field("plaintext_len", &self.plaintext_len)
            .field("header_len", &self.raw.len())
            .finish()
    }
}

/// The outcome of a header parse that needs more input than it was given: the minimum
/// total length now known to be needed.
enum ParseError {
    Need(usize),
    Bad(SealError),
}

impl From<SealError> for ParseError {
    fn from(e: SealError) -> Self {
        ParseError::Bad(e)
    }
}

/// A bounds-checked reader over the header bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(ParseError::Need(usize::MAX))?;
        let out = self.bytes.get(self.pos..end).ok_or(ParseError::Need(end))?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, ParseError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn text(&mut self, what: &'static str) -> Result<String, ParseError> {
        let len = usize::from(self.u8()?);
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ParseError::Bad(SealError::Malformed(what)))
    }
}

/// Checks that a tender or bidder id can be carried and keeps HPKE's `info` unambiguous.
fn check_id(id: &str, what: &'static str) -> Result<(), SealError> {
    if id.is_empty() || id.len() > 255 || id.contains('/') {
        return Err(SealError::InvalidId(what));
    }
    Ok(())
}

/// RFC 9180 §5.1 `info`: `"sunbid/v1/" ‖ tender_id ‖ "/" ‖ bidder_id`. Ids contain no `/`,
/// so distinct (tender, bidder) pairs give distinct `info` strings.
pub(crate) fn hpke_info(tender_id: &str, bidder_id: &str) -> Vec<u8> {
    format!("sunbid/v1/{tender_id}/{bidder_id}").into_bytes()
}

impl EnvelopeHeader {
    /// Parses and structurally checks the header at the start of `bytes` (which may hold the
    /// whole envelope or just its first [`MAX_HEADER_LEN`] bytes). Returns the header and its
    /// length in bytes, where the first chunk starts.
    ///
    /// Checks: magic, version, suite, chunk size, lengths, UTF-8 ids without `/`, and that the
    /// encapsulated key is a valid P-256 point. No key is needed; binding to the expected
    /// tender and bidder is [`check_binding`](Self::check_binding).
    pub fn parse(bytes: &[u8]) -> Result<(EnvelopeHeader, usize), SealError> {
        match Self::parse_inner(bytes) {
            Ok(h) => {
                let len = h.raw.len();
                Ok((h, len))
            }
            Err(ParseError::Bad(e)) => Err(e),
            Err(ParseError::Need(n)) => Err(SealError::Truncated {
                expected: u64::try_from(n).unwrap_or(u64::MAX),
                actual: bytes.len() as u64,
            }),
        }
    }

    fn parse_inner(bytes: &[u8]) -> Result<EnvelopeHeader, ParseError> {
        // A short input that still agrees with the magic is a truncated envelope; anything
        // else that disagrees is not an envelope at all.
        let magic_len = MAGIC.len().min(bytes.len());
        if bytes.is_empty() || bytes.get(..magic_len) != MAGIC.get(..magic_len) {
            return Err(SealError::NotAnEnvelope.into());
        }
        let mut c = Cursor { bytes, pos: 0 };
        c.take(MAGIC.len())?;
        let version = c.u8()?;
        if version != VERSION {
            return Err(SealError::UnsupportedVersion(version).into());
        }
        let (kem, kdf, aead) = (c.u16()?, c.u16()?, c.u16()?);
        if (kem, kdf, aead) != (KEM_ID, KDF_ID, AEAD_ID) {
            return Err(SealError::UnsupportedSuite { kem, kdf, aead }.into());
        }
        let chunk_size = u32::from_be_bytes(c.array()?);
        if chunk_size != CHUNK_SIZE {
            return Err(SealError::Malformed("chunk size must be 65536 in version 1").into());
        }
        let plaintext_len = u64::from_be_bytes(c.array()?);
        let tender_id = c.text("tender id is not UTF-8")?;
        let bidder_id = c.text("bidder id is not UTF-8")?;
        let label = c.text("part label is not UTF-8")?;
        check_id(&tender_id, "empty tender id or one containing '/'")
            .map_err(|_| SealError::Malformed("empty tender id or one containing '/'"))?;
        check_id(&bidder_id, "empty bidder id or one containing '/'")
            .map_err(|_| SealError::Malformed("empty bidder id or one containing '/'"))?;
        let enc = c.take(PUBLIC_KEY_LEN)?;
        // RFC 9180 §7.1.1: enc must deserialize to a valid point (never the identity).
        <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
            .map_err(|_| SealError::Malformed("the encapsulated key is not a valid P-256 point"))?;
        c.take(WRAPPED_KEY_LEN)?;
        let header = EnvelopeHeader {
            tender_id,
            bidder_id,
            label,
            plaintext_len,
            raw: bytes.get(..c.pos).unwrap_or_default().to_vec(),
        };
        // A length whose envelope size overflows u64 cannot be real.
        header.envelope_len()?;
        Ok(header)
    }

    /// Refuses an envelope sealed for another tender or under another bidder's name.
    pub fn check_binding(&self, tender_id: &str, bidder_id: &str) -> Result<(), SealError> {
        if self.tender_id != tender_id {
            return Err(SealError::WrongTender {
                expected: tender_id.to_owned(),
                found: self.tender_id.clone(),
            });
        }
        if self.bidder_id != bidder_id {
            return Err(SealError::WrongBidder {
                expected: bidder_id.to_owned(),
                found: self.bidder_id.clone(),
            });
        }
        Ok(())
    }

    /// Checks that a stored envelope of `total_len` bytes is exactly as long as the header
    /// says: shorter is [`SealError::Truncated`], longer is [`SealError::TrailingData`].
    pub fn check_total_len(&self, total_len: u64) -> Result<(), SealError> {
        let expected = self.envelope_len()?;
        if total_len < expected {
            Err(SealError::Truncated {
                expected,
                actual: total_len,
            })
        } else if total_len > expected {
            Err(SealError::TrailingData { expected })
        } else {
            Ok(())
        }
    }

    /// The header's length in bytes.
    pub fn header_len(&self) -> usize {
        self.raw.len()
    }

    /// The raw header bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The number of chunks: `max(1, ceil(plaintext_len / 65536))` (an empty part is one
    /// empty final chunk).
    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.plaintext_len)
    }

    /// The whole envelope's length: header + plaintext + one tag per chunk.
    pub fn envelope_len(&self) -> Result<u64, SealError> {
        let tags = self
            .chunk_count()
            .checked_mul(TAG_LEN as u64)
            .ok_or(SealError::Malformed("plaintext length out of range"))?;
        (self.raw.len() as u64)
            .checked_add(self.plaintext_len)
            .and_then(|n| n.checked_add(tags))
            .ok_or(SealError::Malformed("plaintext length out of range"))
    }

    /// The associated data of every chunk: SHA-256 of the header bytes.
    pub fn digest(&self) -> [u8; 32] {
        sha256(&self.raw)
    }

    fn enc(&self) -> &[u8] {
        let end = self.raw.len().saturating_sub(WRAPPED_KEY_LEN);
        self.raw
            .get(end.saturating_sub(PUBLIC_KEY_LEN)..end)
            .unwrap_or_default()
    }

    /// RFC 9180 §5.2 associated data of the key wrap: all header bytes before it.
    fn wrap_aad(&self) -> &[u8] {
        let end = self.raw.len().saturating_sub(WRAPPED_KEY_LEN);
        self.raw.get(..end).unwrap_or_default()
    }

    fn wrapped_key(&self) -> &[u8] {
        let start = self.raw.len().saturating_sub(WRAPPED_KEY_LEN);
        self.raw.get(start..).unwrap_or_default()
    }

    /// Plaintext length of chunk `index` (the last may be shorter or empty).
    fn chunk_plain_len(&self, index: u64) -> usize {
        chunk_plain_len(self.plaintext_len, index)
    }
}

fn chunk_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(u64::from(CHUNK_SIZE)).max(1)
}

fn chunk_plain_len(plaintext_len: u64, index: u64) -> usize {
    let start = index.saturating_mul(u64::from(CHUNK_SIZE));
    let left = plaintext_len.saturating_sub(start);
    // At most CHUNK_SIZE, so it fits in usize.
    left.min(u64::from(CHUNK_SIZE)) as usize
}

/// STREAM nonce for chunk `index`: 11-byte big-endian counter ‖ last-chunk flag (0x01 on the
/// final chunk, else 0x00). A u64 counter fills the low 8 of the 11 counter bytes.
pub(crate) fn chunk_nonce(index: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    let (counter, flag) = n.split_at_mut(11);
    if let Some(low) = counter.get_mut(3..) {
        low.copy_from_slice(&index.to_be_bytes());
    }
    if let Some(f) = flag.first_mut() {
        *f = u8::from(last);
    }
    n
}

/// Builds the header and wraps `content_key` to `opening_pk`; `ikm_e` is the 32 bytes from
/// which HPKE derives the ephemeral key (RFC 9180 §4.1 `Encap` with `GenerateKeyPair()` =
/// `DeriveKeyPair(random(Nsk))`, §7.1.3).
fn build_header(
    opening_pk: &PublicKey,
    part: &PartInfo<'_>,
    ikm_e: &[u8; 32],
    content_key: &[u8; CONTENT_KEY_LEN],
) -> Result<EnvelopeHeader, SealError> {
    check_id(
        part.tender_id,
        "the tender id must be 1–255 bytes without '/'",
    )?;
    check_id(
        part.bidder_id,
        "the bidder id must be 1–255 bytes without '/'",
    )?;
    if part.label.len() > 255 {
        return Err(SealError::InvalidId(
            "the part label must be at most 255 bytes",
        ));
    }
    let info = hpke_info(part.tender_id, part.bidder_id);
    // The stream key only matters if hpke asked for more than 32 bytes, which DHKEM(P-256)
    // never does; deriving it from ikm_e keeps sealing a pure function of its inputs.
    let stream_key = sha256(ikm_e);
    let mut rng = DrawnRng::new(ikm_e, &stream_key);
    // RFC 9180 §5.1.1 SetupBaseS(pkR, info).
    let (enc, mut ctx) = hpke::setup_sender_with_rng::<HpkeAead, Kdf, Kem>(
        &OpModeS::Base,
        &opening_pk.0,
        &info,
        &mut rng,
    )
    .map_err(|_| SealError::InvalidPublicKey)?;

    let mut raw = Vec::with_capacity(MAX_HEADER_LEN);
    raw.extend_from_slice(MAGIC);
    raw.push(VERSION);
    raw.extend_from_slice(&KEM_ID.to_be_bytes());
    raw.extend_from_slice(&KDF_ID.to_be_bytes());
    raw.extend_from_slice(&AEAD_ID.to_be_bytes());
    raw.extend_from_slice(&CHUNK_SIZE.to_be_bytes());
    raw.extend_from_slice(&part.plaintext_len.to_be_bytes());
    for s in [part.tender_id, part.bidder_id, part.label] {
        // Lengths checked above.
        raw.push(u8::try_from(s.len()).map_err(|_| SealError::InvalidId("too long"))?);
        raw.extend_from_slice(s.as_bytes());
    }
    raw.extend_from_slice(&enc.to_bytes());
    // RFC 9180 §5.2 ContextS.Seal(aad, pt) with aad = the header so far.
    let wrapped = ctx
        .seal(content_key, &raw)
        .map_err(|_| SealError::Malformed("HPKE seal failed"))?;
    raw.extend_from_slice(&wrapped);
    let header = EnvelopeHeader {
        tender_id: part.tender_id.to_owned(),
        bidder_id: part.bidder_id.to_owned(),
        label: part.label.to_owned(),
        plaintext_len: part.plaintext_len,
        raw,
    };
    header.envelope_len()?;
    Ok(header)
}

/// The sealing side of one envelope, pushed one chunk at a time: write
/// [`header`](Sealer::header), then feed every chunk through
/// [`seal_chunk`](Sealer::seal_chunk) (each exactly [`next_chunk_len`](Sealer::next_chunk_len)
/// bytes), then [`finish`](Sealer::finish).
pub struct Sealer {
    header: EnvelopeHeader,
    aad: [u8; 32],
    key: LessSafeKey,
    next_index: u64,
    chunks: u64,
}

impl Sealer {
    /// Starts an envelope for `part`, with a fresh random content key and ephemeral key
    /// drawn from `rng`.
    pub fn new(
        opening_pk: &PublicKey,
        part: &PartInfo<'_>,
        rng: &dyn SecureRandom,
    ) -> Result<Sealer, SealError> {
        let ikm_e = random_array::<32>(rng)?;
        let content_key = random_array::<CONTENT_KEY_LEN>(rng)?;
        Self::with_material(opening_pk, part, &ikm_e, &content_key)
    }

    /// Deterministic sealing from given `ikm_e` and content key: for test vectors only,
    /// since reusing either breaks confidentiality.
    pub(crate) fn with_material(
        opening_pk: &PublicKey,
        part: &PartInfo<'_>,
        ikm_e: &[u8; 32],
        content_key: &[u8; CONTENT_KEY_LEN],
    ) -> Result<Sealer, SealError> {
        let header = build_header(opening_pk, part, ikm_e, content_key)?;
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, content_key)
                .map_err(|_| SealError::Malformed("content key"))?,
        );
        Ok(Sealer {
            aad: header.digest(),
            chunks: header.chunk_count(),
            header,
            key,
            next_index: 0,
        })
    }

    /// The header bytes, to be written before the first chunk.
    pub fn header(&self) -> &[u8] {
        self.header.as_bytes()
    }

    /// The parsed header.
    pub fn envelope_header(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// How many plaintext bytes the next chunk must have, or `None` once all are sealed.
    pub fn next_chunk_len(&self) -> Option<usize> {
        (self.next_index < self.chunks).then(|| self.header.chunk_plain_len(self.next_index))
    }

    /// Encrypts the next chunk in place: `buf` holds its plaintext (exactly
    /// [`next_chunk_len`](Self::next_chunk_len) bytes) and receives ciphertext ‖ tag.
    pub fn seal_chunk(&mut self, buf: &mut Vec<u8>) -> Result<(), SealError> {
        let expected = self.next_chunk_len().ok_or(SealError::LengthMismatch {
            declared: self.header.plaintext_len,
            actual: self.header.plaintext_len.saturating_add(buf.len() as u64),
        })?;
        if buf.len() != expected {
            let done = self.next_index.saturating_mul(u64::from(CHUNK_SIZE));
            return Err(SealError::LengthMismatch {
                declared: self.header.plaintext_len,
                actual: done.saturating_add(buf.len() as u64),
            });
        }
        let last = self.next_index + 1 == self.chunks;
        let nonce = Nonce::assume_unique_for_key(chunk_nonce(self.next_index, last));
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(self.aad), buf)
            .map_err(|_| SealError::Malformed("AES-GCM seal failed"))?;
        self.next_index += 1;
        Ok(())
    }

    /// Ends the envelope; fails if chunks are missing.
    pub fn finish(self) -> Result<EnvelopeHeader, SealError> {
        if self.next_index != self.chunks {
            return Err(SealError::LengthMismatch {
                declared: self.header.plaintext_len,
                actual: self.next_index.saturating_mul(u64::from(CHUNK_SIZE)),
            });
        }
        Ok(self.header)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Seals everything `reader` yields (exactly `part.plaintext_len` bytes) into `writer`, in
/// constant memory. Returns the header of the envelope written.
pub fn seal_stream<R: Read, W: Write>(
    reader: &mut R,
    writer: &mut W,
    opening_pk: &PublicKey,
    part: &PartInfo<'_>,
    rng: &dyn SecureRandom,
) -> Result<EnvelopeHeader, SealError> {
    let sealer = Sealer::new(opening_pk, part, rng)?;
    seal_with(sealer, reader, writer)
}

/// [`seal_stream`] with given randomness: for test vectors only.
#[cfg(test)]
pub(crate) fn seal_stream_deterministic<R: Read, W: Write>(
    reader: &mut R,
    writer: &mut W,
    opening_pk: &PublicKey,
    part: &PartInfo<'_>,
    ikm_e: &[u8; 32],
    content_key: &[u8; CONTENT_KEY_LEN],
) -> Result<EnvelopeHeader, SealError> {
    let sealer = Sealer::with_material(opening_pk, part, ikm_e, content_key)?;
    seal_with(sealer, reader, writer)
}

fn seal_with<R: Read, W: Write>(
    mut sealer: Sealer,
    reader: &mut R,
    writer: &mut W,
) -> Result<EnvelopeHeader, SealError> {
    writer.write_all(sealer.header())?;
    let declared = sealer.header.plaintext_len;
    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE as usize + TAG_LEN));
    let mut total: u64 = 0;
    while let Some(len) = sealer.next_chunk_len() {
        // Every chunk but the last has the same length: keep the buffer's bytes (the read
        // overwrites them) instead of zero-filling 64 KiB per chunk.
        buf.truncate(len);
        buf.resize(len, 0);
        let n = read_full(reader, buf.as_mut_slice())?;
        total = total.saturating_add(n as u64);
        if n != len {
            return Err(SealError::LengthMismatch {
                declared,
                actual: total,
            });
        }
        sealer.seal_chunk(&mut buf)?;
        writer.write_all(&buf)?;
    }
    // The input must end exactly at the declared length.
    let mut probe = [0u8; 1];
    if read_full(reader, &mut probe)? != 0 {
        return Err(SealError::LengthMismatch {
            declared,
            actual: total.saturating_add(1),
        });
    }
    writer.flush()?;
    sealer.finish()
}

/// What [`open_stream`] found.
#[derive(Debug, Clone)]
pub struct OpenedPart {
    /// The envelope's header.
    pub header: EnvelopeHeader,
    /// The envelope's total length in bytes.
    pub envelope_len: u64,
}

/// Reads the header from the start of `reader`, asking for no byte beyond it.
fn read_header<R: Read>(reader: &mut R) -> Result<(EnvelopeHeader, u64), SealError> {
    let mut buf = Vec::with_capacity(MAX_HEADER_LEN);
    let mut want = FIXED_LEN;
    loop {
        let have = buf.len();
        buf.resize(want, 0);
        let n = read_full(reader, buf.get_mut(have..).unwrap_or_default())?;
        buf.truncate(have + n);
        match EnvelopeHeader::parse_inner(&buf) {
            Ok(h) => return Ok((h, buf.len() as u64)),
            Err(ParseError::Bad(e)) => return Err(e),
            Err(ParseError::Need(more)) => {
                // Read exactly what the parser asks for, never a byte of the first chunk.
                if n == 0 || more > MAX_HEADER_LEN || more <= buf.len() {
                    return Err(SealError::Truncated {
                        expected: more as u64,
                        actual: buf.len() as u64,
                    });
                }
                want = more;
            }
        }
    }
}

/// Opens the envelope read from `reader` with the tender's opening private key, checking it
/// was sealed for `expected_tender` by `expected_bidder`, and writes the plaintext to
/// `writer` chunk by chunk in constant memory.
///
/// Each chunk is authenticated before it is written, but truncation is only known at the
/// end: on any error the caller must discard what was written (write to a temporary file and
/// keep it only on success). Errors: [`SealError::WrongTender`] / [`SealError::WrongBidder`],
/// [`SealError::KeyUnwrap`] (wrong key or altered header), [`SealError::Truncated`],
/// [`SealError::ChunkOutOfOrder`] (reordered, removed or duplicated chunk),
/// [`SealError::ChunkAltered`], [`SealError::TrailingData`] (extended envelope).
pub fn open_stream<R: Read, W: Write>(
    reader: &mut R,
    writer: &mut W,
    opening_key: &PrivateKey,
    expected_tender: &str,
    expected_bidder: &str,
) -> Result<OpenedPart, SealError> {
    let (header, mut consumed) = read_header(reader)?;
    header.check_binding(expected_tender, expected_bidder)?;
    let content_key = unwrap_content_key(&header, opening_key)?;
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, content_key.as_slice()).map_err(|_| SealError::KeyUnwrap)?,
    );
    let aad = header.digest();
    let expected_len = header.envelope_len()?;
    let chunks = header.chunk_count();
    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE as usize + TAG_LEN));
    // ring wipes a buffer whose tag fails, so each chunk is opened in a copy: the ciphertext
    // is still needed to tell a moved chunk from an altered one.
    let mut work = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE as usize + TAG_LEN));
    for index in 0..chunks {
        let ct_len = header.chunk_plain_len(index) + TAG_LEN;
        // Same length as the chunk before (all but the last): no zero-fill, the read
        // overwrites every byte.
        buf.truncate(ct_len);
        buf.resize(ct_len, 0);
        let n = read_full(reader, buf.as_mut_slice())?;
        consumed = consumed.saturating_add(n as u64);
        if n != ct_len {
            return Err(SealError::Truncated {
                expected: expected_len,
                actual: consumed,
            });
        }
        let last = index + 1 == chunks;
        let nonce = Nonce::assume_unique_for_key(chunk_nonce(index, last));
        work.truncate(ct_len);
        work.resize(ct_len, 0);
        work.copy_from_slice(&buf);
        if key
            .open_in_place(nonce, Aad::from(aad), work.as_mut_slice())
            .is_err()
        {
            return Err(diagnose_chunk(&key, &aad, &buf, index, chunks));
        }
        let plain = work
            .get(..ct_len - TAG_LEN)
            .ok_or(SealError::ChunkAltered { index })?;
        writer.write_all(plain)?;
    }
    let mut probe = [0u8; 1];
    if read_full(reader, &mut probe)? != 0 {
        return Err(SealError::TrailingData {
            expected: expected_len,
        });
    }
    writer.flush()?;
    Ok(OpenedPart {
        header,
        envelope_len: expected_len,
    })
}

/// RFC 9180 §5.1.1 `SetupBaseR(enc, skR, info)` then §5.2 `ContextR.Open(aad, ct)`.
fn unwrap_content_key(
    header: &EnvelopeHeader,
    opening_key: &PrivateKey,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(header.enc())
        .map_err(|_| SealError::Malformed("the encapsulated key is not a valid P-256 point"))?;
    let info = hpke_info(&header.tender_id, &header.bidder_id);
    let mut ctx =
        hpke::setup_receiver::<HpkeAead, Kdf, Kem>(&OpModeR::Base, &opening_key.0, &enc, &info)
            .map_err(|_| SealError::KeyUnwrap)?;
    let key = Zeroizing::new(
        ctx.open(header.wrapped_key(), header.wrap_aad())
            .map_err(|_| SealError::KeyUnwrap)?,
    );
    if key.len() != CONTENT_KEY_LEN {
        return Err(SealError::KeyUnwrap);
    }
    Ok(key)
}

/// A chunk failed at `index`: does it authenticate as another position nearby (moved,
/// removed or duplicated) or nowhere (altered)?
fn diagnose_chunk(
    key: &LessSafeKey,
    aad: &[u8; 32],
    ciphertext: &[u8],
    index: u64,
    chunks: u64,
) -> SealError {
    let from = index.saturating_sub(REORDER_WINDOW);
    let to = index
        .saturating_add(REORDER_WINDOW)
        .min(chunks.saturating_sub(1));
    for candidate in from..=to {
        if candidate == index {
            continue;
        }
        let mut work = Zeroizing::new(ciphertext.to_vec());
        let nonce = Nonce::assume_unique_for_key(chunk_nonce(candidate, candidate + 1 == chunks));
        if key
            .open_in_place(nonce, Aad::from(*aad), work.as_mut_slice())
            .is_ok()
        {
            return SealError::ChunkOutOfOrder {
                position: index,
                belongs_at: candidate,
            };
        }
    }
    SealError::ChunkAltered { index }
}
