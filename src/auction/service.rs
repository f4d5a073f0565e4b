//! Drafting and publishing a trade, applications, deposits and admission, and what each
//! reader may see. Who applied, whose deposit came in and which bidder number is whose are
//! audit events withheld until the trade ends (`audit::Stage::TradeEnd`); the operator
//! confirms deposits and admits by the deposit reference alone, and no API names a bidder
//! or counts them before the end, except to regulators.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AuctionError;
use super::rulebook::{AuctionRulebook, AuctionRulebooks, Periods};
use crate::audit::{self, Stage};
use crate::clock::{from_millis, to_millis};
use crate::error::Common;
use crate::identity::{Caller, Role, SessionUser};
use crate::ids::new_id;
use crate::lifecycle::auction::{self as lifecycle, AuctionState, Facts, Move};
use crate::store::{Db, Tx, is_unique_violation};
use crate::tender::rulebook::MAX_MONEY_FEN;
use crate::text::{self, Lines};
use crate::{q_all, q_exec, q_opt};

/// A trade as the seller drafts it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftInput {
    /// Public code (项目编号): 1–64 of A–Z, a–z, 0–9, '-', '_'.
    pub code: String,
    /// `auction` (拍卖/限时竞价) or `listing` (挂牌).
    pub kind: String,
    /// `land`, `state_asset` or `equity`: picks the rulebook.
    pub category: String,
    /// Title.
    pub title: String,
    /// What is sold, its conditions.
    #[serde(default)]
    pub description: String,
    /// The seller (出让人/转让方) as announced.
    pub seller_name: String,
    /// Starting price (起始价), fen.
    pub start_price_fen: i64,
    /// Increment (增价幅度), fen.
    pub increment_fen: i64,
    /// Deposit (竞买保证金), fen.
    pub deposit_fen: i64,
    /// When bidding (or the listing) starts.
    pub starts_at: DateTime<Utc>,
    /// When bidding (or the listing) ends, before any extension.
    pub ends_at: DateTime<Utc>,
    /// The code of a failed trade (流拍) this one relists.
    #[serde(default)]
    pub relists: Option<String>,
    /// The custodians (user ids with role custodian) of the key the reserve price (底价) is
    /// sealed to: at least the rulebook's quorum n, or none for a trade without a reserve.
    #[serde(default)]
    pub custodians: Vec<String>,
}

/// A trade as anyone allowed to see it reads it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TradeView {
    /// Public code.
    pub code: String,
    /// `auction` or `listing`.
    pub kind: String,
    /// `land`, `state_asset` or `equity`.
    pub category: String,
    /// The rulebook applied.
    pub rulebook_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// The seller.
    pub seller_name: String,
    /// draft | announced | listing | bidding | deal | no_deal | cancelled.
    pub state: String,
    /// Starting price (fen).
    pub start_price_fen: i64,
    /// Increment (fen).
    pub increment_fen: i64,
    /// Deposit (fen).
    pub deposit_fen: i64,
    /// Anti-sniping window (seconds).
    pub extend_seconds: i64,
    /// The timed auction after a listing (seconds).
    pub final_auction_seconds: i64,
    /// When announced (ms).
    pub announced_at: Option<i64>,
    /// Bidding or listing start (ms).
    pub starts_at: i64,
    /// Current end (ms), moved by the anti-sniping rule.
    pub ends_at: i64,
    /// The current highest bid or quote (fen), public by bidder number.
    pub current_price_fen: Option<i64>,
    /// Accepted bids so far.
    pub bid_count: i64,
    /// The winner's bidder number, after a deal.
    pub winner_bidder_no: Option<String>,
    /// The price of the deal.
    pub result_price_fen: Option<i64>,
    /// The code of the trade this one relists.
    pub relists: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Whether a reserve price (底价) is sealed; its amount stays sealed until the end.
    pub reserve_sealed: bool,
    /// The server's time when this was read (ms): clients sync their countdown to it.
    #[sqlx(default)]
    pub server_time: i64,
}

