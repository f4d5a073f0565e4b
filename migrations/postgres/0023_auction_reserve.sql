-- The sealed reserve price (底价) of auctions and listings and the winner's passkey signature
-- on the deal confirmation (issue 17 items 3–4). Times are milliseconds since the Unix epoch
-- (UTC); money is integer fen. The reserve uses the tenders' scheme (docs/sealed-bidding.md):
-- an opening key issued at publication, its seed split among the trade's custodians, the
-- reserve sealed to its public key like a bid part, opened by k custodians after the end.

-- The custodians (开标密钥保管人) of a trade, chosen at drafting. None: no reserve.
create table auction_custodian (
    trade_id text not null references auction_trade(trade_id),
    user_id  text not null references app_user(user_id),
    primary key (trade_id, user_id)
);

-- The trade's opening public key, issued at publication; only the public half is stored.
create table auction_opening_key (
    trade_id   text primary key references auction_trade(trade_id),
    -- base64url without padding of the 65-byte SEC1 uncompressed point
    public_key text not null,
    -- shares needed / shares issued
    k          bigint not null,
    n          bigint not null,
    created_at bigint not null
);

-- One Shamir share of the opening seed per custodian, sealed to that custodian's key
-- (SealedShare JSON, info bound to the trade), with the share's digest (seal-format.md).
create table auction_key_share (
    trade_id     text not null references auction_trade(trade_id),
    user_id      text not null references app_user(user_id),
    share_index  bigint not null,
    sealed_json  text not null,
    share_sha256 text not null,
    primary key (trade_id, user_id)
);

-- The sealed reserve: an envelope (bidder_id `reserve-price`) in the blob store under
-- `sha256`, sealed before bidding starts; a later one replaces the row. `reserve_fen` is
-- written only when k custodians have opened it after the end.
create table auction_reserve (
    trade_id    text primary key references auction_trade(trade_id),
    -- SHA-256 hex of the whole envelope = its blob name
    sha256      text not null,
    size_bytes  bigint not null,
    sealed_by   text not null references app_user(user_id),
    sealed_at   bigint not null,
    reserve_fen bigint,
    opened_at   bigint,
    -- why the opened envelope gave no reserve (code: message), if so
    open_error  text
);

-- A custodian's unlocked share between their unlock and the opening of the reserve, sealed
-- (AES-256-GCM) under a key derived from the platform signing key, never in the database:
-- base64(nonce ‖ ciphertext ‖ tag), AAD bound to the trade and the custodian. Deleted in
-- the transaction that opens the reserve.
create table auction_reserve_share (
    trade_id    text not null references auction_trade(trade_id),
    user_id     text not null references app_user(user_id),
    sealed      text not null,
    unlocked_at bigint not null,
    primary key (trade_id, user_id)
);

-- Wrong custodian passphrases at a reserve opening, counted per (trade, custodian) with the
-- tenders' rule (bid::unlock_limit, 0013): five free, then each failure makes the next
-- attempt wait 1 minute, 2, 4, … up to an hour; a successful unlock resets the row.
create table auction_unlock_attempt (
    trade_id        text not null references auction_trade(trade_id),
    user_id         text not null references app_user(user_id),
    failures        bigint not null default 0,
    locked_until    bigint,
    last_failure_at bigint,
    primary key (trade_id, user_id)
);

-- The winner's passkey signature over the deal confirmation: a WebAuthn assertion whose
-- challenge is SHA-256 of the confirmation's canonical JSON. Null: awaiting the winner.
alter table auction_trade add column winner_signed_at bigint;
alter table auction_trade add column winner_credential_id text;
-- the assertion as the browser sent it (PublicKeyCredential JSON), for offline checks
alter table auction_trade add column winner_assertion text;
