//! Rulebooks: the statutory numbers of one tender category and procedure, and the pure
//! checks built on them.
//!
//! A [`Rulebook`] is loaded from TOML (`rulebooks/*.toml`, embedded with `include_str!`, and
//! optionally overridden from a directory). Every number carries the article it comes from,
//! so that a refusal can say which rule and which article it applies. The checks take the
//! current time as an argument and do no I/O, so the 20-day rule is tested with a fixed
//! clock.
//!
//! Counting days: a "day" is a whole 24-hour period between two instants, so a bid deadline
//! exactly 20 × 24 h after the documents become available satisfies a 20-day rule, and one
//! second less does not. This matches the civil-law convention that the first day is not
//! counted (民法典 第201条) when both instants fall at the same time of day. A rule marked
//! `unit = "working_days"` counts the whole days that end on a Monday–Friday in China time
//! (UTC+8); it knows neither public holidays nor make-up working days (调休), so around
//! holidays an operator must check such periods by hand.
//!
//! Decisions where the law is silent (each also noted at the check):
//! - documents may not become available more than [`PUBLICATION_GRACE`] before "now": a
//!   period counted from a past instant would shorten the bidders' statutory time;
//! - the clarification (question/objection) cut-off must lie after the documents are
//!   available and before the deadline, and, where the rulebook has an objection cut-off
//!   (招标投标法实施条例 第22条: objections up to 10 days before the deadline), not earlier
//!   than that mark, because an earlier cut-off would take away part of the bidders'
//!   statutory objection period;
//! - the document sale period may not end after the bid deadline;
//! - money is positive (bid security may be 0 = none) and at most [`MAX_MONEY_FEN`];
//! - whether the ceiling price may exceed the estimated price is a rule of its own
//!   (construction: allowed; government procurement: not, 财政部令第87号 第12条);
//! - criteria weights, when given, are each non-zero and sum to 100.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, FixedOffset, Offset, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// How far in the past the documents' availability time may be when a tender is published:
/// clock skew and the time between filling in the form and pressing "publish".
pub const PUBLICATION_GRACE: TimeDelta = TimeDelta::minutes(10);

/// Largest amount of money accepted anywhere in tender terms: 10^15 fen (10 trillion yuan).
/// Far above any real project, low enough that products in `i128` never overflow.
pub const MAX_MONEY_FEN: i64 = 1_000_000_000_000_000;

/// Largest day count a rulebook may contain (about ten years); keeps date arithmetic in range.
pub const MAX_RULE_DAYS: u32 = 3660;

/// Largest rulebook file accepted by [`Rulebooks::load_dir`].
pub const MAX_RULEBOOK_BYTES: u64 = 1024 * 1024;

/// Article text used for checks that are this platform's policy rather than law.
const PLATFORM_RULE: &str = "平台规则";

const SECONDS_PER_DAY: i64 = 86_400;

/// The unit in which a [`DayRule`] counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayUnit {
    /// Calendar days: whole 24-hour periods.
    #[default]
    Days,
    /// Whole 24-hour periods that end on a Monday–Friday in China time (no holiday calendar).
    WorkingDays,
}

/// A period in days with the article that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayRule {
    /// Number of days (or working days).
    pub value: u32,
    /// The article the number comes from, e.g. "招标投标法 第24条".
    pub article: String,
    /// Calendar days (default) or working days.
    #[serde(default)]
    pub unit: DayUnit,
    /// Free-text remark shown to operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A count (bids, members, basis points) with the article that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRule {
    /// The number.
    pub value: u32,
    /// The article the number comes from.
    pub article: String,
    /// Free-text remark shown to operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A yes/no rule with the article that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRule {
    /// Whether the rule applies.
    pub value: bool,
    /// The article it comes from.
    pub article: String,
    /// Free-text remark shown to operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A minimum fraction (e.g. experts ≥ 2/3 of the committee) with its article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FractionRule {
    /// Numerator of the minimum fraction.
    pub numerator: u32,
    /// Denominator of the minimum fraction (non-zero).
    pub denominator: u32,
    /// The article it comes from.
    pub article: String,
    /// Free-text remark shown to operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A k-of-n threshold with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumRule {
    /// Shares needed to open.
    pub k: u32,
    /// Shares issued (minimum number of custodians).
    pub n: u32,
    /// The article or policy it comes from.
    pub article: String,
    /// Free-text remark shown to operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The numeric rules of one rulebook; each field names one statutory or platform rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Minimum time from the documents' first availability to the bid deadline (法 第24条).
    pub min_days_documents_to_deadline: DayRule,
    /// An amendment affecting bid preparation must precede the deadline by this much (法 第23条).
    pub amendment_min_days_before_deadline: DayRule,
    /// Minimum sale/availability period of the documents (条例 第16条).
    pub min_days_documents_available: DayRule,
    /// Objections to the documents may be raised until this long before the deadline
    /// (条例 第22条); absent where the law has no such cut-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objection_cutoff_days_before_deadline: Option<DayRule>,
    /// Time to answer an objection to the documents (条例 第22条).
    pub objection_answer_days: DayRule,
    /// Minimum number of valid bids to open and evaluate (法 第28条).
    pub min_valid_bids: CountRule,
    /// Minimum evaluation committee size (法 第37条).
    pub committee_min_members: CountRule,
    /// Whether the committee size must be odd (法 第37条).
    pub committee_odd: FlagRule,
    /// Minimum fraction of experts on the committee (法 第37条).
    pub committee_experts_min_fraction: FractionRule,
    /// Maximum bid security in basis points of the estimated price (条例 第26条: 200 = 2%).
    pub bid_security_max_bp: CountRule,
    /// Whether the ceiling price may exceed the estimated price.
    pub ceiling_may_exceed_estimate: FlagRule,
    /// Candidate publicity must start within this time of the report (条例 第54条); absent
    /// where the procedure has no candidate publicity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_publicity_within_days: Option<DayRule>,
    /// Minimum duration of the candidate publicity (条例 第54条).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_publicity_min_days: Option<DayRule>,
    /// Time to answer an objection to the result (条例 第54条).
    pub result_objection_answer_days: DayRule,
    /// The contract must be signed within this time of the award notice (法 第46条).
    pub contract_within_days: DayRule,
    /// Opening-key custodians: k of n (platform rule).
    pub custodian_quorum: QuorumRule,
}

/// The rules for one tender category and procedure, loaded from TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rulebook {
    /// Stable identifier, e.g. "construction-open".
    pub id: String,
    /// Tender category, e.g. "construction" or "procurement".
    pub category: String,
    /// Procedure, e.g. "open".
    pub procedure: String,
    /// Chinese name shown in the UI.
    pub name_zh: String,
    /// English name shown in the UI.
    pub name_en: String,
    /// The numeric rules.
    pub rules: Rules,
}

/// The terms of a tender that publication checks against the rulebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenderTerms {
    /// When the tender documents are first available to bidders (招标文件开始发出之时).
    pub documents_available_at: DateTime<Utc>,
    /// End of the document sale period; `None` means until the bid deadline.
    pub documents_available_until: Option<DateTime<Utc>>,
    /// Last moment for bidders' questions and objections on the platform.
    pub clarification_cutoff_at: DateTime<Utc>,
    /// Bid deadline, which is also the opening time (法 第34条).
    pub bid_deadline_at: DateTime<Utc>,
    /// Estimated price (估算价 / 预算金额) in fen.
    pub estimated_price_fen: i64,
    /// Published ceiling price (最高投标限价) in fen, if any.
    pub ceiling_price_fen: Option<i64>,
    /// Bid security (投标保证金) required, in fen; 0 when none is required.
    pub bid_security_fen: i64,
    /// Number of opening-key custodians appointed.
    pub custodian_count: u32,
    /// Weights of the scoring criteria in percent; empty for lowest-price evaluation.
    pub criteria_weights: Vec<u32>,
}

