//! Loading the stored report with access control: who may see it, and the pseudonymised
//! copy for those who may not know the committee yet.

use crate::evaluation::Env;
use crate::evaluation::committee::{Member, member_pseudonym, pseudonymise_members, sees_members};
use crate::evaluation::report::doc::{Extras, ReportDoc, ReportError, SignatureRecord, build};
use crate::identity::Role;
use crate::lifecycle::evaluation::EvaluationState;
use crate::store::blob::sha256_hex;
use crate::tender::model::TenderState;
use crate::tender::service::Caller;
use crate::{q_all, q_opt};
use std::collections::BTreeMap;

#[derive(Debug, sqlx::FromRow)]
struct TenderRow {
    tender_id: String,
    title: String,
    state: String,
    agent_org_id: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct EvalRow {
    state: String,
    members_json: String,
    report_json: Option<String>,
    report_sha256: Option<String>,
}

/// The stored report bytes and their digest, for a caller who may read them.
pub struct Stored {
    /// The canonical report JSON exactly as signed.
    pub json: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// The extras for the document.
    pub extras: Extras,
    /// Whether `json` is the pseudonymised copy (member ids replaced, digests dropped) and
    /// `sha256` its own digest, not the signed one.
    pub redacted: bool,
}

/// Loads the stored report of tender `code` for `caller`: 404 for an unknown tender, 403
/// for anyone but the committee, the owning agent, operators and regulators, 409 before the
/// report exists.
pub async fn load(env: Env<'_>, caller: &Caller, code: &str) -> Result<Stored, ReportError> {
    let mut tx = env.db.read().await?;
    let t = q_opt!(
        tx,
        TenderRow,
        "select tender_id, title, state, agent_org_id from tender where code = $1",
        code.to_string()
    )?
    .ok_or(ReportError::NotFound)?;
    let ev = q_opt!(
        tx,
        EvalRow,
        "select state, members_json, report_json, report_sha256 from evaluation where tender_id = $1",
        t.tender_id.clone()
    )?;
    let members: Vec<Member> = match &ev {
        Some(e) => serde_json::from_str(&e.members_json)
            .map_err(|e| ReportError::corrupt(e.to_string()))?,
        None => Vec::new(),
    };
    let user = &caller.user;
    let owns = crate::lifecycle::tender::is_owner(caller, t.agent_org_id.as_deref());
    let allowed = owns
        || matches!(user.role, Role::Operator | Role::Regulator)
        || members.iter().any(|m| m.id == user.user_id);
    if !allowed {
        return Err(ReportError::Forbidden);
    }
    let Some(EvalRow {
        state: ev_state,
        report_json: Some(json),
        report_sha256: Some(sha256),
        ..
    }) = ev
    else {
        return Err(ReportError::NotReady);
    };
    let mut member_names = BTreeMap::new();
    for m in &members {
        let name: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select display_name from app_user where user_id = $1",
            m.id.clone()
        )?;
        if let Some((n,)) = name {
            member_names.insert(m.id.clone(), n);
        }
    }
    let bidders: Vec<(String, String)> = q_all!(
        tx,
        (String, String),
        "select b.bid_id, o.name from bid b join organisation o on o.org_id = b.bidder_org_id
         where b.tender_id = $1",
        t.tender_id.clone()
    )?;
    let signatures: Vec<SignatureRecord> = q_all!(
        tx,
        SignatureRecord,
        "select member, act, reason, report_sha256, credential_id, signed_at
         from evaluation_signature where tender_id = $1 order by member",
        t.tender_id.clone()
    )?;
    let stored = Stored {
        json,
        sha256,
        extras: Extras {
            tender_name: t.title,
            member_names,
            bidders: bidders.into_iter().collect(),
            signatures,
            // Signing is over once the report is delivered (the evaluation leaves `ranked`)
            // or the tender has moved on from `evaluating`.
            signing_closed: EvaluationState::parse(&ev_state) != Some(EvaluationState::Ranked)
                || TenderState::parse(&t.state) != Some(TenderState::Evaluating),
            generated_at: env.now,
            members_withheld: None,
        },
        redacted: false,
    };
    let is_member = members.iter().any(|m| m.id == user.user_id);
    if sees_members(user.role, is_member, TenderState::parse(&t.state)) {
        Ok(stored)
    } else {
        let ids: Vec<String> = members.into_iter().map(|m| m.id).collect();
        pseudonymised(stored, &ids)
    }
}

/// The report for a reader who may not see the committee: member ids become `member-N`,
/// digests and credentials are dropped, names are member numbers; each act keeps whether
/// and when a member signed or dissented, and a dissent's written reason.
fn pseudonymised(stored: Stored, members: &[String]) -> Result<Stored, ReportError> {
    let mut v: serde_json::Value =
        serde_json::from_str(&stored.json).map_err(|e| ReportError::corrupt(e.to_string()))?;
    pseudonymise_members(&mut v, members);
    let json = v.to_string();
    let sha256 = sha256_hex(json.as_bytes());
    let alias = |id: &str| {
        members
            .iter()
            .position(|m| m == id)
            .map(|i| member_pseudonym(i + 1))
    };
    let signatures = stored
        .extras
        .signatures
        .into_iter()
        .filter_map(|s| {
            Some(SignatureRecord {
                member: alias(&s.member)?,
                // An act over the signed digest reads as one over this copy; an act over
                // another digest keeps it, for the document's note.
                report_sha256: if s.report_sha256 == stored.sha256 {
                    sha256.clone()
                } else {
                    s.report_sha256
                },
                credential_id: None,
                ..s
            })
        })
        .collect();
    Ok(Stored {
        json,
        sha256,
        extras: Extras {
            member_names: (1..=members.len())
                .map(|n| (member_pseudonym(n), format!("成员 {n} Member {n}")))
                .collect(),
            signatures,
            members_withheld: Some(stored.sha256.clone()),
            ..stored.extras
        },
        redacted: true,
    })
}

/// Loads and builds the document for `caller`.
pub async fn document(env: Env<'_>, caller: &Caller, code: &str) -> Result<ReportDoc, ReportError> {
    let s = load(env, caller, code).await?;
    build(&s.json, &s.sha256, &s.extras)
}
