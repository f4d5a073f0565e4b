//! Who may be drawn for a quota: qualification (years, title, age), status, availability,
//! region, and avoidance (回避). Pure functions over an [`Expert`] and a [`DrawRequest`];
//! every refusal is a [`Reason`] the regulator's report can show.
//!
//! The law behind each rule:
//! - 招标投标法 第37条: experts have worked in the field for at least eight years and hold a
//!   senior title or have an equivalent professional level; anyone with an interest in a
//!   bidder may not sit on the committee and must be replaced.
//! - 招标投标法实施条例 第46条: experts are drawn at random from the pool for the specialty;
//!   staff of the administrative supervising department may not sit on the committee of a
//!   project their department supervises; anyone who should avoid must avoid.
//! - 评标委员会和评标方法暂行规定 第12条: may not sit — near relatives of a bidder or its
//!   principals; staff of the project's competent or supervising department; those with an
//!   economic interest in a bidder that could affect impartiality; those penalised before
//!   for violations in tendering and evaluation.
//!
//! Age limit and the "served the same tenderee recently" window are platform/local policy
//! (平台规则), configured in [`EligibilityRules`].
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use super::specialty::code_is_within;

/// An expert's identifier (UUIDv7 text in the database; any string here).
pub type ExpertId = String;
/// An organisation's identifier.
pub type OrgId = String;

/// Professional title (职称).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Title {
    /// No title.
    None,
    /// 初级.
    Junior,
    /// 中级.
    Intermediate,
    /// 副高级 (associate senior).
    AssociateSenior,
    /// 正高级 (full senior).
    Senior,
    /// 具有同等专业水平: recognised as equivalent to a senior title (法 第37条), e.g. by a
    /// first-class registered qualification; recorded by the operator with evidence.
    SeniorEquivalent,
}

impl Title {
    /// Whether this title satisfies 法 第37条's "高级职称或者具有同等专业水平".
    pub fn is_senior(self) -> bool {
        matches!(
            self,
            Title::AssociateSenior | Title::Senior | Title::SeniorEquivalent
        )
    }
}

/// Standing in the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpertStatus {
    /// May be drawn.
    Active,
    /// Temporarily out (on request, or pending an inquiry).
    Suspended,
    /// Removed from the pool (清退).
    Barred,
}

/// One expert as the draw sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expert {
    /// Identifier; the draw sorts by its bytes.
    pub id: ExpertId,
    /// Specialty codes (see [`super::specialty`]).
    pub specialties: Vec<String>,
    /// Region, an administrative division code (GB/T 2260, e.g. `330106`).
    pub region: String,
    /// Employer; `None` for retired experts.
    pub employer_org_id: Option<OrgId>,
    /// Professional title.
    pub title: Title,
    /// Years of practice in the field.
    pub years_of_practice: u32,
    /// Year of birth; age is counted in calendar years (see [`Reason::TooOld`]).
    pub birth_year: i32,
    /// Standing in the pool.
    pub status: ExpertStatus,
    /// Local dates on which the expert cannot attend.
    pub unavailable: Vec<NaiveDate>,
    /// Declared conflicts: organisations where relatives work or in which the expert has an
    /// economic interest (评标委员会和评标方法暂行规定 第12条).
    pub conflicts: Vec<OrgId>,
    /// Penalised before for violations in tendering or evaluation (第12条(四)).
    pub penalised: bool,
    /// Last evaluation served for each tenderee: `(tenderee org, local date)`.
    pub last_served: Vec<(OrgId, NaiveDate)>,
}

/// Qualification rules, from the tender's rulebook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EligibilityRules {
    /// 法 第37条: 从事相关领域工作满八年.
    pub min_years: u32,
    /// 法 第37条: 具有高级职称或者具有同等专业水平.
    pub senior_title_required: bool,
    /// 平台规则 (commonly 70 in local expert-pool rules): oldest age, in calendar years.
    pub max_age: u32,
    /// 平台规则: an expert who evaluated for the same tenderee fewer than this many days
    /// before the evaluation date is avoided; 0 turns the rule off.
    pub served_same_tenderee_window_days: u32,
}

