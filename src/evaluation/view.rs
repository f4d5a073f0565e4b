//! The evaluation as the caller may see it: counts until every sheet is in, the committee
//! by member number until the result is settled.

use crate::evaluation::Env;
use serde_json::{Value, json};

use crate::evaluation::committee::{self};
use crate::identity::Role;
use crate::q_opt;
use crate::tender::model::{EvaluationMethod, TenderState};
use crate::tender::service::Caller;

use crate::evaluation::error::EvaluationError;
use crate::evaluation::service::{
    all_sheets, corrupt, load, opened_bids, owns, review_outcome, signatures,
};

/// The evaluation as the caller may see it (owning agent, committee members, operators and
/// regulators). Until every member's sheets are in, only counts are shown: nobody sees
/// another's scores. Member ids are shown to members and regulators only.
pub async fn view(env: Env<'_>, caller: &Caller, code: &str) -> Result<Value, EvaluationError> {
    let mut tx = env.db.read().await?;
    let ev = load(&mut tx, code).await?;
    let is_member = ev.member(&caller.user.user_id).is_some();
    let insider = is_member || matches!(caller.user.role, Role::Regulator | Role::Operator);
    if !insider && !owns(caller, &ev.tender) {
        return Err(EvaluationError::forbidden(
            "only the tender's agent, the committee and regulators may see the evaluation / 无权查看评标情况",
        ));
    }
    let tid = ev.tender.tender_id.clone();
    let (ballots,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(*) from evaluation_ballot where tender_id = $1 and round = $2",
        tid.clone(),
        ev.row.election_round
    )?;
    let (marks,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(*) from evaluation_mark where tender_id = $1",
        tid.clone()
    )?;
    let (submitted,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(distinct member) from evaluation_sheet where tender_id = $1",
        tid.clone()
    )?;
    let mine: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select bid_id from evaluation_sheet where tender_id = $1 and member = $2",
        tid.clone(),
        caller.user.user_id.clone()
    )?;
    let bids = opened_bids(&mut tx, &tid).await?;
    let ids: Vec<String> = bids.iter().map(|b| b.bid.clone()).collect();
    let review = review_outcome(&mut tx, &ev, &ids).await?;
    // The detailed review is complete: every member's sheets, or the leader's price table.
    let all_in = match ev.method()? {
        EvaluationMethod::Comprehensive => {
            usize::try_from(submitted).unwrap_or(0) >= ev.members.len()
        }
        EvaluationMethod::LowestPrice => ev.row.report_sha256.is_some(),
    };
    let mut out = json!({
        "tender_code": code,
        "state": ev.row.state,
        "method": ev.tender.evaluation_method,
        "members": ev.members.len(),
        "election": {"round": ev.row.election_round, "ballots": ballots,
                     "elected": ev.row.leader_user_id.is_some()},
        "review": {"criteria": ev.criteria, "rule": ev.row.review_rule, "marks": marks,
                   "marks_expected": ev.criteria.len() * ev.members.len() * ids.len(),
                   "decided": review.is_some()},
        "scoring": {"plan": ev.plan, "submitted": submitted, "you_submitted": mine.is_some(),
                    "all_in": all_in},
        "sheets": Value::Null,
        "ranking": Value::Null,
    });
    if let Some(r) = &review {
        out["review"]["passed"] = json!(r.passed());
        if insider {
            out["review"]["outcome"] = serde_json::to_value(r).map_err(corrupt)?;
        }
    }
    if insider {
        out["committee"] = serde_json::to_value(&ev.members).map_err(corrupt)?;
        out["election"]["leader"] = json!(ev.row.leader_user_id);
    }
    if all_in {
        if insider {
            let sheets = all_sheets(&mut tx, &tid).await?;
            out["sheets"] = json!(
                sheets
                    .iter()
                    .map(|(s, sha)| json!({
                        "member": s.expert, "bid_id": s.bid, "scores": s.scores, "sha256": sha,
                    }))
                    .collect::<Vec<_>>()
            );
        }
        if let Some(r) = &ev.row.ranking_json {
            out["ranking"] = serde_json::from_str(r).map_err(corrupt)?;
        }
        out["report_sha256"] = json!(ev.row.report_sha256);
        if let Some(book) = env.rulebooks.by_id(&ev.tender.rulebook_id) {
            let sigs = signatures(&mut tx, &tid).await?;
            let status = committee::signing_status(&ev.committee(book)?, &sigs, false)
                .map_err(EvaluationError::Signing)?;
            let signed = status
                .members
                .iter()
                .filter(|(_, s)| *s != committee::SignStatus::Pending)
                .count();
            out["signing"] = json!({"acted": signed, "complete": status.complete});
            if insider {
                out["signing"]["members"] =
                    serde_json::to_value(&status.members).map_err(corrupt)?;
                if let Some(r) = &ev.row.report_json {
                    let report: Value = serde_json::from_str(r).map_err(corrupt)?;
                    out["price_table"] = report.get("adjustments").cloned().unwrap_or(Value::Null);
                    out["report"] = report;
                }
            }
        }
    } else if let Some(r) = &ev.row.ranking_json {
        // A failed review: the outcome names no member.
        out["ranking"] = serde_json::from_str(r).map_err(corrupt)?;
    }
    // Operators (and the agent) follow the evaluation by member number until the result is
    // settled; the committee's identity is secret until then (招标投标法 第37条).
    let state = TenderState::parse(&ev.tender.state);
    if !committee::sees_members(caller.user.role, is_member, state) {
        committee::pseudonymise_members(&mut out, &ev.member_ids());
        out["members_withheld"] = json!(true);
    }
    Ok(out)
}
