//! The draw service: draw requests with automatic avoidance (回避), the commit → supervisor
//! input → draw procedure of docs/expert-draw.md with every step in the audit log,
//! confidential views, confirmation and decline, replacement draws (also from the
//! `draw_confirm_timeout` job), the reveal after the award and the public record that
//! `sunbid draw verify` replays.
//!
//! Transactions: each step is one transaction that writes its state with a guard on the old
//! one and appends its audit event(s); a refused or concurrent request changes nothing.
//! Time is passed in (`now`).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::draw::{
    DrawError, DrawResult, DrawSecret, Hash, Transcript, check, derive_seed, draw,
    validate_request, validate_supervisor_input,
};
use super::eligibility::{
    DrawRequest, EligibilityRules, Expert, ExpertStatus, Quota, RegionRestriction, Title, eligible,
    matches_specialty,
};
use super::pool;
use super::specialty::Specialties;
use crate::audit::{self, Actor};
use crate::clock::{from_millis, to_millis};
use crate::http::ApiError;
use crate::identity::Role;
use crate::identity::passkey::PasskeyError;
use crate::ids::{is_id, new_id};
use crate::store::{Db, StoreError, Tx, is_unique_violation};
use crate::tender::TenderError;
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_one, q_opt};

// Entries that name drawn experts (the result, answers, check-ins) are appended with
// `audit::append_withheld_until(…, Stage::Award)`: the public sees their leaf hash only until
// the tender's award (招标投标法 第37条); regulators see them at once.

/// Default time a drawn expert has to confirm, in minutes.
pub const DEFAULT_CONFIRM_MINUTES: u32 = 12 * 60;
/// Default check-in window around the evaluation start, in minutes.
pub const DEFAULT_CHECKIN_BEFORE: u32 = 60;
/// Default check-in window after the evaluation start, in minutes.
pub const DEFAULT_CHECKIN_AFTER: u32 = 30;

/// The job kind that expires unanswered confirmations.
pub const CONFIRM_JOB: &str = "draw_confirm_timeout";

/// China Standard Time, the tenders' time zone.
pub fn china_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// The China-time calendar date of an instant in ms.
pub fn china_date(ms: i64) -> NaiveDate {
    from_millis(ms).with_timezone(&china_offset()).date_naive()
}

// ---- errors -----------------------------------------------------------------------------

/// Expert pool, draw and check-in failures, each with a stable code ([`ExpertError::code`])
/// and one HTTP status (the `From<ExpertError> for ApiError` below).
#[derive(Debug, thiserror::Error)]
pub enum ExpertError {
    /// Role or organisation may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such record (or not visible to the caller).
    #[error("{0} not found / 未找到")]
    NotFound(&'static str),
    /// A field is invalid.
    #[error("{message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// A text holds a control or bidi-override character (`crate::text`).
    #[error(transparent)]
    Text(#[from] crate::text::ForbiddenChar),
    /// A specialty that is not in the tree.
    #[error("unknown specialty {0:?} (use a code such as A0101, an alias or its name) / 未知专业")]
    UnknownSpecialty(String),
    /// An organisation id or credit code that does not exist.
    #[error("unknown organisation {0:?} / 单位不存在")]
    UnknownOrg(String),
    /// The linked login is not an expert user.
    #[error("the linked user must exist and have the role expert / 关联账号须为专家角色用户")]
    BadExpertUser,
    /// The login is linked to another expert already.
    #[error("this user is linked to another expert already / 该账号已关联其他专家")]
    UserAlreadyLinked,
    /// The CSV header is unusable; nothing was imported.
    #[error("CSV header: {0}")]
    BadCsvHeader(String),
    /// The CSV is too large.
    #[error("the CSV is larger than 8 MiB / CSV 文件超过 8 MiB")]
    CsvTooLarge,
    /// A reason is required.
    #[error("a reason (1–2000 characters) is required / 须填写原因（1–2000字）")]
    ReasonRequired,
    /// The expert's status does not allow this change.
    #[error("an expert who is {status} cannot become {target} / 专家当前状态不允许此操作")]
    WrongStatus {
        /// Current status.
        status: &'static str,
        /// Wanted status.
        target: &'static str,
    },
    /// The tender is not in a state where experts are drawn.
    #[error("experts cannot be drawn for a tender in state {0} / 当前项目状态不能抽取专家")]
    TenderState(String),
    /// The supervisor is not an active regulator-role user.
    #[error(
        "supervisor_user_id must be an active user with role regulator / 监督人须为已启用的监管角色用户"
    )]
    BadSupervisor,
    /// A live draw exists for the tender.
    #[error(
        "this tender already has a draw request; a second one is refused / 该项目已有抽取申请，不能重复抽取"
    )]
    DrawExists,
    /// The draw was performed already.
    #[error(
        "this draw has been performed already; it cannot be drawn again / 该次抽取已完成，不能重复抽取"
    )]
    DrawAlreadyPerformed,
    /// The draw failed earlier.
    #[error("this draw failed; make a new request / 该次抽取已失败，请重新申请")]
    DrawFailed,
    /// The draw core refused.
    #[error(transparent)]
    Draw(#[from] DrawError),
    /// The draw is not revealed yet.
    #[error("the draw is revealed only after the award / 抽取秘密在中标结果公布后公开")]
    NotRevealed,
    /// The tender has no award yet.
    #[error("the tender has not been awarded yet / 项目尚未确定中标结果")]
    NotAwarded,
    /// The assignment was answered or expired already.
    #[error("this assignment is no longer waiting for an answer / 该抽取通知已答复或已过期")]
    AssignmentState,
    /// Too late to answer.
    #[error("the time to answer has passed / 已超过答复期限")]
    ResponseWindowClosed,
    /// Check-in by an expert who was not drawn as a member.
    #[error(
        "you are not a drawn member of this tender's committee / 您不是本项目抽取的评标委员会成员"
    )]
    NotDrawn,
    /// Check-in by a member who has not confirmed (or declined).
    #[error("{0}")]
    NotConfirmed(&'static str),
    /// Before the check-in window.
    #[error("check-in opens at {0} (China time) / 签到将于北京时间{0}开始")]
    CheckinNotOpen(String),
    /// After the check-in window.
    #[error("check-in closed at {0} (China time) / 签到已于北京时间{0}结束")]
    CheckinClosed(String),
    /// Checked in already.
    #[error("already checked in / 已签到")]
    AlreadyCheckedIn,
    /// Passkey failure (user verification, counter regression, ceremony …).
    #[error(transparent)]
    Passkey(#[from] PasskeyError),
    /// Tender-layer failure (e.g. a malformed time).
    #[error(transparent)]
    Tender(#[from] TenderError),
    /// Stored data no code writes.
    #[error("corrupt expert data: {0}")]
    Corrupt(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ExpertError {
    fn from(e: sqlx::Error) -> Self {
        ExpertError::Store(StoreError::Sql(e))
    }
}

impl ExpertError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ExpertError::Forbidden(_) => "FORBIDDEN",
            ExpertError::NotFound(_) => "NOT_FOUND",
            ExpertError::Invalid { .. } => "INVALID_EXPERT_FIELD",
            ExpertError::Text(_) => crate::text::CODE,
            ExpertError::UnknownSpecialty(_) => "UNKNOWN_SPECIALTY",
            ExpertError::UnknownOrg(_) => "UNKNOWN_ORGANISATION",
            ExpertError::BadExpertUser => "BAD_EXPERT_USER",
            ExpertError::UserAlreadyLinked => "EXPERT_USER_TAKEN",
            ExpertError::BadCsvHeader(_) => "BAD_CSV_HEADER",
            ExpertError::CsvTooLarge => "CSV_TOO_LARGE",
            ExpertError::ReasonRequired => "REASON_REQUIRED",
            ExpertError::WrongStatus { .. } => "EXPERT_STATUS",
            ExpertError::TenderState(_) => "INVALID_STATE",
            ExpertError::BadSupervisor => "BAD_SUPERVISOR",
            ExpertError::DrawExists => "DRAW_EXISTS",
            ExpertError::DrawAlreadyPerformed => "DRAW_ALREADY_PERFORMED",
            ExpertError::DrawFailed => "DRAW_FAILED",
            ExpertError::Draw(d) => match d {
                DrawError::QuotaUnfillable { .. } => "QUOTA_UNFILLABLE",
                DrawError::RegionReasonMissing => "REGION_REASON_REQUIRED",
                DrawError::RegionEmpty => "REGION_EMPTY",
                DrawError::SupervisorInput => "BAD_SUPERVISOR_INPUT",
                DrawError::UnknownSpecialty { .. } => "UNKNOWN_SPECIALTY",
                DrawError::NoQuotas | DrawError::EmptyQuota { .. } => "INVALID_QUOTAS",
                DrawError::DuplicateExpert { .. } | DrawError::PoolTooLarge => "INVALID_POOL",
            },
            ExpertError::NotRevealed => "DRAW_NOT_REVEALED",
            ExpertError::NotAwarded => "TENDER_NOT_AWARDED",
            ExpertError::AssignmentState => "ASSIGNMENT_NOT_PENDING",
            ExpertError::ResponseWindowClosed => "CONFIRM_WINDOW_CLOSED",
            ExpertError::NotDrawn => "EXPERT_NOT_DRAWN",
            ExpertError::NotConfirmed(_) => "EXPERT_NOT_CONFIRMED",
            ExpertError::CheckinNotOpen(_) => "CHECKIN_NOT_OPEN",
            ExpertError::CheckinClosed(_) => "CHECKIN_CLOSED",
            ExpertError::AlreadyCheckedIn => "ALREADY_CHECKED_IN",
            ExpertError::Passkey(p) => p.code(),
            ExpertError::Tender(_) => "TENDER_ERROR",
            ExpertError::Corrupt(_) | ExpertError::Store(_) => "INTERNAL",
        }
    }

    fn status(&self) -> StatusCode {
        use StatusCode as S;
        match self {
            ExpertError::Forbidden(_) | ExpertError::NotDrawn | ExpertError::NotConfirmed(_) => {
                S::FORBIDDEN
            }
            ExpertError::NotFound(_) => S::NOT_FOUND,
            ExpertError::CsvTooLarge => S::PAYLOAD_TOO_LARGE,
            ExpertError::UserAlreadyLinked
            | ExpertError::WrongStatus { .. }
            | ExpertError::TenderState(_)
            | ExpertError::DrawExists
            | ExpertError::DrawAlreadyPerformed
            | ExpertError::DrawFailed
            | ExpertError::NotRevealed
            | ExpertError::NotAwarded
            | ExpertError::AssignmentState
            | ExpertError::ResponseWindowClosed
            | ExpertError::CheckinNotOpen(_)
            | ExpertError::CheckinClosed(_)
            | ExpertError::AlreadyCheckedIn => S::CONFLICT,
            ExpertError::Draw(DrawError::DuplicateExpert { .. } | DrawError::PoolTooLarge) => {
                S::INTERNAL_SERVER_ERROR
            }
            _ => S::UNPROCESSABLE_ENTITY,
        }
    }
}

impl From<ExpertError> for ApiError {
    fn from(e: ExpertError) -> Self {
        match e {
            ExpertError::Passkey(p) => p.into(),
            ExpertError::Tender(t) => t.into(),
            ExpertError::Corrupt(_) | ExpertError::Store(_) => ApiError::internal(&e),
            ExpertError::Draw(DrawError::DuplicateExpert { .. } | DrawError::PoolTooLarge) => {
                ApiError::internal(&e)
            }
            ExpertError::Draw(DrawError::QuotaUnfillable {
                ref specialty,
                needed,
                eligible,
            }) => {
                let details =
                    json!({"specialty": specialty, "needed": needed, "eligible": eligible});
                ApiError::new(e.status(), e.code(), e.to_string()).with_details(details)
            }
            other => ApiError::new(other.status(), other.code(), other.to_string()),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ExpertError {
    ExpertError::Invalid {
        field,
        message: message.into(),
    }
}

// ---- tender look-up -----------------------------------------------------------------------

/// What the draw needs of a tender.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct TenderRef {
    pub tender_id: String,
    pub code: String,
    pub state: String,
    pub tenderee_org_id: String,
    pub agent_org_id: Option<String>,
    pub expert_quotas_json: String,
}

const TENDER_COLS: &str =
    "select tender_id, code, state, tenderee_org_id, agent_org_id, expert_quotas_json from tender";

pub(crate) async fn tender_by_code(tx: &mut Tx, code: &str) -> Result<TenderRef, ExpertError> {
    let sql = format!("{TENDER_COLS} where code = $1");
    q_opt!(tx, TenderRef, sqlx::AssertSqlSafe(sql), code.to_string())?
        .ok_or(ExpertError::NotFound("tender"))
}

pub(crate) async fn tender_by_id(tx: &mut Tx, id: &str) -> Result<TenderRef, ExpertError> {
    let sql = format!("{TENDER_COLS} where tender_id = $1");
    q_opt!(tx, TenderRef, sqlx::AssertSqlSafe(sql), id.to_string())?
        .ok_or(ExpertError::NotFound("tender"))
}

pub(crate) fn owns(caller: &Caller, t: &TenderRef) -> bool {
    caller.user.role == Role::Agent
        && caller.user.org_id.is_some()
        && caller.user.org_id == t.agent_org_id
}

/// States in which a committee may be drawn (before the evaluation starts).
const DRAWABLE: [&str; 4] = ["published", "closed", "opened", "evaluating"];

// ---- the draw request ---------------------------------------------------------------------

/// One quota as requested.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaInput {
    /// Specialty code, alias or name.
    pub specialty: String,
    /// Members.
    pub count: u32,
    /// Alternates.
    #[serde(default)]
    pub alternates: u32,
}

/// `POST /api/v1/tenders/{code}/draws`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequestInput {
    /// The regulator-role user present as supervisor.
    pub supervisor_user_id: String,
    /// Quotas; default: the tender's expert quotas.
    #[serde(default)]
    pub quotas: Option<Vec<QuotaInput>>,
    /// Alternates per quota when the quotas come from the tender.
    #[serde(default)]
    pub alternates: u32,
    /// Region restriction; needs a written reason.
    #[serde(default)]
    pub region: Option<RegionRestriction>,
    /// Evaluation start (RFC 3339).
    pub evaluation_at: String,
    /// Evaluation place.
    pub evaluation_place: String,
    /// Experts explicitly excluded.
    #[serde(default)]
    pub excluded_experts: Vec<String>,
    /// Minutes a drawn expert has to confirm (5–10080, default 720).
    #[serde(default)]
    pub confirm_minutes: Option<u32>,
    /// Check-in opens this many minutes before the start (default 60).
    #[serde(default)]
    pub checkin_opens_minutes_before: Option<u32>,
    /// Check-in closes this many minutes after the start (default 30).
    #[serde(default)]
    pub checkin_closes_minutes_after: Option<u32>,
}

/// The stored draw.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct DrawRow {
    pub draw_id: String,
    pub tender_id: String,
    pub kind: String,
    pub parent_draw_id: Option<String>,
    pub replaces_expert_id: Option<String>,
    pub requested_by: String,
    pub supervisor_user_id: String,
    pub request_json: String,
    pub evaluation_at: i64,
    pub evaluation_place: String,
    pub checkin_opens_at: i64,
    pub checkin_closes_at: i64,
    pub confirm_minutes: i64,
    pub state: String,
    pub secret_hex: String,
    pub commitment_hex: String,
    pub commit_seq: i64,
    pub supervisor_input: Option<String>,
    pub input_seq: Option<i64>,
    pub audit_root_hex: Option<String>,
    pub result_json: Option<String>,
    pub result_seq: Option<i64>,
    pub candidates_json: Option<String>,
    pub failure: Option<String>,
    pub reveal_seq: Option<i64>,
    pub drawn_at: Option<i64>,
}

