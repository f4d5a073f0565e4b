//! A custodian's personal key pair and the opening-key shares sealed to it.
//!
//! The private half exists at rest only as [`LockedCustodianKey`], AES-256-GCM with the
//! public key as associated data, under one of two wrapping keys:
//!
//! - `webauthn-prf` (record version 2, the default): a key that the custodian's browser
//!   derives with HKDF-SHA256 ([`PRF_WRAP_INFO`]) from the output of their passkey's WebAuthn
//!   PRF extension for a random per-key salt. The key pair is generated in the browser and
//!   only the wrapped scalar reaches the server; the PRF secret never leaves the
//!   authenticator, so nothing stored here can be opened by guessing.
//! - `pbkdf2-hmac-sha256` (record version 1, for authenticators without PRF): a key derived
//!   from a passphrase with PBKDF2-HMAC-SHA256 (ring, at least 600,000 iterations, a random
//!   16-byte salt per key). The server never stores the passphrase, so a copy of the
//!   database alone unlocks nothing, but a guessed passphrase would.
//!
//! Shares travel as [`SealedShare`]: HPKE base mode (RFC 9180 §5.1.1, §6.1 single-shot
//! `Seal`) to the custodian's public key with `info = "sunbid/v1/share/" ‖ tender_id`, so a
//! share cannot be presented for another tender.
//!
//! PBKDF2 is deliberately slow (≈ 0.3 s): async callers run [`LockedCustodianKey::generate`]
//! and [`decrypt_share`] inside `spawn_blocking`.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::SecureRandom;
use ring::{hkdf, pbkdf2};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::opening::Share;
use super::rng::{DrawnRng, random_array};
use super::{HpkeAead, Kdf, Kem, PrivateKey, PublicKey, SealError};
use hpke::Kem as _;

/// A custodian's public key (P-256, SEC1 uncompressed; base64 in JSON).
pub type CustodianPublicKey = PublicKey;

/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256; never fewer.
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Refuse stored counts above this, so a tampered record cannot stall the server.
const MAX_ITERATIONS: u32 = 10_000_000;
/// The shortest passphrase accepted when a key is created (the enrolment service adds a
/// strength rule, `bid::custodian::check_passphrase`).
pub const MIN_PASSPHRASE_CHARS: usize = 12;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const LOCKED_LEN: usize = 32 + 16;
const KDF_NAME: &str = "pbkdf2-hmac-sha256";
/// The `kdf` of a key wrapped under a passkey's PRF output (record version 2).
pub const KDF_WEBAUTHN_PRF: &str = "webauthn-prf";
/// HKDF-SHA256 `info` turning a PRF output into the AES-256-GCM wrapping key (salt empty).
pub const PRF_WRAP_INFO: &[u8] = b"sunbid/v1/custodian-key/webauthn-prf";
/// Length of a WebAuthn PRF output (`results.first`) and of the per-key PRF salt.
pub const PRF_LEN: usize = 32;
/// Longest credential id WebAuthn allows (Level 3, §5.8.3: 1023 bytes).
const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// Domain label of the share digest stored at issue ([`share_digest`]).
const SHARE_DIGEST_LABEL: &[u8] = b"sunbid/v1/share-digest/";

/// A custodian's key pair as stored: the public key in clear, the private scalar encrypted
/// under a passphrase (version 1) or a passkey's PRF output (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedCustodianKey {
    /// Format version of this record: 1 (passphrase) or 2 (passkey PRF).
    pub version: u8,
    /// The custodian's public key, to which shares are sealed.
    pub public_key: CustodianPublicKey,
    /// `pbkdf2-hmac-sha256` in version 1, `webauthn-prf` in version 2.
    pub kdf: String,
    /// PBKDF2 iteration count (≥ 600,000; version 1 only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iterations: u32,
    /// The random per-key PBKDF2 salt (16 bytes; version 1 only).
    #[serde(default, with = "super::b64", skip_serializing_if = "Vec::is_empty")]
    pub salt: Vec<u8>,
    /// The AES-256-GCM nonce (12 bytes).
    #[serde(with = "super::b64")]
    pub nonce: Vec<u8>,
    /// AES-256-GCM(private scalar) ‖ tag, with the public key as associated data.
    #[serde(with = "super::b64")]
    pub ciphertext: Vec<u8>,
    /// The passkey whose PRF wraps the key: its WebAuthn credential id, base64url without
    /// padding (version 2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// The PRF input `eval.first` (32 random bytes issued by the server; version 2 only).
    #[serde(default, with = "super::b64", skip_serializing_if = "Vec::is_empty")]
    pub prf_salt: Vec<u8>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The AES-256-GCM key that wraps a custodian scalar under a passkey: HKDF-SHA256 with an
