//! Passkeys (WebAuthn through webauthn-rs): registering them, logging in with them, and the
//! assertion and signature checks that the expert check-in and document signing build on
//! (DESIGN.md "Check-in").
//!
//! Every ceremony requires user verification (fingerprint, face, or PIN):
//! `start/finish_passkey_registration` and `_authentication` always ask for it and refuse a
//! response without the UV flag. The state of a ceremony lives in the database
//! (`passkey_ceremony`), never in the client: it is single-use (deleted when the ceremony is
//! finished, whatever the outcome) and expires after [`CEREMONY_TTL_MS`]. The signature
//! counter of every credential only goes up; a counter that does not (a cloned
//! authenticator) is refused and recorded as the audit event `passkey.counter_regression`,
//! which supervision turns into an alert for the regulator.
//!
//! Audit: registering and removing a passkey are state changes and append `passkey.register`
//! / `passkey.remove` in the same transaction. A login is not: like a password login it only
//! proves who is asking (it moves the credential's counter and last-use time, bookkeeping
//! that the next assertion checks), so it is logged, not audited — a public audit entry per
//! login would also tell everyone when each expert is active. The check-in that uses
//! [`verify_assertion`] records its own event with the credential and counter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
    Webauthn, WebauthnBuilder, WebauthnError,
};

use super::ratelimit::LoginLimiter;
use crate::audit::{self, Actor};
use crate::clock::{from_millis, to_millis};
use crate::config::Config;
use crate::error::{Coded, Kind};
use crate::ids::{is_id, new_id};
use crate::store::{Db, StoreError, Tx, is_unique_violation};
use crate::{q_all, q_exec, q_opt};

/// How long a started ceremony may be finished, in milliseconds (the browser's own timeout
/// is set to the same).
pub const CEREMONY_TTL_MS: i64 = 5 * 60 * 1000;

/// The longest passkey name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// What can go wrong with a passkey; each variant has a stable code ([`PasskeyError::code`])
/// and one [`Kind`] (the HTTP layer maps it to a status).
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The public URL's host is an IP address: browsers and webauthn-rs refuse those.
    #[error(
        "passkeys need a host name, not an IP address: open {0} (or set public_url to a host name) / 通行密钥需要通过域名访问，请打开 {0}"
    )]
    NeedsHostname(String),
    /// The public URL cannot serve as a WebAuthn relying party.
    #[error("passkeys are not available with public_url {0} / 当前公开地址无法使用通行密钥")]
    Misconfigured(String),
    /// No passkey (or no such user) for a login.
    #[error(
        "no passkey is registered for this user name; log in with the password / 该用户未登记通行密钥，请使用密码登录"
    )]
    NoPasskey,
    /// The ceremony id is unknown or the ceremony was already finished.
    #[error(
        "this passkey request is unknown or was already used; start again / 通行密钥请求无效或已使用，请重试"
    )]
    CeremonyUnknown,
    /// The ceremony is older than five minutes.
    #[error(
        "this passkey request expired after 5 minutes; start again / 通行密钥请求已过期（5分钟），请重试"
    )]
    CeremonyExpired,
    /// The ceremony or the credential belongs to someone else.
    #[error("this passkey belongs to another user / 该通行密钥属于其他用户")]
    WrongUser,
    /// The authenticator did not verify the user.
    #[error(
        "the authenticator did not verify you (fingerprint, face or PIN is required) / 需要指纹、面容或 PIN 验证"
    )]
    UserNotVerified,
    /// The credential sent by the client is not a WebAuthn response.
    #[error("the passkey response is malformed / 通行密钥响应格式错误: {0}")]
    Malformed(String),
    /// The response failed verification (signature, origin, challenge, unknown credential).
    #[error("the passkey could not be verified / 通行密钥验证失败")]
    Rejected(String),
    /// The credential is registered already (to this or another account).
    #[error("this passkey is registered already / 该通行密钥已登记")]
    AlreadyRegistered,
    /// The signature counter did not go up: the credential may be cloned.
    #[error(
        "the passkey's signature counter went backwards, so it may have been copied; the regulator has been alerted / 通行密钥计数器回退，可能已被复制，已通知监管"
    )]
    CounterRegression,
    /// The name is empty or too long.
    #[error("a passkey name has 1 to 64 characters / 通行密钥名称应为1至64个字符")]
    InvalidName,
    /// A caller-supplied challenge of the wrong size (a programming error of the caller).
    #[error("a signing challenge has 16 to 64 bytes")]
    InvalidChallenge,
    /// The signed challenge is not the one the caller expected.
    #[error("the passkey signed something else than this document / 签名内容与文档不符")]
    ChallengeMismatch,
    /// The account is pending or disabled.
    #[error("this account is not active / 该账号不可用")]
    AccountInactive,
    /// Too many login attempts.
    #[error(
        "too many login attempts, try again in {} s / 登录尝试过多，请 {} 秒后再试",
        .0.0,
        .0.0
    )]
    RateLimited(super::ratelimit::RetryAfter),
    /// No such passkey of this user.
    #[error("passkey not found / 未找到该通行密钥")]
    NotFound,
    /// Database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored state that does not parse, or state that does not serialise.
    #[error("passkey state: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for PasskeyError {
    fn from(e: sqlx::Error) -> Self {
        PasskeyError::Store(StoreError::from(e))
    }
}

