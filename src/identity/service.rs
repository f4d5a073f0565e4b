//! Identity rules: registering a bidder company, approving it, creating organisations and
//! users, logging in. Each state change appends its audit event in the caller's transaction.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::caller::{Caller, WrongRole};
use super::model::{OrgKind, OrgView, Role, UserView};
use super::{password, uscc};
use crate::audit::{self, Actor};
use crate::clock::to_millis;
use crate::error::{Coded, Common, Kind};
use crate::ids::new_id;
use crate::store::{Db, Tx, is_unique_violation};
use crate::{q_all, q_exec, q_opt};

/// Identity failures, each with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Bad 统一社会信用代码.
    #[error("统一社会信用代码无效 / invalid unified social credit code: {0}")]
    Uscc(#[from] uscc::UsccError),
    /// Username format.
    #[error(
        "username must be 3–32 letters, digits, '.', '_' or '-' / 用户名须为3–32位字母、数字或 . _ -"
    )]
    BadUsername,
    /// Empty or overlong names.
    #[error("{0} must be 1–200 characters / {0} 长度须为1–200个字符")]
    BadName(&'static str),
    /// Weak password.
    #[error("{0}")]
    WeakPassword(&'static str),
    /// Username taken.
    #[error("username already taken / 用户名已被使用")]
    UsernameTaken,
    /// USCC already registered.
    #[error("this unified social credit code is already registered / 该统一社会信用代码已注册")]
    UsccTaken,
    /// Wrong username or password (never says which).
    #[error("wrong username or password / 用户名或密码错误")]
    BadCredentials,
    /// Account waiting for approval.
    #[error(
        "your company is awaiting approval by the trading centre / 单位注册正在等待交易中心审核"
    )]
    PendingApproval,
    /// Account disabled or rejected.
    #[error("this account is disabled / 该账号已停用")]
    Disabled,
    /// Too many attempts.
    #[error(
        "too many login attempts, try again in {} s / 登录尝试过多，请 {} 秒后再试",
        .0.0,
        .0.0
    )]
    RateLimited(super::ratelimit::RetryAfter),
    /// Approving something that is not pending.
    #[error("this organisation is not awaiting approval / 该单位不在待审核状态")]
    NotPending,
    /// A role that needs an organisation of a matching kind.
    #[error("role {0} needs an organisation of a matching kind / 该角色需要对应类型的单位")]
    RoleOrgMismatch(&'static str),
    /// An operator disabling their own account would lock themself out mid-session.
    #[error("you cannot disable your own account / 不能停用自己的账号")]
    DisableSelf,
    /// The caller's role may not do this.
    #[error(transparent)]
    Role(#[from] WrongRole),
    /// What every feature shares: not found, a forbidden character, storage.
    #[error(transparent)]
    Common(#[from] Common),
}

crate::common_errors!(IdentityError);

impl IdentityError {
    /// No such `what`.
    pub fn not_found(what: &'static str) -> Self {
        Common::NotFound(what).into()
    }

    /// A failure of the platform (hashing, storage) described for the log.
    fn internal(why: impl std::fmt::Display) -> Self {
        Common::Store(sqlx::Error::Protocol(why.to_string()).into()).into()
    }
}

impl Coded for IdentityError {
    fn kind(&self) -> Kind {
        use IdentityError as E;
        match self {
            E::Common(c) => c.kind(),
            E::Role(r) => r.kind(),
            E::Uscc(_)
            | E::BadUsername
            | E::BadName(_)
            | E::WeakPassword(_)
            | E::RoleOrgMismatch(_) => Kind::Invalid,
            E::UsernameTaken | E::UsccTaken | E::DisableSelf | E::NotPending => Kind::Conflict,
            E::BadCredentials => Kind::Unauthenticated,
            E::PendingApproval | E::Disabled => Kind::Forbidden,
            E::RateLimited(_) => Kind::TooMany,
        }
    }

    fn code(&self) -> &'static str {
        use IdentityError as E;
        match self {
            E::Common(c) => c.code(),
            E::Role(r) => r.code(),
            E::Uscc(u) => u.code(),
            E::BadUsername => "BAD_USERNAME",
            E::BadName(_) => "BAD_NAME",
            E::WeakPassword(_) => "WEAK_PASSWORD",
            E::UsernameTaken => "USERNAME_TAKEN",
            E::UsccTaken => "USCC_TAKEN",
            E::DisableSelf => "CANNOT_DISABLE_SELF",
            E::BadCredentials => "BAD_CREDENTIALS",
            E::PendingApproval => "PENDING_APPROVAL",
            E::Disabled => "ACCOUNT_DISABLED",
            E::RateLimited(_) => "LOGIN_RATE_LIMITED",
            E::NotPending => "NOT_PENDING",
            E::RoleOrgMismatch(_) => "ROLE_ORG_MISMATCH",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            IdentityError::RateLimited(wait) => Some(wait.0),
            _ => None,
        }
    }
}

/// A bidder company's self-registration with its first user.
// No `Debug`: it carries a password, which must never reach a log.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCompany {
    /// Registered company name.
    pub company_name: String,
    /// 统一社会信用代码.
    pub uscc: String,
    /// Login name of the first user.
    pub username: String,
    /// The first user's name.
    pub display_name: String,
    /// The first user's password.
    pub password: String,
}

