//! The evaluation report (评标报告) as a document: one model, rendered as a self-contained
//! bilingual HTML page (`web/templates/evaluation_report.html`) and as a PDF
//! ([`super::report_pdf`]), so both show the same content.
//!
//! Every number in the document comes from the stored report JSON — the exact bytes whose
//! SHA-256 the members sign (`evaluation.report_json`, written by
//! [`super::service::submit_scores`]): each member's score per criterion per bid, the price
//! scores, the aggregated scores, the totals and the ranking. Nothing is recomputed except a
//! member's row sum, which is the plain sum of the stored scores on that row. The database
//! adds only what the JSON does not carry: the tender's name, the members' and bidders'
//! names, and the signature records (signed with which credential and when, or dissented
//! with the reason).
//!
//! The report is confidential (招标投标法 第44条: the members keep the evaluation secret):
//! only the committee, the owning agent, operators and regulators may fetch it, before the
//! award and after it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::committee::{Member, MemberRole, member_pseudonym, pseudonymise_members, sees_members};
use super::review::{CriterionKind, ReviewCriterion};
use super::scoring::{Aggregation, Benchmark, ScoringPlan};
use crate::http::page::yuan;
use crate::http::{ApiError, AppState};
use crate::identity::Role;
use crate::store::StoreError;
use crate::store::blob::sha256_hex;
use crate::tender::model::TenderState;
use crate::tender::service::Caller;
use crate::{q_all, q_opt};

/// Why the report document cannot be produced. Mapped to HTTP once, in
/// `From<ReportError> for ApiError`.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No tender with this code.
    #[error("tender not found / 未找到该项目")]
    NotFound,
    /// The caller may not read the report.
    #[error(
        "the evaluation report is confidential: only the committee, the tender's agent, operators and regulators may read it / 评标报告保密，仅评标委员会成员、招标代理、平台运营和监管人员可查看"
    )]
    Forbidden,
    /// The report does not exist yet (it is written when every member's scores are in).
    #[error(
        "the evaluation report has not been generated yet: it is written when every member's scores are in / 评标报告尚未生成：全部成员提交评分后生成"
    )]
    NotReady,
    /// No CJK font for the PDF.
    #[error(
        "the PDF report needs a Chinese (CJK) font and none was found: set the config key report_font (environment SUNBID_REPORT_FONT) to a TTF/OTF/TTC file, or install the Debian package fonts-wqy-microhei (or fonts-noto-cjk); the HTML report works without it / 生成PDF评标报告需要中文字体但未找到：请设置配置项 report_font（环境变量 SUNBID_REPORT_FONT）指向 TTF/OTF/TTC 字体文件，或安装 Debian 软件包 fonts-wqy-microhei（或 fonts-noto-cjk）；HTML 版报告不受影响"
    )]
    FontMissing,
    /// Stored data no code writes (a digest mismatch, an unreadable report).
    #[error("stored evaluation report is inconsistent: {0}")]
    Corrupt(String),
    /// The PDF writer failed.
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReportError {
    fn from(e: sqlx::Error) -> Self {
        ReportError::Store(StoreError::Sql(e))
    }
}

