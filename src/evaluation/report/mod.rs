//! The evaluation report (评标报告): the document built from the stored evaluation
//! ([`doc`]), its PDF ([`pdf`]), the members' signatures and dissents ([`sign`]) and the
//! routes that serve them ([`routes`]).

pub mod doc;
pub mod load;
pub mod pdf;
pub mod routes;
pub mod sign;