const VIEW: &str = "select t.code, t.kind, t.category, t.rulebook_id, t.title, t.description,
        t.seller_name, t.state, t.start_price_fen, t.increment_fen, t.deposit_fen,
        t.extend_seconds, t.final_auction_seconds, t.announced_at, t.starts_at, t.ends_at,
        t.current_price_fen, t.bid_count, t.winner_bidder_no, t.result_price_fen,
        r.code as relists, t.cancel_reason,
        exists (select 1 from auction_reserve x where x.trade_id = t.trade_id) as reserve_sealed
     from auction_trade t left join auction_trade r on r.trade_id = t.relisted_from";

fn invalid(code: &'static str, msg: impl Into<String>) -> AuctionError {
    AuctionError::Invalid(code, msg.into())
}

fn conflict(code: &'static str, msg: impl Into<String>) -> AuctionError {
    AuctionError::Conflict(code, msg.into())
}

/// Whether `user` may see the trade in any state: its owner, operators, regulators.
pub fn may_read_all(user: Option<&SessionUser>, agent_org_id: &str) -> bool {
    user.is_some_and(|u| {
        (u.role == Role::Agent && u.org_id.as_deref() == Some(agent_org_id))
            || matches!(u.role, Role::Operator | Role::Regulator)
    })
}

fn is_owner(caller: &Caller, facts: &Facts) -> bool {
    caller.is(Role::Agent) && caller.org_id() == Some(facts.agent_org_id.as_str())
}

/// Checks a money amount: a positive integer number of fen within the platform's range.
pub fn check_money(field: &'static str, fen: i64, zero_ok: bool) -> Result<(), AuctionError> {
    if fen < 0 || (fen == 0 && !zero_ok) || fen > MAX_MONEY_FEN {
        return Err(invalid(
            "AUCTION_BAD_AMOUNT",
            format!(
                "{field} must be a whole number of fen between {} and {MAX_MONEY_FEN} / 金额须为有效的整数（分）",
                if zero_ok { 0 } else { 1 }
            ),
        ));
    }
    Ok(())
}

fn check_draft(
    books: &AuctionRulebooks,
    input: &DraftInput,
) -> Result<AuctionRulebook, AuctionError> {
    let code_ok = !input.code.is_empty()
        && input.code.len() <= 64
        && input
            .code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !code_ok {
        return Err(invalid(
            "AUCTION_BAD_CODE",
            "code must be 1–64 of A–Z, a–z, 0–9, '-', '_' / 项目编号格式不正确",
        ));
    }
    if !matches!(input.kind.as_str(), "auction" | "listing") {
        return Err(invalid(
            "AUCTION_BAD_KIND",
            "kind must be auction or listing / 交易方式须为拍卖或挂牌",
        ));
    }
    let book = books.get(&input.category).ok_or_else(|| {
        invalid(
            "AUCTION_BAD_CATEGORY",
            "category must be land, state_asset or equity / 交易类别不正确",
        )
    })?;
    for (field, value) in [("title", &input.title), ("seller_name", &input.seller_name)] {
        text::check(field, value, Lines::Single)?;
        if value.trim().is_empty() || value.chars().count() > 200 {
            return Err(invalid(
                "AUCTION_BAD_TEXT",
                format!("{field} must be 1–200 characters / {field} 不能为空或过长"),
            ));
        }
    }
    text::check("description", &input.description, Lines::Multi)?;
    if input.description.chars().count() > 20_000 {
        return Err(invalid(
            "AUCTION_BAD_TEXT",
            "description is over 20,000 characters / 说明过长",
        ));
    }
    check_money("start_price_fen", input.start_price_fen, false)?;
    check_money("increment_fen", input.increment_fen, false)?;
    check_money("deposit_fen", input.deposit_fen, true)?;
    let r = &book.rules;
    if input.increment_fen < i64::from(r.increment_min_fen.value) {
        return Err(invalid(
            "AUCTION_INCREMENT_TOO_SMALL",
            format!(
                "the increment must be at least {} fen ({}) / 增价幅度不得低于{}分",
                r.increment_min_fen.value, r.increment_min_fen.article, r.increment_min_fen.value
            ),
        ));
    }
    if r.deposit_required.value && input.deposit_fen == 0 {
        return Err(invalid(
            "AUCTION_DEPOSIT_REQUIRED",
            format!(
                "a deposit is required ({}) / 须设竞买保证金",
                r.deposit_required.article
            ),
        ));
    }
    if input.ends_at <= input.starts_at {
        return Err(invalid(
            "AUCTION_BAD_PERIOD",
            "ends_at must come after starts_at / 结束时间须晚于开始时间",
        ));
    }
    Ok(book.clone())
}

