//! 统一社会信用代码 (unified social credit identifier, GB 32100-2015): parsing and validation.
//!
//! A bidder or agent registers its organisation under this 18-character code, so it is the
//! key that ties a company to its bids, its downloads and its collusion signals. This module
//! owns the one function that decides whether a string is such a code; it does no I/O and
//! never panics, whatever the input.
//!
//! Structure (GB 32100-2015 §4):
//!
//! | position | meaning | rule applied here |
//! | --- | --- | --- |
//! | 1 | registration authority (登记管理部门代码) | one of the assigned codes, see [`RegistrationAuthority`] |
//! | 2 | organisation category (机构类别代码) | one of the categories assigned to that authority |
//! | 3–8 | administrative division of the registering office (登记管理机关行政区划码, GB/T 2260) | six digits |
//! | 9–17 | organisation code (主体标识码, GB 11714) | its own check character (position 17) must be right |
//! | 18 | check character (校验码, GB/T 17710 style, modulus 31) | must be right |
//!
//! Accepted spelling: the caller trims surrounding whitespace; this module additionally
//! accepts lowercase ASCII letters and full-width (全角) digits and letters, which Chinese
//! input methods produce, and stores the code normalised to half-width uppercase. Nothing
//! else is tolerated: no inner spaces, no hyphens.
//!
//! Known limitation: some codes issued during the 2015 pilots (e.g. early Fujian codes with
//! organisation codes starting `M000`) do not satisfy the check character; they are refused
//! like any other wrong code, and the operator must register such an organisation by hand.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of characters in a unified social credit code.
pub const USCC_LEN: usize = 18;

/// The 31 characters a code may use, in the order of their values 0..=30
/// (GB 32100-2015 表1: the letters I, O, S, V and Z are not used).
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A validated unified social credit code, stored as 18 half-width uppercase characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uscc {
    code: String,
}

/// Why a string is not a valid unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// The code does not have exactly 18 characters.
    #[error("a unified social credit code has 18 characters; this one has {len}")]
    Length {
        /// Number of characters found.
        len: usize,
    },
    /// A character outside the 31-character set.
    #[error(
        "character {position} ('{found}') is not allowed: only digits and the capital letters \
         A–Y except I, O, S, V are used"
    )]
    BadCharacter {
        /// 1-based position of the character.
        position: usize,
        /// The character found.
        found: char,
    },
    /// Position 1 is not an assigned registration authority code.
    #[error("character 1 ('{found}') is not a known registration authority code")]
    UnknownAuthority {
        /// The character found.
        found: char,
    },
    /// Position 2 is not a category assigned to the authority in position 1.
    #[error(
        "character 2 ('{found}') is not an organisation category of registration authority \
         '{authority}'"
    )]
    UnknownCategory {
        /// The authority code in position 1.
        authority: char,
        /// The character found in position 2.
        found: char,
    },
    /// Positions 3–8 (administrative division) must be digits.
    #[error(
        "character {position} ('{found}') must be a digit: positions 3–8 are the administrative division code"
    )]
    BadDivision {
        /// 1-based position of the character.
        position: usize,
        /// The character found.
        found: char,
    },
    /// The check character in position 18 does not match the other 17.
    #[error(
        "the check character (position 18) should be '{expected}' but is '{found}'; the code has a typo"
    )]
    BadCheckChar {
        /// The check character computed from positions 1–17.
        expected: char,
        /// The character found in position 18.
        found: char,
    },
    /// The organisation code's own check character (position 17) is wrong.
    #[error(
        "the organisation code's check character (position 17) should be '{expected}' but is \
         '{found}'; the code has a typo"
    )]
    BadOrgCheckChar {
        /// The check character computed from positions 9–16 (GB 11714).
        expected: char,
        /// The character found in position 17.
        found: char,
    },
}

impl crate::error::Coded for UsccError {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::Invalid
    }

    fn code(&self) -> &'static str {
        UsccError::code(self)
    }
}

