//! The bid form (投标函): the part of a bid the opening record is read from. It is sealed
//! byte for byte as the bidder wrote it, so it is checked here first — a mistake found after
//! the deadline can no longer be corrected, and a form the opening cannot read makes the bid
//! invalid.
//!
//! ```json
//! {"price_fen": 1234500000, "duration_days": 365, "quality": "合格",
//!  "project_manager": "张三", "declarations": ["…"]}
//! ```
//!
//! Money is an integer number of fen (DESIGN.md "Storage"), never a float or a string. The
//! limits are the ones the opening applies (`crate::bid::model::BidForm::parse`), so a form
//! accepted here is not revoked (撤销) at the opening for its shape.

use serde_json::{Map, Value};

/// The largest bid form accepted; a form is a few hundred bytes.
pub const MAX_FORM_LEN: usize = 1024 * 1024;

/// The largest price the platform records, 10^15 fen (`tender::rulebook::MAX_MONEY_FEN`).
pub const MAX_PRICE_FEN: i64 = crate::tender::rulebook::MAX_MONEY_FEN;
/// The longest construction period the opening accepts: 100 years.
pub const MAX_DURATION_DAYS: i64 = 36_500;
/// Character limits of the text fields, as the opening checks them.
const MAX_QUALITY_CHARS: usize = 200;
const MAX_MANAGER_CHARS: usize = 100;
const MAX_DECLARATION_CHARS: usize = 500;
const MAX_DECLARATIONS: usize = 50;

/// The fields every bid form carries.
const FIELDS: [&str; 5] = [
    "price_fen",
    "duration_days",
    "quality",
    "project_manager",
    "declarations",
];

/// A bid form that passed [`validate_form`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BidForm {
    /// Bid price in fen (分), > 0.
    pub price_fen: i64,
    /// Construction period in days, > 0.
    pub duration_days: i64,
    /// Quality commitment (质量承诺), e.g. 合格.
    pub quality: String,
    /// The proposed project manager (项目经理).
    pub project_manager: String,
    /// Declarations (承诺/声明), each a sentence.
    pub declarations: Vec<String>,
    /// Fields the form has beyond the five above: kept and sealed, but worth a warning
    /// since a misspelt field is silently ignored by the opening.
    pub unknown_fields: Vec<String>,
}

/// Why a bid form was refused. Every problem is listed at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// Larger than [`MAX_FORM_LEN`].
    #[error(
        "the bid form is {0} bytes; a bid form is at most 1 MiB (attach documents with --attach)"
    )]
    TooLarge(usize),
    /// Not JSON at all.
    #[error("the bid form is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error(
        "the bid form must be a JSON object with price_fen, duration_days, quality, project_manager and declarations"
    )]
    NotObject,
    /// One or more fields are missing or wrong.
    #[error("the bid form is not acceptable:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Checks a bid form: `price_fen` (1 – 10^15) and `duration_days` (1 – 36 500) integers,