impl Default for EligibilityRules {
    fn default() -> Self {
        Self {
            min_years: 8,
            senior_title_required: true,
            max_age: 70,
            served_same_tenderee_window_days: 180,
        }
    }
}

/// One specialty quota of a draw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quota {
    /// Specialty code; filled by experts of this code or any code below it.
    pub specialty: String,
    /// Members to draw.
    pub count: u32,
    /// Alternates (候补) to draw after the members, in order.
    pub alternates: u32,
}

/// A region restriction; the law wants the draw from the whole pool, so a restriction
/// must say why (DESIGN.md "Expert draw").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegionRestriction {
    /// Allowed division codes; a code covers its subdivisions (`33` covers `330106`).
    pub regions: Vec<String>,
    /// Why; required and non-empty.
    pub reason: String,
}

/// The avoided organisations' roles, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AvoidRole {
    /// 招标人.
    Tenderee,
    /// 招标代理机构.
    Agent,
    /// 投标人.
    Bidder,
}

impl fmt::Display for AvoidRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AvoidRole::Tenderee => "tenderee 招标人",
            AvoidRole::Agent => "agent 招标代理",
            AvoidRole::Bidder => "bidder 投标人",
        })
    }
}

/// A draw request, everything the draw needs; the caller fills the avoided organisations
/// from the tender and its bids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawRequest {
    /// The tender.
    pub tender_id: String,
    /// Start of the evaluation, in the tender's time zone; its local date is checked
    /// against unavailable dates, age and the served-recently window.
    pub evaluation_at: DateTime<FixedOffset>,
    /// Quotas, drawn in this order.
    pub quotas: Vec<Quota>,
    /// Optional region restriction.
    pub region: Option<RegionRestriction>,
    /// The tenderee (招标人).
    pub tenderee_org_id: OrgId,
    /// The agent (招标代理), if any.
    pub agent_org_id: Option<OrgId>,
    /// Every bidder.
    pub bidder_org_ids: Vec<OrgId>,
    /// The departments supervising this project (条例 第46条).
    pub supervising_org_ids: Vec<OrgId>,
    /// Explicit exclusions (e.g. an expert who reported a conflict after the draw).
    pub excluded_experts: Vec<ExpertId>,
    /// Experts already drawn for this tender by earlier draws (a replacement draw excludes
    /// everyone drawn before, members and alternates alike).
    pub previously_drawn: Vec<ExpertId>,
    /// Qualification rules.
    pub rules: EligibilityRules,
}

impl DrawRequest {
    /// The request for a replacement draw (a decline or no answer, 条例 第46条: drawn the
    /// same way): one quota, everyone drawn so far excluded.
    pub fn replacement(&self, quota: Quota, drawn_so_far: &[ExpertId]) -> DrawRequest {
        let mut r = self.clone();
        r.quotas = vec![quota];
        r.previously_drawn.extend(drawn_so_far.iter().cloned());
        r.previously_drawn.sort();
        r.previously_drawn.dedup();
        r
    }
}

