//! Public audit API: signed checkpoints, events, stored tree nodes and proofs. Anyone may
//! read them; the log carries digests and ids, never secrets.

use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::checkpoint::verifier_key;
use super::kept::{self, KeptCheckpoint};
use super::merkle::{self, Hash, NodeId};
use crate::http::openapi::answers::CheckpointAnswer;
use crate::http::{ApiError, ApiQuery, ApiResult, AppState, Ctx};
use crate::identity::Role;
use crate::q_opt;
use crate::store::Tx;

/// The checkpoint signer's key name and verifier key for this server.
pub fn vkey(state: &AppState) -> String {
    verifier_key(&state.config.log_origin(), &state.platform_key.public())
}

/// The witness keys the configuration trusts (checked at start-up, see `server`).
pub fn trusted_witnesses(state: &AppState) -> Vec<super::checkpoint::VerifierKey> {
    state
        .config
        .witness_keys
        .iter()
        .filter_map(|k| super::cosign::parse_witness_vkey(k).ok())
        .collect()
}

/// The answer for one kept checkpoint.
fn checkpoint_answer(state: &AppState, kept: &KeptCheckpoint) -> CheckpointAnswer {
    let origin = state.config.log_origin();
    CheckpointAnswer {
        origin,
        size: kept.size,
        root: hex::encode(kept.root),
        checkpoint: kept.cosigned_note(),
        vkey: vkey(state),
        time: super::entry_time(kept.created_at),
        witnesses: kept.cosignatures.clone(),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/checkpoint",
    tag = "audit",
    summary = "The latest kept checkpoint (C2SP tlog-checkpoint, with witness cosignatures) and the verifier key; signs and keeps a new one when the log has grown",
    responses(
        (status = 200, description = "OK", body = CheckpointAnswer),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn checkpoint(State(state): State<AppState>) -> ApiResult<Json<CheckpointAnswer>> {
    let kept = kept::sign_head(
        &state.db,
        state.clock.now(),
        &state.config.log_origin(),
        &state.platform_key.pair,
    )
    .await?;
    Ok(Json(checkpoint_answer(&state, &kept)))
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/checkpoints/{size}",
    tag = "audit",
    summary = "A past kept checkpoint by its tree size, with its witness cosignatures",
    params(("size" = u64, Path, description = "Tree size", minimum = 0, maximum = 9223372036854775807.0)),
    responses(
        (status = 200, description = "OK", body = CheckpointAnswer),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn checkpoint_by_size(
    State(state): State<AppState>,
    Path(size): Path<u64>,
) -> ApiResult<Json<CheckpointAnswer>> {
    let mut tx = state.db.read().await?;
    let kept = kept::by_size(&mut tx, size)
        .await?
        .ok_or(kept::KeptError::NoSuchCheckpoint(size))?;
    Ok(Json(checkpoint_answer(&state, &kept)))
}

#[utoipa::path(
    post,
    path = "/api/v1/audit/cosignatures",
    tag = "audit",
    summary = "A witness posts a kept checkpoint with its cosignature (C2SP tlog-cosignature, text/plain signed note); the platform keeps cosignatures from the witness keys it trusts",
    request_body(content = String, content_type = "text/plain", description = "The checkpoint note with the witness's cosignature line(s)"),
    responses(
        (status = 200, description = "Kept; the checkpoint with all its cosignatures", body = CheckpointAnswer),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn add_cosignature(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Json<CheckpointAnswer>> {
    let note = std::str::from_utf8(&body)
        .map_err(|_| kept::KeptError::BadNote("the body is not UTF-8 text".into()))?;
    let kept = kept::add_cosignatures(
        &state.db,
        state.clock.now(),
        note,
        &trusted_witnesses(&state),
    )
    .await?;
    Ok(Json(checkpoint_answer(&state, &kept)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// The first sequence number to return.
    #[serde(default)]
    from: u64,
    /// How many events, 1–1000 (100 when absent).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

const MAX_PAGE: u32 = 1000;

#[utoipa::path(
    get,
    path = "/api/v1/audit/events",
    tag = "audit",
    summary = "Audit events with their canonical entries and leaf hashes; entries withheld until their disclosure time (e.g. document downloads, 招标投标法 第22条) have entry null except for regulators",
    params(EventsQuery),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Events),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn events(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<impl IntoResponse> {
    // Sequence numbers are stored as i64: a larger `from` names no event and is as malformed
    // as a negative one (the document says int64).
    if i64::try_from(q.from).is_err() {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!(
                "invalid query parameters: from must be at most {}",
                i64::MAX
            ),
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "BAD_LIMIT",
            format!("limit must be 1–{MAX_PAGE}"),
        ));
    }
    let mut tx = state.db.read().await?;
    // Regulators supervise everything as it happens; everyone else sees withheld entries
    // (e.g. who downloaded the documents, 招标投标法 第22条) as leaf hashes only.
    let privileged = ctx
        .user
        .as_ref()
        .is_some_and(|u| matches!(u.role, Role::Regulator));
    let now = state.clock.now();
    let events: Vec<_> = super::events(&mut tx, q.from, limit)
        .await?
        .into_iter()
        .map(|e| e.for_reader(now, privileged))
        .collect();
    let next = events.last().map(|e| e.seq + 1);
    Ok(Json(json!({"events": events, "next": next})))
}

async fn load_node(tx: &mut Tx, (level, idx): NodeId) -> Result<Option<Hash>, ApiError> {
    let row: Option<(Vec<u8>,)> = q_opt!(
        tx,
        (Vec<u8>,),
        "select hash from audit_node where level = $1 and idx = $2",
        i64::from(level),
        i64::try_from(idx).unwrap_or(i64::MAX)
    )?;
    Ok(row.and_then(|(h,)| <Hash>::try_from(h.as_slice()).ok()))
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/nodes/{level}/{index}",
    tag = "audit",
    summary = "A stored perfect-subtree hash of the Merkle tree",
    params(("level" = u8, Path, description = "Level (0 = leaves)", minimum = 0, maximum = 255), ("index" = u64, Path, description = "Index within the level", minimum = 0, maximum = 9223372036854775807.0)),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::TreeNode),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn node(
    State(state): State<AppState>,
    Path((level, index)): Path<(u8, u64)>,
) -> ApiResult<impl IntoResponse> {
    let mut tx = state.db.read().await?;
    let hash = load_node(&mut tx, (level, index))
        .await?
        .ok_or_else(|| ApiError::not_found("tree node"))?;
    Ok(Json(
        json!({"level": level, "index": index, "hash": hex::encode(hash)}),
    ))
}

async fn assemble(tx: &mut Tx, plan: merkle::ProofPlan) -> ApiResult<Vec<String>> {
    let proof = kept::proof_from_nodes(tx, &plan)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(proof.iter().map(hex::encode).collect())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct InclusionQuery {
    /// The event's sequence number, below `size`.
    seq: u64,
    /// The tree size the proof is for, at most the log's.
    #[param(minimum = 1)]
    size: u64,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/proof/inclusion",
    tag = "audit",
    summary = "RFC 9162 inclusion proof of an event",
    params(InclusionQuery),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::InclusionProof),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn inclusion(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> ApiResult<impl IntoResponse> {
    let mut tx = state.db.read().await?;
    let (size, _) = super::head(&mut tx).await?;
    if q.size > size {
        return Err(ApiError::bad_request(
            "BAD_TREE_SIZE",
            format!("the log has only {size} events"),
        ));
    }
    let plan = merkle::inclusion_proof_plan(q.seq, q.size)
        .map_err(|e| ApiError::bad_request("BAD_PROOF_REQUEST", e.to_string()))?;
    Ok(Json(
        json!({"seq": q.seq, "size": q.size, "proof": assemble(&mut tx, plan).await?}),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ConsistencyQuery {
    /// The older tree size.
    #[param(minimum = 1)]
    old: u64,
    /// The newer tree size, at most the log's.
    #[param(minimum = 1)]
    new: u64,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/proof/consistency",
    tag = "audit",
    summary = "RFC 9162 consistency proof between two tree sizes",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ConsistencyProof),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn consistency(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<impl IntoResponse> {
    let mut tx = state.db.read().await?;
    let (size, _) = super::head(&mut tx).await?;
    if q.new > size {
        return Err(ApiError::bad_request(
            "BAD_TREE_SIZE",
            format!("the log has only {size} events"),
        ));
    }
    let plan = merkle::consistency_proof_plan(q.old, q.new)
        .map_err(|e| ApiError::bad_request("BAD_PROOF_REQUEST", e.to_string()))?;
    Ok(Json(
        json!({"old": q.old, "new": q.new, "proof": assemble(&mut tx, plan).await?}),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TlogProofQuery {
    /// The event's sequence number.
    seq: u64,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/proof/tlog",
    tag = "audit",
    summary = "An offline-verifiable inclusion proof of an event (C2SP tlog-proof) against the latest kept checkpoint that covers it, witnessed when one is; the entry is included for its own actor, regulators, and everyone once public",
    params(TlogProofQuery),
    responses(
        (status = 200, description = "OK", body = kept::EventProof),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn tlog_proof(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(q): ApiQuery<TlogProofQuery>,
) -> ApiResult<Json<kept::EventProof>> {
    if i64::try_from(q.seq).is_err() {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("invalid query parameters: seq must be at most {}", i64::MAX),
        ));
    }
    let privileged = ctx
        .user
        .as_ref()
        .is_some_and(|u| matches!(u.role, Role::Regulator));
    let proof = kept::event_proof(
        &state.db,
        state.clock.now(),
        q.seq,
        ctx.user.as_ref().map(|u| u.user_id.as_str()),
        privileged,
        &state.config.log_origin(),
        &state.platform_key.pair,
    )
    .await?;
    Ok(Json(proof))
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit/checkpoint", get(checkpoint))
        .route("/api/v1/audit/checkpoints/{size}", get(checkpoint_by_size))
        .route("/api/v1/audit/cosignatures", post(add_cosignature))
        .route("/api/v1/audit/events", get(events))
        .route("/api/v1/audit/nodes/{level}/{index}", get(node))
        .route("/api/v1/audit/proof/inclusion", get(inclusion))
        .route("/api/v1/audit/proof/consistency", get(consistency))
        .route("/api/v1/audit/proof/tlog", get(tlog_proof))
}