/// The owner agent drafts a trade.
pub async fn draft(
    db: &Db,
    books: &AuctionRulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    input: &DraftInput,
) -> Result<TradeView, AuctionError> {
    caller.require_role(&[Role::Agent])?;
    let org = caller
        .org_id()
        .ok_or(Common::Forbidden(
            "an agent without an organisation cannot draft / 代理人未关联机构",
        ))?
        .to_string();
    let book = check_draft(books, input)?;
    let mut tx = db.begin().await?;
    let relisted_from = match &input.relists {
        None => None,
        Some(code) => {
            let old = lifecycle::by_code(&mut tx, code).await?;
            if old.agent_org_id != org || old.state != AuctionState::NoDeal {
                return Err(conflict(
                    "AUCTION_NOT_RELISTABLE",
                    "only a failed trade (流拍) of your own can be relisted / 只能重新挂牌本机构流拍的项目",
                ));
            }
            Some(old.trade_id)
        }
    };
    let custodians =
        super::reserve::check_custodians(&mut tx, &input.custodians, book.rules.custodian_quorum.n)
            .await?;
    let trade_id = new_id();
    let at = to_millis(now);
    let inserted = q_exec!(
        tx,
        "insert into auction_trade (trade_id, code, kind, category, rulebook_id, title, description,
            seller_name, agent_org_id, state, start_price_fen, increment_fen, deposit_fen,
            extend_seconds, final_auction_seconds, starts_at, ends_at, relisted_from,
            created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'draft', $10, $11, $12, $13, $14, $15, $16,
            $17, $18, $18)",
        trade_id.clone(),
        input.code.clone(),
        input.kind.clone(),
        input.category.clone(),
        book.id.clone(),
        input.title.clone(),
        input.description.clone(),
        input.seller_name.clone(),
        org,
        input.start_price_fen,
        input.increment_fen,
        input.deposit_fen,
        book.extend_ms() / 1000,
        book.final_auction_ms() / 1000,
        to_millis(input.starts_at),
        to_millis(input.ends_at),
        relisted_from.clone(),
        at
    );
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(conflict(
                "AUCTION_CODE_TAKEN",
                "a trade with this code exists / 项目编号已存在",
            ));
        }
        other => other?,
    };
    super::reserve::store_custodians(&mut tx, &trade_id, &custodians).await?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "auction.draft",
        Some(&trade_id),
        json!({"code": input.code, "kind": input.kind, "category": input.category,
               "rulebook": book.id, "relisted_from": relisted_from, "custodians": custodians}),
    )
    .await?;
    let v = view_in(&mut tx, &input.code, now).await?;
    tx.commit().await?;
    Ok(v)
}

async fn view_in(tx: &mut Tx, code: &str, now: DateTime<Utc>) -> Result<TradeView, AuctionError> {
    let sql = format!("{VIEW} where t.code = $1");
    let mut v = q_opt!(tx, TradeView, sqlx::AssertSqlSafe(sql), code.to_string())?
        .ok_or(Common::NotFound("trade"))?;
    v.server_time = to_millis(now);
    Ok(v)
}