impl ReportError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::NotFound => "NOT_FOUND",
            ReportError::Forbidden => "FORBIDDEN",
            ReportError::NotReady => "REPORT_NOT_READY",
            ReportError::FontMissing => "REPORT_FONT_MISSING",
            ReportError::Corrupt(_) | ReportError::Pdf(_) | ReportError::Store(_) => "INTERNAL",
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        let status = match &e {
            ReportError::NotFound => StatusCode::NOT_FOUND,
            ReportError::Forbidden => StatusCode::FORBIDDEN,
            ReportError::NotReady => StatusCode::CONFLICT,
            ReportError::FontMissing => StatusCode::SERVICE_UNAVAILABLE,
            ReportError::Corrupt(_) | ReportError::Pdf(_) | ReportError::Store(_) => {
                return ApiError::internal(&e);
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

// ---- the stored report JSON, as written by service::submit_scores -----------------------------

/// The report JSON (version 1). The ranking types only serialise, so the shapes are
/// mirrored here for reading.
#[derive(Debug, Deserialize)]
struct StoredReport {
    v: u32,
    tender_code: String,
    method: String,
    ranked_at: String,
    members: Vec<Member>,
    leader: Option<String>,
    review_criteria: Vec<ReviewCriterion>,
    review_rule: String,
    review: StoredReview,
    plan: ScoringPlan,
    sheets: Vec<StoredSheet>,
    /// The price comparison table (lowest evaluated price only).
    #[serde(default)]
    adjustments: Vec<StoredAdjustment>,
    outcome: StoredOutcome,
}

#[derive(Debug, Deserialize)]
struct StoredAdjustment {
    bid: String,
    amount_fen: i64,
    reason: String,
}

/// The price comparison table: every adjustment with its reason, by bid; the ranking table
/// of section 5 carries each bid's sum and evaluated price.
fn price_table_blocks(
    adjustments: &[StoredAdjustment],
    bid_label: &dyn Fn(&str) -> String,
) -> Vec<Block> {
    let mut blocks = vec![Block::Para(
        "评标委员会按招标文件规定的价格调整方法对有效投标的报价作必要调整（评标委员会和评标方法暂行规定 第31、33条），由组长代表评标委员会录入，全体成员签署本报告。The committee adjusted the valid bids' prices by the tender's adjustment method; the leader recorded the table for the committee and every member signs this report.".into(),
    )];
    if adjustments.is_empty() {
        blocks.push(Block::Para(
            "无价格调整：评标价即投标报价。No adjustments: each evaluated price is the bid price."
                .into(),
        ));
        return blocks;
    }
    blocks.push(Block::Table(Table {
        caption: Some("标价比较表 Price comparison table".into()),
        head: vec![
            "投标人 Bidder".into(),
            "调整金额（元）Adjustment (yuan)".into(),
            "理由 Reason".into(),
        ],
        rows: adjustments
            .iter()
            .map(|a| vec![bid_label(&a.bid), yuan(a.amount_fen), a.reason.clone()])
            .collect(),
        numeric: vec![false, true, false],
    }));
    blocks
}

#[derive(Debug, Deserialize)]
struct StoredReview {
    decisions: Vec<(String, StoredDecision)>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
enum StoredDecision {
    Passed,
    Rejected { failed: Vec<StoredFailed> },
}

#[derive(Debug, Deserialize)]
struct StoredFailed {
    criterion: String,
    kind: CriterionKind,
    reasons: Vec<(String, String)>,
    fails: u64,
    marks: u64,
}

#[derive(Debug, Deserialize)]
struct StoredSheet {
    member: String,
    bid_id: String,
    scores: BTreeMap<String, i64>,
    /// Absent from the copy for a reader who may not see the committee.
    #[serde(default)]
    sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum StoredOutcome {
    Ranked {
        benchmark_fen: Option<i64>,
        rows: Vec<StoredRow>,
        candidates: Vec<String>,
    },
    Failed {
        valid_bids: u32,
    },
}

#[derive(Debug, Deserialize)]
struct StoredRow {
    rank: u32,
    bid: String,
    price_fen: i64,
    detail: StoredDetail,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
enum StoredDetail {
    Comprehensive {
        subjective: i64,
        price_score: i64,
        total: i64,
    },
    LowestPrice {
        adjustments_fen: i64,
        evaluated_price_fen: i64,
    },
}

// ---- what the database adds -------------------------------------------------------------------

/// A member's recorded act on the report (table `evaluation_signature`).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SignatureRecord {
    /// The member's user id.
    pub member: String,
    /// `signed` or `dissented`.
    pub act: String,
    /// The written reason of a dissent.
    pub reason: Option<String>,
    /// The digest the act was made over.
    pub report_sha256: String,
    /// The passkey credential of a signature.
    pub credential_id: Option<String>,
    /// When, in milliseconds UTC.
    pub signed_at: i64,
}

/// The facts around the report that its JSON does not carry.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// The tender's name (项目名称).
    pub tender_name: String,
    /// User id → display name of each member.
    pub member_names: BTreeMap<String, String>,
    /// Bid id → bidder organisation name.
    pub bidders: BTreeMap<String, String>,
    /// The members' acts on the report.
    pub signatures: Vec<SignatureRecord>,
    /// Whether signing is over (the report was delivered: the evaluation has left `ranked`,
    /// or the tender has left `evaluating`): a member who neither signed nor dissented is
    /// then deemed to agree (实施条例 第53条).
    pub signing_closed: bool,
    /// When the document is produced, for its footer.
    pub generated_at: DateTime<Utc>,
    /// The reader may not learn who sits on the committee (see
    /// [`super::committee::sees_members`]): the JSON is the pseudonymised copy, and this is
    /// the digest the members signed, shown in its place (the report is salted, so the
    /// digest tells nothing about the ids the copy leaves out).
    pub members_withheld: Option<String>,
}

// ---- the document model ------------------------------------------------------------------------

/// A member's status on the report, as the document shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignState {
    /// Signed with a passkey over the report's SHA-256.
    Signed {
        /// The credential that signed.
        credential_id: String,
        /// When (ms UTC).
        at: i64,
    },
    /// Dissented with a written reason.
    Dissented {
        /// The reason.
        reason: String,
        /// When (ms UTC).
        at: i64,
    },
    /// Signing closed without an act: deemed to agree.
    DeemedToAgree,
    /// Signing still open, no act yet.
    Pending,
}

/// One table of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// A caption above the table, if any.
    pub caption: Option<String>,
    /// Column headings.
    pub head: Vec<String>,
    /// Rows of cells, as many as headings.
    pub rows: Vec<Vec<String>>,
    /// Which columns hold numbers (right-aligned).
    pub numeric: Vec<bool>,
}

/// One block of a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A paragraph.
    Para(String),
    /// Label–value pairs.
    Fields(Vec<(String, String)>),
    /// A table.
    Table(Table),
}

impl Block {
    /// The paragraph text, if this is a paragraph (templates use these accessors).
    pub fn para(&self) -> Option<&str> {
        match self {
            Block::Para(t) => Some(t),
            _ => None,
        }
    }

    /// The label–value pairs, if this is a field list.
    pub fn fields(&self) -> Option<&[(String, String)]> {
        match self {
            Block::Fields(f) => Some(f),
            _ => None,
        }
    }

    /// The table, if this is one.
    pub fn table(&self) -> Option<&Table> {
        match self {
            Block::Table(t) => Some(t),
            _ => None,
        }
    }
}

impl Table {
    /// Whether column `i` holds numbers.
    pub fn is_numeric(&self, i: &usize) -> bool {
        self.numeric.get(*i).copied().unwrap_or(false)
    }
}

/// A titled section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The heading (Chinese first, then English).
    pub heading: String,
    /// Its content.
    pub blocks: Vec<Block>,
}

/// The whole report document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportDoc {
    /// Tender code.
    pub tender_code: String,
    /// Title line.
    pub title: String,
    /// The confidentiality notice.
    pub notice: String,
    /// The SHA-256 (hex) of the stored report JSON: what the members sign.
    pub sha256: String,
    /// The sections, in order.
    pub sections: Vec<Section>,
    /// Each member's signature state, in committee order (also shown in a section).
    pub signatures: Vec<(String, SignState)>,
    /// The footer line (generation time).
    pub footer: String,
}

/// Hundredths of a point as text: 8550 → "85.50".
pub fn points(h: i64) -> String {
    let sign = if h < 0 { "-" } else { "" };
    let a = h.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// An instant in China Standard Time with UTC noted: "2025-03-01 10:00:00 北京时间
/// (UTC 2025-03-01 02:00:00)".
pub fn cst_utc(t: DateTime<Utc>) -> String {
    let cst = t + chrono::Duration::hours(8);
    format!(
        "{} 北京时间 CST (UTC {})",
        cst.format("%Y-%m-%d %H:%M:%S"),
        t.format("%Y-%m-%d %H:%M:%S")
    )
}

fn cst_utc_ms(ms: i64) -> String {
    cst_utc(crate::clock::from_millis(ms))
}

fn method_label(m: &str) -> String {
    match m {
        "comprehensive" => "综合评估法 Comprehensive scoring".into(),
        "lowest_price" => "经评审的最低投标价法 Lowest evaluated price".into(),
        other => other.to_string(),
    }
}

fn kind_label(k: CriterionKind) -> &'static str {
    match k {
        CriterionKind::Formal => "形式评审 Formal",
        CriterionKind::Qualification => "资格评审 Qualification",
        CriterionKind::Responsiveness => "响应性评审 Responsiveness",
    }
}

