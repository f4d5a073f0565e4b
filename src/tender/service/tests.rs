use axum::http::StatusCode;
use bytes::Bytes;
use chrono::TimeDelta;
use serde_json::Value;

use super::checks::*;
use super::common::*;
use super::*;
use crate::audit;
use crate::clock::to_millis;
use crate::error::Common;
use crate::http::ApiError;
use crate::ids::new_id;
use crate::store::blob::sha256_hex;
use crate::tender::model::*;
use crate::tender::rulebook::{MAX_MONEY_FEN, RuleViolation};
use crate::tender::testkit::Kit;
use crate::{q_all, q_opt};

fn doc(name: &str, bytes: &'static [u8]) -> NewDocument {
    NewDocument {
        filename: name.to_string(),
        content_type: Some("application/pdf".to_string()),
        amendment_id: None,
        bytes: Bytes::from_static(bytes),
    }
}

async fn draft(kit: &Kit, days: i64) -> Tender {
    let code = kit.code("T");
    let t = create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&code, days),
    )
    .await
    .expect("draft");
    upload_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &code,
        doc("招标文件.pdf", b"%PDF-1.7 tender"),
    )
    .await
    .expect("upload");
    t
}

async fn published(kit: &Kit, days: i64) -> Tender {
    let t = draft(kit, days).await;
    publish(kit.db(), kit.books(), kit.now(), &kit.agent, &t.code)
        .await
        .expect("publish")
}

async fn events(kit: &Kit, tender_id: &str, action: &str) -> Vec<Value> {
    let mut tx = kit.db().read().await.expect("read");
    audit::tender_events(&mut tx, tender_id)
        .await
        .expect("events")
        .into_iter()
        .filter_map(|e| {
            e.entry
                .as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
        })
        .filter(|v| v["action"] == action)
        .collect()
}

async fn job_row(kit: &Kit, tender_id: &str) -> Option<(String, i64)> {
    let mut tx = kit.db().read().await.expect("read");
    q_opt!(
        tx,
        (String, i64),
        "select state, run_at from job where tender_id = $1 and kind = 'deadline'",
        tender_id.to_string()
    )
    .expect("job")
}

// ---- pure rules -------------------------------------------------------------------

#[test]
fn codes_times_money_and_names() {
    assert!(check_code("ZB-2025-001").is_ok());
    for bad in ["ab", "有中文-001", "a b c", "x/../y", &"A".repeat(41)] {
        assert!(
            matches!(check_code(bad), Err(TenderError::BadCode)),
            "{bad}"
        );
    }
    assert!(parse_time("t", "2025-03-01T09:00:00+08:00").is_ok());
    for bad in [
        "yesterday",
        "2025-13-01T00:00:00Z",
        "2025-03-01",
        "1900-01-01T00:00:00Z",
        "",
    ] {
        assert!(
            matches!(parse_time("t", bad), Err(TenderError::BadTime { .. })),
            "{bad}"
        );
    }
    assert!(check_money("m", 0).is_ok());
    assert!(check_money("m", MAX_MONEY_FEN).is_ok());
    assert!(check_money("m", -1).is_err());
    assert!(check_money("m", MAX_MONEY_FEN + 1).is_err());
    assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
    assert_eq!(sanitize_filename("C:\\docs\\招标文件.pdf"), "招标文件.pdf");
    assert_eq!(sanitize_filename("..."), "document");
    assert_eq!(sanitize_filename("a\u{202E}fdp.exe"), "afdp.exe");
    assert_eq!(sanitize_filename("x\n<y>.pdf"), "xy.pdf");
    let long = format!("{}.pdf", "长".repeat(300));
    let s = sanitize_filename(&long);
    assert_eq!(s.chars().count(), 120);
    assert!(s.ends_with(".pdf"));
    assert_eq!(
        clean_content_type(Some("Application/PDF")),
        "application/pdf"
    );
    assert_eq!(
        clean_content_type(Some("nonsense")),
        "application/octet-stream"
    );
    assert_eq!(clean_content_type(None), "application/octet-stream");
}

