//! The evaluation's own states and moves (评标: leader election → preliminary review →
//! detailed review → ranked report → delivered, with the suspension while a member is
//! replaced), and the one function that writes an evaluation's state. The tender's machine
//! ([`super::tender`]) says where the trade is; this one says where the committee is while the
//! tender is `evaluating`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Machine, MoveError};
use crate::audit::{self, Actor, Stage};
use crate::clock::to_millis;
use crate::q_exec;
use crate::store::Tx;

/// Where the committee is (the `evaluation.state` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationState {
    /// Electing the leader (组长推选).
    Electing,
    /// The preliminary review (初步评审).
    Review,
    /// The detailed review: score sheets, or the price comparison table (详细评审).
    Scoring,
    /// Ranked; the report is out for signature.
    Ranked,
    /// The signed report is delivered to the tenderee.
    Reported,
    /// Suspended while a member is replaced (实施条例 第48条).
    Replacing,
    /// Too few valid bids (流标).
    Failed,
}

impl EvaluationState {
    /// Every state, in the order of the procedure.
    pub const ALL: [EvaluationState; 7] = [
        EvaluationState::Electing,
        EvaluationState::Review,
        EvaluationState::Scoring,
        EvaluationState::Ranked,
        EvaluationState::Reported,
        EvaluationState::Replacing,
        EvaluationState::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationState::Electing => "electing",
            EvaluationState::Review => "review",
            EvaluationState::Scoring => "scoring",
            EvaluationState::Ranked => "ranked",
            EvaluationState::Reported => "reported",
            EvaluationState::Replacing => "replacing",
            EvaluationState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Whether the committee is at work, so that a member may be replaced.
    pub fn under_way(self) -> bool {
        matches!(
            self,
            EvaluationState::Electing
                | EvaluationState::Review
                | EvaluationState::Scoring
                | EvaluationState::Ranked
        )
    }
}

/// The evaluation procedure.
pub struct Evaluation;

impl Machine for Evaluation {
    type State = EvaluationState;
    const MOVES: &'static [(EvaluationState, EvaluationState)] = {
        use EvaluationState::*;
        &[
            (Electing, Review),
            (Review, Scoring),
            // Fewer valid bids than the rulebook's minimum after the review (否决后不足三家).
            (Review, Failed),
            (Scoring, Ranked),
            // The ranking finds too few valid bids.
            (Scoring, Failed),
            (Ranked, Reported),
            // A member replaced (实施条例 第48条) while the committee is at work …
            (Electing, Replacing),
            (Review, Replacing),
            (Scoring, Replacing),
            (Ranked, Replacing),
            // … and back to the step to redo: a new election, or the review.
            (Replacing, Electing),
            (Replacing, Review),
        ]
    };

    fn name(state: EvaluationState) -> &'static str {
        state.as_str()
    }
}

/// What a move writes besides the state.
#[derive(Debug)]
pub enum Columns {
    /// Nothing else.
    None,
    /// The elected leader.
    Leader(String),
    /// The outcome as stored (`ranking_json`) and, when ranked, the report and its SHA-256;
    /// `ranked_at` is the move's time.
    Outcome {
        /// The outcome's JSON.
        ranking_json: String,
        /// The report's canonical JSON and its SHA-256 hex.
        report: Option<(String, String)>,
    },
    /// The report is delivered: `report_at` is the move's time.
    Delivered,
    /// The committee after a replacement: the outcome and the report are void; a new election
    /// round clears the leader.
    Committee {
        /// The members' JSON.
        members_json: String,
        /// The election round from now on.
        election_round: i64,
        /// Whether the leader is elected again.
        new_election: bool,
    },
}

/// The audit event that records a move. Evaluation events name members, so they are withheld
/// from the public until the award (招标投标法 第37条).
pub struct Event<'a> {
    /// Who moves the evaluation.
    pub actor: &'a Actor,
    /// The audit action (`evaluation.leader`, `evaluation.ranking` …).
    pub action: &'a str,
    /// The audit payload.
    pub payload: Value,
}

