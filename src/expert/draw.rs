//! The verifiable random draw (DESIGN.md "Expert draw"; procedure and byte encodings in
//! docs/expert-draw.md, which this file must match).
//!
//! 1. The server picks a 32-byte [`DrawSecret`] and the caller records its
//!    [`commitment`] `SHA-256(secret)` as an audit event.
//! 2. Only then the supervisor present enters their own input, recorded as the next event.
//! 3. [`derive_seed`]: `HMAC-SHA256(secret, seed_message(draw id, supervisor input, audit
//!    root just after step 2))`.
//! 4. [`draw`]: for each quota in request order, the eligible experts not yet drawn, sorted
//!    by id, are shuffled with ChaCha20 seeded by the seed — one generator for the whole
//!    draw — by a partial Fisher–Yates whose `uniform` is written here ([`uniform`]), so the
//!    algorithm is fixed by our documentation and not by a crate's version.
//!
//! After the award the secret is revealed and anyone can [`replay`] / [`verify`] the draw.
//! The server cannot grind the secret (the supervisor's input comes after the commitment);
//! the supervisor cannot aim (the secret is hidden until the award).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use ring::{digest, hmac};
use serde::{Deserialize, Serialize};

use super::eligibility::{DrawRequest, Expert, ExpertId, Prepared, code_is_within_valid};
use super::specialty::Specialties;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Domain-separation tag at the start of the seed message; a new encoding gets a new tag.
pub const SEED_TAG: &[u8] = b"sunbid/expert-draw/v1";

/// Longest supervisor input accepted, in bytes of UTF-8.
pub const MAX_SUPERVISOR_INPUT: usize = 256;

/// The server's draw secret. Its `Debug` never prints it: it stays hidden until the award.
#[derive(Clone, PartialEq, Eq)]
pub struct DrawSecret([u8; 32]);

impl DrawSecret {
    /// A fresh secret from a cryptographic generator (the caller injects it, so tests are
    /// deterministic; production passes `rand_core::OsRng`).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// A revealed secret.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The secret's bytes, to store encrypted or to reveal after the award.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The commitment recorded before the supervisor's input: `SHA-256(secret)`.
    pub fn commitment(&self) -> Hash {
        commitment(&self.0)
    }
}

impl fmt::Debug for DrawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DrawSecret(<redacted>)")
    }
}

/// `SHA-256(secret)`.
pub fn commitment(secret: &[u8; 32]) -> Hash {
    sha256(secret)
}

fn sha256(data: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Checks the supervisor's input: 1 to [`MAX_SUPERVISOR_INPUT`] bytes, and not only
/// whitespace. It is used byte for byte as recorded — no trimming, no normalisation.
pub fn validate_supervisor_input(input: &str) -> Result<(), DrawError> {
    if input.trim().is_empty() || input.len() > MAX_SUPERVISOR_INPUT {
        return Err(DrawError::SupervisorInput);
    }
    Ok(())
}

fn put_field(out: &mut Vec<u8>, field: &[u8]) {
    // Lengths are u32 big-endian; a field longer than u32::MAX cannot reach here (draw ids
    // and inputs are short), but saturate rather than wrap.
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

/// The HMAC message for the seed:
/// `u32be(len tag) ‖ tag ‖ u32be(len draw_id) ‖ draw_id ‖ u32be(len input) ‖ input ‖ root`
/// where the tag is [`SEED_TAG`], strings are their UTF-8 bytes and `root` is the 32-byte
/// audit root just after the supervisor's input was recorded.
pub fn seed_message(draw_id: &str, supervisor_input: &str, audit_root: &Hash) -> Vec<u8> {
    let mut m =
        Vec::with_capacity(12 + SEED_TAG.len() + draw_id.len() + supervisor_input.len() + 32);
    put_field(&mut m, SEED_TAG);
    put_field(&mut m, draw_id.as_bytes());
    put_field(&mut m, supervisor_input.as_bytes());
    m.extend_from_slice(audit_root);
    m
}

/// The draw seed: `HMAC-SHA256(key = secret, msg = seed_message(…))`.
pub fn derive_seed(
    secret: &DrawSecret,
    draw_id: &str,
    supervisor_input: &str,
    audit_root: &Hash,
) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &secret.0);
    let tag = hmac::sign(&key, &seed_message(draw_id, supervisor_input, audit_root));
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The hash of a quota's sorted pool: `SHA-256(u32be(len id₁) ‖ id₁ ‖ u32be(len id₂) ‖ id₂
/// ‖ …)`; the empty pool hashes the empty string.
pub fn pool_hash<'a>(sorted_ids: impl IntoIterator<Item = &'a str>) -> Hash {
    let mut h = PoolHasher::new();
    for id in sorted_ids {
        h.push(id);
    }
    h.finish()
}

/// [`pool_hash`] incrementally, batching the many short fields into large digest updates
/// (one `update` per id costs more than the hashing itself).
struct PoolHasher {
    ctx: digest::Context,
    buf: Vec<u8>,
}

impl PoolHasher {
    const BATCH: usize = 64 * 1024;

