//! The shapes of the answers that handlers still build with `json!` around a typed view
//! (`{"expert": …}`, `{"org_id": …, "status": …}`), so the document can name their schemas.
//! A handler that returns one of these types directly (or its own view) needs no entry here;
//! schemathesis checks every real answer against these shapes (`.ci/schemathesis`).

use serde::Serialize;
use utoipa::ToSchema;

use crate::expert::checkin::{CheckinRecord, CommitteeView};
use crate::expert::pool::ExpertView;
use crate::expert::service::{DrawView, MyAssignment};
use crate::expert::specialty::Specialty;
use crate::identity::model::{OrgView, UserView};
use crate::identity::passkey::PasskeyView;
use crate::tender::model::{Notice, QuestionView, TenderSummary};

// ---- identity ---------------------------------------------------------------------------

/// A new session after a password login.
#[derive(Serialize, ToSchema)]
pub struct LoginAnswer {
    /// The Bearer token.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// Who logged in.
    pub user: UserView,
}

/// The session has ended.
#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    /// Always true.
    pub logged_out: bool,
}

/// The password was changed.
#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// How many sessions ended (this one included).
    pub sessions_revoked: u64,
}

/// A company registered itself.
#[derive(Serialize, ToSchema)]
pub struct CompanyRegistered {
    /// The new organisation.
    pub org_id: String,
    /// Its first user.
    pub user_id: String,
    /// `pending` until an operator approves it.
    pub status: String,
}

/// Every organisation.
#[derive(Serialize, ToSchema)]
pub struct Organisations {
    /// The organisations.
    pub organisations: Vec<OrgView>,
}

/// An organisation was created.
#[derive(Serialize, ToSchema)]
pub struct OrgCreated {
    /// Its id.
    pub org_id: String,
}

/// An organisation was approved or rejected.
#[derive(Serialize, ToSchema)]
pub struct OrgDecided {
    /// Its id.
    pub org_id: String,
    /// `active` or `rejected`.
    pub status: String,
}

/// Every user.
#[derive(Serialize, ToSchema)]
pub struct Users {
    /// The users.
    pub users: Vec<UserView>,
}

/// A user was created.
#[derive(Serialize, ToSchema)]
pub struct UserCreated {
    /// Their id.
    pub user_id: String,
}

/// A user was disabled or enabled.
#[derive(Serialize, ToSchema)]
pub struct UserStatus {
    /// Their id.
    pub user_id: String,
    /// `disabled` or `active`.
    pub status: String,
}

// ---- passkeys ---------------------------------------------------------------------------

/// A WebAuthn ceremony has started: pass `options` to the browser, send back `ceremony_id`.
#[derive(Serialize, ToSchema)]
pub struct Ceremony {
    /// The ceremony to finish.
    pub ceremony_id: String,
    /// The WebAuthn options (`publicKey` …) for `navigator.credentials`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// A passkey was registered.
#[derive(Serialize, ToSchema)]
pub struct PasskeyRegistered {
    /// The new passkey.
    pub passkey: PasskeyView,
}

/// The caller's passkeys.
#[derive(Serialize, ToSchema)]
pub struct Passkeys {
    /// The passkeys.
    pub passkeys: Vec<PasskeyView>,
    /// Whether this server accepts passkeys (a public URL is configured).
    pub enabled: bool,
}

/// A passkey was removed.
#[derive(Serialize, ToSchema)]
pub struct PasskeyRemoved {
    /// Its id.
    pub passkey_id: String,
    /// Always true.
    pub removed: bool,
}

/// A new session after a passkey login.
#[derive(Serialize, ToSchema)]
pub struct PasskeyLoggedIn {
    /// The Bearer token.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// Who logged in.
    pub user: UserView,
    /// The passkey used.
    pub passkey_id: String,
}

// ---- audit ------------------------------------------------------------------------------

/// The latest signed checkpoint.
#[derive(Serialize, ToSchema)]
pub struct CheckpointAnswer {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// The signed note (C2SP tlog-checkpoint).
    pub checkpoint: String,
    /// The verifier key (`name+id+key`).
    pub vkey: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// The witnesses whose cosignatures the platform kept for it.
    pub witnesses: Vec<crate::audit::kept::KeptCosignature>,
}

/// A page of audit events.
#[derive(Serialize, ToSchema)]
pub struct Events {
    /// The events, oldest first.
    pub events: Vec<crate::audit::StoredEvent>,
    /// The `from` of the next page (null when this page is empty).
    pub next: Option<i64>,
}

/// A stored subtree hash.
#[derive(Serialize, ToSchema)]
pub struct TreeNode {
    /// Level (0 = leaves).
    pub level: u8,
    /// Index within the level.
    pub index: u64,
    /// The hash, hex.
    pub hash: String,
}

/// An RFC 9162 inclusion proof.
#[derive(Serialize, ToSchema)]
pub struct InclusionProof {
    /// The event.
    pub seq: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The audit path, hex hashes.
    pub proof: Vec<String>,
}

/// An RFC 9162 consistency proof.
#[derive(Serialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older size.
    pub old: u64,
    /// The newer size.
    pub new: u64,
    /// The proof, hex hashes.
    pub proof: Vec<String>,
}

