//! Exports for regulators: the alerts and the cases as CSV or XLSX (the monitoring centre's
//! work log, 工作台账). CSV is UTF-8 with a byte-order mark so spreadsheet programs read
//! the Chinese text; a cell that a spreadsheet would take for a formula is quoted with a
//! leading apostrophe (data in alerts can come from bidders). XLSX cells are written as
//! strings, never formulas.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::alerts::{self, AlertFilter, AlertView};
use super::cases::{self, CaseView};
use super::error::SupervisionError;
use crate::error::Common;
use crate::identity::Caller;
use crate::store::Db;

/// A file format of the exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ExportFormat)]
pub enum Format {
    /// Comma-separated values, UTF-8 with BOM.
    #[default]
    Csv,
    /// An Excel workbook.
    Xlsx,
}

impl Format {
    /// The response's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

/// A sheet: column headers (English / 中文) and rows of text.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The sheet's name.
    pub name: &'static str,
    /// The column headers.
    pub headers: Vec<&'static str>,
    /// The rows, as many cells as headers.
    pub rows: Vec<Vec<String>>,
}

fn time(t: DateTime<Utc>) -> String {
    crate::audit::entry_time(t)
}

/// The alerts as a table.
pub fn alerts_table(list: &[AlertView]) -> Table {
    Table {
        name: "alerts",
        headers: vec![
            "alert_id",
            "kind / 类型",
            "severity / 等级",
            "status / 状态",
            "tender / 项目",
            "rule / 规则",
            "article / 依据",
            "summary / 摘要",
            "evidence / 证据 (audit seq)",
            "raised_at / 预警时间",
            "acknowledged_at / 签收时间",
        ],
        rows: list
            .iter()
            .map(|a| {
                vec![
                    a.alert_id.clone(),
                    a.kind.as_str().to_string(),
                    a.severity.as_str().to_string(),
                    a.status.as_str().to_string(),
                    a.tender_code.clone().unwrap_or_default(),
                    a.rule.clone(),
                    a.article.clone(),
                    a.summary.clone(),
                    a.evidence
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                    time(a.raised_at),
                    a.acknowledged_at.map(time).unwrap_or_default(),
                ]
            })
            .collect(),
    }
}

/// The cases as a table.
pub fn cases_table(list: &[CaseView]) -> Table {
    Table {
        name: "cases",
        headers: vec![
            "case_id",
            "state / 状态",
            "tender / 项目",
            "alert_id",
            "complaint_id",
            "finding / 处理结论",
            "finding_text / 理由",
            "suspended / 暂停理由",
            "opened_at / 立案时间",
            "closed_at / 办结时间",
        ],
        rows: list
            .iter()
            .map(|c| {
                vec![
                    c.case_id.clone(),
                    c.state.clone(),
                    c.tender.clone().unwrap_or_default(),
                    c.alert_id.clone().unwrap_or_default(),
                    c.complaint_id.clone().unwrap_or_default(),
                    c.finding
                        .map(|f| f.as_str().to_string())
                        .unwrap_or_default(),
                    c.finding_text.clone().unwrap_or_default(),
                    c.suspended_reason.clone().unwrap_or_default(),
                    time(c.opened_at),
                    c.closed_at.map(time).unwrap_or_default(),
                ]
            })
            .collect(),
    }
}

/// A cell a spreadsheet would evaluate (`=`, `+`, `-`, `@`, tab, carriage return first)
/// gets a leading apostrophe (OWASP, CSV injection).
fn defused(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn internal(e: impl std::fmt::Display) -> SupervisionError {
    Common::Corrupt(format!("export: {e}")).into()
}

/// The table as a file in `format`.
pub fn render(table: &Table, format: Format) -> Result<Vec<u8>, SupervisionError> {
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
            w.write_record(&table.headers).map_err(internal)?;
            for row in &table.rows {
                w.write_record(row.iter().map(|c| defused(c).into_owned()))
                    .map_err(internal)?;
            }
            w.into_inner().map_err(internal)
        }
        Format::Xlsx => {
            use rust_xlsxwriter::{Format as CellFormat, Workbook};
            let mut book = Workbook::new();
            let sheet = book.add_worksheet();
            sheet.set_name(table.name).map_err(internal)?;
            let bold = CellFormat::new().set_bold();
            for (c, h) in table.headers.iter().enumerate() {
                let col = u16::try_from(c).map_err(internal)?;
                sheet
                    .write_string_with_format(0, col, *h, &bold)
                    .map_err(internal)?;
            }
            for (r, row) in table.rows.iter().enumerate() {
                let line = u32::try_from(r + 1).map_err(internal)?;
                for (c, cell) in row.iter().enumerate() {
                    let col = u16::try_from(c).map_err(internal)?;
                    sheet.write_string(line, col, cell).map_err(internal)?;
                }
            }
            book.save_to_buffer().map_err(internal)
        }
    }
}

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    /// The alerts (with the alert list's filters).
    Alerts,
    /// The cases.
    Cases,
}

/// The export's file: its bytes and its name (regulators only).
pub async fn export(
    db: &Db,
    caller: &Caller,
    what: What,
    filter: &AlertFilter,
    format: Format,
) -> Result<(Vec<u8>, String), SupervisionError> {
    alerts::require_regulator(caller)?;
    let table = match what {
        What::Alerts => alerts_table(&alerts::list(db, caller, filter).await?),
        What::Cases => cases_table(&cases::list_cases(db, caller).await?),
    };
    let bytes = render(&table, format)?;
    Ok((
        bytes,
        format!("sunbid-{}.{}", table.name, format.extension()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            name: "alerts",
            headers: vec!["a", "b / 乙"],
            rows: vec![
                vec!["=HYPERLINK(\"x\")".into(), "招标, \"引号\"".into()],
                vec!["-1".into(), "plain".into()],
            ],
        }
    }

    #[test]
    fn csv_has_a_bom_quotes_and_no_formulas() {
        let bytes = render(&table(), Format::Csv).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][0], "'=HYPERLINK(\"x\")");
        assert_eq!(&rows[0][1], "招标, \"引号\"");
        assert_eq!(&rows[1][0], "'-1");
        assert_eq!(&rows[1][1], "plain");
    }

    #[test]
    fn xlsx_is_a_zip_workbook() {
        let bytes = render(&table(), Format::Xlsx).unwrap();
        // An XLSX file is a ZIP archive.
        assert!(bytes.starts_with(b"PK\x03\x04"));
        assert!(bytes.len() > 1000);
        let empty = Table {
            name: "cases",
            headers: vec!["x"],
            rows: vec![],
        };
        assert!(render(&empty, Format::Xlsx).is_ok());
    }
}
