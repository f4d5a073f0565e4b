//! Reading the public audit entries that make releases, and wrapping releases in packages.
//!
//! Only entries that were never withheld are read (`withheld_until` and `withheld_stage`
//! null), and only for tenders that were published, so the feed is stable: an entry that
//! appears in it never disappears or changes, and nothing the law keeps secret is in it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::compile::{compiled, versioned};
use super::release::{self, Names};
use crate::error::{Coded, Common, Kind};
use crate::store::{Db, Tx};
use crate::{q_all, q_opt};

/// The OCDS version the packages declare.
pub const OCDS_VERSION: &str = "1.1";

/// The extensions every package declares (their `extension.json`).
pub const EXTENSIONS: &[&str] = &[
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bidOpening_extension/master/extension.json",
];

/// Releases in one page of the change feed at most.
pub const PAGE: i64 = 100;

/// Why a feed or record request fails.
#[derive(Debug, thiserror::Error)]
pub enum OcdsError {
    /// Shared failures.
    #[error(transparent)]
    Common(#[from] Common),
    /// The cursor is not one this feed hands out.
    #[error("malformed cursor: {0} / 游标格式错误")]
    BadCursor(String),
    /// The bulk file's month is not `YYYY-MM`, or has not begun.
    #[error("bad month: {0} (YYYY-MM) / 月份格式错误")]
    BadMonth(String),
    /// The cursor points past the end of the log.
    #[error("cursor {cursor} is ahead of the log ({size} events) / 游标超出日志末尾")]
    FutureCursor {
        /// The cursor given.
        cursor: u64,
        /// The log's size.
        size: u64,
    },
}

crate::common_errors!(OcdsError);

impl Coded for OcdsError {
    fn kind(&self) -> Kind {
        match self {
            OcdsError::Common(c) => c.kind(),
            OcdsError::BadCursor(_) | OcdsError::FutureCursor { .. } | OcdsError::BadMonth(_) => {
                Kind::BadRequest
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            OcdsError::Common(c) => c.code(),
            OcdsError::BadCursor(_) => "BAD_CURSOR",
            OcdsError::FutureCursor { .. } => "FUTURE_CURSOR",
            OcdsError::BadMonth(_) => "BAD_MONTH",
        }
    }
}

/// Who publishes, under which licence and prefix, at which address.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// The registered ocid prefix.
    pub ocid_prefix: String,
    /// The publisher's name.
    pub name: String,
    /// The licence URL.
    pub license: String,
    /// The platform's public URL (package and policy URIs).
    pub public_url: String,
}

/// The package's publisher block.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublisherBlock {
    /// The publisher's name.
    pub name: String,
    /// Its web address.
    pub uri: String,
}

/// An OCDS release package.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleasePackage {
    /// Where this package is served.
    pub uri: String,
    /// OCDS version (`1.1`).
    pub version: String,
    /// The extensions used.
    pub extensions: Vec<String>,
    /// When the package was served.
    pub published_date: String,
    /// The publisher.
    pub publisher: PublisherBlock,
    /// The licence of the data.
    pub license: String,
    /// Where the publication policy is.
    pub publication_policy: String,
    /// The releases (OCDS release schema with the bid and bidOpening extensions).
    #[schema(value_type = Vec<Object>)]
    pub releases: Vec<Value>,
}

/// One page of the change feed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReleasePage {
    /// The releases of this page; `None` when nothing new was published since the cursor
    /// (a package must hold at least one release).
    pub package: Option<ReleasePackage>,
    /// The cursor for the next page (the audit index after the last one read).
    pub next_cursor: String,
}

/// One record of a record package.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The contracting process.
    pub ocid: String,
    /// Every release, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub releases: Vec<Value>,
    /// The current state of every field.
    #[schema(value_type = Object)]
    pub compiled_release: Value,
    /// Every field's history.
    #[schema(value_type = Object)]
    pub versioned_release: Value,
}

/// An OCDS record package.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordPackage {
    /// Where this package is served.
    pub uri: String,
    /// OCDS version (`1.1`).
    pub version: String,
    /// The extensions used.
    pub extensions: Vec<String>,
    /// When the package was served.
    pub published_date: String,
    /// The publisher.
    pub publisher: PublisherBlock,
    /// The licence of the data.
    pub license: String,
    /// Where the publication policy is.
    pub publication_policy: String,
    /// The record.
    pub records: Vec<Record>,
}

