//! Test fixtures for the tender service and jobs: a real database (SQLite in a tempdir, or
//! a fresh PostgreSQL database on the server of `SUNBID_TEST_PG_URL`), organisations and users inserted directly, a clock the
//! test sets by hand, and a valid tender input whose timeline the test chooses.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use super::model::{Criterion, EvaluationMethod, ExpertQuota, TenderInput};
use super::service::Caller;
use crate::audit::Actor;
use crate::clock::{Clock, from_millis, to_millis};
use crate::config::Config;
use crate::http::ctx::SessionUser;
use crate::http::i18n::Lang;
use crate::http::{AppState, Ctx};
use crate::identity::Role;
use crate::ids::new_id;
use crate::q_exec;
use crate::store::Db;

/// A clock the test moves by hand.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Kit {
    pub state: AppState,
    pub clock: Arc<TestClock>,
    /// Whether the database holds only this kit's data (SQLite); PostgreSQL is shared.
    pub fresh: bool,
    /// Start of the test's timeline (whole milliseconds, as the database stores them).
    pub t0: DateTime<Utc>,
    pub tenderee_org: String,
    pub agent: Caller,
    pub other_agent: Caller,
    pub bidder: Caller,
    pub bidder2: Caller,
    pub pending_bidder: Caller,
    pub regulator: Caller,
    pub custodians: Vec<String>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn org(db: &Db, kind: &str, status: &str) -> String {
    let id = new_id();
    let mut tx = db.begin().await.expect("begin");
    q_exec!(
        tx,
        "insert into organisation (org_id, kind, name, uscc, status, created_at) values ($1, $2, $3, null, $4, 0)",
        id.clone(),
        kind.to_string(),
        format!("{kind} {id}"),
        status.to_string()
    )
    .expect("insert org");
    tx.commit().await.expect("commit");
    id
}

pub(crate) async fn user(db: &Db, role: Role, org_id: Option<&str>, status: &str) -> Caller {
    let id = new_id();
    let mut tx = db.begin().await.expect("begin");
    q_exec!(
        tx,
        "insert into app_user (user_id, org_id, username, display_name, role, password_hash, status, created_at)
         values ($1, $2, $3, $4, $5, 'x', $6, 0)",
        id.clone(),
        org_id.map(str::to_string),
        format!("u-{id}"),
        format!("{} {id}", role.as_str()),
        role.as_str(),
        status.to_string()
    )
    .expect("insert user");
    tx.commit().await.expect("commit");
    Caller {
        user: SessionUser {
            user_id: id.clone(),
            role,
            org_id: org_id.map(str::to_string),
            name: format!("{} {id}", role.as_str()),
        },
        actor: Actor {
            user_id: Some(id),
            role: Some(role.as_str().to_string()),
            request_id: Some(new_id()),
            client_ip: Some("192.0.2.7".to_string()),
        },
        user_agent: Some("testkit/1".to_string()),
    }
}

/// The passphrases of the kit's three custodians, in the order of `Kit::custodians`.
pub const CUSTODIAN_PASSPHRASES: [&str; 3] = [
    "custodian-one passphrase",
    "custodian-two passphrase",
    "custodian-three passphrase",
];

/// Three custodian keys, generated once per test process (PBKDF2 is deliberately slow) and
/// enrolled for the custodians of every kit.
pub fn custodian_keys() -> &'static [crate::seal::LockedCustodianKey] {
    static KEYS: std::sync::OnceLock<Vec<crate::seal::LockedCustodianKey>> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let rng = ring::rand::SystemRandom::new();
        CUSTODIAN_PASSPHRASES
            .iter()
            .map(|p| crate::seal::LockedCustodianKey::generate(p, &rng).expect("custodian key"))
            .collect()
    })
}

/// Stores a custodian key as `POST /api/v1/custodian/key` would (without the audit event).
pub async fn enrol_with(db: &Db, user_id: &str, locked: &crate::seal::LockedCustodianKey) {
    use base64::Engine;
    let mut tx = db.begin().await.expect("begin");
    q_exec!(
        tx,
        "insert into custodian_key (user_id, public_key, locked_json, created_at) values ($1, $2, $3, 0)",
        user_id.to_string(),
        base64::engine::general_purpose::STANDARD.encode(locked.public_key.to_bytes()),
        serde_json::to_string(locked).expect("json")
    )
    .expect("insert custodian key");
    tx.commit().await.expect("commit");
}

impl Kit {
    /// A fresh SQLite database in a tempdir.
    pub async fn sqlite() -> Kit {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        Kit::build(url, dir, true).await
    }

