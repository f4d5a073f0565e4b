//! The public portal (disclosure): what anyone may read of the tenders, as pages and a
//! feed. The pages are HTTP ([`pages`]); the list cache they share is plain data ([`cache`]).

pub mod cache;
pub mod pages;

pub use pages::router;
