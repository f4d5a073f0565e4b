//! Tenders: the aggregate, its rulebook, lifecycle, documents, Q&A and amendments.

pub mod jobs;
pub mod pages;
pub mod routes;
pub mod rulebook;