/// A trade as `user` may see it: drafts only for the owner, operators and regulators.
pub async fn view(
    db: &Db,
    now: DateTime<Utc>,
    user: Option<&SessionUser>,
    code: &str,
) -> Result<TradeView, AuctionError> {
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if facts.state == AuctionState::Draft && !may_read_all(user, &facts.agent_org_id) {
        return Err(Common::NotFound("trade").into());
    }
    view_in(&mut tx, code, now).await
}

/// Every announced trade, newest first (drafts too for operators and regulators).
pub async fn list(
    db: &Db,
    now: DateTime<Utc>,
    user: Option<&SessionUser>,
) -> Result<Vec<TradeView>, AuctionError> {
    let all = user.is_some_and(|u| matches!(u.role, Role::Operator | Role::Regulator));
    let org = user
        .filter(|u| u.role == Role::Agent)
        .and_then(|u| u.org_id.clone())
        .unwrap_or_default();
    let mut tx = db.read().await?;
    let sql = format!(
        "{VIEW} where t.state <> 'draft' or $1 or t.agent_org_id = $2 order by t.created_at desc limit 500"
    );
    let mut out = q_all!(tx, TradeView, sqlx::AssertSqlSafe(sql), all, org)?;
    for v in &mut out {
        v.server_time = to_millis(now);
    }
    Ok(out)
}

