//! The expert pool (专家库): adding, editing, suspending and barring experts (operators),
//! experts keeping their own region, unavailable dates and declared conflicts, CSV import
//! with a report of rejected rows, and loading the pool for a draw (`order by expert_id`,
//! which the draw core needs to skip its sort: docs/expert-draw.md "Performance").
//!
//! The profile and its pure validation are here; [`edit`] changes the pool, [`query`] reads
//! it, [`import`] reads a CSV.
//!
//! Every change appends its audit event in the same transaction. The public log carries the
//! expert id and a SHA-256 of the stored profile, not the person's data: the pool is
//! personal data, and the digest is enough to show later that a profile was not altered.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::eligibility::{Expert, ExpertStatus, Title};
use super::error::{ExpertError, invalid};
use super::specialty::Specialties;
use crate::clock::from_millis;

mod edit;
mod import;
mod query;

pub use edit::{StatusChange, add_expert, change_status, edit_expert, edit_own_profile};
pub use import::{
    CSV_COLUMNS, CsvRow, ImportReport, ImportSummary, RejectedRow, header_map, import_csv,
    parse_csv, parse_csv_row,
};
pub use query::{expert_of_user, get_expert, list_experts, my_profile};
pub(crate) use query::{load, load_pool};

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
    ExpertError::corrupt(format!("{what}: {e}"))
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
