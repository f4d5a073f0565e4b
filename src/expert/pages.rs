//! Pages of the expert feature: the operator's pool (list with filters, add/edit, status,
//! CSV upload with its report), the expert's "my assignments" (confirm/decline, passkey
//! check-in, own profile), the agent's draw page (request, status, anonymous numbers), and
//! the draw page that shows each viewer what they may see (the supervisor's input form, the
//! regulator's names, the emergency check-in).

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use chrono::Duration;
use serde::Deserialize;

use super::checkin::{self, CommitteeView, EmergencyCheckin};
use super::eligibility::RegionRestriction;
use super::pool::{
    self, Conflict, ExpertFilter, ExpertInput, ExpertView, ImportReport, SelfEdit, StatusChange,
};
use super::service::{self, DrawRequestInput, DrawView, MyAssignment, QuotaInput};
use crate::http::page::{Base, OrPage, PageResult, render, require_page};
use crate::http::{ApiError, ApiForm, AppState, Ctx};
use crate::identity::Caller;
use crate::identity::Role;
use crate::tender::pages::china_local_to_utc;

fn caller(ctx: &Ctx) -> PageResult<Caller> {
    Caller::from_ctx(ctx).or_page(ctx)
}

fn words(s: &str) -> Vec<String> {
    s.split([' ', ',', '，', ';', '；', '\n', '\r', '\t'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn conflicts(s: &str) -> Vec<Conflict> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (org, rel) = l.split_once([':', '：']).unwrap_or((l, ""));
            Conflict {
                org_id: org.trim().to_string(),
                relation: rel.trim().to_string(),
            }
        })
        .collect()
}

// ---- operator: the pool -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "expert_list.html")]
struct ListPage {
    base: Base,
    experts: Vec<ExpertView>,
    q: String,
    specialty: String,
    status: String,
    region: String,
}

async fn list_page(
    State(state): State<AppState>,
    ctx: Ctx,
    crate::http::ApiQuery(filter): crate::http::ApiQuery<ExpertFilter>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator, Role::Regulator])?;
    let experts = pool::list_experts(&state.db, &caller(&ctx)?, &filter)
        .await
        .or_page(&ctx)?;
    Ok(render(&ListPage {
        base: Base::new(&ctx),
        experts,
        q: filter.q.unwrap_or_default(),
        specialty: filter.specialty.unwrap_or_default(),
        status: filter.status.unwrap_or_default(),
        region: filter.region.unwrap_or_default(),
    }))
}

#[derive(Template)]
#[template(path = "expert_form.html")]
struct FormPage {
    base: Base,
    expert: Option<ExpertView>,
    form: ExpertForm,
    error: Option<String>,
}

/// The add/edit form.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ExpertForm {
    name: String,
    specialties: String,
    region: String,
    #[serde(default)]
    employer_org_id: String,
    title: String,
    years_of_practice: String,
    birth_year: String,
    #[serde(default)]
    penalised: Option<String>,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    unavailable: String,
    #[serde(default)]
    conflicts: String,
    #[serde(default)]
    #[allow(dead_code)]
    csrf: String,
}

impl ExpertForm {
    fn from_view(v: &ExpertView) -> Self {
        Self {
            name: v.name.clone(),
            specialties: v.specialties_text(),
            region: v.region.clone(),
            employer_org_id: v.employer_org_id.clone().unwrap_or_default(),
            title: pool::title_str(v.title).to_string(),
            years_of_practice: v.years_of_practice.to_string(),
            birth_year: v.birth_year.to_string(),
            penalised: v.penalised.then(|| "on".to_string()),
            user_id: v.user_id.clone().unwrap_or_default(),
            unavailable: v.unavailable_text(),
            conflicts: v.conflicts_text(),
            csrf: String::new(),
        }
    }

