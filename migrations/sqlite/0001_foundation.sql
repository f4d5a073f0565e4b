-- Foundation schema (SQLite). Times are milliseconds since the Unix epoch (UTC);
-- money is integer fen. The PostgreSQL file holds the same schema in its dialect.

create table organisation (
    org_id      text primary key,
    -- trading_centre | tenderee | agent | bidder | expert_employer | regulator
    kind        text not null,
    name        text not null,
    -- 统一社会信用代码, validated (GB 32100-2015) before insert; required for companies
    uscc        text unique,
    -- pending (self-registered bidder awaiting approval) | active | rejected
    status      text not null,
    created_at  integer not null
);

create table app_user (
    user_id       text primary key,
    org_id        text references organisation(org_id),
    username      text not null unique,
    display_name  text not null,
    -- operator | agent | custodian | bidder | expert | regulator
    role          text not null,
    -- argon2id PHC string; never returned by the API
    password_hash text not null,
    -- pending | active | disabled
    status        text not null,
    created_at    integer not null
);

create table tender (
    tender_id                 text primary key,
    code                      text not null unique,
    title                     text not null,
    description               text not null,
    category                  text not null,
    procedure                 text not null,
    rulebook_id               text not null,
    tenderee_org_id           text not null references organisation(org_id),
    agent_org_id              text references organisation(org_id),
    created_by                text not null references app_user(user_id),
    -- draft | published | closed | cancelled (later: opened, evaluating, ...)
    state                     text not null,
    currency                  text not null default 'CNY',
    estimated_price_fen       integer not null,
    ceiling_price_fen         integer,
    bid_security_fen          integer not null,
    documents_available_at    integer not null,
    documents_available_until integer,
    clarification_cutoff_at   integer not null,
    bid_deadline_at           integer not null,
    opening_place             text not null,
    -- comprehensive | lowest_price
    evaluation_method         text not null,
    -- JSON array of {name, weight, ...}
    criteria_json             text not null,
    -- JSON array of {specialty, count}
    expert_quotas_json        text not null,
    published_at              integer,
    cancelled_at              integer,
    cancel_reason             text,
    created_at                integer not null,
    updated_at                integer not null
);
create index tender_state_idx on tender(state, published_at);

create table tender_custodian (
    tender_id text not null references tender(tender_id),
    user_id   text not null references app_user(user_id),
    primary key (tender_id, user_id)
);

create table tender_amendment (
    amendment_id text primary key,
    tender_id    text not null references tender(tender_id),
    summary      text not null,
    body         text not null,
    old_deadline integer not null,
    new_deadline integer not null,
    created_by   text not null references app_user(user_id),
    created_at   integer not null
);

create table tender_document (
    document_id  text primary key,
    tender_id    text not null references tender(tender_id),
    -- set when the document came with an amendment
    amendment_id text references tender_amendment(amendment_id),
    filename     text not null,
    content_type text not null,
    size_bytes   integer not null,
    -- SHA-256 hex; also the blob's name in the blob store
    sha256       text not null,
    uploaded_by  text not null references app_user(user_id),
    uploaded_at  integer not null
);

create table document_download (
    download_id text primary key,
    tender_id   text not null references tender(tender_id),
    document_id text not null references tender_document(document_id),
    user_id     text not null references app_user(user_id),
    client_ip   text,
    user_agent  text,
    at          integer not null
);
create index document_download_tender_idx on document_download(tender_id, user_id);

create table question (
    question_id text primary key,
    tender_id   text not null references tender(tender_id),
    -- never shown to other bidders
    asked_by    text not null references app_user(user_id),
    body        text not null,
    asked_at    integer not null,
    answer      text,
    answered_by text references app_user(user_id),
    answered_at integer
);

create table notice (
    notice_id  text primary key,
    user_id    text not null references app_user(user_id),
    tender_id  text references tender(tender_id),
    kind       text not null,
    body       text not null,
    created_at integer not null,
    read_at    integer
);
create index notice_user_idx on notice(user_id, created_at);

-- Time-driven transitions. A job is claimed with a lease and finished in the same
-- transaction as the transition it performs, so it happens exactly once.
create table job (
    job_id       text primary key,
    kind         text not null,
    tender_id    text references tender(tender_id),
    run_at       integer not null,
    -- pending | done | cancelled
    state        text not null,
    locked_until integer,
    attempts     integer not null default 0,
    done_at      integer,
    unique (kind, tender_id)
);
create index job_due_idx on job(state, run_at);

-- The audit log: leaves of an RFC 9162 Merkle tree (docs/audit-format.md).
create table audit_event (
    seq        integer primary key,
    -- canonical JSON entry, the exact bytes that are hashed
    entry      text not null,
    leaf_hash  blob not null,
    action     text not null,
    tender_id  text,
    actor_id   text,
    created_at integer not null
);
create index audit_event_tender_idx on audit_event(tender_id, seq);

-- Perfect-subtree hashes addressed by (level, index); level 0 holds the leaves.
create table audit_node (
    level integer not null,
    idx   integer not null,
    hash  blob not null,
    primary key (level, idx)
);

-- One row: tree size, the frontier (hashes of the perfect subtrees, concatenated) and root.
create table audit_head (
    id       integer primary key check (id = 1),
    size     integer not null,
    frontier blob not null,
    root     blob not null
);
insert into audit_head (id, size, frontier, root)
values (1, 0, x'', x'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

-- The application may only append to the log.
create trigger audit_event_no_update before update on audit_event
begin select raise(abort, 'audit events are append-only'); end;
create trigger audit_event_no_delete before delete on audit_event
begin select raise(abort, 'audit events are append-only'); end;
create trigger audit_node_no_update before update on audit_node
begin select raise(abort, 'audit nodes are append-only'); end;
create trigger audit_node_no_delete before delete on audit_node
begin select raise(abort, 'audit nodes are append-only'); end;
