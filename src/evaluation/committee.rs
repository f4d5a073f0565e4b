//! The evaluation committee (评标委员会): who sits on it, how it elects its leader, how its
//! members sign the report, and what happens to a replaced member's conclusions.
//!
//! - 招标投标法 第37条: at least 5 members (rulebook), an odd number, technical and economic
//!   experts at least 2/3 — so tenderee representatives at most 1/3. The numbers come from
//!   the [`Rulebook`]; [`check_committee`] reuses [`Rulebook::check_committee`] so the
//!   article text exists once.
//! - Platform rule (DESIGN.md "Check-in"): evaluation cannot start until every drawn expert
//!   who is to sit has checked in.
//! - Leader election (组长推选): every member votes once for a member; a candidate with more
//!   than half of the members' votes is elected; otherwise (a tie for first place, or no
//!   majority) the committee votes again. The law fixes no procedure, so this is the
//!   platform's, and it never decides by lot.
//! - 实施条例 第53条: every member signs the report; a member who disagrees writes the
//!   dissent and its reason; a member who neither signs nor writes a dissent is deemed to
//!   agree.
//! - 实施条例 第48条: a replaced member's conclusions are void; [`void_conclusions`] removes
//!   their marks and score sheets and names the results to compute again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::evaluation::review::Mark;
use crate::evaluation::scoring::ScoreSheet;
use crate::identity::Role;
use crate::tender::model::TenderState;
use crate::tender::rulebook::{RuleViolation, Rulebook};

/// Article for the committee's composition.
pub const ARTICLE_COMPOSITION: &str = "招标投标法 第37条";
/// Article for signing the report and dissent.
pub const ARTICLE_REPORT: &str = "招标投标法实施条例 第53条";
/// Article for replacing a member.
pub const ARTICLE_REPLACEMENT: &str = "招标投标法实施条例 第48条";
/// Marker for the platform's own rules.
pub const PLATFORM_RULE: &str = "平台规则";

/// Largest committee accepted; far above any real committee, bounds the work of each check.
pub const MAX_MEMBERS: usize = 101;

/// Whether a reader may learn who sits on the committee: the committee itself and regulators
/// always, everyone else (the tender's agent, operators) only once the result is settled —
/// before it, the law keeps the list secret (招标投标法 第37条) and the platform's own staff
/// are no exception.
pub fn sees_members(role: Role, is_member: bool, state: Option<TenderState>) -> bool {
    is_member || role == Role::Regulator || state.is_some_and(TenderState::committee_disclosed)
}

/// The label a member is known by to a reader who may not see the committee: its place in
/// committee order, from 1.
pub fn member_pseudonym(n: usize) -> String {
    format!("member-{n}")
}

/// Replaces every member id in `value` (string values and object keys alike) by the
/// member's pseudonym, in committee order, and drops the score sheets' digests (`sha256`),
/// the report's `salt` and passkey credential ids: a digest over data naming a member lets
/// a reader test guesses of the committee (the expert pool is small), and a credential id
/// is tied to its user. The report's own digest (`report_sha256`) stays: the report is
/// salted, and the salt is what this copy leaves out.
pub fn pseudonymise_members(value: &mut serde_json::Value, members: &[String]) {
    use serde_json::Value;
    let alias = |s: &str| {
        members
            .iter()
            .position(|m| m == s)
            .map(|i| member_pseudonym(i + 1))
    };
    match value {
        Value::String(s) => {
            if let Some(a) = alias(s) {
                *s = a;
            }
        }
        Value::Array(items) => {
            for v in items {
                pseudonymise_members(v, members);
            }
        }
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut v) in old {
                if matches!(k.as_str(), "sha256" | "credential_id" | "salt") {
                    continue;
                }
                pseudonymise_members(&mut v, members);
                map.insert(alias(&k).unwrap_or(k), v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// What a member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// An expert drawn from the pool (技术、经济等方面的专家).
    Expert,
    /// A representative of the tenderee (招标人代表).
    TendereeRepresentative,
}

/// One committee member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    /// User id of the member.
    pub id: String,
    /// Expert or tenderee representative.
    pub role: MemberRole,
}

/// A drawn and confirmed expert, as the draw and check-in report them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawnExpert {
    /// User id of the expert.
    pub id: String,
    /// Whether the expert has checked in with a passkey for this session.
    pub checked_in: bool,
}

