//! Service tests of the evaluation steps, and the fixtures other evaluation and award tests
//! share.

use super::*;
use crate::clock::to_millis;
use crate::evaluation::review::CriterionKind;
use crate::evaluation::review::Verdict;
use crate::evaluation::routes::env;
use crate::evaluation::routes::{finish_signing, start_signing};
use crate::evaluation::scoring::Benchmark;
use crate::evaluation::scoring::{Aggregation, PriceParams};
use crate::expert::{DrawRequest, EligibilityRules, Quota};
use crate::http::ApiError;
use crate::identity::Role;
use crate::identity::passkey;
use crate::ids::new_id;
use crate::lifecycle::tender::{TenderState, force_state};
use crate::store::Db;
use crate::tender::service::{self as tenders, NewDocument};
use crate::tender::testkit::{Kit, org, user};
use crate::{q_exec, q_one};

pub(crate) struct Fixture {
    pub(crate) code: String,
    pub(crate) tender_id: String,
    pub(crate) experts: Vec<Caller>,
    pub(crate) bids: Vec<String>,
    /// One bidder user per bid, in bid order.
    pub(crate) bidders: Vec<Caller>,
}

/// A published tender moved straight to `opened` with one valid bid per price (the
/// opening record carries the prices) and `drawn` confirmed experts of whom the first
/// `checked_in` have checked in. The sealed-bid and draw ceremonies have their own tests.
pub(crate) async fn opened(kit: &Kit, prices: &[i64], drawn: usize, checked_in: usize) -> Fixture {
    let code = kit.code("E");
    let db = kit.db();
    tenders::create_draft(
        db,
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&code, 20),
    )
    .await
    .expect("draft");
    tenders::upload_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &code,
        NewDocument {
            filename: "招标文件.pdf".into(),
            content_type: None,
            amendment_id: None,
            bytes: bytes::Bytes::from_static(b"%PDF tender"),
        },
    )
    .await
    .expect("document");
    let t = tenders::publish(db, kit.books(), kit.now(), &kit.agent, &code)
        .await
        .expect("publish");
    let tid = t.tender_id.clone();
    let mut bidders = Vec::new();
    for _ in prices {
        let o = org(db, "bidder", "active").await;
        bidders.push(user(db, Role::Bidder, Some(&o), "active").await);
    }
    let mut experts = Vec::new();
    for _ in 0..drawn {
        experts.push(user(db, Role::Expert, None, "active").await);
    }
    let t0 = to_millis(kit.now());
    let mut tx = db.begin().await.unwrap();
    let mut bids = Vec::new();
    let mut record = Vec::new();
    for (i, (p, b)) in prices.iter().zip(&bidders).enumerate() {
        let id = new_id();
        q_exec!(
            tx,
            "insert into bid (bid_id, tender_id, bidder_org_id, submitted_by, state, receipt_json,
                signature, audit_seq, submitted_at)
             values ($1, $2, $3, $4, 'opened', '{}', 'x', 0, $5)",
            id.clone(),
            tid.clone(),
            b.user.org_id.clone(),
            b.user.user_id.clone(),
            t0 + i64::try_from(i).unwrap()
        )
        .unwrap();
        record.push(json!({"bid_id": id, "status": "opened", "price_fen": p}));
        bids.push(id);
    }
    q_exec!(
        tx,
        "insert into opening (tender_id, state, started_by, started_at, finished_at, record_json, record_sha256)
         values ($1, 'opened', $2, $3, $3, $4, 'x')",
        tid.clone(),
        kit.agent.user.user_id.clone(),
        t0,
        json!({"bids": record}).to_string()
    )
    .unwrap();
    let draw_id = new_id();
    let request = DrawRequest {
        tender_id: tid.clone(),
        evaluation_at: kit.now().fixed_offset(),
        quotas: vec![Quota {
            specialty: "A01".into(),
            count: u32::try_from(drawn).unwrap(),
            alternates: 0,
        }],
        region: None,
        tenderee_org_id: kit.tenderee_org.clone(),
        agent_org_id: None,
        bidder_org_ids: vec![],
        supervising_org_ids: vec![],
        excluded_experts: vec![],
        previously_drawn: vec![],
        rules: EligibilityRules::default(),
    };
    q_exec!(
        tx,
        "insert into expert_draw (draw_id, tender_id, kind, requested_by, supervisor_user_id, request_json,
            evaluation_at, evaluation_place, checkin_opens_at, checkin_closes_at, confirm_minutes, state,
            secret_hex, commitment_hex, commit_seq, created_at)
         values ($1, $2, 'initial', $3, $4, $5, 0, '评标室', 0, 0, 60, 'drawn', '00', '00', 0, 0)",
        draw_id.clone(),
        tid.clone(),
        kit.agent.user.user_id.clone(),
        kit.regulator.user.user_id.clone(),
        serde_json::to_string(&request).unwrap()
    )
    .unwrap();
    for (i, e) in experts.iter().enumerate() {
        let expert_id = new_id();
        q_exec!(
            tx,
            "insert into expert (expert_id, user_id, name, specialties, region, title, years_of_practice,
                birth_year, status, created_at, updated_at)
             values ($1, $2, $3, '[\"A01\"]', '330106', 'senior', 10, 1970, 'active', 0, 0)",
            expert_id.clone(),
            e.user.user_id.clone(),
            format!("专家{i}")
        )
        .unwrap();
        q_exec!(
            tx,
            "insert into expert_assignment (draw_id, expert_id, tender_id, specialty, member_no, role, state, created_at)
             values ($1, $2, $3, 'A01', $4, 'member', 'confirmed', 0)",
            draw_id.clone(),
            expert_id.clone(),
            tid.clone(),
            i64::try_from(i + 1).unwrap()
        )
        .unwrap();
        if i < checked_in {
            q_exec!(
                tx,
                "insert into expert_checkin (tender_id, expert_id, draw_id, method, at, audit_seq)
                 values ($1, $2, $3, 'emergency', 0, 0)",
                tid.clone(),
                expert_id,
                draw_id.clone()
            )
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    force_state(db, &tid, TenderState::Opened).await;
    Fixture {
        code,
        tender_id: tid,
        experts,
        bids,
        bidders,
    }
}

