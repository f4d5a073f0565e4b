//! Candidate publicity (中标候选人公示), objections to the result, the award and the
//! contract — the time rules.
//!
//! - 招标投标法实施条例 第54条: the candidates are published within 3 days of receiving the
//!   report, for at least 3 days; objections to the result are raised during the publicity
//!   and answered within 3 days of receipt (the activity pauses until then).
//! - Award (中标通知书): only after the publicity is over and every objection is answered
//!   (platform rule built on 第54条).
//! - 招标投标法 第46条: the written contract within 30 days of the award notice.
//!
//! The numbers and articles come from the [`Rulebook`]. Days are counted as the rulebook
//! counts them ([`DayRule`]): whole 24-hour periods between two instants (or working days
//! where a rule says so), so "within 3 days" of 09:00 on the 1st means up to and including
//! 09:00 on the 4th, and a publicity of "at least 3 days" that starts at 09:00 on the 4th
//! may end at 09:00 on the 7th, not a second earlier. The publicity period is closed at both
//! ends: an objection at the very instant it ends still counts.
//!
//! A rulebook without candidate publicity (government procurement) makes
//! [`check_publicity`] refuse any publicity and lets [`check_award`] proceed without one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tender::rulebook::{DayRule, Rulebook};

/// When the candidates are published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publicity {
    /// When the tenderee received the evaluation report.
    pub report_at: DateTime<Utc>,
    /// Start of the publicity.
    pub starts_at: DateTime<Utc>,
    /// End of the publicity.
    pub ends_at: DateTime<Utc>,
}

/// An objection to the evaluation result (对评标结果的异议).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultObjection {
    /// Identifier.
    pub id: String,
    /// When it was received.
    pub raised_at: DateTime<Utc>,
    /// When it was answered, if it was.
    pub answered_at: Option<DateTime<Utc>>,
}

/// A broken timing rule; every variant carries the article it applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// The rulebook has no candidate publicity for this procedure.
    #[error("this procedure has no candidate publicity")]
    NoPublicityInRulebook,
    /// The publicity starts before the report was received.
    #[error("the publicity cannot start before the report is received ({article})")]
    PublicityBeforeReport {
        /// The article.
        article: String,
    },
    /// The publicity starts too long after the report.
    #[error("the publicity must start within {days} of the report, by {latest} ({article})")]
    PublicityStartsTooLate {
        /// The rule's length, e.g. "3 days".
        days: String,
        /// The latest allowed start.
        latest: DateTime<Utc>,
        /// The article.
        article: String,
    },
    /// The publicity is shorter than the minimum.
    #[error("the publicity must last at least {days}, until {earliest_end} or later ({article})")]
    PublicityTooShort {
        /// The rule's length.
        days: String,
        /// The earliest allowed end.
        earliest_end: DateTime<Utc>,
        /// The article.
        article: String,
    },
    /// An objection outside the publicity period.
    #[error(
        "objections to the result are raised during the publicity, {starts_at} to {ends_at} ({article})"
    )]
    ObjectionOutsidePublicity {
        /// Start of the publicity.
        starts_at: DateTime<Utc>,
        /// End of the publicity.
        ends_at: DateTime<Utc>,
        /// The article.
        article: String,
    },
    /// An answer before the objection was received.
    #[error("objection {id} is answered before it was received")]
    AnswerBeforeObjection {
        /// The objection.
        id: String,
    },
    /// An answer later than the rule allows.
    #[error("objection {id} had to be answered within {days}, by {due} ({article})")]
    AnswerLate {
        /// The objection.
        id: String,
        /// The rule's length.
        days: String,
        /// When the answer was due.
        due: DateTime<Utc>,
        /// The article.
        article: String,
    },
    /// No publicity although the rulebook requires one.
    #[error("the candidates must be published before the award ({article})")]
    AwardWithoutPublicity {
        /// The article.
        article: String,
    },
    /// The award before the publicity is over.
    #[error("the award must wait until the publicity ends at {ends_at} ({article})")]
    AwardBeforePublicityEnds {
        /// End of the publicity.
        ends_at: DateTime<Utc>,
        /// The article.
        article: String,
    },
    /// The award with objections unanswered.
    #[error("objections not yet answered: {} ({article})", .ids.join(", "))]
    AwardWithObjectionsUnanswered {
        /// The unanswered objections.
        ids: Vec<String>,
        /// The article.
        article: String,
    },
    /// A contract signed before the award notice.
    #[error("the contract cannot be signed before the award notice ({article})")]
    ContractBeforeAward {
        /// The article.
        article: String,
    },
    /// A contract later than the rule allows.
    #[error(
        "the contract had to be signed within {days} of the award notice, by {due} ({article})"
    )]
    ContractLate {
        /// The rule's length.
        days: String,
        /// The deadline.
        due: DateTime<Utc>,
        /// The article.
        article: String,
    },
}

