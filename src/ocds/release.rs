//! One OCDS 1.1.5 release per public change of a tender, built from its audit entry alone.
//!
//! The audit log already holds one immutable, public entry per change with everything the
//! change decided (the terms at publication, the amended deadline, the opening record, the
//! award, the contract), so a release is a pure function of that entry: the same entry
//! always gives the same release, and what the log withholds (who bid before the opening,
//! who sits on the committee before the award) never reaches a release, because withheld
//! entries are never read here (`service`) and the evaluation's entries are not mapped.
//! Money is integer fen in the platform; OCDS `amount` is in the currency unit.

use serde_json::{Value, json};

/// The audit actions that make a release, with the release tag each makes.
pub const ACTIONS: &[(&str, &str)] = &[
    ("tender.publish", "tender"),
    ("tender.amend", "tenderAmendment"),
    ("tender.question.answer", "tenderUpdate"),
    ("opening.record", "tenderUpdate"),
    ("tender.fail", "tenderUpdate"),
    ("tender.cancel", "tenderCancellation"),
    ("result.award", "award"),
    ("result.contract", "contract"),
    // Auctions and listings (拍卖, 挂牌): `auction_release` maps them.
    ("auction.announce", "tender"),
    ("auction.final_auction", "tenderUpdate"),
    ("auction.no_deal", "tenderUpdate"),
    ("auction.cancel", "tenderCancellation"),
    ("auction.deal", "award"),
];

/// What a release needs besides the entry: the ocid prefix and organisation names.
pub trait Names {
    /// The organisation's name, if known.
    fn org_name(&self, org_id: &str) -> Option<String>;

    /// The public text of an answered question (question, answer), if known. The release
    /// carries it only when it matches the hashes the log recorded.
    fn clarification(&self, _question_id: &str) -> Option<(String, String)> {
        None
    }
}

/// The `ocid` of a tender: the registered prefix and the tender's id.
pub fn ocid(prefix: &str, tender_id: &str) -> String {
    format!("{prefix}-{tender_id}")
}

/// Fen as an OCDS amount (the currency unit, two decimals).
fn amount(fen: &Value) -> Value {
    fen.as_i64()
        .and_then(|f| serde_json::Number::from_f64(f as f64 / 100.0))
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn value(fen: &Value, currency: &Value) -> Value {
    json!({"amount": amount(fen), "currency": currency.as_str().unwrap_or("CNY")})
}

fn party(names: &dyn Names, org_id: &str, fallback: Option<&str>, roles: &[&str]) -> Value {
    let name = names
        .org_name(org_id)
        .or_else(|| fallback.map(str::to_owned))
        .unwrap_or_else(|| org_id.to_owned());
    json!({"id": org_id, "name": name, "roles": roles})
}

/// The OCDS award criteria of an evaluation method.
fn award_criteria(method: &str) -> &'static str {
    match method {
        "lowest_price" => "priceOnly",
        _ => "ratedCriteria",
    }
}

