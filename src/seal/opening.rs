//! The tender's opening key: a key pair derived from a 32-byte seed (RFC 9180 §7.1.3
//! `DeriveKeyPair`), and the seed split k-of-n with Shamir secret sharing over GF(256)
//! (vsss-rs).
//!
//! At publication the server draws a seed, publishes the derived public key, splits the
//! seed into shares for the custodians and wipes it ([`new_opening_key`]). At the opening,
//! [`rebuild_and_check`] combines the shares and re-derives the key pair: plain Shamir turns
//! a wrong share, or fewer than k shares, into a *different* seed without any error, so the
//! rebuilt public key must equal the published one or nothing is returned.

use hpke::Kem as _;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use vsss_rs::Gf256;
use zeroize::{Zeroize, Zeroizing};

use super::rng::{DrawnRng, random_array};
use super::{Kem, PrivateKey, PublicKey, SealError};

/// The seed's length: `Nsk` of DHKEM(P-256) (RFC 9180 §7.1), 256 bits of entropy.
pub const SEED_LEN: usize = 32;
/// A serialized share: the participant id (1–255) followed by one byte per seed byte.
pub const SHARE_LEN: usize = 1 + SEED_LEN;

/// One custodian's share of a tender's opening seed. Wiped on drop, never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Share(#[serde(with = "super::b64")] Vec<u8>);

impl Drop for Share {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share(id {})", self.id())
    }
}

impl Share {
    /// Parses a serialized share (checked for length and a non-zero id).
    pub fn from_bytes(bytes: &[u8]) -> Result<Share, SealError> {
        let share = Share(bytes.to_vec());
        share.check()?;
        Ok(share)
    }

    /// The serialized share (secret).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The participant id, 1–255 (0 for a malformed share).
    pub fn id(&self) -> u8 {
        self.0.first().copied().unwrap_or(0)
    }

    fn check(&self) -> Result<(), SealError> {
        if self.0.len() != SHARE_LEN {
            return Err(SealError::InvalidShares("a share must be 33 bytes"));
        }
        if self.id() == 0 {
            return Err(SealError::InvalidShares("a share's id cannot be 0"));
        }
        Ok(())
    }
}

/// RFC 9180 §7.1.3 `DeriveKeyPair(ikm)` for DHKEM(P-256, HKDF-SHA256):
/// `dkp_prk = LabeledExtract("", "dkp_prk", ikm)`, then candidates
/// `LabeledExpand(dkp_prk, "candidate", I2OSP(counter, 1), 32)` until one is a scalar in
/// `[1, n)`.
pub fn derive_keypair(seed: &[u8; SEED_LEN]) -> (PrivateKey, PublicKey) {
    // hpke panics only if 256 candidates in a row fall outside [1, n): probability 2^-8192.
    let (sk, pk) = Kem::derive_keypair(seed);
    (PrivateKey(sk), PublicKey(pk))
}

/// Splits `seed` into `n` shares, any `k` of which rebuild it (Shamir over GF(256), one
/// polynomial per seed byte, participant ids 1..=n). Requires 2 ≤ k ≤ n ≤ 255: a single
/// custodian must never be able to open alone.
pub fn split_seed(
    seed: &[u8; SEED_LEN],
    k: usize,
    n: usize,
    rng: &dyn SecureRandom,
) -> Result<Vec<Share>, SealError> {
    if k < 2 || k > n || n > 255 {
        return Err(SealError::InvalidThreshold { k, n });
    }
    // vsss-rs wants a rand_core generator; feed it from ring (see rng.rs).
    let rng = DrawnRng::from_ring(rng)?;
    let mut raw = Gf256::split_bytes(k, n, seed.as_slice(), rng)
        .map_err(|_| SealError::InvalidThreshold { k, n })?;
    let shares = raw.iter().map(|b| Share(b.clone())).collect::<Vec<_>>();
    for b in raw.iter_mut() {
        b.zeroize();
    }
    for s in &shares {
        s.check()?;
    }
    Ok(shares)
}

