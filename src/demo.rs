//! Demo data for a first look (`sunbid serve --demo` on an empty database): a trading
//! centre, a tenderee, an agent, four bidder companies, custodians, experts, a regulator,
//! and tenders in several states. Everything goes through the services, so the audit log
//! records the demo like any other activity.

use bytes::Bytes;
use chrono::{DateTime, Datelike, Duration, SecondsFormat, Timelike, Utc};

use std::sync::Arc;

use base64::Engine as _;
use ring::rand::SystemRandom;

use crate::audit::Actor;
use crate::bid::service::UploadMeta;
use crate::clock::{Clock, OffsetClock};
use crate::config::Config;
use crate::expert::pool::{self, ExpertInput, StatusChange};
use crate::identity::model::{OrgKind, Role};
use crate::identity::service::{NewOrg, NewUser, create_org, create_user};
use crate::identity::uscc;
use crate::identity::{Caller, SessionUser};
use crate::keys::{KeyRing, SigningKey};
use crate::q_one;
use crate::seal::{PartInfo, PublicKey, seal_stream};
use crate::store::Db;
use crate::store::blob::BlobStore;
use crate::tender::model::{
    AmendmentInput, AnswerInput, Criterion, EvaluationMethod, ExpertQuota, QuestionInput,
    TenderInput,
};
use crate::tender::rulebook::Rulebooks;
use crate::tender::service::{self as tenders, NewDocument};

/// The password of every demo account (printed at start; demo data is not for production).
pub const DEMO_PASSWORD: &str = "sunbid-demo-2026";

/// A synthetic but valid 统一社会信用代码 built from a seed: the organisation code's own
/// check character (GB 11714) and the final one (GB 32100) are found by trying each, so the
/// demo never borrows a real company's code.
pub fn synthetic_uscc(seed: u32) -> Option<String> {
    let body = format!("913205{:02}{:08}", seed % 100, 10_000_000 + seed);
    const CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    for org_check in "0123456789X".chars() {
        for last in CHARSET.chars() {
            let code = format!("{body}{org_check}{last}");
            if uscc::validate(&code).is_ok() {
                return Some(code);
            }
        }
    }
    None
}

/// What the demo data is made with: the stores, clock, rules and keys the server itself uses,
/// passed in by the start-up code. The clock is owned so that the past-deadline tenders can
/// be made with one set back in time.
#[derive(Clone)]
pub struct Inputs<'a> {
    /// The database.
    pub db: &'a Db,
    /// The blob store (documents, sealed envelopes).
    pub blobs: &'a BlobStore,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The rulebooks.
    pub rulebooks: &'a Rulebooks,
    /// The auction and listing rulebooks.
    pub auction_rulebooks: &'a crate::auction::rulebook::AuctionRulebooks,
    /// The configuration (public URL, size limits).
    pub config: &'a Config,
    /// The active platform key (signs bid receipts).
    pub platform_key: &'a SigningKey,
    /// Every platform key.
    pub platform_keys: &'a KeyRing,
}

impl Inputs<'_> {
    fn tender_documents(&self) -> tenders::Documents<'_> {
        tenders::Documents {
            db: self.db,
            blobs: self.blobs,
            books: self.rulebooks,
            max_bytes: self.config.max_document_bytes,
        }
    }

    fn bids(&self) -> crate::bid::service::Bids<'_> {
        crate::bid::service::Bids {
            db: self.db,
            blobs: self.blobs,
            clock: self.clock.as_ref(),
            signer: self.platform_key,
            keys: self.platform_keys,
            log_origin: self.config.log_origin(),
            max_part_bytes: self.config.max_bid_part_bytes,
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct Demo<'a> {
    state: &'a Inputs<'a>,
    actor: Actor,
}