impl Coded for PasskeyError {
    fn kind(&self) -> Kind {
        match self {
            PasskeyError::Store(e) => e.kind(),
            PasskeyError::Internal(_) => Kind::Internal,
            PasskeyError::NeedsHostname(_)
            | PasskeyError::Misconfigured(_)
            | PasskeyError::CeremonyUnknown
            | PasskeyError::CeremonyExpired
            | PasskeyError::AlreadyRegistered
            | PasskeyError::CounterRegression => Kind::Conflict,
            PasskeyError::NoPasskey | PasskeyError::NotFound => Kind::NotFound,
            PasskeyError::WrongUser | PasskeyError::AccountInactive => Kind::Forbidden,
            PasskeyError::Rejected(_) => Kind::Unauthenticated,
            PasskeyError::UserNotVerified
            | PasskeyError::Malformed(_)
            | PasskeyError::InvalidName
            | PasskeyError::InvalidChallenge
            | PasskeyError::ChallengeMismatch => Kind::Invalid,
            PasskeyError::RateLimited(_) => Kind::TooMany,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            PasskeyError::NeedsHostname(_) => "PASSKEYS_NEED_HOSTNAME",
            PasskeyError::Misconfigured(_) => "PASSKEYS_UNAVAILABLE",
            PasskeyError::NoPasskey => "NO_PASSKEY",
            PasskeyError::CeremonyUnknown => "PASSKEY_CEREMONY_UNKNOWN",
            PasskeyError::CeremonyExpired => "PASSKEY_CEREMONY_EXPIRED",
            PasskeyError::WrongUser => "PASSKEY_WRONG_USER",
            PasskeyError::UserNotVerified => "PASSKEY_USER_NOT_VERIFIED",
            PasskeyError::Malformed(_) => "PASSKEY_MALFORMED",
            PasskeyError::Rejected(_) => "PASSKEY_REJECTED",
            PasskeyError::AlreadyRegistered => "PASSKEY_ALREADY_REGISTERED",
            PasskeyError::CounterRegression => "PASSKEY_COUNTER_REGRESSION",
            PasskeyError::InvalidName => "PASSKEY_NAME_INVALID",
            PasskeyError::InvalidChallenge => "PASSKEY_CHALLENGE_INVALID",
            PasskeyError::ChallengeMismatch => "PASSKEY_CHALLENGE_MISMATCH",
            PasskeyError::AccountInactive => "ACCOUNT_INACTIVE",
            PasskeyError::RateLimited(_) => "LOGIN_RATE_LIMITED",
            PasskeyError::NotFound => "NOT_FOUND",
            PasskeyError::Store(e) => e.code(),
            PasskeyError::Internal(_) => "INTERNAL",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            PasskeyError::RateLimited(wait) => Some(wait.0),
            _ => None,
        }
    }
}

