//! Loading rulebooks: parsing and validating one from TOML, the built-in ones, a directory
//! that overrides them, and the lookup by category and procedure or by id.

use std::fs;
use std::path::Path;

use super::*;

impl Rulebook {
    /// Parses and validates a rulebook from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, RulebookError> {
        Self::parse_named(text, "<string>")
    }

    fn parse_named(text: &str, name: &str) -> Result<Self, RulebookError> {
        let book: Rulebook = toml::from_str(text).map_err(|source| RulebookError::Parse {
            name: name.to_owned(),
            source,
        })?;
        book.validate().map_err(|reason| RulebookError::Invalid {
            name: name.to_owned(),
            reason,
        })?;
        Ok(book)
    }

    /// Checks ranges and consistency that TOML types cannot express.
    fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("id", &self.id),
            ("category", &self.category),
            ("procedure", &self.procedure),
        ] {
            let ok = !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(format!(
                    "{field} must be 1–64 characters of a–z, 0–9 and '-', got {value:?}"
                ));
            }
        }
        if self.name_zh.trim().is_empty() || self.name_en.trim().is_empty() {
            return Err("name_zh and name_en must not be empty".to_owned());
        }
        let r = &self.rules;
        let mut days: Vec<(&str, &DayRule)> = vec![
            (
                "min_days_documents_to_deadline",
                &r.min_days_documents_to_deadline,
            ),
            (
                "amendment_min_days_before_deadline",
                &r.amendment_min_days_before_deadline,
            ),
            (
                "min_days_documents_available",
                &r.min_days_documents_available,
            ),
            ("objection_answer_days", &r.objection_answer_days),
            (
                "result_objection_answer_days",
                &r.result_objection_answer_days,
            ),
            ("contract_within_days", &r.contract_within_days),
        ];
        for (name, rule) in [
            (
                "objection_cutoff_days_before_deadline",
                &r.objection_cutoff_days_before_deadline,
            ),
            (
                "candidate_publicity_within_days",
                &r.candidate_publicity_within_days,
            ),
            (
                "candidate_publicity_min_days",
                &r.candidate_publicity_min_days,
            ),
        ] {
            if let Some(rule) = rule {
                days.push((name, rule));
            }
        }
        for (name, rule) in days {
            if rule.value > MAX_RULE_DAYS {
                return Err(format!(
                    "{name} = {} is more than {MAX_RULE_DAYS} days",
                    rule.value
                ));
            }
            if rule.article.trim().is_empty() {
                return Err(format!("{name} has no article"));
            }
        }
        if r.candidate_publicity_within_days.is_some() != r.candidate_publicity_min_days.is_some() {
            return Err(
                "candidate_publicity_within_days and candidate_publicity_min_days go together"
                    .to_owned(),
            );
        }
        for (name, rule) in [
            ("min_valid_bids", &r.min_valid_bids),
            ("committee_min_members", &r.committee_min_members),
        ] {
            if rule.value == 0 || rule.value > 1000 {
                return Err(format!("{name} must be 1–1000, got {}", rule.value));
            }
        }
        if r.bid_security_max_bp.value > 10_000 {
            return Err(format!(
                "bid_security_max_bp = {} is more than 100%",
                r.bid_security_max_bp.value
            ));
        }
        let f = &r.committee_experts_min_fraction;
        if f.denominator == 0 || f.numerator > f.denominator {
            return Err(format!(
                "committee_experts_min_fraction {}/{} is not a fraction between 0 and 1",
                f.numerator, f.denominator
            ));
        }
        let q = &r.custodian_quorum;
        // Shamir over GF(256) issues at most 255 shares.
        if q.k == 0 || q.k > q.n || q.n > 255 {
            return Err(format!(
                "custodian_quorum k = {}, n = {} needs 1 ≤ k ≤ n ≤ 255",
                q.k, q.n
            ));
        }
        for (name, article) in [
            ("min_valid_bids", &r.min_valid_bids.article),
            ("committee_min_members", &r.committee_min_members.article),
            ("committee_odd", &r.committee_odd.article),
            ("committee_experts_min_fraction", &f.article),
            ("bid_security_max_bp", &r.bid_security_max_bp.article),
            (
                "ceiling_may_exceed_estimate",
                &r.ceiling_may_exceed_estimate.article,
            ),
            ("custodian_quorum", &q.article),
        ] {
            if article.trim().is_empty() {
                return Err(format!("{name} has no article"));
            }
        }
        Ok(())
    }
}

