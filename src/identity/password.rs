//! Password hashing with argon2id, run on the blocking pool so a login never stalls the
//! async workers, with its work memory bounded and reused.
//!
//! Each argon2id hash with the default parameters needs 19 MiB of work memory. Allocated
//! per hash, a login storm (a thousand bidders in a deadline's last minute) lets every
//! blocking thread hold its own buffer at once, and the allocator keeps the grown heap
//! afterwards (≈ 230 MiB after twenty hashes, measured in docs/BENCHMARKS.md). Here at most
//! one hash per core runs at a time, each on a buffer from a small pool that is reused, so
//! the peak is `cores × 19 MiB` and nothing is left behind to return.

use std::sync::{LazyLock, Mutex};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

/// The hashes that may run at once, and the work buffers they reuse.
struct Work {
    permits: Semaphore,
    buffers: Mutex<Vec<Vec<Block>>>,
}

static WORK: LazyLock<Work> = LazyLock::new(|| Work {
    permits: Semaphore::new(
        std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(1),
    ),
    buffers: Mutex::new(Vec::new()),
});

impl Work {
    /// Runs `f` on the blocking pool with a work buffer of at least `blocks` blocks, waiting
    /// for a free slot first; `None` when the runtime is shutting down.
    async fn run<T: Send + 'static>(
        &'static self,
        blocks: usize,
        f: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Option<T> {
        let permit = self.permits.acquire().await.ok()?;
        // The permit moves into the blocking task: a caller that goes away (a client that
        // disconnects mid-login) must not free the slot while its hash still runs.
        tokio::task::spawn_blocking(move || {
            let mut buffer = self.take(blocks);
            let out = f(&mut buffer[..blocks]);
            self.give_back(buffer);
            drop(permit);
            out
        })
        .await
        .ok()
    }

    fn take(&self, blocks: usize) -> Vec<Block> {
        let reused = self
            .buffers
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .filter(|b| b.len() >= blocks);
        reused.unwrap_or_else(|| vec![Block::default(); blocks.max(Params::DEFAULT.block_count())])
    }

    /// Keeps a buffer of the default size for the next hash; a larger one (a hash stored
    /// with heavier parameters) is freed rather than kept.
    fn give_back(&self, buffer: Vec<Block>) {
        if buffer.len() == Params::DEFAULT.block_count()
            && let Ok(mut free) = self.buffers.lock()
        {
            free.push(buffer);
        }
    }
}

/// Hashes a password into a PHC string (argon2id, default parameters, random salt).
pub async fn hash(password: String) -> Result<String, String> {
    let params = Params::DEFAULT;
    let salt = SaltString::generate(&mut rand_core::OsRng);
    let blocks = params.block_count();
    WORK.run(blocks, move |memory| {
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|e| e.to_string())?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, memory)
            .map_err(|e| e.to_string())?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params)
                .try_into()
                .map_err(|e: argon2::password_hash::Error| e.to_string())?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok(phc.to_string())
    })
    .await
    .unwrap_or_else(|| Err("hashing stopped".into()))
}

/// Checks a password against a PHC string; any malformed hash counts as a mismatch.
pub async fn verify(password: String, phc: String) -> bool {
    let Some(blocks) = PasswordHash::new(&phc)
        .ok()
        .and_then(|parsed| Params::try_from(&parsed).ok())
        .map(|params| params.block_count())
    else {
        return false;
    };
    WORK.run(blocks, move |memory| matches(&password, &phc, memory))
        .await
        .unwrap_or(false)
}

/// Recomputes the stored hash's output from its own algorithm, version, parameters and salt
/// and compares the two in constant time (`Output`'s equality).
fn matches(password: &str, phc: &str, memory: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, memory)
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// A hash of a fixed password, verified against when the user does not exist so that
/// unknown and known usernames take the same time; computed once per process.
pub async fn dummy_hash() -> String {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY
        .get_or_init(|| async {
            hash("sunbid-dummy-password".into())
                .await
                .unwrap_or_default()
        })
        .await
        .clone()
}

/// The minimum rules a new password must meet; returns a reason when it does not.
pub fn check_strength(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 10 {
        return Err("password must be at least 10 characters / 密码至少10个字符");
    }
    if password.len() > 1024 {
        return Err("password is too long / 密码过长");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), h.clone()).await);
        assert!(!verify("wrong".into(), h).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
    }

    /// Hashes written by the argon2 crate's own `PasswordHasher` (as stored before the work
    /// pool, and with other parameters) still verify.
    #[tokio::test]
    async fn verifies_hashes_from_the_plain_hasher() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut rand_core::OsRng);
        let plain = Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify("correct horse battery".into(), plain.clone()).await);
        assert!(!verify("correct horse batterz".into(), plain).await);

        let light = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw-light-params", &salt)
        .unwrap()
        .to_string();
        assert!(verify("pw-light-params".into(), light).await);

        // Ours verify with the crate's verifier too: the PHC string is the same format.
        let ours = hash("round trip both ways".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2::PasswordVerifier::verify_password(
                &Argon2::default(),
                b"round trip both ways",
                &parsed
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn tampered_hashes_do_not_verify() {
        let h = hash("correct horse battery".into()).await.unwrap();
        let wrong_version = h.replace("v=19", "v=7");
        assert!(!verify("correct horse battery".into(), wrong_version).await);
        let wrong_alg = h.replace("$argon2id$", "$scrypt$");
        assert!(!verify("correct horse battery".into(), wrong_alg).await);
        let no_hash = h.rsplit_once('$').unwrap().0.to_string();
        assert!(!verify("correct horse battery".into(), no_hash).await);
        assert_eq!(dummy_hash().await, dummy_hash().await);
    }
}
