//! The start of the opening after the deadline: the tender closes if the deadline job has
//! not run yet, and with fewer bids than the rulebook's minimum it fails (流标) at once.

use super::*;

/// The owning agent starts the opening after the deadline (see the module comment).
pub async fn start(
    env: &Env,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<OpeningView, BidError> {
    let mut tx = env.db.begin().await?;
    let tender = tender_ref(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if opening_state(&mut tx, &tender.tender_id).await?.is_some() {
        return Err(BidError::OpeningAlreadyStarted);
    }
    match tender.state {
        TenderState::Closed => {}
        TenderState::Published if tender.bid_deadline_at <= to_millis(now) => {
            // The deadline job has not run yet: close here, in this transaction.
            let payload = json!({"reason": "bid deadline reached; closed when the opening started / 投标截止时间已到"});
            lifecycle::transition(
                &mut tx,
                now,
                &tender.tender_id,
                TenderState::Published,
                TenderState::Closed,
                Move::new(&caller.actor, "tender.close", payload),
            )
            .await?;
        }
        TenderState::Published => return Err(BidError::OpeningTooEarly),
        TenderState::Opened
        | TenderState::Failed
        | TenderState::Evaluating
        | TenderState::Publicity
        | TenderState::Awarded
        | TenderState::Contracted => {
            return Err(BidError::OpeningAlreadyStarted);
        }
        other @ (TenderState::Draft | TenderState::Cancelled | TenderState::Suspended) => {
            return Err(BidError::WrongState {
                action: "open the bids",
                state: other,
            });
        }
    }
    let (_, k, n) = key_params(&mut tx, &tender.tender_id).await?;
    let book = rulebook(&env.rulebooks, &tender)?;
    let min = book.rules.min_valid_bids.value;
    let (bids,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from bid where tender_id = $1 and state = 'submitted'",
        tender.tender_id.clone()
    )?;
    let (withdrawn,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from bid where tender_id = $1 and state = 'withdrawn'",
        tender.tender_id.clone()
    )?;
    if bids < i64::from(min) {
        // 招标投标法 第28条: fewer than 3 bidders — do not open; re-tender.
        let record = json!({
            "v": 1, "tender_id": tender.tender_id, "tender_code": tender.code,
            "outcome": "failed", "bids_received": bids, "withdrawn_before_deadline": withdrawn,
            "min_required": min, "article": book.rules.min_valid_bids.article,
            "decided_at": audit::entry_time(now),
            "message": format!("fewer than {min} bids: the tender fails (流标), no bid is opened / 投标人少于{min}个，不得开标，依法重新招标"),
        });
        let record_json = serde_json_canonicalizer::to_string(&record)
            .map_err(|e| Common::Corrupt(e.to_string()))?;
        insert_opening(
            &mut tx,
            now,
            caller,
            &tender.tender_id,
            "failed",
            Some(&record_json),
        )
        .await?;
        lifecycle::transition(
            &mut tx,
            now,
            &tender.tender_id,
            TenderState::Closed,
            TenderState::Failed,
            Move::new(&caller.actor, "tender.fail", record),
        )
        .await?;
    } else {
        insert_opening(&mut tx, now, caller, &tender.tender_id, "unlocking", None).await?;
        audit::append(
            &mut tx,
            now,
            &caller.actor,
            "opening.start",
            Some(&tender.tender_id),
            json!({"bids_received": bids, "withdrawn_before_deadline": withdrawn,
                   "k": k, "n": n, "started_at": audit::entry_time(now)}),
        )
        .await?;
    }
    tx.commit().await?;
    view(&env.db, code).await
}

pub(super) async fn insert_opening(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    tender_id: &str,
    state: &str,
    record_json: Option<&str>,
) -> Result<(), BidError> {
    let digest = record_json.map(|r| sha256_hex(r.as_bytes()));
    let res = q_exec!(
        tx,
        "insert into opening (tender_id, state, started_by, started_at, finished_at, record_json, record_sha256)
         values ($1, $2, $3, $4, $5, $6, $7)",
        tender_id.to_string(),
        state.to_string(),
        caller.user.user_id.clone(),
        to_millis(now),
        record_json.map(|_| to_millis(now)),
        record_json.map(str::to_string),
        digest
    );
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(BidError::OpeningAlreadyStarted),
        Err(e) => Err(e.into()),
    }
}
