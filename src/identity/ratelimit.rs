//! Login rate limiting. Password attempts are limited per (username, client address), so
//! guessing one user's password from one place is slow while an attacker elsewhere cannot
//! lock that user out (a custodian at opening time); a looser limit per client address bounds
//! how many users one address may try. A passkey login cannot be guessed, so it only counts
//! against the client limit.
//!
//! Two counters, both must agree: an in-memory one per process (smooth, GCRA), and, when the
//! limiter is [`shared`](LoginLimiter::shared), the same quotas counted in the database in
//! fixed one-minute windows, so that several processes behind a load balancer share one
//! limit (at most twice the quota can pass across a window boundary). The database row is
//! keyed by a hash of what it limits, so the table names no user or address.

use chrono::{DateTime, Utc};

use crate::store::{Db, StoreError};
use crate::{q_exec, q_one};

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A refusal: how many whole seconds until the next attempt may succeed (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// The limiter shared by the login routes.
pub struct LoginLimiter {
    clock: DefaultClock,
    by_user_client: DefaultKeyedRateLimiter<(String, String)>,
    by_ip: DefaultKeyedRateLimiter<String>,
    per_user: u32,
    per_ip: u32,
    /// The database shared by every process, when the limit is shared.
    shared: Option<Db>,
}

/// The length of one shared counting window, in milliseconds.
const WINDOW_MS: i64 = 60_000;

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginLimiter")
    }
}

/// Requests whose address is unknown (no socket address, as in in-process tests) share one.
const UNKNOWN_CLIENT: &str = "-";