/// The release of one public audit entry, or `None` when the action makes no release.
pub fn from_entry(prefix: &str, entry: &Value, names: &dyn Names) -> Option<Value> {
    let action = entry.get("action")?.as_str()?;
    let tag = ACTIONS.iter().find(|(a, _)| *a == action)?.1;
    let tender_id = entry.get("tender")?.as_str()?;
    let seq = entry.get("seq")?.as_u64()?;
    let date = entry.get("time")?.as_str()?;
    let p = entry.get("payload").cloned().unwrap_or(Value::Null);
    let ocid = ocid(prefix, tender_id);
    let mut r = json!({
        "ocid": ocid,
        "id": format!("{ocid}-{seq}"),
        "date": date,
        "tag": [tag],
        "initiationType": "tender",
        "language": "zh",
    });
    let mut tender = json!({"id": tender_id});
    if action.starts_with("auction.") {
        auction_release(&mut r, &mut tender, action, tender_id, date, &p, names)?;
        r["tender"] = tender;
        return Some(r);
    }
    match action {
        "tender.publish" => {
            let buyer = p.get("tenderee_org_id").and_then(Value::as_str)?;
            let mut parties = vec![party(names, buyer, None, &["buyer"])];
            if let Some(agent) = p.get("agent_org_id").and_then(Value::as_str) {
                parties.push(party(names, agent, None, &["procuringEntity"]));
            }
            r["buyer"] = json!({"id": buyer, "name": parties.first().and_then(|b| b.get("name")).cloned().unwrap_or(Value::Null)});
            r["parties"] = Value::Array(parties);
            tender["title"] = p["title"].clone();
            tender["status"] = json!("active");
            tender["procurementMethod"] = json!("open");
            tender["procurementMethodDetails"] = p["procedure"].clone();
            tender["value"] = value(&p["estimated_price_fen"], &p["currency"]);
            tender["awardCriteria"] = json!(award_criteria(
                p["evaluation_method"].as_str().unwrap_or_default()
            ));
            tender["tenderPeriod"] = json!({
                "startDate": p["documents_available_at"], "endDate": p["bid_deadline_at"]});
            tender["enquiryPeriod"] = json!({
                "startDate": p["published_at"], "endDate": p["clarification_cutoff_at"]});
            tender["bidOpening"] = json!({
                "date": p["bid_deadline_at"],
                "address": {"streetAddress": p["opening_place"]}});
            let docs: Vec<Value> = p["documents"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|d| {
                            json!({"id": d["document_id"], "documentType": "biddingDocuments",
                                   "title": d["filename"], "datePublished": p["published_at"],
                                   "format": Value::Null,
                                   "description": format!("SHA-256 {}", d["sha256"].as_str().unwrap_or_default())})
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !docs.is_empty() {
                tender["documents"] = Value::Array(docs);
            }
        }
        "tender.amend" => {
            tender["tenderPeriod"] = json!({"endDate": p["new_deadline"]});
            tender["bidOpening"] = json!({"date": p["new_deadline"]});
            tender["amendments"] = json!([{
                "id": p["amendment_id"], "date": date,
                "description": p["summary"],
                "rationale": format!("deadline {} → {}", p["old_deadline"].as_str().unwrap_or("-"), p["new_deadline"].as_str().unwrap_or("-")),
            }]);
        }
        "tender.question.answer" => {
            // A public answer to a bidder's question (答疑澄清): a clarification document.
            // The asker is never named; the log records the question and answer by hash.
            let qid = p.get("question_id")?.as_str()?;
            let recorded = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
            let sha = |t: &str| crate::store::blob::sha256_hex(t.as_bytes());
            let description = match names.clarification(qid) {
                Some((q, a))
                    if sha(&q) == recorded("question_sha256")
                        && sha(&a) == recorded("answer_sha256") =>
                {
                    format!("问 Q: {q}\n答 A: {a}")
                }
                _ => format!(
                    "question SHA-256 {}, answer SHA-256 {}",
                    recorded("question_sha256"),
                    recorded("answer_sha256")
                ),
            };
            tender["documents"] = json!([{
                "id": format!("clarification-{qid}"),
                "documentType": "clarifications",
                "title": "答疑澄清 / Clarification",
                "description": description,
                "datePublished": date,
            }]);
        }
        "opening.record" => {
            let record = p.get("record")?;
            tender["bidOpening"] = json!({"date": record["opened_at"]});
            let bids = record["bids"].as_array().cloned().unwrap_or_default();
            let details: Vec<Value> = bids
                .iter()
                .map(|b| {
                    let bidder = b["bidder_id"].as_str().unwrap_or_default();
                    let mut d = json!({
                        "id": b["bid_id"],
                        "status": if b["status"] == "opened" { "valid" } else { "disqualified" },
                        "tenderers": [{"id": bidder, "name": b["bidder_name"]}],
                    });
                    if b.get("price_fen").is_some_and(|v| !v.is_null()) {
                        d["value"] = value(&b["price_fen"], &json!("CNY"));
                    }
                    d
                })
                .collect();
            let valid = record["valid_bids"].as_u64().unwrap_or(0);
            let mut parties: Vec<Value> = bids
                .iter()
                .filter_map(|b| {
                    let id = b["bidder_id"].as_str()?;
                    Some(party(names, id, b["bidder_name"].as_str(), &["tenderer"]))
                })
                .collect();
            parties.dedup_by(|a, b| a["id"] == b["id"]);
            r["parties"] = Value::Array(parties);
            r["bids"] = json!({
                "statistics": [
                    {"id": "bids", "measure": "bids", "value": bids.len(), "date": date},
                    {"id": "validBids", "measure": "validBids", "value": valid, "date": date},
                ],
                "details": details,
            });
        }
        "tender.fail" => {
            tender["status"] = json!("unsuccessful");
        }
        "tender.cancel" => {
            tender["status"] = json!("cancelled");
        }
        "result.award" => {
            let winner = p.get("winner_org_id").and_then(Value::as_str)?;
            tender["status"] = json!("complete");
            r["parties"] = json!([party(names, winner, p["winner"].as_str(), &["supplier"])]);
            r["awards"] = json!([{
                "id": format!("{tender_id}-award"),
                "status": "active",
                "date": date,
                "value": value(&p["price_fen"], &json!("CNY")),
                "suppliers": [{"id": winner, "name": p["winner"]}],
                "relatedBid": p["bid_id"],
            }]);
        }
        "result.contract" => {
            r["contracts"] = json!([{
                "id": format!("{tender_id}-contract"),
                "awardID": format!("{tender_id}-award"),
                "status": "active",
                "dateSigned": p["signed_at"],
                "value": value(&p["amount_fen"], &json!("CNY")),
            }]);
        }
        _ => return None,
    }
    r["tender"] = tender;
    Some(r)
}

/// A stored millisecond time as an OCDS date.
fn ms_date(ms: &Value) -> Value {
    ms.as_i64()
        .map(|ms| json!(crate::audit::entry_time(crate::clock::from_millis(ms))))
        .unwrap_or(Value::Null)
}

/// The release fields of an auction's or listing's public change. The seller receives the
/// price (`payee`), the winner pays it (`supplier` of the award, `payer`); the bidders stay
/// out until the end, when only the winner is named, as the portal publishes it.
fn auction_release(
    r: &mut Value,
    tender: &mut Value,
    action: &str,
    trade_id: &str,
    date: &str,
    p: &Value,
    names: &dyn Names,
) -> Option<()> {
    match action {
        "auction.announce" => {
            let agent = p.get("agent_org_id").and_then(Value::as_str)?;
            let seller = json!({"id": format!("{trade_id}-seller"),
                                "name": p["seller_name"], "roles": ["payee"]});
            r["parties"] = json!([party(names, agent, None, &["procuringEntity"]), seller]);
            let listing = p["kind"] == "listing";
            tender["title"] = p["title"].clone();
            tender["status"] = json!("active");
            tender["procurementMethod"] = json!("open");
            tender["procurementMethodDetails"] = json!(format!(
                "{} ({})",
                if listing {
                    "挂牌 listing"
                } else {
                    "网上拍卖 online auction"
                },
                p["category"].as_str().unwrap_or_default()
            ));
            tender["value"] = value(&p["start_price_fen"], &p["currency"]);
            tender["awardCriteriaDetails"] = json!(
                "价高者得，不低于保留价 / the highest bid at or above the reserve price wins"
            );
            tender["tenderPeriod"] = json!({
                "startDate": ms_date(&p["starts_at"]), "endDate": ms_date(&p["ends_at"])});
            tender["enquiryPeriod"] = json!({
                "startDate": p["announced_at"], "endDate": ms_date(&p["starts_at"])});
        }
        "auction.final_auction" => {
            // A listing goes on to a timed auction among those who asked to continue.
            tender["tenderPeriod"] = json!({"endDate": ms_date(&p["ends_at"])});
            tender["description"] =
                json!("挂牌期满，转入现场竞价 / the listing goes on to a timed auction");
        }
        "auction.no_deal" => tender["status"] = json!("unsuccessful"),
        "auction.cancel" => tender["status"] = json!("cancelled"),
        "auction.deal" => {
            let winner = p.get("winner_org_id").and_then(Value::as_str)?;
            tender["status"] = json!("complete");
            r["parties"] = json!([party(names, winner, None, &["supplier", "payer"])]);
            let name = names.org_name(winner).unwrap_or_else(|| winner.to_owned());
            r["awards"] = json!([{
                "id": format!("{trade_id}-award"),
                "status": "active",
                "date": date,
                "value": value(&p["price_fen"], &json!("CNY")),
                "suppliers": [{"id": winner, "name": name}],
                "description": format!("竞买号 bidder number {}",
                                       p["bidder_no"].as_str().unwrap_or_default()),
            }]);
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    struct NoNames;
    impl Names for NoNames {
        fn org_name(&self, _: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn unmapped_and_broken_entries_make_no_release() {
        for e in [
            json!({}),
            json!({"action": "bid.submit", "tender": "t", "seq": 1, "time": "2026-01-01T00:00:00.000Z"}),
            json!({"action": "tender.publish", "seq": 1, "time": "x"}),
            json!({"action": "evaluation.start", "tender": "t", "seq": 1, "time": "x", "payload": {}}),
        ] {
            assert!(from_entry("ocds-x", &e, &NoNames).is_none(), "{e}");
        }
    }

    #[test]
    fn money_is_in_yuan_and_ids_are_stable() {
        let e = json!({"action": "result.contract", "tender": "T1", "seq": 9,
                       "time": "2026-01-01T00:00:00.000Z",
                       "payload": {"signed_at": "2026-01-01T00:00:00.000Z", "amount_fen": 123456}});
        let r = from_entry("ocds-x", &e, &NoNames).unwrap();
        assert_eq!(r["ocid"], "ocds-x-T1");
        assert_eq!(r["id"], "ocds-x-T1-9");
        assert_eq!(r["contracts"][0]["value"]["amount"], json!(1234.56));
        assert_eq!(r["tag"], json!(["contract"]));
        assert_eq!(from_entry("ocds-x", &e, &NoNames), Some(r));
    }
}