#[test]
fn violations_map_to_422_with_every_rule_and_article() {
    let v = |rule: &'static str, article: &str| RuleViolation {
        rule: rule.into(),
        article: article.to_string(),
        message_zh: format!("{rule} zh"),
        message_en: format!("{rule} en"),
    };
    let one: ApiError =
        TenderError::Rulebook(vec![v("BID_DEADLINE_TOO_SOON", "招标投标法 第24条")]).into();
    assert_eq!(one.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(one.code, "BID_DEADLINE_TOO_SOON");
    let two: ApiError = TenderError::Rulebook(vec![v("A", "x"), v("B", "y")]).into();
    assert_eq!(two.code, "RULEBOOK_VIOLATION");
    let details = two.details.unwrap_or_default();
    assert_eq!(details[1]["code"], "B");
    assert_eq!(details[1]["article"], "y");
    assert_eq!(details[0]["message_en"], "A en");
    let e: ApiError = TenderError::DocumentTooLarge { limit: 1024 }.into();
    assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(e.message.contains("1024"), "{}", e.message);
    let e: ApiError = TenderError::WrongState {
        action: "publish",
        action_zh: "发布",
        state: TenderState::Cancelled,
    }
    .into();
    assert_eq!(e.status, StatusCode::CONFLICT);
}

#[test]
fn unknown_and_garbage_fields_are_refused() {
    let kit_input = serde_json::json!({
        "code": "ZB-1", "title": "t", "category": "construction", "procedure": "open",
        "tenderee_org_id": "x", "estimated_price_fen": 1, "documents_available_at": "x",
        "clarification_cutoff_at": "x", "bid_deadline_at": "x", "opening_place": "x",
        "evaluation_method": "comprehensive", "colour": "red"
    });
    let err = serde_json::from_value::<TenderInput>(kit_input).expect_err("unknown field");
    assert!(err.to_string().contains("colour"), "{err}");
    let bad_method = serde_json::json!({
        "code": "ZB-1", "title": "t", "category": "construction", "procedure": "open",
        "tenderee_org_id": "x", "estimated_price_fen": 1, "documents_available_at": "x",
        "clarification_cutoff_at": "x", "bid_deadline_at": "x", "opening_place": "x",
        "evaluation_method": "bribery"
    });
    assert!(serde_json::from_value::<TenderInput>(bad_method).is_err());
}

// ---- scenarios, run on SQLite and (with SUNBID_TEST_PG_URL) on PostgreSQL ---------------

pub(crate) async fn scenario_publish_20_day_rule(kit: &Kit) {
    // 19 days: refused, naming 招标投标法 第24条; nothing changes.
    let t = draft(kit, 19).await;
    let err = publish(kit.db(), kit.books(), kit.now(), &kit.agent, &t.code)
        .await
        .expect_err("19 days");
    let api = ApiError::from(err);
    assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.code, "BID_DEADLINE_TOO_SOON");
    assert!(api.message.contains("招标投标法 第24条"), "{}", api.message);
    assert!(api.message.contains("20"), "{}", api.message);
    let details = api.details.unwrap_or_default();
    assert_eq!(details[0]["article"], "招标投标法 第24条");
    let after = get_tender(kit.db(), Some(&kit.agent.user), &t.code)
        .await
        .expect("get");
    assert_eq!(after.tender.state, TenderState::Draft);
    assert!(job_row(kit, &t.tender_id).await.is_none());
    assert!(events(kit, &t.tender_id, "tender.publish").await.is_empty());

    // 20 days: accepted; job at the deadline; audit with the documents' digests.
    let t = draft(kit, 20).await;
    let p = publish(kit.db(), kit.books(), kit.now(), &kit.agent, &t.code)
        .await
        .expect("20 days");
    assert_eq!(p.state, TenderState::Published);
    assert_eq!(p.published_at, Some(kit.now()));
    let (state, run_at) = job_row(kit, &t.tender_id).await.expect("job");
    assert_eq!(state, "pending");
    assert_eq!(run_at, to_millis(p.bid_deadline_at));
    let ev = events(kit, &t.tender_id, "tender.publish").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["payload"]["documents"][0]["sha256"],
        sha256_hex(b"%PDF-1.7 tender")
    );
    // Publishing twice is a state conflict.
    let again = publish(kit.db(), kit.books(), kit.now(), &kit.agent, &t.code).await;
    assert!(matches!(again, Err(TenderError::WrongState { .. })));

    // No document: refused with its article.
    let code = kit.code("N");
    create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&code, 25),
    )
    .await
    .expect("draft");
    match publish(kit.db(), kit.books(), kit.now(), &kit.agent, &code).await {
        Err(TenderError::Rulebook(v)) => {
            assert!(
                v.iter()
                    .any(|x| x.rule == "NO_DOCUMENTS" && x.article.contains("第19条"))
            )
        }
        other => panic!("expected NO_DOCUMENTS, got {other:?}"),
    }
}

