//! A draw request (step 1 of docs/expert-draw.md): the body checked, the tender's parties
//! added for avoidance (回避), a fresh secret committed in the audit log and the supervisor
//! told. Also the stored draw row every later step reads.
//!
//! Transactions: each step is one transaction that writes its state with a guard on the old
//! one and appends its audit event(s); a refused or concurrent request changes nothing.
//! Time is passed in (`now`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::draw::{DrawResult, DrawSecret, validate_request};
use super::eligibility::{DrawRequest, EligibilityRules, Quota, RegionRestriction};
use super::error::{ExpertError, invalid};
use super::notify::notice;
use super::pool;
use super::specialty::Specialties;
use super::view::{DrawView, Visibility, build_view};
use crate::audit::{self, Actor};
use crate::clock::{china, to_millis};
use crate::identity::Caller;
use crate::ids::{is_id, new_id};
use crate::lifecycle::tender::{self, Facts, TenderState, is_owner};
use crate::store::{Db, Tx, is_unique_violation};
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

/// States in which a committee may be drawn (before the evaluation starts).
const DRAWABLE: [TenderState; 4] = [
    TenderState::Published,
    TenderState::Closed,
    TenderState::Opened,
    TenderState::Evaluating,
];

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
        return Err(ExpertError::not_found("draw"));
    }
    let sql = format!("{DRAW_COLS} where draw_id = $1");
    q_opt!(tx, DrawRow, sqlx::AssertSqlSafe(sql), draw_id.to_string())?
        .ok_or(ExpertError::not_found("draw"))
}

/// Every draw of a tender, oldest first.
pub(crate) async fn draws_of(tx: &mut Tx, tender_id: &str) -> Result<Vec<DrawRow>, ExpertError> {
    let sql = format!("{DRAW_COLS} where tender_id = $1 order by created_at, draw_id");
    Ok(q_all!(
        tx,
        DrawRow,
        sqlx::AssertSqlSafe(sql),
        tender_id.to_string()
    )?)
}

impl DrawRow {
    /// The stored request.
    pub(crate) fn request(&self) -> Result<DrawRequest, ExpertError> {
        serde_json::from_str(&self.request_json).map_err(|e| ExpertError::corrupt(e.to_string()))
    }

    /// The stored result, once drawn.
    pub(crate) fn result(&self) -> Result<Option<DrawResult>, ExpertError> {
        self.result_json
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ExpertError::corrupt(e.to_string()))
    }
}

/// The expert quotas the tender was published with (`[{specialty, count}]`), the default of
/// a request that gives none.
async fn tender_quotas_json(tx: &mut Tx, tender_id: &str) -> Result<String, ExpertError> {
    let (json_text,): (String,) = q_one!(
        tx,
        (String,),
        "select expert_quotas_json from tender where tender_id = $1",
        tender_id.to_string()
    )?;
    Ok(json_text)
}

fn parse_tender_quotas(json_text: &str, alternates: u32) -> Result<Vec<QuotaInput>, ExpertError> {
    #[derive(Deserialize)]
    struct Q {
        specialty: String,
        count: u32,
    }
    let qs: Vec<Q> =
        serde_json::from_str(json_text).map_err(|e| ExpertError::corrupt(e.to_string()))?;
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

/// Every expert drawn for the tender so far (members and alternates, any answer).
pub(crate) async fn drawn_experts(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<String>, ExpertError> {
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

/// A draw to commit: the request or replacement with everything its row stores.
pub(crate) struct NewDraw<'a> {
    pub tender: &'a Facts,
    pub kind: &'static str,
    pub parent_draw_id: Option<String>,
    pub replaces: Option<(String, i64)>,
    pub requested_by: String,
    pub supervisor_user_id: String,
    pub request: DrawRequest,
    pub evaluation_at: i64,
    pub evaluation_place: String,
    pub checkin_opens_at: i64,
    pub checkin_closes_at: i64,
    pub confirm_minutes: i64,
}

/// Step 1: a fresh secret, its commitment in the audit log, the draw row.
pub(crate) async fn commit_draw(
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
        serde_json::to_string(&d.request).map_err(|e| ExpertError::corrupt(e.to_string()))?,
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
    let at = crate::tender::service::parse_time("evaluation_at", &input.evaluation_at).map_err(
        |_| ExpertError::BadTime {
            field: "evaluation_at",
            value: input.evaluation_at.chars().take(60).collect(),
        },
    )?;
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
    let tender = tender::by_code(&mut tx, code).await?;
    if !is_owner(caller, tender.agent_org_id.as_deref()) {
        return Err(ExpertError::forbidden(
            "only the agent of this tender may request the expert draw / 仅该项目的招标代理可申请抽取专家",
        ));
    }
    if !DRAWABLE.contains(&tender.state) {
        return Err(ExpertError::TenderState(tender.state.as_str()));
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
        None => parse_tender_quotas(
            &tender_quotas_json(&mut tx, &tender.tender_id).await?,
            input.alternates,
        )?,
    };
    let checked = check_draw_input(input, &quota_input, now)?;
    let request = DrawRequest {
        tender_id: tender.tender_id.clone(),
        evaluation_at: checked.evaluation_at.with_timezone(&china()),
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