/// The owner publishes a draft: the announcement is now, and the periods must meet the
/// rulebook (announcement before bidding, listing length).
pub async fn publish(
    db: &Db,
    books: &AuctionRulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<TradeView, AuctionError> {
    let mut tx = db.begin().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if !is_owner(caller, &facts) {
        return Err(Common::Forbidden(
            "only the trade's agent may publish it / 仅项目代理机构可发布",
        )
        .into());
    }
    if facts.state != AuctionState::Draft {
        return Err(conflict(
            "AUCTION_WRONG_STATE",
            "only a draft can be published / 仅草稿可发布",
        ));
    }
    let book = books
        .get(&facts.category)
        .ok_or_else(|| Common::Corrupt(format!("no rulebook for {}", facts.category)))?;
    let periods = Periods {
        announced_at: now,
        starts_at: from_millis(facts.starts_at),
        ends_at: from_millis(facts.ends_at),
    };
    let broken = book.check_periods(facts.listing, &periods);
    if !broken.is_empty() {
        return Err(AuctionError::Periods(broken));
    }
    // The announcement records the published terms, so that the public log (and the OCDS
    // release made from it, `ocds::release`) says what was offered without another read.
    let terms = view_in(&mut tx, code, now).await?;
    // The reserve's key, when the trade has custodians (auction::reserve).
    let key =
        super::reserve::issue_key(&mut tx, now, &facts.trade_id, book.rules.custodian_quorum.k)
            .await?;
    let mut m = Move::new(
        &caller.actor,
        "auction.announce",
        json!({"code": facts.code, "starts_at": facts.starts_at, "ends_at": facts.ends_at,
               "rulebook": book.id, "kind": terms.kind, "category": terms.category,
               "title": terms.title, "seller_name": terms.seller_name,
               "agent_org_id": facts.agent_org_id, "currency": "CNY",
               "start_price_fen": terms.start_price_fen, "increment_fen": terms.increment_fen,
               "deposit_fen": terms.deposit_fen, "announced_at": audit::entry_time(now),
               "relists": terms.relists, "reserve_key": key}),
    );
    m.period = Some((facts.starts_at, facts.ends_at));
    lifecycle::transition(
        &mut tx,
        now,
        &facts.trade_id,
        AuctionState::Draft,
        AuctionState::Announced,
        m,
    )
    .await?;
    let v = view_in(&mut tx, code, now).await?;
    tx.commit().await?;
    Ok(v)
}

/// The demo only (`demo_extend_seconds`): a short anti-sniping window for a live auction
/// of a few seconds, so a browser test sees the extension without waiting minutes. Not an
/// API: a real trade's window is its rulebook's.
pub(super) async fn demo_extend_window(
    db: &Db,
    code: &str,
    seconds: i64,
) -> Result<(), AuctionError> {
    let mut tx = db.begin().await?;
    q_exec!(
        tx,
        "update auction_trade set extend_seconds = $1 where code = $2",
        seconds.max(1),
        code.to_string()
    )?;
    tx.commit().await?;
    Ok(())
}

/// A reason to cancel.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
// Named apart from the tenders' schema of the same name in the OpenAPI document.
#[schema(as = AuctionCancelInput)]
pub struct CancelInput {
    /// Why the trade is terminated (published).
    pub reason: String,
}

/// The owner cancels (终止) a trade that has not ended.
pub async fn cancel(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &CancelInput,
) -> Result<TradeView, AuctionError> {
    text::check("reason", &input.reason, Lines::Multi)?;
    if input.reason.trim().is_empty() || input.reason.chars().count() > 2000 {
        return Err(invalid(
            "AUCTION_BAD_TEXT",
            "a reason of 1–2000 characters is needed / 须说明终止理由",
        ));
    }
    let mut tx = db.begin().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if !is_owner(caller, &facts) {
        return Err(Common::Forbidden(
            "only the trade's agent may cancel it / 仅项目代理机构可终止",
        )
        .into());
    }
    if facts.state.ended() {
        return Err(conflict(
            "AUCTION_WRONG_STATE",
            "the trade has ended / 项目已结束",
        ));
    }
    let mut m = Move::new(
        &caller.actor,
        "auction.cancel",
        json!({"code": facts.code, "reason": input.reason}),
    );
    m.cancel_reason = Some(input.reason.clone());
    lifecycle::transition(
        &mut tx,
        now,
        &facts.trade_id,
        facts.state,
        AuctionState::Cancelled,
        m,
    )
    .await?;
    let v = view_in(&mut tx, code, now).await?;
    tx.commit().await?;
    Ok(v)
}

/// A bidder's own application, as only they (and regulators) see it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApplicationView {
    /// Identifier.
    pub application_id: String,
    /// The reference to write on the deposit transfer.
    pub deposit_ref: String,
    /// applied | deposit_confirmed | admitted.
    pub state: String,
    /// The deposit due (fen).
    pub deposit_fen: i64,
    /// The bidder number (竞买号), once admitted.
    pub bidder_no: Option<String>,
    /// Whether the bidder asked to go on to the timed auction after the listing.
    pub wants_to_continue: bool,
}

const APPLICATION: &str = "select a.application_id, a.deposit_ref, a.state, t.deposit_fen,
        a.bidder_no, a.wants_to_continue <> 0 as wants_to_continue
     from auction_application a join auction_trade t on t.trade_id = a.trade_id";

/// A random reference for the deposit transfer: 12 characters from an alphabet without
/// look-alikes, so a bank clerk can type it.
fn deposit_ref() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let salt = crate::ids::new_salt();
    let bytes = hex::decode(salt).unwrap_or_default();
    bytes
        .iter()
        .take(12)
        .map(|b| {
            char::from(
                ALPHABET
                    .get(usize::from(*b) % ALPHABET.len())
                    .copied()
                    .unwrap_or(b'A'),
            )
        })
        .collect()
}

/// A random six-digit bidder number: sequential numbers would tell everyone how many
/// bidders there are.
fn bidder_number() -> String {
    let salt = crate::ids::new_salt();
    let n = u32::from_str_radix(salt.get(..8).unwrap_or("0"), 16).unwrap_or(0);
    format!("{:06}", 100_000 + n % 900_000)
}

