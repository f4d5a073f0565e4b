//! Auctions and listings (拍卖, 挂牌) of land use rights, state assets and equity (issue 17):
//! the highest price wins in the open, while who the bidders are stays secret until the end.
//!
//! - `rulebook`: the statutory numbers per category (`rulebooks/auction/*.toml`);
//! - `service`: drafting, publication, cancellation, applications, deposits, admission with a
//!   bidder number (竞买号), and what each reader may see;
//! - `bidding`: accepting a bid (or a listing quote) in one conditional update of the trade
//!   row, so the database decides the order and the anti-sniping extension;
//! - `jobs`: the time-driven moves (start, end of a listing, end of bidding) and the signed
//!   deal confirmation (成交确认书);
//! - `reserve`: the sealed reserve price (底价): its key issued to custodians at
//!   publication, the sealed envelope, the custodians' unlocks and the opening at the end;
//! - `confirm`: the winner's passkey signature on the deal confirmation;
//! - `live`: the live view as server-sent events, read from the database so that several
//!   processes give one order;
//! - `routes`: the JSON API.
//!
//! The state is written only by `lifecycle::auction`.

pub mod bidding;
pub mod confirm;
pub mod demo;
pub mod error;
pub mod jobs;
pub mod live;
pub mod pages;
pub mod reserve;
pub mod routes;
pub mod rulebook;
pub mod service;

pub use error::AuctionError;
