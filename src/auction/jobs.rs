//! The time-driven moves of auctions and listings, run from the server's job loop: bidding
//! or the listing starts; a listing ends (timed auction among two or more who go on, else a
//! deal on the highest quote, else no deal — 39号令 第21条); bidding ends (deal on the
//! highest bid, else 流拍). Each move is guarded by the state and the time in
//! `lifecycle::auction`, so with any number of processes each happens once, and an end moved
//! by a late bid is never run early. A deal carries the confirmation (成交确认书) signed with
//! the platform key.
//!
//! With a sealed reserve price (底价, `auction::reserve`) the end with a bid goes to `ended`
//! instead, and [`decide`] runs once the custodians have opened the reserve: a deal only if
//! the highest bid (or the one quote of a listing, 39号令 第21条) reaches it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AuctionError;
use super::bidding::start;
use super::confirm::WinnerSignature;
use super::rulebook::AuctionRulebooks;
use crate::audit::{Actor, entry_time};
use crate::clock::to_millis;
use crate::error::Common;
use crate::keys::SigningKey;
use crate::lifecycle::MoveError;
use crate::lifecycle::auction::{self as lifecycle, AuctionState, DealResult, Facts, Move};
use crate::store::{Db, Tx};
use crate::{q_all, q_one, q_opt};

/// Version of the confirmation format.
pub const CONFIRMATION_VERSION: u32 = 1;

/// The deal confirmation (成交确认书) as signed: RFC 8785 canonical JSON of this object,
/// Ed25519 with the platform key (`GET /api/v1/platform-key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    /// Format version (1).
    pub v: u32,
    /// The trade.
    pub trade_id: String,
    /// Its public code.
    pub code: String,
    /// Its title.
    pub title: String,
    /// The seller.
    pub seller_name: String,
    /// The winner's bidder number.
    pub bidder_no: String,
    /// The winner company.
    pub winner_org_id: String,
    /// Its name.
    pub winner_name: String,
    /// Its 统一社会信用代码.
    pub winner_uscc: Option<String>,
    /// The price (fen).
    pub price_fen: i64,
    /// The winning bid's place in the order.
    pub bid_seq: i64,
    /// When the trade ended: RFC 3339, UTC, milliseconds.
    pub ended_at: String,
    /// Key id of the platform key that signs it.
    pub kid: String,
    /// The reserve price (fen) the custodians opened, when the trade had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_fen: Option<i64>,
}

impl Confirmation {
    /// The exact bytes signed.
    pub fn canonical(&self) -> Result<String, serde_json::Error> {
        serde_json_canonicalizer::to_string(self)
    }

    /// Verifies a base64 signature against a 32-byte Ed25519 public key.
    pub fn verify(&self, public_key: &[u8], signature_b64: &str) -> bool {
        let (Ok(sig), Ok(bytes)) = (STANDARD.decode(signature_b64.trim()), self.canonical()) else {
            return false;
        };
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
            .verify(bytes.as_bytes(), &sig)
            .is_ok()
    }
}

#[derive(sqlx::FromRow)]
struct Due {
    code: String,
}

