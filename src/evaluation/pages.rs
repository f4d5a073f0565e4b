//! The evaluation page (评标) at `/tenders/{code}/evaluation`: one server-rendered page that
//! shows each viewer what the evaluation API ([`super::service::view`]) lets them see, and the
//! actions their role has now.
//!
//! - The owning agent: before the start, the committee's readiness and the start form
//!   (representatives, preliminary review criteria and rule, price formula, aggregation);
//!   afterwards the progress in counts, the review outcome, the ranking, each member's
//!   signature status by anonymous number, the report link and the place for the result
//!   actions (`#result-actions`, the publicity and award pages link from there).
//! - A committee member: the leader ballot, the preliminary review marks, the score sheets,
//!   signing the report with a passkey or dissenting in writing.
//! - Regulators and operators: the same as a member, read-only (as the API allows).
//! - Anybody else: 403.
//!
//! Like the check-in and the opening pages, the actions are sent by `web/static/evaluation.js`
//! to the JSON API with the CSRF header, so every refusal shows the API's own message; the
//! passkey signature cannot work without script anyway. Nothing here decides a rule: the page
//! only reads, and the service refuses what is not allowed.

use crate::evaluation::routes::env;
use crate::lifecycle::evaluation::EvaluationState;
use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::Value;

use super::committee::{Member, MemberRole};
use super::ranking::{Outcome, RankDetail, RankedBid, Ranking};
use super::review::{BidDecision, CriterionKind};
use super::scoring::{Aggregation, ScoringPlan};
use super::service::{self, EvaluationError};
use super::view::EvaluationView;
use crate::http::i18n::Lang;
use crate::http::page::{Base, OrPage, PageError, PageResult, render, yuan};
use crate::http::{ApiError, AppState, Ctx};
use crate::identity::Role;
use crate::store::Tx;
use crate::tender::model::{EvaluationMethod, Tender};
use crate::tender::service::{self as tenders, Caller};
use crate::{q_all, q_opt};

/// The strings `evaluation.js` shows, handed to it as JSON in the page (keys `evjs.*`).
const JS_KEYS: &[&str] = &[
    "evjs.sent",
    "evjs.signed",
    "evjs.dissented",
    "evjs.started",
    "evjs.bad_points",
    "evjs.out_of_range",
    "evjs.reason_required",
    "evjs.bad_amount",
    "evjs.adjustment_reason",
    "evjs.bad_criteria",
    "evjs.no_criteria",
    "evjs.cancelled",
    "evjs.problem.out_of_range",
    "evjs.problem.missing",
];

