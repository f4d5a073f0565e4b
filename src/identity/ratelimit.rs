//! Login rate limiting, per username and per client address, so password guessing is slow
//! whichever of the two an attacker varies. In memory: each server process counts its
//! own attempts, which still bounds the total rate by the number of processes.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The limiter shared by the login routes.
pub struct LoginLimiter {
    by_user: DefaultKeyedRateLimiter<String>,
    by_ip: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginLimiter")
    }
}

impl LoginLimiter {
    /// `per_user` attempts per minute per username, `per_ip` per client address.
    pub fn new(per_user: u32, per_ip: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            by_user: RateLimiter::keyed(quota(per_user)),
            by_ip: RateLimiter::keyed(quota(per_ip)),
        }
    }

    /// Records an attempt; `false` means the caller must refuse it.
    pub fn allow(&self, username: &str, ip: Option<&str>) -> bool {
        let user_ok = self.by_user.check_key(&username.to_lowercase()).is_ok();
        let ip_ok = ip
            .map(|ip| self.by_ip.check_key(&ip.to_string()).is_ok())
            .unwrap_or(true);
        user_ok && ip_ok
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
    fn refuses_after_the_quota() {
        let l = LoginLimiter::new(3, 100);
        assert!((0..3).all(|_| l.allow("alice", Some("10.0.0.1"))));
        assert!(!l.allow("alice", Some("10.0.0.2")));
        assert!(
            !l.allow("ALICE", None),
            "usernames are compared case-insensitively"
        );
        assert!(l.allow("bob", Some("10.0.0.1")));
    }
}
