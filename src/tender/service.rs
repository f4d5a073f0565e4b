//! Tender rules and transitions: drafting, documents, publication against the rulebook,
//! amendments (法 第23条), Q&A, cancellation, downloads, and the reads the portal uses.
//!
//! Every transition is one function that checks who is acting and the rules, writes the new
//! state with an SQL guard on the old one (`… where state = 'draft'`), and appends its audit
//! event in the same transaction, so a refused or concurrent request changes nothing.
//! Time is passed in (`now`), never read here.
//!
//! Privacy in the public audit log: the log is public (`/api/v1/audit/events`), but
//! 招标投标法 第22条 forbids disclosing who obtained the tender documents, and the asker of a
//! question must not be revealed. Bidder actions (download, question) are therefore logged
//! with a per-tender pseudonym — `anon:` + HMAC-SHA256(tender's secret salt, user id) — and
//! without the client IP; the real user, IP and user agent stay in the `document_download`
//! and `question` rows, which only regulators and operators can read, and the event carries
//! an HMAC of them so the rows cannot be altered later without the log showing it.

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Offset, TimeDelta, Utc};
use ring::hmac;
use serde_json::{Value, json};

use super::model::{
    Amendment, AmendmentInput, AmendmentRow, AnswerInput, CancelInput, DocumentRow,
    EvaluationMethod, Notice, NoticeRow, QuestionInput, QuestionRow, QuestionView, SummaryRow,
    Tender, TenderDetail, TenderDocument, TenderInput, TenderRow, TenderState, TenderSummary,
};
use super::rulebook::{MAX_MONEY_FEN, RuleViolation, Rulebook, Rulebooks};
use crate::audit::{self, Actor};
use crate::clock::to_millis;
use crate::http::ctx::SessionUser;
use crate::http::{ApiError, AppState, Ctx};
use crate::identity::Role;
use crate::ids::{is_id, new_id};
use crate::store::blob::{BlobError, sha256_hex};
use crate::store::{Db, StoreError, Tx, is_unique_violation, like_pattern};
use crate::text::{self, Lines};
use crate::{q_all, q_exec, q_one, q_opt};

/// Largest page of the public list.
pub const MAX_PAGE: u32 = 100;

/// Tender failures, each with a stable code (see the `From<TenderError> for ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum TenderError {
    /// Nobody is logged in.
    #[error("please log in first / 请先登录")]
    LoginRequired,
    /// The role or organisation may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such tender, document, question … (drafts are "not found" for the public).
    #[error("{0} not found / 未找到")]
    NotFound(&'static str),
    /// Malformed project code.
    #[error(
        "the project code must be 3–40 letters, digits or '-' / 项目编号须为3–40位字母、数字或连字符"
    )]
    BadCode,
    /// Project code already used.
    #[error("project code {0} is already used / 项目编号 {0} 已被使用")]
    CodeTaken(String),
    /// A text field is empty or too long.
    #[error("{field} must be {min}–{max} characters / {field} 长度须为{min}–{max}个字符")]
    BadText {
        /// Field name.
        field: &'static str,
        /// Minimum length in characters.
        min: usize,
        /// Maximum length in characters.
        max: usize,
    },
    /// A time is not RFC 3339 or out of range.
    #[error(
        "{field} must be an RFC 3339 time such as 2025-03-01T09:00:00+08:00 (got {value:?}) / {field} 须为 RFC 3339 时间，例如 2025-03-01T09:00:00+08:00"
    )]
    BadTime {
        /// Field name.
        field: &'static str,
        /// What was sent (truncated).
        value: String,
    },
    /// Negative or absurd money.
    #[error(
        "{field} must be between 0 and 10^15 fen (10 trillion yuan), got {value} / {field} 须在0至10^15分之间，当前为{value}"
    )]
    BadMoney {
        /// Field name.
        field: &'static str,
        /// The value sent.
        value: i64,
    },
    /// No rulebook for the category and procedure.
    #[error(
        "no rulebook for category {category:?} and procedure {procedure:?} / 没有适用于该类别和招标方式的规则"
    )]
    UnknownRulebook {
        /// Category sent.
        category: String,
        /// Procedure sent.
        procedure: String,
    },
    /// Tenderee missing or not a tenderee.
    #[error(
        "tenderee_org_id must name an active organisation of kind tenderee / 招标人须为已启用的招标人单位"
    )]
    BadTenderee,
    /// The agent user has no organisation.
    #[error("your account belongs to no organisation / 您的账号未关联单位")]
    NoOrganisation,
    /// A custodian id is not an active custodian user.
    #[error("{0} is not an active user with role custodian / {0} 不是已启用的开标密钥保管人")]
    BadCustodian(String),
    /// Criteria malformed.
    #[error("{0}")]
    BadCriteria(&'static str),
    /// Expert quotas malformed.
    #[error("{0}")]
    BadQuotas(&'static str),
    /// A text holds a control or bidi-override character (`crate::text`).
    #[error(transparent)]
    Text(#[from] text::ForbiddenChar),
    /// The rulebook refuses (every violation, each with its article).
    #[error("{}", violations_text(.0))]
    Rulebook(Vec<RuleViolation>),
    /// The transition is not allowed from the current state.
    #[error("cannot {action} a tender in state {} / 当前状态（{}）下不能{action_zh}", .state.as_str(), .state.label_zh())]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// The same in Chinese.
        action_zh: &'static str,
        /// The current state.
        state: TenderState,
    },
    /// The bid deadline has passed.
    #[error("the bid deadline has passed / 投标截止时间已过")]
    DeadlinePassed,
    /// Questions are closed.
    #[error(
        "the clarification cut-off ({0}, China time) has passed / 澄清提问截止时间（北京时间{0}）已过"
    )]
    ClarificationClosed(String),
    /// The documents cannot be obtained now.
    #[error("{0}")]
    NotDownloadable(&'static str),
    /// Cancel without a reason.
    #[error("a reason (1–2000 characters) is required to cancel / 终止招标须填写原因（1–2000字）")]
    ReasonRequired,
    /// Document over the limit.
    #[error(
        "the document is larger than the limit of {limit} bytes ({} MiB) / 文件超过大小上限 {limit} 字节", .limit / (1024 * 1024)
    )]
    DocumentTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// Empty upload.
    #[error("the document is empty / 文件为空")]
    EmptyDocument,
    /// Upload to a published tender without an amendment.
    #[error(
        "a published tender's documents change only through an amendment: create one, then upload with ?amendment_id= / 已发布项目的文件只能通过澄清修改变更"
    )]
    AmendmentRequired,
    /// The question was answered already.
    #[error("this question has already been answered / 该问题已答复")]
    AlreadyAnswered,
    /// The bidder's company is not approved.
    #[error("your company is not approved (yet) / 您的单位尚未通过审核")]
    CompanyNotActive,
    /// Another request changed the tender first; retry.
    #[error(
        "the tender was changed by another request; reload and retry / 项目已被其他操作修改，请刷新后重试"
    )]
    Conflict,
    /// A stored row holds a value no code writes.
    #[error("corrupt tender data: {0}")]
    Corrupt(String),
    /// Blob store failure.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealed bidding refused (e.g. custodians without keys at publication).
    #[error(transparent)]
    Bid(#[from] crate::bid::BidError),
}

fn violations_text(v: &[RuleViolation]) -> String {
    let zh: Vec<&str> = v.iter().map(|x| x.message_zh.as_str()).collect();
    let en: Vec<&str> = v.iter().map(|x| x.message_en.as_str()).collect();
    format!("{} / {}", zh.join("；"), en.join("; "))
}

impl From<sqlx::Error> for TenderError {
    fn from(e: sqlx::Error) -> Self {
        TenderError::Store(e.into())
    }
}

impl From<TenderError> for ApiError {
    fn from(e: TenderError) -> Self {
        use StatusCode as S;
        let e = match e {
            TenderError::Bid(b) => return b.into(),
            other => other,
        };
        let (status, code) = match &e {
            TenderError::LoginRequired => (S::UNAUTHORIZED, "LOGIN_REQUIRED"),
            TenderError::Forbidden(_) => (S::FORBIDDEN, "FORBIDDEN"),
            TenderError::NotFound(_) => (S::NOT_FOUND, "NOT_FOUND"),
            TenderError::BadCode => (S::UNPROCESSABLE_ENTITY, "BAD_TENDER_CODE"),
            TenderError::CodeTaken(_) => (S::CONFLICT, "TENDER_CODE_TAKEN"),
            TenderError::BadText { .. } => (S::UNPROCESSABLE_ENTITY, "INVALID_TEXT"),
            TenderError::BadTime { .. } => (S::UNPROCESSABLE_ENTITY, "INVALID_TIME"),
            TenderError::BadMoney { .. } => (S::UNPROCESSABLE_ENTITY, "INVALID_MONEY"),
            TenderError::UnknownRulebook { .. } => (S::UNPROCESSABLE_ENTITY, "UNKNOWN_RULEBOOK"),
            TenderError::BadTenderee => (S::UNPROCESSABLE_ENTITY, "BAD_TENDEREE"),
            TenderError::NoOrganisation => (S::FORBIDDEN, "NO_ORGANISATION"),
            TenderError::BadCustodian(_) => (S::UNPROCESSABLE_ENTITY, "BAD_CUSTODIAN"),
            TenderError::BadCriteria(_) => (S::UNPROCESSABLE_ENTITY, "INVALID_CRITERIA"),
            TenderError::BadQuotas(_) => (S::UNPROCESSABLE_ENTITY, "INVALID_EXPERT_QUOTAS"),
            TenderError::Text(_) => (S::UNPROCESSABLE_ENTITY, text::CODE),
            TenderError::Rulebook(v) => {
                // One broken rule answers with its own code; several with the umbrella code.
                // `details` always lists each rule with its article.
                let code = match v.as_slice() {
                    [one] => one.rule,
                    _ => "RULEBOOK_VIOLATION",
                };
                let details: Vec<Value> = v
                    .iter()
                    .map(|x| {
                        json!({"code": x.rule, "article": x.article,
                               "message_zh": x.message_zh, "message_en": x.message_en})
                    })
                    .collect();
                return ApiError::unprocessable(code, e.to_string()).with_details(json!(details));
            }
            TenderError::WrongState { .. } => (S::CONFLICT, "INVALID_STATE"),
            TenderError::DeadlinePassed => (S::CONFLICT, "DEADLINE_PASSED"),
            TenderError::ClarificationClosed(_) => (S::CONFLICT, "CLARIFICATION_CLOSED"),
            TenderError::NotDownloadable(_) => (S::CONFLICT, "DOCUMENTS_NOT_AVAILABLE"),
            TenderError::ReasonRequired => (S::UNPROCESSABLE_ENTITY, "REASON_REQUIRED"),
            TenderError::DocumentTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "DOCUMENT_TOO_LARGE"),
            TenderError::EmptyDocument => (S::UNPROCESSABLE_ENTITY, "EMPTY_DOCUMENT"),
            TenderError::AmendmentRequired => (S::CONFLICT, "AMENDMENT_REQUIRED"),
            TenderError::AlreadyAnswered => (S::CONFLICT, "ALREADY_ANSWERED"),
            TenderError::CompanyNotActive => (S::FORBIDDEN, "COMPANY_NOT_ACTIVE"),
            TenderError::Conflict => (S::CONFLICT, "CONCURRENT_CHANGE"),
            TenderError::Corrupt(_)
            | TenderError::Blob(_)
            | TenderError::Store(_)
            | TenderError::Bid(_) => {
                return ApiError::internal(&e);
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

const NOT_OWNER: &str = "only the agent organisation that owns this tender may do this / 仅该项目的招标代理单位可执行此操作";
const AGENTS_ONLY: &str = "only agents may draft tenders / 仅招标人或招标代理可起草招标项目";
const BIDDERS_ONLY: &str = "only bidders may do this / 仅投标人可执行此操作";

// ---- who is acting ----------------------------------------------------------------------

pub use crate::identity::caller::Caller;

/// Whether `user` is an agent of the organisation that owns `tender`.
pub fn is_owner(user: &SessionUser, tender: &Tender) -> bool {
    user.role == Role::Agent && user.org_id.is_some() && user.org_id == tender.agent_org_id
}

fn ensure_owner(caller: &Caller, tender: &Tender) -> Result<(), TenderError> {
    if is_owner(&caller.user, tender) {
        Ok(())
    } else {
        Err(TenderError::Forbidden(NOT_OWNER))
    }
}

/// Whether `user` may see the tender in any state (drafts included).
pub fn may_read_all(user: Option<&SessionUser>, tender: &Tender) -> bool {
    user.is_some_and(|u| is_owner(u, tender) || matches!(u.role, Role::Operator | Role::Regulator))
}

// ---- pure checks --------------------------------------------------------------------------

/// `[A-Za-z0-9-]{3,40}`.
pub fn check_code(code: &str) -> Result<(), TenderError> {
    let ok = (3..=40).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(TenderError::BadCode)
    }
}

/// Trims and checks the length in characters and the characters (`crate::text`).
pub fn check_text(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
    lines: Lines,
) -> Result<String, TenderError> {
    let v = value.trim();
    let n = v.chars().count();
    if !(min..=max).contains(&n) {
        return Err(TenderError::BadText { field, min, max });
    }
    text::check(field, v, lines)?;
    Ok(v.to_string())
}

/// Parses an RFC 3339 time between 2000 and 2200 (anything outside is a typing error).
pub fn parse_time(field: &'static str, value: &str) -> Result<DateTime<Utc>, TenderError> {
    let bad = || TenderError::BadTime {
        field,
        value: value.chars().take(60).collect(),
    };
    let t = DateTime::parse_from_rfc3339(value.trim())
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    let lo = DateTime::<Utc>::from_timestamp(946_684_800, 0); // 2000-01-01
    let hi = DateTime::<Utc>::from_timestamp(7_258_118_400, 0); // 2200-01-01
    match (lo, hi) {
        (Some(lo), Some(hi)) if t >= lo && t < hi => Ok(t),
        _ => Err(bad()),
    }
}

/// Money is 0 ≤ fen ≤ 10^15 even in a draft; the rulebook adds its own rules at publication.
pub fn check_money(field: &'static str, value: i64) -> Result<i64, TenderError> {
    if (0..=MAX_MONEY_FEN).contains(&value) {
        Ok(value)
    } else {
        Err(TenderError::BadMoney { field, value })
    }
}

/// A file name safe to store and to send back in `Content-Disposition`: the last path
/// component only, no control or bidi-override characters (they disguise extensions), none
/// of `<>:"|?*`, no leading dots, at most 120 characters keeping a short extension.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
                && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    const MAX: usize = 120;
    if trimmed.chars().count() <= MAX {
        return if trimmed.is_empty() {
            "document".to_string()
        } else {
            trimmed.to_string()
        };
    }
    match trimmed.rsplit_once('.') {
        Some((stem, ext)) if !ext.is_empty() && ext.chars().count() <= 16 => {
            let keep = MAX - ext.chars().count() - 1;
            format!("{}.{ext}", stem.chars().take(keep).collect::<String>())
        }
        _ => trimmed.chars().take(MAX).collect(),
    }
}

/// The uploaded Content-Type if it looks like one, else `application/octet-stream`.
pub fn clean_content_type(raw: Option<&str>) -> String {
    match raw.map(str::trim) {
        Some(ct)
            if ct.len() <= 127
                && ct.contains('/')
                && ct.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            ct.to_ascii_lowercase()
        }
        _ => "application/octet-stream".to_string(),
    }
}

