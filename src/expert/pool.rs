//! The expert pool (专家库): adding, editing, suspending and barring experts (operators),
//! experts keeping their own region, unavailable dates and declared conflicts, CSV import
//! with a report of rejected rows, and loading the pool for a draw (`order by expert_id`,
//! which the draw core needs to skip its sort: docs/expert-draw.md "Performance").
//!
//! Every change appends its audit event in the same transaction. The public log carries the
//! expert id and a SHA-256 of the stored profile, not the person's data: the pool is
//! personal data, and the digest is enough to show later that a profile was not altered.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::eligibility::{Expert, ExpertStatus, Title};
use super::service::ExpertError;
use super::specialty::Specialties;
use crate::audit;
use crate::clock::{from_millis, to_millis};
use crate::ids::{is_id, new_id};
use crate::store::{Db, Tx, like_pattern};
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_opt};

/// Largest CSV accepted by the import, in bytes.
pub const MAX_CSV_BYTES: usize = 8 * 1024 * 1024;
/// Largest page of the pool list.
pub const MAX_LIST: i64 = 500;

/// A declared conflict: an organisation the expert is related to (a relative's employer,
/// an economic interest), with the relation in the expert's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conflict {
    /// The organisation.
    pub org_id: String,
    /// The relation ("spouse works there", "shareholder").
    pub relation: String,
}

/// `POST /api/v1/experts` and `PUT /api/v1/experts/{id}`: the whole profile.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpertInput {
    /// Full name.
    pub name: String,
    /// Specialty codes, aliases or names (`A0101`, `construction.building`, `房屋建筑`).
    pub specialties: Vec<String>,
    /// Administrative division code (GB/T 2260), 2–12 digits.
    pub region: String,
    /// Employer organisation id.
    #[serde(default)]
    pub employer_org_id: Option<String>,
    /// `none`, `junior`, `intermediate`, `associate_senior`, `senior`, `senior_equivalent`
    /// (or 无/初级/中级/副高/正高/同等).
    pub title: String,
    /// Years of practice in the field.
    pub years_of_practice: u32,
    /// Year of birth.
    pub birth_year: i32,
    /// Penalised before for tendering violations.
    #[serde(default)]
    pub penalised: bool,
    /// The expert's login (a user with role expert), if any.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Unavailable dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub unavailable: Vec<String>,
    /// Declared conflicts.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
}

/// `PUT /api/v1/experts/me`: what experts keep themselves.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfEdit {
    /// New region.
    #[serde(default)]
    pub region: Option<String>,
    /// Replaces the unavailable dates.
    #[serde(default)]
    pub unavailable: Option<Vec<String>>,
    /// Replaces the declared conflicts.
    #[serde(default)]
    pub conflicts: Option<Vec<Conflict>>,
}

/// Suspend, bar or reinstate: the reason is required.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// Why (1–2000 characters).
    pub reason: String,
}

/// List filters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExpertFilter {
    /// Words of the name.
    #[serde(default)]
    pub q: Option<String>,
    /// A specialty code (or alias/name): experts with a code under it.
    #[serde(default)]
    pub specialty: Option<String>,
    /// `active`, `suspended` or `barred`.
    #[serde(default)]
    pub status: Option<String>,
    /// A region code prefix.
    #[serde(default)]
    pub region: Option<String>,
}

/// A validated profile, ready to store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// Full name.
    pub name: String,
    /// Specialty codes (resolved, deduplicated, sorted).
    pub specialties: Vec<String>,
    /// Region code.
    pub region: String,
    /// Employer.
    pub employer_org_id: Option<String>,
    /// Title.
    pub title: Title,
    /// Years of practice.
    pub years_of_practice: u32,
    /// Year of birth.
    pub birth_year: i32,
    /// Penalised before.
    pub penalised: bool,
    /// Linked login.
    pub user_id: Option<String>,
    /// Unavailable dates.
    pub unavailable: Vec<NaiveDate>,
    /// Declared conflicts.
    pub conflicts: Vec<Conflict>,
}