/// A committee that passed [`check_committee`]; members keep the order they were given in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Committee {
    members: Vec<Member>,
}

/// Why a committee cannot be formed or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitteeError {
    /// Size, oddness or share of experts break the rulebook (each violation names its rule
    /// and article, 招标投标法 第37条 by default).
    #[error("{}", describe(.0))]
    Rules(Vec<RuleViolation>),
    /// Drawn experts who have not checked in; evaluation cannot start (平台规则).
    #[error("experts not checked in: {} (平台规则: evaluation starts with a complete committee)", .0.join(", "))]
    NotCheckedIn(Vec<String>),
    /// The same person appears twice.
    #[error("{0} appears more than once on the committee")]
    DuplicateMember(String),
    /// A member id is empty.
    #[error("a committee member has an empty id")]
    EmptyId,
    /// More than [`MAX_MEMBERS`] members.
    #[error("a committee of {0} members is more than the {MAX_MEMBERS} accepted")]
    TooLarge(usize),
    /// The member to replace is not on the committee.
    #[error("{0} is not a member of the committee")]
    NotAMember(String),
    /// A replacement must have the role of the member replaced (实施条例 第48条: drawn the same way).
    #[error("the replacement of {replaced} must have the same role ({ARTICLE_REPLACEMENT})")]
    RoleMismatch {
        /// The member replaced.
        replaced: String,
    },
}

fn describe(v: &[RuleViolation]) -> String {
    v.iter()
        .map(|v| format!("{} ({}): {}", v.rule, v.article, v.message_en))
        .collect::<Vec<_>>()
        .join("; ")
}

impl CommitteeError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            CommitteeError::Rules(v) => v
                .first()
                .and_then(RuleViolation::static_code)
                .unwrap_or("COMMITTEE_INVALID"),
            CommitteeError::NotCheckedIn(_) => "COMMITTEE_NOT_CHECKED_IN",
            CommitteeError::DuplicateMember(_) => "COMMITTEE_DUPLICATE_MEMBER",
            CommitteeError::EmptyId => "COMMITTEE_EMPTY_ID",
            CommitteeError::TooLarge(_) => "COMMITTEE_TOO_LARGE",
            CommitteeError::NotAMember(_) => "COMMITTEE_NOT_A_MEMBER",
            CommitteeError::RoleMismatch { .. } => "COMMITTEE_ROLE_MISMATCH",
        }
    }
}

/// Checks a list of members against the rulebook (招标投标法 第37条): unique non-empty ids,
/// at least the minimum size, odd if required, experts at least the minimum fraction.
pub fn check_committee(rulebook: &Rulebook, members: &[Member]) -> Result<(), CommitteeError> {
    if members.len() > MAX_MEMBERS {
        return Err(CommitteeError::TooLarge(members.len()));
    }
    let mut seen = BTreeSet::new();
    for m in members {
        if m.id.trim().is_empty() {
            return Err(CommitteeError::EmptyId);
        }
        if !seen.insert(m.id.as_str()) {
            return Err(CommitteeError::DuplicateMember(m.id.clone()));
        }
    }
    // Both counts are ≤ MAX_MEMBERS, so the conversions cannot fail.
    let total = u32::try_from(members.len()).unwrap_or(u32::MAX);
    let experts = members
        .iter()
        .filter(|m| m.role == MemberRole::Expert)
        .count();
    let experts = u32::try_from(experts).unwrap_or(u32::MAX);
    rulebook
        .check_committee(total, experts)
        .map_err(CommitteeError::Rules)
}

