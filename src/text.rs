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

#[cfg(test)]
mod tests {
    use super::*;

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
