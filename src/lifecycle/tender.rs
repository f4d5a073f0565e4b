//! The tender procedure's states and moves, its facts as every feature needs them, the
//! owner check, and the one function that writes a tender's state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Machine, MoveError};
use crate::audit::{self, Actor};
use crate::clock::to_millis;
use crate::identity::{Caller, Role, SessionUser};
use crate::store::{StoreError, Tx};
use crate::{q_exec, q_opt};

/// Where a tender is in its lifecycle (DESIGN.md "Lifecycle of a tender").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenderState {
    /// Being prepared by the agent; visible to the agent, operators and regulators only.
    Draft,
    /// Announced; documents downloadable, questions and bids accepted until the deadline.
    Published,
    /// The bid deadline has passed (set by the deadline job).
    Closed,
    /// Bids opened (开标).
    Opened,
    /// Under evaluation (评标).
    Evaluating,
    /// Candidates publicised (中标候选人公示).
    Publicity,
    /// Result announced (中标结果).
    Awarded,
    /// Contract signed.
    Contracted,
    /// Terminated (终止) with a reason.
    Cancelled,
    /// Failed (流标): too few valid bids.
    Failed,
    /// Suspended (暂停) by a regulator during a complaint or case (实施条例 第62条); every
    /// further step is refused until it is resumed to the state it was suspended from.
    Suspended,
}

impl TenderState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TenderState::Draft => "draft",
            TenderState::Published => "published",
            TenderState::Closed => "closed",
            TenderState::Opened => "opened",
            TenderState::Evaluating => "evaluating",
            TenderState::Publicity => "publicity",
            TenderState::Awarded => "awarded",
            TenderState::Contracted => "contracted",
            TenderState::Cancelled => "cancelled",
            TenderState::Failed => "failed",
            TenderState::Suspended => "suspended",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => TenderState::Draft,
            "published" => TenderState::Published,
            "closed" => TenderState::Closed,
            "opened" => TenderState::Opened,
            "evaluating" => TenderState::Evaluating,
            "publicity" => TenderState::Publicity,
            "awarded" => TenderState::Awarded,
            "contracted" => TenderState::Contracted,
            "cancelled" => TenderState::Cancelled,
            "failed" => TenderState::Failed,
            "suspended" => TenderState::Suspended,
            _ => return None,
        })
    }

    /// Whether the tender has reached its result (awarded, or ended without one), after
    /// which the committee's names are no longer secret (招标投标法 第37条: 中标结果确定前保密).
    pub fn committee_disclosed(self) -> bool {
        matches!(
            self,
            TenderState::Awarded
                | TenderState::Contracted
                | TenderState::Cancelled
                | TenderState::Failed
        )
    }

    /// Chinese label for messages and pages.
    pub fn label_zh(self) -> &'static str {
        match self {
            TenderState::Draft => "草稿",
            TenderState::Published => "已发布",
            TenderState::Closed => "已截标",
            TenderState::Opened => "已开标",
            TenderState::Evaluating => "评标中",
            TenderState::Publicity => "候选人公示",
            TenderState::Awarded => "已定标",
            TenderState::Contracted => "已签约",
            TenderState::Cancelled => "已终止",
            TenderState::Failed => "已流标",
            TenderState::Suspended => "已暂停",
        }
    }

    /// The state as a refusal names it: a suspended tender says it stopped for supervision,
    /// so whoever is refused learns why (实施条例 第62条).
    pub fn refusal_name(self) -> &'static str {
        match self {
            TenderState::Suspended => {
                "suspended for supervision by the regulator (实施条例 第62条)"
            }
            s => s.as_str(),
        }
    }

    /// The Chinese label as a refusal names it (see [`TenderState::refusal_name`]).
    pub fn refusal_label_zh(self) -> &'static str {
        match self {
            TenderState::Suspended => "已被行政监督部门暂停，实施条例 第62条",
            s => s.label_zh(),
        }
    }

    /// Whether the tender may still be cancelled (终止): any state before the award, except
    /// the terminal ones.
    pub fn cancellable(self) -> bool {
        matches!(
            self,
            TenderState::Draft
                | TenderState::Published
                | TenderState::Closed
                | TenderState::Opened
                | TenderState::Evaluating
                | TenderState::Publicity
        )
    }

    /// Every state, in the order of the procedure.
    pub const ALL: [TenderState; 11] = [
        TenderState::Draft,
        TenderState::Published,
        TenderState::Closed,
        TenderState::Opened,
        TenderState::Evaluating,
        TenderState::Publicity,
        TenderState::Awarded,
        TenderState::Contracted,
        TenderState::Cancelled,
        TenderState::Failed,
        TenderState::Suspended,
    ];

    /// The states a regulator may suspend (实施条例 第62条): every state in which the
    /// procedure still has a step to take.
    pub const SUSPENDABLE: [TenderState; 6] = [
        TenderState::Published,
        TenderState::Closed,
        TenderState::Opened,
        TenderState::Evaluating,
        TenderState::Publicity,
        TenderState::Awarded,
    ];

    /// The states from which [`cancellable`](Self::cancellable) is true, for SQL guards.
    pub const CANCELLABLE: [&'static str; 6] = [
        "draft",
        "published",
        "closed",
        "opened",
        "evaluating",
        "publicity",
    ];
}

