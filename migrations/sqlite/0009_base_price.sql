-- The sealed base price (标底, issue 3, 条例 第27、50条): at most one per tender, sealed by the
-- owning agent before the deadline exactly like a bid part (bidder_id `base-price` in the
-- envelope), opened with the bids and published in the opening record. The ciphertext is in
-- the blob store under `sha256`; a later one replaces the row.
create table tender_base_price (
    tender_id  text primary key references tender(tender_id),
    -- SHA-256 hex of the whole envelope = its blob name
    sha256     text not null,
    size_bytes integer not null,
    sealed_by  text not null references app_user(user_id),
    sealed_at  integer not null
);