/// An expert as the API shows it to operators, regulators and the expert.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExpertView {
    /// Id.
    pub expert_id: String,
    /// Linked login.
    pub user_id: Option<String>,
    /// Name.
    pub name: String,
    /// Specialty codes.
    pub specialties: Vec<String>,
    /// Region code.
    pub region: String,
    /// Employer.
    pub employer_org_id: Option<String>,
    /// Title.
    pub title: Title,
    /// Years of practice.
    pub years_of_practice: u32,
    /// Year of birth.
    pub birth_year: i32,
    /// `active`, `suspended`, `barred`.
    pub status: ExpertStatus,
    /// Why the status was last changed.
    pub status_reason: Option<String>,
    /// Penalised before.
    pub penalised: bool,
    /// Unavailable dates.
    pub unavailable: Vec<NaiveDate>,
    /// Declared conflicts.
    pub conflicts: Vec<Conflict>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl ExpertView {
    /// Title label for pages.
    pub fn title_label(&self) -> &'static str {
        title_label(self.title)
    }

    /// Status as stored.
    pub fn status_str(&self) -> &'static str {
        status_str(self.status)
    }

    /// Specialties joined for display.
    pub fn specialties_text(&self) -> String {
        self.specialties.join(" ")
    }

    /// Unavailable dates joined for forms.
    pub fn unavailable_text(&self) -> String {
        self.unavailable
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Conflicts as `org_id: relation` lines for forms.
    pub fn conflicts_text(&self) -> String {
        self.conflicts
            .iter()
            .map(|c| format!("{}: {}", c.org_id, c.relation))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The stored row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct ExpertRow {
    pub expert_id: String,
    pub user_id: Option<String>,
    pub name: String,
    pub specialties: String,
    pub region: String,
    pub employer_org_id: Option<String>,
    pub title: String,
    pub years_of_practice: i64,
    pub birth_year: i64,
    pub status: String,
    pub status_reason: Option<String>,
    pub penalised: i64,
    pub unavailable: String,
    pub conflicts: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const EXPERT_COLUMNS: &str = "expert_id, user_id, name, specialties, region, employer_org_id, title, years_of_practice, birth_year, status, status_reason, penalised, unavailable, conflicts, created_at, updated_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> ExpertError {
    ExpertError::Corrupt(format!("{what}: {e}"))
}

impl ExpertRow {
    pub(crate) fn view(self) -> Result<ExpertView, ExpertError> {
        Ok(ExpertView {
            specialties: serde_json::from_str(&self.specialties)
                .map_err(|e| corrupt("specialties", e))?,
            title: parse_title(&self.title).ok_or_else(|| corrupt("title", &self.title))?,
            status: parse_status(&self.status).ok_or_else(|| corrupt("status", &self.status))?,
            unavailable: serde_json::from_str(&self.unavailable)
                .map_err(|e| corrupt("unavailable", e))?,
            conflicts: serde_json::from_str(&self.conflicts)
                .map_err(|e| corrupt("conflicts", e))?,
            years_of_practice: u32::try_from(self.years_of_practice).unwrap_or(0),
            birth_year: i32::try_from(self.birth_year).unwrap_or(0),
            penalised: self.penalised != 0,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
            expert_id: self.expert_id,
            user_id: self.user_id,
            name: self.name,
            region: self.region,
            employer_org_id: self.employer_org_id,
            status_reason: self.status_reason,
        })
    }
}

impl ExpertView {
    /// The draw core's view of this expert; `last_served` comes from past draws.
    pub fn to_draw_expert(&self, last_served: Vec<(String, NaiveDate)>) -> Expert {
        Expert {
            id: self.expert_id.clone(),
            specialties: self.specialties.clone(),
            region: self.region.clone(),
            employer_org_id: self.employer_org_id.clone(),
            title: self.title,
            years_of_practice: self.years_of_practice,
            birth_year: self.birth_year,
            status: self.status,
            unavailable: self.unavailable.clone(),
            conflicts: self.conflicts.iter().map(|c| c.org_id.clone()).collect(),
            penalised: self.penalised,
            last_served,
        }
    }
}

// ---- pure validation ----------------------------------------------------------------

/// Parses a title from its API name or its Chinese label.
pub fn parse_title(s: &str) -> Option<Title> {
    Some(match s.trim() {
        "none" | "无" | "" => Title::None,
        "junior" | "初级" => Title::Junior,
        "intermediate" | "中级" => Title::Intermediate,
        "associate_senior" | "副高" | "副高级" => Title::AssociateSenior,
        "senior" | "正高" | "正高级" => Title::Senior,
        "senior_equivalent" | "同等" | "同等专业水平" => Title::SeniorEquivalent,
        _ => return None,
    })
}

/// The stored name of a title.
pub fn title_str(t: Title) -> &'static str {
    match t {
        Title::None => "none",
        Title::Junior => "junior",
        Title::Intermediate => "intermediate",
        Title::AssociateSenior => "associate_senior",
        Title::Senior => "senior",
        Title::SeniorEquivalent => "senior_equivalent",
    }
}

/// A bilingual label of a title.
pub fn title_label(t: Title) -> &'static str {
    match t {
        Title::None => "无 none",
        Title::Junior => "初级 junior",
        Title::Intermediate => "中级 intermediate",
        Title::AssociateSenior => "副高 associate senior",
        Title::Senior => "正高 senior",
        Title::SeniorEquivalent => "同等专业水平 senior equivalent",
    }
}

/// Parses a stored status.
pub fn parse_status(s: &str) -> Option<ExpertStatus> {
    Some(match s {
        "active" => ExpertStatus::Active,
        "suspended" => ExpertStatus::Suspended,
        "barred" => ExpertStatus::Barred,
        _ => return None,
    })
}

/// The stored name of a status.
pub fn status_str(s: ExpertStatus) -> &'static str {
    match s {
        ExpertStatus::Active => "active",
        ExpertStatus::Suspended => "suspended",
        ExpertStatus::Barred => "barred",
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ExpertError {
    ExpertError::Invalid {
        field,
        message: message.into(),
    }
}

fn check_text(field: &'static str, s: &str, max: usize) -> Result<String, ExpertError> {
    let t = s.trim();
    let n = t.chars().count();
    if n == 0 || n > max {
        return Err(invalid(
            field,
            format!("{field} must be 1–{max} characters / {field} 须为1–{max}个字符"),
        ));
    }
    crate::text::check(field, t, crate::text::Lines::Single)?;
    Ok(t.to_string())
}

/// Checks a region code: 2–12 ASCII digits.
pub fn check_region(s: &str) -> Result<String, ExpertError> {
    let t = s.trim();
    if (2..=12).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
        Ok(t.to_string())
    } else {
        Err(invalid(
            "region",
            "region must be an administrative division code of 2–12 digits, e.g. 330106 / 地区须为2–12位行政区划代码",
        ))
    }
}