fn rule_label(r: &str) -> String {
    match r {
        "majority" => "多数通过：过半数成员判定不合格即否决 Majority: a bid fails a criterion when more than half the members mark it failed".into(),
        "unanimity" => "全体一致：全部成员判定不合格方否决 Unanimity: a bid fails a criterion only when every member marks it failed".into(),
        other => other.to_string(),
    }
}

fn aggregation_label(a: Aggregation) -> &'static str {
    match a {
        Aggregation::Mean => {
            "算术平均：各成员评分合计的平均值，四舍五入一次 Mean of the members' totals, rounded half-up once"
        }
        Aggregation::TrimmedMean => {
            "去掉一个最高分和一个最低分后平均（成员不少于5人时）Mean after dropping one highest and one lowest total (with at least 5 members), rounded half-up once"
        }
    }
}

fn benchmark_label(b: Benchmark) -> String {
    match b {
        Benchmark::Lowest => "最低有效投标价 Lowest valid price".into(),
        Benchmark::AverageDown { down_bp } => format!(
            "有效投标价算术平均值下浮 {}% Mean of the valid prices lowered by {}%",
            points(i64::from(down_bp)),
            points(i64::from(down_bp))
        ),
    }
}

fn role_label(r: MemberRole) -> &'static str {
    match r {
        MemberRole::Expert => "评标专家 Expert",
        MemberRole::TendereeRepresentative => "招标人代表 Tenderee representative",
    }
}

fn sign_label(s: &SignState) -> (&'static str, String, String) {
    match s {
        // The credential is left out for a reader who may not see the committee.
        SignState::Signed { credential_id, at } if credential_id.is_empty() => (
            "已签署 Signed",
            cst_utc_ms(*at),
            "以通行密钥签署 Signed with a passkey".into(),
        ),
        SignState::Signed { credential_id, at } => (
            "已签署 Signed",
            cst_utc_ms(*at),
            format!("通行密钥凭证 Passkey credential: {credential_id}"),
        ),
        SignState::Dissented { reason, at } => (
            "有异议 Dissented",
            cst_utc_ms(*at),
            format!("书面异议 Written reason: {reason}"),
        ),
        SignState::DeemedToAgree => (
            "视为同意 Deemed to agree",
            String::new(),
            "签署已结束，未签署也未书面提出异议（实施条例第53条）Signing closed with neither a signature nor a written dissent".into(),
        ),
        SignState::Pending => ("待签署 Pending", String::new(), String::new()),
    }
}

