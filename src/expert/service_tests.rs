#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! Service tests of the draw on a real database: SQLite always, PostgreSQL when `SUNBID_TEST_PG_URL` is
//! set (the tender kit's convention). PostgreSQL is shared between runs, so each test
//! gives its experts a region of its own and restricts the draw to it.

use super::service::*;
use chrono::TimeDelta;

use super::eligibility::RegionRestriction;
use super::pool;
use axum::http::StatusCode;

use super::request::load_draw;
use crate::audit;
use crate::error::Common;
use crate::expert::checkin;
use crate::expert::notify::LogNotifier;
use crate::http::ApiError;
use crate::identity::passkey;
use crate::identity::{Caller, Role};
use crate::ids::new_id;
use crate::lifecycle::tender::{TenderState, force_state};
use crate::tender::testkit::{Kit, user};
use crate::{q_exec, q_one};
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

struct Fx {
    kit: Kit,
    code: String,
    tender_id: String,
    region: String,
    operator: Caller,
}

async fn fixture(kit: Kit) -> Fx {
    let code = kit.code("EX");
    let t = crate::tender::service::create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&code, 20),
    )
    .await
    .expect("draft");
    force_state(kit.db(), &t.tender_id, TenderState::Closed).await;
    let region = format!("99{}", &new_id().replace('-', "")[20..30])
        .chars()
        .map(|c| if c.is_ascii_digit() { c } else { '7' })
        .collect();
    let operator = user(kit.db(), Role::Operator, None, "active").await;
    Fx {
        tender_id: t.tender_id,
        code,
        region,
        operator,
        kit,
    }
}

impl Fx {
    async fn expert(&self, employer: Option<&str>, user_id: Option<&str>) -> String {
        let input = pool::ExpertInput {
            name: format!("专家{}", &new_id()[30..]),
            specialties: vec!["A0101".into()],
            region: self.region.clone(),
            employer_org_id: employer.map(str::to_string),
            title: "senior".into(),
            years_of_practice: 15,
            birth_year: 1975,
            penalised: false,
            user_id: user_id.map(str::to_string),
            unavailable: vec![],
            conflicts: vec![],
        };
        pool::add_expert(self.kit.db(), self.kit.now(), &self.operator, &input)
            .await
            .expect("add expert")
            .expert_id
    }

    fn input(&self, count: u32, alternates: u32) -> DrawRequestInput {
        DrawRequestInput {
            supervisor_user_id: self.kit.regulator.user.user_id.clone(),
            quotas: Some(vec![QuotaInput {
                specialty: "A0101".into(),
                count,
                alternates,
            }]),
            alternates: 0,
            region: Some(RegionRestriction {
                regions: vec![self.region.clone()],
                reason: "本测试的专家池 / this test's pool".into(),
            }),
            evaluation_at: (self.kit.now() + TimeDelta::days(2)).to_rfc3339(),
            evaluation_place: "评标室 1".into(),
            excluded_experts: vec![],
            confirm_minutes: Some(60),
            checkin_opens_minutes_before: None,
            checkin_closes_minutes_after: None,
        }
    }

    async fn request(&self, count: u32, alternates: u32) -> DrawView {
        request_draw(
            self.kit.db(),
            self.kit.now(),
            &self.kit.agent,
            &self.code,
            &self.input(count, alternates),
        )
        .await
        .expect("request")
    }

    async fn input_draw(&self, draw_id: &str, input: &str) -> Result<DrawView, ExpertError> {
        enter_supervisor_input(
            self.kit.db(),
            &LogNotifier,
            self.kit.now(),
            &self.kit.regulator,
            draw_id,
            input,
        )
        .await
    }