impl UsccError {
    /// Stable machine-readable code for API bodies and logs.
    pub fn code(&self) -> &'static str {
        match self {
            UsccError::Length { .. } => "USCC_BAD_LENGTH",
            UsccError::BadCharacter { .. } => "USCC_BAD_CHARACTER",
            UsccError::UnknownAuthority { .. } => "USCC_UNKNOWN_AUTHORITY",
            UsccError::UnknownCategory { .. } => "USCC_UNKNOWN_CATEGORY",
            UsccError::BadDivision { .. } => "USCC_BAD_DIVISION",
            UsccError::BadCheckChar { .. } => "USCC_BAD_CHECK_CHAR",
            UsccError::BadOrgCheckChar { .. } => "USCC_BAD_ORG_CHECK_CHAR",
        }
    }

    /// The same reason in Chinese, for the bilingual UI.
    pub fn message_zh(&self) -> String {
        match self {
            UsccError::Length { len } => {
                format!("统一社会信用代码应为18位，当前为{len}位")
            }
            UsccError::BadCharacter { position, found } => format!(
                "第{position}位字符“{found}”无效：统一社会信用代码只使用数字和大写字母（不使用I、O、S、V、Z）"
            ),
            UsccError::UnknownAuthority { found } => {
                format!("第1位“{found}”不是已分配的登记管理部门代码")
            }
            UsccError::UnknownCategory { authority, found } => {
                format!("第2位“{found}”不是登记管理部门“{authority}”的机构类别代码")
            }
            UsccError::BadDivision { position, found } => {
                format!("第{position}位“{found}”应为数字：第3至8位是登记管理机关行政区划码")
            }
            UsccError::BadCheckChar { expected, found } => {
                format!("校验码（第18位）应为“{expected}”，实际为“{found}”，请核对是否输入有误")
            }
            UsccError::BadOrgCheckChar { expected, found } => format!(
                "主体标识码（组织机构代码）的校验码（第17位）应为“{expected}”，实际为“{found}”，请核对是否输入有误"
            ),
        }
    }
}

/// Registration authority (登记管理部门), position 1 of the code.
///
/// GB 32100-2015 itself only gives 1, 5 and 9 as examples and leaves the assignment to the
/// code administration; this table is the published assignment as quoted by several
/// secondary sources (no primary text was available when it was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationAuthority {
    /// 1 机构编制 (establishment administration).
    Establishment,
    /// 2 外交 (foreign affairs).
    ForeignAffairs,
    /// 3 司法行政 (justice administration).
    Justice,
    /// 4 文化 (culture).
    Culture,
    /// 5 民政 (civil affairs).
    CivilAffairs,
    /// 6 旅游 (tourism).
    Tourism,
    /// 7 宗教 (religious affairs).
    Religion,
    /// 8 工会 (trade unions).
    TradeUnion,
    /// 9 工商 (market regulation: companies, sole traders, cooperatives).
    MarketRegulation,
    /// A 中央军委改革和编制办公室 (military establishment).
    Military,
    /// N 农业 (agriculture: rural collective economic organisations).
    Agriculture,
    /// Y 其他 (other).
    Other,
}

impl RegistrationAuthority {
    /// The authority for a position-1 character, if assigned.
    pub fn from_code(c: char) -> Option<Self> {
        Some(match c {
            '1' => Self::Establishment,
            '2' => Self::ForeignAffairs,
            '3' => Self::Justice,
            '4' => Self::Culture,
            '5' => Self::CivilAffairs,
            '6' => Self::Tourism,
            '7' => Self::Religion,
            '8' => Self::TradeUnion,
            '9' => Self::MarketRegulation,
            'A' => Self::Military,
            'N' => Self::Agriculture,
            'Y' => Self::Other,
            _ => return None,
        })
    }

    /// The position-1 character of this authority.
    pub fn code(self) -> char {
        match self {
            Self::Establishment => '1',
            Self::ForeignAffairs => '2',
            Self::Justice => '3',
            Self::Culture => '4',
            Self::CivilAffairs => '5',
            Self::Tourism => '6',
            Self::Religion => '7',
            Self::TradeUnion => '8',
            Self::MarketRegulation => '9',
            Self::Military => 'A',
            Self::Agriculture => 'N',
            Self::Other => 'Y',
        }
    }

