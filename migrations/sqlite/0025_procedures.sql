-- Issue 18: rulebooks the operator replaces without a rebuild, invited tendering and
-- re-tendering.

-- Every replacement of a rulebook, kept forever: a tender records the version it was
-- published under (tender.rulebook_id = id for version 1, the file loaded at start, or
-- id@vN for a row here) and is judged by it however often the rulebook changes since.
create table rulebook_version (
    rulebook_id text not null,
    -- 2, 3, …: version 1 is the rulebook file the server loaded
    version     integer not null,
    category    text not null,
    procedure   text not null,
    -- the TOML exactly as uploaded (validated before insert)
    toml        text not null,
    sha256      text not null,
    created_by  text not null references app_user(user_id),
    created_at  integer not null,
    primary key (rulebook_id, version)
);

-- Invited tendering (邀请招标): the bidder organisations invited. Confidential until the
-- opening, like everyone who obtained the documents (招标投标法 第22条).
create table tender_invitation (
    tender_id  text not null references tender(tender_id),
    org_id     text not null references organisation(org_id),
    invited_by text not null references app_user(user_id),
    invited_at integer not null,
    primary key (tender_id, org_id)
);

-- Re-tendering (重新招标): the failed tender this one re-tenders; public, shown both ways.
alter table tender add column retender_of text references tender(tender_id);
create unique index tender_retender_of_idx on tender(retender_of);