pub(crate) async fn scenario_bad_input_and_rights(kit: &Kit) {
    let code = kit.code("B");
    let mut input = kit.input(&code, 20);
    input.bid_security_fen = -5;
    let e = create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input).await;
    assert!(
        matches!(
            e,
            Err(TenderError::BadMoney {
                field: "bid_security_fen",
                ..
            })
        ),
        "{e:?}"
    );
    let mut input = kit.input(&code, 20);
    input.estimated_price_fen = MAX_MONEY_FEN + 1;
    let api = ApiError::from(
        create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
            .await
            .expect_err("absurd"),
    );
    assert_eq!(
        (api.status, api.code),
        (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_MONEY")
    );
    let mut input = kit.input(&code, 20);
    input.bid_deadline_at = "next tuesday".into();
    let api = ApiError::from(
        create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
            .await
            .expect_err("garbage time"),
    );
    assert_eq!(api.code, "INVALID_TIME");
    assert!(api.message.contains("bid_deadline_at"));
    let mut input = kit.input(&code, 20);
    input.procedure = "secret".into();
    let api = ApiError::from(
        create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
            .await
            .expect_err("unknown procedure"),
    );
    assert_eq!(
        (api.status, api.code),
        (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_RULEBOOK")
    );
    let mut input = kit.input(&code, 20);
    input.tenderee_org_id = kit.bidder.user.org_id.clone().unwrap_or_default();
    assert!(matches!(
        create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input).await,
        Err(TenderError::BadTenderee)
    ));
    let mut input = kit.input(&code, 20);
    input.custodians.push(kit.bidder.user.user_id.clone());
    assert!(matches!(
        create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input).await,
        Err(TenderError::BadCustodian(_))
    ));
    // A bidder may not draft.
    let api = ApiError::from(
        create_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.bidder,
            &kit.input(&code, 20),
        )
        .await
        .expect_err("bidder drafts"),
    );
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    // Nothing of the above was stored.
    assert!(matches!(
        get_tender(kit.db(), Some(&kit.regulator.user), &code).await,
        Err(TenderError::Common(Common::NotFound(_)))
    ));

    // The owner drafts; the code is unique.
    let t = create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&code, 20),
    )
    .await
    .expect("draft");
    let dup = create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&code, 20),
    )
    .await;
    assert!(matches!(dup, Err(TenderError::CodeTaken(_))), "{dup:?}");
    // Another agent organisation may neither edit, upload, publish nor cancel.
    let other = &kit.other_agent;
    let forbidden = |r: Result<(), TenderError>| {
        assert!(
            matches!(r, Err(TenderError::Common(Common::Forbidden(_)))),
            "{r:?}"
        )
    };
    forbidden(
        update_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            other,
            &code,
            &kit.input(&code, 20),
        )
        .await
        .map(|_| ()),
    );
    forbidden(
        upload_document(
            kit.state.tender_documents(),
            kit.now(),
            other,
            &code,
            doc("x.pdf", b"x"),
        )
        .await
        .map(|_| ()),
    );
    forbidden(
        publish(kit.db(), kit.books(), kit.now(), other, &code)
            .await
            .map(|_| ()),
    );
    forbidden(
        cancel(
            kit.db(),
            kit.now(),
            other,
            &code,
            &CancelInput { reason: "x".into() },
        )
        .await
        .map(|_| ()),
    );
    // Drafts: hidden from the public and bidders, visible to the owner and regulators.
    assert!(matches!(
        get_public(kit.db(), &code).await,
        Err(TenderError::Common(Common::NotFound(_)))
    ));
    assert!(
        get_tender(kit.db(), Some(&kit.bidder.user), &code)
            .await
            .is_err()
    );
    assert!(
        get_tender(kit.db(), Some(&kit.regulator.user), &code)
            .await
            .is_ok()
    );
    // The owner edits the draft (and may rename it).
    let mut input = kit.input(&code, 21);
    input.title = "改名后的项目".into();
    let u = update_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &code, &input)
        .await
        .expect("update");
    assert_eq!(u.title, "改名后的项目");
    assert_eq!(u.tender_id, t.tender_id);
    assert_eq!(
        events(kit, &t.tender_id, "tender.draft.update").await.len(),
        1
    );

    // Documents: the size limit (1024 bytes in the kit) with the limit in the message.
    static BIG: [u8; 1025] = [b'a'; 1025];
    let api = ApiError::from(
        upload_document(
            kit.state.tender_documents(),
            kit.now(),
            &kit.agent,
            &code,
            doc("big.pdf", &BIG),
        )
        .await
        .expect_err("too large"),
    );
    assert_eq!(
        (api.status, api.code),
        (StatusCode::PAYLOAD_TOO_LARGE, "DOCUMENT_TOO_LARGE")
    );
    assert!(api.message.contains("1024"));
    let d = upload_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &code,
        doc("../a/招标文件.pdf", b"ok"),
    )
    .await
    .expect("upload");
    assert_eq!(d.filename, "招标文件.pdf");
    assert_eq!(d.sha256, sha256_hex(b"ok"));
    let ev = events(kit, &t.tender_id, "tender.document.upload").await;
    assert_eq!(ev[0]["payload"]["sha256"], sha256_hex(b"ok"));
    assert_eq!(ev[0]["payload"]["size_bytes"], 2);

    // Cancel needs a reason; nothing changes without one.
    let api = ApiError::from(
        cancel(
            kit.db(),
            kit.now(),
            &kit.agent,
            &code,
            &CancelInput {
                reason: "  ".into(),
            },
        )
        .await
        .expect_err("no reason"),
    );
    assert_eq!(
        (api.status, api.code),
        (StatusCode::UNPROCESSABLE_ENTITY, "REASON_REQUIRED")
    );
    let still = get_tender(kit.db(), Some(&kit.agent.user), &code)
        .await
        .expect("get");
    assert_eq!(still.tender.state, TenderState::Draft);
    // A draft cancelled before publication stays private.
    cancel(
        kit.db(),
        kit.now(),
        &kit.agent,
        &code,
        &CancelInput {
            reason: "立项取消".into(),
        },
    )
    .await
    .expect("cancel draft");
    assert!(matches!(
        get_public(kit.db(), &code).await,
        Err(TenderError::Common(Common::NotFound(_)))
    ));
    let listed = list_public(kit.db(), None, MAX_PAGE, 0)
        .await
        .expect("list");
    assert!(listed.iter().all(|s| s.code != code));
    assert_eq!(events(kit, &t.tender_id, "tender.cancel").await.len(), 1);
}

