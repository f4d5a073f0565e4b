//! The specialty hierarchy (评标专家专业分类): a coded tree shipped as data
//! (`src/expert/specialties.toml`, embedded with `include_str!`).
//!
//! A code is one capital letter for a top-level category followed by two digits per level
//! (`A` → `A01` → `A0101`); a code's parent is the code minus its last two digits. Because
//! every level has a fixed width, "`code` lies under `ancestor`" is exactly "`code` starts
//! with `ancestor`" ([`code_is_within`]), which the draw uses on its hot path and which does
//! not depend on the version of the tree — a draw replayed years later matches the same
//! experts even if specialties were added since.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The specialty tree shipped with the platform.
const BUILTIN_TOML: &str = include_str!("specialties.toml");

/// One node of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Specialty {
    /// The code, e.g. `A01`.
    pub code: String,
    /// Chinese name, e.g. 房屋建筑.
    pub zh: String,
    /// English name, e.g. Building works.
    pub en: String,
    /// Stable ASCII names that forms and imports may use instead of the code.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Why a specialty file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecialtyError {
    /// The TOML does not parse or has unknown fields.
    #[error("specialty file does not parse: {0}")]
    Parse(String),
    /// A code is not a capital letter followed by pairs of digits.
    #[error("specialty code {0:?} is not a capital letter followed by pairs of digits")]
    BadCode(String),
    /// The same code, alias or name is listed twice.
    #[error("specialty {0:?} is listed twice")]
    Duplicate(String),
    /// A code's parent is not listed.
    #[error("specialty {code:?} has no parent {parent:?} in the file")]
    MissingParent {
        /// The orphan.
        code: String,
        /// The parent it needs.
        parent: String,
    },
    /// A name is empty.
    #[error("specialty {0:?} has an empty name")]
    EmptyName(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    specialty: Vec<Specialty>,
}

/// The loaded tree: nodes sorted by code, with an index by code, alias and names.
#[derive(Clone, Debug)]
pub struct Specialties {
    nodes: Vec<Specialty>,
    by_code: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

/// Whether `code` is syntactically a specialty code: `[A-Z]([0-9]{2})*`.
pub fn is_valid_code(code: &str) -> bool {
    let b = code.as_bytes();
    match b.split_first() {
        Some((first, rest)) => {
            first.is_ascii_uppercase()
                && rest.len() % 2 == 0
                && rest.iter().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// The parent of a code (`A0101` → `A01`, `A01` → `A`, `A` → none).
pub fn parent_code(code: &str) -> Option<&str> {
    if code.len() >= 3 && is_valid_code(code) {
        code.get(..code.len() - 2)
    } else {
        None
    }
}

/// Whether `code` is `ancestor` or lies below it, by the code rule alone (no lookup): both
/// must be well-formed and `ancestor` a prefix of `code`. This is the rule the draw uses.
pub fn code_is_within(code: &str, ancestor: &str) -> bool {
    code.starts_with(ancestor) && is_valid_code(code) && is_valid_code(ancestor)
}

impl Specialties {
    /// The tree shipped with the platform, parsed once.
    pub fn builtin() -> &'static Specialties {
        static BUILTIN: OnceLock<Specialties> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The embedded file is checked by the test `builtin_tree_loads`; an empty tree
            // (every quota refused as unknown) is the safe fallback, never a panic.
            Specialties::from_toml(BUILTIN_TOML).unwrap_or_else(|_| Specialties {
                nodes: Vec::new(),
                by_code: HashMap::new(),
                by_name: HashMap::new(),
            })
        })
    }

    /// Parses and checks a specialty file: well-formed unique codes, every parent listed,
    /// non-empty names, and no alias or name that could resolve to two nodes.
    pub fn from_toml(text: &str) -> Result<Self, SpecialtyError> {
        let file: File = toml::from_str(text).map_err(|e| SpecialtyError::Parse(e.to_string()))?;
        let mut nodes = file.specialty;
        nodes.sort_by(|a, b| a.code.cmp(&b.code));
        let mut by_code = HashMap::new();
        for (i, s) in nodes.iter().enumerate() {
            if !is_valid_code(&s.code) {
                return Err(SpecialtyError::BadCode(s.code.clone()));
            }
            if s.zh.trim().is_empty() || s.en.trim().is_empty() {
                return Err(SpecialtyError::EmptyName(s.code.clone()));
            }
            if by_code.insert(s.code.clone(), i).is_some() {
                return Err(SpecialtyError::Duplicate(s.code.clone()));
            }
        }
        for s in &nodes {
            if let Some(parent) = parent_code(&s.code)
                && !by_code.contains_key(parent)
            {
                return Err(SpecialtyError::MissingParent {
                    code: s.code.clone(),
                    parent: parent.to_owned(),
                });
            }
        }
        let mut by_name = HashMap::new();
        for (i, s) in nodes.iter().enumerate() {
            for name in s.aliases.iter().chain([&s.zh, &s.en]) {
                let key = name.trim().to_lowercase();
                if by_code.contains_key(name.trim()) || by_name.insert(key, i).is_some() {
                    return Err(SpecialtyError::Duplicate(name.clone()));
                }
            }
        }
        Ok(Self {
            nodes,
            by_code,
            by_name,
        })
    }

    /// The node with exactly this code.
    pub fn get(&self, code: &str) -> Option<&Specialty> {
        self.by_code.get(code).and_then(|&i| self.nodes.get(i))
    }

    /// The node named by a code, an alias, or its Chinese or English name (names and
    /// aliases compared case-insensitively, surrounding spaces ignored).
    pub fn resolve(&self, text: &str) -> Option<&Specialty> {
        let t = text.trim();
        self.get(t).or_else(|| {
            self.by_name
                .get(&t.to_lowercase())
                .and_then(|&i| self.nodes.get(i))
        })
    }

    /// Whether `code` is `ancestor` or one of its descendants; both must be in the tree.
    pub fn is_within(&self, code: &str, ancestor: &str) -> bool {
        self.by_code.contains_key(code)
            && self.by_code.contains_key(ancestor)
            && code_is_within(code, ancestor)
    }

    /// The parent node, if any.
    pub fn parent(&self, code: &str) -> Option<&Specialty> {
        parent_code(code).and_then(|p| self.get(p))
    }

    /// The direct children of `code`, in code order.
    pub fn children<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Specialty> + 'a {
        self.nodes
            .iter()
            .filter(move |s| parent_code(&s.code) == Some(code))
    }

