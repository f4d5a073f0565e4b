//! The server's Ed25519 signing keys and their key rings: the platform key signs audit
//! checkpoints and bid receipts, the session key signs login tokens.
//!
//! Each purpose has one active key (the only one that signs) and any number of retired
//! public keys, so that what an earlier key signed still verifies after a rotation. A key is
//! named by its key id (`kid`): the first 8 bytes of SHA-256 of the raw 32-byte public key,
//! in lower-case hex. Where keys come from, in order (docs/sealed-bidding.md, "Signing
//! keys"): a key file option, an inline base64 key, the key folder (`key_dir`, systemd's
//! `$CREDENTIALS_DIRECTORY`, or `<data_dir>/keys`). Only the data-folder default creates a
//! missing key, for first runs and the demo; everywhere else a missing key is an error.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// Key loading failure: every variant names the file and says what to do, for the start-up
/// error message (the key material itself is never part of it).
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
    /// A configured key file does not exist (only the data-folder default is created).
    #[error(
        "key file {0} does not exist; create it with `sunbid keys generate --out {0}` or fix the path"
    )]
    Missing(String),
    /// Not a PKCS#8 document (or PEM `PRIVATE KEY`, or base64 of one).
    #[error("key {0} is not a PKCS#8 private key (DER, PEM or base64)")]
    Malformed(String),
    /// A PKCS#8 key of another algorithm (RSA, P-256, …).
    #[error("key {0} is not an Ed25519 key; the platform signs with Ed25519 only")]
    WrongAlgorithm(String),
    /// The private key file can be read or changed by other users.
    #[error(
        "key file {path} is too open (mode {mode:03o}): other users could read or replace it; \
         run `chmod 600 {path}` (in Kubernetes set defaultMode: 0400 on the Secret volume)"
    )]
    TooOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Both a key file and an inline key were configured for the same purpose.
    #[error("both {0}_key_file and {0}_key are set; configure one source for the {0} key")]
    Conflict(&'static str),
    /// A retired public key file that cannot be read as one.
    #[error("retired key file {0} is not a PEM or DER Ed25519 public key")]
    BadPublic(String),
    /// `keys rotate` cannot replace a key that did not come from a writable file.
    #[error("{0}")]
    Rotate(String),
}

/// What a key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Audit checkpoints and bid receipts.
    Platform,
    /// Session tokens (JWT).
    Session,
}

impl Purpose {
    /// `platform` or `session`, as in configuration keys and messages.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Platform => "platform",
            Purpose::Session => "session",
        }
    }

    /// Parses `platform` or `session`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "platform" => Some(Purpose::Platform),
            "session" => Some(Purpose::Session),
            _ => None,
        }
    }

    /// The active key's file name in a key folder.
    pub fn file_name(self) -> String {
        format!("{}-ed25519.pk8", self.name())
    }

    /// The file name of a retired public key in a key folder.
    pub fn retired_file_name(self, kid: &str) -> String {
        format!("{}-ed25519.{kid}.pub", self.name())
    }
}

/// The key id of a raw Ed25519 public key: hex of the first 8 bytes of its SHA-256.
pub fn kid_of(public: &[u8; 32]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, public);
    hex::encode(d.as_ref().get(..8).unwrap_or_default())
}

/// An Ed25519 key pair together with its PKCS#8 encoding (needed by jsonwebtoken).
pub struct SigningKey {
    /// The key pair, for ring signatures.
    pub pair: Ed25519KeyPair,
    /// The PKCS#8 document.
    pkcs8: Vec<u8>,
}

// Never print key material.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(kid {})", self.kid())
    }
}