fn china_time(at: DateTime<Utc>) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    at.with_timezone(&cst).format("%Y-%m-%d %H:%M").to_string()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    audit::entry_time(t)
}

/// A draft's fields after validation.
#[derive(Debug, Clone)]
struct Validated {
    code: String,
    title: String,
    description: String,
    category: String,
    procedure: String,
    rulebook_id: String,
    tenderee_org_id: String,
    estimated_price_fen: i64,
    ceiling_price_fen: Option<i64>,
    bid_security_fen: i64,
    documents_available_at: DateTime<Utc>,
    documents_available_until: Option<DateTime<Utc>>,
    clarification_cutoff_at: DateTime<Utc>,
    bid_deadline_at: DateTime<Utc>,
    opening_place: String,
    evaluation_method: EvaluationMethod,
    criteria_json: String,
    expert_quotas_json: String,
    custodians: Vec<String>,
}

/// Checks everything a draft must satisfy that needs no database: formats, lengths, money,
/// and that a rulebook exists. The timeline itself is checked at publication, where the
/// rulebook reports every broken rule at once.
fn validate(input: &TenderInput, books: &Rulebooks) -> Result<Validated, TenderError> {
    let code = input.code.trim().to_string();
    check_code(&code)?;
    let title = check_text("title", &input.title, 1, 200, Lines::Single)?;
    let description = check_text("description", &input.description, 0, 20_000, Lines::Multi)?;
    let opening_place = check_text("opening_place", &input.opening_place, 1, 200, Lines::Single)?;
    let category = input.category.trim().to_string();
    let procedure = input.procedure.trim().to_string();
    let book = books
        .get(&category, &procedure)
        .ok_or_else(|| TenderError::UnknownRulebook {
            category: category.chars().take(40).collect(),
            procedure: procedure.chars().take(40).collect(),
        })?;
    let estimated_price_fen = check_money("estimated_price_fen", input.estimated_price_fen)?;
    let ceiling_price_fen = input
        .ceiling_price_fen
        .map(|v| check_money("ceiling_price_fen", v))
        .transpose()?;
    let bid_security_fen = check_money("bid_security_fen", input.bid_security_fen)?;
    let documents_available_at =
        parse_time("documents_available_at", &input.documents_available_at)?;
    let documents_available_until = input
        .documents_available_until
        .as_deref()
        .map(|s| parse_time("documents_available_until", s))
        .transpose()?;
    let clarification_cutoff_at =
        parse_time("clarification_cutoff_at", &input.clarification_cutoff_at)?;
    let bid_deadline_at = parse_time("bid_deadline_at", &input.bid_deadline_at)?;

    if input.criteria.len() > 50 {
        return Err(TenderError::BadCriteria(
            "at most 50 criteria / 评分项不得超过50项",
        ));
    }
    let mut criteria = Vec::with_capacity(input.criteria.len());
    for c in &input.criteria {
        let name = check_text("criteria.name", &c.name, 1, 100, Lines::Single)?;
        if c.weight > 100 {
            return Err(TenderError::BadCriteria(
                "each criterion weight is a percentage 0–100 / 评分项权重须为0–100的百分数",
            ));
        }
        criteria.push(json!({"name": name, "weight": c.weight}));
    }
    if input.expert_quotas.len() > 50 {
        return Err(TenderError::BadQuotas(
            "at most 50 specialty quotas / 专业配额不得超过50项",
        ));
    }
    let mut quotas = Vec::with_capacity(input.expert_quotas.len());
    for q in &input.expert_quotas {
        let specialty = check_text(
            "expert_quotas.specialty",
            &q.specialty,
            1,
            100,
            Lines::Single,
        )?;
        if !(1..=99).contains(&q.count) {
            return Err(TenderError::BadQuotas(
                "each expert quota count must be 1–99 / 每个专业的专家人数须为1–99",
            ));
        }
        quotas.push(json!({"specialty": specialty, "count": q.count}));
    }
    let mut custodians: Vec<String> = Vec::new();
    for id in &input.custodians {
        let id = id.trim();
        if !is_id(id) {
            return Err(TenderError::BadCustodian(id.chars().take(40).collect()));
        }
        if !custodians.iter().any(|c| c == id) {
            custodians.push(id.to_string());
        }
    }
    if custodians.len() > 20 {
        return Err(TenderError::BadCustodian(
            "(more than 20 custodians)".to_string(),
        ));
    }
    Ok(Validated {
        code,
        title,
        description,
        category,
        procedure,
        rulebook_id: book.id.clone(),
        tenderee_org_id: input.tenderee_org_id.trim().to_string(),
        estimated_price_fen,
        ceiling_price_fen,
        bid_security_fen,
        documents_available_at,
        documents_available_until,
        clarification_cutoff_at,
        bid_deadline_at,
        opening_place,
        evaluation_method: input.evaluation_method,
        criteria_json: Value::Array(criteria).to_string(),
        expert_quotas_json: Value::Array(quotas).to_string(),
        custodians,
    })
}

/// Checks a draft's body as creating or replacing the draft does, without the database:
/// formats, lengths, money, criteria, quotas, custodian ids, and that a rulebook exists.
pub fn check_draft_input(input: &TenderInput, books: &Rulebooks) -> Result<(), TenderError> {
    validate(input, books).map(|_| ())
}

/// Publication checks beyond the rulebook's numbers: documents exist (招标投标法 第19条: the
/// tenderee prepares tender documents) and comprehensive scoring has criteria.
fn extra_publication_rules(tender: &Tender, document_count: usize) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    if document_count == 0 {
        out.push(RuleViolation {
            rule: "NO_DOCUMENTS",
            article: "招标投标法 第19条".to_string(),
            message_zh: "发布前须上传至少一份招标文件（招标投标法 第19条）".to_string(),
            message_en: "Upload at least one tender document before publishing (招标投标法 第19条)"
                .to_string(),
        });
    }
    if tender.evaluation_method == EvaluationMethod::Comprehensive && tender.criteria.is_empty() {
        out.push(RuleViolation {
            rule: "CRITERIA_REQUIRED",
            article: "平台规则".to_string(),
            message_zh: "综合评估法须列明评分项及权重".to_string(),
            message_en: "Comprehensive scoring needs criteria with weights".to_string(),
        });
    }
    out
}

// ---- queries ------------------------------------------------------------------------------

macro_rules! tender_select {
    () => {
        "select t.tender_id, t.code, t.title, t.description, t.category, t.procedure,
                t.rulebook_id, t.tenderee_org_id, tt.name as tenderee_name, t.agent_org_id,
                ag.name as agent_name, t.state, t.currency, t.estimated_price_fen,
                t.ceiling_price_fen, t.bid_security_fen, t.documents_available_at,
                t.documents_available_until, t.clarification_cutoff_at, t.bid_deadline_at,
                t.opening_place, t.evaluation_method, t.criteria_json, t.expert_quotas_json,
                t.published_at, t.cancelled_at, t.cancel_reason, t.created_at, t.updated_at
         from tender t
         join organisation tt on tt.org_id = t.tenderee_org_id
         left join organisation ag on ag.org_id = t.agent_org_id"
    };
}

macro_rules! summary_select {
    () => {
        "select t.tender_id, t.code, t.title, t.category, t.procedure, tt.name as tenderee_name,
                t.state, t.estimated_price_fen, t.bid_deadline_at, t.published_at
         from tender t join organisation tt on tt.org_id = t.tenderee_org_id"
    };
}

async fn find_tender(tx: &mut Tx, code: &str) -> Result<Tender, TenderError> {
    let row = q_opt!(
        tx,
        TenderRow,
        concat!(tender_select!(), " where t.code = $1"),
        code.to_string()
    )?
    .ok_or(TenderError::NotFound("tender"))?;
    row.into_tender().map_err(TenderError::Corrupt)
}

async fn find_tender_by_id(tx: &mut Tx, tender_id: &str) -> Result<Tender, TenderError> {
    let row = q_opt!(
        tx,
        TenderRow,
        concat!(tender_select!(), " where t.tender_id = $1"),
        tender_id.to_string()
    )?
    .ok_or(TenderError::NotFound("tender"))?;
    row.into_tender().map_err(TenderError::Corrupt)
}

