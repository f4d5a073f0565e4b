//! Who is acting: the logged-in user, their role and organisation, and what the audit log
//! records about the request. Built by the HTTP layer, consumed by every service.

use crate::audit::Actor;
use crate::error::{Coded, Kind};
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

impl SessionUser {
    /// The user if their role is one of `roles`; else which roles the action needs.
    pub fn require_role(&self, roles: &[Role]) -> Result<&SessionUser, WrongRole> {
        if roles.contains(&self.role) {
            Ok(self)
        } else {
            Err(WrongRole {
                needed: roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                actual: self.role.as_str(),
            })
        }
    }
}

/// The caller's role may not do this (403 `FORBIDDEN`).
#[derive(Debug, thiserror::Error)]
#[error("this action needs the role {needed} (you are {actual}) / 当前角色无权执行此操作")]
pub struct WrongRole {
    /// The roles that may, joined with "or".
    pub needed: String,
    /// The caller's role.
    pub actual: &'static str,
}

impl Coded for WrongRole {
    fn kind(&self) -> Kind {
        Kind::Forbidden
    }

    fn code(&self) -> &'static str {
        "FORBIDDEN"
    }
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

    /// The caller if their role is one of `roles`; else which roles the action needs.
    pub fn require_role(&self, roles: &[Role]) -> Result<&Caller, WrongRole> {
        self.user.require_role(roles)?;
        Ok(self)
    }

    /// The caller's organisation, if any.
    pub fn org_id(&self) -> Option<&str> {
        self.user.org_id.as_deref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_role_outside_the_list_is_told_which_roles_may() {
        let u = SessionUser {
            user_id: "u".into(),
            role: Role::Bidder,
            org_id: None,
            name: "n".into(),
        };
        assert!(u.require_role(&[Role::Bidder]).is_ok());
        let e = u.require_role(&[Role::Agent, Role::Operator]).unwrap_err();
        assert_eq!((e.kind(), e.code()), (Kind::Forbidden, "FORBIDDEN"));
        assert!(
            e.to_string()
                .starts_with("this action needs the role agent or operator (you are bidder)")
        );
    }
}
