//! Validating a parsed rulebook: ranges TOML types cannot express, numbers that contradict
//! each other, and the floors the law sets for tendering, so that a rulebook file (built in,
//! from a directory or uploaded by the operator) can never weaken a statutory period.
//!
//! Every refusal names the key and the reason; the loader adds the file.

use super::*;

/// A refusal: (key, reason).
type Refusal = (String, String);

fn refuse(key: &str, reason: String) -> Refusal {
    (format!("rules.{key}"), reason)
}

/// The law's floor for one rule of a tendering procedure (open or invited), with the article.
struct Floor {
    key: &'static str,
    min: u32,
    article: &'static str,
}

/// Procedures that are tendering (招标) and so under 招标投标法 or 政府采购法's tendering
/// articles. Other procedures (negotiation, consultation, quotation, single source) have
/// their own, shorter periods and are not floored here.
const TENDERING: [&str; 2] = ["open", "invited"];

/// Floors for the day rules of tendering; government procurement cites its own law.
fn day_floors(procurement: bool) -> [Floor; 3] {
    if procurement {
        [
            Floor {
                key: "min_days_documents_to_deadline",
                min: 20,
                article: "政府采购法 第35条",
            },
            Floor {
                key: "amendment_min_days_before_deadline",
                min: 15,
                article: "政府采购法实施条例 第31条",
            },
            Floor {
                key: "min_days_documents_available",
                min: 5,
                article: "政府采购法实施条例 第31条",
            },
        ]
    } else {
        [
            Floor {
                key: "min_days_documents_to_deadline",
                min: 20,
                article: "招标投标法 第24条",
            },
            Floor {
                key: "amendment_min_days_before_deadline",
                min: 15,
                article: "招标投标法 第23条",
            },
            Floor {
                key: "min_days_documents_available",
                min: 5,
                article: "招标投标法实施条例 第16条",
            },
        ]
    }
}