/// The tender procedure (DESIGN.md "Lifecycle of a tender").
pub struct Tender;

impl Machine for Tender {
    type State = TenderState;
    const MOVES: &'static [(TenderState, TenderState)] = {
        use TenderState::*;
        &[
            (Draft, Published),
            // The deadline job, or the opening when the job has not run yet.
            (Published, Closed),
            (Closed, Opened),
            // Fewer valid bids than the rulebook's minimum at the opening (流标).
            (Closed, Failed),
            (Opened, Evaluating),
            // The committee finds too few valid bids (否决后不足三家).
            (Evaluating, Failed),
            (Evaluating, Publicity),
            // Procedures without a candidate publicity award straight from the report.
            (Evaluating, Awarded),
            (Publicity, Awarded),
            (Awarded, Contracted),
            // Termination (终止) from any state before the award.
            (Draft, Cancelled),
            (Published, Cancelled),
            (Closed, Cancelled),
            (Opened, Cancelled),
            (Evaluating, Cancelled),
            (Publicity, Cancelled),
            // A regulator suspends (实施条例 第62条) and later resumes to the same state.
            (Published, Suspended),
            (Closed, Suspended),
            (Opened, Suspended),
            (Evaluating, Suspended),
            (Publicity, Suspended),
            (Awarded, Suspended),
            (Suspended, Published),
            (Suspended, Closed),
            (Suspended, Opened),
            (Suspended, Evaluating),
            (Suspended, Publicity),
            (Suspended, Awarded),
        ]
    };

    fn name(state: TenderState) -> &'static str {
        state.as_str()
    }
}

/// What every feature needs to know about a tender before acting on it.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Identifier.
    pub tender_id: String,
    /// Project code.
    pub code: String,
    /// Title.
    pub title: String,
    /// Where the tender is.
    pub state: TenderState,
    /// Rulebook id.
    pub rulebook_id: String,
    /// Category (rulebook fallback).
    pub category: String,
    /// Procedure (rulebook fallback).
    pub procedure: String,
    /// The tenderee organisation.
    pub tenderee_org_id: String,
    /// The agent organisation that owns the tender.
    pub agent_org_id: Option<String>,
    /// Bid deadline (ms).
    pub bid_deadline_at: i64,
    /// Published (ms; `None` for drafts).
    pub published_at: Option<i64>,
    /// Evaluation method (stored name).
    pub evaluation_method: String,
}

#[derive(sqlx::FromRow)]
struct FactsRow {
    tender_id: String,
    code: String,
    title: String,
    state: String,
    rulebook_id: String,
    category: String,
    procedure: String,
    tenderee_org_id: String,
    agent_org_id: Option<String>,
    bid_deadline_at: i64,
    published_at: Option<i64>,
    evaluation_method: String,
}

const FACTS: &str = "select tender_id, code, title, state, rulebook_id, category, procedure, \
     tenderee_org_id, agent_org_id, bid_deadline_at, published_at, evaluation_method from tender";

impl TryFrom<FactsRow> for Facts {
    type Error = FactsError;
    fn try_from(r: FactsRow) -> Result<Self, FactsError> {
        let state = TenderState::parse(&r.state).ok_or(FactsError::Corrupt(r.state))?;
        Ok(Facts {
            tender_id: r.tender_id,
            code: r.code,
            title: r.title,
            state,
            rulebook_id: r.rulebook_id,
            category: r.category,
            procedure: r.procedure,
            tenderee_org_id: r.tenderee_org_id,
            agent_org_id: r.agent_org_id,
            bid_deadline_at: r.bid_deadline_at,
            published_at: r.published_at,
            evaluation_method: r.evaluation_method,
        })
    }
}

