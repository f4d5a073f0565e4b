//! Cases (案件): a regulator opens one from an alert, writes notes, may suspend the tender
//! (实施条例 第62条) and resume it, and closes the case with a finding — dismissed,
//! rectification ordered, or a penalty. A penalised expert is marked `penalised`, which
//! the draw's avoidance (暂行规定 第12条) already excludes; a penalised company is recorded
//! for the registration and eligibility reviews ([`company_penalised`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::alerts::{self, event, require_regulator};
use super::error::SupervisionError;
use crate::clock::{from_millis, to_millis};
use crate::error::Common;
use crate::identity::Caller;
use crate::ids::new_id;
use crate::lifecycle::tender::{self as lifecycle, Move, TenderState};
use crate::store::{Db, Tx};
use crate::text::{self, Lines};
use crate::{q_all, q_exec, q_opt};

/// What a closed case found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Nothing wrong.
    Dismissed,
    /// Rectification ordered (责令改正).
    Rectification,
    /// A penalty recorded (行政处罚).
    Penalty,
}

impl Finding {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Dismissed => "dismissed",
            Finding::Rectification => "rectification",
            Finding::Penalty => "penalty",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Finding::Dismissed, Finding::Rectification, Finding::Penalty]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// Who a penalty is recorded against.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PenaltyInput {
    /// `expert` or `company`.
    pub subject: String,
    /// The expert's id or the company's organisation id.
    pub id: String,
}

/// Opening a case: from an alert or from a complaint (exactly one of the two).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCaseInput {
    /// The alert the case starts from.
    #[serde(default)]
    pub alert_id: Option<String>,
    /// The complaint the case starts from (filed or accepted).
    #[serde(default)]
    pub complaint_id: Option<String>,
}

/// A note, or a suspension's reason.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
// The award has its own TextInput; one name would replace the other in the document.
#[schema(as = CaseTextInput)]
pub struct TextInput {
    /// The text.
    pub text: String,
}

/// Closing a case.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseInput {
    /// `dismissed`, `rectification` or `penalty` (required).
    pub finding: Option<String>,
    /// The finding's reasons.
    #[serde(default)]
    pub text: String,
    /// With a penalty: who is penalised.
    #[serde(default)]
    pub penalties: Vec<PenaltyInput>,
}

/// A note of a case.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct NoteView {
    /// Identifier.
    pub note_id: String,
    /// Who wrote it.
    pub author_id: String,
    /// The text.
    pub body: String,
    /// When (ms since the epoch).
    pub created_at: i64,
}

/// A case as regulators see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    /// Identifier.
    pub case_id: String,
    /// The tender's id.
    pub tender: Option<String>,
    /// The alert it was opened from.
    pub alert_id: Option<String>,
    /// The complaint it was opened from.
    pub complaint_id: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    /// The finding, once closed.
    pub finding: Option<Finding>,
    /// The finding's reasons.
    pub finding_text: Option<String>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Whether the tender is suspended by this case now, and why.
    pub suspended_reason: Option<String>,
    /// The notes, oldest first.
    pub notes: Vec<NoteView>,
}

#[derive(sqlx::FromRow)]
struct CaseRow {
    case_id: String,
    tender_id: Option<String>,
    alert_id: Option<String>,
    complaint_id: Option<String>,
    state: String,
    finding: Option<String>,
    finding_text: Option<String>,
    opened_at: i64,
    closed_at: Option<i64>,
}

async fn load(tx: &mut Tx, case_id: &str) -> Result<CaseView, SupervisionError> {
    let r = q_opt!(
        tx,
        CaseRow,
        "select case_id, tender_id, alert_id, complaint_id, state, finding, finding_text, opened_at,
            closed_at
         from supervision_case where case_id = $1",
        case_id.to_string()
    )?
    .ok_or(Common::NotFound("case"))?;
    let notes = q_all!(
        tx,
        NoteView,
        "select note_id, author_id, body, created_at from supervision_case_note
         where case_id = $1 order by created_at, note_id",
        case_id.to_string()
    )?;
    let suspended: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select reason from tender_suspension where case_id = $1 and resumed_at is null",
        case_id.to_string()
    )?;
    Ok(CaseView {
        finding: r.finding.as_deref().and_then(Finding::parse),
        case_id: r.case_id,
        tender: r.tender_id,
        alert_id: r.alert_id,
        complaint_id: r.complaint_id,
        state: r.state,
        finding_text: r.finding_text,
        opened_at: from_millis(r.opened_at),
        closed_at: r.closed_at.map(from_millis),
        suspended_reason: suspended.map(|(s,)| s),
        notes,
    })
}

fn open_only(case: &CaseView) -> Result<(), SupervisionError> {
    if case.state == "open" {
        Ok(())
    } else {
        Err(SupervisionError::Conflict(
            "CASE_CLOSED",
            "the case is closed / 案件已办结".into(),
        ))
    }
}