/// Why an expert may not be drawn for a quota. Checked in the order listed; the first that
/// applies is reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// Suspended from the pool.
    #[error("suspended from the pool / 暂停")]
    Suspended,
    /// Barred from the pool.
    #[error("barred from the pool / 清退")]
    Barred,
    /// Penalised before (评标委员会和评标方法暂行规定 第12条).
    #[error("penalised before for tendering violations / 曾受处罚 (暂行规定 第12条)")]
    Penalised,
    /// Explicitly excluded by the request.
    #[error("explicitly excluded / 指定回避")]
    Excluded,
    /// Drawn already for this tender by an earlier draw.
    #[error("already drawn for this tender / 已被抽取")]
    AlreadyDrawn,
    /// None of the expert's specialties lies under the quota's.
    #[error("no specialty under {quota} / 专业不符")]
    SpecialtyMismatch {
        /// The quota's specialty.
        quota: String,
    },
    /// Fewer years of practice than the rulebook's minimum (法 第37条).
    #[error("{years} years of practice, {min} needed / 从业年限不足 (法 第37条)")]
    TooFewYears {
        /// The expert's years.
        years: u32,
        /// The minimum.
        min: u32,
    },
    /// No senior title or equivalent (法 第37条).
    #[error("no senior title or equivalent / 无高级职称 (法 第37条)")]
    NoSeniorTitle,
    /// Older than the limit; age = evaluation year − birth year.
    #[error("age {age} over the limit {max} / 超龄")]
    TooOld {
        /// Age in calendar years.
        age: i64,
        /// The limit.
        max: u32,
    },
    /// Outside the region restriction.
    #[error("region {region} outside the restriction / 不在限定地区")]
    OutsideRegion {
        /// The expert's region.
        region: String,
    },
    /// Declared unavailable on the evaluation date.
    #[error("unavailable on {date} / 当日不可用")]
    Unavailable {
        /// The evaluation's local date.
        date: NaiveDate,
    },
    /// Works for the tenderee, the agent or a bidder (法 第37条, 暂行规定 第12条).
    #[error("employed by the {role} {org} / 任职于{role} (法 第37条)")]
    AvoidedEmployer {
        /// The organisation.
        org: OrgId,
        /// Its role in the tender.
        role: AvoidRole,
    },
    /// Staff of a department supervising the project (条例 第46条, 暂行规定 第12条(二)).
    #[error("staff of the supervising department {org} / 行政监督部门工作人员 (条例 第46条)")]
    SupervisingDepartment {
        /// The department.
        org: OrgId,
    },
    /// A declared relative or economic interest at the tenderee, agent or a bidder
    /// (暂行规定 第12条(一)(三)).
    #[error("declared conflict with the {role} {org} / 申报利害关系 (暂行规定 第12条)")]
    DeclaredConflict {
        /// The organisation.
        org: OrgId,
        /// Its role in the tender.
        role: AvoidRole,
    },
    /// Evaluated for the same tenderee within the window (平台规则).
    #[error("served the same tenderee on {last}, within {window_days} days / 近期为同一招标人评标")]
    ServedTendereeRecently {
        /// Date of that evaluation.
        last: NaiveDate,
        /// The window.
        window_days: u32,
    },
}

/// A small fast hasher (the Fx multiply-rotate) for the draw's look-up sets. The keys are
/// organisation and expert ids from our own database, not attacker-chosen, so the DoS
/// resistance of the default SipHash buys nothing here and it was a tenth of a 1M draw.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// A request prepared once for many checks: sets instead of lists, the local date.
pub(crate) struct Prepared<'r> {
    pub(crate) request: &'r DrawRequest,
    date: NaiveDate,
    avoided: HashMap<&'r str, AvoidRole, FxBuild>,
    supervising: HashSet<&'r str, FxBuild>,
    excluded: HashSet<&'r str, FxBuild>,
    previously_drawn: HashSet<&'r str, FxBuild>,
}

impl<'r> Prepared<'r> {
    pub(crate) fn new(request: &'r DrawRequest) -> Self {
        let mut avoided = HashMap::default();
        // Insert the weakest role first so that an org that is both tenderee and bidder is
        // reported as the tenderee.
        for b in &request.bidder_org_ids {
            avoided.insert(b.as_str(), AvoidRole::Bidder);
        }
        if let Some(a) = &request.agent_org_id {
            avoided.insert(a.as_str(), AvoidRole::Agent);
        }
        avoided.insert(request.tenderee_org_id.as_str(), AvoidRole::Tenderee);
        Self {
            request,
            date: request.evaluation_at.date_naive(),
            avoided,
            supervising: request
                .supervising_org_ids
                .iter()
                .map(String::as_str)
                .collect(),
            excluded: request
                .excluded_experts
                .iter()
                .map(String::as_str)
                .collect(),
            previously_drawn: request
                .previously_drawn
                .iter()
                .map(String::as_str)
                .collect(),
        }
    }