/// Forms the committee from the drawn experts and the tenderee's representatives. Every
/// expert must have checked in; the result must pass [`check_committee`].
pub fn form_committee(
    rulebook: &Rulebook,
    experts: &[DrawnExpert],
    representatives: &[String],
) -> Result<Committee, CommitteeError> {
    let absent: Vec<String> = experts
        .iter()
        .filter(|e| !e.checked_in)
        .map(|e| e.id.clone())
        .collect();
    if !absent.is_empty() {
        return Err(CommitteeError::NotCheckedIn(absent));
    }
    let members: Vec<Member> = experts
        .iter()
        .map(|e| Member {
            id: e.id.clone(),
            role: MemberRole::Expert,
        })
        .chain(representatives.iter().map(|id| Member {
            id: id.clone(),
            role: MemberRole::TendereeRepresentative,
        }))
        .collect();
    check_committee(rulebook, &members)?;
    Ok(Committee { members })
}

impl Committee {
    /// The members in their original order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Whether `id` is a member.
    pub fn is_member(&self, id: &str) -> bool {
        self.members.iter().any(|m| m.id == id)
    }

    /// Member ids in their original order.
    pub fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }

    /// The committee with `replaced` swapped for `replacement` (实施条例 第48条: drawn the same
    /// way, so of the same role, and the result still passes [`check_committee`]). The
    /// replaced member's conclusions must then be removed with [`void_conclusions`].
    pub fn replace(
        &self,
        rulebook: &Rulebook,
        replaced: &str,
        replacement: Member,
    ) -> Result<Committee, CommitteeError> {
        let Some(old) = self.members.iter().find(|m| m.id == replaced) else {
            return Err(CommitteeError::NotAMember(replaced.to_owned()));
        };
        if old.role != replacement.role {
            return Err(CommitteeError::RoleMismatch {
                replaced: replaced.to_owned(),
            });
        }
        let members: Vec<Member> = self
            .members
            .iter()
            .map(|m| {
                if m.id == replaced {
                    replacement.clone()
                } else {
                    m.clone()
                }
            })
            .collect();
        check_committee(rulebook, &members)?;
        Ok(Committee { members })
    }
}

// ---------------------------------------------------------------------------------------
// Leader election (组长推选)

/// One member's vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The member voting.
    pub voter: String,
    /// The member voted for (may be the voter).
    pub candidate: String,
}

/// The result of counting one round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RoundResult {
    /// A member has more than half of the members' votes.
    Elected {
        /// The leader (组长).
        leader: String,
        /// Votes received.
        votes: u32,
        /// The round (1-based) that elected.
        round: u32,
    },
    /// No majority: the committee votes again in round `next_round`.
    Revote {
        /// The round to hold next.
        next_round: u32,
        /// Members with the most votes in this round, by id (more than one = a tie).
        leading: Vec<String>,
        /// Votes per candidate in this round, by id.
        tally: BTreeMap<String, u32>,
    },
}

/// Why a round cannot be counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    /// A ballot from someone not on the committee.
    #[error("{0} is not a committee member and cannot vote")]
    VoterNotMember(String),
    /// A vote for someone not on the committee.
    #[error("{0} is not a committee member and cannot be elected")]
    CandidateNotMember(String),
    /// A member voted twice in the round.
    #[error("{0} voted more than once")]
    DuplicateVote(String),
    /// Members who have not voted yet; the round is counted when all have.
    #[error("members who have not voted: {}", .0.join(", "))]
    MissingVotes(Vec<String>),
    /// The leader is already elected.
    #[error("the leader is already elected")]
    AlreadyElected,
}

impl ElectionError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            ElectionError::VoterNotMember(_) => "ELECTION_VOTER_NOT_MEMBER",
            ElectionError::CandidateNotMember(_) => "ELECTION_CANDIDATE_NOT_MEMBER",
            ElectionError::DuplicateVote(_) => "ELECTION_DUPLICATE_VOTE",
            ElectionError::MissingVotes(_) => "ELECTION_MISSING_VOTES",
            ElectionError::AlreadyElected => "ELECTION_ALREADY_ELECTED",
        }
    }
}

/// The state of a leader election across rounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaderElection {
    members: Vec<String>,
    round: u32,
    leader: Option<String>,
}

