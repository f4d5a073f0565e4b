//! Chinese and English for pages, documents and error messages: Chinese by default, switched with `?lang=en` or the
//! `lang` cookie. Strings live in `web/i18n/{zh,en}.toml`, embedded at build time.

use std::collections::HashMap;
use std::sync::LazyLock;

/// A page language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// 中文 (default).
    #[default]
    Zh,
    /// English.
    En,
}

static ZH: LazyLock<HashMap<String, String>> =
    LazyLock::new(|| toml::from_str(include_str!("../web/i18n/zh.toml")).unwrap_or_default());
static EN: LazyLock<HashMap<String, String>> =
    LazyLock::new(|| toml::from_str(include_str!("../web/i18n/en.toml")).unwrap_or_default());

impl Lang {
    /// Parses `zh` / `en`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The code used in `<html lang>` and links.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The short code used in `?lang=`.
    pub fn short(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch link.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// Whether this is English (templates branch on it for long texts).
    pub fn is_en(self) -> bool {
        self == Lang::En
    }

    /// The translation of `key`, or the key itself when missing (visible, never a panic).
    pub fn t(self, key: &str) -> &str {
        let map = match self {
            Lang::Zh => &*ZH,
            Lang::En => &*EN,
        };
        map.get(key).map(String::as_str).unwrap_or(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dictionaries_have_the_same_keys() {
        let mut zh: Vec<_> = ZH.keys().collect();
        let mut en: Vec<_> = EN.keys().collect();
        zh.sort();
        en.sort();
        assert!(!zh.is_empty());
        assert_eq!(zh, en);
    }
}