/// A new organisation created by the operator.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Kind.
    pub kind: OrgKind,
    /// Name.
    pub name: String,
    /// 统一社会信用代码 (required for companies).
    #[serde(default)]
    pub uscc: Option<String>,
}

/// A new user created by the operator (or `sunbid user create`).
// No `Debug`: it carries a password, which must never reach a log.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Name shown in pages.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Organisation.
    #[serde(default)]
    pub org_id: Option<String>,
    /// Initial password.
    pub password: String,
}

fn check_username(u: &str) -> Result<(), IdentityError> {
    let ok = (3..=32).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::BadUsername)
    }
}

fn check_name(field: &'static str, v: &str) -> Result<(), IdentityError> {
    let n = v.trim().chars().count();
    if !(1..=200).contains(&n) {
        return Err(IdentityError::BadName(field));
    }
    crate::text::check(field, v.trim(), crate::text::Lines::Single)?;
    Ok(())
}

fn map_unique(e: sqlx::Error, taken: IdentityError) -> IdentityError {
    if is_unique_violation(&e) {
        taken
    } else {
        e.into()
    }
}

/// Inserts an organisation row (validated) and its audit event.
async fn insert_org(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    kind: OrgKind,
    name: &str,
    uscc_raw: Option<&str>,
    status: &str,
) -> Result<String, IdentityError> {
    check_name("name", name)?;
    let code = match uscc_raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => Some(uscc::validate(raw)?.to_string()),
        None if kind.needs_uscc() => Some(uscc::validate("")?.to_string()),
        None => None,
    };
    let org_id = new_id();
    q_exec!(
        tx,
        "insert into organisation (org_id, kind, name, uscc, status, created_at) values ($1, $2, $3, $4, $5, $6)",
        org_id.clone(),
        kind.as_str(),
        name.trim().to_string(),
        code.clone(),
        status,
        to_millis(now)
    )
    .map_err(|e| map_unique(e, IdentityError::UsccTaken))?;
    audit::append(
        tx,
        now,
        actor,
        "org.create",
        None,
        json!({"org_id": org_id, "kind": kind.as_str(), "name": name.trim(), "uscc": code, "status": status}),
    )
    .await?;
    Ok(org_id)
}

/// Inserts a user row (password already checked and hashed) and its audit event.
#[allow(clippy::too_many_arguments)]
async fn insert_user(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    username: &str,
    display_name: &str,
    role: Role,
    org_id: Option<&str>,
    password_hash: String,
    status: &str,
) -> Result<String, IdentityError> {
    let user_id = new_id();
    q_exec!(
        tx,
        "insert into app_user (user_id, org_id, username, display_name, role, password_hash, status, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        user_id.clone(),
        org_id.map(str::to_string),
        username.to_string(),
        display_name.trim().to_string(),
        role.as_str(),
        password_hash,
        status,
        to_millis(now)
    )
    .map_err(|e| map_unique(e, IdentityError::UsernameTaken))?;
    audit::append(
        tx,
        now,
        actor,
        "user.create",
        None,
        json!({"user_id": user_id, "username": username, "role": role.as_str(), "org_id": org_id, "status": status}),
    )
    .await?;
    Ok(user_id)
}