impl LeaderElection {
    /// A new election for `committee`, at round 1.
    pub fn new(committee: &Committee) -> Self {
        LeaderElection {
            members: committee.member_ids(),
            round: 1,
            leader: None,
        }
    }

    /// The round to be counted next (1-based).
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The elected leader, once there is one.
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// Counts one round in which every member voted once. On an error the state is
    /// unchanged; on a revote the round number advances.
    pub fn count(&mut self, ballots: &[Ballot]) -> Result<RoundResult, ElectionError> {
        if self.leader.is_some() {
            return Err(ElectionError::AlreadyElected);
        }
        let is_member = |id: &str| self.members.iter().any(|m| m == id);
        let mut voted = BTreeSet::new();
        let mut tally: BTreeMap<String, u32> = BTreeMap::new();
        for b in ballots {
            if !is_member(&b.voter) {
                return Err(ElectionError::VoterNotMember(b.voter.clone()));
            }
            if !is_member(&b.candidate) {
                return Err(ElectionError::CandidateNotMember(b.candidate.clone()));
            }
            if !voted.insert(b.voter.as_str()) {
                return Err(ElectionError::DuplicateVote(b.voter.clone()));
            }
            let n = tally.entry(b.candidate.clone()).or_insert(0);
            *n = n.saturating_add(1);
        }
        let missing: Vec<String> = self
            .members
            .iter()
            .filter(|m| !voted.contains(m.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(ElectionError::MissingVotes(missing));
        }
        let best = tally.values().copied().max().unwrap_or(0);
        let leading: Vec<String> = tally
            .iter()
            .filter(|(_, v)| **v == best)
            .map(|(k, _)| k.clone())
            .collect();
        let members = u64::try_from(self.members.len()).unwrap_or(u64::MAX);
        // Majority of the members: strictly more than half.
        if let [leader] = leading.as_slice()
            && u64::from(best).saturating_mul(2) > members
        {
            self.leader = Some(leader.clone());
            return Ok(RoundResult::Elected {
                leader: leader.clone(),
                votes: best,
                round: self.round,
            });
        }
        self.round = self.round.saturating_add(1);
        Ok(RoundResult::Revote {
            next_round: self.round,
            leading,
            tally,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Report signatures (实施条例 第53条)

/// What a member did with the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "snake_case")]
pub enum SignAct {
    /// Signed (a passkey assertion over the report's SHA-256, checked by the service).
    Signed,
    /// Disagreed, with the written reason.
    Dissented {
        /// The written reason (书面说明).
        reason: String,
    },
}

/// One member's act on the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The member.
    pub member: String,
    /// Signed or dissented.
    pub act: SignAct,
}

/// A member's status on the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignStatus {
    /// Signed.
    Signed,
    /// Dissented in writing.
    Dissented {
        /// The reason.
        reason: String,
    },
    /// Neither signed nor dissented after signing closed: deemed to agree (实施条例 第53条).
    DeemedToAgree,
    /// Signing is still open and the member has not acted.
    Pending,
}

/// The report's signing status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SigningStatus {
    /// Every member in committee order with their status.
    pub members: Vec<(String, SignStatus)>,
    /// Whether no member is pending (all signed, dissented or deemed to agree).
    pub complete: bool,
}

/// Why a signature record is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// Not a member of the committee.
    #[error("{0} is not a committee member and cannot sign the report")]
    NotAMember(String),
    /// A member acted twice; a signature cannot be changed once given.
    #[error("{0} has already signed or dissented")]
    Duplicate(String),
    /// A dissent without a written reason (实施条例 第53条).
    #[error("{0} dissents without a written reason ({ARTICLE_REPORT})")]
    DissentWithoutReason(String),
}

impl SigningError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            SigningError::NotAMember(_) => "REPORT_SIGNER_NOT_MEMBER",
            SigningError::Duplicate(_) => "REPORT_ALREADY_SIGNED",
            SigningError::DissentWithoutReason(_) => "REPORT_DISSENT_WITHOUT_REASON",
        }
    }
}