    /// The checks that do not depend on the quota, cheapest first; the draw runs them once
    /// per expert it wants. Set look-ups (hashing) come last. The refusal borrows from the
    /// expert so that the draw's hot loop never allocates; [`Rejection::into_reason`] makes
    /// the owned [`Reason`].
    pub(crate) fn check_person<'e>(&self, e: &'e Expert) -> Result<(), Rejection<'e>> {
        let rules = &self.request.rules;
        match e.status {
            ExpertStatus::Active => {}
            ExpertStatus::Suspended => return Err(Rejection::Plain(Reason::Suspended)),
            ExpertStatus::Barred => return Err(Rejection::Plain(Reason::Barred)),
        }
        // 暂行规定 第12条(四): penalised before for violations in tendering or evaluation.
        if e.penalised {
            return Err(Rejection::Plain(Reason::Penalised));
        }
        // 法 第37条: 从事相关领域工作满八年.
        if e.years_of_practice < rules.min_years {
            return Err(Rejection::Plain(Reason::TooFewYears {
                years: e.years_of_practice,
                min: rules.min_years,
            }));
        }
        // 法 第37条: 并具有高级职称或者具有同等专业水平.
        if rules.senior_title_required && !e.title.is_senior() {
            return Err(Rejection::Plain(Reason::NoSeniorTitle));
        }
        let age = i64::from(self.date.year()) - i64::from(e.birth_year);
        if age > i64::from(rules.max_age) {
            return Err(Rejection::Plain(Reason::TooOld {
                age,
                max: rules.max_age,
            }));
        }
        if let Some(r) = &self.request.region
            && !r
                .regions
                .iter()
                .any(|allowed| e.region.starts_with(allowed.as_str()))
        {
            return Err(Rejection::OutsideRegion(&e.region));
        }
        if e.unavailable.contains(&self.date) {
            return Err(Rejection::Plain(Reason::Unavailable { date: self.date }));
        }
        self.check_avoidance(e)
    }

    /// Avoidance and exclusions: the set look-ups.
    fn check_avoidance<'e>(&self, e: &'e Expert) -> Result<(), Rejection<'e>> {
        if let Some(org) = &e.employer_org_id {
            // 法 第37条 / 暂行规定 第12条: an interest in the outcome — working for the
            // tenderee, its agent or a bidder.
            if let Some(&role) = self.avoided.get(org.as_str()) {
                return Err(Rejection::AvoidedEmployer(org, role));
            }
            // 条例 第46条: 行政监督部门的工作人员不得担任本部门负责监督项目的评标委员会成员.
            if self.supervising.contains(org.as_str()) {
                return Err(Rejection::SupervisingDepartment(org));
            }
        }
        // 暂行规定 第12条(一)(三): near relatives, economic interests — as declared.
        for org in &e.conflicts {
            if let Some(&role) = self.avoided.get(org.as_str()) {
                return Err(Rejection::DeclaredConflict(org, role));
            }
        }
        let window = self.request.rules.served_same_tenderee_window_days;
        if window > 0 {
            for (tenderee, last) in &e.last_served {
                if *tenderee == self.request.tenderee_org_id
                    && (self.date - *last).num_days() < i64::from(window)
                {
                    return Err(Rejection::Plain(Reason::ServedTendereeRecently {
                        last: *last,
                        window_days: window,
                    }));
                }
            }
        }
        if !self.excluded.is_empty() && self.excluded.contains(e.id.as_str()) {
            return Err(Rejection::Plain(Reason::Excluded));
        }
        if !self.previously_drawn.is_empty() && self.previously_drawn.contains(e.id.as_str()) {
            return Err(Rejection::Plain(Reason::AlreadyDrawn));
        }
        Ok(())
    }
}