    /// Makes the bidder company a bidder of this tender (a document download).
    async fn bidder_downloads(&self) {
        let mut tx = self.kit.db().begin().await.unwrap();
        let doc = new_id();
        q_exec!(
            tx,
            "insert into tender_document (document_id, tender_id, amendment_id, filename, content_type, size_bytes, sha256, uploaded_by, uploaded_at)
             values ($1, $2, null, 'a.pdf', 'application/pdf', 1, '00', $3, 0)",
            doc.clone(),
            self.tender_id.clone(),
            self.kit.agent.user.user_id.clone()
        )
        .unwrap();
        q_exec!(
            tx,
            "insert into document_download (download_id, tender_id, document_id, user_id, client_ip, user_agent, at)
             values ($1, $2, $3, $4, null, null, 0)",
            new_id(),
            self.tender_id.clone(),
            doc,
            self.kit.bidder.user.user_id.clone()
        )
        .unwrap();
        tx.commit().await.unwrap();
    }

    async fn count_public_events(&self, action: &str) -> i64 {
        let mut tx = self.kit.db().read().await.unwrap();
        q_one!(
            tx,
            (i64,),
            "select count(*) from audit_event
             where tender_id = $1 and action = $2 and withheld_stage is null",
            self.tender_id.clone(),
            action.to_string()
        )
        .unwrap()
        .0
    }

    async fn count_events(&self, action: &str) -> i64 {
        let mut tx = self.kit.db().read().await.unwrap();
        q_one!(
            tx,
            (i64,),
            "select count(*) from audit_event where tender_id = $1 and action = $2",
            self.tender_id.clone(),
            action.to_string()
        )
        .unwrap()
        .0
    }
}

macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Kit::sqlite().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(kit) = super::Kit::postgres().await {
                    super::$name(kit).await;
                }
            }
        }
    };
}

async fn never_draws_an_avoided_employer(kit: Kit) {
    let fx = fixture(kit).await;
    fx.bidder_downloads().await;
    let bidder_org = fx.kit.bidder.user.org_id.clone().unwrap();
    let mut avoided = Vec::new();
    for _ in 0..3 {
        avoided.push(fx.expert(Some(&bidder_org), None).await);
    }
    // And one employed by the tenderee, one by the supervising department.
    avoided.push(fx.expert(Some(&fx.kit.tenderee_org), None).await);
    let dept = fx.kit.regulator.user.org_id.clone().unwrap();
    avoided.push(fx.expert(Some(&dept), None).await);
    let mut free = Vec::new();
    for _ in 0..4 {
        free.push(fx.expert(None, None).await);
    }
    // 4 free experts, the quota takes all 4: a draw that touched an avoided employer
    // would show up in the members at once.
    let d = fx.request(3, 1).await;
    assert_eq!(d.state, "committed");
    let d = fx.input_draw(&d.draw_id, "6 2 5 1").await.expect("draw");
    assert_eq!(d.state, "drawn");
    assert_eq!(d.quotas[0].eligible, Some(4));
    for m in &d.members {
        let id = m.expert_id.as_ref().unwrap();
        assert!(free.contains(id) && !avoided.contains(id), "drew {id}");
    }
    assert_eq!(d.member_count(), 3);
    assert_eq!(fx.count_events("expert.draw.commit").await, 1);
    assert_eq!(fx.count_events("expert.draw.supervisor_input").await, 1);
    assert_eq!(fx.count_events("expert.draw.result").await, 1);
}
on_both!(never_draws_an_avoided_employer);

async fn unfillable_and_second_draws(kit: Kit) {
    let fx = fixture(kit).await;
    for _ in 0..2 {
        fx.expert(None, None).await;
    }
    let d = fx.request(3, 0).await;
    // A second request while one is live: 409.
    let again = request_draw(
        fx.kit.db(),
        fx.kit.now(),
        &fx.kit.agent,
        &fx.code,
        &fx.input(3, 0),
    )
    .await;
    assert!(matches!(again, Err(ExpertError::DrawExists)));
    // Only the supervisor enters the input.
    let other = enter_supervisor_input(
        fx.kit.db(),
        &LogNotifier,
        fx.kit.now(),
        &fx.kit.agent,
        &d.draw_id,
        "1",
    )
    .await;
    assert!(matches!(
        other,
        Err(ExpertError::Common(Common::Forbidden(_)))
    ));
    let err = fx.input_draw(&d.draw_id, "3 3 3").await.unwrap_err();
    let api = ApiError::from(err);
    assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.code, "QUOTA_UNFILLABLE");
    assert!(
        api.message.contains("A0101") && api.message.contains("only 2 eligible"),
        "{}",
        api.message
    );
    assert_eq!(fx.count_events("expert.draw.failed").await, 1);
    let mut tx = fx.kit.db().read().await.unwrap();
    assert_eq!(
        load_draw(&mut tx, &d.draw_id).await.unwrap().state,
        "failed"
    );
    drop(tx);
    // A failed request may be made again; the failed draw cannot be redrawn.
    assert!(matches!(
        fx.input_draw(&d.draw_id, "4").await,
        Err(ExpertError::DrawFailed)
    ));
    fx.expert(None, None).await;
    let d2 = fx.request(3, 0).await;
    fx.input_draw(&d2.draw_id, "5 5").await.expect("draw");
    let twice = fx.input_draw(&d2.draw_id, "5 5").await;
    assert!(matches!(twice, Err(ExpertError::DrawAlreadyPerformed)));
}
on_both!(unfillable_and_second_draws);

