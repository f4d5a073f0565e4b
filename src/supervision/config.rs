//! The supervision rules' switches and thresholds, and the working-day calendar: both are
//! data (TOML), with built-in defaults, like the rulebooks.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use serde::Deserialize;

const BUILTIN_RULES: &str = include_str!("rules.toml");
const BUILTIN_CALENDAR: &str = include_str!("calendar.toml");

/// Why a rules or calendar file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {0}: {1}")]
    Read(String, std::io::Error),
    /// The file is not valid TOML for the rules or the calendar.
    #[error("parsing {0}: {1}")]
    Parse(String, toml::de::Error),
    /// An office-hours time is not `HH:MM`.
    #[error("office hours must be HH:MM, got {0:?}")]
    BadTime(String),
    /// A complaint time limit is zero or negative.
    #[error("complaint time limits must be at least one day")]
    BadLimit,
}

/// Every rule's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Collusion signals (实施条例 第40条).
    pub collusion: Collusion,
    /// Statutory time limits (限时办结).
    pub time_limits: TimeLimits,
    /// Actions out of office hours.
    pub out_of_hours: OutOfHours,
    /// Evaluation signals.
    pub evaluation: Evaluation,
    /// Rules across tenders (a rules file without this section keeps the built-in one).
    #[serde(default)]
    pub across: Across,
}

/// Rules across tenders (src/supervision/rules/across.rs).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Across {
    /// Whether the rules across tenders run.
    pub enabled: bool,
    /// The article cited for rotation and cover bidding.
    pub collusion_article: String,
    /// Events older than this many days before the trigger are not read.
    pub lookback_days: i64,
    /// Smallest group of companies considered for rotation.
    pub rotation_min_group: usize,
    /// Tenders the group must have bid together.
    pub rotation_min_tenders: usize,
    /// Different winners among them.
    pub rotation_min_winners: usize,
    /// Losses to one winner, never beating it, before an alert.
    pub lose_min_tenders: usize,
    /// Window of split tenders, in days.
    pub split_window_days: i64,
    /// How far under the threshold counts as "just under", in percent.
    pub split_margin_pct: f64,
    /// Tenders just under the threshold within the window before an alert.
    pub split_min_tenders: usize,
    /// Threshold per category, in fen.
    pub split_thresholds_fen: std::collections::BTreeMap<String, i64>,
    /// Window of the draw count, in days.
    pub draw_window_days: i64,
    /// Draws of one expert allowed within the window.
    pub max_draws: usize,
    /// Window of the cancellation count, in days.
    pub cancel_window_days: i64,
    /// Cancelled or failed tenders of one tenderee within the window that raise an alert.
    pub max_cancellations: usize,
}

impl Default for Across {
    /// The built-in section; if that could not be read, the rules are off (never a panic).
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Only {
            across: Across,
        }
        toml::from_str::<Only>(BUILTIN_RULES)
            .map(|o| o.across)
            .unwrap_or_else(|_| Across {
                enabled: false,
                collusion_article: String::new(),
                lookback_days: 0,
                rotation_min_group: usize::MAX,
                rotation_min_tenders: usize::MAX,
                rotation_min_winners: usize::MAX,
                lose_min_tenders: usize::MAX,
                split_window_days: 0,
                split_margin_pct: 0.0,
                split_min_tenders: usize::MAX,
                split_thresholds_fen: std::collections::BTreeMap::new(),
                draw_window_days: 0,
                max_draws: usize::MAX,
                cancel_window_days: 0,
                max_cancellations: usize::MAX,
            })
    }
}

