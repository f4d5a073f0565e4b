//! Tender rules and transitions: drafting, documents, publication against the rulebook,
//! amendments (法 第23条), Q&A, cancellation, downloads, and the reads the portal uses.
//!
//! Every transition is one function that checks who is acting and the rules, moves the state
//! through the lifecycle owner (`crate::lifecycle::tender`, guarded by the old state) and
//! appends its audit event in the same transaction, so a refused or concurrent request
//! changes nothing. Time, the caller, the database and the blob store are passed in; nothing
//! here knows HTTP.
//!
//! By concern: [`lifecycle`] (draft, publish, amend, cancel), [`documents`] (upload,
//! download), [`questions`] (Q&A), [`queries`] (lists and views), [`checks`] (the pure
//! checks), and what they share in `common`.
//!
//! Privacy in the public audit log: the log is public (`/api/v1/audit/events`), but
//! 招标投标法 第22条 forbids disclosing who obtained the tender documents, and the asker of a
//! question must not be revealed. Bidder actions (download, question) are therefore logged
//! with a per-tender pseudonym — `anon:` + HMAC-SHA256(tender's secret salt, user id) — and
//! without the client IP; the real user, IP and user agent stay in the `document_download`
//! and `question` rows, which only regulators and operators can read, and the event carries
//! an HMAC of them so the rows cannot be altered later without the log showing it.

pub mod checks;
mod common;
pub mod documents;
pub mod invitations;
pub mod lifecycle;
pub mod queries;
pub mod questions;
pub mod retender;
pub mod rulebooks;
#[cfg(test)]
mod tests;

pub use super::error::TenderError;
pub use checks::{
    check_code, check_draft_input, check_money, check_text, clean_content_type, parse_time,
    sanitize_filename,
};
pub use documents::{Documents, NewDocument, download_document, record_download, upload_document};
pub use lifecycle::{amend, cancel, create_draft, publish, update_draft};
pub use queries::{
    count_public, get_public, get_tender, list_mine, list_notices, list_public, mark_notice_read,
};
pub use questions::{answer_question, ask_question, list_questions};

use crate::error::Common;
use crate::identity::SessionUser;
pub use crate::identity::caller::Caller;
use crate::lifecycle::tender as lifecycle_owner;

use super::model::Tender;

/// Largest page of the public list.
pub const MAX_PAGE: u32 = 100;

const NOT_OWNER: &str = "only the agent organisation that owns this tender may do this / 仅该项目的招标代理单位可执行此操作";
const AGENTS_ONLY: &str = "only agents may draft tenders / 仅招标人或招标代理可起草招标项目";
const BIDDERS_ONLY: &str = "only bidders may do this / 仅投标人可执行此操作";

/// Refuses anyone but an agent of the organisation that owns `tender`.
fn ensure_owner(caller: &Caller, tender: &Tender) -> Result<(), TenderError> {
    if lifecycle_owner::is_owner(caller, tender.agent_org_id.as_deref()) {
        Ok(())
    } else {
        Err(Common::Forbidden(NOT_OWNER).into())
    }
}

/// Whether `user` may see `tender` in any state (drafts included).
fn may_read_all(user: Option<&SessionUser>, tender: &Tender) -> bool {
    lifecycle_owner::may_read_all(user, tender.agent_org_id.as_deref())
}