/// JSON of the `evaluation.js` strings in `lang`, safe inside `<script type="application/json">`.
fn js_strings(lang: Lang) -> String {
    let map: serde_json::Map<String, Value> = JS_KEYS
        .iter()
        .map(|k| ((*k).to_string(), lang.t(k).into()))
        .collect();
    Value::Object(map)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Hundredths of a point as points with two decimals (display only): 8550 → "85.50".
pub fn points(h: i64) -> String {
    let sign = if h < 0 { "-" } else { "" };
    let a = h.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

// ---- what the template shows ---------------------------------------------------------------

/// A committee member as this viewer may see them.
struct MemberRow {
    /// The draw's member number (experts), empty for a tenderee representative.
    no: String,
    /// User id (only rendered for members, who vote with it).
    user_id: String,
    label: String,
    role: &'static str,
    me: bool,
    leader: bool,
    /// signed / dissented / pending / deemed (to agree).
    sign_state: &'static str,
    sign_label: &'static str,
    /// The dissent's reason (insiders only).
    reason: String,
}

/// A bid as the opening record names it.
pub(super) struct BidLabel {
    pub(super) bid_id: String,
    pub(super) bidder: String,
    pub(super) price: String,
}

struct DecisionRow {
    bidder: String,
    passed: bool,
    failed: Vec<String>,
}

struct MarkItem {
    bid_id: String,
    bidder: String,
    criterion: String,
    kind: &'static str,
}

struct ScoreCrit {
    name: String,
    max: i64,
    max_points: String,
}

struct SheetRow {
    member: String,
    bidder: String,
    scores: Vec<String>,
}

struct RankRow {
    rank: u32,
    bidder: String,
    price: String,
    subjective: String,
    price_score: String,
    total: String,
    /// Lowest evaluated price: the sum of the adjustments and the evaluated price.
    adjustments: String,
    evaluated: String,
    candidate: bool,
}

/// One line of the price comparison table.
struct AdjustmentRow {
    bidder: String,
    amount: String,
    reason: String,
}

/// The agent's start form.
struct StartForm {
    /// The tender is opened and the committee complete.
    can_start: bool,
    /// Why not, when it cannot start yet.
    blocker: Option<String>,
    /// Active users of the tenderee: (user id, name).
    representatives: Vec<(String, String)>,
    criteria_text: String,
    /// The tender's criteria: (name, weight, preselected as the price criterion).
    price_choices: Vec<(String, u32, bool)>,
}

/// A started evaluation.
struct EvView {
    state: String,
    state_label: &'static str,
    members: Vec<MemberRow>,
    round: i64,
    ballots: i64,
    elected: bool,
    leader_label: Option<String>,
    /// Whom the viewer voted for in this round.
    voted_for: Option<String>,
    can_vote: bool,
    criteria: Vec<(String, &'static str)>,
    rule_label: &'static str,
    marks: i64,
    marks_expected: usize,
    decided: bool,
    decisions: Vec<DecisionRow>,
    /// Bids whose company has a supervision penalty on record (insiders).
    penalised: Vec<String>,
    to_mark: Vec<MarkItem>,
    marked_all: bool,
    plan: Vec<ScoreCrit>,
    price_note: Option<String>,
    aggregation_label: &'static str,
    submitted: i64,
    you_submitted: bool,
    score_bids: Vec<BidLabel>,
    can_score: bool,
    /// The tender is evaluated by the lowest evaluated price (a price table, no scores).
    lowest_price: bool,
    /// The viewer is the leader and the table is due.
    can_record_table: bool,
    /// The recorded table (insiders), `None` before it is recorded.
    price_table: Option<Vec<AdjustmentRow>>,
    sheets: Vec<SheetRow>,
    ranking: Vec<RankRow>,
    benchmark: Option<String>,
    failed: Option<String>,
    report_sha256: Option<String>,
    signing_acted: usize,
    signing_complete: bool,
    can_sign: bool,
    my_sign: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "evaluation_page.html")]
struct EvaluationPage {
    base: Base,
    code: String,
    title: String,
    tender_state: String,
    method: String,
    owner: bool,
    /// On the committee (or, before the start, a confirmed drawn expert).
    member: bool,
    start: Option<StartForm>,
    notice: Option<String>,
    ev: Option<EvView>,
    strings: String,
}

// ---- helpers --------------------------------------------------------------------------------

fn sql(e: sqlx::Error) -> ApiError {
    EvaluationError::from(e).into()
}

fn kind_label(lang: Lang, k: CriterionKind) -> &'static str {
    lang.t(match k {
        CriterionKind::Formal => "evaluation.kind.formal",
        CriterionKind::Qualification => "evaluation.kind.qualification",
        CriterionKind::Responsiveness => "evaluation.kind.responsiveness",
    })
}

pub(super) fn state_label(lang: Lang, s: &str) -> &'static str {
    lang.t(match s {
        "electing" => "evaluation.state.electing",
        "review" => "evaluation.state.review",
        "scoring" => "evaluation.state.scoring",
        "ranked" => "evaluation.state.ranked",
        "reported" => "evaluation.state.reported",
        "replacing" => "evaluation.state.replacing",
        "failed" => "evaluation.state.failed",
        _ => "state.unknown",
    })
}

