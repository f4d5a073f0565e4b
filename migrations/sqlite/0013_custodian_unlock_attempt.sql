-- Wrong custodian passphrases at an opening, counted per (tender, custodian) so that a guess
-- is slow and leaves a trace (issue 11 item 3). After five consecutive failures each further
-- attempt waits: 1 minute, then 2, 4, … up to an hour. A successful unlock resets the row.
-- Every failure appends `opening.unlock.fail` to the audit log in the transaction that
-- updates this row. Times are milliseconds since the Unix epoch (UTC).

create table custodian_unlock_attempt (
    tender_id       text not null references tender(tender_id),
    user_id         text not null references app_user(user_id),
    -- consecutive wrong passphrases since the last successful unlock
    failures        integer not null default 0,
    -- no attempt is taken before this instant (null: not delayed)
    locked_until    integer,
    last_failure_at integer,
    primary key (tender_id, user_id)
);
