//! Organisations, users, roles, password login, passkeys (WebAuthn), sessions (JWT) and login
//! rate limiting.

pub mod caller;
pub mod model;
pub mod pages;
pub mod passkey;
pub mod passkey_pages;
pub mod passkey_routes;
#[cfg(test)]
mod passkey_tests;
pub mod password;
pub mod ratelimit;
pub mod routes;
pub mod service;
pub mod session;
pub mod session_store;
pub mod uscc;

pub use caller::{Caller, SessionUser};
pub use model::{OrgKind, Role};
