//! Accepting a bid (or a listing quote). The database decides: one conditional `update` of
//! the trade row checks the state, the end and the minimum (current price + increment, or
//! the starting price for the first bid), raises the price, takes the next sequence number
//! and applies the anti-sniping rule, all at once. On SQLite writers are serialised
//! (`BEGIN IMMEDIATE`); on PostgreSQL a second `update` of the same row waits for the first
//! one's lock and re-checks its `where` clause against the new price, so of two equal bids
//! at once exactly one is accepted. Nothing about the order lives in a process's memory.
//!
//! The public audit event of a bid names the bidder number only, with an anonymous actor;
//! a companion event withheld until the end records who placed it and from where, for
//! regulators and collusion checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AuctionError;
use super::service::check_money;
use crate::audit::{self, Actor, Stage, entry_time};
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::{Caller, Role};
use crate::lifecycle::MoveError;
use crate::lifecycle::auction::{self as lifecycle, AuctionState, Move};
use crate::store::{Db, Tx};
use crate::{q_all, q_exec, q_opt};

/// A bid.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidInput {
    /// The price offered (fen): at least the current price plus the increment.
    pub amount_fen: i64,
}

/// An accepted bid, as everyone sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
// Named apart from the tenders' schema of the same name in the OpenAPI document.
#[schema(as = AuctionBidView)]
pub struct BidView {
    /// Its place in the trade's order (1, 2, …).
    pub seq: i64,
    /// The bidder number.
    pub bidder_no: String,
    /// The price (fen).
    pub amount_fen: i64,
    /// Server time of acceptance (ms).
    pub placed_at: i64,
    /// listing | auction.
    pub phase: String,
}

/// What the bidder hears back.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The accepted bid.
    pub bid: BidView,
    /// The end after this bid (ms), moved if the bid came in the anti-sniping window.
    pub ends_at: i64,
    /// Whether this bid moved the end.
    pub extended: bool,
    /// The audit event's sequence number.
    pub audit_seq: u64,
}

#[derive(sqlx::FromRow)]
struct Admission {
    bidder_no: Option<String>,
    state: String,
    wants_to_continue: i64,
}

#[derive(sqlx::FromRow)]
struct Current {
    state: String,
    ends_at: i64,
    starts_at: i64,
    start_price_fen: i64,
    increment_fen: i64,
    current_price_fen: Option<i64>,
}

/// The lowest acceptable next bid.
pub fn minimum_next(start_price_fen: i64, increment_fen: i64, current: Option<i64>) -> i64 {
    match current {
        None => start_price_fen,
        Some(c) => c.saturating_add(increment_fen),
    }
}

/// An admitted bidder bids. See the module for how the order is decided.
pub async fn place_bid(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &BidInput,
) -> Result<Accepted, AuctionError> {
    caller.require_role(&[Role::Bidder])?;
    check_money("amount_fen", input.amount_fen, false)?;
    let org = caller
        .org_id()
        .ok_or(Common::Forbidden(
            "register your company first / 请先登记竞买单位",
        ))?
        .to_string();
    let at = to_millis(now);
    let mut tx = db.begin().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if facts.state == AuctionState::Draft {
        return Err(Common::NotFound("trade").into());
    }
    let admission = q_opt!(
        tx,
        Admission,
        "select bidder_no, state, wants_to_continue from auction_application
         where trade_id = $1 and org_id = $2",
        facts.trade_id.clone(),
        org.clone()
    )?;
    let bidder_no = match admission {
        Some(Admission {
            bidder_no: Some(no),
            state,
            wants_to_continue,
        }) if state == "admitted" => {
            // After a listing only those who asked to go on bid (39号令 第21条).
            if facts.listing && facts.state == AuctionState::Bidding && wants_to_continue == 0 {
                return Err(AuctionError::Conflict(
                    "AUCTION_NOT_CONTINUING",
                    "only bidders who asked to go on bid in the timed auction / 仅申请继续竞价的竞买人可参加限时竞价".into(),
                ));
            }
            no
        }
        Some(a) if a.state == "applied" => {
            return Err(AuctionError::Conflict(
                "AUCTION_DEPOSIT_NOT_CONFIRMED",
                "your deposit is not confirmed yet / 保证金尚未确认到账".into(),
            ));
        }
        _ => {
            return Err(AuctionError::Conflict(
                "AUCTION_NOT_ADMITTED",
                "you are not an admitted bidder of this trade / 未取得本项目竞买资格".into(),
            ));
        }
    };
    // Bidding may have started without the job having run yet: start it here, once.
    if facts.state == AuctionState::Announced && facts.starts_at <= at {
        start(&mut tx, now, &facts.trade_id, facts.listing).await?;
    }

    let extend_ms = {
        let (s,): (i64,) = crate::q_one!(
            tx,
            (i64,),
            "select extend_seconds from auction_trade where trade_id = $1",
            facts.trade_id.clone()
        )?;
        s.saturating_mul(1000)
    };
    let moved: Option<(i64, i64, String)> = q_opt!(
        tx,
        (i64, i64, String),
        "update auction_trade set
            current_price_fen = $1,
            bid_count = bid_count + 1,
            ends_at = case when state = 'bidding' and ends_at - $2 < $3 then $2 + $3 else ends_at end,
            updated_at = $2
         where trade_id = $4 and state in ('listing', 'bidding') and starts_at <= $2 and ends_at > $2
           and $1 >= case when current_price_fen is null then start_price_fen
                          else current_price_fen + increment_fen end
         returning bid_count, ends_at, state",
        input.amount_fen,
        at,
        extend_ms,
        facts.trade_id.clone()
    )?;
    let Some((seq, ends_at, state)) = moved else {
        return Err(refusal(&mut tx, &facts.trade_id, at, input.amount_fen).await);
    };
    let phase = if state == "listing" {
        "listing"
    } else {
        "auction"
    };
    // Read from the row, not from the facts read before the update (stale on PostgreSQL).
    let extended = phase == "auction" && ends_at == at.saturating_add(extend_ms);
    // The public entry: the bidder number and the price, no user, no address.
    let anonymous = Actor {
        user_id: None,
        role: Some("bidder".into()),
        request_id: caller.actor.request_id.clone(),
        client_ip: None,
    };
    let audit_seq = audit::append(
        &mut tx,
        now,
        &anonymous,
        "auction.bid",
        Some(&facts.trade_id),
        json!({"code": facts.code, "seq": seq, "bidder_no": bidder_no, "amount_fen": input.amount_fen,
               "phase": phase, "ends_at": ends_at, "extended": extended, "server_time": entry_time(now)}),
    )
    .await?;
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "auction.bid.by",
        &facts.trade_id,
        json!({"seq": seq, "bidder_no": bidder_no, "org_id": org, "bid_event": audit_seq}),
        Stage::TradeEnd,
    )
    .await?;
    q_exec!(
        tx,
        "insert into auction_bid (trade_id, seq, bidder_no, amount_fen, placed_at, phase, audit_seq)
         values ($1, $2, $3, $4, $5, $6, $7)",
        facts.trade_id.clone(),
        seq,
        bidder_no.clone(),
        input.amount_fen,
        at,
        phase,
        i64::try_from(audit_seq).unwrap_or(i64::MAX)
    )?;
    tx.commit().await?;
    Ok(Accepted {
        bid: BidView {
            seq,
            bidder_no,
            amount_fen: input.amount_fen,
            placed_at: at,
            phase: phase.into(),
        },
        ends_at,
        extended,
        audit_seq,
    })
}

