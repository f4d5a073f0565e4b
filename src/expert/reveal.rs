//! After the award: the reveal of every performed draw (secret, input, root and the text of
//! the withheld result entry), the public record anyone can fetch, and its verification
//! (`sunbid draw verify`), which replays the draw from the public log alone.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::draw::{DrawResult, DrawSecret, Hash, Transcript, check};
use super::eligibility::Quota;
use super::error::ExpertError;
use super::perform::{PoolEntry, pool_digest, replay_inputs};
use super::request::{draws_of, load_draw};
use super::view::{Visibility, member_views};
use crate::audit::{self, Actor};
use crate::identity::{Caller, Role};
use crate::lifecycle::tender::{self, TenderState, is_owner};
use crate::store::{Db, Tx};
use crate::{q_exec, q_one};

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
    let tender = tender::by_code(&mut tx, code).await?;
    let allowed = is_owner(caller, tender.agent_org_id.as_deref())
        || matches!(caller.user.role, Role::Operator | Role::Regulator);
    if !allowed {
        return Err(ExpertError::forbidden(
            "only the tender's agent, operators and regulators may reveal the draw / 无权公开抽取结果",
        ));
    }
    if !matches!(tender.state, TenderState::Awarded | TenderState::Contracted) {
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
        pool: serde_json::from_str(&pool).map_err(|e| ExpertError::corrupt(e.to_string()))?,
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