    fn input(&self) -> Result<ExpertInput, ApiError> {
        let num = |field: &str, s: &str| {
            s.trim().parse::<i64>().map_err(|_| {
                ApiError::unprocessable(
                    "INVALID_EXPERT_FIELD",
                    format!("{field} must be a whole number / {field} 须为整数"),
                )
            })
        };
        Ok(ExpertInput {
            name: self.name.clone(),
            specialties: words(&self.specialties),
            region: self.region.clone(),
            employer_org_id: Some(self.employer_org_id.clone()),
            title: self.title.clone(),
            years_of_practice: u32::try_from(num("years_of_practice", &self.years_of_practice)?)
                .unwrap_or(u32::MAX),
            birth_year: i32::try_from(num("birth_year", &self.birth_year)?).unwrap_or(0),
            penalised: self.penalised.is_some(),
            user_id: Some(self.user_id.clone()),
            unavailable: words(&self.unavailable),
            conflicts: conflicts(&self.conflicts),
        })
    }

    fn is_title(&self, t: &str) -> bool {
        self.title == t
    }
}

const TITLES: [(&str, &str); 6] = [
    ("none", "无 none"),
    ("junior", "初级 junior"),
    ("intermediate", "中级 intermediate"),
    ("associate_senior", "副高 associate senior"),
    ("senior", "正高 senior"),
    ("senior_equivalent", "同等专业水平 equivalent"),
];

impl FormPage {
    fn titles(&self) -> &'static [(&'static str, &'static str)] {
        &TITLES
    }
}

async fn new_page(ctx: Ctx) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    Ok(render(&FormPage {
        base: Base::new(&ctx),
        expert: None,
        form: ExpertForm {
            title: "senior".into(),
            ..ExpertForm::default()
        },
        error: None,
    }))
}

async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiForm(form): ApiForm<ExpertForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let result = match form.input() {
        Ok(input) => pool::add_expert(&state.db, state.clock.now(), &caller(&ctx)?, &input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(e) => Ok(Redirect::to(&format!("/operator/experts/{}", e.expert_id)).into_response()),
        Err(e) if e.status.is_client_error() => Ok(render(&FormPage {
            base: Base::new(&ctx),
            expert: None,
            form,
            error: Some(e.message),
        })),
        Err(e) => Err(e).or_page(&ctx),
    }
}

async fn edit_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> PageResult {
    require_page(&ctx, &[Role::Operator, Role::Regulator])?;
    let e = pool::get_expert(&state.db, &caller(&ctx)?, &id)
        .await
        .or_page(&ctx)?;
    Ok(render(&FormPage {
        base: Base::new(&ctx),
        form: ExpertForm::from_view(&e),
        expert: Some(e),
        error: None,
    }))
}

async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<ExpertForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let c = caller(&ctx)?;
    let result = match form.input() {
        Ok(input) => pool::edit_expert(&state.db, state.clock.now(), &c, &id, &input)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/operator/experts/{id}")).into_response()),
        Err(e) if e.status.is_client_error() => {
            let current = pool::get_expert(&state.db, &c, &id).await.or_page(&ctx)?;
            Ok(render(&FormPage {
                base: Base::new(&ctx),
                expert: Some(current),
                form,
                error: Some(e.message),
            }))
        }
        Err(e) => Err(e).or_page(&ctx),
    }
}

#[derive(Deserialize)]
struct StatusForm {
    action: String,
    reason: String,
    #[allow(dead_code)]
    #[serde(default)]
    csrf: String,
}

