//! The winner's signature on the deal confirmation (成交确认书): after the platform has
//! signed it at the end, a user of the winning company signs it with their passkey — a
//! WebAuthn assertion with user verification whose challenge is the SHA-256 of the
//! confirmation's canonical JSON, as experts sign their report (DESIGN.md "Check-in").
//! Until then the result shows the confirmation as awaiting the winner. The passkey
//! ceremony itself belongs to the identity feature; the HTTP layer runs it between
//! [`challenge`] and [`record_signature`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::AuctionError;
use super::jobs::Confirmation;
use crate::audit;
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::{Caller, Role};
use crate::lifecycle::auction::{self as lifecycle, AuctionState};
use crate::store::Db;
use crate::{q_exec, q_one};

/// What the winner signs, worked out again for each step from the stored confirmation.
#[derive(Clone, Debug)]
pub struct SignChallenge {
    /// The trade.
    pub trade_id: String,
    /// Its code.
    pub code: String,
    /// SHA-256 of the confirmation's canonical JSON: the assertion's challenge.
    pub digest: Vec<u8>,
    /// The same, lower-case hex.
    pub confirmation_sha256: String,
}

/// The signing ceremony's start as the winner's browser receives it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
// Named apart from the evaluation's schema of the same name in the OpenAPI document.
#[schema(as = AuctionSignCeremony)]
pub struct SignCeremony {
    /// Pass back with the assertion.
    pub ceremony_id: String,
    /// Options for `navigator.credentials.get` (challenge = the confirmation's SHA-256).
    pub options: serde_json::Value,
    /// SHA-256 hex of the confirmation's canonical JSON.
    pub confirmation_sha256: String,
}

/// The finished signature.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuctionSignFinish)]
pub struct SignFinish {
    /// From the start.
    pub ceremony_id: String,
    /// The assertion (`PublicKeyCredential` JSON).
    pub credential: serde_json::Value,
}

/// The winner's signature as the result shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WinnerSignature {
    /// When it was given (ms).
    pub signed_at: i64,
    /// The passkey's credential id (base64url).
    pub credential_id: String,
    /// The assertion as sent (its `response` holds authenticator data, client data and the
    /// signature over them), for checking against the winner's registered public key.
    pub assertion: serde_json::Value,
}

/// Checks that `caller` may sign the confirmation of `code` now (a user of the winning
/// company, the deal not yet signed) and returns what they sign.
pub async fn challenge(
    db: &Db,
    caller: &Caller,
    code: &str,
) -> Result<SignChallenge, AuctionError> {
    caller.require_role(&[Role::Bidder])?;
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if facts.state != AuctionState::Deal {
        if facts.state == AuctionState::Draft {
            return Err(Common::NotFound("trade").into());
        }
        return Err(AuctionError::Conflict(
            "AUCTION_NO_DEAL_TO_SIGN",
            "there is no deal confirmation to sign / 尚无成交确认书".into(),
        ));
    }
    let (text, signed_at): (Option<String>, Option<i64>) = q_one!(
        tx,
        (Option<String>, Option<i64>),
        "select confirmation, winner_signed_at from auction_trade where trade_id = $1",
        facts.trade_id.clone()
    )?;
    let text = text.ok_or_else(|| Common::Corrupt(format!("deal {code} without confirmation")))?;
    let confirmation: Confirmation =
        serde_json::from_str(&text).map_err(|e| Common::Corrupt(format!("confirmation: {e}")))?;
    if caller.org_id() != Some(confirmation.winner_org_id.as_str()) {
        return Err(Common::Forbidden(
            "only the winner signs the deal confirmation / 仅竞得人可签署成交确认书",
        )
        .into());
    }
    if signed_at.is_some() {
        return Err(AuctionError::Conflict(
            "AUCTION_ALREADY_SIGNED",
            "the deal confirmation is signed already / 成交确认书已签署".into(),
        ));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    Ok(SignChallenge {
        trade_id: facts.trade_id,
        code: facts.code,
        digest: digest.as_ref().to_vec(),
        confirmation_sha256: hex::encode(digest.as_ref()),
    })
}

/// Records the verified signature once (a second one of the same deal is refused) with its
/// public audit event.
pub async fn record_signature(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    c: &SignChallenge,
    credential_id: &str,
    counter: u32,
    assertion: &serde_json::Value,
) -> Result<WinnerSignature, AuctionError> {
    let at = to_millis(now);
    let mut tx = db.begin().await?;
    let n = q_exec!(
        tx,
        "update auction_trade set winner_signed_at = $1, winner_credential_id = $2,
            winner_assertion = $3, updated_at = $1
         where trade_id = $4 and state = 'deal' and winner_signed_at is null",
        at,
        credential_id.to_string(),
        assertion.to_string(),
        c.trade_id.clone()
    )?;
    if n == 0 {
        return Err(AuctionError::Conflict(
            "AUCTION_ALREADY_SIGNED",
            "the deal confirmation is signed already / 成交确认书已签署".into(),
        ));
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "auction.deal.sign",
        Some(&c.trade_id),
        json!({"code": c.code, "confirmation_sha256": c.confirmation_sha256,
               "credential_id": credential_id, "sign_count": counter}),
    )
    .await?;
    tx.commit().await?;
    Ok(WinnerSignature {
        signed_at: at,
        credential_id: credential_id.to_string(),
        assertion: assertion.clone(),
    })
}
