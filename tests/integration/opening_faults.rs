//! Who is at fault when a part cannot be opened (DESIGN.md "Sealed bids" §6, 电子招标投标办法):
//! an envelope the bidder broke on purpose (its HPKE `info` bound to another bidder behind a
//! correct header, which the upload check cannot see) makes the bid revoked (撤销, the
//! bidder's fault) in the public opening record; a stored envelope that no longer matches
//! its receipt, or that is gone, makes it withdrawn (撤回) by the platform.

use chrono::Duration;
use reqwest::StatusCode;
use ring::rand::SystemRandom;
use serde_json::{Value, json};
use sunbid::seal::{PartInfo, PublicKey, seal_stream};

use crate::both;
use crate::harness::{Harness, PASSWORD, next_serial};
use crate::tenders::World;

/// A published tender and what a bidder needs to seal for it.
pub(crate) struct Open {
    pub(crate) code: String,
    pub(crate) tender_id: String,
    pub(crate) pk: PublicKey,
}

pub(crate) async fn published(h: &Harness) -> Open {
    let world = World::new(h).await;
    published_by(h, &world).await
}

/// Another tender of `world`'s agent, published with its custodians.
pub(crate) async fn published_by(h: &Harness, world: &World) -> Open {
    let code = format!("OPF-{}", next_serial());
    world.published(h, &code, "开标责任认定测试工程", 20).await;
    let (s, key) = h
        .api_get(&format!("/api/v1/tenders/{code}/opening-key"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{key}");
    let bytes = base64_url(key["public_key"].as_str().expect("public key"));
    Open {
        code,
        tender_id: key["tender_id"].as_str().expect("tender id").to_string(),
        pk: PublicKey::from_bytes(&bytes).expect("a P-256 point"),
    }
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url without padding")
}

/// Seals `plain` with the platform's own sealing code, `info` bound to `bidder_id`.
pub(crate) fn seal(
    pk: &PublicKey,
    tender_id: &str,
    bidder_id: &str,
    label: &str,
    plain: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    seal_stream(
        &mut &plain[..],
        &mut out,
        pk,
        &PartInfo {
            tender_id,
            bidder_id,
            label,
            plaintext_len: plain.len() as u64,
        },
        &SystemRandom::new(),
    )
    .expect("seal");
    out
}

/// Rewrites the header's `bidder_id` (same length) without touching the key wrap: the header
/// names `to`, while the HPKE `info` still names the bidder it was sealed for.
fn rename_bidder(envelope: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len(), "organisation ids have one length");
    let tender_len = usize::from(envelope[29]);
    let at = 30 + tender_len;
    assert_eq!(usize::from(envelope[at]), from.len());
    let field = &mut envelope[at + 1..at + 1 + from.len()];
    assert_eq!(field, from.as_bytes());
    field.copy_from_slice(to.as_bytes());
}

pub(crate) fn form(price_fen: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "price_fen": price_fen, "duration_days": 240, "quality": "合格",
        "project_manager": "张建国", "declarations": ["投标保证金已缴纳"],
    }))
    .expect("json")
}

pub(crate) async fn upload(
    h: &Harness,
    o: &Open,
    token: &str,
    label: &str,
    envelope: &[u8],
) -> Value {
    let resp = h
        .client
        .post(h.url(&format!("/api/v1/tenders/{}/bid/parts", o.code)))
        .query(&[("label", label), ("name", &format!("{label}.sealed"))])
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(envelope.to_vec())
        .send()
        .await
        .expect("upload");
    let (s, body) = crate::harness::json_of(resp).await;
    assert_eq!(s, StatusCode::CREATED, "accepted at upload: {body}");
    body
}