    /// Chinese name of the authority.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Establishment => "机构编制",
            Self::ForeignAffairs => "外交",
            Self::Justice => "司法行政",
            Self::Culture => "文化",
            Self::CivilAffairs => "民政",
            Self::Tourism => "旅游",
            Self::Religion => "宗教",
            Self::TradeUnion => "工会",
            Self::MarketRegulation => "工商",
            Self::Military => "中央军委改革和编制办公室",
            Self::Agriculture => "农业",
            Self::Other => "其他",
        }
    }

    /// Chinese name of an organisation category (position 2) under this authority, if assigned.
    pub fn category_zh(self, c: char) -> Option<&'static str> {
        use RegistrationAuthority as R;
        Some(match (self, c) {
            (R::Establishment, '1') => "机关",
            (R::Establishment, '2') => "事业单位",
            (R::Establishment, '3') => "中央编办直接管理机构编制的群众团体",
            (R::ForeignAffairs, '1') => "外国常驻新闻机构",
            (R::Justice, '1') => "律师执业机构",
            (R::Justice, '2') => "公证处",
            (R::Justice, '3') => "基层法律服务所",
            (R::Justice, '4') => "司法鉴定机构",
            (R::Justice, '5') => "仲裁委员会",
            (R::Culture, '1') => "外国在华文化中心",
            (R::CivilAffairs, '1') => "社会团体",
            (R::CivilAffairs, '2') => "民办非企业单位",
            (R::CivilAffairs, '3') => "基金会",
            (R::Tourism, '1') => "外国旅游部门常驻代表机构",
            (R::Tourism, '2') => "港澳台地区旅游部门常驻内地（大陆）代表机构",
            (R::Religion, '1') => "宗教活动场所",
            (R::Religion, '2') => "宗教院校",
            (R::TradeUnion, '1') => "基层工会",
            (R::MarketRegulation, '1') => "企业",
            (R::MarketRegulation, '2') => "个体工商户",
            (R::MarketRegulation, '3') => "农民专业合作社",
            (R::Military, '1') => "军队事业单位",
            (R::Agriculture, '1') => "组级集体经济组织",
            (R::Agriculture, '2') => "村级集体经济组织",
            (R::Agriculture, '3') => "乡镇级集体经济组织",
            // "其他" (Y) is not divided further: its category is always 1.
            (R::Other, '1') => "其他",
            // Every authority except 工商 (9) and 其他 (Y) also has 9 = 其他.
            (R::MarketRegulation | R::Other, '9') => return None,
            (_, '9') => "其他",
            _ => return None,
        })
    }
}

impl Uscc {
    /// The code as 18 half-width uppercase characters.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// Position 1: the registration authority.
    pub fn authority(&self) -> RegistrationAuthority {
        // validate() only builds a Uscc whose first character is an assigned authority,
        // so the fallback is unreachable; it avoids a panic path all the same.
        self.char_at(0)
            .and_then(RegistrationAuthority::from_code)
            .unwrap_or(RegistrationAuthority::Other)
    }

    /// Position 2: the organisation category character.
    pub fn category(&self) -> char {
        self.char_at(1).unwrap_or('1')
    }

    /// Chinese name of the organisation category (e.g. "企业").
    pub fn category_zh(&self) -> &'static str {
        self.authority()
            .category_zh(self.category())
            .unwrap_or("其他")
    }

    /// Positions 3–8: administrative division code of the registering office (GB/T 2260).
    pub fn division_code(&self) -> &str {
        self.code.get(2..8).unwrap_or("")
    }

    /// Positions 9–17: the organisation code (主体标识码, GB 11714), check character included.
    pub fn organisation_code(&self) -> &str {
        self.code.get(8..17).unwrap_or("")
    }

    /// Position 18: the check character.
    pub fn check_char(&self) -> char {
        self.char_at(17).unwrap_or('0')
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.code.as_bytes().get(i).map(|&b| char::from(b))
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

impl FromStr for Uscc {
    type Err = UsccError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        validate(s)
    }
}

impl TryFrom<String> for Uscc {
    type Error = UsccError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        validate(&s)
    }
}

impl From<Uscc> for String {
    fn from(u: Uscc) -> Self {
        u.code
    }
}