/// One broken rule, with a stable code and a message in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleViolation {
    /// Stable code, e.g. "BID_DEADLINE_TOO_SOON".
    pub rule: &'static str,
    /// The article applied, or "平台规则" for platform policy.
    pub article: String,
    /// Message in Chinese naming the rule, its number and the actual value.
    pub message_zh: String,
    /// Message in English naming the rule, its number and the actual value.
    pub message_en: String,
}

impl std::fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rule, self.message_en)
    }
}

/// Why a rulebook could not be loaded; every variant names the file or source.
#[derive(Debug, thiserror::Error)]
pub enum RulebookError {
    /// A file or directory could not be read.
    #[error("cannot read rulebook {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A rulebook file is larger than [`MAX_RULEBOOK_BYTES`].
    #[error("rulebook {path} is {len} bytes, more than the {MAX_RULEBOOK_BYTES} allowed")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        len: u64,
    },
    /// The TOML is malformed, has an unknown field or misses a required one.
    #[error("rulebook {name} is not valid TOML for a rulebook: {source}")]
    Parse {
        /// File name or other source label.
        name: String,
        /// The parser's error, with line and column.
        source: toml::de::Error,
    },
    /// The TOML parses but a value is out of range or inconsistent.
    #[error("rulebook {name} is invalid: {reason}")]
    Invalid {
        /// File name or other source label.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two rulebooks in one directory claim the same category and procedure, or the same id.
    #[error("rulebooks {first} and {second} both define {what}")]
    Duplicate {
        /// What is defined twice, e.g. "construction/open".
        what: String,
        /// The first source.
        first: String,
        /// The second source.
        second: String,
    },
}

impl RulebookError {
    /// Stable machine-readable code for logs and the operator UI.
    pub fn code(&self) -> &'static str {
        match self {
            RulebookError::Io { .. } => "RULEBOOK_IO",
            RulebookError::TooLarge { .. } => "RULEBOOK_TOO_LARGE",
            RulebookError::Parse { .. } => "RULEBOOK_PARSE",
            RulebookError::Invalid { .. } => "RULEBOOK_INVALID",
            RulebookError::Duplicate { .. } => "RULEBOOK_DUPLICATE",
        }
    }
}

/// China Standard Time; China has no daylight saving, so a fixed offset is exact.
fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// `at + days`, saturating at the ends of chrono's range instead of panicking.
fn shift_days(at: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    TimeDelta::try_days(days)
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(if days >= 0 {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::<Utc>::MIN_UTC
        })
}

/// Whole 24-hour periods from `from` to `to`, rounded down (negative when `to` is earlier).
fn whole_days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    to.signed_duration_since(from)
        .num_seconds()
        .div_euclid(SECONDS_PER_DAY)
}

/// Day of the week, 0 = Monday … 6 = Sunday, of an instant in China time.
fn weekday_china(at: DateTime<Utc>) -> i64 {
    i64::from(at.with_timezone(&china()).weekday().num_days_from_monday())
}

/// Smallest number of whole days whose steps contain `value` weekdays, where `weekday(j)`
/// gives the weekday (0 = Monday) reached by step j = 1, 2, ….
fn days_for_working_days(value: u32, weekday: impl Fn(i64) -> i64) -> i64 {
    if value == 0 {
        return 0;
    }
    // Any 7 consecutive days hold exactly 5 weekdays, so skip whole weeks and walk the
    // remaining 1..=5 weekdays, which takes at most 7 steps.
    let weeks = (value - 1) / 5;
    let mut need = value - weeks * 5;
    let mut days = i64::from(weeks) * 7;
    while need > 0 {
        days += 1;
        if weekday(days) < 5 {
            need -= 1;
        }
    }
    days
}

impl DayRule {
    /// Days (or working days) elapsed from `from` to `to`, counted as the module describes.
    pub fn elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let days = whole_days(from, to);
        match self.unit {
            DayUnit::Days => days,
            DayUnit::WorkingDays if days <= 0 => days,
            DayUnit::WorkingDays => {
                let start = weekday_china(from);
                let rest = days % 7;
                let partial = (1..=rest).filter(|j| (start + j).rem_euclid(7) < 5).count();
                days / 7 * 5 + i64::try_from(partial).unwrap_or(0)
            }
        }
    }

    /// Whether at least `value` days (or working days) pass from `from` to `to`.
    pub fn is_met(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        to >= self.earliest_from(from)
    }

    /// The earliest instant at which the rule is met, counting from `from`.
    pub fn earliest_from(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        let days = match self.unit {
            DayUnit::Days => i64::from(self.value),
            DayUnit::WorkingDays => {
                let start = weekday_china(from);
                days_for_working_days(self.value, |j| (start + j).rem_euclid(7))
            }
        };
        shift_days(from, days)
    }

    /// The latest instant from which the rule is met by `to` (its mirror of `earliest_from`).
    pub fn latest_before(&self, to: DateTime<Utc>) -> DateTime<Utc> {
        let days = match self.unit {
            DayUnit::Days => i64::from(self.value),
            DayUnit::WorkingDays => {
                // Counting backwards, step j ends the day that starts j − 1 days before `to`.
                let end = weekday_china(to);
                days_for_working_days(self.value, |j| (end - (j - 1)).rem_euclid(7))
            }
        };
        shift_days(to, -days)
    }

    /// The rule's own length, e.g. "20日" or "5个工作日".
    pub fn describe_zh(&self) -> String {
        days_zh(i64::from(self.value), self.unit)
    }

    /// The rule's own length, e.g. "20 days" or "5 working days".
    pub fn describe_en(&self) -> String {
        days_en(i64::from(self.value), self.unit)
    }
}

fn days_zh(n: i64, unit: DayUnit) -> String {
    match unit {
        DayUnit::Days => format!("{n}日"),
        DayUnit::WorkingDays => format!("{n}个工作日"),
    }
}

fn days_en(n: i64, unit: DayUnit) -> String {
    match (unit, n) {
        (DayUnit::Days, 1) => "1 day".to_owned(),
        (DayUnit::Days, _) => format!("{n} days"),
        (DayUnit::WorkingDays, 1) => "1 working day".to_owned(),
        (DayUnit::WorkingDays, _) => format!("{n} working days"),
    }
}

/// An instant as China time, "2025-03-01 09:00".
fn china_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&china())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Fen as yuan with two decimals, "12345.67".
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn violation(
    rule: &'static str,
    article: &str,
    message_zh: String,
    message_en: String,
) -> RuleViolation {
    RuleViolation {
        rule,
        article: article.to_owned(),
        message_zh,
        message_en,
    }
}