pub(crate) async fn scenario_amendment_15_day_rule(kit: &Kit) {
    let t = published(kit, 30).await;
    let deadline = t.bid_deadline_at;
    // A bidder obtains the documents (so amendments must reach them).
    kit.clock.set(kit.t0 + TimeDelta::hours(2));
    let detail = get_public(kit.db(), &t.code).await.expect("public");
    let document_id = detail.documents[0].document_id.clone();
    let (d, bytes) = download_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.bidder,
        &t.code,
        &document_id,
    )
    .await
    .expect("download");
    assert_eq!(bytes.as_ref(), b"%PDF-1.7 tender");
    assert_eq!(d.sha256, sha256_hex(&bytes));
    // Uploading to a published tender needs an amendment.
    let e = upload_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &t.code,
        doc("v2.pdf", b"v2"),
    )
    .await;
    assert!(matches!(e, Err(TenderError::AmendmentRequired)), "{e:?}");

    // 16 days before the deadline: the deadline stays.
    kit.clock.set(deadline - TimeDelta::days(16));
    let a = amend(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &t.code,
        &AmendmentInput {
            summary: "更正工期".into(),
            body: "工期改为300日历天。".into(),
        },
    )
    .await
    .expect("amend at 16 days");
    assert_eq!(a.new_deadline, deadline);
    assert_eq!(a.old_deadline, deadline);

    // 14 days before: moves to now + 15 days (招标投标法 第23条), with the job.
    kit.clock.set(deadline - TimeDelta::days(14));
    let a = amend(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &t.code,
        &AmendmentInput {
            summary: "增加技术要求".into(),
            body: "见附件。".into(),
        },
    )
    .await
    .expect("amend at 14 days");
    let moved = kit.now() + TimeDelta::days(15);
    assert_eq!(a.old_deadline, deadline);
    assert_eq!(a.new_deadline, moved);
    let after = get_public(kit.db(), &t.code).await.expect("public");
    assert_eq!(after.tender.bid_deadline_at, moved);
    assert_eq!(
        after.tender.clarification_cutoff_at,
        t.clarification_cutoff_at + TimeDelta::days(1)
    );
    assert_eq!(after.amendments.len(), 2);
    assert_eq!(
        job_row(kit, &t.tender_id).await.map(|j| j.1),
        Some(to_millis(moved))
    );
    let ev = events(kit, &t.tender_id, "tender.amend").await;
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1]["payload"]["old_deadline"], rfc3339(deadline));
    assert_eq!(ev[1]["payload"]["new_deadline"], rfc3339(moved));
    // The downloader got a notice for each amendment; a bidder who did not, none.
    let notices = list_notices(kit.db(), &kit.bidder.user.user_id)
        .await
        .expect("notices");
    assert_eq!(notices.iter().filter(|n| n.kind == "amendment").count(), 2);
    assert!(notices[0].body.contains("已顺延"), "{}", notices[0].body);
    assert_eq!(notices[0].tender_code.as_deref(), Some(t.code.as_str()));
    assert!(
        list_notices(kit.db(), &kit.bidder2.user.user_id)
            .await
            .expect("n")
            .is_empty()
    );
    mark_notice_read(
        kit.db(),
        kit.now(),
        &kit.bidder.user.user_id,
        &notices[0].notice_id,
    )
    .await
    .expect("read");
    assert!(
        mark_notice_read(
            kit.db(),
            kit.now(),
            &kit.bidder2.user.user_id,
            &notices[0].notice_id
        )
        .await
        .is_err()
    );
    // A document for the amendment, one day later: 15 days count again from the upload.
    kit.clock.set(kit.now() + TimeDelta::days(1));
    let d2 = upload_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &t.code,
        NewDocument {
            amendment_id: Some(a.amendment_id.clone()),
            ..doc("补充技术要求.pdf", b"addendum")
        },
    )
    .await
    .expect("amendment document");
    assert_eq!(d2.amendment_id.as_deref(), Some(a.amendment_id.as_str()));
    let after = get_public(kit.db(), &t.code).await.expect("public");
    assert_eq!(
        after.tender.bid_deadline_at,
        kit.now() + TimeDelta::days(15)
    );
    // Download events are pseudonymous and carry no IP.
    let ev = events(kit, &t.tender_id, "tender.document.download").await;
    assert_eq!(ev.len(), 1);
    let actor = ev[0]["actor"].as_str().unwrap_or_default();
    assert!(actor.starts_with("anon:"), "{actor}");
    assert!(!ev[0].to_string().contains(&kit.bidder.user.user_id));
    assert!(ev[0]["client_ip"].is_null());
    // After the deadline no amendment.
    kit.clock.set(after.tender.bid_deadline_at);
    let e = amend(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &t.code,
        &AmendmentInput {
            summary: "晚了".into(),
            body: "晚了".into(),
        },
    )
    .await;
    assert!(matches!(e, Err(TenderError::DeadlinePassed)), "{e:?}");
    kit.clock.set(kit.t0);
}

