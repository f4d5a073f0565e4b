use std::fs;

use super::load::BUILTIN;
use super::*;
use crate::clock::china;
use chrono::TimeZone;
use proptest::prelude::*;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    // Test dates are written in China time, as an agent would enter them.
    china()
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("valid test date")
        .with_timezone(&Utc)
}

fn construction() -> Rulebook {
    Rulebooks::builtin()
        .expect("builtin")
        .get("construction", "open")
        .expect("construction/open")
        .clone()
}

fn procurement() -> Rulebook {
    Rulebooks::builtin()
        .expect("builtin")
        .get("procurement", "open")
        .expect("procurement/open")
        .clone()
}

/// Terms that pass the construction rulebook: documents out Monday 2025-03-03 09:00,
/// deadline exactly 20 days later.
fn good_terms() -> TenderTerms {
    let available = at(2025, 3, 3, 9);
    let deadline = available + TimeDelta::days(20);
    TenderTerms {
        documents_available_at: available,
        documents_available_until: Some(available + TimeDelta::days(5)),
        clarification_cutoff_at: deadline - TimeDelta::days(10),
        bid_deadline_at: deadline,
        estimated_price_fen: 100_000_000, // 1 000 000 yuan
        ceiling_price_fen: Some(95_000_000),
        bid_security_fen: 2_000_000, // exactly 2%
        custodian_count: 3,
        criteria_weights: vec![60, 30, 10],
    }
}

fn now() -> DateTime<Utc> {
    at(2025, 3, 3, 8)
}

fn rules_of(result: Result<(), Vec<RuleViolation>>) -> Vec<&'static str> {
    result
        .err()
        .unwrap_or_default()
        .iter()
        .filter_map(RuleViolation::static_code)
        .collect()
}

#[test]
fn both_builtin_files_parse() {
    let books = Rulebooks::builtin().expect("builtin rulebooks parse");
    assert_eq!(books.in_force().len(), BUILTIN.len());
    let c = books.get("construction", "open").expect("construction");
    assert_eq!(c.id, "construction-open");
    assert_eq!(c.rules.min_days_documents_to_deadline.value, 20);
    assert_eq!(
        c.rules.min_days_documents_to_deadline.article,
        "招标投标法 第24条"
    );
    assert_eq!(c.rules.amendment_min_days_before_deadline.value, 15);
    assert_eq!(c.rules.min_days_documents_available.value, 5);
    assert_eq!(
        c.rules
            .objection_cutoff_days_before_deadline
            .as_ref()
            .map(|r| r.value),
        Some(10)
    );
    assert_eq!(c.rules.min_valid_bids.value, 3);
    assert_eq!(c.rules.committee_min_members.value, 5);
    assert!(c.rules.committee_odd.value);
    assert_eq!(c.rules.bid_security_max_bp.value, 200);
    assert_eq!(c.rules.contract_within_days.value, 30);
    assert_eq!(
        (c.rules.custodian_quorum.k, c.rules.custodian_quorum.n),
        (2, 3)
    );
    let p = books.get("procurement", "open").expect("procurement");
    assert_eq!(
        p.rules.min_days_documents_to_deadline.article,
        "政府采购法 第35条"
    );
    assert_eq!(
        p.rules.min_days_documents_available.unit,
        DayUnit::WorkingDays
    );
    assert!(p.rules.objection_cutoff_days_before_deadline.is_none());
    assert!(p.rules.candidate_publicity_min_days.is_none());
    assert!(!p.rules.ceiling_may_exceed_estimate.value);
    assert_eq!(books.by_id("procurement-open"), Some(p));
    assert!(books.get("construction", "auction").is_none());
}

#[test]
fn good_terms_pass_both_rulebooks() {
    assert_eq!(
        construction().check_publication(&good_terms(), now()),
        Ok(())
    );
    let mut t = good_terms();
    // Procurement: 5 working days from Monday 09:00 end next Monday 09:00.
    t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(7));
    assert_eq!(procurement().check_publication(&t, now()), Ok(()));
}