async fn expert_user(fx: &Fx) -> (Caller, String) {
    let u = user(fx.kit.db(), Role::Expert, None, "active").await;
    let id = fx.expert(None, Some(&u.user.user_id)).await;
    (u, id)
}

async fn confidentiality_decline_and_timeout(kit: Kit) {
    let fx = fixture(kit).await;
    let mut users = Vec::new();
    for _ in 0..5 {
        users.push(expert_user(&fx).await);
    }
    let d = fx.request(2, 0).await;
    fx.input_draw(&d.draw_id, "1 2 3").await.expect("draw");
    // The agent sees numbers only; the regulator names; each look is logged.
    let views_before = fx.count_events("expert.draw.view").await;
    let agent_view = view_draw(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &d.draw_id)
        .await
        .unwrap();
    assert!(
        agent_view
            .members
            .iter()
            .all(|m| m.name.is_none() && m.expert_id.is_none())
    );
    let text = serde_json::to_string(&agent_view).unwrap();
    for (_, id) in &users {
        assert!(!text.contains(id.as_str()));
    }
    let reg = view_draw(fx.kit.db(), fx.kit.now(), &fx.kit.regulator, &d.draw_id)
        .await
        .unwrap();
    assert!(reg.members.iter().all(|m| m.name.is_some()));
    assert!(matches!(
        view_draw(fx.kit.db(), fx.kit.now(), &fx.kit.bidder, &d.draw_id).await,
        Err(ExpertError::Common(Common::NotFound(_)))
    ));
    assert_eq!(fx.count_events("expert.draw.view").await, views_before + 2);
    // A public look entry would name who opened the list before the award (法 第37条).
    assert_eq!(fx.count_public_events("expert.draw.view").await, 0);

    // Each drawn expert sees their own assignment and a notice.
    let drawn: Vec<&(Caller, String)> = users
        .iter()
        .filter(|(_, id)| {
            reg.members
                .iter()
                .any(|m| m.expert_id.as_deref() == Some(id))
        })
        .collect();
    assert_eq!(drawn.len(), 2);
    let mine = my_assignments(fx.kit.db(), fx.kit.now(), &drawn[0].0)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].state, "notified");

    // One confirms, one declines → a replacement draw is committed at once.
    respond(
        fx.kit.db(),
        fx.kit.now(),
        &drawn[0].0,
        &d.draw_id,
        true,
        None,
    )
    .await
    .unwrap();
    assert!(matches!(
        respond(
            fx.kit.db(),
            fx.kit.now(),
            &drawn[0].0,
            &d.draw_id,
            false,
            None
        )
        .await,
        Err(ExpertError::AssignmentState)
    ));
    respond(
        fx.kit.db(),
        fx.kit.now(),
        &drawn[1].0,
        &d.draw_id,
        false,
        Some("出差"),
    )
    .await
    .unwrap();
    let draws = list_draws(fx.kit.db(), fx.kit.now(), &fx.kit.regulator, &fx.code)
        .await
        .unwrap();
    assert_eq!(draws.len(), 2);
    let rep = &draws[1];
    assert_eq!(
        (rep.kind.as_str(), rep.state.as_str()),
        ("replacement", "committed")
    );
    assert_ne!(rep.commitment, d.commitment);
    let rep = fx
        .input_draw(&rep.draw_id, "9 9 1")
        .await
        .expect("replacement");
    assert_eq!(rep.members.len(), 1);
    let new_id_ = rep.members[0].expert_id.clone().unwrap();
    assert!(
        drawn.iter().all(|(_, id)| *id != new_id_),
        "a replacement never redraws anyone"
    );

    // Nobody answers the replacement: the job expires it and commits another.
    fx.kit.clock.set(fx.kit.now() + TimeDelta::minutes(61));
    let mut tx = fx.kit.db().read().await.unwrap();
    let (job_id,): (String,) = q_one!(
        tx,
        (String,),
        "select job_id from job where tender_id = $1 and kind = $2",
        fx.tender_id.clone(),
        CONFIRM_JOB.to_string()
    )
    .unwrap();
    drop(tx);
    assert!(
        confirm_timeout_job(fx.kit.db(), fx.kit.now(), &job_id, &fx.tender_id)
            .await
            .unwrap()
    );
    assert!(
        !confirm_timeout_job(fx.kit.db(), fx.kit.now(), &job_id, &fx.tender_id)
            .await
            .unwrap()
    );
    let draws = list_draws(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &fx.code)
        .await
        .unwrap();
    assert_eq!(draws.len(), 3);
    assert_eq!(draws[2].state, "committed");
    assert_eq!(fx.count_events("expert.assignment.expire").await, 1);
    fx.kit.clock.set(fx.kit.t0);
}
on_both!(confidentiality_decline_and_timeout);