/// A move: what it writes and how it is recorded.
pub struct Move<'a> {
    /// The columns written with the state.
    pub columns: Columns,
    /// The move's audit event; `None` only where the same transaction records the move with
    /// the tender's own event (a failure is the tender's `evaluation.failed`).
    pub event: Option<Event<'a>>,
}

impl<'a> Move<'a> {
    /// A move recorded as `action` with `payload`.
    pub fn new(columns: Columns, actor: &'a Actor, action: &'a str, payload: Value) -> Self {
        Self {
            columns,
            event: Some(Event {
                actor,
                action,
                payload,
            }),
        }
    }

    /// A move whose event is the tender's move in the same transaction.
    pub fn recorded_by_tender(columns: Columns) -> Self {
        Self {
            columns,
            event: None,
        }
    }
}

/// A new evaluation's columns; it starts electing its leader, in round 1.
pub struct NewEvaluation {
    /// The tender evaluated.
    pub tender_id: String,
    /// The committee's JSON.
    pub members_json: String,
    /// The preliminary review criteria's JSON.
    pub review_criteria_json: String,
    /// The review's decision rule.
    pub review_rule: String,
    /// The scoring plan's JSON.
    pub plan_json: String,
    /// Who started it.
    pub started_by: String,
}

/// Creates the evaluation in its first state ([`EvaluationState::Electing`]). The tender's move
/// to `evaluating`, in the same transaction, records it. A second evaluation of the tender is
/// the store's unique violation, left to the caller to name.
pub async fn begin(tx: &mut Tx, now: DateTime<Utc>, e: NewEvaluation) -> Result<(), sqlx::Error> {
    q_exec!(
        tx,
        "insert into evaluation (tender_id, state, members_json, review_criteria_json, review_rule,
            plan_json, election_round, started_by, started_at)
         values ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
        e.tender_id,
        EvaluationState::Electing.as_str(),
        e.members_json,
        e.review_criteria_json,
        e.review_rule,
        e.plan_json,
        e.started_by,
        to_millis(now)
    )?;
    Ok(())
}

