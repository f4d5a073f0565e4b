//! The CSV import: a lenient RFC 4180 reader, the header and each row checked, every good
//! row added in its own transaction and every bad one reported with its reason.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::json;

use super::edit::{check_refs, ensure_operator, insert};
use super::*;
use crate::audit;
use crate::identity::Caller;
use crate::ids::is_id;
use crate::q_opt;
use crate::store::{Db, Tx};

// ---- CSV import ---------------------------------------------------------------------

/// One rejected CSV row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RejectedRow {
    /// The row number as a spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The stable error code.
    pub code: &'static str,
    /// Why, in words.
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Ids of the experts added, in file order.
    pub imported: Vec<String>,
    /// Rows refused, with reasons.
    pub rejected: Vec<RejectedRow>,
}

/// The columns a CSV may have. Required: name, specialties, region, title,
/// years_of_practice, birth_year. Optional: employer (an organisation id or 统一社会信用代码),
/// username (the expert's login), penalised (0/1, yes/no, 是/否), unavailable (dates
/// separated by `;`), conflicts (`org: relation` separated by `;`). Specialties are
/// separated by `;` or `|`.
pub const CSV_COLUMNS: [&str; 11] = [
    "name",
    "specialties",
    "region",
    "title",
    "years_of_practice",
    "birth_year",
    "employer",
    "username",
    "penalised",
    "unavailable",
    "conflicts",
];
const REQUIRED: [&str; 6] = [
    "name",
    "specialties",
    "region",
    "title",
    "years_of_practice",
    "birth_year",
];

/// Splits CSV text (RFC 4180: commas, double-quoted fields with `""` escapes, CRLF or LF)
/// into records with the row number each starts on. A malformed record (an unclosed quote,
/// text after a closing quote) is returned as an error for that row only; parsing resumes
/// at the next line.
///
/// Each physical line is read once: a record whose quoted field spans lines carries its
/// state to the next line rather than being split again from its start, which made a large
/// file with an early unclosed quote cost time quadratic in its number of lines.
pub fn parse_csv(text: &str) -> Vec<(usize, Result<Vec<String>, String>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut lines = text.split('\n').peekable();
    let mut row = 0usize;
    // The record whose quoted field is still open at the end of a line, and its first row.
    let mut open: Option<(usize, Record)> = None;
    while let Some(raw) = lines.next() {
        row += 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let (start_row, mut record) = match open.take() {
            Some((start_row, mut record)) => {
                record.cur.push('\n');
                (start_row, record)
            }
            None if line.trim().is_empty() && lines.peek().is_none() => break,
            None => (row, Record::default()),
        };
        match record.feed(line) {
            Err(why) => out.push((start_row, Err(why))),
            Ok(()) if record.quoted => open = Some((start_row, record)),
            Ok(()) => out.push((start_row, Ok(record.finish()))),
        }
    }
    if let Some((start_row, _)) = open {
        out.push((start_row, Err("unclosed quote / 引号未闭合".into())));
    }
    out
}

/// A record being split, possibly over several physical lines.
#[derive(Default)]
struct Record {
    fields: Vec<String>,
    cur: String,
    quoted: bool,
    was_quoted: bool,
}

impl Record {
    /// Splits one physical line (without its line break) into the record.
    fn feed(&mut self, line: &str) -> Result<(), String> {
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if self.quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        self.cur.push('"');
                    } else {
                        self.quoted = false;
                    }
                } else {
                    self.cur.push(c);
                }
            } else if c == ',' {
                self.fields.push(std::mem::take(&mut self.cur));
                self.was_quoted = false;
            } else if c == '"' && self.cur.is_empty() && !self.was_quoted {
                self.quoted = true;
                self.was_quoted = true;
            } else if self.was_quoted {
                return Err("text after a closing quote / 引号后有多余字符".into());
            } else {
                self.cur.push(c);
            }
        }
        Ok(())
    }

    /// The fields, once the record's last line is fed.
    fn finish(mut self) -> Vec<String> {
        self.fields.push(self.cur);
        self.fields
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split([';', '|', '；'])
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn parse_flag(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "no" | "false" | "否" => Some(false),
        "1" | "yes" | "true" | "是" => Some(true),
        _ => None,
    }
}

/// Maps the header to column positions; a header without the required columns, with an
/// unknown or repeated column, is refused as a whole (422 `BAD_CSV_HEADER`).
pub fn header_map(header: &[String]) -> Result<HashMap<&'static str, usize>, ExpertError> {
    let mut map = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        let Some(col) = CSV_COLUMNS.iter().find(|c| **c == h) else {
            return Err(ExpertError::BadCsvHeader(format!(
                "unknown column {:?}; the columns are {} / 未知列",
                h.chars().take(40).collect::<String>(),
                CSV_COLUMNS.join(",")
            )));
        };
        if map.insert(*col, i).is_some() {
            return Err(ExpertError::BadCsvHeader(format!(
                "column {col} appears twice / 列重复"
            )));
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|c| !map.contains_key(**c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(ExpertError::BadCsvHeader(format!(
            "missing required columns: {} / 缺少必填列",
            missing.join(",")
        )));
    }
    Ok(map)
}