const DRAW_COLS: &str =
    "select draw_id, tender_id, kind, parent_draw_id, replaces_expert_id, requested_by,
    supervisor_user_id, request_json, evaluation_at, evaluation_place, checkin_opens_at,
    checkin_closes_at, confirm_minutes, state, secret_hex, commitment_hex, commit_seq,
    supervisor_input, input_seq, audit_root_hex, result_json, result_seq, candidates_json, failure,
    reveal_seq, created_at, drawn_at from expert_draw";

pub(crate) async fn load_draw(tx: &mut Tx, draw_id: &str) -> Result<DrawRow, ExpertError> {
    if !is_id(draw_id) {
        return Err(ExpertError::NotFound("draw"));
    }
    let sql = format!("{DRAW_COLS} where draw_id = $1");
    q_opt!(tx, DrawRow, sqlx::AssertSqlSafe(sql), draw_id.to_string())?
        .ok_or(ExpertError::NotFound("draw"))
}

async fn draws_of(tx: &mut Tx, tender_id: &str) -> Result<Vec<DrawRow>, ExpertError> {
    let sql = format!("{DRAW_COLS} where tender_id = $1 order by created_at, draw_id");
    Ok(q_all!(
        tx,
        DrawRow,
        sqlx::AssertSqlSafe(sql),
        tender_id.to_string()
    )?)
}

impl DrawRow {
    fn request(&self) -> Result<DrawRequest, ExpertError> {
        serde_json::from_str(&self.request_json).map_err(|e| ExpertError::Corrupt(e.to_string()))
    }

    fn result(&self) -> Result<Option<DrawResult>, ExpertError> {
        self.result_json
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ExpertError::Corrupt(e.to_string()))
    }
}

fn parse_tender_quotas(json_text: &str, alternates: u32) -> Result<Vec<QuotaInput>, ExpertError> {
    #[derive(Deserialize)]
    struct Q {
        specialty: String,
        count: u32,
    }
    let qs: Vec<Q> =
        serde_json::from_str(json_text).map_err(|e| ExpertError::Corrupt(e.to_string()))?;
    Ok(qs
        .into_iter()
        .map(|q| QuotaInput {
            specialty: q.specialty,
            count: q.count,
            alternates,
        })
        .collect())
}

fn resolve_quotas(input: &[QuotaInput]) -> Result<Vec<Quota>, ExpertError> {
    if input.is_empty() || input.len() > 20 {
        return Err(invalid(
            "quotas",
            "a draw has 1–20 quotas / 抽取须有1–20个专业配额",
        ));
    }
    input
        .iter()
        .map(|q| {
            let s = Specialties::builtin()
                .resolve(q.specialty.trim())
                .ok_or_else(|| ExpertError::UnknownSpecialty(q.specialty.chars().take(60).collect()))?;
            if q.count == 0 || q.count > 50 || q.alternates > 50 {
                return Err(invalid(
                    "quotas",
                    "a quota asks for 1–50 members and 0–50 alternates / 每个配额1–50人，候补0–50人",
                ));
            }
            Ok(Quota {
                specialty: s.code.clone(),
                count: q.count,
                alternates: q.alternates,
            })
        })
        .collect()
}

/// Every bidder of the tender for avoidance: organisations with a bid (any state: a company
/// that bid and withdrew still has an interest) together with every organisation whose user
/// downloaded the documents — a draw before the deadline cannot know the final bidders, and
/// the downloaders are a superset of them.
async fn bidder_orgs(tx: &mut Tx, tender_id: &str) -> Result<Vec<String>, ExpertError> {
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select bidder_org_id from bid where tender_id = $1
         union
         select u.org_id from document_download d join app_user u on u.user_id = d.user_id
         where d.tender_id = $1 and u.org_id is not null",
        tender_id.to_string()
    )?;
    let mut v: Vec<String> = rows.into_iter().map(|(o,)| o).collect();
    v.sort();
    v.dedup();
    Ok(v)
}

async fn drawn_experts(tx: &mut Tx, tender_id: &str) -> Result<Vec<String>, ExpertError> {
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select expert_id from expert_assignment where tender_id = $1 order by expert_id",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

/// The public summary of a request that the commit event carries: no bidder ids (招标投标法
/// 第22条), counts instead, and the SHA-256 of the full request.
fn request_summary(r: &DrawRequest) -> Value {
    let full = serde_json_canonicalizer::to_string(&json!(r)).unwrap_or_default();
    json!({
        "quotas": r.quotas,
        "region": r.region,
        "evaluation_at": r.evaluation_at.to_rfc3339(),
        "tenderee_org_id": r.tenderee_org_id,
        "agent_org_id": r.agent_org_id,
        "bidders_avoided": r.bidder_org_ids.len(),
        "supervising_org_ids": r.supervising_org_ids,
        "excluded": r.excluded_experts.len(),
        "previously_drawn": r.previously_drawn.len(),
        "rules": r.rules,
        "request_sha256": crate::store::blob::sha256_hex(full.as_bytes()),
    })
}

struct NewDraw<'a> {
    tender: &'a TenderRef,
    kind: &'static str,
    parent_draw_id: Option<String>,
    replaces: Option<(String, i64)>,
    requested_by: String,
    supervisor_user_id: String,
    request: DrawRequest,
    evaluation_at: i64,
    evaluation_place: String,
    checkin_opens_at: i64,
    checkin_closes_at: i64,
    confirm_minutes: i64,
}

/// Step 1: a fresh secret, its commitment in the audit log, the draw row.
async fn commit_draw(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    d: NewDraw<'_>,
) -> Result<String, ExpertError> {
    let draw_id = new_id();
    let secret = DrawSecret::generate(&mut rand_core::OsRng);
    let commitment = hex::encode(secret.commitment());
    let commit_seq = audit::append(
        tx,
        now,
        actor,
        "expert.draw.commit",
        Some(&d.tender.tender_id),
        json!({
            "draw_id": draw_id,
            "kind": d.kind,
            "commitment": commitment,
            "parent_draw_id": d.parent_draw_id,
            "replaces_member_no": d.replaces.as_ref().map(|r| r.1),
            "supervisor_user_id": d.supervisor_user_id,
            "evaluation_place": d.evaluation_place,
            "request": request_summary(&d.request),
        }),
    )
    .await?;
    let inserted = q_exec!(
        tx,
        "insert into expert_draw (draw_id, tender_id, kind, parent_draw_id, replaces_expert_id,
             requested_by, supervisor_user_id, request_json, evaluation_at, evaluation_place,
             checkin_opens_at, checkin_closes_at, confirm_minutes, state, secret_hex, commitment_hex,
             commit_seq, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'committed', $14, $15, $16, $17)",
        draw_id.clone(),
        d.tender.tender_id.clone(),
        d.kind.to_string(),
        d.parent_draw_id.clone(),
        d.replaces.map(|r| r.0),
        d.requested_by,
        d.supervisor_user_id.clone(),
        serde_json::to_string(&d.request).map_err(|e| ExpertError::Corrupt(e.to_string()))?,
        d.evaluation_at,
        d.evaluation_place,
        d.checkin_opens_at,
        d.checkin_closes_at,
        d.confirm_minutes,
        hex::encode(secret.as_bytes()),
        commitment,
        i64::try_from(commit_seq).unwrap_or(i64::MAX),
        to_millis(now)
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(ExpertError::DrawExists),
        Err(e) => return Err(e.into()),
    }
    notice(
        tx,
        now,
        &d.supervisor_user_id,
        &d.tender.tender_id,
        "expert_draw_supervise",
        &format!(
            "项目 {code} 的专家抽取（{kind}）等待您作为监督人输入随机数：/draws/{draw_id}\n\
             The expert draw ({kind}) for {code} waits for your input as supervisor: /draws/{draw_id}",
            code = d.tender.code,
            kind = d.kind
        ),
    )
    .await?;
    Ok(draw_id)
}

