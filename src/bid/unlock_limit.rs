//! How often a custodian may try a passphrase at an opening (issue 11 item 3), and, with
//! the same count, how often their browser may post a share that is not the one issued
//! (a custodian whose key is held by a passkey, issue 11 item 4).
//!
//! A custodian's key is locked under a passphrase, so a stolen custodian session could
//! otherwise guess it as fast as PBKDF2 allows, unseen. Attempts are therefore counted per
//! tender and custodian in the database (`custodian_unlock_attempt`), so the count survives
//! restarts and is shared by every server process:
//!
//! - the first [`FREE_FAILURES`] wrong passphrases in a row cost nothing but the answer;
//! - from the fifth on, each failure makes the next attempt wait 1 minute, then 2, 4, …
//!   capped at [`MAX_DELAY_MS`] (one hour); meanwhile every attempt, even with the right
//!   passphrase, is refused with 429 and `Retry-After` before the passphrase is looked at;
//! - every failure appends the public audit event `opening.unlock.fail` (custodian, count,
//!   delay; never the passphrase) in the transaction that raises the count, which is how
//!   the regulator sees it: the platform has no separate alert channel yet, and regulators
//!   read the whole log as it happens (`GET /api/v1/audit/events`, the tender's history);
//! - a successful unlock resets the count, in the transaction that records the unlock.
//!
//! One attempt per tender and custodian is checked at a time in a server process
//! ([`super::opening::Ceremonies`] holds the in-flight set, like the unlocked shares the
//! ceremony is pinned to one process for): parallel requests cannot run many guesses past the
//! count, and a crash leaves nothing behind that would keep the custodian out.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::BidError;
use crate::audit;
use crate::clock::{from_millis, to_millis};
use crate::store::{Db, Tx};
use crate::{q_exec, q_one, q_opt};

/// Wrong passphrases in a row that are answered without a delay.
pub const FREE_FAILURES: i64 = 5;
/// The wait after the fifth failure in a row; it doubles with each further one.
pub const FIRST_DELAY_MS: i64 = 60_000;
/// The longest wait.
pub const MAX_DELAY_MS: i64 = 3_600_000;

/// The wait imposed after the `failures`-th wrong passphrase in a row, if any.
pub fn delay_after(failures: i64) -> Option<i64> {
    if failures < FREE_FAILURES {
        return None;
    }
    // Past six doublings the cap applies anyway; bounding the shift keeps it in range.
    let doublings = u32::try_from((failures - FREE_FAILURES).min(16)).unwrap_or(16);
    Some(
        FIRST_DELAY_MS
            .saturating_mul(1 << doublings)
            .min(MAX_DELAY_MS),
    )
}

/// Whole seconds from `now_ms` to `until_ms`, rounded up so that a client that waits them
/// gets through; at least 1.
fn seconds_until(now_ms: i64, until_ms: i64) -> u64 {
    let ms = (until_ms - now_ms).max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

/// Where attempts are counted: a tender's opening, or the reserve price (底价) of an
/// auction or listing (`auction::reserve`), which follows the same rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `custodian_unlock_attempt`, by tender.
    Tender,
    /// `auction_unlock_attempt`, by trade.
    Trade,
}

impl Scope {
    fn table(self) -> &'static str {
        match self {
            Scope::Tender => "custodian_unlock_attempt",
            Scope::Trade => "auction_unlock_attempt",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Scope::Tender => "tender_id",
            Scope::Trade => "trade_id",
        }
    }

    fn fail_action(self) -> &'static str {
        match self {
            Scope::Tender => "opening.unlock.fail",
            Scope::Trade => "auction.reserve.unlock_fail",
        }
    }
}

/// Whether `user_id` may try a passphrase for `tender_id` at `now`: refused with
/// [`BidError::TooManyAttempts`] while a delay runs.
pub async fn check(
    db: &Db,
    now: DateTime<Utc>,
    tender_id: &str,
    user_id: &str,
) -> Result<(), BidError> {
    check_in(Scope::Tender, db, now, tender_id, user_id).await
}

/// [`check`] in `scope` (`id` is the tender or the trade).
pub async fn check_in(
    scope: Scope,
    db: &Db,
    now: DateTime<Utc>,
    id: &str,
    user_id: &str,
) -> Result<(), BidError> {
    let now_ms = to_millis(now);
    let mut tx = db.read().await?;
    let sql = format!(
        "select locked_until from {} where {} = $1 and user_id = $2",
        scope.table(),
        scope.key()
    );
    let locked_until = q_opt!(
        tx,
        (Option<i64>,),
        sqlx::AssertSqlSafe(sql),
        id.to_string(),
        user_id.to_string()
    )?
    .and_then(|r| r.0);
    match locked_until {
        Some(until) if until > now_ms => Err(BidError::TooManyAttempts {
            retry_after_secs: seconds_until(now_ms, until),
        }),
        _ => Ok(()),
    }
}