impl Demo<'_> {
    async fn org(&self, kind: OrgKind, name: &str, seed: Option<u32>) -> anyhow::Result<String> {
        let uscc = seed.and_then(synthetic_uscc);
        let req = NewOrg {
            kind,
            name: name.into(),
            uscc,
        };
        create_org(self.state.db, self.state.clock.now(), &self.actor, req)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    async fn user(
        &self,
        username: &str,
        name: &str,
        role: Role,
        org: Option<&str>,
    ) -> anyhow::Result<SessionUser> {
        let req = NewUser {
            username: username.into(),
            display_name: name.into(),
            role,
            org_id: org.map(str::to_string),
            password: DEMO_PASSWORD.into(),
        };
        let user_id = create_user(self.state.db, self.state.clock.now(), &self.actor, req)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(SessionUser {
            user_id,
            role,
            org_id: org.map(str::to_string),
            name: name.into(),
        })
    }
}

fn caller(user: &SessionUser) -> Caller {
    Caller {
        user: user.clone(),
        actor: Actor {
            user_id: Some(user.user_id.clone()),
            role: Some(user.role.as_str().into()),
            request_id: None,
            client_ip: None,
        },
        user_agent: Some("sunbid-demo".into()),
    }
}

/// What the demo loader leaves for the caller: the logins to print, and who opens the
/// colluding tender ([`COLLUDING`]) once the server can run an opening ceremony.
pub struct Loaded {
    /// The logins and first steps, for the console.
    pub message: String,
    /// The demo agent.
    pub agent: Caller,
    /// The demo custodians.
    pub custodians: Vec<Caller>,
}