    fn new() -> Self {
        Self {
            ctx: digest::Context::new(&digest::SHA256),
            buf: Vec::with_capacity(Self::BATCH + 256),
        }
    }

    fn push(&mut self, id: &str) {
        let len = u32::try_from(id.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(id.as_bytes());
        if self.buf.len() >= Self::BATCH {
            self.ctx.update(&self.buf);
            self.buf.clear();
        }
    }

    fn finish(mut self) -> Hash {
        self.ctx.update(&self.buf);
        let mut out = [0u8; 32];
        out.copy_from_slice(self.ctx.finish().as_ref());
        out
    }
}

/// Puts a quota's pool (indices into `experts`) in id order and hashes it. The pool usually
/// arrives sorted (the database returns the experts `ORDER BY id`), so the first pass
/// hashes while checking the order and touches every id once; only if the order breaks is
/// the pool sorted and hashed again. A strict order also proves the ids distinct.
fn sort_and_hash(experts: &[Expert], pool: &mut [u32]) -> Result<Hash, DrawError> {
    let id = |i: &u32| experts.get(*i as usize).map_or("", |e| e.id.as_str());
    let mut h = PoolHasher::new();
    let mut prev: Option<&str> = None;
    let mut sorted = true;
    for i in pool.iter() {
        let cur = id(i);
        if prev.is_some_and(|p| p >= cur) {
            sorted = false;
            break;
        }
        h.push(cur);
        prev = Some(cur);
    }
    if sorted {
        return Ok(h.finish());
    }
    pool.sort_unstable_by(|a, b| id(a).cmp(id(b)));
    for w in pool.windows(2) {
        if let [a, b] = w
            && id(a) == id(b)
        {
            return Err(DrawError::DuplicateExpert {
                id: id(a).to_owned(),
            });
        }
    }
    Ok(pool_hash(pool.iter().map(id)))
}

/// A uniform integer in `0..n` (`n ≥ 1`) from 64-bit outputs, by rejection: draw
/// `x = next_u64()`, reject while `x < 2⁶⁴ mod n`, answer `x mod n`. The accepted range has
/// a multiple of `n` values, so every answer is equally likely. At least one output is
/// consumed even when `n = 1`. `n = 0` is treated as 1.
pub fn uniform<R: RngCore>(rng: &mut R, n: u64) -> u64 {
    let n = n.max(1);
    let threshold = n.wrapping_neg() % n; // (2⁶⁴ − n) mod n = 2⁶⁴ mod n
    loop {
        let x = rng.next_u64();
        if x >= threshold {
            return x % n;
        }
    }
}

/// Partial Fisher–Yates: for `i` in `0..take`, `j = i + uniform(len − i)`, swap `i` and
/// `j`. Afterwards the first `take` positions are a uniformly random ordered selection.
fn partial_shuffle<T, R: RngCore>(rng: &mut R, items: &mut [T], take: usize) {
    let len = items.len();
    for i in 0..take.min(len) {
        let j = i + uniform(rng, (len - i) as u64) as usize;
        items.swap(i, j);
    }
}

/// One quota's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaDraw {
    /// The quota's specialty code.
    pub specialty: String,
    /// Members, in draw order.
    #[schema(value_type = Vec<String>)]
    pub members: Vec<ExpertId>,
    /// Alternates, in the order they are called.
    #[schema(value_type = Vec<String>)]
    pub alternates: Vec<ExpertId>,
    /// How many experts were in the shuffled pool (eligible and not drawn by an earlier
    /// quota of this draw).
    pub eligible: u64,
    /// [`pool_hash`] of that pool, sorted, so a verifier can check the pool it replays from.
    #[serde(with = "hex32")]
    #[schema(value_type = String)]
    pub pool_hash: Hash,
}

/// A draw's outcome, one entry per quota in request order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrawResult {
    /// Per quota.
    pub quotas: Vec<QuotaDraw>,
}

impl DrawResult {
    /// Every drawn id, members and alternates, quota by quota.
    pub fn all_ids(&self) -> impl Iterator<Item = &ExpertId> {
        self.quotas
            .iter()
            .flat_map(|q| q.members.iter().chain(q.alternates.iter()))
    }
}

/// Why a draw was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawError {
    /// The request has no quota.
    #[error("the draw request has no specialty quota / 未设置专业配额")]
    NoQuotas,
    /// A quota asks for no member.
    #[error("quota {specialty} asks for no expert / 专业{specialty}的人数为0")]
    EmptyQuota {
        /// The quota's specialty.
        specialty: String,
    },
    /// A quota's specialty is not in the tree.
    #[error("unknown specialty code {specialty:?} / 未知专业代码")]
    UnknownSpecialty {
        /// The code as given.
        specialty: String,
    },
    /// A region restriction without a reason.
    #[error("a region restriction needs a written reason / 限定地区须说明理由")]
    RegionReasonMissing,
    /// A region restriction that lists no region.
    #[error("a region restriction must list at least one region / 限定地区不能为空")]
    RegionEmpty,
    /// The supervisor's input is empty or too long.
    #[error(
        "the supervisor's input must be 1 to 256 bytes and not only spaces / 监督人输入须为1至256字节"
    )]
    SupervisorInput,
    /// The pool lists the same expert id twice; the draw would not be reproducible.
    #[error("expert {id} appears twice in the pool / 专家库中重复的专家")]
    DuplicateExpert {
        /// The id.
        id: ExpertId,
    },
    /// The pool has more experts than a draw supports (u32::MAX).
    #[error("the expert pool is too large for one draw / 专家库规模超出上限")]
    PoolTooLarge,
    /// Not enough eligible experts for a quota's members and alternates.
    #[error("{}", unfillable_message(specialty, *needed, *eligible))]
    QuotaUnfillable {
        /// The quota's specialty code.
        specialty: String,
        /// Members plus alternates asked for.
        needed: u64,
        /// Eligible experts not drawn by an earlier quota.
        eligible: u64,
    },
}