async fn documents_of(tx: &mut Tx, tender_id: &str) -> Result<Vec<TenderDocument>, TenderError> {
    let rows = q_all!(
        tx,
        DocumentRow,
        "select document_id, tender_id, amendment_id, filename, content_type, size_bytes, sha256, uploaded_at
         from tender_document where tender_id = $1 order by uploaded_at, document_id",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().map(TenderDocument::from).collect())
}

async fn amendments_of(tx: &mut Tx, tender_id: &str) -> Result<Vec<Amendment>, TenderError> {
    let rows = q_all!(
        tx,
        AmendmentRow,
        "select amendment_id, summary, body, old_deadline, new_deadline, created_at
         from tender_amendment where tender_id = $1 order by created_at, amendment_id",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().map(Amendment::from).collect())
}

async fn custodians_of(tx: &mut Tx, tender_id: &str) -> Result<Vec<String>, TenderError> {
    let rows = q_all!(
        tx,
        (String,),
        "select user_id from tender_custodian where tender_id = $1 order by user_id",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

async fn questions_of(
    tx: &mut Tx,
    tender_id: &str,
    answered_only: bool,
) -> Result<Vec<QuestionRow>, TenderError> {
    let sql = if answered_only {
        "select question_id, asked_by, body, asked_at, answer, answered_at from question
         where tender_id = $1 and answer is not null order by asked_at, question_id"
    } else {
        "select question_id, asked_by, body, asked_at, answer, answered_at from question
         where tender_id = $1 order by asked_at, question_id"
    };
    Ok(q_all!(tx, QuestionRow, sql, tender_id.to_string())?)
}

/// The per-tender pseudonym of a user in the public audit log (see the module comment).
async fn pseudonym(tx: &mut Tx, tender_id: &str, user_id: &str) -> Result<String, TenderError> {
    let salt = q_one!(
        tx,
        (Option<String>,),
        "select pseudonym_salt from tender where tender_id = $1",
        tender_id.to_string()
    )?
    .0
    // Rows from before migration 0002 have no salt; the tender id is public, so such a
    // pseudonym only hides the user from someone who does not know the user ids.
    .unwrap_or_else(|| tender_id.to_string());
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt.as_bytes());
    let tag = hmac::sign(&key, user_id.as_bytes());
    Ok(format!("anon:{}", hex::encode(tag.as_ref())))
}

/// The same salt keyed over arbitrary data (commitments to confidential rows).
async fn keyed_digest(tx: &mut Tx, tender_id: &str, parts: &[&str]) -> Result<String, TenderError> {
    let salt = q_one!(
        tx,
        (Option<String>,),
        "select pseudonym_salt from tender where tender_id = $1",
        tender_id.to_string()
    )?
    .0
    .unwrap_or_else(|| tender_id.to_string());
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        // Length-prefixed so that ("ab","c") and ("a","bc") differ.
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    Ok(hex::encode(ctx.sign().as_ref()))
}

/// The audit actor for a bidder's confidential action: pseudonym, role, request id, no IP.
async fn bidder_actor(tx: &mut Tx, caller: &Caller, tender_id: &str) -> Result<Actor, TenderError> {
    Ok(Actor {
        user_id: Some(pseudonym(tx, tender_id, &caller.user.user_id).await?),
        role: caller.actor.role.clone(),
        request_id: caller.actor.request_id.clone(),
        client_ip: None,
    })
}

fn random_salt() -> String {
    let mut bytes = [0u8; 32];
    // Without an entropy source the salt would be zeros: still unique per tender id below.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    hex::encode(bytes)
}

async fn check_tenderee(tx: &mut Tx, org_id: &str) -> Result<(), TenderError> {
    if !is_id(org_id) {
        return Err(TenderError::BadTenderee);
    }
    let row = q_opt!(
        tx,
        (String, String),
        "select kind, status from organisation where org_id = $1",
        org_id.to_string()
    )?;
    match row {
        Some((kind, status)) if kind == "tenderee" && status == "active" => Ok(()),
        _ => Err(TenderError::BadTenderee),
    }
}

async fn check_custodians(tx: &mut Tx, ids: &[String]) -> Result<(), TenderError> {
    for id in ids {
        let row = q_opt!(
            tx,
            (String, String),
            "select role, status from app_user where user_id = $1",
            id.clone()
        )?;
        match row {
            Some((role, status)) if role == "custodian" && status == "active" => {}
            _ => return Err(TenderError::BadCustodian(id.clone())),
        }
    }
    Ok(())
}

async fn replace_custodians(
    tx: &mut Tx,
    tender_id: &str,
    ids: &[String],
) -> Result<(), TenderError> {
    q_exec!(
        tx,
        "delete from tender_custodian where tender_id = $1",
        tender_id.to_string()
    )?;
    for id in ids {
        q_exec!(
            tx,
            "insert into tender_custodian (tender_id, user_id) values ($1, $2)",
            tender_id.to_string(),
            id.clone()
        )?;
    }
    Ok(())
}

/// Whether the bidder's user and company are both active.
async fn bidder_company_active(tx: &mut Tx, user_id: &str) -> Result<bool, TenderError> {
    let row = q_opt!(
        tx,
        (String, Option<String>),
        "select u.status, o.status from app_user u left join organisation o on o.org_id = u.org_id
         where u.user_id = $1",
        user_id.to_string()
    )?;
    Ok(matches!(row, Some((u, Some(o))) if u == "active" && o == "active"))
}

/// Writes a notice for every user who downloaded this tender's documents (法 第23条: a
/// change must reach everyone who obtained the documents). Returns how many were written.
async fn notify_downloaders(
    tx: &mut Tx,
    now: DateTime<Utc>,
    tender_id: &str,
    kind: &str,
    body: &str,
) -> Result<usize, TenderError> {
    let users = q_all!(
        tx,
        (String,),
        "select distinct user_id from document_download where tender_id = $1 order by user_id",
        tender_id.to_string()
    )?;
    for (user_id,) in &users {
        q_exec!(
            tx,
            "insert into notice (notice_id, user_id, tender_id, kind, body, created_at)
             values ($1, $2, $3, $4, $5, $6)",
            new_id(),
            user_id.clone(),
            tender_id.to_string(),
            kind.to_string(),
            body.to_string(),
            to_millis(now)
        )?;
    }
    Ok(users.len())
}

fn map_code_taken(e: sqlx::Error, code: &str) -> TenderError {
    if is_unique_violation(&e) {
        TenderError::CodeTaken(code.to_string())
    } else {
        e.into()
    }
}

fn draft_payload(v: &Validated) -> Value {
    // Drafts are not public yet: the public log learns only that a draft exists and a
    // digest of its terms; the full terms are logged at publication.
    let terms = json!({
        "title": v.title, "description": v.description, "category": v.category,
        "procedure": v.procedure, "tenderee_org_id": v.tenderee_org_id,
        "estimated_price_fen": v.estimated_price_fen, "ceiling_price_fen": v.ceiling_price_fen,
        "bid_security_fen": v.bid_security_fen,
        "documents_available_at": rfc3339(v.documents_available_at),
        "documents_available_until": v.documents_available_until.map(rfc3339),
        "clarification_cutoff_at": rfc3339(v.clarification_cutoff_at),
        "bid_deadline_at": rfc3339(v.bid_deadline_at), "opening_place": v.opening_place,
        "evaluation_method": v.evaluation_method.as_str(), "criteria": v.criteria_json,
        "expert_quotas": v.expert_quotas_json, "custodians": v.custodians,
    });
    let canonical = serde_json_canonicalizer::to_string(&terms).unwrap_or_default();
    json!({"code": v.code, "rulebook_id": v.rulebook_id, "terms_sha256": sha256_hex(canonical.as_bytes())})
}

// ---- transitions ----------------------------------------------------------------------------

/// An agent drafts a tender for their organisation.
pub async fn create_draft(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    input: &TenderInput,
) -> Result<Tender, TenderError> {
    if !caller.is(Role::Agent) {
        return Err(TenderError::Forbidden(AGENTS_ONLY));
    }
    let agent_org = caller
        .user
        .org_id
        .clone()
        .ok_or(TenderError::NoOrganisation)?;
    let v = validate(input, books)?;
    let mut tx = db.begin().await?;
    check_tenderee(&mut tx, &v.tenderee_org_id).await?;
    check_custodians(&mut tx, &v.custodians).await?;
    let tender_id = new_id();
    q_exec!(
        tx,
        "insert into tender (tender_id, code, title, description, category, procedure, rulebook_id,
            tenderee_org_id, agent_org_id, created_by, state, currency, estimated_price_fen,
            ceiling_price_fen, bid_security_fen, documents_available_at, documents_available_until,
            clarification_cutoff_at, bid_deadline_at, opening_place, evaluation_method,
            criteria_json, expert_quotas_json, created_at, updated_at, pseudonym_salt)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'draft', 'CNY', $11, $12, $13, $14, $15,
            $16, $17, $18, $19, $20, $21, $22, $22, $23)",
        tender_id.clone(),
        v.code.clone(),
        v.title.clone(),
        v.description.clone(),
        v.category.clone(),
        v.procedure.clone(),
        v.rulebook_id.clone(),
        v.tenderee_org_id.clone(),
        agent_org.clone(),
        caller.user.user_id.clone(),
        v.estimated_price_fen,
        v.ceiling_price_fen,
        v.bid_security_fen,
        to_millis(v.documents_available_at),
        v.documents_available_until.map(to_millis),
        to_millis(v.clarification_cutoff_at),
        to_millis(v.bid_deadline_at),
        v.opening_place.clone(),
        v.evaluation_method.as_str(),
        v.criteria_json.clone(),
        v.expert_quotas_json.clone(),
        to_millis(now),
        random_salt()
    )
    .map_err(|e| map_code_taken(e, &v.code))?;
    replace_custodians(&mut tx, &tender_id, &v.custodians).await?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.draft.create",
        Some(&tender_id),
        draft_payload(&v),
    )
    .await?;
    let tender = find_tender_by_id(&mut tx, &tender_id).await?;
    tx.commit().await?;
    Ok(tender)
}

/// The owning agent replaces a draft's terms (the code may change while it is a draft).
pub async fn update_draft(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &TenderInput,
) -> Result<Tender, TenderError> {
    let v = validate(input, books)?;
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.state != TenderState::Draft {
        return Err(TenderError::WrongState {
            action: "edit",
            action_zh: "修改草稿",
            state: tender.state,
        });
    }
    check_tenderee(&mut tx, &v.tenderee_org_id).await?;
    check_custodians(&mut tx, &v.custodians).await?;
    let n = q_exec!(
        tx,
        "update tender set code = $1, title = $2, description = $3, category = $4, procedure = $5,
            rulebook_id = $6, tenderee_org_id = $7, estimated_price_fen = $8, ceiling_price_fen = $9,
            bid_security_fen = $10, documents_available_at = $11, documents_available_until = $12,
            clarification_cutoff_at = $13, bid_deadline_at = $14, opening_place = $15,
            evaluation_method = $16, criteria_json = $17, expert_quotas_json = $18, updated_at = $19
         where tender_id = $20 and state = 'draft'",
        v.code.clone(),
        v.title.clone(),
        v.description.clone(),
        v.category.clone(),
        v.procedure.clone(),
        v.rulebook_id.clone(),
        v.tenderee_org_id.clone(),
        v.estimated_price_fen,
        v.ceiling_price_fen,
        v.bid_security_fen,
        to_millis(v.documents_available_at),
        v.documents_available_until.map(to_millis),
        to_millis(v.clarification_cutoff_at),
        to_millis(v.bid_deadline_at),
        v.opening_place.clone(),
        v.evaluation_method.as_str(),
        v.criteria_json.clone(),
        v.expert_quotas_json.clone(),
        to_millis(now),
        tender.tender_id.clone()
    )
    .map_err(|e| map_code_taken(e, &v.code))?;
    if n == 0 {
        return Err(TenderError::Conflict);
    }
    replace_custodians(&mut tx, &tender.tender_id, &v.custodians).await?;
    let mut payload = draft_payload(&v);
    payload["previous_code"] = json!(tender.code);
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.draft.update",
        Some(&tender.tender_id),
        payload,
    )
    .await?;
    let updated = find_tender_by_id(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(updated)
}

/// A document being uploaded.
#[derive(Clone, Debug)]
pub struct NewDocument {
    /// File name as sent (sanitised here).
    pub filename: String,
    /// Content-Type as sent.
    pub content_type: Option<String>,
    /// The amendment it belongs to (required once the tender is published).
    pub amendment_id: Option<String>,
    /// The bytes.
    pub bytes: Bytes,
}