// ---- tenders ----------------------------------------------------------------------------

/// A page of the public tender list.
#[derive(Serialize, ToSchema)]
pub struct TenderPage {
    /// The tenders on this page.
    pub items: Vec<TenderSummary>,
    /// How many match in all.
    pub total: u64,
    /// The page size used.
    pub limit: u32,
    /// How many were skipped.
    pub offset: u32,
}

/// The caller's organisation's tenders.
#[derive(Serialize, ToSchema)]
pub struct MyTenders {
    /// The tenders, in any state.
    pub items: Vec<TenderSummary>,
}

/// A tender's questions as the caller may see them.
#[derive(Serialize, ToSchema)]
pub struct Questions {
    /// The questions.
    pub questions: Vec<QuestionView>,
}

/// The caller's notices.
#[derive(Serialize, ToSchema)]
pub struct Notices {
    /// The notices, newest first.
    pub notices: Vec<Notice>,
}

// ---- sealed bids ------------------------------------------------------------------------

/// One key the platform signs (or signed) receipts and checkpoints with.
#[derive(Serialize, ToSchema)]
pub struct PlatformKey {
    /// Key id.
    pub kid: String,
    /// The verifier key (`name+id+key`).
    pub vkey: String,
    /// Standard base64 of the Ed25519 public key.
    pub public_key: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// `active` or `retired`.
    pub status: String,
    /// When it was retired, RFC 3339 UTC.
    pub retired_at: Option<String>,
}

/// The active platform key (top-level fields) and every key it ever signed with.
#[derive(Serialize, ToSchema)]
pub struct PlatformKeys {
    /// The active key's id.
    pub kid: String,
    /// The active verifier key.
    pub vkey: String,
    /// Standard base64 of the active Ed25519 public key.
    pub public_key: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// Every key, active and retired.
    pub keys: Vec<PlatformKey>,
}

// ---- experts and draws ------------------------------------------------------------------

/// Experts of the pool.
#[derive(Serialize, ToSchema)]
pub struct ExpertList {
    /// The experts that match the filter.
    pub experts: Vec<ExpertView>,
}

/// One expert.
#[derive(Serialize, ToSchema)]
pub struct ExpertAnswer {
    /// The expert.
    pub expert: ExpertView,
}

/// The coded specialty hierarchy.
#[derive(Serialize, ToSchema)]
pub struct Specialties {
    /// Every specialty, parents before children.
    pub specialties: Vec<Specialty>,
}

/// One draw as the caller may see it.
#[derive(Serialize, ToSchema)]
pub struct DrawAnswer {
    /// The draw.
    pub draw: DrawView,
}

/// A tender's draws as the caller may see them.
#[derive(Serialize, ToSchema)]
pub struct Draws {
    /// The draws.
    pub draws: Vec<DrawView>,
}

/// The draws were revealed.
#[derive(Serialize, ToSchema)]
pub struct Revealed {
    /// How many draws were revealed now.
    pub revealed: u64,
}

/// The calling expert's assignments.
#[derive(Serialize, ToSchema)]
pub struct Assignments {
    /// The assignments.
    pub assignments: Vec<MyAssignment>,
}

/// An assignment was confirmed or declined.
#[derive(Serialize, ToSchema)]
pub struct AssignmentState {
    /// `confirmed` or `declined`.
    pub state: String,
}

/// A check-in was recorded.
#[derive(Serialize, ToSchema)]
pub struct CheckinAnswer {
    /// The check-in.
    pub checkin: CheckinRecord,
}

/// The committee's confirmations and check-ins.
#[derive(Serialize, ToSchema)]
pub struct CommitteeAnswer {
    /// The committee.
    pub committee: CommitteeView,
}

// ---- evaluation -------------------------------------------------------------------------

/// Clarification requests as the caller may see them.
#[derive(Serialize, ToSchema)]
pub struct Clarifications {
    /// The clarifications, newest first.
    pub clarifications: Vec<crate::evaluation::clarification::ClarificationView>,
}

/// A tender's member replacements as the caller may see them.
#[derive(Serialize, ToSchema)]
pub struct Replacements {
    /// The replacements.
    pub replacements: Vec<crate::evaluation::replacement::ReplacementView>,
}
