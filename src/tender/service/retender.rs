//! Re-tendering (重新招标): a failed tender (流标, fewer valid bids than the rulebook's
//! minimum, 招标投标法 第28条 / 政府采购法 第36条) is re-published as a new draft linked to
//! it; both show the link once the new one is published.
//!
//! What the law allows beyond re-tendering is the rulebook's `second_failure` rule:
//! - works (工程建设项目施工招标投标办法 第38条): re-tender; after a second failure a project
//!   that needs approval may stop tendering with the approving authority's consent — outside
//!   the platform, so it is surfaced, not enforced; the procedure cannot change here;
//! - government procurement (政府采购法 第36、37条): re-tender, or change the procurement
//!   method with the approval of the procurement supervision department — enforced: a
//!   different procedure needs the approval's reference (批准文号), which the audit records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::checks::{check_text, validate};
use super::common::find_tender;
use super::lifecycle::{Link, insert_draft};
use super::{AGENTS_ONLY, Caller, TenderError, ensure_owner};
use crate::error::Common;
use crate::identity::Role;
use crate::q_opt;
use crate::store::{Db, Tx};
use crate::tender::model::{Tender, TenderInput, TenderState};
use crate::tender::rulebook::{FailureRule, Rulebooks, SecondFailure};
use crate::text::Lines;

/// Longest chain of re-tenders walked back when counting attempts.
const MAX_CHAIN: u32 = 50;

/// The new tender's terms, and the approval that allows a change of procedure.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetenderInput {
    /// The new tender, drafted like any other (a new code, new dates).
    pub tender: TenderInput,
    /// Reference of the approval (批准文号) for a change of procedure, where the rulebook
    /// allows one.
    #[serde(default)]
    pub approval_ref: Option<String>,
}

/// What the law allows after a second failure, shown to the agent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SecondFailureNotice {
    /// The failed tender is the n-th failure in its chain of re-tenders (2 or more).
    pub failures: u32,
    /// The rule, with its article.
    pub rule: FailureRule,
    /// What it means, in Chinese.
    pub message_zh: String,
    /// What it means, in English.
    pub message_en: String,
}

/// The re-tender drafted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RetenderOutcome {
    /// The new draft, linked to the failed tender (`retender_of`).
    pub tender: Tender,
    /// Present when the failed tender was itself a re-tender: the rule for a second failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_failure: Option<SecondFailureNotice>,
}

/// How many failed tenders the chain ending at `tender_id` holds (1 for a first failure).
async fn failures_in_chain(tx: &mut Tx, tender_id: &str) -> Result<u32, TenderError> {
    let mut count = 1;
    let mut id = tender_id.to_owned();
    while count < MAX_CHAIN {
        let prev: Option<(Option<String>,)> = q_opt!(
            tx,
            (Option<String>,),
            "select retender_of from tender where tender_id = $1",
            id.clone()
        )?;
        match prev.and_then(|(p,)| p) {
            Some(p) => {
                count += 1;
                id = p;
            }
            None => break,
        }
    }
    Ok(count)
}

fn notice(failures: u32, rule: &FailureRule) -> SecondFailureNotice {
    let (zh, en) = match rule.action {
        SecondFailure::RetenderOrSkipWithApproval => (
            "重新招标后仍流标：可再次重新招标；属于必须审批、核准的项目，经原审批、核准部门批准后可以不再招标",
            "The re-tender failed too: tender again, or, for a project that needs approval, stop tendering with the approving authority's consent",
        ),
        SecondFailure::ChangeProcedureWithApproval => (
            "重新招标后仍废标：可再次招标；改用其他采购方式须事先获得设区的市级以上财政部门批准",
            "The re-tender failed too: tender again, or change the procurement method with the prior approval of the procurement supervision department",
        ),
    };
    SecondFailureNotice {
        failures,
        rule: rule.clone(),
        message_zh: format!("{zh}（{}）", rule.article),
        message_en: format!("{en} ({})", rule.article),
    }
}