/// Builds the document from the stored report JSON text, its stored digest and the extras.
/// Refuses a report whose bytes do not hash to the stored digest.
pub fn build(report_json: &str, sha256: &str, extras: &Extras) -> Result<ReportDoc, ReportError> {
    if sha256_hex(report_json.as_bytes()) != sha256 {
        return Err(ReportError::Corrupt("report digest mismatch".into()));
    }
    let r: StoredReport =
        serde_json::from_str(report_json).map_err(|e| ReportError::Corrupt(e.to_string()))?;
    if r.v != 1 {
        return Err(ReportError::Corrupt(format!(
            "unknown report version {}",
            r.v
        )));
    }

    // A pseudonymised copy hashes to its own digest; the document names the signed one.
    let shown_digest = extras.members_withheld.as_deref().unwrap_or(sha256);

    // Members are numbered in committee order; bids in the order of the opening record.
    let member_no: BTreeMap<&str, usize> = r
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i + 1))
        .collect();
    let member_label = |id: &str| -> String {
        let name = extras
            .member_names
            .get(id)
            .map(String::as_str)
            .unwrap_or("—");
        match member_no.get(id) {
            Some(n) => format!("{n}. {name}"),
            None => name.to_string(),
        }
    };
    let bid_no: BTreeMap<&str, usize> = r
        .review
        .decisions
        .iter()
        .enumerate()
        .map(|(i, (b, _))| (b.as_str(), i + 1))
        .collect();
    let bid_label = |id: &str| -> String {
        let name = extras.bidders.get(id).map(String::as_str).unwrap_or(id);
        match bid_no.get(id) {
            Some(n) => format!("#{n} {name}"),
            None => name.to_string(),
        }
    };
    let ranked_at = DateTime::parse_from_rfc3339(&r.ranked_at)
        .map(|t| cst_utc(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| r.ranked_at.clone());

    let mut sections = Vec::new();

    // 1. The tender.
    sections.push(Section {
        heading: "一、项目信息 Tender".into(),
        blocks: vec![Block::Fields(vec![
            ("项目编号 Tender code".into(), r.tender_code.clone()),
            ("项目名称 Tender name".into(), extras.tender_name.clone()),
            ("评标办法 Evaluation method".into(), method_label(&r.method)),
            ("评审完成时间 Ranked at".into(), ranked_at),
            (
                "报告 SHA-256 Report SHA-256 (signed)".into(),
                shown_digest.to_string(),
            ),
        ])],
    });

    // 2. The committee.
    let leader = r.leader.as_deref();
    let committee_rows = r
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            vec![
                (i + 1).to_string(),
                extras
                    .member_names
                    .get(&m.id)
                    .cloned()
                    .unwrap_or_else(|| "—".into()),
                role_label(m.role).to_string(),
                if Some(m.id.as_str()) == leader {
                    "组长 Leader".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    sections.push(Section {
        heading: "二、评标委员会 Evaluation committee".into(),
        blocks: vec![
            Block::Fields(vec![(
                "组长 Leader".into(),
                leader.map(member_label).unwrap_or_else(|| "—".into()),
            )]),
            Block::Table(Table {
                caption: None,
                head: vec![
                    "序号 No.".into(),
                    "姓名 Name".into(),
                    "身份 Role".into(),
                    "组长 Leader".into(),
                ],
                rows: committee_rows,
                numeric: vec![true, false, false, false],
            }),
        ],
    });

    // 3. The preliminary review.
    let mut review_blocks = vec![
        Block::Fields(vec![("评审规则 Rule".into(), rule_label(&r.review_rule))]),
        Block::Table(Table {
            caption: Some("初步评审标准 Preliminary review criteria".into()),
            head: vec!["评审标准 Criterion".into(), "类型 Kind".into()],
            rows: r
                .review_criteria
                .iter()
                .map(|c| vec![c.id.clone(), kind_label(c.kind).to_string()])
                .collect(),
            numeric: vec![false, false],
        }),
        Block::Table(Table {
            caption: Some("初步评审结论 Preliminary review results".into()),
            head: vec![
                "序号 No.".into(),
                "投标人 Bidder".into(),
                "投标编号 Bid id".into(),
                "结论 Result".into(),
            ],
            rows: r
                .review
                .decisions
                .iter()
                .enumerate()
                .map(|(i, (bid, d))| {
                    vec![
                        format!("#{}", i + 1),
                        extras.bidders.get(bid).cloned().unwrap_or_default(),
                        bid.clone(),
                        match d {
                            StoredDecision::Passed => "通过 Passed".into(),
                            StoredDecision::Rejected { .. } => "否决 Rejected".into(),
                        },
                    ]
                })
                .collect(),
            numeric: vec![false, false, false, false],
        }),
    ];
    for (bid, d) in &r.review.decisions {
        let StoredDecision::Rejected { failed } = d else {
            continue;
        };
        review_blocks.push(Block::Para(format!(
            "{} 否决原因 Reasons for rejection:",
            bid_label(bid)
        )));
        for f in failed {
            review_blocks.push(Block::Para(format!(
                "· {}（{}）：{}/{} 名成员判定不合格 {} of {} members marked it failed",
                f.criterion,
                kind_label(f.kind),
                f.fails,
                f.marks,
                f.fails,
                f.marks
            )));
            for (member, reason) in &f.reasons {
                review_blocks.push(Block::Para(format!(
                    "    {}：{}",
                    member_label(member),
                    reason
                )));
            }
        }
    }
    sections.push(Section {
        heading: "三、初步评审 Preliminary review".into(),
        blocks: review_blocks,
    });

    // 4. Detailed review: every member's score per criterion per bid, or, under the lowest
    // evaluated price, the committee's price comparison table (标价比较表).
    if r.method == "lowest_price" {
        sections.push(Section {
            heading: "四、详细评审（标价比较表）Detailed review (price comparison table)".into(),
            blocks: price_table_blocks(&r.adjustments, &bid_label),
        });
    } else {
        let mut scoring_blocks = vec![Block::Fields(vec![(
            "汇总规则 Aggregation".into(),
            aggregation_label(r.plan.aggregation).to_string(),
        )])];
        let mut crit_rows: Vec<Vec<String>> = r
            .plan
            .criteria
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    points(c.max),
                    "评委评分 Scored by members".into(),
                ]
            })
            .collect();
        if let Some(p) = &r.plan.price {
            crit_rows.push(vec![
                p.name.clone(),
                points(p.max),
                "公式计算 Price formula".into(),
            ]);
        }
        scoring_blocks.push(Block::Table(Table {
            caption: Some("评分标准 Scoring criteria".into()),
            head: vec![
                "评分项 Criterion".into(),
                "满分 Full score".into(),
                "方式 How".into(),
            ],
            rows: crit_rows,
            numeric: vec![false, true, false],
        }));
        if let Some(p) = &r.plan.price {
            let mut f = vec![
                ("价格评分项 Price criterion".into(), p.name.clone()),
                ("评标基准价 Benchmark".into(), benchmark_label(p.benchmark)),
                (
                    "高于基准价每1%扣分 Deduction per 1% above".into(),
                    points(i64::from(p.penalty_above)),
                ),
                (
                    "低于基准价每1%扣分 Deduction per 1% below".into(),
                    points(i64::from(p.penalty_below)),
                ),
            ];
            if let StoredOutcome::Ranked {
                benchmark_fen: Some(b),
                ..
            } = &r.outcome
            {
                f.push((
                    "评标基准价金额 Benchmark price".into(),
                    format!("¥{} 元 yuan", yuan(*b)),
                ));
            }
            scoring_blocks.push(Block::Fields(f));
        }
        let mut digests: BTreeMap<&str, &str> = BTreeMap::new();
        for s in r.sheets.iter().filter(|s| !s.sha256.is_empty()) {
            digests
                .entry(s.member.as_str())
                .or_insert(s.sha256.as_str());
        }
        let scored_bids: Vec<&str> = r
            .review
            .decisions
            .iter()
            .map(|(b, _)| b.as_str())
            .filter(|b| r.sheets.iter().any(|s| s.bid_id == *b))
            .collect();
        for bid in scored_bids {
            let mut head = vec!["序号 No.".to_string(), "成员 Member".to_string()];
            head.extend(r.plan.criteria.iter().map(|c| c.name.clone()));
            head.push("小计 Sum".into());
            let mut rows = Vec::new();
            for m in &r.members {
                let Some(sheet) = r
                    .sheets
                    .iter()
                    .find(|s| s.bid_id == bid && s.member == m.id)
                else {
                    continue;
                };
                let mut row = vec![
                    member_no
                        .get(m.id.as_str())
                        .map(usize::to_string)
                        .unwrap_or_default(),
                    extras
                        .member_names
                        .get(&m.id)
                        .cloned()
                        .unwrap_or_else(|| "—".into()),
                ];
                let mut sum: i64 = 0;
                for c in &r.plan.criteria {
                    match sheet.scores.get(&c.name) {
                        Some(v) => {
                            sum = sum.saturating_add(*v);
                            row.push(points(*v));
                        }
                        None => row.push("—".into()),
                    }
                }
                row.push(points(sum));
                rows.push(row);
            }
            let n = head.len();
            let mut numeric = vec![true; n];
            if let Some(x) = numeric.get_mut(1) {
                *x = false;
            }
            scoring_blocks.push(Block::Table(Table {
                caption: Some(format!("{} 各成员评分 Members' scores", bid_label(bid))),
                head,
                rows,
                numeric,
            }));
        }
        // No digests in the copy for a reader who may not see the committee.
        if !digests.is_empty() {
            scoring_blocks.push(Block::Table(Table {
                caption: Some(
                    "评分提交摘要（提交时写入审计日志）Score submission digests (written to the audit trail on submission)"
                        .into(),
                ),
                head: vec![
                    "序号 No.".into(),
                    "成员 Member".into(),
                    "评分表 SHA-256 Sheets SHA-256".into(),
                ],
                rows: r
                    .members
                    .iter()
                    .filter_map(|m| {
                        digests.get(m.id.as_str()).map(|d| {
                            vec![
                                member_no.get(m.id.as_str()).map(usize::to_string).unwrap_or_default(),
                                extras
                                    .member_names
                                    .get(&m.id)
                                    .cloned()
                                    .unwrap_or_else(|| "—".into()),
                                d.to_string(),
                            ]
                        })
                    })
                    .collect(),
                numeric: vec![true, false, false],
            }));
        }
        sections.push(Section {
            heading: "四、详细评审 Detailed scoring".into(),
            blocks: scoring_blocks,
        });
    }

    // 5. Totals, ranking and candidates.
    let mut ranking_blocks = Vec::new();
    match &r.outcome {
        StoredOutcome::Ranked {
            rows, candidates, ..
        } => {
            let comprehensive = rows
                .iter()
                .any(|row| matches!(row.detail, StoredDetail::Comprehensive { .. }));
            let head: Vec<String> = if comprehensive {
                vec![
                    "名次 Rank".into(),
                    "投标人 Bidder".into(),
                    "投标报价（元）Bid price (yuan)".into(),
                    "评委评分（汇总）Members' score (aggregated)".into(),
                    "价格分 Price score".into(),
                    "总分 Total".into(),
                ]
            } else {
                vec![
                    "名次 Rank".into(),
                    "投标人 Bidder".into(),
                    "投标报价（元）Bid price (yuan)".into(),
                    "价格调整（元）Adjustments (yuan)".into(),
                    "评标价（元）Evaluated price (yuan)".into(),
                ]
            };
            let body = rows
                .iter()
                .map(|row| {
                    let mut cells = vec![
                        row.rank.to_string(),
                        bid_label(&row.bid),
                        yuan(row.price_fen),
                    ];
                    match &row.detail {
                        StoredDetail::Comprehensive {
                            subjective,
                            price_score,
                            total,
                        } => {
                            cells.push(points(*subjective));
                            cells.push(points(*price_score));
                            cells.push(points(*total));
                        }
                        StoredDetail::LowestPrice {
                            adjustments_fen,
                            evaluated_price_fen,
                        } => {
                            cells.push(yuan(*adjustments_fen));
                            cells.push(yuan(*evaluated_price_fen));
                        }
                    }
                    cells
                })
                .collect();
            let n = head.len();
            let mut numeric = vec![true; n];
            if let Some(x) = numeric.get_mut(1) {
                *x = false;
            }
            ranking_blocks.push(Block::Table(Table {
                caption: Some("价格评分、汇总与排名 Price scores, totals and ranking".into()),
                head,
                rows: body,
                numeric,
            }));
            let ordinal = ["第一", "第二", "第三"];
            let english = ["1st", "2nd", "3rd"];
            ranking_blocks.push(Block::Table(Table {
                caption: Some(
                    "推荐的中标候选人（不超过3名，实施条例第53条）Ranked candidates (at most 3)"
                        .into(),
                ),
                head: vec![
                    "候选人 Candidate".into(),
                    "投标人 Bidder".into(),
                    "投标编号 Bid id".into(),
                ],
                rows: candidates
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        vec![
                            format!(
                                "{}中标候选人 {} candidate",
                                ordinal.get(i).copied().unwrap_or(""),
                                english.get(i).copied().unwrap_or("")
                            ),
                            bid_label(b),
                            b.clone(),
                        ]
                    })
                    .collect(),
                numeric: vec![false, false, false],
            }));
        }
        StoredOutcome::Failed { valid_bids } => {
            ranking_blocks.push(Block::Para(format!(
                "有效投标不足，评标失败（流标）：有效投标 {valid_bids} 个 Too few valid bids ({valid_bids}): the tender fails"
            )));
        }
    }
    sections.push(Section {
        heading: "五、汇总与推荐 Totals and candidates".into(),
        blocks: ranking_blocks,
    });

    // 6. Signatures.
    let signatures: Vec<(String, SignState)> = r
        .members
        .iter()
        .map(|m| {
            let act = extras.signatures.iter().find(|s| s.member == m.id);
            let state = match act {
                Some(s) if s.act == "signed" => SignState::Signed {
                    credential_id: s.credential_id.clone().unwrap_or_default(),
                    at: s.signed_at,
                },
                Some(s) => SignState::Dissented {
                    reason: s.reason.clone().unwrap_or_default(),
                    at: s.signed_at,
                },
                None if extras.signing_closed => SignState::DeemedToAgree,
                None => SignState::Pending,
            };
            (m.id.clone(), state)
        })
        .collect();
    let sign_rows = signatures
        .iter()
        .map(|(id, st)| {
            let (status, at, detail) = sign_label(st);
            let mut detail = detail;
            if let Some(s) = extras.signatures.iter().find(|s| &s.member == id)
                && s.report_sha256 != sha256
            {
                detail.push_str(&format!(
                    "（注意：所签摘要不同 NOTE: made over a different digest {}）",
                    s.report_sha256
                ));
            }
            vec![
                member_no
                    .get(id.as_str())
                    .map(usize::to_string)
                    .unwrap_or_default(),
                extras
                    .member_names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "—".into()),
                status.to_string(),
                at,
                detail,
            ]
        })
        .collect();
    sections.push(Section {
        heading: "六、签署情况 Signatures".into(),
        blocks: vec![
            Block::Para(format!(
                "每名成员以通行密钥对本报告的 SHA-256 签名，挑战值即该摘要 Each member signs this report's SHA-256 with a passkey; the challenge is the digest: {shown_digest}"
            )),
            Block::Table(Table {
                caption: None,
                head: vec![
                    "序号 No.".into(),
                    "成员 Member".into(),
                    "状态 Status".into(),
                    "时间 Time".into(),
                    "凭证或异议 Credential or reason".into(),
                ],
                rows: sign_rows,
                numeric: vec![true, false, false, false, false],
            }),
            Block::Para(
                "评标委员会成员拒绝在评标报告上签字又不书面说明其不同意见和理由的，视为同意评标结果（招标投标法实施条例第53条）。A member who neither signs nor states a dissent in writing is deemed to agree with the result."
                    .into(),
            ),
        ],
    });

    Ok(ReportDoc {
        tender_code: r.tender_code.clone(),
        title: format!("评标报告 Evaluation report — {}", r.tender_code),
        notice: "保密：仅限评标委员会成员、招标代理、平台运营和监管人员查阅 Confidential: for the committee, the tender's agent, operators and regulators only".into(),
        sha256: shown_digest.to_string(),
        sections,
        signatures,
        footer: format!("生成时间 Generated at {}", cst_utc(extras.generated_at)),
    })
}

