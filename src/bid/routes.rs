//! Sealed-bidding JSON API under `/api/v1` (issue 3; docs/sealed-bidding.md lists every
//! route). Handlers only parse, call the service and shape the answer.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;

use super::model::{
    ObjectionAnswerInput, ObjectionInput, PasskeyEnrolBody, PasskeyUnlockBody, PassphraseInput,
    SubmitInput, UploadQuery,
};
use super::service::{self, UploadMeta};
use super::{BidError, custodian, opening};
use crate::audit::Actor;
use crate::error::Common;
use crate::http::{ApiJson, ApiQuery, ApiResult, AppState, Ctx};
use crate::identity::passkey::{self, PasskeyError, VerifiedAssertion};
use crate::tender::service::Caller;
use std::sync::Arc;
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/platform-key", get(platform_key))
        .route(
            "/api/v1/custodian/key",
            get(get_custodian_key).post(enrol_custodian),
        )
        .route(
            "/api/v1/custodian/key/passkey/start",
            post(start_passkey_enrolment),
        )
        .route("/api/v1/custodian/key/passkey", post(enrol_with_passkey))
        .route("/api/v1/tenders/{code}/opening-key", get(get_opening_key))
        .route(
            "/api/v1/tenders/{code}/bid/parts",
            // Streamed to disk against `max_bid_part_bytes` (see `upload_part`), so the
            // default 2 MB extractor limit must not apply.
            post(upload_part).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/tenders/{code}/base-price", post(seal_base_price))
        .route("/api/v1/tenders/{code}/bid/submit", post(submit_bid))
        .route("/api/v1/tenders/{code}/bid/withdraw", post(withdraw_bid))
        .route("/api/v1/tenders/{code}/bid", get(my_bid))
        .route("/api/v1/tenders/{code}/opening", get(get_opening))
        .route("/api/v1/tenders/{code}/opening/start", post(start_opening))
        .route("/api/v1/tenders/{code}/opening/unlock", post(unlock_share))
        .route(
            "/api/v1/tenders/{code}/opening/unlock/passkey/start",
            post(start_passkey_unlock),
        )
        .route(
            "/api/v1/tenders/{code}/opening/unlock/passkey",
            post(unlock_share_with_passkey),
        )
        .route(
            "/api/v1/tenders/{code}/opening/confirm",
            post(confirm_record),
        )
        .route(
            "/api/v1/tenders/{code}/opening/objections",
            post(raise_objection),
        )
        .route(
            "/api/v1/tenders/{code}/opening/objections/{objection_id}/answer",
            post(answer_objection),
        )
}

fn caller(ctx: &Ctx) -> Result<Caller, BidError> {
    Caller::from_ctx(ctx).map_err(|_| Common::LoginRequired.into())
}