/// Validates a unified social credit code and returns it normalised (see the module docs).
///
/// Checks, in order: length, character set, registration authority, organisation category,
/// administrative division digits, the check character (position 18), then the organisation
/// code's own check character (position 17). The first failure is returned.
pub fn validate(code: &str) -> Result<Uscc, UsccError> {
    // Count before collecting, so a hostile multi-megabyte string costs one pass and no
    // allocation beyond 18 characters.
    let len = code.chars().count();
    if len != USCC_LEN {
        return Err(UsccError::Length { len });
    }

    let mut chars = [0u8; USCC_LEN];
    let mut values = [0u32; USCC_LEN];
    for (i, raw) in code.chars().enumerate() {
        let c = normalise(raw);
        let value = char_value(c).ok_or(UsccError::BadCharacter {
            position: i + 1,
            found: raw,
        })?;
        // char_value only accepts ASCII, so the conversion to a byte is lossless.
        let (Some(slot), Some(v)) = (chars.get_mut(i), values.get_mut(i)) else {
            return Err(UsccError::Length { len });
        };
        *slot = c as u8;
        *v = value;
    }

    let [authority_c, category_c, ..] = chars;
    let authority = RegistrationAuthority::from_code(char::from(authority_c)).ok_or(
        UsccError::UnknownAuthority {
            found: char::from(authority_c),
        },
    )?;
    if authority.category_zh(char::from(category_c)).is_none() {
        return Err(UsccError::UnknownCategory {
            authority: authority.code(),
            found: char::from(category_c),
        });
    }

    for (i, &b) in chars.iter().enumerate().take(8).skip(2) {
        if !b.is_ascii_digit() {
            return Err(UsccError::BadDivision {
                position: i + 1,
                found: char::from(b),
            });
        }
    }

    // GB 32100-2015 §4.5: weights W_i = 3^(i-1) mod 31 for positions 1..=17,
    // C18 = 31 − (Σ C_i·W_i mod 31), and a result of 31 is written as 0.
    let mut sum: u32 = 0;
    let mut weight: u32 = 1;
    for v in values.iter().take(17) {
        sum = (sum + v * weight) % 31;
        weight = weight * 3 % 31;
    }
    let expected = charset_char((31 - sum) % 31);
    let found = char::from(chars[USCC_LEN - 1]);
    if expected != found {
        return Err(UsccError::BadCheckChar { expected, found });
    }

    // GB 11714-1997 (organisation code): C9 = 11 − (Σ C_i·W_i mod 11) over the first eight
    // characters with W = 3, 7, 9, 10, 5, 8, 4, 2; 10 is written X and 11 as 0. Letters
    // count A = 10 … Z = 35 (GB 11714 uses the full alphabet, unlike GB 32100).
    const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let org_sum: u32 = chars
        .iter()
        .skip(8)
        .zip(ORG_WEIGHTS)
        .map(|(&b, w)| gb11714_value(b) * w)
        .sum();
    let expected_org = match 11 - org_sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10).unwrap_or('0'),
    };
    let found_org = char::from(chars[16]);
    if expected_org != found_org {
        return Err(UsccError::BadOrgCheckChar {
            expected: expected_org,
            found: found_org,
        });
    }

    Ok(Uscc {
        code: chars.iter().map(|&b| char::from(b)).collect(),
    })
}

/// Full-width (U+FF10–FF19, U+FF21–FF3A, U+FF41–FF5A) to half-width, then ASCII uppercase.
fn normalise(c: char) -> char {
    let c = match c {
        '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
            char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
        }
        _ => c,
    };
    c.to_ascii_uppercase()
}

/// Value 0..=30 of a character in the GB 32100 set, or None if it is not in the set.
fn char_value(c: char) -> Option<u32> {
    let b = u8::try_from(c).ok()?;
    CHARSET
        .iter()
        .position(|&x| x == b)
        .and_then(|p| u32::try_from(p).ok())
}

/// The GB 32100 character of a value 0..=30.
fn charset_char(v: u32) -> char {
    usize::try_from(v)
        .ok()
        .and_then(|i| CHARSET.get(i))
        .map_or('0', |&b| char::from(b))
}