// ---- loading with access control -----------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
struct TenderRow {
    tender_id: String,
    title: String,
    state: String,
    agent_org_id: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct EvalRow {
    state: String,
    members_json: String,
    report_json: Option<String>,
    report_sha256: Option<String>,
}

/// The stored report bytes and their digest, for a caller who may read them.
pub struct Stored {
    /// The canonical report JSON exactly as signed.
    pub json: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// The extras for the document.
    pub extras: Extras,
    /// Whether `json` is the pseudonymised copy (member ids replaced, digests dropped) and
    /// `sha256` its own digest, not the signed one.
    pub redacted: bool,
}

/// Loads the stored report of tender `code` for `caller`: 404 for an unknown tender, 403
/// for anyone but the committee, the owning agent, operators and regulators, 409 before the
/// report exists.
pub async fn load(state: &AppState, caller: &Caller, code: &str) -> Result<Stored, ReportError> {
    let mut tx = state.db.read().await?;
    let t = q_opt!(
        tx,
        TenderRow,
        "select tender_id, title, state, agent_org_id from tender where code = $1",
        code.to_string()
    )?
    .ok_or(ReportError::NotFound)?;
    let ev = q_opt!(
        tx,
        EvalRow,
        "select state, members_json, report_json, report_sha256 from evaluation where tender_id = $1",
        t.tender_id.clone()
    )?;
    let members: Vec<Member> = match &ev {
        Some(e) => serde_json::from_str(&e.members_json)
            .map_err(|e| ReportError::Corrupt(e.to_string()))?,
        None => Vec::new(),
    };
    let user = &caller.user;
    let owns = user.role == Role::Agent && user.org_id.is_some() && user.org_id == t.agent_org_id;
    let allowed = owns
        || matches!(user.role, Role::Operator | Role::Regulator)
        || members.iter().any(|m| m.id == user.user_id);
    if !allowed {
        return Err(ReportError::Forbidden);
    }
    let Some(EvalRow {
        state: ev_state,
        report_json: Some(json),
        report_sha256: Some(sha256),
        ..
    }) = ev
    else {
        return Err(ReportError::NotReady);
    };
    let mut member_names = BTreeMap::new();
    for m in &members {
        let name: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select display_name from app_user where user_id = $1",
            m.id.clone()
        )?;
        if let Some((n,)) = name {
            member_names.insert(m.id.clone(), n);
        }
    }
    let bidders: Vec<(String, String)> = q_all!(
        tx,
        (String, String),
        "select b.bid_id, o.name from bid b join organisation o on o.org_id = b.bidder_org_id
         where b.tender_id = $1",
        t.tender_id.clone()
    )?;
    let signatures: Vec<SignatureRecord> = q_all!(
        tx,
        SignatureRecord,
        "select member, act, reason, report_sha256, credential_id, signed_at
         from evaluation_signature where tender_id = $1 order by member",
        t.tender_id.clone()
    )?;
    let stored = Stored {
        json,
        sha256,
        extras: Extras {
            tender_name: t.title,
            member_names,
            bidders: bidders.into_iter().collect(),
            signatures,
            // Signing is over once the report is delivered (the evaluation leaves `ranked`)
            // or the tender has moved on from `evaluating`.
            signing_closed: ev_state != "ranked" || t.state != "evaluating",
            generated_at: state.clock.now(),
            members_withheld: None,
        },
        redacted: false,
    };
    let is_member = members.iter().any(|m| m.id == user.user_id);
    if sees_members(user.role, is_member, TenderState::parse(&t.state)) {
        Ok(stored)
    } else {
        let ids: Vec<String> = members.into_iter().map(|m| m.id).collect();
        pseudonymised(stored, &ids)
    }
}

