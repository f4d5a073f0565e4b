//! The expert pool's pure core: the specialty tree, eligibility and avoidance (回避), and
//! the verifiable random draw (DESIGN.md "Expert draw", docs/expert-draw.md).
//!
//! No database and no HTTP here: the service layer loads the pool and the request, records
//! the commitment and the supervisor's input as audit events, and calls [`draw::draw`];
//! `sunbid draw verify` calls [`draw::verify`] on data from the public log.

pub mod draw;
pub mod eligibility;
pub mod specialty;

pub use draw::{
    DrawError, DrawResult, DrawSecret, Hash, QuotaDraw, Transcript, VerifyError, commitment,
    derive_seed, draw, replay, verify,
};
pub use eligibility::{
    AvoidRole, DrawRequest, EligibilityRules, Expert, ExpertId, ExpertStatus, OrgId, Quota, Reason,
    RegionRestriction, Title, eligible,
};
pub use specialty::{Specialties, Specialty};
