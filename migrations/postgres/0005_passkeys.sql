-- Passkeys (WebAuthn credentials, webauthn-rs) and the server-side state of their ceremonies.
-- Times are milliseconds since the Unix epoch (UTC), like everywhere else.

create table passkey (
    passkey_id    text primary key,
    user_id       text not null references app_user(user_id),
    -- the WebAuthn credential id, base64url without padding; one credential belongs to
    -- one account only
    credential_id text not null unique,
    -- the owner's label for it ("work laptop")
    name          text not null,
    -- the serialised webauthn_rs::Passkey: public key, algorithm, flags; no secret
    passkey_json  text not null,
    -- the highest signature counter seen; a later assertion must show a higher one unless
    -- both are 0 (authenticators without a counter), else the credential may be cloned
    sign_count    bigint not null default 0,
    created_at    bigint not null,
    last_used_at  bigint
);
create index passkey_user_idx on passkey(user_id);

-- One row per started registration or assertion: single-use (deleted when it is
-- finished, whatever the outcome) and refused after expires_at.
create table passkey_ceremony (
    ceremony_id text primary key,
    -- register | login | assertion | signature
    purpose     text not null,
    user_id     text not null references app_user(user_id),
    -- serialised PasskeyRegistration / PasskeyAuthentication (challenge, allowed credentials)
    state_json  text not null,
    created_at  bigint not null,
    expires_at  bigint not null
);
create index passkey_ceremony_expiry_idx on passkey_ceremony(expires_at);
