//! Evaluation (评标): the pure rules from the committee to the contract deadline.
//!
//! Nothing here touches the database, the clock or HTTP; every function takes the facts it
//! judges (members, marks, scores, instants) and returns a value or a typed error that names
//! the rule and, where the law sets it, the article. The service layer records each step as
//! an audit event and calls these functions inside the transaction.
//!
//! - [`committee`]: forming and checking the committee (招标投标法 第37条), leader election
//!   (组长推选), report signatures and dissent (实施条例 第53条), voiding a replaced member's
//!   conclusions (实施条例 第48条);
//! - [`review`]: preliminary review (初步评审) — formal, qualification, responsiveness;
//! - [`scoring`]: detailed scoring (详细评审), the price score formula and aggregation;
//! - [`price_table`]: the committee's price comparison table (标价比较表) of the
//!   lowest-evaluated-price method, recorded by the leader (service and pure check);
//! - [`ranking`]: comprehensive scoring (综合评估法) and lowest evaluated price
//!   (经评审的最低投标价法), at most 3 ranked candidates (实施条例 第53条);
//!
//! What follows the report — publicity, objections, award, contract — is
//! [`crate::award`].
//!
//! Beside the rules live the services that record each step (`service`, `clarification`,
//! `replacement`), their JSON routes and their pages (`pages`,
//! `clarification::pages`, `replacement::pages`).
//!
//! Numbers: money is an integer number of fen (`i64`); scores are integers in hundredths of a
//! point ([`Hundredths`]), so a criterion weighted 30 (percent) is scored 0..=3000. No float
//! appears in anything stored or compared. Every derived quantity (a mean, a price score) is
//! computed from exact integer intermediates (`i128`) and rounded exactly once, at the end,
//! half-up (四舍五入, ties away from zero) by [`div_round_half_up`]. `docs/evaluation.md`
//! writes the formulas down with examples.

pub mod clarification;
pub mod committee;
pub mod error;
pub mod pages;
pub mod price_table;
pub mod ranking;
pub mod replacement;
pub mod report;
pub mod review;
pub mod routes;
pub mod scoring;
pub mod service;
pub mod start;
pub mod view;

/// What every evaluation and award step needs besides the caller and its request: the
/// database, the rulebooks and the time of the request. The HTTP layer builds it from its
/// state (`routes::env`), tests from their kit; nothing below reads a clock or the state.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The database.
    pub db: &'a crate::store::Db,
    /// The rulebooks by id.
    pub rulebooks: &'a crate::tender::rulebook::Rulebooks,
    /// When the request is handled.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// A score in hundredths of a point: 8 550 is 85.50 points.
pub type Hundredths = i64;

/// `num / den` rounded half-up (ties away from zero, 四舍五入); `None` when `den` is 0 or
/// the computation would overflow. This is the only rounding in the evaluation rules.
pub fn div_round_half_up(num: i128, den: i128) -> Option<i128> {
    if den == 0 {
        return None;
    }
    // Work with magnitudes, then restore the sign: |q| = floor((2|n| + |d|) / 2|d|).
    let negative = (num < 0) != (den < 0);
    let n = num.checked_abs()?;
    let d = den.checked_abs()?;
    let q = n
        .checked_mul(2)?
        .checked_add(d)?
        .checked_div(d.checked_mul(2)?)?;
    Some(if negative { -q } else { q })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounds_half_up_away_from_zero() {
        assert_eq!(div_round_half_up(5, 2), Some(3));
        assert_eq!(div_round_half_up(7, 3), Some(2));
        assert_eq!(div_round_half_up(8, 3), Some(3));
        assert_eq!(div_round_half_up(-5, 2), Some(-3));
        assert_eq!(div_round_half_up(5, -2), Some(-3));
        assert_eq!(div_round_half_up(0, 7), Some(0));
        assert_eq!(div_round_half_up(1, 0), None);
        assert_eq!(div_round_half_up(i128::MIN, 1), None);
        assert_eq!(div_round_half_up(i128::MAX, 1), None);
    }

    proptest! {
        #[test]
        fn rounding_is_within_half(n in -1_000_000_000_000i128..1_000_000_000_000, d in 1i128..1_000_000) {
            let q = div_round_half_up(n, d).unwrap_or(i128::MAX);
            // |n − q·d| ≤ d/2, and an exact half goes away from zero.
            let rest = n - q * d;
            prop_assert!(2 * rest.abs() <= d);
            if 2 * rest.abs() == d {
                prop_assert!(q.abs() * d > n.abs());
            }
        }
    }
}