#[test]
fn nineteen_days_refused_twenty_accepted() {
    let book = construction();
    let mut t = good_terms();
    t.bid_deadline_at = t.documents_available_at + TimeDelta::days(19);
    t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(10);
    let errs = book
        .check_publication(&t, now())
        .expect_err("19 days refused");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let v = &errs[0];
    assert_eq!(v.rule, "BID_DEADLINE_TOO_SOON");
    assert_eq!(v.article, "招标投标法 第24条");
    assert_eq!(
        v.message_zh,
        "投标截止时间距招标文件发出之日不得少于20日（招标投标法 第24条），当前为19日"
    );
    assert_eq!(
        v.message_en,
        "The bid deadline must be at least 20 days after the tender documents are first \
         available (招标投标法 第24条); it is 19 days"
    );

    // One second short of 20 × 24 h is still 19 whole days.
    t.bid_deadline_at = t.documents_available_at + TimeDelta::days(20) - TimeDelta::seconds(1);
    t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(10);
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        ["BID_DEADLINE_TOO_SOON"]
    );

    t.bid_deadline_at = t.documents_available_at + TimeDelta::days(20);
    t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(10);
    assert_eq!(book.check_publication(&t, now()), Ok(()));
}

#[test]
fn amendment_moves_the_deadline_only_when_less_than_15_days_remain() {
    let book = construction();
    let deadline = at(2025, 4, 1, 9);
    let amended_14 = deadline - TimeDelta::days(14);
    assert_eq!(
        book.deadline_after_amendment(deadline, amended_14),
        amended_14 + TimeDelta::days(15)
    );
    let amended_15 = deadline - TimeDelta::days(15);
    assert_eq!(
        book.deadline_after_amendment(deadline, amended_15),
        deadline
    );
    let amended_16 = deadline - TimeDelta::days(16);
    assert_eq!(
        book.deadline_after_amendment(deadline, amended_16),
        deadline
    );
    // One second inside the 15 days is enough to move it.
    let late = deadline - TimeDelta::days(15) + TimeDelta::seconds(1);
    assert_eq!(
        book.deadline_after_amendment(deadline, late),
        late + TimeDelta::days(15)
    );
    // Near the end of chrono's range the result saturates instead of panicking.
    let max = DateTime::<Utc>::MAX_UTC;
    assert_eq!(book.deadline_after_amendment(max, max), max);
}

#[test]
fn bid_security_two_percent_ok_one_fen_more_refused() {
    let book = construction();
    let mut t = good_terms();
    t.bid_security_fen = 2_000_000;
    assert_eq!(book.check_publication(&t, now()), Ok(()));
    assert_eq!(book.bid_security_cap_fen(t.estimated_price_fen), 2_000_000);
    t.bid_security_fen = 2_000_001;
    let errs = book.check_publication(&t, now()).expect_err("over 2%");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].rule, "BID_SECURITY_TOO_HIGH");
    assert_eq!(errs[0].article, "招标投标法实施条例 第26条");
    assert!(errs[0].message_zh.contains("2%"), "{}", errs[0].message_zh);
    assert!(
        errs[0].message_zh.contains("20,000.00元"),
        "{}",
        errs[0].message_zh
    );
    // An odd estimate: the cap rounds down, the comparison stays exact.
    t.estimated_price_fen = 101;
    t.ceiling_price_fen = None;
    t.bid_security_fen = 2; // 2/101 ≈ 1.98% ≤ 2%
    assert_eq!(book.check_publication(&t, now()), Ok(()));
    t.bid_security_fen = 3;
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        ["BID_SECURITY_TOO_HIGH"]
    );
    // No security at all is fine.
    t.bid_security_fen = 0;
    assert_eq!(book.check_publication(&t, now()), Ok(()));
}