/// The active platform key (top-level fields, as before key rotation existed) and every
/// key the platform ever signed with (`keys`), so receipts and checkpoints signed by a
/// retired key still verify.
#[utoipa::path(
    get,
    path = "/api/v1/platform-key",
    tag = "bids",
    summary = "The platform's Ed25519 key that signs receipts and checkpoints",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::PlatformKeys),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn platform_key(State(state): State<AppState>) -> impl IntoResponse {
    let origin = state.config.log_origin();
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys: Vec<_> = state
        .platform_keys
        .all()
        .into_iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "vkey": crate::audit::checkpoint::verifier_key(&origin, &k.public),
                "public_key": b64.encode(k.public),
                "algorithm": "Ed25519",
                "status": if k.active { "active" } else { "retired" },
                "retired_at": k.retired_at.map(crate::audit::entry_time),
            })
        })
        .collect();
    Json(json!({
        "kid": state.platform_key.kid(),
        "vkey": crate::audit::routes::vkey(&state),
        "public_key": b64.encode(state.platform_key.public()),
        "algorithm": "Ed25519",
        "keys": keys,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/custodian/key",
    tag = "bids",
    summary = "Enrol a custodian key pair, its private half locked under a passphrase the server never keeps (fallback for passkeys without PRF; weak passphrases are refused with 422 WEAK_PASSPHRASE)",
    request_body = PassphraseInput,
    responses(
        (status = 201, description = "Created", body = crate::bid::custodian::CustodianKeyView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn enrol_custodian(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(input): ApiJson<PassphraseInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let key = custodian::enrol(&state.db, state.clock.now(), &caller, input.passphrase).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

#[utoipa::path(
    post,
    path = "/api/v1/custodian/key/passkey/start",
    tag = "bids",
    summary = "Start enrolling a custodian key held by the caller's passkey: a PRF salt and an assertion ceremony binding it",
    responses(
        (status = 200, description = "OK", body = crate::bid::custodian::PasskeyEnrolment),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn start_passkey_enrolment(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    Ok(Json(
        custodian::start_passkey_enrolment(&state.db, &state, &caller).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/custodian/key/passkey",
    tag = "bids",
    summary = "Finish a passkey enrolment: the public key and the scalar wrapped in the browser under the passkey's PRF output, with the assertion",
    request_body = PasskeyEnrolBody,
    responses(
        (status = 201, description = "Created", body = crate::bid::custodian::CustodianKeyView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn enrol_with_passkey(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(input): ApiJson<PasskeyEnrolBody>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let input = custodian::PasskeyEnrolInput {
        ceremony_id: input.ceremony_id,
        credential: input.credential,
        prf_salt: input.prf_salt,
        public_key: input.public_key,
        nonce: input.nonce,
        wrapped_key: input.wrapped_key,
    };
    let key = custodian::finish_passkey_enrolment(
        &state.db,
        state.clock.as_ref(),
        &state,
        &caller,
        input,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

#[utoipa::path(
    get,
    path = "/api/v1/custodian/key",
    tag = "bids",
    summary = "The caller's enrolled custodian public key",
    responses(
        (status = 200, description = "OK", body = crate::bid::custodian::CustodianKeyView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn get_custodian_key(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    Ok(Json(custodian::my_key(&state.db, &caller).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/opening-key",
    tag = "bids",
    summary = "The tender's opening public key (HPKE P-256) that bids are sealed to",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::bid::custodian::OpeningKeyView),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn get_opening_key(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(custodian::opening_key(&state.db, &code).await?))
}

/// `POST …/bid/parts?label=form|attachment&name=…`, the raw envelope as the body.
#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/bid/parts",
    tag = "bids",
    summary = "Upload one sealed part (envelope, docs/seal-format.md), streamed; refused unless well-formed and bound to this tender and bidder",
    params(("code" = String, Path, description = "Project code"), UploadQuery),
    request_body(content = crate::http::openapi::Binary, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Created", body = crate::bid::model::UploadedPart),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn upload_part(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    let meta = UploadMeta {
        label: query.label,
        name: query.name,
        declared_len: header(CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok()),
        device_id: header("x-device-id").map(str::to_string),
    };
    let part =
        service::upload_part(&state.bids(), &caller, &code, meta, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(part)))
}

/// `POST …/base-price`, the raw base-price envelope as the body (owning agent).
#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/base-price",
    tag = "bids",
    summary = "Seal the base price (标底) before the deadline (owning agent): an envelope with bidder_id base-price and plaintext {\"base_price_fen\": int}; replaces an earlier one; opened and published at the opening",
    params(("code" = String, Path, description = "Project code")),
    request_body(content = crate::http::openapi::Binary, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Created", body = crate::bid::service::SealedBasePrice),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn seal_base_price(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let sealed =
        service::seal_base_price(&state.bids(), &caller, &code, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(sealed)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/bid/submit",
    tag = "bids",
    summary = "Submit the uploaded parts as the bid; answers with a receipt signed by the platform key (the last submission counts)",
    params(("code" = String, Path, description = "Project code")),
    request_body = SubmitInput,
    responses(
        (status = 201, description = "Created", body = crate::bid::service::SignedReceipt),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn submit_bid(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<SubmitInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let receipt = service::submit(&state.bids(), &caller, &code, &input.parts).await?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/bid/withdraw",
    tag = "bids",
    summary = "Withdraw the bid before the deadline (撤回)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = super::service::BidWithdrawn),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn withdraw_bid(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    Ok(Json(
        service::withdraw(&state.db, state.clock.now(), &caller, &code).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/bid",
    tag = "bids",
    summary = "The caller's bid on this tender and its receipt",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = super::service::MyBid),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn my_bid(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    Ok(Json(service::my_bid(&state.bids(), &caller, &code).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/opening",
    tag = "bids",
    summary = "The opening ceremony (quorum progress) and, once opened, the opening record",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = opening::OpeningView),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn get_opening(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(opening::view(&state.db, &code).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/opening/start",
    tag = "bids",
    summary = "Start the opening after the deadline (owning agent); fewer valid bids than the minimum fails the tender (流标)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = opening::OpeningView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn start_opening(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    Ok(Json(
        opening::start(&state.opening_env(), state.clock.now(), &caller, &code).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/opening/unlock",
    tag = "bids",
    summary = "A custodian unlocks their share with their passphrase; at the quorum every bid is opened",
    params(("code" = String, Path, description = "Project code")),
    request_body = PassphraseInput,
    responses(
        (status = 200, description = "OK", body = opening::OpeningView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn unlock_share(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<PassphraseInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let proof = opening::UnlockProof::Passphrase(input.passphrase);
    Ok(Json(
        opening::unlock(&state.opening_env(), &state, &caller, &code, proof).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/opening/unlock/passkey/start",
    tag = "bids",
    summary = "A custodian whose key is held by a passkey starts an unlock: their sealed share, key record and an assertion ceremony bound to this unlock",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::bid::opening::PasskeyUnlockStart),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn start_passkey_unlock(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    Ok(Json(
        opening::start_passkey_unlock(&state.opening_env(), &state, &caller, &code).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/opening/unlock/passkey",
    tag = "bids",
    summary = "A custodian posts the share their browser opened, with the assertion; a share that is not the one issued is 422 WRONG_SHARE, counted like a wrong passphrase; at the quorum every bid is opened",
    params(("code" = String, Path, description = "Project code")),
    request_body = PasskeyUnlockBody,
    responses(
        (status = 200, description = "OK", body = opening::OpeningView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn unlock_share_with_passkey(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<PasskeyUnlockBody>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let proof = opening::UnlockProof::Passkey(opening::PasskeyUnlock {
        ceremony_id: input.ceremony_id,
        credential: input.credential,
        nonce: input.nonce,
        share: input.share,
    });
    Ok(Json(
        opening::unlock(&state.opening_env(), &state, &caller, &code, proof).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/opening/confirm",
    tag = "bids",
    summary = "A bidder confirms the opening record",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 201, description = "Created", body = opening::RecordConfirmed),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn confirm_record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let done = opening::confirm(&state.db, state.clock.now(), &caller, &code).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/opening/objections",
    tag = "bids",
    summary = "A bidder raises an objection at the opening (开标异议)",
    params(("code" = String, Path, description = "Project code")),
    request_body = ObjectionInput,
    responses(
        (status = 201, description = "Created", body = opening::OpeningObjectionRaised),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn raise_objection(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<ObjectionInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let raised = opening::object(&state.db, state.clock.now(), &caller, &code, &input.body).await?;
    Ok((StatusCode::CREATED, Json(raised)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/opening/objections/{objection_id}/answer",
    tag = "bids",
    summary = "The agent answers an objection",
    params(("code" = String, Path, description = "Project code"), ("objection_id" = String, Path, description = "Objection id")),
    request_body = ObjectionAnswerInput,
    responses(
        (status = 200, description = "OK", body = opening::OpeningObjectionAnswered),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn answer_objection(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, objection_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<ObjectionAnswerInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    Ok(Json(
        opening::answer(
            &state.db,
            state.clock.now(),
            &caller,
            &code,
            &objection_id,
            &input.answer,
        )
        .await?,
    ))
}

impl AppState {
    /// What the opening works with, from the shared state.
    pub fn opening_env(&self) -> opening::Env {
        opening::Env {
            db: self.db.clone(),
            blobs: self.blobs.clone(),
            clock: Arc::clone(&self.clock),
            ceremonies: Arc::clone(&self.openings),
            rulebooks: Arc::clone(&self.rulebooks),
        }
    }

    /// What the bid operations work with, from the shared state.
    pub fn bids(&self) -> service::Bids<'_> {
        service::Bids {
            db: &self.db,
            blobs: &self.blobs,
            clock: self.clock.as_ref(),
            signer: &self.platform_key,
            keys: &self.platform_keys,
            log_origin: self.config.log_origin(),
            max_part_bytes: self.config.max_bid_part_bytes,
        }
    }
}

/// The identity feature's passkey signatures, as sealed bidding asks for them.
impl opening::PasskeySignatures for AppState {
    async fn start_signature(
        &self,
        user_id: &str,
        challenge: &[u8],
    ) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        passkey::start_signature_for_user(self, user_id, challenge).await
    }

    async fn verify_signature(
        &self,
        actor: &Actor,
        user_id: &str,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
        challenge: &[u8],
    ) -> Result<VerifiedAssertion, PasskeyError> {
        passkey::verify_signature(self, actor, user_id, ceremony_id, credential, challenge).await
    }
}