impl PasskeyError {
    /// The stable code; kept as an inherent method for callers that do not import [`Coded`].
    pub fn code(&self) -> &'static str {
        Coded::code(self)
    }

    /// The HTTP status of the error, for features that still map a wrapped `PasskeyError`
    /// by hand (the same as `http::error::status_of(self.kind())`); goes once they wrap it
    /// through [`Coded`].
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self.kind() {
            Kind::Unauthenticated => S::UNAUTHORIZED,
            Kind::Forbidden => S::FORBIDDEN,
            Kind::NotFound => S::NOT_FOUND,
            Kind::BadRequest => S::BAD_REQUEST,
            Kind::Invalid => S::UNPROCESSABLE_ENTITY,
            Kind::Conflict => S::CONFLICT,
            Kind::TooLarge => S::PAYLOAD_TOO_LARGE,
            Kind::TooMany => S::TOO_MANY_REQUESTS,
            Kind::Unavailable => S::SERVICE_UNAVAILABLE,
            Kind::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The relying party

/// The relying party built from one public URL, or why there is none.
enum RelyingParty {
    Ready(Arc<Webauthn>),
    NeedsHostname(String),
    Misconfigured(String),
}

/// The relying party of each public URL seen, built once. A process normally has one; tests
/// start several servers, and the builder is pure, so a map keyed by the URL keeps `AppState`
/// free of a field that only this module reads.
static RELYING_PARTIES: OnceLock<Mutex<HashMap<String, Arc<RelyingParty>>>> = OnceLock::new();

fn build_relying_party(config: &Config) -> RelyingParty {
    let origin_text = config.public_origin();
    let Ok(origin) = Url::parse(&origin_text) else {
        return RelyingParty::Misconfigured(config.public_url.clone());
    };
    // `domain()` is `None` for an IP address host, which WebAuthn refuses as an RP id.
    if let Some(host) = origin.domain().map(str::to_string) {
        return match WebauthnBuilder::new(&host, &origin).and_then(|b| {
            b.rp_name("Sunbid")
                .timeout(std::time::Duration::from_millis(
                    u64::try_from(CEREMONY_TTL_MS).unwrap_or(300_000),
                ))
                .build()
        }) {
            Ok(w) => RelyingParty::Ready(Arc::new(w)),
            Err(e) => {
                tracing::error!(public_url = %config.public_url, error = %e, "passkeys disabled: public_url is not a usable WebAuthn origin");
                RelyingParty::Misconfigured(config.public_url.clone())
            }
        };
    }
    if origin.host_str().is_none() {
        return RelyingParty::Misconfigured(config.public_url.clone());
    }
    let port = origin.port_or_known_default().unwrap_or(8080);
    let suggestion = format!("{}://localhost:{port}", origin.scheme());
    tracing::warn!(
        public_url = %config.public_url,
        "passkeys disabled: public_url has an IP address as its host, which WebAuthn refuses; \
         open {suggestion} and start with --public-url {suggestion} (or a real host name)"
    );
    RelyingParty::NeedsHostname(suggestion)
}

fn relying_party(config: &Config) -> Arc<RelyingParty> {
    let map = RELYING_PARTIES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(config.public_url.clone())
        .or_insert_with(|| Arc::new(build_relying_party(config)))
        .clone()
}

/// Builds the relying party now, so a disabled configuration is logged at start-up.
pub fn init(config: &Config) {
    let _ = relying_party(config);
}

/// Whether passkeys can be used with this configuration.
pub fn enabled(config: &Config) -> bool {
    matches!(*relying_party(config), RelyingParty::Ready(_))
}

/// What a passkey ceremony needs of the platform: the database (ceremonies, credentials,
/// audit), the configuration (the relying party) and the time of the request.
///
/// The functions take `impl Into<Passkeys>` so that the HTTP layer can pass its state as it
/// is (`From<&AppState>` lives in `passkey_routes`) and services pass their own values.
#[derive(Clone, Copy)]
pub struct Passkeys<'a> {
    /// The database.
    pub db: &'a Db,
    /// The configuration (public URL → relying party).
    pub config: &'a Config,
    /// Now.
    pub now: DateTime<Utc>,
}

/// The WebAuthn relying party, or the error every passkey endpoint answers when there is none.
pub fn webauthn(config: &Config) -> Result<Arc<Webauthn>, PasskeyError> {
    match &*relying_party(config) {
        RelyingParty::Ready(w) => Ok(w.clone()),
        RelyingParty::NeedsHostname(s) => Err(PasskeyError::NeedsHostname(s.clone())),
        RelyingParty::Misconfigured(s) => Err(PasskeyError::Misconfigured(s.clone())),
    }
}

// ---------------------------------------------------------------------------------------
// Model

/// A registered passkey as its owner sees it (no key material).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyView {
    /// Id.
    pub passkey_id: String,
    /// WebAuthn credential id, base64url.
    pub credential_id: String,
    /// The owner's label.
    pub name: String,
    /// Highest signature counter seen (0 for authenticators without one).
    pub counter: i64,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct PasskeyRow {
    passkey_id: String,
    credential_id: String,
    name: String,
    sign_count: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<PasskeyRow> for PasskeyView {
    fn from(r: PasskeyRow) -> Self {
        Self {
            passkey_id: r.passkey_id,
            credential_id: r.credential_id,
            name: r.name,
            counter: r.sign_count,
            created_at: from_millis(r.created_at),
            last_used_at: r.last_used_at.map(from_millis),
        }
    }
}

/// What a verified assertion proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The user the credential belongs to.
    pub user_id: String,
    /// Our id of the passkey.
    pub passkey_id: String,
    /// The WebAuthn credential id, base64url.
    pub credential_id: String,
    /// The signature counter the authenticator reported (now stored).
    pub counter: u32,
    /// Whether the authenticator verified the user (always true: unverified is refused).
    pub user_verified: bool,
    /// The challenge that was signed (for a signature: the document digest).
    pub challenge: Vec<u8>,
}