#[test]
fn negative_and_absurd_money_refused() {
    let book = construction();
    let mut t = good_terms();
    t.estimated_price_fen = -1;
    t.ceiling_price_fen = Some(-5);
    t.bid_security_fen = -1;
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        [
            "ESTIMATED_PRICE_INVALID",
            "CEILING_PRICE_INVALID",
            "BID_SECURITY_INVALID"
        ]
    );
    t = good_terms();
    t.estimated_price_fen = 0;
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        ["ESTIMATED_PRICE_INVALID"]
    );
    t = good_terms();
    t.estimated_price_fen = i64::MAX;
    t.ceiling_price_fen = Some(i64::MIN);
    t.bid_security_fen = i64::MAX;
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        [
            "ESTIMATED_PRICE_INVALID",
            "CEILING_PRICE_INVALID",
            "BID_SECURITY_INVALID"
        ]
    );
    t = good_terms();
    t.estimated_price_fen = MAX_MONEY_FEN;
    t.ceiling_price_fen = Some(MAX_MONEY_FEN);
    assert_eq!(book.check_publication(&t, now()), Ok(()));
}

#[test]
fn ceiling_above_estimate_depends_on_rulebook() {
    let mut t = good_terms();
    t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(7));
    t.ceiling_price_fen = Some(t.estimated_price_fen + 1);
    assert_eq!(construction().check_publication(&t, now()), Ok(()));
    let errs = procurement()
        .check_publication(&t, now())
        .expect_err("above budget");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].rule, "CEILING_ABOVE_ESTIMATE");
    assert_eq!(errs[0].article, "财政部令第87号 第12条");
}

#[test]
fn criteria_weights_must_sum_to_100() {
    let book = construction();
    let mut t = good_terms();
    t.criteria_weights = vec![60, 30, 9];
    let errs = book.check_publication(&t, now()).expect_err("99");
    assert_eq!(errs[0].rule, "CRITERIA_WEIGHTS_NOT_100");
    assert!(errs[0].message_en.contains("99"));
    t.criteria_weights = vec![100, 0];
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        ["CRITERIA_WEIGHT_ZERO"]
    );
    t.criteria_weights = vec![u32::MAX, u32::MAX];
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        ["CRITERIA_WEIGHTS_NOT_100"]
    );
    t.criteria_weights = vec![];
    assert_eq!(book.check_publication(&t, now()), Ok(()));
}

#[test]
fn document_period_and_publication_time() {
    let book = construction();
    let mut t = good_terms();
    t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(4));
    let errs = book.check_publication(&t, now()).expect_err("4 days");
    assert_eq!(errs[0].rule, "DOCUMENT_PERIOD_TOO_SHORT");
    assert!(
        errs[0]
            .message_zh
            .contains("5日（招标投标法实施条例 第16条），当前为4日")
    );
    t.documents_available_until = Some(t.bid_deadline_at + TimeDelta::hours(1));
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        ["DOCUMENT_PERIOD_AFTER_DEADLINE"]
    );
    t.documents_available_until = None;
    assert_eq!(book.check_publication(&t, now()), Ok(()));
    // Publishing 9 minutes after the stated availability is within the grace; 11 is not.
    let late = t.documents_available_at + TimeDelta::minutes(9);
    assert_eq!(book.check_publication(&t, late), Ok(()));
    let later = t.documents_available_at + TimeDelta::minutes(11);
    assert_eq!(
        rules_of(book.check_publication(&t, later)),
        ["DOCUMENTS_AVAILABLE_IN_PAST"]
    );
}