/// A bidder company applies (竞买申请) while the trade is announced or listed.
pub async fn apply(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<ApplicationView, AuctionError> {
    caller.require_role(&[Role::Bidder])?;
    let org = caller
        .org_id()
        .ok_or(Common::Forbidden(
            "register your company first / 请先登记竞买单位",
        ))?
        .to_string();
    let mut tx = db.begin().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if !matches!(facts.state, AuctionState::Announced | AuctionState::Listing) {
        return Err(conflict(
            "AUCTION_NOT_OPEN_FOR_APPLICATIONS",
            "applications are taken only while the trade is announced or listed / 当前不接受竞买申请",
        ));
    }
    let active: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select org_id from organisation where org_id = $1 and kind = 'bidder' and status = 'active'",
        org.clone()
    )?;
    if active.is_none() {
        return Err(
            Common::Forbidden("your company is not an active bidder / 竞买单位未通过登记").into(),
        );
    }
    let id = new_id();
    let dref = deposit_ref();
    let inserted = q_exec!(
        tx,
        "insert into auction_application (application_id, trade_id, org_id, user_id, deposit_ref,
            state, applied_at)
         values ($1, $2, $3, $4, $5, 'applied', $6)",
        id.clone(),
        facts.trade_id.clone(),
        org.clone(),
        caller.user.user_id.clone(),
        dref.clone(),
        to_millis(now)
    );
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(conflict(
                "AUCTION_ALREADY_APPLIED",
                "your company has applied already / 本单位已申请",
            ));
        }
        other => other?,
    };
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "auction.apply",
        &facts.trade_id,
        json!({"application_id": id, "org_id": org, "deposit_ref": dref}),
        Stage::TradeEnd,
    )
    .await?;
    let v = own_application(&mut tx, &facts.trade_id, &org).await?;
    tx.commit().await?;
    Ok(v)
}

async fn own_application(
    tx: &mut Tx,
    trade_id: &str,
    org: &str,
) -> Result<ApplicationView, AuctionError> {
    let sql = format!("{APPLICATION} where a.trade_id = $1 and a.org_id = $2");
    Ok(q_opt!(
        tx,
        ApplicationView,
        sqlx::AssertSqlSafe(sql),
        trade_id.to_string(),
        org.to_string()
    )?
    .ok_or(Common::NotFound("application"))?)
}

/// The caller's own application.
pub async fn my_application(
    db: &Db,
    caller: &Caller,
    code: &str,
) -> Result<ApplicationView, AuctionError> {
    caller.require_role(&[Role::Bidder])?;
    let org = caller.org_id().ok_or(Common::NotFound("application"))?;
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    own_application(&mut tx, &facts.trade_id, org).await
}

/// The operator's confirmation that a deposit came in.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositInput {
    /// The reference on the transfer.
    pub deposit_ref: String,
    /// The amount received (fen).
    pub amount_fen: i64,
}

/// What the operator learns: the reference and its state, nothing about who it is.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DepositView {
    /// The reference.
    pub deposit_ref: String,
    /// deposit_confirmed | admitted.
    pub state: String,
}

/// The admission of a confirmed deposit.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmitInput {
    /// The reference on the transfer.
    pub deposit_ref: String,
}

#[derive(sqlx::FromRow)]
struct AppRow {
    application_id: String,
    org_id: String,
    state: String,
    deposit_fen: i64,
}

async fn application_by_ref(
    tx: &mut Tx,
    trade_id: &str,
    dref: &str,
) -> Result<AppRow, AuctionError> {
    // References are 12 letters and digits; anything else is not found without a query.
    if dref.is_empty() || dref.len() > 32 || !dref.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Common::NotFound("deposit reference").into());
    }
    Ok(q_opt!(
        tx,
        AppRow,
        "select a.application_id, a.org_id, a.state, t.deposit_fen
         from auction_application a join auction_trade t on t.trade_id = a.trade_id
         where a.trade_id = $1 and a.deposit_ref = $2",
        trade_id.to_string(),
        dref.to_string()
    )?
    .ok_or(Common::NotFound("deposit reference"))?)
}