/// The public, never-withheld entries that make releases, of published tenders.
macro_rules! release_entries {
    ($extra:literal) => {
        concat!(
            "select e.seq, e.entry from audit_event e
             where e.tender_id is not null and e.withheld_until is null and e.withheld_stage is null
               and e.action in ('tender.publish', 'tender.amend', 'tender.question.answer',
                                'opening.record', 'tender.fail', 'tender.cancel',
                                'result.award', 'result.contract',
                                'auction.announce', 'auction.final_auction', 'auction.no_deal',
                                'auction.cancel', 'auction.deal')
               and exists (select 1 from audit_event p where p.tender_id = e.tender_id
                           and p.action in ('tender.publish', 'auction.announce')
                           and p.seq <= e.seq) ",
            $extra
        )
    };
}

struct OrgNames(HashMap<String, String>, HashMap<String, (String, String)>);

impl Names for OrgNames {
    fn org_name(&self, org_id: &str) -> Option<String> {
        self.0.get(org_id).cloned()
    }

    fn clarification(&self, question_id: &str) -> Option<(String, String)> {
        self.1.get(question_id).cloned()
    }
}

/// The organisation ids an entry names (buyer, agent, winner).
fn org_ids(entry: &Value) -> Vec<String> {
    let p = &entry["payload"];
    ["tenderee_org_id", "agent_org_id", "winner_org_id"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_str).map(str::to_owned))
        .collect()
}

async fn releases_of(
    tx: &mut Tx,
    prefix: &str,
    rows: Vec<(i64, String)>,
) -> Result<Vec<Value>, OcdsError> {
    let entries: Vec<Value> = rows
        .into_iter()
        .filter_map(|(_, e)| serde_json::from_str(&e).ok())
        .collect();
    let mut names = HashMap::new();
    for id in entries.iter().flat_map(org_ids) {
        if names.contains_key(&id) {
            continue;
        }
        let row: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select name from organisation where org_id = $1",
            id.clone()
        )?;
        if let Some((name,)) = row {
            names.insert(id, name);
        }
    }
    // Answers are public once given and never change (`answer is null` guards the update).
    let mut answers = HashMap::new();
    for e in entries
        .iter()
        .filter(|e| e["action"] == "tender.question.answer")
    {
        let Some(qid) = e["payload"]["question_id"].as_str() else {
            continue;
        };
        let row: Option<(String, String)> = q_opt!(
            tx,
            (String, String),
            "select body, answer from question where question_id = $1 and answer is not null",
            qid.to_owned()
        )?;
        if let Some(texts) = row {
            answers.insert(qid.to_owned(), texts);
        }
    }
    let names = OrgNames(names, answers);
    Ok(entries
        .iter()
        .filter_map(|e| release::from_entry(prefix, e, &names))
        .collect())
}

/// Parses a cursor: a plain decimal audit index (no sign, no leading zeros).
pub fn parse_cursor(s: &str) -> Result<u64, OcdsError> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical
        .then(|| s.parse::<u64>().ok())
        .flatten()
        .filter(|c| i64::try_from(*c).is_ok())
        .ok_or_else(|| OcdsError::BadCursor(s.chars().take(40).collect()))
}

fn package_head(p: &Publisher, uri: String, now: DateTime<Utc>) -> ReleasePackage {
    let base = p.public_url.trim_end_matches('/');
    ReleasePackage {
        uri,
        version: OCDS_VERSION.into(),
        extensions: EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
        published_date: crate::audit::entry_time(now),
        publisher: PublisherBlock {
            name: p.name.clone(),
            uri: base.to_owned(),
        },
        license: p.license.clone(),
        publication_policy: format!("{base}/docs/ocds"),
        releases: Vec::new(),
    }
}

/// One page of the change feed: the releases made by audit entries from `cursor` on.
pub async fn release_page(
    db: &Db,
    now: DateTime<Utc>,
    p: &Publisher,
    cursor: Option<&str>,
) -> Result<ReleasePage, OcdsError> {
    let from = cursor.map(parse_cursor).transpose()?.unwrap_or(0);
    let mut tx = db.read().await?;
    let (size, _) = crate::audit::head(&mut tx).await?;
    if from > size {
        return Err(OcdsError::FutureCursor { cursor: from, size });
    }
    let rows: Vec<(i64, String)> = q_all!(
        tx,
        (i64, String),
        release_entries!("and e.seq >= $1 order by e.seq limit $2"),
        i64::try_from(from).unwrap_or(i64::MAX),
        PAGE
    )?;
    let next = match rows.last() {
        Some((seq, _)) => u64::try_from(*seq).unwrap_or(0) + 1,
        None => size,
    };
    let releases = releases_of(&mut tx, &p.ocid_prefix, rows).await?;
    let base = p.public_url.trim_end_matches('/');
    let package = (!releases.is_empty()).then(|| ReleasePackage {
        releases,
        ..package_head(p, format!("{base}/api/v1/ocds/releases?cursor={from}"), now)
    });
    Ok(ReleasePage {
        package,
        next_cursor: next.to_string(),
    })
}