async fn notice(
    tx: &mut Tx,
    now: DateTime<Utc>,
    user_id: &str,
    tender_id: &str,
    kind: &str,
    body: &str,
) -> Result<(), ExpertError> {
    q_exec!(
        tx,
        "insert into notice (notice_id, user_id, tender_id, kind, body, created_at) values ($1, $2, $3, $4, $5, $6)",
        new_id(),
        user_id.to_string(),
        tender_id.to_string(),
        kind.to_string(),
        body.to_string(),
        to_millis(now)
    )?;
    Ok(())
}

/// A draw request's own fields once checked: everything `request_draw` takes from the
/// body, before the database adds the tender's parties.
#[derive(Clone, Debug)]
pub struct CheckedDrawInput {
    /// The quotas with resolved specialty codes.
    pub quotas: Vec<Quota>,
    /// The region restriction with checked division codes.
    pub region: Option<RegionRestriction>,
    /// Evaluation start.
    pub evaluation_at: DateTime<Utc>,
    /// Evaluation place, trimmed.
    pub evaluation_place: String,
    /// Excluded expert ids, sorted and distinct.
    pub excluded_experts: Vec<String>,
    /// Minutes a drawn expert has to confirm.
    pub confirm_minutes: u32,
    /// Check-in opens this many minutes before the start (at most a day).
    pub checkin_opens_minutes_before: u32,
    /// Check-in closes this many minutes after the start (at most a day).
    pub checkin_closes_minutes_after: u32,
}

/// Checks the fields of a draw request body at `now`, without the database: `quotas` (the
/// body's, or the tender's when the body gives none), the region restriction, the
/// evaluation time and place, the exclusions and the confirmation and check-in windows.
pub fn check_draw_input(
    input: &DrawRequestInput,
    quotas: &[QuotaInput],
    now: DateTime<Utc>,
) -> Result<CheckedDrawInput, ExpertError> {
    let quotas = resolve_quotas(quotas)?;
    let region = match &input.region {
        Some(r) => Some(RegionRestriction {
            regions: r
                .regions
                .iter()
                .map(|x| pool::check_region(x))
                .collect::<Result<_, _>>()?,
            reason: {
                crate::text::check("region.reason", r.reason.trim(), crate::text::Lines::Multi)?;
                r.reason.trim().to_string()
            },
        }),
        None => None,
    };
    let at = crate::tender::service::parse_time("evaluation_at", &input.evaluation_at)?;
    if at <= now {
        return Err(invalid(
            "evaluation_at",
            "the evaluation must start in the future / 评标时间须晚于当前时间",
        ));
    }
    let place = input.evaluation_place.trim();
    if place.is_empty() || place.chars().count() > 200 {
        return Err(invalid(
            "evaluation_place",
            "evaluation_place must be 1–200 characters / 评标地点须为1–200个字符",
        ));
    }
    crate::text::check("evaluation_place", place, crate::text::Lines::Single)?;
    if input.excluded_experts.iter().any(|e| !is_id(e)) || input.excluded_experts.len() > 500 {
        return Err(invalid(
            "excluded_experts",
            "excluded_experts must be expert ids (at most 500) / 回避专家须为专家编号",
        ));
    }
    let confirm = input.confirm_minutes.unwrap_or(DEFAULT_CONFIRM_MINUTES);
    if !(5..=10_080).contains(&confirm) {
        return Err(invalid(
            "confirm_minutes",
            "confirm_minutes must be 5–10080 / 确认时限须为5–10080分钟",
        ));
    }
    let before = input
        .checkin_opens_minutes_before
        .unwrap_or(DEFAULT_CHECKIN_BEFORE)
        .min(24 * 60);
    let after = input
        .checkin_closes_minutes_after
        .unwrap_or(DEFAULT_CHECKIN_AFTER)
        .min(24 * 60);
    let mut excluded = input.excluded_experts.clone();
    excluded.sort();
    excluded.dedup();
    Ok(CheckedDrawInput {
        quotas,
        region,
        evaluation_at: at,
        evaluation_place: place.to_string(),
        excluded_experts: excluded,
        confirm_minutes: confirm,
        checkin_opens_minutes_before: before,
        checkin_closes_minutes_after: after,
    })
}

/// Requests a draw for a tender (its agent), recording the commitment (step 1).
pub async fn request_draw(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &DrawRequestInput,
) -> Result<DrawView, ExpertError> {
    let mut tx = db.begin().await?;
    let tender = tender_by_code(&mut tx, code).await?;
    if !owns(caller, &tender) {
        return Err(ExpertError::Forbidden(
            "only the agent of this tender may request the expert draw / 仅该项目的招标代理可申请抽取专家",
        ));
    }
    if !DRAWABLE.contains(&tender.state.as_str()) {
        return Err(ExpertError::TenderState(tender.state.clone()));
    }
    let existing: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select draw_id from expert_draw where tender_id = $1 and kind = 'initial' and state <> 'failed'",
        tender.tender_id.clone()
    )?;
    if existing.is_some() {
        return Err(ExpertError::DrawExists);
    }
    // The supervisor: an active regulator-role user; their department is avoided.
    if !is_id(&input.supervisor_user_id) {
        return Err(ExpertError::BadSupervisor);
    }
    let sup: Option<(String, String, Option<String>)> = q_opt!(
        tx,
        (String, String, Option<String>),
        "select role, status, org_id from app_user where user_id = $1",
        input.supervisor_user_id.clone()
    )?;
    let supervising = match sup {
        Some((role, status, org)) if role == "regulator" && status == "active" => org,
        _ => return Err(ExpertError::BadSupervisor),
    };
    let quota_input = match &input.quotas {
        Some(q) => q.clone(),
        None => parse_tender_quotas(&tender.expert_quotas_json, input.alternates)?,
    };
    let checked = check_draw_input(input, &quota_input, now)?;
    let request = DrawRequest {
        tender_id: tender.tender_id.clone(),
        evaluation_at: checked.evaluation_at.with_timezone(&china_offset()),
        quotas: checked.quotas,
        region: checked.region,
        tenderee_org_id: tender.tenderee_org_id.clone(),
        agent_org_id: tender.agent_org_id.clone(),
        bidder_org_ids: bidder_orgs(&mut tx, &tender.tender_id).await?,
        supervising_org_ids: supervising.into_iter().collect(),
        excluded_experts: checked.excluded_experts,
        previously_drawn: drawn_experts(&mut tx, &tender.tender_id).await?,
        rules: EligibilityRules::default(),
    };
    validate_request(&request)?;
    let at_ms = to_millis(checked.evaluation_at);
    let (before, after) = (
        checked.checkin_opens_minutes_before,
        checked.checkin_closes_minutes_after,
    );
    let draw_id = commit_draw(
        &mut tx,
        now,
        &caller.actor,
        NewDraw {
            tender: &tender,
            kind: "initial",
            parent_draw_id: None,
            replaces: None,
            requested_by: caller.user.user_id.clone(),
            supervisor_user_id: input.supervisor_user_id.clone(),
            request,
            evaluation_at: at_ms,
            evaluation_place: checked.evaluation_place,
            checkin_opens_at: at_ms - i64::from(before) * 60_000,
            checkin_closes_at: at_ms + i64::from(after) * 60_000,
            confirm_minutes: i64::from(checked.confirm_minutes),
        },
    )
    .await?;
    let row = load_draw(&mut tx, &draw_id).await?;
    let view = build_view(&mut tx, &tender, &row, Visibility::Numbers).await?;
    tx.commit().await?;
    Ok(view)
}

// ---- step 2 and 3: supervisor input, seed, draw -------------------------------------------

/// One entry of the replay pool: an eligible expert and the quotas (in request order) whose
/// specialty they match. Published after the award instead of the people's profiles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PoolEntry {
    /// Expert id.
    pub id: String,
    /// Quota codes the expert was eligible for.
    pub quotas: Vec<String>,
}

