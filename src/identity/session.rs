//! Session tokens: EdDSA-signed JWTs (jsonwebtoken with a small ring-backed provider, so
//! the `rsa` crate is never linked), carried in an HttpOnly cookie for pages and as a
//! Bearer token for the API. Validation is strict: algorithm, iss, aud, sub, exp, nbf.
//!
//! Every token names its signing key in the header (`kid`, see [`crate::keys`]): the active
//! session key signs, and a key retired by a rotation still verifies the tokens it signed
//! before its retirement, until they expire. A token without a `kid`, or with one the server
//! does not hold, is invalid.

use std::collections::HashMap;

use std::sync::Once;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, new_error};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyRing, RetiredKey, SigningKey};

/// The audience every token carries.
const AUDIENCE: &str = "sunbid";

struct RingEdSigner(Ed25519KeyPair);

impl signature::Signer<Vec<u8>> for RingEdSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(msg).as_ref().to_vec())
    }
}

impl JwtSigner for RingEdSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct RingEdVerifier(Vec<u8>);

impl signature::Verifier<Vec<u8>> for RingEdVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingEdVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

fn signer_factory(
    alg: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if *alg != Algorithm::EdDSA {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.as_bytes())
        .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))?;
    Ok(Box::new(RingEdSigner(pair)))
}

fn verifier_factory(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if *alg != Algorithm::EdDSA {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    Ok(Box::new(RingEdVerifier(key.try_get_as_bytes()?.to_vec())))
}

static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory,
    verifier_factory,
    key_utils: KeyUtils::new_unimplemented(),
};

fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means another provider was installed first; ours refuses non-EdDSA anyway.
        let _ = RING_PROVIDER.install_default();
    });
}

/// The claims of a session token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the platform's public URL.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Role name.
    pub role: String,
    /// Organisation id.
    #[serde(default)]
    pub org: Option<String>,
    /// Display name, for page headers.
    pub name: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Session id: the `user_session` row every request checks, so a logout ends the token.
    pub sid: String,
}

/// A key that verifies tokens.
struct Verifying {
    decoding: DecodingKey,
    /// For a retired key: it verifies only tokens issued before this instant.
    retired_at: Option<DateTime<Utc>>,
}

/// Issues and checks tokens.
pub struct SessionKeys {
    kid: String,
    encoding: EncodingKey,
    verifying: HashMap<String, Verifying>,
    issuer: String,
    lifetime: Duration,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused (all map to 401).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Expired.
    #[error("session expired, please log in again / 登录已过期，请重新登录")]
    Expired,
    /// Anything else: bad signature, wrong algorithm, missing claim, garbage.
    #[error("invalid session token / 无效的登录凭证")]
    Invalid,
}

impl crate::error::Coded for TokenError {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::Unauthenticated
    }

    fn code(&self) -> &'static str {
        match self {
            TokenError::Expired => "SESSION_EXPIRED",
            TokenError::Invalid => "SESSION_INVALID",
        }
    }
}

impl SessionKeys {
    /// Keys from one session signing key (no retired keys).
    pub fn new(key: &SigningKey, issuer: String, lifetime: Duration) -> Self {
        Self::build(key, &[], issuer, lifetime)
    }

    /// Keys from the session key ring: the active key signs, the retired ones verify.
    pub fn from_ring(ring: &KeyRing, issuer: String, lifetime: Duration) -> Self {
        Self::build(ring.active(), ring.retired(), issuer, lifetime)
    }

    fn build(
        active: &SigningKey,
        retired: &[RetiredKey],
        issuer: String,
        lifetime: Duration,
    ) -> Self {
        install_provider();
        let mut verifying: HashMap<String, Verifying> = retired
            .iter()
            .map(|r| {
                let v = Verifying {
                    decoding: DecodingKey::from_ed_der(&r.public),
                    // A retired key without a recorded retirement time verifies nothing:
                    // as if retired at the epoch.
                    retired_at: Some(r.retired_at.unwrap_or(DateTime::<Utc>::UNIX_EPOCH)),
                };
                (r.kid.clone(), v)
            })
            .collect();
        verifying.insert(
            active.kid(),
            Verifying {
                decoding: DecodingKey::from_ed_der(&active.public()),
                retired_at: None,
            },
        );
        Self {
            kid: active.kid(),
            encoding: EncodingKey::from_ed_der(active.pkcs8()),
            verifying,
            issuer,
            lifetime,
        }
    }

