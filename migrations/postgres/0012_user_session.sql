-- Server-side sessions: every token carries its session id (`sid`), and every authenticated
-- request looks the row up by primary key, so a logout, a password change or a disabled
-- account ends the token at once instead of when it expires.
-- Times are milliseconds since the Unix epoch (UTC), like everywhere else.

create table user_session (
    session_id text primary key,
    user_id    text not null references app_user(user_id),
    created_at bigint not null,
    expires_at bigint not null,
    -- null while the session is valid
    revoked_at bigint,
    -- logout | password | disabled
    revoked_reason text
);
create index user_session_user_idx on user_session(user_id);