/// The experts eligible for at least one quota (checked with the request's full rules), in
/// id order, each with the quotas they match.
pub fn replay_pool(pool: &[Expert], request: &DrawRequest) -> Vec<PoolEntry> {
    let mut out = Vec::new();
    for e in pool {
        let codes: Vec<String> = request
            .quotas
            .iter()
            .filter(|q| matches_specialty(e, &q.specialty))
            .map(|q| q.specialty.clone())
            .collect();
        let Some(first) = request
            .quotas
            .iter()
            .find(|q| matches_specialty(e, &q.specialty))
        else {
            continue;
        };
        // The person checks do not depend on the quota; one call decides for all.
        if eligible(e, request, first).is_ok() {
            out.push(PoolEntry {
                id: e.id.clone(),
                quotas: codes,
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The experts and request a verifier replays with: one synthetic, qualified expert per
/// pool entry holding exactly the quota codes it was eligible for, and the request's quotas
/// without avoidance (already applied to the pool). The pool hashes in the result prove the
/// pools are the ones drawn from.
pub fn replay_inputs(
    pool: &[PoolEntry],
    tender_id: &str,
    evaluation_at: DateTime<FixedOffset>,
    quotas: &[Quota],
) -> (Vec<Expert>, DrawRequest) {
    let year = evaluation_at.year();
    let experts = pool
        .iter()
        .map(|p| Expert {
            id: p.id.clone(),
            specialties: p.quotas.clone(),
            region: String::new(),
            employer_org_id: None,
            title: Title::Senior,
            years_of_practice: 30,
            birth_year: year - 40,
            status: ExpertStatus::Active,
            unavailable: vec![],
            conflicts: vec![],
            penalised: false,
            last_served: vec![],
        })
        .collect();
    let request = DrawRequest {
        tender_id: tender_id.to_string(),
        evaluation_at,
        quotas: quotas.to_vec(),
        region: None,
        tenderee_org_id: String::new(),
        agent_org_id: None,
        bidder_org_ids: vec![],
        supervising_org_ids: vec![],
        excluded_experts: vec![],
        previously_drawn: vec![],
        rules: EligibilityRules::default(),
    };
    (experts, request)
}

fn pool_digest(pool: &[PoolEntry]) -> String {
    crate::store::blob::sha256_hex(&serde_json::to_vec(pool).unwrap_or_default())
}

/// What a drawn member is told (also what the notifier sends).
#[derive(Clone, Debug, Serialize)]
pub struct DrawnNotice {
    /// The expert's login.
    pub user_id: Option<String>,
    /// Expert id.
    pub expert_id: String,
    /// Name.
    pub name: String,
    /// Tender code.
    pub tender_code: String,
    /// Member number.
    pub member_no: i64,
    /// Evaluation start.
    pub evaluation_at: DateTime<Utc>,
    /// Place.
    pub evaluation_place: String,
    /// Answer before.
    pub respond_by: DateTime<Utc>,
}

impl DrawnNotice {
    fn body(&self) -> String {
        format!(
            "您已被随机抽取为项目 {code} 的评标专家（第{n}号）。评标时间：北京时间 {at}，地点：{place}。请于北京时间 {by} 前在“我的评标任务”中确认或拒绝；评标前请勿向任何人透露。\n\
             You were drawn at random as evaluation expert no. {n} for tender {code}: {at} China time at {place}. Confirm or decline under \"My assignments\" before {by} China time, and tell nobody.",
            code = self.tender_code,
            n = self.member_no,
            at = crate::http::page::cst(to_millis(self.evaluation_at)),
            place = self.evaluation_place,
            by = crate::http::page::cst(to_millis(self.respond_by)),
        )
    }
}

/// Steps 2 and 3: the supervisor's input is recorded, the seed derived from the audit root
/// just after it, the committee drawn and stored, the members notified. A quota the pool
/// cannot fill fails the draw (recorded, committed) and answers 422.
pub async fn enter_supervisor_input(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    draw_id: &str,
    input: &str,
) -> Result<DrawView, ExpertError> {
    let mut tx = db.begin().await?;
    let row = load_draw(&mut tx, draw_id).await?;
    if row.supervisor_user_id != caller.user.user_id {
        return Err(ExpertError::Forbidden(
            "only the supervisor recorded for this draw may enter the input / 仅本次抽取登记的监督人可输入随机数",
        ));
    }
    match row.state.as_str() {
        "committed" => {}
        "failed" => return Err(ExpertError::DrawFailed),
        _ => return Err(ExpertError::DrawAlreadyPerformed),
    }
    // Used byte for byte in the seed, and shown on the draw page and in the public log.
    crate::text::check("input", input, crate::text::Lines::Single)?;
    validate_supervisor_input(input)?;
    let claimed = q_exec!(
        tx,
        "update expert_draw set supervisor_input = $1 where draw_id = $2 and state = 'committed' and supervisor_input is null",
        input.to_string(),
        draw_id.to_string()
    )?;
    if claimed == 0 {
        return Err(ExpertError::DrawAlreadyPerformed);
    }
    let tender = tender_by_id(&mut tx, &row.tender_id).await?;
    let input_seq = audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.draw.supervisor_input",
        Some(&row.tender_id),
        json!({"draw_id": draw_id, "input": input, "commit_seq": row.commit_seq}),
    )
    .await?;
    let (_, root) = audit::head(&mut tx).await?;
    let secret = secret_of(&row)?;
    let seed = derive_seed(&secret, draw_id, input, &root);

    // Everyone drawn for the tender so far is excluded, as of now (a replacement committed
    // earlier may have drawn someone since).
    let mut request = row.request()?;
    request.previously_drawn = drawn_experts(&mut tx, &row.tender_id).await?;
    let experts = pool::load_pool(&mut tx).await?;
    let outcome = draw(&experts, &request, seed);
    let input_seq = i64::try_from(input_seq).unwrap_or(i64::MAX);
    let result = match outcome {
        Ok(r) => r,
        Err(e) => {
            q_exec!(
                tx,
                "update expert_draw set state = 'failed', failure = $1, input_seq = $2, audit_root_hex = $3,
                     request_json = $4, drawn_at = $5
                 where draw_id = $6",
                e.to_string(),
                input_seq,
                hex::encode(root),
                serde_json::to_string(&request).map_err(|x| ExpertError::Corrupt(x.to_string()))?,
                to_millis(now),
                draw_id.to_string()
            )?;
            audit::append(
                &mut tx,
                now,
                &Actor::system(),
                "expert.draw.failed",
                Some(&row.tender_id),
                json!({"draw_id": draw_id, "code": ExpertError::Draw(e.clone()).code(), "message": e.to_string()}),
            )
            .await?;
            tx.commit().await?;
            return Err(ExpertError::Draw(e));
        }
    };
    let replay = replay_pool(&experts, &request);
    let request_text =
        serde_json::to_string(&request).map_err(|e| ExpertError::Corrupt(e.to_string()))?;
    let result_seq = audit::append_withheld_until(
        &mut tx,
        now,
        &Actor::system(),
        "expert.draw.result",
        &row.tender_id,
        json!({
            "draw_id": draw_id,
            "result": result,
            "input_seq": input_seq,
            "audit_root": hex::encode(root),
            "request_sha256": crate::store::blob::sha256_hex(
                serde_json_canonicalizer::to_string(&json!(request)).unwrap_or_default().as_bytes()),
            "pool_sha256": pool_digest(&replay),
        }),
        audit::Stage::Award,
    )
    .await?;
    let result_seq = i64::try_from(result_seq).unwrap_or(i64::MAX);
    audit::append(
        &mut tx,
        now,
        &Actor::system(),
        "expert.draw.drawn",
        Some(&row.tender_id),
        json!({
            "draw_id": draw_id,
            "result_seq": result_seq,
            "quotas": result.quotas.iter().map(|q| json!({
                "specialty": q.specialty, "members": q.members.len(),
                "alternates": q.alternates.len(), "eligible": q.eligible,
                "pool_hash": hex::encode(q.pool_hash)})).collect::<Vec<_>>(),
        }),
    )
    .await?;
    q_exec!(
        tx,
        "update expert_draw set state = 'drawn', input_seq = $1, audit_root_hex = $2, result_json = $3,
             result_seq = $4, candidates_json = $5, request_json = $6, drawn_at = $7
         where draw_id = $8",
        input_seq,
        hex::encode(root),
        serde_json::to_string(&result).map_err(|e| ExpertError::Corrupt(e.to_string()))?,
        result_seq,
        serde_json::to_string(&replay).map_err(|e| ExpertError::Corrupt(e.to_string()))?,
        request_text,
        to_millis(now),
        draw_id.to_string()
    )?;

    // Assignments: members are notified and must answer; alternates wait.
    let (next_no,): (i64,) = q_one!(
        tx,
        (i64,),
        "select coalesce(max(member_no), 0) from expert_assignment where tender_id = $1",
        row.tender_id.clone()
    )?;
    let mut no = next_no;
    let respond_by = now + TimeDelta::minutes(row.confirm_minutes);
    let mut notices = Vec::new();
    for q in &result.quotas {
        for (role, ids) in [("member", &q.members), ("alternate", &q.alternates)] {
            for id in ids {
                no += 1;
                let member = role == "member";
                q_exec!(
                    tx,
                    "insert into expert_assignment (draw_id, expert_id, tender_id, specialty, member_no, role, state, respond_by, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    draw_id.to_string(),
                    id.clone(),
                    row.tender_id.clone(),
                    q.specialty.clone(),
                    no,
                    role.to_string(),
                    if member { "notified" } else { "alternate" }.to_string(),
                    member.then(|| to_millis(respond_by)),
                    to_millis(now)
                )?;
                if member {
                    let e = pool::load(&mut tx, id).await?;
                    let n = DrawnNotice {
                        user_id: e.user_id.clone(),
                        expert_id: e.expert_id.clone(),
                        name: e.name.clone(),
                        tender_code: tender.code.clone(),
                        member_no: no,
                        evaluation_at: from_millis(row.evaluation_at),
                        evaluation_place: row.evaluation_place.clone(),
                        respond_by,
                    };
                    if let Some(user) = &e.user_id {
                        notice(
                            &mut tx,
                            now,
                            user,
                            &row.tender_id,
                            "expert_drawn",
                            &n.body(),
                        )
                        .await?;
                    }
                    notices.push(n);
                }
            }
        }
    }
    if !notices.is_empty() {
        schedule_confirm_job(&mut tx, &row.tender_id, to_millis(respond_by)).await?;
    }
    let row = load_draw(&mut tx, draw_id).await?;
    let view = build_view(&mut tx, &tender, &row, Visibility::Names).await?;
    tx.commit().await?;
    // After the commit: a notifier that fails or hangs must not undo the draw. The in-app
    // notice is already stored.
    for n in &notices {
        super::notify::send(&super::notify::Notification {
            kind: "expert_drawn",
            user_id: n.user_id.clone(),
            expert_id: n.expert_id.clone(),
            name: n.name.clone(),
            tender_code: n.tender_code.clone(),
            body: n.body(),
        })
        .await;
    }
    Ok(view)
}

fn secret_of(row: &DrawRow) -> Result<DrawSecret, ExpertError> {
    let bytes = hex::decode(&row.secret_hex).map_err(|e| ExpertError::Corrupt(e.to_string()))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ExpertError::Corrupt("secret is not 32 bytes".into()))?;
    Ok(DrawSecret::from_bytes(arr))
}

/// Makes sure a `draw_confirm_timeout` job runs for the tender no later than `run_at`.
/// (The job table holds one job per kind and tender; the job reschedules itself while
/// answers are outstanding.)
async fn schedule_confirm_job(
    tx: &mut Tx,
    tender_id: &str,
    run_at: i64,
) -> Result<(), ExpertError> {
    q_exec!(
        tx,
        "insert into job (job_id, kind, tender_id, run_at, state, attempts) values ($1, $2, $3, $4, 'pending', 0)
         on conflict (kind, tender_id) do update set
             run_at = case when job.state = 'pending' and job.run_at < excluded.run_at then job.run_at else excluded.run_at end,
             state = 'pending', done_at = null",
        new_id(),
        CONFIRM_JOB.to_string(),
        tender_id.to_string(),
        run_at
    )?;
    Ok(())
}

// ---- confirmation, decline, replacement ---------------------------------------------------

/// `POST …/decline`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineInput {
    /// Why (optional, kept for the regulator).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct AssignmentRow {
    pub draw_id: String,
    pub expert_id: String,
    pub tender_id: String,
    pub specialty: String,
    pub member_no: i64,
    pub role: String,
    pub state: String,
    pub respond_by: Option<i64>,
    pub responded_at: Option<i64>,
    pub decline_reason: Option<String>,
}

pub(crate) const ASSIGNMENT_COLS: &str = "select draw_id, expert_id, tender_id, specialty, member_no, role, state, respond_by, responded_at, decline_reason from expert_assignment";

/// A drawn expert confirms (true) or declines (false) their assignment from `draw_id`.
/// A decline commits a replacement draw at once (step 1 of the same procedure).
pub async fn respond(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    draw_id: &str,
    accept: bool,
    reason: Option<&str>,
) -> Result<(), ExpertError> {
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(2000).collect::<String>());
    if let Some(r) = &reason {
        crate::text::check("reason", r, crate::text::Lines::Multi)?;
    }
    let mut tx = db.begin().await?;
    let me = pool::expert_of_user(&mut tx, &caller.user.user_id)
        .await?
        .ok_or(ExpertError::NotFound("assignment"))?;
    if !is_id(draw_id) {
        return Err(ExpertError::NotFound("assignment"));
    }
    let sql = format!("{ASSIGNMENT_COLS} where draw_id = $1 and expert_id = $2");
    let a = q_opt!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        draw_id.to_string(),
        me.expert_id.clone()
    )?
    .ok_or(ExpertError::NotFound("assignment"))?;
    if a.state != "notified" {
        return Err(ExpertError::AssignmentState);
    }
    if a.respond_by.is_some_and(|by| to_millis(now) > by) {
        return Err(ExpertError::ResponseWindowClosed);
    }
    let target = if accept { "confirmed" } else { "declined" };
    let n = q_exec!(
        tx,
        "update expert_assignment set state = $1, responded_at = $2, decline_reason = $3
         where draw_id = $4 and expert_id = $5 and state = 'notified'",
        target.to_string(),
        to_millis(now),
        if accept { None } else { reason.clone() },
        draw_id.to_string(),
        me.expert_id.clone()
    )?;
    if n == 0 {
        return Err(ExpertError::AssignmentState);
    }
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        if accept {
            "expert.assignment.confirm"
        } else {
            "expert.assignment.decline"
        },
        &a.tender_id,
        json!({"draw_id": draw_id, "expert_id": me.expert_id, "member_no": a.member_no,
               "reason": if accept { None } else { reason }}),
        audit::Stage::Award,
    )
    .await?;
    if !accept {
        // The replacement's commitment is public at once; were it the declining expert's
        // act (their id, their address), it would publish who was drawn (招标投标法
        // 第37条). The platform commits it, as the consequence of the withheld decline.
        replace_member(&mut tx, now, &Actor::system(), &a).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Commits the replacement draw for a member who declined or did not answer (条例 第46条:
/// drawn the same way): one quota of one member, everyone drawn so far excluded. The
/// evaluation also calls it for a member who withdraws (`evaluation::replacement`).
pub(crate) async fn replace_member(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    a: &AssignmentRow,
) -> Result<String, ExpertError> {
    let parent = load_draw(tx, &a.draw_id).await?;
    let tender = tender_by_id(tx, &a.tender_id).await?;
    let drawn = drawn_experts(tx, &a.tender_id).await?;
    let request = parent.request()?.replacement(
        Quota {
            specialty: a.specialty.clone(),
            count: 1,
            alternates: 0,
        },
        &drawn,
    );
    commit_draw(
        tx,
        now,
        actor,
        NewDraw {
            tender: &tender,
            kind: "replacement",
            parent_draw_id: Some(parent.draw_id.clone()),
            replaces: Some((a.expert_id.clone(), a.member_no)),
            requested_by: parent.requested_by.clone(),
            supervisor_user_id: parent.supervisor_user_id.clone(),
            request,
            evaluation_at: parent.evaluation_at,
            evaluation_place: parent.evaluation_place.clone(),
            checkin_opens_at: parent.checkin_opens_at,
            checkin_closes_at: parent.checkin_closes_at,
            confirm_minutes: parent.confirm_minutes,
        },
    )
    .await
}

/// The `draw_confirm_timeout` job: members who did not answer in time are marked expired
/// and a replacement draw is committed for each, in one transaction; the job reschedules
/// itself for the next outstanding answer. True when something expired.
///
/// Dispatch from `tender::jobs::perform`:
/// `("draw_confirm_timeout", Some(t)) => Ok(crate::expert::service::confirm_timeout_job(db, now, &job.job_id, t).await?),`
pub async fn confirm_timeout_job(
    db: &Db,
    now: DateTime<Utc>,
    job_id: &str,
    tender_id: &str,
) -> Result<bool, StoreError> {
    expire_unanswered(db, now, job_id, tender_id)
        .await
        .map_err(|e| match e {
            ExpertError::Store(s) => s,
            other => StoreError::Sql(sqlx::Error::Protocol(format!("confirm timeout: {other}"))),
        })
}

async fn expire_unanswered(
    db: &Db,
    now: DateTime<Utc>,
    job_id: &str,
    tender_id: &str,
) -> Result<bool, ExpertError> {
    let mut tx = db.begin().await?;
    let sql = format!(
        "{ASSIGNMENT_COLS} where tender_id = $1 and state = 'notified' and respond_by <= $2 order by member_no"
    );
    let due = q_all!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        tender_id.to_string(),
        to_millis(now)
    )?;
    let mut expired = 0;
    for a in &due {
        let n = q_exec!(
            tx,
            "update expert_assignment set state = 'expired', responded_at = $1
             where draw_id = $2 and expert_id = $3 and state = 'notified'",
            to_millis(now),
            a.draw_id.clone(),
            a.expert_id.clone()
        )?;
        if n == 0 {
            continue;
        }
        expired += 1;
        audit::append_withheld_until(
            &mut tx,
            now,
            &Actor::system(),
            "expert.assignment.expire",
            tender_id,
            json!({"draw_id": a.draw_id, "expert_id": a.expert_id, "member_no": a.member_no}),
            audit::Stage::Award,
        )
        .await?;
        replace_member(&mut tx, now, &Actor::system(), a).await?;
    }
    let next: Option<(i64,)> = q_opt!(
        tx,
        (i64,),
        "select min(respond_by) from expert_assignment where tender_id = $1 and state = 'notified' having min(respond_by) is not null",
        tender_id.to_string()
    )?;
    match next {
        Some((at,)) => {
            q_exec!(
                tx,
                "update job set run_at = $1, locked_until = null, state = 'pending', done_at = null where job_id = $2",
                at,
                job_id.to_string()
            )?;
        }
        None => {
            q_exec!(
                tx,
                "update job set state = 'done', done_at = $1, locked_until = null where job_id = $2 and state = 'pending'",
                to_millis(now),
                job_id.to_string()
            )?;
        }
    }
    tx.commit().await?;
    Ok(expired > 0)
}

// ---- views --------------------------------------------------------------------------------

/// What the viewer may see of the members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Anonymous member numbers and counts (the agent, operators).
    Numbers,
    /// Names and ids (regulators; everyone once revealed).
    Names,
}