impl SigningKey {
    /// The 32-byte public key.
    pub fn public(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// The key id (see [`kid_of`]).
    pub fn kid(&self) -> String {
        kid_of(&self.public())
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

    /// Reads PKCS#8 DER (v1 as `openssl genpkey` writes it, or v2), or a PEM `PRIVATE KEY`,
    /// or base64 of the DER. `name` says where it came from, for errors.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(bytes).ok().map(str::trim);
        let der = match text {
            Some(t) if t.contains("-----BEGIN") => {
                let start = t.find("-----BEGIN").unwrap_or(0);
                match pem_rfc7468::decode_vec(t.get(start..).unwrap_or(t).as_bytes()) {
                    Ok(("PRIVATE KEY", der)) => der,
                    Ok((label, _)) if label.contains("PRIVATE KEY") => {
                        // "RSA PRIVATE KEY", "EC PRIVATE KEY": not PKCS#8, not Ed25519.
                        return Err(KeyError::WrongAlgorithm(name.into()));
                    }
                    _ => return Err(KeyError::Malformed(name.into())),
                }
            }
            // DER starts with a SEQUENCE tag (0x30), which is not printable text.
            Some(t) if !t.is_empty() && !bytes.starts_with(&[0x30]) => {
                let compact: String = t.split_whitespace().collect();
                STANDARD
                    .decode(compact)
                    .map_err(|_| KeyError::Malformed(name.into()))?
            }
            _ => bytes.to_vec(),
        };
        Self::from_pkcs8(&der, name)
    }

    fn from_pkcs8(bytes: &[u8], name: &str) -> Result<Self, KeyError> {
        // `maybe_unchecked` also takes PKCS#8 v1 (no public key inside), which is what
        // OpenSSL writes; v2 documents still have their public key checked.
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes).map_err(|e| {
            if e.to_string() == "WrongAlgorithm" {
                KeyError::WrongAlgorithm(name.to_string())
            } else {
                KeyError::Malformed(name.to_string())
            }
        })?;
        Ok(Self {
            pair,
            pkcs8: bytes.to_vec(),
        })
    }

    /// Loads a private key file, refusing one that other users may read or change.
    pub fn load_file(path: &Path) -> Result<Self, KeyError> {
        let name = path.display().to_string();
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::Missing(name));
            }
            Err(source) => return Err(KeyError::Io { path: name, source }),
        };
        check_private_mode(path, &meta)?;
        let bytes = fs::read(path).map_err(|source| KeyError::Io {
            path: name.clone(),
            source,
        })?;
        Self::parse(&bytes, &name)
    }

    /// Loads the key at `path`, creating it (mode 0600) when it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        if path.exists() {
            return Self::load_file(path);
        }
        let key = Self::generate()?;
        match write_private(path, &key.pkcs8, false) {
            Ok(()) => Ok(key),
            // Another process created it first: use theirs.
            Err(KeyError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Self::load_file(path)
            }
            Err(e) => Err(e),
        }
    }
}

/// Group- or world-writable, or world-readable: refused. Group-readable (a Kubernetes
/// Secret with `fsGroup`, say) is allowed with a warning.
#[cfg(unix)]
fn check_private_mode(path: &Path, meta: &fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(KeyError::TooOpen {
            path: path.display().to_string(),
            mode,
        });
    }
    if mode & 0o040 != 0 {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:03o}"),
            "a signing key file is readable by its group; 0400 or 0600 is safer"
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

/// Writes a private key with mode 0600: a new file (`replace = false`, fails with
/// `AlreadyExists`), or atomically over an existing one through a temporary file.
fn write_private(path: &Path, pkcs8: &[u8], replace: bool) -> Result<(), KeyError> {
    let name = path.display().to_string();
    let io = |source| KeyError::Io {
        path: name.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let target = if replace {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", uuid::Uuid::now_v7().simple()));
        PathBuf::from(tmp)
    } else {
        path.to_path_buf()
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&target).map_err(io)?;
    let written = file.write_all(pkcs8).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&target);
        return Err(io(e));
    }
    if replace && let Err(e) = fs::rename(&target, path) {
        let _ = fs::remove_file(&target);
        return Err(io(e));
    }
    Ok(())
}

/// The fixed DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): the whole
/// structure is this prefix and the 32-byte key.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A public key that no longer signs but still verifies what it signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetiredKey {
    /// Its key id.
    pub kid: String,
    /// The raw Ed25519 public key.
    pub public: [u8; 32],
    /// When it stopped signing, if the file says (`Retired: <RFC 3339>` before the PEM).
    pub retired_at: Option<DateTime<Utc>>,
}

impl RetiredKey {
    /// The retired key file: a `Retired:` line, then the PEM SubjectPublicKeyInfo (the
    /// text before the PEM block is ignored by PEM readers, RFC 7468 §2).
    pub fn to_file_text(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.public);
        let pem = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &der)
            .unwrap_or_default();
        let retired = self
            .retired_at
            .map(|t| {
                format!(
                    "Retired: {}\n",
                    t.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            })
            .unwrap_or_default();
        format!("Sunbid retired signing key {}\n{retired}{pem}", self.kid)
    }

    /// Reads a retired key file (see [`Self::to_file_text`]); also a bare PEM or DER
    /// SubjectPublicKeyInfo as `openssl pkey -pubout` writes it.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::BadPublic(name.to_string());
        let (der, retired_at) = match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN") => {
                let start = text.find("-----BEGIN").unwrap_or(0);
                let (head, pem) = text.split_at(start);
                let retired_at = head
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("Retired:"))
                    .map(|t| DateTime::parse_from_rfc3339(t.trim()).map_err(|_| bad()))
                    .transpose()?
                    .map(|t| t.with_timezone(&Utc));
                let (label, der) =
                    pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|_| bad())?;
                if label != "PUBLIC KEY" {
                    return Err(bad());
                }
                (der, retired_at)
            }
            _ => (bytes.to_vec(), None),
        };
        let key = der
            .strip_prefix(&SPKI_PREFIX[..])
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(bad)?;
        Ok(Self {
            kid: kid_of(&key),
            public: key,
            retired_at,
        })
    }
}

