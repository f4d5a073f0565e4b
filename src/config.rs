//! One typed configuration: defaults that run on a laptop, then a TOML file, then
//! `SUNBID_*` environment variables, then command-line flags.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, KeyLocation, KeySource, Purpose};
use crate::store::blob_s3::S3Settings;

/// Everything `sunbid serve` needs to run.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folder holding the SQLite database, blobs and generated keys.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means SQLite at `<data_dir>/sunbid.db`.
    pub database_url: Option<String>,
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// The URL users open; WebAuthn needs a host name (not an IP address) here.
    pub public_url: String,
    /// Load demo data when the database is empty.
    pub demo: bool,
    /// Largest tender document accepted, in bytes.
    pub max_document_bytes: u64,
    /// Largest sealed bid part (one envelope) accepted, in bytes; uploads stream to disk.
    pub max_bid_part_bytes: u64,
    /// Lifetime of a session token, in minutes.
    pub session_minutes: i64,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy: bool,
    /// Folder of rulebook TOML files overriding the built-in ones.
    pub rulebook_dir: Option<PathBuf>,
    /// A supervision rules TOML file replacing the built-in rules (src/supervision/rules.toml).
    pub supervision_rules: Option<PathBuf>,
    /// Log lines as JSON instead of human-readable text.
    pub log_json: bool,
    /// Seconds between polls of the job table.
    pub job_poll_seconds: u64,
    /// How long the demo's live auction runs after start-up, in seconds.
    pub demo_auction_seconds: u64,
    /// The demo live auction's anti-sniping window in seconds, instead of the rulebook's
    /// minutes (short browser tests); `None` keeps the rulebook's.
    pub demo_extend_seconds: Option<u64>,
    /// How long the public tender list may be served from memory, in milliseconds
    /// (0 disables the cache).
    pub list_cache_ms: u64,
    /// A TTF/OTF/TTC font with Chinese glyphs for the PDF evaluation report; `None` looks
    /// for Debian's fonts-wqy-microhei, fonts-wqy-zenhei or fonts-noto-cjk.
    pub report_font: Option<PathBuf>,
    /// Folder of the active signing keys and the retired public keys; `None` means
    /// systemd's `$CREDENTIALS_DIRECTORY` when set (resolved by [`Config::load`]), else
    /// `<data_dir>/keys`, where missing keys are created on first start.
    pub key_dir: Option<PathBuf>,
    /// The platform key (receipts, checkpoints) as a PKCS#8 file, e.g. a secret mount.
    pub platform_key_file: Option<PathBuf>,
    /// The session key (login tokens) as a PKCS#8 file, e.g. a secret mount.
    pub session_key_file: Option<PathBuf>,
    /// The platform key inline: base64 of the PKCS#8 DER, or PEM (secret).
    pub platform_key: Option<String>,
    /// The session key inline: base64 of the PKCS#8 DER, or PEM (secret).
    pub session_key: Option<String>,
    /// Upload temp files (`blobs/tmp/*.part`) untouched this long, in seconds, and held
    /// by no live upload, are removed at start-up and every few minutes.
    pub upload_tmp_max_age_seconds: u64,
    /// Seconds a client has to send a request's complete headers, counted from the moment
    /// the server waits for them: on a new connection from the accept, on a kept-alive one
    /// from the end of the previous response (so it is also the keep-alive idle timeout).
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may go without receiving a byte before the request fails and
    /// its connection closes; a body that keeps arriving (a large bid upload) is never cut.
    pub body_idle_timeout_secs: u64,
    /// Connections served at once on each listener; further ones wait to be accepted.
    pub max_connections: usize,
    /// Address of the separate Prometheus `/metrics` listener; `None` serves no metrics.
    /// The public listener never serves them.
    pub metrics_listen: Option<SocketAddr>,
    /// Sign and keep a checkpoint once the log has grown by this many events.
    pub checkpoint_every_events: u64,
    /// Sign and keep a checkpoint at least this often (seconds) while the log grows.
    pub checkpoint_every_seconds: u64,
    /// Verifier keys (`name+id+base64(0x04 ‖ key)`) of the witnesses whose cosignatures
    /// the platform accepts and shows.
    pub witness_keys: Vec<String>,
    /// The OCDS `ocid` prefix registered for this publisher (e.g. `ocds-abc123`).
    pub ocid_prefix: String,
    /// The OCDS publisher's name.
    pub ocds_publisher: String,
    /// The licence of the published OCDS data (a URL).
    pub ocds_license: String,
    /// Where blobs live: `None` for `<data_dir>/blobs`, or `s3://bucket/prefix` for an
    /// S3-compatible store whose endpoint and credentials come from the `AWS_*` environment.
    pub blob_url: Option<String>,
    /// The S3 endpoint (`None`: `AWS_ENDPOINT`, else AWS itself).
    pub s3_endpoint: Option<String>,
    /// The S3 region (`None`: `AWS_REGION`, else `us-east-1`).
    pub s3_region: Option<String>,
    /// The S3 access key id (`None`: `AWS_ACCESS_KEY_ID` or the usual AWS sources).
    pub s3_access_key_id: Option<String>,
    /// The S3 secret access key (secret; `None`: `AWS_SECRET_ACCESS_KEY` …).
    pub s3_secret_access_key: Option<String>,
    /// An `http(s)://` URL that receives each expert notification as a JSON POST (the
    /// trading centre's SMS or mail gateway); `None` writes notifications to the log. Its
    /// path or query may carry a token, so `Debug` shows only the origin.
    pub notify_webhook: Option<String>,
    /// Seconds the webhook has to answer one notification (1–120).
    pub notify_timeout_secs: u64,
    /// Export `sunbid serve`'s trace spans over OTLP/HTTP (protobuf) to this collector URL,
    /// e.g. `http://127.0.0.1:4318/v1/traces`; `None` (the default) exports nothing. Its
    /// path or query may carry a token, so `Debug` shows only the origin.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the exported spans.
    pub otlp_service_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://localhost:8080".into(),
            demo: false,
            max_document_bytes: 50 * 1024 * 1024,
            max_bid_part_bytes: 2 * 1024 * 1024 * 1024,
            session_minutes: 60,
            trust_proxy: false,
            rulebook_dir: None,
            supervision_rules: None,
            log_json: false,
            job_poll_seconds: 5,
            demo_auction_seconds: 300,
            demo_extend_seconds: None,
            list_cache_ms: 1000,
            report_font: None,
            key_dir: None,
            platform_key_file: None,
            session_key_file: None,
            platform_key: None,
            session_key: None,
            upload_tmp_max_age_seconds: 3600,
            header_read_timeout_secs: 30,
            body_idle_timeout_secs: 60,
            max_connections: 1024,
            metrics_listen: None,
            checkpoint_every_events: 100,
            checkpoint_every_seconds: 60,
            witness_keys: Vec::new(),
            ocid_prefix: "ocds-sunbid".into(),
            ocds_publisher: "Sunbid".into(),
            ocds_license: "https://creativecommons.org/licenses/by/4.0/".into(),
            blob_url: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            notify_webhook: None,
            notify_timeout_secs: 10,
            otlp_endpoint: None,
            otlp_service_name: "sunbid".into(),
        }
    }
}

