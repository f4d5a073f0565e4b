//! Adapters between ring's fallible `SecureRandom` and the infallible `CryptoRng` (rand_core
//! 0.10) that the `hpke` and `vsss-rs` crates take.
//!
//! The system generator is only ever called through ring, where a failure is an error we
//! can return. The bytes the other crates need are drawn up front and handed over through
//! [`DrawnRng`]: first a fixed prefix (the exact bytes the caller drew, e.g. HPKE's `ikmE`,
//! so that sealing is a pure function of its inputs), then an HMAC-SHA256 counter-mode
//! stream keyed with 32 drawn bytes, for callers whose demand is not known in advance.

use hpke::rand_core::{TryCryptoRng, TryRng};
use ring::hmac;
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use super::SealError;

/// A generator that replays `prefix`, then continues with HMAC-SHA256(key, counter) blocks.
pub(crate) struct DrawnRng {
    prefix: Zeroizing<Vec<u8>>,
    prefix_pos: usize,
    key: hmac::Key,
    counter: u64,
    block: Zeroizing<[u8; 32]>,
    block_pos: usize,
}

impl DrawnRng {
    /// A generator that yields `prefix` first, then a stream keyed with `stream_key`.
    pub(crate) fn new(prefix: &[u8], stream_key: &[u8; 32]) -> Self {
        DrawnRng {
            prefix: Zeroizing::new(prefix.to_vec()),
            prefix_pos: 0,
            key: hmac::Key::new(hmac::HMAC_SHA256, stream_key),
            counter: 0,
            block: Zeroizing::new([0u8; 32]),
            block_pos: 32,
        }
    }

    /// A generator keyed with 32 bytes from `rng` (ring), with no prefix.
    pub(crate) fn from_ring(rng: &dyn SecureRandom) -> Result<Self, SealError> {
        let seed = random_array::<32>(rng)?;
        Ok(Self::new(&[], &seed))
    }

    fn next_byte(&mut self) -> u8 {
        if let Some(b) = self.prefix.get(self.prefix_pos) {
            self.prefix_pos += 1;
            return *b;
        }
        if self.block_pos >= 32 {
            let tag = hmac::sign(&self.key, &self.counter.to_be_bytes());
            self.block.copy_from_slice(tag.as_ref());
            self.counter = self.counter.wrapping_add(1);
            self.block_pos = 0;
        }
        let b = self.block.get(self.block_pos).copied().unwrap_or(0);
        self.block_pos += 1;
        b
    }
}

impl TryRng for DrawnRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for d in dst.iter_mut() {
            *d = self.next_byte();
        }
        Ok(())
    }
}

impl TryCryptoRng for DrawnRng {}

/// `N` bytes from ring's generator, wiped on drop.
pub(crate) fn random_array<const N: usize>(
    rng: &dyn SecureRandom,
) -> Result<Zeroizing<[u8; N]>, SealError> {
    let mut out = Zeroizing::new([0u8; N]);
    rng.fill(out.as_mut_slice()).map_err(|_| SealError::Rng)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use hpke::rand_core::Rng;

    #[test]
    fn prefix_then_stream() {
        let mut r = DrawnRng::new(&[1, 2, 3], &[7u8; 32]);
        let mut out = [0u8; 5];
        r.fill_bytes(&mut out);
        assert_eq!(&out[..3], &[1, 2, 3]);
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]),
            &0u64.to_be_bytes(),
        );
        assert_eq!(&out[3..], &tag.as_ref()[..2]);
    }
}
