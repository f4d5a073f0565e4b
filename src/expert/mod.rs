//! Evaluation experts: the pure core (the specialty tree, eligibility and avoidance (回避),
//! the verifiable random draw: DESIGN.md "Expert draw", docs/expert-draw.md) and the
//! services around it — the pool, draw requests, confirmations and replacements, the
//! passkey check-in, notifications, the API and the pages.
//!
//! `specialty`, `eligibility` and `draw` do no I/O: the service layer loads the pool and
//! the request, records the commitment and the supervisor's input as audit events, and
//! calls [`draw::draw`]; `sunbid draw verify` calls [`draw::check`] on data from the
//! public log.
//!
//! The service, one module per step: [`request`] (the request and its commitment),
//! [`perform`] (the supervisor's input and the draw), [`answer`] (confirmations, declines,
//! replacements and their timeout), [`view`] (what each viewer may see), [`reveal`] (after
//! the award, and the public record); [`service`] gathers them under one path. [`error`]
//! is their error; none of them knows HTTP ([`routes`] and [`pages`] do).

pub mod answer;
pub mod checkin;
pub mod draw;
pub mod eligibility;
pub mod error;
pub mod notify;
pub mod pages;
pub mod perform;
pub mod pool;
pub mod request;
pub mod reveal;
pub mod routes;
pub mod service;
#[cfg(test)]
mod service_tests;
pub mod specialty;
pub mod view;

pub use draw::{
    DrawError, DrawResult, DrawSecret, Hash, QuotaDraw, Transcript, VerifyError, commitment,
    derive_seed, draw, replay, verify,
};
pub use eligibility::{
    AvoidRole, DrawRequest, EligibilityRules, Expert, ExpertId, ExpertStatus, OrgId, Quota, Reason,
    RegionRestriction, Title, eligible,
};
pub use error::ExpertError;
pub use specialty::{Specialties, Specialty};
