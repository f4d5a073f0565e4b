//! The ceremony as anyone sees it, and the bidders' confirmations and objections with the
//! agent's answers.

use super::*;

/// The ceremony as anyone may see it: state, quorum progress, and once opened the record,
/// confirmations and objections. Before the opening starts nothing about bids is shown
/// (招标投标法 第22条).
pub async fn view(db: &Db, code: &str) -> Result<OpeningView, BidError> {
    let mut tx = db.read().await?;
    let tender = tender_ref(&mut tx, code).await?;
    let (_, k, n) = key_params(&mut tx, &tender.tender_id).await?;
    let row = q_opt!(
        tx,
        (String, i64, Option<i64>, Option<String>, Option<String>),
        "select state, started_at, finished_at, record_json, record_sha256 from opening where tender_id = $1",
        tender.tender_id.clone()
    )?;
    let Some((ostate, started, finished, record_json, record_sha256)) = row else {
        return Ok(OpeningView {
            tender_id: tender.tender_id,
            tender_code: tender.code,
            tender_state: tender.state,
            state: "not_started".to_string(),
            k,
            n,
            progress: None,
        });
    };
    let unlocked = q_all!(
        tx,
        (String, String, i64),
        "select u.user_id, a.display_name, u.unlocked_at from opening_unlock u
         join app_user a on a.user_id = u.user_id where u.tender_id = $1 order by u.unlocked_at, u.user_id",
        tender.tender_id.clone()
    )?;
    let confirmations = q_all!(
        tx,
        (String, String, i64),
        "select c.bidder_org_id, o.name, c.confirmed_at from opening_confirmation c
         join organisation o on o.org_id = c.bidder_org_id where c.tender_id = $1 order by c.confirmed_at",
        tender.tender_id.clone()
    )?;
    let objections = q_all!(
        tx,
        (String, String, String, String, i64, Option<String>, Option<i64>),
        "select j.objection_id, j.bidder_org_id, o.name, j.body, j.raised_at, j.answer, j.answered_at
         from opening_objection j join organisation o on o.org_id = j.bidder_org_id
         where j.tender_id = $1 order by j.raised_at, j.objection_id",
        tender.tender_id.clone()
    )?;
    let record: Value = match &record_json {
        Some(r) => serde_json::from_str(r).map_err(|e| Common::Corrupt(e.to_string()))?,
        None => Value::Null,
    };
    let (held, decrypting) = shares::held_and_progress(&mut tx, &tender.tender_id).await?;
    let t = |ms: i64| audit::entry_time(from_millis(ms));
    let progress = OpeningProgress {
        started_at: t(started),
        finished_at: finished.map(t),
        unlocked: unlocked
            .into_iter()
            .map(|(user_id, name, at)| UnlockView {
                user_id,
                name,
                at: t(at),
            })
            .collect(),
        shares_held: held,
        opening_now: decrypting.is_some(),
        bids_decrypted: decrypting.map(|(opened, _)| opened),
        bids_to_decrypt: decrypting.map(|(_, total)| total),
        record,
        record_sha256,
        confirmations: confirmations
            .into_iter()
            .map(|(bidder_id, bidder_name, at)| ConfirmationView {
                bidder_id,
                bidder_name,
                at: t(at),
            })
            .collect(),
        objections: objections
            .into_iter()
            .map(
                |(objection_id, bidder_id, bidder_name, body, at, answer, answered)| {
                    ObjectionView {
                        objection_id,
                        bidder_id,
                        bidder_name,
                        body,
                        raised_at: t(at),
                        answer,
                        answered_at: answered.map(t),
                    }
                },
            )
            .collect(),
    };
    Ok(OpeningView {
        tender_id: tender.tender_id,
        tender_code: tender.code,
        tender_state: tender.state,
        state: ostate,
        k,
        n,
        progress: Some(progress),
    })
}

