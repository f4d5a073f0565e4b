//! The server's Ed25519 key pairs: one signs audit checkpoints (and later bid receipts),
//! one signs session tokens. Generated on first start and kept as PKCS#8 files readable
//! by the server's user only; several server processes share them through the data dir.

use std::fs;
use std::io::Write;
use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// Key loading failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an Ed25519 PKCS#8 document.
    #[error("key file {0} is not an Ed25519 PKCS#8 key")]
    Malformed(String),
}

/// An Ed25519 key pair together with its PKCS#8 encoding (needed by jsonwebtoken).
pub struct SigningKey {
    /// The key pair, for ring signatures.
    pub pair: Ed25519KeyPair,
    /// The PKCS#8 v2 document.
    pkcs8: Vec<u8>,
}

// Never print key material.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", hex::encode(self.public()))
    }
}

impl SigningKey {
    /// The 32-byte public key.
    pub fn public(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// The PKCS#8 document (secret).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A fresh random key, not persisted.
    pub fn generate() -> Result<Self, KeyError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| KeyError::Malformed("<generated>".into()))?;
        Self::from_pkcs8(doc.as_ref(), "<generated>")
    }

    fn from_pkcs8(bytes: &[u8], name: &str) -> Result<Self, KeyError> {
        let pair =
            Ed25519KeyPair::from_pkcs8(bytes).map_err(|_| KeyError::Malformed(name.to_string()))?;
        Ok(Self {
            pair,
            pkcs8: bytes.to_vec(),
        })
    }

    /// Loads the key at `path`, creating it (mode 0600) when it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let name = path.display().to_string();
        let io = |source| KeyError::Io {
            path: name.clone(),
            source,
        };
        if path.exists() {
            let bytes = fs::read(path).map_err(io)?;
            return Self::from_pkcs8(&bytes, &name);
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let key = Self::generate()?;
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(path) {
            Ok(mut file) => {
                file.write_all(&key.pkcs8).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = fs::read(path).map_err(io)?;
                Self::from_pkcs8(&bytes, &name)
            }
            Err(e) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_is_reloaded_identically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/platform.pk8");
        let a = SigningKey::load_or_create(&path).unwrap();
        let b = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(a.public(), b.public());
        assert!(!format!("{a:?}").contains(&hex::encode(a.pkcs8())));
    }
}
