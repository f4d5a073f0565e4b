//! Who is acting: the logged-in user, their role and organisation, and what the audit log
//! records about the request. Built by the HTTP layer, consumed by every service.

use crate::audit::Actor;
use crate::identity::Role;

/// An authenticated user (from a session token or cookie).
#[derive(Clone, Debug)]
pub struct SessionUser {
    /// User id.
    pub user_id: String,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org_id: Option<String>,
    /// Display name.
    pub name: String,
}

/// The logged-in user acting, with what the audit log and download records need.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user.
    pub user: SessionUser,
    /// The audit actor (user, role, request id, client IP).
    pub actor: Actor,
    /// The client's user agent (recorded with downloads).
    pub user_agent: Option<String>,
}

impl Caller {
    /// Whether the caller acts in `role`.
    pub fn is(&self, role: Role) -> bool {
        self.user.role == role
    }

    /// Whether the caller acts in one of `roles`.
    pub fn is_any(&self, roles: &[Role]) -> bool {
        roles.contains(&self.user.role)
    }

    /// The caller's organisation, if any.
    pub fn org_id(&self) -> Option<&str> {
        self.user.org_id.as_deref()
    }
}