impl Rulebook {
    /// Parses and validates a rulebook from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, RulebookError> {
        Self::parse_named(text, "<string>")
    }

    fn parse_named(text: &str, name: &str) -> Result<Self, RulebookError> {
        let book: Rulebook = toml::from_str(text).map_err(|source| RulebookError::Parse {
            name: name.to_owned(),
            source,
        })?;
        book.validate().map_err(|reason| RulebookError::Invalid {
            name: name.to_owned(),
            reason,
        })?;
        Ok(book)
    }

    /// Checks ranges and consistency that TOML types cannot express.
    fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("id", &self.id),
            ("category", &self.category),
            ("procedure", &self.procedure),
        ] {
            let ok = !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(format!(
                    "{field} must be 1–64 characters of a–z, 0–9 and '-', got {value:?}"
                ));
            }
        }
        if self.name_zh.trim().is_empty() || self.name_en.trim().is_empty() {
            return Err("name_zh and name_en must not be empty".to_owned());
        }
        let r = &self.rules;
        let mut days: Vec<(&str, &DayRule)> = vec![
            (
                "min_days_documents_to_deadline",
                &r.min_days_documents_to_deadline,
            ),
            (
                "amendment_min_days_before_deadline",
                &r.amendment_min_days_before_deadline,
            ),
            (
                "min_days_documents_available",
                &r.min_days_documents_available,
            ),
            ("objection_answer_days", &r.objection_answer_days),
            (
                "result_objection_answer_days",
                &r.result_objection_answer_days,
            ),
            ("contract_within_days", &r.contract_within_days),
        ];
        for (name, rule) in [
            (
                "objection_cutoff_days_before_deadline",
                &r.objection_cutoff_days_before_deadline,
            ),
            (
                "candidate_publicity_within_days",
                &r.candidate_publicity_within_days,
            ),
            (
                "candidate_publicity_min_days",
                &r.candidate_publicity_min_days,
            ),
        ] {
            if let Some(rule) = rule {
                days.push((name, rule));
            }
        }
        for (name, rule) in days {
            if rule.value > MAX_RULE_DAYS {
                return Err(format!(
                    "{name} = {} is more than {MAX_RULE_DAYS} days",
                    rule.value
                ));
            }
            if rule.article.trim().is_empty() {
                return Err(format!("{name} has no article"));
            }
        }
        if r.candidate_publicity_within_days.is_some() != r.candidate_publicity_min_days.is_some() {
            return Err(
                "candidate_publicity_within_days and candidate_publicity_min_days go together"
                    .to_owned(),
            );
        }
        for (name, rule) in [
            ("min_valid_bids", &r.min_valid_bids),
            ("committee_min_members", &r.committee_min_members),
        ] {
            if rule.value == 0 || rule.value > 1000 {
                return Err(format!("{name} must be 1–1000, got {}", rule.value));
            }
        }
        if r.bid_security_max_bp.value > 10_000 {
            return Err(format!(
                "bid_security_max_bp = {} is more than 100%",
                r.bid_security_max_bp.value
            ));
        }
        let f = &r.committee_experts_min_fraction;
        if f.denominator == 0 || f.numerator > f.denominator {
            return Err(format!(
                "committee_experts_min_fraction {}/{} is not a fraction between 0 and 1",
                f.numerator, f.denominator
            ));
        }
        let q = &r.custodian_quorum;
        // Shamir over GF(256) issues at most 255 shares.
        if q.k == 0 || q.k > q.n || q.n > 255 {
            return Err(format!(
                "custodian_quorum k = {}, n = {} needs 1 ≤ k ≤ n ≤ 255",
                q.k, q.n
            ));
        }
        for (name, article) in [
            ("min_valid_bids", &r.min_valid_bids.article),
            ("committee_min_members", &r.committee_min_members.article),
            ("committee_odd", &r.committee_odd.article),
            ("committee_experts_min_fraction", &f.article),
            ("bid_security_max_bp", &r.bid_security_max_bp.article),
            (
                "ceiling_may_exceed_estimate",
                &r.ceiling_may_exceed_estimate.article,
            ),
            ("custodian_quorum", &q.article),
        ] {
            if article.trim().is_empty() {
                return Err(format!("{name} has no article"));
            }
        }
        Ok(())
    }

    /// Checks a tender's terms before publication; returns every violation, not just the first.
    pub fn check_publication(
        &self,
        t: &TenderTerms,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<RuleViolation>> {
        let r = &self.rules;
        let mut out = Vec::new();

        // Platform rule: the statutory periods run from when bidders can really get the
        // documents; an availability time in the past would shorten them.
        let earliest = now
            .checked_sub_signed(PUBLICATION_GRACE)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        if t.documents_available_at < earliest {
            let minutes = now
                .signed_duration_since(t.documents_available_at)
                .num_minutes();
            out.push(violation(
                "DOCUMENTS_AVAILABLE_IN_PAST",
                PLATFORM_RULE,
                format!(
                    "招标文件发出时间不得早于发布时间（允许误差{}分钟，否则法定期限被缩短），当前早了{minutes}分钟",
                    PUBLICATION_GRACE.num_minutes()
                ),
                format!(
                    "The documents' availability time must not be in the past ({} minutes' grace), \
                     or the statutory periods would be shortened; it is {minutes} minutes ago",
                    PUBLICATION_GRACE.num_minutes()
                ),
            ));
        }

        // 招标投标法 第24条 / 政府采购法 第35条: at least 20 days from documents to deadline.
        let rule = &r.min_days_documents_to_deadline;
        if !rule.is_met(t.documents_available_at, t.bid_deadline_at) {
            let got = rule.elapsed(t.documents_available_at, t.bid_deadline_at);
            out.push(violation(
                "BID_DEADLINE_TOO_SOON",
                &rule.article,
                format!(
                    "投标截止时间距招标文件发出之日不得少于{}（{}），当前为{}",
                    rule.describe_zh(),
                    rule.article,
                    days_zh(got, rule.unit)
                ),
                format!(
                    "The bid deadline must be at least {} after the tender documents are first \
                     available ({}); it is {}",
                    rule.describe_en(),
                    rule.article,
                    days_en(got, rule.unit)
                ),
            ));
        }

        // 招标投标法实施条例 第16条 / 政府采购法实施条例 第31条: sale period of at least 5
        // (working) days. Without an end the documents stay available until the deadline.
        let until = t.documents_available_until.unwrap_or(t.bid_deadline_at);
        let rule = &r.min_days_documents_available;
        if !rule.is_met(t.documents_available_at, until) {
            let got = rule.elapsed(t.documents_available_at, until);
            out.push(violation(
                "DOCUMENT_PERIOD_TOO_SHORT",
                &rule.article,
                format!(
                    "招标文件发售期不得少于{}（{}），当前为{}",
                    rule.describe_zh(),
                    rule.article,
                    days_zh(got, rule.unit)
                ),
                format!(
                    "The tender documents must be available for at least {} ({}); the period is {}",
                    rule.describe_en(),
                    rule.article,
                    days_en(got, rule.unit)
                ),
            ));
        }
        // Platform rule: selling documents after the deadline is meaningless and most likely
        // a typing error.
        if until > t.bid_deadline_at {
            out.push(violation(
                "DOCUMENT_PERIOD_AFTER_DEADLINE",
                PLATFORM_RULE,
                format!(
                    "招标文件发售截止时间（{}）不得晚于投标截止时间（{}）",
                    china_time(until),
                    china_time(t.bid_deadline_at)
                ),
                format!(
                    "The document sale period ({}) must not end after the bid deadline ({}), China time",
                    china_time(until),
                    china_time(t.bid_deadline_at)
                ),
            ));
        }

        self.check_clarification_cutoff(t, &mut out);
        self.check_money(t, &mut out);

        // Platform rule: one opening-key share per custodian, at least n of them.
        let q = &r.custodian_quorum;
        if t.custodian_count < q.n {
            out.push(violation(
                "CUSTODIANS_TOO_FEW",
                &q.article,
                format!(
                    "开标密钥需{}名保管人（{}人到场即可开标），当前仅指定{}名",
                    q.n, q.k, t.custodian_count
                ),
                format!(
                    "The opening key needs {} custodians ({} of whom open the bids); {} are appointed",
                    q.n, q.k, t.custodian_count
                ),
            ));
        }

        // Platform rule: a comprehensive-scoring method distributes exactly 100 points.
        if !t.criteria_weights.is_empty() {
            if let Some(pos) = t.criteria_weights.iter().position(|&w| w == 0) {
                out.push(violation(
                    "CRITERIA_WEIGHT_ZERO",
                    PLATFORM_RULE,
                    format!("第{}项评分因素的权重为0，请删除该因素或赋予权重", pos + 1),
                    format!(
                        "Scoring criterion {} has weight 0; remove it or give it a weight",
                        pos + 1
                    ),
                ));
            }
            let sum = t
                .criteria_weights
                .iter()
                .fold(0u64, |acc, &w| acc.saturating_add(u64::from(w)));
            if sum != 100 {
                out.push(violation(
                    "CRITERIA_WEIGHTS_NOT_100",
                    PLATFORM_RULE,
                    format!("评分因素权重之和应为100，当前为{sum}"),
                    format!("The scoring criteria weights must sum to 100; they sum to {sum}"),
                ));
            }
        }

        if out.is_empty() { Ok(()) } else { Err(out) }
    }

    /// The question/objection cut-off: after availability, before the deadline, and not
    /// earlier than the statutory objection mark where the rulebook has one.
    fn check_clarification_cutoff(&self, t: &TenderTerms, out: &mut Vec<RuleViolation>) {
        let objection = self.rules.objection_cutoff_days_before_deadline.as_ref();
        let article = objection.map_or(PLATFORM_RULE, |r| r.article.as_str());
        if t.clarification_cutoff_at >= t.bid_deadline_at {
            out.push(violation(
                "CLARIFICATION_CUTOFF_AFTER_DEADLINE",
                article,
                format!(
                    "澄清（异议）截止时间（{}）必须早于投标截止时间（{}）",
                    china_time(t.clarification_cutoff_at),
                    china_time(t.bid_deadline_at)
                ),
                format!(
                    "The clarification cut-off ({}) must be before the bid deadline ({}), China time",
                    china_time(t.clarification_cutoff_at),
                    china_time(t.bid_deadline_at)
                ),
            ));
        }
        if t.clarification_cutoff_at <= t.documents_available_at {
            out.push(violation(
                "CLARIFICATION_CUTOFF_BEFORE_DOCUMENTS",
                PLATFORM_RULE,
                format!(
                    "澄清（异议）截止时间（{}）必须晚于招标文件发出时间（{}）",
                    china_time(t.clarification_cutoff_at),
                    china_time(t.documents_available_at)
                ),
                format!(
                    "The clarification cut-off ({}) must be after the documents are available ({}), China time",
                    china_time(t.clarification_cutoff_at),
                    china_time(t.documents_available_at)
                ),
            ));
        }
        // 招标投标法实施条例 第22条: bidders may object until 10 days before the deadline;
        // a cut-off before that mark would take part of that right away. A later cut-off is
        // allowed (answers that change the documents then move the deadline, 法 第23条).
        if let Some(rule) = objection {
            let mark = rule.latest_before(t.bid_deadline_at);
            if t.clarification_cutoff_at < mark {
                out.push(violation(
                    "CLARIFICATION_CUTOFF_TOO_EARLY",
                    &rule.article,
                    format!(
                        "潜在投标人可在投标截止时间{}前提出异议（{}），澄清（异议）截止时间不得早于{}（北京时间），当前为{}",
                        rule.describe_zh(),
                        rule.article,
                        china_time(mark),
                        china_time(t.clarification_cutoff_at)
                    ),
                    format!(
                        "Bidders may object to the documents until {} before the bid deadline ({}), \
                         so the clarification cut-off must not be earlier than {} China time; it is {}",
                        rule.describe_en(),
                        rule.article,
                        china_time(mark),
                        china_time(t.clarification_cutoff_at)
                    ),
                ));
            }
        }
    }

    fn check_money(&self, t: &TenderTerms, out: &mut Vec<RuleViolation>) {
        let r = &self.rules;
        let in_range = |fen: i64| fen > 0 && fen <= MAX_MONEY_FEN;
        let estimate_ok = in_range(t.estimated_price_fen);
        if !estimate_ok {
            out.push(violation(
                "ESTIMATED_PRICE_INVALID",
                PLATFORM_RULE,
                format!(
                    "估算价（预算金额）应大于0且不超过{}元，当前为{}元",
                    yuan(MAX_MONEY_FEN),
                    yuan(t.estimated_price_fen)
                ),
                format!(
                    "The estimated price must be above 0 and at most {} yuan; it is {} yuan",
                    yuan(MAX_MONEY_FEN),
                    yuan(t.estimated_price_fen)
                ),
            ));
        }

        if let Some(ceiling) = t.ceiling_price_fen {
            if !in_range(ceiling) {
                out.push(violation(
                    "CEILING_PRICE_INVALID",
                    PLATFORM_RULE,
                    format!(
                        "最高投标限价应大于0且不超过{}元，当前为{}元",
                        yuan(MAX_MONEY_FEN),
                        yuan(ceiling)
                    ),
                    format!(
                        "The ceiling price must be above 0 and at most {} yuan; it is {} yuan",
                        yuan(MAX_MONEY_FEN),
                        yuan(ceiling)
                    ),
                ));
            } else if estimate_ok
                && !r.ceiling_may_exceed_estimate.value
                && ceiling > t.estimated_price_fen
            {
                // 财政部令第87号 第12条: the ceiling lies within the budget.
                let rule = &r.ceiling_may_exceed_estimate;
                out.push(violation(
                    "CEILING_ABOVE_ESTIMATE",
                    &rule.article,
                    format!(
                        "最高限价应在预算金额以内（{}），当前最高限价{}元高于预算{}元",
                        rule.article,
                        yuan(ceiling),
                        yuan(t.estimated_price_fen)
                    ),
                    format!(
                        "The ceiling price must not exceed the budget ({}); the ceiling is {} yuan, \
                         the budget {} yuan",
                        rule.article,
                        yuan(ceiling),
                        yuan(t.estimated_price_fen)
                    ),
                ));
            }
        }

        if t.bid_security_fen < 0 || t.bid_security_fen > MAX_MONEY_FEN {
            out.push(violation(
                "BID_SECURITY_INVALID",
                PLATFORM_RULE,
                format!(
                    "投标保证金不得为负数且不超过{}元，当前为{}元",
                    yuan(MAX_MONEY_FEN),
                    yuan(t.bid_security_fen)
                ),
                format!(
                    "The bid security must be between 0 and {} yuan; it is {} yuan",
                    yuan(MAX_MONEY_FEN),
                    yuan(t.bid_security_fen)
                ),
            ));
        } else if estimate_ok {
            // 招标投标法实施条例 第26条 / 政府采购法实施条例 第33条: at most 2% of the
            // estimated price. Compared exactly in integers: security·10000 ≤ estimate·bp.
            let rule = &r.bid_security_max_bp;
            let lhs = i128::from(t.bid_security_fen) * 10_000;
            let rhs = i128::from(t.estimated_price_fen) * i128::from(rule.value);
            if lhs > rhs {
                out.push(violation(
                    "BID_SECURITY_TOO_HIGH",
                    &rule.article,
                    format!(
                        "投标保证金不得超过估算价的{}（{}），上限为{}元，当前为{}元",
                        percent(rule.value),
                        rule.article,
                        yuan(self.bid_security_cap_fen(t.estimated_price_fen)),
                        yuan(t.bid_security_fen)
                    ),
                    format!(
                        "The bid security must not exceed {} of the estimated price ({}): at most {} yuan; \
                         it is {} yuan",
                        percent(rule.value),
                        rule.article,
                        yuan(self.bid_security_cap_fen(t.estimated_price_fen)),
                        yuan(t.bid_security_fen)
                    ),
                ));
            }
        }
    }

    /// Highest bid security allowed for an estimated price, in fen (rounded down).
    pub fn bid_security_cap_fen(&self, estimated_price_fen: i64) -> i64 {
        let cap = i128::from(estimated_price_fen.max(0))
            * i128::from(self.rules.bid_security_max_bp.value)
            / 10_000;
        i64::try_from(cap).unwrap_or(i64::MAX)
    }

    /// The bid deadline after an amendment that affects bid preparation
    /// (招标投标法 第23条 / 政府采购法实施条例 第31条): if fewer than 15 days remain, the
    /// deadline moves to `amended_at` + 15 days; otherwise it is unchanged. Whether an
    /// amendment affects bid preparation is the caller's call (条例 第21条).
    pub fn deadline_after_amendment(
        &self,
        deadline: DateTime<Utc>,
        amended_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        deadline.max(
            self.rules
                .amendment_min_days_before_deadline
                .earliest_from(amended_at),
        )
    }

    /// Whether enough valid bids remain to open and evaluate (招标投标法 第28条).
    pub fn check_valid_bids(&self, valid_bids: u32) -> Result<(), RuleViolation> {
        let rule = &self.rules.min_valid_bids;
        if valid_bids >= rule.value {
            return Ok(());
        }
        Err(violation(
            "TOO_FEW_VALID_BIDS",
            &rule.article,
            format!(
                "有效投标不足{}个（{}），当前为{}个，本次招标失败（流标）",
                rule.value, rule.article, valid_bids
            ),
            format!(
                "At least {} valid bids are required ({}); there are {}, so the tender fails",
                rule.value, rule.article, valid_bids
            ),
        ))
    }

    /// Checks the committee's size, oddness and share of experts (招标投标法 第37条).
    pub fn check_committee(&self, members: u32, experts: u32) -> Result<(), Vec<RuleViolation>> {
        let r = &self.rules;
        let mut out = Vec::new();
        let min = &r.committee_min_members;
        if members < min.value {
            out.push(violation(
                "COMMITTEE_TOO_SMALL",
                &min.article,
                format!(
                    "评标委员会成员不得少于{}人（{}），当前为{}人",
                    min.value, min.article, members
                ),
                format!(
                    "The evaluation committee needs at least {} members ({}); it has {}",
                    min.value, min.article, members
                ),
            ));
        }
        let odd = &r.committee_odd;
        if odd.value && members.is_multiple_of(2) {
            out.push(violation(
                "COMMITTEE_NOT_ODD",
                &odd.article,
                format!(
                    "评标委员会成员人数应为单数（{}），当前为{}人",
                    odd.article, members
                ),
                format!(
                    "The evaluation committee must have an odd number of members ({}); it has {}",
                    odd.article, members
                ),
            ));
        }
        let f = &r.committee_experts_min_fraction;
        // experts / members ≥ numerator / denominator, without division.
        if experts > members
            || u64::from(experts) * u64::from(f.denominator)
                < u64::from(members) * u64::from(f.numerator)
        {
            out.push(violation(
                "COMMITTEE_TOO_FEW_EXPERTS",
                &f.article,
                format!(
                    "专家不得少于评标委员会成员总数的{}/{}（{}），当前为{}人中{}名专家",
                    f.numerator, f.denominator, f.article, members, experts
                ),
                format!(
                    "Experts must make up at least {}/{} of the committee ({}); there are {} of {} members",
                    f.numerator, f.denominator, f.article, experts, members
                ),
            ));
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }
}

/// Basis points as a percentage, "2%" or "2.5%".
fn percent(bp: u32) -> String {
    if bp.is_multiple_of(100) {
        format!("{}%", bp / 100)
    } else {
        let text = format!("{}.{:02}", bp / 100, bp % 100);
        format!("{}%", text.trim_end_matches('0'))
    }
}

/// The built-in rulebooks, as (file name, TOML text).
const BUILTIN: [(&str, &str); 2] = [
    (
        "rulebooks/construction-open.toml",
        include_str!("../../rulebooks/construction-open.toml"),
    ),
    (
        "rulebooks/procurement-open.toml",
        include_str!("../../rulebooks/procurement-open.toml"),
    ),
];

/// All rulebooks known to the platform, looked up by category and procedure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rulebooks {
    books: Vec<Rulebook>,
}

