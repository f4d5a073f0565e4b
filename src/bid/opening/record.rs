//! The opening itself: the key rebuilt from the shares and checked, every part decrypted,
//! each bid's outcome recorded, and the opening record (开标记录) published.

use super::decrypt::{OpeningPart, PartOutcome, Progress, decrypt_all, open_base_price};
use super::*;

/// Rebuilds the key from `shares`, decrypts everything and publishes the record.
async fn run_opening(
    env: &Env,
    tender: &Facts,
    shares: Vec<Share>,
    progress: Arc<Progress>,
) -> Result<(), BidError> {
    let (parts, published, k, n, unlocked, base_price) = {
        let mut tx = env.db.read().await?;
        let (pk, k, n) = key_params(&mut tx, &tender.tender_id).await?;
        let parts = q_all!(
            tx,
            OpeningPart,
            "select b.bid_id, b.bidder_org_id, o.name as bidder_name, b.audit_seq as receipt_audit_seq,
                    p.part_id, p.label, p.name, p.sha256, p.size_bytes
             from bid b
             join organisation o on o.org_id = b.bidder_org_id
             join bid_item i on i.bid_id = b.bid_id
             join bid_part p on p.part_id = i.part_id
             where b.tender_id = $1 and b.state = 'submitted'
             order by b.submitted_at, b.bid_id, i.position",
            tender.tender_id.clone()
        )?;
        let unlocked = q_all!(
            tx,
            (String,),
            "select user_id from opening_unlock where tender_id = $1 order by unlocked_at, user_id",
            tender.tender_id.clone()
        )?;
        let base_price = q_opt!(
            tx,
            (String,),
            "select sha256 from tender_base_price where tender_id = $1",
            tender.tender_id.clone()
        )?
        .map(|r| r.0);
        (parts, pk, k, n, unlocked, base_price)
    };
    let published = parse_public_key(&published)?;
    let key = match seal::rebuild_and_check(&shares, &published) {
        Ok(key) => key,
        Err(SealError::SharesDoNotMatch | SealError::InvalidShares(_)) => {
            return Err(BidError::KeyMismatch);
        }
        Err(e) => return Err(BidError::Crypto(e)),
    };
    drop(shares);
    let blobs = env.blobs.clone();
    let tender_id = tender.tender_id.clone();
    let (results, base_price) = tokio::task::spawn_blocking(move || {
        let r = decrypt_all(&blobs, &key, &tender_id, parts, &progress);
        // After the bids, with the same key (条例 第50条: published at the opening).
        let bp = base_price.map(|sha| open_base_price(&blobs, &key, &tender_id, &sha));
        drop(key); // wiped on drop
        (r, bp)
    })
    .await
    .map_err(|e| Common::Corrupt(format!("decryption task: {e}")))?;

    let now = env.clock.now();
    let mut tx = env.db.begin().await?;
    if opening_state(&mut tx, &tender.tender_id).await?.as_deref() != Some("unlocking") {
        return Err(BidError::OpeningAlreadyStarted);
    }
    let actor = audit::Actor::system();
    let mut record_bids = Vec::with_capacity(results.len());
    for bid in &results {
        let mut record_parts = Vec::with_capacity(bid.parts.len());
        for (part, outcome) in &bid.parts {
            let (outcome_json, plain) = match outcome {
                PartOutcome::Opened {
                    plain_sha256,
                    plain_len,
                } => (
                    json!({"outcome": "opened", "plaintext_sha256": plain_sha256,
                           "plaintext_size": plain_len}),
                    (bid.status == "opened").then(|| plain_sha256.clone()),
                ),
                PartOutcome::Failed {
                    code,
                    message,
                    fault,
                } => (
                    json!({"outcome": "failed", "code": code, "message": message,
                           "fault": fault.as_str()}),
                    None,
                ),
            };
            if let Some(digest) = plain {
                q_exec!(
                    tx,
                    "update bid_part set plain_sha256 = $1 where part_id = $2",
                    digest,
                    part.part_id.clone()
                )?;
            }
            let mut entry = json!({"part_id": part.part_id, "label": part.label, "name": part.name,
                                   "sha256": part.sha256, "size": part.size_bytes});
            if let (Some(e), Some(o)) = (entry.as_object_mut(), outcome_json.as_object()) {
                e.extend(o.clone());
            }
            audit::append(
                &mut tx,
                now,
                &actor,
                "opening.part",
                Some(&tender.tender_id),
                json!({"bid_id": bid.bid_id, "bidder_id": bid.bidder_org_id, "part": entry}),
            )
            .await?;
            record_parts.push(entry);
        }
        let (state_sql, withdrawn_by) = match bid.status {
            "opened" => ("opened", None),
            "revoked" => ("revoked", None),
            _ => ("withdrawn", Some("platform".to_string())),
        };
        q_exec!(
            tx,
            "update bid set state = $1, withdrawn_by = $2, reason = $3, closed_at = $4
             where bid_id = $5 and state = 'submitted'",
            state_sql.to_string(),
            withdrawn_by,
            bid.reason.clone(),
            to_millis(now),
            bid.bid_id.clone()
        )?;
        if bid.status != "opened" {
            let (action, label) = if bid.status == "revoked" {
                ("bid.revoke", "撤销 (the bidder's fault)")
            } else {
                ("bid.withdraw", "撤回 (a platform failure)")
            };
            audit::append(
                &mut tx,
                now,
                &actor,
                action,
                Some(&tender.tender_id),
                json!({"bid_id": bid.bid_id, "bidder_id": bid.bidder_org_id, "by": "opening",
                       "status": label, "reason": bid.reason}),
            )
            .await?;
        }
        let mut b = json!({
            "bid_id": bid.bid_id, "bidder_id": bid.bidder_org_id, "bidder_name": bid.bidder_name,
            "submission_audit_index": bid.audit_seq, "status": bid.status, "reason": bid.reason,
            "parts": record_parts,
        });
        if let Some(f) = &bid.form {
            b["price_fen"] = json!(f.price_fen);
            b["duration_days"] = json!(f.duration_days);
            b["quality"] = json!(f.quality);
            b["project_manager"] = json!(f.project_manager);
            b["declarations"] = json!(f.declarations);
        }
        record_bids.push(b);
    }
    let valid = results.iter().filter(|b| b.status == "opened").count();
    let mut record = json!({
        "v": 1, "tender_id": tender.tender_id, "tender_code": tender.code, "outcome": "opened",
        "opened_at": audit::entry_time(now), "bid_deadline_at": audit::entry_time(from_millis(tender.bid_deadline_at)),
        "k": k, "n": n, "custodians": unlocked.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "bids": record_bids, "valid_bids": valid,
        "base_price_fen": Value::Null,
    });
    match &base_price {
        Some(Ok(fen)) => record["base_price_fen"] = json!(fen),
        Some(Err(reason)) => record["base_price_error"] = json!(reason),
        None => {}
    }
    let record_json =
        serde_json_canonicalizer::to_string(&record).map_err(|e| Common::Corrupt(e.to_string()))?;
    let digest = sha256_hex(record_json.as_bytes());
    let o = q_exec!(
        tx,
        "update opening set state = 'opened', finished_at = $1, record_json = $2, record_sha256 = $3
         where tender_id = $4 and state = 'unlocking'",
        to_millis(now),
        record_json,
        digest.clone(),
        tender.tender_id.clone()
    )?;
    if o == 0 {
        return Err(Common::Concurrent.into());
    }
    lifecycle::transition(
        &mut tx,
        now,
        &tender.tender_id,
        TenderState::Closed,
        TenderState::Opened,
        Move::new(
            &actor,
            "opening.record",
            json!({"record_sha256": digest, "record": record}),
        ),
    )
    .await?;
    // The opening has ended: the shares and the opening's key go with the same commit.
    shares::wipe(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(())
}

/// How often a running opening renews its lease and reports its progress.
const PROGRESS_EVERY_MS: u64 = 1_000;

/// Runs the opening this process claimed ([`shares::claim`]), renewing its lease meanwhile.
/// Wrong shares are deleted (the custodians unlock again); any other failure gives the
/// opening back for another attempt.
pub(super) async fn run_claimed(
    env: &Env,
    tender: &Facts,
    shares: Vec<Share>,
) -> Result<(), BidError> {
    let progress = Arc::new(Progress::default());
    let beat = {
        let (db, clock, tender_id) = (env.db.clone(), env.clock.clone(), tender.tender_id.clone());
        let progress = Arc::clone(&progress);
        tokio::spawn(async move {
            // Often enough for the opening page to show the decryption moving; the lease
            // itself would need only a third of its length.
            let every = std::time::Duration::from_millis(PROGRESS_EVERY_MS);
            loop {
                tokio::time::sleep(every).await;
                let now = progress.now();
                if let Err(e) = shares::renew(&db, &tender_id, clock.now(), now).await {
                    tracing::warn!(error = %e, tender_id, "renewing the opening lease");
                }
            }
        })
    };
    let result = run_opening(env, tender, shares, progress).await;
    beat.abort();
    match &result {
        Ok(()) => {}
        Err(BidError::KeyMismatch) => {
            let mut tx = env.db.begin().await?;
            shares::wipe(&mut tx, &tender.tender_id).await?;
            tx.commit().await?;
        }
        Err(_) => shares::release(&env.db, &tender.tender_id).await?,
    }
    result
}
