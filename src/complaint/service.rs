//! Filing, accepting, rejecting and deciding complaints, and the published decisions.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Stage};
use crate::clock::{from_millis, to_millis};
use crate::error::Common;
use crate::identity::{Caller, Role};
use crate::ids::new_id;
use crate::lifecycle::tender as lifecycle;
use crate::store::blob::sha256_hex;
use crate::store::{Db, Tx};
use crate::supervision::SupervisionError;
use crate::supervision::alerts::require_regulator;
use crate::supervision::config::{Calendar, TimeLimits};
use crate::text::{self, Lines};
use crate::{q_all, q_exec, q_opt};

/// What a complaint is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Matter {
    /// The opening (第44条): an opening objection comes first.
    Opening,
    /// The evaluation result (第54条): a result objection comes first.
    Result,
    /// Anything else: within 10 days of knowing (`known_at`).
    Other,
}

impl Matter {
    fn as_str(self) -> &'static str {
        match self {
            Matter::Opening => "opening",
            Matter::Result => "result",
            Matter::Other => "other",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Matter::Opening, Matter::Result, Matter::Other]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A complaint as filed.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileInput {
    /// The tender's project code.
    pub tender: String,
    /// `opening`, `result` or `other`.
    pub matter: String,
    /// The complaint with its facts and evidence.
    pub text: String,
    /// For `other`: when the complainant learnt of the matter (RFC 3339).
    #[serde(default)]
    pub known_at: Option<DateTime<Utc>>,
}

/// A regulator's decision.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    /// `upheld` or `dismissed`.
    pub outcome: String,
    /// The written decision (published).
    pub text: String,
}

/// A refusal to accept, with reasons.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    /// Why the complaint is not accepted.
    pub text: String,
}

/// A complaint as its complainant and regulators see it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ComplaintView {
    /// Identifier.
    pub complaint_id: String,
    /// The tender's id.
    pub tender_id: String,
    /// The complaining organisation.
    pub complainant_org_id: String,
    /// What it is about.
    pub matter: String,
    /// The complaint.
    pub body: String,
    /// The prior objection, where one was required.
    pub objection_id: Option<String>,
    /// filed | accepted | rejected | decided.
    pub state: String,
    /// When filed (ms).
    pub filed_at: i64,
    /// Acceptance due (ms, end of the 3rd working day).
    pub accept_due_at: i64,
    /// Decision due (ms, end of the 30th working day after acceptance).
    pub decide_due_at: Option<i64>,
    /// upheld | dismissed (or rejected).
    pub outcome: Option<String>,
    /// The written decision.
    pub decision: Option<String>,
    /// When decided (ms).
    pub decided_at: Option<i64>,
}

/// A decision as the portal publishes it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PublishedDecision {
    /// Identifier.
    pub complaint_id: String,
    /// What it was about.
    pub matter: String,
    /// upheld | dismissed | rejected.
    pub outcome: Option<String>,
    /// The written decision.
    pub decision: Option<String>,
    /// When decided (ms).
    pub decided_at: Option<i64>,
}

const COLUMNS: &str =
    "complaint_id, tender_id, complainant_org_id, matter, body, objection_id, state,
    filed_at, accept_due_at, decide_due_at, outcome, decision, decided_at";

fn invalid(code: &'static str, msg: &str) -> SupervisionError {
    SupervisionError::Invalid(code, msg.to_string())
}

fn checked_text(field: &str, value: &str) -> Result<String, SupervisionError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 8000 {
        return Err(SupervisionError::Invalid(
            "TEXT_REQUIRED",
            format!("{field} must be 1–8000 characters / {field} 须为 1–8000 字"),
        ));
    }
    text::check(field, v, Lines::Multi)?;
    Ok(v.to_string())
}

/// Whether the organisation is a party of the tender: it bid, or one of its users obtained
/// the documents.
async fn is_party(tx: &mut Tx, tender_id: &str, org_id: &str) -> Result<bool, SupervisionError> {
    let row: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select bid_id from bid where tender_id = $1 and bidder_org_id = $2
         union all
         select d.download_id from document_download d join app_user u on u.user_id = d.user_id
         where d.tender_id = $1 and u.org_id = $2
         limit 1",
        tender_id.to_string(),
        org_id.to_string()
    )?;
    Ok(row.is_some())
}

/// The prior objection of the organisation on this matter: (id, raised, answered).
async fn prior_objection(
    tx: &mut Tx,
    matter: Matter,
    tender_id: &str,
    org_id: &str,
) -> Result<Option<(String, i64, Option<i64>)>, SupervisionError> {
    let sql = match matter {
        Matter::Opening => {
            "select objection_id, raised_at, answered_at from opening_objection
             where tender_id = $1 and bidder_org_id = $2 order by raised_at desc limit 1"
        }
        Matter::Result => {
            "select objection_id, raised_at, answered_at from result_objection
             where tender_id = $1 and org_id = $2 order by raised_at desc limit 1"
        }
        Matter::Other => return Ok(None),
    };
    Ok(q_opt!(
        tx,
        (String, i64, Option<i64>),
        sql,
        tender_id.to_string(),
        org_id.to_string()
    )?)
}