    /// Every node in code order (a parent comes before its children).
    pub fn iter(&self) -> impl Iterator<Item = &Specialty> {
        self.nodes.iter()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tree_loads() {
        let parsed = Specialties::from_toml(BUILTIN_TOML).unwrap();
        assert!(parsed.len() >= 20);
        let t = Specialties::builtin();
        assert_eq!(t.len(), parsed.len());
        assert_eq!(t.get("A01").unwrap().zh, "房屋建筑");
        assert_eq!(t.get("A05").unwrap().en, "Cost engineering");
        assert_eq!(t.get("B02").unwrap().zh, "服务");
    }

    #[test]
    fn codes_and_parents() {
        assert!(is_valid_code("A"));
        assert!(is_valid_code("A0101"));
        assert!(!is_valid_code(""));
        assert!(!is_valid_code("a01"));
        assert!(!is_valid_code("A1"));
        assert!(!is_valid_code("A01x"));
        assert_eq!(parent_code("A0101"), Some("A01"));
        assert_eq!(parent_code("A01"), Some("A"));
        assert_eq!(parent_code("A"), None);
        let t = Specialties::builtin();
        assert_eq!(t.parent("A0101").unwrap().code, "A01");
        let kids: Vec<_> = t.children("A").map(|s| s.code.as_str()).collect();
        assert!(kids.starts_with(&["A01", "A02", "A03", "A04", "A05"]));
    }

    #[test]
    fn within() {
        let t = Specialties::builtin();
        assert!(t.is_within("A01", "A01"));
        assert!(t.is_within("A0101", "A01"));
        assert!(t.is_within("A0101", "A"));
        assert!(!t.is_within("A01", "A0101"));
        assert!(!t.is_within("A02", "A01"));
        assert!(!t.is_within("B01", "A"));
        assert!(!t.is_within("A0199", "A01"), "unknown code");
        assert!(
            code_is_within("A0199", "A01"),
            "the code rule needs no tree"
        );
        assert!(!code_is_within("A01", ""));
    }

    #[test]
    fn resolve_by_alias_and_name() {
        let t = Specialties::builtin();
        assert_eq!(t.resolve("construction.building").unwrap().code, "A01");
        assert_eq!(t.resolve(" 工程造价 ").unwrap().code, "A05");
        assert_eq!(t.resolve("municipal works").unwrap().code, "A02");
        assert_eq!(t.resolve("A03").unwrap().zh, "公路工程");
        assert!(t.resolve("nothing").is_none());
    }

    #[test]
    fn bad_files_are_refused() {
        let one = |code: &str, zh: &str| {
            format!("[[specialty]]\ncode = \"{code}\"\nzh = \"{zh}\"\nen = \"x{zh}\"\n")
        };
        assert!(matches!(
            Specialties::from_toml(&one("A1", "a")),
            Err(SpecialtyError::BadCode(_))
        ));
        assert!(matches!(
            Specialties::from_toml(&one("A01", "a")),
            Err(SpecialtyError::MissingParent { .. })
        ));
        let dup = one("A", "a") + &one("A", "b");
        assert!(matches!(
            Specialties::from_toml(&dup),
            Err(SpecialtyError::Duplicate(_))
        ));
        let same_name = one("A", "a") + &one("B", "a");
        assert!(matches!(
            Specialties::from_toml(&same_name),
            Err(SpecialtyError::Duplicate(_))
        ));
        assert!(matches!(
            Specialties::from_toml(&one("A", " ")),
            Err(SpecialtyError::EmptyName(_))
        ));
        assert!(matches!(
            Specialties::from_toml("nonsense = ["),
            Err(SpecialtyError::Parse(_))
        ));
    }
}