pub(crate) fn start_input() -> StartInput {
    StartInput {
        representatives: vec![],
        review_criteria: vec![
            ReviewCriterion {
                id: "投标函签字盖章".into(),
                kind: CriterionKind::Formal,
            },
            ReviewCriterion {
                id: "施工总承包资质".into(),
                kind: CriterionKind::Qualification,
            },
        ],
        review_rule: ReviewRule::Majority,
        price: Some(PriceParams {
            criterion: "价格".into(),
            benchmark: Benchmark::Lowest,
            penalty_above: 100,
            penalty_below: 50,
        }),
        aggregation: Aggregation::TrimmedMean,
    }
}

pub(crate) fn api(e: EvaluationError) -> (u16, &'static str) {
    let a = ApiError::from(e);
    (a.status.as_u16(), a.code)
}

async fn tender_state(db: &Db, tid: &str) -> String {
    let mut tx = db.read().await.unwrap();
    let (s,): (String,) = q_one!(
        tx,
        (String,),
        "select state from tender where tender_id = $1",
        tid.to_string()
    )
    .unwrap();
    s
}

/// The evaluation view as the JSON route answers it.
pub(crate) async fn view_json(
    env: crate::evaluation::Env<'_>,
    caller: &Caller,
    code: &str,
) -> Result<Value, EvaluationError> {
    let v = view(env, caller, code).await?;
    Ok(serde_json::to_value(v).expect("the view serialises"))
}

pub(crate) async fn events(db: &Db, tid: &str, action: &str) -> Vec<Value> {
    let mut tx = db.read().await.unwrap();
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select entry from audit_event where tender_id = $1 and action = $2 order by seq",
        tid.to_string(),
        action.to_string()
    )
    .unwrap();
    rows.into_iter()
        .map(|(e,)| serde_json::from_str(&e).unwrap())
        .collect()
}

/// Started, leader elected, every bid passed the review: ready to score.
pub(crate) async fn to_scoring(kit: &Kit, fx: &Fixture) {
    start(env(&kit.state), &kit.agent, &fx.code, &start_input())
        .await
        .expect("start");
    let leader = fx.experts[0].user.user_id.clone();
    for e in &fx.experts {
        cast_ballot(
            env(&kit.state),
            e,
            &fx.code,
            &BallotInput {
                candidate: leader.clone(),
            },
        )
        .await
        .expect("ballot");
    }
    for (i, e) in fx.experts.iter().enumerate() {
        let mut marks = Vec::new();
        for (j, b) in fx.bids.iter().enumerate() {
            for c in ["投标函签字盖章", "施工总承包资质"] {
                // One member finds a fault on the last bid; the majority passes it.
                let fail = i == 1 && j == fx.bids.len() - 1 && c == "施工总承包资质";
                marks.push(MarkInput {
                    bid_id: b.clone(),
                    criterion: c.into(),
                    verdict: if fail { Verdict::Fail } else { Verdict::Pass },
                    reason: if fail {
                        "资质证书已过期".into()
                    } else {
                        String::new()
                    },
                });
            }
        }
        record_marks(env(&kit.state), e, &fx.code, &MarksInput { marks })
            .await
            .expect("marks");
    }
}

