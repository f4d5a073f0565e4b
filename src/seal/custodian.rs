//! A custodian's personal key pair and the opening-key shares sealed to it.
//!
//! The private half exists at rest only as [`LockedCustodianKey`]: AES-256-GCM under a key
//! derived from the custodian's passphrase with PBKDF2-HMAC-SHA256 (ring, at least 600,000
//! iterations, a random 16-byte salt per key), with the public key as associated data. The
//! server never stores the passphrase, so a copy of the database alone unlocks nothing.
//!
//! Shares travel as [`SealedShare`]: HPKE base mode (RFC 9180 §5.1.1, §6.1 single-shot
//! `Seal`) to the custodian's public key with `info = "sunbid/v1/share/" ‖ tender_id`, so a
//! share cannot be presented for another tender.
//!
//! PBKDF2 is deliberately slow (≈ 0.3 s): async callers run [`LockedCustodianKey::generate`]
//! and [`decrypt_share`] inside `spawn_blocking`.

use std::num::NonZeroU32;

use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::pbkdf2;
use ring::rand::SecureRandom;
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
/// The shortest passphrase accepted when a key is created.
pub const MIN_PASSPHRASE_CHARS: usize = 10;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const LOCKED_LEN: usize = 32 + 16;
const KDF_NAME: &str = "pbkdf2-hmac-sha256";

/// A custodian's key pair as stored: the public key in clear, the private scalar encrypted
/// under the passphrase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedCustodianKey {
    /// Format version of this record (1).
    pub version: u8,
    /// The custodian's public key, to which shares are sealed.
    pub public_key: CustodianPublicKey,
    /// Always `pbkdf2-hmac-sha256` in version 1.
    pub kdf: String,
    /// PBKDF2 iteration count (≥ 600,000).
    pub iterations: u32,
    /// The random per-key salt (16 bytes).
    #[serde(with = "super::b64")]
    pub salt: Vec<u8>,
    /// The AES-256-GCM nonce (12 bytes).
    #[serde(with = "super::b64")]
    pub nonce: Vec<u8>,
    /// AES-256-GCM(private scalar) ‖ tag, with the public key as associated data.
    #[serde(with = "super::b64")]
    pub ciphertext: Vec<u8>,
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
        })
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
    let mut drawn = DrawnRng::new(ikm_e.as_slice(), &stream_key);
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
    if sealed.tender_id != expected_tender {
        return Err(SealError::WrongTender {
            expected: expected_tender.to_owned(),
            found: sealed.tender_id.clone(),
        });
    }
    if sealed.version != 1 || sealed.custodian_key != locked.public_key {
        return Err(SealError::ShareUnwrap);
    }
    let sk = locked.unlock(passphrase)?;
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
        // A bad base64 or point is refused when read.
        let mut json: serde_json::Value = serde_json::to_value(&locked).unwrap();
        json["public_key"] = serde_json::Value::String("AAAA".into());
        assert!(serde_json::from_value::<LockedCustodianKey>(json).is_err());
    }
}