/// Combines shares into the seed. Checks lengths, ids and duplicates; it cannot tell a
/// wrong share or too few shares (that gives a wrong seed): use [`rebuild_and_check`].
pub fn combine(shares: &[Share]) -> Result<Zeroizing<[u8; SEED_LEN]>, SealError> {
    if shares.len() < 2 {
        return Err(SealError::InvalidShares("at least two shares are needed"));
    }
    let mut seen = [false; 256];
    for s in shares {
        s.check()?;
        let slot = seen
            .get_mut(usize::from(s.id()))
            .ok_or(SealError::InvalidShares("share id out of range"))?;
        if *slot {
            return Err(SealError::InvalidShares("the same share was given twice"));
        }
        *slot = true;
    }
    let raw: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(shares.iter().map(|s| s.0.clone()).collect());
    let mut secret = Gf256::combine_bytes(raw.as_slice())
        .map_err(|_| SealError::InvalidShares("the shares cannot be combined"))?;
    let mut out = Zeroizing::new([0u8; SEED_LEN]);
    let ok = secret.len() == SEED_LEN;
    if ok {
        out.copy_from_slice(&secret);
    }
    secret.zeroize();
    if !ok {
        return Err(SealError::InvalidShares(
            "the shares rebuild a seed of the wrong size",
        ));
    }
    Ok(out)
}

/// Rebuilds the opening private key from custodians' shares and checks that it is the one
/// whose public key was published; a wrong share or too few shares give
/// [`SealError::SharesDoNotMatch`], never a silently wrong key.
pub fn rebuild_and_check(shares: &[Share], published: &PublicKey) -> Result<PrivateKey, SealError> {
    let seed = combine(shares)?;
    let (sk, pk) = derive_keypair(&seed);
    // Public data; no need for a constant-time comparison.
    if &pk != published {
        return Err(SealError::SharesDoNotMatch);
    }
    Ok(sk)
}

