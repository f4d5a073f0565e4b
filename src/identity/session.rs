//! Session tokens: EdDSA-signed JWTs (jsonwebtoken with a small ring-backed provider, so
//! the `rsa` crate is never linked), carried in an HttpOnly cookie for pages and as a
//! Bearer token for the API. Validation is strict: algorithm, iss, aud, sub, exp, nbf.

use std::sync::Once;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, new_error};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::keys::SigningKey;

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
    let pair = Ed25519KeyPair::from_pkcs8(key.as_bytes())
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

/// Issues and checks tokens.
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
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

impl SessionKeys {
    /// Keys from the server's session signing key.
    pub fn new(key: &SigningKey, issuer: String, lifetime: Duration) -> Self {
        install_provider();
        Self {
            encoding: EncodingKey::from_ed_der(key.pkcs8()),
            decoding: DecodingKey::from_ed_der(&key.public()),
            issuer,
            lifetime,
        }
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
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// Verifies a token at `now`: EdDSA only (so `alg: none` and HS256 tricks fail),
    /// issuer, audience, subject, expiry and not-before all required. Times are checked
    /// here against the injected clock rather than by jsonwebtoken against the system's.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["iss", "aud", "sub", "exp", "nbf"]);
        // `sid` is required by `Claims` itself: a token without one does not deserialise.
        v.validate_exp = false;
        v.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|_| TokenError::Invalid)?;
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
mod tests {
    use super::*;
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
}
