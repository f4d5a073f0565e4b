//! The vocabulary of sealed bidding: request bodies, the rows read from the database, and
//! the bid form (投标函) with its validation. No I/O here.

use serde::{Deserialize, Serialize};

use crate::tender::rulebook::MAX_MONEY_FEN;

/// The part kinds a bid has: exactly one form, any number of attachments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartLabel {
    /// The bid form (JSON, see [`BidForm`]): price, duration, quality, project manager.
    Form,
    /// Any other file of the bid (technical proposal, qualifications …).
    Attachment,
}

impl PartLabel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PartLabel::Form => "form",
            PartLabel::Attachment => "attachment",
        }
    }

    /// Parses the query parameter / stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "form" => Some(PartLabel::Form),
            "attachment" => Some(PartLabel::Attachment),
            _ => None,
        }
    }
}

/// Query of `POST …/bid/parts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// `form` or `attachment`.
    pub label: String,
    /// The original file name.
    #[serde(default)]
    pub name: Option<String>,
    /// CSRF token for cookie sessions (read by the CSRF guard).
    #[serde(default)]
    #[param(ignore)]
    pub csrf: Option<String>,
}

/// Body of `POST …/bid/submit`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitInput {
    /// Part ids from earlier uploads, in order.
    pub parts: Vec<String>,
}

/// Body of `POST /api/v1/custodian/key` and `POST …/opening/unlock`. Its `Debug` hides the
/// passphrase, which is never logged, stored or returned.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassphraseInput {
    /// The custodian's passphrase.
    pub passphrase: String,
}

impl std::fmt::Debug for PassphraseInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassphraseInput { passphrase: *** }")
    }
}

/// Body of `POST /api/v1/custodian/key/passkey` (base64 fields standard, with padding).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyEnrolBody {
    /// From `POST /api/v1/custodian/key/passkey/start`.
    pub ceremony_id: String,
    /// The WebAuthn assertion, without PRF results.
    pub credential: serde_json::Value,
    /// The PRF salt issued at the start.
    pub prf_salt: String,
    /// The public key made in the browser (65-byte SEC1 point).
    pub public_key: String,
    /// The AES-256-GCM nonce (12 bytes).
    pub nonce: String,
    /// The wrapped private scalar with its tag (48 bytes).
    pub wrapped_key: String,
}

/// Body of `POST …/opening/unlock/passkey`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyUnlockBody {
    /// From `POST …/opening/unlock/passkey/start`.
    pub ceremony_id: String,
    /// The WebAuthn assertion, without PRF results.
    pub credential: serde_json::Value,
    /// The nonce issued at the start (standard base64).
    pub nonce: String,
    /// The share the browser opened (standard base64 of 33 bytes). Secret.
    pub share: String,
}

impl std::fmt::Debug for PasskeyUnlockBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyUnlockBody")
            .field("ceremony_id", &self.ceremony_id)
            .field("share", &"***")
            .finish_non_exhaustive()
    }
}

/// Body of `POST …/opening/objections`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionInput {
    /// The objection.
    pub body: String,
}

/// Body of `POST …/opening/objections/{id}/answer`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionAnswerInput {
    /// The agent's answer, given on the spot.
    pub answer: String,
}

/// An uploaded part.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PartRow {
    /// Identifier.
    pub part_id: String,
    /// Tender.
    pub tender_id: String,
    /// Bidder organisation.
    pub bidder_org_id: String,
    /// `form` | `attachment`.
    pub label: String,
    /// File name.
    pub name: String,
    /// Envelope SHA-256 hex.
    pub sha256: String,
    /// Envelope size.
    pub size_bytes: i64,
    /// Uploaded (ms).
    pub uploaded_at: i64,
}

/// A submission.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BidRow {
    /// Identifier.
    pub bid_id: String,
    /// Tender.
    pub tender_id: String,
    /// Bidder organisation.
    pub bidder_org_id: String,
    /// State.
    pub state: String,
    /// The canonical receipt.
    pub receipt_json: String,
    /// Its signature.
    pub signature: String,
    /// Submitted (ms).
    pub submitted_at: i64,
    /// `bidder` or `platform` for a withdrawn bid.
    pub withdrawn_by: Option<String>,
    /// Why it was withdrawn or revoked.
    pub reason: Option<String>,
    /// When it left `submitted` (ms).
    pub closed_at: Option<i64>,
}