/// empty salt, the PRF output as input key material and [`PRF_WRAP_INFO`] (the browser does
/// the same with WebCrypto).
pub(crate) fn prf_wrapping_key_bytes(prf_output: &[u8]) -> Result<Zeroizing<[u8; 32]>, SealError> {
    if prf_output.len() != PRF_LEN {
        return Err(SealError::BadKeyMaterial("a PRF output has 32 bytes"));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf::Salt::new(hkdf::HKDF_SHA256, &[])
        .extract(prf_output)
        .expand(&[PRF_WRAP_INFO], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(key.as_mut_slice()))
        .map_err(|_| SealError::BadKeyMaterial("HKDF"))?;
    Ok(key)
}

fn prf_wrapping_key(prf_output: &[u8]) -> Result<LessSafeKey, SealError> {
    let key = prf_wrapping_key_bytes(prf_output)?;
    let unbound = UnboundKey::new(&AES_256_GCM, key.as_slice())
        .map_err(|_| SealError::BadKeyMaterial("PRF wrapping key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Checks a WebAuthn credential id as sent (base64url, no padding, 1–1023 bytes).
fn check_credential_id(credential_id: &str) -> Result<(), SealError> {
    let raw = URL_SAFE_NO_PAD
        .decode(credential_id.as_bytes())
        .map_err(|_| SealError::BadKeyMaterial("the credential id is not base64url"))?;
    if raw.is_empty() || raw.len() > MAX_CREDENTIAL_ID_LEN {
        return Err(SealError::BadKeyMaterial(
            "a credential id has 1 to 1023 bytes",
        ));
    }
    Ok(())
}

fn passphrase_key(
    passphrase: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<LessSafeKey, SealError> {
    let iterations =
        NonZeroU32::new(iterations).ok_or(SealError::BadKeyMaterial("zero iterations"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        passphrase.as_bytes(),
        key.as_mut_slice(),
    );
    let unbound = UnboundKey::new(&AES_256_GCM, key.as_slice())
        .map_err(|_| SealError::BadKeyMaterial("passphrase key"))?;
    Ok(LessSafeKey::new(unbound))
}

fn nonce_from(bytes: &[u8]) -> Result<Nonce, SealError> {
    Nonce::try_assume_unique_for_key(bytes).map_err(|_| SealError::BadKeyMaterial("nonce length"))
}

impl LockedCustodianKey {
    /// Creates a custodian's key pair and locks its private half under `passphrase`.
    pub fn generate(passphrase: &str, rng: &dyn SecureRandom) -> Result<Self, SealError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(SealError::WeakPassphrase(MIN_PASSPHRASE_CHARS));
        }
        let ikm = random_array::<32>(rng)?;
        let (sk, pk) = Kem::derive_keypair(ikm.as_slice());
        let sk = PrivateKey(sk);
        let public_key = PublicKey(pk);
        let salt = random_array::<SALT_LEN>(rng)?;
        let nonce = random_array::<NONCE_LEN>(rng)?;
        let key = passphrase_key(passphrase, salt.as_slice(), PBKDF2_ITERATIONS)?;
        let mut buf = Zeroizing::new(sk.to_scalar_bytes().to_vec());
        key.seal_in_place_append_tag(
            nonce_from(nonce.as_slice())?,
            Aad::from(public_key.to_bytes()),
            &mut *buf,
        )
        .map_err(|_| SealError::BadKeyMaterial("seal"))?;
        Ok(LockedCustodianKey {
            version: 1,
            public_key,
            kdf: KDF_NAME.to_owned(),
            iterations: PBKDF2_ITERATIONS,
            salt: salt.to_vec(),
            nonce: nonce.to_vec(),
            ciphertext: buf.to_vec(),
            credential_id: None,
            prf_salt: Vec::new(),
        })
    }

    /// A record wrapped under a passkey's PRF, as the custodian's browser sends it: the
    /// lengths are checked here (nonce 12, ciphertext 48, PRF salt 32 bytes, credential id
    /// 1–1023 bytes of base64url); the public key was checked when it was parsed. Whether the
    /// ciphertext really wraps the matching scalar only the passkey can tell, at the opening.
    pub fn from_passkey_prf(
        public_key: CustodianPublicKey,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
        credential_id: String,
        prf_salt: Vec<u8>,
    ) -> Result<Self, SealError> {
        if nonce.len() != NONCE_LEN {
            return Err(SealError::BadKeyMaterial("the nonce has 12 bytes"));
        }
        if ciphertext.len() != LOCKED_LEN {
            return Err(SealError::BadKeyMaterial(
                "the wrapped key has 48 bytes (32-byte scalar and 16-byte tag)",
            ));
        }
        if prf_salt.len() != PRF_LEN {
            return Err(SealError::BadKeyMaterial("the PRF salt has 32 bytes"));
        }
        check_credential_id(&credential_id)?;
        Ok(LockedCustodianKey {
            version: 2,
            public_key,
            kdf: KDF_WEBAUTHN_PRF.to_owned(),
            iterations: 0,
            salt: Vec::new(),
            nonce,
            ciphertext,
            credential_id: Some(credential_id),
            prf_salt,
        })
    }

    /// Wraps `sk` under a PRF output, as the browser does at enrolment (the server never
    /// runs this outside tests and test vectors: it never sees a PRF output).
    pub fn wrap_with_prf(
        sk: &PrivateKey,
        prf_output: &[u8],
        credential_id: String,
        prf_salt: Vec<u8>,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Self, SealError> {
        let public_key = sk.public_key();
        let key = prf_wrapping_key(prf_output)?;
        let mut buf = Zeroizing::new(sk.to_scalar_bytes().to_vec());
        key.seal_in_place_append_tag(
            nonce_from(&nonce)?,
            Aad::from(public_key.to_bytes()),
            &mut *buf,
        )
        .map_err(|_| SealError::BadKeyMaterial("seal"))?;
        Self::from_passkey_prf(
            public_key,
            nonce.to_vec(),
            buf.to_vec(),
            credential_id,
            prf_salt,
        )
    }

    /// Whether the key is held by a passkey (PRF) rather than a passphrase.
    pub fn is_passkey(&self) -> bool {
        self.version == 2 && self.kdf == KDF_WEBAUTHN_PRF
    }

    /// Unwraps a version-2 key with the passkey's PRF output (what the browser does at the
    /// opening). A wrong output is [`SealError::WrongPassphrase`], like a wrong passphrase.
    pub fn unlock_with_prf(&self, prf_output: &[u8]) -> Result<PrivateKey, SealError> {
        if !self.is_passkey() {
            return Err(SealError::BadKeyMaterial("unknown custodian key format"));
        }
        if self.ciphertext.len() != LOCKED_LEN {
            return Err(SealError::BadKeyMaterial("ciphertext length"));
        }
        let key = prf_wrapping_key(prf_output)?;
        self.open_scalar(&key)
    }

    /// AES-256-GCM open of the wrapped scalar, checked against the stored public key.
    fn open_scalar(&self, key: &LessSafeKey) -> Result<PrivateKey, SealError> {
        let mut buf = Zeroizing::new(self.ciphertext.clone());
        let plain = key
            .open_in_place(
                nonce_from(&self.nonce)?,
                Aad::from(self.public_key.to_bytes()),
                buf.as_mut_slice(),
            )
            .map_err(|_| SealError::WrongPassphrase)?;
        let sk = PrivateKey::from_scalar_bytes(plain)?;
        // Belt and braces: the scalar must belong to the stored public key.
        if sk.public_key() != self.public_key {
            return Err(SealError::BadKeyMaterial(
                "private key does not match public key",
            ));
        }
        Ok(sk)
    }

    /// Unlocks the private key. A wrong passphrase (or a record whose public key or
    /// ciphertext was altered) is [`SealError::WrongPassphrase`]; the record is unchanged and
    /// can be tried again.
    pub fn unlock(&self, passphrase: &str) -> Result<PrivateKey, SealError> {
        if self.version != 1 || self.kdf != KDF_NAME {
            return Err(SealError::BadKeyMaterial("unknown custodian key format"));
        }
        if !(PBKDF2_ITERATIONS..=MAX_ITERATIONS).contains(&self.iterations) {
            return Err(SealError::BadKeyMaterial(
                "PBKDF2 iteration count out of range",
            ));
        }
        if self.salt.len() != SALT_LEN || self.ciphertext.len() != LOCKED_LEN {
            return Err(SealError::BadKeyMaterial("salt or ciphertext length"));
        }
        let key = passphrase_key(passphrase, &self.salt, self.iterations)?;
        self.open_scalar(&key)
    }
}

/// A share sealed to one custodian for one tender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedShare {
    /// Format version of this record (1).
    pub version: u8,
    /// The tender whose opening seed this is a share of.
    pub tender_id: String,
    /// The custodian key it is sealed to.
    pub custodian_key: CustodianPublicKey,
    /// HPKE encapsulated key (65 bytes).
    #[serde(with = "super::b64")]
    pub enc: Vec<u8>,
    /// HPKE ciphertext of the 33-byte share ‖ tag.
    #[serde(with = "super::b64")]
    pub ciphertext: Vec<u8>,
}

fn share_info(tender_id: &str) -> Vec<u8> {
    format!("sunbid/v1/share/{tender_id}").into_bytes()
}

/// Seals `share` to a custodian's public key for `tender_id` (RFC 9180 §6.1 `SealBase`).
pub fn encrypt_share_to(
    custodian_pk: &CustodianPublicKey,
    share: &Share,
    tender_id: &str,
    rng: &dyn SecureRandom,
) -> Result<SealedShare, SealError> {
    if tender_id.is_empty() || tender_id.len() > 255 {
        return Err(SealError::InvalidId("the tender id must be 1–255 bytes"));
    }
    let ikm_e = random_array::<32>(rng)?;
    let stream_key = random_array::<32>(rng)?;
    encrypt_share_with(custodian_pk, share, tender_id, &ikm_e, &stream_key)
}

/// [`encrypt_share_to`] with the ephemeral key's randomness given (test vectors).
pub(crate) fn encrypt_share_with(
    custodian_pk: &CustodianPublicKey,
    share: &Share,
    tender_id: &str,
    ikm_e: &[u8; 32],
    stream_key: &[u8; 32],
) -> Result<SealedShare, SealError> {
    let mut drawn = DrawnRng::new(ikm_e.as_slice(), stream_key);
    let (enc, mut ctx) = hpke::setup_sender_with_rng::<HpkeAead, Kdf, Kem>(
        &OpModeS::Base,
        &custodian_pk.0,
        &share_info(tender_id),
        &mut drawn,
    )
    .map_err(|_| SealError::InvalidPublicKey)?;
    let ciphertext = ctx
        .seal(share.as_bytes(), b"")
        .map_err(|_| SealError::BadKeyMaterial("HPKE seal failed"))?;
    Ok(SealedShare {
        version: 1,
        tender_id: tender_id.to_owned(),
        custodian_key: custodian_pk.clone(),
        enc: enc.to_bytes().to_vec(),
        ciphertext,
    })
}

/// Unlocks the custodian key with `passphrase` and opens a share sealed to it for
/// `expected_tender`. Nothing is consumed here: on a wrong passphrase
/// ([`SealError::WrongPassphrase`]) the record is unchanged; how often a custodian may try
/// again at an opening is the caller's rule (`bid::unlock_limit`).
pub fn decrypt_share(
    locked: &LockedCustodianKey,
    passphrase: &str,
    sealed: &SealedShare,
    expected_tender: &str,
) -> Result<Share, SealError> {
    // The cheap checks come before the slow key derivation.
    check_binding(sealed, &locked.public_key, expected_tender)?;
    let sk = locked.unlock(passphrase)?;
    open_share(&sk, sealed, expected_tender)
}

/// A share is for one tender and one custodian key; anything else is refused unopened.
fn check_binding(
    sealed: &SealedShare,
    key: &CustodianPublicKey,
    expected_tender: &str,
) -> Result<(), SealError> {
    if sealed.tender_id != expected_tender {
        return Err(SealError::WrongTender {
            expected: expected_tender.to_owned(),
            found: sealed.tender_id.clone(),
        });
    }
    if sealed.version != 1 || sealed.custodian_key != *key {
        return Err(SealError::ShareUnwrap);
    }
    Ok(())
}

/// Opens a share sealed to `sk` for `expected_tender` (RFC 9180 §6.1 `OpenBase`, the same
/// `info` as [`encrypt_share_to`]). With a passkey-held key the browser does this.
pub fn open_share(
    sk: &PrivateKey,
    sealed: &SealedShare,
    expected_tender: &str,
) -> Result<Share, SealError> {
    check_binding(sealed, &sk.public_key(), expected_tender)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.enc)
        .map_err(|_| SealError::ShareUnwrap)?;
    let mut ctx = hpke::setup_receiver::<HpkeAead, Kdf, Kem>(
        &OpModeR::Base,
        &sk.0,
        &enc,
        &share_info(&sealed.tender_id),
    )
    .map_err(|_| SealError::ShareUnwrap)?;
    let plain = Zeroizing::new(
        ctx.open(&sealed.ciphertext, b"")
            .map_err(|_| SealError::ShareUnwrap)?,
    );
    Share::from_bytes(&plain)
}

/// The digest of a share stored when it is issued, against which a share that a custodian's
/// browser opened is checked: SHA-256(`"sunbid/v1/share-digest/"` ‖ tender id ‖ 0x00 ‖ the
/// 33 share bytes). A share is 256 bits of uniform randomness plus its index, so the digest
/// gives nothing away.
pub fn share_digest(tender_id: &str, share: &Share) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(SHARE_DIGEST_LABEL);
    ctx.update(tender_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(share.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::seal::opening::{new_opening_key, rebuild_and_check};
    use ring::rand::SystemRandom;

    const PASS: &str = "correct horse battery staple";

    #[test]
    fn shares_round_trip_through_custodians_and_open_the_tender() {
        let rng = SystemRandom::new();
        let alice = LockedCustodianKey::generate(PASS, &rng).unwrap();
        let bob = LockedCustodianKey::generate("another long passphrase", &rng).unwrap();
        let (pk, shares) = new_opening_key(2, 3, &rng).unwrap();
        let to_alice = encrypt_share_to(&alice.public_key, &shares[0], "T-1", &rng).unwrap();
        let to_bob = encrypt_share_to(&bob.public_key, &shares[1], "T-1", &rng).unwrap();

        // Stored as JSON and read back.
        let alice: LockedCustodianKey =
            serde_json::from_str(&serde_json::to_string(&alice).unwrap()).unwrap();
        let to_alice: SealedShare =
            serde_json::from_str(&serde_json::to_string(&to_alice).unwrap()).unwrap();

        // A wrong passphrase is a clear error and consumes nothing.
        let err = decrypt_share(&alice, "not the passphrase", &to_alice, "T-1").unwrap_err();
        assert!(matches!(err, SealError::WrongPassphrase), "{err}");
        assert_eq!(err.code(), "SEAL_WRONG_PASSPHRASE");

        let a = decrypt_share(&alice, PASS, &to_alice, "T-1").unwrap();
        let b = decrypt_share(&bob, "another long passphrase", &to_bob, "T-1").unwrap();
        assert_eq!(a, shares[0]);
        let sk = rebuild_and_check(&[a, b], &pk).unwrap();
        assert_eq!(sk.public_key(), pk);

        // Bob's share is not Alice's to open.
        let err = decrypt_share(&alice, PASS, &to_bob, "T-1").unwrap_err();
        assert!(matches!(err, SealError::ShareUnwrap));
        // Nor is it good for another tender, even relabelled.
        let err = decrypt_share(&alice, PASS, &to_alice, "T-2").unwrap_err();
        assert!(matches!(err, SealError::WrongTender { .. }));
        let mut moved = to_alice.clone();
        moved.tender_id = "T-2".into();
        let err = decrypt_share(&alice, PASS, &moved, "T-2").unwrap_err();
        assert!(matches!(err, SealError::ShareUnwrap));
    }

    #[test]
    fn locked_key_rejects_weak_or_tampered_parameters() {
        let rng = SystemRandom::new();
        assert!(matches!(
            LockedCustodianKey::generate("short", &rng),
            Err(SealError::WeakPassphrase(_))
        ));
        let locked = LockedCustodianKey::generate(PASS, &rng).unwrap();
        assert_eq!(locked.iterations, 600_000);
        assert_eq!(locked.salt.len(), 16);
        let mut weak = locked.clone();
        weak.iterations = 1_000;
        assert!(matches!(
            weak.unlock(PASS),
            Err(SealError::BadKeyMaterial(_))
        ));
        let mut huge = locked.clone();
        huge.iterations = u32::MAX;
        assert!(matches!(
            huge.unlock(PASS),
            Err(SealError::BadKeyMaterial(_))
        ));
        let mut short_nonce = locked.clone();
        short_nonce.nonce.pop();
        assert!(short_nonce.unlock(PASS).is_err());
        // Another public key in the record: the AAD no longer matches.
        let mut swapped = locked.clone();
        swapped.public_key = LockedCustodianKey::generate(PASS, &rng).unwrap().public_key;
        assert!(matches!(
            swapped.unlock(PASS),
            Err(SealError::WrongPassphrase)
        ));
        assert!(locked.unlock(PASS).is_ok());
        // A passphrase record is version 1 as before: no passkey fields are written.
        let json = serde_json::to_value(&locked).unwrap();
        assert_eq!(json["version"], 1);
        assert!(json.get("credential_id").is_none() && json.get("prf_salt").is_none());
        assert!(!locked.is_passkey());
        // A bad base64 or point is refused when read.
        let mut json: serde_json::Value = serde_json::to_value(&locked).unwrap();
        json["public_key"] = serde_json::Value::String("AAAA".into());
        assert!(serde_json::from_value::<LockedCustodianKey>(json).is_err());
    }

    /// A version-1 record as stored before passkey-held keys existed still reads and opens.
    #[test]
    fn a_stored_version_1_record_still_unlocks() {
        let rng = SystemRandom::new();
        let locked = LockedCustodianKey::generate(PASS, &rng).unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        // Exactly the fields the first format wrote.
        let old = serde_json::json!({
            "version": 1, "public_key": b64(&locked.public_key.to_bytes()),
            "kdf": "pbkdf2-hmac-sha256", "iterations": locked.iterations,
            "salt": b64(&locked.salt), "nonce": b64(&locked.nonce),
            "ciphertext": b64(&locked.ciphertext),
        });
        let read: LockedCustodianKey = serde_json::from_value(old).unwrap();
        assert_eq!(read, locked);
        assert!(read.unlock(PASS).is_ok());
    }

    #[test]
    fn a_passkey_record_unwraps_only_with_its_prf_output() {
        let rng = SystemRandom::new();
        let (sk, pk) = Kem::derive_keypair(&[7u8; 32]);
        let sk = PrivateKey(sk);
        let prf = [0x42u8; PRF_LEN];
        let locked = LockedCustodianKey::wrap_with_prf(
            &sk,
            &prf,
            "Y3JlZGVudGlhbA".into(),
            vec![9u8; PRF_LEN],
            [1u8; NONCE_LEN],
        )
        .unwrap();
        assert_eq!(locked.public_key, PublicKey(pk));
        assert!(locked.is_passkey());
        // Stored as version 2 with the passkey fields and no PBKDF2 ones.
        let json = serde_json::to_value(&locked).unwrap();
        assert_eq!(json["version"], 2);
        assert_eq!(json["kdf"], "webauthn-prf");
        assert_eq!(json["credential_id"], "Y3JlZGVudGlhbA");
        assert!(json.get("iterations").is_none() && json.get("salt").is_none());
        let read: LockedCustodianKey = serde_json::from_value(json).unwrap();
        assert_eq!(read, locked);

        let opened = read.unlock_with_prf(&prf).unwrap();
        assert_eq!(opened.public_key(), read.public_key);
        assert!(matches!(
            read.unlock_with_prf(&[0x43u8; PRF_LEN]),
            Err(SealError::WrongPassphrase)
        ));
        assert!(read.unlock_with_prf(&prf[..31]).is_err());
        // Neither a passphrase opens it, nor a PRF output a passphrase record.
        assert!(matches!(
            read.unlock(PASS),
            Err(SealError::BadKeyMaterial(_))
        ));
        let v1 = LockedCustodianKey::generate(PASS, &rng).unwrap();
        assert!(matches!(
            v1.unlock_with_prf(&prf),
            Err(SealError::BadKeyMaterial(_))
        ));
        // Another public key in the record: the AAD no longer matches.
        let mut swapped = read.clone();
        swapped.public_key = v1.public_key.clone();
        assert!(swapped.unlock_with_prf(&prf).is_err());

        // What the browser sends is checked for every length.
        let ok = |nonce: usize, ct: usize, salt: usize, cred: &str| {
            LockedCustodianKey::from_passkey_prf(
                read.public_key.clone(),
                vec![0; nonce],
                vec![0; ct],
                cred.into(),
                vec![0; salt],
            )
            .is_ok()
        };
        assert!(ok(12, 48, 32, "AAAA"));
        assert!(!ok(11, 48, 32, "AAAA"));
        assert!(!ok(12, 47, 32, "AAAA"));
        assert!(!ok(12, 48, 16, "AAAA"));
        assert!(!ok(12, 48, 32, ""));
        assert!(!ok(12, 48, 32, "not base64url!"));
        assert!(!ok(12, 48, 32, &"A".repeat(1400)));
    }

    #[test]
    fn a_browser_opened_share_is_checked_by_its_digest() {
        let rng = SystemRandom::new();
        let (sk, pk) = Kem::derive_keypair(&[3u8; 32]);
        let sk = PrivateKey(sk);
        let (_, shares) = new_opening_key(2, 3, &rng).unwrap();
        let sealed = encrypt_share_to(&PublicKey(pk), &shares[0], "T-1", &rng).unwrap();
        let opened = open_share(&sk, &sealed, "T-1").unwrap();
        assert_eq!(opened, shares[0]);
        let issued = share_digest("T-1", &shares[0]);
        assert_eq!(share_digest("T-1", &opened), issued);
        // Another share, or the same share for another tender, has another digest.
        assert_ne!(share_digest("T-1", &shares[1]), issued);
        assert_ne!(share_digest("T-2", &shares[0]), issued);
        // The label is part of the digest: not a bare SHA-256 of the share.
        assert_ne!(crate::seal::sha256(shares[0].as_bytes()), issued);
        assert!(matches!(
            open_share(&sk, &sealed, "T-2"),
            Err(SealError::WrongTender { .. })
        ));
    }
}
