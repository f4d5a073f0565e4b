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
//! `unit = "working_days"` counts the whole days that end on a working day in China time
//! (UTC+8) by the working-day calendar (`src/supervision/calendar.toml`: public holidays and
//! the weekend days worked instead, 调休, one list per year of the State Council's notice).
//! A year the file does not list yet counts Monday–Friday only.
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

use std::borrow::Cow;
use std::path::PathBuf;

use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::to_millis;
use crate::supervision::config::Calendar;
use serde::{Deserialize, Serialize};

mod checks;
mod load;
mod stored;
#[cfg(test)]
mod tests;
mod validate;

pub use load::Rulebooks;

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
    /// Whole 24-hour periods that end on a working day in China time (holiday calendar).
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
    /// Invited tendering: the least number of invited bidders (招标投标法 第17条, 政府采购法
    /// 第34条); present exactly when the procedure is "invited".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitees_min: Option<CountRule>,
    /// What the law allows when a re-tendered tender fails again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_failure: Option<FailureRule>,
}

/// What may follow when a re-tendered tender fails again (流标 twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecondFailure {
    /// Re-tender again, or, with the approval of the authority that approved the project,
    /// stop tendering (works: 工程建设项目施工招标投标办法 第38条).
    RetenderOrSkipWithApproval,
    /// Re-tender again, or change the procurement method with the approval of the
    /// procurement supervision department (政府采购法 第36、37条).
    ChangeProcedureWithApproval,
}

/// The rule for a second failure, with its article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureRule {
    /// What the law allows.
    pub action: SecondFailure,
    /// The article it comes from.
    pub article: String,
    /// Free-text remark shown to agents and operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
    /// Version: 1 for the file loaded at start, 2, 3 … for the operator's replacements.
    #[serde(skip)]
    pub version: u32,
    /// The TOML text it was read from, shown to the operator.
    #[serde(skip)]
    pub text: String,
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

/// One broken rule, with a stable code and a message in both languages. It is read back from
/// a stored outcome (a failed evaluation), hence the code as a `Cow`: borrowed when the rules
/// find it, owned when read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleViolation {
    /// Stable code, e.g. "BID_DEADLINE_TOO_SOON".
    #[schema(value_type = String)]
    pub rule: Cow<'static, str>,
    /// The article applied, or "平台规则" for platform policy.
    pub article: String,
    /// Message in Chinese naming the rule, its number and the actual value.
    pub message_zh: String,
    /// Message in English naming the rule, its number and the actual value.
    pub message_en: String,
}

impl RuleViolation {
    /// The code as the rules found it; `None` for one read back from storage, whose code is
    /// not a constant of this build.
    pub fn static_code(&self) -> Option<&'static str> {
        match self.rule {
            Cow::Borrowed(code) => Some(code),
            Cow::Owned(_) => None,
        }
    }
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
    /// The TOML parses but a value is missing, out of range, below the law's floor or
    /// contradicts another.
    #[error("rulebook {name}, key {key}: {reason}")]
    Invalid {
        /// File name or other source label.
        name: String,
        /// The offending key, e.g. "rules.committee_min_members".
        key: String,
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
    /// The file (or source label) the error is about.
    pub fn file(&self) -> String {
        match self {
            RulebookError::Io { path, .. } | RulebookError::TooLarge { path, .. } => {
                path.display().to_string()
            }
            RulebookError::Parse { name, .. } | RulebookError::Invalid { name, .. } => name.clone(),
            RulebookError::Duplicate { second, .. } => second.clone(),
        }
    }

    /// The key the error is about, where one is known: the rule that is wrong, or the field
    /// the parser found missing or unknown.
    pub fn key(&self) -> Option<String> {
        match self {
            RulebookError::Invalid { key, .. } => Some(key.clone()),
            RulebookError::Parse { source, .. } => {
                let msg = source.message();
                ["missing field `", "unknown field `", "duplicate key `"]
                    .iter()
                    .find_map(|p| msg.split_once(p))
                    .and_then(|(_, rest)| rest.split_once('`'))
                    .map(|(key, _)| key.to_owned())
            }
            _ => None,
        }
    }

    /// Why, without the file and key (which [`file`](Self::file) and [`key`](Self::key) give).
    pub fn reason(&self) -> String {
        match self {
            RulebookError::Invalid { reason, .. } => reason.clone(),
            RulebookError::Parse { source, .. } => source.message().to_owned(),
            other => other.to_string(),
        }
    }

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

/// The working-day calendar (public holidays and 调休) that working-day rules count with:
/// the supervision feature's data file, one list per year, shared rather than copied.
fn calendar() -> &'static Calendar {
    static CALENDAR: LazyLock<Calendar> = LazyLock::new(|| {
        // The built-in file is compiled in and parsed by a unit test, so the fallback (plain
        // Monday–Friday) is never reached in a released build.
        Calendar::builtin().unwrap_or_default()
    });
    &CALENDAR
}

/// Whether the day containing `at` (China time) is a working day.
fn is_working_day(at: DateTime<Utc>) -> bool {
    // China time is UTC+8 all year; at the ends of chrono's range the shift cannot be
    // represented, and the UTC date is as good as any there.
    let utc = at.naive_utc();
    let local = utc.checked_add_signed(TimeDelta::hours(8)).unwrap_or(utc);
    calendar().is_working_day(local.date())
}

/// Days beyond which working days are no longer walked one by one: about 22 years, far more
/// than [`MAX_RULE_DAYS`] working days, so no rule's outcome depends on the estimate.
const WALK_LIMIT_DAYS: i64 = 8000;

/// Whole days `k` such that the `k` periods counted by `ends_on(j)`, j = 1..=k, hold `value`
/// working days; saturates at [`WALK_LIMIT_DAYS`].
fn days_for_working_days(value: u32, ends_on: impl Fn(i64) -> DateTime<Utc>) -> i64 {
    let mut need = value;
    let mut days = 0;
    while need > 0 && days < WALK_LIMIT_DAYS {
        days += 1;
        if is_working_day(ends_on(days)) {
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
                let walked = days.min(WALK_LIMIT_DAYS);
                let counted = (1..=walked)
                    .filter(|&j| is_working_day(shift_days(from, j)))
                    .count();
                // Past the walk limit, five in seven: an estimate no rule can reach.
                i64::try_from(counted).unwrap_or(i64::MAX) + (days - walked) / 7 * 5
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
            DayUnit::WorkingDays => days_for_working_days(self.value, |j| shift_days(from, j)),
        };
        shift_days(from, days)
    }

    /// The latest instant from which the rule is met by `to` (its mirror of `earliest_from`).
    pub fn latest_before(&self, to: DateTime<Utc>) -> DateTime<Utc> {
        let days = match self.unit {
            DayUnit::Days => i64::from(self.value),
            // Counting backwards, step j is the period that ends j − 1 days before `to`.
            DayUnit::WorkingDays => days_for_working_days(self.value, |j| shift_days(to, 1 - j)),
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
    crate::clock::cst(to_millis(at))
}

fn violation(
    rule: &'static str,
    article: &str,
    message_zh: String,
    message_en: String,
) -> RuleViolation {
    RuleViolation {
        rule: Cow::Borrowed(rule),
        article: article.to_owned(),
        message_zh,
        message_en,
    }
}