/// Each member's status on the report. `signing_closed` says whether the time to sign is
/// over: then a member who neither signed nor dissented is deemed to agree (实施条例 第53条);
/// before that they are pending.
pub fn signing_status(
    committee: &Committee,
    signatures: &[Signature],
    signing_closed: bool,
) -> Result<SigningStatus, SigningError> {
    let mut acts: BTreeMap<&str, &SignAct> = BTreeMap::new();
    for s in signatures {
        if !committee.is_member(&s.member) {
            return Err(SigningError::NotAMember(s.member.clone()));
        }
        if let SignAct::Dissented { reason } = &s.act
            && reason.trim().is_empty()
        {
            return Err(SigningError::DissentWithoutReason(s.member.clone()));
        }
        if acts.insert(s.member.as_str(), &s.act).is_some() {
            return Err(SigningError::Duplicate(s.member.clone()));
        }
    }
    let members: Vec<(String, SignStatus)> = committee
        .members
        .iter()
        .map(|m| {
            let status = match acts.get(m.id.as_str()) {
                Some(SignAct::Signed) => SignStatus::Signed,
                Some(SignAct::Dissented { reason }) => SignStatus::Dissented {
                    reason: reason.clone(),
                },
                None if signing_closed => SignStatus::DeemedToAgree,
                None => SignStatus::Pending,
            };
            (m.id.clone(), status)
        })
        .collect();
    let complete = members.iter().all(|(_, s)| *s != SignStatus::Pending);
    Ok(SigningStatus { members, complete })
}

// ---------------------------------------------------------------------------------------
// Replacement (实施条例 第48条)

/// What [`void_conclusions`] removed and what must be computed again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Voided {
    /// Number of preliminary-review marks removed.
    pub marks_removed: usize,
    /// Number of score sheets removed.
    pub sheets_removed: usize,
    /// Bids whose preliminary-review decision must be made again (the replacement marks
    /// them first). If a decision changes, the set of valid bids — hence the price benchmark
    /// and every price score — changes too, so scoring and ranking are redone from there.
    pub review_to_recompute: BTreeSet<String>,
    /// Bids whose aggregated subjective score must be computed again (after the replacement
    /// scores them).
    pub scores_to_recompute: BTreeSet<String>,
    /// Whether the ranking must be computed again (anything was removed).
    pub ranking_to_recompute: bool,
}