/// The record package of one contracting process.
pub async fn record(
    db: &Db,
    now: DateTime<Utc>,
    p: &Publisher,
    ocid: &str,
) -> Result<RecordPackage, OcdsError> {
    let tender_id = ocid
        .strip_prefix(&p.ocid_prefix)
        .and_then(|r| r.strip_prefix('-'))
        .filter(|t| !t.is_empty())
        .ok_or(Common::NotFound("contracting process"))?;
    let mut tx = db.read().await?;
    let rows: Vec<(i64, String)> = q_all!(
        tx,
        (i64, String),
        release_entries!("and e.tender_id = $1 order by e.seq"),
        tender_id.to_owned()
    )?;
    let releases = releases_of(&mut tx, &p.ocid_prefix, rows).await?;
    if releases.is_empty() {
        return Err(Common::NotFound("contracting process").into());
    }
    let base = p.public_url.trim_end_matches('/');
    let head = package_head(p, format!("{base}/api/v1/ocds/records/{ocid}"), now);
    Ok(RecordPackage {
        uri: head.uri,
        version: head.version,
        extensions: head.extensions,
        published_date: head.published_date,
        publisher: head.publisher,
        license: head.license,
        publication_policy: head.publication_policy,
        records: vec![Record {
            ocid: ocid.to_owned(),
            compiled_release: compiled(ocid, &releases),
            versioned_release: versioned(ocid, &releases),
            releases,
        }],
    })
}

/// Parses a bulk file's month, `YYYY-MM`, into its first instant and the next month's.
pub fn parse_month(s: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), OcdsError> {
    let bad = || OcdsError::BadMonth(s.chars().take(20).collect());
    let (y, m) = s.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let start = chrono::NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
    let next = if m == 12 {
        chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .ok_or_else(bad)?;
    let at = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    Ok((at(start), at(next)))
}

/// The monthly bulk file: every release dated in `month` (`YYYY-MM`, UTC), one JSON
/// object per line, gzip-compressed. A month that has not begun is refused.
pub async fn bulk_month(
    db: &Db,
    now: DateTime<Utc>,
    p: &Publisher,
    month: &str,
) -> Result<Vec<u8>, OcdsError> {
    use std::io::Write as _;
    let (start, end) = parse_month(month)?;
    if start > now {
        return Err(OcdsError::BadMonth(format!("{month} has not begun")));
    }
    let mut tx = db.read().await?;
    let rows: Vec<(i64, String)> = q_all!(
        tx,
        (i64, String),
        release_entries!("and e.created_at >= $1 and e.created_at < $2 order by e.seq"),
        crate::clock::to_millis(start),
        crate::clock::to_millis(end)
    )?;
    let releases = releases_of(&mut tx, &p.ocid_prefix, rows).await?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let io = |e: std::io::Error| Common::Corrupt(format!("gzip: {e}"));
    for r in releases {
        gz.write_all(r.to_string().as_bytes()).map_err(io)?;
        gz.write_all(b"\n").map_err(io)?;
    }
    Ok(gz.finish().map_err(io)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn months_are_yyyy_mm() {
        let (s, e) = parse_month("2026-12").unwrap();
        assert_eq!(s.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(e.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        for bad in [
            "",
            "2026",
            "2026-13",
            "2026-00",
            "26-01",
            "2026-1",
            "2026-01-01",
            "２０２６-01",
        ] {
            assert!(parse_month(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_feed_reads_every_action_that_makes_a_release() {
        let sql = release_entries!("");
        for (action, _) in release::ACTIONS {
            assert!(sql.contains(&format!("'{action}'")), "{action}");
        }
    }

    #[test]
    fn cursors_are_plain_decimals() {
        assert_eq!(parse_cursor("0").unwrap(), 0);
        assert_eq!(parse_cursor("120").unwrap(), 120);
        for bad in [
            "",
            "-1",
            "+1",
            "01",
            "1.5",
            "abc",
            "9223372036854775808",
            " 1",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