async fn reveal_and_verify(kit: Kit) {
    let fx = fixture(kit).await;
    for _ in 0..6 {
        fx.expert(None, None).await;
    }
    let d = fx.request(3, 1).await;
    fx.input_draw(&d.draw_id, "2 6 4 4 1").await.expect("draw");
    assert!(matches!(
        public_record(fx.kit.db(), &d.draw_id).await,
        Err(ExpertError::NotRevealed)
    ));
    assert!(matches!(
        reveal_draws(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &fx.code).await,
        Err(ExpertError::NotAwarded)
    ));
    force_state(fx.kit.db(), &fx.tender_id, TenderState::Awarded).await;
    assert_eq!(
        reveal_draws(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &fx.code)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        reveal_draws(fx.kit.db(), fx.kit.now(), &fx.kit.agent, &fx.code)
            .await
            .unwrap(),
        0
    );
    let record = public_record(fx.kit.db(), &d.draw_id).await.unwrap();
    let events = served(&fx).await;
    let ok = verify_record(&record, &events).expect("match");
    assert!(ok.contains(&d.draw_id));

    // Tampering with the stored result is caught.
    let mut bad = record.clone();
    bad.result.quotas[0].members.swap(0, 1);
    assert!(
        verify_record(&bad, &events)
            .unwrap_err()
            .contains("stored result")
    );
    // So is a different input.
    let mut bad = record.clone();
    bad.supervisor_input = "2 6 4 4 2".into();
    assert!(verify_record(&bad, &events).is_err());
    // And a pool with one more candidate.
    let mut bad = record;
    bad.pool.push(PoolEntry {
        id: "zzzz".into(),
        quotas: vec!["A0101".into()],
    });
    assert!(verify_record(&bad, &events).is_err());
}
on_both!(reveal_and_verify);

/// The log as the public sees it.
async fn served(fx: &Fx) -> Vec<ServedEvent> {
    let mut tx = fx.kit.db().read().await.unwrap();
    let (size, _) = audit::head(&mut tx).await.unwrap();
    let mut out = Vec::new();
    while (out.len() as u64) < size {
        for e in audit::events(&mut tx, out.len() as u64, 1000)
            .await
            .unwrap()
        {
            let e = e.for_reader(fx.kit.now(), false);
            out.push(ServedEvent {
                seq: e.seq as u64,
                entry: e.entry,
                leaf_hash: hex::encode(&e.leaf_hash),
            });
        }
    }
    out
}