impl TimingError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            TimingError::NoPublicityInRulebook => "PUBLICITY_NOT_IN_RULEBOOK",
            TimingError::PublicityBeforeReport { .. } => "PUBLICITY_BEFORE_REPORT",
            TimingError::PublicityStartsTooLate { .. } => "PUBLICITY_STARTS_TOO_LATE",
            TimingError::PublicityTooShort { .. } => "PUBLICITY_TOO_SHORT",
            TimingError::ObjectionOutsidePublicity { .. } => "OBJECTION_OUTSIDE_PUBLICITY",
            TimingError::AnswerBeforeObjection { .. } => "OBJECTION_ANSWER_BEFORE_OBJECTION",
            TimingError::AnswerLate { .. } => "OBJECTION_ANSWER_LATE",
            TimingError::AwardWithoutPublicity { .. } => "AWARD_WITHOUT_PUBLICITY",
            TimingError::AwardBeforePublicityEnds { .. } => "AWARD_BEFORE_PUBLICITY_ENDS",
            TimingError::AwardWithObjectionsUnanswered { .. } => "AWARD_OBJECTIONS_UNANSWERED",
            TimingError::ContractBeforeAward { .. } => "CONTRACT_BEFORE_AWARD",
            TimingError::ContractLate { .. } => "CONTRACT_LATE",
        }
    }

    /// The article applied, if the rule is statutory.
    pub fn article(&self) -> Option<&str> {
        match self {
            TimingError::NoPublicityInRulebook | TimingError::AnswerBeforeObjection { .. } => None,
            TimingError::PublicityBeforeReport { article }
            | TimingError::PublicityStartsTooLate { article, .. }
            | TimingError::PublicityTooShort { article, .. }
            | TimingError::ObjectionOutsidePublicity { article, .. }
            | TimingError::AnswerLate { article, .. }
            | TimingError::AwardWithoutPublicity { article }
            | TimingError::AwardBeforePublicityEnds { article, .. }
            | TimingError::AwardWithObjectionsUnanswered { article, .. }
            | TimingError::ContractBeforeAward { article }
            | TimingError::ContractLate { article, .. } => Some(article),
        }
    }
}

fn publicity_rules(rulebook: &Rulebook) -> Result<(&DayRule, &DayRule), TimingError> {
    let r = &rulebook.rules;
    match (
        &r.candidate_publicity_within_days,
        &r.candidate_publicity_min_days,
    ) {
        (Some(within), Some(min)) => Ok((within, min)),
        _ => Err(TimingError::NoPublicityInRulebook),
    }
}