/// The report for a reader who may not see the committee: member ids become `member-N`,
/// digests and credentials are dropped, names are member numbers; each act keeps whether
/// and when a member signed or dissented, and a dissent's written reason.
fn pseudonymised(stored: Stored, members: &[String]) -> Result<Stored, ReportError> {
    let mut v: serde_json::Value =
        serde_json::from_str(&stored.json).map_err(|e| ReportError::Corrupt(e.to_string()))?;
    pseudonymise_members(&mut v, members);
    let json = v.to_string();
    let sha256 = sha256_hex(json.as_bytes());
    let alias = |id: &str| {
        members
            .iter()
            .position(|m| m == id)
            .map(|i| member_pseudonym(i + 1))
    };
    let signatures = stored
        .extras
        .signatures
        .into_iter()
        .filter_map(|s| {
            Some(SignatureRecord {
                member: alias(&s.member)?,
                // An act over the signed digest reads as one over this copy; an act over
                // another digest keeps it, for the document's note.
                report_sha256: if s.report_sha256 == stored.sha256 {
                    sha256.clone()
                } else {
                    s.report_sha256
                },
                credential_id: None,
                ..s
            })
        })
        .collect();
    Ok(Stored {
        json,
        sha256,
        extras: Extras {
            member_names: (1..=members.len())
                .map(|n| (member_pseudonym(n), format!("成员 {n} Member {n}")))
                .collect(),
            signatures,
            members_withheld: Some(stored.sha256.clone()),
            ..stored.extras
        },
        redacted: true,
    })
}

