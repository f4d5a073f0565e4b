//! The auction and listing procedure (拍卖, 挂牌; DESIGN.md "Auctions and listings"): its
//! states and moves, its facts, and the one function that writes a trade's state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Machine, MoveError};
use crate::audit::{self, Actor};
use crate::clock::to_millis;
use crate::store::Tx;
use crate::{q_exec, q_opt};

/// Where a trade is (DESIGN.md "Auctions and listings").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuctionState {
    /// Being prepared by the agent; seen by its owner, operators and regulators only.
    Draft,
    /// Announced (公告): bidders apply and pay their deposit until bidding starts.
    Announced,
    /// The listing period (挂牌期): quotes are taken until it ends.
    Listing,
    /// Live timed bidding (限时竞价), on its own or after a listing.
    Bidding,
    /// Bidding is over and a reserve price (底价) is sealed: the custodians open it, and the
    /// highest bid is a deal only if it reaches the reserve.
    Ended,
    /// Ended with a winner (成交).
    Deal,
    /// Ended without one (流拍 / 挂牌不成交).
    NoDeal,
    /// Terminated (终止) with a reason.
    Cancelled,
}

impl AuctionState {
    /// Every state, in the order of the procedure.
    pub const ALL: [AuctionState; 8] = [
        AuctionState::Draft,
        AuctionState::Announced,
        AuctionState::Listing,
        AuctionState::Bidding,
        AuctionState::Ended,
        AuctionState::Deal,
        AuctionState::NoDeal,
        AuctionState::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuctionState::Draft => "draft",
            AuctionState::Announced => "announced",
            AuctionState::Listing => "listing",
            AuctionState::Bidding => "bidding",
            AuctionState::Ended => "ended",
            AuctionState::Deal => "deal",
            AuctionState::NoDeal => "no_deal",
            AuctionState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the trade has ended, after which who the bidders were is public.
    pub fn ended(self) -> bool {
        matches!(
            self,
            AuctionState::Deal | AuctionState::NoDeal | AuctionState::Cancelled
        )
    }

    /// Chinese label.
    pub fn label_zh(self) -> &'static str {
        match self {
            AuctionState::Draft => "草稿",
            AuctionState::Announced => "公告中",
            AuctionState::Listing => "挂牌中",
            AuctionState::Bidding => "竞价中",
            AuctionState::Ended => "竞价结束，待开启底价",
            AuctionState::Deal => "已成交",
            AuctionState::NoDeal => "流拍",
            AuctionState::Cancelled => "已终止",
        }
    }
}

/// The auction procedure.
pub struct Auction;

impl Machine for Auction {
    type State = AuctionState;
    const MOVES: &'static [(AuctionState, AuctionState)] = {
        use AuctionState::*;
        &[
            (Draft, Announced),
            // Time-driven: the announcement period is over.
            (Announced, Bidding),
            (Announced, Listing),
            // 39号令 第21条: two or more bidders want to go on at the end of a listing.
            (Listing, Bidding),
            // 39号令 第21条: one quote at or above the reserve, or the highest of several.
            (Listing, Deal),
            (Listing, NoDeal),
            (Bidding, Deal),
            (Bidding, NoDeal),
            // With a sealed reserve the end waits for the custodians: below the reserve there
            // is no deal (39号令 第21条 for a listing; docs/auctions.md for the auction).
            (Listing, Ended),
            (Bidding, Ended),
            (Ended, Deal),
            (Ended, NoDeal),
            (Draft, Cancelled),
            (Announced, Cancelled),
            (Listing, Cancelled),
            (Bidding, Cancelled),
        ]
    };

    fn name(state: AuctionState) -> &'static str {
        state.as_str()
    }
}

#[derive(sqlx::FromRow)]
struct FactsRow {
    trade_id: String,
    code: String,
    kind: String,
    category: String,
    state: String,
    agent_org_id: String,
    starts_at: i64,
    ends_at: i64,
    bid_count: i64,
    current_price_fen: Option<i64>,
}