/// Why a ceremony was started; a ceremony only finishes as what it was started for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Register,
    Login,
    Assertion,
    Signature,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Login => "login",
            Purpose::Assertion => "assertion",
            Purpose::Signature => "signature",
        }
    }
}

/// A ceremony taken out of the database.
struct Ceremony {
    purpose: String,
    user_id: String,
    state_json: String,
}

/// The user handle WebAuthn stores with the credential: our id when it is a UUID (it always
/// is), else a digest of it, so it never carries a name.
fn user_handle(user_id: &str) -> Uuid {
    Uuid::try_parse(user_id).unwrap_or_else(|_| {
        let d = ring::digest::digest(&ring::digest::SHA256, user_id.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(d.as_ref().get(..16).unwrap_or(&[0u8; 16]));
        Uuid::from_bytes(b)
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A response that failed verification. The reason is logged for an operator and never
/// sent to the client: it would help an attacker probing the verifier.
fn rejected(why: String) -> PasskeyError {
    tracing::info!(reason = %why, "passkey response rejected");
    PasskeyError::Rejected(why)
}

fn internal(what: &str, e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Internal(format!("{what}: {e}"))
}

/// The counter a serialised `Passkey` carries (webauthn-rs keeps it in `cred.counter`).
fn passkey_counter(passkey_json: &str) -> u32 {
    serde_json::from_str::<Value>(passkey_json)
        .ok()
        .and_then(|v| v.pointer("/cred/counter").and_then(Value::as_u64))
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

/// The signature counter inside an assertion's authenticator data (bytes 33..37), for the
/// regulator's record when webauthn-rs itself refused the counter.
fn presented_counter(credential: &PublicKeyCredential) -> Option<u32> {
    let bytes = credential.response.authenticator_data.get(33..37)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Parses a client's registration response.
pub fn parse_registration(value: Value) -> Result<RegisterPublicKeyCredential, PasskeyError> {
    serde_json::from_value(value).map_err(|e| PasskeyError::Malformed(e.to_string()))
}

/// Parses a client's assertion response.
pub fn parse_assertion(value: Value) -> Result<PublicKeyCredential, PasskeyError> {
    serde_json::from_value(value).map_err(|e| PasskeyError::Malformed(e.to_string()))
}

// ---------------------------------------------------------------------------------------
// Ceremony storage

async fn store_ceremony(
    db: &Db,
    now: DateTime<Utc>,
    purpose: Purpose,
    user_id: &str,
    state_json: String,
) -> Result<String, PasskeyError> {
    let ceremony_id = new_id();
    let mut tx = db.begin().await?;
    // Expired ceremonies are swept whenever a new one starts: the table stays as small as
    // the number of ceremonies of the last five minutes.
    q_exec!(
        tx,
        "delete from passkey_ceremony where expires_at <= $1",
        to_millis(now)
    )?;
    q_exec!(
        tx,
        "insert into passkey_ceremony (ceremony_id, purpose, user_id, state_json, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
        ceremony_id.clone(),
        purpose.as_str(),
        user_id.to_string(),
        state_json,
        to_millis(now),
        to_millis(now) + CEREMONY_TTL_MS
    )?;
    tx.commit().await?;
    Ok(ceremony_id)
}

/// Removes the ceremony and returns it: whatever happens next, it cannot be finished twice.
/// The delete is committed on its own, before the response is even looked at.
async fn take_ceremony(
    db: &Db,
    now: DateTime<Utc>,
    ceremony_id: &str,
    purpose: Purpose,
) -> Result<Ceremony, PasskeyError> {
    if !is_id(ceremony_id) {
        return Err(PasskeyError::CeremonyUnknown);
    }
    let mut tx = db.begin().await?;
    let row: Option<(String, String, String, i64)> = q_opt!(
        tx,
        (String, String, String, i64),
        "delete from passkey_ceremony where ceremony_id = $1
         returning purpose, user_id, state_json, expires_at",
        ceremony_id.to_string()
    )?;
    tx.commit().await?;
    let Some((stored_purpose, user_id, state_json, expires_at)) = row else {
        return Err(PasskeyError::CeremonyUnknown);
    };
    if expires_at <= to_millis(now) {
        return Err(PasskeyError::CeremonyExpired);
    }
    if stored_purpose != purpose.as_str() {
        return Err(PasskeyError::CeremonyUnknown);
    }
    Ok(Ceremony {
        purpose: stored_purpose,
        user_id,
        state_json,
    })
}

// ---------------------------------------------------------------------------------------
// Registration

async fn stored_passkeys(tx: &mut Tx, user_id: &str) -> Result<Vec<Passkey>, PasskeyError> {
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select passkey_json from passkey where user_id = $1 order by created_at",
        user_id.to_string()
    )?;
    rows.into_iter()
        .map(|(j,)| serde_json::from_str::<Passkey>(&j).map_err(|e| internal("stored passkey", e)))
        .collect()
}

/// Starts registering a passkey for `user_id`: the options for `navigator.credentials.create`
/// and the ceremony id to finish with. The user's existing credentials are excluded, so the
/// same authenticator is not registered twice.
pub async fn start_registration<'a>(
    pk: impl Into<Passkeys<'a>>,
    user_id: &str,
) -> Result<(String, CreationChallengeResponse), PasskeyError> {
    let pk = pk.into();
    let wa = webauthn(pk.config)?;
    let now = pk.now;
    let mut tx = pk.db.read().await?;
    let user: Option<(String, String)> = q_opt!(
        tx,
        (String, String),
        "select username, display_name from app_user where user_id = $1 and status = 'active'",
        user_id.to_string()
    )?;
    let (username, display_name) = user.ok_or(PasskeyError::AccountInactive)?;
    let existing = stored_passkeys(&mut tx, user_id).await?;
    drop(tx);
    let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
    let (options, reg) = wa
        .start_passkey_registration(
            user_handle(user_id),
            &username,
            &display_name,
            Some(exclude),
        )
        .map_err(|e| internal("start registration", e))?;
    let state_json = serde_json::to_string(&reg).map_err(|e| internal("registration state", e))?;
    let ceremony_id = store_ceremony(pk.db, now, Purpose::Register, user_id, state_json).await?;
    Ok((ceremony_id, options))
}

fn clean_name(name: Option<String>, now: DateTime<Utc>) -> Result<String, PasskeyError> {
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() {
        return Ok(format!("Passkey {}", now.format("%Y-%m-%d")));
    }
    if name.chars().count() > MAX_NAME_CHARS
        || crate::text::forbidden_char(&name, crate::text::Lines::Single).is_some()
    {
        return Err(PasskeyError::InvalidName);
    }
    Ok(name)
}

/// Finishes a registration started by `user_id`: verifies the authenticator's response
/// (user verification included), stores the credential and appends `passkey.register`.
pub async fn finish_registration<'a>(
    pk: impl Into<Passkeys<'a>>,
    actor: &Actor,
    user_id: &str,
    ceremony_id: &str,
    credential: &RegisterPublicKeyCredential,
    name: Option<String>,
) -> Result<PasskeyView, PasskeyError> {
    let pk = pk.into();
    let wa = webauthn(pk.config)?;
    let now = pk.now;
    let ceremony = take_ceremony(pk.db, now, ceremony_id, Purpose::Register).await?;
    if ceremony.user_id != user_id {
        return Err(PasskeyError::WrongUser);
    }
    let name = clean_name(name, now)?;
    let reg: PasskeyRegistration = serde_json::from_str(&ceremony.state_json)
        .map_err(|e| internal("stored registration state", e))?;
    let passkey = wa
        .finish_passkey_registration(credential, &reg)
        .map_err(|e| match e {
            WebauthnError::UserNotVerified => PasskeyError::UserNotVerified,
            other => rejected(other.to_string()),
        })?;
    let passkey_json = serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?;
    let credential_id = b64(passkey.cred_id());
    let counter = i64::from(passkey_counter(&passkey_json));
    let passkey_id = new_id();

    let mut tx = pk.db.begin().await?;
    let inserted = q_exec!(
        tx,
        "insert into passkey (passkey_id, user_id, credential_id, name, passkey_json, sign_count, created_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        passkey_id.clone(),
        user_id.to_string(),
        credential_id.clone(),
        name.clone(),
        passkey_json,
        counter,
        to_millis(now)
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(PasskeyError::AlreadyRegistered),
        Err(e) => return Err(e.into()),
    }
    audit::append(
        &mut tx,
        now,
        actor,
        "passkey.register",
        None,
        json!({"passkey_id": passkey_id, "user_id": user_id, "credential_id": credential_id, "user_verified": true}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id, passkey_id, "passkey registered");
    Ok(PasskeyView {
        passkey_id,
        credential_id,
        name,
        counter,
        created_at: from_millis(to_millis(now)),
        last_used_at: None,
    })
}

/// The user's passkeys, oldest first.
pub async fn list_passkeys(db: &Db, user_id: &str) -> Result<Vec<PasskeyView>, PasskeyError> {
    let mut tx = db.read().await?;
    let rows: Vec<PasskeyRow> = q_all!(
        tx,
        PasskeyRow,
        "select passkey_id, credential_id, name, sign_count, created_at, last_used_at
         from passkey where user_id = $1 order by created_at, passkey_id",
        user_id.to_string()
    )?;
    Ok(rows.into_iter().map(PasskeyView::from).collect())
}

/// Whether the user has at least one passkey (experts must).
pub async fn has_passkey(db: &Db, user_id: &str) -> Result<bool, PasskeyError> {
    let mut tx = db.read().await?;
    let row: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select passkey_id from passkey where user_id = $1 limit 1",
        user_id.to_string()
    )?;
    Ok(row.is_some())
}

/// Removes one of the user's own passkeys and appends `passkey.remove`.
pub async fn remove_passkey<'a>(
    pk: impl Into<Passkeys<'a>>,
    actor: &Actor,
    user_id: &str,
    passkey_id: &str,
) -> Result<(), PasskeyError> {
    let pk = pk.into();
    if !is_id(passkey_id) {
        return Err(PasskeyError::NotFound);
    }
    let now = pk.now;
    let mut tx = pk.db.begin().await?;
    let row: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "delete from passkey where passkey_id = $1 and user_id = $2 returning credential_id",
        passkey_id.to_string(),
        user_id.to_string()
    )?;
    let (credential_id,) = row.ok_or(PasskeyError::NotFound)?;
    audit::append(
        &mut tx,
        now,
        actor,
        "passkey.remove",
        None,
        json!({"passkey_id": passkey_id, "user_id": user_id, "credential_id": credential_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Assertions: login, check-in, signatures

async fn start_assertion(
    pk: Passkeys<'_>,
    user_id: &str,
    purpose: Purpose,
    challenge: Option<&[u8]>,
) -> Result<(String, RequestChallengeResponse), PasskeyError> {
    let wa = webauthn(pk.config)?;
    let now = pk.now;
    let mut tx = pk.db.read().await?;
    let keys = stored_passkeys(&mut tx, user_id).await?;
    drop(tx);
    if keys.is_empty() {
        return Err(PasskeyError::NoPasskey);
    }
    let (mut options, auth) = wa
        .start_passkey_authentication(&keys)
        .map_err(|e| internal("start authentication", e))?;
    let mut state_value = serde_json::to_value(&auth).map_err(|e| internal("auth state", e))?;
    if let Some(challenge) = challenge {
        set_challenge(&mut options, &mut state_value, challenge)?;
    }
    let state_json = state_value.to_string();
    let ceremony_id = store_ceremony(pk.db, now, purpose, user_id, state_json).await?;
    Ok((ceremony_id, options))
}

/// Puts a caller-chosen challenge into a started authentication. webauthn-rs always draws a
/// random one and offers no setter; its serialised state (`danger-allow-state-serialisation`)
/// carries the challenge as base64url text at `/ast/challenge`, which is replaced here and in
/// the options. The `signature_challenge_is_the_document_digest` test fails if that shape
/// ever changes.
fn set_challenge(
    options: &mut RequestChallengeResponse,
    state_value: &mut Value,
    challenge: &[u8],
) -> Result<(), PasskeyError> {
    if !(16..=64).contains(&challenge.len()) {
        return Err(PasskeyError::InvalidChallenge);
    }
    let slot = state_value
        .pointer_mut("/ast/challenge")
        .ok_or_else(|| internal("auth state", "no challenge field"))?;
    *slot = Value::String(b64(challenge));
    // The state must still parse with the new challenge.
    serde_json::from_value::<PasskeyAuthentication>(state_value.clone())
        .map_err(|e| internal("auth state with challenge", e))?;
    options.public_key.challenge = challenge.to_vec();
    Ok(())
}

/// Starts a passkey login for `username`: the options for `navigator.credentials.get` and the
/// ceremony id. An unknown user name and a user without passkeys get the same answer.
pub async fn start_login<'a>(
    pk: impl Into<Passkeys<'a>>,
    limiter: &LoginLimiter,
    username: &str,
    client_ip: Option<&str>,
) -> Result<(String, RequestChallengeResponse), PasskeyError> {
    let pk = pk.into();
    webauthn(pk.config)?;
    // Only the per-client limit: a passkey cannot be guessed, and a user whose password
    // attempts someone exhausted must still get in with it.
    if let Err(wait) = limiter.check_client(client_ip, pk.now).await {
        tracing::warn!(username, ip = ?client_ip, "passkey login rate limited");
        return Err(PasskeyError::RateLimited(wait));
    }
    let mut tx = pk.db.read().await?;
    let user: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select user_id from app_user where username = $1",
        username.to_string()
    )?;
    drop(tx);
    let (user_id,) = user.ok_or(PasskeyError::NoPasskey)?;
    start_assertion(pk, &user_id, Purpose::Login, None).await
}

/// Starts an assertion of `user_id` with a random challenge (the expert check-in): the options
/// for `navigator.credentials.get` and the ceremony id to pass to [`verify_assertion`].
pub async fn start_assertion_for_user<'a>(
    pk: impl Into<Passkeys<'a>>,
    user_id: &str,
) -> Result<(String, RequestChallengeResponse), PasskeyError> {
    let pk = pk.into();
    start_assertion(pk, user_id, Purpose::Assertion, None).await
}

/// Starts an assertion of `user_id` whose challenge is `challenge` (16–64 bytes), e.g. the
/// SHA-256 of a document: the resulting assertion is the user's signature over it. Finish
/// with [`verify_signature`].
///
/// A fixed challenge is not a nonce: the same document gives the same challenge. The ceremony
/// is still single-use and expiring, and an authenticator with a counter cannot replay an old
/// assertion past the counter check; to bind a signature to one moment, include the time or
/// the ceremony in the signed document.
pub async fn start_signature_for_user<'a>(
    pk: impl Into<Passkeys<'a>>,
    user_id: &str,
    challenge: &[u8],
) -> Result<(String, RequestChallengeResponse), PasskeyError> {
    let pk = pk.into();
    if !(16..=64).contains(&challenge.len()) {
        return Err(PasskeyError::InvalidChallenge);
    }
    start_assertion(pk, user_id, Purpose::Signature, Some(challenge)).await
}

/// Verifies an assertion started with [`start_assertion_for_user`]: the ceremony is consumed
/// (single-use), must not be expired, must belong to `user_id_expected` when given, and the
/// response must carry user verification and a signature counter above the stored one. The
/// counter is stored. `actor` is who is asking (request id, IP) for the counter-regression
/// audit event; its user, when absent, is taken to be the credential's owner.
pub async fn verify_assertion<'a>(
    pk: impl Into<Passkeys<'a>>,
    actor: &Actor,
    user_id_expected: Option<&str>,
    ceremony_id: &str,
    credential: &PublicKeyCredential,
) -> Result<VerifiedAssertion, PasskeyError> {
    let pk = pk.into();
    finish_assertion(
        pk,
        actor,
        Purpose::Assertion,
        user_id_expected,
        ceremony_id,
        credential,
    )
    .await
}