/// Why a tender's facts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// No tender with that code or id.
    #[error("tender not found / 未找到")]
    NotFound,
    /// The stored state is no state of the machine.
    #[error("corrupt tender state {0:?}")]
    Corrupt(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<sqlx::Error> for FactsError {
    fn from(e: sqlx::Error) -> Self {
        FactsError::Store(e.into())
    }
}

/// Loads a tender's facts by its project code.
pub async fn by_code(tx: &mut Tx, code: &str) -> Result<Facts, FactsError> {
    let sql = format!("{FACTS} where code = $1");
    q_opt!(tx, FactsRow, sqlx::AssertSqlSafe(sql), code.to_string())?
        .ok_or(FactsError::NotFound)?
        .try_into()
}

/// Loads a tender's facts by its id.
pub async fn by_id(tx: &mut Tx, tender_id: &str) -> Result<Facts, FactsError> {
    let sql = format!("{FACTS} where tender_id = $1");
    q_opt!(
        tx,
        FactsRow,
        sqlx::AssertSqlSafe(sql),
        tender_id.to_string()
    )?
    .ok_or(FactsError::NotFound)?
    .try_into()
}

/// Whether the bidder organisation may obtain the documents of, and bid for, the tender:
/// anyone for open tendering; for invited tendering (邀请招标, 招标投标法 第17条) only the
/// organisations invited.
pub async fn may_take_part(
    tx: &mut Tx,
    tender_id: &str,
    procedure: &str,
    org_id: &str,
) -> Result<bool, StoreError> {
    if procedure != "invited" {
        return Ok(true);
    }
    let row: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select org_id from tender_invitation where tender_id = $1 and org_id = $2",
        tender_id.to_owned(),
        org_id.to_owned()
    )?;
    Ok(row.is_some())
}

/// Whether `caller` is an agent of the organisation that owns the tender: the one owner
/// check (the tenderee acts through its agent).
pub fn is_owner(caller: &Caller, agent_org_id: Option<&str>) -> bool {
    user_is_owner(&caller.user, agent_org_id)
}

/// [`is_owner`] for a session user (pages that show a tender before anyone acts on it).
pub fn user_is_owner(user: &SessionUser, agent_org_id: Option<&str>) -> bool {
    user.role == Role::Agent && user.org_id.is_some() && user.org_id.as_deref() == agent_org_id
}

/// Whether `user` may see the tender in any state, drafts included: its owner, operators
/// and regulators. Everyone else sees it only once published.
pub fn may_read_all(user: Option<&SessionUser>, agent_org_id: Option<&str>) -> bool {
    user.is_some_and(|u| {
        user_is_owner(u, agent_org_id) || matches!(u.role, Role::Operator | Role::Regulator)
    })
}

/// What a move records besides the state: the audit event, and the columns some moves set.
pub struct Move<'a> {
    /// Who moves the tender.
    pub actor: &'a Actor,
    /// The audit action (`tender.publish`, `result.award` …).
    pub action: &'a str,
    /// The audit payload.
    pub payload: Value,
    /// The termination reason, for a move to `cancelled`.
    pub cancel_reason: Option<String>,
    /// The stage until which the event is withheld from the public (it names the committee).
    pub withheld_until: Option<audit::Stage>,
}

impl<'a> Move<'a> {
    /// A move recorded as `action` with `payload`.
    pub fn new(actor: &'a Actor, action: &'a str, payload: Value) -> Self {
        Self {
            actor,
            action,
            payload,
            cancel_reason: None,
            withheld_until: None,
        }
    }

    /// The same move with its event withheld from the public until `stage`.
    pub fn withheld_until(mut self, stage: audit::Stage) -> Self {
        self.withheld_until = Some(stage);
        self
    }
}