/// Where a purpose's active key comes from (decided by the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A key file named by `<purpose>_key_file` (must exist).
    File(PathBuf),
    /// Inline base64 (`SUNBID_<PURPOSE>_KEY`); the value itself is not kept here.
    Inline,
    /// `<key_dir>/<purpose>-ed25519.pk8` in a configured key folder (must exist).
    KeyDir(PathBuf),
    /// `<data_dir>/keys/<purpose>-ed25519.pk8`, created on first start.
    DataDir(PathBuf),
}

impl KeySource {
    /// Whether the key lives in the data folder, where a copy of the data carries it.
    pub fn in_data_dir(&self) -> bool {
        matches!(self, KeySource::DataDir(_))
    }

    /// Where the key is, for logs (never the key).
    pub fn describe(&self) -> String {
        match self {
            KeySource::File(p) | KeySource::KeyDir(p) | KeySource::DataDir(p) => {
                p.display().to_string()
            }
            KeySource::Inline => "inline (environment or configuration)".into(),
        }
    }
}

/// What the key ring of one purpose is loaded from.
#[derive(Clone, Debug)]
pub struct KeyLocation<'a> {
    /// What the keys sign.
    pub purpose: Purpose,
    /// The active key's source.
    pub source: KeySource,
    /// The inline key, when `source` is [`KeySource::Inline`].
    pub inline: Option<&'a str>,
    /// The folder scanned for retired public keys.
    pub key_dir: PathBuf,
}

impl KeyLocation<'_> {
    /// The same location, but a missing data-folder key is an error instead of being
    /// created (for the `keys` commands, which only read or replace existing keys).
    pub fn existing(&self) -> Self {
        let source = match &self.source {
            KeySource::DataDir(p) => KeySource::File(p.clone()),
            other => other.clone(),
        };
        Self {
            source,
            ..self.clone()
        }
    }
}

/// One purpose's keys: the active signing key and the retired public keys.
#[derive(Debug)]
pub struct KeyRing {
    purpose: Purpose,
    active: Arc<SigningKey>,
    retired: Vec<RetiredKey>,
}

/// A key of a ring as published: the active one or a retired one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// Key id.
    pub kid: String,
    /// Raw public key.
    pub public: [u8; 32],
    /// `None` for the active key.
    pub retired_at: Option<DateTime<Utc>>,
    /// Whether this is the active (signing) key.
    pub active: bool,
}

impl KeyRing {
    /// A ring of one active key and no retired ones (tests, tools).
    pub fn single(purpose: Purpose, key: SigningKey) -> Self {
        Self {
            purpose,
            active: Arc::new(key),
            retired: Vec::new(),
        }
    }

    /// Loads the active key from its source and the retired public keys of the key folder.
    pub fn load(loc: &KeyLocation<'_>) -> Result<Self, KeyError> {
        let active = match &loc.source {
            KeySource::File(p) | KeySource::KeyDir(p) => SigningKey::load_file(p)?,
            KeySource::DataDir(p) => SigningKey::load_or_create(p)?,
            KeySource::Inline => {
                let what = format!("SUNBID_{}_KEY", loc.purpose.name().to_uppercase());
                SigningKey::parse(loc.inline.unwrap_or_default().as_bytes(), &what)?
            }
        };
        let retired = retired_keys(loc.purpose, &loc.key_dir)?
            .into_iter()
            .filter(|r| r.kid != active.kid())
            .collect();
        Ok(Self {
            purpose: loc.purpose,
            active: Arc::new(active),
            retired,
        })
    }

    /// What these keys sign.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The signing key.
    pub fn active(&self) -> &Arc<SigningKey> {
        &self.active
    }

    /// The retired public keys.
    pub fn retired(&self) -> &[RetiredKey] {
        &self.retired
    }