/// Verifies a signature started with [`start_signature_for_user`] and checks that the signed
/// challenge is `expected_challenge` (the document digest the caller computed itself).
pub async fn verify_signature<'a>(
    pk: impl Into<Passkeys<'a>>,
    actor: &Actor,
    user_id: &str,
    ceremony_id: &str,
    credential: &PublicKeyCredential,
    expected_challenge: &[u8],
) -> Result<VerifiedAssertion, PasskeyError> {
    let pk = pk.into();
    let verified = finish_assertion(
        pk,
        actor,
        Purpose::Signature,
        Some(user_id),
        ceremony_id,
        credential,
    )
    .await?;
    if verified.challenge != expected_challenge {
        return Err(PasskeyError::ChallengeMismatch);
    }
    Ok(verified)
}

/// A user logged in with a passkey.
#[derive(Clone, Debug)]
pub struct PasskeyLogin {
    /// What was verified.
    pub assertion: VerifiedAssertion,
    /// The user, for the session token.
    pub user: super::model::UserView,
}

/// Finishes a passkey login started with [`start_login`]. The account must be active.
pub async fn finish_login<'a>(
    pk: impl Into<Passkeys<'a>>,
    actor: &Actor,
    ceremony_id: &str,
    credential: &PublicKeyCredential,
) -> Result<PasskeyLogin, PasskeyError> {
    let pk = pk.into();
    let assertion =
        finish_assertion(pk, actor, Purpose::Login, None, ceremony_id, credential).await?;
    let mut tx = pk.db.read().await?;
    let user: Option<super::model::UserView> = q_opt!(
        tx,
        super::model::UserView,
        "select user_id, username, display_name, role, org_id, status from app_user where user_id = $1",
        assertion.user_id.clone()
    )?;
    let user = user.ok_or(PasskeyError::AccountInactive)?;
    if user.status != "active" {
        return Err(PasskeyError::AccountInactive);
    }
    tracing::info!(user_id = %user.user_id, passkey_id = %assertion.passkey_id, counter = assertion.counter, "passkey login");
    Ok(PasskeyLogin { assertion, user })
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
    passkey_id: String,
    user_id: String,
    passkey_json: String,
    sign_count: i64,
}