/// Answer to an upload.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UploadedPart {
    /// Identifier to list in the submission.
    pub part_id: String,
    /// SHA-256 hex of the envelope as stored (the receipt repeats it).
    pub sha256: String,
    /// Envelope size in bytes.
    pub size: u64,
}

/// Largest bid form accepted at the opening (plaintext).
pub const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The bid form (投标函) as the bidder seals it: JSON with these fields. Unknown fields are
/// allowed and ignored (a bid is not revoked for a field the record does not show); the
/// known ones must be well-formed or the bid is revoked (撤销) at the opening.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidForm {
    /// Bid price (投标报价) in fen.
    pub price_fen: i64,
    /// Construction period / delivery time (工期) in calendar days.
    pub duration_days: i64,
    /// Quality commitment (质量承诺).
    pub quality: String,
    /// Project manager (项目经理).
    pub project_manager: String,
    /// Other declared items (e.g. 投标保证金已缴纳).
    #[serde(default)]
    pub declarations: Vec<String>,
}

impl BidForm {
    /// Parses and validates the decrypted form; the error says what is wrong, for the
    /// record.
    pub fn parse(bytes: &[u8]) -> Result<BidForm, String> {
        if bytes.len() > MAX_FORM_BYTES {
            return Err(format!(
                "the bid form is larger than {MAX_FORM_BYTES} bytes"
            ));
        }
        let form: BidForm = serde_json::from_slice(bytes)
            .map_err(|e| format!("the bid form is not valid JSON of the expected shape: {e}"))?;
        if !(0..=MAX_MONEY_FEN).contains(&form.price_fen) {
            return Err("price_fen must be between 0 and 10^15 fen".into());
        }
        if !(1..=36_500).contains(&form.duration_days) {
            return Err("duration_days must be between 1 and 36500".into());
        }
        let text = |field: &str, v: &str, max: usize| {
            let n = v.trim().chars().count();
            if n == 0 || n > max {
                Err(format!("{field} must be 1–{max} characters"))
            } else {
                Ok(())
            }
        };
        text("quality", &form.quality, 200)?;
        text("project_manager", &form.project_manager, 100)?;
        if form.declarations.len() > 50 {
            return Err("at most 50 declarations".into());
        }
        for d in &form.declarations {
            text("each declaration", d, 500)?;
        }
        Ok(form)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bid_forms_are_validated() {
        let ok = r#"{"price_fen": 118000000000, "duration_days": 240, "quality": "合格",
                     "project_manager": "张工", "declarations": ["投标保证金已缴纳"], "note": "x"}"#;
        let f = BidForm::parse(ok.as_bytes()).unwrap();
        assert_eq!(f.price_fen, 118_000_000_000);
        for bad in [
            &br#"{"price_fen": -1, "duration_days": 1, "quality": "q", "project_manager": "p"}"#[..],
            br#"{"price_fen": 1.5, "duration_days": 1, "quality": "q", "project_manager": "p"}"#,
            br#"{"price_fen": 1, "duration_days": 0, "quality": "q", "project_manager": "p"}"#,
            br#"{"price_fen": 1, "duration_days": 1, "quality": " ", "project_manager": "p"}"#,
            br#"{"price_fen": 1, "duration_days": 1, "quality": "q"}"#,
            b"not json",
        ] {
            assert!(
                BidForm::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(PartLabel::parse("form"), Some(PartLabel::Form));
        assert_eq!(PartLabel::parse("Form"), None);
        let shown = format!(
            "{:?}",
            PassphraseInput {
                passphrase: "secret passphrase".into()
            }
        );
        assert!(!shown.contains("secret"));
        let shown = format!(
            "{:?}",
            PasskeyUnlockBody {
                ceremony_id: "c".into(),
                credential: serde_json::Value::Null,
                nonce: "n".into(),
                share: "c2VjcmV0IHNoYXJl".into(),
            }
        );
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }
}
