-- The result of an evaluation (issue 5, docs/evaluation.md "Publicity and award"): the
-- report delivered to the tenderee, the candidate publicity (中标候选人公示), objections to
-- the result, the award notice (中标通知书) and the contract record. Times are milliseconds
-- since the Unix epoch; money is integer fen.

-- When the owning agent delivered the signed report to the tenderee and closed signing
-- (members who neither signed nor dissented are then deemed to agree, 实施条例 第53条).
alter table evaluation add column report_at integer;

-- One publicity per tender. `candidates_json` is exactly what the public sees.
create table result_publicity (
    tender_id       text primary key references tender(tender_id),
    starts_at       integer not null,
    ends_at         integer not null,
    candidates_json text not null,
    published_by    text not null references app_user(user_id),
    audit_seq       integer not null
);

-- Objections to the evaluation result (对评标结果的异议, 实施条例 第54条), raised by a
-- bidder of the tender during the publicity and answered in writing.
create table result_objection (
    objection_id text primary key,
    tender_id    text not null references tender(tender_id),
    org_id       text not null references organisation(org_id),
    raised_by    text not null references app_user(user_id),
    body         text not null,
    raised_at    integer not null,
    answer       text,
    answered_by  text references app_user(user_id),
    answered_at  integer,
    -- set when the answer came after the rulebook's days (recorded, and alerted)
    answered_late integer not null default 0
);
create index result_objection_tender_idx on result_objection(tender_id, raised_at);

-- The award notice (中标通知书), one per tender.
create table award (
    tender_id       text primary key references tender(tender_id),
    bid_id          text not null references bid(bid_id),
    winner_org_id   text not null references organisation(org_id),
    price_fen       integer not null,
    -- the winner's rank among the candidates, and why when it is not the first
    candidate_rank  integer not null,
    reason          text,
    awarded_by      text not null references app_user(user_id),
    awarded_at      integer not null,
    contract_due_at integer not null
);

-- The contract record (合同备案), one per tender.
create table contract_record (
    tender_id       text primary key references tender(tender_id),
    signed_at       integer not null,
    amount_fen      integer not null,
    document_sha256 text,
    recorded_by     text not null references app_user(user_id),
    recorded_at     integer not null
);
