//! The evaluation report (评标报告) as a document: one model, rendered as a self-contained
//! bilingual HTML page (`web/templates/evaluation_report.html`) and as a PDF
//! ([`super::pdf`]), so both show the same content.
//!
//! Every number in the document comes from the stored report JSON — the exact bytes whose
//! SHA-256 the members sign (`evaluation.report_json`, written by
//! [`crate::evaluation::service::submit_scores`]): each member's score per criterion per bid, the price
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

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::{Coded, Common, Kind};
use crate::evaluation::committee::{Member, MemberRole};
use crate::evaluation::review::{CriterionKind, ReviewCriterion};
use crate::evaluation::scoring::{Aggregation, Benchmark, ScoringPlan};
use crate::money::yuan;
use crate::store::blob::sha256_hex;

/// Why the report document cannot be produced.
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
    /// The PDF writer failed.
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    /// Corrupt data (a digest mismatch, an unreadable report), storage.
    #[error(transparent)]
    Common(#[from] Common),
}

crate::common_errors!(ReportError);

impl ReportError {
    /// Shorthand for [`Common::Corrupt`].
    pub fn corrupt(what: impl Into<String>) -> Self {
        Common::Corrupt(what.into()).into()
    }
}

impl Coded for ReportError {
    fn kind(&self) -> Kind {
        match self {
            ReportError::Common(c) => c.kind(),
            ReportError::NotFound => Kind::NotFound,
            ReportError::Forbidden => Kind::Forbidden,
            ReportError::NotReady => Kind::Conflict,
            ReportError::FontMissing => Kind::Unavailable,
            ReportError::Pdf(_) => Kind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ReportError::Common(c) => c.code(),
            ReportError::NotFound => "NOT_FOUND",
            ReportError::Forbidden => "FORBIDDEN",
            ReportError::NotReady => "REPORT_NOT_READY",
            ReportError::FontMissing => "REPORT_FONT_MISSING",
            ReportError::Pdf(_) => "INTERNAL",
        }
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
    /// [`crate::evaluation::committee::sees_members`]): the JSON is the pseudonymised copy, and this is
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

/// What every section of the document reads: the stored report, the extras, and the
/// numbering of members (committee order) and bids (order of the opening record).
struct Parts<'a> {
    r: &'a StoredReport,
    extras: &'a Extras,
    member_no: BTreeMap<&'a str, usize>,
    bid_no: BTreeMap<&'a str, usize>,
}

impl<'a> Parts<'a> {
    fn new(r: &'a StoredReport, extras: &'a Extras) -> Self {
        let member_no = r
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.as_str(), i + 1))
            .collect();
        let bid_no = r
            .review
            .decisions
            .iter()
            .enumerate()
            .map(|(i, (b, _))| (b.as_str(), i + 1))
            .collect();
        Parts {
            r,
            extras,
            member_no,
            bid_no,
        }
    }

    fn member_label(&self, id: &str) -> String {
        let name = self
            .extras
            .member_names
            .get(id)
            .map(String::as_str)
            .unwrap_or("—");
        match self.member_no.get(id) {
            Some(n) => format!("{n}. {name}"),
            None => name.to_string(),
        }
    }

    fn bid_label(&self, id: &str) -> String {
        let name = self
            .extras
            .bidders
            .get(id)
            .map(String::as_str)
            .unwrap_or(id);
        match self.bid_no.get(id) {
            Some(n) => format!("#{n} {name}"),
            None => name.to_string(),
        }
    }
}

