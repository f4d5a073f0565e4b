//! Reading and acknowledging alerts: regulators only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::SupervisionError;
use super::rules::{AlertKind, Severity};
use crate::audit::{self, StoredEvent};
use crate::clock::{from_millis, to_millis};
use crate::error::Common;
use crate::identity::{Caller, Role};
use crate::store::{Db, Tx};
use crate::{q_all, q_exec, q_opt};

/// Where an alert is in its handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Raised, nobody has looked at it.
    Open,
    /// A regulator has seen it.
    Acknowledged,
    /// A case was opened from it.
    InCase,
    /// Its case is closed.
    Closed,
}

impl AlertStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::InCase => "in_case",
            AlertStatus::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            AlertStatus::Open,
            AlertStatus::Acknowledged,
            AlertStatus::InCase,
            AlertStatus::Closed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One alert as regulators see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// Identifier.
    pub alert_id: String,
    /// What it is about.
    pub kind: AlertKind,
    /// How serious.
    pub severity: Severity,
    /// The tender's id.
    pub tender: Option<String>,
    /// The tender's project code.
    pub tender_code: Option<String>,
    /// The rule that raised it.
    pub rule: String,
    /// The article the rule rests on.
    pub article: String,
    /// What was found.
    pub summary: String,
    /// The audit sequence numbers it rests on.
    pub evidence: Vec<u64>,
    /// The rule's figures.
    #[schema(value_type = Object)]
    pub detail: Value,
    /// Where it is in its handling.
    pub status: AlertStatus,
    /// The sequence number of the alert's own audit event.
    pub audit_seq: i64,
    /// When it was raised (RFC 3339).
    pub raised_at: DateTime<Utc>,
    /// When a regulator acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// An alert with its evidence events (entries in full: regulators see withheld ones).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertDetail {
    /// The alert.
    #[serde(flatten)]
    pub alert: AlertView,
    /// The events it rests on, with their canonical entries and leaf hashes.
    pub evidence_events: Vec<StoredEvent>,
    /// The log's size now: each event's inclusion proof is asked for at this size and
    /// checked against the signed checkpoint of the same size.
    pub tree_size: u64,
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    alert_id: String,
    kind: String,
    severity: String,
    tender_id: Option<String>,
    code: Option<String>,
    rule: String,
    article: String,
    summary: String,
    evidence: String,
    detail: String,
    status: String,
    audit_seq: i64,
    raised_at: i64,
    acknowledged_at: Option<i64>,
}

impl TryFrom<AlertRow> for AlertView {
    type Error = SupervisionError;
    fn try_from(r: AlertRow) -> Result<Self, SupervisionError> {
        let corrupt = |what: &str| Common::Corrupt(format!("alert {}: {what}", r.alert_id));
        Ok(AlertView {
            kind: AlertKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
            severity: Severity::parse(&r.severity).ok_or_else(|| corrupt("severity"))?,
            status: AlertStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            evidence: serde_json::from_str(&r.evidence).map_err(|_| corrupt("evidence"))?,
            detail: serde_json::from_str(&r.detail).map_err(|_| corrupt("detail"))?,
            alert_id: r.alert_id,
            tender: r.tender_id,
            tender_code: r.code,
            rule: r.rule,
            article: r.article,
            summary: r.summary,
            audit_seq: r.audit_seq,
            raised_at: from_millis(r.raised_at),
            acknowledged_at: r.acknowledged_at.map(from_millis),
        })
    }
}

const SELECT: &str =
    "select a.alert_id, a.kind, a.severity, a.tender_id, t.code, a.rule, a.article,
        a.summary, a.evidence, a.detail, a.status, a.audit_seq, a.raised_at, a.acknowledged_at
     from supervision_alert a left join tender t on t.tender_id = a.tender_id";

/// The filters of the alert list.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    /// A tender's project code.
    pub tender: Option<String>,
    /// One kind (collusion, time_limit, out_of_hours, evaluation, across_tenders,
    /// log_integrity); an unknown one is refused (422).
    pub kind: Option<String>,
    /// One status (open, acknowledged, in_case, closed); an unknown one is refused (422).
    pub status: Option<String>,
}

/// Refuses anyone but a regulator (403).
pub fn require_regulator(caller: &Caller) -> Result<(), SupervisionError> {
    if caller.is(Role::Regulator) {
        Ok(())
    } else {
        Err(
            Common::Forbidden("only regulators may supervise / 仅行政监督人员可访问电子监察")
                .into(),
        )
    }
}