/// Removes every mark and score sheet of `member`, whose conclusions are void
/// (实施条例 第48条), and names the aggregates that must be recomputed.
pub fn void_conclusions(
    member: &str,
    marks: &mut Vec<Mark>,
    sheets: &mut Vec<ScoreSheet>,
) -> Voided {
    let mut voided = Voided::default();
    marks.retain(|m| {
        if m.expert == member {
            voided.review_to_recompute.insert(m.bid.clone());
            voided.marks_removed += 1;
            false
        } else {
            true
        }
    });
    sheets.retain(|s| {
        if s.expert == member {
            voided.scores_to_recompute.insert(s.bid.clone());
            voided.sheets_removed += 1;
            false
        } else {
            true
        }
    });
    voided.ranking_to_recompute = voided.marks_removed + voided.sheets_removed > 0;
    voided
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;
    use crate::evaluation::review::Verdict;
    use crate::tender::rulebook::Rulebooks;

    pub(crate) fn construction() -> Rulebook {
        Rulebooks::builtin()
            .expect("builtin")
            .get("construction", "open")
            .expect("construction/open")
            .clone()
    }

    fn experts(n: usize) -> Vec<DrawnExpert> {
        (1..=n)
            .map(|i| DrawnExpert {
                id: format!("e{i}"),
                checked_in: true,
            })
            .collect()
    }

    fn reps(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("r{i}")).collect()
    }

    pub(crate) fn five() -> Committee {
        form_committee(&construction(), &experts(4), &reps(1)).expect("4 + 1")
    }

    fn codes(e: &CommitteeError) -> Vec<&'static str> {
        match e {
            CommitteeError::Rules(v) => v.iter().filter_map(RuleViolation::static_code).collect(),
            other => vec![other.code()],
        }
    }

    #[test]
    fn composition_follows_article_37() {
        let book = construction();
        assert!(form_committee(&book, &experts(5), &[]).is_ok());
        assert!(form_committee(&book, &experts(4), &reps(1)).is_ok());
        assert!(form_committee(&book, &experts(5), &reps(2)).is_ok());
        // 3 of 5 experts is 60% < 2/3.
        let e = form_committee(&book, &experts(3), &reps(2)).unwrap_err();
        assert_eq!(codes(&e), ["COMMITTEE_TOO_FEW_EXPERTS"]);
        assert!(e.to_string().contains("招标投标法 第37条"), "{e}");
        let e = form_committee(&book, &experts(4), &[]).unwrap_err();
        assert_eq!(codes(&e), ["COMMITTEE_TOO_SMALL", "COMMITTEE_NOT_ODD"]);
        let e = form_committee(&book, &experts(6), &[]).unwrap_err();
        assert_eq!(codes(&e), ["COMMITTEE_NOT_ODD"]);
        let e = form_committee(&book, &experts(3), &[]).unwrap_err();
        assert_eq!(codes(&e), ["COMMITTEE_TOO_SMALL"]);
    }

    #[test]
    fn everyone_checked_in_and_unique() {
        let book = construction();
        let mut e = experts(5);
        e[1].checked_in = false;
        e[3].checked_in = false;
        assert_eq!(
            form_committee(&book, &e, &[]).unwrap_err(),
            CommitteeError::NotCheckedIn(vec!["e2".into(), "e4".into()])
        );
        let mut e = experts(5);
        e[4].id = "e1".into();
        assert_eq!(
            form_committee(&book, &e, &[]).unwrap_err(),
            CommitteeError::DuplicateMember("e1".into())
        );
        let mut e = experts(5);
        e[0].id = " ".into();
        assert_eq!(
            form_committee(&book, &e, &[]).unwrap_err(),
            CommitteeError::EmptyId
        );
        let e = form_committee(&book, &experts(MAX_MEMBERS + 2), &[]).unwrap_err();
        assert_eq!(e.code(), "COMMITTEE_TOO_LARGE");
    }

    #[test]
    fn replacement_keeps_role_and_rules() {
        let book = construction();
        let c = five();
        let expert = |id: &str| Member {
            id: id.into(),
            role: MemberRole::Expert,
        };
        let c2 = c.replace(&book, "e2", expert("e9")).unwrap();
        assert!(c2.is_member("e9") && !c2.is_member("e2"));
        assert_eq!(c2.members()[1].id, "e9");
        assert_eq!(
            c.replace(&book, "x", expert("e9")).unwrap_err(),
            CommitteeError::NotAMember("x".into())
        );
        assert_eq!(
            c.replace(&book, "e2", expert("e3")).unwrap_err(),
            CommitteeError::DuplicateMember("e3".into())
        );
        let rep = Member {
            id: "r9".into(),
            role: MemberRole::TendereeRepresentative,
        };
        assert_eq!(
            c.replace(&book, "e2", rep).unwrap_err().code(),
            "COMMITTEE_ROLE_MISMATCH"
        );
    }

    fn ballots(votes: &[(&str, &str)]) -> Vec<Ballot> {
        votes
            .iter()
            .map(|(v, c)| Ballot {
                voter: (*v).into(),
                candidate: (*c).into(),
            })
            .collect()
    }

    #[test]
    fn leader_needs_a_majority_and_ties_revote() {
        let c = five();
        let mut el = LeaderElection::new(&c);
        // 2–2–1: a tie, vote again.
        let r = el
            .count(&ballots(&[
                ("e1", "e2"),
                ("e2", "e3"),
                ("e3", "e2"),
                ("e4", "e3"),
                ("r1", "e1"),
            ]))
            .unwrap();
        match r {
            RoundResult::Revote {
                next_round,
                leading,
                tally,
            } => {
                assert_eq!(next_round, 2);
                assert_eq!(leading, ["e2", "e3"]);
                assert_eq!(tally.get("e1"), Some(&1));
            }
            other => panic!("expected a revote, got {other:?}"),
        }
        // 2–1–1–1: no tie but no majority, vote again.
        let r = el
            .count(&ballots(&[
                ("e1", "e2"),
                ("e2", "e2"),
                ("e3", "e1"),
                ("e4", "e3"),
                ("r1", "e4"),
            ]))
            .unwrap();
        assert!(
            matches!(r, RoundResult::Revote { next_round: 3, ref leading, .. } if leading == &["e2"])
        );
        assert_eq!(el.leader(), None);
        // 3 of 5: elected in round 3.
        let r = el
            .count(&ballots(&[
                ("e1", "e2"),
                ("e2", "e2"),
                ("e3", "e2"),
                ("e4", "e3"),
                ("r1", "e3"),
            ]))
            .unwrap();
        assert_eq!(
            r,
            RoundResult::Elected {
                leader: "e2".into(),
                votes: 3,
                round: 3
            }
        );
        assert_eq!(el.leader(), Some("e2"));
        assert_eq!(el.count(&[]).unwrap_err(), ElectionError::AlreadyElected);
    }

    #[test]
    fn bad_ballots_are_refused_without_changing_state() {
        let c = five();
        let mut el = LeaderElection::new(&c);
        let all = [
            ("e1", "e1"),
            ("e2", "e1"),
            ("e3", "e1"),
            ("e4", "e1"),
            ("r1", "e1"),
        ];
        let mut b = ballots(&all);
        b[0].voter = "x".into();
        assert_eq!(
            el.count(&b).unwrap_err(),
            ElectionError::VoterNotMember("x".into())
        );
        let mut b = ballots(&all);
        b[0].candidate = "x".into();
        assert_eq!(
            el.count(&b).unwrap_err(),
            ElectionError::CandidateNotMember("x".into())
        );
        let mut b = ballots(&all);
        b[1].voter = "e1".into();
        assert_eq!(
            el.count(&b).unwrap_err(),
            ElectionError::DuplicateVote("e1".into())
        );
        let b = ballots(&all[..3]);
        assert_eq!(
            el.count(&b).unwrap_err(),
            ElectionError::MissingVotes(vec!["e4".into(), "r1".into()])
        );
        assert_eq!(el.round(), 1);
        // Deterministic: the same ballots in another order give the same result.
        let mut rev = ballots(&all);
        rev.reverse();
        let mut other = LeaderElection::new(&c);
        assert_eq!(
            el.count(&ballots(&all)).unwrap(),
            other.count(&rev).unwrap()
        );
    }

    #[test]
    fn unsigned_members_are_deemed_to_agree_once_closed() {
        let c = five();
        let sigs = vec![
            Signature {
                member: "e1".into(),
                act: SignAct::Signed,
            },
            Signature {
                member: "e2".into(),
                act: SignAct::Dissented {
                    reason: "价格分计算有误".into(),
                },
            },
        ];
        let open = signing_status(&c, &sigs, false).unwrap();
        assert!(!open.complete);
        assert_eq!(open.members[0], ("e1".into(), SignStatus::Signed));
        assert_eq!(open.members[2], ("e3".into(), SignStatus::Pending));
        let closed = signing_status(&c, &sigs, true).unwrap();
        assert!(closed.complete);
        assert_eq!(closed.members[4], ("r1".into(), SignStatus::DeemedToAgree));
        assert!(matches!(closed.members[1].1, SignStatus::Dissented { .. }));

        let mut bad = sigs.clone();
        bad.push(Signature {
            member: "e3".into(),
            act: SignAct::Dissented {
                reason: "  ".into(),
            },
        });
        let e = signing_status(&c, &bad, true).unwrap_err();
        assert_eq!(e.code(), "REPORT_DISSENT_WITHOUT_REASON");
        assert!(e.to_string().contains("第53条"));
        let mut dup = sigs.clone();
        dup.push(Signature {
            member: "e1".into(),
            act: SignAct::Dissented {
                reason: "changed my mind".into(),
            },
        });
        assert_eq!(
            signing_status(&c, &dup, true).unwrap_err(),
            SigningError::Duplicate("e1".into())
        );
        let stranger = vec![Signature {
            member: "x".into(),
            act: SignAct::Signed,
        }];
        assert_eq!(
            signing_status(&c, &stranger, true).unwrap_err(),
            SigningError::NotAMember("x".into())
        );
    }

    #[test]
    fn a_replaced_members_conclusions_are_void() {
        let mark = |expert: &str, bid: &str| Mark {
            expert: expert.into(),
            bid: bid.into(),
            criterion: "资格".into(),
            verdict: Verdict::Pass,
            reason: String::new(),
        };
        let sheet = |expert: &str, bid: &str| ScoreSheet {
            expert: expert.into(),
            bid: bid.into(),
            scores: BTreeMap::new(),
        };
        let mut marks = vec![mark("e1", "b1"), mark("e2", "b1"), mark("e2", "b2")];
        let mut sheets = vec![sheet("e2", "b1"), sheet("e1", "b1")];
        let v = void_conclusions("e2", &mut marks, &mut sheets);
        assert_eq!(v.marks_removed, 2);
        assert_eq!(v.sheets_removed, 1);
        assert_eq!(
            v.review_to_recompute.iter().collect::<Vec<_>>(),
            ["b1", "b2"]
        );
        assert_eq!(v.scores_to_recompute.iter().collect::<Vec<_>>(), ["b1"]);
        assert!(v.ranking_to_recompute);
        assert!(marks.iter().all(|m| m.expert == "e1"));
        assert_eq!(sheets.len(), 1);
        let none = void_conclusions("e9", &mut marks, &mut sheets);
        assert_eq!(none, Voided::default());
    }

    #[test]
    fn who_sees_the_members() {
        use TenderState as S;
        for state in [S::Opened, S::Evaluating, S::Publicity] {
            assert!(!sees_members(Role::Agent, false, Some(state)));
            assert!(!sees_members(Role::Operator, false, Some(state)));
            assert!(sees_members(Role::Regulator, false, Some(state)));
            assert!(sees_members(Role::Expert, true, Some(state)));
            assert!(!sees_members(Role::Expert, false, Some(state)));
        }
        for state in [S::Awarded, S::Contracted, S::Cancelled, S::Failed] {
            assert!(sees_members(Role::Agent, false, Some(state)));
            assert!(sees_members(Role::Operator, false, Some(state)));
        }
        assert!(!sees_members(Role::Operator, false, None), "unknown state");
    }

    #[test]
    fn pseudonyms_replace_every_member_id_and_drop_digests() {
        let members = vec!["u-aaa".to_string(), "u-bbb".to_string()];
        let mut v = serde_json::json!({
            "members": [{"id": "u-aaa", "role": "expert"}, {"id": "u-bbb"}],
            "leader": "u-bbb",
            "sheets": [{"member": "u-aaa", "bid_id": "b1", "sha256": "00ff"}],
            "reasons": {"u-bbb": "price wrong", "u-ccc": "kept"},
            "report_sha256": "abcd",
            "salt": "5a17",
            "signing": [{"member": "u-aaa", "credential_id": "cred-1"}],
            "note": "u-aaa wrote this",
        });
        pseudonymise_members(&mut v, &members);
        let text = v.to_string();
        assert!(!text.contains("u-aaa\""), "{text}");
        assert!(!text.contains("\"u-bbb"), "{text}");
        assert!(!text.contains("00ff") && !text.contains("cred-1"), "{text}");
        assert!(
            !text.contains("5a17"),
            "no salt to test guesses with: {text}"
        );
        assert_eq!(v["report_sha256"], "abcd", "over a salted report: kept");
        assert_eq!(v["members"][0]["id"], "member-1");
        assert_eq!(v["leader"], "member-2");
        assert_eq!(v["sheets"][0]["member"], "member-1");
        assert_eq!(v["reasons"]["member-2"], "price wrong");
        assert_eq!(v["reasons"]["u-ccc"], "kept", "not a member: unchanged");
        assert_eq!(v["note"], "u-aaa wrote this", "only whole values are ids");
    }
}