/// A [`Reason`] that borrows its strings from the expert (no allocation in the draw).
pub(crate) enum Rejection<'e> {
    /// A reason without strings.
    Plain(Reason),
    OutsideRegion(&'e str),
    AvoidedEmployer(&'e str, AvoidRole),
    SupervisingDepartment(&'e str),
    DeclaredConflict(&'e str, AvoidRole),
}

impl Rejection<'_> {
    /// The owned reason.
    pub(crate) fn into_reason(self) -> Reason {
        match self {
            Rejection::Plain(r) => r,
            Rejection::OutsideRegion(region) => Reason::OutsideRegion {
                region: region.to_owned(),
            },
            Rejection::AvoidedEmployer(org, role) => Reason::AvoidedEmployer {
                org: org.to_owned(),
                role,
            },
            Rejection::SupervisingDepartment(org) => Reason::SupervisingDepartment {
                org: org.to_owned(),
            },
            Rejection::DeclaredConflict(org, role) => Reason::DeclaredConflict {
                org: org.to_owned(),
                role,
            },
        }
    }
}

/// Whether one of the expert's specialties lies under `quota` (the code rule:
/// [`code_is_within`]).
pub fn matches_specialty(e: &Expert, quota: &str) -> bool {
    e.specialties.iter().any(|s| code_is_within(s, quota))
}

/// [`code_is_within`] for a quota code already known to be valid, without a libc call for
/// the short prefix compare: the draw runs it for every expert and quota.
#[inline]
pub(crate) fn code_is_within_valid(code: &str, valid_ancestor: &str) -> bool {
    let (c, a) = (code.as_bytes(), valid_ancestor.as_bytes());
    c.len() >= a.len()
        && c.iter().zip(a).all(|(x, y)| x == y)
        && super::specialty::is_valid_code(code)
}

/// Whether `expert` may be drawn for `quota` of `request`, or the first reason why not.
/// Specialty is checked after status and penalties and before qualification.
pub fn eligible(expert: &Expert, request: &DrawRequest, quota: &Quota) -> Result<(), Reason> {
    let p = Prepared::new(request);
    if !matches_specialty(expert, &quota.specialty) {
        // Status and penalties are reported before a specialty mismatch: they matter more
        // to the regulator.
        match expert.status {
            ExpertStatus::Suspended => return Err(Reason::Suspended),
            ExpertStatus::Barred => return Err(Reason::Barred),
            ExpertStatus::Active if expert.penalised => return Err(Reason::Penalised),
            ExpertStatus::Active => {}
        }
        return Err(Reason::SpecialtyMismatch {
            quota: quota.specialty.clone(),
        });
    }
    p.check_person(expert).map_err(Rejection::into_reason)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn expert(id: &str, specialty: &str) -> Expert {
        Expert {
            id: id.into(),
            specialties: vec![specialty.into()],
            region: "330106".into(),
            employer_org_id: Some(format!("employer-of-{id}")),
            title: Title::Senior,
            years_of_practice: 15,
            birth_year: 1970,
            status: ExpertStatus::Active,
            unavailable: vec![],
            conflicts: vec![],
            penalised: false,
            last_served: vec![],
        }
    }

    pub(crate) fn request(quotas: &[(&str, u32, u32)]) -> DrawRequest {
        DrawRequest {
            tender_id: "T-2025-001".into(),
            evaluation_at: DateTime::parse_from_rfc3339("2025-06-10T09:00:00+08:00").unwrap(),
            quotas: quotas
                .iter()
                .map(|&(s, c, a)| Quota {
                    specialty: s.into(),
                    count: c,
                    alternates: a,
                })
                .collect(),
            region: None,
            tenderee_org_id: "tenderee".into(),
            agent_org_id: Some("agent".into()),
            bidder_org_ids: vec!["bidder-1".into(), "bidder-2".into()],
            supervising_org_ids: vec!["supervisor-dept".into()],
            excluded_experts: vec![],
            previously_drawn: vec![],
            rules: EligibilityRules::default(),
        }
    }

    fn check(e: &Expert, r: &DrawRequest) -> Result<(), Reason> {
        eligible(e, r, &r.quotas[0])
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_qualified_expert_is_eligible() {
        let r = request(&[("A01", 1, 0)]);
        assert_eq!(check(&expert("e1", "A01"), &r), Ok(()));
        assert_eq!(check(&expert("e1", "A0101"), &r), Ok(()), "child code");
    }

    #[test]
    fn specialty_mismatch() {
        let r = request(&[("A01", 1, 0)]);
        assert_eq!(
            check(&expert("e1", "A02"), &r),
            Err(Reason::SpecialtyMismatch {
                quota: "A01".into()
            })
        );
        assert!(
            check(&expert("e1", "A"), &r).is_err(),
            "parent is not child"
        );
    }

    #[test]
    fn status_and_penalties() {
        let r = request(&[("A01", 1, 0)]);
        let mut e = expert("e1", "A01");
        e.status = ExpertStatus::Suspended;
        assert_eq!(check(&e, &r), Err(Reason::Suspended));
        e.status = ExpertStatus::Barred;
        assert_eq!(check(&e, &r), Err(Reason::Barred));
        e.status = ExpertStatus::Active;
        e.penalised = true;
        assert_eq!(check(&e, &r), Err(Reason::Penalised));
        e.specialties = vec!["B01".into()];
        assert_eq!(check(&e, &r), Err(Reason::Penalised), "before specialty");
    }

    #[test]
    fn years_title_age() {
        let r = request(&[("A01", 1, 0)]);
        let mut e = expert("e1", "A01");
        e.years_of_practice = 7;
        assert_eq!(check(&e, &r), Err(Reason::TooFewYears { years: 7, min: 8 }));
        e.years_of_practice = 8;
        assert_eq!(check(&e, &r), Ok(()), "exactly eight years");
        for t in [Title::None, Title::Junior, Title::Intermediate] {
            e.title = t;
            assert_eq!(check(&e, &r), Err(Reason::NoSeniorTitle));
        }
        for t in [
            Title::AssociateSenior,
            Title::Senior,
            Title::SeniorEquivalent,
        ] {
            e.title = t;
            assert_eq!(check(&e, &r), Ok(()));
        }
        let mut lax = r.clone();
        lax.rules.senior_title_required = false;
        e.title = Title::Intermediate;
        assert_eq!(check(&e, &lax), Ok(()));
        e.title = Title::Senior;
        e.birth_year = 1955; // 70 in 2025
        assert_eq!(check(&e, &r), Ok(()));
        e.birth_year = 1954;
        assert_eq!(check(&e, &r), Err(Reason::TooOld { age: 71, max: 70 }));
    }

    #[test]
    fn region_restriction() {
        let mut r = request(&[("A01", 1, 0)]);
        r.region = Some(RegionRestriction {
            regions: vec!["3301".into(), "3302".into()],
            reason: "现场踏勘需要".into(),
        });
        assert_eq!(check(&expert("e1", "A01"), &r), Ok(()));
        let mut e = expert("e2", "A01");
        e.region = "320102".into();
        assert_eq!(
            check(&e, &r),
            Err(Reason::OutsideRegion {
                region: "320102".into()
            })
        );
    }

    #[test]
    fn unavailable_on_the_local_date() {
        let mut r = request(&[("A01", 1, 0)]);
        let mut e = expert("e1", "A01");
        e.unavailable = vec![date("2025-06-09"), date("2025-06-10")];
        assert_eq!(
            check(&e, &r),
            Err(Reason::Unavailable {
                date: date("2025-06-10")
            })
        );
        // 01:00 on the 11th in Beijing is still the 10th in UTC; the local date counts.
        r.evaluation_at = DateTime::parse_from_rfc3339("2025-06-11T01:00:00+08:00").unwrap();
        assert_eq!(check(&e, &r), Ok(()));
    }

    #[test]
    fn avoided_employers() {
        let r = request(&[("A01", 1, 0)]);
        let mut e = expert("e1", "A01");
        for (org, role) in [
            ("tenderee", AvoidRole::Tenderee),
            ("agent", AvoidRole::Agent),
            ("bidder-2", AvoidRole::Bidder),
        ] {
            e.employer_org_id = Some(org.into());
            assert_eq!(
                check(&e, &r),
                Err(Reason::AvoidedEmployer {
                    org: org.into(),
                    role
                })
            );
        }
        e.employer_org_id = Some("supervisor-dept".into());
        assert_eq!(
            check(&e, &r),
            Err(Reason::SupervisingDepartment {
                org: "supervisor-dept".into()
            })
        );
        e.employer_org_id = None;
        assert_eq!(check(&e, &r), Ok(()), "retired, no employer");
    }

    #[test]
    fn tenderee_role_wins_when_it_also_bids() {
        let mut r = request(&[("A01", 1, 0)]);
        r.bidder_org_ids.push("tenderee".into());
        let mut e = expert("e1", "A01");
        e.employer_org_id = Some("tenderee".into());
        assert_eq!(
            check(&e, &r),
            Err(Reason::AvoidedEmployer {
                org: "tenderee".into(),
                role: AvoidRole::Tenderee
            })
        );
    }

    #[test]
    fn declared_conflicts() {
        let r = request(&[("A01", 1, 0)]);
        let mut e = expert("e1", "A01");
        e.conflicts = vec!["unrelated".into(), "bidder-1".into()];
        assert_eq!(
            check(&e, &r),
            Err(Reason::DeclaredConflict {
                org: "bidder-1".into(),
                role: AvoidRole::Bidder
            })
        );
        e.conflicts = vec!["unrelated".into()];
        assert_eq!(check(&e, &r), Ok(()));
    }

    #[test]
    fn served_the_same_tenderee_recently() {
        let mut r = request(&[("A01", 1, 0)]);
        let mut e = expert("e1", "A01");
        e.last_served = vec![("tenderee".into(), date("2025-01-01"))];
        // 160 days before 2025-06-10: inside the 180-day window.
        assert_eq!(
            check(&e, &r),
            Err(Reason::ServedTendereeRecently {
                last: date("2025-01-01"),
                window_days: 180
            })
        );
        e.last_served = vec![("someone-else".into(), date("2025-06-01"))];
        assert_eq!(check(&e, &r), Ok(()), "another tenderee");
        e.last_served = vec![("tenderee".into(), date("2024-12-12"))]; // 180 days before
        assert_eq!(check(&e, &r), Ok(()), "window is exclusive");
        e.last_served = vec![("tenderee".into(), date("2025-06-01"))];
        r.rules.served_same_tenderee_window_days = 0;
        assert_eq!(check(&e, &r), Ok(()), "rule off");
    }

    #[test]
    fn exclusions_and_earlier_draws() {
        let mut r = request(&[("A01", 1, 0)]);
        r.excluded_experts = vec!["e1".into()];
        assert_eq!(check(&expert("e1", "A01"), &r), Err(Reason::Excluded));
        let r2 = request(&[("A01", 1, 0)]).replacement(
            Quota {
                specialty: "A01".into(),
                count: 1,
                alternates: 0,
            },
            &["e2".into()],
        );
        assert_eq!(check(&expert("e2", "A01"), &r2), Err(Reason::AlreadyDrawn));
        assert_eq!(check(&expert("e3", "A01"), &r2), Ok(()));
    }

    #[test]
    fn reasons_have_messages_and_codes() {
        let r = Reason::AvoidedEmployer {
            org: "bidder-1".into(),
            role: AvoidRole::Bidder,
        };
        assert!(r.to_string().contains("bidder-1"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["code"], "avoided_employer");
        assert_eq!(json["role"], "bidder");
    }
}