/// Builds the document from the stored report JSON text, its stored digest and the extras.
/// Refuses a report whose bytes do not hash to the stored digest.
pub fn build(report_json: &str, sha256: &str, extras: &Extras) -> Result<ReportDoc, ReportError> {
    if sha256_hex(report_json.as_bytes()) != sha256 {
        return Err(ReportError::corrupt("report digest mismatch"));
    }
    let r: StoredReport =
        serde_json::from_str(report_json).map_err(|e| ReportError::corrupt(e.to_string()))?;
    if r.v != 1 {
        return Err(ReportError::corrupt(format!(
            "unknown report version {}",
            r.v
        )));
    }

    // A pseudonymised copy hashes to its own digest; the document names the signed one.
    let shown_digest = extras.members_withheld.as_deref().unwrap_or(sha256);

    let p = Parts::new(&r, extras);
    let ranked_at = DateTime::parse_from_rfc3339(&r.ranked_at)
        .map(|t| cst_utc(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| r.ranked_at.clone());
    let signatures = sign_states(&p);
    let sections = vec![
        tender_section(&p, ranked_at, shown_digest),
        committee_section(&p),
        review_section(&p),
        detail_section(&p),
        ranking_section(&p),
        signatures_section(&p, &signatures, sha256, shown_digest),
    ];
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

/// Section 1: The tender.
fn tender_section(p: &Parts<'_>, ranked_at: String, shown_digest: &str) -> Section {
    // 1. The tender.
    Section {
        heading: "一、项目信息 Tender".into(),
        blocks: vec![Block::Fields(vec![
            ("项目编号 Tender code".into(), p.r.tender_code.clone()),
            ("项目名称 Tender name".into(), p.extras.tender_name.clone()),
            (
                "评标办法 Evaluation method".into(),
                method_label(&p.r.method),
            ),
            ("评审完成时间 Ranked at".into(), ranked_at),
            (
                "报告 SHA-256 Report SHA-256 (signed)".into(),
                shown_digest.to_string(),
            ),
        ])],
    }
}

/// Section 2: The committee.
fn committee_section(p: &Parts<'_>) -> Section {
    let leader = p.r.leader.as_deref();
    let committee_rows =
        p.r.members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                vec![
                    (i + 1).to_string(),
                    p.extras
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
    Section {
        heading: "二、评标委员会 Evaluation committee".into(),
        blocks: vec![
            Block::Fields(vec![(
                "组长 Leader".into(),
                leader
                    .map(|id| p.member_label(id))
                    .unwrap_or_else(|| "—".into()),
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
    }
}

/// Section 3: The preliminary review.
fn review_section(p: &Parts<'_>) -> Section {
    let mut review_blocks = vec![
        Block::Fields(vec![("评审规则 Rule".into(), rule_label(&p.r.review_rule))]),
        Block::Table(Table {
            caption: Some("初步评审标准 Preliminary review criteria".into()),
            head: vec!["评审标准 Criterion".into(), "类型 Kind".into()],
            rows: p
                .r
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
            rows: p
                .r
                .review
                .decisions
                .iter()
                .enumerate()
                .map(|(i, (bid, d))| {
                    vec![
                        format!("#{}", i + 1),
                        p.extras.bidders.get(bid).cloned().unwrap_or_default(),
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
    for (bid, d) in &p.r.review.decisions {
        let StoredDecision::Rejected { failed } = d else {
            continue;
        };
        review_blocks.push(Block::Para(format!(
            "{} 否决原因 Reasons for rejection:",
            p.bid_label(bid)
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
                    p.member_label(member),
                    reason
                )));
            }
        }
    }
    Section {
        heading: "三、初步评审 Preliminary review".into(),
        blocks: review_blocks,
    }
}

/// Section 4: Detailed review: every member's score per criterion per bid, or, under the lowest
/// evaluated price, the committee's price comparison table (标价比较表).
fn detail_section(p: &Parts<'_>) -> Section {
    if p.r.method == "lowest_price" {
        Section {
            heading: "四、详细评审（标价比较表）Detailed review (price comparison table)".into(),
            blocks: price_table_blocks(&p.r.adjustments, &|id: &str| p.bid_label(id)),
        }
    } else {
        scoring_section(p)
    }
}

/// Section 4: The members' score sheets, the price scores and the aggregation (comprehensive scoring).
fn scoring_section(parts: &Parts<'_>) -> Section {
    let mut blocks = plan_blocks(parts);
    let scored_bids = parts
        .r
        .review
        .decisions
        .iter()
        .map(|(b, _)| b.as_str())
        .filter(|b| parts.r.sheets.iter().any(|s| s.bid_id == *b));
    for bid in scored_bids {
        blocks.push(members_scores(parts, bid));
    }
    // No digests in the copy for a reader who may not see the committee.
    blocks.extend(sheet_digests(parts));
    Section {
        heading: "四、详细评审 Detailed scoring".into(),
        blocks,
    }
}

/// The scoring plan: the aggregation, the criteria with their full scores, and the price
/// formula with the benchmark found.
fn plan_blocks(parts: &Parts<'_>) -> Vec<Block> {
    let plan = &parts.r.plan;
    let mut blocks = vec![Block::Fields(vec![(
        "汇总规则 Aggregation".into(),
        aggregation_label(plan.aggregation).to_string(),
    )])];
    let mut crit_rows: Vec<Vec<String>> = plan
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
    if let Some(p) = &plan.price {
        crit_rows.push(vec![
            p.name.clone(),
            points(p.max),
            "公式计算 Price formula".into(),
        ]);
    }
    blocks.push(Block::Table(Table {
        caption: Some("评分标准 Scoring criteria".into()),
        head: vec![
            "评分项 Criterion".into(),
            "满分 Full score".into(),
            "方式 How".into(),
        ],
        rows: crit_rows,
        numeric: vec![false, true, false],
    }));
    if let Some(p) = &plan.price {
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
        } = &parts.r.outcome
        {
            f.push((
                "评标基准价金额 Benchmark price".into(),
                format!("¥{} 元 yuan", yuan(*b)),
            ));
        }
        blocks.push(Block::Fields(f));
    }
    blocks
}

/// A member's number and name as the report shows them ("—" without a name).
fn member_cells(parts: &Parts<'_>, id: &str) -> [String; 2] {
    [
        parts
            .member_no
            .get(id)
            .map(usize::to_string)
            .unwrap_or_default(),
        parts
            .extras
            .member_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| "—".into()),
    ]
}

/// Every member's scores for one bid, by criterion, with their sum.
fn members_scores(parts: &Parts<'_>, bid: &str) -> Block {
    let mut head = vec!["序号 No.".to_string(), "成员 Member".to_string()];
    head.extend(parts.r.plan.criteria.iter().map(|c| c.name.clone()));
    head.push("小计 Sum".into());
    let mut rows = Vec::new();
    for m in &parts.r.members {
        let Some(sheet) = parts
            .r
            .sheets
            .iter()
            .find(|s| s.bid_id == bid && s.member == m.id)
        else {
            continue;
        };
        let mut row = member_cells(parts, &m.id).to_vec();
        let mut sum: i64 = 0;
        for c in &parts.r.plan.criteria {
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
    let mut numeric = vec![true; head.len()];
    if let Some(x) = numeric.get_mut(1) {
        *x = false;
    }
    Block::Table(Table {
        caption: Some(format!(
            "{} 各成员评分 Members' scores",
            parts.bid_label(bid)
        )),
        head,
        rows,
        numeric,
    })
}

/// The digest of each member's submission, as the audit trail recorded it; none in a copy
/// whose digests were left out.
fn sheet_digests(parts: &Parts<'_>) -> Option<Block> {
    let mut digests: BTreeMap<&str, &str> = BTreeMap::new();
    for s in parts.r.sheets.iter().filter(|s| !s.sha256.is_empty()) {
        digests
            .entry(s.member.as_str())
            .or_insert(s.sha256.as_str());
    }
    if digests.is_empty() {
        return None;
    }
    let rows = parts
        .r
        .members
        .iter()
        .filter_map(|m| {
            digests.get(m.id.as_str()).map(|d| {
                let [no, name] = member_cells(parts, &m.id);
                vec![no, name, d.to_string()]
            })
        })
        .collect();
    Some(Block::Table(Table {
        caption: Some(
            "评分提交摘要（提交时写入审计日志）Score submission digests (written to the audit trail on submission)"
                .into(),
        ),
        head: vec![
            "序号 No.".into(),
            "成员 Member".into(),
            "评分表 SHA-256 Sheets SHA-256".into(),
        ],
        rows,
        numeric: vec![true, false, false],
    }))
}

/// Section 5: Totals, ranking and candidates.
fn ranking_section(p: &Parts<'_>) -> Section {
    let mut ranking_blocks = Vec::new();
    match &p.r.outcome {
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
                        p.bid_label(&row.bid),
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
                            p.bid_label(b),
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
    Section {
        heading: "五、汇总与推荐 Totals and candidates".into(),
        blocks: ranking_blocks,
    }
}

/// Section 6: Each member's act on the report, in committee order.
fn sign_states(p: &Parts<'_>) -> Vec<(String, SignState)> {
    p.r.members
        .iter()
        .map(|m| {
            let act = p.extras.signatures.iter().find(|s| s.member == m.id);
            let state = match act {
                Some(s) if s.act == "signed" => SignState::Signed {
                    credential_id: s.credential_id.clone().unwrap_or_default(),
                    at: s.signed_at,
                },
                Some(s) => SignState::Dissented {
                    reason: s.reason.clone().unwrap_or_default(),
                    at: s.signed_at,
                },
                None if p.extras.signing_closed => SignState::DeemedToAgree,
                None => SignState::Pending,
            };
            (m.id.clone(), state)
        })
        .collect()
}

/// Section 6: The signatures.
fn signatures_section(
    p: &Parts<'_>,
    signatures: &[(String, SignState)],
    sha256: &str,
    shown_digest: &str,
) -> Section {
    let sign_rows = signatures
        .iter()
        .map(|(id, st)| {
            let (status, at, detail) = sign_label(st);
            let mut detail = detail;
            if let Some(s) = p.extras.signatures.iter().find(|s| &s.member == id)
                && s.report_sha256 != sha256
            {
                detail.push_str(&format!(
                    "（注意：所签摘要不同 NOTE: made over a different digest {}）",
                    s.report_sha256
                ));
            }
            vec![
                p.member_no
                    .get(id.as_str())
                    .map(usize::to_string)
                    .unwrap_or_default(),
                p.extras
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
    Section {
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
    }
}

pub use super::load::{Stored, document, load};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod testdata;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests;