async fn operator_trade(tx: &mut Tx, caller: &Caller, code: &str) -> Result<Facts, AuctionError> {
    caller.require_role(&[Role::Operator])?;
    let facts = lifecycle::by_code(tx, code).await?;
    if !matches!(facts.state, AuctionState::Announced | AuctionState::Listing) {
        return Err(conflict(
            "AUCTION_WRONG_STATE",
            "deposits and admissions are handled only before bidding / 竞价开始后不再受理保证金与资格",
        ));
    }
    Ok(facts)
}

/// The operator confirms a deposit by hand (its reference and the amount received).
pub async fn confirm_deposit(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &DepositInput,
) -> Result<DepositView, AuctionError> {
    check_money("amount_fen", input.amount_fen, false)?;
    let mut tx = db.begin().await?;
    let facts = operator_trade(&mut tx, caller, code).await?;
    let app = application_by_ref(&mut tx, &facts.trade_id, &input.deposit_ref).await?;
    if app.state != "applied" {
        return Err(conflict(
            "AUCTION_DEPOSIT_ALREADY_CONFIRMED",
            "this deposit is confirmed already / 保证金已确认",
        ));
    }
    if input.amount_fen < app.deposit_fen {
        return Err(invalid(
            "AUCTION_DEPOSIT_SHORT",
            format!(
                "received {} fen, the deposit is {} fen / 到账金额不足保证金",
                input.amount_fen, app.deposit_fen
            ),
        ));
    }
    q_exec!(
        tx,
        "update auction_application set state = 'deposit_confirmed', deposit_paid_fen = $1,
            confirmed_at = $2
         where application_id = $3 and state = 'applied'",
        input.amount_fen,
        to_millis(now),
        app.application_id.clone()
    )?;
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "auction.deposit",
        &facts.trade_id,
        json!({"application_id": app.application_id, "deposit_ref": input.deposit_ref,
               "amount_fen": input.amount_fen}),
        Stage::TradeEnd,
    )
    .await?;
    tx.commit().await?;
    Ok(DepositView {
        deposit_ref: input.deposit_ref.clone(),
        state: "deposit_confirmed".into(),
    })
}

/// The operator admits a bidder whose deposit is confirmed; the bidder gets a random
/// bidder number (竞买号) that only they (and regulators) can tie to their company.
pub async fn admit(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &AdmitInput,
) -> Result<DepositView, AuctionError> {
    let mut tx = db.begin().await?;
    let facts = operator_trade(&mut tx, caller, code).await?;
    let app = application_by_ref(&mut tx, &facts.trade_id, &input.deposit_ref).await?;
    match app.state.as_str() {
        "deposit_confirmed" => {}
        "admitted" => {
            return Err(conflict(
                "AUCTION_ALREADY_ADMITTED",
                "admitted already / 已取得竞买资格",
            ));
        }
        _ => {
            return Err(conflict(
                "AUCTION_DEPOSIT_NOT_CONFIRMED",
                "the deposit is not confirmed / 保证金尚未确认到账",
            ));
        }
    }
    let mut number = bidder_number();
    for _ in 0..20 {
        let taken: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select application_id from auction_application where trade_id = $1 and bidder_no = $2",
            facts.trade_id.clone(),
            number.clone()
        )?;
        if taken.is_none() {
            break;
        }
        number = bidder_number();
    }
    q_exec!(
        tx,
        "update auction_application set state = 'admitted', bidder_no = $1, admitted_at = $2
         where application_id = $3 and state = 'deposit_confirmed'",
        number.clone(),
        to_millis(now),
        app.application_id.clone()
    )?;
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "auction.admit",
        &facts.trade_id,
        json!({"application_id": app.application_id, "org_id": app.org_id, "bidder_no": number}),
        Stage::TradeEnd,
    )
    .await?;
    tx.commit().await?;
    Ok(DepositView {
        deposit_ref: input.deposit_ref.clone(),
        state: "admitted".into(),
    })
}