async fn passkey_checkin(kit: Kit) {
    let fx = fixture(kit).await;
    let origin = Url::parse("http://localhost:8080").unwrap();
    let mut people = Vec::new();
    for _ in 0..3 {
        let (u, id) = expert_user(&fx).await;
        let mut soft = SoftPasskey::new(true);
        let (ceremony, options) = passkey::start_registration(&fx.kit.state, &u.user.user_id)
            .await
            .unwrap();
        let resp = soft.do_registration(origin.clone(), options).unwrap();
        passkey::finish_registration(
            &fx.kit.state,
            &u.actor,
            &u.user.user_id,
            &ceremony,
            &resp,
            None,
        )
        .await
        .unwrap();
        people.push((u, id, soft));
    }
    let d = fx.request(2, 0).await;
    let reg = fx.input_draw(&d.draw_id, "5 4 3").await.unwrap();
    let is_drawn = |id: &str| {
        reg.members
            .iter()
            .any(|m| m.expert_id.as_deref() == Some(id))
    };
    let (mut drawn, mut other): (Vec<_>, Vec<_>) =
        people.into_iter().partition(|(_, id, _)| is_drawn(id));
    let state = fx.kit.state.clone();
    // Not drawn: refused before any ceremony.
    let (stranger, _, _) = &other[0];
    assert!(matches!(
        checkin::start_checkin((&state).into(), stranger, &fx.code).await,
        Err(ExpertError::NotDrawn)
    ));
    // Drawn but not confirmed; then confirmed but outside the window.
    let u0 = &drawn[0].0.clone();
    assert!(matches!(
        checkin::start_checkin((&state).into(), u0, &fx.code).await,
        Err(ExpertError::NotConfirmed(_))
    ));
    for (u, _, _) in &drawn {
        respond(fx.kit.db(), fx.kit.now(), u, &d.draw_id, true, None)
            .await
            .unwrap();
    }
    assert!(matches!(
        checkin::start_checkin((&state).into(), u0, &fx.code).await,
        Err(ExpertError::CheckinNotOpen(_))
    ));
    // Inside the window: a passkey assertion with UV checks in.
    fx.kit
        .clock
        .set(fx.kit.now() + TimeDelta::days(2) - TimeDelta::minutes(10));
    let mut tx = fx.kit.db().read().await.unwrap();
    assert!(
        !checkin::committee_ready(&mut tx, &fx.tender_id)
            .await
            .unwrap()
    );
    drop(tx);
    for (u, _, soft) in drawn.iter_mut() {
        let (ceremony, options) = checkin::start_checkin((&state).into(), u, &fx.code)
            .await
            .unwrap();
        let cred = soft.do_authentication(origin.clone(), options).unwrap();
        let rec = checkin::finish_checkin(
            (&state).into(),
            u,
            &fx.code,
            checkin::FinishCheckin {
                ceremony_id: ceremony,
                credential: serde_json::to_value(&cred).unwrap(),
            },
        )
        .await
        .expect("check in");
        assert_eq!(rec.method, "passkey");
        assert!(rec.credential_id.is_some());
    }
    assert!(matches!(
        checkin::start_checkin((&state).into(), u0, &fx.code).await,
        Err(ExpertError::AlreadyCheckedIn)
    ));
    let mut tx = fx.kit.db().read().await.unwrap();
    assert!(
        checkin::committee_ready(&mut tx, &fx.tender_id)
            .await
            .unwrap()
    );
    drop(tx);
    // Someone else's passkey cannot check in as a member.
    let (stranger, _, soft) = other.get_mut(0).unwrap();
    let (ceremony, options) = passkey::start_assertion_for_user(&state, &stranger.user.user_id)
        .await
        .unwrap();
    let cred = soft.do_authentication(origin.clone(), options).unwrap();
    let r = checkin::finish_checkin(
        (&state).into(),
        &drawn[0].0,
        &fx.code,
        checkin::FinishCheckin {
            ceremony_id: ceremony,
            credential: serde_json::to_value(&cred).unwrap(),
        },
    )
    .await;
    assert!(r.is_err());
    fx.kit.clock.set(fx.kit.t0);
}
on_both!(passkey_checkin);