impl Rulebooks {
    /// The rulebooks shipped with the platform (construction and procurement, open procedure).
    pub fn builtin() -> Result<Self, RulebookError> {
        let mut books = Self::default();
        for (name, text) in BUILTIN {
            books.insert(Rulebook::parse_named(text, name)?);
        }
        Ok(books)
    }

    /// The built-in rulebooks, overridden and extended by every `*.toml` file in `dir`.
    ///
    /// A file replaces the built-in rulebook with the same category and procedure. Files are
    /// read in name order; two files for the same category and procedure, or two rulebooks
    /// with the same id, are an error naming both.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, RulebookError> {
        let dir = dir.as_ref();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RulebookError::Io { path, source }
        };
        let mut paths = Vec::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();

        let mut books = Self::builtin()?;
        let mut sources: Vec<(String, String, String)> = BUILTIN
            .iter()
            .zip(&books.books)
            .map(|((name, _), b)| (b.id.clone(), b.key(), (*name).to_owned()))
            .collect();
        let mut from_dir: Vec<(String, String)> = Vec::new();
        for path in paths {
            let len = fs::metadata(&path).map_err(io(&path))?.len();
            if len > MAX_RULEBOOK_BYTES {
                return Err(RulebookError::TooLarge { path, len });
            }
            let text = fs::read_to_string(&path).map_err(io(&path))?;
            let name = path.display().to_string();
            let book = Rulebook::parse_named(&text, &name)?;
            let key = book.key();
            if let Some((_, first)) = from_dir.iter().find(|(k, _)| *k == key) {
                return Err(RulebookError::Duplicate {
                    what: key,
                    first: first.clone(),
                    second: name,
                });
            }
            from_dir.push((key.clone(), name.clone()));
            // An override takes the place of the built-in entry for the same key.
            sources.retain(|(_, k, _)| *k != key);
            if let Some((_, _, first)) = sources.iter().find(|(id, _, _)| *id == book.id) {
                return Err(RulebookError::Duplicate {
                    what: format!("id {}", book.id),
                    first: first.clone(),
                    second: name,
                });
            }
            sources.push((book.id.clone(), key, name));
            books.insert(book);
        }
        Ok(books)
    }

    /// Adds a rulebook, returning the one it replaces for the same category and procedure.
    pub fn insert(&mut self, book: Rulebook) -> Option<Rulebook> {
        match self
            .books
            .iter_mut()
            .find(|b| b.category == book.category && b.procedure == book.procedure)
        {
            Some(slot) => Some(std::mem::replace(slot, book)),
            None => {
                self.books.push(book);
                None
            }
        }
    }

    /// The rulebook for a category and procedure, e.g. `get("construction", "open")`.
    pub fn get(&self, category: &str, procedure: &str) -> Option<&Rulebook> {
        self.books
            .iter()
            .find(|b| b.category == category && b.procedure == procedure)
    }

    /// The rulebook with the given id.
    pub fn by_id(&self, id: &str) -> Option<&Rulebook> {
        self.books.iter().find(|b| b.id == id)
    }

    /// Every rulebook, in load order.
    pub fn iter(&self) -> impl Iterator<Item = &Rulebook> {
        self.books.iter()
    }
}