async fn status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<StatusForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let change = match form.action.as_str() {
        "suspend" => StatusChange::Suspend,
        "bar" => StatusChange::Bar,
        "reinstate" => StatusChange::Reinstate,
        _ => {
            return Err(ApiError::unprocessable("INVALID_FORM", "unknown action")).or_page(&ctx);
        }
    };
    pool::change_status(
        &state.db,
        state.clock.now(),
        &caller(&ctx)?,
        &id,
        change,
        &form.reason,
    )
    .await
    .or_page(&ctx)?;
    Ok(Redirect::to(&format!("/operator/experts/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "expert_import.html")]
struct ImportPage {
    base: Base,
    report: Option<ImportReport>,
    error: Option<String>,
}

async fn import_page(ctx: Ctx) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    Ok(render(&ImportPage {
        base: Base::new(&ctx),
        report: None,
        error: None,
    }))
}

/// The upload form posts `multipart/form-data` with the file as `csv` (CSRF token in the
/// query string, as for document uploads).
async fn import_upload(State(state): State<AppState>, ctx: Ctx, mut form: Multipart) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let mut text = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("csv") {
            let bytes = field
                .bytes()
                .await
                .map_err(|e| super::ExpertError::BadCsvHeader(format!("upload failed: {e}")));
            text = Some(bytes.and_then(|b| {
                String::from_utf8(b.to_vec()).map_err(|_| {
                    super::ExpertError::BadCsvHeader(
                        "the file is not UTF-8 text / 文件须为 UTF-8 编码".into(),
                    )
                })
            }));
        }
    }
    let result = match text {
        Some(Ok(t)) => pool::import_csv(&state.db, state.clock.now(), &caller(&ctx)?, &t).await,
        Some(Err(e)) => Err(e),
        None => Err(super::ExpertError::BadCsvHeader(
            "no file / 未选择文件".into(),
        )),
    };
    let (report, error) = match result {
        Ok(r) => (Some(r), None),
        Err(e) => {
            let api = ApiError::from(e);
            if !api.status.is_client_error() {
                return Err(api).or_page(&ctx);
            }
            (None, Some(api.message))
        }
    };
    Ok(render(&ImportPage {
        base: Base::new(&ctx),
        report,
        error,
    }))
}

// ---- expert: my assignments -----------------------------------------------------------------

#[derive(Template)]
#[template(path = "expert_assignments.html")]
struct AssignmentsPage {
    base: Base,
    assignments: Vec<MyAssignment>,
    profile: Option<ExpertView>,
    now: chrono::DateTime<chrono::Utc>,
}

impl AssignmentsPage {
    fn checkin_open(&self, a: &MyAssignment) -> bool {
        a.role == "member"
            && a.state == "confirmed"
            && !a.checked_in
            && self.now >= a.checkin_opens_at
            && self.now <= a.checkin_closes_at
    }
}

async fn assignments_page(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    require_page(&ctx, &[Role::Expert])?;
    let c = caller(&ctx)?;
    let now = state.clock.now();
    let assignments = service::my_assignments(&state.db, now, &c)
        .await
        .or_page(&ctx)?;
    let profile = pool::my_profile(&state.db, &c).await.ok();
    Ok(render(&AssignmentsPage {
        base: Base::new(&ctx),
        assignments,
        profile,
        now,
    }))
}

#[derive(Deserialize)]
struct DeclineForm {
    #[serde(default)]
    reason: String,
    #[allow(dead_code)]
    #[serde(default)]
    csrf: String,
}

async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(draw_id): Path<String>,
) -> PageResult {
    require_page(&ctx, &[Role::Expert])?;
    service::respond(
        &state.db,
        state.clock.now(),
        &caller(&ctx)?,
        &draw_id,
        true,
        None,
    )
    .await
    .or_page(&ctx)?;
    Ok(Redirect::to("/expert/assignments").into_response())
}

async fn decline(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(draw_id): Path<String>,
    ApiForm(form): ApiForm<DeclineForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Expert])?;
    service::respond(
        &state.db,
        state.clock.now(),
        &caller(&ctx)?,
        &draw_id,
        false,
        Some(&form.reason),
    )
    .await
    .or_page(&ctx)?;
    Ok(Redirect::to("/expert/assignments").into_response())
}

#[derive(Deserialize)]
struct ProfileForm {
    region: String,
    #[serde(default)]
    unavailable: String,
    #[serde(default)]
    conflicts: String,
    #[allow(dead_code)]
    #[serde(default)]
    csrf: String,
}