// The database URL may carry a password, so `Debug` is written by hand.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("demo", &self.demo)
            .field("max_document_bytes", &self.max_document_bytes)
            .field("max_bid_part_bytes", &self.max_bid_part_bytes)
            .field("session_minutes", &self.session_minutes)
            .field("trust_proxy", &self.trust_proxy)
            .field("rulebook_dir", &self.rulebook_dir)
            .field("supervision_rules", &self.supervision_rules)
            .field("log_json", &self.log_json)
            .field("job_poll_seconds", &self.job_poll_seconds)
            .field("demo_auction_seconds", &self.demo_auction_seconds)
            .field("demo_extend_seconds", &self.demo_extend_seconds)
            .field("list_cache_ms", &self.list_cache_ms)
            .field("report_font", &self.report_font)
            .field("key_dir", &self.key_dir)
            .field("platform_key_file", &self.platform_key_file)
            .field("session_key_file", &self.session_key_file)
            .field("platform_key", &self.platform_key.as_ref().map(|_| "***"))
            .field("session_key", &self.session_key.as_ref().map(|_| "***"))
            .field(
                "upload_tmp_max_age_seconds",
                &self.upload_tmp_max_age_seconds,
            )
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("body_idle_timeout_secs", &self.body_idle_timeout_secs)
            .field("max_connections", &self.max_connections)
            .field("metrics_listen", &self.metrics_listen)
            .field("checkpoint_every_events", &self.checkpoint_every_events)
            .field("checkpoint_every_seconds", &self.checkpoint_every_seconds)
            .field("witness_keys", &self.witness_keys)
            .field("ocid_prefix", &self.ocid_prefix)
            .field("ocds_publisher", &self.ocds_publisher)
            .field("ocds_license", &self.ocds_license)
            .field("blob_url", &self.blob_url)
            .field("s3", &self.s3_settings())
            .field(
                "notify_webhook",
                &self
                    .notify_webhook
                    .as_deref()
                    .map(crate::expert::notify::redact_webhook),
            )
            .field("notify_timeout_secs", &self.notify_timeout_secs)
            .field(
                "otlp_endpoint",
                &self
                    .otlp_endpoint
                    .as_deref()
                    .map(crate::expert::notify::redact_webhook),
            )
            .field("otlp_service_name", &self.otlp_service_name)
            .finish()
    }
}