/// The built-in rulebooks, as (file name, TOML text).
pub(super) const BUILTIN: [(&str, &str); 2] = [
    (
        "rulebooks/construction-open.toml",
        include_str!("../../../rulebooks/construction-open.toml"),
    ),
    (
        "rulebooks/procurement-open.toml",
        include_str!("../../../rulebooks/procurement-open.toml"),
    ),
];

/// All rulebooks known to the platform, looked up by category and procedure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rulebooks {
    books: Vec<Rulebook>,
}

impl Rulebooks {
    /// The rulebooks shipped with the platform (construction and procurement, open procedure).
    pub fn builtin() -> Result<Self, RulebookError> {
        let mut books = Self::default();
        for (name, text) in BUILTIN {
            books.insert(Rulebook::parse_named(text, name)?);
        }
        Ok(books)
    }

    /// The built-in rulebooks, overridden and extended by every `*.toml` file in `dir`.
    ///
    /// A file replaces the built-in rulebook with the same category and procedure. Files are
    /// read in name order; two files for the same category and procedure, or two rulebooks
    /// with the same id, are an error naming both.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, RulebookError> {
        let dir = dir.as_ref();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RulebookError::Io { path, source }
        };
        let mut paths = Vec::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();

        let mut books = Self::builtin()?;
        let mut sources: Vec<(String, String, String)> = BUILTIN
            .iter()
            .zip(&books.books)
            .map(|((name, _), b)| (b.id.clone(), b.key(), (*name).to_owned()))
            .collect();
        let mut from_dir: Vec<(String, String)> = Vec::new();
        for path in paths {
            let len = fs::metadata(&path).map_err(io(&path))?.len();
            if len > MAX_RULEBOOK_BYTES {
                return Err(RulebookError::TooLarge { path, len });
            }
            let text = fs::read_to_string(&path).map_err(io(&path))?;
            let name = path.display().to_string();
            let book = Rulebook::parse_named(&text, &name)?;
            let key = book.key();
            if let Some((_, first)) = from_dir.iter().find(|(k, _)| *k == key) {
                return Err(RulebookError::Duplicate {
                    what: key,
                    first: first.clone(),
                    second: name,
                });
            }
            from_dir.push((key.clone(), name.clone()));
            // An override takes the place of the built-in entry for the same key.
            sources.retain(|(_, k, _)| *k != key);
            if let Some((_, _, first)) = sources.iter().find(|(id, _, _)| *id == book.id) {
                return Err(RulebookError::Duplicate {
                    what: format!("id {}", book.id),
                    first: first.clone(),
                    second: name,
                });
            }
            sources.push((book.id.clone(), key, name));
            books.insert(book);
        }
        Ok(books)
    }

    /// Adds a rulebook, returning the one it replaces for the same category and procedure.
    pub fn insert(&mut self, book: Rulebook) -> Option<Rulebook> {
        match self
            .books
            .iter_mut()
            .find(|b| b.category == book.category && b.procedure == book.procedure)
        {
            Some(slot) => Some(std::mem::replace(slot, book)),
            None => {
                self.books.push(book);
                None
            }
        }
    }

    /// The rulebook for a category and procedure, e.g. `get("construction", "open")`.
    pub fn get(&self, category: &str, procedure: &str) -> Option<&Rulebook> {
        self.books
            .iter()
            .find(|b| b.category == category && b.procedure == procedure)
    }

    /// The rulebook with the given id.
    pub fn by_id(&self, id: &str) -> Option<&Rulebook> {
        self.books.iter().find(|b| b.id == id)
    }

    /// Every rulebook, in load order.
    pub fn iter(&self) -> impl Iterator<Item = &Rulebook> {
        self.books.iter()
    }
}

impl Rulebook {
    /// "category/procedure", the lookup key.
    fn key(&self) -> String {
        format!("{}/{}", self.category, self.procedure)
    }
}