/// One member or alternate of a draw.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Anonymous number within the tender.
    pub member_no: i64,
    /// The draw that drew them.
    pub draw_id: String,
    /// Specialty code of the quota.
    pub specialty: String,
    /// `member` or `alternate`.
    pub role: String,
    /// `notified`, `confirmed`, `declined`, `expired`, `alternate`.
    pub state: String,
    /// Answer due.
    pub respond_by: Option<DateTime<Utc>>,
    /// Answered (or expired) at.
    pub responded_at: Option<DateTime<Utc>>,
    /// Checked in (and how: passkey / emergency).
    pub checkin: Option<String>,
    /// Expert id (names visible only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expert_id: Option<String>,
    /// Name (names visible only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Decline reason (names visible only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_reason: Option<String>,
}

/// A quota as requested and, once drawn, its public counts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// Specialty code.
    pub specialty: String,
    /// Members.
    pub count: u32,
    /// Alternates.
    pub alternates: u32,
    /// Eligible pool size (after the draw).
    pub eligible: Option<u64>,
    /// Pool hash, hex (after the draw).
    pub pool_hash: Option<String>,
}

/// A draw as one viewer may see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DrawView {
    /// Id.
    pub draw_id: String,
    /// Tender id.
    pub tender_id: String,
    /// Tender code.
    pub tender_code: String,
    /// `initial` or `replacement`.
    pub kind: String,
    /// `committed`, `drawn`, `failed`.
    pub state: String,
    /// For a replacement: the draw and the member number replaced.
    pub parent_draw_id: Option<String>,
    /// The member number replaced.
    pub replaces_member_no: Option<i64>,
    /// When the draw was performed.
    pub drawn_at: Option<DateTime<Utc>>,
    /// SHA-256(secret), hex.
    pub commitment: String,
    /// Audit seq of the commitment.
    pub commit_seq: i64,
    /// Supervisor (user id).
    pub supervisor_user_id: String,
    /// The supervisor's input, once entered (public).
    pub supervisor_input: Option<String>,
    /// Audit seq of the input.
    pub input_seq: Option<i64>,
    /// Audit root after the input, hex.
    pub audit_root: Option<String>,
    /// Evaluation start.
    pub evaluation_at: DateTime<Utc>,
    /// Place.
    pub evaluation_place: String,
    /// Check-in window.
    pub checkin_opens_at: DateTime<Utc>,
    /// Check-in window end.
    pub checkin_closes_at: DateTime<Utc>,
    /// Region restriction and reason.
    pub region: Option<RegionRestriction>,
    /// Quotas.
    pub quotas: Vec<QuotaView>,
    /// Members and alternates.
    pub members: Vec<MemberView>,
    /// Why it failed.
    pub failure: Option<String>,
    /// Whether names are shown.
    pub names_visible: bool,
    /// Whether the secret was revealed (after the award).
    pub revealed: bool,
}

impl DrawView {
    /// Whether the viewer is the supervisor and the draw waits for their input.
    pub fn is_supervisor_pending(&self, is_supervisor: &bool) -> bool {
        *is_supervisor && self.state == "committed"
    }

    /// Members with role member.
    pub fn member_count(&self) -> usize {
        self.members.iter().filter(|m| m.role == "member").count()
    }

    /// Confirmed members.
    pub fn confirmed_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.state == "confirmed")
            .count()
    }
}

async fn checkins_of(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<BTreeMap<String, String>, ExpertError> {
    let rows: Vec<(String, String)> = q_all!(
        tx,
        (String, String),
        "select expert_id, method from expert_checkin where tender_id = $1",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().collect())
}

pub(crate) async fn member_views(
    tx: &mut Tx,
    tender_id: &str,
    draw_id: Option<&str>,
    vis: Visibility,
) -> Result<Vec<MemberView>, ExpertError> {
    let sql = format!("{ASSIGNMENT_COLS} where tender_id = $1 order by member_no");
    let rows = q_all!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        tender_id.to_string()
    )?;
    let checkins = checkins_of(tx, tender_id).await?;
    let mut out = Vec::new();
    for a in rows {
        if draw_id.is_some_and(|d| d != a.draw_id) {
            continue;
        }
        let names = vis == Visibility::Names;
        let name = if names {
            Some(pool::load(tx, &a.expert_id).await?.name)
        } else {
            None
        };
        out.push(MemberView {
            member_no: a.member_no,
            draw_id: a.draw_id,
            specialty: a.specialty,
            role: a.role,
            state: a.state,
            respond_by: a.respond_by.map(from_millis),
            responded_at: a.responded_at.map(from_millis),
            checkin: checkins.get(&a.expert_id).cloned(),
            expert_id: names.then(|| a.expert_id.clone()),
            name,
            decline_reason: if names { a.decline_reason } else { None },
        });
    }
    Ok(out)
}

async fn build_view(
    tx: &mut Tx,
    tender: &TenderRef,
    row: &DrawRow,
    vis: Visibility,
) -> Result<DrawView, ExpertError> {
    let revealed = row.reveal_seq.is_some();
    let vis = if revealed { Visibility::Names } else { vis };
    let request = row.request()?;
    let result = row.result()?;
    let quotas = request
        .quotas
        .iter()
        .map(|q| {
            let drawn = result
                .as_ref()
                .and_then(|r| r.quotas.iter().find(|x| x.specialty == q.specialty));
            QuotaView {
                specialty: q.specialty.clone(),
                count: q.count,
                alternates: q.alternates,
                eligible: drawn.map(|d| d.eligible),
                pool_hash: drawn.map(|d| hex::encode(d.pool_hash)),
            }
        })
        .collect();
    let replaces_member_no = match &row.replaces_expert_id {
        Some(e) => q_opt!(
            tx,
            (i64,),
            "select member_no from expert_assignment where tender_id = $1 and expert_id = $2",
            row.tender_id.clone(),
            e.clone()
        )?
        .map(|(n,)| n),
        None => None,
    };
    Ok(DrawView {
        draw_id: row.draw_id.clone(),
        tender_id: row.tender_id.clone(),
        tender_code: tender.code.clone(),
        kind: row.kind.clone(),
        state: row.state.clone(),
        parent_draw_id: row.parent_draw_id.clone(),
        replaces_member_no,
        drawn_at: row.drawn_at.map(from_millis),
        commitment: row.commitment_hex.clone(),
        commit_seq: row.commit_seq,
        supervisor_user_id: row.supervisor_user_id.clone(),
        supervisor_input: row
            .supervisor_input
            .clone()
            .filter(|_| row.input_seq.is_some()),
        input_seq: row.input_seq,
        audit_root: row.audit_root_hex.clone(),
        evaluation_at: from_millis(row.evaluation_at),
        evaluation_place: row.evaluation_place.clone(),
        checkin_opens_at: from_millis(row.checkin_opens_at),
        checkin_closes_at: from_millis(row.checkin_closes_at),
        region: request.region.clone(),
        quotas,
        members: member_views(tx, &row.tender_id, Some(&row.draw_id), vis).await?,
        failure: row.failure.clone(),
        names_visible: vis == Visibility::Names,
        revealed,
    })
}

/// Who may look at a tender's draws, and what they see: regulators (the supervisor among
/// them) see names; the tender's agent and operators see member numbers; nobody else.
pub(crate) fn visibility(caller: &Caller, tender: &TenderRef) -> Result<Visibility, ExpertError> {
    match caller.user.role {
        Role::Regulator => Ok(Visibility::Names),
        Role::Operator => Ok(Visibility::Numbers),
        Role::Agent if owns(caller, tender) => Ok(Visibility::Numbers),
        _ => Err(ExpertError::NotFound("draw")),
    }
}

/// Records that `caller` looked at a member list (法 第37条: the list is secret; every look
/// is on the record).
pub(crate) async fn record_view(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    tender_id: &str,
    what: Value,
    vis: Visibility,
) -> Result<(), ExpertError> {
    // Public until the award, the look would tell who holds the list (a drawn member).
    audit::append_withheld_until(
        tx,
        now,
        &caller.actor,
        "expert.draw.view",
        tender_id,
        json!({"what": what, "names": vis == Visibility::Names}),
        audit::Stage::Award,
    )
    .await?;
    Ok(())
}

