//! Demo trades: a state asset in a live auction that ends a few minutes after start-up, and
//! a land parcel in its listing period with a first quote. Made through the same services
//! at the times they would have happened (announced weeks ago), so the audit log tells the
//! story as it would have happened.

use chrono::{DateTime, Duration, Utc};

use super::AuctionError;
use super::bidding::{self, BidInput};
use super::jobs;
use super::rulebook::AuctionRulebooks;
use super::service::{self, AdmitInput, DepositInput, DraftInput};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::reserve;
use crate::error::Common;
use crate::identity::Caller;
use crate::keys::SigningKey;
use crate::store::Db;
use crate::store::blob::BlobStore;

/// The demo state asset in a live auction.
pub const LIVE_AUCTION: &str = "SZ2026-ZC-001";

/// The demo land parcel in its listing period.
pub const LAND_LISTING: &str = "SZ2026-TD-001";

/// Who acts in the demo trades.
pub struct Cast<'a> {
    /// The seller's agent.
    pub agent: &'a Caller,
    /// The trading centre's operator (deposits, admissions).
    pub operator: &'a Caller,
    /// The bidders who apply and are admitted.
    pub bidders: &'a [Caller],
    /// The custodians (enrolled) of the live auction's reserve key.
    pub custodians: &'a [String],
}

/// The demo live auction's sealed reserve (底价): two increments above the starting price,
/// so a couple of bids reach it.
pub const LIVE_RESERVE_FEN: i64 = 2_870_000_000;

struct Spec {
    code: &'static str,
    kind: &'static str,
    category: &'static str,
    title: &'static str,
    description: &'static str,
    seller: &'static str,
    start_price_fen: i64,
    increment_fen: i64,
    deposit_fen: i64,
}

/// Where the demo trades are made: the stores and rules the server uses.
pub struct Stores<'a> {
    /// The database.
    pub db: &'a Db,
    /// The blob store (the sealed reserve).
    pub blobs: &'a BlobStore,
    /// The auction rulebooks.
    pub books: &'a AuctionRulebooks,
    /// The platform key.
    pub key: &'a SigningKey,
    /// The live auction's anti-sniping window (seconds) instead of the rulebook's.
    pub extend_seconds: Option<u64>,
}

async fn trade(
    st: &Stores<'_>,
    cast: &Cast<'_>,
    spec: &Spec,
    announced: DateTime<Utc>,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    reserve_fen: Option<i64>,
) -> Result<(), AuctionError> {
    let (db, books) = (st.db, st.books);
    let input = DraftInput {
        code: spec.code.into(),
        kind: spec.kind.into(),
        category: spec.category.into(),
        title: spec.title.into(),
        description: spec.description.into(),
        seller_name: spec.seller.into(),
        start_price_fen: spec.start_price_fen,
        increment_fen: spec.increment_fen,
        deposit_fen: spec.deposit_fen,
        starts_at: starts,
        ends_at: ends,
        relists: None,
        custodians: if reserve_fen.is_some() {
            cast.custodians.to_vec()
        } else {
            Vec::new()
        },
    };
    let at = announced - Duration::hours(1);
    service::draft(db, books, at, cast.agent, &input).await?;
    service::publish(db, books, announced, cast.agent, spec.code).await?;
    if let (Some(secs), "auction") = (st.extend_seconds, spec.kind) {
        service::demo_extend_window(db, spec.code, i64::try_from(secs).unwrap_or(60)).await?;
    }
    if let Some(fen) = reserve_fen {
        // The seller seals the reserve the day after the announcement, as the seller's
        // browser would: to the trade's published key.
        let view = reserve::view(db, None, spec.code).await?;
        let pk = view
            .public_key
            .as_deref()
            .and_then(|k| URL_SAFE_NO_PAD.decode(k).ok())
            .and_then(|b| crate::seal::PublicKey::from_bytes(&b).ok())
            .ok_or_else(|| Common::Corrupt("demo reserve key".into()))?;
        let plain = reserve::reserve_plaintext(fen);
        let mut envelope = Vec::new();
        crate::seal::seal_stream(
            &mut &plain[..],
            &mut envelope,
            &pk,
            &crate::seal::PartInfo {
                tender_id: &view.trade_id,
                bidder_id: reserve::RESERVE_BIDDER_ID,
                label: "form",
                plaintext_len: plain.len() as u64,
            },
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| Common::Corrupt(format!("demo reserve: {e}")))?;
        reserve::seal_reserve(
            db,
            st.blobs,
            announced + Duration::days(1),
            cast.agent,
            spec.code,
            envelope.into(),
        )
        .await?;
    }
    let mut t = announced + Duration::days(2);
    for bidder in cast.bidders {
        let app = service::apply(db, t, bidder, spec.code).await?;
        t += Duration::hours(3);
        let deposit = DepositInput {
            deposit_ref: app.deposit_ref.clone(),
            amount_fen: spec.deposit_fen,
        };
        service::confirm_deposit(db, t, cast.operator, spec.code, &deposit).await?;
        let admit = AdmitInput {
            deposit_ref: app.deposit_ref,
        };
        service::admit(
            db,
            t + Duration::minutes(10),
            cast.operator,
            spec.code,
            &admit,
        )
        .await?;
        t += Duration::hours(1);
    }
    Ok(())
}

