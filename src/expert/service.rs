//! The draw service, one module per step of docs/expert-draw.md: the request and its
//! commitment ([`super::request`]), the supervisor's input and the draw
//! ([`super::perform`]), the members' answers and replacements ([`super::answer`]), the
//! confidential views ([`super::view`]) and the reveal after the award with the public record
//! that `sunbid draw verify` replays ([`super::reveal`]).
//!
//! This module gathers their public items under one path for the routes, the pages and
//! other features.

pub(crate) use super::answer::{ASSIGNMENT_COLS, AssignmentRow, replace_member};
pub use super::answer::{CONFIRM_JOB, DeclineInput, confirm_timeout_job, respond};
pub use super::error::ExpertError;
pub use super::notify::DrawnNotice;
pub use super::perform::{PoolEntry, enter_supervisor_input, replay_inputs, replay_pool};
pub use super::request::{
    CheckedDrawInput, DEFAULT_CHECKIN_AFTER, DEFAULT_CHECKIN_BEFORE, DEFAULT_CONFIRM_MINUTES,
    DrawRequestInput, QuotaInput, check_draw_input, request_draw,
};
pub(crate) use super::reveal::reveal_draws_in;
pub use super::reveal::{
    PublicDrawRecord, ServedEvent, public_record, reveal_draws, verify_record, verify_remote,
};
pub use super::view::{
    DrawView, MemberView, MyAssignment, QuotaView, Visibility, list_draws, my_assignments,
    view_draw,
};
