//! The one owner of each trade's state (DESIGN.md "Lifecycle of a tender"). A procedure is
//! a [`Machine`]: its states and the moves between them. Only this module writes a trade's
//! `state` column, each move in the caller's transaction together with its audit event, and
//! guarded by the state it was read in, so two requests can never both move the same trade.
//!
//! A second procedure family (auctions, listings) adds its own file with its own states and
//! table; nothing of the tender's machine changes.

pub mod auction;
pub mod evaluation;
pub mod tender;

use std::fmt::Debug;

/// A procedure's state machine: its states and the moves the law allows between them.
pub trait Machine {
    /// The procedure's states.
    type State: Copy + Eq + Debug + 'static;
    /// Every allowed move, `(from, to)`.
    const MOVES: &'static [(Self::State, Self::State)];
    /// The stored name of a state.
    fn name(state: Self::State) -> &'static str;
    /// Whether the machine allows `from → to`.
    fn allows(from: Self::State, to: Self::State) -> bool {
        Self::MOVES.contains(&(from, to))
    }
}

/// Why a move did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// The machine has no such move (a programming error, or a rule this code forgot).
    #[error("the move {from} → {to} is not part of the procedure")]
    NotAllowed {
        /// The state moved from.
        from: &'static str,
        /// The state asked for.
        to: &'static str,
    },
    /// The trade was no longer in the state it was read in (another request moved it, or a
    /// time guard such as the bid deadline does not hold yet).
    #[error("the trade was moved by another request / 项目状态已被其他操作改变")]
    Moved,
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<sqlx::Error> for MoveError {
    fn from(e: sqlx::Error) -> Self {
        MoveError::Store(e.into())
    }
}

/// The moves a mermaid state diagram draws (`from --> to`, without the start and end
/// markers): what each machine's test compares with its `MOVES`.
#[cfg(test)]
fn drawn_moves(diagram: &str) -> std::collections::BTreeSet<(String, String)> {
    diagram
        .lines()
        .filter_map(|l| l.trim().split_once(" --> "))
        .filter(|(f, t)| *f != "[*]" && *t != "[*]")
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect()
}