    /// The id of the key that signs new tokens.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs a token for a user with a fresh session id that is not stored, so the server
    /// refuses it after the signature checks; real sessions come from
    /// [`super::session_store::open`].
    pub fn issue(
        &self,
        now: DateTime<Utc>,
        sub: &str,
        role: &str,
        org: Option<&str>,
        name: &str,
    ) -> Result<String, TokenError> {
        let sid = uuid::Uuid::now_v7().to_string();
        self.issue_session(now, &sid, sub, role, org, name)
    }

    /// Signs a token for a user's session `sid`.
    pub fn issue_session(
        &self,
        now: DateTime<Utc>,
        sid: &str,
        sub: &str,
        role: &str,
        org: Option<&str>,
        name: &str,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sid: sid.into(),
            iss: self.issuer.clone(),
            aud: AUDIENCE.into(),
            sub: sub.into(),
            role: role.into(),
            org: org.map(str::to_string),
            name: name.into(),
            exp: (now + self.lifetime).timestamp(),
            nbf: now.timestamp() - 5,
            iat: now.timestamp(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|_| TokenError::Invalid)
    }

    /// Verifies a token at `now`: EdDSA only (so `alg: none` and HS256 tricks fail),
    /// issuer, audience, subject, expiry and not-before all required. Times are checked
    /// here against the injected clock rather than by jsonwebtoken against the system's.
    /// The header's `kid` picks the key; a retired key verifies only tokens issued before
    /// it was retired and valid for at most one lifetime, so a stolen retired key cannot
    /// mint new ones.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::Invalid)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf"]);
        // `sid` is required by `Claims` itself: a token without one does not deserialise.
        v.validate_exp = false;
        v.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &v)
            .map(|d| d.claims)
            .map_err(|_| TokenError::Invalid)?;
        if let Some(retired) = key.retired_at {
            let issued_in_time = claims.iat <= retired.timestamp();
            let bounded = claims.exp.saturating_sub(claims.iat) <= self.lifetime.num_seconds();
            if !(issued_in_time && bounded) {
                return Err(TokenError::Invalid);
            }
        }
        const LEEWAY: i64 = 5;
        let t = now.timestamp();
        if claims.exp + LEEWAY <= t {
            return Err(TokenError::Expired);
        }
        if claims.nbf - LEEWAY > t {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// Lifetime of a token.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Lifetime in seconds, for the cookie's Max-Age.
    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime.num_seconds()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keys::Purpose;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys() -> SessionKeys {
        SessionKeys::new(
            &SigningKey::generate().unwrap(),
            "http://localhost:8080".into(),
            Duration::minutes(30),
        )
    }

    #[test]
    fn issued_token_verifies() {
        let k = keys();
        let t = k.issue(Utc::now(), "u1", "agent", None, "A").unwrap();
        assert_eq!(k.verify(&t, Utc::now()).unwrap().sub, "u1");
        assert!(matches!(
            k.verify(&t, Utc::now() + Duration::hours(2)),
            Err(TokenError::Expired)
        ));
        assert!(
            k.verify(&t, Utc::now() - Duration::hours(1)).is_err(),
            "not yet valid"
        );
    }

    #[test]
    fn expired_forged_and_alg_none_are_refused() {
        let k = keys();
        let old = k
            .issue(Utc::now() - Duration::hours(2), "u1", "agent", None, "A")
            .unwrap();
        assert!(matches!(
            k.verify(&old, Utc::now()),
            Err(TokenError::Expired)
        ));

        let other = keys()
            .issue(Utc::now(), "u1", "operator", None, "A")
            .unwrap();
        assert!(matches!(
            k.verify(&other, Utc::now()),
            Err(TokenError::Invalid)
        ));

        let good = k.issue(Utc::now(), "u1", "agent", None, "A").unwrap();
        let payload = good.split('.').nth(1).unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            k.verify(&format!("{none_header}.{payload}."), Utc::now())
                .is_err()
        );
        let hs_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        assert!(
            k.verify(&format!("{hs_header}.{payload}.AAAA"), Utc::now())
                .is_err()
        );
        assert!(k.verify("garbage", Utc::now()).is_err());
    }

    /// Signs `claims` of a real token again with `key` under a header naming `kid`.
    fn resign(token: &str, key: &SigningKey, kid: Option<&str>, now: DateTime<Utc>) -> String {
        let _ = now;
        let payload = token.split('.').nth(1).unwrap();
        let claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(key.pkcs8())).unwrap()
    }

    #[test]
    fn tokens_name_their_key_and_an_unknown_or_missing_kid_is_refused() {
        let key = SigningKey::generate().unwrap();
        let k = SessionKeys::new(&key, "http://localhost:8080".into(), Duration::minutes(30));
        let now = Utc::now();
        let t = k.issue(now, "u1", "agent", None, "A").unwrap();
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid().as_str()));
        assert_eq!(k.kid(), key.kid());
        // The right signature under another kid, or under none, is refused.
        let unknown = resign(&t, &key, Some("0011223344556677"), now);
        assert!(matches!(k.verify(&unknown, now), Err(TokenError::Invalid)));
        let none = resign(&t, &key, None, now);
        assert!(matches!(k.verify(&none, now), Err(TokenError::Invalid)));
        assert!(
            k.verify(&resign(&t, &key, Some(&key.kid()), now), now)
                .is_ok()
        );
        // Another key claiming our kid is refused by the signature check.
        let other = SigningKey::generate().unwrap();
        let forged = resign(&t, &other, Some(&key.kid()), now);
        assert!(matches!(k.verify(&forged, now), Err(TokenError::Invalid)));
    }

    #[test]
    fn a_retired_key_verifies_only_what_it_signed_before_retirement() {
        let dir = tempfile::tempdir().unwrap();
        let active = dir.path().join(Purpose::Session.file_name());
        let loc = crate::keys::KeyLocation {
            purpose: Purpose::Session,
            source: crate::keys::KeySource::KeyDir(active.clone()),
            inline: None,
            key_dir: dir.path().to_path_buf(),
        };
        crate::keys::generate_file(&active).unwrap();
        let issuer = "http://localhost:8080".to_string();
        let life = Duration::minutes(30);
        let old_ring = KeyRing::load(&loc).unwrap();
        let old = SessionKeys::from_ring(&old_ring, issuer.clone(), life);
        let now = Utc::now();
        let before = old
            .issue(now - Duration::minutes(5), "u1", "agent", None, "A")
            .unwrap();

        let rot = crate::keys::rotate(&loc, now, None).unwrap();
        let new = SessionKeys::from_ring(&KeyRing::load(&loc).unwrap(), issuer, life);
        assert_eq!(new.kid(), rot.new_kid);
        assert_eq!(
            new.verify(&before, now).unwrap().sub,
            "u1",
            "still valid after rotation"
        );
        let fresh = new.issue(now, "u2", "agent", None, "B").unwrap();
        assert!(new.verify(&fresh, now).is_ok());
        // Minted with the retired key after its retirement: refused, even backdated with a
        // long lifetime.
        let after = old
            .issue(now + Duration::minutes(1), "u1", "agent", None, "A")
            .unwrap();
        assert!(new.verify(&after, now + Duration::minutes(2)).is_err());
        let long = SessionKeys::new(
            old_ring.active(),
            "http://localhost:8080".into(),
            Duration::days(30),
        );
        let backdated = long
            .issue(now - Duration::minutes(1), "u1", "agent", None, "A")
            .unwrap();
        assert!(new.verify(&backdated, now + Duration::hours(1)).is_err());
    }
}