/// One draw as the caller may see it; the look is an audit event.
pub async fn view_draw(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    draw_id: &str,
) -> Result<DrawView, ExpertError> {
    let mut tx = db.begin().await?;
    let row = load_draw(&mut tx, draw_id).await?;
    let tender = tender_by_id(&mut tx, &row.tender_id).await?;
    let vis = visibility(caller, &tender)?;
    let view = build_view(&mut tx, &tender, &row, vis).await?;
    record_view(
        &mut tx,
        now,
        caller,
        &row.tender_id,
        json!({"draw_id": draw_id}),
        vis,
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// Every draw of a tender as the caller may see them; the look is one audit event.
pub async fn list_draws(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<Vec<DrawView>, ExpertError> {
    let mut tx = db.begin().await?;
    let tender = tender_by_code(&mut tx, code).await?;
    let vis = visibility(caller, &tender)?;
    let mut out = Vec::new();
    for row in draws_of(&mut tx, &tender.tender_id).await? {
        out.push(build_view(&mut tx, &tender, &row, vis).await?);
    }
    record_view(
        &mut tx,
        now,
        caller,
        &tender.tender_id,
        json!({"tender_draws": tender.code}),
        vis,
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// An expert's own assignment.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MyAssignment {
    /// The draw.
    pub draw_id: String,
    /// Tender code.
    pub tender_code: String,
    /// Member number.
    pub member_no: i64,
    /// Specialty.
    pub specialty: String,
    /// `member` / `alternate`.
    pub role: String,
    /// State.
    pub state: String,
    /// Answer due.
    pub respond_by: Option<DateTime<Utc>>,
    /// Evaluation start.
    pub evaluation_at: DateTime<Utc>,
    /// Place.
    pub evaluation_place: String,
    /// Check-in window.
    pub checkin_opens_at: DateTime<Utc>,
    /// Check-in window end.
    pub checkin_closes_at: DateTime<Utc>,
    /// Checked in already.
    pub checked_in: bool,
}

/// The caller's own assignments (an expert sees their own draw only); the look is audited.
pub async fn my_assignments(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
) -> Result<Vec<MyAssignment>, ExpertError> {
    let mut tx = db.begin().await?;
    let Some(me) = pool::expert_of_user(&mut tx, &caller.user.user_id).await? else {
        return Ok(vec![]);
    };
    #[derive(sqlx::FromRow)]
    struct Row {
        draw_id: String,
        code: String,
        member_no: i64,
        specialty: String,
        role: String,
        state: String,
        respond_by: Option<i64>,
        evaluation_at: i64,
        evaluation_place: String,
        checkin_opens_at: i64,
        checkin_closes_at: i64,
        checked: i64,
        tender_id: String,
    }
    let rows = q_all!(
        tx,
        Row,
        "select a.draw_id, t.code, a.member_no, a.specialty, a.role, a.state, a.respond_by,
                d.evaluation_at, d.evaluation_place, d.checkin_opens_at, d.checkin_closes_at,
                (select count(*) from expert_checkin c where c.tender_id = a.tender_id and c.expert_id = a.expert_id) as checked,
                a.tender_id
         from expert_assignment a
         join expert_draw d on d.draw_id = a.draw_id
         join tender t on t.tender_id = a.tender_id
         where a.expert_id = $1 order by d.evaluation_at desc",
        me.expert_id.clone()
    )?;
    for r in &rows {
        record_view(
            &mut tx,
            now,
            caller,
            &r.tender_id,
            json!({"own_assignment": r.draw_id}),
            Visibility::Numbers,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| MyAssignment {
            draw_id: r.draw_id,
            tender_code: r.code,
            member_no: r.member_no,
            specialty: r.specialty,
            role: r.role,
            state: r.state,
            respond_by: r.respond_by.map(from_millis),
            evaluation_at: from_millis(r.evaluation_at),
            evaluation_place: r.evaluation_place,
            checkin_opens_at: from_millis(r.checkin_opens_at),
            checkin_closes_at: from_millis(r.checkin_closes_at),
            checked_in: r.checked > 0,
        })
        .collect())
}

// ---- reveal and the public record ---------------------------------------------------------

/// After the award (中标结果), reveals every performed draw of the tender: one public audit
/// event per draw with the secret, the input, the audit root and the text of the withheld
/// result entry (which anyone can hash and compare with the leaf already in the tree).
/// Callable by the tender's agent, operators and regulators; idempotent.
pub async fn reveal_draws(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<usize, ExpertError> {
    let mut tx = db.begin().await?;
    let tender = tender_by_code(&mut tx, code).await?;
    let allowed =
        owns(caller, &tender) || matches!(caller.user.role, Role::Operator | Role::Regulator);
    if !allowed {
        return Err(ExpertError::Forbidden(
            "only the tender's agent, operators and regulators may reveal the draw / 无权公开抽取结果",
        ));
    }
    if !matches!(tender.state.as_str(), "awarded" | "contracted") {
        return Err(ExpertError::NotAwarded);
    }
    let revealed = reveal_draws_in(&mut tx, now, &caller.actor, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(revealed)
}

/// Reveals every performed, not yet revealed draw of a tender inside the caller's
/// transaction; the award calls it in the transaction that records the award, so the names
/// and the secret become public at the same instant as the result.
pub(crate) async fn reveal_draws_in(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    tender_id: &str,
) -> Result<usize, ExpertError> {
    let mut revealed = 0;
    for row in draws_of(tx, tender_id).await? {
        if row.state != "drawn" || row.reveal_seq.is_some() {
            continue;
        }
        let Some(result_seq) = row.result_seq else {
            continue;
        };
        let (entry,): (String,) = q_one!(
            tx,
            (String,),
            "select entry from audit_event where seq = $1",
            result_seq
        )?;
        let members = member_views(tx, tender_id, Some(&row.draw_id), Visibility::Names).await?;
        let seq = audit::append(
            tx,
            now,
            actor,
            "expert.draw.reveal",
            Some(tender_id),
            json!({
                "draw_id": row.draw_id,
                "secret": row.secret_hex,
                "commitment": row.commitment_hex,
                "supervisor_input": row.supervisor_input,
                "input_seq": row.input_seq,
                "audit_root": row.audit_root_hex,
                "result_seq": result_seq,
                "result_entry": entry,
                "members": members.iter().map(|m| json!({
                    "member_no": m.member_no, "expert_id": m.expert_id, "name": m.name,
                    "specialty": m.specialty, "role": m.role})).collect::<Vec<_>>(),
            }),
        )
        .await?;
        q_exec!(
            tx,
            "update expert_draw set reveal_seq = $1 where draw_id = $2 and reveal_seq is null",
            i64::try_from(seq).unwrap_or(i64::MAX),
            row.draw_id.clone()
        )?;
        revealed += 1;
    }
    Ok(revealed)
}

/// What anyone can fetch about a revealed draw (`GET /api/v1/draws/{id}/public`).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicDrawRecord {
    /// Draw id.
    pub draw_id: String,
    /// Tender id.
    pub tender_id: String,
    /// Evaluation start in China time (the request's).
    pub evaluation_at: DateTime<FixedOffset>,
    /// Quotas in request order.
    pub quotas: Vec<Quota>,
    /// The secret, hex.
    pub secret: String,
    /// Its commitment, hex.
    pub commitment: String,
    /// The supervisor's input.
    pub supervisor_input: String,
    /// Audit seqs of the steps.
    pub commit_seq: i64,
    /// Input event.
    pub input_seq: i64,
    /// Withheld result event.
    pub result_seq: i64,
    /// Public reveal event.
    pub reveal_seq: i64,
    /// Audit root after the input, hex.
    pub audit_root: String,
    /// The stored result.
    pub result: DrawResult,
    /// The replay pool.
    pub pool: Vec<PoolEntry>,
}

/// The public record of a revealed draw; 409 before the reveal.
pub async fn public_record(db: &Db, draw_id: &str) -> Result<PublicDrawRecord, ExpertError> {
    let mut tx = db.read().await?;
    let row = load_draw(&mut tx, draw_id).await?;
    let (Some(reveal_seq), Some(input_seq), Some(result_seq), Some(root), Some(input), Some(pool)) = (
        row.reveal_seq,
        row.input_seq,
        row.result_seq,
        row.audit_root_hex.clone(),
        row.supervisor_input.clone(),
        row.candidates_json.clone(),
    ) else {
        return Err(ExpertError::NotRevealed);
    };
    let request = row.request()?;
    Ok(PublicDrawRecord {
        draw_id: row.draw_id.clone(),
        tender_id: row.tender_id.clone(),
        evaluation_at: request.evaluation_at,
        quotas: request.quotas,
        secret: row.secret_hex.clone(),
        commitment: row.commitment_hex.clone(),
        supervisor_input: input,
        commit_seq: row.commit_seq,
        input_seq,
        result_seq,
        reveal_seq,
        audit_root: root,
        result: row.result()?.ok_or(ExpertError::NotRevealed)?,
        pool: serde_json::from_str(&pool).map_err(|e| ExpertError::Corrupt(e.to_string()))?,
    })
}

// ---- verification (sunbid draw verify) ----------------------------------------------------

/// One audit event as served (`GET /api/v1/audit/events`).
pub use crate::audit::verify::ServedEvent;

fn hex32(s: &str, what: &str) -> Result<Hash, String> {
    let b = hex::decode(s).map_err(|_| format!("{what} is not hex"))?;
    b.try_into().map_err(|_| format!("{what} is not 32 bytes"))
}

fn entry_payload(events: &[ServedEvent], seq: i64, action: &str) -> Result<Value, String> {
    let ev = usize::try_from(seq)
        .ok()
        .and_then(|i| events.get(i))
        .ok_or_else(|| format!("audit event {seq} is missing"))?;
    let entry = ev
        .entry
        .as_deref()
        .ok_or_else(|| format!("audit event {seq} is withheld"))?;
    let v: Value =
        serde_json::from_str(entry).map_err(|_| format!("audit event {seq} is not JSON"))?;
    if v["action"] != action {
        return Err(format!("audit event {seq} is not {action}"));
    }
    Ok(v["payload"].clone())
}

/// Checks a public draw record against the audit events `0..` (each already recomputed by
/// the caller or here) and replays the draw. `Ok` carries a one-line summary; `Err` the
/// first thing that does not match.
pub fn verify_record(record: &PublicDrawRecord, events: &[ServedEvent]) -> Result<String, String> {
    // 1. Every event hashes to its leaf; the root after the input is the recorded one.
    let mut leaves = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        leaves.push(crate::audit::verify::check_event(i as u64, ev)?);
    }
    let upto = usize::try_from(record.input_seq).map_err(|_| "bad input_seq".to_string())? + 1;
    let prefix = leaves
        .get(..upto)
        .ok_or_else(|| "the log is shorter than the input event".to_string())?;
    let root = hex32(&record.audit_root, "audit_root")?;
    if crate::audit::merkle::root(prefix) != root {
        return Err("the audit root after the supervisor's input is not the recorded one".into());
    }
    // 2. Commitment, input and reveal are the logged ones.
    let commit = entry_payload(events, record.commit_seq, "expert.draw.commit")?;
    if commit["draw_id"] != record.draw_id.as_str()
        || commit["commitment"] != record.commitment.as_str()
    {
        return Err("the commitment is not the one logged before the input".into());
    }
    if record.commit_seq >= record.input_seq {
        return Err("the supervisor's input was logged before the commitment".into());
    }
    let input = entry_payload(events, record.input_seq, "expert.draw.supervisor_input")?;
    if input["draw_id"] != record.draw_id.as_str()
        || input["input"] != record.supervisor_input.as_str()
    {
        return Err("the supervisor's input is not the logged one".into());
    }
    let reveal = entry_payload(events, record.reveal_seq, "expert.draw.reveal")?;
    if reveal["secret"] != record.secret.as_str() {
        return Err("the revealed secret is not the logged one".into());
    }
    // 3. The result entry text hashes to the leaf withheld at the draw.
    let result_entry = reveal["result_entry"]
        .as_str()
        .ok_or_else(|| "the reveal carries no result entry".to_string())?;
    let leaf = usize::try_from(record.result_seq)
        .ok()
        .and_then(|i| leaves.get(i))
        .ok_or_else(|| "the result event is missing".to_string())?;
    if crate::audit::merkle::leaf_hash(result_entry.as_bytes()) != *leaf {
        return Err("the revealed result entry is not the one logged at the draw".into());
    }
    let logged: Value =
        serde_json::from_str(result_entry).map_err(|_| "result entry is not JSON".to_string())?;
    let logged_result: DrawResult = serde_json::from_value(logged["payload"]["result"].clone())
        .map_err(|_| "the logged result does not parse".to_string())?;
    if logged_result != record.result {
        return Err("the stored result differs from the result in the audit log".into());
    }
    if logged["payload"]["pool_sha256"] != pool_digest(&record.pool).as_str() {
        return Err("the published pool is not the one logged at the draw".into());
    }
    // 4. Replay.
    let secret = DrawSecret::from_bytes(hex32(&record.secret, "secret")?);
    let transcript = Transcript {
        draw_id: record.draw_id.clone(),
        commitment: hex32(&record.commitment, "commitment")?,
        secret,
        supervisor_input: record.supervisor_input.clone(),
        audit_root: root,
    };
    let (experts, request) = replay_inputs(
        &record.pool,
        &record.tender_id,
        record.evaluation_at,
        &record.quotas,
    );
    check(&experts, &request, &transcript, &logged_result).map_err(|e| e.to_string())?;
    let members: Vec<String> = logged_result
        .quotas
        .iter()
        .map(|q| format!("{}: {}", q.specialty, q.members.join(" ")))
        .collect();
    Ok(format!("draw {} — {}", record.draw_id, members.join("; ")))
}

/// `sunbid draw verify --server URL --draw ID`: fetches the public record and the log,
/// checks the log against its signed checkpoint, and replays. `Ok(Ok(summary))` is a match,
/// `Ok(Err(reason))` a mismatch, `Err` a failure to fetch.
pub async fn verify_remote(server: &str, draw_id: &str) -> anyhow::Result<Result<String, String>> {
    let base = server.trim_end_matches('/');
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{base}/api/v1/draws/{draw_id}/public"))
        .send()
        .await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        anyhow::bail!("the server has no public record of draw {draw_id} ({status}): {body}");
    }
    let record: PublicDrawRecord = resp.json().await?;
    match crate::audit::verify::verify_server(base, None, None).await? {
        (crate::audit::verify::Verdict::Ok { .. }, _) => {}
        (crate::audit::verify::Verdict::BadEvent { seq, reason }, _) => {
            return Ok(Err(format!(
                "the audit log is broken at event {seq}: {reason}"
            )));
        }
    }
    let last = record
        .reveal_seq
        .max(record.result_seq)
        .max(record.input_seq)
        .max(record.commit_seq);
    let mut events: Vec<ServedEvent> = Vec::new();
    #[derive(Deserialize)]
    struct Page {
        events: Vec<ServedEvent>,
    }
    while i64::try_from(events.len()).unwrap_or(i64::MAX) <= last {
        let from = events.len();
        let page: Page = client
            .get(format!("{base}/api/v1/audit/events?from={from}&limit=1000"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if page.events.is_empty() {
            return Ok(Err(format!("the log stops at {from}")));
        }
        events.extend(page.events);
    }
    Ok(verify_record(&record, &events))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    //! Service tests on a real database: SQLite always, PostgreSQL when `SUNBID_TEST_PG` is
    //! set (the tender kit's convention). PostgreSQL is shared between runs, so each test
    //! gives its experts a region of its own and restricts the draw to it.

    use super::*;
    use crate::expert::checkin;
    use crate::identity::passkey;
    use crate::tender::testkit::{Kit, user};
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    use webauthn_authenticator_rs::prelude::Url;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;

    struct Fx {
        kit: Kit,
        code: String,
        tender_id: String,
        region: String,
        operator: Caller,
    }

    async fn fixture(kit: Kit) -> Fx {
        let code = kit.code("EX");
        let t = crate::tender::service::create_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&code, 20),
        )
        .await
        .expect("draft");
        let mut tx = kit.db().begin().await.unwrap();
        q_exec!(
            tx,
            "update tender set state = 'closed' where tender_id = $1",
            t.tender_id.clone()
        )
        .unwrap();
        tx.commit().await.unwrap();
        let region = format!("99{}", &new_id().replace('-', "")[20..30])
            .chars()
            .map(|c| if c.is_ascii_digit() { c } else { '7' })
            .collect();
        let operator = user(kit.db(), Role::Operator, None, "active").await;
        Fx {
            tender_id: t.tender_id,
            code,
            region,
            operator,
            kit,
        }
    }

    impl Fx {
        async fn expert(&self, employer: Option<&str>, user_id: Option<&str>) -> String {
            let input = pool::ExpertInput {
                name: format!("专家{}", &new_id()[30..]),
                specialties: vec!["A0101".into()],
                region: self.region.clone(),
                employer_org_id: employer.map(str::to_string),
                title: "senior".into(),
                years_of_practice: 15,
                birth_year: 1975,
                penalised: false,
                user_id: user_id.map(str::to_string),
                unavailable: vec![],
                conflicts: vec![],
            };
            pool::add_expert(self.kit.db(), self.kit.now(), &self.operator, &input)
                .await
                .expect("add expert")
                .expert_id
        }

        fn input(&self, count: u32, alternates: u32) -> DrawRequestInput {
            DrawRequestInput {
                supervisor_user_id: self.kit.regulator.user.user_id.clone(),
                quotas: Some(vec![QuotaInput {
                    specialty: "A0101".into(),
                    count,
                    alternates,
                }]),
                alternates: 0,
                region: Some(RegionRestriction {
                    regions: vec![self.region.clone()],
                    reason: "本测试的专家池 / this test's pool".into(),
                }),
                evaluation_at: (self.kit.now() + TimeDelta::days(2)).to_rfc3339(),
                evaluation_place: "评标室 1".into(),
                excluded_experts: vec![],
                confirm_minutes: Some(60),
                checkin_opens_minutes_before: None,
                checkin_closes_minutes_after: None,
            }
        }

        async fn request(&self, count: u32, alternates: u32) -> DrawView {
            request_draw(
                self.kit.db(),
                self.kit.now(),
                &self.kit.agent,
                &self.code,
                &self.input(count, alternates),
            )
            .await
            .expect("request")
        }

        async fn input_draw(&self, draw_id: &str, input: &str) -> Result<DrawView, ExpertError> {
            enter_supervisor_input(
                self.kit.db(),
                self.kit.now(),
                &self.kit.regulator,
                draw_id,
                input,
            )
            .await
        }

        /// Makes the bidder company a bidder of this tender (a document download).
        async fn bidder_downloads(&self) {
            let mut tx = self.kit.db().begin().await.unwrap();
            let doc = new_id();
            q_exec!(
                tx,
                "insert into tender_document (document_id, tender_id, amendment_id, filename, content_type, size_bytes, sha256, uploaded_by, uploaded_at)
                 values ($1, $2, null, 'a.pdf', 'application/pdf', 1, '00', $3, 0)",
                doc.clone(),
                self.tender_id.clone(),
                self.kit.agent.user.user_id.clone()
            )
            .unwrap();
            q_exec!(
                tx,
                "insert into document_download (download_id, tender_id, document_id, user_id, client_ip, user_agent, at)
                 values ($1, $2, $3, $4, null, null, 0)",
                new_id(),
                self.tender_id.clone(),
                doc,
                self.kit.bidder.user.user_id.clone()
            )
            .unwrap();
            tx.commit().await.unwrap();
        }

        async fn count_public_events(&self, action: &str) -> i64 {
            let mut tx = self.kit.db().read().await.unwrap();
            q_one!(
                tx,
                (i64,),
                "select count(*) from audit_event
                 where tender_id = $1 and action = $2 and withheld_stage is null",
                self.tender_id.clone(),
                action.to_string()
            )
            .unwrap()
            .0
        }

        async fn count_events(&self, action: &str) -> i64 {
            let mut tx = self.kit.db().read().await.unwrap();
            q_one!(
                tx,
                (i64,),
                "select count(*) from audit_event where tender_id = $1 and action = $2",
                self.tender_id.clone(),
                action.to_string()
            )
            .unwrap()
            .0
        }
    }

    macro_rules! on_both {
        ($name:ident) => {
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(super::Kit::sqlite().await).await;
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some(kit) = super::Kit::postgres().await {
                        super::$name(kit).await;
                    }
                }
            }
        };
    }

    async fn never_draws_an_avoided_employer(kit: Kit) {
        let fx = fixture(kit).await;
        fx.bidder_downloads().await;
        let bidder_org = fx.kit.bidder.user.org_id.clone().unwrap();
        let mut avoided = Vec::new();
        for _ in 0..3 {
            avoided.push(fx.expert(Some(&bidder_org), None).await);
        }
        // And one employed by the tenderee, one by the supervising department.
        avoided.push(fx.expert(Some(&fx.kit.tenderee_org), None).await);
        let dept = fx.kit.regulator.user.org_id.clone().unwrap();
        avoided.push(fx.expert(Some(&dept), None).await);
        let mut free = Vec::new();
        for _ in 0..4 {
            free.push(fx.expert(None, None).await);
        }
        // 4 free experts, the quota takes all 4: a draw that touched an avoided employer
        // would show up in the members at once.
        let d = fx.request(3, 1).await;
        assert_eq!(d.state, "committed");
        let d = fx.input_draw(&d.draw_id, "6 2 5 1").await.expect("draw");
        assert_eq!(d.state, "drawn");
        assert_eq!(d.quotas[0].eligible, Some(4));
        for m in &d.members {
            let id = m.expert_id.as_ref().unwrap();
            assert!(free.contains(id) && !avoided.contains(id), "drew {id}");
        }
        assert_eq!(d.member_count(), 3);
        assert_eq!(fx.count_events("expert.draw.commit").await, 1);
        assert_eq!(fx.count_events("expert.draw.supervisor_input").await, 1);
        assert_eq!(fx.count_events("expert.draw.result").await, 1);
    }
    on_both!(never_draws_an_avoided_employer);

    async fn unfillable_and_second_draws(kit: Kit) {
        let fx = fixture(kit).await;
        for _ in 0..2 {
            fx.expert(None, None).await;
        }
        let d = fx.request(3, 0).await;
        // A second request while one is live: 409.
        let again = request_draw(
            fx.kit.db(),
            fx.kit.now(),
            &fx.kit.agent,
            &fx.code,
            &fx.input(3, 0),
        )
        .await;
        assert!(matches!(again, Err(ExpertError::DrawExists)));
        // Only the supervisor enters the input.
        let other =
            enter_supervisor_input(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &d.draw_id, "1").await;
        assert!(matches!(other, Err(ExpertError::Forbidden(_))));
        let err = fx.input_draw(&d.draw_id, "3 3 3").await.unwrap_err();
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(api.code, "QUOTA_UNFILLABLE");
        assert!(
            api.message.contains("A0101") && api.message.contains("only 2 eligible"),
            "{}",
            api.message
        );
        assert_eq!(fx.count_events("expert.draw.failed").await, 1);
        let mut tx = fx.kit.db().read().await.unwrap();
        assert_eq!(
            load_draw(&mut tx, &d.draw_id).await.unwrap().state,
            "failed"
        );
        drop(tx);
        // A failed request may be made again; the failed draw cannot be redrawn.
        assert!(matches!(
            fx.input_draw(&d.draw_id, "4").await,
            Err(ExpertError::DrawFailed)
        ));
        fx.expert(None, None).await;
        let d2 = fx.request(3, 0).await;
        fx.input_draw(&d2.draw_id, "5 5").await.expect("draw");
        let twice = fx.input_draw(&d2.draw_id, "5 5").await;
        assert!(matches!(twice, Err(ExpertError::DrawAlreadyPerformed)));
    }
    on_both!(unfillable_and_second_draws);

    async fn expert_user(fx: &Fx) -> (Caller, String) {
        let u = user(fx.kit.db(), Role::Expert, None, "active").await;
        let id = fx.expert(None, Some(&u.user.user_id)).await;
        (u, id)
    }

    async fn confidentiality_decline_and_timeout(kit: Kit) {
        let fx = fixture(kit).await;
        let mut users = Vec::new();
        for _ in 0..5 {
            users.push(expert_user(&fx).await);
        }
        let d = fx.request(2, 0).await;
        fx.input_draw(&d.draw_id, "1 2 3").await.expect("draw");
        // The agent sees numbers only; the regulator names; each look is logged.
        let views_before = fx.count_events("expert.draw.view").await;
        let agent_view = view_draw(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &d.draw_id)
            .await
            .unwrap();
        assert!(
            agent_view
                .members
                .iter()
                .all(|m| m.name.is_none() && m.expert_id.is_none())
        );
        let text = serde_json::to_string(&agent_view).unwrap();
        for (_, id) in &users {
            assert!(!text.contains(id.as_str()));
        }
        let reg = view_draw(fx.kit.db(), fx.kit.now(), &fx.kit.regulator, &d.draw_id)
            .await
            .unwrap();
        assert!(reg.members.iter().all(|m| m.name.is_some()));
        assert!(matches!(
            view_draw(fx.kit.db(), fx.kit.now(), &fx.kit.bidder, &d.draw_id).await,
            Err(ExpertError::NotFound(_))
        ));
        assert_eq!(fx.count_events("expert.draw.view").await, views_before + 2);
        // A public look entry would name who opened the list before the award (法 第37条).
        assert_eq!(fx.count_public_events("expert.draw.view").await, 0);

        // Each drawn expert sees their own assignment and a notice.
        let drawn: Vec<&(Caller, String)> = users
            .iter()
            .filter(|(_, id)| {
                reg.members
                    .iter()
                    .any(|m| m.expert_id.as_deref() == Some(id))
            })
            .collect();
        assert_eq!(drawn.len(), 2);
        let mine = my_assignments(fx.kit.db(), fx.kit.now(), &drawn[0].0)
            .await
            .unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].state, "notified");

        // One confirms, one declines → a replacement draw is committed at once.
        respond(
            fx.kit.db(),
            fx.kit.now(),
            &drawn[0].0,
            &d.draw_id,
            true,
            None,
        )
        .await
        .unwrap();
        assert!(matches!(
            respond(
                fx.kit.db(),
                fx.kit.now(),
                &drawn[0].0,
                &d.draw_id,
                false,
                None
            )
            .await,
            Err(ExpertError::AssignmentState)
        ));
        respond(
            fx.kit.db(),
            fx.kit.now(),
            &drawn[1].0,
            &d.draw_id,
            false,
            Some("出差"),
        )
        .await
        .unwrap();
        let draws = list_draws(fx.kit.db(), fx.kit.now(), &fx.kit.regulator, &fx.code)
            .await
            .unwrap();
        assert_eq!(draws.len(), 2);
        let rep = &draws[1];
        assert_eq!(
            (rep.kind.as_str(), rep.state.as_str()),
            ("replacement", "committed")
        );
        assert_ne!(rep.commitment, d.commitment);
        let rep = fx
            .input_draw(&rep.draw_id, "9 9 1")
            .await
            .expect("replacement");
        assert_eq!(rep.members.len(), 1);
        let new_id_ = rep.members[0].expert_id.clone().unwrap();
        assert!(
            drawn.iter().all(|(_, id)| *id != new_id_),
            "a replacement never redraws anyone"
        );

        // Nobody answers the replacement: the job expires it and commits another.
        fx.kit.clock.set(fx.kit.now() + TimeDelta::minutes(61));
        let mut tx = fx.kit.db().read().await.unwrap();
        let (job_id,): (String,) = q_one!(
            tx,
            (String,),
            "select job_id from job where tender_id = $1 and kind = $2",
            fx.tender_id.clone(),
            CONFIRM_JOB.to_string()
        )
        .unwrap();
        drop(tx);
        assert!(
            confirm_timeout_job(fx.kit.db(), fx.kit.now(), &job_id, &fx.tender_id)
                .await
                .unwrap()
        );
        assert!(
            !confirm_timeout_job(fx.kit.db(), fx.kit.now(), &job_id, &fx.tender_id)
                .await
                .unwrap()
        );
        let draws = list_draws(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &fx.code)
            .await
            .unwrap();
        assert_eq!(draws.len(), 3);
        assert_eq!(draws[2].state, "committed");
        assert_eq!(fx.count_events("expert.assignment.expire").await, 1);
        fx.kit.clock.set(fx.kit.t0);
    }
    on_both!(confidentiality_decline_and_timeout);

    async fn reveal_and_verify(kit: Kit) {
        let fx = fixture(kit).await;
        for _ in 0..6 {
            fx.expert(None, None).await;
        }
        let d = fx.request(3, 1).await;
        fx.input_draw(&d.draw_id, "2 6 4 4 1").await.expect("draw");
        assert!(matches!(
            public_record(fx.kit.db(), &d.draw_id).await,
            Err(ExpertError::NotRevealed)
        ));
        assert!(matches!(
            reveal_draws(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &fx.code).await,
            Err(ExpertError::NotAwarded)
        ));
        let mut tx = fx.kit.db().begin().await.unwrap();
        q_exec!(
            tx,
            "update tender set state = 'awarded' where tender_id = $1",
            fx.tender_id.clone()
        )
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            reveal_draws(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &fx.code)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            reveal_draws(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &fx.code)
                .await
                .unwrap(),
            0
        );
        let record = public_record(fx.kit.db(), &d.draw_id).await.unwrap();
        let events = served(&fx).await;
        let ok = verify_record(&record, &events).expect("match");
        assert!(ok.contains(&d.draw_id));

        // Tampering with the stored result is caught.
        let mut bad = record.clone();
        bad.result.quotas[0].members.swap(0, 1);
        assert!(
            verify_record(&bad, &events)
                .unwrap_err()
                .contains("stored result")
        );
        // So is a different input.
        let mut bad = record.clone();
        bad.supervisor_input = "2 6 4 4 2".into();
        assert!(verify_record(&bad, &events).is_err());
        // And a pool with one more candidate.
        let mut bad = record;
        bad.pool.push(PoolEntry {
            id: "zzzz".into(),
            quotas: vec!["A0101".into()],
        });
        assert!(verify_record(&bad, &events).is_err());
    }
    on_both!(reveal_and_verify);

    /// The log as the public sees it.
    async fn served(fx: &Fx) -> Vec<ServedEvent> {
        let mut tx = fx.kit.db().read().await.unwrap();
        let (size, _) = audit::head(&mut tx).await.unwrap();
        let mut out = Vec::new();
        while (out.len() as u64) < size {
            for e in audit::events(&mut tx, out.len() as u64, 1000)
                .await
                .unwrap()
            {
                let e = e.for_reader(fx.kit.now(), false);
                out.push(ServedEvent {
                    seq: e.seq as u64,
                    entry: e.entry,
                    leaf_hash: hex::encode(&e.leaf_hash),
                });
            }
        }
        out
    }

    async fn passkey_checkin(kit: Kit) {
        let fx = fixture(kit).await;
        let origin = Url::parse("http://localhost:8080").unwrap();
        let mut people = Vec::new();
        for _ in 0..3 {
            let (u, id) = expert_user(&fx).await;
            let mut soft = SoftPasskey::new(true);
            let (ceremony, options) = passkey::start_registration(&fx.kit.state, &u.user.user_id)
                .await
                .unwrap();
            let resp = soft.do_registration(origin.clone(), options).unwrap();
            passkey::finish_registration(
                &fx.kit.state,
                &u.actor,
                &u.user.user_id,
                &ceremony,
                &resp,
                None,
            )
            .await
            .unwrap();
            people.push((u, id, soft));
        }
        let d = fx.request(2, 0).await;
        let reg = fx.input_draw(&d.draw_id, "5 4 3").await.unwrap();
        let is_drawn = |id: &str| {
            reg.members
                .iter()
                .any(|m| m.expert_id.as_deref() == Some(id))
        };
        let (mut drawn, mut other): (Vec<_>, Vec<_>) =
            people.into_iter().partition(|(_, id, _)| is_drawn(id));
        let state = fx.kit.state.clone();
        // Not drawn: refused before any ceremony.
        let (stranger, _, _) = &other[0];
        assert!(matches!(
            checkin::start_checkin(&state, stranger, &fx.code).await,
            Err(ExpertError::NotDrawn)
        ));
        // Drawn but not confirmed; then confirmed but outside the window.
        let u0 = &drawn[0].0.clone();
        assert!(matches!(
            checkin::start_checkin(&state, u0, &fx.code).await,
            Err(ExpertError::NotConfirmed(_))
        ));
        for (u, _, _) in &drawn {
            respond(fx.kit.db(), fx.kit.now(), u, &d.draw_id, true, None)
                .await
                .unwrap();
        }
        assert!(matches!(
            checkin::start_checkin(&state, u0, &fx.code).await,
            Err(ExpertError::CheckinNotOpen(_))
        ));
        // Inside the window: a passkey assertion with UV checks in.
        fx.kit
            .clock
            .set(fx.kit.now() + TimeDelta::days(2) - TimeDelta::minutes(10));
        let mut tx = fx.kit.db().read().await.unwrap();
        assert!(
            !checkin::committee_ready(&mut tx, &fx.tender_id)
                .await
                .unwrap()
        );
        drop(tx);
        for (u, _, soft) in drawn.iter_mut() {
            let (ceremony, options) = checkin::start_checkin(&state, u, &fx.code).await.unwrap();
            let options = serde_json::from_value(options).unwrap();
            let cred = soft.do_authentication(origin.clone(), options).unwrap();
            let rec = checkin::finish_checkin(
                &state,
                u,
                &fx.code,
                checkin::FinishCheckin {
                    ceremony_id: ceremony,
                    credential: serde_json::to_value(&cred).unwrap(),
                },
            )
            .await
            .expect("check in");
            assert_eq!(rec.method, "passkey");
            assert!(rec.credential_id.is_some());
        }
        assert!(matches!(
            checkin::start_checkin(&state, u0, &fx.code).await,
            Err(ExpertError::AlreadyCheckedIn)
        ));
        let mut tx = fx.kit.db().read().await.unwrap();
        assert!(
            checkin::committee_ready(&mut tx, &fx.tender_id)
                .await
                .unwrap()
        );
        drop(tx);
        // Someone else's passkey cannot check in as a member.
        let (stranger, _, soft) = other.get_mut(0).unwrap();
        let (ceremony, options) = passkey::start_assertion_for_user(&state, &stranger.user.user_id)
            .await
            .unwrap();
        let cred = soft.do_authentication(origin.clone(), options).unwrap();
        let r = checkin::finish_checkin(
            &state,
            &drawn[0].0,
            &fx.code,
            checkin::FinishCheckin {
                ceremony_id: ceremony,
                credential: serde_json::to_value(&cred).unwrap(),
            },
        )
        .await;
        assert!(r.is_err());
        fx.kit.clock.set(fx.kit.t0);
    }
    on_both!(passkey_checkin);
}
