//! The rules themselves: publication (the timeline, the clarification cut-off, money,
//! criteria), the deadline after an amendment, the valid bids and the committee.

use crate::money::yuan;

use super::*;

impl Rulebook {
    /// Checks a tender's terms before publication; returns every violation, not just the first.
    pub fn check_publication(
        &self,
        t: &TenderTerms,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<RuleViolation>> {
        let r = &self.rules;
        let mut out = Vec::new();

        // Platform rule: the statutory periods run from when bidders can really get the
        // documents; an availability time in the past would shorten them.
        let earliest = now
            .checked_sub_signed(PUBLICATION_GRACE)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        if t.documents_available_at < earliest {
            let minutes = now
                .signed_duration_since(t.documents_available_at)
                .num_minutes();
            out.push(violation(
                "DOCUMENTS_AVAILABLE_IN_PAST",
                PLATFORM_RULE,
                format!(
                    "招标文件发出时间不得早于发布时间（允许误差{}分钟，否则法定期限被缩短），当前早了{minutes}分钟",
                    PUBLICATION_GRACE.num_minutes()
                ),
                format!(
                    "The documents' availability time must not be in the past ({} minutes' grace), \
                     or the statutory periods would be shortened; it is {minutes} minutes ago",
                    PUBLICATION_GRACE.num_minutes()
                ),
            ));
        }

        // 招标投标法 第24条 / 政府采购法 第35条: at least 20 days from documents to deadline.
        let rule = &r.min_days_documents_to_deadline;
        if !rule.is_met(t.documents_available_at, t.bid_deadline_at) {
            let got = rule.elapsed(t.documents_available_at, t.bid_deadline_at);
            out.push(violation(
                "BID_DEADLINE_TOO_SOON",
                &rule.article,
                format!(
                    "投标截止时间距招标文件发出之日不得少于{}（{}），当前为{}",
                    rule.describe_zh(),
                    rule.article,
                    days_zh(got, rule.unit)
                ),
                format!(
                    "The bid deadline must be at least {} after the tender documents are first \
                     available ({}); it is {}",
                    rule.describe_en(),
                    rule.article,
                    days_en(got, rule.unit)
                ),
            ));
        }

        // 招标投标法实施条例 第16条 / 政府采购法实施条例 第31条: sale period of at least 5
        // (working) days. Without an end the documents stay available until the deadline.
        let until = t.documents_available_until.unwrap_or(t.bid_deadline_at);
        let rule = &r.min_days_documents_available;
        if !rule.is_met(t.documents_available_at, until) {
            let got = rule.elapsed(t.documents_available_at, until);
            out.push(violation(
                "DOCUMENT_PERIOD_TOO_SHORT",
                &rule.article,
                format!(
                    "招标文件发售期不得少于{}（{}），当前为{}",
                    rule.describe_zh(),
                    rule.article,
                    days_zh(got, rule.unit)
                ),
                format!(
                    "The tender documents must be available for at least {} ({}); the period is {}",
                    rule.describe_en(),
                    rule.article,
                    days_en(got, rule.unit)
                ),
            ));
        }
        // Platform rule: selling documents after the deadline is meaningless and most likely
        // a typing error.
        if until > t.bid_deadline_at {
            out.push(violation(
                "DOCUMENT_PERIOD_AFTER_DEADLINE",
                PLATFORM_RULE,
                format!(
                    "招标文件发售截止时间（{}）不得晚于投标截止时间（{}）",
                    china_time(until),
                    china_time(t.bid_deadline_at)
                ),
                format!(
                    "The document sale period ({}) must not end after the bid deadline ({}), China time",
                    china_time(until),
                    china_time(t.bid_deadline_at)
                ),
            ));
        }

        self.check_clarification_cutoff(t, &mut out);
        self.check_money(t, &mut out);

        // Platform rule: one opening-key share per custodian, at least n of them.
        let q = &r.custodian_quorum;
        if t.custodian_count < q.n {
            out.push(violation(
                "CUSTODIANS_TOO_FEW",
                &q.article,
                format!(
                    "开标密钥需{}名保管人（{}人到场即可开标），当前仅指定{}名",
                    q.n, q.k, t.custodian_count
                ),
                format!(
                    "The opening key needs {} custodians ({} of whom open the bids); {} are appointed",
                    q.n, q.k, t.custodian_count
                ),
            ));
        }

        // Platform rule: a comprehensive-scoring method distributes exactly 100 points.
        if !t.criteria_weights.is_empty() {
            if let Some(pos) = t.criteria_weights.iter().position(|&w| w == 0) {
                out.push(violation(
                    "CRITERIA_WEIGHT_ZERO",
                    PLATFORM_RULE,
                    format!("第{}项评分因素的权重为0，请删除该因素或赋予权重", pos + 1),
                    format!(
                        "Scoring criterion {} has weight 0; remove it or give it a weight",
                        pos + 1
                    ),
                ));
            }
            let sum = t
                .criteria_weights
                .iter()
                .fold(0u64, |acc, &w| acc.saturating_add(u64::from(w)));
            if sum != 100 {
                out.push(violation(
                    "CRITERIA_WEIGHTS_NOT_100",
                    PLATFORM_RULE,
                    format!("评分因素权重之和应为100，当前为{sum}"),
                    format!("The scoring criteria weights must sum to 100; they sum to {sum}"),
                ));
            }
        }

        if out.is_empty() { Ok(()) } else { Err(out) }
    }

    /// The question/objection cut-off: after availability, before the deadline, and not
    /// earlier than the statutory objection mark where the rulebook has one.
    fn check_clarification_cutoff(&self, t: &TenderTerms, out: &mut Vec<RuleViolation>) {
        let objection = self.rules.objection_cutoff_days_before_deadline.as_ref();
        let article = objection.map_or(PLATFORM_RULE, |r| r.article.as_str());
        if t.clarification_cutoff_at >= t.bid_deadline_at {
            out.push(violation(
                "CLARIFICATION_CUTOFF_AFTER_DEADLINE",
                article,
                format!(
                    "澄清（异议）截止时间（{}）必须早于投标截止时间（{}）",
                    china_time(t.clarification_cutoff_at),
                    china_time(t.bid_deadline_at)
                ),
                format!(
                    "The clarification cut-off ({}) must be before the bid deadline ({}), China time",
                    china_time(t.clarification_cutoff_at),
                    china_time(t.bid_deadline_at)
                ),
            ));
        }
        if t.clarification_cutoff_at <= t.documents_available_at {
            out.push(violation(
                "CLARIFICATION_CUTOFF_BEFORE_DOCUMENTS",
                PLATFORM_RULE,
                format!(
                    "澄清（异议）截止时间（{}）必须晚于招标文件发出时间（{}）",
                    china_time(t.clarification_cutoff_at),
                    china_time(t.documents_available_at)
                ),
                format!(
                    "The clarification cut-off ({}) must be after the documents are available ({}), China time",
                    china_time(t.clarification_cutoff_at),
                    china_time(t.documents_available_at)
                ),
            ));
        }
        // 招标投标法实施条例 第22条: bidders may object until 10 days before the deadline;
        // a cut-off before that mark would take part of that right away. A later cut-off is
        // allowed (answers that change the documents then move the deadline, 法 第23条).
        if let Some(rule) = objection {
            let mark = rule.latest_before(t.bid_deadline_at);
            if t.clarification_cutoff_at < mark {
                out.push(violation(
                    "CLARIFICATION_CUTOFF_TOO_EARLY",
                    &rule.article,
                    format!(
                        "潜在投标人可在投标截止时间{}前提出异议（{}），澄清（异议）截止时间不得早于{}（北京时间），当前为{}",
                        rule.describe_zh(),
                        rule.article,
                        china_time(mark),
                        china_time(t.clarification_cutoff_at)
                    ),
                    format!(
                        "Bidders may object to the documents until {} before the bid deadline ({}), \
                         so the clarification cut-off must not be earlier than {} China time; it is {}",
                        rule.describe_en(),
                        rule.article,
                        china_time(mark),
                        china_time(t.clarification_cutoff_at)
                    ),
                ));
            }
        }
    }

    fn check_money(&self, t: &TenderTerms, out: &mut Vec<RuleViolation>) {
        let r = &self.rules;
        let in_range = |fen: i64| fen > 0 && fen <= MAX_MONEY_FEN;
        let estimate_ok = in_range(t.estimated_price_fen);
        if !estimate_ok {
            out.push(violation(
                "ESTIMATED_PRICE_INVALID",
                PLATFORM_RULE,
                format!(
                    "估算价（预算金额）应大于0且不超过{}元，当前为{}元",
                    yuan(MAX_MONEY_FEN),
                    yuan(t.estimated_price_fen)
                ),
                format!(
                    "The estimated price must be above 0 and at most {} yuan; it is {} yuan",
                    yuan(MAX_MONEY_FEN),
                    yuan(t.estimated_price_fen)
                ),
            ));
        }

        if let Some(ceiling) = t.ceiling_price_fen {
            if !in_range(ceiling) {
                out.push(violation(
                    "CEILING_PRICE_INVALID",
                    PLATFORM_RULE,
                    format!(
                        "最高投标限价应大于0且不超过{}元，当前为{}元",
                        yuan(MAX_MONEY_FEN),
                        yuan(ceiling)
                    ),
                    format!(
                        "The ceiling price must be above 0 and at most {} yuan; it is {} yuan",
                        yuan(MAX_MONEY_FEN),
                        yuan(ceiling)
                    ),
                ));
            } else if estimate_ok
                && !r.ceiling_may_exceed_estimate.value
                && ceiling > t.estimated_price_fen
            {
                // 财政部令第87号 第12条: the ceiling lies within the budget.
                let rule = &r.ceiling_may_exceed_estimate;
                out.push(violation(
                    "CEILING_ABOVE_ESTIMATE",
                    &rule.article,
                    format!(
                        "最高限价应在预算金额以内（{}），当前最高限价{}元高于预算{}元",
                        rule.article,
                        yuan(ceiling),
                        yuan(t.estimated_price_fen)
                    ),
                    format!(
                        "The ceiling price must not exceed the budget ({}); the ceiling is {} yuan, \
                         the budget {} yuan",
                        rule.article,
                        yuan(ceiling),
                        yuan(t.estimated_price_fen)
                    ),
                ));
            }
        }

        if t.bid_security_fen < 0 || t.bid_security_fen > MAX_MONEY_FEN {
            out.push(violation(
                "BID_SECURITY_INVALID",
                PLATFORM_RULE,
                format!(
                    "投标保证金不得为负数且不超过{}元，当前为{}元",
                    yuan(MAX_MONEY_FEN),
                    yuan(t.bid_security_fen)
                ),
                format!(
                    "The bid security must be between 0 and {} yuan; it is {} yuan",
                    yuan(MAX_MONEY_FEN),
                    yuan(t.bid_security_fen)
                ),
            ));
        } else if estimate_ok {
            // 招标投标法实施条例 第26条 / 政府采购法实施条例 第33条: at most 2% of the
            // estimated price. Compared exactly in integers: security·10000 ≤ estimate·bp.
            let rule = &r.bid_security_max_bp;
            let lhs = i128::from(t.bid_security_fen) * 10_000;
            let rhs = i128::from(t.estimated_price_fen) * i128::from(rule.value);
            if lhs > rhs {
                out.push(violation(
                    "BID_SECURITY_TOO_HIGH",
                    &rule.article,
                    format!(
                        "投标保证金不得超过估算价的{}（{}），上限为{}元，当前为{}元",
                        percent(rule.value),
                        rule.article,
                        yuan(self.bid_security_cap_fen(t.estimated_price_fen)),
                        yuan(t.bid_security_fen)
                    ),
                    format!(
                        "The bid security must not exceed {} of the estimated price ({}): at most {} yuan; \
                         it is {} yuan",
                        percent(rule.value),
                        rule.article,
                        yuan(self.bid_security_cap_fen(t.estimated_price_fen)),
                        yuan(t.bid_security_fen)
                    ),
                ));
            }
        }
    }

    /// Highest bid security allowed for an estimated price, in fen (rounded down).
    pub fn bid_security_cap_fen(&self, estimated_price_fen: i64) -> i64 {
        let cap = i128::from(estimated_price_fen.max(0))
            * i128::from(self.rules.bid_security_max_bp.value)
            / 10_000;
        i64::try_from(cap).unwrap_or(i64::MAX)
    }

    /// The bid deadline after an amendment that affects bid preparation
    /// (招标投标法 第23条 / 政府采购法实施条例 第31条): if fewer than 15 days remain, the
    /// deadline moves to `amended_at` + 15 days; otherwise it is unchanged. Whether an
    /// amendment affects bid preparation is the caller's call (条例 第21条).
    pub fn deadline_after_amendment(
        &self,
        deadline: DateTime<Utc>,
        amended_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        deadline.max(
            self.rules
                .amendment_min_days_before_deadline
                .earliest_from(amended_at),
        )
    }

    /// Whether enough valid bids remain to open and evaluate (招标投标法 第28条).
    pub fn check_valid_bids(&self, valid_bids: u32) -> Result<(), RuleViolation> {
        let rule = &self.rules.min_valid_bids;
        if valid_bids >= rule.value {
            return Ok(());
        }
        Err(violation(
            "TOO_FEW_VALID_BIDS",
            &rule.article,
            format!(
                "有效投标不足{}个（{}），当前为{}个，本次招标失败（流标）",
                rule.value, rule.article, valid_bids
            ),
            format!(
                "At least {} valid bids are required ({}); there are {}, so the tender fails",
                rule.value, rule.article, valid_bids
            ),
        ))
    }

    /// Checks the committee's size, oddness and share of experts (招标投标法 第37条).
    pub fn check_committee(&self, members: u32, experts: u32) -> Result<(), Vec<RuleViolation>> {
        let r = &self.rules;
        let mut out = Vec::new();
        let min = &r.committee_min_members;
        if members < min.value {
            out.push(violation(
                "COMMITTEE_TOO_SMALL",
                &min.article,
                format!(
                    "评标委员会成员不得少于{}人（{}），当前为{}人",
                    min.value, min.article, members
                ),
                format!(
                    "The evaluation committee needs at least {} members ({}); it has {}",
                    min.value, min.article, members
                ),
            ));
        }
        let odd = &r.committee_odd;
        if odd.value && members.is_multiple_of(2) {
            out.push(violation(
                "COMMITTEE_NOT_ODD",
                &odd.article,
                format!(
                    "评标委员会成员人数应为单数（{}），当前为{}人",
                    odd.article, members
                ),
                format!(
                    "The evaluation committee must have an odd number of members ({}); it has {}",
                    odd.article, members
                ),
            ));
        }
        let f = &r.committee_experts_min_fraction;
        // experts / members ≥ numerator / denominator, without division.
        if experts > members
            || u64::from(experts) * u64::from(f.denominator)
                < u64::from(members) * u64::from(f.numerator)
        {
            out.push(violation(
                "COMMITTEE_TOO_FEW_EXPERTS",
                &f.article,
                format!(
                    "专家不得少于评标委员会成员总数的{}/{}（{}），当前为{}人中{}名专家",
                    f.numerator, f.denominator, f.article, members, experts
                ),
                format!(
                    "Experts must make up at least {}/{} of the committee ({}); there are {} of {} members",
                    f.numerator, f.denominator, f.article, experts, members
                ),
            ));
        }
        if out.is_empty() { Ok(()) } else { Err(out) }
    }
}

/// Basis points as a percentage, "2%" or "2.5%".
fn percent(bp: u32) -> String {
    if bp.is_multiple_of(100) {
        format!("{}%", bp / 100)
    } else {
        let text = format!("{}.{:02}", bp / 100, bp % 100);
        format!("{}%", text.trim_end_matches('0'))
    }
}
