//! The authorisation matrix (issue 11, safety nets): every operation of the served OpenAPI
//! document × every role and anonymous. The expected outcome is written down once, in
//! [`MATRIX`]: the roles that pass authorisation. Everyone else must be refused — 401 when
//! anonymous, 403 or 404 when logged in — and nobody may get a 5xx. An operation the server
//! documents without an entry here, or an entry for an operation it no longer documents,
//! fails the test, so a new route cannot ship without a decision on who may call it.
//!
//! The calls use real resources (a published tender, a draft, a tender in evaluation with
//! its committee, a draw, a question, a clarification, a notice, an opening objection, a
//! pending company …) so that a 404 does not hide a missing 403. Where no real resource
//! can be made cheaply (a passkey, a result objection), the id is made up and the entry
//! says so: every role then gets 404 (or the state's 409) and the row only proves that
//! anonymous callers get 401 and nobody gets a 5xx.
//!
//! Rows run in table order, and the roles of a row run refused ones first, so a permitted
//! call that changes state (publishing the draft, disabling the throwaway user) cannot
//! turn a later refusal into something else. "Passes" means the answer is neither 401 nor
//! 403: a permitted caller may still get 404, 409 or 422 from the rules behind the check.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sunbid::identity::{OrgKind, Role};

use crate::both;
use crate::evaluation_clarify::in_review;
use crate::harness::{Harness, PASSWORD, next_serial, uscc};

/// Who makes a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Operator,
    Agent,
    Custodian,
    Bidder,
    Expert,
    Regulator,
}

use Who::{Agent as A, Bidder as B, Custodian as C, Expert as E, Operator as O, Regulator as R};

const EVERYONE: &[Who] = &[Who::Anonymous, O, A, C, B, E, R];
const LOGGED_IN: &[Who] = &[O, A, C, B, E, R];

impl Who {
    fn all() -> [Who; 7] {
        [Who::Anonymous, O, A, C, B, E, R]
    }
}