async fn finish_assertion(
    pk: Passkeys<'_>,
    actor: &Actor,
    purpose: Purpose,
    user_id_expected: Option<&str>,
    ceremony_id: &str,
    credential: &PublicKeyCredential,
) -> Result<VerifiedAssertion, PasskeyError> {
    let wa = webauthn(pk.config)?;
    let now = pk.now;
    let ceremony = take_ceremony(pk.db, now, ceremony_id, purpose).await?;
    if user_id_expected.is_some_and(|u| u != ceremony.user_id) {
        return Err(PasskeyError::WrongUser);
    }
    let auth: PasskeyAuthentication =
        serde_json::from_str(&ceremony.state_json).map_err(|e| internal("stored auth state", e))?;
    let challenge = serde_json::from_str::<Value>(&ceremony.state_json)
        .ok()
        .and_then(|v| {
            v.pointer("/ast/challenge")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
        .unwrap_or_default();

    let credential_id = b64(&credential.raw_id);
    let mut tx = pk.db.read().await?;
    let row: Option<CredentialRow> = q_opt!(
        tx,
        CredentialRow,
        "select passkey_id, user_id, passkey_json, sign_count from passkey where credential_id = $1",
        credential_id.clone()
    )?;
    drop(tx);
    let row = row.ok_or_else(|| rejected("unknown credential".into()))?;
    if row.user_id != ceremony.user_id {
        return Err(PasskeyError::WrongUser);
    }

    let result = match wa.finish_passkey_authentication(credential, &auth) {
        Ok(r) => r,
        Err(WebauthnError::UserNotVerified) => return Err(PasskeyError::UserNotVerified),
        Err(WebauthnError::CredentialPossibleCompromise) => {
            let presented = presented_counter(credential).map(i64::from);
            return Err(counter_regression(pk, actor, &ceremony, &row, presented).await);
        }
        Err(e) => return Err(rejected(e.to_string())),
    };
    if !result.user_verified() {
        return Err(PasskeyError::UserNotVerified);
    }

    let counter = result.counter();
    let mut passkey: Passkey =
        serde_json::from_str(&row.passkey_json).map_err(|e| internal("stored passkey", e))?;
    passkey.update_credential(&result);
    let passkey_json = serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?;

    // The conditional update is the authoritative clone check: it compares with the counter
    // stored now (not the one copied into the ceremony when it started), atomically, so two
    // ceremonies racing with the same counter cannot both pass.
    let mut tx = pk.db.begin().await?;
    let updated = q_exec!(
        tx,
        "update passkey set sign_count = $1, passkey_json = $2, last_used_at = $3
         where passkey_id = $4 and (sign_count < $5 or ($6 = 0 and sign_count = 0))",
        i64::from(counter),
        passkey_json,
        to_millis(now),
        row.passkey_id.clone(),
        i64::from(counter),
        i64::from(counter)
    )?;
    if updated == 0 {
        drop(tx);
        return Err(counter_regression(pk, actor, &ceremony, &row, Some(i64::from(counter))).await);
    }
    tx.commit().await?;
    Ok(VerifiedAssertion {
        user_id: row.user_id,
        passkey_id: row.passkey_id,
        credential_id,
        counter,
        user_verified: result.user_verified(),
        challenge,
    })
}

/// Records a counter regression for the regulator and returns the error to answer with.
async fn counter_regression(
    pk: Passkeys<'_>,
    actor: &Actor,
    ceremony: &Ceremony,
    row: &CredentialRow,
    presented: Option<i64>,
) -> PasskeyError {
    let now = pk.now;
    let mut actor = actor.clone();
    if actor.user_id.is_none() {
        actor.user_id = Some(row.user_id.clone());
    }
    tracing::warn!(user_id = %row.user_id, passkey_id = %row.passkey_id, stored = row.sign_count, ?presented, "passkey counter regression: possible cloned credential");
    let recorded = async {
        let mut tx = pk.db.begin().await?;
        // Re-read: the stored counter may have moved since the credential was loaded.
        let stored: Option<(i64, String)> = q_opt!(
            tx,
            (i64, String),
            "select sign_count, credential_id from passkey where passkey_id = $1",
            row.passkey_id.clone()
        )?;
        let Some((stored, credential_id)) = stored else {
            // Removed meanwhile: nothing to compare, nothing to alert about.
            return Ok::<bool, PasskeyError>(false);
        };
        audit::append(
            &mut tx,
            now,
            &actor,
            "passkey.counter_regression",
            None,
            json!({
                "passkey_id": row.passkey_id,
                "user_id": row.user_id,
                "credential_id": credential_id,
                "stored_counter": stored,
                "presented_counter": presented,
                "purpose": ceremony.purpose,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
    .await;
    match recorded {
        Ok(true) => PasskeyError::CounterRegression,
        Ok(false) => rejected("credential removed during the ceremony".into()),
        Err(e) => e,
    }
}

/// The WebAuthn origin passkeys are bound to (for clients such as the tests' authenticator).
pub fn origin(config: &Config) -> Option<Url> {
    Url::parse(&config.public_origin()).ok()
}