/// GB 11714 value of a character: digits 0–9, letters A = 10 … Z = 35.
fn gb11714_value(b: u8) -> u32 {
    match b {
        b'0'..=b'9' => u32::from(b - b'0'),
        b'A'..=b'Z' => u32::from(b - b'A') + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Real codes published online, collected in python-stdnum's test suite
    /// (tests/test_cn_uscc.doctest); they cover companies (91), sole traders (92), a public
    /// institution (12), organisation codes with letters, and check characters X and 0.
    const REAL: &[&str] = &[
        "121200004013590816",
        "91110000600037341L",
        "91110000710926094P",
        "91120224064012553U",
        "911522010783710635",
        "91152201078371135X",
        "9115220107837757XE",
        "9115220107837941X1",
        "91310000631696382C",
        "91310115MA1K3BTP2B",
        "9131012056010553X5",
        "91340600MA2PBM9HXD",
        "91340603MA2UJXXCXF",
        "9144030071526726XG",
        "91620105L015101280",
        "91620105MA71T4YW8Q",
        "92340602MA2PBMEM24",
        "92340621MA2PBN0KXX",
        "92340621MA2UK3PJXE",
    ];

    #[test]
    fn real_codes_pass() {
        for code in REAL {
            let u = validate(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(u.as_str(), *code);
        }
    }

    #[test]
    fn parts_are_exposed() {
        let u = validate("91110000600037341L").expect("valid");
        assert_eq!(u.authority(), RegistrationAuthority::MarketRegulation);
        assert_eq!(u.category(), '1');
        assert_eq!(u.category_zh(), "企业");
        assert_eq!(u.division_code(), "110000");
        assert_eq!(u.organisation_code(), "600037341");
        assert_eq!(u.check_char(), 'L');
        assert_eq!(u.to_string(), "91110000600037341L");
        let u = validate("121200004013590816").expect("valid");
        assert_eq!(u.authority().name_zh(), "机构编制");
        assert_eq!(u.category_zh(), "事业单位");
    }

    #[test]
    fn lowercase_and_full_width_are_normalised() {
        let u = validate("91310115ma1k3btp2b").expect("lowercase accepted");
        assert_eq!(u.as_str(), "91310115MA1K3BTP2B");
        // Full-width as typed with a Chinese input method, built from the ASCII form.
        let full_width: String = "91110000600037341l"
            .chars()
            .map(|c| char::from_u32(u32::from(c) + 0xFEE0).expect("full-width exists"))
            .collect();
        assert_eq!(full_width.chars().count(), USCC_LEN);
        let u = validate(&full_width).expect("full-width accepted");
        assert_eq!(u.as_str(), "91110000600037341L");
    }

    #[test]
    fn wrong_length() {
        assert_eq!(validate(""), Err(UsccError::Length { len: 0 }));
        assert_eq!(validate("12345"), Err(UsccError::Length { len: 5 }));
        assert_eq!(
            validate("91110000600037341L0"),
            Err(UsccError::Length { len: 19 })
        );
        // The caller trims; an untrimmed code is refused, not silently fixed.
        assert_eq!(
            validate(" 91110000600037341L").map_err(|e| e.code()),
            Err("USCC_BAD_LENGTH")
        );
        assert_eq!(
            validate("12345").map_err(|e| e.code()),
            Err("USCC_BAD_LENGTH")
        );
    }

    #[test]
    fn bad_characters_name_their_position() {
        // I, O, S, V, Z are excluded from the set.
        let e = validate("9111000060003IOZSV").expect_err("excluded letters");
        assert_eq!(
            e,
            UsccError::BadCharacter {
                position: 14,
                found: 'I'
            }
        );
        assert_eq!(e.code(), "USCC_BAD_CHARACTER");
        assert!(e.to_string().contains("character 14"));
        assert!(e.message_zh().contains("第14位"));
        let e = validate("91110000-00037341L").expect_err("hyphen");
        assert_eq!(
            e,
            UsccError::BadCharacter {
                position: 9,
                found: '-'
            }
        );
        let e = validate("9111000060003734é1").expect_err("non-ASCII");
        assert_eq!(
            e,
            UsccError::BadCharacter {
                position: 17,
                found: 'é'
            }
        );
    }

    #[test]
    fn unknown_authority_and_category() {
        // python-stdnum's negative example: A (military) with category 1 is a valid prefix,
        // so this one is caught by the check character instead.
        assert_eq!(
            validate("A1110000600037341L").map_err(|e| e.code()),
            Err("USCC_BAD_CHECK_CHAR")
        );
        assert_eq!(
            validate("B1110000600037341L"),
            Err(UsccError::UnknownAuthority { found: 'B' })
        );
        assert_eq!(
            validate("0A110000600037341L").map_err(|e| e.code()),
            Err("USCC_UNKNOWN_AUTHORITY")
        );
        // 工商 (9) has categories 1, 2, 3 only.
        assert_eq!(
            validate("94110000600037341L"),
            Err(UsccError::UnknownCategory {
                authority: '9',
                found: '4'
            })
        );
        assert_eq!(
            validate("99110000600037341L").map_err(|e| e.code()),
            Err("USCC_UNKNOWN_CATEGORY")
        );
        // 其他 (Y) only has category 1.
        assert_eq!(
            validate("Y2110000600037341L").map_err(|e| e.code()),
            Err("USCC_UNKNOWN_CATEGORY")
        );
    }

    #[test]
    fn division_must_be_digits() {
        assert_eq!(
            validate("9111A000600037341L"),
            Err(UsccError::BadDivision {
                position: 5,
                found: 'A'
            })
        );
    }

    #[test]
    fn altered_codes_fail_the_check_character() {
        // python-stdnum's negative example: right shape, wrong check character.
        assert_eq!(
            validate("91110000600037341N"),
            Err(UsccError::BadCheckChar {
                expected: 'L',
                found: 'N'
            })
        );
        // A code seen in other projects' format tests, not a real one: its check is wrong.
        assert_eq!(
            validate("91440300MA5DA8QK3X").map_err(|e| e.code()),
            Err("USCC_BAD_CHECK_CHAR")
        );
        // Every single-character substitution in a real code is caught (modulus 31 is prime
        // and every weight is non-zero, so one changed character always changes the sum).
        for code in REAL {
            for pos in 0..USCC_LEN {
                for &b in CHARSET {
                    let mut altered: Vec<u8> = code.bytes().collect();
                    if altered[pos] == b {
                        continue;
                    }
                    altered[pos] = b;
                    let s = String::from_utf8(altered).expect("ascii");
                    assert!(validate(&s).is_err(), "{s} altered from {code} passed");
                }
            }
        }
        // Swapping two adjacent different characters is caught as well.
        let mut swapped: Vec<u8> = "91110000710926094P".bytes().collect();
        swapped.swap(9, 10);
        let s = String::from_utf8(swapped).expect("ascii");
        assert!(validate(&s).is_err());
    }

    #[test]
    fn organisation_code_check_is_enforced() {
        // Build a code whose position-18 check is right but whose GB 11714 check is wrong:
        // change position 17 and recompute position 18.
        let body = "91110000600037342";
        let sum: u32 = body
            .bytes()
            .enumerate()
            .map(|(i, b)| {
                let v = char_value(char::from(b)).expect("in set");
                v * (3u32.pow(u32::try_from(i).expect("small")) % 31)
            })
            .sum();
        let check = charset_char((31 - sum % 31) % 31);
        let code = format!("{body}{check}");
        assert_eq!(
            validate(&code),
            Err(UsccError::BadOrgCheckChar {
                expected: '1',
                found: '2'
            })
        );
        assert_eq!(
            validate(&code).map_err(|e| e.code()),
            Err("USCC_BAD_ORG_CHECK_CHAR")
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let u: Uscc = "91110000600037341L".parse().expect("valid");
        let s: String = u.clone().into();
        assert_eq!(s, "91110000600037341L");
        assert_eq!(Uscc::try_from(s), Ok(u));
        assert!(Uscc::try_from("91110000600037341N".to_owned()).is_err());
    }

    #[test]
    fn every_error_has_a_stable_code_and_two_messages() {
        let errors = [
            UsccError::Length { len: 3 },
            UsccError::BadCharacter {
                position: 1,
                found: 'I',
            },
            UsccError::UnknownAuthority { found: 'B' },
            UsccError::UnknownCategory {
                authority: '9',
                found: '9',
            },
            UsccError::BadDivision {
                position: 3,
                found: 'A',
            },
            UsccError::BadCheckChar {
                expected: 'L',
                found: 'N',
            },
            UsccError::BadOrgCheckChar {
                expected: '1',
                found: '2',
            },
        ];
        for e in errors {
            assert!(e.code().starts_with("USCC_"));
            assert!(!e.to_string().is_empty());
            assert!(!e.message_zh().is_empty());
        }
    }

    proptest! {
        #[test]
        fn random_strings_never_panic(s in ".{0,40}") {
            let _ = validate(&s);
        }

        #[test]
        fn random_charset_strings_never_panic(s in "[0-9A-Z]{18}") {
            if let Ok(u) = validate(&s) {
                prop_assert_eq!(u.as_str(), s.as_str());
            }
        }

        #[test]
        fn valid_codes_round_trip(idx in 0usize..19, lower in any::<bool>()) {
            let code = REAL[idx % REAL.len()];
            let input = if lower { code.to_ascii_lowercase() } else { code.to_owned() };
            let u = validate(&input).expect("real code");
            prop_assert_eq!(u.as_str(), code);
        }
    }
}