/// Loads and builds the document for `caller`.
pub async fn document(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<ReportDoc, ReportError> {
    let s = load(state, caller, code).await?;
    build(&s.json, &s.sha256, &s.extras)
}

/// A report JSON built with the same types and shape `service::submit_scores` writes, for
/// the document, PDF and route tests.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod testdata {
    use serde_json::json;

    use super::*;
    use crate::evaluation::ranking::{Outcome, RankDetail, RankedBid, Ranking};
    use crate::evaluation::review::{BidDecision, FailedCriterion, ReviewOutcome};
    use crate::evaluation::scoring::{PriceFormula, ScoredCriterion};
    use crate::tender::model::EvaluationMethod;

    /// A sample report over these members and bids with `criteria` scored criteria: the
    /// last bid (of two or more) fails the preliminary review; the others are scored.
    pub(crate) struct Sample {
        pub json: String,
        pub sha256: String,
        pub members: Vec<String>,
        pub bids: Vec<String>,
        pub criteria: Vec<String>,
    }

    /// A distinct, plausible score in hundredths.
    pub(crate) fn score(m: usize, b: usize, c: usize) -> i64 {
        i64::try_from(500 + (m * 37 + b * 101 + c * 13) % 499).unwrap()
    }

    pub(crate) fn sample(members: &[String], bids: &[String], criteria: usize) -> Sample {
        let criteria: Vec<String> = (0..criteria)
            .map(|c| format!("技术评分项{}", c + 1))
            .collect();
        let rejected = (bids.len() >= 2).then(|| bids.last().cloned().unwrap());
        let scored: Vec<&String> = bids
            .iter()
            .filter(|b| Some(*b) != rejected.as_ref())
            .collect();
        let member_list: Vec<Member> = members
            .iter()
            .enumerate()
            .map(|(i, id)| Member {
                id: id.clone(),
                role: if i + 1 == members.len() && members.len() > 3 {
                    MemberRole::TendereeRepresentative
                } else {
                    MemberRole::Expert
                },
            })
            .collect();
        let review = ReviewOutcome {
            decisions: bids
                .iter()
                .map(|b| {
                    if Some(b) == rejected.as_ref() {
                        (
                            b.clone(),
                            BidDecision::Rejected {
                                failed: vec![FailedCriterion {
                                    criterion: "投标函签字盖章".into(),
                                    kind: CriterionKind::Formal,
                                    reasons: members
                                        .iter()
                                        .map(|m| (m.clone(), "投标函未加盖公章".to_string()))
                                        .collect(),
                                    fails: members.len(),
                                    marks: members.len(),
                                }],
                            },
                        )
                    } else {
                        (b.clone(), BidDecision::Passed)
                    }
                })
                .collect(),
        };
        let plan = ScoringPlan {
            criteria: criteria
                .iter()
                .map(|c| ScoredCriterion {
                    name: c.clone(),
                    max: 1000,
                })
                .collect(),
            price: Some(PriceFormula {
                name: "价格".into(),
                max: 4000,
                benchmark: Benchmark::Lowest,
                penalty_above: 100,
                penalty_below: 50,
            }),
            aggregation: Aggregation::TrimmedMean,
        };
        let mut sheets = Vec::new();
        for (mi, m) in members.iter().enumerate() {
            let sha = sha256_hex(format!("sheets of {m}").as_bytes());
            for (bi, b) in scored.iter().enumerate() {
                let scores: BTreeMap<String, i64> = criteria
                    .iter()
                    .enumerate()
                    .map(|(ci, c)| (c.clone(), score(mi, bi, ci)))
                    .collect();
                sheets.push(json!({"member": m, "bid_id": b, "scores": scores, "sha256": sha}));
            }
        }
        let now = crate::clock::from_millis(1_700_000_000_000);
        let rows: Vec<RankedBid> = scored
            .iter()
            .enumerate()
            .map(|(i, b)| RankedBid {
                rank: u32::try_from(i + 1).unwrap(),
                bid: (*b).clone(),
                price_fen: 10_000_000_000 + i64::try_from(i).unwrap() * 12_345_678,
                submitted_at: now,
                detail: RankDetail::Comprehensive {
                    subjective: 5_000 - i64::try_from(i).unwrap() * 17,
                    price_score: 4_000 - i64::try_from(i).unwrap() * 23,
                    total: 9_000 - i64::try_from(i).unwrap() * 40,
                },
            })
            .collect();
        let outcome = Outcome::Ranked(Ranking {
            method: EvaluationMethod::Comprehensive,
            benchmark_fen: Some(10_000_000_000),
            candidates: rows.iter().take(3).map(|r| r.bid.clone()).collect(),
            rows,
        });
        let report = json!({
            "v": 1, "tender_id": "T1", "tender_code": "E-REPORT-1", "method": "comprehensive",
            "ranked_at": crate::audit::entry_time(now), "members": member_list,
            "leader": members.first(), "review_criteria": [
                {"id": "投标函签字盖章", "kind": "formal"},
                {"id": "施工总承包资质", "kind": "qualification"}],
            "review_rule": "majority", "review": review, "plan": plan,
            "sheets": sheets, "outcome": outcome,
        });
        let text = serde_json_canonicalizer::to_string(&report).unwrap();
        Sample {
            sha256: sha256_hex(text.as_bytes()),
            json: text,
            members: members.to_vec(),
            bids: bids.to_vec(),
            criteria,
        }
    }

    /// Ids `prefix-1` … `prefix-n`.
    pub(crate) fn ids(prefix: &str, n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("{prefix}-{i}")).collect()
    }

    /// Names for the sample's members and bids.
    pub(crate) fn extras(s: &Sample) -> Extras {
        Extras {
            tender_name: "滨江新区污水处理厂扩建工程施工招标".into(),
            member_names: s
                .members
                .iter()
                .enumerate()
                .map(|(i, m)| (m.clone(), format!("评委{}", i + 1)))
                .collect(),
            bidders: s
                .bids
                .iter()
                .enumerate()
                .map(|(i, b)| (b.clone(), format!("投标人公司{}", i + 1)))
                .collect(),
            signatures: Vec::new(),
            signing_closed: false,
            generated_at: crate::clock::from_millis(1_700_000_360_000),
            members_withheld: None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::testdata::*;
    use super::*;

    fn tables(doc: &ReportDoc) -> Vec<&Table> {
        doc.sections
            .iter()
            .flat_map(|s| s.blocks.iter())
            .filter_map(Block::table)
            .collect()
    }

    pub(crate) fn all_text(doc: &ReportDoc) -> String {
        let mut out = String::new();
        for s in &doc.sections {
            out.push_str(&s.heading);
            for b in &s.blocks {
                match b {
                    Block::Para(t) => out.push_str(t),
                    Block::Fields(f) => f.iter().for_each(|(k, v)| {
                        out.push_str(k);
                        out.push_str(v);
                    }),
                    Block::Table(t) => {
                        t.head.iter().for_each(|h| out.push_str(h));
                        t.rows.iter().flatten().for_each(|c| {
                            out.push_str(c);
                            out.push('|');
                        });
                    }
                }
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn every_score_of_the_report_json_is_in_the_document() {
        let s = sample(&ids("m", 5), &ids("b", 4), 3);
        let doc = build(&s.json, &s.sha256, &extras(&s)).unwrap();
        let stored: serde_json::Value = serde_json::from_str(&s.json).unwrap();
        let tables = tables(&doc);
        let sheets = stored["sheets"].as_array().unwrap();
        assert_eq!(sheets.len(), 5 * 3, "three bids scored by five members");
        for sheet in sheets {
            let bid = sheet["bid_id"].as_str().unwrap();
            let bid_no = s.bids.iter().position(|b| b == bid).unwrap() + 1;
            let member = sheet["member"].as_str().unwrap();
            let member_no = s.members.iter().position(|m| m == member).unwrap() + 1;
            let table = tables
                .iter()
                .find(|t| {
                    t.caption.as_deref().is_some_and(|c| {
                        c.starts_with(&format!("#{bid_no} ")) && c.contains("各成员评分")
                    })
                })
                .expect("a score table per scored bid");
            let row = table
                .rows
                .iter()
                .find(|r| r[0] == member_no.to_string())
                .expect("a row per member");
            assert_eq!(row[1], format!("评委{member_no}"));
            let mut sum = 0;
            for (ci, c) in s.criteria.iter().enumerate() {
                let v = sheet["scores"][c].as_i64().unwrap();
                assert_eq!(table.head[2 + ci], *c);
                assert_eq!(row[2 + ci], points(v), "{bid} {member} {c}");
                sum += v;
            }
            assert_eq!(*row.last().unwrap(), points(sum));
        }
        // Price scores, aggregated scores and totals, straight from the outcome.
        let ranking = tables
            .iter()
            .find(|t| t.caption.as_deref().is_some_and(|c| c.contains("排名")))
            .unwrap();
        let rows = stored["outcome"]["rows"].as_array().unwrap();
        assert_eq!(ranking.rows.len(), rows.len());
        for (cells, r) in ranking.rows.iter().zip(rows) {
            assert_eq!(cells[0], r["rank"].as_u64().unwrap().to_string());
            assert_eq!(cells[2], yuan(r["price_fen"].as_i64().unwrap()));
            assert_eq!(
                cells[3],
                points(r["detail"]["subjective"].as_i64().unwrap())
            );
            assert_eq!(
                cells[4],
                points(r["detail"]["price_score"].as_i64().unwrap())
            );
            assert_eq!(cells[5], points(r["detail"]["total"].as_i64().unwrap()));
        }
        let candidates = tables
            .iter()
            .find(|t| {
                t.caption
                    .as_deref()
                    .is_some_and(|c| c.contains("中标候选人"))
            })
            .unwrap();
        assert_eq!(candidates.rows.len(), 3, "at most three candidates");
        // The rejected bid with every member's reason, the benchmark, the rule, the digest.
        let text = all_text(&doc);
        assert!(text.contains("#4 投标人公司4 否决原因"), "{text}");
        assert_eq!(text.matches("投标函未加盖公章").count(), 5);
        assert!(text.contains("¥100,000,000.00"));
        assert!(text.contains("去掉一个最高分和一个最低分"));
        assert!(text.contains(&s.sha256));
        assert!(text.contains("综合评估法"));
        assert!(text.contains("滨江新区污水处理厂扩建工程施工招标"));
        assert!(text.contains("1. 评委1"), "the leader by number and name");
        // Times in China Standard Time with UTC noted.
        assert!(
            text.contains("2023-11-15 06:13:20 北京时间 CST (UTC 2023-11-14 22:13:20)"),
            "{text}"
        );
    }

    #[test]
    fn signature_states_signed_dissented_pending_and_deemed() {
        let s = sample(&ids("m", 5), &ids("b", 2), 2);
        let mut ex = extras(&s);
        ex.signatures = vec![
            SignatureRecord {
                member: "m-1".into(),
                act: "signed".into(),
                reason: None,
                report_sha256: s.sha256.clone(),
                credential_id: Some("cred-AAA".into()),
                signed_at: 1_700_000_100_000,
            },
            SignatureRecord {
                member: "m-2".into(),
                act: "dissented".into(),
                reason: Some("第3号投标技术分偏高".into()),
                report_sha256: s.sha256.clone(),
                credential_id: None,
                signed_at: 1_700_000_200_000,
            },
        ];
        let open = build(&s.json, &s.sha256, &ex).unwrap();
        assert_eq!(
            open.signatures[0].1,
            SignState::Signed {
                credential_id: "cred-AAA".into(),
                at: 1_700_000_100_000
            }
        );
        assert_eq!(
            open.signatures[1].1,
            SignState::Dissented {
                reason: "第3号投标技术分偏高".into(),
                at: 1_700_000_200_000
            }
        );
        assert!(
            open.signatures[2..]
                .iter()
                .all(|(_, st)| *st == SignState::Pending)
        );
        let text = all_text(&open);
        assert!(text.contains("已签署 Signed"));
        assert!(text.contains("cred-AAA"));
        assert!(text.contains("第3号投标技术分偏高"));
        assert!(text.contains("待签署 Pending"));
        assert!(!text.contains("视为同意 Deemed to agree|"));

        ex.signing_closed = true;
        let closed = build(&s.json, &s.sha256, &ex).unwrap();
        assert!(
            closed.signatures[2..]
                .iter()
                .all(|(_, st)| *st == SignState::DeemedToAgree)
        );
        assert!(matches!(closed.signatures[0].1, SignState::Signed { .. }));
        assert!(all_text(&closed).contains("视为同意 Deemed to agree"));
    }

    #[test]
    fn a_report_that_does_not_match_its_digest_is_refused() {
        let s = sample(&ids("m", 5), &ids("b", 2), 1);
        let ex = extras(&s);
        let tampered = s.json.replacen("技术评分项1", "技术评分项X", 1);
        assert!(matches!(
            build(&tampered, &s.sha256, &ex),
            Err(ReportError::Corrupt(_))
        ));
        assert!(matches!(
            build("not json", &sha256_hex(b"not json"), &ex),
            Err(ReportError::Corrupt(_))
        ));
        let v2 = s.json.replacen("\"v\":1", "\"v\":2", 1);
        assert!(matches!(
            build(&v2, &sha256_hex(v2.as_bytes()), &ex),
            Err(ReportError::Corrupt(_))
        ));
    }

    #[test]
    fn points_and_times_format() {
        assert_eq!(points(8550), "85.50");
        assert_eq!(points(5), "0.05");
        assert_eq!(points(-150), "-1.50");
        assert_eq!(
            cst_utc(crate::clock::from_millis(0)),
            "1970-01-01 08:00:00 北京时间 CST (UTC 1970-01-01 00:00:00)"
        );
    }
}