/// The latest start of the publicity for a report received at `report_at`.
pub fn publicity_latest_start(
    rulebook: &Rulebook,
    report_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimingError> {
    let (within, _) = publicity_rules(rulebook)?;
    Ok(within.earliest_from(report_at))
}

/// The earliest end of a publicity that starts at `starts_at`.
pub fn publicity_earliest_end(
    rulebook: &Rulebook,
    starts_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, TimingError> {
    let (_, min) = publicity_rules(rulebook)?;
    Ok(min.earliest_from(starts_at))
}

/// Checks a planned or past publicity (实施条例 第54条): it starts no earlier than the
/// report, within the rulebook's days of it, and lasts at least the minimum.
pub fn check_publicity(rulebook: &Rulebook, p: &Publicity) -> Result<(), TimingError> {
    let (within, min) = publicity_rules(rulebook)?;
    if p.starts_at < p.report_at {
        return Err(TimingError::PublicityBeforeReport {
            article: within.article.clone(),
        });
    }
    let latest = within.earliest_from(p.report_at);
    if p.starts_at > latest {
        return Err(TimingError::PublicityStartsTooLate {
            days: within.describe_en(),
            latest,
            article: within.article.clone(),
        });
    }
    if !min.is_met(p.starts_at, p.ends_at) {
        return Err(TimingError::PublicityTooShort {
            days: min.describe_en(),
            earliest_end: min.earliest_from(p.starts_at),
            article: min.article.clone(),
        });
    }
    Ok(())
}

/// Checks that an objection to the result is raised during the publicity (实施条例 第54条).
pub fn check_objection_raised(
    rulebook: &Rulebook,
    p: &Publicity,
    raised_at: DateTime<Utc>,
) -> Result<(), TimingError> {
    if raised_at < p.starts_at || raised_at > p.ends_at {
        return Err(TimingError::ObjectionOutsidePublicity {
            starts_at: p.starts_at,
            ends_at: p.ends_at,
            article: rulebook.rules.result_objection_answer_days.article.clone(),
        });
    }
    Ok(())
}

/// When an objection received at `raised_at` must be answered by.
pub fn objection_answer_due(rulebook: &Rulebook, raised_at: DateTime<Utc>) -> DateTime<Utc> {
    rulebook
        .rules
        .result_objection_answer_days
        .earliest_from(raised_at)
}

/// Checks an answer's time: not before the objection, and within the rulebook's days
/// (实施条例 第54条). A late answer still answers the objection (the award may follow), but
/// the breach is reported so that it can be recorded and raised as an alert.
pub fn check_objection_answer(
    rulebook: &Rulebook,
    objection: &ResultObjection,
    answered_at: DateTime<Utc>,
) -> Result<(), TimingError> {
    if answered_at < objection.raised_at {
        return Err(TimingError::AnswerBeforeObjection {
            id: objection.id.clone(),
        });
    }
    let rule = &rulebook.rules.result_objection_answer_days;
    let due = rule.earliest_from(objection.raised_at);
    if answered_at > due {
        return Err(TimingError::AnswerLate {
            id: objection.id.clone(),
            days: rule.describe_en(),
            due,
            article: rule.article.clone(),
        });
    }
    Ok(())
}

/// Whether the award notice may be issued at `now`: the publicity (if the rulebook has one)
/// is valid and over, and every objection is answered by `now` (实施条例 第54条).
pub fn check_award(
    rulebook: &Rulebook,
    publicity: Option<&Publicity>,
    objections: &[ResultObjection],
    now: DateTime<Utc>,
) -> Result<(), TimingError> {
    let article = rulebook.rules.result_objection_answer_days.article.clone();
    match (publicity_rules(rulebook), publicity) {
        (Ok((within, _)), None) => {
            return Err(TimingError::AwardWithoutPublicity {
                article: within.article.clone(),
            });
        }
        (Ok((within, _)), Some(p)) => {
            check_publicity(rulebook, p)?;
            if now < p.ends_at {
                return Err(TimingError::AwardBeforePublicityEnds {
                    ends_at: p.ends_at,
                    article: within.article.clone(),
                });
            }
        }
        // No publicity in this procedure: only the objections matter.
        (Err(_), _) => {}
    }
    let open: Vec<String> = objections
        .iter()
        .filter(|o| o.answered_at.is_none_or(|a| a > now))
        .map(|o| o.id.clone())
        .collect();
    if !open.is_empty() {
        return Err(TimingError::AwardWithObjectionsUnanswered { ids: open, article });
    }
    Ok(())
}

/// When the contract must be signed by, for an award notice issued at `notice_at`.
pub fn contract_due(rulebook: &Rulebook, notice_at: DateTime<Utc>) -> DateTime<Utc> {
    rulebook.rules.contract_within_days.earliest_from(notice_at)
}

/// Checks the contract's signing time against the award notice (招标投标法 第46条).
pub fn check_contract(
    rulebook: &Rulebook,
    notice_at: DateTime<Utc>,
    signed_at: DateTime<Utc>,
) -> Result<(), TimingError> {
    let rule = &rulebook.rules.contract_within_days;
    if signed_at < notice_at {
        return Err(TimingError::ContractBeforeAward {
            article: rule.article.clone(),
        });
    }
    let due = rule.earliest_from(notice_at);
    if signed_at > due {
        return Err(TimingError::ContractLate {
            days: rule.describe_en(),
            due,
            article: rule.article.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::evaluation::committee::tests::construction;
    use crate::tender::rulebook::Rulebooks;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    fn procurement() -> Rulebook {
        Rulebooks::builtin()
            .unwrap()
            .get("procurement", "open")
            .unwrap()
            .clone()
    }

    /// 2025-03-03 09:00 China time (a Monday).
    fn report() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-03T09:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn days(n: i64) -> TimeDelta {
        TimeDelta::days(n)
    }

    fn good() -> Publicity {
        let starts_at = report() + days(3);
        Publicity {
            report_at: report(),
            starts_at,
            ends_at: starts_at + days(3),
        }
    }

    #[test]
    fn publicity_within_three_days_for_three_days() {
        let book = construction();
        assert!(check_publicity(&book, &good()).is_ok());
        assert_eq!(
            publicity_latest_start(&book, report()).unwrap(),
            report() + days(3)
        );
        assert_eq!(
            publicity_earliest_end(&book, good().starts_at).unwrap(),
            good().ends_at
        );

        let mut late = good();
        late.starts_at += TimeDelta::seconds(1);
        late.ends_at += days(1);
        let e = check_publicity(&book, &late).unwrap_err();
        assert_eq!(e.code(), "PUBLICITY_STARTS_TOO_LATE");
        assert_eq!(e.article(), Some("招标投标法实施条例 第54条"));
        assert!(e.to_string().contains("第54条"), "{e}");

        let mut short = good();
        short.ends_at -= TimeDelta::seconds(1);
        assert_eq!(
            check_publicity(&book, &short).unwrap_err().code(),
            "PUBLICITY_TOO_SHORT"
        );

        let mut early = good();
        early.starts_at = report() - TimeDelta::seconds(1);
        assert_eq!(
            check_publicity(&book, &early).unwrap_err().code(),
            "PUBLICITY_BEFORE_REPORT"
        );

        assert_eq!(
            check_publicity(&procurement(), &good()).unwrap_err(),
            TimingError::NoPublicityInRulebook
        );
    }

    #[test]
    fn objections_only_during_publicity_and_answered_in_three_days() {
        let book = construction();
        let p = good();
        assert!(check_objection_raised(&book, &p, p.starts_at).is_ok());
        assert!(check_objection_raised(&book, &p, p.ends_at).is_ok());
        for at in [
            p.starts_at - TimeDelta::seconds(1),
            p.ends_at + TimeDelta::seconds(1),
        ] {
            let e = check_objection_raised(&book, &p, at).unwrap_err();
            assert_eq!(e.code(), "OBJECTION_OUTSIDE_PUBLICITY");
            assert_eq!(e.article(), Some("招标投标法实施条例 第54条"));
        }
        let o = ResultObjection {
            id: "o1".into(),
            raised_at: p.starts_at + TimeDelta::hours(5),
            answered_at: None,
        };
        let due = objection_answer_due(&book, o.raised_at);
        assert_eq!(due, o.raised_at + days(3));
        assert!(check_objection_answer(&book, &o, due).is_ok());
        let e = check_objection_answer(&book, &o, due + TimeDelta::seconds(1)).unwrap_err();
        assert_eq!(e.code(), "OBJECTION_ANSWER_LATE");
        assert_eq!(
            check_objection_answer(&book, &o, o.raised_at - TimeDelta::seconds(1))
                .unwrap_err()
                .code(),
            "OBJECTION_ANSWER_BEFORE_OBJECTION"
        );
    }

    #[test]
    fn award_after_publicity_with_every_objection_answered() {
        let book = construction();
        let p = good();
        let end = p.ends_at;
        assert!(check_award(&book, Some(&p), &[], end).is_ok());
        let e = check_award(&book, Some(&p), &[], end - TimeDelta::seconds(1)).unwrap_err();
        assert_eq!(e.code(), "AWARD_BEFORE_PUBLICITY_ENDS");
        assert_eq!(
            check_award(&book, None, &[], end).unwrap_err().code(),
            "AWARD_WITHOUT_PUBLICITY"
        );
        let mut short = p.clone();
        short.ends_at -= TimeDelta::hours(1);
        assert_eq!(
            check_award(&book, Some(&short), &[], end)
                .unwrap_err()
                .code(),
            "PUBLICITY_TOO_SHORT"
        );

        let answered = ResultObjection {
            id: "o1".into(),
            raised_at: p.starts_at,
            answered_at: Some(p.starts_at + days(1)),
        };
        let open = ResultObjection {
            id: "o2".into(),
            raised_at: end,
            answered_at: None,
        };
        let later = ResultObjection {
            id: "o3".into(),
            raised_at: end,
            answered_at: Some(end + days(1)),
        };
        assert!(check_award(&book, Some(&p), std::slice::from_ref(&answered), end).is_ok());
        let e = check_award(&book, Some(&p), &[answered, open, later.clone()], end).unwrap_err();
        assert_eq!(
            e,
            TimingError::AwardWithObjectionsUnanswered {
                ids: vec!["o2".into(), "o3".into()],
                article: "招标投标法实施条例 第54条".into()
            }
        );
        assert!(check_award(&book, Some(&p), &[later], end + days(1)).is_ok());
        // Procurement has no candidate publicity: the award needs only answered objections.
        assert!(check_award(&procurement(), None, &[], end).is_ok());
    }

    #[test]
    fn contract_within_thirty_days_of_the_notice() {
        let book = construction();
        let notice = report() + days(10);
        assert_eq!(contract_due(&book, notice), notice + days(30));
        assert!(check_contract(&book, notice, notice + days(30)).is_ok());
        let e =
            check_contract(&book, notice, notice + days(30) + TimeDelta::seconds(1)).unwrap_err();
        assert_eq!(e.code(), "CONTRACT_LATE");
        assert_eq!(e.article(), Some("招标投标法 第46条"));
        assert_eq!(
            check_contract(&book, notice, notice - TimeDelta::seconds(1))
                .unwrap_err()
                .code(),
            "CONTRACT_BEFORE_AWARD"
        );
    }

    #[test]
    fn procurement_answers_count_working_days() {
        // Procurement: 7 working days. Raised Friday 2025-03-07 09:00 China time → due
        // Tuesday 2025-03-18 09:00 (the two weekends do not count).
        let book = procurement();
        let friday = report() + days(4);
        let due = objection_answer_due(&book, friday);
        assert_eq!(due, friday + days(11));
    }

    proptest! {
        #[test]
        fn timing_checks_never_panic(
            a in -10_000_000_000i64..10_000_000_000,
            b in -10_000_000_000i64..10_000_000_000,
            c in -10_000_000_000i64..10_000_000_000,
        ) {
            let at = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
            let p = Publicity { report_at: at(a), starts_at: at(b), ends_at: at(c) };
            let book = construction();
            let ok = check_publicity(&book, &p).is_ok();
            prop_assert_eq!(ok, b >= a && b - a <= 3 * 86_400 && c - b >= 3 * 86_400);
            let _ = check_award(&book, Some(&p), &[], at(c));
            let _ = check_contract(&book, at(a), at(b));
        }
    }
}
