//! Reading the pool: one expert, the filtered list, an expert's own record, and the whole
//! pool for a draw.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::*;
use crate::clock::china_date;
use crate::identity::Caller;
use crate::ids::is_id;
use crate::store::{Db, Tx, like_pattern};
use crate::{q_all, q_opt};

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
        .ok_or(ExpertError::not_found("expert profile"))
}

/// One expert by id.
pub(crate) async fn load(tx: &mut Tx, expert_id: &str) -> Result<ExpertView, ExpertError> {
    if !is_id(expert_id) {
        return Err(ExpertError::not_found("expert"));
    }
    let sql = format!("select {EXPERT_COLUMNS} from expert where expert_id = $1");
    q_opt!(
        tx,
        ExpertRow,
        sqlx::AssertSqlSafe(sql),
        expert_id.to_string()
    )?
    .ok_or(ExpertError::not_found("expert"))?
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
        Err(ExpertError::not_found("expert"))
    }
}

/// The pool with filters (operators and regulators).
pub async fn list_experts(
    db: &Db,
    caller: &Caller,
    filter: &ExpertFilter,
) -> Result<Vec<ExpertView>, ExpertError> {
    if !may_read_pool(caller) {
        return Err(ExpertError::forbidden(
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
        last.entry(expert).or_default().push((org, china_date(at)));
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