impl Rulebook {
    /// "category/procedure", the lookup key.
    fn key(&self) -> String {
        format!("{}/{}", self.category, self.procedure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        // Test dates are written in China time, as an agent would enter them.
        china()
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid test date")
            .with_timezone(&Utc)
    }

    fn construction() -> Rulebook {
        Rulebooks::builtin()
            .expect("builtin")
            .get("construction", "open")
            .expect("construction/open")
            .clone()
    }

    fn procurement() -> Rulebook {
        Rulebooks::builtin()
            .expect("builtin")
            .get("procurement", "open")
            .expect("procurement/open")
            .clone()
    }

    /// Terms that pass the construction rulebook: documents out Monday 2025-03-03 09:00,
    /// deadline exactly 20 days later.
    fn good_terms() -> TenderTerms {
        let available = at(2025, 3, 3, 9);
        let deadline = available + TimeDelta::days(20);
        TenderTerms {
            documents_available_at: available,
            documents_available_until: Some(available + TimeDelta::days(5)),
            clarification_cutoff_at: deadline - TimeDelta::days(10),
            bid_deadline_at: deadline,
            estimated_price_fen: 100_000_000, // 1 000 000 yuan
            ceiling_price_fen: Some(95_000_000),
            bid_security_fen: 2_000_000, // exactly 2%
            custodian_count: 3,
            criteria_weights: vec![60, 30, 10],
        }
    }

    fn now() -> DateTime<Utc> {
        at(2025, 3, 3, 8)
    }

    fn rules_of(result: Result<(), Vec<RuleViolation>>) -> Vec<&'static str> {
        result
            .err()
            .unwrap_or_default()
            .iter()
            .map(|v| v.rule)
            .collect()
    }