#[test]
fn procurement_document_period_counts_working_days() {
    let book = procurement();
    let mut t = good_terms();
    // Monday 09:00 → Friday 09:00 is 4 working days (Tue, Wed, Thu, Fri).
    t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(4));
    let errs = book
        .check_publication(&t, now())
        .expect_err("4 working days");
    assert_eq!(errs[0].rule, "DOCUMENT_PERIOD_TOO_SHORT");
    assert!(
        errs[0].message_zh.contains("5个工作日"),
        "{}",
        errs[0].message_zh
    );
    assert!(
        errs[0].message_zh.contains("当前为4个工作日"),
        "{}",
        errs[0].message_zh
    );
    // Monday 09:00 → next Monday 09:00: Tue–Fri and Monday, 5 working days.
    t.documents_available_until = Some(t.documents_available_at + TimeDelta::days(7));
    assert_eq!(book.check_publication(&t, now()), Ok(()));
    // Sunday 23:00 China time (Sunday 15:00 UTC): the weekend is judged in China time.
    let rule = &book.rules.min_days_documents_available;
    let sunday = at(2025, 3, 9, 23);
    assert_eq!(rule.earliest_from(sunday), sunday + TimeDelta::days(5));
    let friday = at(2025, 3, 7, 9);
    assert_eq!(rule.earliest_from(friday), friday + TimeDelta::days(7));
    assert_eq!(rule.elapsed(friday, friday + TimeDelta::days(7)), 5);
    assert_eq!(rule.elapsed(friday, friday + TimeDelta::days(2)), 0);
    // Counting back from the next Friday, Sunday 09:00 is the latest start that still
    // leaves Monday–Friday.
    assert_eq!(
        rule.latest_before(friday + TimeDelta::days(7)),
        friday + TimeDelta::days(2)
    );
}

#[test]
fn clarification_cutoff_rules() {
    let book = construction();
    let mut t = good_terms();
    // Exactly 10 days before the deadline: allowed; one minute earlier: too early.
    t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(10) - TimeDelta::minutes(1);
    let errs = book.check_publication(&t, now()).expect_err("too early");
    assert_eq!(errs[0].rule, "CLARIFICATION_CUTOFF_TOO_EARLY");
    assert_eq!(errs[0].article, "招标投标法实施条例 第22条");
    assert!(
        errs[0].message_zh.contains("10日"),
        "{}",
        errs[0].message_zh
    );
    // Later than the mark is allowed.
    t.clarification_cutoff_at = t.bid_deadline_at - TimeDelta::days(3);
    assert_eq!(book.check_publication(&t, now()), Ok(()));
    t.clarification_cutoff_at = t.bid_deadline_at;
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        ["CLARIFICATION_CUTOFF_AFTER_DEADLINE"]
    );
    // Procurement has no statutory objection cut-off: any time in between is fine.
    let mut t = good_terms();
    t.documents_available_until = None;
    t.clarification_cutoff_at = t.documents_available_at + TimeDelta::days(1);
    assert_eq!(procurement().check_publication(&t, now()), Ok(()));
    t.clarification_cutoff_at = t.documents_available_at;
    assert_eq!(
        rules_of(procurement().check_publication(&t, now())),
        ["CLARIFICATION_CUTOFF_BEFORE_DOCUMENTS"]
    );
}

#[test]
fn custodians_and_everything_reported_at_once() {
    let book = construction();
    let mut t = good_terms();
    t.custodian_count = 2;
    assert_eq!(
        rules_of(book.check_publication(&t, now())),
        ["CUSTODIANS_TOO_FEW"]
    );
    t.bid_deadline_at = t.documents_available_at + TimeDelta::days(10);
    t.bid_security_fen = -3;
    let got = rules_of(book.check_publication(&t, now()));
    assert!(got.contains(&"BID_DEADLINE_TOO_SOON"));
    assert!(got.contains(&"BID_SECURITY_INVALID"));
    assert!(got.contains(&"CUSTODIANS_TOO_FEW"));
}

#[test]
fn valid_bids_and_committee() {
    let book = construction();
    assert!(book.check_valid_bids(3).is_ok());
    let v = book.check_valid_bids(2).expect_err("two bids");
    assert_eq!(v.rule, "TOO_FEW_VALID_BIDS");
    assert!(v.message_zh.contains("招标投标法 第28条"));
    assert!(book.check_committee(5, 4).is_ok());
    assert!(book.check_committee(7, 5).is_ok());
    let errs = book.check_committee(4, 3).expect_err("4 members");
    let codes: Vec<_> = errs.iter().map(|v| v.rule.as_ref()).collect();
    assert_eq!(codes, ["COMMITTEE_TOO_SMALL", "COMMITTEE_NOT_ODD"]);
    // 3 experts of 5 is 60% < 2/3.
    let errs = book.check_committee(5, 3).expect_err("too few experts");
    assert_eq!(errs[0].rule, "COMMITTEE_TOO_FEW_EXPERTS");
    assert!(book.check_committee(5, 6).is_err());
}