/// `quality` (≤ 200 characters) and `project_manager` (≤ 100) non-blank strings,
/// `declarations` an array of at most 50 non-blank strings of ≤ 500 characters.
pub fn validate_form(bytes: &[u8]) -> Result<BidForm, FormError> {
    if bytes.len() > MAX_FORM_LEN {
        return Err(FormError::TooLarge(bytes.len()));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| FormError::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(FormError::NotObject);
    };
    let mut problems = Vec::new();
    let price_fen = positive_int(
        &obj,
        "price_fen",
        "the bid price in fen (分)",
        MAX_PRICE_FEN,
        &mut problems,
    );
    let duration_days = positive_int(
        &obj,
        "duration_days",
        "the construction period in days",
        MAX_DURATION_DAYS,
        &mut problems,
    );
    let quality = text(&obj, "quality", MAX_QUALITY_CHARS, &mut problems);
    let project_manager = text(&obj, "project_manager", MAX_MANAGER_CHARS, &mut problems);
    let declarations = match obj.get("declarations") {
        None => {
            problems.push("declarations is missing (an array of strings, may be empty)".into());
            Vec::new()
        }
        Some(Value::Array(items)) => {
            if items.len() > MAX_DECLARATIONS {
                problems.push(format!(
                    "declarations has {} items; at most {MAX_DECLARATIONS}",
                    items.len()
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => {
                        if let Some(p) = text_problem(s, MAX_DECLARATION_CHARS) {
                            problems.push(format!("declarations[{i}] {p}"));
                        }
                        out.push(s.clone());
                    }
                    other => problems.push(format!(
                        "declarations[{i}] must be a string, not {}",
                        kind(other)
                    )),
                }
            }
            out
        }
        Some(other) => {
            problems.push(format!(
                "declarations must be an array of strings, not {}",
                kind(other)
            ));
            Vec::new()
        }
    };
    if !problems.is_empty() {
        return Err(FormError::Invalid(problems));
    }
    let unknown_fields = obj
        .keys()
        .filter(|k| !FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok(BidForm {
        price_fen,
        duration_days,
        quality,
        project_manager,
        declarations,
        unknown_fields,
    })
}

/// A JSON integer in `1..=max`; `1.0`, `1e3` and `"100"` are refused, since the opening
/// reads integers only.
fn positive_int(
    obj: &Map<String, Value>,
    field: &str,
    what: &str,
    max: i64,
    problems: &mut Vec<String>,
) -> i64 {
    match obj.get(field) {
        None => problems.push(format!("{field} is missing ({what}, an integer > 0)")),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v > max => {
                problems.push(format!("{field} is too large: {v} (at most {max})"));
            }
            Some(v) if v > 0 => return v,
            Some(v) => problems.push(format!("{field} must be greater than 0, not {v}")),
            None if n.is_u64() => problems.push(format!("{field} is too large: {n}")),
            None => problems.push(format!("{field} must be a whole number ({what}), not {n}")),
        },
        Some(other) => problems.push(format!(
            "{field} must be an integer ({what}), not {}",
            kind(other)
        )),
    }
    0
}

/// What is wrong with a text field: blank, or longer than `max` characters (trimmed, as the
/// opening counts).
fn text_problem(s: &str, max: usize) -> Option<String> {
    let n = s.trim().chars().count();
    if n == 0 {
        Some("must not be empty".into())
    } else if n > max {
        Some(format!("is {n} characters long; at most {max}"))
    } else {
        None
    }
}

/// A string that is not blank and not too long.
fn text(obj: &Map<String, Value>, field: &str, max: usize, problems: &mut Vec<String>) -> String {
    match obj.get(field) {
        None => problems.push(format!("{field} is missing (a non-empty string)")),
        Some(Value::String(s)) => match text_problem(s, max) {
            Some(p) => problems.push(format!("{field} {p}")),
            None => return s.clone(),
        },
        Some(other) => problems.push(format!("{field} must be a string, not {}", kind(other))),
    }
    String::new()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "price_fen": 1_234_500_000_i64,
            "duration_days": 365,
            "quality": "合格",
            "project_manager": "张三",
            "declarations": ["本投标文件在投标有效期内有效", "无围标串标行为"]
        })
    }

    fn check(v: &Value) -> Result<BidForm, FormError> {
        validate_form(v.to_string().as_bytes())
    }

    fn problems(v: &Value) -> Vec<String> {
        match check(v) {
            Err(FormError::Invalid(p)) => p,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_form_passes() {
        let form = check(&good()).unwrap();
        assert_eq!(form.price_fen, 1_234_500_000);
        assert_eq!(form.duration_days, 365);
        assert_eq!(form.quality, "合格");
        assert_eq!(form.project_manager, "张三");
        assert_eq!(form.declarations.len(), 2);
        assert!(form.unknown_fields.is_empty());
    }

    #[test]
    fn empty_declarations_are_allowed_and_extra_fields_reported() {
        let mut v = good();
        v["declarations"] = json!([]);
        v["currency"] = json!("CNY");
        let form = check(&v).unwrap();
        assert!(form.declarations.is_empty());
        assert_eq!(form.unknown_fields, vec!["currency".to_string()]);
    }

    #[test]
    fn prices_must_be_positive_integers() {
        for (bad, needle) in [
            (json!(0), "greater than 0"),
            (json!(-5), "greater than 0"),
            (json!(12.5), "whole number"),
            (json!(1e3), "whole number"),
            (json!("1000"), "not a string"),
            (json!(null), "not null"),
            (json!(u64::MAX), "too large"),
            (json!(MAX_PRICE_FEN + 1), "too large"),
        ] {
            let mut v = good();
            v["price_fen"] = bad.clone();
            let p = problems(&v);
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert!(
                p[0].starts_with("price_fen") && p[0].contains(needle),
                "{bad}: {p:?}"
            );
        }
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let v = json!({
            "price_fen": "100",
            "duration_days": 0,
            "quality": "",
            "declarations": ["ok", 3]
        });
        let p = problems(&v);
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p.iter().any(|s| s.starts_with("price_fen")));
        assert!(p.iter().any(|s| s.starts_with("duration_days")));
        assert!(p.iter().any(|s| s.starts_with("quality must not be empty")));
        assert!(
            p.iter()
                .any(|s| s.starts_with("project_manager is missing"))
        );
        assert!(p.iter().any(|s| s.starts_with("declarations[1]")));
        let msg = FormError::Invalid(p).to_string();
        assert!(msg.contains("\n  - "), "{msg}");
    }

    #[test]
    fn limits_match_the_opening() {
        let mut v = good();
        v["price_fen"] = json!(MAX_PRICE_FEN);
        v["duration_days"] = json!(MAX_DURATION_DAYS);
        v["quality"] = json!("优".repeat(200));
        assert!(check(&v).is_ok());
        v["duration_days"] = json!(MAX_DURATION_DAYS + 1);
        v["project_manager"] = json!("张".repeat(101));
        v["declarations"] = json!(vec!["ok"; 51]);
        let p = problems(&v);
        assert_eq!(p.len(), 3, "{p:?}");
        let mut v = good();
        v["declarations"] = json!(["  ", "x".repeat(501)]);
        let p = problems(&v);
        assert_eq!(
            p,
            vec![
                "declarations[0] must not be empty".to_string(),
                "declarations[1] is 501 characters long; at most 500".to_string()
            ]
        );
    }

    #[test]
    fn what_passes_here_passes_the_opening() {
        let mut extra = good();
        extra["note"] = json!("x");
        let mut minimal = good();
        minimal["declarations"] = json!([]);
        minimal["price_fen"] = json!(1);
        for v in [good(), extra, minimal] {
            let bytes = v.to_string();
            assert!(validate_form(bytes.as_bytes()).is_ok());
            assert!(
                crate::bid::model::BidForm::parse(bytes.as_bytes()).is_ok(),
                "{v}"
            );
        }
    }

    #[test]
    fn declarations_must_be_an_array() {
        let mut v = good();
        v["declarations"] = json!("none");
        assert_eq!(
            problems(&v),
            vec!["declarations must be an array of strings, not a string".to_string()]
        );
    }

    #[test]
    fn non_objects_and_non_json_are_refused() {
        assert!(matches!(
            validate_form(b"{\"price_fen\": 1"),
            Err(FormError::NotJson(_))
        ));
        assert!(matches!(validate_form(b""), Err(FormError::NotJson(_))));
        assert!(matches!(
            validate_form(&[0xff, 0xfe, 0x00]),
            Err(FormError::NotJson(_))
        ));
        assert_eq!(validate_form(b"[1,2]"), Err(FormError::NotObject));
        assert_eq!(validate_form(b"42"), Err(FormError::NotObject));
    }

    #[test]
    fn oversized_forms_are_refused_before_parsing() {
        let big = vec![b' '; MAX_FORM_LEN + 1];
        assert_eq!(
            validate_form(&big),
            Err(FormError::TooLarge(MAX_FORM_LEN + 1))
        );
    }
}
