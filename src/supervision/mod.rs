//! Electronic supervision (电子监察, DESIGN.md "Supervision", docs/supervision.md): alerts
//! derived from the audit log by configured rules, each citing the events it rests on; the
//! regulator's handling of them (acknowledge, cases, suspension of a tender, findings and
//! penalties). Everything here is for regulators only.

pub mod alerts;
pub mod cases;
pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod event;
pub mod export;
pub mod pages;
pub mod routes;
pub mod rules;
pub mod stats;

pub use error::SupervisionError;