/// Runs every due move at `now`; returns how many happened here.
pub async fn run_due(
    db: &Db,
    books: &AuctionRulebooks,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<usize, AuctionError> {
    let at = to_millis(now);
    let due = {
        let mut tx = db.read().await?;
        q_all!(
            tx,
            Due,
            "select code from auction_trade
             where (state = 'announced' and starts_at <= $1)
                or (state in ('listing', 'bidding') and ends_at <= $1)
             order by ends_at limit 50",
            at
        )?
    };
    let mut done = 0;
    for d in due {
        match step(db, books, key, now, &d.code).await {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(code = %d.code, error = %e, "auction job failed"),
        }
    }
    Ok(done)
}

/// Makes the one move due for a trade, if any, in one transaction.
pub async fn step(
    db: &Db,
    books: &AuctionRulebooks,
    key: &SigningKey,
    now: DateTime<Utc>,
    code: &str,
) -> Result<bool, AuctionError> {
    let at = to_millis(now);
    let mut tx = db.begin().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    let moved = match facts.state {
        AuctionState::Announced if facts.starts_at <= at => {
            start(&mut tx, now, &facts.trade_id, facts.listing).await?
        }
        AuctionState::Listing if facts.ends_at <= at => {
            end_listing(&mut tx, books, key, now, &facts).await?
        }
        AuctionState::Bidding if facts.ends_at <= at => end(&mut tx, key, now, &facts).await?,
        _ => false,
    };
    tx.commit().await?;
    Ok(moved)
}

fn settled(r: Result<u64, MoveError>) -> Result<bool, AuctionError> {
    match r {
        Ok(_) => Ok(true),
        Err(MoveError::Moved) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// 39号令 第21条: two or more bidders who ask to go on bid in a timed auction; otherwise
/// the highest quote is the deal; no quote, no deal.
async fn end_listing(
    tx: &mut Tx,
    books: &AuctionRulebooks,
    key: &SigningKey,
    now: DateTime<Utc>,
    facts: &Facts,
) -> Result<bool, AuctionError> {
    let going_on: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select bidder_no from auction_application
         where trade_id = $1 and state = 'admitted' and wants_to_continue <> 0 and bidder_no is not null
         order by bidder_no",
        facts.trade_id.clone()
    )?;
    if going_on.len() >= 2 {
        let book = books
            .get(&facts.category)
            .ok_or_else(|| Common::Corrupt(format!("no rulebook for {}", facts.category)))?;
        let ends_at = to_millis(now).saturating_add(book.final_auction_ms());
        let actor = Actor::system();
        let numbers: Vec<String> = going_on.into_iter().map(|(n,)| n).collect();
        let mut m = Move::new(
            &actor,
            "auction.final_auction",
            json!({"code": facts.code, "bidders": numbers, "ends_at": ends_at,
                   "article": book.rules.final_auction_minutes.article}),
        );
        m.ends_at = Some(ends_at);
        return settled(
            lifecycle::transition(
                tx,
                now,
                &facts.trade_id,
                AuctionState::Listing,
                AuctionState::Bidding,
                m,
            )
            .await,
        );
    }
    end(tx, key, now, facts).await
}

#[derive(sqlx::FromRow)]
struct Winner {
    seq: i64,
    bidder_no: String,
    amount_fen: i64,
    org_id: String,
    name: String,
    uscc: Option<String>,
    title: String,
    seller_name: String,
}

async fn winner(tx: &mut Tx, trade_id: &str) -> Result<Option<Winner>, AuctionError> {
    Ok(q_opt!(
        tx,
        Winner,
        "select b.seq, b.bidder_no, b.amount_fen, a.org_id, o.name, o.uscc, t.title, t.seller_name
         from auction_bid b
         join auction_trade t on t.trade_id = b.trade_id
         join auction_application a on a.trade_id = b.trade_id and a.bidder_no = b.bidder_no
         join organisation o on o.org_id = a.org_id
         where b.trade_id = $1 order by b.seq desc limit 1",
        trade_id.to_string()
    )?)
}

/// The end of bidding (or of a listing nobody goes on from): the last accepted bid is the
/// highest (each one beat the one before), so it wins; no bid, no deal (流拍). With a sealed
/// reserve and a bid, the trade waits in `ended` for the custodians.
async fn end(
    tx: &mut Tx,
    key: &SigningKey,
    now: DateTime<Utc>,
    facts: &Facts,
) -> Result<bool, AuctionError> {
    let reserve = q_opt!(
        tx,
        (String,),
        "select sha256 from auction_reserve where trade_id = $1",
        facts.trade_id.clone()
    )?;
    let highest = winner(tx, &facts.trade_id).await?;
    match (reserve, highest) {
        (Some((sha,)), Some(w)) => {
            let actor = Actor::system();
            settled(
                lifecycle::transition(
                    tx,
                    now,
                    &facts.trade_id,
                    facts.state,
                    AuctionState::Ended,
                    Move::new(
                        &actor,
                        "auction.ended",
                        json!({"code": facts.code, "bid_count": facts.bid_count,
                               "highest_fen": w.amount_fen, "bid_seq": w.seq,
                               "reserve_sha256": sha}),
                    ),
                )
                .await,
            )
        }
        _ => decide(tx, key, now, facts, Decision::NoReserve).await,
    }
}

/// Ends the trade without a deal (流拍), the payload saying why.
async fn no_deal(
    tx: &mut Tx,
    now: DateTime<Utc>,
    facts: &Facts,
    payload: serde_json::Value,
) -> Result<bool, AuctionError> {
    let actor = Actor::system();
    let m = Move::new(&actor, "auction.no_deal", payload);
    settled(
        lifecycle::transition(
            tx,
            now,
            &facts.trade_id,
            facts.state,
            AuctionState::NoDeal,
            m,
        )
        .await,
    )
}

/// What the highest bid is measured against at the end.
pub enum Decision {
    /// No reserve: the starting price was the floor.
    NoReserve,
    /// The reserve the custodians opened (fen).
    Reserve(i64),
    /// The seller's sealed reserve gave no amount (why): no deal, since no sale may go
    /// below a reserve nobody can read.
    ReserveUnreadable(String),
}

/// Decides the trade from `facts.state` (bidding, listing or ended): deal on the highest
/// bid when it reaches the reserve (or there is none), otherwise no deal.
pub(super) async fn decide(
    tx: &mut Tx,
    key: &SigningKey,
    now: DateTime<Utc>,
    facts: &Facts,
    decision: Decision,
) -> Result<bool, AuctionError> {
    let actor = Actor::system();
    let Some(w) = winner(tx, &facts.trade_id).await? else {
        return no_deal(
            tx,
            now,
            facts,
            json!({"code": facts.code, "reason": "no bid / 无人应价"}),
        )
        .await;
    };
    let reserve_fen = match decision {
        Decision::NoReserve => None,
        Decision::Reserve(fen) if w.amount_fen >= fen => Some(fen),
        Decision::Reserve(fen) => {
            // 39号令 第21条 (listing): 报价均低于底价的，挂牌不成交; the same for an auction.
            return no_deal(
                tx,
                now,
                facts,
                json!({"code": facts.code,
                        "reason": "the highest bid is below the reserve / 最高应价低于底价",
                        "highest_fen": w.amount_fen, "bid_seq": w.seq, "reserve_fen": fen}),
            )
            .await;
        }
        Decision::ReserveUnreadable(error) => {
            return no_deal(
                tx,
                now,
                facts,
                json!({"code": facts.code,
                        "reason": "the sealed reserve could not be read / 底价文件无法读取",
                        "error": error, "highest_fen": w.amount_fen}),
            )
            .await;
        }
    };
    let confirmation = Confirmation {
        v: CONFIRMATION_VERSION,
        trade_id: facts.trade_id.clone(),
        code: facts.code.clone(),
        title: w.title,
        seller_name: w.seller_name,
        bidder_no: w.bidder_no.clone(),
        winner_org_id: w.org_id.clone(),
        winner_name: w.name,
        winner_uscc: w.uscc,
        price_fen: w.amount_fen,
        bid_seq: w.seq,
        ended_at: entry_time(now),
        kid: key.kid(),
        reserve_fen,
    };
    let text = confirmation
        .canonical()
        .map_err(|e| Common::Corrupt(format!("confirmation: {e}")))?;
    let signature = STANDARD.encode(key.pair.sign(text.as_bytes()).as_ref());
    let digest = crate::store::blob::sha256_hex(text.as_bytes());
    let mut m = Move::new(
        &actor,
        "auction.deal",
        json!({"code": facts.code, "bidder_no": w.bidder_no, "winner_org_id": w.org_id,
               "price_fen": w.amount_fen, "bid_seq": w.seq, "confirmation_sha256": digest,
               "reserve_fen": reserve_fen}),
    );
    m.result = Some(DealResult {
        bidder_no: w.bidder_no,
        price_fen: w.amount_fen,
        confirmation: text,
        signature,
    });
    settled(
        lifecycle::transition(tx, now, &facts.trade_id, facts.state, AuctionState::Deal, m).await,
    )
}

/// The published result.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
// Named apart from the tenders' schema of the same name in the OpenAPI document.
#[schema(as = AuctionResultView)]
pub struct ResultView {
    /// deal | no_deal | cancelled.
    pub state: String,
    /// The signed confirmation, after a deal.
    pub confirmation: Option<Confirmation>,
    /// Its signature (base64 Ed25519 over the canonical JSON).
    pub signature: Option<String>,
    /// When it ended (ms).
    pub ended_at: Option<i64>,
    /// The winner's passkey signature over the confirmation, once given.
    pub winner_signature: Option<WinnerSignature>,
    /// A deal whose confirmation the winner has not signed yet (待竞得人签署).
    pub awaiting_winner: bool,
    /// The deal's audit event with its inclusion proof (C2SP tlog-proof against a kept,
    /// witnessed when possible, checkpoint), so the confirmation can be checked offline.
    pub deal_proof: Option<crate::audit::kept::EventProof>,
}

#[derive(sqlx::FromRow)]
struct ResultRow {
    confirmation: Option<String>,
    confirmation_sig: Option<String>,
    ended_at: Option<i64>,
    winner_signed_at: Option<i64>,
    winner_credential_id: Option<String>,
    winner_assertion: Option<String>,
}

/// The result of an ended trade (409 before the end, and while the reserve is opened).
pub async fn result(db: &Db, code: &str) -> Result<ResultView, AuctionError> {
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if !facts.state.ended() {
        if facts.state == AuctionState::Draft {
            return Err(Common::NotFound("trade").into());
        }
        if facts.state == AuctionState::Ended {
            return Err(AuctionError::Conflict(
                "AUCTION_NOT_ENDED",
                "bidding has ended; the custodians are opening the reserve / 竞价已结束，待开启底价"
                    .into(),
            ));
        }
        return Err(AuctionError::Conflict(
            "AUCTION_NOT_ENDED",
            "the trade has not ended / 交易尚未结束".into(),
        ));
    }
    let row = q_one!(
        tx,
        ResultRow,
        "select confirmation, confirmation_sig, ended_at, winner_signed_at, winner_credential_id,
                winner_assertion
         from auction_trade where trade_id = $1",
        facts.trade_id.clone()
    )?;
    let winner_signature = match (row.winner_signed_at, row.winner_credential_id) {
        (Some(signed_at), Some(credential_id)) => Some(WinnerSignature {
            signed_at,
            credential_id,
            assertion: row
                .winner_assertion
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or(serde_json::Value::Null),
        }),
        _ => None,
    };
    let (signature, ended_at) = (row.confirmation_sig, row.ended_at);
    let confirmation = match row.confirmation {
        Some(text) => Some(
            serde_json::from_str::<Confirmation>(&text)
                .map_err(|e| Common::Corrupt(format!("confirmation: {e}")))?,
        ),
        None => None,
    };
    Ok(ResultView {
        state: facts.state.as_str().into(),
        awaiting_winner: facts.state == AuctionState::Deal && winner_signature.is_none(),
        confirmation,
        signature,
        ended_at,
        winner_signature,
        deal_proof: None,
    })
}

/// [`result`] with the deal event's inclusion proof, signed by the platform's log key.
pub async fn result_with_proof(
    db: &Db,
    now: DateTime<Utc>,
    code: &str,
    origin: &str,
    key: &ring::signature::Ed25519KeyPair,
) -> Result<ResultView, AuctionError> {
    let mut view = result(db, code).await?;
    if view.state != AuctionState::Deal.as_str() {
        return Ok(view);
    }
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    let seq: Option<(i64,)> = q_opt!(
        tx,
        (i64,),
        "select seq from audit_event where tender_id = $1 and action = 'auction.deal'",
        facts.trade_id
    )?;
    drop(tx);
    if let Some(seq) = seq.and_then(|(s,)| u64::try_from(s).ok()) {
        // The deal is public: the entry comes with the proof for every reader.
        match crate::audit::kept::event_proof(db, now, seq, None, false, origin, key).await {
            Ok(p) => view.deal_proof = Some(p),
            Err(e) => tracing::warn!(error = %e, "no inclusion proof for the deal yet"),
        }
    }
    Ok(view)
}