async fn save_profile(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiForm(form): ApiForm<ProfileForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Expert])?;
    let edit = SelfEdit {
        region: Some(form.region),
        unavailable: Some(words(&form.unavailable)),
        conflicts: Some(conflicts(&form.conflicts)),
    };
    pool::edit_own_profile(&state.db, state.clock.now(), &caller(&ctx)?, &edit)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to("/expert/assignments").into_response())
}

// ---- agent: request a draw; everyone: the draw page -----------------------------------------

#[derive(Template)]
#[template(path = "expert_draw_request.html")]
struct RequestPage {
    base: Base,
    code: String,
    draws: Vec<DrawView>,
    committee: Option<CommitteeView>,
    supervisors: Vec<crate::identity::model::UserView>,
    error: Option<String>,
}

async fn supervisors(state: &AppState) -> Vec<crate::identity::model::UserView> {
    crate::identity::service::list_users(&state.db)
        .await
        .map(|users| {
            users
                .into_iter()
                .filter(|u| u.role == "regulator" && u.status == "active")
                .collect()
        })
        .unwrap_or_default()
}

async fn request_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    require_page(&ctx, &[Role::Agent, Role::Operator, Role::Regulator])?;
    let c = caller(&ctx)?;
    let now = state.clock.now();
    let draws = service::list_draws(&state.db, now, &c, &code)
        .await
        .or_page(&ctx)?;
    let committee = checkin::committee(&state.db, now, &c, &code).await.ok();
    Ok(render(&RequestPage {
        base: Base::new(&ctx),
        code,
        draws,
        committee,
        supervisors: supervisors(&state).await,
        error: None,
    }))
}

#[derive(Deserialize)]
struct RequestForm {
    supervisor_user_id: String,
    /// Lines "A0101 3 1" (specialty, members, alternates); empty: the tender's quotas.
    #[serde(default)]
    quotas: String,
    #[serde(default)]
    alternates: String,
    #[serde(default)]
    regions: String,
    #[serde(default)]
    region_reason: String,
    evaluation_at: String,
    evaluation_place: String,
    #[serde(default)]
    excluded: String,
    #[allow(dead_code)]
    #[serde(default)]
    csrf: String,
}

fn parse_quota_lines(text: &str) -> Result<Option<Vec<QuotaInput>>, ApiError> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    lines
        .into_iter()
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let bad = || {
                ApiError::unprocessable(
                    "INVALID_QUOTAS",
                    format!("“{l}”: write a quota as “A0101 3 1” (specialty, members, alternates) / 配额格式：专业 人数 候补数"),
                )
            };
            let (spec, count, alt) = match parts.as_slice() {
                [s, c] => (*s, *c, "0"),
                [s, c, a] => (*s, *c, *a),
                _ => return Err(bad()),
            };
            Ok(QuotaInput {
                specialty: spec.to_string(),
                count: count.parse().map_err(|_| bad())?,
                alternates: alt.parse().map_err(|_| bad())?,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

async fn request_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(form): ApiForm<RequestForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Agent])?;
    let c = caller(&ctx)?;
    let now = state.clock.now();
    let input = (|| -> Result<DrawRequestInput, ApiError> {
        let regions = words(&form.regions);
        Ok(DrawRequestInput {
            supervisor_user_id: form.supervisor_user_id.clone(),
            quotas: parse_quota_lines(&form.quotas)?,
            alternates: form.alternates.trim().parse().unwrap_or(0),
            region: (!regions.is_empty()).then(|| RegionRestriction {
                regions,
                reason: form.region_reason.clone(),
            }),
            evaluation_at: china_local_to_utc("evaluation_at", &form.evaluation_at)?,
            evaluation_place: form.evaluation_place.clone(),
            excluded_experts: words(&form.excluded),
            confirm_minutes: None,
            checkin_opens_minutes_before: None,
            checkin_closes_minutes_after: None,
        })
    })();
    let result = match input {
        Ok(i) => service::request_draw(&state.db, now, &c, &code, &i)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(d) => Ok(Redirect::to(&format!("/draws/{}", d.draw_id)).into_response()),
        Err(e) if e.status.is_client_error() && e.status.as_u16() != 404 => {
            let draws = service::list_draws(&state.db, now, &c, &code)
                .await
                .or_page(&ctx)?;
            Ok(render(&RequestPage {
                base: Base::new(&ctx),
                code,
                draws,
                committee: None,
                supervisors: supervisors(&state).await,
                error: Some(e.message),
            }))
        }
        Err(e) => Err(e).or_page(&ctx),
    }
}