/// Hides the password part of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Overrides given on the command line; `None` leaves the layer below in place.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_key_file: Option<PathBuf>,
    // Unset must leave `SUNBID_METRICS_LISTEN` (or the file's key) in place, not null it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
}

/// The configuration keys, as accepted from the environment (`SUNBID_<KEY>`).
const KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "listen",
    "public_url",
    "demo",
    "max_document_bytes",
    "max_bid_part_bytes",
    "session_minutes",
    "trust_proxy",
    "rulebook_dir",
    "supervision_rules",
    "log_json",
    "job_poll_seconds",
    "demo_auction_seconds",
    "demo_extend_seconds",
    "list_cache_ms",
    "report_font",
    "key_dir",
    "platform_key_file",
    "session_key_file",
    "platform_key",
    "session_key",
    "upload_tmp_max_age_seconds",
    "header_read_timeout_secs",
    "body_idle_timeout_secs",
    "max_connections",
    "metrics_listen",
    "checkpoint_every_events",
    "checkpoint_every_seconds",
    "witness_keys",
    "ocid_prefix",
    "ocds_publisher",
    "ocds_license",
    "blob_url",
    "s3_endpoint",
    "s3_region",
    "s3_access_key_id",
    "s3_secret_access_key",
    "notify_webhook",
    "notify_timeout_secs",
    "otlp_endpoint",
    "otlp_service_name",
];

