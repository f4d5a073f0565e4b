//! What the live view shows, read from the database each time: the trade's price, end and
//! state, and the bids after the last one the watcher has. Because the order and the end
//! live in the database, every process serves the same sequence to its watchers; the HTTP
//! layer turns these updates into server-sent events (`routes::live`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AuctionError;
use super::bidding::{BidView, bids_after};
use crate::clock::to_millis;
use crate::error::Common;
use crate::lifecycle::auction::{self as lifecycle, AuctionState};
use crate::store::Db;

/// One update of the live view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LiveUpdate {
    /// The trade's state.
    pub state: String,
    /// The current price (fen).
    pub current_price_fen: Option<i64>,
    /// Bids accepted so far (the last one's seq).
    pub bid_count: i64,
    /// Bidding or listing start (ms).
    pub starts_at: i64,
    /// The current end (ms).
    pub ends_at: i64,
    /// The server's time (ms): the countdown is `ends_at - server_time`, whatever the
    /// watcher's own clock says.
    pub server_time: i64,
    /// Bids after the ones the watcher had, in order.
    pub bids: Vec<BidView>,
}

impl LiveUpdate {
    /// Whether nothing but the server time differs from `other`.
    pub fn same_as(&self, other: &LiveUpdate) -> bool {
        self.state == other.state
            && self.current_price_fen == other.current_price_fen
            && self.bid_count == other.bid_count
            && self.ends_at == other.ends_at
            && self.bids.is_empty()
    }

    /// Whether the trade has ended (the stream can close after this update).
    pub fn ended(&self) -> bool {
        AuctionState::parse(&self.state).is_some_and(AuctionState::ended)
    }
}

/// The live view of a published trade, with the bids after `after`.
pub async fn update(
    db: &Db,
    now: DateTime<Utc>,
    code: &str,
    after: i64,
) -> Result<LiveUpdate, AuctionError> {
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if facts.state == AuctionState::Draft {
        return Err(Common::NotFound("trade").into());
    }
    let bids = bids_after(&mut tx, &facts.trade_id, after).await?;
    Ok(LiveUpdate {
        state: facts.state.as_str().into(),
        current_price_fen: facts.current_price_fen,
        bid_count: facts.bid_count,
        starts_at: facts.starts_at,
        ends_at: facts.ends_at,
        server_time: to_millis(now),
        bids,
    })
}