    #[test]
    fn both_builtin_files_parse() {
        let books = Rulebooks::builtin().expect("builtin rulebooks parse");
        assert_eq!(books.iter().count(), 2);
        let c = books.get("construction", "open").expect("construction");
        assert_eq!(c.id, "construction-open");
        assert_eq!(c.rules.min_days_documents_to_deadline.value, 20);
        assert_eq!(
            c.rules.min_days_documents_to_deadline.article,
            "招标投标法 第24条"
        );
        assert_eq!(c.rules.amendment_min_days_before_deadline.value, 15);
        assert_eq!(c.rules.min_days_documents_available.value, 5);
        assert_eq!(
            c.rules
                .objection_cutoff_days_before_deadline
                .as_ref()
                .map(|r| r.value),
            Some(10)
        );
        assert_eq!(c.rules.min_valid_bids.value, 3);
        assert_eq!(c.rules.committee_min_members.value, 5);
        assert!(c.rules.committee_odd.value);
        assert_eq!(c.rules.bid_security_max_bp.value, 200);
        assert_eq!(c.rules.contract_within_days.value, 30);
        assert_eq!(
            (c.rules.custodian_quorum.k, c.rules.custodian_quorum.n),
            (2, 3)
        );
        let p = books.get("procurement", "open").expect("procurement");
        assert_eq!(
            p.rules.min_days_documents_to_deadline.article,
            "政府采购法 第35条"
        );
        assert_eq!(
            p.rules.min_days_documents_available.unit,
            DayUnit::WorkingDays
        );
        assert!(p.rules.objection_cutoff_days_before_deadline.is_none());
        assert!(p.rules.candidate_publicity_min_days.is_none());
        assert!(!p.rules.ceiling_may_exceed_estimate.value);
        assert_eq!(books.by_id("procurement-open"), Some(p));
        assert!(books.get("construction", "invited").is_none());
    }

