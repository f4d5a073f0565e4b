//! The OpenAPI 3.1 document describing `/api/v1`, generated from the code with `utoipa`: each
//! handler carries its `#[utoipa::path]` beside it, the request and view types derive their
//! schemas, and [`ApiDoc`] gathers them. Tests check that every served route is documented
//! (and nothing else), and that every operation documents its answers and its errors.

pub mod answers;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// Every error body: a stable code, a message a person understands, and sometimes details
/// (e.g. every violated rule with its article). See `http::error`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `TENDER_DEADLINE_TOO_SOON`.
    pub code: String,
    /// Message a person understands (Chinese and English where it matters).
    pub message: String,
    /// Structured details, when there are any: every broken rule with its article, the
    /// fields that are wrong …
    pub details: Option<serde_json::Value>,
}

/// Raw bytes: a document, a sealed envelope, a PDF.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
        .into()
}

/// The refusals of an operation anyone may call: a bad request or parameter (400), an
/// unknown resource (404), a rule or state that forbids it (409/422), too many requests
/// (429), each with the [`ErrorBody`].
pub struct Refusals;

impl IntoResponses for Refusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "400".into(),
                error_response("Malformed request or parameter"),
            ),
            ("404".into(), error_response("Not found")),
            (
                "4XX".into(),
                error_response("Refused: the code says why (409 state, 422 rule, 429 rate)"),
            ),
        ])
    }
}

/// The refusals of an operation that needs a login: [`Refusals`] and 401 (no or expired
/// session) and 403 (the caller's role or organisation may not).
pub struct AuthRefusals;

impl IntoResponses for AuthRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut out = Refusals::responses();
        out.insert("401".into(), error_response("Not logged in"));
        out.insert(
            "403".into(),
            error_response("The caller's role or organisation may not do this"),
        );
        out
    }
}

/// The Bearer token from `POST /api/v1/auth/login` and the pages' session cookie.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (EdDSA)")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::http::ctx::SESSION_COOKIE,
            ))),
        );
    }
}