/// Moves the evaluation of `tender_id` `from → to` in the caller's transaction, writes the
/// move's columns and appends its audit event; returns the event's sequence number. The update
/// is guarded by `from`, so an evaluation moved meanwhile gives [`MoveError::Moved`].
pub async fn transition(
    tx: &mut Tx,
    now: DateTime<Utc>,
    tender_id: &str,
    from: EvaluationState,
    to: EvaluationState,
    m: Move<'_>,
) -> Result<Option<u64>, MoveError> {
    if !Evaluation::allows(from, to) {
        return Err(MoveError::NotAllowed {
            from: from.as_str(),
            to: to.as_str(),
        });
    }
    let (id, from_s, to_s) = (tender_id.to_string(), from.as_str(), to.as_str());
    let at = to_millis(now);
    let n = match m.columns {
        Columns::None => q_exec!(
            tx,
            "update evaluation set state = $1 where tender_id = $2 and state = $3",
            to_s,
            id,
            from_s
        )?,
        Columns::Leader(leader) => q_exec!(
            tx,
            "update evaluation set state = $1, leader_user_id = $2 where tender_id = $3 and state = $4",
            to_s,
            leader,
            id,
            from_s
        )?,
        Columns::Outcome {
            ranking_json,
            report: Some((report_json, report_sha256)),
        } => q_exec!(
            tx,
            "update evaluation set state = $1, ranking_json = $2, ranked_at = $3,
                report_json = $4, report_sha256 = $5
             where tender_id = $6 and state = $7",
            to_s,
            ranking_json,
            at,
            report_json,
            report_sha256,
            id,
            from_s
        )?,
        Columns::Outcome {
            ranking_json,
            report: None,
        } => q_exec!(
            tx,
            "update evaluation set state = $1, ranking_json = $2, ranked_at = $3
             where tender_id = $4 and state = $5",
            to_s,
            ranking_json,
            at,
            id,
            from_s
        )?,
        Columns::Delivered => q_exec!(
            tx,
            "update evaluation set state = $1, report_at = $2 where tender_id = $3 and state = $4",
            to_s,
            at,
            id,
            from_s
        )?,
        Columns::Committee {
            members_json,
            election_round,
            new_election: true,
        } => q_exec!(
            tx,
            "update evaluation set state = $1, members_json = $2, election_round = $3,
                leader_user_id = null, ranking_json = null, report_json = null,
                report_sha256 = null, ranked_at = null
             where tender_id = $4 and state = $5",
            to_s,
            members_json,
            election_round,
            id,
            from_s
        )?,
        Columns::Committee {
            members_json,
            new_election: false,
            ..
        } => q_exec!(
            tx,
            "update evaluation set state = $1, members_json = $2, ranking_json = null,
                report_json = null, report_sha256 = null, ranked_at = null
             where tender_id = $3 and state = $4",
            to_s,
            members_json,
            id,
            from_s
        )?,
    };
    if n == 0 {
        return Err(MoveError::Moved);
    }
    Ok(match m.event {
        Some(e) => Some(
            audit::append_withheld_until(
                tx,
                now,
                e.actor,
                e.action,
                tender_id,
                e.payload,
                Stage::Award,
            )
            .await?,
        ),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in EvaluationState::ALL {
            assert_eq!(EvaluationState::parse(s.as_str()), Some(s));
            let json = serde_json::to_value(s).unwrap_or_default();
            assert_eq!(json, s.as_str(), "serde and the stored name agree");
        }
        assert_eq!(EvaluationState::parse("evaluating"), None);
    }

    /// docs/ARCHITECTURE.md draws the machine; the drawing lists exactly its moves.
    #[test]
    fn the_documented_diagram_is_the_machine() {
        let doc = include_str!("../../docs/ARCHITECTURE.md");
        let diagram = doc
            .split("stateDiagram-v2")
            .find(|d| d.trim_start().starts_with("%% the evaluation"))
            .and_then(|d| d.split_once("```"))
            .map(|(d, _)| d)
            .unwrap_or_default();
        let drawn = super::super::drawn_moves(diagram);
        let machine: std::collections::BTreeSet<(String, String)> = Evaluation::MOVES
            .iter()
            .map(|(f, t)| (f.as_str().to_string(), t.as_str().to_string()))
            .collect();
        assert_eq!(drawn, machine);
    }

    #[test]
    fn every_state_is_reachable_from_electing() {
        let mut seen = vec![EvaluationState::Electing];
        let mut i = 0;
        while let Some(&s) = seen.get(i) {
            for &(from, to) in Evaluation::MOVES {
                if from == s && !seen.contains(&to) {
                    seen.push(to);
                }
            }
            i += 1;
        }
        for s in EvaluationState::ALL {
            assert!(seen.contains(&s), "{s:?} unreachable");
        }
    }

    #[test]
    fn only_a_committee_at_work_is_suspended_and_it_comes_back_to_redo() {
        for s in EvaluationState::ALL {
            assert_eq!(
                Evaluation::allows(s, EvaluationState::Replacing),
                s.under_way(),
                "{s:?}"
            );
        }
        let back: Vec<_> = Evaluation::MOVES
            .iter()
            .filter(|(from, _)| *from == EvaluationState::Replacing)
            .map(|(_, to)| *to)
            .collect();
        assert_eq!(back, [EvaluationState::Electing, EvaluationState::Review]);
        for end in [EvaluationState::Reported, EvaluationState::Failed] {
            assert!(
                !Evaluation::MOVES.iter().any(|(from, _)| *from == end),
                "{end:?} is final for the committee"
            );
        }
    }
}