fn required_text(field: &str, value: &str) -> Result<String, SupervisionError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 4000 {
        return Err(SupervisionError::Invalid(
            "TEXT_REQUIRED",
            format!("{field} must be 1–4000 characters / {field} 须为 1–4000 字"),
        ));
    }
    text::check(field, v, Lines::Multi)?;
    Ok(v.to_string())
}

/// Opens a case from an alert (open or acknowledged; the alert moves to `in_case`) or from
/// a complaint that is filed or accepted and has no open case yet.
pub async fn open_case(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    input: &OpenCaseInput,
) -> Result<CaseView, SupervisionError> {
    require_regulator(caller)?;
    fn nonempty(s: &Option<String>) -> Option<&str> {
        s.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let mut tx = db.begin().await?;
    let (tender, alert_id, complaint_id) =
        match (nonempty(&input.alert_id), nonempty(&input.complaint_id)) {
            (Some(a), None) => {
                let alert = alerts::load(&mut tx, a).await?;
                claim_alert(&mut tx, &alert).await?;
                (alert.tender, Some(alert.alert_id), None)
            }
            (None, Some(c)) => {
                let tender = claim_complaint(&mut tx, c).await?;
                (Some(tender), None, Some(c.to_string()))
            }
            _ => {
                return Err(SupervisionError::Invalid(
                    "CASE_SOURCE",
                    "a case starts from one alert or one complaint / 立案须指明一条预警或一件投诉"
                        .into(),
                ));
            }
        };
    let case_id = new_id();
    q_exec!(
        tx,
        "insert into supervision_case (case_id, tender_id, alert_id, complaint_id, opened_by, state,
            opened_at)
         values ($1, $2, $3, $4, $5, 'open', $6)",
        case_id.clone(),
        tender.clone(),
        alert_id.clone(),
        complaint_id.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    )?;
    event(
        &mut tx,
        now,
        caller,
        "supervision.case.open",
        tender.as_deref(),
        json!({"case_id": case_id, "alert_id": alert_id, "complaint_id": complaint_id}),
    )
    .await?;
    let view = load(&mut tx, &case_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Moves an open or acknowledged alert into a case.
async fn claim_alert(tx: &mut Tx, alert: &alerts::AlertView) -> Result<(), SupervisionError> {
    let n = q_exec!(
        tx,
        "update supervision_alert set status = 'in_case'
         where alert_id = $1 and status in ('open', 'acknowledged')",
        alert.alert_id.clone()
    )?;
    if n == 0 {
        return Err(SupervisionError::Conflict(
            "ALERT_ALREADY_HANDLED",
            format!(
                "the alert is {} already / 该预警已立案或办结",
                alert.status.as_str()
            ),
        ));
    }
    Ok(())
}

/// Checks that a complaint can start a case: it exists, is still being handled (filed or
/// accepted), and no open case investigates it. Returns its tender.
async fn claim_complaint(tx: &mut Tx, complaint_id: &str) -> Result<String, SupervisionError> {
    let (tender_id, state): (String, String) = q_opt!(
        tx,
        (String, String),
        "select tender_id, state from complaint where complaint_id = $1",
        complaint_id.to_string()
    )?
    .ok_or(Common::NotFound("complaint"))?;
    if !matches!(state.as_str(), "filed" | "accepted") {
        return Err(SupervisionError::Conflict(
            "COMPLAINT_WRONG_STATE",
            format!("the complaint is {state} / 投诉已处理完毕，不能立案"),
        ));
    }
    let open: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select case_id from supervision_case where complaint_id = $1 and state = 'open'",
        complaint_id.to_string()
    )?;
    if open.is_some() {
        return Err(SupervisionError::Conflict(
            "COMPLAINT_CASE_OPEN",
            "an open case already investigates this complaint / 该投诉已立案".into(),
        ));
    }
    Ok(tender_id)
}

/// Every case, newest first (at most 500), without their notes (regulators only).
pub async fn list_cases(db: &Db, caller: &Caller) -> Result<Vec<CaseView>, SupervisionError> {
    require_regulator(caller)?;
    let mut tx = db.read().await?;
    let rows = q_all!(
        tx,
        CaseRow,
        "select case_id, tender_id, alert_id, complaint_id, state, finding, finding_text, opened_at,
            closed_at
         from supervision_case order by opened_at desc, case_id desc limit 500"
    )?;
    let suspended: std::collections::HashMap<String, String> = q_all!(
        tx,
        (String, String),
        "select case_id, reason from tender_suspension where resumed_at is null and case_id is not null"
    )?
    .into_iter()
    .collect();
    Ok(rows
        .into_iter()
        .map(|r| CaseView {
            finding: r.finding.as_deref().and_then(Finding::parse),
            suspended_reason: suspended.get(&r.case_id).cloned(),
            case_id: r.case_id,
            tender: r.tender_id,
            alert_id: r.alert_id,
            complaint_id: r.complaint_id,
            state: r.state,
            finding_text: r.finding_text,
            opened_at: from_millis(r.opened_at),
            closed_at: r.closed_at.map(from_millis),
            notes: Vec::new(),
        })
        .collect())
}

/// One case with its notes.
pub async fn get_case(
    db: &Db,
    caller: &Caller,
    case_id: &str,
) -> Result<CaseView, SupervisionError> {
    require_regulator(caller)?;
    let mut tx = db.read().await?;
    load(&mut tx, case_id).await
}

/// Adds a note to an open case; the log holds its digest.
pub async fn add_note(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    case_id: &str,
    input: &TextInput,
) -> Result<CaseView, SupervisionError> {
    require_regulator(caller)?;
    let body = required_text("note", &input.text)?;
    let mut tx = db.begin().await?;
    let case = load(&mut tx, case_id).await?;
    open_only(&case)?;
    let note_id = new_id();
    q_exec!(
        tx,
        "insert into supervision_case_note (note_id, case_id, author_id, body, created_at)
         values ($1, $2, $3, $4, $5)",
        note_id.clone(),
        case_id.to_string(),
        caller.user.user_id.clone(),
        body.clone(),
        to_millis(now)
    )?;
    event(
        &mut tx,
        now,
        caller,
        "supervision.case.note",
        case.tender.as_deref(),
        json!({"case_id": case_id, "note_id": note_id,
               "body_sha256": crate::store::blob::sha256_hex(body.as_bytes())}),
    )
    .await?;
    let view = load(&mut tx, case_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Suspends the case's tender (实施条例 第62条): every further step is refused until it is
/// resumed. Suspending a suspended tender is a 409.
pub async fn suspend(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    case_id: &str,
    input: &TextInput,
) -> Result<CaseView, SupervisionError> {
    require_regulator(caller)?;
    let reason = required_text("reason", &input.text)?;
    let mut tx = db.begin().await?;
    let case = load(&mut tx, case_id).await?;
    open_only(&case)?;
    let tender_id = case.tender.clone().ok_or(SupervisionError::Conflict(
        "CASE_WITHOUT_TENDER",
        "the case concerns no tender / 案件未关联项目".into(),
    ))?;
    let facts = lifecycle::by_id(&mut tx, &tender_id).await?;
    if facts.state == TenderState::Suspended {
        return Err(SupervisionError::Conflict(
            "TENDER_ALREADY_SUSPENDED",
            "the tender is already suspended / 该项目已暂停".into(),
        ));
    }
    if !TenderState::SUSPENDABLE.contains(&facts.state) {
        return Err(SupervisionError::Conflict(
            "TENDER_WRONG_STATE",
            format!(
                "a tender that is {} cannot be suspended / 项目当前状态（{}）不能暂停",
                facts.state.as_str(),
                facts.state.label_zh()
            ),
        ));
    }
    q_exec!(
        tx,
        "insert into tender_suspension (suspension_id, tender_id, case_id, from_state, reason,
            suspended_by, suspended_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        new_id(),
        tender_id.clone(),
        case_id.to_string(),
        facts.state.as_str(),
        reason.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    )?;
    // The suspension itself is public: bidders must learn why the procedure stopped.
    lifecycle::transition(
        &mut tx,
        now,
        &tender_id,
        facts.state,
        TenderState::Suspended,
        Move::new(
            &caller.actor,
            "tender.suspend",
            json!({"case_id": case_id, "from": facts.state.as_str(), "reason": reason,
                   "article": "实施条例 第62条"}),
        ),
    )
    .await?;
    let view = load(&mut tx, case_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Resumes the case's suspended tender to the state it was suspended from.
pub async fn resume(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    case_id: &str,
) -> Result<CaseView, SupervisionError> {
    require_regulator(caller)?;
    let mut tx = db.begin().await?;
    let case = load(&mut tx, case_id).await?;
    let open: Option<(String, String, String)> = q_opt!(
        tx,
        (String, String, String),
        "select suspension_id, tender_id, from_state from tender_suspension
         where case_id = $1 and resumed_at is null",
        case_id.to_string()
    )?;
    let Some((suspension_id, tender_id, from)) = open else {
        return Err(SupervisionError::Conflict(
            "TENDER_NOT_SUSPENDED",
            "this case has not suspended the tender / 本案件未暂停该项目".into(),
        ));
    };
    let to = TenderState::parse(&from).ok_or_else(|| Common::Corrupt(from.clone()))?;
    q_exec!(
        tx,
        "update tender_suspension set resumed_by = $1, resumed_at = $2 where suspension_id = $3",
        caller.user.user_id.clone(),
        to_millis(now),
        suspension_id
    )?;
    lifecycle::transition(
        &mut tx,
        now,
        &tender_id,
        TenderState::Suspended,
        to,
        Move::new(
            &caller.actor,
            "tender.resume",
            json!({"case_id": case.case_id, "to": from}),
        ),
    )
    .await?;
    let view = load(&mut tx, case_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Closes a case with its finding (400 without one); a penalty records each subject and
/// marks penalised experts for the draws' avoidance. A tender still suspended by the case
/// must be resumed first.
pub async fn close(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    case_id: &str,
    input: &CloseInput,
) -> Result<CaseView, SupervisionError> {
    require_regulator(caller)?;
    let finding = match input.finding.as_deref().map(str::trim) {
        None | Some("") => {
            return Err(SupervisionError::Invalid(
                "CASE_FINDING_REQUIRED",
                "closing a case needs a finding: dismissed, rectification or penalty / 办结须有处理结论".into(),
            ));
        }
        Some(f) => Finding::parse(f).ok_or_else(|| {
            SupervisionError::Invalid(
                "CASE_BAD_FINDING",
                format!(
                    "unknown finding {f:?}: dismissed, rectification or penalty / 处理结论无效"
                ),
            )
        })?,
    };
    let text = required_text("text", &input.text)?;
    if (finding == Finding::Penalty) == input.penalties.is_empty() {
        return Err(SupervisionError::Invalid(
            "CASE_PENALTIES",
            "a penalty names at least one expert or company, other findings none / 处罚须指明对象"
                .into(),
        ));
    }
    let mut tx = db.begin().await?;
    let case = load(&mut tx, case_id).await?;
    open_only(&case)?;
    if case.suspended_reason.is_some() {
        return Err(SupervisionError::Conflict(
            "CASE_TENDER_SUSPENDED",
            "resume the tender before closing the case / 请先恢复项目再办结案件".into(),
        ));
    }
    let mut recorded = Vec::new();
    for p in &input.penalties {
        recorded.push(record_penalty(&mut tx, now, case_id, p, &text).await?);
    }
    q_exec!(
        tx,
        "update supervision_case set state = 'closed', finding = $1, finding_text = $2, closed_at = $3
         where case_id = $4 and state = 'open'",
        finding.as_str(),
        text.clone(),
        to_millis(now),
        case_id.to_string()
    )?;
    if let Some(a) = &case.alert_id {
        q_exec!(
            tx,
            "update supervision_alert set status = 'closed' where alert_id = $1",
            a.clone()
        )?;
    }
    event(
        &mut tx,
        now,
        caller,
        "supervision.case.close",
        case.tender.as_deref(),
        json!({"case_id": case_id, "finding": finding.as_str(),
               "text_sha256": crate::store::blob::sha256_hex(text.as_bytes()), "penalties": recorded}),
    )
    .await?;
    let view = load(&mut tx, case_id).await?;
    tx.commit().await?;
    Ok(view)
}

async fn record_penalty(
    tx: &mut Tx,
    now: DateTime<Utc>,
    case_id: &str,
    p: &PenaltyInput,
    reason: &str,
) -> Result<serde_json::Value, SupervisionError> {
    let n = match p.subject.as_str() {
        // 暂行规定 第12条(四): the draw's eligibility excludes penalised experts.
        "expert" => q_exec!(
            tx,
            "update expert set penalised = 1 where expert_id = $1",
            p.id.clone()
        )?,
        "company" => q_opt!(
            tx,
            (String,),
            "select org_id from organisation where org_id = $1",
            p.id.clone()
        )?
        .map_or(0, |_| 1),
        other => {
            return Err(SupervisionError::Invalid(
                "CASE_PENALTIES",
                format!(
                    "a penalty is against an expert or a company, not {other:?} / 处罚对象无效"
                ),
            ));
        }
    };
    if n == 0 {
        return Err(SupervisionError::Invalid(
            "CASE_PENALTIES",
            format!("no {} {:?} / 处罚对象不存在", p.subject, p.id),
        ));
    }
    q_exec!(
        tx,
        "insert into supervision_penalty (penalty_id, case_id, subject_kind, subject_id, reason, created_at)
         values ($1, $2, $3, $4, $5, $6)",
        new_id(),
        case_id.to_string(),
        p.subject.clone(),
        p.id.clone(),
        reason.to_string(),
        to_millis(now)
    )?;
    Ok(json!({"subject": p.subject, "id": p.id}))
}

/// Whether a company has a penalty on record (for registration and eligibility reviews).
pub async fn company_penalised(tx: &mut Tx, org_id: &str) -> Result<bool, SupervisionError> {
    let row: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select penalty_id from supervision_penalty where subject_kind = 'company' and subject_id = $1",
        org_id.to_string()
    )?;
    Ok(row.is_some())
}
