-- Expert pool, verifiable draws, confirmations and check-in (issue 4, DESIGN.md "Expert
-- draw" and "Check-in", docs/expert-draw.md). Times are milliseconds since the Unix epoch.

-- One evaluation expert (评标专家). The pure draw core reads these columns as an
-- `expert::Expert`; the pool is always loaded `order by expert_id` (the draw sorts by id).
create table expert (
    expert_id         text primary key,
    -- the expert's own login (role expert), when they have one; one login, one expert
    user_id           text unique references app_user(user_id),
    name              text not null,
    -- JSON array of specialty codes (src/expert/specialties.toml), e.g. ["A0101","A05"]
    specialties       text not null,
    -- administrative division code (GB/T 2260), e.g. 330106
    region            text not null,
    employer_org_id   text references organisation(org_id),
    -- none | junior | intermediate | associate_senior | senior | senior_equivalent
    title             text not null,
    years_of_practice bigint not null,
    birth_year        bigint not null,
    -- active | suspended | barred
    status            text not null,
    -- why the status was last changed (suspension or bar), shown to operators/regulators
    status_reason     text,
    -- 1 when penalised before for tendering violations (暂行规定 第12条); 0 otherwise
    penalised         bigint not null default 0,
    -- JSON array of dates ("2025-03-01") the expert declared unavailable
    unavailable       text not null default '[]',
    -- JSON array of {"org_id": …, "relation": …}: relatives' employers, economic interests
    conflicts         text not null default '[]',
    created_at        bigint not null,
    updated_at        bigint not null
);
create index expert_status_idx on expert(status);

-- One draw: a request and its commit → supervisor input → draw procedure. A replacement
-- draw (after a decline or no answer) is another row with kind = 'replacement'.
create table expert_draw (
    draw_id            text primary key,
    tender_id          text not null references tender(tender_id),
    -- initial | replacement
    kind               text not null,
    -- the draw a replacement replaces a member of, and that member
    parent_draw_id     text references expert_draw(draw_id),
    replaces_expert_id text references expert(expert_id),
    requested_by       text not null references app_user(user_id),
    -- the regulator-role user recorded as present; only they may enter the input
    supervisor_user_id text not null references app_user(user_id),
    -- the full expert::DrawRequest as JSON (quotas, region and reason, avoided orgs, rules)
    request_json       text not null,
    evaluation_at      bigint not null,
    evaluation_place   text not null,
    checkin_opens_at   bigint not null,
    checkin_closes_at  bigint not null,
    -- how long a drawn expert has to confirm, in minutes
    confirm_minutes    bigint not null,
    -- committed (waiting for the supervisor) | drawn | failed
    state              text not null,
    -- The 32-byte server secret, hex. Not a key protecting anything else: it only makes the
    -- draw unpredictable until the supervisor's input is in. Never returned by the API
    -- before the draw is revealed after the award (docs/expert-draw.md "Service").
    secret_hex         text not null,
    commitment_hex     text not null,
    commit_seq         bigint not null,
    supervisor_input   text,
    input_seq          bigint,
    -- RFC 9162 root just after the input event, hex
    audit_root_hex     text,
    -- expert::DrawResult JSON, and the withheld audit event that records it
    result_json        text,
    result_seq         bigint,
    -- the replay pool: JSON [{"id", "quotas": [codes]}] of every expert eligible for a quota,
    -- in id order; served after the reveal so anyone can replay (its SHA-256 is logged)
    candidates_json    text,
    failure            text,
    -- the public reveal event (secret, result entry) after the award
    reveal_seq         bigint,
    created_at         bigint not null,
    drawn_at           bigint
);
-- "A second draw for the same request": at most one live initial draw per tender.
create unique index expert_draw_initial_idx on expert_draw(tender_id) where kind = 'initial' and state <> 'failed';
create index expert_draw_tender_idx on expert_draw(tender_id, created_at);

-- A drawn expert's place in a tender's committee.
create table expert_assignment (
    draw_id       text not null references expert_draw(draw_id),
    expert_id     text not null references expert(expert_id),
    tender_id     text not null references tender(tender_id),
    specialty     text not null,
    -- anonymous member number within the tender (what the agent sees), 1, 2, 3 …
    member_no     bigint not null,
    -- member | alternate
    role          text not null,
    -- notified | confirmed | declined | expired | alternate
    state         text not null,
    respond_by    bigint,
    responded_at  bigint,
    decline_reason text,
    created_at    bigint not null,
    primary key (draw_id, expert_id),
    unique (tender_id, expert_id),
    unique (tender_id, member_no)
);
create index expert_assignment_expert_idx on expert_assignment(expert_id, state);

-- Check-in at the evaluation (one per member and tender).
create table expert_checkin (
    tender_id     text not null references tender(tender_id),
    expert_id     text not null references expert(expert_id),
    draw_id       text not null references expert_draw(draw_id),
    -- passkey | emergency
    method        text not null,
    at            bigint not null,
    credential_id text,
    passkey_id    text,
    sign_count    bigint,
    client_ip     text,
    user_agent    text,
    -- emergency check-in: the supervisor who recorded it and why (visible to regulators)
    recorded_by   text references app_user(user_id),
    reason        text,
    audit_seq     bigint not null,
    primary key (tender_id, expert_id)
);