    /// The public key with id `kid`, active or retired.
    pub fn find(&self, kid: &str) -> Option<PublicKeyInfo> {
        self.all().into_iter().find(|k| k.kid == kid)
    }

    /// Every key, the active one first.
    pub fn all(&self) -> Vec<PublicKeyInfo> {
        let mut out = vec![PublicKeyInfo {
            kid: self.active.kid(),
            public: self.active.public(),
            retired_at: None,
            active: true,
        }];
        out.extend(self.retired.iter().map(|r| PublicKeyInfo {
            kid: r.kid.clone(),
            public: r.public,
            retired_at: r.retired_at,
            active: false,
        }));
        out
    }
}

/// The retired public keys of `purpose` in `dir` (none when the folder does not exist),
/// sorted by key id so every process lists them alike.
pub fn retired_keys(purpose: Purpose, dir: &Path) -> Result<Vec<RetiredKey>, KeyError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KeyError::Io {
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let prefix = format!("{}-ed25519.", purpose.name());
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| KeyError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if !(file_name.starts_with(&prefix) && file_name.ends_with(".pub")) {
            continue;
        }
        let path = entry.path();
        let name = path.display().to_string();
        let bytes = fs::read(&path).map_err(|source| KeyError::Io {
            path: name.clone(),
            source,
        })?;
        out.push(RetiredKey::parse(&bytes, &name)?);
    }
    out.sort_by(|a, b| a.kid.cmp(&b.kid));
    out.dedup_by(|a, b| a.kid == b.kid);
    Ok(out)
}

/// What `sunbid keys rotate` did.
#[derive(Debug)]
pub struct Rotation {
    /// The key that stopped signing.
    pub old_kid: String,
    /// The key that signs from the next start on.
    pub new_kid: String,
    /// Where the old public key was kept.
    pub retired_file: PathBuf,
    /// Where the new private key was written.
    pub new_file: PathBuf,
}

/// Retires the active key of `loc` (its public half goes to the key folder as
/// `<purpose>-ed25519.<kid>.pub`) and writes a fresh key to `out`, or over the active key's
/// file when `out` is `None`. Running servers keep their keys until they restart.
pub fn rotate(
    loc: &KeyLocation<'_>,
    now: DateTime<Utc>,
    out: Option<&Path>,
) -> Result<Rotation, KeyError> {
    // Rotating a data-folder key that was never created makes no sense: require it.
    let ring = KeyRing::load(&loc.existing())?;
    let new_file = match (out, &loc.source) {
        (Some(p), _) => p.to_path_buf(),
        (None, KeySource::File(p) | KeySource::KeyDir(p) | KeySource::DataDir(p)) => p.clone(),
        (None, KeySource::Inline) => {
            return Err(KeyError::Rotate(
                "the active key is inline (environment or configuration): give --out FILE for \
                 the new key and put it where the old one was"
                    .into(),
            ));
        }
    };
    let old = ring.active();
    let retired = RetiredKey {
        kid: old.kid(),
        public: old.public(),
        retired_at: Some(now),
    };
    let retired_file = loc
        .key_dir
        .join(loc.purpose.retired_file_name(&retired.kid));
    fs::create_dir_all(&loc.key_dir).map_err(|source| KeyError::Io {
        path: loc.key_dir.display().to_string(),
        source,
    })?;
    fs::write(&retired_file, retired.to_file_text()).map_err(|source| KeyError::Io {
        path: retired_file.display().to_string(),
        source,
    })?;
    let new = SigningKey::generate()?;
    write_private(&new_file, new.pkcs8(), out.is_none())?;
    Ok(Rotation {
        old_kid: retired.kid,
        new_kid: new.kid(),
        retired_file,
        new_file,
    })
}

