//! Tenders: the aggregate, its rulebook, lifecycle, documents, Q&A and amendments.

mod error;
pub mod jobs;
pub mod model;
pub mod pages;
pub mod routes;
pub mod rulebook;
pub mod rulebook_pages;
pub mod rulebook_routes;
pub mod service;
#[cfg(test)]
pub(crate) mod testkit;

pub use model::{Tender, TenderDetail, TenderDocument, TenderState, TenderSummary};
pub use service::{Caller, TenderError};
