-- Auctions and listings (拍卖, 挂牌) of land use rights, state assets and equity (issue 17).
-- Times are milliseconds since the Unix epoch (UTC); money is integer fen.

-- One trade: its terms, its state (written only by lifecycle::auction) and its running price.
create table auction_trade (
    trade_id              text primary key,
    code                  text not null unique,
    -- auction (拍卖/网上限时竞价) | listing (挂牌)
    kind                  text not null,
    -- land | state_asset | equity: picks the rulebook (rulebooks/auction/*.toml)
    category              text not null,
    rulebook_id           text not null,
    title                 text not null,
    description           text not null,
    -- the seller (出让人/转让方) as published; the agent organisation acts for it
    seller_name           text not null,
    agent_org_id          text not null references organisation(org_id),
    -- draft | announced | listing | bidding | deal | no_deal | cancelled
    state                 text not null,
    start_price_fen       bigint not null,
    increment_fen         bigint not null,
    deposit_fen           bigint not null,
    -- a bid this close to the end moves the end to this long after the bid (anti-sniping)
    extend_seconds        bigint not null,
    -- length of the timed auction that follows a listing when two or more want to go on
    final_auction_seconds bigint not null,
    announced_at          bigint,
    -- bidding (auction) or the listing period starts
    starts_at             bigint not null,
    -- the current end: moved by the anti-sniping rule, and set anew when a listing goes
    -- on to its timed auction
    ends_at               bigint not null,
    -- the running price and the number of accepted bids (= the last bid's seq)
    current_price_fen     bigint,
    bid_count             bigint not null default 0,
    -- the trade this one relists after a failure (流拍), if any
    relisted_from         text references auction_trade(trade_id),
    -- the result, written by the move to deal / no_deal
    winner_bidder_no      text,
    result_price_fen      bigint,
    -- the deal confirmation (成交确认书): canonical JSON and its Ed25519 signature (base64)
    confirmation          text,
    confirmation_sig      text,
    ended_at              bigint,
    cancel_reason         text,
    created_at            bigint not null,
    updated_at            bigint not null
);
create index auction_trade_due_idx on auction_trade(state, ends_at);

-- A bidder company's application (竞买申请). Nobody but regulators reads these before the
-- trade ends; the operator confirms deposits by `deposit_ref` only.
create table auction_application (
    application_id   text primary key,
    trade_id         text not null references auction_trade(trade_id),
    org_id           text not null references organisation(org_id),
    user_id          text not null references app_user(user_id),
    -- the reference the bidder writes on the bank transfer (random, unique)
    deposit_ref      text not null unique,
    -- applied | deposit_confirmed | admitted
    state            text not null,
    deposit_paid_fen bigint,
    -- 竞买号: random, so the numbers say nothing about how many bidders there are
    bidder_no        text,
    -- 1 when the bidder asks to go on to the timed auction at the end of a listing
    wants_to_continue bigint not null default 0,
    applied_at       bigint not null,
    confirmed_at     bigint,
    admitted_at      bigint,
    unique (trade_id, org_id),
    unique (trade_id, bidder_no)
);

-- Accepted bids (and listing quotes), in the order the database accepted them: `seq` is the
-- trade's `bid_count` after the bid, taken under the trade row's write lock.
create table auction_bid (
    trade_id   text not null references auction_trade(trade_id),
    seq        bigint not null,
    bidder_no  text not null,
    amount_fen bigint not null,
    placed_at  bigint not null,
    -- listing (挂牌 quote) | auction (live bid)
    phase      text not null,
    audit_seq  bigint not null,
    primary key (trade_id, seq)
);
