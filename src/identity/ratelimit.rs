//! Login rate limiting. Password attempts are limited per (username, client address), so
//! guessing one user's password from one place is slow while an attacker elsewhere cannot
//! lock that user out (a custodian at opening time); a looser limit per client address bounds
//! how many users one address may try. A passkey login cannot be guessed, so it only counts
//! against the client limit. In memory: each server process counts its own attempts, which
//! still bounds the total rate by the number of processes.

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
}

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

    /// Records a password attempt for `username` from `ip`; `Err` means refuse it and say
    /// when to come back.
    pub fn check(&self, username: &str, ip: Option<&str>) -> Result<(), RetryAfter> {
        let ip = ip.unwrap_or(UNKNOWN_CLIENT);
        let user = self
            .by_user_client
            .check_key(&(username.to_lowercase(), ip.to_string()))
            .map_err(|e| self.wait(e));
        let client = self.check_client(Some(ip));
        match (user, client) {
            (Err(a), Err(b)) => Err(a.max_by_key(b)),
            (Err(a), Ok(())) | (Ok(()), Err(a)) => Err(a),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    /// Records an attempt that is not a password guess (a passkey login) from `ip`: only
    /// the per-client limit applies.
    pub fn check_client(&self, ip: Option<&str>) -> Result<(), RetryAfter> {
        self.by_ip
            .check_key(&ip.unwrap_or(UNKNOWN_CLIENT).to_string())
            .map_err(|e| self.wait(e))
    }
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

    #[test]
    fn refuses_after_the_quota_per_user_and_client() {
        let l = LoginLimiter::new(3, 100);
        assert!((0..3).all(|_| l.check("alice", Some("10.0.0.1")).is_ok()));
        let refused = l.check("alice", Some("10.0.0.1")).expect_err("limited");
        assert!(
            (1..=60).contains(&refused.0),
            "says when to come back: {refused:?}"
        );
        assert!(
            l.check("ALICE", Some("10.0.0.1")).is_err(),
            "usernames are compared case-insensitively"
        );
        // The same user from elsewhere, and another user from the same place, go on.
        assert!(l.check("alice", Some("10.0.0.2")).is_ok());
        assert!(l.check("bob", Some("10.0.0.1")).is_ok());
    }

    #[test]
    fn one_client_is_bounded_across_users() {
        let l = LoginLimiter::new(100, 5);
        assert!((0..5).all(|i| l.check(&format!("user{i}"), Some("10.0.0.9")).is_ok()));
        assert!(l.check("user99", Some("10.0.0.9")).is_err());
        assert!(l.check_client(Some("10.0.0.9")).is_err());
        assert!(l.check("user99", Some("10.0.0.8")).is_ok());
    }

    #[test]
    fn passkey_logins_do_not_count_against_the_password_limit() {
        let l = LoginLimiter::new(2, 100);
        assert!((0..2).all(|_| l.check("carol", Some("10.0.0.3")).is_ok()));
        assert!(l.check("carol", Some("10.0.0.3")).is_err());
        assert!(l.check_client(Some("10.0.0.3")).is_ok());
    }
}
