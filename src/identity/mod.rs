//! Organisations, users, roles, password login, sessions (JWT) and login rate limiting.

pub mod model;
pub mod pages;
pub mod password;
pub mod ratelimit;
pub mod routes;
pub mod service;
pub mod session;
pub mod uscc;

pub use model::{OrgKind, Role};
