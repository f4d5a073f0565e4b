-- Clarifications and member replacement during the evaluation (issue 5, docs/evaluation.md
-- "Clarifications" and "Replacing a member"). Times are milliseconds since the Unix epoch.
-- The evaluation's state gains one value: `replacing` while a member is being replaced.

-- A written clarification request (澄清, 招标投标法 第39条, 实施条例 第52条) from the
-- committee to the bidder of one bid, and the bidder's written answer. Never changed once
-- written; the answer is refused after `answer_by`.
create table evaluation_clarification (
    clarification_id text primary key,
    tender_id        text not null references tender(tender_id),
    bid_id           text not null references bid(bid_id),
    -- the bidder organisation whose users may read and answer it
    org_id           text not null references organisation(org_id),
    -- the committee member who sent it: confidential until the award, never shown to the
    -- bidder or the agent (招标投标法 第37条)
    asked_by         text not null references app_user(user_id),
    question         text not null,
    question_sha256  text not null,
    asked_at         integer not null,
    -- deadline for the answer (inclusive)
    answer_by        integer not null,
    answer           text,
    answer_sha256    text,
    answered_by      text references app_user(user_id),
    answered_at      integer
);
create index evaluation_clarification_tender_idx on evaluation_clarification(tender_id, asked_at);
create index evaluation_clarification_org_idx on evaluation_clarification(org_id, asked_at);

-- Replacing a committee member during the evaluation (实施条例 第48条). The replacement is
-- drawn by the expert module's replacement draw (`draw_id`, kind 'replacement').
create table evaluation_replacement (
    replacement_id text primary key,
    tender_id      text not null references tender(tender_id),
    -- the member replaced (user id) and their pool record
    member         text not null references app_user(user_id),
    expert_id      text not null references expert(expert_id),
    -- the agent's written reason (回避, illness …)
    reason         text not null,
    -- the evaluation state when the replacement started (the evaluation is `replacing` meanwhile)
    from_state     text not null,
    draw_id        text not null references expert_draw(draw_id),
    -- drawing | completed
    state          text not null,
    requested_by   text not null references app_user(user_id),
    requested_at   integer not null,
    -- set on completion: the new member and the step the evaluation went back to
    replacement    text references app_user(user_id),
    to_state       text,
    completed_by   text references app_user(user_id),
    completed_at   integer
);
-- At most one replacement in progress per tender.
create unique index evaluation_replacement_open_idx on evaluation_replacement(tender_id)
    where state = 'drawing';

-- Conclusions removed from the live tables by a replacement, kept as they were stored.
create table evaluation_void (
    replacement_id text not null references evaluation_replacement(replacement_id),
    tender_id      text not null references tender(tender_id),
    -- ballot | mark | sheet | signature
    kind           text not null,
    member         text not null references app_user(user_id),
    -- replaced_member: the replaced member's own conclusion (实施条例 第48条);
    -- review_redone: another member's score sheet, void because the review is decided again;
    -- report_changed: a signature or dissent on a report that no longer exists
    why            text not null,
    -- the removed row as JSON
    row_json       text not null,
    voided_at      integer not null
);
create index evaluation_void_tender_idx on evaluation_void(tender_id, replacement_id);