/// Registers a soft passkey (user verification reported) for a member.
pub(crate) async fn passkey_of(
    kit: &Kit,
    who: &Caller,
) -> webauthn_authenticator_rs::softpasskey::SoftPasskey {
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    let mut soft = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
    let (ceremony, options) = passkey::start_registration(&kit.state, &who.user.user_id)
        .await
        .expect("start registration");
    let response = soft
        .do_registration(origin(), options)
        .expect("soft registration");
    passkey::finish_registration(
        &kit.state,
        &who.actor,
        &who.user.user_id,
        &ceremony,
        &response,
        Some("软件密钥".into()),
    )
    .await
    .expect("finish registration");
    soft
}

fn origin() -> webauthn_authenticator_rs::prelude::Url {
    webauthn_authenticator_rs::prelude::Url::parse("http://localhost:8080").expect("origin")
}

pub(crate) async fn sign(
    kit: &Kit,
    who: &Caller,
    soft: &mut webauthn_authenticator_rs::softpasskey::SoftPasskey,
    code: &str,
) -> Result<Value, EvaluationError> {
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    let started = start_signing(&kit.state, who, code).await?;
    let options = serde_json::from_value(started.options.clone()).expect("options");
    let response = soft.do_authentication(origin(), options).expect("sign");
    finish_signing(
        &kit.state,
        who,
        code,
        &SignFinish {
            ceremony_id: started.ceremony_id.clone(),
            credential: serde_json::to_value(&response).expect("json"),
        },
    )
    .await
    .map(|a| js(&a))
}

/// A typed answer as the JSON the routes answer with.
pub(crate) fn js<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("the answer serialises")
}

pub(crate) fn sheets(fx: &Fixture, tech: &[i64]) -> ScoresInput {
    ScoresInput {
        sheets: fx
            .bids
            .iter()
            .zip(tech)
            .map(|(b, t)| SheetInput {
                bid_id: b.clone(),
                scores: BTreeMap::from([("技术".to_string(), *t)]),
            })
            .collect(),
    }
}

