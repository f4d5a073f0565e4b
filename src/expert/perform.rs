//! Steps 2 and 3 of a draw (docs/expert-draw.md): the supervisor's input is recorded, the
//! seed derived from the audit root just after it, the committee drawn from the pool and
//! stored, the members told. Also the replay pool published after the award.

use chrono::{DateTime, Datelike, FixedOffset, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::answer::schedule_confirm_job;
use super::draw::{
    DrawError, DrawResult, DrawSecret, Hash, derive_seed, draw, validate_supervisor_input,
};
use super::eligibility::{
    DrawRequest, EligibilityRules, Expert, ExpertStatus, Quota, Title, eligible, matches_specialty,
};
use super::error::ExpertError;
use super::notify::{DrawnNotice, Notifier, notice};
use super::pool;
use super::request::{DrawRow, drawn_experts, load_draw};
use super::view::{DrawView, Visibility, build_view};
use crate::audit::{self, Actor};
use crate::clock::{from_millis, to_millis};
use crate::identity::Caller;
use crate::lifecycle::tender::{self, Facts};
use crate::store::{Db, Tx};
use crate::{q_exec, q_one};

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

/// The SHA-256 of the replay pool as served, which the result entry commits to.
pub(crate) fn pool_digest(pool: &[PoolEntry]) -> String {
    crate::store::blob::sha256_hex(&serde_json::to_vec(pool).unwrap_or_default())
}

/// Steps 2 and 3: the supervisor's input is recorded, the seed derived from the audit root
/// just after it, the committee drawn and stored, the members notified. A quota the pool
/// cannot fill fails the draw (recorded, committed) and answers 422.
pub async fn enter_supervisor_input(
    db: &Db,
    notifier: &dyn Notifier,
    now: DateTime<Utc>,
    caller: &Caller,
    draw_id: &str,
    input: &str,
) -> Result<DrawView, ExpertError> {
    let mut tx = db.begin().await?;
    let row = claim_input(&mut tx, caller, draw_id, input).await?;
    let tender = tender::by_id(&mut tx, &row.tender_id).await?;
    let (input_seq, root) = record_input(&mut tx, now, caller, &row, input).await?;
    let seed = derive_seed(&secret_of(&row)?, draw_id, input, &root);
    let step = Performed {
        row: &row,
        input_seq,
        root,
    };

    // Everyone drawn for the tender so far is excluded, as of now (a replacement committed
    // earlier may have drawn someone since).
    let mut request = row.request()?;
    request.previously_drawn = drawn_experts(&mut tx, &row.tender_id).await?;
    let experts = pool::load_pool(&mut tx).await?;
    let result = match draw(&experts, &request, seed) {
        Ok(r) => r,
        Err(e) => {
            record_failure(&mut tx, now, &step, &request, &e).await?;
            tx.commit().await?;
            return Err(ExpertError::Draw(e));
        }
    };
    let replay = replay_pool(&experts, &request);
    record_result(&mut tx, now, &step, &request, &result, &replay).await?;
    let notices = assign(&mut tx, now, &row, &tender, &result).await?;
    let row = load_draw(&mut tx, draw_id).await?;
    let view = build_view(&mut tx, &tender, &row, Visibility::Names).await?;
    tx.commit().await?;
    // After the commit: a notifier that fails or hangs must not undo the draw. The in-app
    // notice is already stored.
    for n in &notices {
        super::notify::send(
            notifier,
            &super::notify::Notification {
                kind: "expert_drawn",
                user_id: n.user_id.clone(),
                expert_id: n.expert_id.clone(),
                name: n.name.clone(),
                tender_code: n.tender_code.clone(),
                body: n.body(),
            },
        )
        .await;
    }
    Ok(view)
}

/// What steps 2 and 3 carry from the input to the result: the draw, the audit seq of the
/// input and the audit root just after it.
struct Performed<'a> {
    row: &'a DrawRow,
    input_seq: i64,
    root: Hash,
}