/// The owning agent re-tenders the failed tender `code` as a new draft.
pub async fn retender(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &RetenderInput,
) -> Result<RetenderOutcome, TenderError> {
    if !caller.is(Role::Agent) {
        return Err(Common::Forbidden(AGENTS_ONLY).into());
    }
    let agent_org = caller
        .user
        .org_id
        .clone()
        .ok_or(TenderError::NoOrganisation)?;
    let books = books.fresh(db).await?;
    let mut tx = db.begin().await?;
    let old = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &old)?;
    if old.state != TenderState::Failed {
        return Err(TenderError::NotFailed(old.state));
    }
    if old.retendered_by.is_some() {
        return Err(TenderError::AlreadyRetendered);
    }
    let v = validate(&input.tender, books)?;
    if v.category != old.category {
        return Err(TenderError::RetenderCategory(old.category));
    }
    // The rule of the rulebook the failed tender was published under.
    let rule = books
        .by_id(&old.rulebook_id)
        .and_then(|b| b.rules.second_failure.clone());
    let approval_ref = match &input.approval_ref {
        Some(a) if !a.trim().is_empty() => {
            Some(check_text("approval_ref", a, 1, 200, Lines::Single)?)
        }
        _ => None,
    };
    if v.procedure != old.procedure {
        let allowed = rule
            .as_ref()
            .is_some_and(|r| r.action == SecondFailure::ChangeProcedureWithApproval);
        if !allowed {
            return Err(TenderError::ProcedureChange(format!(
                "a re-tender of this category keeps the procedure {:?}: the law says re-tender (招标投标法 第28条) / 本类项目重新招标须沿用原招标方式",
                old.procedure
            )));
        }
        if approval_ref.is_none() {
            let article = rule.as_ref().map(|r| r.article.as_str()).unwrap_or("");
            return Err(TenderError::ProcedureChange(format!(
                "changing the procedure needs the approval's reference in approval_ref ({article}) / 变更采购方式须填写批准文号"
            )));
        }
    }
    let failures = failures_in_chain(&mut tx, &old.tender_id).await?;
    let link = Link {
        tender_id: &old.tender_id,
        payload: json!({
            "retender_of": old.tender_id, "retender_of_code": old.code,
            "failures": failures, "approval_ref": approval_ref,
        }),
    };
    let tender_id = insert_draft(&mut tx, now, caller, &agent_org, &v, Some(link)).await?;
    let tender = super::common::find_tender_by_id(&mut tx, &tender_id).await?;
    tx.commit().await?;
    let second_failure = match (&rule, failures >= 2) {
        (Some(r), true) => Some(notice(failures, r)),
        _ => None,
    };
    Ok(RetenderOutcome {
        tender,
        second_failure,
    })
}

/// The failed tender's terms with a new code and new dates: what the agent's "re-tender"
/// form starts from (the API takes full terms instead).
pub async fn terms_for_retender(
    db: &Db,
    caller: &Caller,
    code: &str,
    new_code: &str,
    dates: [String; 3],
) -> Result<TenderInput, TenderError> {
    let mut tx = db.read().await?;
    let old = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &old)?;
    let custodians = super::common::custodians_of(&mut tx, &old.tender_id).await?;
    tx.commit().await?;
    let [
        documents_available_at,
        clarification_cutoff_at,
        bid_deadline_at,
    ] = dates;
    Ok(TenderInput {
        code: new_code.to_owned(),
        title: old.title,
        description: old.description,
        category: old.category,
        procedure: old.procedure,
        tenderee_org_id: old.tenderee_org_id,
        estimated_price_fen: old.estimated_price_fen,
        ceiling_price_fen: old.ceiling_price_fen,
        bid_security_fen: old.bid_security_fen,
        documents_available_at,
        documents_available_until: None,
        clarification_cutoff_at,
        bid_deadline_at,
        opening_place: old.opening_place,
        evaluation_method: old.evaluation_method,
        criteria: old.criteria,
        expert_quotas: old.expert_quotas,
        custodians,
    })
}