impl Rulebook {
    /// Checks ranges, consistency and the law's floors; the first refusal found.
    pub(super) fn validate(&self) -> Result<(), Refusal> {
        self.validate_names()?;
        let r = &self.rules;
        for (name, rule) in r.day_rules() {
            if rule.value == 0 {
                return Err(refuse(name, "a period of 0 days is no period".to_owned()));
            }
            if rule.value > MAX_RULE_DAYS {
                return Err(refuse(
                    name,
                    format!("{} is more than {MAX_RULE_DAYS} days", rule.value),
                ));
            }
            if rule.article.trim().is_empty() {
                return Err(refuse(name, "has no article".to_owned()));
            }
        }
        if r.candidate_publicity_within_days.is_some() != r.candidate_publicity_min_days.is_some() {
            return Err(refuse(
                "candidate_publicity_min_days",
                "candidate_publicity_within_days and candidate_publicity_min_days go together"
                    .to_owned(),
            ));
        }
        for (name, rule) in [
            ("min_valid_bids", &r.min_valid_bids),
            ("committee_min_members", &r.committee_min_members),
        ] {
            if rule.value == 0 || rule.value > 1000 {
                return Err(refuse(name, format!("must be 1–1000, got {}", rule.value)));
            }
        }
        if r.committee_odd.value && r.committee_min_members.value.is_multiple_of(2) {
            return Err(refuse(
                "committee_min_members",
                format!(
                    "{} is even while committee_odd is true ({})",
                    r.committee_min_members.value, r.committee_odd.article
                ),
            ));
        }
        if r.bid_security_max_bp.value > 10_000 {
            return Err(refuse(
                "bid_security_max_bp",
                format!("{} is more than 100%", r.bid_security_max_bp.value),
            ));
        }
        let f = &r.committee_experts_min_fraction;
        if f.denominator == 0 || f.numerator > f.denominator {
            return Err(refuse(
                "committee_experts_min_fraction",
                format!(
                    "{}/{} is not a fraction between 0 and 1",
                    f.numerator, f.denominator
                ),
            ));
        }
        let q = &r.custodian_quorum;
        // Shamir over GF(256) issues at most 255 shares.
        if q.k == 0 || q.k > q.n || q.n > 255 {
            return Err(refuse(
                "custodian_quorum",
                format!("k = {}, n = {} needs 1 ≤ k ≤ n ≤ 255", q.k, q.n),
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
                return Err(refuse(name, "has no article".to_owned()));
            }
        }
        self.validate_procedure()?;
        if TENDERING.contains(&self.procedure.as_str()) {
            self.validate_floors()?;
        }
        Ok(())
    }

    fn validate_names(&self) -> Result<(), Refusal> {
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
                return Err((
                    field.to_owned(),
                    format!("must be 1–64 characters of a–z, 0–9 and '-', got {value:?}"),
                ));
            }
        }
        for (field, value) in [("name_zh", &self.name_zh), ("name_en", &self.name_en)] {
            if value.trim().is_empty() {
                return Err((field.to_owned(), "must not be empty".to_owned()));
            }
        }
        Ok(())
    }

    /// The rules that belong to one procedure: invitations only for invited tendering.
    fn validate_procedure(&self) -> Result<(), Refusal> {
        let invited = self.procedure == "invited";
        match (&self.rules.invitees_min, invited) {
            (None, true) => Err(refuse(
                "invitees_min",
                "is missing: invited tendering needs the least number of invitees".to_owned(),
            )),
            (Some(_), false) => Err(refuse(
                "invitees_min",
                format!("only invited tendering invites, not {:?}", self.procedure),
            )),
            (Some(rule), true) if rule.article.trim().is_empty() => {
                Err(refuse("invitees_min", "has no article".to_owned()))
            }
            _ => Ok(()),
        }
    }

    /// The law's floors for tendering: a rulebook may lengthen a period or raise a count,
    /// never go below the statute.
    fn validate_floors(&self) -> Result<(), Refusal> {
        let r = &self.rules;
        let procurement = self.category == "procurement";
        for floor in day_floors(procurement) {
            let Some((_, rule)) = r.day_rules().into_iter().find(|(k, _)| *k == floor.key) else {
                continue;
            };
            if rule.value < floor.min {
                return Err(refuse(
                    floor.key,
                    format!(
                        "{} is below the law's floor of {} ({})",
                        rule.value, floor.min, floor.article
                    ),
                ));
            }
        }
        // 政府采购法实施条例 第31条 counts the documents' period in working days.
        if procurement && r.min_days_documents_available.unit != DayUnit::WorkingDays {
            return Err(refuse(
                "min_days_documents_available",
                "government procurement counts it in working days (政府采购法实施条例 第31条): \
                 set unit = \"working_days\""
                    .to_owned(),
            ));
        }
        let article = |works: &'static str, gp: &'static str| if procurement { gp } else { works };
        let counts = [
            (
                "min_valid_bids",
                r.min_valid_bids.value,
                3,
                article("招标投标法 第28条", "政府采购法 第36条"),
            ),
            (
                "committee_min_members",
                r.committee_min_members.value,
                5,
                article("招标投标法 第37条", "财政部令第87号 第47条"),
            ),
        ];
        for (key, value, min, article) in counts {
            if value < min {
                return Err(refuse(
                    key,
                    format!("{value} is below the law's floor of {min} ({article})"),
                ));
            }
        }
        if !r.committee_odd.value {
            return Err(refuse(
                "committee_odd",
                format!(
                    "the law requires an odd committee ({})",
                    article("招标投标法 第37条", "财政部令第87号 第47条")
                ),
            ));
        }
        let f = &r.committee_experts_min_fraction;
        // numerator/denominator ≥ 2/3, in integers.
        if u64::from(f.numerator) * 3 < u64::from(f.denominator) * 2 {
            return Err(refuse(
                "committee_experts_min_fraction",
                format!(
                    "{}/{} is below the law's two thirds ({})",
                    f.numerator,
                    f.denominator,
                    article("招标投标法 第37条", "财政部令第87号 第47条")
                ),
            ));
        }
        if r.bid_security_max_bp.value > 200 {
            return Err(refuse(
                "bid_security_max_bp",
                format!(
                    "{} is above the law's cap of 200 (2%, {})",
                    r.bid_security_max_bp.value,
                    article("招标投标法实施条例 第26条", "政府采购法实施条例 第33条")
                ),
            ));
        }
        if r.contract_within_days.value > 30 {
            return Err(refuse(
                "contract_within_days",
                format!(
                    "{} is longer than the law's 30 days ({})",
                    r.contract_within_days.value,
                    article("招标投标法 第46条", "政府采购法 第46条")
                ),
            ));
        }
        if let Some(p) = &r.candidate_publicity_min_days
            && p.value < 3
        {
            return Err(refuse(
                "candidate_publicity_min_days",
                format!(
                    "{} is below the law's floor of 3 (招标投标法实施条例 第54条)",
                    p.value
                ),
            ));
        }
        if let Some(rule) = &r.invitees_min
            && rule.value < 3
        {
            return Err(refuse(
                "invitees_min",
                format!(
                    "{} is below the law's floor of 3 ({})",
                    rule.value,
                    article("招标投标法 第17条", "政府采购法 第34条")
                ),
            ));
        }
        if rule_min_bids_above_invitees(r) {
            return Err(refuse(
                "min_valid_bids",
                "is more than invitees_min: an invited tender could never reach it".to_owned(),
            ));
        }
        Ok(())
    }
}

/// An invited tender with only the least number of invitees could never open.
fn rule_min_bids_above_invitees(r: &Rules) -> bool {
    r.invitees_min
        .as_ref()
        .is_some_and(|i| r.min_valid_bids.value > i.value)
}

impl Rules {
    /// Every day rule with its key, the optional ones when present.
    pub fn day_rules(&self) -> Vec<(&'static str, &DayRule)> {
        let mut days: Vec<(&'static str, &DayRule)> = vec![
            (
                "min_days_documents_to_deadline",
                &self.min_days_documents_to_deadline,
            ),
            (
                "amendment_min_days_before_deadline",
                &self.amendment_min_days_before_deadline,
            ),
            (
                "min_days_documents_available",
                &self.min_days_documents_available,
            ),
            ("objection_answer_days", &self.objection_answer_days),
            (
                "result_objection_answer_days",
                &self.result_objection_answer_days,
            ),
            ("contract_within_days", &self.contract_within_days),
        ];
        for (name, rule) in [
            (
                "objection_cutoff_days_before_deadline",
                &self.objection_cutoff_days_before_deadline,
            ),
            (
                "candidate_publicity_within_days",
                &self.candidate_publicity_within_days,
            ),
            (
                "candidate_publicity_min_days",
                &self.candidate_publicity_min_days,
            ),
        ] {
            if let Some(rule) = rule {
                days.push((name, rule));
            }
        }
        days
    }
}