/// Loads demo data when the database has no users.
pub async fn load_if_empty(state: &Inputs<'_>) -> anyhow::Result<Option<Loaded>> {
    let mut tx = state.db.read().await?;
    let (users,): (i64,) = q_one!(tx, (i64,), "select count(*) from app_user")?;
    drop(tx);
    if users > 0 {
        return Ok(None);
    }
    let d = Demo {
        state,
        actor: Actor {
            role: Some("demo".into()),
            ..Actor::default()
        },
    };

    let people = d.people().await?;
    tenders(state, &people).await?;
    let custodians: Vec<Caller> = people.custodians.iter().map(caller).collect();
    let agent = caller(&people.agent);
    question_and_amendment(state, &people).await?;
    expert_pool(state).await?;
    let bidders: Vec<Caller> = people.bidders.iter().take(3).map(caller).collect();
    let custodian_ids: Vec<String> = people
        .custodians
        .iter()
        .map(|c| c.user_id.clone())
        .collect();
    let auctions = crate::auction::demo::load(
        &crate::auction::demo::Stores {
            db: state.db,
            blobs: state.blobs,
            books: state.auction_rulebooks,
            key: state.platform_key,
            extend_seconds: state.config.demo_extend_seconds,
        },
        state.clock.now(),
        i64::try_from(state.config.demo_auction_seconds.max(30)).unwrap_or(300),
        &crate::auction::demo::Cast {
            agent: &agent,
            operator: &caller(&people.operator),
            bidders: &bidders,
            custodians: &custodian_ids,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo auctions: {e}"))?;

    let message = format!(
        "Demo data loaded. Log in at {} with any of these users, password: {DEMO_PASSWORD}\n  \
         admin (operator) · agent (agent) · custodian1..3 (custodians) · bidder1..4 (bidders) · \
         expert1..7 (experts) · regulator (regulator)\n  \
         SZ2026-JS-000 (comprehensive scoring) and SZ2026-JS-004 (lowest evaluated price) are \
         past their deadline with three sealed bids each: log in as agent to start the opening, \
         then as custodian1 and custodian2 (passphrase {DEMO_PASSWORD}) to open it; \
         {COLLUDING} is opened with collusion alerts for regulator at /supervision\n{auctions}",
        state.config.public_url
    );
    Ok(Some(Loaded {
        message,
        agent,
        custodians,
    }))
}

/// The demo organisations and logins the tenders are made with.
struct People {
    /// The tenderee organisation.
    tenderee: String,
    /// The operator (admin).
    operator: SessionUser,
    /// The agent.
    agent: SessionUser,
    /// The three custodians (agent, trading centre, regulator).
    custodians: [SessionUser; 3],
    /// bidder1..4.
    bidders: Vec<SessionUser>,
}

impl Demo<'_> {
    /// The organisations and their users: the trading centre, the regulator, the tenderee,
    /// the agent, the expert employer and four bidder companies; admin, agent, three
    /// custodians, the regulator, bidder1..4 and expert1..7.
    async fn people(&self) -> anyhow::Result<People> {
        let centre = self
            .org(
                OrgKind::TradingCentre,
                "苏州市公共资源交易中心（示例）",
                None,
            )
            .await?;
        let regulator_org = self
            .org(OrgKind::Regulator, "苏州市住房和城乡建设局（示例）", None)
            .await?;
        let tenderee = self
            .org(
                OrgKind::Tenderee,
                "苏州城市建设投资发展有限公司（示例）",
                Some(1),
            )
            .await?;
        let agent_org = self
            .org(
                OrgKind::Agent,
                "江苏诚信工程招标代理有限公司（示例）",
                Some(2),
            )
            .await?;
        let employer = self
            .org(
                OrgKind::ExpertEmployer,
                "东南建筑设计研究院（示例）",
                Some(3),
            )
            .await?;
        let mut bidder_orgs = Vec::new();
        for (i, name) in [
            "苏州华建建设集团有限公司（示例）",
            "江苏恒通路桥工程有限公司（示例）",
            "中建苏南建设有限公司（示例）",
            "吴江市政工程有限公司（示例）",
        ]
        .iter()
        .enumerate()
        {
            bidder_orgs.push(self.org(OrgKind::Bidder, name, Some(10 + i as u32)).await?);
        }

        let operator = self
            .user("admin", "平台管理员", Role::Operator, None)
            .await?;
        let agent = self
            .user("agent", "王招标", Role::Agent, Some(&agent_org))
            .await?;
        let c1 = self
            .user(
                "custodian1",
                "李保管（代理）",
                Role::Custodian,
                Some(&agent_org),
            )
            .await?;
        let c2 = self
            .user(
                "custodian2",
                "赵保管（交易中心）",
                Role::Custodian,
                Some(&centre),
            )
            .await?;
        let c3 = self
            .user(
                "custodian3",
                "钱保管（监管）",
                Role::Custodian,
                Some(&regulator_org),
            )
            .await?;
        self.user("regulator", "孙监督", Role::Regulator, Some(&regulator_org))
            .await?;
        let mut bidders = Vec::new();
        for (i, org) in bidder_orgs.iter().enumerate() {
            bidders.push(
                self.user(
                    &format!("bidder{}", i + 1),
                    &format!("投标联系人{}", i + 1),
                    Role::Bidder,
                    Some(org),
                )
                .await?,
            );
        }
        for i in 1..=7 {
            self.user(
                &format!("expert{i}"),
                &format!("评标专家{i}"),
                Role::Expert,
                Some(&employer),
            )
            .await?;
        }
        Ok(People {
            tenderee,
            operator,
            agent,
            custodians: [c1, c2, c3],
            bidders,
        })
    }
}

/// Three tenders made at `now` (two published, one left a draft) and the two past their
/// deadline with sealed bids; the custodians enrol their keys first.
async fn tenders(state: &Inputs<'_>, p: &People) -> anyhow::Result<()> {
    let now = state.clock.now();
    // Deadlines fall on 09:30 China time (01:30 UTC), 25 days out: inside the 20-day rule.
    let deadline = (now + Duration::days(25))
        .with_hour(1)
        .and_then(|t| t.with_minute(30))
        .and_then(|t| t.with_second(0))
        .unwrap_or(now + Duration::days(25));
    let custodians: Vec<String> = p.custodians.iter().map(|c| c.user_id.clone()).collect();
    // Publication needs every custodian's key (sealed bidding): the demo custodians enrol
    // with the demo password as their passphrase.
    for c in &p.custodians {
        crate::bid::custodian::enrol(state.db, now, &caller(c), DEMO_PASSWORD.into())
            .await
            .map_err(|e| anyhow::anyhow!("demo custodian key: {e}"))?;
    }
    let ag = caller(&p.agent);
    let projects = [
        (
            "SZ2026-JS-001",
            "苏州工业园区星湖街道路改造工程施工",
            "道路全长2.3公里，含路基、路面、排水及交通设施改造。工期240日历天。",
            1_200_000_000i64,
        ),
        (
            "SZ2026-JS-002",
            "吴中区第二实验小学教学楼新建工程施工",
            "新建四层教学楼一栋，建筑面积约12,000平方米，框架结构。工期365日历天。",
            4_560_000_000,
        ),
        (
            "SZ2026-SZ-003",
            "相城区污水处理厂提标改造工程",
            "污水处理规模5万吨/日，出水执行准IV类标准。",
            2_380_000_000,
        ),
    ];
    for (n, (code, title, description, estimate)) in projects.iter().enumerate() {
        let deadline = deadline + Duration::days(n as i64);
        let input = tender_input(
            code,
            title,
            description,
            *estimate,
            &p.tenderee,
            &custodians,
            now,
            deadline,
        );
        if n == 2 {
            // Stays a draft for the agent workspace.
            tenders::create_draft(state.db, state.rulebooks, now, &ag, &input)
                .await
                .map_err(|e| anyhow::anyhow!("demo tender {code}: {e}"))?;
        } else {
            publish_tender(state, &ag, &input, now).await?;
        }
    }
    for spec in &PAST_DEADLINE {
        past_deadline_tender(state, &ag, &p.bidders, &p.tenderee, &custodians, spec).await?;
    }
    invited_tender(
        state,
        &ag,
        p,
        &custodians,
        now,
        deadline + Duration::days(3),
    )
    .await
}

/// An invited water-works tender (邀请招标) for bidder1..3: bidder4 sees it on the portal but
/// may neither obtain its documents nor bid.
async fn invited_tender(
    state: &Inputs<'_>,
    ag: &Caller,
    p: &People,
    custodians: &[String],
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut input = tender_input(
        INVITED,
        "太湖金墅港段堤防加固工程施工（邀请招标）",
        "堤防加固约1.2公里，含防渗墙与护坡。技术复杂，仅有少量潜在投标人可供选择，经批准采用邀请招标。",
        980_000_000,
        &p.tenderee,
        custodians,
        now,
        deadline,
    );
    input.category = "water".into();
    input.procedure = "invited".into();
    let err = |e: tenders::TenderError| anyhow::anyhow!("demo tender {INVITED}: {e}");
    tenders::create_draft(state.db, state.rulebooks, now, ag, &input)
        .await
        .map_err(err)?;
    let org_ids = p
        .bidders
        .iter()
        .take(3)
        .filter_map(|b| b.org_id.clone())
        .collect();
    tenders::invitations::set_invitations(
        state.db,
        state.rulebooks,
        now,
        ag,
        INVITED,
        &tenders::invitations::InvitationInput { org_ids },
    )
    .await
    .map_err(err)?;
    let doc = NewDocument {
        filename: format!("{INVITED}-招标文件.txt"),
        content_type: Some("text/plain; charset=utf-8".into()),
        amendment_id: None,
        bytes: Bytes::from(format!("{}\n\n招标文件（示例）\n", input.title)),
    };
    tenders::upload_document(state.tender_documents(), now, ag, INVITED, doc)
        .await
        .map_err(err)?;
    tenders::publish(state.db, state.rulebooks, now, ag, INVITED)
        .await
        .map_err(err)?;
    Ok(())
}

/// The demo's invited tender.
pub const INVITED: &str = "SZ2026-SL-006";

/// A question answered in public, and an amendment, on the second tender.
async fn question_and_amendment(state: &Inputs<'_>, p: &People) -> anyhow::Result<()> {
    let ag = caller(&p.agent);
    let bidder = p
        .bidders
        .first()
        .map(caller)
        .ok_or_else(|| anyhow::anyhow!("demo: no bidder"))?;
    let q = tenders::ask_question(
        state.db,
        state.clock.now(),
        &bidder,
        "SZ2026-JS-002",
        &QuestionInput {
            body: "教学楼外墙保温材料是否允许采用同等性能的替代产品？".into(),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo question: {e}"))?;
    tenders::answer_question(
        state.db,
        state.clock.now(),
        &ag,
        "SZ2026-JS-002",
        &q.question_id,
        &AnswerInput {
            answer: "允许，但须满足招标文件第五章技术标准中的A级燃烧性能要求。".into(),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo answer: {e}"))?;
    tenders::amend(
        state.db,
        state.rulebooks,
        state.clock.now(),
        &ag,
        "SZ2026-JS-002",
        &AmendmentInput {
            summary: "第1号澄清：工程量清单更正".into(),
            body: "工程量清单第3.2节“土方开挖”数量由12,000立方米更正为13,500立方米。".into(),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo amendment: {e}"))?;
    Ok(())
}

/// The demo expert pool, added by the demo operator through the pool service (so every
/// entry is an audit event): expert1..7 are senior building-works (A01) experts in 苏州
/// (320500) employed by the demo expert employer, linked to their logins. Twenty more have no
/// login: seven A01 experts who are each kept out of the demo tenders' quota
/// (`construction.building` = A01) for a reason the draw reports — employed by the tenderee,
/// the agent or the supervising regulator, a middle title, too few years, penalised,
/// suspended — so a committee of 5 (+ up to 2 alternates) is always drawn from expert1..7,
/// who can confirm and check in; and thirteen municipal (A02) and cost (A05) experts across
/// several regions, some employed by a bidder company (avoided once it bids or downloads the
/// documents). The demo regulator is the supervisor for demo draws.
async fn expert_pool(state: &Inputs<'_>) -> anyhow::Result<()> {
    let p = DemoPool::load(state).await?;
    p.committee().await?;
    p.kept_out().await?;
    p.others().await
}

/// What adding the demo experts needs: the demo operator and the logins and organisations
/// made before.
struct DemoPool<'a> {
    state: &'a Inputs<'a>,
    op: Caller,
    now: DateTime<Utc>,
    users: Vec<(String, String, Option<String>, String)>,
    orgs: Vec<(String, String)>,
}

impl<'a> DemoPool<'a> {
    async fn load(state: &'a Inputs<'a>) -> anyhow::Result<DemoPool<'a>> {
        let mut tx = state.db.read().await?;
        let users: Vec<(String, String, Option<String>, String)> = crate::q_all!(
            tx,
            (String, String, Option<String>, String),
            "select username, user_id, org_id, display_name from app_user"
        )?;
        let orgs: Vec<(String, String)> = crate::q_all!(
            tx,
            (String, String),
            "select name, org_id from organisation"
        )?;
        drop(tx);
        let admin = users
            .iter()
            .find(|u| u.0 == "admin")
            .ok_or_else(|| anyhow::anyhow!("demo expert pool: no user admin"))?;
        let op = caller(&SessionUser {
            user_id: admin.1.clone(),
            role: Role::Operator,
            org_id: None,
            name: admin.3.clone(),
        });
        Ok(DemoPool {
            state,
            op,
            now: state.clock.now(),
            users,
            orgs,
        })
    }

    fn user(&self, name: &str) -> anyhow::Result<&(String, String, Option<String>, String)> {
        self.users
            .iter()
            .find(|u| u.0 == name)
            .ok_or_else(|| anyhow::anyhow!("demo expert pool: no user {name}"))
    }

    fn org(&self, name: &str) -> anyhow::Result<String> {
        self.orgs
            .iter()
            .find(|o| o.0.starts_with(name))
            .map(|o| o.1.clone())
            .ok_or_else(|| anyhow::anyhow!("demo expert pool: no organisation {name}"))
    }

    fn bidder(&self, n: usize) -> anyhow::Result<String> {
        let names = [
            "苏州华建建设集团有限公司",
            "江苏恒通路桥工程有限公司",
            "中建苏南建设有限公司",
            "吴江市政工程有限公司",
        ];
        self.org(names.get(n).copied().unwrap_or_default())
    }

    #[allow(clippy::too_many_arguments)]
    fn input(
        &self,
        name: &str,
        specialties: &[&str],
        region: &str,
        employer: Option<String>,
        title: &str,
        years: u32,
        age: i32,
    ) -> ExpertInput {
        ExpertInput {
            name: name.into(),
            specialties: specialties.iter().map(|s| s.to_string()).collect(),
            region: region.into(),
            employer_org_id: employer,
            title: title.into(),
            years_of_practice: years,
            birth_year: self.now.year() - age,
            penalised: false,
            user_id: None,
            unavailable: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    async fn add(&self, input: ExpertInput) -> anyhow::Result<pool::ExpertView> {
        pool::add_expert(self.state.db, self.state.clock.now(), &self.op, &input)
            .await
            .map_err(|e| anyhow::anyhow!("demo expert {}: {e}", input.name))
    }

    /// expert1..7: the committee of the demo tenders.
    async fn committee(&self) -> anyhow::Result<()> {
        let employer = self.org("东南建筑设计研究院")?;
        let subs = [
            "A0101", "A0102", "A0103", "A0101", "A0104", "A0101", "A0103",
        ];
        for (i, sub) in (1..=7).zip(subs) {
            let u = self.user(&format!("expert{i}"))?;
            let mut e = self.input(
                &u.3,
                &["A01", sub],
                "320500",
                Some(employer.clone()),
                if i % 3 == 0 {
                    "associate_senior"
                } else {
                    "senior"
                },
                10 + (i as u32 * 2),
                41 + i * 2,
            );
            e.user_id = Some(u.1.clone());
            self.add(e).await?;
        }
        Ok(())
    }

    /// A01 without a login: each is kept out of the demo tenders' draws for a reason the
    /// regulator's report names.
    async fn kept_out(&self) -> anyhow::Result<()> {
        let tenderee = self.org("苏州城市建设投资发展有限公司")?;
        let agent = self.org("江苏诚信工程招标代理有限公司")?;
        let regulator = self.org("苏州市住房和城乡建设局")?;
        let a01 = ["A01", "A0101"];
        let i = |name, region, employer, title, years, age| {
            self.input(name, &a01, region, employer, title, years, age)
        };
        self.add(i("周建国", "320500", Some(tenderee), "senior", 22, 56))
            .await?;
        self.add(i(
            "吴立新",
            "320506",
            Some(agent),
            "associate_senior",
            15,
            47,
        ))
        .await?;
        self.add(i("郑明华", "320500", Some(regulator), "senior", 18, 50))
            .await?;
        self.add(i("陈晓东", "320508", None, "intermediate", 12, 41))
            .await?;
        self.add(i("林海峰", "320100", None, "senior", 6, 38))
            .await?;
        let mut p = i("何永明", "320200", None, "senior", 25, 59);
        p.penalised = true;
        self.add(p).await?;
        let suspended = self
            .add(i("许文杰", "320500", None, "senior", 20, 52))
            .await?;
        pool::change_status(
            self.state.db,
            self.state.clock.now(),
            &self.op,
            &suspended.expert_id,
            StatusChange::Suspend,
            "年度考核不合格，暂停评标资格（示例）",
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo expert suspension: {e}"))?;
        Ok(())
    }

    /// Municipal works (A02) and cost engineering (A05), across regions; some are employed
    /// by bidder companies and are avoided once those bid or download the documents.
    async fn others(&self) -> anyhow::Result<()> {
        let (a02, a05) = (["A02", "A0201"], ["A05"]);
        for (name, region, employer, title, years, age) in [
            ("王建华", "320500", None, "senior", 19, 51),
            ("李国强", "320506", Some(self.bidder(1)?), "senior", 16, 46),
            ("张伟", "320100", None, "associate_senior", 14, 44),
            ("刘志刚", "320200", None, "senior", 24, 58),
            (
                "杨立平",
                "320500",
                Some(self.bidder(3)?),
                "associate_senior",
                11,
                42,
            ),
            ("赵春生", "320505", None, "senior", 21, 55),
            ("孙丽娟", "330100", None, "associate_senior", 13, 43),
        ] {
            let mut e = self.input(name, &a02, region, employer, title, years, age);
            if name == "赵春生" {
                let from = (self.now + Duration::days(3)).date_naive();
                e.unavailable = (0..3)
                    .map(|d| (from + Duration::days(d)).to_string())
                    .collect();
            }
            self.add(e).await?;
        }
        for (name, region, employer, title, years, age) in [
            ("黄秀英", "320500", None, "senior", 17, 49),
            ("周敏", "320508", Some(self.bidder(2)?), "senior", 20, 53),
            ("徐志明", "320100", None, "associate_senior", 12, 45),
            ("朱红梅", "320500", None, "senior_equivalent", 15, 48),
            ("马俊", "310000", None, "associate_senior", 10, 40),
            ("胡静", "320200", Some(self.bidder(0)?), "senior", 23, 57),
        ] {
            self.add(self.input(name, &a05, region, employer, title, years, age))
                .await?;
        }
        Ok(())
    }
}

/// The terms of a demo tender: documents available at `from`, bids due at `deadline`.
#[allow(clippy::too_many_arguments)]
fn tender_input(
    code: &str,
    title: &str,
    description: &str,
    estimate: i64,
    tenderee: &str,
    custodians: &[String],
    from: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> TenderInput {
    let criterion = |name: &str, weight| Criterion {
        name: name.into(),
        weight,
    };
    TenderInput {
        code: code.into(),
        title: title.into(),
        description: description.into(),
        category: "construction".into(),
        procedure: "open".into(),
        tenderee_org_id: tenderee.into(),
        estimated_price_fen: estimate,
        ceiling_price_fen: Some(estimate / 100 * 102),
        bid_security_fen: estimate / 100,
        documents_available_at: rfc3339(from),
        documents_available_until: None,
        clarification_cutoff_at: rfc3339(deadline - Duration::days(10)),
        bid_deadline_at: rfc3339(deadline),
        opening_place: "苏州市公共资源交易中心开标三室（线上同步开标）".into(),
        evaluation_method: EvaluationMethod::Comprehensive,
        criteria: vec![
            criterion("投标报价", 60),
            criterion("施工组织设计", 30),
            criterion("企业信誉", 10),
        ],
        expert_quotas: vec![ExpertQuota {
            specialty: "construction.building".into(),
            count: 5,
        }],
        custodians: custodians.to_vec(),
    }
}

/// Drafts, documents and publishes a tender as the agent at `now`.
async fn publish_tender(
    state: &Inputs<'_>,
    ag: &Caller,
    input: &TenderInput,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let code = input.code.as_str();
    let err = |e: tenders::TenderError| anyhow::anyhow!("demo tender {code}: {e}");
    tenders::create_draft(state.db, state.rulebooks, now, ag, input)
        .await
        .map_err(err)?;
    let doc = NewDocument {
        filename: format!("{code}-招标文件.txt"),
        content_type: Some("text/plain; charset=utf-8".into()),
        amendment_id: None,
        bytes: Bytes::from(format!(
            "{}\n\n招标文件（示例）\n\n{}\n",
            input.title, input.description
        )),
    };
    tenders::upload_document(state.tender_documents(), now, ag, code, doc)
        .await
        .map_err(err)?;
    tenders::publish(state.db, state.rulebooks, now, ag, code)
        .await
        .map_err(err)?;
    Ok(())
}

/// A tender published 20 days ago whose deadline passed half an hour before the demo was
/// loaded, with three bids sealed by bidder1..3 at the time: the opening ceremony can be
/// tried at once (agent starts it, two custodians unlock, bidders see the record). It is
/// created through the same services, run on a clock set back in time, so the audit log
/// tells the story as it would have happened.
/// A demo tender whose bid deadline has passed, with three sealed bids.
struct PastDeadline {
    code: &'static str,
    title: &'static str,
    description: &'static str,
    estimate_fen: i64,
    method: EvaluationMethod,
    /// One bid per price, from the first bidders in order.
    prices_fen: [i64; 3],
}

/// The two demo tenders ready for the opening: one per evaluation method.
const PAST_DEADLINE: [PastDeadline; 3] = [
    PastDeadline {
        code: "SZ2026-JS-000",
        title: "姑苏区平江路历史街区雨污分流改造工程施工",
        description: "雨污分流管网约4.6公里，含检查井改造与路面恢复。工期180日历天。（示例：投标已截止，可演示开标）",
        estimate_fen: 860_000_000,
        method: EvaluationMethod::Comprehensive,
        prices_fen: [845_600_000, 851_230_000, 839_990_000],
    },
    PastDeadline {
        code: "SZ2026-JS-004",
        title: "虎丘区枫桥街道背街小巷路面翻新工程施工",
        description: "背街小巷沥青路面翻新约1.8万平方米，技术要求简单。工期90日历天。（示例：经评审的最低投标价法，投标已截止，可演示开标）",
        estimate_fen: 320_000_000,
        method: EvaluationMethod::LowestPrice,
        prices_fen: [309_800_000, 304_500_000, 312_250_000],
    },
    // Opened at load with prices in arithmetic progression: the regulator's alerts.
    PastDeadline {
        code: COLLUDING,
        title: "高新区科技城配套道路绿化提升工程施工",
        description: "道路绿化提升约3.2公里，含苗木种植与养护。工期120日历天。（示例：已开标，报价呈等差数列，电子监察已预警）",
        estimate_fen: 520_000_000,
        method: EvaluationMethod::Comprehensive,
        prices_fen: [501_000_000, 506_000_000, 511_000_000],
    },
];

/// The demo tender whose bids look collusive (实施条例 第40条), opened at load.
pub const COLLUDING: &str = "SZ2026-JS-005";

async fn past_deadline_tender(
    state: &Inputs<'_>,
    ag: &Caller,
    bidders: &[SessionUser],
    tenderee: &str,
    custodians: &[String],
    spec: &PastDeadline,
) -> anyhow::Result<()> {
    let code = spec.code;
    let real_now = state.clock.now();
    let deadline = real_now - Duration::minutes(30);
    let published = deadline - Duration::days(20);
    let past = Arc::new(OffsetClock::default());
    past.advance(published - real_now);
    let mut then = state.clone();
    then.clock = past.clone();

    let mut input = tender_input(
        code,
        spec.title,
        spec.description,
        spec.estimate_fen,
        tenderee,
        custodians,
        published,
        deadline,
    );
    if spec.method == EvaluationMethod::LowestPrice {
        // The members do not score: no scoring criteria, the committee prices deviations.
        input.evaluation_method = EvaluationMethod::LowestPrice;
        input.criteria.clear();
    }
    publish_tender(&then, ag, &input, then.clock.now()).await?;

    // Bids come in during the bidding period.
    past.advance(Duration::days(3));
    let key = crate::bid::custodian::opening_key(state.db, code)
        .await
        .map_err(|e| anyhow::anyhow!("demo opening key: {e}"))?;
    let pk_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&key.public_key)
        .map_err(|e| anyhow::anyhow!("demo opening key: {e}"))?;
    let pk =
        PublicKey::from_bytes(&pk_bytes).map_err(|e| anyhow::anyhow!("demo opening key: {e}"))?;
    for (bidder, price_fen) in bidders.iter().zip(spec.prices_fen) {
        let who = caller(bidder);
        let org = bidder.org_id.clone().unwrap_or_default();
        let form = serde_json::to_vec(&serde_json::json!({
            "price_fen": price_fen, "duration_days": 175, "quality": "合格",
            "project_manager": format!("{}项目经理", bidder.name),
            "declarations": ["投标保证金已缴纳", "响应招标文件全部实质性条款"],
        }))?;
        let mut envelope = Vec::new();
        let info = PartInfo {
            tender_id: &key.tender_id,
            bidder_id: &org,
            label: "bid-form.json",
            plaintext_len: form.len() as u64,
        };
        seal_stream(
            &mut &form[..],
            &mut envelope,
            &pk,
            &info,
            &SystemRandom::new(),
        )
        .map_err(|e| anyhow::anyhow!("demo seal: {e}"))?;
        let meta = UploadMeta {
            label: "form".into(),
            name: Some("bid-form.json".into()),
            declared_len: Some(envelope.len() as u64),
            device_id: None,
        };
        let body =
            futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from(envelope))]);
        let part = crate::bid::service::upload_part(&then.bids(), &who, code, meta, body)
            .await
            .map_err(|e| anyhow::anyhow!("demo bid upload: {e}"))?;
        crate::bid::service::submit(&then.bids(), &who, code, &[part.part_id])
            .await
            .map_err(|e| anyhow::anyhow!("demo bid submit: {e}"))?;
        past.advance(Duration::hours(5));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_codes_are_valid_and_distinct() {
        let a = synthetic_uscc(1).unwrap();
        let b = synthetic_uscc(2).unwrap();
        assert_ne!(a, b);
        assert!(uscc::validate(&a).is_ok());
    }
}
