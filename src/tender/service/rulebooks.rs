//! The operator's view and replacement of the rulebooks in force, without a rebuild.
//!
//! A replacement is validated exactly as a rulebook file at start (the law's floors, the
//! contradictions), stored as the next version in `rulebook_version` with its audit event
//! in the same transaction, and applies to tenders published from then on: a published
//! tender keeps the version (its stamp) it was published under.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::TenderError;
use super::common::rfc3339;
use crate::audit;
use crate::clock::{from_millis, to_millis};
use crate::error::Common;
use crate::identity::Role;
use crate::identity::caller::Caller;
use crate::store::Db;
use crate::store::blob::sha256_hex;
use crate::tender::rulebook::{MAX_RULEBOOK_BYTES, Rulebook, RulebookError, Rulebooks, Rules};
use crate::{q_all, q_exec, q_one};

const OPERATORS_ONLY: &str =
    "only the platform operator may replace a rulebook / 仅平台运营方可替换规则";

/// One rulebook in force, as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RulebookSummary {
    /// Stable id, e.g. "construction-open".
    pub id: String,
    /// Category, e.g. "construction".
    pub category: String,
    /// Procedure, e.g. "open" or "invited".
    pub procedure: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Version in force: 1 is the file loaded at start.
    pub version: u32,
    /// What a tender published now records: the id, or id@vN.
    pub stamp: String,
}

/// One version of a rulebook.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RulebookVersionView {
    /// The version number.
    pub version: u32,
    /// The stamp tenders record.
    pub stamp: String,
    /// SHA-256 of the TOML text (hex).
    pub sha256: String,
    /// Who stored it; absent for the file loaded at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// When it was stored (RFC 3339); absent for the file loaded at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_at: Option<String>,
}

/// A rulebook in force with its numbers, its TOML and its versions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RulebookDetail {
    /// The rulebook in force.
    #[serde(flatten)]
    pub summary: RulebookSummary,
    /// Its rules, each with its article.
    #[schema(value_type = Object)]
    pub rules: Rules,
    /// The TOML text in force.
    pub toml: String,
    /// Every version, oldest first.
    pub versions: Vec<RulebookVersionView>,
}

fn summary(b: &Rulebook) -> RulebookSummary {
    RulebookSummary {
        id: b.id.clone(),
        category: b.category.clone(),
        procedure: b.procedure.clone(),
        name_zh: b.name_zh.clone(),
        name_en: b.name_en.clone(),
        version: b.version.max(1),
        stamp: b.stamp(),
    }
}

/// Every rulebook in force (public: the numbers are the law's, and bidders need them).
pub async fn list_rulebooks(
    db: &Db,
    books: &Rulebooks,
) -> Result<Vec<RulebookSummary>, TenderError> {
    let books = books.fresh(db).await?;
    Ok(books.in_force().into_iter().map(summary).collect())
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    version: i64,
    sha256: String,
    created_by: String,
    created_at: i64,
}

/// One rulebook in force with its versions.
pub async fn get_rulebook(
    db: &Db,
    books: &Rulebooks,
    id: &str,
) -> Result<RulebookDetail, TenderError> {
    let books = books.fresh(db).await?;
    let versions = books.versions(id);
    let Some(first) = versions.first() else {
        return Err(Common::NotFound("rulebook").into());
    };
    let current = books
        .get(&first.category, &first.procedure)
        .ok_or(Common::NotFound("rulebook"))?;
    let mut tx = db.read().await?;
    let rows = q_all!(
        tx,
        VersionRow,
        "select v.version, v.sha256, u.username as created_by, v.created_at
         from rulebook_version v join app_user u on u.user_id = v.created_by
         where v.rulebook_id = $1 order by v.version",
        id.to_owned()
    )?;
    tx.commit().await?;
    let mut out = Vec::new();
    for b in versions.iter().filter(|b| b.version <= 1) {
        out.push(RulebookVersionView {
            version: 1,
            stamp: b.stamp(),
            sha256: sha256_hex(b.text.as_bytes()),
            replaced_by: None,
            replaced_at: None,
        });
    }
    for r in rows {
        let version = u32::try_from(r.version).unwrap_or(u32::MAX);
        out.push(RulebookVersionView {
            version,
            stamp: format!("{id}@v{version}"),
            sha256: r.sha256,
            replaced_by: Some(r.created_by),
            replaced_at: Some(rfc3339(from_millis(r.created_at))),
        });
    }
    Ok(RulebookDetail {
        summary: summary(current),
        rules: current.rules.clone(),
        toml: current.text.clone(),
        versions: out,
    })
}

/// The operator replaces rulebook `id` with `text`: validated (a refusal names the file,
/// the key and the reason and changes nothing), stored as the next version and audited in
/// the same transaction. Tenders published from now on use it; published ones keep theirs.
pub async fn replace_rulebook(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    id: &str,
    text: &str,
) -> Result<RulebookDetail, TenderError> {
    if !caller.is(Role::Operator) {
        return Err(Common::Forbidden(OPERATORS_ONLY).into());
    }
    let books_now = books.fresh(db).await?;
    let Some(current) = books_now.by_id(id) else {
        return Err(Common::NotFound("rulebook").into());
    };
    let file = format!("{id}.toml");
    if u64::try_from(text.len()).unwrap_or(u64::MAX) > MAX_RULEBOOK_BYTES {
        return Err(TenderError::RulebookFile(RulebookError::TooLarge {
            path: file.into(),
            len: u64::try_from(text.len()).unwrap_or(u64::MAX),
        }));
    }
    let book = Rulebook::parse_named(text, &file).map_err(TenderError::RulebookFile)?;
    // A replacement keeps its id, category and procedure: the tenders published under the
    // earlier versions must still find it, and one key has one rulebook.
    for (key, got, want) in [
        ("id", &book.id, &current.id),
        ("category", &book.category, &current.category),
        ("procedure", &book.procedure, &current.procedure),
    ] {
        if got != want {
            return Err(TenderError::RulebookFile(RulebookError::Invalid {
                name: file,
                key: key.to_owned(),
                reason: format!("a replacement of {id} must keep {key} = {want:?}, got {got:?}"),
            }));
        }
    }
    let digest = sha256_hex(text.as_bytes());
    let mut tx = db.begin().await?;
    let (max,): (Option<i64>,) = q_one!(
        tx,
        (Option<i64>,),
        "select max(version) from rulebook_version where rulebook_id = $1",
        id.to_owned()
    )?;
    let version = max.unwrap_or(1).saturating_add(1);
    // The primary key refuses a concurrent replacement that picked the same number.
    let inserted = q_exec!(
        tx,
        "insert into rulebook_version
            (rulebook_id, version, category, procedure, toml, sha256, created_by, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        id.to_owned(),
        version,
        book.category.clone(),
        book.procedure.clone(),
        text.to_owned(),
        digest.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    );
    if let Err(e) = inserted {
        return Err(if crate::store::is_unique_violation(&e) {
            Common::Concurrent.into()
        } else {
            e.into()
        });
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "rulebook.replace",
        None,
        json!({
            "rulebook_id": id, "version": version, "stamp": format!("{id}@v{version}"),
            "category": book.category, "procedure": book.procedure, "toml_sha256": digest,
        }),
    )
    .await?;
    tx.commit().await?;
    get_rulebook(db, books, id).await
}