/// Announced → listing or bidding, once `starts_at` has come. Another request or process
/// that did it first is fine.
pub(crate) async fn start(
    tx: &mut Tx,
    now: DateTime<Utc>,
    trade_id: &str,
    listing: bool,
) -> Result<bool, AuctionError> {
    let (to, action) = if listing {
        (AuctionState::Listing, "auction.listing_start")
    } else {
        (AuctionState::Bidding, "auction.bidding_start")
    };
    let actor = Actor::system();
    match lifecycle::transition(
        tx,
        now,
        trade_id,
        AuctionState::Announced,
        to,
        Move::new(&actor, action, json!({"trade_id": trade_id})),
    )
    .await
    {
        Ok(_) => Ok(true),
        Err(MoveError::Moved) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Why the conditional update matched nothing: read the row (under the same lock) and say.
async fn refusal(tx: &mut Tx, trade_id: &str, at: i64, amount: i64) -> AuctionError {
    let row = q_opt!(
        tx,
        Current,
        "select state, ends_at, starts_at, start_price_fen, increment_fen, current_price_fen
         from auction_trade where trade_id = $1",
        trade_id.to_string()
    );
    let row = match row {
        Ok(Some(r)) => r,
        Ok(None) => return Common::NotFound("trade").into(),
        Err(e) => return e.into(),
    };
    let open = matches!(row.state.as_str(), "listing" | "bidding");
    if !open && (row.state == "announced" || row.starts_at > at) {
        return AuctionError::Conflict(
            "AUCTION_NOT_STARTED",
            "bidding has not started / 竞价尚未开始".into(),
        );
    }
    if !open || row.ends_at <= at {
        return AuctionError::Conflict("AUCTION_ENDED", "bidding has ended / 竞价已结束".into());
    }
    let min = minimum_next(
        row.start_price_fen,
        row.increment_fen,
        row.current_price_fen,
    );
    if amount < min {
        return AuctionError::Invalid(
            "AUCTION_BID_TOO_LOW",
            format!(
                "the bid must be at least {min} fen (the current price plus the increment) / 出价须不低于当前价加增价幅度（{}）",
                crate::money::yuan(min)
            ),
        );
    }
    // The row allows the bid now: another bid changed it between the update and this read,
    // which cannot happen under the lock; say so rather than guess.
    Common::Concurrent.into()
}

/// The accepted bids of a trade, in order, from `after` on (public once announced).
pub async fn history(db: &Db, code: &str, after: i64) -> Result<Vec<BidView>, AuctionError> {
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if facts.state == AuctionState::Draft {
        return Err(Common::NotFound("trade").into());
    }
    bids_after(&mut tx, &facts.trade_id, after).await
}

/// The bids of a trade with `seq > after`, in order.
pub async fn bids_after(
    tx: &mut Tx,
    trade_id: &str,
    after: i64,
) -> Result<Vec<BidView>, AuctionError> {
    Ok(q_all!(
        tx,
        BidView,
        "select seq, bidder_no, amount_fen, placed_at, phase from auction_bid
         where trade_id = $1 and seq > $2 order by seq limit 1000",
        trade_id.to_string(),
        after
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bid_may_be_the_starting_price_and_later_ones_add_the_increment() {
        assert_eq!(minimum_next(1_000, 100, None), 1_000);
        assert_eq!(minimum_next(1_000, 100, Some(1_000)), 1_100);
        assert_eq!(minimum_next(1_000, 100, Some(i64::MAX)), i64::MAX);
    }
}
