//! The award (定标): what follows the signed evaluation report — the candidate publicity
//! (中标候选人公示), objections to the result and their answers, the award notice
//! (中标通知书) with the result notices to the other bidders, and the contract record
//! (合同备案).
//!
//! - [`publicity`]: the pure timing rules (实施条例 第54条, 招标投标法 第46条);
//! - [`service`]: each step in one transaction with its audit event;
//! - [`routes`] and [`pages`]: the JSON API and the agent's and bidders' pages.

pub mod answers;
pub mod pages;
pub mod publicity;
pub mod routes;
pub mod service;
pub mod view;