/// The ceremony as [`view`] shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OpeningView {
    /// The tender.
    pub tender_id: String,
    /// Its project code.
    pub tender_code: String,
    /// Where the tender is.
    pub tender_state: TenderState,
    /// `not_started`, `unlocking`, `opened` or `failed`.
    pub state: String,
    /// Shares needed to open.
    pub k: u32,
    /// Shares issued.
    pub n: u32,
    /// Everything after the start (absent before it).
    // Flattened and absent before the start: OpenAPI cannot say "these fields, or none of
    // them" without a oneOf the other branch fails, so the document leaves them open.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub progress: Option<OpeningProgress>,
}

/// A started opening: who unlocked, the record, confirmations and objections.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OpeningProgress {
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When the record was published or the tender failed.
    pub finished_at: Option<String>,
    /// The custodians who unlocked their share.
    pub unlocked: Vec<UnlockView>,
    /// Unlocked shares held (sealed) for this opening now; 0 once it has ended.
    pub shares_held: usize,
    /// Whether the opening runs now.
    pub opening_now: bool,
    /// While it runs: the bids decrypted so far (reported about every second).
    pub bids_decrypted: Option<u64>,
    /// While it runs: the bids to decrypt (0 until the first report).
    pub bids_to_decrypt: Option<u64>,
    /// The published opening record (its canonical JSON, as stored and hashed), or null.
    #[schema(value_type = Object)]
    pub record: Value,
    /// SHA-256 hex of the record.
    pub record_sha256: Option<String>,
    /// The bidders who confirmed the record.
    pub confirmations: Vec<ConfirmationView>,
    /// The objections raised, with their answers.
    pub objections: Vec<ObjectionView>,
}

/// One custodian's unlock.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UnlockView {
    /// The custodian.
    pub user_id: String,
    /// Their display name.
    pub name: String,
    /// When (RFC 3339).
    pub at: String,
}

/// One bidder's confirmation of the record.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConfirmationView {
    /// The bidder organisation.
    pub bidder_id: String,
    /// Its name.
    pub bidder_name: String,
    /// When (RFC 3339).
    pub at: String,
}

/// One objection at the opening and its answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectionView {
    /// Identifier.
    pub objection_id: String,
    /// The bidder organisation.
    pub bidder_id: String,
    /// Its name.
    pub bidder_name: String,
    /// The objection.
    pub body: String,
    /// When raised (RFC 3339).
    pub raised_at: String,
    /// The agent's answer.
    pub answer: Option<String>,
    /// When answered.
    pub answered_at: Option<String>,
}

/// A bidder confirmed the opening record. Fields in alphabetical order, as the answer has
/// always been serialised.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RecordConfirmed {
    /// The confirmation's audit event.
    pub audit_index: u64,
    /// The bidder organisation.
    pub bidder_id: String,
    /// When (RFC 3339).
    pub confirmed_at: String,
    /// The tender.
    pub tender_id: String,
}

/// A bidder raised an objection at the opening. Fields in alphabetical order, as the answer
/// has always been serialised.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OpeningObjectionRaised {
    /// The objection's audit event.
    pub audit_index: u64,
    /// The bidder organisation.
    pub bidder_id: String,
    /// The objection.
    pub body: String,
    /// Identifier.
    pub objection_id: String,
    /// When raised (RFC 3339).
    pub raised_at: String,
    /// The tender.
    pub tender_id: String,
}

/// The agent answered an objection at the opening. Fields in alphabetical order, as the
/// answer has always been serialised.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OpeningObjectionAnswered {
    /// The answer's audit event.
    pub audit_index: u64,
    /// The answer.
    pub answer: String,
    /// When answered (RFC 3339).
    pub answered_at: String,
    /// The objection.
    pub objection_id: String,
}

/// The caller's company, checked to be in the published record.
pub(super) async fn bidder_of_record(
    tx: &mut Tx,
    caller: &Caller,
    code: &str,
) -> Result<(Facts, String), BidError> {
    let tender = tender_ref(tx, code).await?;
    let org_id = bidder_org(tx, caller).await?;
    if opening_state(tx, &tender.tender_id).await?.as_deref() != Some("opened") {
        return Err(BidError::NotOpened);
    }
    let in_record = q_opt!(
        tx,
        (String,),
        "select bid_id from bid where tender_id = $1 and bidder_org_id = $2
           and (state in ('opened', 'revoked') or (state = 'withdrawn' and withdrawn_by = 'platform'))",
        tender.tender_id.clone(),
        org_id.clone()
    )?;
    if in_record.is_none() {
        return Err(BidError::NotInRecord);
    }
    Ok((tender, org_id))
}

