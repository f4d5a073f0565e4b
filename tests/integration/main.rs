//! Integration tests: the real server over HTTP against a real SQLite file and a real
//! PostgreSQL database. One binary (each file under tests/ would be another link), with a
//! module per area; every test runs on both databases (see `harness::both!`).

// Test code: a failed setup step should stop the test loudly (crate-wide lints deny these
// in the platform's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod api_errors;
mod auction_reserve;
mod auctions;
mod audit;
mod authz_matrix;
mod backup;
mod bid_cli;
mod crash;
mod custodian_prf;
mod db_restart;
mod edge;
mod evaluation_clarify;
mod evaluation_forms;
mod evaluation_pages;
mod experts;
mod identity;
mod keys;
mod ocds;
mod opening_faults;
mod ops;
mod portal;
mod price_table;
mod procedures;
mod results;
mod s3;
mod security;
mod sessions;
mod split_view;
mod supervision;
mod tenders;
mod text_rule;
mod traces;
mod unlock_limit;
mod witness;