/// The API document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sunbid API",
        version = "0.1.0",
        description = "Public-resource trading platform. Money is integer fen; times are RFC 3339 UTC. Every error body is {code, message}.",
    ),
    servers((url = "/")),
    security(("bearer" = []), ("session" = [])),
    modifiers(&SecuritySchemes),
    // Types reached only through an enum's struct variant or a query parameter are not
    // collected on their own (`every_schema_reference_resolves`).
    components(schemas(
        ErrorBody,
        crate::evaluation::review::FailedCriterion,
        crate::supervision::export::Format
    )),
    paths(
        crate::identity::routes::login,
        crate::identity::routes::logout,
        crate::identity::routes::me,
        crate::identity::routes::change_password,
        crate::identity::routes::register,
        crate::identity::routes::list_orgs,
        crate::identity::routes::create_org,
        crate::identity::routes::approve_org,
        crate::identity::routes::reject_org,
        crate::identity::routes::list_users,
        crate::identity::routes::create_user,
        crate::identity::routes::disable_user,
        crate::identity::routes::enable_user,
        crate::identity::passkey_routes::list_passkeys,
        crate::identity::passkey_routes::remove_passkey,
        crate::identity::passkey_routes::start_registration,
        crate::identity::passkey_routes::finish_registration,
        crate::identity::passkey_routes::start_login,
        crate::identity::passkey_routes::finish_login,
        crate::audit::routes::checkpoint,
        crate::audit::routes::checkpoint_by_size,
        crate::audit::routes::add_cosignature,
        crate::audit::routes::events,
        crate::audit::routes::node,
        crate::audit::routes::inclusion,
        crate::audit::routes::consistency,
        crate::audit::routes::tlog_proof,
        crate::witness::routes::report_split_view,
        crate::ocds::routes::list_releases,
        crate::ocds::routes::get_record,
        crate::ocds::routes::bulk_file,
        crate::tender::routes::list_tenders,
        crate::tender::rulebook_routes::list_rulebooks,
        crate::tender::rulebook_routes::get_rulebook,
        crate::tender::rulebook_routes::replace_rulebook,
        crate::tender::routes::create_tender,
        crate::tender::routes::get_tender,
        crate::tender::routes::update_tender,
        crate::tender::routes::upload_document,
        crate::tender::routes::download_document,
        crate::tender::routes::publish_tender,
        crate::tender::routes::retender_tender,
        crate::tender::routes::set_invitations,
        crate::tender::routes::get_invitations,
        crate::tender::routes::my_invitation,
        crate::tender::routes::amend_tender,
        crate::tender::routes::list_questions,
        crate::tender::routes::ask_question,
        crate::tender::routes::answer_question,
        crate::tender::routes::cancel_tender,
        crate::tender::routes::my_tenders,
        crate::tender::routes::my_notices,
        crate::tender::routes::read_notice,
        crate::bid::routes::platform_key,
        crate::bid::routes::enrol_custodian,
        crate::bid::routes::start_passkey_enrolment,
        crate::bid::routes::enrol_with_passkey,
        crate::bid::routes::get_custodian_key,
        crate::bid::routes::get_opening_key,
        crate::bid::routes::upload_part,
        crate::bid::routes::seal_base_price,
        crate::bid::routes::submit_bid,
        crate::bid::routes::withdraw_bid,
        crate::bid::routes::my_bid,
        crate::bid::routes::get_opening,
        crate::bid::routes::start_opening,
        crate::bid::routes::unlock_share,
        crate::bid::routes::start_passkey_unlock,
        crate::bid::routes::unlock_share_with_passkey,
        crate::bid::routes::confirm_record,
        crate::bid::routes::raise_objection,
        crate::bid::routes::answer_objection,
        crate::expert::routes::list_experts,
        crate::expert::routes::add_expert,
        crate::expert::routes::get_expert,
        crate::expert::routes::edit_expert,
        crate::expert::routes::suspend,
        crate::expert::routes::bar,
        crate::expert::routes::reinstate,
        crate::expert::routes::import_csv,
        crate::expert::routes::my_profile,
        crate::expert::routes::edit_my_profile,
        crate::expert::routes::specialties,
        crate::expert::routes::request_draw,
        crate::expert::routes::list_draws,
        crate::expert::routes::get_draw,
        crate::expert::routes::supervisor_input,
        crate::expert::routes::reveal,
        crate::expert::routes::public_record,
        crate::expert::routes::my_assignments,
        crate::expert::routes::confirm,
        crate::expert::routes::decline,
        crate::expert::routes::checkin_start,
        crate::expert::routes::checkin_finish,
        crate::expert::routes::checkin_emergency,
        crate::expert::routes::committee,
        crate::evaluation::routes::start,
        crate::evaluation::routes::view,
        crate::evaluation::routes::ballot,
        crate::evaluation::routes::marks,
        crate::evaluation::routes::scores,
        crate::evaluation::routes::price_table,
        crate::evaluation::routes::sign_start,
        crate::evaluation::routes::sign_finish,
        crate::evaluation::routes::dissent,
        crate::evaluation::routes::ask_clarification,
        crate::evaluation::routes::list_clarifications,
        crate::evaluation::routes::answer_clarification,
        crate::evaluation::routes::my_clarifications,
        crate::evaluation::routes::start_replacement,
        crate::evaluation::routes::list_replacements,
        crate::evaluation::routes::complete_replacement,
        crate::evaluation::report::routes::report_json,
        crate::evaluation::report::routes::report_html,
        crate::evaluation::report::routes::report_pdf,
        crate::award::routes::deliver,
        crate::award::routes::publish,
        crate::award::routes::object,
        crate::award::routes::answer,
        crate::award::routes::award,
        crate::award::routes::contract,
        crate::award::routes::view,
        crate::supervision::routes::list_alerts,
        crate::supervision::routes::stats,
        crate::supervision::routes::get_alert,
        crate::supervision::routes::acknowledge_alert,
        crate::supervision::routes::open_case,
        crate::supervision::routes::get_case,
        crate::supervision::routes::add_note,
        crate::supervision::routes::suspend_tender,
        crate::supervision::routes::resume_tender,
        crate::supervision::routes::close_case,
        crate::supervision::routes::list_cases,
        crate::supervision::routes::export_alerts,
        crate::supervision::routes::export_cases,
        crate::complaint::routes::file_complaint,
        crate::complaint::routes::list_complaints,
        crate::complaint::routes::accept_complaint,
        crate::complaint::routes::reject_complaint,
        crate::complaint::routes::decide_complaint,
        crate::complaint::routes::complaint_decisions,
        crate::auction::routes::draft_trade,
        crate::auction::routes::list_trades,
        crate::auction::routes::get_trade,
        crate::auction::routes::publish_trade,
        crate::auction::routes::cancel_trade,
        crate::auction::routes::apply,
        crate::auction::routes::my_application,
        crate::auction::routes::confirm_deposit,
        crate::auction::routes::admit,
        crate::auction::routes::want_to_continue,
        crate::auction::routes::place_bid,
        crate::auction::routes::bid_history,
        crate::auction::routes::bidders,
        crate::auction::routes::result,
        crate::auction::routes::live,
        crate::auction::routes::reserve_view,
        crate::auction::routes::seal_reserve,
        crate::auction::routes::unlock_reserve,
        crate::auction::routes::sign_start,
        crate::auction::routes::sign_finish,
    )
)]
pub struct ApiDoc;

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    // The document is built from constants; failing to serialise it is a bug in this file.
    ApiDoc::openapi().to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialise");
        "{}".to_string()
    })
});

/// The document as served at `/api/openapi.json`, built once.
pub fn document() -> &'static str {
    DOCUMENT.as_str()
}

#[cfg(test)]
mod tests;
