-- Evaluation (评标, issue 5, docs/evaluation.md): the committee, the leader election, the
-- preliminary review marks, the score sheets and the ranking. Times are milliseconds since
-- the Unix epoch; scores are hundredths of a point.

-- One evaluation per tender, started by the owning agent once the committee is ready.
create table evaluation (
    tender_id            text primary key references tender(tender_id),
    -- electing | review | scoring | ranked | failed
    state                text not null,
    -- JSON [{"id": user id, "role": "expert" | "tenderee_representative"}]
    members_json         text not null,
    -- JSON [{"id", "kind"}] of the preliminary review criteria
    review_criteria_json text not null,
    -- majority | unanimity
    review_rule          text not null,
    -- evaluation::scoring::ScoringPlan as JSON
    plan_json            text not null,
    election_round       bigint not null,
    leader_user_id       text references app_user(user_id),
    -- evaluation::review::ReviewOutcome as JSON, once every mark is in
    review_json          text,
    -- evaluation::ranking::Outcome as JSON, once every sheet is in
    ranking_json         text,
    -- the evaluation report (评标报告) as canonical JSON with every score, and its SHA-256
    -- hex: the challenge every member signs with a passkey (实施条例 第53条)
    report_json          text,
    report_sha256        text,
    started_by           text not null references app_user(user_id),
    started_at           bigint not null,
    ranked_at            bigint
);

-- One ballot per member and election round.
create table evaluation_ballot (
    tender_id  text not null references tender(tender_id),
    round      bigint not null,
    voter      text not null references app_user(user_id),
    candidate  text not null references app_user(user_id),
    cast_at    bigint not null,
    primary key (tender_id, round, voter)
);

-- One preliminary review mark per member, bid and criterion; never changed.
create table evaluation_mark (
    tender_id  text not null references tender(tender_id),
    member     text not null references app_user(user_id),
    bid_id     text not null references bid(bid_id),
    criterion  text not null,
    -- pass | fail
    verdict    text not null,
    reason     text not null,
    sha256     text not null,
    marked_at  bigint not null,
    primary key (tender_id, member, bid_id, criterion)
);

-- One score sheet per member and bid, all of a member's sheets submitted at once; never
-- changed. `scores_json` is {criterion: hundredths}; `sha256` covers the whole submission.
create table evaluation_sheet (
    tender_id    text not null references tender(tender_id),
    member       text not null references app_user(user_id),
    bid_id       text not null references bid(bid_id),
    scores_json  text not null,
    sha256       text not null,
    submitted_at bigint not null,
    primary key (tender_id, member, bid_id)
);

-- Each member's act on the report: signed (a passkey assertion whose challenge is the
-- report's SHA-256) or dissented with a written reason; one act per member, never changed.
create table evaluation_signature (
    tender_id     text not null references tender(tender_id),
    member        text not null references app_user(user_id),
    -- signed | dissented
    act           text not null,
    reason        text,
    report_sha256 text not null,
    credential_id text,
    signed_at     bigint not null,
    primary key (tender_id, member)
);