/// Resolves specialties (codes, aliases or names) to sorted, distinct codes.
pub fn resolve_specialties(items: &[String]) -> Result<Vec<String>, ExpertError> {
    let tree = Specialties::builtin();
    let mut out = Vec::new();
    for item in items {
        let t = item.trim();
        if t.is_empty() {
            continue;
        }
        let s = tree
            .resolve(t)
            .ok_or_else(|| ExpertError::UnknownSpecialty(t.chars().take(60).collect()))?;
        out.push(s.code.clone());
    }
    out.sort();
    out.dedup();
    if out.is_empty() || out.len() > 20 {
        return Err(invalid(
            "specialties",
            "an expert has 1–20 specialties / 专家须有1–20个专业",
        ));
    }
    Ok(out)
}

/// Parses dates `YYYY-MM-DD`, sorted and distinct (at most 400).
pub fn parse_dates(items: &[String]) -> Result<Vec<NaiveDate>, ExpertError> {
    let mut out = Vec::new();
    for item in items {
        let t = item.trim();
        if t.is_empty() {
            continue;
        }
        let d = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
            invalid(
                "unavailable",
                format!(
                    "unavailable dates are YYYY-MM-DD (got {:?}) / 不可用日期格式为 YYYY-MM-DD",
                    t.chars().take(20).collect::<String>()
                ),
            )
        })?;
        out.push(d);
    }
    out.sort();
    out.dedup();
    if out.len() > 400 {
        return Err(invalid(
            "unavailable",
            "at most 400 unavailable dates / 不可用日期最多400个",
        ));
    }
    Ok(out)
}

fn check_conflicts(items: &[Conflict]) -> Result<Vec<Conflict>, ExpertError> {
    if items.len() > 100 {
        return Err(invalid(
            "conflicts",
            "at most 100 declared conflicts / 申报的利害关系最多100条",
        ));
    }
    items
        .iter()
        .map(|c| {
            Ok(Conflict {
                org_id: c.org_id.trim().to_string(),
                relation: check_text("relation", &c.relation, 200)?,
            })
        })
        .collect()
}

/// Validates a whole profile (without the database look-ups); `this_year` bounds the birth
/// year.
pub fn validate(input: &ExpertInput, this_year: i32) -> Result<Profile, ExpertError> {
    let name = check_text("name", &input.name, 100)?;
    let specialties = resolve_specialties(&input.specialties)?;
    let region = check_region(&input.region)?;
    let title = parse_title(&input.title).ok_or_else(|| {
        invalid(
            "title",
            "title is one of none, junior, intermediate, associate_senior, senior, senior_equivalent / 职称取值无效",
        )
    })?;
    if input.years_of_practice > 80 {
        return Err(invalid(
            "years_of_practice",
            "years of practice must be 0–80 / 从业年限须为0–80",
        ));
    }
    if !(1900..=this_year).contains(&input.birth_year) {
        return Err(invalid(
            "birth_year",
            format!("birth year must be 1900–{this_year} / 出生年份须为1900–{this_year}"),
        ));
    }
    let employer_org_id = input
        .employer_org_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let user_id = input
        .user_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(Profile {
        name,
        specialties,
        region,
        employer_org_id,
        title,
        years_of_practice: input.years_of_practice,
        birth_year: input.birth_year,
        penalised: input.penalised,
        user_id,
        unavailable: parse_dates(&input.unavailable)?,
        conflicts: check_conflicts(&input.conflicts)?,
    })
}

/// The digest the audit log carries instead of the profile.
fn profile_digest(p: &Profile) -> String {
    let text = serde_json_canonicalizer::to_string(&json!(p)).unwrap_or_default();
    crate::store::blob::sha256_hex(text.as_bytes())
}

// ---- database checks ----------------------------------------------------------------

async fn org_exists(tx: &mut Tx, org_id: &str) -> Result<bool, ExpertError> {
    if !is_id(org_id) {
        return Ok(false);
    }
    Ok(q_opt!(
        tx,
        (String,),
        "select org_id from organisation where org_id = $1",
        org_id.to_string()
    )?
    .is_some())
}

/// Organisation ids and the expert's login must exist; the login must be an expert's and
/// not linked to another expert.
async fn check_refs(
    tx: &mut Tx,
    p: &Profile,
    this_expert: Option<&str>,
) -> Result<(), ExpertError> {
    if let Some(org) = &p.employer_org_id
        && !org_exists(tx, org).await?
    {
        return Err(ExpertError::UnknownOrg(org.chars().take(60).collect()));
    }
    for c in &p.conflicts {
        if !org_exists(tx, &c.org_id).await? {
            return Err(ExpertError::UnknownOrg(c.org_id.chars().take(60).collect()));
        }
    }
    if let Some(user) = &p.user_id {
        if !is_id(user) {
            return Err(ExpertError::BadExpertUser);
        }
        let role: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select role from app_user where user_id = $1",
            user.clone()
        )?;
        if role.is_none_or(|(r,)| r != "expert") {
            return Err(ExpertError::BadExpertUser);
        }
        let linked: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select expert_id from expert where user_id = $1",
            user.clone()
        )?;
        if linked.is_some_and(|(id,)| Some(id.as_str()) != this_expert) {
            return Err(ExpertError::UserAlreadyLinked);
        }
    }
    Ok(())
}

fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

async fn insert(tx: &mut Tx, now: DateTime<Utc>, p: &Profile) -> Result<String, ExpertError> {
    let id = new_id();
    q_exec!(
        tx,
        "insert into expert (expert_id, user_id, name, specialties, region, employer_org_id, title,
             years_of_practice, birth_year, status, status_reason, penalised, unavailable, conflicts,
             created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', null, $10, $11, $12, $13, $13)",
        id.clone(),
        p.user_id.clone(),
        p.name.clone(),
        json_text(&p.specialties),
        p.region.clone(),
        p.employer_org_id.clone(),
        title_str(p.title).to_string(),
        i64::from(p.years_of_practice),
        i64::from(p.birth_year),
        i64::from(p.penalised),
        json_text(&p.unavailable),
        json_text(&p.conflicts),
        to_millis(now)
    )?;
    Ok(id)
}

fn ensure_operator(caller: &Caller) -> Result<(), ExpertError> {
    if caller.user.role == crate::identity::Role::Operator {
        Ok(())
    } else {
        Err(ExpertError::Forbidden(
            "only operators manage the expert pool / 仅平台运营人员可管理专家库",
        ))
    }
}

// ---- operations ---------------------------------------------------------------------

/// Adds an expert (operator).
pub async fn add_expert(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    input: &ExpertInput,
) -> Result<ExpertView, ExpertError> {
    ensure_operator(caller)?;
    let p = validate(input, now.year())?;
    let mut tx = db.begin().await?;
    check_refs(&mut tx, &p, None).await?;
    let id = insert(&mut tx, now, &p).await?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.add",
        None,
        json!({"expert_id": id, "profile_sha256": profile_digest(&p), "source": "api"}),
    )
    .await?;
    let view = load(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Replaces an expert's profile (operator). Status is changed only by suspend/bar/reinstate.
pub async fn edit_expert(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    expert_id: &str,
    input: &ExpertInput,
) -> Result<ExpertView, ExpertError> {
    ensure_operator(caller)?;
    let p = validate(input, now.year())?;
    let mut tx = db.begin().await?;
    load(&mut tx, expert_id).await?;
    check_refs(&mut tx, &p, Some(expert_id)).await?;
    q_exec!(
        tx,
        "update expert set user_id = $1, name = $2, specialties = $3, region = $4, employer_org_id = $5,
             title = $6, years_of_practice = $7, birth_year = $8, penalised = $9, unavailable = $10,
             conflicts = $11, updated_at = $12
         where expert_id = $13",
        p.user_id.clone(),
        p.name.clone(),
        json_text(&p.specialties),
        p.region.clone(),
        p.employer_org_id.clone(),
        title_str(p.title).to_string(),
        i64::from(p.years_of_practice),
        i64::from(p.birth_year),
        i64::from(p.penalised),
        json_text(&p.unavailable),
        json_text(&p.conflicts),
        to_millis(now),
        expert_id.to_string()
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.edit",
        None,
        json!({"expert_id": expert_id, "profile_sha256": profile_digest(&p)}),
    )
    .await?;
    let view = load(&mut tx, expert_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// A status change an operator may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// active → suspended.
    Suspend,
    /// active or suspended → barred (final: 清退).
    Bar,
    /// suspended → active.
    Reinstate,
}

impl StatusChange {
    fn target(self) -> &'static str {
        match self {
            StatusChange::Suspend => "suspended",
            StatusChange::Bar => "barred",
            StatusChange::Reinstate => "active",
        }
    }

    fn allowed_from(self) -> &'static [&'static str] {
        match self {
            StatusChange::Suspend => &["active"],
            StatusChange::Bar => &["active", "suspended"],
            StatusChange::Reinstate => &["suspended"],
        }
    }

    fn action(self) -> &'static str {
        match self {
            StatusChange::Suspend => "expert.suspend",
            StatusChange::Bar => "expert.bar",
            StatusChange::Reinstate => "expert.reinstate",
        }
    }
}