/// Checks that the caller is this draw's supervisor, that the draw waits for its input and
/// that the input is usable, then claims the draw for this input (a concurrent second input
/// finds it taken).
async fn claim_input(
    tx: &mut Tx,
    caller: &Caller,
    draw_id: &str,
    input: &str,
) -> Result<DrawRow, ExpertError> {
    let row = load_draw(tx, draw_id).await?;
    if row.supervisor_user_id != caller.user.user_id {
        return Err(ExpertError::forbidden(
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
    Ok(row)
}

/// Step 2: the input's audit event; returns its seq and the audit root just after it, from
/// which (with the secret) the seed is derived.
async fn record_input(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    row: &DrawRow,
    input: &str,
) -> Result<(i64, Hash), ExpertError> {
    let input_seq = audit::append(
        tx,
        now,
        &caller.actor,
        "expert.draw.supervisor_input",
        Some(&row.tender_id),
        json!({"draw_id": row.draw_id, "input": input, "commit_seq": row.commit_seq}),
    )
    .await?;
    let (_, root) = audit::head(tx).await?;
    Ok((i64::try_from(input_seq).unwrap_or(i64::MAX), root))
}

/// A draw the pool cannot fill: the failure is stored and logged (the caller commits it).
async fn record_failure(
    tx: &mut Tx,
    now: DateTime<Utc>,
    step: &Performed<'_>,
    request: &DrawRequest,
    e: &DrawError,
) -> Result<(), ExpertError> {
    q_exec!(
        tx,
        "update expert_draw set state = 'failed', failure = $1, input_seq = $2, audit_root_hex = $3,
             request_json = $4, drawn_at = $5
         where draw_id = $6",
        e.to_string(),
        step.input_seq,
        hex::encode(step.root),
        serde_json::to_string(request).map_err(|x| ExpertError::corrupt(x.to_string()))?,
        to_millis(now),
        step.row.draw_id.clone()
    )?;
    audit::append(
        tx,
        now,
        &Actor::system(),
        "expert.draw.failed",
        Some(&step.row.tender_id),
        json!({"draw_id": step.row.draw_id, "code": ExpertError::Draw(e.clone()).code(), "message": e.to_string()}),
    )
    .await?;
    Ok(())
}

/// Step 3: the result, withheld from the public until the award, and its public counts;
/// the draw row stores it with the replay pool.
async fn record_result(
    tx: &mut Tx,
    now: DateTime<Utc>,
    step: &Performed<'_>,
    request: &DrawRequest,
    result: &DrawResult,
    replay: &[PoolEntry],
) -> Result<(), ExpertError> {
    let row = step.row;
    let request_text =
        serde_json::to_string(request).map_err(|e| ExpertError::corrupt(e.to_string()))?;
    let result_seq = audit::append_withheld_until(
        tx,
        now,
        &Actor::system(),
        "expert.draw.result",
        &row.tender_id,
        json!({
            "draw_id": row.draw_id,
            "result": result,
            "input_seq": step.input_seq,
            "audit_root": hex::encode(step.root),
            "request_sha256": crate::store::blob::sha256_hex(
                serde_json_canonicalizer::to_string(&json!(request)).unwrap_or_default().as_bytes()),
            "pool_sha256": pool_digest(replay),
        }),
        audit::Stage::Award,
    )
    .await?;
    let result_seq = i64::try_from(result_seq).unwrap_or(i64::MAX);
    audit::append(
        tx,
        now,
        &Actor::system(),
        "expert.draw.drawn",
        Some(&row.tender_id),
        json!({
            "draw_id": row.draw_id,
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
        step.input_seq,
        hex::encode(step.root),
        serde_json::to_string(result).map_err(|e| ExpertError::corrupt(e.to_string()))?,
        result_seq,
        serde_json::to_string(replay).map_err(|e| ExpertError::corrupt(e.to_string()))?,
        request_text,
        to_millis(now),
        row.draw_id.clone()
    )?;
    Ok(())
}

/// The assignments: members are numbered on from the tender's earlier draws, notified in
/// the app and must answer before `confirm_minutes`; alternates wait. Returns what each
/// member is told, for the outside notifier after the commit.
async fn assign(
    tx: &mut Tx,
    now: DateTime<Utc>,
    row: &DrawRow,
    tender: &Facts,
    result: &DrawResult,
) -> Result<Vec<DrawnNotice>, ExpertError> {
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
                    row.draw_id.clone(),
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
                    notices.push(notify_member(tx, now, row, tender, id, no, respond_by).await?);
                }
            }
        }
    }
    if !notices.is_empty() {
        schedule_confirm_job(tx, &row.tender_id, to_millis(respond_by)).await?;
    }
    Ok(notices)
}

/// The in-app notice of one drawn member (when the expert has a login).
async fn notify_member(
    tx: &mut Tx,
    now: DateTime<Utc>,
    row: &DrawRow,
    tender: &Facts,
    expert_id: &str,
    member_no: i64,
    respond_by: DateTime<Utc>,
) -> Result<DrawnNotice, ExpertError> {
    let e = pool::load(tx, expert_id).await?;
    let n = DrawnNotice {
        user_id: e.user_id.clone(),
        expert_id: e.expert_id.clone(),
        name: e.name.clone(),
        tender_code: tender.code.clone(),
        member_no,
        evaluation_at: from_millis(row.evaluation_at),
        evaluation_place: row.evaluation_place.clone(),
        respond_by,
    };
    if let Some(user) = &e.user_id {
        notice(tx, now, user, &row.tender_id, "expert_drawn", &n.body()).await?;
    }
    Ok(n)
}

fn secret_of(row: &DrawRow) -> Result<DrawSecret, ExpertError> {
    let bytes = hex::decode(&row.secret_hex).map_err(|e| ExpertError::corrupt(e.to_string()))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| ExpertError::corrupt("secret is not 32 bytes"))?;
    Ok(DrawSecret::from_bytes(arr))
}
