//! Tests of the report document: every table and label from a stored report.

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
        Err(ReportError::Common(crate::error::Common::Corrupt(_)))
    ));
    assert!(matches!(
        build("not json", &sha256_hex(b"not json"), &ex),
        Err(ReportError::Common(crate::error::Common::Corrupt(_)))
    ));
    let v2 = s.json.replacen("\"v\":1", "\"v\":2", 1);
    assert!(matches!(
        build(&v2, &sha256_hex(v2.as_bytes()), &ex),
        Err(ReportError::Common(crate::error::Common::Corrupt(_)))
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
