//! The cryptography of sealed bids: nothing here touches the database, the network or a
//! clock; it turns bytes into envelopes and back, and keys into shares and back.
//!
//! - [`envelope`]: seal format v1 (`docs/seal-format.md`): a random 256-bit content key
//!   wrapped with HPKE (RFC 9180, base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
//!   AES-256-GCM) to the tender's opening public key, and the content encrypted with
//!   AES-256-GCM (ring) in 64 KiB chunks following the STREAM construction. The server
//!   checks an envelope's structure and binding with [`EnvelopeHeader::parse`] without any
//!   key; the opening uses [`open_stream`].
//! - [`opening`]: the tender's opening key pair, derived from a 32-byte seed with HPKE's
//!   `DeriveKeyPair` (RFC 9180 §7.1.3), and the seed split k-of-n with Shamir over GF(256);
//!   at the opening the rebuilt seed must derive the published public key.
//! - [`custodian`]: a custodian's personal key pair, its private half locked under a
//!   passphrase (PBKDF2-HMAC-SHA256, AES-256-GCM), and shares sealed to it with HPKE.
//!
//! Everything here is panic-free on hostile input: envelopes come from bidders, shares and
//! locked keys from the database. Secrets are wiped on drop ([`zeroize`]).
//!
//! ring does the bulk AEAD, digests, PBKDF2 and randomness; the `hpke` crate does what ring
//! lacks, an ECDH with a *stored* P-256 private key (the opening side).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod custodian;
pub mod envelope;
pub mod opening;
mod rng;

#[cfg(test)]
mod vectors;

use hpke::{Deserializable, Serializable};
use zeroize::Zeroizing;

pub use custodian::{
    CustodianPublicKey, LockedCustodianKey, SealedShare, decrypt_share, encrypt_share_to,
};
pub use envelope::{
    CHUNK_SIZE, EnvelopeHeader, MAX_HEADER_LEN, OpenedPart, PartInfo, Sealer, open_stream,
    seal_stream,
};
pub use opening::{Share, combine, derive_keypair, rebuild_and_check, split_seed};

/// The HPKE KEM of suite v1: DHKEM(P-256, HKDF-SHA256), `kem_id` 0x0010 (RFC 9180 §7.1).
pub(crate) type Kem = hpke::kem::DhP256HkdfSha256;
/// The HPKE KDF of suite v1: HKDF-SHA256, `kdf_id` 0x0001 (RFC 9180 §7.2).
pub(crate) type Kdf = hpke::kdf::HkdfSha256;
/// The HPKE AEAD of suite v1: AES-256-GCM, `aead_id` 0x0002 (RFC 9180 §7.3).
pub(crate) type HpkeAead = hpke::aead::AesGcm256;

/// RFC 9180 §7.1: DHKEM(P-256, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0010;
/// RFC 9180 §7.2: HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// RFC 9180 §7.3: AES-256-GCM.
pub const AEAD_ID: u16 = 0x0002;
/// RFC 9180 §7.1: `Npk` of DHKEM(P-256), a SEC1 uncompressed point (0x04 ‖ x ‖ y).
pub const PUBLIC_KEY_LEN: usize = 65;

