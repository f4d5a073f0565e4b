-- Sealed bids (issue 3, DESIGN.md "Sealed bids", docs/sealed-bidding.md). Nothing in these
-- tables can open a bid: the database holds public keys, passphrase-locked custodian keys,
-- shares sealed to custodians, digests and metadata; the blob store holds ciphertext.

-- A custodian's personal key pair (开标密钥保管人). `locked_json` is a LockedCustodianKey:
-- the public key in clear, the private scalar AES-256-GCM-encrypted under
-- PBKDF2-HMAC-SHA256(passphrase, per-key salt, ≥ 600,000 iterations). The passphrase is
-- never stored.
create table custodian_key (
    user_id     text primary key references app_user(user_id),
    -- base64 (standard) of the 65-byte SEC1 public key, also inside locked_json
    public_key  text not null,
    locked_json text not null,
    created_at  bigint not null
);

-- The tender's opening public key, generated at publication (HPKE DeriveKeyPair from a
-- random seed that is split and then wiped). Only the public half is ever stored.
create table tender_opening_key (
    tender_id  text primary key references tender(tender_id),
    -- base64url without padding of the 65-byte SEC1 uncompressed point
    public_key text not null,
    -- shares needed / shares issued
    k          bigint not null,
    n          bigint not null,
    created_at bigint not null
);

-- One Shamir share of the opening seed per custodian, sealed to that custodian's key
-- (SealedShare JSON: HPKE to the custodian public key, info bound to the tender).
create table tender_key_share (
    tender_id   text not null references tender(tender_id),
    user_id     text not null references app_user(user_id),
    -- the Shamir participant id (1..n); public
    share_index bigint not null,
    sealed_json text not null,
    primary key (tender_id, user_id)
);

-- One uploaded envelope (a part of a bid: the bid form or an attachment). The ciphertext is
-- in the blob store under `sha256`.
create table bid_part (
    part_id       text primary key,
    tender_id     text not null references tender(tender_id),
    -- the bidder is the company; any of its users may act
    bidder_org_id text not null references organisation(org_id),
    uploaded_by   text not null references app_user(user_id),
    -- form | attachment
    label         text not null,
    -- the original file name as given by the bidder (sanitised)
    name          text not null,
    -- SHA-256 hex of the whole envelope = its blob name
    sha256        text not null,
    size_bytes    bigint not null,
    -- plaintext length declared in the envelope header
    plain_len     bigint not null,
    client_ip     text,
    user_agent    text,
    device_id     text,
    uploaded_at   bigint not null,
    -- set at the opening for parts of valid bids: SHA-256 hex of the decrypted part (blob)
    plain_sha256  text
);
create index bid_part_owner_idx on bid_part(tender_id, bidder_org_id);

-- A submission: the parts it consists of and its signed receipt. The last submission of a
-- company counts; the earlier one becomes `replaced`.
create table bid (
    bid_id         text primary key,
    tender_id      text not null references tender(tender_id),
    bidder_org_id  text not null references organisation(org_id),
    submitted_by   text not null references app_user(user_id),
    -- submitted | replaced | withdrawn (撤回) | opened | revoked (撤销)
    state          text not null,
    -- the receipt exactly as signed (canonical JSON) and its Ed25519 signature (base64)
    receipt_json   text not null,
    signature      text not null,
    -- audit sequence number of the submission event
    audit_seq      bigint not null,
    submitted_at   bigint not null,
    -- withdrawn: by 'bidder' (before the deadline) or 'platform' (failure at the opening)
    withdrawn_by   text,
    -- why a bid was withdrawn or revoked (code: message)
    reason         text,
    closed_at      bigint
);
-- At most one current submission per company and tender.
create unique index bid_current_idx on bid(tender_id, bidder_org_id) where state = 'submitted';
create index bid_tender_idx on bid(tender_id, state);

create table bid_item (
    bid_id   text not null references bid(bid_id),
    part_id  text not null references bid_part(part_id),
    position bigint not null,
    primary key (bid_id, part_id)
);

-- The opening ceremony (开标), one per tender.
create table opening (
    tender_id     text primary key references tender(tender_id),
    -- unlocking | opened | failed (流标: too few bids, nothing decrypted)
    state         text not null,
    started_by    text not null references app_user(user_id),
    started_at    bigint not null,
    finished_at   bigint,
    -- the published opening record (开标记录), canonical JSON, and its SHA-256 hex
    record_json   text,
    record_sha256 text
);

-- Which custodian unlocked a share, when (the share itself lives only in server memory).
create table opening_unlock (
    tender_id   text not null references tender(tender_id),
    user_id     text not null references app_user(user_id),
    unlocked_at bigint not null,
    primary key (tender_id, user_id)
);

-- A bidder confirming the opening record.
create table opening_confirmation (
    tender_id     text not null references tender(tender_id),
    bidder_org_id text not null references organisation(org_id),
    user_id       text not null references app_user(user_id),
    confirmed_at  bigint not null,
    primary key (tender_id, bidder_org_id)
);

-- Objections at the opening (开标异议, 条例 第44条), answered on the spot by the agent.
create table opening_objection (
    objection_id  text primary key,
    tender_id     text not null references tender(tender_id),
    bidder_org_id text not null references organisation(org_id),
    raised_by     text not null references app_user(user_id),
    body          text not null,
    raised_at     bigint not null,
    answer        text,
    answered_by   text references app_user(user_id),
    answered_at   bigint
);
create index opening_objection_tender_idx on opening_objection(tender_id, raised_at);