/// A new opening key for a tender: draws a seed, derives the key pair, splits the seed k of
/// n, and wipes the seed and private key. Returns the public key to publish and the shares
/// (to be sealed to each custodian at once, see [`super::encrypt_share_to`]).
pub fn new_opening_key(
    k: usize,
    n: usize,
    rng: &dyn SecureRandom,
) -> Result<(PublicKey, Vec<Share>), SealError> {
    let seed = random_array::<SEED_LEN>(rng)?;
    let (_sk, pk) = derive_keypair(&seed);
    let shares = split_seed(&seed, k, n, rng)?;
    Ok((pk, shares))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn two_of_three_rebuilds_and_checks() {
        let rng = SystemRandom::new();
        let (pk, shares) = new_opening_key(2, 3, &rng).unwrap();
        assert_eq!(shares.len(), 3);
        for pair in [[0, 1], [0, 2], [1, 2], [2, 0]] {
            let chosen = [shares[pair[0]].clone(), shares[pair[1]].clone()];
            let sk = rebuild_and_check(&chosen, &pk).unwrap();
            assert_eq!(sk.public_key(), pk);
        }
        assert!(rebuild_and_check(&shares, &pk).is_ok());
    }

    #[test]
    fn a_single_custodian_cannot_open_alone() {
        let rng = SystemRandom::new();
        let (pk, shares) = new_opening_key(2, 3, &rng).unwrap();
        let err = rebuild_and_check(&shares[..1], &pk).unwrap_err();
        assert!(matches!(err, SealError::InvalidShares(_)), "{err}");
    }

    #[test]
    fn too_few_shares_never_yield_a_wrong_key() {
        let rng = SystemRandom::new();
        let (pk, shares) = new_opening_key(3, 5, &rng).unwrap();
        let err = rebuild_and_check(&shares[..2], &pk).unwrap_err();
        assert!(matches!(err, SealError::SharesDoNotMatch), "{err}");
        assert!(rebuild_and_check(&shares[1..4], &pk).is_ok());
    }

    #[test]
    fn a_wrong_share_is_caught() {
        let rng = SystemRandom::new();
        let (pk, shares) = new_opening_key(2, 3, &rng).unwrap();
        let mut bad = shares[1].as_bytes().to_vec();
        bad[5] ^= 1;
        let bad = Share::from_bytes(&bad).unwrap();
        let err = rebuild_and_check(&[shares[0].clone(), bad], &pk).unwrap_err();
        assert!(matches!(err, SealError::SharesDoNotMatch));
        // A share of another tender's key.
        let (_, other) = new_opening_key(2, 3, &rng).unwrap();
        let err = rebuild_and_check(&[shares[0].clone(), other[1].clone()], &pk).unwrap_err();
        assert!(matches!(err, SealError::SharesDoNotMatch));
    }

    #[test]
    fn duplicate_and_malformed_shares_are_refused() {
        let rng = SystemRandom::new();
        let (pk, shares) = new_opening_key(2, 3, &rng).unwrap();
        let err = rebuild_and_check(&[shares[0].clone(), shares[0].clone()], &pk).unwrap_err();
        assert!(matches!(err, SealError::InvalidShares(_)));
        assert!(Share::from_bytes(&[1u8; 5]).is_err());
        let mut zero = shares[0].as_bytes().to_vec();
        zero[0] = 0;
        assert!(Share::from_bytes(&zero).is_err());
        let json = serde_json::to_string(&shares[0]).unwrap();
        let back: Share = serde_json::from_str(&json).unwrap();
        assert_eq!(back, shares[0]);
    }

    /// docs/seal-format.md's description of the split, checked independently of vsss-rs:
    /// share ids (x) are 1..=n, and Lagrange interpolation at x = 0 over GF(2^8) with the
    /// AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11B) rebuilds every seed byte.
    #[test]
    fn shamir_is_the_documented_one() {
        fn mul(mut a: u8, mut b: u8) -> u8 {
            let mut r = 0;
            while b != 0 {
                if b & 1 == 1 {
                    r ^= a;
                }
                let carry = a & 0x80 != 0;
                a <<= 1;
                if carry {
                    a ^= 0x1b; // 0x11B without the x^8 bit
                }
                b >>= 1;
            }
            r
        }
        fn inv(a: u8) -> u8 {
            (1..=255u8).find(|&b| mul(a, b) == 1).unwrap()
        }
        let rng = SystemRandom::new();
        let seed: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        let shares = split_seed(&seed, 3, 5, &rng).unwrap();
        let ids: Vec<u8> = shares.iter().map(Share::id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        for chosen in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let xs: Vec<u8> = chosen.iter().map(|&i| shares[i].id()).collect();
            for (byte, &expected) in seed.iter().enumerate() {
                let mut secret = 0u8;
                for (j, &i) in chosen.iter().enumerate() {
                    // l_j(0) = prod_{m != j} x_m / (x_m - x_j); minus is xor in GF(2^8).
                    let mut l = 1u8;
                    for (m, &xm) in xs.iter().enumerate() {
                        if m != j {
                            l = mul(l, mul(xm, inv(xm ^ xs[j])));
                        }
                    }
                    secret ^= mul(l, shares[i].as_bytes()[1 + byte]);
                }
                assert_eq!(secret, expected, "byte {byte} from shares {chosen:?}");
            }
        }
    }

    #[test]
    fn thresholds_out_of_range_are_refused() {
        let rng = SystemRandom::new();
        let seed = [9u8; 32];
        for (k, n) in [(1, 3), (0, 0), (4, 3), (2, 256)] {
            assert!(matches!(
                split_seed(&seed, k, n, &rng),
                Err(SealError::InvalidThreshold { .. })
            ));
        }
        let shares = split_seed(&seed, 2, 2, &rng).unwrap();
        assert_eq!(*combine(&shares).unwrap(), seed);
    }
}