impl LoginLimiter {
    /// `per_user` password attempts per minute per username and client address, `per_ip`
    /// attempts of any kind per client address.
    pub fn new(per_user: u32, per_ip: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        let clock = DefaultClock::default();
        Self {
            by_user_client: RateLimiter::new(
                quota(per_user),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            by_ip: RateLimiter::new(
                quota(per_ip),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            clock,
            per_user: per_user.max(1),
            per_ip: per_ip.max(1),
            shared: None,
        }
    }

    /// The default quotas, counted in `db` as well, so every process shares them.
    pub fn shared(db: Db) -> Self {
        Self {
            shared: Some(db),
            ..Self::default()
        }
    }

    fn wait<I>(&self, not_until: governor::NotUntil<I>) -> RetryAfter
    where
        I: governor::clock::Reference,
        DefaultClock: Clock<Instant = I>,
    {
        let wait = not_until.wait_time_from(self.clock.now());
        // Round up: a client that waits the whole number of seconds must then get through.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        RetryAfter(secs.max(1))
    }

    /// Records a password attempt for `username` from `ip` at `now`; `Err` means refuse it
    /// and say when to come back.
    pub async fn check(
        &self,
        username: &str,
        ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), RetryAfter> {
        let ip = ip.unwrap_or(UNKNOWN_CLIENT);
        let user_key = (username.to_lowercase(), ip.to_string());
        let user = self
            .by_user_client
            .check_key(&user_key)
            .map_err(|e| self.wait(e));
        let user = combine(
            user,
            self.check_shared(
                &format!("user\0{}\0{}", user_key.0, user_key.1),
                self.per_user,
                now,
            )
            .await,
        );
        let client = self.check_client(Some(ip), now).await;
        combine(user, client)
    }

    /// Records an attempt that is not a password guess (a passkey login) from `ip`: only
    /// the per-client limit applies.
    pub async fn check_client(
        &self,
        ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), RetryAfter> {
        let ip = ip.unwrap_or(UNKNOWN_CLIENT);
        let memory = self
            .by_ip
            .check_key(&ip.to_string())
            .map_err(|e| self.wait(e));
        combine(
            memory,
            self.check_shared(&format!("client\0{ip}"), self.per_ip, now)
                .await,
        )
    }

    /// Counts one attempt against `key` in the shared window of `now`. A database failure
    /// lets the attempt through (the per-process limit still holds): logging in needs the
    /// database anyway, and a limiter must not turn an outage into a lock-out.
    async fn check_shared(
        &self,
        key: &str,
        quota: u32,
        now: DateTime<Utc>,
    ) -> Result<(), RetryAfter> {
        let Some(db) = &self.shared else {
            return Ok(());
        };
        let now_ms = now.timestamp_millis();
        let window = now_ms - now_ms.rem_euclid(WINDOW_MS);
        let bucket = crate::store::blob::sha256_hex(key.as_bytes());
        match count_attempt(db, &bucket, window).await {
            Ok(n) if n > i64::from(quota) => {
                let left = (window + WINDOW_MS - now_ms).max(1);
                Err(RetryAfter(u64::try_from((left + 999) / 1000).unwrap_or(60)))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "shared login limit unavailable");
                Ok(())
            }
        }
    }
}

fn combine(a: Result<(), RetryAfter>, b: Result<(), RetryAfter>) -> Result<(), RetryAfter> {
    match (a, b) {
        (Err(a), Err(b)) => Err(a.max_by_key(b)),
        (Err(a), Ok(())) | (Ok(()), Err(a)) => Err(a),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// Adds one attempt to `bucket`'s window and returns the window's count; the first attempt
/// of a window also drops windows older than ten minutes.
async fn count_attempt(db: &Db, bucket: &str, window: i64) -> Result<i64, StoreError> {
    let mut tx = db.begin().await?;
    let (n,): (i64,) = q_one!(
        tx,
        (i64,),
        "insert into login_attempt (bucket, window_start, attempts) values ($1, $2, 1)
         on conflict (bucket, window_start) do update set attempts = login_attempt.attempts + 1
         returning attempts",
        bucket.to_string(),
        window
    )?;
    if n == 1 {
        q_exec!(
            tx,
            "delete from login_attempt where window_start < $1",
            window - 10 * WINDOW_MS
        )?;
    }
    tx.commit().await?;
    Ok(n)
}

impl RetryAfter {
    fn max_by_key(self, other: RetryAfter) -> RetryAfter {
        RetryAfter(self.0.max(other.0))
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(10, 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    #[tokio::test]
    async fn refuses_after_the_quota_per_user_and_client() {
        let l = LoginLimiter::new(3, 100);
        for _ in 0..3 {
            assert!(l.check("alice", Some("10.0.0.1"), now()).await.is_ok());
        }
        let refused = l
            .check("alice", Some("10.0.0.1"), now())
            .await
            .expect_err("limited");
        assert!(
            (1..=60).contains(&refused.0),
            "says when to come back: {refused:?}"
        );
        assert!(
            l.check("ALICE", Some("10.0.0.1"), now()).await.is_err(),
            "usernames are compared case-insensitively"
        );
        // The same user from elsewhere, and another user from the same place, go on.
        assert!(l.check("alice", Some("10.0.0.2"), now()).await.is_ok());
        assert!(l.check("bob", Some("10.0.0.1"), now()).await.is_ok());
    }

    #[tokio::test]
    async fn one_client_is_bounded_across_users() {
        let l = LoginLimiter::new(100, 5);
        for i in 0..5 {
            let user = format!("user{i}");
            assert!(l.check(&user, Some("10.0.0.9"), now()).await.is_ok());
        }
        assert!(l.check("user99", Some("10.0.0.9"), now()).await.is_err());
        assert!(l.check_client(Some("10.0.0.9"), now()).await.is_err());
        assert!(l.check("user99", Some("10.0.0.8"), now()).await.is_ok());
    }

    #[tokio::test]
    async fn passkey_logins_do_not_count_against_the_password_limit() {
        let l = LoginLimiter::new(2, 100);
        for _ in 0..2 {
            assert!(l.check("carol", Some("10.0.0.3"), now()).await.is_ok());
        }
        assert!(l.check("carol", Some("10.0.0.3"), now()).await.is_err());
        assert!(l.check_client(Some("10.0.0.3"), now()).await.is_ok());
    }

    /// Two processes (two limiters) on one database share the quota, on both dialects.
    #[tokio::test]
    async fn processes_share_the_limit_through_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut urls = vec![format!("sqlite://{}", dir.path().join("l.db").display())];
        urls.extend(crate::store::testdb::fresh_postgres("sunbid_ratelimit").await);
        for url in &urls {
            let db = Db::connect(url).await.unwrap();
            db.migrate().await.unwrap();
            let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:05Z")
                .unwrap()
                .with_timezone(&Utc);
            let (a, b) = (
                LoginLimiter::shared(db.clone()),
                LoginLimiter::shared(db.clone()),
            );
            // The default quota is 10 a minute per user and client: 5 here, 5 there …
            for _ in 0..5 {
                assert!(a.check("dave", Some("10.0.0.4"), at).await.is_ok());
                assert!(b.check("dave", Some("10.0.0.4"), at).await.is_ok());
            }
            // … and the 11th is refused by either, until the window ends (55 s later).
            let refused = a.check("dave", Some("10.0.0.4"), at).await.unwrap_err();
            assert_eq!(refused, RetryAfter(55));
            assert!(b.check("dave", Some("10.0.0.4"), at).await.is_err());
            let next = at + chrono::Duration::seconds(60);
            assert!(b.check("dave", Some("10.0.0.4"), next).await.is_ok());
            // The table holds digests, never the name or the address.
            let mut tx = db.read().await.unwrap();
            let rows: Vec<(String,)> =
                crate::q_all!(tx, (String,), "select bucket from login_attempt").unwrap();
            assert!(rows.iter().all(|(b,)| b.len() == 64 && !b.contains("dave")));
            drop(tx);
            db.close().await;
        }
        if let Some(pg) = urls.get(1) {
            crate::store::testdb::drop_postgres(pg).await;
        }
    }
}
