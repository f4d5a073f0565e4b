//! Open data in the Open Contracting Data Standard 1.1.5 with the bid and bidOpening
//! extensions: one immutable release per public change of a tender (built from its audit
//! entry, [`release`]), records with compiled and versioned releases ([`compile`]), release
//! and record packages and the cursor-paginated change feed ([`service`], [`routes`]).

pub mod compile;
pub mod release;
pub mod routes;
pub mod service;