    /// A fresh PostgreSQL database on the server of `SUNBID_TEST_PG_URL`, or `None` when it
    /// is not set (a failure under `CI`).
    pub async fn postgres() -> Option<Kit> {
        let url = crate::store::testdb::fresh_postgres("sunbid_unit").await?;
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Kit::build(url, dir, true).await)
    }

    /// Builds the state the way the server does (connect, migrate, keys, rulebooks), so the
    /// kit follows any change to `AppState`.
    pub(crate) async fn build(url: String, dir: tempfile::TempDir, fresh: bool) -> Kit {
        let t0 = from_millis(to_millis(Utc::now()));
        let clock = Arc::new(TestClock(Mutex::new(t0)));
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: Some(url),
            max_document_bytes: 1024,
            ..Config::default()
        };
        let state = crate::server::build_state(config, clock.clone())
            .await
            .expect("state");
        let db = state.db.clone();
        let tenderee_org = org(&db, "tenderee", "active").await;
        let agent_org = org(&db, "agent", "active").await;
        let other_org = org(&db, "agent", "active").await;
        let bidder_org = org(&db, "bidder", "active").await;
        let bidder2_org = org(&db, "bidder", "active").await;
        let pending_org = org(&db, "bidder", "pending").await;
        let regulator_org = org(&db, "regulator", "active").await;
        let mut custodians = Vec::new();
        for locked in custodian_keys() {
            let id = user(&db, Role::Custodian, Some(&agent_org), "active")
                .await
                .user
                .user_id;
            enrol_with(&db, &id, locked).await;
            custodians.push(id);
        }
        Kit {
            agent: user(&db, Role::Agent, Some(&agent_org), "active").await,
            other_agent: user(&db, Role::Agent, Some(&other_org), "active").await,
            bidder: user(&db, Role::Bidder, Some(&bidder_org), "active").await,
            bidder2: user(&db, Role::Bidder, Some(&bidder2_org), "active").await,
            pending_bidder: user(&db, Role::Bidder, Some(&pending_org), "pending").await,
            regulator: user(&db, Role::Regulator, Some(&regulator_org), "active").await,
            state,
            clock,
            fresh,
            t0,
            tenderee_org,
            custodians,
            _dir: dir,
        }
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn books(&self) -> &crate::tender::rulebook::Rulebooks {
        &self.state.rulebooks
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// A unique project code.
    pub fn code(&self, prefix: &str) -> String {
        format!("{prefix}-{}", &new_id()[24..])
    }

    /// A valid construction tender: documents from t0 + 1 h, the deadline `days` later,
    /// questions until 5 days before the deadline.
    pub fn input(&self, code: &str, days: i64) -> TenderInput {
        let docs = self.t0 + TimeDelta::hours(1);
        let deadline = docs + TimeDelta::days(days);
        TenderInput {
            code: code.to_string(),
            title: "滨江新区污水处理厂扩建工程施工招标".to_string(),
            description: "本项目为污水处理厂二期扩建，含土建与设备安装。".to_string(),
            category: "construction".to_string(),
            procedure: "open".to_string(),
            tenderee_org_id: self.tenderee_org.clone(),
            estimated_price_fen: 12_000_000_000,
            ceiling_price_fen: Some(12_500_000_000),
            bid_security_fen: 100_000_000,
            documents_available_at: docs.to_rfc3339(),
            documents_available_until: None,
            clarification_cutoff_at: (deadline - TimeDelta::days(5)).to_rfc3339(),
            bid_deadline_at: deadline.to_rfc3339(),
            opening_place: "开标室1 / Opening room 1".to_string(),
            evaluation_method: EvaluationMethod::Comprehensive,
            criteria: vec![
                Criterion {
                    name: "技术".into(),
                    weight: 60,
                },
                Criterion {
                    name: "价格".into(),
                    weight: 40,
                },
            ],
            expert_quotas: vec![ExpertQuota {
                specialty: "给排水".into(),
                count: 5,
            }],
            custodians: self.custodians.clone(),
        }
    }

    /// The request context of a caller (for functions that take a `Ctx`).
    pub fn ctx(&self, caller: &Caller) -> Ctx {
        Ctx {
            request_id: caller.actor.request_id.clone().unwrap_or_default(),
            client_ip: caller.actor.client_ip.clone(),
            user_agent: caller.user_agent.clone(),
            user: Some(caller.user.clone()),
            session_id: None,
            lang: Lang::Zh,
            csrf: String::new(),
        }
    }
}