/// An admitted bidder asks to go on to the timed auction at the end of a listing (39号令
/// 第21条: 挂牌截止时仍有两个或者两个以上的竞买人要求报价的，进行现场竞价).
pub async fn want_to_continue(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<ApplicationView, AuctionError> {
    caller.require_role(&[Role::Bidder])?;
    let org = caller
        .org_id()
        .ok_or(Common::NotFound("application"))?
        .to_string();
    let mut tx = db.begin().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if !facts.listing || facts.state != AuctionState::Listing {
        return Err(conflict(
            "AUCTION_WRONG_STATE",
            "only during a listing period / 仅在挂牌期内可申请继续竞价",
        ));
    }
    let n = q_exec!(
        tx,
        "update auction_application set wants_to_continue = 1
         where trade_id = $1 and org_id = $2 and state = 'admitted'",
        facts.trade_id.clone(),
        org.clone()
    )?;
    if n == 0 {
        return Err(conflict(
            "AUCTION_NOT_ADMITTED",
            "you are not an admitted bidder / 未取得竞买资格",
        ));
    }
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "auction.continue",
        &facts.trade_id,
        json!({"org_id": org}),
        Stage::TradeEnd,
    )
    .await?;
    let v = own_application(&mut tx, &facts.trade_id, &org).await?;
    tx.commit().await?;
    Ok(v)
}

/// One bidder as published at the end (and shown to regulators at any time), with what
/// happens to their deposit.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BidderView {
    /// The bidder number (none when never admitted).
    pub bidder_no: Option<String>,
    /// The company.
    pub org_id: String,
    /// Its name.
    pub org_name: String,
    /// applied | deposit_confirmed | admitted.
    pub state: String,
    /// The deposit received (fen).
    pub deposit_paid_fen: Option<i64>,
    /// convert (the winner's deposit becomes part of the price) | refund | none.
    #[sqlx(default)]
    pub deposit: String,
}

/// Who the bidders were: regulators at any time, everyone else only after the end.
pub async fn bidders(
    db: &Db,
    user: Option<&SessionUser>,
    code: &str,
) -> Result<Vec<BidderView>, AuctionError> {
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    let regulator = user.is_some_and(|u| u.role == Role::Regulator);
    if !facts.state.ended() && !regulator {
        if facts.state == AuctionState::Draft && !may_read_all(user, &facts.agent_org_id) {
            return Err(Common::NotFound("trade").into());
        }
        return Err(Common::Forbidden(
            "who the bidders are stays secret until the trade ends / 竞买人信息在交易结束前保密",
        )
        .into());
    }
    let winner: Option<(Option<String>,)> = q_opt!(
        tx,
        (Option<String>,),
        "select winner_bidder_no from auction_trade where trade_id = $1",
        facts.trade_id.clone()
    )?;
    let winner = winner.and_then(|w| w.0);
    let mut out = q_all!(
        tx,
        BidderView,
        "select a.bidder_no, a.org_id, o.name as org_name, a.state, a.deposit_paid_fen
         from auction_application a join organisation o on o.org_id = a.org_id
         where a.trade_id = $1 order by a.bidder_no, a.applied_at",
        facts.trade_id.clone()
    )?;
    for b in &mut out {
        b.deposit = match (&b.bidder_no, b.deposit_paid_fen) {
            (Some(n), Some(_))
                if Some(n) == winner.as_ref() && facts.state == AuctionState::Deal =>
            {
                "convert"
            }
            (_, Some(_)) => "refund",
            _ => "none",
        }
        .into();
    }
    Ok(out)
}