/// Suspends, bars or reinstates an expert (operator), with a reason.
pub async fn change_status(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    expert_id: &str,
    change: StatusChange,
    reason: &str,
) -> Result<ExpertView, ExpertError> {
    ensure_operator(caller)?;
    let reason = match check_text("reason", reason, 2000) {
        Err(ExpertError::Invalid { .. }) => return Err(ExpertError::ReasonRequired),
        other => other?,
    };
    let mut tx = db.begin().await?;
    let current = load(&mut tx, expert_id).await?;
    if !change.allowed_from().contains(&current.status_str()) {
        return Err(ExpertError::WrongStatus {
            status: current.status_str(),
            target: change.target(),
        });
    }
    q_exec!(
        tx,
        "update expert set status = $1, status_reason = $2, updated_at = $3 where expert_id = $4 and status = $5",
        change.target().to_string(),
        reason.clone(),
        to_millis(now),
        expert_id.to_string(),
        current.status_str().to_string()
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        change.action(),
        None,
        json!({"expert_id": expert_id, "from": current.status_str(), "to": change.target(),
               "reason": reason}),
    )
    .await?;
    let view = load(&mut tx, expert_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// The expert record linked to a login.
pub async fn expert_of_user(tx: &mut Tx, user_id: &str) -> Result<Option<ExpertView>, ExpertError> {
    let sql = format!("select {EXPERT_COLUMNS} from expert where user_id = $1");
    let row = q_opt!(tx, ExpertRow, sqlx::AssertSqlSafe(sql), user_id.to_string())?;
    row.map(ExpertRow::view).transpose()
}

/// The caller's own expert profile.
pub async fn my_profile(db: &Db, caller: &Caller) -> Result<ExpertView, ExpertError> {
    let mut tx = db.read().await?;
    expert_of_user(&mut tx, &caller.user.user_id)
        .await?
        .ok_or(ExpertError::NotFound("expert profile"))
}

/// An expert keeps their own region, unavailable dates and declared conflicts.
pub async fn edit_own_profile(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    edit: &SelfEdit,
) -> Result<ExpertView, ExpertError> {
    if caller.user.role != crate::identity::Role::Expert {
        return Err(ExpertError::Forbidden(
            "only experts keep their own profile / 仅专家本人可维护个人信息",
        ));
    }
    let mut tx = db.begin().await?;
    let current = expert_of_user(&mut tx, &caller.user.user_id)
        .await?
        .ok_or(ExpertError::NotFound("expert profile"))?;
    let region = match &edit.region {
        Some(r) => check_region(r)?,
        None => current.region.clone(),
    };
    let unavailable = match &edit.unavailable {
        Some(d) => parse_dates(d)?,
        None => current.unavailable.clone(),
    };
    let conflicts = match &edit.conflicts {
        Some(c) => check_conflicts(c)?,
        None => current.conflicts.clone(),
    };
    for c in &conflicts {
        if !org_exists(&mut tx, &c.org_id).await? {
            return Err(ExpertError::UnknownOrg(c.org_id.chars().take(60).collect()));
        }
    }
    q_exec!(
        tx,
        "update expert set region = $1, unavailable = $2, conflicts = $3, updated_at = $4 where expert_id = $5",
        region.clone(),
        json_text(&unavailable),
        json_text(&conflicts),
        to_millis(now),
        current.expert_id.clone()
    )?;
    let digest = crate::store::blob::sha256_hex(
        serde_json_canonicalizer::to_string(&json!({
            "region": region, "unavailable": unavailable, "conflicts": conflicts
        }))
        .unwrap_or_default()
        .as_bytes(),
    );
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.self_edit",
        None,
        json!({"expert_id": current.expert_id, "fields_sha256": digest}),
    )
    .await?;
    let view = load(&mut tx, &current.expert_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// One expert by id.
pub(crate) async fn load(tx: &mut Tx, expert_id: &str) -> Result<ExpertView, ExpertError> {
    if !is_id(expert_id) {
        return Err(ExpertError::NotFound("expert"));
    }
    let sql = format!("select {EXPERT_COLUMNS} from expert where expert_id = $1");
    q_opt!(
        tx,
        ExpertRow,
        sqlx::AssertSqlSafe(sql),
        expert_id.to_string()
    )?
    .ok_or(ExpertError::NotFound("expert"))?
    .view()
}

/// Who may read pool records: operators and regulators, and an expert their own.
fn may_read_pool(caller: &Caller) -> bool {
    matches!(
        caller.user.role,
        crate::identity::Role::Operator | crate::identity::Role::Regulator
    )
}

/// One expert (operators, regulators, or the expert themself).
pub async fn get_expert(
    db: &Db,
    caller: &Caller,
    expert_id: &str,
) -> Result<ExpertView, ExpertError> {
    let mut tx = db.read().await?;
    let view = load(&mut tx, expert_id).await?;
    if may_read_pool(caller) || view.user_id.as_deref() == Some(caller.user.user_id.as_str()) {
        Ok(view)
    } else {
        Err(ExpertError::NotFound("expert"))
    }
}

/// The pool with filters (operators and regulators).
pub async fn list_experts(
    db: &Db,
    caller: &Caller,
    filter: &ExpertFilter,
) -> Result<Vec<ExpertView>, ExpertError> {
    if !may_read_pool(caller) {
        return Err(ExpertError::Forbidden(
            "only operators and regulators read the expert pool / 仅运营和监管人员可查看专家库",
        ));
    }
    let q = filter
        .q
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(like_pattern);
    let specialty = match filter.specialty.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(
            Specialties::builtin()
                .resolve(s)
                .map(|x| format!("%\"{}%", x.code))
                .ok_or_else(|| ExpertError::UnknownSpecialty(s.chars().take(60).collect()))?,
        ),
        _ => None,
    };
    let status = match filter.status.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(
            parse_status(s)
                .map(|x| status_str(x).to_string())
                .ok_or_else(|| invalid("status", "status is active, suspended or barred"))?,
        ),
        _ => None,
    };
    let region = match filter.region.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(format!("{}%", check_region(s)?)),
        _ => None,
    };
    let mut tx = db.read().await?;
    let sql = format!(
        "select {EXPERT_COLUMNS} from expert
         where ($1 is null or name like $1 escape '\\')
           and ($2 is null or specialties like $2)
           and ($3 is null or status = $3)
           and ($4 is null or region like $4)
         order by expert_id limit $5"
    );
    let rows = q_all!(
        tx,
        ExpertRow,
        sqlx::AssertSqlSafe(sql),
        q,
        specialty,
        status,
        region,
        MAX_LIST
    )?;
    rows.into_iter().map(ExpertRow::view).collect()
}