/// The owning agent uploads a tender document: to a draft, or to a published tender as part
/// of an amendment (which re-applies the 15-day rule, 招标投标法 第23条, from now).
pub async fn upload_document(
    state: &AppState,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    doc: NewDocument,
) -> Result<TenderDocument, TenderError> {
    let (db, blobs, max_bytes) = (&state.db, &state.blobs, state.config.max_document_bytes);
    let size = u64::try_from(doc.bytes.len()).unwrap_or(u64::MAX);
    if size > max_bytes {
        return Err(TenderError::DocumentTooLarge { limit: max_bytes });
    }
    if size == 0 {
        return Err(TenderError::EmptyDocument);
    }
    // Check rights and state before storing anything.
    {
        let mut tx = db.read().await?;
        let tender = find_tender(&mut tx, code).await?;
        ensure_owner(caller, &tender)?;
        check_upload_state(&tender, doc.amendment_id.as_deref(), now)?;
    }
    let filename = sanitize_filename(&doc.filename);
    let content_type = clean_content_type(doc.content_type.as_deref());
    // Content-addressed: storing twice is a no-op, and a blob whose row never commits is
    // harmless (no row points at it).
    let sha256 = blobs.put(doc.bytes).await?;

    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    check_upload_state(&tender, doc.amendment_id.as_deref(), now)?;
    let mut deadline_move = None;
    if let Some(amendment_id) = &doc.amendment_id {
        let found = q_opt!(
            tx,
            (String,),
            "select amendment_id from tender_amendment where amendment_id = $1 and tender_id = $2",
            amendment_id.clone(),
            tender.tender_id.clone()
        )?;
        if found.is_none() {
            return Err(TenderError::NotFound("amendment"));
        }
        // 招标投标法 第23条: a document added by an amendment changes the tender documents,
        // so the 15 days count from this upload too.
        let book = rulebook_of(&state.rulebooks, &tender)?;
        let new_deadline = book.deadline_after_amendment(tender.bid_deadline_at, now);
        move_deadline(&mut tx, now, &tender, new_deadline).await?;
        if new_deadline != tender.bid_deadline_at {
            q_exec!(
                tx,
                "update tender_amendment set new_deadline = $1 where amendment_id = $2",
                to_millis(new_deadline),
                amendment_id.clone()
            )?;
            deadline_move = Some(new_deadline);
        }
        let body = format!(
            "招标项目 {}「{}」的澄清/修改新增文件：{}{} / Tender {} amendment adds document {}{}",
            tender.code,
            tender.title,
            filename,
            deadline_move
                .map(|d| format!("，投标截止时间顺延至北京时间{}", china_time(d)))
                .unwrap_or_default(),
            tender.code,
            filename,
            deadline_move
                .map(|d| format!("; bid deadline moved to {} China time", china_time(d)))
                .unwrap_or_default(),
        );
        notify_downloaders(&mut tx, now, &tender.tender_id, "amendment", &body).await?;
    } else {
        // Guard: still a draft when we write.
        let n = q_exec!(
            tx,
            "update tender set updated_at = $1 where tender_id = $2 and state = 'draft'",
            to_millis(now),
            tender.tender_id.clone()
        )?;
        if n == 0 {
            return Err(TenderError::Conflict);
        }
    }
    let document_id = new_id();
    let size_bytes = i64::try_from(size).unwrap_or(i64::MAX);
    q_exec!(
        tx,
        "insert into tender_document (document_id, tender_id, amendment_id, filename, content_type,
            size_bytes, sha256, uploaded_by, uploaded_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        document_id.clone(),
        tender.tender_id.clone(),
        doc.amendment_id.clone(),
        filename.clone(),
        content_type.clone(),
        size_bytes,
        sha256.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.document.upload",
        Some(&tender.tender_id),
        json!({
            "document_id": document_id, "filename": filename, "content_type": content_type,
            "size_bytes": size_bytes, "sha256": sha256, "amendment_id": doc.amendment_id,
            "new_deadline": deadline_move.map(rfc3339),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(TenderDocument {
        document_id,
        tender_id: tender.tender_id,
        amendment_id: doc.amendment_id,
        filename,
        content_type,
        size_bytes,
        sha256,
        uploaded_at: now,
    })
}

fn check_upload_state(
    tender: &Tender,
    amendment_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), TenderError> {
    match (tender.state, amendment_id) {
        (TenderState::Draft, None) => Ok(()),
        (TenderState::Draft, Some(_)) => Err(TenderError::NotFound("amendment")),
        (TenderState::Published, None) => Err(TenderError::AmendmentRequired),
        (TenderState::Published, Some(id)) => {
            if !is_id(id) {
                Err(TenderError::NotFound("amendment"))
            } else if now >= tender.bid_deadline_at {
                Err(TenderError::DeadlinePassed)
            } else {
                Ok(())
            }
        }
        (state, _) => Err(TenderError::WrongState {
            action: "upload documents to",
            action_zh: "上传招标文件",
            state,
        }),
    }
}

/// The rulebook a tender was drafted under (by id, so a renamed category keeps working).
fn rulebook_of<'a>(books: &'a Rulebooks, tender: &Tender) -> Result<&'a Rulebook, TenderError> {
    books
        .by_id(&tender.rulebook_id)
        .or_else(|| books.get(&tender.category, &tender.procedure))
        .ok_or_else(|| TenderError::UnknownRulebook {
            category: tender.category.clone(),
            procedure: tender.procedure.clone(),
        })
}

/// Moves the deadline (and the clarification cut-off by the same amount, so bidders keep
/// their objection window, 条例 第22条) and the deadline job's run time, guarded on the
/// deadline we computed from so a concurrent change is detected.
async fn move_deadline(
    tx: &mut Tx,
    now: DateTime<Utc>,
    tender: &Tender,
    new_deadline: DateTime<Utc>,
) -> Result<(), TenderError> {
    let shift = new_deadline.signed_duration_since(tender.bid_deadline_at);
    let new_cutoff = tender
        .clarification_cutoff_at
        .checked_add_signed(shift.max(TimeDelta::zero()))
        .unwrap_or(tender.clarification_cutoff_at);
    let n = q_exec!(
        tx,
        "update tender set bid_deadline_at = $1, clarification_cutoff_at = $2, updated_at = $3
         where tender_id = $4 and state = 'published' and bid_deadline_at = $5 and bid_deadline_at > $3",
        to_millis(new_deadline),
        to_millis(new_cutoff),
        to_millis(now),
        tender.tender_id.clone(),
        to_millis(tender.bid_deadline_at)
    )?;
    if n == 0 {
        return Err(TenderError::Conflict);
    }
    if new_deadline != tender.bid_deadline_at {
        q_exec!(
            tx,
            "update job set run_at = $1 where kind = 'deadline' and tender_id = $2 and state = 'pending'",
            to_millis(new_deadline),
            tender.tender_id.clone()
        )?;
    }
    Ok(())
}

fn tender_terms_payload(t: &Tender) -> Value {
    json!({
        "code": t.code, "title": t.title, "category": t.category, "procedure": t.procedure,
        "rulebook_id": t.rulebook_id, "tenderee_org_id": t.tenderee_org_id,
        "agent_org_id": t.agent_org_id, "currency": t.currency,
        "estimated_price_fen": t.estimated_price_fen, "ceiling_price_fen": t.ceiling_price_fen,
        "bid_security_fen": t.bid_security_fen,
        "documents_available_at": rfc3339(t.documents_available_at),
        "documents_available_until": t.documents_available_until.map(rfc3339),
        "clarification_cutoff_at": rfc3339(t.clarification_cutoff_at),
        "bid_deadline_at": rfc3339(t.bid_deadline_at), "opening_place": t.opening_place,
        "evaluation_method": t.evaluation_method.as_str(), "criteria": t.criteria,
        "expert_quotas": t.expert_quotas,
        "description_sha256": sha256_hex(t.description.as_bytes()),
    })
}

/// The owning agent publishes a draft: the rulebook must accept its terms (every violation
/// is reported with its article), at least one document must exist, and the deadline job is
/// created in the same transaction.
pub async fn publish(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<Tender, TenderError> {
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.state != TenderState::Draft {
        return Err(TenderError::WrongState {
            action: "publish",
            action_zh: "发布",
            state: tender.state,
        });
    }
    let book = rulebook_of(books, &tender)?;
    let custodians = custodians_of(&mut tx, &tender.tender_id).await?;
    let documents = documents_of(&mut tx, &tender.tender_id).await?;
    let count = u32::try_from(custodians.len()).unwrap_or(u32::MAX);
    let mut violations = match book.check_publication(&tender.terms(count), now) {
        Ok(()) => Vec::new(),
        Err(v) => v,
    };
    violations.extend(extra_publication_rules(&tender, documents.len()));
    if !violations.is_empty() {
        return Err(TenderError::Rulebook(violations));
    }
    let n = q_exec!(
        tx,
        "update tender set state = 'published', published_at = $1, updated_at = $1
         where tender_id = $2 and state = 'draft'",
        to_millis(now),
        tender.tender_id.clone()
    )?;
    if n == 0 {
        return Err(TenderError::Conflict);
    }
    // DESIGN.md "Sealed bids" 1: the opening key is generated now, in this transaction;
    // only its public half and the shares sealed to each custodian are stored. Every
    // custodian must have enrolled a key (else nothing is published).
    let opening_key = crate::bid::custodian::issue_opening_key(
        &mut tx,
        now,
        &tender.tender_id,
        &custodians,
        book.rules.custodian_quorum.k,
    )
    .await?;
    let job_id = new_id();
    q_exec!(
        tx,
        "insert into job (job_id, kind, tender_id, run_at, state, attempts)
         values ($1, 'deadline', $2, $3, 'pending', 0)",
        job_id.clone(),
        tender.tender_id.clone(),
        to_millis(tender.bid_deadline_at)
    )?;
    let mut payload = tender_terms_payload(&tender);
    payload["published_at"] = json!(rfc3339(now));
    payload["custodian_count"] = json!(count);
    payload["deadline_job_id"] = json!(job_id);
    payload["opening_key"] = json!(opening_key);
    payload["documents"] = json!(
        documents
            .iter()
            .map(
                |d| json!({"document_id": d.document_id, "filename": d.filename,
                            "size_bytes": d.size_bytes, "sha256": d.sha256})
            )
            .collect::<Vec<_>>()
    );
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.publish",
        Some(&tender.tender_id),
        payload,
    )
    .await?;
    let published = find_tender_by_id(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(published)
}

/// The owning agent publishes an amendment (澄清/修改) before the deadline. 招标投标法
/// 第23条: when fewer than 15 days remain, the deadline moves to now + 15 days (and the job
/// with it). Everyone who downloaded the documents gets a notice.
///
/// Every amendment is treated as one that may affect bid preparation (条例 第21条): the
/// platform cannot judge the text, and moving the deadline never takes time from bidders.
pub async fn amend(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &AmendmentInput,
) -> Result<Amendment, TenderError> {
    let summary = check_text("summary", &input.summary, 1, 200, Lines::Single)?;
    let body = check_text("body", &input.body, 1, 20_000, Lines::Multi)?;
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.state != TenderState::Published {
        return Err(TenderError::WrongState {
            action: "amend",
            action_zh: "发布澄清/修改",
            state: tender.state,
        });
    }
    if now >= tender.bid_deadline_at {
        return Err(TenderError::DeadlinePassed);
    }
    let book = rulebook_of(books, &tender)?;
    let old_deadline = tender.bid_deadline_at;
    let new_deadline = book.deadline_after_amendment(old_deadline, now);
    move_deadline(&mut tx, now, &tender, new_deadline).await?;
    let amendment_id = new_id();
    q_exec!(
        tx,
        "insert into tender_amendment (amendment_id, tender_id, summary, body, old_deadline,
            new_deadline, created_by, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        amendment_id.clone(),
        tender.tender_id.clone(),
        summary.clone(),
        body.clone(),
        to_millis(old_deadline),
        to_millis(new_deadline),
        caller.user.user_id.clone(),
        to_millis(now)
    )?;
    let moved = new_deadline != old_deadline;
    let notice = format!(
        "招标项目 {}「{}」发布澄清/修改：{}。投标截止时间：北京时间{}{} / Tender {} was amended: {}. Bid deadline: {} China time{}",
        tender.code,
        tender.title,
        summary,
        china_time(new_deadline),
        if moved { "（已顺延）" } else { "" },
        tender.code,
        summary,
        china_time(new_deadline),
        if moved { " (moved)" } else { "" },
    );
    notify_downloaders(&mut tx, now, &tender.tender_id, "amendment", &notice).await?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.amend",
        Some(&tender.tender_id),
        json!({
            "amendment_id": amendment_id, "summary": summary,
            "body_sha256": sha256_hex(body.as_bytes()),
            "old_deadline": rfc3339(old_deadline), "new_deadline": rfc3339(new_deadline),
            "deadline_moved": moved,
            "rule": book.rules.amendment_min_days_before_deadline.article,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Amendment {
        amendment_id,
        summary,
        body,
        old_deadline,
        new_deadline,
        created_at: now,
    })
}

/// A bidder of an approved company asks a question before the clarification cut-off. The
/// asker is stored but never shown to other bidders, the agent or the public; the audit
/// event carries the per-tender pseudonym and a digest of the text.
pub async fn ask_question(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &QuestionInput,
) -> Result<QuestionView, TenderError> {
    if !caller.is(Role::Bidder) {
        return Err(TenderError::Forbidden(BIDDERS_ONLY));
    }
    let body = check_text("body", &input.body, 1, 5_000, Lines::Multi)?;
    let mut tx = db.begin().await?;
    if !bidder_company_active(&mut tx, &caller.user.user_id).await? {
        return Err(TenderError::CompanyNotActive);
    }
    let tender = find_tender(&mut tx, code).await?;
    if !tender.is_public() {
        return Err(TenderError::NotFound("tender"));
    }
    if tender.state != TenderState::Published {
        return Err(TenderError::WrongState {
            action: "ask questions about",
            action_zh: "提问",
            state: tender.state,
        });
    }
    if now >= tender.clarification_cutoff_at {
        return Err(TenderError::ClarificationClosed(china_time(
            tender.clarification_cutoff_at,
        )));
    }
    let question_id = new_id();
    // The insert carries its own guard, so a concurrent cancel or cut-off move wins cleanly.
    let n = q_exec!(
        tx,
        "insert into question (question_id, tender_id, asked_by, body, asked_at)
         select $1, $2, $3, $4, $5 where exists (
            select 1 from tender where tender_id = $2 and state = 'published'
            and clarification_cutoff_at > $5)",
        question_id.clone(),
        tender.tender_id.clone(),
        caller.user.user_id.clone(),
        body.clone(),
        to_millis(now)
    )?;
    if n == 0 {
        return Err(TenderError::Conflict);
    }
    let actor = bidder_actor(&mut tx, caller, &tender.tender_id).await?;
    audit::append(
        &mut tx,
        now,
        &actor,
        "tender.question.ask",
        Some(&tender.tender_id),
        json!({"question_id": question_id, "body_sha256": sha256_hex(body.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    Ok(QuestionView {
        question_id,
        body,
        asked_at: now,
        answer: None,
        answered_at: None,
        mine: true,
        asked_by: None,
    })
}

/// The owning agent answers a question while the tender is published; the answer is public
/// and the asker gets a notice.
pub async fn answer_question(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    question_id: &str,
    input: &AnswerInput,
) -> Result<QuestionView, TenderError> {
    let answer = check_text("answer", &input.answer, 1, 10_000, Lines::Multi)?;
    if !is_id(question_id) {
        return Err(TenderError::NotFound("question"));
    }
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.state != TenderState::Published {
        return Err(TenderError::WrongState {
            action: "answer questions of",
            action_zh: "答复提问",
            state: tender.state,
        });
    }
    let question = q_opt!(
        tx,
        QuestionRow,
        "select question_id, asked_by, body, asked_at, answer, answered_at from question
         where question_id = $1 and tender_id = $2",
        question_id.to_string(),
        tender.tender_id.clone()
    )?
    .ok_or(TenderError::NotFound("question"))?;
    let n = q_exec!(
        tx,
        "update question set answer = $1, answered_by = $2, answered_at = $3
         where question_id = $4 and answer is null",
        answer.clone(),
        caller.user.user_id.clone(),
        to_millis(now),
        question_id.to_string()
    )?;
    if n == 0 {
        return Err(TenderError::AlreadyAnswered);
    }
    q_exec!(
        tx,
        "insert into notice (notice_id, user_id, tender_id, kind, body, created_at)
         values ($1, $2, $3, 'answer', $4, $5)",
        new_id(),
        question.asked_by.clone(),
        tender.tender_id.clone(),
        format!(
            "您对招标项目 {} 的提问已答复 / Your question on tender {} was answered",
            tender.code, tender.code
        ),
        to_millis(now)
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.question.answer",
        Some(&tender.tender_id),
        json!({"question_id": question_id,
               "question_sha256": sha256_hex(question.body.as_bytes()),
               "answer_sha256": sha256_hex(answer.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    let mut view = question.view(None, false);
    view.answer = Some(answer);
    view.answered_at = Some(now);
    Ok(view)
}

/// The owning agent terminates (终止) the tender with a public reason, from any state before
/// the award; the deadline job is cancelled and everyone who downloaded is told.
pub async fn cancel(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &CancelInput,
) -> Result<Tender, TenderError> {
    let reason = match check_text("reason", &input.reason, 1, 2_000, Lines::Multi) {
        Err(TenderError::BadText { .. }) => return Err(TenderError::ReasonRequired),
        other => other?,
    };
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if !tender.state.cancellable() {
        return Err(TenderError::WrongState {
            action: "cancel",
            action_zh: "终止",
            state: tender.state,
        });
    }
    let n = q_exec!(
        tx,
        "update tender set state = 'cancelled', cancelled_at = $1, cancel_reason = $2, updated_at = $1
         where tender_id = $3 and state = $4",
        to_millis(now),
        reason.clone(),
        tender.tender_id.clone(),
        tender.state.as_str()
    )?;
    if n == 0 {
        return Err(TenderError::Conflict);
    }
    let jobs = q_exec!(
        tx,
        "update job set state = 'cancelled', done_at = $1 where tender_id = $2 and state = 'pending'",
        to_millis(now),
        tender.tender_id.clone()
    )?;
    let notice = format!(
        "招标项目 {}「{}」已终止，原因：{} / Tender {} was cancelled: {}",
        tender.code, tender.title, reason, tender.code, reason
    );
    notify_downloaders(&mut tx, now, &tender.tender_id, "cancel", &notice).await?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.cancel",
        Some(&tender.tender_id),
        json!({"reason": reason, "previous_state": tender.state.as_str(), "jobs_cancelled": jobs}),
    )
    .await?;
    let cancelled = find_tender_by_id(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(cancelled)
}

// ---- downloads ------------------------------------------------------------------------------

/// Records one download (user, IP, user agent) and its audit event inside the caller's
/// transaction; returns the download id. The event is pseudonymous (招标投标法 第22条) and
/// carries a keyed digest of the confidential row.
pub async fn record_download(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    tender: &Tender,
    document: &TenderDocument,
) -> Result<String, TenderError> {
    let download_id = new_id();
    q_exec!(
        tx,
        "insert into document_download (download_id, tender_id, document_id, user_id, client_ip,
            user_agent, at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        download_id.clone(),
        tender.tender_id.clone(),
        document.document_id.clone(),
        caller.user.user_id.clone(),
        caller.actor.client_ip.clone(),
        caller.user_agent.clone(),
        to_millis(now)
    )?;
    let record = keyed_digest(
        tx,
        &tender.tender_id,
        &[
            &download_id,
            &caller.user.user_id,
            caller.actor.client_ip.as_deref().unwrap_or(""),
            caller.user_agent.as_deref().unwrap_or(""),
            &to_millis(now).to_string(),
        ],
    )
    .await?;
    let actor = bidder_actor(tx, caller, &tender.tender_id).await?;
    // Even the number of downloads is confidential before the opening (法 第22条), so the
    // public sees this entry's leaf hash only until then, however the deadline moves.
    audit::append_withheld_until(
        tx,
        now,
        &actor,
        "tender.document.download",
        &tender.tender_id,
        json!({"download_id": download_id, "document_id": document.document_id,
               "sha256": document.sha256, "record_hmac": record}),
        audit::Stage::Opening,
    )
    .await?;
    Ok(download_id)
}

/// Whether a bidder may obtain the documents now: published (or closed, to re-read them),
/// inside the availability window — or they already obtained them before it ended.
fn check_download_window(
    tender: &Tender,
    now: DateTime<Utc>,
    downloaded_before: bool,
) -> Result<(), TenderError> {
    match tender.state {
        TenderState::Published | TenderState::Closed => {}
        TenderState::Draft => return Err(TenderError::NotFound("tender")),
        _ => {
            return Err(TenderError::NotDownloadable(
                "this tender's documents are no longer offered / 该项目的招标文件已不再提供",
            ));
        }
    }
    if downloaded_before {
        return Ok(());
    }
    if now < tender.documents_available_at {
        return Err(TenderError::NotDownloadable(
            "the documents are not available yet / 招标文件尚未开始发出",
        ));
    }
    let until = tender
        .documents_available_until
        .unwrap_or(tender.bid_deadline_at);
    if now >= until {
        return Err(TenderError::NotDownloadable(
            "the document period has ended / 招标文件发售期已结束",
        ));
    }
    Ok(())
}

/// One document's bytes for the logged-in user. Bidders of approved companies get the
/// documents of published or closed tenders (each download recorded with IP and user
/// agent); the owning agent, operators and regulators may read them in any state without a
/// download record (they are not potential bidders).
pub async fn download_document(
    state: &AppState,
    ctx: &Ctx,
    code: &str,
    document_id: &str,
) -> Result<(TenderDocument, Bytes), TenderError> {
    let caller = Caller::from_ctx(ctx).map_err(|_| TenderError::LoginRequired)?;
    let now = state.clock.now();
    if !is_id(document_id) {
        return Err(TenderError::NotFound("document"));
    }
    // Checks on a read snapshot, the blob read outside any transaction, then a short write
    // transaction for the record: no write lock is held while bytes are read.
    let mut tx = state.db.read().await?;
    let tender = find_tender(&mut tx, code).await?;
    let document: TenderDocument = q_opt!(
        tx,
        DocumentRow,
        "select document_id, tender_id, amendment_id, filename, content_type, size_bytes, sha256, uploaded_at
         from tender_document where document_id = $1 and tender_id = $2",
        document_id.to_string(),
        tender.tender_id.clone()
    )?
    .ok_or(TenderError::NotFound("document"))?
    .into();
    let record = if may_read_all(Some(&caller.user), &tender) {
        false
    } else if caller.is(Role::Bidder) {
        if !tender.is_public() {
            return Err(TenderError::NotFound("tender"));
        }
        if !bidder_company_active(&mut tx, &caller.user.user_id).await? {
            return Err(TenderError::CompanyNotActive);
        }
        let before = q_opt!(
            tx,
            (String,),
            "select download_id from document_download where tender_id = $1 and user_id = $2 limit 1",
            tender.tender_id.clone(),
            caller.user.user_id.clone()
        )?
        .is_some();
        check_download_window(&tender, now, before)?;
        true
    } else {
        return Err(TenderError::Forbidden(BIDDERS_ONLY));
    };
    drop(tx);
    // Read the bytes first: a failed read must not be recorded as a download.
    let bytes = state.blobs.get(&document.sha256).await?;
    if record {
        let mut tx = state.db.begin().await?;
        record_download(&mut tx, now, &caller, &tender, &document).await?;
        tx.commit().await?;
    }
    Ok((document, bytes))
}

// ---- reads --------------------------------------------------------------------------------

/// Published, closed and cancelled (and later) tenders, newest first; `query` is a substring
/// search over title and description (Chinese works: no tokenising needed for LIKE).
pub async fn list_public(
    db: &Db,
    query: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<Vec<TenderSummary>, TenderError> {
    let limit = i64::from(limit.clamp(1, MAX_PAGE));
    let offset = i64::from(offset);
    let mut tx = db.read().await?;
    let rows = match query.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            let pattern = like_pattern(&q.chars().take(100).collect::<String>());
            q_all!(
                tx,
                SummaryRow,
                concat!(
                    summary_select!(),
                    " where t.published_at is not null
                      and (t.title like $1 escape '\\' or t.description like $1 escape '\\')
                      order by t.published_at desc, t.code limit $2 offset $3"
                ),
                pattern,
                limit,
                offset
            )?
        }
        None => q_all!(
            tx,
            SummaryRow,
            concat!(
                summary_select!(),
                " where t.published_at is not null order by t.published_at desc, t.code limit $1 offset $2"
            ),
            limit,
            offset
        )?,
    };
    rows.into_iter()
        .map(|r| r.into_summary().map_err(TenderError::Corrupt))
        .collect()
}

/// How many tenders [`list_public`] would list in total (for pagination).
pub async fn count_public(db: &Db, query: Option<&str>) -> Result<u64, TenderError> {
    let mut tx = db.read().await?;
    let (n,) = match query.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            let pattern = like_pattern(&q.chars().take(100).collect::<String>());
            q_one!(
                tx,
                (i64,),
                "select count(*) from tender t where t.published_at is not null
                 and (t.title like $1 escape '\\' or t.description like $1 escape '\\')",
                pattern
            )?
        }
        None => q_one!(
            tx,
            (i64,),
            "select count(*) from tender t where t.published_at is not null"
        )?,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The tenders of the caller's agent organisation, any state, newest first (workspace).
pub async fn list_mine(db: &Db, user: &SessionUser) -> Result<Vec<TenderSummary>, TenderError> {
    if user.role != Role::Agent {
        return Err(TenderError::Forbidden(AGENTS_ONLY));
    }
    let org = user.org_id.clone().ok_or(TenderError::NoOrganisation)?;
    let mut tx = db.read().await?;
    let rows = q_all!(
        tx,
        SummaryRow,
        concat!(
            summary_select!(),
            " where t.agent_org_id = $1 order by t.updated_at desc, t.code"
        ),
        org
    )?;
    rows.into_iter()
        .map(|r| r.into_summary().map_err(TenderError::Corrupt))
        .collect()
}

async fn detail(
    tx: &mut Tx,
    tender: Tender,
    viewer: Option<&SessionUser>,
) -> Result<TenderDetail, TenderError> {
    let documents = documents_of(tx, &tender.tender_id).await?;
    let amendments = amendments_of(tx, &tender.tender_id).await?;
    let questions = questions_of(tx, &tender.tender_id, true)
        .await?
        .into_iter()
        .map(|q| q.view(viewer.map(|u| u.user_id.as_str()), false))
        .collect();
    let custodian_count =
        u32::try_from(custodians_of(tx, &tender.tender_id).await?.len()).unwrap_or(u32::MAX);
    Ok(TenderDetail {
        tender,
        documents,
        amendments,
        questions,
        custodian_count,
    })
}

/// A public tender with its documents, amendments and answered questions (no askers);
/// drafts are "not found".
pub async fn get_public(db: &Db, code: &str) -> Result<TenderDetail, TenderError> {
    get_tender(db, None, code).await
}

/// Like [`get_public`], but the owning agent, operators and regulators also see drafts.
pub async fn get_tender(
    db: &Db,
    viewer: Option<&SessionUser>,
    code: &str,
) -> Result<TenderDetail, TenderError> {
    let mut tx = db.read().await?;
    let tender = find_tender(&mut tx, code).await?;
    if !tender.is_public() && !may_read_all(viewer, &tender) {
        return Err(TenderError::NotFound("tender"));
    }
    detail(&mut tx, tender, viewer).await
}

/// The questions of a tender as `viewer` may see them: the owning agent sees all (without
/// askers, so answers cannot favour anyone); regulators and operators see all with askers;
/// a bidder sees the answered ones and their own; the public the answered ones.
pub async fn list_questions(
    db: &Db,
    viewer: Option<&SessionUser>,
    code: &str,
) -> Result<Vec<QuestionView>, TenderError> {
    let mut tx = db.read().await?;
    let tender = find_tender(&mut tx, code).await?;
    if !tender.is_public() && !may_read_all(viewer, &tender) {
        return Err(TenderError::NotFound("tender"));
    }
    let supervisor = viewer.is_some_and(|u| matches!(u.role, Role::Operator | Role::Regulator));
    let owner = viewer.is_some_and(|u| is_owner(u, &tender));
    let me = viewer.map(|u| u.user_id.as_str());
    let rows = questions_of(&mut tx, &tender.tender_id, false).await?;
    Ok(rows
        .into_iter()
        .filter(|q| supervisor || owner || q.answer.is_some() || Some(q.asked_by.as_str()) == me)
        .map(|q| q.view(me, supervisor))
        .collect())
}

/// The caller's notices, newest first.
pub async fn list_notices(db: &Db, user_id: &str) -> Result<Vec<Notice>, TenderError> {
    let mut tx = db.read().await?;
    let rows = q_all!(
        tx,
        NoticeRow,
        "select n.notice_id, n.tender_id, t.code as tender_code, n.kind, n.body, n.created_at, n.read_at
         from notice n left join tender t on t.tender_id = n.tender_id
         where n.user_id = $1 order by n.created_at desc, n.notice_id desc limit 200",
        user_id.to_string()
    )?;
    Ok(rows.into_iter().map(Notice::from).collect())
}

/// Marks one of the caller's notices read (reading is not an audited state change: it
/// concerns only the reader's inbox).
pub async fn mark_notice_read(
    db: &Db,
    now: DateTime<Utc>,
    user_id: &str,
    notice_id: &str,
) -> Result<(), TenderError> {
    if !is_id(notice_id) {
        return Err(TenderError::NotFound("notice"));
    }
    let mut tx = db.begin().await?;
    let n = q_exec!(
        tx,
        "update notice set read_at = coalesce(read_at, $1) where notice_id = $2 and user_id = $3",
        to_millis(now),
        notice_id.to_string(),
        user_id.to_string()
    )?;
    if n == 0 {
        return Err(TenderError::NotFound("notice"));
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tender::testkit::Kit;
    use chrono::TimeDelta;

    fn doc(name: &str, bytes: &'static [u8]) -> NewDocument {
        NewDocument {
            filename: name.to_string(),
            content_type: Some("application/pdf".to_string()),
            amendment_id: None,
            bytes: Bytes::from_static(bytes),
        }
    }

    async fn draft(kit: &Kit, days: i64) -> Tender {
        let code = kit.code("T");
        let t = create_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&code, days),
        )
        .await
        .expect("draft");
        upload_document(
            &kit.state,
            kit.now(),
            &kit.agent,
            &code,
            doc("招标文件.pdf", b"%PDF-1.7 tender"),
        )
        .await
        .expect("upload");
        t
    }

    async fn published(kit: &Kit, days: i64) -> Tender {
        let t = draft(kit, days).await;
        publish(kit.db(), kit.books(), kit.now(), &kit.agent, &t.code)
            .await
            .expect("publish")
    }

    async fn events(kit: &Kit, tender_id: &str, action: &str) -> Vec<Value> {
        let mut tx = kit.db().read().await.expect("read");
        audit::tender_events(&mut tx, tender_id)
            .await
            .expect("events")
            .into_iter()
            .filter_map(|e| {
                e.entry
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok())
            })
            .filter(|v| v["action"] == action)
            .collect()
    }

    async fn job_row(kit: &Kit, tender_id: &str) -> Option<(String, i64)> {
        let mut tx = kit.db().read().await.expect("read");
        q_opt!(
            tx,
            (String, i64),
            "select state, run_at from job where tender_id = $1 and kind = 'deadline'",
            tender_id.to_string()
        )
        .expect("job")
    }

    // ---- pure rules -------------------------------------------------------------------

    #[test]
    fn codes_times_money_and_names() {
        assert!(check_code("ZB-2025-001").is_ok());
        for bad in ["ab", "有中文-001", "a b c", "x/../y", &"A".repeat(41)] {
            assert!(
                matches!(check_code(bad), Err(TenderError::BadCode)),
                "{bad}"
            );
        }
        assert!(parse_time("t", "2025-03-01T09:00:00+08:00").is_ok());
        for bad in [
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-03-01",
            "1900-01-01T00:00:00Z",
            "",
        ] {
            assert!(
                matches!(parse_time("t", bad), Err(TenderError::BadTime { .. })),
                "{bad}"
            );
        }
        assert!(check_money("m", 0).is_ok());
        assert!(check_money("m", MAX_MONEY_FEN).is_ok());
        assert!(check_money("m", -1).is_err());
        assert!(check_money("m", MAX_MONEY_FEN + 1).is_err());
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\docs\\招标文件.pdf"), "招标文件.pdf");
        assert_eq!(sanitize_filename("..."), "document");
        assert_eq!(sanitize_filename("a\u{202E}fdp.exe"), "afdp.exe");
        assert_eq!(sanitize_filename("x\n<y>.pdf"), "xy.pdf");
        let long = format!("{}.pdf", "长".repeat(300));
        let s = sanitize_filename(&long);
        assert_eq!(s.chars().count(), 120);
        assert!(s.ends_with(".pdf"));
        assert_eq!(
            clean_content_type(Some("Application/PDF")),
            "application/pdf"
        );
        assert_eq!(
            clean_content_type(Some("nonsense")),
            "application/octet-stream"
        );
        assert_eq!(clean_content_type(None), "application/octet-stream");
    }

    #[test]
    fn violations_map_to_422_with_every_rule_and_article() {
        let v = |rule: &'static str, article: &str| RuleViolation {
            rule,
            article: article.to_string(),
            message_zh: format!("{rule} zh"),
            message_en: format!("{rule} en"),
        };
        let one: ApiError =
            TenderError::Rulebook(vec![v("BID_DEADLINE_TOO_SOON", "招标投标法 第24条")]).into();
        assert_eq!(one.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(one.code, "BID_DEADLINE_TOO_SOON");
        let two: ApiError = TenderError::Rulebook(vec![v("A", "x"), v("B", "y")]).into();
        assert_eq!(two.code, "RULEBOOK_VIOLATION");
        let details = two.details.unwrap_or_default();
        assert_eq!(details[1]["code"], "B");
        assert_eq!(details[1]["article"], "y");
        assert_eq!(details[0]["message_en"], "A en");
        let e: ApiError = TenderError::DocumentTooLarge { limit: 1024 }.into();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(e.message.contains("1024"), "{}", e.message);
        let e: ApiError = TenderError::WrongState {
            action: "publish",
            action_zh: "发布",
            state: TenderState::Cancelled,
        }
        .into();
        assert_eq!(e.status, StatusCode::CONFLICT);
    }

    #[test]
    fn unknown_and_garbage_fields_are_refused() {
        let kit_input = serde_json::json!({
            "code": "ZB-1", "title": "t", "category": "construction", "procedure": "open",
            "tenderee_org_id": "x", "estimated_price_fen": 1, "documents_available_at": "x",
            "clarification_cutoff_at": "x", "bid_deadline_at": "x", "opening_place": "x",
            "evaluation_method": "comprehensive", "colour": "red"
        });
        let err = serde_json::from_value::<TenderInput>(kit_input).expect_err("unknown field");
        assert!(err.to_string().contains("colour"), "{err}");
        let bad_method = serde_json::json!({
            "code": "ZB-1", "title": "t", "category": "construction", "procedure": "open",
            "tenderee_org_id": "x", "estimated_price_fen": 1, "documents_available_at": "x",
            "clarification_cutoff_at": "x", "bid_deadline_at": "x", "opening_place": "x",
            "evaluation_method": "bribery"
        });
        assert!(serde_json::from_value::<TenderInput>(bad_method).is_err());
    }

    // ---- scenarios, run on SQLite and (with SUNBID_TEST_PG) on PostgreSQL ---------------

    pub(crate) async fn scenario_publish_20_day_rule(kit: &Kit) {
        // 19 days: refused, naming 招标投标法 第24条; nothing changes.
        let t = draft(kit, 19).await;
        let err = publish(kit.db(), kit.books(), kit.now(), &kit.agent, &t.code)
            .await
            .expect_err("19 days");
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(api.code, "BID_DEADLINE_TOO_SOON");
        assert!(api.message.contains("招标投标法 第24条"), "{}", api.message);
        assert!(api.message.contains("20"), "{}", api.message);
        let details = api.details.unwrap_or_default();
        assert_eq!(details[0]["article"], "招标投标法 第24条");
        let after = get_tender(kit.db(), Some(&kit.agent.user), &t.code)
            .await
            .expect("get");
        assert_eq!(after.tender.state, TenderState::Draft);
        assert!(job_row(kit, &t.tender_id).await.is_none());
        assert!(events(kit, &t.tender_id, "tender.publish").await.is_empty());

        // 20 days: accepted; job at the deadline; audit with the documents' digests.
        let t = draft(kit, 20).await;
        let p = publish(kit.db(), kit.books(), kit.now(), &kit.agent, &t.code)
            .await
            .expect("20 days");
        assert_eq!(p.state, TenderState::Published);
        assert_eq!(p.published_at, Some(kit.now()));
        let (state, run_at) = job_row(kit, &t.tender_id).await.expect("job");
        assert_eq!(state, "pending");
        assert_eq!(run_at, to_millis(p.bid_deadline_at));
        let ev = events(kit, &t.tender_id, "tender.publish").await;
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0]["payload"]["documents"][0]["sha256"],
            sha256_hex(b"%PDF-1.7 tender")
        );
        // Publishing twice is a state conflict.
        let again = publish(kit.db(), kit.books(), kit.now(), &kit.agent, &t.code).await;
        assert!(matches!(again, Err(TenderError::WrongState { .. })));

        // No document: refused with its article.
        let code = kit.code("N");
        create_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&code, 25),
        )
        .await
        .expect("draft");
        match publish(kit.db(), kit.books(), kit.now(), &kit.agent, &code).await {
            Err(TenderError::Rulebook(v)) => {
                assert!(
                    v.iter()
                        .any(|x| x.rule == "NO_DOCUMENTS" && x.article.contains("第19条"))
                )
            }
            other => panic!("expected NO_DOCUMENTS, got {other:?}"),
        }
    }

    pub(crate) async fn scenario_bad_input_and_rights(kit: &Kit) {
        let code = kit.code("B");
        let mut input = kit.input(&code, 20);
        input.bid_security_fen = -5;
        let e = create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input).await;
        assert!(
            matches!(
                e,
                Err(TenderError::BadMoney {
                    field: "bid_security_fen",
                    ..
                })
            ),
            "{e:?}"
        );
        let mut input = kit.input(&code, 20);
        input.estimated_price_fen = MAX_MONEY_FEN + 1;
        let api = ApiError::from(
            create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
                .await
                .expect_err("absurd"),
        );
        assert_eq!(
            (api.status, api.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_MONEY")
        );
        let mut input = kit.input(&code, 20);
        input.bid_deadline_at = "next tuesday".into();
        let api = ApiError::from(
            create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
                .await
                .expect_err("garbage time"),
        );
        assert_eq!(api.code, "INVALID_TIME");
        assert!(api.message.contains("bid_deadline_at"));
        let mut input = kit.input(&code, 20);
        input.procedure = "secret".into();
        let api = ApiError::from(
            create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
                .await
                .expect_err("unknown procedure"),
        );
        assert_eq!(
            (api.status, api.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_RULEBOOK")
        );
        let mut input = kit.input(&code, 20);
        input.tenderee_org_id = kit.bidder.user.org_id.clone().unwrap_or_default();
        assert!(matches!(
            create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input).await,
            Err(TenderError::BadTenderee)
        ));
        let mut input = kit.input(&code, 20);
        input.custodians.push(kit.bidder.user.user_id.clone());
        assert!(matches!(
            create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input).await,
            Err(TenderError::BadCustodian(_))
        ));
        // A bidder may not draft.
        let api = ApiError::from(
            create_draft(
                kit.db(),
                kit.books(),
                kit.now(),
                &kit.bidder,
                &kit.input(&code, 20),
            )
            .await
            .expect_err("bidder drafts"),
        );
        assert_eq!(api.status, StatusCode::FORBIDDEN);
        // Nothing of the above was stored.
        assert!(matches!(
            get_tender(kit.db(), Some(&kit.regulator.user), &code).await,
            Err(TenderError::NotFound(_))
        ));

        // The owner drafts; the code is unique.
        let t = create_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&code, 20),
        )
        .await
        .expect("draft");
        let dup = create_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&code, 20),
        )
        .await;
        assert!(matches!(dup, Err(TenderError::CodeTaken(_))), "{dup:?}");
        // Another agent organisation may neither edit, upload, publish nor cancel.
        let other = &kit.other_agent;
        let forbidden = |r: Result<(), TenderError>| {
            assert!(matches!(r, Err(TenderError::Forbidden(_))), "{r:?}")
        };
        forbidden(
            update_draft(
                kit.db(),
                kit.books(),
                kit.now(),
                other,
                &code,
                &kit.input(&code, 20),
            )
            .await
            .map(|_| ()),
        );
        forbidden(
            upload_document(&kit.state, kit.now(), other, &code, doc("x.pdf", b"x"))
                .await
                .map(|_| ()),
        );
        forbidden(
            publish(kit.db(), kit.books(), kit.now(), other, &code)
                .await
                .map(|_| ()),
        );
        forbidden(
            cancel(
                kit.db(),
                kit.now(),
                other,
                &code,
                &CancelInput { reason: "x".into() },
            )
            .await
            .map(|_| ()),
        );
        // Drafts: hidden from the public and bidders, visible to the owner and regulators.
        assert!(matches!(
            get_public(kit.db(), &code).await,
            Err(TenderError::NotFound(_))
        ));
        assert!(
            get_tender(kit.db(), Some(&kit.bidder.user), &code)
                .await
                .is_err()
        );
        assert!(
            get_tender(kit.db(), Some(&kit.regulator.user), &code)
                .await
                .is_ok()
        );
        // The owner edits the draft (and may rename it).
        let mut input = kit.input(&code, 21);
        input.title = "改名后的项目".into();
        let u = update_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &code, &input)
            .await
            .expect("update");
        assert_eq!(u.title, "改名后的项目");
        assert_eq!(u.tender_id, t.tender_id);
        assert_eq!(
            events(kit, &t.tender_id, "tender.draft.update").await.len(),
            1
        );

        // Documents: the size limit (1024 bytes in the kit) with the limit in the message.
        static BIG: [u8; 1025] = [b'a'; 1025];
        let api = ApiError::from(
            upload_document(
                &kit.state,
                kit.now(),
                &kit.agent,
                &code,
                doc("big.pdf", &BIG),
            )
            .await
            .expect_err("too large"),
        );
        assert_eq!(
            (api.status, api.code),
            (StatusCode::PAYLOAD_TOO_LARGE, "DOCUMENT_TOO_LARGE")
        );
        assert!(api.message.contains("1024"));
        let d = upload_document(
            &kit.state,
            kit.now(),
            &kit.agent,
            &code,
            doc("../a/招标文件.pdf", b"ok"),
        )
        .await
        .expect("upload");
        assert_eq!(d.filename, "招标文件.pdf");
        assert_eq!(d.sha256, sha256_hex(b"ok"));
        let ev = events(kit, &t.tender_id, "tender.document.upload").await;
        assert_eq!(ev[0]["payload"]["sha256"], sha256_hex(b"ok"));
        assert_eq!(ev[0]["payload"]["size_bytes"], 2);

        // Cancel needs a reason; nothing changes without one.
        let api = ApiError::from(
            cancel(
                kit.db(),
                kit.now(),
                &kit.agent,
                &code,
                &CancelInput {
                    reason: "  ".into(),
                },
            )
            .await
            .expect_err("no reason"),
        );
        assert_eq!(
            (api.status, api.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "REASON_REQUIRED")
        );
        let still = get_tender(kit.db(), Some(&kit.agent.user), &code)
            .await
            .expect("get");
        assert_eq!(still.tender.state, TenderState::Draft);
        // A draft cancelled before publication stays private.
        cancel(
            kit.db(),
            kit.now(),
            &kit.agent,
            &code,
            &CancelInput {
                reason: "立项取消".into(),
            },
        )
        .await
        .expect("cancel draft");
        assert!(matches!(
            get_public(kit.db(), &code).await,
            Err(TenderError::NotFound(_))
        ));
        let listed = list_public(kit.db(), None, MAX_PAGE, 0)
            .await
            .expect("list");
        assert!(listed.iter().all(|s| s.code != code));
        assert_eq!(events(kit, &t.tender_id, "tender.cancel").await.len(), 1);
    }

    pub(crate) async fn scenario_amendment_15_day_rule(kit: &Kit) {
        let t = published(kit, 30).await;
        let deadline = t.bid_deadline_at;
        // A bidder obtains the documents (so amendments must reach them).
        kit.clock.set(kit.t0 + TimeDelta::hours(2));
        let detail = get_public(kit.db(), &t.code).await.expect("public");
        let document_id = detail.documents[0].document_id.clone();
        let (d, bytes) =
            download_document(&kit.state, &kit.ctx(&kit.bidder), &t.code, &document_id)
                .await
                .expect("download");
        assert_eq!(bytes.as_ref(), b"%PDF-1.7 tender");
        assert_eq!(d.sha256, sha256_hex(&bytes));
        // Uploading to a published tender needs an amendment.
        let e = upload_document(
            &kit.state,
            kit.now(),
            &kit.agent,
            &t.code,
            doc("v2.pdf", b"v2"),
        )
        .await;
        assert!(matches!(e, Err(TenderError::AmendmentRequired)), "{e:?}");

        // 16 days before the deadline: the deadline stays.
        kit.clock.set(deadline - TimeDelta::days(16));
        let a = amend(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &t.code,
            &AmendmentInput {
                summary: "更正工期".into(),
                body: "工期改为300日历天。".into(),
            },
        )
        .await
        .expect("amend at 16 days");
        assert_eq!(a.new_deadline, deadline);
        assert_eq!(a.old_deadline, deadline);

        // 14 days before: moves to now + 15 days (招标投标法 第23条), with the job.
        kit.clock.set(deadline - TimeDelta::days(14));
        let a = amend(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &t.code,
            &AmendmentInput {
                summary: "增加技术要求".into(),
                body: "见附件。".into(),
            },
        )
        .await
        .expect("amend at 14 days");
        let moved = kit.now() + TimeDelta::days(15);
        assert_eq!(a.old_deadline, deadline);
        assert_eq!(a.new_deadline, moved);
        let after = get_public(kit.db(), &t.code).await.expect("public");
        assert_eq!(after.tender.bid_deadline_at, moved);
        assert_eq!(
            after.tender.clarification_cutoff_at,
            t.clarification_cutoff_at + TimeDelta::days(1)
        );
        assert_eq!(after.amendments.len(), 2);
        assert_eq!(
            job_row(kit, &t.tender_id).await.map(|j| j.1),
            Some(to_millis(moved))
        );
        let ev = events(kit, &t.tender_id, "tender.amend").await;
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1]["payload"]["old_deadline"], rfc3339(deadline));
        assert_eq!(ev[1]["payload"]["new_deadline"], rfc3339(moved));
        // The downloader got a notice for each amendment; a bidder who did not, none.
        let notices = list_notices(kit.db(), &kit.bidder.user.user_id)
            .await
            .expect("notices");
        assert_eq!(notices.iter().filter(|n| n.kind == "amendment").count(), 2);
        assert!(notices[0].body.contains("已顺延"), "{}", notices[0].body);
        assert_eq!(notices[0].tender_code.as_deref(), Some(t.code.as_str()));
        assert!(
            list_notices(kit.db(), &kit.bidder2.user.user_id)
                .await
                .expect("n")
                .is_empty()
        );
        mark_notice_read(
            kit.db(),
            kit.now(),
            &kit.bidder.user.user_id,
            &notices[0].notice_id,
        )
        .await
        .expect("read");
        assert!(
            mark_notice_read(
                kit.db(),
                kit.now(),
                &kit.bidder2.user.user_id,
                &notices[0].notice_id
            )
            .await
            .is_err()
        );
        // A document for the amendment, one day later: 15 days count again from the upload.
        kit.clock.set(kit.now() + TimeDelta::days(1));
        let d2 = upload_document(
            &kit.state,
            kit.now(),
            &kit.agent,
            &t.code,
            NewDocument {
                amendment_id: Some(a.amendment_id.clone()),
                ..doc("补充技术要求.pdf", b"addendum")
            },
        )
        .await
        .expect("amendment document");
        assert_eq!(d2.amendment_id.as_deref(), Some(a.amendment_id.as_str()));
        let after = get_public(kit.db(), &t.code).await.expect("public");
        assert_eq!(
            after.tender.bid_deadline_at,
            kit.now() + TimeDelta::days(15)
        );
        // Download events are pseudonymous and carry no IP.
        let ev = events(kit, &t.tender_id, "tender.document.download").await;
        assert_eq!(ev.len(), 1);
        let actor = ev[0]["actor"].as_str().unwrap_or_default();
        assert!(actor.starts_with("anon:"), "{actor}");
        assert!(!ev[0].to_string().contains(&kit.bidder.user.user_id));
        assert!(ev[0]["client_ip"].is_null());
        // After the deadline no amendment.
        kit.clock.set(after.tender.bid_deadline_at);
        let e = amend(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &t.code,
            &AmendmentInput {
                summary: "晚了".into(),
                body: "晚了".into(),
            },
        )
        .await;
        assert!(matches!(e, Err(TenderError::DeadlinePassed)), "{e:?}");
        kit.clock.set(kit.t0);
    }

    pub(crate) async fn scenario_questions(kit: &Kit) {
        let t = published(kit, 20).await;
        // Agents do not ask; pending companies cannot ask.
        let q = QuestionInput {
            body: "第3.2条的工期是否含冬休期？".into(),
        };
        assert!(matches!(
            ask_question(kit.db(), kit.now(), &kit.agent, &t.code, &q).await,
            Err(TenderError::Forbidden(_))
        ));
        assert!(matches!(
            ask_question(kit.db(), kit.now(), &kit.pending_bidder, &t.code, &q).await,
            Err(TenderError::CompanyNotActive)
        ));
        let asked = ask_question(kit.db(), kit.now(), &kit.bidder, &t.code, &q)
            .await
            .expect("ask");
        // The public and other bidders do not see unanswered questions or askers.
        assert!(
            get_public(kit.db(), &t.code)
                .await
                .expect("p")
                .questions
                .is_empty()
        );
        let other = list_questions(kit.db(), Some(&kit.bidder2.user), &t.code)
            .await
            .expect("q");
        assert!(other.is_empty());
        let mine = list_questions(kit.db(), Some(&kit.bidder.user), &t.code)
            .await
            .expect("q");
        assert!(mine[0].mine && mine[0].asked_by.is_none());
        let agent_view = list_questions(kit.db(), Some(&kit.agent.user), &t.code)
            .await
            .expect("q");
        assert_eq!(agent_view.len(), 1);
        assert!(agent_view[0].asked_by.is_none());
        let reg = list_questions(kit.db(), Some(&kit.regulator.user), &t.code)
            .await
            .expect("q");
        assert_eq!(
            reg[0].asked_by.as_deref(),
            Some(kit.bidder.user.user_id.as_str())
        );
        // The audit event does not name the asker.
        let ev = events(kit, &t.tender_id, "tender.question.ask").await;
        assert_eq!(ev.len(), 1);
        assert!(
            !ev[0].to_string().contains(&kit.bidder.user.user_id),
            "{}",
            ev[0]
        );
        assert!(
            ev[0]["actor"]
                .as_str()
                .unwrap_or_default()
                .starts_with("anon:")
        );
        // Only the owning agent answers; the answer is public, once.
        let ans = AnswerInput {
            answer: "不含冬休期。".into(),
        };
        let e = answer_question(
            kit.db(),
            kit.now(),
            &kit.bidder,
            &t.code,
            &asked.question_id,
            &ans,
        )
        .await;
        assert!(matches!(e, Err(TenderError::Forbidden(_))));
        answer_question(
            kit.db(),
            kit.now(),
            &kit.agent,
            &t.code,
            &asked.question_id,
            &ans,
        )
        .await
        .expect("answer");
        let e = answer_question(
            kit.db(),
            kit.now(),
            &kit.agent,
            &t.code,
            &asked.question_id,
            &ans,
        )
        .await;
        assert!(matches!(e, Err(TenderError::AlreadyAnswered)));
        let public = get_public(kit.db(), &t.code).await.expect("p");
        assert_eq!(public.questions[0].answer.as_deref(), Some("不含冬休期。"));
        let json = serde_json::to_string(&public).unwrap_or_default();
        assert!(!json.contains(&kit.bidder.user.user_id));
        assert!(!json.contains("pseudonym"));
        assert_eq!(
            events(kit, &t.tender_id, "tender.question.answer")
                .await
                .len(),
            1
        );
        // After the cut-off: refused with 409.
        kit.clock.set(t.clarification_cutoff_at);
        let api = ApiError::from(
            ask_question(kit.db(), kit.now(), &kit.bidder, &t.code, &q)
                .await
                .expect_err("late"),
        );
        assert_eq!(
            (api.status, api.code),
            (StatusCode::CONFLICT, "CLARIFICATION_CLOSED")
        );
        kit.clock.set(kit.t0);
    }

    pub(crate) async fn scenario_cancel_and_downloads(kit: &Kit) {
        let t = published(kit, 20).await;
        let detail = get_public(kit.db(), &t.code).await.expect("public");
        let document_id = detail.documents[0].document_id.clone();
        // Before the documents are available, nobody downloads.
        let e = download_document(&kit.state, &kit.ctx(&kit.bidder), &t.code, &document_id).await;
        assert!(matches!(e, Err(TenderError::NotDownloadable(_))), "{e:?}");
        kit.clock.set(kit.t0 + TimeDelta::hours(2));
        // Pending companies and non-bidders are refused; the owner may read without a record.
        let e = download_document(
            &kit.state,
            &kit.ctx(&kit.pending_bidder),
            &t.code,
            &document_id,
        )
        .await;
        assert!(matches!(e, Err(TenderError::CompanyNotActive)), "{e:?}");
        let e = download_document(
            &kit.state,
            &kit.ctx(&kit.other_agent),
            &t.code,
            &document_id,
        )
        .await;
        assert!(matches!(e, Err(TenderError::Forbidden(_))), "{e:?}");
        download_document(&kit.state, &kit.ctx(&kit.agent), &t.code, &document_id)
            .await
            .expect("owner");
        download_document(&kit.state, &kit.ctx(&kit.bidder2), &t.code, &document_id)
            .await
            .expect("bidder");
        let mut tx = kit.db().read().await.expect("read");
        let rows = q_all!(
            tx,
            (String, Option<String>, Option<String>),
            "select user_id, client_ip, user_agent from document_download where tender_id = $1",
            t.tender_id.clone()
        )
        .expect("rows");
        drop(tx);
        assert_eq!(
            rows,
            vec![(
                kit.bidder2.user.user_id.clone(),
                Some("192.0.2.7".into()),
                Some("testkit/1".into())
            )]
        );

        let c = cancel(
            kit.db(),
            kit.now(),
            &kit.agent,
            &t.code,
            &CancelInput {
                reason: "项目资金未落实".into(),
            },
        )
        .await
        .expect("cancel");
        assert_eq!(c.state, TenderState::Cancelled);
        assert_eq!(c.cancel_reason.as_deref(), Some("项目资金未落实"));
        assert_eq!(
            job_row(kit, &t.tender_id).await.map(|j| j.0).as_deref(),
            Some("cancelled")
        );
        let n = list_notices(kit.db(), &kit.bidder2.user.user_id)
            .await
            .expect("n");
        assert!(n.iter().any(|x| x.kind == "cancel"));
        // Cancelled: still public, no longer downloadable, cannot be cancelled again.
        assert_eq!(
            get_public(kit.db(), &t.code).await.expect("p").tender.state,
            TenderState::Cancelled
        );
        let e = download_document(&kit.state, &kit.ctx(&kit.bidder), &t.code, &document_id).await;
        assert!(matches!(e, Err(TenderError::NotDownloadable(_))), "{e:?}");
        let e = cancel(
            kit.db(),
            kit.now(),
            &kit.agent,
            &t.code,
            &CancelInput {
                reason: "again".into(),
            },
        )
        .await;
        assert!(matches!(e, Err(TenderError::WrongState { .. })), "{e:?}");
        assert_eq!(events(kit, &t.tender_id, "tender.cancel").await.len(), 1);
        kit.clock.set(kit.t0);
    }

    pub(crate) async fn scenario_public_list(kit: &Kit) {
        let word = format!("检索词{}", &new_id()[30..]);
        let mut input = kit.input(&kit.code("L"), 20);
        input.title = format!("{word}道路改造工程");
        let draft_only = create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
            .await
            .expect("draft");
        let found = list_public(kit.db(), Some(&word), 10, 0)
            .await
            .expect("list");
        assert!(found.is_empty(), "drafts are not listed");
        upload_document(
            &kit.state,
            kit.now(),
            &kit.agent,
            &draft_only.code,
            doc("a.pdf", b"a"),
        )
        .await
        .expect("doc");
        publish(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &draft_only.code,
        )
        .await
        .expect("publish");
        let found = list_public(kit.db(), Some(&word), 10, 0)
            .await
            .expect("list");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, draft_only.code);
        // Substring in the middle of a Chinese title, and LIKE wildcards are literal.
        let middle: String = word.chars().skip(1).collect();
        assert_eq!(
            list_public(kit.db(), Some(&middle), 10, 0)
                .await
                .expect("l")
                .len(),
            1
        );
        assert!(
            list_public(kit.db(), Some("%"), 10, 0)
                .await
                .expect("l")
                .iter()
                .all(|s| s.title.contains('%'))
        );
        assert_eq!(count_public(kit.db(), Some(&word)).await.expect("count"), 1);
        let all = list_public(kit.db(), None, 500, 0).await.expect("all");
        assert!(all.len() <= MAX_PAGE as usize);
        let mine = list_mine(kit.db(), &kit.agent.user).await.expect("mine");
        assert!(mine.iter().any(|s| s.code == draft_only.code));
    }

    #[tokio::test]
    async fn publish_20_day_rule_sqlite() {
        scenario_publish_20_day_rule(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn bad_input_and_rights_sqlite() {
        scenario_bad_input_and_rights(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn amendment_15_day_rule_sqlite() {
        scenario_amendment_15_day_rule(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn questions_sqlite() {
        scenario_questions(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn cancel_and_downloads_sqlite() {
        scenario_cancel_and_downloads(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn public_list_sqlite() {
        scenario_public_list(&Kit::sqlite().await).await;
    }

    /// The same scenarios on PostgreSQL when `SUNBID_TEST_PG` names an (empty) database.
    #[tokio::test]
    async fn all_scenarios_postgres() {
        let Some(kit) = Kit::postgres().await else {
            eprintln!("SUNBID_TEST_PG not set: skipping the PostgreSQL tender tests");
            return;
        };
        scenario_publish_20_day_rule(&kit).await;
        scenario_bad_input_and_rights(&kit).await;
        scenario_amendment_15_day_rule(&kit).await;
        scenario_questions(&kit).await;
        scenario_cancel_and_downloads(&kit).await;
        scenario_public_list(&kit).await;
    }
}