/// Loads both demo trades at `now`; returns the line for the console.
pub async fn load(
    st: &Stores<'_>,
    now: DateTime<Utc>,
    live_seconds: i64,
    cast: &Cast<'_>,
) -> Result<String, AuctionError> {
    let (db, books, key) = (st.db, st.books, st.key);
    // State asset: disclosed 30 days (over 20 working days) ago; bidding started a minute
    // ago and ends in five minutes (before any extension).
    let asset = Spec {
        code: LIVE_AUCTION,
        kind: "auction",
        category: "state_asset",
        title: "市属国企闲置办公楼（示例）整体转让",
        description: "建筑面积约3,200平方米，现状交付。网络限时竞价，最后5分钟内出价顺延5分钟。（示例）",
        seller: "苏州城市建设投资发展有限公司（示例）",
        start_price_fen: 2_860_000_000,
        increment_fen: 5_000_000,
        deposit_fen: 300_000_000,
    };
    trade(
        st,
        cast,
        &asset,
        now - Duration::days(30),
        now - Duration::minutes(1),
        now + Duration::seconds(live_seconds),
        (!cast.custodians.is_empty()).then_some(LIVE_RESERVE_FEN),
    )
    .await?;

    // Land: announced 26 days ago, listed from 5 days ago for 10 days and a day.
    let land = Spec {
        code: LAND_LISTING,
        kind: "listing",
        category: "land",
        title: "吴中区WZ-2026-07号地块国有建设用地使用权（示例）",
        description: "住宅用地，面积约28,600平方米，容积率≤2.0，出让年限70年。挂牌期满有两人以上要求继续竞价的，进行网上限时竞价。（示例）",
        seller: "苏州市自然资源和规划局（示例）",
        start_price_fen: 98_000_000_000,
        increment_fen: 100_000_000,
        deposit_fen: 20_000_000_000,
    };
    let starts = now - Duration::days(5);
    trade(
        st,
        cast,
        &land,
        now - Duration::days(26),
        starts,
        starts + Duration::days(11),
        None,
    )
    .await?;
    let quoted = starts + Duration::hours(2);
    jobs::step(db, books, key, quoted, LAND_LISTING).await?;
    if let Some(first) = cast.bidders.first() {
        let quote = BidInput {
            amount_fen: land.start_price_fen,
        };
        bidding::place_bid(db, quoted, first, LAND_LISTING, &quote).await?;
    }
    Ok(format!(
        "  {LIVE_AUCTION} is a state asset in a live auction ending {live_seconds} seconds after start-up \
         (bidder1..3 are admitted) with a sealed reserve that custodian1 and custodian2 open after the end; \
         {LAND_LISTING} is a land parcel in its listing period"
    ))
}