/// Uploads the two envelopes and submits them; returns the receipt's part digests.
pub(crate) async fn submit(
    h: &Harness,
    o: &Open,
    token: &str,
    form: &[u8],
    attachment: &[u8],
) -> Vec<String> {
    let f = upload(h, o, token, "form", form).await;
    let a = upload(h, o, token, "attachment", attachment).await;
    let (s, receipt) = h
        .api_post(
            &format!("/api/v1/tenders/{}/bid/submit", o.code),
            Some(token),
            &json!({"parts": [f["part_id"], a["part_id"]]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "a receipt: {receipt}");
    receipt["receipt"]["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["sha256"].as_str().expect("sha256").to_string())
        .collect()
}

/// A correctly sealed bid.
pub(crate) async fn honest_bid(h: &Harness, o: &Open, org: &str, token: &str, price_fen: i64) {
    let f = seal(&o.pk, &o.tender_id, org, "bid-form.json", &form(price_fen));
    let a = seal(
        &o.pk,
        &o.tender_id,
        org,
        "技术方案.pdf",
        b"%PDF technical proposal",
    );
    submit(h, o, token, &f, &a).await;
}

/// Past the deadline, the agent starts the opening and two custodians unlock; returns the
/// public view of the ceremony (what the opening page renders), read without a login.
pub(crate) async fn open_bids(h: &Harness, o: &Open) -> Value {
    h.clock.advance(Duration::days(21));
    // Tokens from before the deadline have expired by now.
    let agent = h.login("agent1", PASSWORD).await;
    let (s, v) = h
        .api_post(
            &format!("/api/v1/tenders/{}/opening/start", o.code),
            Some(&agent),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "unlocking", "{v}");
    for name in ["custodian0", "custodian1"] {
        let token = h.login(name, PASSWORD).await;
        let (s, v) = h
            .api_post(
                &format!("/api/v1/tenders/{}/opening/unlock", o.code),
                Some(&token),
                &json!({"passphrase": PASSWORD}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = h
        .api_get(&format!("/api/v1/tenders/{}/opening", o.code), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "opened", "{v}");
    let page = h
        .client
        .get(h.url(&format!("/tenders/{}/opening", o.code)))
        .send()
        .await
        .expect("opening page");
    assert_eq!(page.status(), StatusCode::OK);
    v
}

pub(crate) fn record_of(view: &Value, org: &str) -> Value {
    view["record"]["bids"]
        .as_array()
        .expect("bids")
        .iter()
        .find(|b| b["bidder_id"] == org)
        .unwrap_or_else(|| panic!("{org} in the record: {view}"))
        .clone()
}

/// The bidder's own view of its bid after the opening.
async fn my_bid(h: &Harness, o: &Open, username: &str) -> Value {
    let token = h.login(username, PASSWORD).await;
    let (s, v) = h
        .api_get(&format!("/api/v1/tenders/{}/bid", o.code), Some(&token))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["bid"].clone()
}

/// The actions of the public audit entries about one bid (entries are canonical JSON text).
async fn audit_actions(h: &Harness, bid_id: &str) -> Vec<String> {
    let (s, v) = h.api_get("/api/v1/audit/events?limit=1000", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["events"]
        .as_array()
        .unwrap_or_else(|| panic!("events: {v}"))
        .iter()
        .filter_map(|e| e["entry"].as_str())
        .map(|text| serde_json::from_str::<Value>(text).expect("entry json"))
        .filter(|e| e["payload"]["bid_id"] == bid_id)
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn bidders_bad_envelope_is_revoked(h: &Harness) {
    let o = published(h).await;
    let (org_a, _, a) = h.bidder("open_a").await;
    let (org_b, _, b) = h.bidder("open_b").await;
    let (org_c, _, c) = h.bidder("open_c").await;
    honest_bid(h, &o, &org_a, &a, 11_000_000_000).await;
    honest_bid(h, &o, &org_b, &b, 11_500_000_000).await;

    // C seals its bid form with `info` bound to A, then writes its own id into the header:
    // the header is right, so the upload's structural check passes and a receipt is signed.
    let mut bad_form = seal(
        &o.pk,
        &o.tender_id,
        &org_a,
        "bid-form.json",
        &form(9_000_000_000),
    );
    rename_bidder(&mut bad_form, &org_a, &org_c);
    let attachment = seal(&o.pk, &o.tender_id, &org_c, "技术方案.pdf", b"%PDF c");
    let digests = submit(h, &o, &c, &bad_form, &attachment).await;
    assert_eq!(digests.len(), 2);

    let view = open_bids(h, &o).await;
    let rc = record_of(&view, &org_c);
    assert_eq!(rc["status"], "revoked", "撤销, the bidder's fault: {rc}");
    let reason = rc["reason"].as_str().expect("a reason");
    assert!(reason.contains("SEAL_KEY_UNWRAP"), "{reason}");
    assert_eq!(rc["parts"][0]["outcome"], "failed", "{rc}");
    assert_eq!(rc["parts"][0]["code"], "SEAL_KEY_UNWRAP", "{rc}");
    assert_eq!(rc["parts"][0]["fault"], "bidder", "{rc}");
    assert!(rc.get("price_fen").is_none(), "no price read from it: {rc}");
    assert_eq!(record_of(&view, &org_a)["status"], "opened");
    assert_eq!(record_of(&view, &org_b)["status"], "opened");
    assert_eq!(view["record"]["valid_bids"], 2, "{view}");

    let mine = my_bid(h, &o, "open_c").await;
    assert_eq!(mine["state"], "revoked", "{mine}");
    assert!(
        mine["withdrawn_by"].is_null(),
        "not withdrawn by anyone: {mine}"
    );
    let bid_id = rc["bid_id"].as_str().expect("bid id");
    let acts = audit_actions(h, bid_id).await;
    assert!(acts.iter().any(|a| a == "bid.revoke"), "{acts:?}");
    assert!(!acts.iter().any(|a| a == "bid.withdraw"), "{acts:?}");
}
both!(
    bidders_bad_envelope_is_revoked,
    bidders_bad_envelope_is_revoked
);

async fn platforms_storage_fault_is_a_withdrawal(h: &Harness) {
    let o = published(h).await;
    let (org_a, _, a) = h.bidder("open_a").await;
    let (org_b, _, b) = h.bidder("open_b").await;
    let (org_c, _, c) = h.bidder("open_c").await;
    honest_bid(h, &o, &org_a, &a, 11_000_000_000).await;
    let sealed =
        |org: &str, label: &str, plain: &[u8]| seal(&o.pk, &o.tender_id, org, label, plain);
    let b_digests = submit(
        h,
        &o,
        &b,
        &sealed(&org_b, "bid-form.json", &form(11_200_000_000)),
        &sealed(&org_b, "技术方案.pdf", b"%PDF b"),
    )
    .await;
    let c_digests = submit(
        h,
        &o,
        &c,
        &sealed(&org_c, "bid-form.json", &form(11_300_000_000)),
        &sealed(&org_c, "技术方案.pdf", b"%PDF c"),
    )
    .await;

    // After the receipts: B's stored attachment changes on the platform's disk, C's is lost.
    let path = |sha: &str| h.state().blobs.local_path(sha).expect("blob path");
    let mut bytes = std::fs::read(path(&b_digests[1])).expect("stored envelope");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(path(&b_digests[1]), bytes).expect("alter");
    std::fs::remove_file(path(&c_digests[1])).expect("remove");

    let view = open_bids(h, &o).await;
    for (org, code) in [
        (&org_b, "PLATFORM_STORED_ENVELOPE_CHANGED"),
        (&org_c, "PLATFORM_STORAGE"),
    ] {
        let r = record_of(&view, org);
        assert_eq!(r["status"], "withdrawn", "撤回 by the platform: {r}");
        assert!(r["reason"].as_str().expect("reason").contains(code), "{r}");
        assert_eq!(r["parts"][1]["code"], code, "{r}");
        assert_eq!(r["parts"][1]["fault"], "platform", "{r}");
    }
    assert_eq!(record_of(&view, &org_a)["status"], "opened");
    for username in ["open_b", "open_c"] {
        let mine = my_bid(h, &o, username).await;
        assert_eq!(mine["state"], "withdrawn", "{mine}");
        assert_eq!(mine["withdrawn_by"], "platform", "{mine}");
    }
}
both!(
    platforms_storage_fault_is_a_withdrawal,
    platforms_storage_fault_is_a_withdrawal
);
