//! Money is integer fen everywhere; this is the one way it is shown as yuan.

/// Formats fen as yuan with two decimals and thousands separators (display only).
pub fn yuan(fen: i64) -> String {
    let neg = fen < 0;
    let abs = fen.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}{}.{:02}", if neg { "-" } else { "" }, grouped, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_formats_fen() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(123456789), "1,234,567.89");
        assert_eq!(yuan(-5), "-0.05");
    }
}
