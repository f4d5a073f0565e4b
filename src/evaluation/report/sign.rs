//! The members' acts on the report (实施条例 第53条): a passkey signature over the report's
//! SHA-256, or a dissent with its written reason; one act per member, never changed.

use crate::evaluation::Env;
use crate::lifecycle::evaluation::EvaluationState;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::to_millis;
use crate::evaluation::committee::{self, SignAct, Signature, SigningError};
use crate::evaluation::review::{self};
use crate::store::blob::sha256_hex;
use crate::store::{Tx, is_unique_violation};
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_opt};

use crate::evaluation::error::EvaluationError;
use crate::evaluation::service::{Evaluation, acting_member, event, load, rulebook, wrong};

// ---- 5. the report and its signatures ---------------------------------------------------------

/// `POST …/evaluation/report/sign/finish`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignFinish {
    /// From `report/sign/start`.
    pub ceremony_id: String,
    /// What `navigator.credentials.get` returned.
    pub credential: Value,
}

/// `POST …/evaluation/report/dissent`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DissentInput {
    /// The written reason (书面说明), 1–2000 characters.
    pub reason: String,
}

/// A member's passkey signature over the report has started: pass `options` to the browser,
/// send back `ceremony_id`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignCeremony {
    /// The ceremony to finish.
    pub ceremony_id: String,
    /// The WebAuthn options (`publicKey` …) for `navigator.credentials.get`; the challenge is
    /// the report's SHA-256.
    #[schema(value_type = Object)]
    pub options: Value,
    /// The hash of the report to sign.
    pub report_sha256: String,
}

/// What a member's act on the report answers (signature or dissent). Fields in alphabetical
/// order, as the answer has always been serialised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActRecorded {
    /// `signed` or `dissented`.
    pub act: String,
    /// Whether no member is pending any more.
    pub complete: bool,
    /// The hash of the report acted on.
    pub report_sha256: String,
}

/// The stored report and its digest (the signing challenge).
pub(crate) fn report_of(ev: &Evaluation) -> Result<(String, Vec<u8>), EvaluationError> {
    let (Some(json_text), Some(hex)) = (&ev.row.report_json, &ev.row.report_sha256) else {
        return Err(wrong("sign the report", ev));
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, json_text.as_bytes());
    if sha256_hex(json_text.as_bytes()) != *hex {
        return Err(EvaluationError::corrupt("report digest mismatch"));
    }
    Ok((hex.clone(), digest.as_ref().to_vec()))
}

pub(crate) async fn signatures(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<Signature>, EvaluationError> {
    let rows: Vec<(String, String, Option<String>)> = q_all!(
        tx,
        (String, String, Option<String>),
        "select member, act, reason from evaluation_signature where tender_id = $1 order by member",
        tender_id.to_string()
    )?;
    Ok(rows
        .into_iter()
        .map(|(member, act, reason)| Signature {
            member,
            act: if act == "signed" {
                SignAct::Signed
            } else {
                SignAct::Dissented {
                    reason: reason.unwrap_or_default(),
                }
            },
        })
        .collect())
}

pub(crate) async fn ensure_not_signed(
    tx: &mut Tx,
    tid: &str,
    member: &str,
) -> Result<(), EvaluationError> {
    let done: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select act from evaluation_signature where tender_id = $1 and member = $2",
        tid.to_string(),
        member.to_string()
    )?;
    if done.is_some() {
        return Err(EvaluationError::AlreadySigned);
    }
    Ok(())
}

/// What a member signs: the report's SHA-256 (hex, and the bytes that are the passkey
/// challenge), checked to be the member's to sign now.
pub struct Challenge {
    /// The member (user id) who signs.
    pub member: String,
    /// The report's SHA-256, hex.
    pub report_sha256: String,
    /// The report's SHA-256: the passkey challenge.
    pub digest: Vec<u8>,
}

/// The report a member may sign now: refused before every score is in (the report does not
/// exist yet), to a non-member and to a member who already acted.
pub async fn challenge(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
) -> Result<Challenge, EvaluationError> {
    let mut tx = env.db.read().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    if ev.state != EvaluationState::Ranked {
        return Err(wrong("sign the report", &ev));
    }
    let (report_sha256, digest) = report_of(&ev)?;
    ensure_not_signed(&mut tx, &ev.tender.tender_id, &member).await?;
    Ok(Challenge {
        member,
        report_sha256,
        digest,
    })
}

/// Records a member's verified passkey signature over the report (`credential_id` from the
/// verified assertion). One act per member, never changed.
pub async fn record_signature(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    c: &Challenge,
    credential_id: String,
) -> Result<ActRecorded, EvaluationError> {
    let mut tx = env.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let act = Signature {
        member: c.member.clone(),
        act: SignAct::Signed,
    };
    let out = record_act(
        env,
        caller,
        &mut tx,
        &ev,
        &act,
        &c.report_sha256,
        Some(credential_id),
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn record_act(
    env: Env<'_>,
    caller: &Caller,
    tx: &mut Tx,
    ev: &Evaluation,
    act: &Signature,
    hex: &str,
    credential_id: Option<String>,
) -> Result<ActRecorded, EvaluationError> {
    let now = env.now;
    let member = act.member.as_str();
    let tid = ev.tender.tender_id.clone();
    let (act_name, reason) = match &act.act {
        SignAct::Signed => ("signed", None),
        SignAct::Dissented { reason } => ("dissented", Some(reason.clone())),
    };
    q_exec!(
        tx,
        "insert into evaluation_signature (tender_id, member, act, reason, report_sha256, credential_id, signed_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        tid.clone(),
        member.to_string(),
        act_name.to_string(),
        reason.clone(),
        hex.to_string(),
        credential_id.clone(),
        to_millis(now)
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            EvaluationError::AlreadySigned
        } else {
            e.into()
        }
    })?;
    event(
        tx,
        now,
        &caller.actor,
        if act_name == "signed" {
            "evaluation.report.sign"
        } else {
            "evaluation.report.dissent"
        },
        &tid,
        json!({"member": member, "report_sha256": hex, "credential_id": credential_id,
               "reason": reason}),
    )
    .await?;
    let book = rulebook(env.rulebooks, &ev.tender)?;
    let all = signatures(tx, &tid).await?;
    let status = committee::signing_status(&ev.committee(book)?, &all, false)
        .map_err(EvaluationError::Signing)?;
    Ok(ActRecorded {
        act: act_name.to_string(),
        complete: status.complete,
        report_sha256: hex.to_string(),
    })
}

/// Records a member's dissent from the report with the written reason (实施条例 第53条).
pub async fn dissent(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &DissentInput,
) -> Result<ActRecorded, EvaluationError> {
    let reason = input.reason.trim().to_string();
    crate::text::check("reason", &reason, crate::text::Lines::Multi)?;
    if reason.chars().count() > review::MAX_REASON_CHARS {
        return Err(EvaluationError::Invalid(
            "REPORT_DISSENT_TOO_LONG",
            format!(
                "at most {} characters / 异议说明过长",
                review::MAX_REASON_CHARS
            ),
        ));
    }
    let mut tx = env.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    if ev.state != EvaluationState::Ranked {
        return Err(wrong("dissent from the report", &ev));
    }
    let (hex, _) = report_of(&ev)?;
    if reason.is_empty() {
        return Err(EvaluationError::Signing(
            SigningError::DissentWithoutReason(member),
        ));
    }
    let act = Signature {
        member: member.clone(),
        act: SignAct::Dissented { reason },
    };
    let out = record_act(env, caller, &mut tx, &ev, &act, &hex, None).await?;
    tx.commit().await?;
    Ok(out)
}