/// Everything that can go wrong while sealing, checking or opening. Each variant has a
/// stable [`code`](SealError::code) for the API and a message a bidder or a custodian can act
/// on.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The bytes do not start with the envelope magic: not a sealed envelope at all.
    #[error("this file is not a Sunbid sealed envelope")]
    NotAnEnvelope,
    /// A newer (or unknown) format version.
    #[error("sealed envelope format version {0} is not supported (this platform reads version 1)")]
    UnsupportedVersion(u8),
    /// The header names algorithms other than suite v1.
    #[error(
        "unsupported cipher suite (kem {kem:#06x}, kdf {kdf:#06x}, aead {aead:#06x}); \
         version 1 uses DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"
    )]
    UnsupportedSuite {
        /// The header's `kem_id`.
        kem: u16,
        /// The header's `kdf_id`.
        kdf: u16,
        /// The header's `aead_id`.
        aead: u16,
    },
    /// The header is structurally wrong (a bad length, text that is not UTF-8, …).
    #[error("the sealed envelope is malformed: {0}")]
    Malformed(&'static str),
    /// The envelope was sealed for another tender.
    #[error("this envelope was sealed for tender {found:?}, not for tender {expected:?}")]
    WrongTender {
        /// The tender the upload is for.
        expected: String,
        /// The tender named in the envelope.
        found: String,
    },
    /// The envelope was sealed under another bidder's name.
    #[error("this envelope was sealed for bidder {found:?}, not for bidder {expected:?}")]
    WrongBidder {
        /// The bidder uploading or being opened.
        expected: String,
        /// The bidder named in the envelope.
        found: String,
    },
    /// The envelope is shorter than its header says it must be.
    #[error("the sealed envelope is truncated: {expected} bytes expected, only {actual} present")]
    Truncated {
        /// The length the header implies.
        expected: u64,
        /// The bytes actually present.
        actual: u64,
    },
    /// Bytes follow the final chunk.
    #[error(
        "the sealed envelope has unexpected data after its final chunk ({expected} bytes expected)"
    )]
    TrailingData {
        /// The length the header implies.
        expected: u64,
    },
    /// The content key cannot be unwrapped: another opening key, or an altered header.
    #[error(
        "the content key cannot be unwrapped: the envelope was sealed to another opening key \
         or its header was altered"
    )]
    KeyUnwrap,
    /// A chunk fails authentication under every nearby position: altered bytes.
    #[error("chunk {index} of the sealed envelope has been altered")]
    ChunkAltered {
        /// Zero-based chunk position.
        index: u64,
    },
    /// A chunk authenticates, but as another position: reordered, removed or duplicated.
    #[error(
        "chunk at position {position} belongs at position {belongs_at}: chunks were \
         reordered, removed or duplicated"
    )]
    ChunkOutOfOrder {
        /// Where the chunk was found.
        position: u64,
        /// Where it was sealed.
        belongs_at: u64,
    },
    /// The sealer was given more or fewer bytes than the declared plaintext length.
    #[error("the part has {actual} bytes but {declared} were declared")]
    LengthMismatch {
        /// Declared in the header.
        declared: u64,
        /// Seen so far.
        actual: u64,
    },
    /// A public key that is not a valid P-256 point in SEC1 uncompressed form.
    #[error("not a valid P-256 public key (65-byte SEC1 uncompressed point expected)")]
    InvalidPublicKey,
    /// A tender, bidder id or part label that the format cannot carry.
    #[error("invalid identifier: {0}")]
    InvalidId(&'static str),
    /// Threshold parameters out of range.
    #[error("invalid threshold {k} of {n}: need 2 ≤ k ≤ n ≤ 255")]
    InvalidThreshold {
        /// Shares needed.
        k: usize,
        /// Shares made.
        n: usize,
    },
    /// Shares that cannot be combined (duplicates, wrong lengths, too few).
    #[error("the key shares cannot be combined: {0}")]
    InvalidShares(&'static str),
    /// The shares combine to a seed whose key is not the published one.
    #[error(
        "the key shares do not rebuild this tender's published opening key \
         (a wrong share, or fewer shares than the threshold)"
    )]
    SharesDoNotMatch,
    /// The passphrase does not unlock the custodian key.
    #[error("wrong passphrase for this custodian key")]
    WrongPassphrase,
    /// A new passphrase that is too short to protect a custodian key.
    #[error("the passphrase must have at least {0} characters")]
    WeakPassphrase(usize),
    /// A stored custodian key or sealed share that this build cannot read.
    #[error("the stored key material is malformed: {0}")]
    BadKeyMaterial(&'static str),
    /// The sealed share does not open with this custodian's key (or another tender's share).
    #[error("this key share was not sealed to this custodian for this tender")]
    ShareUnwrap,
    /// The operating system's random generator failed.
    #[error("the system random number generator failed")]
    Rng,
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl SealError {
    /// A stable machine-readable code for the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            SealError::NotAnEnvelope => "SEAL_NOT_AN_ENVELOPE",
            SealError::UnsupportedVersion(_) => "SEAL_UNSUPPORTED_VERSION",
            SealError::UnsupportedSuite { .. } => "SEAL_UNSUPPORTED_SUITE",
            SealError::Malformed(_) => "SEAL_MALFORMED",
            SealError::WrongTender { .. } => "SEAL_WRONG_TENDER",
            SealError::WrongBidder { .. } => "SEAL_WRONG_BIDDER",
            SealError::Truncated { .. } => "SEAL_TRUNCATED",
            SealError::TrailingData { .. } => "SEAL_TRAILING_DATA",
            SealError::KeyUnwrap => "SEAL_KEY_UNWRAP",
            SealError::ChunkAltered { .. } => "SEAL_CHUNK_ALTERED",
            SealError::ChunkOutOfOrder { .. } => "SEAL_CHUNK_OUT_OF_ORDER",
            SealError::LengthMismatch { .. } => "SEAL_LENGTH_MISMATCH",
            SealError::InvalidPublicKey => "SEAL_INVALID_PUBLIC_KEY",
            SealError::InvalidId(_) => "SEAL_INVALID_ID",
            SealError::InvalidThreshold { .. } => "SEAL_INVALID_THRESHOLD",
            SealError::InvalidShares(_) => "SEAL_INVALID_SHARES",
            SealError::SharesDoNotMatch => "SEAL_SHARES_DO_NOT_MATCH",
            SealError::WrongPassphrase => "SEAL_WRONG_PASSPHRASE",
            SealError::WeakPassphrase(_) => "SEAL_WEAK_PASSPHRASE",
            SealError::BadKeyMaterial(_) => "SEAL_BAD_KEY_MATERIAL",
            SealError::ShareUnwrap => "SEAL_SHARE_UNWRAP",
            SealError::Rng => "SEAL_RNG",
            SealError::Io(_) => "SEAL_IO",
        }
    }
}