    #[test]
    fn good_terms_pass_both_rulebooks() {
        assert_eq!(
            construction().check_publication(&good_terms(), now()),
            Ok(())
        );
        let mut t = good_terms();
        // Procurement: 5 working days from Monday 09:00 end next Monday 09:00.
        t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(7));
        assert_eq!(procurement().check_publication(&t, now()), Ok(()));
    }

    #[test]
    fn nineteen_days_refused_twenty_accepted() {
        let book = construction();
        let mut t = good_terms();
        t.bid_deadline_at = t.documents_available_at + TimeDelta::days(19);
        t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(10);
        let errs = book
            .check_publication(&t, now())
            .expect_err("19 days refused");
        assert_eq!(errs.len(), 1, "{errs:?}");
        let v = &errs[0];
        assert_eq!(v.rule, "BID_DEADLINE_TOO_SOON");
        assert_eq!(v.article, "招标投标法 第24条");
        assert_eq!(
            v.message_zh,
            "投标截止时间距招标文件发出之日不得少于20日（招标投标法 第24条），当前为19日"
        );
        assert_eq!(
            v.message_en,
            "The bid deadline must be at least 20 days after the tender documents are first \
             available (招标投标法 第24条); it is 19 days"
        );

        // One second short of 20 × 24 h is still 19 whole days.
        t.bid_deadline_at = t.documents_available_at + TimeDelta::days(20) - TimeDelta::seconds(1);
        t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(10);
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            ["BID_DEADLINE_TOO_SOON"]
        );

        t.bid_deadline_at = t.documents_available_at + TimeDelta::days(20);
        t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(10);
        assert_eq!(book.check_publication(&t, now()), Ok(()));
    }

    #[test]
    fn amendment_moves_the_deadline_only_when_less_than_15_days_remain() {
        let book = construction();
        let deadline = at(2025, 4, 1, 9);
        let amended_14 = deadline - TimeDelta::days(14);
        assert_eq!(
            book.deadline_after_amendment(deadline, amended_14),
            amended_14 + TimeDelta::days(15)
        );
        let amended_15 = deadline - TimeDelta::days(15);
        assert_eq!(
            book.deadline_after_amendment(deadline, amended_15),
            deadline
        );
        let amended_16 = deadline - TimeDelta::days(16);
        assert_eq!(
            book.deadline_after_amendment(deadline, amended_16),
            deadline
        );
        // One second inside the 15 days is enough to move it.
        let late = deadline - TimeDelta::days(15) + TimeDelta::seconds(1);
        assert_eq!(
            book.deadline_after_amendment(deadline, late),
            late + TimeDelta::days(15)
        );
        // Near the end of chrono's range the result saturates instead of panicking.
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(book.deadline_after_amendment(max, max), max);
    }

    #[test]
    fn bid_security_two_percent_ok_one_fen_more_refused() {
        let book = construction();
        let mut t = good_terms();
        t.bid_security_fen = 2_000_000;
        assert_eq!(book.check_publication(&t, now()), Ok(()));
        assert_eq!(book.bid_security_cap_fen(t.estimated_price_fen), 2_000_000);
        t.bid_security_fen = 2_000_001;
        let errs = book.check_publication(&t, now()).expect_err("over 2%");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].rule, "BID_SECURITY_TOO_HIGH");
        assert_eq!(errs[0].article, "招标投标法实施条例 第26条");
        assert!(errs[0].message_zh.contains("2%"), "{}", errs[0].message_zh);
        assert!(
            errs[0].message_zh.contains("20000.00元"),
            "{}",
            errs[0].message_zh
        );
        // An odd estimate: the cap rounds down, the comparison stays exact.
        t.estimated_price_fen = 101;
        t.ceiling_price_fen = None;
        t.bid_security_fen = 2; // 2/101 ≈ 1.98% ≤ 2%
        assert_eq!(book.check_publication(&t, now()), Ok(()));
        t.bid_security_fen = 3;
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            ["BID_SECURITY_TOO_HIGH"]
        );
        // No security at all is fine.
        t.bid_security_fen = 0;
        assert_eq!(book.check_publication(&t, now()), Ok(()));
    }

    #[test]
    fn negative_and_absurd_money_refused() {
        let book = construction();
        let mut t = good_terms();
        t.estimated_price_fen = -1;
        t.ceiling_price_fen = Some(-5);
        t.bid_security_fen = -1;
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            [
                "ESTIMATED_PRICE_INVALID",
                "CEILING_PRICE_INVALID",
                "BID_SECURITY_INVALID"
            ]
        );
        t = good_terms();
        t.estimated_price_fen = 0;
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            ["ESTIMATED_PRICE_INVALID"]
        );
        t = good_terms();
        t.estimated_price_fen = i64::MAX;
        t.ceiling_price_fen = Some(i64::MIN);
        t.bid_security_fen = i64::MAX;
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            [
                "ESTIMATED_PRICE_INVALID",
                "CEILING_PRICE_INVALID",
                "BID_SECURITY_INVALID"
            ]
        );
        t = good_terms();
        t.estimated_price_fen = MAX_MONEY_FEN;
        t.ceiling_price_fen = Some(MAX_MONEY_FEN);
        assert_eq!(book.check_publication(&t, now()), Ok(()));
    }

    #[test]
    fn ceiling_above_estimate_depends_on_rulebook() {
        let mut t = good_terms();
        t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(7));
        t.ceiling_price_fen = Some(t.estimated_price_fen + 1);
        assert_eq!(construction().check_publication(&t, now()), Ok(()));
        let errs = procurement()
            .check_publication(&t, now())
            .expect_err("above budget");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].rule, "CEILING_ABOVE_ESTIMATE");
        assert_eq!(errs[0].article, "财政部令第87号 第12条");
    }

    #[test]
    fn criteria_weights_must_sum_to_100() {
        let book = construction();
        let mut t = good_terms();
        t.criteria_weights = vec![60, 30, 9];
        let errs = book.check_publication(&t, now()).expect_err("99");
        assert_eq!(errs[0].rule, "CRITERIA_WEIGHTS_NOT_100");
        assert!(errs[0].message_en.contains("99"));
        t.criteria_weights = vec![100, 0];
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            ["CRITERIA_WEIGHT_ZERO"]
        );
        t.criteria_weights = vec![u32::MAX, u32::MAX];
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            ["CRITERIA_WEIGHTS_NOT_100"]
        );
        t.criteria_weights = vec![];
        assert_eq!(book.check_publication(&t, now()), Ok(()));
    }

    #[test]
    fn document_period_and_publication_time() {
        let book = construction();
        let mut t = good_terms();
        t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(4));
        let errs = book.check_publication(&t, now()).expect_err("4 days");
        assert_eq!(errs[0].rule, "DOCUMENT_PERIOD_TOO_SHORT");
        assert!(
            errs[0]
                .message_zh
                .contains("5日（招标投标法实施条例 第16条），当前为4日")
        );
        t.documents_available_until = Some(t.bid_deadline_at + TimeDelta::hours(1));
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            ["DOCUMENT_PERIOD_AFTER_DEADLINE"]
        );
        t.documents_available_until = None;
        assert_eq!(book.check_publication(&t, now()), Ok(()));
        // Publishing 9 minutes after the stated availability is within the grace; 11 is not.
        let late = t.documents_available_at + TimeDelta::minutes(9);
        assert_eq!(book.check_publication(&t, late), Ok(()));
        let later = t.documents_available_at + TimeDelta::minutes(11);
        assert_eq!(
            rules_of(book.check_publication(&t, later)),
            ["DOCUMENTS_AVAILABLE_IN_PAST"]
        );
    }

    #[test]
    fn procurement_document_period_counts_working_days() {
        let book = procurement();
        let mut t = good_terms();
        // Monday 09:00 → Friday 09:00 is 4 working days (Tue, Wed, Thu, Fri).
        t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(4));
        let errs = book
            .check_publication(&t, now())
            .expect_err("4 working days");
        assert_eq!(errs[0].rule, "DOCUMENT_PERIOD_TOO_SHORT");
        assert!(
            errs[0].message_zh.contains("5个工作日"),
            "{}",
            errs[0].message_zh
        );
        assert!(
            errs[0].message_zh.contains("当前为4个工作日"),
            "{}",
            errs[0].message_zh
        );
        // Monday 09:00 → next Monday 09:00: Tue–Fri and Monday, 5 working days.
        t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(7));
        assert_eq!(book.check_publication(&t, now()), Ok(()));
        // Sunday 23:00 China time (Sunday 15:00 UTC): the weekend is judged in China time.
        let rule = &book.rules.min_days_documents_available;
        let sunday = at(2025, 3, 9, 23);
        assert_eq!(rule.earliest_from(sunday), sunday + TimeDelta::days(5));
        let friday = at(2025, 3, 7, 9);
        assert_eq!(rule.earliest_from(friday), friday + TimeDelta::days(7));
        assert_eq!(rule.elapsed(friday, friday + TimeDelta::days(7)), 5);
        assert_eq!(rule.elapsed(friday, friday + TimeDelta::days(2)), 0);
        // Counting back from the next Friday, Sunday 09:00 is the latest start that still
        // leaves Monday–Friday.
        assert_eq!(
            rule.latest_before(friday + TimeDelta::days(7)),
            friday + TimeDelta::days(2)
        );
    }

    #[test]
    fn clarification_cutoff_rules() {
        let book = construction();
        let mut t = good_terms();
        // Exactly 10 days before the deadline: allowed; one minute earlier: too early.
        t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(10) - TimeDelta::minutes(1);
        let errs = book.check_publication(&t, now()).expect_err("too early");
        assert_eq!(errs[0].rule, "CLARIFICATION_CUTOFF_TOO_EARLY");
        assert_eq!(errs[0].article, "招标投标法实施条例 第22条");
        assert!(
            errs[0].message_zh.contains("10日"),
            "{}",
            errs[0].message_zh
        );
        // Later than the mark is allowed.
        t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(3);
        assert_eq!(book.check_publication(&t, now()), Ok(()));
        t.clarification_cutoff_at = t.bid_deadline_at;
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            ["CLARIFICATION_CUTOFF_AFTER_DEADLINE"]
        );
        // Procurement has no statutory objection cut-off: any time in between is fine.
        let mut t = good_terms();
        t.documents_available_until = None;
        t.clarification_cutoff_at = t.documents_available_at + TimeDelta::days(1);
        assert_eq!(procurement().check_publication(&t, now()), Ok(()));
        t.clarification_cutoff_at = t.documents_available_at;
        assert_eq!(
            rules_of(procurement().check_publication(&t, now())),
            ["CLARIFICATION_CUTOFF_BEFORE_DOCUMENTS"]
        );
    }

    #[test]
    fn custodians_and_everything_reported_at_once() {
        let book = construction();
        let mut t = good_terms();
        t.custodian_count = 2;
        assert_eq!(
            rules_of(book.check_publication(&t, now())),
            ["CUSTODIANS_TOO_FEW"]
        );
        t.bid_deadline_at = t.documents_available_at + TimeDelta::days(10);
        t.bid_security_fen = -3;
        let got = rules_of(book.check_publication(&t, now()));
        assert!(got.contains(&"BID_DEADLINE_TOO_SOON"));
        assert!(got.contains(&"BID_SECURITY_INVALID"));
        assert!(got.contains(&"CUSTODIANS_TOO_FEW"));
    }

    #[test]
    fn valid_bids_and_committee() {
        let book = construction();
        assert!(book.check_valid_bids(3).is_ok());
        let v = book.check_valid_bids(2).expect_err("two bids");
        assert_eq!(v.rule, "TOO_FEW_VALID_BIDS");
        assert!(v.message_zh.contains("招标投标法 第28条"));
        assert!(book.check_committee(5, 4).is_ok());
        assert!(book.check_committee(7, 5).is_ok());
        let errs = book.check_committee(4, 3).expect_err("4 members");
        let codes: Vec<_> = errs.iter().map(|v| v.rule).collect();
        assert_eq!(codes, ["COMMITTEE_TOO_SMALL", "COMMITTEE_NOT_ODD"]);
        // 3 experts of 5 is 60% < 2/3.
        let errs = book.check_committee(5, 3).expect_err("too few experts");
        assert_eq!(errs[0].rule, "COMMITTEE_TOO_FEW_EXPERTS");
        assert!(book.check_committee(5, 6).is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = BUILTIN[0].1.replace("[rules]", "colour = \"red\"\n[rules]");
        let err = Rulebook::from_toml_str(&text).expect_err("unknown top-level field");
        assert_eq!(err.code(), "RULEBOOK_PARSE");
        assert!(err.to_string().contains("colour"), "{err}");

        let text = BUILTIN[0].1.replace(
            "min_days_documents_to_deadline = { value = 20,",
            "min_days_documents_to_deadline = { value = 20, days = 3,",
        );
        let err = Rulebook::from_toml_str(&text).expect_err("unknown rule field");
        assert!(err.to_string().contains("days"), "{err}");

        let text = format!(
            "{}\nmax_weekly_bids = {{ value = 1, article = \"x\" }}\n",
            BUILTIN[0].1
        );
        let err = Rulebook::from_toml_str(&text).expect_err("unknown rule");
        assert!(err.to_string().contains("max_weekly_bids"), "{err}");
    }

    #[test]
    fn invalid_values_are_refused() {
        let base = BUILTIN[0].1;
        for (from, to) in [
            ("k = 2, n = 3", "k = 4, n = 3"),
            (
                "numerator = 2, denominator = 3",
                "numerator = 2, denominator = 0",
            ),
            ("{ value = 200,", "{ value = 20000,"),
            ("{ value = 20, article", "{ value = 99999, article"),
            ("id = \"construction-open\"", "id = \"Construction Open\""),
            (
                "{ value = 30, article = \"招标投标法 第46条\" }",
                "{ value = 30, article = \" \" }",
            ),
        ] {
            assert!(base.contains(from), "{from}");
            let text = base.replace(from, to);
            let err = Rulebook::from_toml_str(&text).expect_err(to);
            assert_eq!(err.code(), "RULEBOOK_INVALID", "{to}: {err}");
        }
        let err = Rulebook::from_toml_str("not toml [").expect_err("garbage");
        assert_eq!(err.code(), "RULEBOOK_PARSE");
        assert!(err.to_string().contains("<string>"));
    }

    #[test]
    fn load_dir_overrides_and_names_files() {
        let dir = std::env::temp_dir().join(format!(
            "sunbid-rulebook-test-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        fs::create_dir_all(&dir).expect("temp dir");

        // An override of construction/open with a longer period.
        let over = BUILTIN[0].1.replace(
            "min_days_documents_to_deadline = { value = 20,",
            "min_days_documents_to_deadline = { value = 25,",
        );
        fs::write(dir.join("a-construction.toml"), &over).expect("write");
        fs::write(dir.join("README.md"), "not a rulebook").expect("write");
        let books = Rulebooks::load_dir(&dir).expect("loads");
        let c = books.get("construction", "open").expect("construction");
        assert_eq!(c.rules.min_days_documents_to_deadline.value, 25);
        assert!(books.get("procurement", "open").is_some());
        assert_eq!(books.iter().count(), 2);

        // A second file for the same category and procedure names both files.
        fs::write(dir.join("b-construction.toml"), &over).expect("write");
        let err = Rulebooks::load_dir(&dir).expect_err("duplicate");
        assert_eq!(err.code(), "RULEBOOK_DUPLICATE");
        let msg = err.to_string();
        assert!(
            msg.contains("a-construction.toml") && msg.contains("b-construction.toml"),
            "{msg}"
        );
        fs::remove_file(dir.join("b-construction.toml")).expect("remove");

        // A broken file is named in the error.
        fs::write(dir.join("c-broken.toml"), "id = 3").expect("write");
        let err = Rulebooks::load_dir(&dir).expect_err("broken");
        assert!(err.to_string().contains("c-broken.toml"), "{err}");
        fs::remove_dir_all(&dir).expect("cleanup");

        let err = Rulebooks::load_dir(dir.join("missing")).expect_err("missing dir");
        assert_eq!(err.code(), "RULEBOOK_IO");
        assert!(err.to_string().contains("missing"));
    }

    fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            // Around today, where real tenders live.
            (1_600_000_000i64..2_000_000_000).prop_map(|s| {
                DateTime::<Utc>::from_timestamp(s, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
            }),
            Just(DateTime::<Utc>::MIN_UTC),
            Just(DateTime::<Utc>::MAX_UTC),
        ]
    }

    proptest! {
        #[test]
        fn checks_never_panic(
            a in arb_instant(), b in arb_instant(), c in arb_instant(), d in arb_instant(),
            until in proptest::option::of(arb_instant()),
            est in any::<i64>(), ceil in proptest::option::of(any::<i64>()), sec in any::<i64>(),
            custodians in any::<u32>(), weights in proptest::collection::vec(any::<u32>(), 0..6),
        ) {
            let t = TenderTerms {
                documents_available_at: a,
                documents_available_until: until,
                clarification_cutoff_at: b,
                bid_deadline_at: c,
                estimated_price_fen: est,
                ceiling_price_fen: ceil,
                bid_security_fen: sec,
                custodian_count: custodians,
                criteria_weights: weights,
            };
            for book in [construction(), procurement()] {
                let _ = book.check_publication(&t, d);
                let _ = book.deadline_after_amendment(c, a);
                let _ = book.bid_security_cap_fen(est);
            }
        }

        #[test]
        fn working_day_counting_is_consistent(
            from in 1_600_000_000i64..2_000_000_000, secs in 0i64..(60 * 86_400), value in 0u32..40,
        ) {
            let from = DateTime::<Utc>::from_timestamp(from, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
            let to = from + TimeDelta::seconds(secs);
            let rule = DayRule {
                value,
                article: "test".to_owned(),
                unit: DayUnit::WorkingDays,
                note: None,
            };
            // is_met (via earliest_from) agrees with counting elapsed working days.
            prop_assert_eq!(rule.is_met(from, to), rule.elapsed(from, to) >= i64::from(value));
            prop_assert_eq!(rule.elapsed(from, rule.earliest_from(from)), i64::from(value));
            prop_assert_eq!(rule.elapsed(rule.latest_before(to), to), i64::from(value));
        }

        #[test]
        fn arbitrary_toml_never_panics(s in ".{0,200}") {
            let _ = Rulebook::from_toml_str(&s);
        }
    }
}
