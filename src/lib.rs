//! Sunbid: a public-resource trading and bid-evaluation platform.
//!
//! Features live in their own folders (`identity`, `tender`, `audit`, `disclosure`); `store`
//! owns the database and blob storage, `http` the router and the one error mapping.

pub mod auction;
pub mod audit;
pub mod award;
pub mod bid;
pub mod bidcli;
pub mod clock;
pub mod complaint;
pub mod config;
pub mod demo;
pub mod disclosure;
pub mod error;
pub mod evaluation;
pub mod expert;
pub mod http;
pub mod i18n;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod lifecycle;
pub mod money;
pub mod ocds;
pub mod ops;
pub mod seal;
pub mod server;
pub mod store;
pub mod supervision;
pub mod tender;
pub mod text;
pub mod witness;