/// The whole pool for a draw, `order by expert_id`, with each expert's past service
/// (confirmed members of earlier draws: tenderee and evaluation date in China time).
pub(crate) async fn load_pool(tx: &mut Tx) -> Result<Vec<Expert>, ExpertError> {
    let served: Vec<(String, String, i64)> = q_all!(
        tx,
        (String, String, i64),
        "select a.expert_id, t.tenderee_org_id, d.evaluation_at
         from expert_assignment a
         join expert_draw d on d.draw_id = a.draw_id
         join tender t on t.tender_id = a.tender_id
         where a.role = 'member' and a.state = 'confirmed'"
    )?;
    let mut last: HashMap<String, Vec<(String, NaiveDate)>> = HashMap::new();
    for (expert, org, at) in served {
        last.entry(expert)
            .or_default()
            .push((org, super::service::china_date(at)));
    }
    let sql = format!("select {EXPERT_COLUMNS} from expert order by expert_id");
    let rows = q_all!(tx, ExpertRow, sqlx::AssertSqlSafe(sql))?;
    rows.into_iter()
        .map(|r| {
            let v = r.view()?;
            let served = last.remove(&v.expert_id).unwrap_or_default();
            Ok(v.to_draw_expert(served))
        })
        .collect()
}

// ---- CSV import ---------------------------------------------------------------------

/// One rejected CSV row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RejectedRow {
    /// The row number as a spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The stable error code.
    pub code: &'static str,
    /// Why, in words.
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Ids of the experts added, in file order.
    pub imported: Vec<String>,
    /// Rows refused, with reasons.
    pub rejected: Vec<RejectedRow>,
}

/// The columns a CSV may have. Required: name, specialties, region, title,
/// years_of_practice, birth_year. Optional: employer (an organisation id or 统一社会信用代码),
/// username (the expert's login), penalised (0/1, yes/no, 是/否), unavailable (dates
/// separated by `;`), conflicts (`org: relation` separated by `;`). Specialties are
/// separated by `;` or `|`.
pub const CSV_COLUMNS: [&str; 11] = [
    "name",
    "specialties",
    "region",
    "title",
    "years_of_practice",
    "birth_year",
    "employer",
    "username",
    "penalised",
    "unavailable",
    "conflicts",
];
const REQUIRED: [&str; 6] = [
    "name",
    "specialties",
    "region",
    "title",
    "years_of_practice",
    "birth_year",
];

/// Splits CSV text (RFC 4180: commas, double-quoted fields with `""` escapes, CRLF or LF)
/// into records with the row number each starts on. A malformed record (an unclosed quote,
/// text after a closing quote) is returned as an error for that row only; parsing resumes
/// at the next line.
///
/// Each physical line is read once: a record whose quoted field spans lines carries its
/// state to the next line rather than being split again from its start, which made a large
/// file with an early unclosed quote cost time quadratic in its number of lines.
pub fn parse_csv(text: &str) -> Vec<(usize, Result<Vec<String>, String>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut lines = text.split('\n').peekable();
    let mut row = 0usize;
    // The record whose quoted field is still open at the end of a line, and its first row.
    let mut open: Option<(usize, Record)> = None;
    while let Some(raw) = lines.next() {
        row += 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let (start_row, mut record) = match open.take() {
            Some((start_row, mut record)) => {
                record.cur.push('\n');
                (start_row, record)
            }
            None if line.trim().is_empty() && lines.peek().is_none() => break,
            None => (row, Record::default()),
        };
        match record.feed(line) {
            Err(why) => out.push((start_row, Err(why))),
            Ok(()) if record.quoted => open = Some((start_row, record)),
            Ok(()) => out.push((start_row, Ok(record.finish()))),
        }
    }
    if let Some((start_row, _)) = open {
        out.push((start_row, Err("unclosed quote / 引号未闭合".into())));
    }
    out
}

/// A record being split, possibly over several physical lines.
#[derive(Default)]
struct Record {
    fields: Vec<String>,
    cur: String,
    quoted: bool,
    was_quoted: bool,
}

impl Record {
    /// Splits one physical line (without its line break) into the record.
    fn feed(&mut self, line: &str) -> Result<(), String> {
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if self.quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        self.cur.push('"');
                    } else {
                        self.quoted = false;
                    }
                } else {
                    self.cur.push(c);
                }
            } else if c == ',' {
                self.fields.push(std::mem::take(&mut self.cur));
                self.was_quoted = false;
            } else if c == '"' && self.cur.is_empty() && !self.was_quoted {
                self.quoted = true;
                self.was_quoted = true;
            } else if self.was_quoted {
                return Err("text after a closing quote / 引号后有多余字符".into());
            } else {
                self.cur.push(c);
            }
        }
        Ok(())
    }

    /// The fields, once the record's last line is fed.
    fn finish(mut self) -> Vec<String> {
        self.fields.push(self.cur);
        self.fields
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split([';', '|', '；'])
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn parse_flag(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "no" | "false" | "否" => Some(false),
        "1" | "yes" | "true" | "是" => Some(true),
        _ => None,
    }
}