impl Config {
    /// Loads defaults ← file (if it exists) ← `SUNBID_*` environment ← flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("SUNBID_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("sunbid.toml"));
        if file.exists() {
            fig = fig.merge(Toml::file(file));
        }
        // systemd's LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY: the natural key
        // folder when nothing more specific is configured.
        if let Some(creds) = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|v| !v.is_empty()) {
            fig = fig.merge(Serialized::default("key_dir", PathBuf::from(creds)));
        }
        // Only known keys: other SUNBID_* variables (test settings, say) are not config.
        fig.merge(Env::prefixed("SUNBID_").only(KEYS))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("sunbid.db").display()))
    }

    /// The S3 settings for a `blob_url = s3://…` store.
    pub fn s3_settings(&self) -> S3Settings {
        S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
        }
    }

    /// Where blobs live.
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    /// The folder of the signing keys and retired public keys.
    pub fn key_dir(&self) -> PathBuf {
        self.key_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"))
    }

    /// Where the keys of `purpose` come from. Precedence: `<purpose>_key_file`, then the
    /// inline `<purpose>_key` (both at once is an error), then `<key_dir>/<purpose>-ed25519.pk8`;
    /// only the data-folder default is created when missing.
    pub fn key_location(&self, purpose: Purpose) -> Result<KeyLocation<'_>, KeyError> {
        let (file, inline) = match purpose {
            Purpose::Platform => (&self.platform_key_file, &self.platform_key),
            Purpose::Session => (&self.session_key_file, &self.session_key),
        };
        let inline = inline.as_deref().filter(|s| !s.trim().is_empty());
        let source = match (file, inline) {
            (Some(_), Some(_)) => return Err(KeyError::Conflict(purpose.name())),
            (Some(f), None) => KeySource::File(f.clone()),
            (None, Some(_)) => KeySource::Inline,
            (None, None) => {
                let path = self.key_dir().join(purpose.file_name());
                if self.key_dir.is_some() {
                    KeySource::KeyDir(path)
                } else {
                    KeySource::DataDir(path)
                }
            }
        };
        Ok(KeyLocation {
            purpose,
            source,
            inline,
            key_dir: self.key_dir(),
        })
    }

    /// Whether cookies must carry `Secure` (only when served over HTTPS).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The scheme-host-port origin of the public URL, for Origin checks.
    pub fn public_origin(&self) -> String {
        let url = self.public_url.trim_end_matches('/');
        match url.find("://") {
            Some(i) => match url[i + 3..].find('/') {
                Some(j) => url[..i + 3 + j].to_string(),
                None => url.to_string(),
            },
            None => url.to_string(),
        }
    }

    /// The log origin line of audit checkpoints: the public host and path, no scheme.
    pub fn log_origin(&self) -> String {
        let url = self.public_url.trim_end_matches('/');
        let host = url.split("://").nth(1).unwrap_or(url);
        format!("{host}/sunbid-audit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_database_password() {
        let cfg = Config {
            database_url: Some("postgres://app:s3cret@db:5432/sunbid".into()),
            ..Config::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@db:5432/sunbid"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn notifier_settings_come_from_the_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            let cfg = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(cfg.notify_webhook, None, "the log by default");
            assert_eq!(cfg.notify_timeout_secs, 10);
            jail.create_file("sunbid.toml", "notify_timeout_secs = 30")?;
            // The variable the notifier read before the key moved here still works.
            jail.set_env(
                "SUNBID_NOTIFY_WEBHOOK",
                "https://sms.example.cn/hook?token=s3cret",
            );
            let cfg = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(
                cfg.notify_webhook.as_deref(),
                Some("https://sms.example.cn/hook?token=s3cret")
            );
            assert_eq!(cfg.notify_timeout_secs, 30);
            let shown = format!("{cfg:?}");
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("https://sms.example.cn/***"), "{shown}");
            jail.set_env("SUNBID_NOTIFY_TIMEOUT_SECS", "soon");
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn environment_sets_known_keys_and_ignores_others() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SUNBID_PUBLIC_URL", "http://bid.local:9000");
            jail.set_env("SUNBID_TEST_PG_URL", "postgres://elsewhere");
            jail.create_file("sunbid.toml", "session_minutes = 15")?;
            let cfg = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(cfg.public_url, "http://bid.local:9000");
            assert_eq!(cfg.session_minutes, 15);
            let flags = Overrides {
                public_url: Some("http://flag:1".into()),
                ..Overrides::default()
            };
            let cfg = Config::load(None, &flags).map_err(|e| e.to_string())?;
            assert_eq!(cfg.public_url, "http://flag:1");
            Ok(())
        });
    }

    #[test]
    fn debug_hides_inline_keys() {
        let cfg = Config {
            platform_key: Some("MC4CAQAwBQYDK2VwBCIEINTuctv5".into()),
            ..Config::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("MC4CAQ"), "{shown}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn key_sources_follow_the_documented_precedence() {
        figment::Jail::expect_with(|jail| {
            let load = || Config::load(None, &Overrides::default()).map_err(|e| e.to_string());
            let cfg = load()?;
            let loc = cfg
                .key_location(Purpose::Platform)
                .map_err(|e| e.to_string())?;
            assert!(loc.source.in_data_dir());

            jail.set_env("CREDENTIALS_DIRECTORY", "/run/credentials/sunbid.service");
            let cfg = load()?;
            let loc = cfg
                .key_location(Purpose::Session)
                .map_err(|e| e.to_string())?;
            assert_eq!(
                loc.source,
                KeySource::KeyDir(PathBuf::from(
                    "/run/credentials/sunbid.service/session-ed25519.pk8"
                ))
            );

            jail.set_env("SUNBID_KEY_DIR", "/etc/sunbid/keys");
            jail.set_env("SUNBID_PLATFORM_KEY_FILE", "/run/secrets/platform.pk8");
            jail.set_env(
                "SUNBID_SESSION_KEY",
                "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC",
            );
            let cfg = load()?;
            assert_eq!(cfg.key_dir(), PathBuf::from("/etc/sunbid/keys"));
            let p = cfg
                .key_location(Purpose::Platform)
                .map_err(|e| e.to_string())?;
            assert_eq!(
                p.source,
                KeySource::File("/run/secrets/platform.pk8".into())
            );
            let s = cfg
                .key_location(Purpose::Session)
                .map_err(|e| e.to_string())?;
            assert_eq!(s.source, KeySource::Inline);
            assert!(
                s.inline.is_some_and(|k| k.ends_with("dVhC")),
                "base64 kept as text"
            );

            jail.set_env("SUNBID_SESSION_KEY_FILE", "/run/secrets/session.pk8");
            let cfg = load()?;
            assert!(matches!(
                cfg.key_location(Purpose::Session),
                Err(KeyError::Conflict("session"))
            ));
            Ok(())
        });
    }

    #[test]
    fn origin_and_log_name_come_from_public_url() {
        let cfg = Config {
            public_url: "https://bid.example.cn/portal/".into(),
            ..Config::default()
        };
        assert_eq!(cfg.public_origin(), "https://bid.example.cn");
        assert_eq!(cfg.log_origin(), "bid.example.cn/portal/sunbid-audit");
        assert!(cfg.secure_cookies());
    }
}