/// What every feature needs to know about a trade.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Identifier.
    pub trade_id: String,
    /// Public code.
    pub code: String,
    /// A listing (挂牌) rather than an auction.
    pub listing: bool,
    /// Category (the rulebook).
    pub category: String,
    /// Where it is.
    pub state: AuctionState,
    /// The agent organisation that owns it.
    pub agent_org_id: String,
    /// Bidding or listing start (ms).
    pub starts_at: i64,
    /// Current end (ms).
    pub ends_at: i64,
    /// Accepted bids so far.
    pub bid_count: i64,
    /// The running price.
    pub current_price_fen: Option<i64>,
}

/// Why a trade's facts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// No trade with that code.
    #[error("trade not found / 未找到")]
    NotFound,
    /// A stored value no code writes.
    #[error("corrupt trade row {0:?}")]
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

/// Loads a trade's facts by its code.
pub async fn by_code(tx: &mut Tx, code: &str) -> Result<Facts, FactsError> {
    // No trade has another code (`auction::service` checks it at drafting); anything else,
    // a NUL included that PostgreSQL would refuse as text, is not found without a query.
    let well_formed = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(FactsError::NotFound);
    }
    let row = q_opt!(
        tx,
        FactsRow,
        "select trade_id, code, kind, category, state, agent_org_id, starts_at, ends_at,
                bid_count, current_price_fen
         from auction_trade where code = $1",
        code.to_string()
    )?
    .ok_or(FactsError::NotFound)?;
    let state = AuctionState::parse(&row.state).ok_or(FactsError::Corrupt(row.state))?;
    Ok(Facts {
        trade_id: row.trade_id,
        code: row.code,
        listing: row.kind == "listing",
        category: row.category,
        state,
        agent_org_id: row.agent_org_id,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        bid_count: row.bid_count,
        current_price_fen: row.current_price_fen,
    })
}

/// What a move records besides the state.
pub struct Move<'a> {
    /// Who moves the trade.
    pub actor: &'a Actor,
    /// The audit action.
    pub action: &'a str,
    /// The audit payload.
    pub payload: Value,
    /// For `announced`: when bidding starts and ends.
    pub period: Option<(i64, i64)>,
    /// For `bidding` after a listing: the new end.
    pub ends_at: Option<i64>,
    /// For `deal`: the winner's bidder number, the price, the signed confirmation.
    pub result: Option<DealResult>,
    /// For `cancelled`: the reason.
    pub cancel_reason: Option<String>,
}

/// What a deal records.
pub struct DealResult {
    /// The winner's bidder number.
    pub bidder_no: String,
    /// The price.
    pub price_fen: i64,
    /// The confirmation (canonical JSON).
    pub confirmation: String,
    /// Its signature (base64).
    pub signature: String,
}

impl<'a> Move<'a> {
    /// A move recorded as `action` with `payload`.
    pub fn new(actor: &'a Actor, action: &'a str, payload: Value) -> Self {
        Self {
            actor,
            action,
            payload,
            period: None,
            ends_at: None,
            result: None,
            cancel_reason: None,
        }
    }
}