pub(crate) async fn scenario_questions(kit: &Kit) {
    let t = published(kit, 20).await;
    // Agents do not ask; pending companies cannot ask.
    let q = QuestionInput {
        body: "第3.2条的工期是否含冬休期？".into(),
    };
    assert!(matches!(
        ask_question(kit.db(), kit.now(), &kit.agent, &t.code, &q).await,
        Err(TenderError::Common(Common::Forbidden(_)))
    ));
    assert!(matches!(
        ask_question(kit.db(), kit.now(), &kit.pending_bidder, &t.code, &q).await,
        Err(TenderError::CompanyNotActive)
    ));
    let asked = ask_question(kit.db(), kit.now(), &kit.bidder, &t.code, &q)
        .await
        .expect("ask");
    // The public and other bidders do not see unanswered questions or askers.
    assert!(
        get_public(kit.db(), &t.code)
            .await
            .expect("p")
            .questions
            .is_empty()
    );
    let other = list_questions(kit.db(), Some(&kit.bidder2.user), &t.code)
        .await
        .expect("q");
    assert!(other.is_empty());
    let mine = list_questions(kit.db(), Some(&kit.bidder.user), &t.code)
        .await
        .expect("q");
    assert!(mine[0].mine && mine[0].asked_by.is_none());
    let agent_view = list_questions(kit.db(), Some(&kit.agent.user), &t.code)
        .await
        .expect("q");
    assert_eq!(agent_view.len(), 1);
    assert!(agent_view[0].asked_by.is_none());
    let reg = list_questions(kit.db(), Some(&kit.regulator.user), &t.code)
        .await
        .expect("q");
    assert_eq!(
        reg[0].asked_by.as_deref(),
        Some(kit.bidder.user.user_id.as_str())
    );
    // The audit event does not name the asker.
    let ev = events(kit, &t.tender_id, "tender.question.ask").await;
    assert_eq!(ev.len(), 1);
    assert!(
        !ev[0].to_string().contains(&kit.bidder.user.user_id),
        "{}",
        ev[0]
    );
    assert!(
        ev[0]["actor"]
            .as_str()
            .unwrap_or_default()
            .starts_with("anon:")
    );
    // Only the owning agent answers; the answer is public, once.
    let ans = AnswerInput {
        answer: "不含冬休期。".into(),
    };
    let e = answer_question(
        kit.db(),
        kit.now(),
        &kit.bidder,
        &t.code,
        &asked.question_id,
        &ans,
    )
    .await;
    assert!(matches!(e, Err(TenderError::Common(Common::Forbidden(_)))));
    answer_question(
        kit.db(),
        kit.now(),
        &kit.agent,
        &t.code,
        &asked.question_id,
        &ans,
    )
    .await
    .expect("answer");
    let e = answer_question(
        kit.db(),
        kit.now(),
        &kit.agent,
        &t.code,
        &asked.question_id,
        &ans,
    )
    .await;
    assert!(matches!(e, Err(TenderError::AlreadyAnswered)));
    let public = get_public(kit.db(), &t.code).await.expect("p");
    assert_eq!(public.questions[0].answer.as_deref(), Some("不含冬休期。"));
    let json = serde_json::to_string(&public).unwrap_or_default();
    assert!(!json.contains(&kit.bidder.user.user_id));
    assert!(!json.contains("pseudonym"));
    assert_eq!(
        events(kit, &t.tender_id, "tender.question.answer")
            .await
            .len(),
        1
    );
    // After the cut-off: refused with 409.
    kit.clock.set(t.clarification_cutoff_at);
    let api = ApiError::from(
        ask_question(kit.db(), kit.now(), &kit.bidder, &t.code, &q)
            .await
            .expect_err("late"),
    );
    assert_eq!(
        (api.status, api.code),
        (StatusCode::CONFLICT, "CLARIFICATION_CLOSED")
    );
    kit.clock.set(kit.t0);
}