/// The body of a call: JSON (placeholders `{name}` filled from the fixture), raw bytes
/// with a content type, or none.
#[derive(Clone, Copy)]
enum Body {
    None,
    Json(&'static str),
    Raw(&'static str, &'static [u8]),
}

/// One operation of the API and the roles that pass its authorisation.
struct Row {
    method: &'static str,
    /// The path as the OpenAPI document spells it.
    route: &'static str,
    /// The path called, with fixture placeholders such as `{pub}` (a published tender).
    call: &'static str,
    body: Body,
    pass: &'static [Who],
    /// What a refused, logged-in caller gets when it is not 403 or 404, and why.
    refused: Option<(u16, &'static str)>,
}

impl Row {
    /// Refused logged-in callers get `status` instead of 403/404, for the reason given.
    const fn refused(mut self, status: u16, why: &'static str) -> Row {
        self.refused = Some((status, why));
        self
    }
}

const fn row(
    method: &'static str,
    route: &'static str,
    call: &'static str,
    body: Body,
    pass: &'static [Who],
) -> Row {
    Row {
        method,
        route,
        call,
        body,
        pass,
        refused: None,
    }
}

use Body::{Json as J, None as N, Raw};

/// Placeholders: `{pub}` a published tender of the agent, `{draft}` a draft, `{cancel}` a
/// draft to cancel, `{eval}` a tender in the preliminary review with its committee (the
/// expert is its leader, the bidder one of its bidders); the ids are real unless named
/// `{fake}`.
const MATRIX: &[Row] = &[
    // ---- identity -----------------------------------------------------------------------
    row(
        "POST",
        "/api/v1/auth/login",
        "/api/v1/auth/login",
        J(r#"{"username":"{login_user}","password":"{password}"}"#),
        EVERYONE,
    ),
    row("GET", "/api/v1/me", "/api/v1/me", N, LOGGED_IN),
    row(
        "POST",
        "/api/v1/companies",
        "/api/v1/companies",
        J(
            r#"{"company_name":"矩阵测试建设有限公司","uscc":"{uscc}","username":"matrix-company","display_name":"矩阵","password":"{password}"}"#,
        ),
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/organisations",
        "/api/v1/organisations",
        N,
        &[O, R],
    ),
    row(
        "POST",
        "/api/v1/organisations",
        "/api/v1/organisations",
        J(r#"{"kind":"tenderee","name":"矩阵招标人有限公司"}"#),
        &[O],
    ),
    row(
        "POST",
        "/api/v1/organisations/{org_id}/approve",
        "/api/v1/organisations/{pending_org}/approve",
        N,
        &[O],
    ),
    row(
        "POST",
        "/api/v1/organisations/{org_id}/reject",
        "/api/v1/organisations/{pending_org}/reject",
        N,
        &[O],
    ),
    row("GET", "/api/v1/users", "/api/v1/users", N, &[O, R]),
    row(
        "POST",
        "/api/v1/users",
        "/api/v1/users",
        J(
            r#"{"username":"matrix-new-user","display_name":"矩阵","role":"regulator","org_id":"{regulator_org}","password":"{password}"}"#,
        ),
        &[O],
    ),
    row(
        "POST",
        "/api/v1/users/{user_id}/disable",
        "/api/v1/users/{throwaway_user}/disable",
        N,
        &[O],
    ),
    row(
        "POST",
        "/api/v1/users/{user_id}/enable",
        "/api/v1/users/{throwaway_user}/enable",
        N,
        &[O],
    ),
    // ---- passkeys (the passkey id is made up: 404 for every logged-in caller) -----------
    row("GET", "/api/v1/passkeys", "/api/v1/passkeys", N, LOGGED_IN),
    row(
        "DELETE",
        "/api/v1/passkeys/{passkey_id}",
        "/api/v1/passkeys/{fake}",
        N,
        LOGGED_IN,
    ),
    row(
        "POST",
        "/api/v1/passkeys/register/start",
        "/api/v1/passkeys/register/start",
        J("{}"),
        LOGGED_IN,
    ),
    row(
        "POST",
        "/api/v1/passkeys/register/finish",
        "/api/v1/passkeys/register/finish",
        J(r#"{"ceremony_id":"{fake}","credential":{}}"#),
        LOGGED_IN,
    ),
    row(
        "POST",
        "/api/v1/passkeys/login/start",
        "/api/v1/passkeys/login/start",
        J(r#"{"username":"{passkey_user}"}"#),
        EVERYONE,
    ),
    row(
        "POST",
        "/api/v1/passkeys/login/finish",
        "/api/v1/passkeys/login/finish",
        J(r#"{"ceremony_id":"{fake}","credential":{}}"#),
        EVERYONE,
    ),
    // ---- tenders ------------------------------------------------------------------------
    row(
        "GET",
        "/api/v1/tenders",
        "/api/v1/tenders?limit=5",
        N,
        EVERYONE,
    ),
    row(
        "POST",
        "/api/v1/tenders",
        "/api/v1/tenders",
        J("{tender_new}"),
        &[A],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}",
        "/api/v1/tenders/{pub}",
        N,
        EVERYONE,
    ),
    row(
        "PUT",
        "/api/v1/tenders/{code}",
        "/api/v1/tenders/{draft}",
        J("{tender_draft}"),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/documents",
        "/api/v1/tenders/{draft}/documents?filename=matrix.pdf",
        Raw("application/pdf", b"%PDF-1.4 matrix"),
        &[A],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/documents/{document_id}",
        "/api/v1/tenders/{pub}/documents/{document}",
        N,
        &[O, A, B, R],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/publish",
        "/api/v1/tenders/{draft}/publish",
        J("{}"),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/retender",
        "/api/v1/tenders/{pub}/retender",
        J(r#"{"tender":{tender_draft}}"#),
        &[A],
    ),
    row(
        "PUT",
        "/api/v1/tenders/{code}/invitations",
        "/api/v1/tenders/{draft}/invitations",
        J(r#"{"org_ids":[]}"#),
        &[A],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/invitations",
        "/api/v1/tenders/{pub}/invitations",
        N,
        &[O, A, R],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/my-invitation",
        "/api/v1/tenders/{pub}/my-invitation",
        N,
        &[B],
    ),
    row("GET", "/api/v1/rulebooks", "/api/v1/rulebooks", N, EVERYONE),
    row(
        "GET",
        "/api/v1/rulebooks/{id}",
        "/api/v1/rulebooks/construction-open",
        N,
        EVERYONE,
    ),
    // A made-up id: the operator gets 404, nothing is replaced.
    row(
        "PUT",
        "/api/v1/rulebooks/{id}",
        "/api/v1/rulebooks/matrix-none",
        J(r#"{"toml":"id = 1"}"#),
        &[O],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/amendments",
        "/api/v1/tenders/{pub}/amendments",
        J(r#"{"summary":"矩阵澄清","body":"矩阵测试的澄清内容。"}"#),
        &[A],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/questions",
        "/api/v1/tenders/{pub}/questions",
        N,
        EVERYONE,
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/questions",
        "/api/v1/tenders/{pub}/questions",
        J(r#"{"body":"矩阵测试的问题？"}"#),
        &[B],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/questions/{question_id}/answer",
        "/api/v1/tenders/{pub}/questions/{question}/answer",
        J(r#"{"answer":"矩阵测试的答复。"}"#),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/cancel",
        "/api/v1/tenders/{cancel}/cancel",
        J(r#"{"reason":"矩阵测试终止招标。"}"#),
        &[A],
    ),
    row(
        "GET",
        "/api/v1/agent/tenders",
        "/api/v1/agent/tenders",
        N,
        &[A],
    ),
    row("GET", "/api/v1/notices", "/api/v1/notices", N, LOGGED_IN),
    row(
        "POST",
        "/api/v1/notices/{notice_id}/read",
        "/api/v1/notices/{notice}/read",
        N,
        &[B],
    ),
    // ---- audit log (public) -------------------------------------------------------------
    row(
        "GET",
        "/api/v1/audit/checkpoint",
        "/api/v1/audit/checkpoint",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/audit/events",
        "/api/v1/audit/events?from=0&limit=5",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/audit/nodes/{level}/{index}",
        "/api/v1/audit/nodes/0/0",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/audit/proof/inclusion",
        "/api/v1/audit/proof/inclusion?seq=0&size=2",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/audit/proof/consistency",
        "/api/v1/audit/proof/consistency?old=1&new=2",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/audit/checkpoints/{size}",
        "/api/v1/audit/checkpoints/1",
        N,
        EVERYONE,
    ),
    // A witness is known by its cosignature, not a login; a malformed one is a 400 for all.
    row(
        "POST",
        "/api/v1/audit/cosignatures",
        "/api/v1/audit/cosignatures",
        Raw("text/plain", b"not a note"),
        EVERYONE,
    ),
    // A split-view report too is judged by its witness signature, not a login; a body
    // without the report's fields is a 422 for all.
    row(
        "POST",
        "/api/v1/audit/split-views",
        "/api/v1/audit/split-views",
        J("{}"),
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/audit/proof/tlog",
        "/api/v1/audit/proof/tlog?seq=0",
        N,
        EVERYONE,
    ),
    // ---- OCDS open data (public) --------------------------------------------------------
    row(
        "GET",
        "/api/v1/ocds/releases",
        "/api/v1/ocds/releases",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/ocds/bulk/{month}",
        "/api/v1/ocds/bulk/2026-01",
        N,
        EVERYONE,
    ),
    // A made-up process: 404 for everyone.
    row(
        "GET",
        "/api/v1/ocds/records/{ocid}",
        "/api/v1/ocds/records/ocds-sunbid-none",
        N,
        EVERYONE,
    ),
    // ---- sealed bids --------------------------------------------------------------------
    row(
        "GET",
        "/api/v1/platform-key",
        "/api/v1/platform-key",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/custodian/key",
        "/api/v1/custodian/key",
        N,
        &[C],
    ),
    row(
        "POST",
        "/api/v1/custodian/key",
        "/api/v1/custodian/key",
        J(r#"{"passphrase":"{password}"}"#),
        &[C],
    ),
    // The fixture's custodian is enrolled already: it passes and gets 409.
    row(
        "POST",
        "/api/v1/custodian/key/passkey/start",
        "/api/v1/custodian/key/passkey/start",
        J("{}"),
        &[C],
    ),
    row(
        "POST",
        "/api/v1/custodian/key/passkey",
        "/api/v1/custodian/key/passkey",
        J(
            r#"{"ceremony_id":"{fake}","credential":{},"prf_salt":"","public_key":"","nonce":"","wrapped_key":""}"#,
        ),
        &[C],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/opening-key",
        "/api/v1/tenders/{pub}/opening-key",
        N,
        EVERYONE,
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/bid/parts",
        "/api/v1/tenders/{pub}/bid/parts?label=form",
        Raw("application/octet-stream", b"not an envelope"),
        &[B],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/base-price",
        "/api/v1/tenders/{pub}/base-price",
        Raw("application/octet-stream", b"not an envelope"),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/bid/submit",
        "/api/v1/tenders/{pub}/bid/submit",
        J(r#"{"parts":["{fake}"]}"#),
        &[B],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/bid/withdraw",
        "/api/v1/tenders/{pub}/bid/withdraw",
        J("{}"),
        &[B],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/bid",
        "/api/v1/tenders/{pub}/bid",
        N,
        &[B],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/opening",
        "/api/v1/tenders/{eval}/opening",
        N,
        EVERYONE,
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/opening/start",
        "/api/v1/tenders/{pub}/opening/start",
        J("{}"),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/opening/unlock",
        "/api/v1/tenders/{pub}/opening/unlock",
        J(r#"{"passphrase":"{password}"}"#),
        &[C],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/opening/unlock/passkey/start",
        "/api/v1/tenders/{pub}/opening/unlock/passkey/start",
        J("{}"),
        &[C],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/opening/unlock/passkey",
        "/api/v1/tenders/{pub}/opening/unlock/passkey",
        J(r#"{"ceremony_id":"{fake}","credential":{},"nonce":"","share":""}"#),
        &[C],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/opening/confirm",
        "/api/v1/tenders/{eval}/opening/confirm",
        J("{}"),
        &[B],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/opening/objections",
        "/api/v1/tenders/{eval}/opening/objections",
        J(r#"{"body":"矩阵测试的开标异议。"}"#),
        &[B],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/opening/objections/{objection_id}/answer",
        "/api/v1/tenders/{eval}/opening/objections/{objection}/answer",
        J(r#"{"answer":"矩阵测试的当场答复。"}"#),
        &[A],
    ),
    // ---- expert pool and draws ----------------------------------------------------------
    row("GET", "/api/v1/experts", "/api/v1/experts", N, &[O, R]),
    row(
        "POST",
        "/api/v1/experts",
        "/api/v1/experts",
        J(
            r#"{"name":"矩阵专家","specialties":["A0101"],"region":"330106","title":"senior","years_of_practice":12,"birth_year":1972}"#,
        ),
        &[O],
    ),
    row(
        "POST",
        "/api/v1/experts/import",
        "/api/v1/experts/import",
        Raw("text/csv", b"name,specialties\n"),
        &[O],
    ),
    row("GET", "/api/v1/experts/me", "/api/v1/experts/me", N, &[E]),
    row(
        "PUT",
        "/api/v1/experts/me",
        "/api/v1/experts/me",
        J(r#"{"region":"330106"}"#),
        &[E],
    ),
    row(
        "GET",
        "/api/v1/experts/{id}",
        "/api/v1/experts/{pool_expert}",
        N,
        &[O, R],
    ),
    row(
        "PUT",
        "/api/v1/experts/{id}",
        "/api/v1/experts/{pool_expert}",
        J(
            r#"{"name":"矩阵专家","specialties":["A0101"],"region":"330106","title":"senior","years_of_practice":12,"birth_year":1972}"#,
        ),
        &[O],
    ),
    row(
        "POST",
        "/api/v1/experts/{id}/suspend",
        "/api/v1/experts/{pool_expert}/suspend",
        J(r#"{"reason":"矩阵测试暂停。"}"#),
        &[O],
    ),
    row(
        "POST",
        "/api/v1/experts/{id}/bar",
        "/api/v1/experts/{pool_expert}/bar",
        J(r#"{"reason":"矩阵测试禁入。"}"#),
        &[O],
    ),
    row(
        "POST",
        "/api/v1/experts/{id}/reinstate",
        "/api/v1/experts/{pool_expert}/reinstate",
        J(r#"{"reason":"矩阵测试恢复。"}"#),
        &[O],
    ),
    row(
        "GET",
        "/api/v1/specialties",
        "/api/v1/specialties",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/draws",
        "/api/v1/tenders/{pub}/draws",
        N,
        &[O, A, R],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/draws",
        "/api/v1/tenders/{pub}/draws",
        J(
            r#"{"supervisor_user_id":"{regulator_user}","quotas":[{"specialty":"A0101","count":1,"alternates":0}],"evaluation_at":"{in_two_days}","evaluation_place":"评标室","confirm_minutes":120}"#,
        ),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/draws/reveal",
        "/api/v1/tenders/{pub}/draws/reveal",
        J("{}"),
        &[O, A, R],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/committee",
        "/api/v1/tenders/{eval}/committee",
        N,
        &[O, A, R],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/checkin/start",
        "/api/v1/tenders/{eval}/checkin/start",
        J("{}"),
        &[E],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/checkin/finish",
        "/api/v1/tenders/{eval}/checkin/finish",
        J(r#"{"ceremony_id":"{fake}","credential":{credential}}"#),
        &[E],
    )
    .refused(
        409,
        "the passkey ceremony is the authorisation: it is bound to the user who started it \
         (only an expert may), so anyone else's is unknown",
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/checkin/emergency",
        "/api/v1/tenders/{eval}/checkin/emergency",
        J(r#"{"member_no":1,"reason":"矩阵测试紧急签到。"}"#),
        &[R],
    ),
    row(
        "GET",
        "/api/v1/draws/{id}",
        "/api/v1/draws/{draw}",
        N,
        &[O, A, R],
    ),
    row(
        "POST",
        "/api/v1/draws/{id}/supervisor-input",
        "/api/v1/draws/{draw}/supervisor-input",
        J(r#"{"input":"3 1 4 1 5"}"#),
        &[R],
    ),
    row(
        "GET",
        "/api/v1/draws/{id}/public",
        "/api/v1/draws/{draw}/public",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/expert/assignments",
        "/api/v1/expert/assignments",
        N,
        LOGGED_IN,
    ),
    row(
        "POST",
        "/api/v1/expert/assignments/{draw_id}/confirm",
        "/api/v1/expert/assignments/{committee_draw}/confirm",
        J("{}"),
        &[E],
    ),
    // ---- evaluation ---------------------------------------------------------------------
    row(
        "GET",
        "/api/v1/tenders/{code}/evaluation",
        "/api/v1/tenders/{eval}/evaluation",
        N,
        &[O, A, E, R],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation",
        "/api/v1/tenders/{eval}/evaluation",
        J(r#"{"review_criteria":[{"id":"投标函签字盖章","kind":"formal"}]}"#),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/ballots",
        "/api/v1/tenders/{eval}/evaluation/ballots",
        J(r#"{"for":"{leader}"}"#),
        &[E],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/review-marks",
        "/api/v1/tenders/{eval}/evaluation/review-marks",
        J(r#"{"marks":[{"bid_id":"{bid}","criterion":"投标函签字盖章","verdict":"pass"}]}"#),
        &[E],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/scores",
        "/api/v1/tenders/{eval}/evaluation/scores",
        J(r#"{"sheets":[{"bid_id":"{bid}","scores":{"技术":5000}}]}"#),
        &[E],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/price-table",
        "/api/v1/tenders/{eval}/evaluation/price-table",
        J(r#"{"adjustments":[]}"#),
        &[E],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/report/sign/start",
        "/api/v1/tenders/{eval}/evaluation/report/sign/start",
        J("{}"),
        &[E],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/report/sign/finish",
        "/api/v1/tenders/{eval}/evaluation/report/sign/finish",
        J(r#"{"ceremony_id":"{fake}","credential":{credential}}"#),
        &[E],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/report/dissent",
        "/api/v1/tenders/{eval}/evaluation/report/dissent",
        J(r#"{"reason":"矩阵测试的不同意见。"}"#),
        &[E],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/evaluation/clarifications",
        "/api/v1/tenders/{eval}/evaluation/clarifications",
        N,
        &[O, A, B, E, R],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/clarifications",
        "/api/v1/tenders/{eval}/evaluation/clarifications",
        J(r#"{"bid_id":"{bid}","question":"矩阵测试的澄清问题？","window_minutes":30}"#),
        &[E],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/clarifications/{id}/answer",
        "/api/v1/tenders/{eval}/evaluation/clarifications/{clarification}/answer",
        J(r#"{"answer":"矩阵测试的澄清答复。"}"#),
        &[B],
    ),
    row(
        "GET",
        "/api/v1/clarifications",
        "/api/v1/clarifications",
        N,
        &[B],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/evaluation/report",
        "/api/v1/tenders/{eval}/evaluation/report",
        N,
        &[O, A, E, R],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/evaluation/report.html",
        "/api/v1/tenders/{eval}/evaluation/report.html",
        N,
        &[O, A, E, R],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/evaluation/report.pdf",
        "/api/v1/tenders/{eval}/evaluation/report.pdf",
        N,
        &[O, A, E, R],
    ),
    // ---- result (the result objection id is made up) -----------------------------------
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/report/deliver",
        "/api/v1/tenders/{eval}/evaluation/report/deliver",
        J("{}"),
        &[A],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/result",
        "/api/v1/tenders/{eval}/result",
        N,
        EVERYONE,
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/publicity",
        "/api/v1/tenders/{eval}/publicity",
        J(r#"{"ends_at":"{in_two_days}"}"#),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/result-objections",
        "/api/v1/tenders/{eval}/result-objections",
        J(r#"{"text":"矩阵测试的异议。"}"#),
        &[B],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/result-objections/{id}/answer",
        "/api/v1/tenders/{eval}/result-objections/{fake}/answer",
        J(r#"{"text":"矩阵测试的答复。"}"#),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/award",
        "/api/v1/tenders/{eval}/award",
        J("{}"),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/contract",
        "/api/v1/tenders/{eval}/contract",
        J(r#"{"signed_at":"{now}","amount_fen":100}"#),
        &[A],
    ),
    // ---- supervision (regulators only; made-up ids: the regulator gets 404) ---------------
    row(
        "GET",
        "/api/v1/supervision/alerts",
        "/api/v1/supervision/alerts",
        N,
        &[R],
    ),
    row(
        "GET",
        "/api/v1/supervision/stats",
        "/api/v1/supervision/stats",
        N,
        &[R],
    ),
    row(
        "GET",
        "/api/v1/supervision/alerts/{id}",
        "/api/v1/supervision/alerts/{fake}",
        N,
        &[R],
    ),
    row(
        "POST",
        "/api/v1/supervision/alerts/{id}/acknowledge",
        "/api/v1/supervision/alerts/{fake}/acknowledge",
        J("{}"),
        &[R],
    ),
    row(
        "POST",
        "/api/v1/supervision/cases",
        "/api/v1/supervision/cases",
        J(r#"{"alert_id":"{fake}"}"#),
        &[R],
    ),
    row(
        "GET",
        "/api/v1/supervision/cases/{id}",
        "/api/v1/supervision/cases/{fake}",
        N,
        &[R],
    ),
    row(
        "POST",
        "/api/v1/supervision/cases/{id}/notes",
        "/api/v1/supervision/cases/{fake}/notes",
        J(r#"{"text":"矩阵测试的记录。"}"#),
        &[R],
    ),
    row(
        "POST",
        "/api/v1/supervision/cases/{id}/suspend",
        "/api/v1/supervision/cases/{fake}/suspend",
        J(r#"{"text":"矩阵测试的暂停理由。"}"#),
        &[R],
    ),
    row(
        "POST",
        "/api/v1/supervision/cases/{id}/resume",
        "/api/v1/supervision/cases/{fake}/resume",
        J("{}"),
        &[R],
    ),
    row(
        "POST",
        "/api/v1/supervision/cases/{id}/close",
        "/api/v1/supervision/cases/{fake}/close",
        J(r#"{"finding":"dismissed","text":"矩阵测试。"}"#),
        &[R],
    ),
    row(
        "GET",
        "/api/v1/supervision/cases",
        "/api/v1/supervision/cases",
        N,
        &[R],
    ),
    row(
        "GET",
        "/api/v1/supervision/export/alerts",
        "/api/v1/supervision/export/alerts?format=xlsx",
        N,
        &[R],
    ),
    row(
        "GET",
        "/api/v1/supervision/export/cases",
        "/api/v1/supervision/export/cases",
        N,
        &[R],
    ),
    // ---- complaints (made-up ids: the regulator gets 404) ---------------------------------
    row(
        "POST",
        "/api/v1/complaints",
        "/api/v1/complaints",
        J(r#"{"tender":"{eval}","matter":"other","text":"矩阵测试的投诉。","known_at":"{now}"}"#),
        &[B],
    ),
    row(
        "GET",
        "/api/v1/complaints",
        "/api/v1/complaints",
        N,
        &[B, R],
    ),
    row(
        "POST",
        "/api/v1/complaints/{id}/accept",
        "/api/v1/complaints/{fake}/accept",
        J("{}"),
        &[R],
    ),
    row(
        "POST",
        "/api/v1/complaints/{id}/reject",
        "/api/v1/complaints/{fake}/reject",
        J(r#"{"text":"矩阵测试。"}"#),
        &[R],
    ),
    row(
        "POST",
        "/api/v1/complaints/{id}/decide",
        "/api/v1/complaints/{fake}/decide",
        J(r#"{"outcome":"dismissed","text":"矩阵测试。"}"#),
        &[R],
    ),
    row(
        "GET",
        "/api/v1/tenders/{code}/complaint-decisions",
        "/api/v1/tenders/{pub}/complaint-decisions",
        N,
        EVERYONE,
    ),
    // ---- auctions and listings ------------------------------------------------------------
    row(
        "POST",
        "/api/v1/auctions",
        "/api/v1/auctions",
        J("{auction_new}"),
        &[A],
    ),
    row("GET", "/api/v1/auctions", "/api/v1/auctions", N, EVERYONE),
    row(
        "GET",
        "/api/v1/auctions/{code}",
        "/api/v1/auctions/{auction}",
        N,
        EVERYONE,
    ),
    row(
        "POST",
        "/api/v1/auctions/{code}/publish",
        "/api/v1/auctions/{auction_draft}/publish",
        J("{}"),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/auctions/{code}/cancel",
        "/api/v1/auctions/{auction_cancel}/cancel",
        J(r#"{"reason":"矩阵测试：终止。"}"#),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/auctions/{code}/applications",
        "/api/v1/auctions/{auction}/applications",
        J("{}"),
        &[B],
    ),
    row(
        "GET",
        "/api/v1/auctions/{code}/my-application",
        "/api/v1/auctions/{auction}/my-application",
        N,
        &[B],
    ),
    // Made-up deposit reference: the operator gets 404.
    row(
        "POST",
        "/api/v1/auctions/{code}/deposits",
        "/api/v1/auctions/{auction}/deposits",
        J(r#"{"deposit_ref":"{fake}","amount_fen":100}"#),
        &[O],
    ),
    row(
        "POST",
        "/api/v1/auctions/{code}/admissions",
        "/api/v1/auctions/{auction}/admissions",
        J(r#"{"deposit_ref":"{fake}"}"#),
        &[O],
    ),
    // Not a listing, not admitted: the bidder gets 409.
    row(
        "POST",
        "/api/v1/auctions/{code}/continue",
        "/api/v1/auctions/{auction}/continue",
        J("{}"),
        &[B],
    ),
    row(
        "POST",
        "/api/v1/auctions/{code}/bids",
        "/api/v1/auctions/{auction}/bids",
        J(r#"{"amount_fen":100000000}"#),
        &[B],
    ),
    row(
        "GET",
        "/api/v1/auctions/{code}/bids",
        "/api/v1/auctions/{auction}/bids",
        N,
        EVERYONE,
    ),
    // An ended trade (cancelled): who applied is public, the result and the stream answer.
    row(
        "GET",
        "/api/v1/auctions/{code}/bidders",
        "/api/v1/auctions/{auction_gone}/bidders",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/auctions/{code}/result",
        "/api/v1/auctions/{auction_gone}/result",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/auctions/{code}/live",
        "/api/v1/auctions/{auction_gone}/live",
        N,
        EVERYONE,
    ),
    row(
        "GET",
        "/api/v1/auctions/{code}/reserve",
        "/api/v1/auctions/{auction}/reserve",
        N,
        EVERYONE,
    ),
    // A trade without custodians: the owning agent gets 409 (no key to seal to).
    row(
        "POST",
        "/api/v1/auctions/{code}/reserve",
        "/api/v1/auctions/{auction}/reserve",
        Raw("application/octet-stream", b"not an envelope"),
        &[A],
    ),
    // Only the trade's own custodians unlock; this trade has none, so every role is refused.
    row(
        "POST",
        "/api/v1/auctions/{code}/reserve/unlock",
        "/api/v1/auctions/{auction}/reserve/unlock",
        J(r#"{"passphrase":"not the passphrase"}"#),
        &[],
    ),
    // No deal yet: the bidder gets 409.
    row(
        "POST",
        "/api/v1/auctions/{code}/confirmation/sign/start",
        "/api/v1/auctions/{auction}/confirmation/sign/start",
        J("{}"),
        &[B],
    ),
    row(
        "POST",
        "/api/v1/auctions/{code}/confirmation/sign",
        "/api/v1/auctions/{auction}/confirmation/sign",
        J(r#"{"ceremony_id":"{fake}","credential":{}}"#),
        &[B],
    ),
    // ---- last: calls that change the committee ------------------------------------------
    row(
        "GET",
        "/api/v1/tenders/{code}/evaluation/replacements",
        "/api/v1/tenders/{eval}/evaluation/replacements",
        N,
        &[O, A, E, R],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/replacements",
        "/api/v1/tenders/{eval}/evaluation/replacements",
        J(r#"{"member_no":4,"reason":"矩阵测试：该成员须回避。"}"#),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/tenders/{code}/evaluation/replacements/{id}/complete",
        "/api/v1/tenders/{eval}/evaluation/replacements/{replacement}/complete",
        J("{}"),
        &[A],
    ),
    row(
        "POST",
        "/api/v1/expert/assignments/{draw_id}/decline",
        "/api/v1/expert/assignments/{committee_draw}/decline",
        J(r#"{"reason":"矩阵测试"}"#),
        &[E],
    ),
    // A weak new password is refused before the current one is checked, so no session ends.
    row(
        "POST",
        "/api/v1/me/password",
        "/api/v1/me/password",
        J(r#"{"current_password":"wrong","new_password":"a"}"#),
        LOGGED_IN,
    ),
    // Last: logging out revokes the caller's token, which no later row may need.
    row(
        "POST",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout",
        N,
        LOGGED_IN,
    ),
];

/// The callers' tokens and the real ids the calls use.
struct Fixture {
    tokens: BTreeMap<Who, String>,
    ids: BTreeMap<&'static str, String>,
}

async fn ok(h: &Harness, method: Method, path: &str, token: &str, body: Value) -> Value {
    let (status, _, text) = call(h, method, path, Some(token), &body_of(&body)).await;
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn body_of(v: &Value) -> Option<(String, Vec<u8>)> {
    if v.is_null() {
        return None;
    }
    Some(("application/json".into(), v.to_string().into_bytes()))
}

fn id_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {v}"))
        .to_string()
}

async fn fixture(h: &Harness) -> Fixture {
    let fx = in_review(h).await;
    let operator = h.operator().await;
    let regulator_org = h.create_org(OrgKind::Regulator, "矩阵监督局").await;
    let regulator_user = h
        .create_user("matrix-regulator", Role::Regulator, Some(&regulator_org))
        .await;
    let regulator = h.login("matrix-regulator", PASSWORD).await;
    let custodian = h.login("custodian0", PASSWORD).await;
    let agent = fx.w.agent.clone();
    let (bid, bidder) = fx.bids[0].clone();
    let (leader, expert) = fx.experts[0].clone();
    let n = next_serial();

    let pub_code = format!("MTX-PUB-{n}");
    fx.w.published(h, &pub_code, "矩阵测试工程", 25).await;
    let tender = ok(
        h,
        Method::GET,
        &format!("/api/v1/tenders/{pub_code}"),
        &agent,
        Value::Null,
    )
    .await;
    let document = id_at(&tender, "/documents/0/document_id");
    let later = h.now() + chrono::Duration::hours(1);
    let mut drafts = Vec::new();
    for kind in ["DRAFT", "CANCEL"] {
        let code = format!("MTX-{kind}-{n}");
        let input = fx.w.input(&code, "矩阵草稿", later, 25);
        ok(h, Method::POST, "/api/v1/tenders", &agent, input).await;
        drafts.push(code);
    }
    let new_tender = fx.w.input(&format!("MTX-NEW-{n}"), "矩阵新项目", later, 25);
    let draft_input = fx.w.input(&drafts[0], "矩阵草稿（修改）", later, 25);
    let question = ok(
        h,
        Method::POST,
        &format!("/api/v1/tenders/{pub_code}/questions"),
        &bidder,
        json!({"body": "矩阵测试的问题？"}),
    )
    .await;
    let clarification = ok(
        h,
        Method::POST,
        &format!("/api/v1/tenders/{}/evaluation/clarifications", fx.code),
        &expert,
        json!({"bid_id": bid, "question": "请说明报价依据。", "window_minutes": 30}),
    )
    .await;
    let notices = ok(h, Method::GET, "/api/v1/notices", &bidder, Value::Null).await;
    let objection = ok(
        h,
        Method::POST,
        &format!("/api/v1/tenders/{}/opening/objections", fx.code),
        &bidder,
        json!({"body": "开标记录中的工期有误。"}),
    )
    .await;
    let pending = ok(
        h,
        Method::POST,
        "/api/v1/companies",
        "",
        json!({"company_name": "矩阵待审建设有限公司", "uscc": uscc(next_serial()),
               "username": format!("matrix-pending-{n}"), "display_name": "待审",
               "password": PASSWORD}),
    )
    .await;
    let throwaway = h
        .create_user(&format!("matrix-throwaway-{n}"), Role::Operator, None)
        .await;
    let pool_expert = ok(
        h,
        Method::POST,
        "/api/v1/experts",
        &operator,
        json!({"name": "矩阵池专家", "specialties": ["A0101"], "region": "330106",
               "title": "senior", "years_of_practice": 12, "birth_year": 1972}),
    )
    .await;
    let draw = ok(
        h,
        Method::POST,
        &format!("/api/v1/tenders/{pub_code}/draws"),
        &agent,
        json!({"supervisor_user_id": regulator_user,
               "quotas": [{"specialty": "A0101", "count": 1, "alternates": 0}],
               "evaluation_at": (h.now() + chrono::Duration::days(2)).to_rfc3339(),
               "evaluation_place": "评标室", "confirm_minutes": 120}),
    )
    .await;
    // Two users who only log in, so the login limiter never sees one name too often.
    let login_user = format!("matrix-login-{n}");
    let passkey_user = format!("matrix-passkey-{n}");
    for name in [&login_user, &passkey_user] {
        h.create_user(name, Role::Operator, None).await;
    }
    let committee_draw = {
        let (status, view) = h.api_get("/api/v1/expert/assignments", Some(&expert)).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        id_at(&view, "/assignments/0/draw_id")
    };
    // The committee fixture names the agent as the draw's supervisor; a real draw has a
    // regulator there, who alone records an emergency check-in.
    h.exec(&format!(
        "update expert_draw set supervisor_user_id = '{regulator_user}' where draw_id = '{committee_draw}'"
    ))
    .await
    .expect("supervisor");

    let auction_body = |code: &str| {
        let starts = h.now() + chrono::Duration::days(21);
        json!({"code": code, "kind": "auction", "category": "land", "title": "矩阵地块",
               "seller_name": "矩阵出让人", "start_price_fen": 100_000_000,
               "increment_fen": 1_000_000, "deposit_fen": 10_000_000,
               "starts_at": starts.to_rfc3339(),
               "ends_at": (starts + chrono::Duration::hours(1)).to_rfc3339()})
    };
    let mut auctions = Vec::new();
    for kind in ["PUB", "DRAFT", "CANCEL", "GONE"] {
        let code = format!("MTX-AU-{kind}-{n}");
        ok(
            h,
            Method::POST,
            "/api/v1/auctions",
            &agent,
            auction_body(&code),
        )
        .await;
        auctions.push(code);
    }
    for code in [&auctions[0], &auctions[3]] {
        ok(
            h,
            Method::POST,
            &format!("/api/v1/auctions/{code}/publish"),
            &agent,
            json!({}),
        )
        .await;
    }
    ok(
        h,
        Method::POST,
        &format!("/api/v1/auctions/{}/cancel", auctions[3]),
        &agent,
        json!({"reason": "矩阵测试：已终止。"}),
    )
    .await;
    let auction_new = auction_body(&format!("MTX-AU-NEW-{n}")).to_string();

    let tokens = BTreeMap::from([
        (O, operator),
        (A, agent),
        (C, custodian),
        (B, bidder),
        (E, expert),
        (R, regulator),
    ]);
    let now = h.now();
    let ids = BTreeMap::from([
        ("password", PASSWORD.to_string()),
        ("uscc", uscc(next_serial())),
        ("pub", pub_code),
        ("auction", auctions[0].clone()),
        ("auction_draft", auctions[1].clone()),
        ("auction_cancel", auctions[2].clone()),
        ("auction_gone", auctions[3].clone()),
        ("auction_new", auction_new),
        ("draft", drafts[0].clone()),
        ("cancel", drafts[1].clone()),
        ("eval", fx.code.clone()),
        ("document", document),
        ("question", id_at(&question, "/question_id")),
        ("clarification", id_at(&clarification, "/clarification_id")),
        ("notice", id_at(&notices, "/notices/0/notice_id")),
        ("objection", id_at(&objection, "/objection_id")),
        ("pending_org", id_at(&pending, "/org_id")),
        ("regulator_org", regulator_org),
        ("regulator_user", regulator_user),
        ("throwaway_user", throwaway),
        ("pool_expert", id_at(&pool_expert, "/expert/expert_id")),
        ("draw", id_at(&draw, "/draw/draw_id")),
        ("committee_draw", committee_draw),
        ("login_user", login_user),
        ("passkey_user", passkey_user),
        ("leader", leader),
        ("bid", bid),
        ("tender_new", new_tender.to_string()),
        ("tender_draft", draft_input.to_string()),
        (
            "credential",
            json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
                   "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA",
                                "signature": "AAAA", "userHandle": null}})
            .to_string(),
        ),
        ("fake", "0190f5a0-0000-7000-8000-000000000000".to_string()),
        ("now", now.to_rfc3339()),
        (
            "in_two_days",
            (now + chrono::Duration::days(2)).to_rfc3339(),
        ),
    ]);
    Fixture { tokens, ids }
}

fn fill(template: &str, ids: &BTreeMap<&'static str, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in ids {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    assert!(
        !out.contains("{") || out.starts_with('{') || out.starts_with('['),
        "unfilled placeholder in {out}"
    );
    out
}

/// One HTTP call; returns (status, content type, body text).
async fn call(
    h: &Harness,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Option<(String, Vec<u8>)>,
) -> (StatusCode, String, String) {
    let mut req = h.client.request(method, h.url(path));
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        req = req.bearer_auth(t);
    }
    if let Some((ct, bytes)) = body {
        req = req.header("content-type", ct).body(bytes.clone());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    (status, ct, text)
}

/// The operations the server documents, as "METHOD path", each with whether the document
/// says it needs no login (`security: []`).
async fn documented(h: &Harness) -> BTreeMap<String, bool> {
    let (status, doc) = h.api_get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let public = op["security"] == json!([]);
            out.insert(format!("{} {path}", method.to_uppercase()), public);
        }
    }
    out
}

async fn matrix(h: &Harness) {
    // Every documented operation has exactly one row, and every row a documented operation.
    let documented_ops = documented(h).await;
    let documented: BTreeSet<String> = documented_ops.keys().cloned().collect();
    let mut rows = BTreeSet::new();
    for r in MATRIX {
        let key = format!("{} {}", r.method, r.route);
        assert!(rows.insert(key.clone()), "two rows for {key}");
        // The document tells clients (and schemathesis) which operations need no login.
        if let Some(public) = documented_ops.get(&key) {
            assert_eq!(
                *public,
                r.pass.contains(&Who::Anonymous),
                "{key}: the OpenAPI document's security disagrees with the matrix"
            );
        }
        let filled_route = r.call.split('?').next().unwrap_or_default();
        assert_eq!(
            filled_route.matches('/').count(),
            r.route.matches('/').count(),
            "{key}: the call {} does not follow the route",
            r.call
        );
    }
    let missing: Vec<_> = documented.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "operations without an entry in the authorisation matrix: {missing:#?}"
    );
    let stale: Vec<_> = rows.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "matrix entries for operations the server does not document: {stale:#?}"
    );

    let fx = fixture(h).await;
    // SUNBID_MATRIX_PRINT=1 prints every outcome, to review the table.
    let print = std::env::var_os("SUNBID_MATRIX_PRINT").is_some();
    let mut problems = Vec::new();
    let mut calls = 0;
    let mut ids = fx.ids.clone();
    for r in MATRIX {
        // The replacement exists once its own row has run (starting one pauses the review,
        // so it comes last).
        if r.call.contains("{replacement}") {
            let path = fill("/api/v1/tenders/{eval}/evaluation/replacements", &ids);
            let (status, list) = h
                .api_get(&path, fx.tokens.get(&A).map(String::as_str))
                .await;
            assert_eq!(status, StatusCode::OK, "{list}");
            ids.insert(
                "replacement",
                id_at(&list, "/replacements/0/replacement_id"),
            );
        }
        let path = fill(r.call, &ids);
        let body = match r.body {
            Body::None => None,
            Body::Json(t) => Some(("application/json".to_string(), fill(t, &ids).into_bytes())),
            Body::Raw(ct, bytes) => Some((ct.to_string(), bytes.to_vec())),
        };
        let method = Method::from_bytes(r.method.as_bytes()).expect("method");
        // Refused callers first: a permitted call may change the resource.
        let mut order = Who::all().to_vec();
        order.sort_by_key(|w| r.pass.contains(w));
        for who in order {
            let token = fx.tokens.get(&who).map(String::as_str);
            let (status, ct, text) = call(h, method.clone(), &path, token, &body).await;
            calls += 1;
            if print {
                let code: String = text.chars().take(60).collect();
                eprintln!("{:6} {:70} {who:?}: {status} {code}", r.method, r.route);
            }
            let passes = r.pass.contains(&who);
            let fine = if status.is_server_error() {
                false
            } else if passes {
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
            } else if who == Who::Anonymous {
                status == StatusCode::UNAUTHORIZED
            } else if let Some((refused, _)) = r.refused {
                status.as_u16() == refused
            } else {
                status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
            };
            if !fine {
                let snippet: String = text.chars().take(160).collect();
                problems.push(format!(
                    "{} {} as {who:?} (expected {}): {status} [{ct}] {snippet}",
                    r.method,
                    r.route,
                    if passes { "to pass" } else { "a refusal" }
                ));
            }
        }
    }
    assert!(calls >= 7 * documented.len());
    assert!(
        problems.is_empty(),
        "{} of {calls} calls broke the authorisation matrix:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

both!(authorisation_matrix, matrix);