pub(crate) async fn scenario_happy_path(kit: &Kit) {
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let s = &kit.state;
    start(env(s), &kit.agent, &fx.code, &start_input())
        .await
        .expect("start");
    assert_eq!(tender_state(kit.db(), &fx.tender_id).await, "evaluating");
    let again = start(env(s), &kit.agent, &fx.code, &start_input()).await;
    assert_eq!(api(again.unwrap_err()).0, 409);

    // Leader election: one ballot each, counted when all are in.
    let leader = fx.experts[2].user.user_id.clone();
    let ballot = BallotInput {
        candidate: leader.clone(),
    };
    let first = js(&cast_ballot(env(s), &fx.experts[0], &fx.code, &ballot)
        .await
        .unwrap());
    assert_eq!(first["result"], "voted");
    let twice = cast_ballot(env(s), &fx.experts[0], &fx.code, &ballot).await;
    assert_eq!(api(twice.unwrap_err()), (409, "ELECTION_ALREADY_VOTED"));
    let outsider = cast_ballot(env(s), &kit.bidder, &fx.code, &ballot).await;
    assert_eq!(api(outsider.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
    let mut last = Value::Null;
    for e in &fx.experts[1..] {
        last = js(&cast_ballot(env(s), e, &fx.code, &ballot).await.unwrap());
    }
    assert_eq!(last["result"], "elected");
    assert_eq!(last["leader"], json!(leader));
    assert_eq!(
        events(kit.db(), &fx.tender_id, "evaluation.ballot")
            .await
            .len(),
        5
    );

    // Preliminary review: a fail needs a reason; a mark is never changed.
    let no_reason = MarksInput {
        marks: vec![MarkInput {
            bid_id: fx.bids[0].clone(),
            criterion: "投标函签字盖章".into(),
            verdict: Verdict::Fail,
            reason: " ".into(),
        }],
    };
    let r = record_marks(env(s), &fx.experts[0], &fx.code, &no_reason).await;
    assert_eq!(api(r.unwrap_err()), (422, "REVIEW_FAIL_WITHOUT_REASON"));
    for (i, e) in fx.experts.iter().enumerate() {
        let mut marks = Vec::new();
        for (j, b) in fx.bids.iter().enumerate() {
            for c in ["投标函签字盖章", "施工总承包资质"] {
                let fail = i == 1 && j == 2 && c == "施工总承包资质";
                marks.push(MarkInput {
                    bid_id: b.clone(),
                    criterion: c.into(),
                    verdict: if fail { Verdict::Fail } else { Verdict::Pass },
                    reason: if fail {
                        "资质证书已过期".into()
                    } else {
                        String::new()
                    },
                });
            }
        }
        let answer = js(&record_marks(env(s), e, &fx.code, &MarksInput { marks })
            .await
            .unwrap());
        assert_eq!(answer["decided"], json!(i == 4));
    }
    let changed = MarksInput {
        marks: vec![MarkInput {
            bid_id: fx.bids[0].clone(),
            criterion: "投标函签字盖章".into(),
            verdict: Verdict::Pass,
            reason: String::new(),
        }],
    };
    let r = record_marks(env(s), &fx.experts[0], &fx.code, &changed).await;
    assert_eq!(api(r.unwrap_err()).0, 409);
    let marks = events(kit.db(), &fx.tender_id, "evaluation.review.mark").await;
    assert_eq!(marks.len(), 5 * 3 * 2);
    assert_eq!(
        marks[0]["payload"]["mark_sha256"].as_str().map(str::len),
        Some(64)
    );

    // Detailed scoring. Technical scores (max 6000) per member, bid order 0, 1, 2.
    let tech = [
        [5000, 5480, 5900],
        [5000, 5490, 5900],
        [5000, 5500, 5900],
        [5000, 5510, 5900],
        [5000, 5520, 5900],
    ];
    for (i, e) in fx.experts.iter().enumerate() {
        let answer = js(&submit_scores(env(s), e, &fx.code, &sheets(&fx, &tech[i]))
            .await
            .unwrap());
        assert_eq!(answer["all_in"], json!(i == 4));
        assert_eq!(answer["sheets_sha256"].as_str().map(str::len), Some(64));
    }
    let submitted = events(kit.db(), &fx.tender_id, "evaluation.scores.submit").await;
    assert_eq!(submitted.len(), 5);
    let view = view_json(env(s), &fx.experts[0], &fx.code).await.unwrap();
    assert_eq!(view["state"], "ranked");
    assert_eq!(view["sheets"].as_array().map(Vec::len), Some(15));
    let ranking = &view["ranking"];
    // Price: B = 1 000 000.00 → 40.00; 2.5% above → 37.50; 40% above → 0.
    // Totals: bid 1 = 55.00 + 37.50, bid 0 = 50.00 + 40.00, bid 2 = 59.00 + 0.
    assert_eq!(ranking["outcome"], "ranked");
    assert_eq!(ranking["benchmark_fen"], json!(100_000_000));
    assert_eq!(
        ranking["candidates"],
        json!([fx.bids[1], fx.bids[0], fx.bids[2]])
    );
    assert_eq!(ranking["rows"][0]["detail"]["total"], json!(9250));
    assert_eq!(ranking["rows"][1]["detail"]["total"], json!(9000));
    assert_eq!(ranking["rows"][2]["detail"]["total"], json!(5900));
    assert_eq!(
        events(kit.db(), &fx.tender_id, "evaluation.ranking")
            .await
            .len(),
        1
    );
    // The agent sees the ranking, never the members or their sheets.
    let agent_view = view_json(env(s), &kit.agent, &fx.code).await.unwrap();
    assert!(agent_view["sheets"].is_null());
    assert!(agent_view.get("committee").is_none());
    assert_eq!(agent_view["ranking"]["candidates"], ranking["candidates"]);

    // The report: every score, its SHA-256 signed by passkey or dissented from in writing.
    let report_sha = view["report_sha256"]
        .as_str()
        .expect("report digest")
        .to_string();
    let report_text = serde_json_canonicalizer::to_string(&view["report"]).unwrap();
    assert_eq!(sha256_hex(report_text.as_bytes()), report_sha);
    assert_eq!(view["report"]["sheets"].as_array().map(Vec::len), Some(15));
    for e in &fx.experts[..4] {
        let mut soft = passkey_of(kit, e).await;
        let signed = sign(kit, e, &mut soft, &fx.code).await.expect("sign");
        assert_eq!(signed["report_sha256"], json!(report_sha));
        if e.user.user_id == fx.experts[0].user.user_id {
            let twice = sign(kit, e, &mut soft, &fx.code).await;
            assert_eq!(api(twice.unwrap_err()), (409, "REPORT_ALREADY_SIGNED"));
        }
    }
    let blank = DissentInput {
        reason: "  ".into(),
    };
    let r = dissent(env(s), &fx.experts[4], &fx.code, &blank).await;
    assert_eq!(api(r.unwrap_err()).0, 422);
    let reason = DissentInput {
        reason: "对投标人B技术方案评分偏高持保留意见".into(),
    };
    let done = js(&dissent(env(s), &fx.experts[4], &fx.code, &reason)
        .await
        .unwrap());
    assert_eq!(done["complete"], json!(true));
    let r = dissent(env(s), &fx.experts[0], &fx.code, &reason).await;
    assert_eq!(api(r.unwrap_err()), (409, "REPORT_ALREADY_SIGNED"));
    let view = view_json(env(s), &fx.experts[1], &fx.code).await.unwrap();
    assert_eq!(view["signing"]["complete"], json!(true));
    assert_eq!(view["signing"]["acted"], json!(5));
    let signs = events(kit.db(), &fx.tender_id, "evaluation.report.sign").await;
    assert_eq!(signs.len(), 4);
    assert_eq!(signs[0]["payload"]["report_sha256"], json!(report_sha));
    assert_eq!(
        events(kit.db(), &fx.tender_id, "evaluation.report.dissent")
            .await
            .len(),
        1
    );
}

pub(crate) async fn scenario_score_refusals(kit: &Kit) {
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let s = &kit.state;
    to_scoring(kit, &fx).await;
    let ok = [5000, 5000, 5000];

    // Nobody sees another's sheets until all are in.
    submit_scores(env(s), &fx.experts[0], &fx.code, &sheets(&fx, &ok))
        .await
        .unwrap();
    let v = view_json(env(s), &fx.experts[1], &fx.code).await.unwrap();
    assert_eq!(v["scoring"]["submitted"], json!(1));
    assert_eq!(v["scoring"]["you_submitted"], json!(false));
    assert!(v["sheets"].is_null());
    assert!(v["ranking"].is_null());
    let v = view_json(env(s), &kit.regulator, &fx.code).await.unwrap();
    assert!(v["sheets"].is_null());
    let stranger = view_json(env(s), &kit.bidder, &fx.code).await;
    assert_eq!(api(stranger.unwrap_err()).0, 403);

    // The report cannot be signed before every score is in.
    let r = start_signing(s, &fx.experts[0], &fx.code).await;
    assert_eq!(api(r.unwrap_err()), (409, "EVALUATION_WRONG_STATE"));

    // A tender suspended for supervision stops the committee, and the refusal says so.
    force_state(kit.db(), &fx.tender_id, TenderState::Suspended).await;
    let r = submit_scores(env(s), &fx.experts[1], &fx.code, &sheets(&fx, &ok)).await;
    let e = r.unwrap_err();
    assert!(e.to_string().contains("suspended for supervision"), "{e}");
    assert_eq!(api(e), (409, "EVALUATION_WRONG_STATE"));
    force_state(kit.db(), &fx.tender_id, TenderState::Evaluating).await;

    // A change after submission.
    let r = submit_scores(env(s), &fx.experts[0], &fx.code, &sheets(&fx, &[1, 2, 3])).await;
    assert_eq!(api(r.unwrap_err()), (409, "SCORES_ALREADY_SUBMITTED"));

    // Out of range (技术 is worth 60 points: 0..=6000), with the criterion named.
    let r = submit_scores(
        env(s),
        &fx.experts[1],
        &fx.code,
        &sheets(&fx, &[5000, 6001, 5000]),
    )
    .await;
    let e = ApiError::from(r.unwrap_err());
    assert_eq!((e.status.as_u16(), e.code), (422, "SCORE_OUT_OF_RANGE"));
    assert!(e.message.contains("技术"), "{}", e.message);
    assert_eq!(
        e.details
            .as_ref()
            .map(|d| d["problems"][0]["criterion"].clone()),
        Some(json!("技术"))
    );
    let r = submit_scores(
        env(s),
        &fx.experts[1],
        &fx.code,
        &sheets(&fx, &[5000, -1, 5000]),
    )
    .await;
    assert_eq!(api(r.unwrap_err()), (422, "SCORE_OUT_OF_RANGE"));
    // The price is computed, never scored by a member; a sheet missing is refused.
    let mut priced = sheets(&fx, &ok);
    priced.sheets[0].scores.insert("价格".into(), 4000);
    let r = submit_scores(env(s), &fx.experts[1], &fx.code, &priced).await;
    assert_eq!(api(r.unwrap_err()), (422, "PRICE_SCORED_BY_MEMBER"));
    let r = submit_scores(
        env(s),
        &fx.experts[1],
        &fx.code,
        &sheets(&fx, &[5000, 5000]),
    )
    .await;
    assert_eq!(api(r.unwrap_err()), (422, "SCORES_MISSING"));

    // A score from someone not on the committee, and from a member no longer checked in.
    let r = submit_scores(env(s), &kit.bidder, &fx.code, &sheets(&fx, &ok)).await;
    assert_eq!(api(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
    let outsider = user(kit.db(), Role::Expert, None, "active").await;
    let r = submit_scores(env(s), &outsider, &fx.code, &sheets(&fx, &ok)).await;
    assert_eq!(api(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
    let mut tx = kit.db().begin().await.unwrap();
    q_exec!(
        tx,
        "delete from expert_checkin where tender_id = $1 and expert_id =
            (select expert_id from expert where user_id = $2)",
        fx.tender_id.clone(),
        fx.experts[4].user.user_id.clone()
    )
    .unwrap();
    tx.commit().await.unwrap();
    let r = submit_scores(env(s), &fx.experts[4], &fx.code, &sheets(&fx, &ok)).await;
    assert_eq!(api(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
    // Nothing refused was stored.
    let v = view_json(env(s), &fx.experts[0], &fx.code).await.unwrap();
    assert_eq!(v["scoring"]["submitted"], json!(1));
    assert_eq!(v["state"], "scoring");
}

pub(crate) async fn scenario_start_refusals(kit: &Kit) {
    let s = &kit.state;
    // Not every confirmed expert checked in.
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 4).await;
    let r = start(env(s), &kit.agent, &fx.code, &start_input()).await;
    assert_eq!(api(r.unwrap_err()), (409, "COMMITTEE_NOT_READY"));
    // Another agency's agent.
    let r = start(env(s), &kit.other_agent, &fx.code, &start_input()).await;
    assert_eq!(api(r.unwrap_err()).0, 403);
    // Four experts: below the minimum of five (招标投标法 第37条).
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 4, 4).await;
    let r = start(env(s), &kit.agent, &fx.code, &start_input()).await;
    let e = ApiError::from(r.unwrap_err());
    assert_eq!(e.status.as_u16(), 422);
    assert!(e.message.contains("第37条"), "{}", e.message);
    assert_eq!(tender_state(kit.db(), &fx.tender_id).await, "opened");
    // Five experts and a representative: six members, an even committee.
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let rep = user(kit.db(), Role::Agent, Some(&kit.tenderee_org), "active").await;
    let mut input = start_input();
    input.representatives = vec![rep.user.user_id.clone()];
    let r = start(env(s), &kit.agent, &fx.code, &input).await;
    assert_eq!(api(r.unwrap_err()).0, 422);
    // A representative who is not of the tenderee.
    input.representatives = vec![kit.bidder.user.user_id.clone()];
    let r = start(env(s), &kit.agent, &fx.code, &input).await;
    assert_eq!(api(r.unwrap_err()), (422, "EVALUATION_BAD_REPRESENTATIVE"));
    // Scores before the scoring step.
    start(env(s), &kit.agent, &fx.code, &start_input())
        .await
        .unwrap();
    let r = submit_scores(env(s), &fx.experts[0], &fx.code, &sheets(&fx, &[1, 1, 1])).await;
    assert_eq!(api(r.unwrap_err()), (409, "EVALUATION_WRONG_STATE"));
}

#[tokio::test]
async fn happy_path_five_members_three_bids_sqlite() {
    scenario_happy_path(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn score_refusals_and_hidden_sheets_sqlite() {
    scenario_score_refusals(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn start_refusals_sqlite() {
    scenario_start_refusals(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn all_scenarios_postgres() {
    let Some(kit) = Kit::postgres().await else {
        return;
    };
    scenario_happy_path(&kit).await;
    scenario_score_refusals(&kit).await;
    scenario_start_refusals(&kit).await;
}