/// A party files a complaint (实施条例 第60条), within the window and after the objection
/// that `limits` (the supervision rules) give.
pub async fn file(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    input: &FileInput,
    limits: &TimeLimits,
) -> Result<ComplaintView, SupervisionError> {
    let org = match (&caller.user.role, caller.org_id()) {
        (Role::Bidder, Some(org)) => org.to_string(),
        _ => {
            return Err(Common::Forbidden(
                "only a bidder or interested company files complaints / 仅投标人或利害关系人可投诉",
            )
            .into());
        }
    };
    let matter = Matter::parse(&input.matter).ok_or_else(|| {
        invalid(
            "COMPLAINT_BAD_MATTER",
            "matter must be opening, result or other / 投诉事项须为开标、评标结果或其他",
        )
    })?;
    let body = checked_text("text", &input.text)?;
    let mut tx = db.begin().await?;
    let facts = lifecycle::by_code(&mut tx, &input.tender).await?;
    if !is_party(&mut tx, &facts.tender_id, &org).await? {
        return Err(SupervisionError::Common(Common::Forbidden(
            "only a party of the tender may complain (实施条例 第60条) / 非本项目投标人或利害关系人",
        )));
    }
    let window = Duration::days(limits.complaint_window_days);
    let (objection_id, start) = match matter {
        Matter::Other => {
            let known = input.known_at.ok_or_else(|| {
                invalid(
                    "COMPLAINT_KNOWN_AT_REQUIRED",
                    "known_at is required for this matter / 须填写知道或应当知道之日",
                )
            })?;
            if known > now {
                return Err(invalid(
                    "COMPLAINT_KNOWN_AT_FUTURE",
                    "known_at lies in the future / 知道之日不能晚于现在",
                ));
            }
            (None, known)
        }
        Matter::Opening | Matter::Result => {
            let Some((id, raised, answered)) =
                prior_objection(&mut tx, matter, &facts.tender_id, &org).await?
            else {
                return Err(invalid(
                    "COMPLAINT_OBJECTION_FIRST",
                    "an objection to the tenderee must come first (实施条例 第60条) / 应当先向招标人提出异议",
                ));
            };
            // The answer period does not count; an unanswered objection frees the way
            // once its answer is overdue.
            let start = match answered {
                Some(at) => from_millis(at),
                None => {
                    let due = from_millis(raised) + Duration::days(limits.objection_answer_days);
                    if now < due {
                        return Err(SupervisionError::Conflict(
                            "COMPLAINT_OBJECTION_PENDING",
                            "the objection's answer is still awaited / 异议答复期内不得投诉".into(),
                        ));
                    }
                    due
                }
            };
            (Some(id), start)
        }
    };
    if now > start + window {
        let days = limits.complaint_window_days;
        return Err(SupervisionError::Invalid(
            "COMPLAINT_OUT_OF_WINDOW",
            format!(
                "a complaint is filed within {days} days of knowing (实施条例 第60条) / 投诉已超过{days}日期限"
            ),
        ));
    }
    let cal = Calendar::builtin()?;
    let complaint_id = new_id();
    let accept_due = cal.working_days_after(now, limits.complaint_accept_working_days);
    q_exec!(
        tx,
        "insert into complaint (complaint_id, tender_id, complainant_org_id, filed_by, matter, body,
            objection_id, state, filed_at, accept_due_at)
         values ($1, $2, $3, $4, $5, $6, $7, 'filed', $8, $9)",
        complaint_id.clone(),
        facts.tender_id.clone(),
        org.clone(),
        caller.user.user_id.clone(),
        matter.as_str(),
        body.clone(),
        objection_id.clone(),
        to_millis(now),
        to_millis(accept_due)
    )?;
    // Who complains may reveal who bid: withheld until the opening like the bids.
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "complaint.file",
        &facts.tender_id,
        json!({"complaint_id": complaint_id, "org_id": org, "matter": matter.as_str(),
               "objection_id": objection_id, "body_sha256": sha256_hex(body.as_bytes()),
               "accept_due": audit::entry_time(accept_due)}),
        Stage::Opening,
    )
    .await?;
    let v = load(&mut tx, &complaint_id).await?;
    tx.commit().await?;
    Ok(v)
}

async fn load(tx: &mut Tx, id: &str) -> Result<ComplaintView, SupervisionError> {
    let sql = format!("select {COLUMNS} from complaint where complaint_id = $1");
    Ok(
        q_opt!(tx, ComplaintView, sqlx::AssertSqlSafe(sql), id.to_string())?
            .ok_or(Common::NotFound("complaint"))?,
    )
}