/// Maps the header to column positions; a header without the required columns, with an
/// unknown or repeated column, is refused as a whole (422 `BAD_CSV_HEADER`).
pub fn header_map(header: &[String]) -> Result<HashMap<&'static str, usize>, ExpertError> {
    let mut map = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        let Some(col) = CSV_COLUMNS.iter().find(|c| **c == h) else {
            return Err(ExpertError::BadCsvHeader(format!(
                "unknown column {:?}; the columns are {} / 未知列",
                h.chars().take(40).collect::<String>(),
                CSV_COLUMNS.join(",")
            )));
        };
        if map.insert(*col, i).is_some() {
            return Err(ExpertError::BadCsvHeader(format!(
                "column {col} appears twice / 列重复"
            )));
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|c| !map.contains_key(**c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(ExpertError::BadCsvHeader(format!(
            "missing required columns: {} / 缺少必填列",
            missing.join(",")
        )));
    }
    Ok(map)
}

/// Imports experts from CSV (operator). Good rows are added even when others are refused;
/// the report lists each refused row with its number and reason. One transaction, one
/// audit event per expert added and one for the import.
pub async fn import_csv(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    text: &str,
) -> Result<ImportReport, ExpertError> {
    ensure_operator(caller)?;
    if text.len() > MAX_CSV_BYTES {
        return Err(ExpertError::CsvTooLarge);
    }
    let records = parse_csv(text);
    let mut iter = records.into_iter();
    let header = match iter.next() {
        Some((_, Ok(h))) => h,
        Some((_, Err(why))) => return Err(ExpertError::BadCsvHeader(why)),
        None => {
            return Err(ExpertError::BadCsvHeader(
                "the file is empty / 文件为空".into(),
            ));
        }
    };
    let cols = header_map(&header)?;
    let mut report = ImportReport::default();
    let mut tx = db.begin().await?;
    for (row, rec) in iter {
        let fields = match rec {
            Ok(f) => f,
            Err(reason) => {
                report.rejected.push(RejectedRow {
                    row,
                    code: "MALFORMED_CSV_ROW",
                    reason,
                });
                continue;
            }
        };
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue; // blank line
        }
        match import_row(&mut tx, now, caller, &cols, &header, &fields, row).await {
            Ok(id) => report.imported.push(id),
            Err(e) => report.rejected.push(RejectedRow {
                row,
                code: e.code(),
                reason: e.to_string(),
            }),
        }
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.import",
        None,
        json!({"imported": report.imported.len(), "rejected": report.rejected.len(),
               "csv_sha256": crate::store::blob::sha256_hex(text.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// One CSV data row read against the header: the profile as far as the row alone gives it,
/// and the two columns that need the database (the caller resolves them into
/// `input.employer_org_id` and `input.user_id`, then validates).
#[derive(Clone, Debug)]
pub struct CsvRow {
    /// The profile's fields; `employer_org_id` and `user_id` are still `None`.
    pub input: ExpertInput,
    /// The `employer` column, trimmed: an organisation id or 统一社会信用代码 (may be empty).
    pub employer: String,
    /// The `username` column, trimmed (may be empty).
    pub username: String,
}

/// Reads one data row (`fields`) against the header's columns (`cols`, from [`header_map`],
/// for a header of `header_len` columns): field count, whole numbers, the penalised flag,
/// and the lists. Pure; [`validate`] checks the profile afterwards.
pub fn parse_csv_row(
    cols: &HashMap<&'static str, usize>,
    header_len: usize,
    fields: &[String],
) -> Result<CsvRow, ExpertError> {
    if fields.len() != header_len {
        return Err(ExpertError::Invalid {
            field: "row",
            message: format!(
                "row has {} fields, the header {header_len} / 字段数与表头不符",
                fields.len(),
            ),
        });
    }
    let get = |c: &str| {
        cols.get(c)
            .and_then(|i| fields.get(*i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let num = |c: &'static str| -> Result<i64, ExpertError> {
        get(c)
            .parse::<i64>()
            .map_err(|_| invalid(c, format!("{c} must be a whole number / {c} 须为整数")))
    };
    let conflicts = split_list(&get("conflicts"))
        .into_iter()
        .map(|c| {
            let (org, relation) = c.split_once(':').unwrap_or((c.as_str(), ""));
            Conflict {
                org_id: org.trim().to_string(),
                relation: relation.trim().to_string(),
            }
        })
        .collect();
    let input = ExpertInput {
        name: get("name"),
        specialties: split_list(&get("specialties")),
        region: get("region"),
        employer_org_id: None,
        title: get("title"),
        years_of_practice: u32::try_from(num("years_of_practice")?)
            .map_err(|_| invalid("years_of_practice", "years of practice must be 0–80"))?,
        birth_year: i32::try_from(num("birth_year")?)
            .map_err(|_| invalid("birth_year", "birth year out of range"))?,
        penalised: parse_flag(&get("penalised"))
            .ok_or_else(|| invalid("penalised", "penalised is 0/1, yes/no or 是/否"))?,
        user_id: None,
        unavailable: split_list(&get("unavailable")),
        conflicts,
    };
    Ok(CsvRow {
        input,
        employer: get("employer"),
        username: get("username"),
    })
}

async fn import_row(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    cols: &HashMap<&'static str, usize>,
    header: &[String],
    fields: &[String],
    row: usize,
) -> Result<String, ExpertError> {
    let CsvRow {
        mut input,
        employer,
        username,
    } = parse_csv_row(cols, header.len(), fields)?;
    input.employer_org_id = if employer.is_empty() {
        None
    } else if is_id(&employer) {
        Some(employer)
    } else {
        let found: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select org_id from organisation where uscc = $1",
            employer.clone()
        )?;
        Some(
            found
                .map(|(id,)| id)
                .ok_or_else(|| ExpertError::UnknownOrg(employer.chars().take(60).collect()))?,
        )
    };
    input.user_id = if username.is_empty() {
        None
    } else {
        let found: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select user_id from app_user where username = $1",
            username.clone()
        )?;
        Some(found.map(|(id,)| id).ok_or(ExpertError::BadExpertUser)?)
    };
    let p = validate(&input, now.year())?;
    check_refs(tx, &p, None).await?;
    let id = insert(tx, now, &p).await?;
    audit::append(
        tx,
        now,
        &caller.actor,
        "expert.add",
        None,
        json!({"expert_id": id, "profile_sha256": profile_digest(&p), "source": "csv", "row": row}),
    )
    .await?;
    Ok(id)
}

/// The JSON the pages show for a report.
pub fn report_json(r: &ImportReport) -> Value {
    json!({"imported": r.imported.len(), "rejected": r.rejected})
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_newlines_and_bad_rows() {
        let text = "name,specialties\r\n\"Li, Wei\",A01\n\"multi\nline\",A05\nbad\"quote,A01\n\"x\"y,A01\n\"open,A01\n";
        let recs = parse_csv(text);
        assert_eq!(recs[0], (1, Ok(vec!["name".into(), "specialties".into()])));
        assert_eq!(recs[1], (2, Ok(vec!["Li, Wei".into(), "A01".into()])));
        assert_eq!(recs[2], (3, Ok(vec!["multi\nline".into(), "A05".into()])));
        // A quote inside an unquoted field is kept as text (lenient, like spreadsheets).
        assert_eq!(recs[3].0, 5);
        assert!(recs[4].1.is_err(), "text after a closing quote");
        assert_eq!(recs[5].0, 7);
        assert!(recs[5].1.is_err(), "unclosed quote at the end");
    }

    /// An unclosed quote near the top of a large file: every further line used to split the
    /// whole record again from its start, so an 8 MiB file took hours. Each line is now read
    /// once.
    #[test]
    fn an_unclosed_quote_in_a_large_file_is_read_once() {
        let text = format!("name,specialties\n\"{}", "x,\n".repeat(MAX_CSV_BYTES / 3));
        let recs = parse_csv(&text);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1], (2, Err("unclosed quote / 引号未闭合".to_string())));
    }

    #[test]
    fn quoted_fields_span_lines_and_rows_count_physical_lines() {
        let text = "a,b\r\n\"one\r\ntwo\"\"\",x\n\"three\"y\nz,\"\"\n\n";
        let recs = parse_csv(text);
        assert_eq!(recs[1], (2, Ok(vec!["one\ntwo\"".into(), "x".into()])));
        assert!(recs[2].1.is_err());
        assert_eq!(recs[2].0, 4);
        assert_eq!(recs[3], (5, Ok(vec!["z".into(), String::new()])));
        assert_eq!(recs[4], (6, Ok(vec![String::new()])));
        assert_eq!(recs.len(), 5);
    }

    #[test]
    fn header_must_have_required_known_columns() {
        let h = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert!(
            header_map(&h(
                "name,specialties,region,title,years_of_practice,birth_year"
            ))
            .is_ok()
        );
        assert!(matches!(
            header_map(&h("name,specialties")),
            Err(ExpertError::BadCsvHeader(_))
        ));
        assert!(matches!(
            header_map(&h(
                "name,specialties,region,title,years_of_practice,birth_year,shoe_size"
            )),
            Err(ExpertError::BadCsvHeader(_))
        ));
    }

    #[test]
    fn profile_validation() {
        let mut input = ExpertInput {
            name: "王工".into(),
            specialties: vec!["A0101".into(), "A0101".into()],
            region: "330106".into(),
            employer_org_id: None,
            title: "正高".into(),
            years_of_practice: 12,
            birth_year: 1970,
            penalised: false,
            user_id: None,
            unavailable: vec!["2030-01-02".into()],
            conflicts: vec![],
        };
        let p = validate(&input, 2025).unwrap();
        assert_eq!(p.specialties, vec!["A0101".to_string()]);
        assert_eq!(p.title, Title::Senior);
        input.region = "33x".into();
        assert!(matches!(
            validate(&input, 2025),
            Err(ExpertError::Invalid {
                field: "region",
                ..
            })
        ));
        input.region = "33".into();
        input.specialties = vec!["Z99".into()];
        assert!(matches!(
            validate(&input, 2025),
            Err(ExpertError::UnknownSpecialty(_))
        ));
    }
}
