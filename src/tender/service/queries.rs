//! The reads of the portal and the workspace: the public list and its search, the agent's
//! tenders, one tender with its documents, amendments and answers, and the user's notices.

use chrono::{DateTime, Utc};

use super::super::model::{Notice, NoticeRow, SummaryRow, Tender, TenderDetail, TenderSummary};
use super::common::{amendments_of, custodians_of, documents_of, find_tender, questions_of};
use super::{AGENTS_ONLY, MAX_PAGE, TenderError, may_read_all};
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::{Role, SessionUser};
use crate::ids::is_id;
use crate::store::{Db, Tx, like_pattern};
use crate::{q_all, q_exec, q_one};

macro_rules! summary_select {
    () => {
        "select t.tender_id, t.code, t.title, t.category, t.procedure, tt.name as tenderee_name,
                t.state, t.estimated_price_fen, t.bid_deadline_at, t.published_at
         from tender t join organisation tt on tt.org_id = t.tenderee_org_id"
    };
}

/// Published, closed and cancelled (and later) tenders, newest first; `query` is a substring
/// search over title and description (Chinese works: no tokenising needed for LIKE).
pub async fn list_public(
    db: &Db,
    query: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<Vec<TenderSummary>, TenderError> {
    let limit = i64::from(limit.clamp(1, MAX_PAGE));
    let offset = i64::from(offset);
    let mut tx = db.read().await?;
    let rows = match query.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            let pattern = like_pattern(&q.chars().take(100).collect::<String>());
            q_all!(
                tx,
                SummaryRow,
                concat!(
                    summary_select!(),
                    " where t.published_at is not null
                      and (t.title like $1 escape '\\' or t.description like $1 escape '\\')
                      order by t.published_at desc, t.code limit $2 offset $3"
                ),
                pattern,
                limit,
                offset
            )?
        }
        None => q_all!(
            tx,
            SummaryRow,
            concat!(
                summary_select!(),
                " where t.published_at is not null order by t.published_at desc, t.code limit $1 offset $2"
            ),
            limit,
            offset
        )?,
    };
    rows.into_iter()
        .map(|r| r.into_summary().map_err(|e| Common::Corrupt(e).into()))
        .collect()
}

/// How many tenders [`list_public`] would list in total (for pagination).
pub async fn count_public(db: &Db, query: Option<&str>) -> Result<u64, TenderError> {
    let mut tx = db.read().await?;
    let (n,) = match query.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            let pattern = like_pattern(&q.chars().take(100).collect::<String>());
            q_one!(
                tx,
                (i64,),
                "select count(*) from tender t where t.published_at is not null
                 and (t.title like $1 escape '\\' or t.description like $1 escape '\\')",
                pattern
            )?
        }
        None => q_one!(
            tx,
            (i64,),
            "select count(*) from tender t where t.published_at is not null"
        )?,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The tenders of the caller's agent organisation, any state, newest first (workspace).
pub async fn list_mine(db: &Db, user: &SessionUser) -> Result<Vec<TenderSummary>, TenderError> {
    if user.role != Role::Agent {
        return Err(Common::Forbidden(AGENTS_ONLY).into());
    }
    let org = user.org_id.clone().ok_or(TenderError::NoOrganisation)?;
    let mut tx = db.read().await?;
    let rows = q_all!(
        tx,
        SummaryRow,
        concat!(
            summary_select!(),
            " where t.agent_org_id = $1 order by t.updated_at desc, t.code"
        ),
        org
    )?;
    rows.into_iter()
        .map(|r| r.into_summary().map_err(|e| Common::Corrupt(e).into()))
        .collect()
}

async fn detail(
    tx: &mut Tx,
    tender: Tender,
    viewer: Option<&SessionUser>,
) -> Result<TenderDetail, TenderError> {
    let documents = documents_of(tx, &tender.tender_id).await?;
    let amendments = amendments_of(tx, &tender.tender_id).await?;
    let questions = questions_of(tx, &tender.tender_id, true)
        .await?
        .into_iter()
        .map(|q| q.view(viewer.map(|u| u.user_id.as_str()), false))
        .collect();
    let custodian_count =
        u32::try_from(custodians_of(tx, &tender.tender_id).await?.len()).unwrap_or(u32::MAX);
    Ok(TenderDetail {
        tender,
        documents,
        amendments,
        questions,
        custodian_count,
    })
}

/// A public tender with its documents, amendments and answered questions (no askers);
/// drafts are "not found".
pub async fn get_public(db: &Db, code: &str) -> Result<TenderDetail, TenderError> {
    get_tender(db, None, code).await
}

/// Like [`get_public`], but the owning agent, operators and regulators also see drafts.
pub async fn get_tender(
    db: &Db,
    viewer: Option<&SessionUser>,
    code: &str,
) -> Result<TenderDetail, TenderError> {
    let mut tx = db.read().await?;
    let tender = find_tender(&mut tx, code).await?;
    if !tender.is_public() && !may_read_all(viewer, &tender) {
        return Err(Common::NotFound("tender").into());
    }
    detail(&mut tx, tender, viewer).await
}

/// The caller's notices, newest first.
pub async fn list_notices(db: &Db, user_id: &str) -> Result<Vec<Notice>, TenderError> {
    let mut tx = db.read().await?;
    let rows = q_all!(
        tx,
        NoticeRow,
        "select n.notice_id, n.tender_id, t.code as tender_code, n.kind, n.body, n.created_at, n.read_at
         from notice n left join tender t on t.tender_id = n.tender_id
         where n.user_id = $1 order by n.created_at desc, n.notice_id desc limit 200",
        user_id.to_string()
    )?;
    Ok(rows.into_iter().map(Notice::from).collect())
}

/// Marks one of the caller's notices read (reading is not an audited state change: it
/// concerns only the reader's inbox).
pub async fn mark_notice_read(
    db: &Db,
    now: DateTime<Utc>,
    user_id: &str,
    notice_id: &str,
) -> Result<(), TenderError> {
    if !is_id(notice_id) {
        return Err(Common::NotFound("notice").into());
    }
    let mut tx = db.begin().await?;
    let n = q_exec!(
        tx,
        "update notice set read_at = coalesce(read_at, $1) where notice_id = $2 and user_id = $3",
        to_millis(now),
        notice_id.to_string(),
        user_id.to_string()
    )?;
    if n == 0 {
        return Err(Common::NotFound("notice").into());
    }
    tx.commit().await?;
    Ok(())
}