fn unfillable_message(specialty: &str, needed: u64, eligible: u64) -> String {
    let (zh, en) = Specialties::builtin()
        .get(specialty)
        .map(|s| (s.zh.as_str(), s.en.as_str()))
        .unwrap_or(("", ""));
    format!(
        "quota {specialty} ({en}) needs {needed} experts (members and alternates) but only \
         {eligible} eligible are available / 专业 {specialty}（{zh}）需要 {needed} 人（含候补），\
         符合条件的仅 {eligible} 人"
    )
}

/// Checks the request's shape: quotas present, non-empty and known, region restriction
/// with a reason.
pub fn validate_request(request: &DrawRequest) -> Result<(), DrawError> {
    if request.quotas.is_empty() {
        return Err(DrawError::NoQuotas);
    }
    let tree = Specialties::builtin();
    for q in &request.quotas {
        if tree.get(&q.specialty).is_none() {
            return Err(DrawError::UnknownSpecialty {
                specialty: q.specialty.clone(),
            });
        }
        if q.count == 0 {
            return Err(DrawError::EmptyQuota {
                specialty: q.specialty.clone(),
            });
        }
    }
    if let Some(r) = &request.region {
        if r.reason.trim().is_empty() {
            return Err(DrawError::RegionReasonMissing);
        }
        if r.regions.iter().all(|x| x.trim().is_empty()) {
            return Err(DrawError::RegionEmpty);
        }
    }
    Ok(())
}

/// Pools at least this large are scanned by several threads (the result does not depend
/// on how many: chunks are joined in input order).
const PARALLEL_FROM: usize = 200_000;

/// The eligible experts of every quota (indices into `experts`), each list in input order.
/// One pass over the pool: the quota match (prefix compares) first, the per-person checks
/// only for experts some quota wants.
fn candidates(experts: &[Expert], request: &DrawRequest) -> Result<Vec<Vec<u32>>, DrawError> {
    // Indices are u32: a pool above 4 billion experts is refused rather than truncated.
    if u32::try_from(experts.len()).is_err() {
        return Err(DrawError::PoolTooLarge);
    }
    let prepared = Prepared::new(request);
    let quotas: Vec<&str> = request
        .quotas
        .iter()
        .map(|q| q.specialty.as_str())
        .collect();
    let threads = if experts.len() >= PARALLEL_FROM {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    } else {
        1
    };
    let chunk = experts.len().div_ceil(threads).max(1);
    let scan = |offset: usize, part: &[Expert]| -> Vec<Vec<u32>> {
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); quotas.len()];
        let mut wanted = Vec::with_capacity(quotas.len());
        for (i, e) in part.iter().enumerate() {
            wanted.clear();
            for (k, q) in quotas.iter().enumerate() {
                if e.specialties.iter().any(|s| code_is_within_valid(s, q)) {
                    wanted.push(k);
                }
            }
            if wanted.is_empty() || prepared.check_person(e).is_err() {
                continue;
            }
            let idx = (offset + i) as u32; // < experts.len() ≤ u32::MAX, checked above
            for &k in &wanted {
                if let Some(list) = lists.get_mut(k) {
                    list.push(idx);
                }
            }
        }
        lists
    };
    let parts: Vec<Vec<Vec<u32>>> = if threads <= 1 {
        vec![scan(0, experts)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = experts
                .chunks(chunk)
                .enumerate()
                .map(|(n, part)| {
                    let scan = &scan;
                    s.spawn(move || scan(n * chunk, part))
                })
                .collect();
            // A scan cannot panic (no indexing, no unwrap); should a thread fail anyway,
            // its chunk is scanned again here rather than lost.
            handles
                .into_iter()
                .enumerate()
                .map(|(n, h)| {
                    h.join().unwrap_or_else(|_| {
                        let start = n * chunk;
                        let part = experts.get(start..(start + chunk).min(experts.len()));
                        scan(start, part.unwrap_or(&[]))
                    })
                })
                .collect()
        })
    };
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); quotas.len()];
    for part in parts {
        for (list, piece) in lists.iter_mut().zip(part) {
            list.extend(piece);
        }
    }
    Ok(lists)
}