/// What failed in an unlock attempt that counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A wrong passphrase (a passphrase-locked key).
    Passphrase,
    /// A posted share that is not the one issued (a passkey-held key).
    Share,
}

impl Failure {
    fn method(self) -> &'static str {
        match self {
            Failure::Passphrase => "passphrase",
            Failure::Share => "passkey",
        }
    }

    fn error(self) -> BidError {
        match self {
            Failure::Passphrase => BidError::WrongPassphrase,
            Failure::Share => BidError::WrongShare,
        }
    }
}

/// Records a wrong passphrase or share: raises the count, sets the delay it earns and
/// appends `opening.unlock.fail`, all in one transaction. Returns the error to answer with.
pub async fn record_failure(
    db: &Db,
    now: DateTime<Utc>,
    actor: &audit::Actor,
    tender_id: &str,
    user_id: &str,
    failure: Failure,
) -> Result<BidError, BidError> {
    record_failure_in(Scope::Tender, db, now, actor, tender_id, user_id, failure).await
}

/// [`record_failure`] in `scope`; the audit event is the scope's (`auction.reserve.
/// unlock_fail` for a trade).
pub async fn record_failure_in(
    scope: Scope,
    db: &Db,
    now: DateTime<Utc>,
    actor: &audit::Actor,
    id: &str,
    user_id: &str,
    failure: Failure,
) -> Result<BidError, BidError> {
    let now_ms = to_millis(now);
    let (table, key) = (scope.table(), scope.key());
    let mut tx = db.begin().await?;
    let (failures,): (i64,) = q_one!(
        tx,
        (i64,),
        sqlx::AssertSqlSafe(format!(
            "insert into {table} ({key}, user_id, failures, last_failure_at)
             values ($1, $2, 1, $3)
             on conflict ({key}, user_id) do update
               set failures = {table}.failures + 1, last_failure_at = $3
             returning failures"
        )),
        id.to_string(),
        user_id.to_string(),
        now_ms
    )?;
    let delay = delay_after(failures);
    let locked_until = delay.map(|d| now_ms + d);
    q_exec!(
        tx,
        sqlx::AssertSqlSafe(format!(
            "update {table} set locked_until = $1 where {key} = $2 and user_id = $3"
        )),
        locked_until,
        id.to_string(),
        user_id.to_string()
    )?;
    audit::append(
        &mut tx,
        now,
        actor,
        scope.fail_action(),
        Some(id),
        json!({
            "custodian": user_id,
            "method": failure.method(),
            "failures_in_a_row": failures,
            "delay_seconds": delay.map(|d| d / 1000),
            "next_attempt_at": locked_until.map(|u| audit::entry_time(from_millis(u))),
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(
        id,
        custodian = user_id,
        failures,
        method = failure.method(),
        "wrong custodian passphrase or share at an opening"
    );
    Ok(failure.error())
}

/// Forgets the count after a successful unlock, inside the transaction that records it.
pub async fn reset(tx: &mut Tx, tender_id: &str, user_id: &str) -> Result<(), BidError> {
    reset_in(Scope::Tender, tx, tender_id, user_id).await
}

/// [`reset`] in `scope`.
pub async fn reset_in(scope: Scope, tx: &mut Tx, id: &str, user_id: &str) -> Result<(), BidError> {
    q_exec!(
        tx,
        sqlx::AssertSqlSafe(format!(
            "delete from {} where {} = $1 and user_id = $2",
            scope.table(),
            scope.key()
        )),
        id.to_string(),
        user_id.to_string()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_the_wait_doubles_up_to_an_hour() {
        for n in 0..FREE_FAILURES {
            assert_eq!(delay_after(n), None, "{n}");
        }
        let minutes: Vec<i64> = (5..=12)
            .map(|n| delay_after(n).unwrap_or_default() / 60_000)
            .collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(delay_after(i64::MAX), Some(MAX_DELAY_MS));
    }

    #[test]
    fn one_attempt_at_a_time_per_tender_and_custodian() {
        let c = std::sync::Arc::new(super::super::opening::Ceremonies::default());
        let first = c.begin_attempt("T1", "alice");
        assert!(first.is_ok());
        assert!(matches!(
            c.begin_attempt("T1", "alice"),
            Err(BidError::UnlockInProgress)
        ));
        // Someone else, or the same custodian at another tender, is not held up.
        assert!(c.begin_attempt("T1", "bob").is_ok());
        assert!(c.begin_attempt("T2", "alice").is_ok());
        // However the attempt ends, dropping its guard lets the next one in.
        drop(first);
        assert!(c.begin_attempt("T1", "alice").is_ok());
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(seconds_until(0, 60_000), 60);
        assert_eq!(seconds_until(0, 59_001), 60);
        assert_eq!(seconds_until(10, 10), 1);
        assert_eq!(seconds_until(100, 0), 1);
    }
}
