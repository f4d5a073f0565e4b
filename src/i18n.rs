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

    /// The label of a stored value (a role, a status, a category …) in this language: the
    /// dictionary's `group.value`, or the value itself when the dictionary has none.
    pub fn label(self, group: &str, value: &str) -> String {
        let map = match self {
            Lang::Zh => &*ZH,
            Lang::En => &*EN,
        };
        map.get(&format!("{group}.{value}"))
            .cloned()
            .unwrap_or_else(|| value.to_string())
    }
}

/// Whether a text holds a CJK ideograph (which side of a bilingual message is Chinese).
fn has_cjk(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c, '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}'))
}

/// One language's half of a bilingual message ("English / 中文" or "中文 / English"), or
/// the whole message when it cannot be split cleanly (for example when a quoted value puts
/// Chinese into the English half).
pub fn pick(message: &str, lang: Lang) -> &str {
    let splits: Vec<usize> = message.match_indices(" / ").map(|(i, _)| i).collect();
    let halves = |i: usize| (&message[..i], &message[i + 3..]);
    // English first: the English half is the longest prefix without Chinese.
    let en_first = splits
        .iter()
        .rev()
        .map(|&i| halves(i))
        .find(|(l, r)| !has_cjk(l) && has_cjk(r));
    // Chinese first: the Chinese half is the shortest prefix the English half does not need.
    let zh_first = splits
        .iter()
        .map(|&i| halves(i))
        .find(|(l, r)| has_cjk(l) && !has_cjk(r))
        .map(|(l, r)| (r, l));
    match (en_first.or(zh_first), lang) {
        (Some((en, _)), Lang::En) => en.trim(),
        (Some((_, zh)), Lang::Zh) => zh.trim(),
        (None, _) => message,
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

    #[test]
    fn bilingual_messages_split_by_language() {
        let m = "the bid deadline has passed / 投标截止时间已过";
        assert_eq!(pick(m, Lang::En), "the bid deadline has passed");
        assert_eq!(pick(m, Lang::Zh), "投标截止时间已过");
        let m = "中标候选人公示至 2025-01-01 / Candidates published until 2025-01-01";
        assert_eq!(pick(m, Lang::En), "Candidates published until 2025-01-01");
        assert_eq!(pick(m, Lang::Zh), "中标候选人公示至 2025-01-01");
        // A slash inside the English half stays in it.
        let m = "use sqlite:// or postgres:// / 请使用 SQLite 或 PostgreSQL";
        assert_eq!(pick(m, Lang::En), "use sqlite:// or postgres://");
        let m = "a / b / 中文";
        assert_eq!(pick(m, Lang::En), "a / b");
        // Not splittable: the whole message.
        assert_eq!(pick("internal error", Lang::Zh), "internal error");
        let m = "title \"招标\" is too long / 标题过长";
        assert_eq!(pick(m, Lang::En), m);
    }

    /// Every value a page shows through `label` has a translation in both languages.
    #[test]
    fn stored_values_have_labels() {
        let groups: &[(&str, &[&str])] = &[
            (
                "org_kind",
                &[
                    "trading_centre",
                    "tenderee",
                    "agent",
                    "bidder",
                    "expert_employer",
                    "regulator",
                ],
            ),
            (
                "role",
                &[
                    "operator",
                    "agent",
                    "custodian",
                    "bidder",
                    "expert",
                    "regulator",
                ],
            ),
            (
                "status",
                &[
                    "pending",
                    "active",
                    "disabled",
                    "rejected",
                    "suspended",
                    "barred",
                ],
            ),
            (
                "category",
                &["construction", "water", "transport", "procurement"],
            ),
            ("procedure", &["open", "invited"]),
            ("draw_kind", &["initial", "replacement"]),
            ("draw_state", &["committed", "drawn", "failed"]),
            ("member_role", &["member", "alternate"]),
            (
                "member_state",
                &["notified", "alternate", "confirmed", "declined", "expired"],
            ),
        ];
        for (group, values) in groups {
            for v in *values {
                for lang in [Lang::Zh, Lang::En] {
                    assert_ne!(lang.label(group, v), *v, "{group}.{v} in {lang:?}");
                }
            }
        }
        assert_eq!(Lang::En.label("role", "no-such-role"), "no-such-role");
    }
}