pub(crate) async fn scenario_cancel_and_downloads(kit: &Kit) {
    let t = published(kit, 20).await;
    let detail = get_public(kit.db(), &t.code).await.expect("public");
    let document_id = detail.documents[0].document_id.clone();
    // Before the documents are available, nobody downloads.
    let e = download_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.bidder,
        &t.code,
        &document_id,
    )
    .await;
    assert!(matches!(e, Err(TenderError::NotDownloadable(_))), "{e:?}");
    kit.clock.set(kit.t0 + TimeDelta::hours(2));
    // Pending companies and non-bidders are refused; the owner may read without a record.
    let e = download_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.pending_bidder,
        &t.code,
        &document_id,
    )
    .await;
    assert!(matches!(e, Err(TenderError::CompanyNotActive)), "{e:?}");
    let e = download_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.other_agent,
        &t.code,
        &document_id,
    )
    .await;
    assert!(
        matches!(e, Err(TenderError::Common(Common::Forbidden(_)))),
        "{e:?}"
    );
    download_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &t.code,
        &document_id,
    )
    .await
    .expect("owner");
    download_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.bidder2,
        &t.code,
        &document_id,
    )
    .await
    .expect("bidder");
    let mut tx = kit.db().read().await.expect("read");
    let rows = q_all!(
        tx,
        (String, Option<String>, Option<String>),
        "select user_id, client_ip, user_agent from document_download where tender_id = $1",
        t.tender_id.clone()
    )
    .expect("rows");
    drop(tx);
    assert_eq!(
        rows,
        vec![(
            kit.bidder2.user.user_id.clone(),
            Some("192.0.2.7".into()),
            Some("testkit/1".into())
        )]
    );

    let c = cancel(
        kit.db(),
        kit.now(),
        &kit.agent,
        &t.code,
        &CancelInput {
            reason: "项目资金未落实".into(),
        },
    )
    .await
    .expect("cancel");
    assert_eq!(c.state, TenderState::Cancelled);
    assert_eq!(c.cancel_reason.as_deref(), Some("项目资金未落实"));
    assert_eq!(
        job_row(kit, &t.tender_id).await.map(|j| j.0).as_deref(),
        Some("cancelled")
    );
    let n = list_notices(kit.db(), &kit.bidder2.user.user_id)
        .await
        .expect("n");
    assert!(n.iter().any(|x| x.kind == "cancel"));
    // Cancelled: still public, no longer downloadable, cannot be cancelled again.
    assert_eq!(
        get_public(kit.db(), &t.code).await.expect("p").tender.state,
        TenderState::Cancelled
    );
    let e = download_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.bidder,
        &t.code,
        &document_id,
    )
    .await;
    assert!(matches!(e, Err(TenderError::NotDownloadable(_))), "{e:?}");
    let e = cancel(
        kit.db(),
        kit.now(),
        &kit.agent,
        &t.code,
        &CancelInput {
            reason: "again".into(),
        },
    )
    .await;
    assert!(matches!(e, Err(TenderError::WrongState { .. })), "{e:?}");
    assert_eq!(events(kit, &t.tender_id, "tender.cancel").await.len(), 1);
    kit.clock.set(kit.t0);
}