#[test]
fn unknown_fields_are_refused() {
    let text = BUILTIN[0].1.replace("[rules]", "colour = \"red\"\n[rules]");
    let err = Rulebook::from_toml_str(&text).expect_err("unknown top-level field");
    assert_eq!(err.code(), "RULEBOOK_PARSE");
    assert!(err.to_string().contains("colour"), "{err}");

    let text = BUILTIN[0].1.replace(
        "min_days_documents_to_deadline = { value = 20,",
        "min_days_documents_to_deadline = { value = 20, days = 3,",
    );
    let err = Rulebook::from_toml_str(&text).expect_err("unknown rule field");
    assert!(err.to_string().contains("days"), "{err}");

    let text = format!(
        "{}\nmax_weekly_bids = {{ value = 1, article = \"x\" }}\n",
        BUILTIN[0].1
    );
    let err = Rulebook::from_toml_str(&text).expect_err("unknown rule");
    assert!(err.to_string().contains("max_weekly_bids"), "{err}");
}

#[test]
fn invalid_values_are_refused() {
    let base = BUILTIN[0].1;
    for (from, to) in [
        ("k = 2, n = 3", "k = 4, n = 3"),
        (
            "numerator = 2, denominator = 3",
            "numerator = 2, denominator = 0",
        ),
        ("{ value = 200,", "{ value = 20000,"),
        ("{ value = 20, article", "{ value = 99999, article"),
        ("id = \"construction-open\"", "id = \"Construction Open\""),
        (
            "{ value = 30, article = \"招标投标法 第46条\" }",
            "{ value = 30, article = \" \" }",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let text = base.replace(from, to);
        let err = Rulebook::from_toml_str(&text).expect_err(to);
        assert_eq!(err.code(), "RULEBOOK_INVALID", "{to}: {err}");
    }
    let err = Rulebook::from_toml_str("not toml [").expect_err("garbage");
    assert_eq!(err.code(), "RULEBOOK_PARSE");
    assert!(err.to_string().contains("<string>"));
}

#[test]
fn load_dir_overrides_and_names_files() {
    let dir = std::env::temp_dir().join(format!(
        "sunbid-rulebook-test-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    fs::create_dir_all(&dir).expect("temp dir");

    // An override of construction/open with a longer period.
    let over = BUILTIN[0].1.replace(
        "min_days_documents_to_deadline = { value = 20,",
        "min_days_documents_to_deadline = { value = 25,",
    );
    fs::write(dir.join("a-construction.toml"), &over).expect("write");
    fs::write(dir.join("README.md"), "not a rulebook").expect("write");
    let books = Rulebooks::load_dir(&dir).expect("loads");
    let c = books.get("construction", "open").expect("construction");
    assert_eq!(c.rules.min_days_documents_to_deadline.value, 25);
    assert!(books.get("procurement", "open").is_some());
    assert_eq!(books.in_force().len(), BUILTIN.len());

    // A second file for the same category and procedure names both files.
    fs::write(dir.join("b-construction.toml"), &over).expect("write");
    let err = Rulebooks::load_dir(&dir).expect_err("duplicate");
    assert_eq!(err.code(), "RULEBOOK_DUPLICATE");
    let msg = err.to_string();
    assert!(
        msg.contains("a-construction.toml") && msg.contains("b-construction.toml"),
        "{msg}"
    );
    fs::remove_file(dir.join("b-construction.toml")).expect("remove");

    // A broken file is named in the error.
    fs::write(dir.join("c-broken.toml"), "id = 3").expect("write");
    let err = Rulebooks::load_dir(&dir).expect_err("broken");
    assert!(err.to_string().contains("c-broken.toml"), "{err}");
    fs::remove_dir_all(&dir).expect("cleanup");

    let err = Rulebooks::load_dir(dir.join("missing")).expect_err("missing dir");
    assert_eq!(err.code(), "RULEBOOK_IO");
    assert!(err.to_string().contains("missing"));
}

fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        // Around today, where real tenders live.
        (1_600_000_000i64..2_000_000_000).prop_map(|s| {
            DateTime::<Utc>::from_timestamp(s, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
        }),
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
    ]
}

proptest! {
    #[test]
    fn checks_never_panic(
        a in arb_instant(), b in arb_instant(), c in arb_instant(), d in arb_instant(),
        until in proptest::option::of(arb_instant()),
        est in any::<i64>(), ceil in proptest::option::of(any::<i64>()), sec in any::<i64>(),
        custodians in any::<u32>(), weights in proptest::collection::vec(any::<u32>(), 0..6),
    ) {
        let t = TenderTerms {
            documents_available_at: a,
            documents_available_until: until,
            clarification_cutoff_at: b,
            bid_deadline_at: c,
            estimated_price_fen: est,
            ceiling_price_fen: ceil,
            bid_security_fen: sec,
            custodian_count: custodians,
            criteria_weights: weights,
        };
        for book in [construction(), procurement()] {
            let _ = book.check_publication(&t, d);
            let _ = book.deadline_after_amendment(c, a);
            let _ = book.bid_security_cap_fen(est);
        }
    }

    #[test]
    fn working_day_counting_is_consistent(
        from in 1_600_000_000i64..2_000_000_000, secs in 0i64..(60 * 86_400), value in 0u32..40,
    ) {
        let from = DateTime::<Utc>::from_timestamp(from, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let to = from + TimeDelta::seconds(secs);
        let rule = DayRule {
            value,
            article: "test".to_owned(),
            unit: DayUnit::WorkingDays,
            note: None,
        };
        // is_met (via earliest_from) agrees with counting elapsed working days.
        prop_assert_eq!(rule.is_met(from, to), rule.elapsed(from, to) >= i64::from(value));
        prop_assert_eq!(rule.elapsed(from, rule.earliest_from(from)), i64::from(value));
        prop_assert_eq!(rule.elapsed(rule.latest_before(to), to), i64::from(value));
    }

    #[test]
    fn arbitrary_toml_never_panics(s in ".{0,200}") {
        let _ = Rulebook::from_toml_str(&s);
    }
}

/// The construction rulebook's text with one replacement, which must apply.
fn edited(from: &str, to: &str) -> String {
    let base = BUILTIN[0].1;
    assert!(base.contains(from), "{from}");
    base.replace(from, to)
}

/// Parses `text` as `file` and returns the refusal's (code, file, key, reason).
fn refusal(text: &str, file: &str) -> (&'static str, String, Option<String>, String) {
    let err = Rulebook::parse_named(text, file).expect_err("refused");
    (err.code(), err.file(), err.key(), err.reason())
}

#[test]
fn every_category_the_seeds_name_has_a_rulebook() {
    let books = Rulebooks::builtin().expect("builtin");
    for (category, procedure) in [
        ("construction", "open"),
        ("construction", "invited"),
        ("water", "open"),
        ("water", "invited"),
        ("transport", "open"),
        ("transport", "invited"),
        ("procurement", "open"),
        ("procurement", "invited"),
    ] {
        let book = books.get(category, procedure).expect(category);
        assert!(
            book.rules.second_failure.is_some(),
            "{category}/{procedure}"
        );
        assert_eq!(
            book.rules.invitees_min.is_some(),
            procedure == "invited",
            "{category}/{procedure}"
        );
    }
    let c = books.get("construction", "invited").expect("invited");
    let invitees = c.rules.invitees_min.as_ref().expect("invitees");
    assert_eq!(
        (invitees.value, invitees.article.as_str()),
        (3, "招标投标法 第17条")
    );
    let p = books.get("procurement", "invited").expect("invited");
    assert_eq!(
        p.rules.invitees_min.as_ref().map(|r| r.article.as_str()),
        Some("政府采购法 第34条")
    );
    assert_eq!(
        p.rules.second_failure.as_ref().map(|r| r.action),
        Some(SecondFailure::ChangeProcedureWithApproval)
    );
}

#[test]
fn an_even_committee_is_refused_while_odd_is_required() {
    let text = edited(
        "committee_min_members = { value = 5,",
        "committee_min_members = { value = 6,",
    );
    let (code, file, key, reason) = refusal(&text, "rulebooks/construction-open.toml");
    assert_eq!(code, "RULEBOOK_INVALID");
    assert_eq!(file, "rulebooks/construction-open.toml");
    assert_eq!(key.as_deref(), Some("rules.committee_min_members"));
    assert!(
        reason.contains("even") && reason.contains("committee_odd"),
        "{reason}"
    );
}

#[test]
fn a_period_of_zero_days_is_refused() {
    let text = edited(
        "candidate_publicity_min_days = { value = 3,",
        "candidate_publicity_min_days = { value = 0,",
    );
    let (_, _, key, _) = refusal(&text, "c.toml");
    assert_eq!(key.as_deref(), Some("rules.candidate_publicity_min_days"));
    let text = edited(
        "objection_answer_days = { value = 3,",
        "objection_answer_days = { value = 0,",
    );
    let (_, _, key, _) = refusal(&text, "c.toml");
    assert_eq!(key.as_deref(), Some("rules.objection_answer_days"));
}

#[test]
fn numbers_below_the_laws_floor_are_refused() {
    for (from, to, key, article) in [
        (
            "min_days_documents_to_deadline = { value = 20,",
            "min_days_documents_to_deadline = { value = 19,",
            "rules.min_days_documents_to_deadline",
            "第24条",
        ),
        (
            "min_days_documents_available = { value = 5,",
            "min_days_documents_available = { value = 4,",
            "rules.min_days_documents_available",
            "第16条",
        ),
        (
            "amendment_min_days_before_deadline = { value = 15,",
            "amendment_min_days_before_deadline = { value = 14,",
            "rules.amendment_min_days_before_deadline",
            "第23条",
        ),
        (
            "min_valid_bids = { value = 3,",
            "min_valid_bids = { value = 2,",
            "rules.min_valid_bids",
            "第28条",
        ),
        (
            "committee_min_members = { value = 5,",
            "committee_min_members = { value = 3,",
            "rules.committee_min_members",
            "第37条",
        ),
        (
            "numerator = 2, denominator = 3",
            "numerator = 1, denominator = 2",
            "rules.committee_experts_min_fraction",
            "第37条",
        ),
        (
            "bid_security_max_bp = { value = 200,",
            "bid_security_max_bp = { value = 300,",
            "rules.bid_security_max_bp",
            "第26条",
        ),
        (
            "contract_within_days = { value = 30,",
            "contract_within_days = { value = 31,",
            "rules.contract_within_days",
            "第46条",
        ),
        (
            "committee_odd = { value = true,",
            "committee_odd = { value = false,",
            "rules.committee_odd",
            "第37条",
        ),
    ] {
        let (code, _, got, reason) = refusal(&edited(from, to), "c.toml");
        assert_eq!(code, "RULEBOOK_INVALID", "{to}");
        assert_eq!(got.as_deref(), Some(key), "{to}: {reason}");
        assert!(reason.contains(article), "{to}: {reason}");
    }
    // Lengthening a period or raising a count is the operator's right.
    let longer = edited(
        "min_days_documents_to_deadline = { value = 20,",
        "min_days_documents_to_deadline = { value = 30,",
    );
    assert!(Rulebook::from_toml_str(&longer).is_ok());
}

#[test]
fn procurement_counts_its_document_period_in_working_days() {
    let text = BUILTIN[6].1.replace(
        "min_days_documents_available = { value = 5, unit = \"working_days\",",
        "min_days_documents_available = { value = 5,",
    );
    assert_ne!(text, BUILTIN[6].1);
    let (_, _, key, reason) = refusal(&text, "p.toml");
    assert_eq!(key.as_deref(), Some("rules.min_days_documents_available"));
    assert!(reason.contains("working days"), "{reason}");
}

#[test]
fn invitations_belong_to_invited_tendering_only() {
    let invited = BUILTIN[1].1;
    assert!(invited.contains("procedure = \"invited\""));
    let without: String = invited
        .lines()
        .filter(|l| !l.starts_with("invitees_min"))
        .collect::<Vec<_>>()
        .join("\n");
    let (_, _, key, reason) = refusal(&without, "i.toml");
    assert_eq!(key.as_deref(), Some("rules.invitees_min"));
    assert!(reason.contains("missing"), "{reason}");
    let two = invited.replace("invitees_min = { value = 3,", "invitees_min = { value = 2,");
    let (_, _, key, reason) = refusal(&two, "i.toml");
    assert_eq!(key.as_deref(), Some("rules.invitees_min"));
    assert!(reason.contains("第17条"), "{reason}");
    let open = format!(
        "{}\ninvitees_min = {{ value = 3, article = \"招标投标法 第17条\" }}\n",
        BUILTIN[0].1
    );
    let (_, _, key, _) = refusal(&open, "o.toml");
    assert_eq!(key.as_deref(), Some("rules.invitees_min"));
    let unreachable = invited.replace(
        "min_valid_bids = { value = 3,",
        "min_valid_bids = { value = 5,",
    );
    let (_, _, key, _) = refusal(&unreachable, "i.toml");
    assert_eq!(key.as_deref(), Some("rules.min_valid_bids"));
}

#[test]
fn a_missing_number_names_its_key() {
    let text: String = BUILTIN[0]
        .1
        .lines()
        .filter(|l| !l.starts_with("min_valid_bids"))
        .collect::<Vec<_>>()
        .join("\n");
    let (code, file, key, reason) = refusal(&text, "rulebooks/construction-open.toml");
    assert_eq!(code, "RULEBOOK_PARSE");
    assert_eq!(file, "rulebooks/construction-open.toml");
    assert_eq!(key.as_deref(), Some("min_valid_bids"));
    assert!(reason.contains("missing"), "{reason}");
}

#[test]
fn working_days_skip_public_holidays_and_count_makeup_days() {
    let rule = &procurement().rules.min_days_documents_available;
    // Friday 26 Sep 2025 09:00: Sunday 28 is worked (调休), then Mon 29, Tue 30, the
    // National Day holiday 1–8 Oct, Thu 9 and Fri 10: five working days end on Fri 10.
    let friday = at(2025, 9, 26, 9);
    assert_eq!(rule.earliest_from(friday), at(2025, 10, 10, 9));
    assert_eq!(rule.elapsed(friday, at(2025, 10, 9, 9)), 4);
    // Counting back from Fri 10 Oct: Thu 9, the holiday, Tue 30, Mon 29 and Sun 28 (调休),
    // whose period starts on Saturday 27 at 09:00.
    assert_eq!(rule.latest_before(at(2025, 10, 10, 9)), at(2025, 9, 27, 9));
}

#[test]
fn a_tender_keeps_the_version_it_was_published_under() {
    let books = Rulebooks::builtin().expect("builtin");
    let mut v2 = Rulebook::from_toml_str(&edited(
        "min_days_documents_to_deadline = { value = 20,",
        "min_days_documents_to_deadline = { value = 25,",
    ))
    .expect("valid");
    v2.version = 2;
    books
        .stored
        .write()
        .expect("lock")
        .push_for_test(Box::leak(Box::new(v2)));
    let now_in_force = books.get("construction", "open").expect("in force");
    assert_eq!(now_in_force.stamp(), "construction-open@v2");
    assert_eq!(now_in_force.rules.min_days_documents_to_deadline.value, 25);
    let v1 = books.by_id("construction-open").expect("v1");
    assert_eq!(v1.rules.min_days_documents_to_deadline.value, 20);
    assert_eq!(
        books.by_id("construction-open@v2").map(Rulebook::stamp),
        Some("construction-open@v2".to_owned())
    );
    assert!(books.by_id("construction-open@v3").is_none());
    assert!(books.by_id("construction-open@vx").is_none());
    assert_eq!(books.versions("construction-open").len(), 2);
    assert_eq!(books.in_force().len(), BUILTIN.len());
}