#[derive(Template)]
#[template(path = "expert_draw.html")]
struct DrawPage {
    base: Base,
    d: DrawView,
    is_supervisor: bool,
    error: Option<String>,
}

impl DrawPage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        self.base.when(t)
    }
}

async fn draw_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> PageResult {
    require_page(&ctx, &[Role::Agent, Role::Operator, Role::Regulator])?;
    let c = caller(&ctx)?;
    let d = service::view_draw(&state.db, state.clock.now(), &c, &id)
        .await
        .or_page(&ctx)?;
    Ok(render(&DrawPage {
        is_supervisor: d.supervisor_user_id == c.user.user_id,
        base: Base::new(&ctx),
        d,
        error: None,
    }))
}

#[derive(Deserialize)]
struct InputForm {
    input: String,
    #[allow(dead_code)]
    #[serde(default)]
    csrf: String,
}

async fn input_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<InputForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Regulator])?;
    let c = caller(&ctx)?;
    let now = state.clock.now();
    match service::enter_supervisor_input(
        &state.db,
        state.notifier.as_ref(),
        now,
        &c,
        &id,
        &form.input,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/draws/{id}")).into_response()),
        Err(e) => {
            let api = ApiError::from(e);
            if !api.status.is_client_error() || api.status.as_u16() == 404 {
                return Err(api).or_page(&ctx);
            }
            let d = service::view_draw(&state.db, now, &c, &id)
                .await
                .or_page(&ctx)?;
            Ok(render(&DrawPage {
                is_supervisor: true,
                base: Base::new(&ctx),
                d,
                error: Some(api.message),
            }))
        }
    }
}

#[derive(Deserialize)]
struct EmergencyForm {
    code: String,
    member_no: i64,
    reason: String,
    #[allow(dead_code)]
    #[serde(default)]
    csrf: String,
}

async fn emergency_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<EmergencyForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Regulator])?;
    checkin::emergency_checkin(
        &state.db,
        state.clock.now(),
        &caller(&ctx)?,
        &form.code,
        &EmergencyCheckin {
            member_no: form.member_no,
            reason: form.reason,
        },
    )
    .await
    .or_page(&ctx)?;
    Ok(Redirect::to(&format!("/draws/{id}")).into_response())
}

/// A datetime-local default: tomorrow 09:00 China time.
pub fn default_evaluation_local(now: chrono::DateTime<chrono::Utc>) -> String {
    (crate::clock::china_date(now.timestamp_millis()) + Duration::days(1))
        .and_hms_opt(9, 0, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// The expert pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/operator/experts", get(list_page).post(create))
        .route("/operator/experts/new", get(new_page))
        .route(
            "/operator/experts/import",
            get(import_page).post(import_upload),
        )
        .route("/operator/experts/{id}", get(edit_page).post(save))
        .route("/operator/experts/{id}/status", post(status))
        .route("/expert/assignments", get(assignments_page))
        .route("/expert/assignments/{draw_id}/confirm", post(confirm))
        .route("/expert/assignments/{draw_id}/decline", post(decline))
        .route("/expert/profile", post(save_profile))
        .route(
            "/agent/tenders/{code}/draw",
            get(request_page).post(request_submit),
        )
        .route("/draws/{id}", get(draw_page))
        .route("/draws/{id}/supervisor-input", post(input_submit))
        .route("/draws/{id}/emergency-checkin", post(emergency_submit))
}