/// Imports experts from CSV (operator). Good rows are added even when others are refused;
/// the report lists each refused row with its number and reason. One transaction, one
/// audit event per expert added and one for the import.
pub async fn import_csv(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    text: &str,
) -> Result<ImportReport, ExpertError> {
    ensure_operator(caller)?;
    if text.len() > MAX_CSV_BYTES {
        return Err(ExpertError::CsvTooLarge);
    }
    let records = parse_csv(text);
    let mut iter = records.into_iter();
    let header = match iter.next() {
        Some((_, Ok(h))) => h,
        Some((_, Err(why))) => return Err(ExpertError::BadCsvHeader(why)),
        None => {
            return Err(ExpertError::BadCsvHeader(
                "the file is empty / 文件为空".into(),
            ));
        }
    };
    let cols = header_map(&header)?;
    let mut report = ImportReport::default();
    let mut tx = db.begin().await?;
    for (row, rec) in iter {
        let fields = match rec {
            Ok(f) => f,
            Err(reason) => {
                report.rejected.push(RejectedRow {
                    row,
                    code: "MALFORMED_CSV_ROW",
                    reason,
                });
                continue;
            }
        };
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue; // blank line
        }
        match import_row(&mut tx, now, caller, &cols, &header, &fields, row).await {
            Ok(id) => report.imported.push(id),
            Err(e) => report.rejected.push(RejectedRow {
                row,
                code: e.code(),
                reason: e.to_string(),
            }),
        }
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.import",
        None,
        json!({"imported": report.imported.len(), "rejected": report.rejected.len(),
               "csv_sha256": crate::store::blob::sha256_hex(text.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// One CSV data row read against the header: the profile as far as the row alone gives it,
/// and the two columns that need the database (the caller resolves them into
/// `input.employer_org_id` and `input.user_id`, then validates).
#[derive(Clone, Debug)]
pub struct CsvRow {
    /// The profile's fields; `employer_org_id` and `user_id` are still `None`.
    pub input: ExpertInput,
    /// The `employer` column, trimmed: an organisation id or 统一社会信用代码 (may be empty).
    pub employer: String,
    /// The `username` column, trimmed (may be empty).
    pub username: String,
}

/// Reads one data row (`fields`) against the header's columns (`cols`, from [`header_map`],
/// for a header of `header_len` columns): field count, whole numbers, the penalised flag,
/// and the lists. Pure; [`validate`] checks the profile afterwards.
pub fn parse_csv_row(
    cols: &HashMap<&'static str, usize>,
    header_len: usize,
    fields: &[String],
) -> Result<CsvRow, ExpertError> {
    if fields.len() != header_len {
        return Err(ExpertError::Invalid {
            field: "row",
            message: format!(
                "row has {} fields, the header {header_len} / 字段数与表头不符",
                fields.len(),
            ),
        });
    }
    let get = |c: &str| {
        cols.get(c)
            .and_then(|i| fields.get(*i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let num = |c: &'static str| -> Result<i64, ExpertError> {
        get(c)
            .parse::<i64>()
            .map_err(|_| invalid(c, format!("{c} must be a whole number / {c} 须为整数")))
    };
    let conflicts = split_list(&get("conflicts"))
        .into_iter()
        .map(|c| {
            let (org, relation) = c.split_once(':').unwrap_or((c.as_str(), ""));
            Conflict {
                org_id: org.trim().to_string(),
                relation: relation.trim().to_string(),
            }
        })
        .collect();
    let input = ExpertInput {
        name: get("name"),
        specialties: split_list(&get("specialties")),
        region: get("region"),
        employer_org_id: None,
        title: get("title"),
        years_of_practice: u32::try_from(num("years_of_practice")?)
            .map_err(|_| invalid("years_of_practice", "years of practice must be 0–80"))?,
        birth_year: i32::try_from(num("birth_year")?)
            .map_err(|_| invalid("birth_year", "birth year out of range"))?,
        penalised: parse_flag(&get("penalised"))
            .ok_or_else(|| invalid("penalised", "penalised is 0/1, yes/no or 是/否"))?,
        user_id: None,
        unavailable: split_list(&get("unavailable")),
        conflicts,
    };
    Ok(CsvRow {
        input,
        employer: get("employer"),
        username: get("username"),
    })
}

async fn import_row(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    cols: &HashMap<&'static str, usize>,
    header: &[String],
    fields: &[String],
    row: usize,
) -> Result<String, ExpertError> {
    let CsvRow {
        mut input,
        employer,
        username,
    } = parse_csv_row(cols, header.len(), fields)?;
    input.employer_org_id = if employer.is_empty() {
        None
    } else if is_id(&employer) {
        Some(employer)
    } else {
        let found: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select org_id from organisation where uscc = $1",
            employer.clone()
        )?;
        Some(
            found
                .map(|(id,)| id)
                .ok_or_else(|| ExpertError::UnknownOrg(employer.chars().take(60).collect()))?,
        )
    };
    input.user_id = if username.is_empty() {
        None
    } else {
        let found: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select user_id from app_user where username = $1",
            username.clone()
        )?;
        Some(found.map(|(id,)| id).ok_or(ExpertError::BadExpertUser)?)
    };
    let p = validate(&input, now.year())?;
    check_refs(tx, &p, None).await?;
    let id = insert(tx, now, &p).await?;
    audit::append(
        tx,
        now,
        &caller.actor,
        "expert.add",
        None,
        json!({"expert_id": id, "profile_sha256": profile_digest(&p), "source": "csv", "row": row}),
    )
    .await?;
    Ok(id)
}

/// What the pages show of a report: the count of experts added and the refused rows.
#[derive(Clone, Debug, Serialize)]
pub struct ImportSummary<'a> {
    /// How many experts were added.
    pub imported: usize,
    /// Rows refused, with reasons.
    pub rejected: &'a [RejectedRow],
}

impl ImportReport {
    /// The summary the pages show.
    pub fn summary(&self) -> ImportSummary<'_> {
        ImportSummary {
            imported: self.imported.len(),
            rejected: &self.rejected,
        }
    }
}