pub(crate) async fn scenario_public_list(kit: &Kit) {
    let word = format!("检索词{}", &new_id()[30..]);
    let mut input = kit.input(&kit.code("L"), 20);
    input.title = format!("{word}道路改造工程");
    let draft_only = create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
        .await
        .expect("draft");
    let found = list_public(kit.db(), Some(&word), 10, 0)
        .await
        .expect("list");
    assert!(found.is_empty(), "drafts are not listed");
    upload_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &draft_only.code,
        doc("a.pdf", b"a"),
    )
    .await
    .expect("doc");
    publish(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &draft_only.code,
    )
    .await
    .expect("publish");
    let found = list_public(kit.db(), Some(&word), 10, 0)
        .await
        .expect("list");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, draft_only.code);
    // Substring in the middle of a Chinese title, and LIKE wildcards are literal.
    let middle: String = word.chars().skip(1).collect();
    assert_eq!(
        list_public(kit.db(), Some(&middle), 10, 0)
            .await
            .expect("l")
            .len(),
        1
    );
    assert!(
        list_public(kit.db(), Some("%"), 10, 0)
            .await
            .expect("l")
            .iter()
            .all(|s| s.title.contains('%'))
    );
    assert_eq!(count_public(kit.db(), Some(&word)).await.expect("count"), 1);
    let all = list_public(kit.db(), None, 500, 0).await.expect("all");
    assert!(all.len() <= MAX_PAGE as usize);
    let mine = list_mine(kit.db(), &kit.agent.user).await.expect("mine");
    assert!(mine.iter().any(|s| s.code == draft_only.code));
}

#[tokio::test]
async fn publish_20_day_rule_sqlite() {
    scenario_publish_20_day_rule(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn bad_input_and_rights_sqlite() {
    scenario_bad_input_and_rights(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn amendment_15_day_rule_sqlite() {
    scenario_amendment_15_day_rule(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn questions_sqlite() {
    scenario_questions(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn cancel_and_downloads_sqlite() {
    scenario_cancel_and_downloads(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn public_list_sqlite() {
    scenario_public_list(&Kit::sqlite().await).await;
}

/// The same scenarios on PostgreSQL when `SUNBID_TEST_PG_URL` is set (a fresh database).
#[tokio::test]
async fn all_scenarios_postgres() {
    let Some(kit) = Kit::postgres().await else {
        eprintln!("SUNBID_TEST_PG_URL not set: skipping the PostgreSQL tender tests");
        return;
    };
    scenario_publish_20_day_rule(&kit).await;
    scenario_bad_input_and_rights(&kit).await;
    scenario_amendment_15_day_rule(&kit).await;
    scenario_questions(&kit).await;
    scenario_cancel_and_downloads(&kit).await;
    scenario_public_list(&kit).await;
}
