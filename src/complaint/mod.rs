//! Complaints (投诉) to the supervising department (实施条例 第60–61条): a party of a tender
//! files within 10 days of knowing, after an objection to the tenderee where the law asks
//! for one first (异议前置: the opening and the result); the regulator decides on acceptance
//! within 3 working days and decides within 30 working days of acceptance; the decision is
//! published with the tender. Overdue steps raise alerts (`supervision::rules::timing`).

pub mod routes;
pub mod service;