/// Moves a trade `from → to` in the caller's transaction and appends the move's public
/// audit event; returns its sequence number. Guarded by `from`, and for the time-driven
/// moves by the time (bidding starts only once `starts_at` has come, and ends only once
/// `ends_at` has passed, whatever extensions moved it meanwhile), so a trade moved by
/// another request or process gives [`MoveError::Moved`] and nothing is written.
pub async fn transition(
    tx: &mut Tx,
    now: DateTime<Utc>,
    trade_id: &str,
    from: AuctionState,
    to: AuctionState,
    m: Move<'_>,
) -> Result<u64, MoveError> {
    if !Auction::allows(from, to) {
        return Err(MoveError::NotAllowed {
            from: from.as_str(),
            to: to.as_str(),
        });
    }
    let at = to_millis(now);
    let id = trade_id.to_string();
    let (from_s, to_s) = (from.as_str(), to.as_str());
    let n = match (from, to) {
        (AuctionState::Draft, AuctionState::Announced) => {
            let (starts, ends) = m.period.unwrap_or((0, 0));
            q_exec!(
                tx,
                "update auction_trade set state = $1, announced_at = $2, starts_at = $3,
                    ends_at = $4, updated_at = $2
                 where trade_id = $5 and state = $6",
                to_s,
                at,
                starts,
                ends,
                id,
                from_s
            )?
        }
        (AuctionState::Announced, AuctionState::Bidding | AuctionState::Listing) => q_exec!(
            tx,
            "update auction_trade set state = $1, updated_at = $2
             where trade_id = $3 and state = $4 and starts_at <= $2",
            to_s,
            at,
            id,
            from_s
        )?,
        (AuctionState::Listing, AuctionState::Bidding) => q_exec!(
            tx,
            "update auction_trade set state = $1, ends_at = $2, updated_at = $3
             where trade_id = $4 and state = $5 and ends_at <= $3",
            to_s,
            m.ends_at.unwrap_or(at),
            at,
            id,
            from_s
        )?,
        (_, AuctionState::Ended) => q_exec!(
            tx,
            "update auction_trade set state = $1, updated_at = $2
             where trade_id = $3 and state = $4 and ends_at <= $2",
            to_s,
            at,
            id,
            from_s
        )?,
        (_, AuctionState::Deal) => {
            let Some(r) = &m.result else {
                return Err(MoveError::NotAllowed {
                    from: from_s,
                    to: to_s,
                });
            };
            q_exec!(
                tx,
                "update auction_trade set state = $1, winner_bidder_no = $2, result_price_fen = $3,
                    confirmation = $4, confirmation_sig = $5, ended_at = $6, updated_at = $6
                 where trade_id = $7 and state = $8 and ends_at <= $6",
                to_s,
                r.bidder_no.clone(),
                r.price_fen,
                r.confirmation.clone(),
                r.signature.clone(),
                at,
                id,
                from_s
            )?
        }
        (_, AuctionState::NoDeal) => q_exec!(
            tx,
            "update auction_trade set state = $1, ended_at = $2, updated_at = $2
             where trade_id = $3 and state = $4 and ends_at <= $2",
            to_s,
            at,
            id,
            from_s
        )?,
        (_, AuctionState::Cancelled) => q_exec!(
            tx,
            "update auction_trade set state = $1, cancel_reason = $2, ended_at = $3, updated_at = $3
             where trade_id = $4 and state = $5",
            to_s,
            m.cancel_reason.clone(),
            at,
            id,
            from_s
        )?,
        _ => q_exec!(
            tx,
            "update auction_trade set state = $1, updated_at = $2 where trade_id = $3 and state = $4",
            to_s,
            at,
            id,
            from_s
        )?,
    };
    if n == 0 {
        return Err(MoveError::Moved);
    }
    Ok(audit::append(tx, now, m.actor, m.action, Some(trade_id), m.payload).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_states_have_no_way_out() {
        for s in AuctionState::ALL.into_iter().filter(|s| s.ended()) {
            assert!(Auction::MOVES.iter().all(|(from, _)| *from != s), "{s:?}");
        }
    }

    #[test]
    fn every_state_is_reachable_from_a_draft() {
        let mut seen = vec![AuctionState::Draft];
        while let Some(next) = Auction::MOVES
            .iter()
            .find(|(f, t)| seen.contains(f) && !seen.contains(t))
        {
            seen.push(next.1);
        }
        assert_eq!(seen.len(), AuctionState::ALL.len());
    }

    #[test]
    fn names_round_trip() {
        for s in AuctionState::ALL {
            assert_eq!(AuctionState::parse(s.as_str()), Some(s));
        }
    }

    /// docs/ARCHITECTURE.md draws the machine; the drawing lists exactly its moves.
    #[test]
    fn the_documented_diagram_is_the_machine() {
        let doc = include_str!("../../docs/ARCHITECTURE.md");
        let diagram = doc
            .split_once("%% the auction (lifecycle::auction)")
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(d, _)| d)
            .expect("the auction's state diagram in docs/ARCHITECTURE.md");
        let drawn = super::super::drawn_moves(diagram);
        let machine: std::collections::BTreeSet<(String, String)> = Auction::MOVES
            .iter()
            .map(|(f, t)| (f.as_str().to_string(), t.as_str().to_string()))
            .collect();
        assert_eq!(drawn, machine);
    }
}