/// A bidder company registers itself and its first user; both wait for approval.
pub async fn register_company(
    db: &Db,
    now: DateTime<Utc>,
    actor: &Actor,
    req: RegisterCompany,
) -> Result<(String, String), IdentityError> {
    check_username(&req.username)?;
    check_name("company_name", &req.company_name)?;
    check_name("display_name", &req.display_name)?;
    password::check_strength(&req.password).map_err(IdentityError::WeakPassword)?;
    // Validate before the (slow) hash so bad input is answered at once.
    uscc::validate(req.uscc.trim())?;
    let hash = password::hash(req.password)
        .await
        .map_err(IdentityError::internal)?;
    let mut tx = db.begin().await?;
    let org_id = insert_org(
        &mut tx,
        now,
        actor,
        OrgKind::Bidder,
        &req.company_name,
        Some(&req.uscc),
        "pending",
    )
    .await?;
    let user_id = insert_user(
        &mut tx,
        now,
        actor,
        &req.username,
        &req.display_name,
        Role::Bidder,
        Some(&org_id),
        hash,
        "pending",
    )
    .await?;
    tx.commit().await?;
    Ok((org_id, user_id))
}

/// The operator approves (or rejects) a pending company; its pending users follow.
pub async fn decide_org(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    org_id: &str,
    approve: bool,
) -> Result<(), IdentityError> {
    caller.require_role(&[Role::Operator])?;
    let actor = &caller.actor;
    let mut tx = db.begin().await?;
    let (org_status, user_status) = if approve {
        ("active", "active")
    } else {
        ("rejected", "disabled")
    };
    let n = q_exec!(
        tx,
        "update organisation set status = $1 where org_id = $2 and status = 'pending'",
        org_status,
        org_id.to_string()
    )?;
    if n == 0 {
        let exists = q_opt!(
            tx,
            (String,),
            "select org_id from organisation where org_id = $1",
            org_id.to_string()
        )?;
        return Err(if exists.is_some() {
            IdentityError::NotPending
        } else {
            IdentityError::not_found("organisation")
        });
    }
    q_exec!(
        tx,
        "update app_user set status = $1 where org_id = $2 and status = 'pending'",
        user_status,
        org_id.to_string()
    )?;
    let action = if approve { "org.approve" } else { "org.reject" };
    audit::append(&mut tx, now, actor, action, None, json!({"org_id": org_id})).await?;
    tx.commit().await?;
    Ok(())
}

