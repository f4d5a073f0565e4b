-- Electronic supervision (电子监察, issue 13; docs/supervision.md): the alert engine's
-- durable cursor over the audit log, the alerts it derives, the regulator's cases with
-- their notes and findings, suspensions of a tender, penalties, and complaints (投诉,
-- 实施条例 第60–62条). Every change to these tables appends its audit event in the same
-- transaction. Times are milliseconds since the Unix epoch (UTC).

-- Where the alert engine stands in the audit log: one row per consumer. It is advanced in
-- the transaction that stores the alerts derived from the events before it, guarded by the
-- value it was read at, so each event is consumed exactly once by any number of servers.
create table supervision_cursor (
    consumer   text primary key,
    -- the next audit sequence number to read
    next_seq   bigint not null,
    updated_at bigint not null
);
insert into supervision_cursor (consumer, next_seq, updated_at) values ('alerts', 0, 0);

-- One alert raised by a rule (src/supervision/rules/).
create table supervision_alert (
    alert_id    text primary key,
    -- collusion | time_limit | evaluation | out_of_hours …
    kind        text not null,
    -- low | medium | high
    severity    text not null,
    -- the tender the events name (no foreign key: the log's tender ids are not checked
    -- either, and an alert must never block the engine's cursor)
    tender_id   text,
    -- the rule's id in the configuration, e.g. collusion.same_ip
    rule        text not null,
    -- the article the rule rests on, e.g. 实施条例 第40条
    article     text not null,
    -- what the rule found, in words (English / 中文)
    summary     text not null,
    -- JSON array of the audit sequence numbers the alert rests on (its evidence)
    evidence    text not null,
    -- JSON object with the rule's figures (prices, addresses' digests, deviations)
    detail      text not null,
    -- what makes the alert unique: the same finding is never raised twice
    dedup_key   text not null,
    -- open | acknowledged | in_case | closed
    status      text not null,
    -- the audit sequence number of the alert's own creation event
    audit_seq   bigint not null,
    raised_at   bigint not null,
    acknowledged_by text references app_user(user_id),
    acknowledged_at bigint
);
create unique index supervision_alert_dedup_idx on supervision_alert(dedup_key);
create index supervision_alert_tender_idx on supervision_alert(tender_id, raised_at);
create index supervision_alert_status_idx on supervision_alert(status, kind);

-- A regulator's case (案件), opened from an alert or a complaint.
create table supervision_case (
    case_id     text primary key,
    -- the alert's tender
    tender_id   text,
    alert_id    text references supervision_alert(alert_id),
    opened_by   text not null references app_user(user_id),
    -- open | closed
    state       text not null,
    -- dismissed | rectification | penalty (null while open)
    finding     text,
    finding_text text,
    opened_at   bigint not null,
    closed_at   bigint
);
create index supervision_case_tender_idx on supervision_case(tender_id);

-- Notes written during an investigation, in order.
create table supervision_case_note (
    note_id    text primary key,
    case_id    text not null references supervision_case(case_id),
    author_id  text not null references app_user(user_id),
    body       text not null,
    created_at bigint not null
);
create index supervision_case_note_case_idx on supervision_case_note(case_id, created_at);

-- A tender suspended by a regulator (实施条例 第62条): the state it was suspended from, to
-- which resuming returns it. At most one open suspension per tender.
create table tender_suspension (
    suspension_id  text primary key,
    tender_id      text not null references tender(tender_id),
    case_id        text references supervision_case(case_id),
    from_state     text not null,
    reason         text not null,
    suspended_by   text not null references app_user(user_id),
    suspended_at   bigint not null,
    resumed_by     text references app_user(user_id),
    resumed_at     bigint
);
create index tender_suspension_tender_idx on tender_suspension(tender_id, resumed_at);

-- A penalty recorded by a case's finding: an expert (avoided by later draws through
-- expert.penalised) or a company (flagged at registration and in the eligibility review).
create table supervision_penalty (
    penalty_id   text primary key,
    case_id      text not null references supervision_case(case_id),
    -- expert | company
    subject_kind text not null,
    -- expert_id or org_id
    subject_id   text not null,
    reason       text not null,
    created_at   bigint not null
);
create index supervision_penalty_subject_idx on supervision_penalty(subject_kind, subject_id);

-- A complaint (投诉) to the supervising department (实施条例 第60–61条).
create table complaint (
    complaint_id   text primary key,
    tender_id      text not null references tender(tender_id),
    complainant_org_id text not null references organisation(org_id),
    filed_by       text not null references app_user(user_id),
    -- documents | opening | result | other: the first three need an objection first (第60条)
    matter         text not null,
    body           text not null,
    -- the prior objection's id, where one is required
    objection_id   text,
    -- filed | accepted | rejected | decided
    state          text not null,
    filed_at       bigint not null,
    -- acceptance due (3 working days) and decision due (30 working days after acceptance)
    accept_due_at  bigint not null,
    decide_due_at  bigint,
    accepted_at    bigint,
    decided_at     bigint,
    -- upheld | dismissed (with the decision text, published on the portal)
    outcome        text,
    decision       text,
    decided_by     text references app_user(user_id)
);
create index complaint_tender_idx on complaint(tender_id, filed_at);
create index complaint_state_idx on complaint(state, accept_due_at);
