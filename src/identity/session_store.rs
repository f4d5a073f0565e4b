//! Server-side sessions. A signed token alone cannot be taken back, so every token names a
//! `user_session` row (`sid`) that each authenticated request looks up by primary key: a
//! logout revokes that row, a password change or a disabled account revokes all of the
//! user's rows, and the token stops working at once. Revocations are audited in the
//! transaction that makes them; logins are not (as before, see `passkey`).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::model::UserView;
use super::service::IdentityError;
use super::session::SessionKeys;
use crate::audit::{self, Actor};
use crate::clock::to_millis;
use crate::store::{Db, Tx};
use crate::{q_exec, q_opt};

/// What the session behind a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Valid, and its user is active.
    Active,
    /// Its user is disabled, rejected or pending.
    UserInactive,
    /// Logged out, revoked, or never stored.
    Revoked,
}

/// Stores a new session for `user` and signs its token.
pub async fn open(
    db: &Db,
    keys: &SessionKeys,
    now: DateTime<Utc>,
    user: &UserView,
) -> Result<String, IdentityError> {
    open_for(
        db,
        keys,
        now,
        &user.user_id,
        &user.role,
        user.org_id.as_deref(),
        &user.display_name,
    )
    .await
}

/// Stores a new session for the user `sub` and signs its token with these claims.
pub async fn open_for(
    db: &Db,
    keys: &SessionKeys,
    now: DateTime<Utc>,
    sub: &str,
    role: &str,
    org: Option<&str>,
    name: &str,
) -> Result<String, IdentityError> {
    let sid = uuid::Uuid::now_v7().to_string();
    let mut tx = db.begin().await?;
    // The user's expired rows go here, with one indexed delete, rather than in a sweeper job.
    q_exec!(
        tx,
        "delete from user_session where user_id = $1 and expires_at < $2",
        sub.to_string(),
        to_millis(now)
    )?;
    q_exec!(
        tx,
        "insert into user_session (session_id, user_id, created_at, expires_at) values ($1, $2, $3, $4)",
        sid.clone(),
        sub.to_string(),
        to_millis(now),
        to_millis(now + keys.lifetime())
    )?;
    tx.commit().await?;
    keys.issue_session(now, &sid, sub, role, org, name)
        .map_err(|e| {
            IdentityError::from(crate::store::StoreError::from(sqlx::Error::Protocol(
                e.to_string(),
            )))
        })
}

/// The one look-up per authenticated request: the session and its user's status.
pub async fn check(db: &Db, sid: &str, user_id: &str) -> Result<SessionCheck, IdentityError> {
    let mut tx = db.read().await?;
    let row: Option<(String, Option<i64>)> = q_opt!(
        tx,
        (String, Option<i64>),
        "select u.status, s.revoked_at from user_session s join app_user u on u.user_id = s.user_id
         where s.session_id = $1 and s.user_id = $2",
        sid.to_string(),
        user_id.to_string()
    )?;
    Ok(match row {
        None => SessionCheck::Revoked,
        // A disabled account says so, even though its sessions are revoked too.
        Some((status, _)) if status != "active" => SessionCheck::UserInactive,
        Some((_, Some(_))) => SessionCheck::Revoked,
        Some((_, None)) => SessionCheck::Active,
    })
}

/// Ends one session (the caller's logout), audited as `session.logout`. `false` when it
/// was already revoked, and then nothing is written.
pub async fn logout(
    db: &Db,
    now: DateTime<Utc>,
    actor: &Actor,
    sid: &str,
) -> Result<bool, IdentityError> {
    let mut tx = db.begin().await?;
    let n = q_exec!(
        tx,
        "update user_session set revoked_at = $1, revoked_reason = 'logout'
         where session_id = $2 and revoked_at is null",
        to_millis(now),
        sid.to_string()
    )?;
    if n == 0 {
        return Ok(false);
    }
    // The session id is not written: it is no secret, but nobody needs it in the public log.
    audit::append(&mut tx, now, actor, "session.logout", None, json!({})).await?;
    tx.commit().await?;
    Ok(true)
}

/// Revokes every live session of `user_id` in the caller's transaction, audited as
/// `session.revoke` with the reason and the number of sessions; returns that number.
pub async fn revoke_all(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    user_id: &str,
    reason: &'static str,
) -> Result<u64, IdentityError> {
    let n = q_exec!(
        tx,
        "update user_session set revoked_at = $1, revoked_reason = $2
         where user_id = $3 and revoked_at is null",
        to_millis(now),
        reason,
        user_id.to_string()
    )?;
    audit::append(
        tx,
        now,
        actor,
        "session.revoke",
        None,
        json!({"user_id": user_id, "reason": reason, "sessions": n}),
    )
    .await?;
    Ok(n)
}
