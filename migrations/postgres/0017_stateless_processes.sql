-- Several stateless server processes (issue 14). What one process used to keep in memory
-- now lives here, so any process can carry on when another is gone.
-- Times are milliseconds since the Unix epoch (UTC).

-- An opening ceremony between its first unlock and its end. `wrapped_key` is the
-- opening's own random 256-bit key, sealed (AES-256-GCM) under a key derived from the
-- platform signing key, which is never in the database: base64(nonce ‖ ciphertext ‖ tag).
-- The row and every share sealed under it are deleted in the transaction that publishes
-- the opening record (docs/sealed-bidding.md, "Several processes").
create table opening_share_key (
    tender_id     text primary key references tender(tender_id),
    wrapped_key   text not null,
    created_at    bigint not null,
    -- the process decrypting the bids holds the opening until then (renewed while it
    -- works); null: nobody does. An expired lease lets another process take over.
    running_until bigint
);

-- A custodian's unlocked share, sealed under the opening's key (AAD: tender and custodian):
-- base64(nonce ‖ ciphertext ‖ tag). Written only after the deadline (the opening must be
-- unlocking), in the transaction that records the unlock.
create table opening_share (
    tender_id   text not null references tender(tender_id),
    user_id     text not null references app_user(user_id),
    sealed      text not null,
    unlocked_at bigint not null,
    primary key (tender_id, user_id)
);

-- Login attempts in fixed one-minute windows, shared by every process. `bucket` is the
-- hex SHA-256 of what is limited (a username with a client address, or an address alone),
-- so the table names nobody.
create table login_attempt (
    bucket       text not null,
    window_start bigint not null,
    attempts     bigint not null,
    primary key (bucket, window_start)
);
create index login_attempt_window_idx on login_attempt(window_start);