/// Draws the committee for `request` from `experts` with `seed` (see the module docs and
/// docs/expert-draw.md). The order of `experts` does not matter; passing them sorted by id
/// skips a sort.
pub fn draw(
    experts: &[Expert],
    request: &DrawRequest,
    seed: [u8; 32],
) -> Result<DrawResult, DrawError> {
    validate_request(request)?;
    let lists = candidates(experts, request)?;
    let mut rng = ChaCha20Rng::from_seed(seed);
    let mut drawn: HashSet<u32> = HashSet::new();
    let mut quotas = Vec::with_capacity(request.quotas.len());
    for (quota, list) in request.quotas.iter().zip(lists) {
        let mut pool: Vec<u32> = list.into_iter().filter(|i| !drawn.contains(i)).collect();
        let members = quota.count as usize;
        let needed = members + quota.alternates as usize;
        if pool.len() < needed {
            return Err(DrawError::QuotaUnfillable {
                specialty: quota.specialty.clone(),
                needed: needed as u64,
                eligible: pool.len() as u64,
            });
        }
        let id_of = |i: &u32| {
            experts
                .get(*i as usize)
                .map(|e| e.id.clone())
                .unwrap_or_default()
        };
        let hash = sort_and_hash(experts, &mut pool)?;
        partial_shuffle(&mut rng, &mut pool, needed);
        let picked = pool.get(..needed).unwrap_or(&[]);
        drawn.extend(picked.iter().copied());
        let (m, a) = picked.split_at(members.min(picked.len()));
        quotas.push(QuotaDraw {
            specialty: quota.specialty.clone(),
            members: m.iter().map(id_of).collect(),
            alternates: a.iter().map(id_of).collect(),
            eligible: pool.len() as u64,
            pool_hash: hash,
        });
    }
    Ok(DrawResult { quotas })
}

/// What the audit log holds about one draw once the secret is revealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// The draw's id.
    pub draw_id: String,
    /// The commitment recorded in step 1.
    pub commitment: Hash,
    /// The secret, revealed after the award.
    pub secret: DrawSecret,
    /// The supervisor's input recorded in step 2, byte for byte.
    pub supervisor_input: String,
    /// The audit root just after step 2.
    pub audit_root: Hash,
}

/// Why a replay does not confirm a draw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `SHA-256(secret)` is not the recorded commitment.
    #[error("the revealed secret does not match the recorded commitment")]
    CommitmentMismatch,
    /// The replay itself fails.
    #[error("the replay fails: {0}")]
    Replay(#[from] DrawError),
    /// The replay gives a different result for a quota (1-based).
    #[error("quota {quota} differs: {what}")]
    Mismatch {
        /// 1-based quota number.
        quota: usize,
        /// What differs: pool size, pool hash, members or alternates.
        what: &'static str,
    },
    /// The replay has a different number of quotas.
    #[error("the recorded result has {recorded} quotas, the replay {replayed}")]
    QuotaCount {
        /// Quotas in the recorded result.
        recorded: usize,
        /// Quotas in the replay.
        replayed: usize,
    },
}

/// Re-runs a draw from its transcript: checks the commitment, derives the seed, draws.
pub fn replay(
    experts: &[Expert],
    request: &DrawRequest,
    transcript: &Transcript,
) -> Result<DrawResult, VerifyError> {
    if transcript.secret.commitment() != transcript.commitment {
        return Err(VerifyError::CommitmentMismatch);
    }
    let seed = derive_seed(
        &transcript.secret,
        &transcript.draw_id,
        &transcript.supervisor_input,
        &transcript.audit_root,
    );
    Ok(draw(experts, request, seed)?)
}

/// Replays and compares with the recorded result, saying what differs first (a pool hash
/// that differs means the verifier's pool is not the one the platform drew from).
pub fn check(
    experts: &[Expert],
    request: &DrawRequest,
    transcript: &Transcript,
    expected: &DrawResult,
) -> Result<(), VerifyError> {
    let got = replay(experts, request, transcript)?;
    if got.quotas.len() != expected.quotas.len() {
        return Err(VerifyError::QuotaCount {
            recorded: expected.quotas.len(),
            replayed: got.quotas.len(),
        });
    }
    for (n, (g, e)) in got.quotas.iter().zip(&expected.quotas).enumerate() {
        let what = if g.specialty != e.specialty {
            "specialty"
        } else if g.eligible != e.eligible {
            "pool size"
        } else if g.pool_hash != e.pool_hash {
            "pool hash"
        } else if g.members != e.members {
            "members"
        } else if g.alternates != e.alternates {
            "alternates"
        } else {
            continue;
        };
        return Err(VerifyError::Mismatch { quota: n + 1, what });
    }
    Ok(())
}

/// Whether the transcript reproduces `expected` exactly ([`check`] without the reason).
pub fn verify(
    experts: &[Expert],
    request: &DrawRequest,
    transcript: &Transcript,
    expected: &DrawResult,
) -> bool {
    check(experts, request, transcript, expected).is_ok()
}