/// A P-256 public key for HPKE: a tender's opening key or a custodian's key. Always a valid
/// point (checked on construction).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(pub(crate) <Kem as hpke::Kem>::PublicKey);

impl PublicKey {
    /// Parses a SEC1 uncompressed point (65 bytes, `0x04 ‖ x ‖ y`), RFC 9180 §7.1.1
    /// `DeserializePublicKey`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| SealError::InvalidPublicKey)
    }

    /// RFC 9180 §7.1.1 `SerializePublicKey`: the SEC1 uncompressed point.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out.copy_from_slice(&self.0.to_bytes());
        out
    }

    /// Lower-case hex of [`to_bytes`](Self::to_bytes), as published with a tender.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

// Stored and sent as standard base64 of the 65-byte SEC1 point; checked on the way in.
impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        b64::serialize(&self.to_bytes(), s)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = b64::deserialize(d)?;
        PublicKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// A P-256 private key for HPKE. Wiped on drop (the underlying scalar zeroizes itself);
/// never printed.
#[derive(Clone)]
pub struct PrivateKey(pub(crate) <Kem as hpke::Kem>::PrivateKey);

impl PrivateKey {
    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(<Kem as hpke::Kem>::sk_to_pk(&self.0))
    }

    /// The 32-byte big-endian scalar (RFC 9180 §7.1.2 `SerializePrivateKey`), wiped on drop.
    pub(crate) fn to_scalar_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let mut arr = self.0.to_bytes();
        out.copy_from_slice(&arr);
        zeroize::Zeroize::zeroize(arr.as_mut_slice());
        out
    }

    /// RFC 9180 §7.1.2 `DeserializePrivateKey`: a scalar in `[1, n)`.
    pub(crate) fn from_scalar_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map(PrivateKey)
            .map_err(|_| SealError::BadKeyMaterial("not a P-256 private key"))
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey(public {})", self.public_key().to_hex())
    }
}

/// SHA-256 with ring, as a fixed array.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// Serde helpers: bytes as standard base64 (with padding) in JSON.
pub(crate) mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}