/// The operator creates an organisation (active at once).
pub async fn create_org(
    db: &Db,
    now: DateTime<Utc>,
    actor: &Actor,
    req: NewOrg,
) -> Result<String, IdentityError> {
    let mut tx = db.begin().await?;
    let id = insert_org(
        &mut tx,
        now,
        actor,
        req.kind,
        &req.name,
        req.uscc.as_deref(),
        "active",
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Which organisation kinds a role may belong to (`None`: no organisation needed).
fn allowed_org_kinds(role: Role) -> Option<&'static [&'static str]> {
    match role {
        Role::Operator => None,
        Role::Agent => Some(&["agent", "tenderee", "trading_centre"]),
        Role::Custodian => Some(&["agent", "tenderee", "trading_centre", "regulator"]),
        Role::Bidder => Some(&["bidder"]),
        Role::Expert => Some(&[
            "expert_employer",
            "tenderee",
            "agent",
            "bidder",
            "trading_centre",
        ]),
        Role::Regulator => Some(&["regulator"]),
    }
}

/// The operator creates a user (active at once).
pub async fn create_user(
    db: &Db,
    now: DateTime<Utc>,
    actor: &Actor,
    req: NewUser,
) -> Result<String, IdentityError> {
    check_username(&req.username)?;
    check_name("display_name", &req.display_name)?;
    password::check_strength(&req.password).map_err(IdentityError::WeakPassword)?;
    let mut tx = db.begin().await?;
    if let Some(kinds) = allowed_org_kinds(req.role) {
        let org_id = req
            .org_id
            .clone()
            .ok_or(IdentityError::RoleOrgMismatch(req.role.as_str()))?;
        let kind = q_opt!(
            tx,
            (String,),
            "select kind from organisation where org_id = $1",
            org_id
        )?
        .ok_or(IdentityError::not_found("organisation"))?;
        if !kinds.contains(&kind.0.as_str()) {
            return Err(IdentityError::RoleOrgMismatch(req.role.as_str()));
        }
    }
    let hash = password::hash(req.password)
        .await
        .map_err(IdentityError::internal)?;
    let id = insert_user(
        &mut tx,
        now,
        actor,
        &req.username,
        &req.display_name,
        req.role,
        req.org_id.as_deref(),
        hash,
        "active",
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The operator enables or disables a user.
pub async fn set_user_status(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    user_id: &str,
    active: bool,
) -> Result<(), IdentityError> {
    caller.require_role(&[Role::Operator])?;
    let actor = &caller.actor;
    if !active && caller.user.user_id == user_id {
        return Err(IdentityError::DisableSelf);
    }
    let mut tx = db.begin().await?;
    let status = if active { "active" } else { "disabled" };
    let n = q_exec!(
        tx,
        "update app_user set status = $1 where user_id = $2",
        status,
        user_id.to_string()
    )?;
    if n == 0 {
        return Err(IdentityError::not_found("user"));
    }
    audit::append(
        &mut tx,
        now,
        actor,
        "user.status",
        None,
        json!({"user_id": user_id, "status": status}),
    )
    .await?;
    if !active {
        // Enabling the account again must not bring old tokens back to life.
        super::session_store::revoke_all(&mut tx, now, actor, user_id, "disabled").await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A user changes their own password; every session of theirs is revoked with it (a thief's
/// token included), and the number revoked is returned.
pub async fn change_password(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    current: String,
    new: String,
) -> Result<u64, IdentityError> {
    let (actor, user_id) = (&caller.actor, caller.user.user_id.as_str());
    password::check_strength(&new).map_err(IdentityError::WeakPassword)?;
    let mut tx = db.read().await?;
    let row: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select password_hash from app_user where user_id = $1",
        user_id.to_string()
    )?;
    drop(tx);
    let (hash,) = row.ok_or(IdentityError::not_found("user"))?;
    if !password::verify(current, hash).await {
        return Err(IdentityError::BadCredentials);
    }
    let hash = password::hash(new).await.map_err(IdentityError::internal)?;
    let mut tx = db.begin().await?;
    q_exec!(
        tx,
        "update app_user set password_hash = $1 where user_id = $2",
        hash,
        user_id.to_string()
    )?;
    audit::append(
        &mut tx,
        now,
        actor,
        "user.password",
        None,
        json!({"user_id": user_id}),
    )
    .await?;
    let revoked =
        super::session_store::revoke_all(&mut tx, now, actor, user_id, "password").await?;
    tx.commit().await?;
    Ok(revoked)
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    user_id: String,
    username: String,
    display_name: String,
    role: String,
    org_id: Option<String>,
    status: String,
    password_hash: String,
}

/// Checks a username and password; the caller issues the session.
pub async fn authenticate(
    db: &Db,
    username: &str,
    password_text: String,
) -> Result<UserView, IdentityError> {
    let mut tx = db.read().await?;
    let row = q_opt!(
        tx,
        LoginRow,
        "select user_id, username, display_name, role, org_id, status, password_hash from app_user where username = $1",
        username.to_string()
    )?;
    drop(tx);
    let Some(row) = row else {
        // Spend the same time as a real check so usernames cannot be probed by timing.
        let _ = password::verify(password_text, password::dummy_hash().await).await;
        return Err(IdentityError::BadCredentials);
    };
    if !password::verify(password_text, row.password_hash).await {
        return Err(IdentityError::BadCredentials);
    }
    match row.status.as_str() {
        "active" => {}
        "pending" => return Err(IdentityError::PendingApproval),
        _ => return Err(IdentityError::Disabled),
    }
    Ok(UserView {
        user_id: row.user_id,
        username: row.username,
        display_name: row.display_name,
        role: row.role,
        org_id: row.org_id,
        status: row.status,
    })
}

/// All organisations, pending first.
pub async fn list_orgs(db: &Db) -> Result<Vec<OrgView>, IdentityError> {
    let mut tx = db.read().await?;
    Ok(q_all!(
        tx,
        OrgView,
        "select o.org_id, o.kind, o.name, o.uscc, o.status,
            exists (select 1 from supervision_penalty p join organisation po on po.org_id = p.subject_id
                    where p.subject_kind = 'company'
                      and (po.org_id = o.org_id or (po.uscc is not null and po.uscc = o.uscc)))
              as penalised
         from organisation o
         order by case o.status when 'pending' then 0 else 1 end, o.name"
    )?)
}

/// All users.
pub async fn list_users(db: &Db) -> Result<Vec<UserView>, IdentityError> {
    let mut tx = db.read().await?;
    Ok(q_all!(
        tx,
        UserView,
        "select user_id, username, display_name, role, org_id, status from app_user order by username"
    )?)
}

/// One user by id.
pub async fn get_user(db: &Db, user_id: &str) -> Result<UserView, IdentityError> {
    let mut tx = db.read().await?;
    q_opt!(
        tx,
        UserView,
        "select user_id, username, display_name, role, org_id, status from app_user where user_id = $1",
        user_id.to_string()
    )?
    .ok_or(IdentityError::not_found("user"))
}