/// `[u8; 32]` as lowercase hex in JSON.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(D::Error::custom)?;
        v.try_into()
            .map_err(|_| D::Error::custom("expected 32 bytes of hex"))
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::expert::eligibility::tests::{expert, request};
    use crate::expert::eligibility::{
        AvoidRole, ExpertStatus, Quota, Reason, RegionRestriction, Title, eligible,
    };
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use rand_core::RngCore;

    fn seed_from(n: u64) -> [u8; 32] {
        sha256(&n.to_be_bytes())
    }

    fn pool(n: usize, specialty: &str) -> Vec<Expert> {
        (0..n)
            .map(|i| expert(&format!("e{i:03}"), specialty))
            .collect()
    }

    fn fixed_transcript() -> Transcript {
        let secret = DrawSecret::from_bytes([0x42; 32]);
        Transcript {
            draw_id: "draw-0001".into(),
            commitment: secret.commitment(),
            secret,
            supervisor_input: "3 5 1 6 2 4".into(),
            audit_root: [0x11; 32],
        }
    }

    #[test]
    fn chacha20_is_the_rfc_8439_keystream() {
        // RFC 8439 A.1 test vector #1: key and nonce zero, block counter 0; next_u64 reads
        // eight keystream bytes little-endian.
        let mut rng = ChaCha20Rng::from_seed([0u8; 32]);
        let want = [0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90];
        assert_eq!(rng.next_u64(), u64::from_le_bytes(want));
        let want2 = [0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86, 0xbd, 0x28];
        assert_eq!(rng.next_u64(), u64::from_le_bytes(want2));
    }

    #[test]
    fn seed_encoding_is_fixed() {
        let m = seed_message("d1", "x", &[7; 32]);
        let mut want = vec![0, 0, 0, 21];
        want.extend_from_slice(b"sunbid/expert-draw/v1");
        want.extend_from_slice(&[0, 0, 0, 2, b'd', b'1', 0, 0, 0, 1, b'x']);
        want.extend_from_slice(&[7; 32]);
        assert_eq!(m, want);
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            seed_message("ab", "c", &[0; 32]),
            seed_message("a", "bc", &[0; 32])
        );
        // Known answer, also printed in docs/expert-draw.md.
        let t = fixed_transcript();
        assert_eq!(
            hex::encode(t.commitment),
            "425ed4e4a36b30ea21b90e21c712c649e8214c29b7eaf68089d1039c6e55384c"
        );
        let seed = derive_seed(&t.secret, &t.draw_id, &t.supervisor_input, &t.audit_root);
        assert_eq!(
            hex::encode(seed),
            "f27ce9edf8ee1f97cc4092ff395deeacce672d8a7d24757a48263d7c2a76f9d6"
        );
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", DrawSecret::from_bytes([1; 32])),
            "DrawSecret(<redacted>)"
        );
    }

    #[test]
    fn known_answer_draw() {
        // A fixed pool and transcript with a pinned outcome: a second implementation of
        // docs/expert-draw.md must print the same ids.
        let mut experts = pool(10, "A01");
        experts.extend((10..16).map(|i| expert(&format!("e{i:03}"), "A05")));
        let req = request(&[("A01", 3, 1), ("A05", 2, 0)]);
        let t = fixed_transcript();
        let r = replay(&experts, &req, &t).unwrap();
        let got: Vec<Vec<&str>> = r
            .quotas
            .iter()
            .map(|q| {
                q.members
                    .iter()
                    .chain(&q.alternates)
                    .map(String::as_str)
                    .collect()
            })
            .collect();
        assert_eq!(
            got,
            vec![vec!["e001", "e000", "e004", "e002"], vec!["e015", "e013"]]
        );
        assert_eq!(
            hex::encode(r.quotas[0].pool_hash),
            "d3d7d96b910708eb08da85a11c908031a335df4577bda1d3957854d8fabe7264"
        );
        assert_eq!(r.quotas[0].eligible, 10);
        assert_eq!(r.quotas[1].eligible, 6);
        assert_eq!(
            hex::encode(r.quotas[1].pool_hash),
            "2cb938d8e1333a029bbeb909d6fe55dea7f06634e4d078d9432138a7c01c5696"
        );
    }

    #[test]
    fn uniform_is_in_range_and_unbiased_for_small_n() {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        for n in 1..=7u64 {
            let mut counts = vec![0u64; n as usize];
            let trials = 7_000 * n;
            for _ in 0..trials {
                counts[uniform(&mut rng, n) as usize] += 1;
            }
            let expect = trials as f64 / n as f64;
            let chi: f64 = counts
                .iter()
                .map(|&c| (c as f64 - expect).powi(2) / expect)
                .sum();
            assert!(chi < 40.0, "n = {n}: chi-square {chi}");
        }
        assert_eq!(uniform(&mut rng, 0), 0);
    }

    #[test]
    fn rejection_happens_near_the_top() {
        // n just above 2⁶³: about half of all outputs are rejected; still in range.
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let n = (1u64 << 63) + 1;
        for _ in 0..1000 {
            assert!(uniform(&mut rng, n) < n);
        }
    }

    #[test]
    fn same_seed_same_result_different_seed_different() {
        let experts = pool(50, "A01");
        let req = request(&[("A01", 5, 2)]);
        let a = draw(&experts, &req, seed_from(1)).unwrap();
        assert_eq!(a, draw(&experts, &req, seed_from(1)).unwrap());
        assert_ne!(a, draw(&experts, &req, seed_from(2)).unwrap());
        assert_eq!(a.quotas[0].members.len(), 5);
        assert_eq!(a.quotas[0].alternates.len(), 2);
        assert_eq!(a.quotas[0].eligible, 50);
    }

    #[test]
    fn input_order_does_not_matter() {
        let experts = pool(40, "A01");
        let mut reversed = experts.clone();
        reversed.reverse();
        let req = request(&[("A01", 5, 1)]);
        assert_eq!(
            draw(&experts, &req, seed_from(7)).unwrap(),
            draw(&reversed, &req, seed_from(7)).unwrap()
        );
    }

    #[test]
    fn pool_hash_covers_the_sorted_eligible_ids() {
        let mut experts = pool(5, "A01");
        experts[2].penalised = true;
        let r = draw(&experts, &request(&[("A01", 1, 0)]), seed_from(0)).unwrap();
        let want = pool_hash(["e000", "e001", "e003", "e004"]);
        assert_eq!(r.quotas[0].pool_hash, want);
        assert_eq!(r.quotas[0].eligible, 4);
        assert_eq!(pool_hash([]), sha256(b""));
    }

    #[test]
    fn single_pick_is_uniform_chi_square() {
        // 5 experts, one member, 20 000 fixed seeds: each should win ~4 000 times. The
        // 99.9999th percentile of chi-square with 4 degrees of freedom is about 33; the
        // seeds are fixed, so this cannot flake, and a real bias (e.g. modulo without
        // rejection on a tiny range, or an off-by-one in the shuffle) blows far past it.
        let experts = pool(5, "A01");
        let req = request(&[("A01", 1, 0)]);
        let mut counts = [0u64; 5];
        let trials = 20_000u64;
        for s in 0..trials {
            let r = draw(&experts, &req, seed_from(s)).unwrap();
            let id = &r.quotas[0].members[0];
            counts[id[1..].parse::<usize>().unwrap()] += 1;
        }
        let expect = trials as f64 / 5.0;
        let chi: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expect).powi(2) / expect)
            .sum();
        assert!(chi < 33.0, "counts {counts:?}, chi-square {chi}");
    }

    #[test]
    fn full_orderings_are_uniform_chi_square() {
        // 4 experts, all drawn (3 members + 1 alternate): the 24 orderings should be equally
        // likely. 24 000 fixed seeds; 23 degrees of freedom, bound 70 (p ≈ 1e-6).
        let experts = pool(4, "A01");
        let req = request(&[("A01", 3, 1)]);
        let mut counts = std::collections::HashMap::<String, u64>::new();
        let trials = 24_000u64;
        for s in 0..trials {
            let r = draw(&experts, &req, seed_from(1_000_000 + s)).unwrap();
            *counts
                .entry(r.all_ids().cloned().collect::<Vec<_>>().join(","))
                .or_default() += 1;
        }
        assert_eq!(counts.len(), 24);
        let expect = trials as f64 / 24.0;
        let chi: f64 = counts
            .values()
            .map(|&c| (c as f64 - expect).powi(2) / expect)
            .sum();
        assert!(chi < 70.0, "chi-square {chi}");
    }

    #[test]
    fn quotas_never_share_an_expert_and_children_fill_parents() {
        // Every expert qualifies for both quotas; the second quota draws from those left.
        let experts: Vec<Expert> = (0..8)
            .map(|i| {
                let mut e = expert(&format!("e{i}"), "A0101");
                e.specialties.push("A05".into());
                e
            })
            .collect();
        let req = request(&[("A01", 3, 1), ("A05", 2, 2)]);
        let r = draw(&experts, &req, seed_from(5)).unwrap();
        let all: Vec<_> = r.all_ids().collect();
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), 8);
        assert_eq!(unique.len(), 8);
        assert_eq!(r.quotas[1].eligible, 4);
        let err = draw(
            &experts,
            &request(&[("A01", 3, 1), ("A05", 3, 2)]),
            seed_from(5),
        );
        assert_eq!(
            err,
            Err(DrawError::QuotaUnfillable {
                specialty: "A05".into(),
                needed: 5,
                eligible: 4
            })
        );
    }

    #[test]
    fn unfillable_quota_names_the_quota_and_the_count() {
        let mut experts = pool(6, "A01");
        experts.extend(pool(2, "A05").into_iter().enumerate().map(|(i, mut e)| {
            e.id = format!("c{i}");
            e
        }));
        experts[0].employer_org_id = Some("bidder-1".into());
        let req = request(&[("A01", 3, 0), ("A05", 2, 1)]);
        let err = draw(&experts, &req, seed_from(1)).unwrap_err();
        assert_eq!(
            err,
            DrawError::QuotaUnfillable {
                specialty: "A05".into(),
                needed: 3,
                eligible: 2
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("A05") && msg.contains("Cost engineering"),
            "{msg}"
        );
        assert!(msg.contains("工程造价") && msg.contains("仅 2 人"), "{msg}");
        assert!(msg.contains("needs 3") && msg.contains("only 2"), "{msg}");
    }

    #[test]
    fn bad_requests_are_refused() {
        let experts = pool(5, "A01");
        let mut req = request(&[("A01", 1, 0)]);
        req.region = Some(RegionRestriction {
            regions: vec!["33".into()],
            reason: "  ".into(),
        });
        assert_eq!(
            draw(&experts, &req, [0; 32]),
            Err(DrawError::RegionReasonMissing)
        );
        req.region = Some(RegionRestriction {
            regions: vec![],
            reason: "本地踏勘".into(),
        });
        assert_eq!(draw(&experts, &req, [0; 32]), Err(DrawError::RegionEmpty));
        assert_eq!(
            draw(&experts, &request(&[("Z99", 1, 0)]), [0; 32]),
            Err(DrawError::UnknownSpecialty {
                specialty: "Z99".into()
            })
        );
        assert_eq!(
            draw(&experts, &request(&[("A01", 0, 1)]), [0; 32]),
            Err(DrawError::EmptyQuota {
                specialty: "A01".into()
            })
        );
        assert_eq!(
            draw(&experts, &request(&[]), [0; 32]),
            Err(DrawError::NoQuotas)
        );
        let mut dup = pool(3, "A01");
        dup.push(expert("e001", "A01"));
        assert_eq!(
            draw(&dup, &request(&[("A01", 1, 0)]), [0; 32]),
            Err(DrawError::DuplicateExpert { id: "e001".into() })
        );
        assert!(validate_supervisor_input("4 2 6").is_ok());
        assert!(validate_supervisor_input(" \t").is_err());
        assert!(validate_supervisor_input(&"x".repeat(257)).is_err());
    }

    #[test]
    fn replacement_draw_excludes_everyone_drawn() {
        let experts = pool(10, "A01");
        let req = request(&[("A01", 5, 2)]);
        let first = draw(&experts, &req, seed_from(1)).unwrap();
        let drawn: Vec<ExpertId> = first.all_ids().cloned().collect();
        let quota = Quota {
            specialty: "A01".into(),
            count: 1,
            alternates: 0,
        };
        let again = req.replacement(quota, &drawn);
        let second = draw(&experts, &again, seed_from(2)).unwrap();
        assert_eq!(second.quotas[0].eligible, 3);
        assert!(!drawn.contains(&second.quotas[0].members[0]));
    }

    #[test]
    fn verify_accepts_the_record_and_refuses_tampering() {
        let experts = pool(30, "A01");
        let req = request(&[("A01", 5, 1)]);
        let t = fixed_transcript();
        let seed = derive_seed(&t.secret, &t.draw_id, &t.supervisor_input, &t.audit_root);
        let result = draw(&experts, &req, seed).unwrap();
        assert!(verify(&experts, &req, &t, &result));

        let mut wrong_secret = t.clone();
        wrong_secret.secret = DrawSecret::from_bytes([0x43; 32]);
        assert_eq!(
            check(&experts, &req, &wrong_secret, &result),
            Err(VerifyError::CommitmentMismatch)
        );
        let mut other_input = t.clone();
        other_input.supervisor_input = "3 5 1 6 2 5".into();
        assert!(!verify(&experts, &req, &other_input, &result));

        let mut swapped = result.clone();
        swapped.quotas[0].members.swap(0, 1);
        assert_eq!(
            check(&experts, &req, &t, &swapped),
            Err(VerifyError::Mismatch {
                quota: 1,
                what: "members"
            })
        );
        // A verifier whose pool differs (one expert missing) learns it from the pool hash.
        let mut fewer = experts.clone();
        fewer.pop();
        let err = check(&fewer, &req, &t, &result).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Mismatch {
                    quota: 1,
                    what: "pool size"
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn result_serialises_with_hex_hashes() {
        let r = draw(&pool(3, "A01"), &request(&[("A01", 1, 0)]), [1; 32]).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["quotas"][0]["pool_hash"].as_str().unwrap().len(), 64);
        let back: DrawResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    // ---- property: nobody ineligible is ever drawn -------------------------------------

    const ORGS: [&str; 8] = [
        "tenderee",
        "agent",
        "bidder-1",
        "bidder-2",
        "supervisor-dept",
        "free-1",
        "free-2",
        "free-3",
    ];
    const CODES: [&str; 5] = ["A01", "A0101", "A0102", "A05", "B01"];
    const REGIONS: [&str; 3] = ["330106", "330205", "320102"];

    fn arb_expert(i: usize) -> impl Strategy<Value = Expert> {
        (
            proptest::sample::subsequence(CODES.to_vec(), 1..=2),
            0..REGIONS.len(),
            proptest::option::weighted(0.9, 0..ORGS.len()),
            0..6usize,
            (5u32..20, 1945i32..1990, 0..10u8),
            proptest::sample::subsequence(ORGS.to_vec(), 0..=2),
            proptest::bool::weighted(0.2),
            proptest::option::of((0..ORGS.len(), 0i64..400)),
            proptest::option::of(-2i64..3),
        )
            .prop_map(
                move |(
                    codes,
                    region,
                    employer,
                    title,
                    (years, birth, status),
                    conflicts,
                    pen,
                    served,
                    unavail,
                )| {
                    let eval = NaiveDate::from_ymd_opt(2025, 6, 10).unwrap();
                    Expert {
                        id: format!("x{i:04}"),
                        specialties: codes.into_iter().map(String::from).collect(),
                        region: REGIONS[region].into(),
                        employer_org_id: employer.map(|o| ORGS[o].to_string()),
                        title: [
                            Title::None,
                            Title::Junior,
                            Title::Intermediate,
                            Title::AssociateSenior,
                            Title::Senior,
                            Title::SeniorEquivalent,
                        ][title],
                        years_of_practice: years,
                        birth_year: birth,
                        status: match status {
                            0 => ExpertStatus::Suspended,
                            1 => ExpertStatus::Barred,
                            _ => ExpertStatus::Active,
                        },
                        unavailable: unavail
                            .map(|d| vec![eval + chrono::Duration::days(d)])
                            .unwrap_or_default(),
                        conflicts: conflicts.into_iter().map(String::from).collect(),
                        penalised: pen,
                        last_served: served
                            .map(|(o, days)| {
                                (ORGS[o].to_string(), eval - chrono::Duration::days(days))
                            })
                            .into_iter()
                            .collect(),
                    }
                },
            )
    }

    fn arb_pool() -> impl Strategy<Value = Vec<Expert>> {
        (10usize..80).prop_flat_map(|n| (0..n).map(arb_expert).collect::<Vec<_>>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn nobody_ineligible_is_ever_drawn(
            experts in arb_pool(),
            seed in any::<[u8; 32]>(),
            excluded in proptest::collection::vec(0usize..80, 0..6),
            restrict in any::<bool>(),
            q1 in 1u32..4, a1 in 0u32..2, q2 in 1u32..3,
        ) {
            let mut req = request(&[("A01", q1, a1), ("A05", q2, 1)]);
            req.excluded_experts = excluded.iter().map(|i| format!("x{i:04}")).collect();
            if restrict {
                req.region = Some(RegionRestriction {
                    regions: vec!["3301".into()],
                    reason: "现场踏勘需要本地专家".into(),
                });
            }
            let avoided = ["tenderee", "agent", "bidder-1", "bidder-2"];
            let date = req.evaluation_at.date_naive();
            match draw(&experts, &req, seed) {
                Ok(result) => {
                    let mut seen = HashSet::new();
                    for (quota, q) in req.quotas.iter().zip(&result.quotas) {
                        for id in q.members.iter().chain(&q.alternates) {
                            prop_assert!(seen.insert(id.clone()), "drawn twice");
                            let e = experts.iter().find(|e| &e.id == id).unwrap();
                            // Independent restatement of the rules, not a call to eligible().
                            if let Some(emp) = &e.employer_org_id {
                                prop_assert!(!avoided.contains(&emp.as_str()), "avoided employer");
                                prop_assert!(emp != "supervisor-dept", "supervising dept");
                            }
                            prop_assert!(e.conflicts.iter().all(|c| !avoided.contains(&c.as_str())));
                            prop_assert!(!e.penalised);
                            prop_assert_eq!(e.status, ExpertStatus::Active);
                            prop_assert!(!e.unavailable.contains(&date));
                            prop_assert!(!req.excluded_experts.contains(&e.id));
                            prop_assert!(e.years_of_practice >= 8);
                            prop_assert!(e.title.is_senior());
                            prop_assert!(2025 - e.birth_year <= 70);
                            prop_assert!(e.last_served.iter().all(|(o, d)| o != "tenderee" || (date - *d).num_days() >= 180));
                            prop_assert!(!restrict || e.region.starts_with("3301"), "outside region");
                            prop_assert!(e.specialties.iter().any(|s| s.starts_with(&quota.specialty)));
                            prop_assert_eq!(eligible(e, &req, quota), Ok(()));
                        }
                    }
                }
                Err(DrawError::QuotaUnfillable { specialty, needed, eligible: n }) => {
                    // The count in the error is exactly the eligible pool left for that quota.
                    let k = req.quotas.iter().position(|q| q.specialty == specialty).unwrap();
                    prop_assert!(n < needed);
                    if k == 0 {
                        let count = experts.iter().filter(|e| eligible(e, &req, &req.quotas[0]).is_ok()).count();
                        prop_assert_eq!(n as usize, count);
                    }
                }
                Err(other) => prop_assert!(false, "unexpected {other}"),
            }
        }
    }

    #[test]
    fn reasons_match_the_draw_pool() {
        // The pool the draw shuffles is exactly the experts eligible() accepts.
        let mut experts = pool(12, "A01");
        experts[1].status = ExpertStatus::Barred;
        experts[2].employer_org_id = Some("agent".into());
        experts[3].conflicts = vec!["bidder-2".into()];
        experts[4].title = Title::Intermediate;
        let req = request(&[("A01", 2, 0)]);
        let r = draw(&experts, &req, [5; 32]).unwrap();
        let ok = experts
            .iter()
            .filter(|e| eligible(e, &req, &req.quotas[0]).is_ok())
            .count();
        assert_eq!(r.quotas[0].eligible as usize, ok);
        assert_eq!(
            eligible(&experts[3], &req, &req.quotas[0]),
            Err(Reason::DeclaredConflict {
                org: "bidder-2".into(),
                role: AvoidRole::Bidder
            })
        );
    }
}