/// Collusion rules.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collusion {
    /// Whether the collusion rules run.
    pub enabled: bool,
    /// The article cited.
    pub article: String,
    /// Several bidders from one IP address.
    pub same_ip: bool,
    /// Several bidders from one device id.
    pub same_device: bool,
    /// Several bidders with one user agent.
    pub same_user_agent: bool,
    /// Identical part digests across bidders.
    pub identical_digests: bool,
    /// Identical prices.
    pub identical_prices: bool,
    /// Prices in arithmetic or geometric progression.
    pub progression: bool,
    /// Band around the mean, in percent.
    pub mean_band_pct: f64,
    /// Percentage of the ceiling price all bids reach.
    pub ceiling_hug_pct: f64,
    /// Fewest valid bids for the price rules.
    pub min_bids: usize,
    /// Window of clustered submissions, in minutes.
    pub cluster_minutes: i64,
    /// Bidders needed in one window.
    pub cluster_bidders: usize,
}

/// Time-limit rules.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLimits {
    /// Whether the time-limit rules run.
    pub enabled: bool,
    /// Objections to the result answered in time.
    pub objection_answer: bool,
    /// Days to answer a question.
    pub question_answer_days: i64,
    /// Contract within its due time after the award.
    pub contract: bool,
    /// Most deadline moves before an alert.
    pub max_deadline_moves: usize,
    /// Working days to accept a complaint.
    pub complaint_accept_working_days: u32,
    /// Working days to decide a complaint.
    pub complaint_decide_working_days: u32,
    /// Days after knowing within which a complaint is filed (实施条例 第60条).
    #[serde(default = "default_complaint_window_days")]
    pub complaint_window_days: i64,
    /// Days an objection's answer is awaited before a complaint may go ahead without it
    /// (实施条例 第54条); the answer period does not count in the complaint window.
    #[serde(default = "default_objection_answer_days")]
    pub objection_answer_days: i64,
}

// Rules files written before these keys existed keep their statutory values.
fn default_complaint_window_days() -> i64 {
    10
}

fn default_objection_answer_days() -> i64 {
    3
}

/// Out-of-hours rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutOfHours {
    /// Whether the rule runs.
    pub enabled: bool,
    /// Start of office hours, `HH:MM` China time.
    pub start: String,
    /// End of office hours, `HH:MM` China time.
    pub end: String,
    /// The actions watched.
    pub actions: Vec<String>,
}

/// Evaluation rules.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// Whether the evaluation rules run.
    pub enabled: bool,
    /// The article cited.
    pub article: String,
    /// Deviation from the others' mean, in percent of the criterion's maximum.
    pub deviation_pct: f64,
    /// Smallest committee compared.
    pub min_members: usize,
    /// Emergency check-ins raise alerts.
    pub emergency_checkin: bool,
    /// Passkey counter regressions raise alerts.
    pub counter_regression: bool,
}

impl Rules {
    /// The built-in defaults.
    pub fn builtin() -> Result<Self, ConfigError> {
        toml::from_str(BUILTIN_RULES).map_err(|e| ConfigError::Parse("rules.toml".into(), e))
    }

    /// The defaults, or the file at `path` when given (a complete rules file).
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Self::builtin();
        };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(name.clone(), e))?;
        let rules: Rules = toml::from_str(&text).map_err(|e| ConfigError::Parse(name, e))?;
        rules.office_hours()?;
        rules.check_limits()?;
        Ok(rules)
    }

    /// Refuses time limits that could not be meant: a complaint window or answer period of
    /// no days, or a working-day period of none.
    fn check_limits(&self) -> Result<(), ConfigError> {
        let t = &self.time_limits;
        if t.complaint_window_days < 1
            || t.objection_answer_days < 1
            || t.complaint_accept_working_days < 1
            || t.complaint_decide_working_days < 1
        {
            return Err(ConfigError::BadLimit);
        }
        Ok(())
    }

    /// Office hours as times of day.
    pub fn office_hours(&self) -> Result<(NaiveTime, NaiveTime), ConfigError> {
        let parse = |s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| ConfigError::BadTime(s.to_string()))
        };
        Ok((
            parse(&self.out_of_hours.start)?,
            parse(&self.out_of_hours.end)?,
        ))
    }
}

