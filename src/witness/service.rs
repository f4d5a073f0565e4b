//! The platform's side of a split-view report: check that a trusted witness sent it, that
//! the log signed both checkpoints, and that one of them is not in the platform's own
//! stored tree (judged against the tree, not the reporter's word), then raise a
//! supervision alert, once per checkpoint that is not in the tree.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::report::{SignatureError, SplitViewReport, check_signature};
use super::{Refusal, open_log_checkpoint};
use crate::audit::checkpoint::{Checkpoint, VerifierKey};
use crate::audit::kept::{KeptError, proof_from_nodes};
use crate::audit::merkle::{self, Hash};
use crate::error::{Coded, Common, Kind};
use crate::store::Db;
use crate::supervision::SupervisionError;
use crate::supervision::rules::{AlertKind, Finding, Severity};

/// The rule id the alert carries.
pub const RULE: &str = "log.split_view";

/// Why a report was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Shared failures (storage).
    #[error(transparent)]
    Common(#[from] Common),
    /// The reporter is not a witness the platform trusts, or its signature is forged.
    #[error("{0} / 见证方签名无效或不受信任")]
    Signature(#[from] SignatureError),
    /// A checkpoint in the report is not one this log signed.
    #[error("the {which} checkpoint is not signed by this log: {why} / 检查点不是本平台签发的")]
    NotOurs {
        /// `accepted` or `offered`.
        which: &'static str,
        /// Why it was refused.
        why: Refusal,
    },
    /// The two checkpoints fit one history: there is no split view.
    #[error(
        "the checkpoints of size {old} and {new} are consistent with the log: not a split view / 两个检查点一致，并非分叉视图"
    )]
    Consistent {
        /// The smaller size.
        old: u64,
        /// The larger size.
        new: u64,
    },
    /// The stored tree could not be read.
    #[error(transparent)]
    Kept(#[from] KeptError),
    /// The alert could not be stored.
    #[error(transparent)]
    Supervision(#[from] SupervisionError),
}

crate::common_errors!(ReportError);

impl Coded for ReportError {
    fn kind(&self) -> Kind {
        match self {
            ReportError::Common(c) => c.kind(),
            ReportError::Signature(_) => Kind::Forbidden,
            ReportError::NotOurs { .. } | ReportError::Consistent { .. } => Kind::Invalid,
            ReportError::Kept(e) => e.kind(),
            ReportError::Supervision(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ReportError::Common(c) => c.code(),
            ReportError::Signature(SignatureError::UnknownWitness(_)) => "UNKNOWN_WITNESS",
            ReportError::Signature(SignatureError::BadSignature(_)) => "BAD_REPORT_SIGNATURE",
            ReportError::NotOurs { .. } => "NOT_THIS_LOG",
            ReportError::Consistent { .. } => "NOT_A_SPLIT_VIEW",
            ReportError::Kept(e) => e.code(),
            ReportError::Supervision(e) => e.code(),
        }
    }
}

/// What the platform did with a report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportAnswer {
    /// True when this report raised the alert, false when the same checkpoint outside the
    /// log was reported before.
    pub raised: bool,
    /// The smaller checkpoint's size.
    pub old: u64,
    /// The larger checkpoint's size.
    pub new: u64,
}

/// The root of the platform's own stored tree at `size`, `None` beyond its log (`head`).
async fn own_root(db: &Db, head: u64, size: u64) -> Result<Option<Hash>, ReportError> {
    if size > head {
        return Ok(None);
    }
    if size == 0 {
        return Ok(Some(merkle::root(&[])));
    }
    // One proof element made of the tree's frontier folds into the root at that size.
    let mut tx = db.read().await?;
    let folded = proof_from_nodes(&mut tx, &vec![merkle::frontier(size)]).await?;
    Ok(folded.first().copied())
}

/// Checks a report and raises the supervision alert for it (once per signed checkpoint
/// that is not in the platform's tree).
pub async fn receive(
    db: &Db,
    now: DateTime<Utc>,
    log_key: &VerifierKey,
    trusted: &[VerifierKey],
    report: &SplitViewReport,
) -> Result<ReportAnswer, ReportError> {
    let witness = check_signature(report, trusted)?;
    let open = |which, note: &str| {
        open_log_checkpoint(note, log_key).map_err(|why| ReportError::NotOurs { which, why })
    };
    let accepted = open("accepted", &report.accepted)?;
    let offered = open("offered", &report.offered)?;
    let (a, b) = if accepted.size <= offered.size {
        (&accepted, &offered)
    } else {
        (&offered, &accepted)
    };
    let head = {
        let mut tx = db.read().await?;
        crate::audit::head(&mut tx).await?.0
    };
    // Two checkpoints that are both in the platform's own tree fit one history. One that
    // is not (another root at its size, or a size beyond the log) is what the log must
    // never have signed: the split view is identified by it, so the same fork reported
    // again as the log grows raises nothing new.
    let mut off = None;
    for c in [a, b] {
        if own_root(db, head, c.size).await? != Some(c.root) {
            off = Some(c);
            break;
        }
    }
    let Some(off) = off else {
        return Err(ReportError::Consistent {
            old: a.size,
            new: b.size,
        });
    };
    let root = |c: &Checkpoint| hex::encode(c.root);
    let finding = Finding::new(
        AlertKind::LogIntegrity,
        Severity::High,
        RULE,
        "C2SP tlog-witness; RFC 9162 §2.1.4",
        None,
        format!(
            "witness {} holds two checkpoints of this log that no single history has (sizes {} and {}); the log size is {head} / 见证方持有本平台签发的两个互不一致的检查点（分叉视图）",
            witness.name, a.size, b.size
        ),
        Vec::new(),
        json!({"witness": witness.name, "reported_at": report.time, "log_size": head,
               "not_in_log": {"size": off.size, "root": root(off)},
               "accepted": {"size": accepted.size, "root": root(&accepted), "note": report.accepted},
               "offered": {"size": offered.size, "root": root(&offered), "note": report.offered}}),
        &format!("{}:{}", off.size, root(off)),
    );
    let raised = crate::supervision::engine::raise(db, now, &finding).await?;
    tracing::error!(
        witness = %witness.name,
        old = a.size,
        new = b.size,
        raised,
        "a witness reported a split view of the audit log"
    );
    Ok(ReportAnswer {
        raised,
        old: a.size,
        new: b.size,
    })
}