/// Writes a fresh key to `path` (which must not exist yet), mode 0600; returns its kid.
pub fn generate_file(path: &Path) -> Result<String, KeyError> {
    let key = SigningKey::generate()?;
    write_private(path, key.pkcs8(), false)?;
    Ok(key.kid())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn loc(purpose: Purpose, source: KeySource, key_dir: &Path) -> KeyLocation<'static> {
        KeyLocation {
            purpose,
            source,
            inline: None,
            key_dir: key_dir.to_path_buf(),
        }
    }

    #[test]
    fn created_key_is_reloaded_identically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/platform.pk8");
        let a = SigningKey::load_or_create(&path).unwrap();
        let b = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(a.public(), b.public());
        assert!(!format!("{a:?}").contains(&hex::encode(a.pkcs8())));
        assert_eq!(a.kid().len(), 16);
    }

    #[test]
    fn der_pem_and_base64_forms_load_the_same_key() {
        let key = SigningKey::generate().unwrap();
        let pem =
            pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, key.pkcs8())
                .unwrap();
        let b64 = STANDARD.encode(key.pkcs8());
        for form in [key.pkcs8().to_vec(), pem.into_bytes(), b64.into_bytes()] {
            assert_eq!(SigningKey::parse(&form, "k").unwrap().kid(), key.kid());
        }
        // PKCS#8 v1 as `openssl genpkey -algorithm ed25519` writes it (RFC 8410 §10.3).
        let v1 = STANDARD
            .decode("MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC")
            .unwrap();
        let k = SigningKey::parse(&v1, "openssl").unwrap();
        assert_eq!(
            hex::encode(k.public()),
            "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
        );
    }

    #[test]
    fn garbage_and_other_algorithms_are_refused_clearly() {
        assert!(matches!(
            SigningKey::parse(b"hello world", "k"),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            SigningKey::parse(&[0x30, 0x03, 0x02, 0x01, 0x00], "k"),
            Err(KeyError::Malformed(_))
        ));
        // A P-256 PKCS#8 key (RFC 5915 inside RFC 5208), generated by OpenSSL.
        let p256 = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIkkRszFZNbPKGV8zG3gda9dtC8z1QY1fH9rDIyXxr0ihRANCAASq0T8tSWhR4SCSDxzjGd7E5m9RqYb5fZjSgtBnTOj8BnRKZo/tXOKOv7ydd2ywZbmtYJk6SiebCvSf4dR1FGlY";
        let der = STANDARD.decode(p256).unwrap();
        assert!(matches!(
            SigningKey::parse(&der, "k"),
            Err(KeyError::WrongAlgorithm(_))
        ));
        assert!(matches!(
            SigningKey::parse(
                b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                "k"
            ),
            Err(KeyError::WrongAlgorithm(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn missing_and_too_open_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.pk8");
        assert!(matches!(
            SigningKey::load_file(&path),
            Err(KeyError::Missing(_))
        ));
        fs::write(&path, SigningKey::generate().unwrap().pkcs8()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = SigningKey::load_file(&path).unwrap_err();
        assert!(
            matches!(err, KeyError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(SigningKey::load_file(&path).is_ok());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o440)).unwrap();
        assert!(
            SigningKey::load_file(&path).is_ok(),
            "group-readable only warns"
        );
    }

    #[test]
    fn retired_key_files_round_trip_and_accept_openssl_output() {
        let key = SigningKey::generate().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = RetiredKey {
            kid: key.kid(),
            public: key.public(),
            retired_at: Some(now),
        };
        assert_eq!(
            RetiredKey::parse(r.to_file_text().as_bytes(), "f").unwrap(),
            r
        );
        // `openssl pkey -pubout` of the RFC 8410 §10.3 key: no Retired line.
        let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let p = RetiredKey::parse(pem.as_bytes(), "f").unwrap();
        assert_eq!(p.retired_at, None);
        assert_eq!(
            hex::encode(p.public),
            "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
        );
        assert!(RetiredKey::parse(b"nonsense", "f").is_err());
    }

    #[test]
    fn rotation_keeps_the_old_public_key_and_signs_with_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let active = dir.path().join(Purpose::Platform.file_name());
        let l = loc(
            Purpose::Platform,
            KeySource::KeyDir(active.clone()),
            dir.path(),
        );
        assert!(matches!(KeyRing::load(&l), Err(KeyError::Missing(_))));
        let first = generate_file(&active).unwrap();
        let ring = KeyRing::load(&l).unwrap();
        assert_eq!(ring.active().kid(), first);
        assert!(ring.retired().is_empty());

        let rot = rotate(&l, Utc::now(), None).unwrap();
        assert_eq!(rot.old_kid, first);
        let ring = KeyRing::load(&l).unwrap();
        assert_eq!(ring.active().kid(), rot.new_kid);
        let old = ring.find(&first).expect("the old key is still known");
        assert!(!old.active && old.retired_at.is_some());
        assert_eq!(ring.all().len(), 2);
        // The session ring of the same folder does not pick up platform keys.
        let s = loc(
            Purpose::Session,
            KeySource::DataDir(dir.path().join("s.pk8")),
            dir.path(),
        );
        assert!(KeyRing::load(&s).unwrap().retired().is_empty());
    }
}