/// Complaints the caller may see: all for regulators, their own organisation's for bidders.
pub async fn list(db: &Db, caller: &Caller) -> Result<Vec<ComplaintView>, SupervisionError> {
    let mut tx = db.read().await?;
    if caller.is(Role::Regulator) {
        let sql = format!("select {COLUMNS} from complaint order by filed_at desc limit 500");
        return Ok(q_all!(tx, ComplaintView, sqlx::AssertSqlSafe(sql))?);
    }
    let Some(org) = caller.org_id().filter(|_| caller.is(Role::Bidder)) else {
        return Err(Common::Forbidden(
            "only regulators and complainants / 仅监督人员和投诉人可查看",
        )
        .into());
    };
    let sql = format!(
        "select {COLUMNS} from complaint where complainant_org_id = $1 order by filed_at desc limit 500"
    );
    Ok(q_all!(
        tx,
        ComplaintView,
        sqlx::AssertSqlSafe(sql),
        org.to_string()
    )?)
}

/// The regulator accepts a filed complaint; the decision is due the working days `limits`
/// give later (30 by default, 实施条例 第61条).
pub async fn accept(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    id: &str,
    limits: &TimeLimits,
) -> Result<ComplaintView, SupervisionError> {
    require_regulator(caller)?;
    let cal = Calendar::builtin()?;
    let due = cal.working_days_after(now, limits.complaint_decide_working_days);
    let mut tx = db.begin().await?;
    let c = load(&mut tx, id).await?;
    let n = q_exec!(
        tx,
        "update complaint set state = 'accepted', accepted_at = $1, decide_due_at = $2
         where complaint_id = $3 and state = 'filed'",
        to_millis(now),
        to_millis(due),
        id.to_string()
    )?;
    if n == 0 {
        return Err(wrong_state(&c));
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "complaint.accept",
        Some(&c.tender_id),
        json!({"complaint_id": id, "decide_due": audit::entry_time(due)}),
    )
    .await?;
    let v = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(v)
}

fn wrong_state(c: &ComplaintView) -> SupervisionError {
    SupervisionError::Conflict(
        "COMPLAINT_WRONG_STATE",
        format!("the complaint is {} / 投诉当前状态不允许此操作", c.state),
    )
}

/// The regulator refuses to accept a filed complaint, with reasons (published).
pub async fn reject(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    id: &str,
    input: &RejectInput,
) -> Result<ComplaintView, SupervisionError> {
    require_regulator(caller)?;
    let text = checked_text("text", &input.text)?;
    let mut tx = db.begin().await?;
    let c = load(&mut tx, id).await?;
    let n = q_exec!(
        tx,
        "update complaint set state = 'rejected', outcome = 'rejected', decision = $1,
            decided_at = $2, decided_by = $3
         where complaint_id = $4 and state = 'filed'",
        text.clone(),
        to_millis(now),
        caller.user.user_id.clone(),
        id.to_string()
    )?;
    if n == 0 {
        return Err(wrong_state(&c));
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "complaint.reject",
        Some(&c.tender_id),
        json!({"complaint_id": id, "text_sha256": sha256_hex(text.as_bytes())}),
    )
    .await?;
    let v = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(v)
}

/// The regulator decides an accepted complaint in writing; the decision is published.
pub async fn decide(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    id: &str,
    input: &DecideInput,
) -> Result<ComplaintView, SupervisionError> {
    require_regulator(caller)?;
    if !matches!(input.outcome.as_str(), "upheld" | "dismissed") {
        return Err(SupervisionError::Invalid(
            "COMPLAINT_BAD_OUTCOME",
            "outcome must be upheld or dismissed / 处理结论须为成立或驳回".into(),
        ));
    }
    let text = checked_text("text", &input.text)?;
    let mut tx = db.begin().await?;
    let c = load(&mut tx, id).await?;
    let n = q_exec!(
        tx,
        "update complaint set state = 'decided', outcome = $1, decision = $2, decided_at = $3,
            decided_by = $4
         where complaint_id = $5 and state = 'accepted'",
        input.outcome.clone(),
        text.clone(),
        to_millis(now),
        caller.user.user_id.clone(),
        id.to_string()
    )?;
    if n == 0 {
        return Err(wrong_state(&c));
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "complaint.decide",
        Some(&c.tender_id),
        json!({"complaint_id": id, "outcome": input.outcome,
               "text_sha256": sha256_hex(text.as_bytes())}),
    )
    .await?;
    let v = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(v)
}

/// The published decisions of a tender (anyone; the tender must be public).
pub async fn published(db: &Db, code: &str) -> Result<Vec<PublishedDecision>, SupervisionError> {
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if facts.published_at.is_none() {
        return Err(Common::NotFound("tender").into());
    }
    Ok(q_all!(
        tx,
        PublishedDecision,
        "select complaint_id, matter, outcome, decision, decided_at from complaint
         where tender_id = $1 and state in ('decided', 'rejected') order by decided_at",
        facts.tender_id
    )?)
}