#[derive(Deserialize)]
struct CalendarFile {
    year: Vec<CalendarYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarYear {
    #[allow(dead_code)] // documents the file; the dates carry their year
    year: i32,
    holidays: Vec<NaiveDate>,
    workdays: Vec<NaiveDate>,
}

/// The working-day calendar: public holidays and the weekend days worked instead (调休).
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// The built-in calendar (src/supervision/calendar.toml).
    pub fn builtin() -> Result<Self, ConfigError> {
        Self::parse(BUILTIN_CALENDAR, "calendar.toml")
    }

    /// A calendar from TOML text.
    pub fn parse(text: &str, name: &str) -> Result<Self, ConfigError> {
        let file: CalendarFile =
            toml::from_str(text).map_err(|e| ConfigError::Parse(name.into(), e))?;
        let mut cal = Calendar::default();
        for y in file.year {
            cal.holidays.extend(y.holidays);
            cal.workdays.extend(y.workdays);
        }
        Ok(cal)
    }

    /// Whether `day` is a working day: a weekday that is no holiday, or a 调休 weekend day.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.workdays.contains(&day) {
            return true;
        }
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }

    /// The working day `n` working days after `day` (the day itself does not count, as
    /// periods "within n working days of receipt" are counted).
    pub fn add_working_days(&self, day: NaiveDate, n: u32) -> NaiveDate {
        let mut d = day;
        let mut left = n;
        while left > 0 {
            d = d.succ_opt().unwrap_or(d);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// The end (exclusive) of the working day `n` working days after the China date of
    /// `t`: a time limit "within n working days" expires at that midnight, China time.
    pub fn working_days_after(&self, t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let china = crate::clock::china();
        let day = self.add_working_days(t.with_timezone(&china).date_naive(), n);
        day.succ_opt()
            .unwrap_or(day)
            .and_hms_opt(0, 0, 0)
            .and_then(|d| d.and_local_timezone(china).single())
            .map_or(t, |d| d.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn builtin_rules_and_calendar_load() {
        let r = Rules::builtin().unwrap();
        assert!(r.collusion.enabled);
        assert_eq!(r.collusion.mean_band_pct, 3.0);
        r.office_hours().unwrap();
        r.check_limits().unwrap();
        assert_eq!(r.time_limits.complaint_window_days, 10);
        Calendar::builtin().unwrap();
    }

    #[test]
    fn a_rules_file_with_a_zero_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        let text = BUILTIN_RULES.replace("complaint_window_days = 10", "complaint_window_days = 0");
        std::fs::write(&path, text).unwrap();
        assert!(matches!(
            Rules::load(Some(&path)),
            Err(ConfigError::BadLimit)
        ));
        // A file without the newer keys keeps the statutory values.
        let old = BUILTIN_RULES
            .lines()
            .filter(|l| {
                !l.starts_with("complaint_window_days") && !l.starts_with("objection_answer_days")
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, old).unwrap();
        let r = Rules::load(Some(&path)).unwrap();
        assert_eq!(r.time_limits.objection_answer_days, 3);
    }

    #[test]
    fn the_calendar_knows_holidays_and_makeup_days() {
        let c = Calendar::builtin().unwrap();
        // National Day 2025 is a holiday on a Wednesday.
        assert!(!c.is_working_day(day("2025-10-01")));
        // Sunday 28 September 2025 was worked instead (调休).
        assert!(c.is_working_day(day("2025-09-28")));
        // An ordinary Saturday is not a working day, an ordinary Tuesday is.
        assert!(!c.is_working_day(day("2025-03-08")));
        assert!(c.is_working_day(day("2025-03-11")));
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let c = Calendar::builtin().unwrap();
        // Friday 26 Sep 2025 + 5 working days: Sun 28 (调休), Mon 29, Tue 30, then the
        // National Day holiday, Thu 9 and Fri 10 Oct.
        assert_eq!(c.add_working_days(day("2025-09-26"), 5), day("2025-10-10"));
        // Monday + 3 = Thursday.
        assert_eq!(c.add_working_days(day("2025-03-10"), 3), day("2025-03-13"));
    }
}
