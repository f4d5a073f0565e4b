//! The one rule for text that comes from outside: which characters a stored text may hold.
//!
//! Tabs and line feeds are allowed only in multi-line texts (descriptions, answers,
//! objections); carriage returns are refused so a stored text has one line-ending form.
//! Every other C0 control, DEL and every C1 control is refused: a NUL breaks the Atom feed
//! and the HTML, and the others have no meaning in a title or a reason. The bidi embedding,
//! override and isolate characters (U+202A–U+202E, U+2066–U+2069) are refused too, because
//! they let a name or a price line read differently from what is stored (spoofing); plain
//! right-to-left text needs none of them.

/// Whether a text may hold several lines (then `\n` and `\t` are allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// A title, a name, a code: no line breaks, no tabs.
    Single,
    /// A description, an answer, a reason: `\n` and `\t` allowed.
    Multi,
}

/// The first character that a stored text may not hold, if any.
pub fn forbidden_char(value: &str, lines: Lines) -> Option<char> {
    value.chars().find(|&c| is_forbidden(c, lines))
}

/// Whether `c` is refused in a text of the given kind.
pub fn is_forbidden(c: char, lines: Lines) -> bool {
    match c {
        '\n' | '\t' => lines == Lines::Single,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => true,
        // char::is_control covers C0, DEL and C1.
        c => c.is_control(),
    }
}

/// A bilingual message naming the field and the refused character by its code point.
pub fn message(field: &str, c: char) -> String {
    format!(
        "{field} must not contain control or bidi-override characters (found U+{:04X}) / {field} 不得包含控制字符或双向覆盖字符（发现 U+{:04X}）",
        c as u32, c as u32
    )
}

/// The stable code of a refusal under this rule (422).
pub const CODE: &str = "TEXT_CONTROL_CHARACTER";

/// A text refused under this rule: which field, and the first refused character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForbiddenChar {
    /// The field as the client named it (e.g. `criteria.name`).
    pub field: String,
    /// The first character refused.
    pub found: char,
}

impl std::fmt::Display for ForbiddenChar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&message(&self.field, self.found))
    }
}

impl std::error::Error for ForbiddenChar {}

/// Checks one field under the rule; `Err` names the field and the character.
pub fn check(field: &str, value: &str, lines: Lines) -> Result<(), ForbiddenChar> {
    match forbidden_char(value, lines) {
        Some(found) => Err(ForbiddenChar {
            field: field.to_string(),
            found,
        }),
        None => Ok(()),
    }
}

/// Checks every item of a list field, naming the item's position (`field[2]`).
pub fn check_all<'a>(
    field: &str,
    values: impl IntoIterator<Item = &'a str>,
    lines: Lines,
) -> Result<(), ForbiddenChar> {
    for (i, v) in values.into_iter().enumerate() {
        check(&format!("{field}[{i}]"), v, lines)?;
    }
    Ok(())
}

/// Whether XML 1.0 (§2.2 `Char`) can carry `c` at all; escaping cannot help the others.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `value` with every character XML 1.0 cannot carry replaced by U+FFFD, for writing text
/// stored before this rule existed (or by other means) into a feed that must stay
/// well-formed. Escaping `<`, `&` … is the template's job.
pub fn xml_safe(value: &str) -> std::borrow::Cow<'_, str> {
    if value.chars().all(is_xml_char) {
        std::borrow::Cow::Borrowed(value)
    } else {
        std::borrow::Cow::Owned(
            value
                .chars()
                .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_field_and_the_character() {
        let e = check("title", "a\u{1B}[31m", Lines::Single).unwrap_err();
        assert_eq!(e.field, "title");
        assert_eq!(e.found, '\u{1B}');
        assert!(e.to_string().contains("title") && e.to_string().contains("U+001B"));
        assert!(check("body", "line\nline", Lines::Multi).is_ok());
        let e = check_all("declarations", ["ok", "bad\0"], Lines::Single).unwrap_err();
        assert_eq!(e.field, "declarations[1]");
    }

    #[test]
    fn xml_safe_replaces_only_what_xml_cannot_carry() {
        assert_eq!(
            xml_safe("a\0b\u{1B}c\u{FFFE}"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}"
        );
        assert!(matches!(
            xml_safe("道路 <&> \t\n é \u{85} \u{202E}"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn refuses_nul_del_c1_and_bidi() {
        for c in [
            '\0', '\u{7}', '\r', '\u{7F}', '\u{85}', '\u{9F}', '\u{202E}', '\u{2066}',
        ] {
            let s = format!("标题{c}x");
            assert_eq!(forbidden_char(&s, Lines::Multi), Some(c), "{:?}", c);
            assert_eq!(forbidden_char(&s, Lines::Single), Some(c), "{:?}", c);
        }
    }

    #[test]
    fn newline_and_tab_only_in_multi_line_texts() {
        assert_eq!(forbidden_char("a\nb\tc", Lines::Multi), None);
        assert_eq!(forbidden_char("a\nb", Lines::Single), Some('\n'));
        assert_eq!(forbidden_char("a\tb", Lines::Single), Some('\t'));
    }

    #[test]
    fn ordinary_text_passes() {
        assert_eq!(
            forbidden_char("道路工程 Road works — 第1标段 ¥", Lines::Single),
            None
        );
        assert_eq!(forbidden_char("עברית العربية", Lines::Single), None);
    }
}