/// Moves a tender `from → to` in the caller's transaction and appends the move's audit
/// event; returns the event's sequence number. The update is guarded by `from` (and, for
/// closing, by the bid deadline having passed), so a tender moved meanwhile by another
/// request gives [`MoveError::Moved`] and nothing is written.
pub async fn transition(
    tx: &mut Tx,
    now: DateTime<Utc>,
    tender_id: &str,
    from: TenderState,
    to: TenderState,
    m: Move<'_>,
) -> Result<u64, MoveError> {
    if !Tender::allows(from, to) {
        return Err(MoveError::NotAllowed {
            from: from.as_str(),
            to: to.as_str(),
        });
    }
    let at = to_millis(now);
    let id = tender_id.to_string();
    let (from_s, to_s) = (from.as_str(), to.as_str());
    let n = match to {
        TenderState::Published => q_exec!(
            tx,
            "update tender set state = $1, published_at = $2, updated_at = $2
             where tender_id = $3 and state = $4",
            to_s,
            at,
            id,
            from_s
        )?,
        TenderState::Closed => q_exec!(
            tx,
            "update tender set state = $1, updated_at = $2
             where tender_id = $3 and state = $4 and bid_deadline_at <= $2",
            to_s,
            at,
            id,
            from_s
        )?,
        TenderState::Cancelled => q_exec!(
            tx,
            "update tender set state = $1, cancelled_at = $2, cancel_reason = $3, updated_at = $2
             where tender_id = $4 and state = $5",
            to_s,
            at,
            m.cancel_reason.clone(),
            id,
            from_s
        )?,
        _ => q_exec!(
            tx,
            "update tender set state = $1, updated_at = $2 where tender_id = $3 and state = $4",
            to_s,
            at,
            id,
            from_s
        )?,
    };
    if n == 0 {
        return Err(MoveError::Moved);
    }
    Ok(match m.withheld_until {
        Some(stage) => {
            audit::append_withheld_until(tx, now, m.actor, m.action, tender_id, m.payload, stage)
                .await?
        }
        None => audit::append(tx, now, m.actor, m.action, Some(tender_id), m.payload).await?,
    })
}

/// Puts a tender in any state, bypassing the machine: only for tests that need a tender in
/// a given state without walking the whole procedure.
#[cfg(test)]
pub async fn force_state(db: &crate::store::Db, tender_id: &str, to: TenderState) {
    let mut tx = db.begin().await.expect("begin");
    q_exec!(
        tx,
        "update tender set state = $1 where tender_id = $2",
        to.as_str(),
        tender_id.to_string()
    )
    .expect("force state");
    tx.commit().await.expect("commit");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_before_the_award_may_be_cancelled_and_none_after() {
        for s in TenderState::ALL {
            assert_eq!(
                Tender::allows(s, TenderState::Cancelled),
                s.cancellable(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for s in [
            TenderState::Contracted,
            TenderState::Cancelled,
            TenderState::Failed,
        ] {
            assert!(Tender::MOVES.iter().all(|(from, _)| *from != s), "{s:?}");
        }
    }

    /// docs/ARCHITECTURE.md draws the machine; the drawing lists exactly its moves.
    #[test]
    fn the_documented_diagram_is_the_machine() {
        let doc = include_str!("../../docs/ARCHITECTURE.md");
        let diagram = doc
            .split_once("stateDiagram-v2")
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(d, _)| d)
            .expect("a state diagram in docs/ARCHITECTURE.md");
        let drawn = super::super::drawn_moves(diagram);
        let machine: std::collections::BTreeSet<(String, String)> = Tender::MOVES
            .iter()
            .map(|(f, t)| (f.as_str().to_string(), t.as_str().to_string()))
            .collect();
        assert_eq!(drawn, machine);
    }

    #[test]
    fn a_suspended_tender_returns_only_to_a_suspendable_state() {
        for s in TenderState::ALL {
            let suspendable = TenderState::SUSPENDABLE.contains(&s);
            assert_eq!(
                Tender::allows(s, TenderState::Suspended),
                suspendable,
                "{s:?}"
            );
            assert_eq!(
                Tender::allows(TenderState::Suspended, s),
                suspendable,
                "{s:?}"
            );
        }
        assert!(!TenderState::Suspended.cancellable());
    }

    #[test]
    fn every_state_is_reachable_from_a_draft() {
        let mut seen = vec![TenderState::Draft];
        while let Some(next) = Tender::MOVES
            .iter()
            .find(|(f, t)| seen.contains(f) && !seen.contains(t))
        {
            seen.push(next.1);
        }
        assert_eq!(seen.len(), TenderState::ALL.len());
    }
}
