//! The tender checks that need no database: codes, texts, times, money, file names, a
//! draft's fields, and the state and time windows of uploads and downloads.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::super::model::{EvaluationMethod, Tender, TenderInput, TenderState};
use super::super::rulebook::{MAX_MONEY_FEN, RuleViolation, Rulebooks};
use super::TenderError;
use crate::error::Common;
use crate::ids::is_id;
use crate::text::{self, Lines};

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

/// A draft's fields after validation.
#[derive(Debug, Clone)]
pub(super) struct Validated {
    pub(super) code: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) category: String,
    pub(super) procedure: String,
    pub(super) rulebook_id: String,
    pub(super) tenderee_org_id: String,
    pub(super) estimated_price_fen: i64,
    pub(super) ceiling_price_fen: Option<i64>,
    pub(super) bid_security_fen: i64,
    pub(super) documents_available_at: DateTime<Utc>,
    pub(super) documents_available_until: Option<DateTime<Utc>>,
    pub(super) clarification_cutoff_at: DateTime<Utc>,
    pub(super) bid_deadline_at: DateTime<Utc>,
    pub(super) opening_place: String,
    pub(super) evaluation_method: EvaluationMethod,
    pub(super) criteria_json: String,
    pub(super) expert_quotas_json: String,
    pub(super) custodians: Vec<String>,
}

/// Checks everything a draft must satisfy that needs no database: formats, lengths, money,
/// and that a rulebook exists. The timeline itself is checked at publication, where the
/// rulebook reports every broken rule at once.
pub(super) fn validate(input: &TenderInput, books: &Rulebooks) -> Result<Validated, TenderError> {
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
        rulebook_id: book.stamp(),
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
pub(super) fn extra_publication_rules(
    tender: &Tender,
    document_count: usize,
) -> Vec<RuleViolation> {
    let mut out = Vec::new();
    if document_count == 0 {
        out.push(RuleViolation {
            rule: "NO_DOCUMENTS".into(),
            article: "招标投标法 第19条".to_string(),
            message_zh: "发布前须上传至少一份招标文件（招标投标法 第19条）".to_string(),
            message_en: "Upload at least one tender document before publishing (招标投标法 第19条)"
                .to_string(),
        });
    }
    if tender.evaluation_method == EvaluationMethod::Comprehensive && tender.criteria.is_empty() {
        out.push(RuleViolation {
            rule: "CRITERIA_REQUIRED".into(),
            article: "平台规则".to_string(),
            message_zh: "综合评估法须列明评分项及权重".to_string(),
            message_en: "Comprehensive scoring needs criteria with weights".to_string(),
        });
    }
    out
}

pub(super) fn check_upload_state(
    tender: &Tender,
    amendment_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), TenderError> {
    match (tender.state, amendment_id) {
        (TenderState::Draft, None) => Ok(()),
        (TenderState::Draft, Some(_)) => Err(Common::NotFound("amendment").into()),
        (TenderState::Published, None) => Err(TenderError::AmendmentRequired),
        (TenderState::Published, Some(id)) => {
            if !is_id(id) {
                Err(Common::NotFound("amendment").into())
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

/// Whether a bidder may obtain the documents now: published (or closed, to re-read them),
/// inside the availability window — or they already obtained them before it ended.
pub(super) fn check_download_window(
    tender: &Tender,
    now: DateTime<Utc>,
    downloaded_before: bool,
) -> Result<(), TenderError> {
    match tender.state {
        TenderState::Published | TenderState::Closed => {}
        TenderState::Draft => return Err(Common::NotFound("tender").into()),
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
