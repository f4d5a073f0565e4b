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

    /// Parses and validates a rulebook from TOML text, naming `name` (a file) in any error.
    pub fn parse_named(text: &str, name: &str) -> Result<Self, RulebookError> {
        let mut book: Rulebook = toml::from_str(text).map_err(|source| RulebookError::Parse {
            name: name.to_owned(),
            source,
        })?;
        book.validate()
            .map_err(|(key, reason)| RulebookError::Invalid {
                name: name.to_owned(),
                key,
                reason,
            })?;
        book.version = 1;
        book.text = text.to_owned();
        Ok(book)
    }
}

/// The built-in rulebooks, as (file name, TOML text).
pub(super) const BUILTIN: [(&str, &str); 8] = [
    (
        "rulebooks/construction-open.toml",
        include_str!("../../../rulebooks/construction-open.toml"),
    ),
    (
        "rulebooks/construction-invited.toml",
        include_str!("../../../rulebooks/construction-invited.toml"),
    ),
    (
        "rulebooks/water-open.toml",
        include_str!("../../../rulebooks/water-open.toml"),
    ),
    (
        "rulebooks/water-invited.toml",
        include_str!("../../../rulebooks/water-invited.toml"),
    ),
    (
        "rulebooks/transport-open.toml",
        include_str!("../../../rulebooks/transport-open.toml"),
    ),
    (
        "rulebooks/transport-invited.toml",
        include_str!("../../../rulebooks/transport-invited.toml"),
    ),
    (
        "rulebooks/procurement-open.toml",
        include_str!("../../../rulebooks/procurement-open.toml"),
    ),
    (
        "rulebooks/procurement-invited.toml",
        include_str!("../../../rulebooks/procurement-invited.toml"),
    ),
];

/// All rulebooks known to the platform, looked up by category and procedure.
///
/// The files loaded at start are version 1; the operator's replacements (versions 2, 3 …,
/// `rulebook_version`) join them at run time ([`Rulebooks::fresh`]) and are all kept,
/// because a tender is judged by the version it was published under ([`Rulebook::stamp`])
/// however often the rulebook is replaced since.
#[derive(Debug, Default)]
pub struct Rulebooks {
    books: Vec<Rulebook>,
    pub(super) stored: std::sync::RwLock<super::stored::Stored>,
}

impl Clone for Rulebooks {
    fn clone(&self) -> Self {
        Self {
            books: self.books.clone(),
            stored: std::sync::RwLock::new(self.stored_now().clone()),
        }
    }
}

impl PartialEq for Rulebooks {
    fn eq(&self, other: &Self) -> bool {
        self.books == other.books && *self.stored_now() == *other.stored_now()
    }
}

impl Eq for Rulebooks {}

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

    /// The rulebook in force for a category and procedure, e.g. `get("construction",
    /// "open")`: the latest stored version, or the file loaded at start.
    pub fn get(&self, category: &str, procedure: &str) -> Option<&Rulebook> {
        let key = |b: &Rulebook| b.category == category && b.procedure == procedure;
        self.stored_now()
            .latest(&key)
            .or_else(|| self.books.iter().find(|b| key(b)))
    }

    /// The rulebook with the given stamp ([`Rulebook::stamp`]): the id alone names version 1
    /// (the file loaded at start), `id@vN` a version the operator stored.
    pub fn by_id(&self, stamp: &str) -> Option<&Rulebook> {
        match stamp.split_once("@v") {
            Some((id, v)) => {
                let version = v.parse::<u32>().ok()?;
                self.stored_now()
                    .latest(|b| b.id == id && b.version == version)
            }
            None => self.books.iter().find(|b| b.id == stamp),
        }
    }

    /// Every rulebook in force, one per category and procedure, in load order.
    pub fn in_force(&self) -> Vec<&Rulebook> {
        self.books
            .iter()
            .filter_map(|b| self.get(&b.category, &b.procedure))
            .collect()
    }

    /// Every version of the rulebook `id` held, oldest first.
    pub fn versions(&self, id: &str) -> Vec<&Rulebook> {
        let stored: Vec<&'static Rulebook> = self
            .stored_now()
            .all()
            .into_iter()
            .filter(|b| b.id == id)
            .collect();
        let mut all: Vec<&Rulebook> = self.books.iter().filter(|b| b.id == id).collect();
        all.extend(stored);
        all.sort_by_key(|b| b.version);
        all
    }
}

impl Rulebook {
    /// What a tender records as its rulebook: the id for version 1, `id@vN` after that.
    pub fn stamp(&self) -> String {
        if self.version <= 1 {
            self.id.clone()
        } else {
            format!("{}@v{}", self.id, self.version)
        }
    }

    /// "category/procedure", the lookup key.
    pub fn key(&self) -> String {
        format!("{}/{}", self.category, self.procedure)
    }
}