/// A bidder confirms the opening record (once per company).
pub async fn confirm(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<RecordConfirmed, BidError> {
    let mut tx = db.begin().await?;
    let (tender, org_id) = bidder_of_record(&mut tx, caller, code).await?;
    let res = q_exec!(
        tx,
        "insert into opening_confirmation (tender_id, bidder_org_id, user_id, confirmed_at) values ($1, $2, $3, $4)",
        tender.tender_id.clone(),
        org_id.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    );
    match res {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(BidError::AlreadyConfirmed),
        Err(e) => return Err(e.into()),
    }
    let seq = audit::append(
        &mut tx,
        now,
        &caller.actor,
        "opening.confirm",
        Some(&tender.tender_id),
        json!({"bidder_id": org_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(RecordConfirmed {
        audit_index: seq,
        bidder_id: org_id,
        confirmed_at: audit::entry_time(now),
        tender_id: tender.tender_id,
    })
}

/// A bidder raises an objection at the opening (条例 第44条: answered on the spot).
pub async fn object(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    body: &str,
) -> Result<OpeningObjectionRaised, BidError> {
    let body = super::super::check_text("body", body, 1, 2000)?;
    let mut tx = db.begin().await?;
    let (tender, org_id) = bidder_of_record(&mut tx, caller, code).await?;
    let id = new_id();
    q_exec!(
        tx,
        "insert into opening_objection (objection_id, tender_id, bidder_org_id, raised_by, body, raised_at)
         values ($1, $2, $3, $4, $5, $6)",
        id.clone(),
        tender.tender_id.clone(),
        org_id.clone(),
        caller.user.user_id.clone(),
        body.clone(),
        to_millis(now)
    )?;
    let seq = audit::append(
        &mut tx,
        now,
        &caller.actor,
        "opening.objection",
        Some(&tender.tender_id),
        json!({"objection_id": id, "bidder_id": org_id, "body": body}),
    )
    .await?;
    tx.commit().await?;
    Ok(OpeningObjectionRaised {
        audit_index: seq,
        bidder_id: org_id,
        body,
        objection_id: id,
        raised_at: audit::entry_time(now),
        tender_id: tender.tender_id,
    })
}

/// The owning agent answers an objection (once).
pub async fn answer(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    objection_id: &str,
    answer: &str,
) -> Result<OpeningObjectionAnswered, BidError> {
    let answer = super::super::check_text("answer", answer, 1, 2000)?;
    let mut tx = db.begin().await?;
    let tender = tender_ref(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    let n = q_exec!(
        tx,
        "update opening_objection set answer = $1, answered_by = $2, answered_at = $3
         where objection_id = $4 and tender_id = $5 and answer is null",
        answer.clone(),
        caller.user.user_id.clone(),
        to_millis(now),
        objection_id.to_string(),
        tender.tender_id.clone()
    )?;
    if n == 0 {
        let exists = q_opt!(
            tx,
            (String,),
            "select objection_id from opening_objection where objection_id = $1 and tender_id = $2",
            objection_id.to_string(),
            tender.tender_id.clone()
        )?
        .is_some();
        return Err(if exists {
            BidError::AlreadyAnswered
        } else {
            Common::NotFound("objection").into()
        });
    }
    let seq = audit::append(
        &mut tx,
        now,
        &caller.actor,
        "opening.objection.answer",
        Some(&tender.tender_id),
        json!({"objection_id": objection_id, "answer": answer}),
    )
    .await?;
    tx.commit().await?;
    Ok(OpeningObjectionAnswered {
        audit_index: seq,
        answer,
        answered_at: audit::entry_time(now),
        objection_id: objection_id.to_string(),
    })
}