/// The alerts matching `filter`, newest first (at most 500).
pub async fn list(
    db: &Db,
    caller: &Caller,
    filter: &AlertFilter,
) -> Result<Vec<AlertView>, SupervisionError> {
    require_regulator(caller)?;
    let kind = match filter.kind.as_deref().filter(|s| !s.is_empty()) {
        Some(k) => Some(AlertKind::parse(k).ok_or_else(|| {
            SupervisionError::Invalid(
                "BAD_KIND",
                format!("unknown alert kind {k:?} / 未知的预警类型"),
            )
        })?),
        None => None,
    };
    let status = match filter.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(AlertStatus::parse(s).ok_or_else(|| {
            SupervisionError::Invalid(
                "BAD_STATUS",
                format!("unknown alert status {s:?} / 未知的预警状态"),
            )
        })?),
        None => None,
    };
    let tender = filter.tender.clone().filter(|s| !s.is_empty());
    let sql = format!(
        "{SELECT} where ($1 is null or t.code = $1) and ($2 is null or a.kind = $2)
           and ($3 is null or a.status = $3)
         order by a.raised_at desc, a.alert_id desc limit 500"
    );
    let mut tx = db.read().await?;
    let rows = q_all!(
        tx,
        AlertRow,
        sqlx::AssertSqlSafe(sql),
        tender,
        kind.map(AlertKind::as_str),
        status.map(AlertStatus::as_str)
    )?;
    rows.into_iter().map(AlertView::try_from).collect()
}

/// Alerts whose own audit event comes after `after_seq`, oldest first (at most 100): the
/// live wall's feed. The sequence number orders alerts the same for every server process.
pub async fn since(
    db: &Db,
    caller: &Caller,
    after_seq: i64,
) -> Result<Vec<AlertView>, SupervisionError> {
    require_regulator(caller)?;
    let sql = format!("{SELECT} where a.audit_seq > $1 order by a.audit_seq limit 100");
    let mut tx = db.read().await?;
    let rows = q_all!(tx, AlertRow, sqlx::AssertSqlSafe(sql), after_seq)?;
    rows.into_iter().map(AlertView::try_from).collect()
}

/// The audit sequence number of the latest alert (0 without any): where a new wall starts.
pub async fn last_seq(db: &Db, caller: &Caller) -> Result<i64, SupervisionError> {
    require_regulator(caller)?;
    let mut tx = db.read().await?;
    let (n,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select cast(coalesce(max(audit_seq), 0) as bigint) from supervision_alert"
    )?;
    Ok(n)
}

/// Loads one alert (no role check: callers check).
pub(crate) async fn load(tx: &mut Tx, alert_id: &str) -> Result<AlertView, SupervisionError> {
    let sql = format!("{SELECT} where a.alert_id = $1");
    q_opt!(tx, AlertRow, sqlx::AssertSqlSafe(sql), alert_id.to_string())?
        .ok_or(Common::NotFound("alert"))?
        .try_into()
}

/// One alert with its evidence events.
pub async fn get(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    alert_id: &str,
) -> Result<AlertDetail, SupervisionError> {
    require_regulator(caller)?;
    let mut tx = db.read().await?;
    let alert = load(&mut tx, alert_id).await?;
    let mut evidence_events = Vec::new();
    for seq in &alert.evidence {
        if let Some(e) = audit::events(&mut tx, *seq, 1).await?.into_iter().next()
            && u64::try_from(e.seq).ok() == Some(*seq)
        {
            evidence_events.push(e.for_reader(now, true));
        }
    }
    let (tree_size, _) = audit::head(&mut tx).await?;
    Ok(AlertDetail {
        alert,
        evidence_events,
        tree_size,
    })
}

/// Appends a supervision event about `tender` (withheld from the public until the award,
/// like the alert it concerns) or about nothing.
pub(crate) async fn event(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    action: &str,
    tender: Option<&str>,
    payload: Value,
) -> Result<u64, SupervisionError> {
    Ok(match tender {
        Some(t) => {
            audit::append_withheld_until(
                tx,
                now,
                &caller.actor,
                action,
                t,
                payload,
                audit::Stage::Award,
            )
            .await?
        }
        None => audit::append(tx, now, &caller.actor, action, None, payload).await?,
    })
}

/// A regulator acknowledges an open alert.
pub async fn acknowledge(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    alert_id: &str,
) -> Result<AlertView, SupervisionError> {
    require_regulator(caller)?;
    let mut tx = db.begin().await?;
    let alert = load(&mut tx, alert_id).await?;
    let n = q_exec!(
        tx,
        "update supervision_alert set status = 'acknowledged', acknowledged_by = $1, acknowledged_at = $2
         where alert_id = $3 and status = 'open'",
        caller.user.user_id.clone(),
        to_millis(now),
        alert_id.to_string()
    )?;
    if n == 0 {
        return Err(SupervisionError::Conflict(
            "ALERT_NOT_OPEN",
            format!(
                "the alert is {} already / 该预警已处理",
                alert.status.as_str()
            ),
        ));
    }
    event(
        &mut tx,
        now,
        caller,
        "supervision.alert.acknowledge",
        alert.tender.as_deref(),
        json!({"alert_id": alert_id}),
    )
    .await?;
    let view = load(&mut tx, alert_id).await?;
    tx.commit().await?;
    Ok(view)
}