/// The valid bids of the opening record (开标记录), labelled with the bidder and price.
pub(super) async fn bid_labels(tx: &mut Tx, tender_id: &str) -> Result<Vec<BidLabel>, ApiError> {
    let record: Option<(Option<String>,)> = q_opt!(
        tx,
        (Option<String>,),
        "select record_json from opening where tender_id = $1",
        tender_id.to_string()
    )
    .map_err(sql)?;
    let record: Value = record
        .and_then(|(r,)| r)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Ok(record
        .get("bids")
        .and_then(Value::as_array)
        .map(|bids| {
            bids.iter()
                // Only the bids opened valid are evaluated (revoked ones are in the record too).
                .filter(|b| b.get("status").and_then(Value::as_str).unwrap_or("opened") == "opened")
                .filter_map(|b| {
                    Some(BidLabel {
                        bid_id: b.get("bid_id")?.as_str()?.to_string(),
                        bidder: b
                            .get("bidder_name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        price: b
                            .get("price_fen")
                            .and_then(Value::as_i64)
                            .map(yuan)
                            .unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default())
}

fn bidder_of(bids: &[BidLabel], bid: &str) -> String {
    bids.iter()
        .find(|b| b.bid_id == bid)
        .map(|b| b.bidder.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| bid.to_string())
}

/// Whether the user is a drawn member of the tender who confirmed (before the start, such
/// an expert sees that the evaluation has not started rather than a 403).
async fn confirmed_expert(tx: &mut Tx, tender_id: &str, user_id: &str) -> Result<bool, ApiError> {
    let row: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select a.expert_id from expert_assignment a join expert e on e.expert_id = a.expert_id
         where a.tender_id = $1 and e.user_id = $2 and a.role = 'member' and a.state = 'confirmed'",
        tender_id.to_string(),
        user_id.to_string()
    )
    .map_err(sql)?;
    Ok(row.is_some())
}

/// Default review criteria text in the page's language: one "kind: criterion" per line.
fn default_criteria(lang: Lang) -> String {
    lang.t("evaluation.default_criteria").to_string()
}

/// The tender's criterion most likely to be the price (its name mentions the price).
fn looks_like_price(name: &str) -> bool {
    let lower = name.to_lowercase();
    name.contains('价') || lower.contains("price")
}

async fn start_form(state: &AppState, ctx: &Ctx, tender: &Tender) -> Result<StartForm, ApiError> {
    let ready = {
        let mut tx = state.db.read().await?;
        crate::expert::checkin::committee_ready(&mut tx, &tender.tender_id).await?
    };
    let blocker = if tender.state.as_str() != "opened" {
        Some(format!(
            "{} ({})",
            ctx.lang.t("evaluation.not_opened"),
            Base::new(ctx).state_label(tender.state.as_str())
        ))
    } else if !ready {
        Some(ctx.lang.t("evaluation.committee_not_ready").to_string())
    } else {
        None
    };
    let representatives = crate::identity::service::list_users(&state.db)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .filter(|u| u.status == "active" && u.org_id.as_deref() == Some(&tender.tenderee_org_id))
        .map(|u| (u.user_id, u.display_name))
        .collect();
    let mut price_seen = false;
    let price_choices = tender
        .criteria
        .iter()
        .map(|c| {
            let pick = !price_seen && looks_like_price(&c.name);
            price_seen |= pick;
            (c.name.clone(), c.weight, pick)
        })
        .collect();
    Ok(StartForm {
        can_start: blocker.is_none(),
        blocker,
        representatives,
        criteria_text: default_criteria(ctx.lang),
        price_choices,
    })
}

/// The draw's member number (评标专家编号) of each expert on the committee: the number the
/// agent names a member by, here and when replacing one.
async fn member_numbers(
    tx: &mut Tx,
    tender_id: &str,
    members: &[Member],
) -> Result<BTreeMap<String, i64>, ApiError> {
    let mut out = BTreeMap::new();
    for m in members.iter().filter(|m| m.role == MemberRole::Expert) {
        let no: Option<(i64,)> = q_opt!(
            tx,
            (i64,),
            "select a.member_no from expert_assignment a join expert e on e.expert_id = a.expert_id
             where a.tender_id = $1 and e.user_id = $2 and a.role = 'member' and a.state = 'confirmed'",
            tender_id.to_string(),
            m.id.clone()
        )
        .map_err(sql)?;
        if let Some((n,)) = no {
            out.insert(m.id.clone(), n);
        }
    }
    Ok(out)
}

/// Names of the committee members for insiders: display name, and the draw's member number
/// for experts.
async fn member_names(
    tx: &mut Tx,
    members: &[Member],
    numbers: &BTreeMap<String, i64>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for m in members {
        let name: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select display_name from app_user where user_id = $1",
            m.id.clone()
        )
        .map_err(sql)?;
        let name = name.map(|n| n.0).unwrap_or_else(|| m.id.clone());
        out.insert(
            m.id.clone(),
            match numbers.get(&m.id) {
                Some(n) => format!("{name} (#{n})"),
                None => name,
            },
        );
    }
    Ok(out)
}

/// The committee as this viewer may see it, and how each member is named to them.
struct Committee {
    lang: Lang,
    /// Members in committee order.
    members: Vec<Member>,
    /// The draw's member number of each expert.
    numbers: BTreeMap<String, i64>,
    /// Display names (insiders only).
    names: BTreeMap<String, String>,
    /// The viewer is on the committee (and may see who is).
    is_member: bool,
    /// The viewer may see the members' names and reasons.
    insider: bool,
}

impl Committee {
    /// Loads the members in committee order. The view names them to insiders only, so for
    /// the agent the page reads the order from the evaluation and shows anonymous numbers.
    async fn load(
        tx: &mut Tx,
        lang: Lang,
        tid: &str,
        me: &str,
        v: &EvaluationView,
    ) -> Result<Self, ApiError> {
        let insider = v.committee.is_some() && !v.members_withheld;
        let members: Vec<Member> = match &v.committee {
            Some(c) if insider => c.clone(),
            _ => {
                let row: Option<(String,)> = q_opt!(
                    tx,
                    (String,),
                    "select members_json from evaluation where tender_id = $1",
                    tid.to_string()
                )
                .map_err(sql)?;
                row.and_then(|(j,)| serde_json::from_str(&j).ok())
                    .unwrap_or_default()
            }
        };
        let is_member = insider && members.iter().any(|m| m.id == me);
        let numbers = member_numbers(tx, tid, &members).await?;
        let names = if insider {
            member_names(tx, &members, &numbers).await?
        } else {
            BTreeMap::new()
        };
        Ok(Self {
            lang,
            members,
            numbers,
            names,
            is_member,
            insider,
        })
    }

    /// How a member is named to this viewer. Without names (the agent), an expert is the
    /// draw's member number — the number the replacement page asks for — and a tenderee
    /// representative is counted apart, so the two never share a label.
    fn label(&self, id: &str) -> String {
        let lang = self.lang;
        let members = &self.members;
        let Some((i, m)) = members.iter().enumerate().find(|(_, m)| m.id == id) else {
            return id.to_string();
        };
        if let Some(name) = self.names.get(id) {
            return name.clone();
        }
        match self.numbers.get(id) {
            Some(n) => format!("{} {n}", lang.t("evaluation.member")),
            None if m.role == MemberRole::TendereeRepresentative => {
                let k = members
                    .iter()
                    .take(i + 1)
                    .filter(|m| m.role == MemberRole::TendereeRepresentative)
                    .count();
                format!("{} {k}", lang.t("evaluation.role.representative"))
            }
            None => format!("{} {}", lang.t("evaluation.member"), i + 1),
        }
    }

    /// Every member's row: role, leader, and act on the report.
    fn rows(
        &self,
        me: &str,
        leader: Option<&str>,
        state: EvaluationState,
        acts: &[(String, String, Option<String>)],
    ) -> Vec<MemberRow> {
        let lang = self.lang;
        self.members
            .iter()
            .map(|m| {
                let act = acts.iter().find(|(who, _, _)| *who == m.id);
                let (sign_state, key) = match act.map(|a| a.1.as_str()) {
                    Some("signed") => ("signed", "evaluation.sign.signed"),
                    Some(_) => ("dissented", "evaluation.sign.dissented"),
                    // Once the report is delivered, signing is closed: a member who neither
                    // signed nor dissented is deemed to agree (实施条例 第53条).
                    None if state == EvaluationState::Reported => {
                        ("deemed", "evaluation.sign.deemed")
                    }
                    None => ("pending", "evaluation.sign.pending"),
                };
                MemberRow {
                    no: self
                        .numbers
                        .get(&m.id)
                        .map(i64::to_string)
                        .unwrap_or_default(),
                    user_id: if self.is_member {
                        m.id.clone()
                    } else {
                        String::new()
                    },
                    label: self.label(&m.id),
                    role: lang.t(match m.role {
                        MemberRole::Expert => "evaluation.role.expert",
                        MemberRole::TendereeRepresentative => "evaluation.role.representative",
                    }),
                    me: m.id == me,
                    leader: leader == Some(m.id.as_str()),
                    sign_state,
                    sign_label: lang.t(key),
                    reason: if self.insider {
                        act.and_then(|a| a.2.clone()).unwrap_or_default()
                    } else {
                        String::new()
                    },
                }
            })
            .collect()
    }
}

/// What the viewer has done so far (members only): whom they voted for in this round and
/// which marks they gave.
struct MyProgress {
    voted_for: Option<String>,
    marks: BTreeSet<(String, String)>,
}

async fn my_progress(
    tx: &mut Tx,
    tid: &str,
    me: &str,
    round: i64,
    c: &Committee,
) -> Result<MyProgress, ApiError> {
    if !c.is_member {
        return Ok(MyProgress {
            voted_for: None,
            marks: BTreeSet::new(),
        });
    }
    let row: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select candidate from evaluation_ballot where tender_id = $1 and round = $2 and voter = $3",
        tid.to_string(),
        round,
        me.to_string()
    )
    .map_err(sql)?;
    let marks = q_all!(
        tx,
        (String, String),
        "select bid_id, criterion from evaluation_mark where tender_id = $1 and member = $2",
        tid.to_string(),
        me.to_string()
    )
    .map_err(sql)?
    .into_iter()
    .collect();
    Ok(MyProgress {
        voted_for: row.map(|(c_,)| c.label(&c_)),
        marks,
    })
}

/// The review's decision per bid: with the failed criteria and who failed them for
/// insiders; the agent is told which bids passed, not who marked what.
fn decisions(v: &EvaluationView, bids: &[BidLabel], c: &Committee) -> Vec<DecisionRow> {
    let Some(o) = v.review.outcome.as_ref() else {
        return match (&v.review.passed, v.review.decided) {
            (Some(passed), true) => bids
                .iter()
                .map(|b| DecisionRow {
                    bidder: b.bidder.clone(),
                    passed: passed.contains(&b.bid_id),
                    failed: Vec::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
    };
    o.decisions
        .iter()
        .map(|(bid, d)| DecisionRow {
            bidder: bidder_of(bids, bid),
            passed: *d == BidDecision::Passed,
            failed: match d {
                BidDecision::Passed => &[][..],
                BidDecision::Rejected { failed } => failed.as_slice(),
            }
            .iter()
            .map(|f| {
                let why: Vec<String> = f
                    .reasons
                    .iter()
                    .map(|(who, r)| format!("{}: {r}", c.label(who)))
                    .collect();
                format!(
                    "{} ({}/{}) — {}",
                    f.criterion,
                    f.fails,
                    f.marks,
                    why.join("; ")
                )
            })
            .collect(),
        })
        .collect()
}

/// The scoring plan as the page shows it: the criteria with their maxima, the price
/// criterion's note, and the aggregation's label.
fn plan_rows(lang: Lang, plan: &ScoringPlan) -> (Vec<ScoreCrit>, Option<String>, &'static str) {
    let rows = plan
        .criteria
        .iter()
        .map(|c| ScoreCrit {
            name: c.name.clone(),
            max: c.max,
            max_points: points(c.max),
        })
        .collect();
    let price_note = plan.price.as_ref().map(|f| {
        format!(
            "{} ({} {}): {}",
            f.name,
            points(f.max),
            lang.t("evaluation.points"),
            lang.t("evaluation.price_by_formula")
        )
    });
    let aggregation = lang.t(match plan.aggregation {
        Aggregation::TrimmedMean => "evaluation.aggregation.trimmed_mean",
        Aggregation::Mean => "evaluation.aggregation.mean",
    });
    (rows, price_note, aggregation)
}

/// Every member's sheets (once all are in), one score per criterion of the plan.
fn sheet_rows(
    v: &EvaluationView,
    bids: &[BidLabel],
    plan: &[ScoreCrit],
    c: &Committee,
) -> Vec<SheetRow> {
    v.sheets
        .iter()
        .flatten()
        .map(|s| SheetRow {
            member: c.label(&s.member),
            bidder: bidder_of(bids, &s.bid_id),
            scores: plan
                .iter()
                .map(|crit| {
                    s.scores
                        .get(&crit.name)
                        .map(|x| points(*x))
                        .unwrap_or_default()
                })
                .collect(),
        })
        .collect()
}

/// The outcome as the page shows it: the ranking rows and the benchmark, or why the
/// evaluation failed.
fn outcome_rows(
    lang: Lang,
    v: &EvaluationView,
    bids: &[BidLabel],
) -> (Vec<RankRow>, Option<String>, Option<String>) {
    match &v.ranking {
        Some(Outcome::Failed {
            valid_bids,
            violation,
        }) => {
            let msg = if lang.is_en() {
                &violation.message_en
            } else {
                &violation.message_zh
            };
            (Vec::new(), None, Some(format!("{msg} ({valid_bids})")))
        }
        Some(Outcome::Ranked(r)) => (
            r.rows.iter().map(|row| rank_row(bids, r, row)).collect(),
            r.benchmark_fen.map(yuan),
            None,
        ),
        None => (Vec::new(), None, None),
    }
}

/// Builds the view of a started evaluation for this viewer.
async fn started_view(
    state: &AppState,
    ctx: &Ctx,
    tender: &Tender,
    v: EvaluationView,
) -> Result<(EvView, bool), ApiError> {
    let lang = ctx.lang;
    let leader: Option<&str> = v.election.leader.as_ref().and_then(|l| l.as_deref());
    let me = ctx
        .user
        .as_ref()
        .map(|u| u.user_id.clone())
        .unwrap_or_default();
    let tid = tender.tender_id.clone();
    let mut tx = state.db.read().await?;
    let bids = bid_labels(&mut tx, &tid).await?;
    let committee = Committee::load(&mut tx, lang, &tid, &me, &v).await?;
    let acts: Vec<(String, String, Option<String>)> = q_all!(
        tx,
        (String, String, Option<String>),
        "select member, act, reason from evaluation_signature where tender_id = $1",
        tid.clone()
    )
    .map_err(sql)?;
    let rows = committee.rows(&me, leader, v.state, &acts);
    let mine = my_progress(&mut tx, &tid, &me, v.election.round, &committee).await?;
    drop(tx);

    let is_member = committee.is_member;
    let state_is = |s: EvaluationState| v.state == s;
    let to_mark: Vec<MarkItem> = if is_member && state_is(EvaluationState::Review) {
        bids.iter()
            .flat_map(|b| v.review.criteria.iter().map(move |c| (b, c)))
            .filter(|(b, c)| !mine.marks.contains(&(b.bid_id.clone(), c.id.clone())))
            .map(|(b, c)| MarkItem {
                bid_id: b.bid_id.clone(),
                bidder: b.bidder.clone(),
                criterion: c.id.clone(),
                kind: kind_label(lang, c.kind),
            })
            .collect()
    } else {
        Vec::new()
    };
    let (plan, price_note, aggregation_label) = plan_rows(lang, &v.scoring.plan);
    let passed: Vec<String> = v.review.passed.clone().unwrap_or_default();
    let score_bids: Vec<BidLabel> = bids
        .iter()
        .filter(|b| passed.contains(&b.bid_id))
        .map(|b| BidLabel {
            bid_id: b.bid_id.clone(),
            bidder: b.bidder.clone(),
            price: b.price.clone(),
        })
        .collect();
    let (ranking, benchmark, failed) = outcome_rows(lang, &v, &bids);
    let my_row = rows.iter().find(|r| r.me);
    let my_sign = my_row.map(|r| r.sign_label);
    let can_sign = is_member
        && state_is(EvaluationState::Ranked)
        && my_row.is_some_and(|r| r.sign_state == "pending");
    let (signing_acted, signing_complete) = v
        .signing
        .as_ref()
        .map_or((0, false), |s| (s.acted, s.complete));
    let lowest_price = tender.evaluation_method == EvaluationMethod::LowestPrice;
    let price_table = v.price_table.clone().flatten().map(|t| {
        t.iter()
            .map(|a| AdjustmentRow {
                bidder: bidder_of(&bids, &a.bid),
                amount: yuan(a.amount_fen),
                reason: a.reason.clone(),
            })
            .collect()
    });
    let ev = EvView {
        penalised: v.review.penalised_bids.clone().unwrap_or_default(),
        state_label: state_label(lang, v.state.as_str()),
        state: v.state.as_str().to_string(),
        round: v.election.round,
        ballots: v.election.ballots,
        elected: v.election.elected,
        leader_label: leader.map(|l| committee.label(l)),
        can_vote: is_member && state_is(EvaluationState::Electing) && mine.voted_for.is_none(),
        voted_for: mine.voted_for,
        criteria: v
            .review
            .criteria
            .iter()
            .map(|c| (c.id.clone(), kind_label(lang, c.kind)))
            .collect(),
        rule_label: lang.t(if v.review.rule == "unanimity" {
            "evaluation.rule.unanimity"
        } else {
            "evaluation.rule.majority"
        }),
        marks: v.review.marks,
        marks_expected: v.review.marks_expected,
        decided: v.review.decided,
        decisions: decisions(&v, &bids, &committee),
        marked_all: is_member && state_is(EvaluationState::Review) && to_mark.is_empty(),
        to_mark,
        sheets: sheet_rows(&v, &bids, &plan, &committee),
        plan,
        price_note,
        aggregation_label,
        submitted: v.scoring.submitted,
        you_submitted: v.scoring.you_submitted,
        can_score: is_member
            && !lowest_price
            && state_is(EvaluationState::Scoring)
            && !v.scoring.you_submitted,
        lowest_price,
        can_record_table: lowest_price
            && state_is(EvaluationState::Scoring)
            && is_member
            && leader == Some(me.as_str()),
        price_table,
        score_bids,
        ranking,
        benchmark,
        failed,
        report_sha256: v.report_sha256.clone().flatten(),
        signing_acted,
        signing_complete,
        can_sign,
        my_sign,
        members: rows,
    };
    Ok((ev, is_member))
}

/// One row of the ranking table: the figures of the tender's method, the others blank.
fn rank_row(bids: &[BidLabel], r: &Ranking, row: &RankedBid) -> RankRow {
    let (subjective, price_score, total, adjustments, evaluated) = match &row.detail {
        RankDetail::Comprehensive {
            subjective,
            price_score,
            total,
        } => (
            points(*subjective),
            points(*price_score),
            points(*total),
            String::new(),
            String::new(),
        ),
        RankDetail::LowestPrice {
            adjustments_fen,
            evaluated_price_fen,
        } => (
            String::new(),
            String::new(),
            String::new(),
            yuan(*adjustments_fen),
            yuan(*evaluated_price_fen),
        ),
    };
    RankRow {
        rank: row.rank,
        bidder: bidder_of(bids, &row.bid),
        price: yuan(row.price_fen),
        subjective,
        price_score,
        total,
        adjustments,
        evaluated,
        candidate: r.candidates.contains(&row.bid),
    }
}

// ---- the handler ----------------------------------------------------------------------------

async fn evaluation_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let user = caller.user.clone();
    let d = tenders::get_tender(&state.db, Some(&user), &code)
        .await
        .or_page(&ctx)?;
    let tender = d.tender;
    let owner = crate::lifecycle::tender::user_is_owner(&user, tender.agent_org_id.as_deref());
    let mut page = EvaluationPage {
        base: Base::new(&ctx),
        code: tender.code.clone(),
        title: tender.title.clone(),
        tender_state: tender.state.as_str().to_string(),
        method: tender.evaluation_method.as_str().to_string(),
        owner,
        member: false,
        start: None,
        notice: None,
        ev: None,
        strings: js_strings(ctx.lang),
    };
    match service::view(env(&state), &caller, &code).await {
        Ok(v) => {
            let (ev, is_member) = started_view(&state, &ctx, &tender, v).await.or_page(&ctx)?;
            page.member = is_member;
            page.ev = Some(ev);
        }
        Err(EvaluationError::Common(crate::error::Common::NotFound("evaluation"))) => {
            let drawn = {
                let mut tx = state.db.read().await.or_page(&ctx)?;
                confirmed_expert(&mut tx, &tender.tender_id, &user.user_id)
                    .await
                    .or_page(&ctx)?
            };
            if owner {
                page.start = Some(start_form(&state, &ctx, &tender).await.or_page(&ctx)?);
            } else if drawn {
                page.member = true;
                page.notice = Some(ctx.lang.t("evaluation.waiting").to_string());
            } else if matches!(user.role, Role::Regulator | Role::Operator) {
                page.notice = Some(ctx.lang.t("evaluation.not_started").to_string());
            } else {
                return Err(PageError::new(&ctx, forbidden()));
            }
        }
        Err(e) => return Err(e).or_page(&ctx),
    }
    Ok(render(&page))
}

fn forbidden() -> ApiError {
    ApiError::forbidden(
        "only the tender's agent, the committee and regulators may see the evaluation / 无权查看评标情况",
    )
}

/// The evaluation page.
pub fn router() -> Router<AppState> {
    Router::new().route("/tenders/{code}/evaluation", get(evaluation_page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_have_two_decimals() {
        assert_eq!(points(8550), "85.50");
        assert_eq!(points(5), "0.05");
        assert_eq!(points(0), "0.00");
        assert_eq!(points(-150), "-1.50");
    }

    #[test]
    fn price_criterion_is_recognised() {
        assert!(looks_like_price("投标报价"));
        assert!(looks_like_price("Bid price"));
        assert!(!looks_like_price("施工组织设计"));
    }

    #[test]
    fn labels_exist_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            for k in [
                CriterionKind::Formal,
                CriterionKind::Qualification,
                CriterionKind::Responsiveness,
            ] {
                assert!(!kind_label(lang, k).starts_with("evaluation."));
            }
            for s in [
                "electing",
                "review",
                "scoring",
                "ranked",
                "reported",
                "replacing",
                "failed",
            ] {
                assert!(!state_label(lang, s).starts_with("evaluation."), "{s}");
            }
        }
    }

    #[test]
    fn js_strings_exist_in_both_languages_and_cannot_close_the_script() {
        for lang in [Lang::Zh, Lang::En] {
            for k in JS_KEYS {
                assert_ne!(lang.t(k), *k, "missing translation {k}");
            }
            for k in ["evaluation.default_criteria", "evaluation.title"] {
                assert_ne!(lang.t(k), k, "missing translation {k}");
            }
            let s = js_strings(lang);
            assert!(!s.contains('<') && !s.contains('>'));
            assert!(serde_json::from_str::<Value>(&s).is_ok());
        }
    }
}
