//! Auction rulebooks: the statutory numbers of one trade category (land use right, state
//! asset, equity), loaded from TOML (`rulebooks/auction/*.toml`, embedded) and validated, so
//! that a missing or contradictory number is refused at start-up with the file, the key and
//! the reason. Periods reuse the tender rulebook's [`DayRule`] (calendar or working days).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tender::rulebook::{
    CountRule, DayRule, FlagRule, MAX_MONEY_FEN, MAX_RULE_DAYS, QuorumRule,
};

/// The numbers of one category, each with its article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionRules {
    /// Announcement before bidding or the listing starts (land: 20 days, 39号令 第10条).
    pub announcement_min_days: DayRule,
    /// Shortest listing period (land: 10 days, 39号令 第20条).
    pub listing_min_days: DayRule,
    /// Whether the listing is the disclosure itself (state assets, equity): it may start
    /// when announced; otherwise it follows the announcement period (land).
    pub listing_is_announcement: FlagRule,
    /// Whether a deposit (竞买保证金) must be set.
    pub deposit_required: FlagRule,
    /// The smallest increment a seller may set (fen).
    pub increment_min_fen: CountRule,
    /// Anti-sniping: a bid in the last N minutes moves the end to N minutes after it.
    pub extend_minutes: CountRule,
    /// Length of the timed auction after a listing when two or more bidders go on.
    pub final_auction_minutes: CountRule,
    /// The key that seals the reserve price (底价): n custodians at least, k of whom open it.
    pub custodian_quorum: QuorumRule,
}

/// One category's rulebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionRulebook {
    /// Identifier (`land`, `state-asset`, `equity`).
    pub id: String,
    /// The category it governs (`land`, `state_asset`, `equity`).
    pub category: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The numbers.
    pub rules: AuctionRules,
}

/// A rulebook that cannot be used: which file, which key, why.
#[derive(Debug, thiserror::Error)]
pub enum AuctionRulebookError {
    /// Not TOML, or a key missing or of the wrong type (the TOML message names it).
    #[error("{file}: {source}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's error, naming the key.
        source: toml::de::Error,
    },
    /// A number out of range or two numbers that contradict each other.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The key at fault.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// The built-in rulebooks, as (file name, TOML text).
const BUILTIN: [(&str, &str); 3] = [
    (
        "rulebooks/auction/land.toml",
        include_str!("../../rulebooks/auction/land.toml"),
    ),
    (
        "rulebooks/auction/state-asset.toml",
        include_str!("../../rulebooks/auction/state-asset.toml"),
    ),
    (
        "rulebooks/auction/equity.toml",
        include_str!("../../rulebooks/auction/equity.toml"),
    ),
];

/// Largest minute count in a rulebook (one day).
const MAX_MINUTES: u32 = 1440;

impl AuctionRulebook {
    /// Parses and validates one rulebook; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, AuctionRulebookError> {
        let book: AuctionRulebook =
            toml::from_str(text).map_err(|source| AuctionRulebookError::Parse {
                file: file.to_string(),
                source,
            })?;
        book.validate()
            .map_err(|(key, reason)| AuctionRulebookError::Invalid {
                file: file.to_string(),
                key,
                reason,
            })?;
        Ok(book)
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        let r = &self.rules;
        if !matches!(self.category.as_str(), "land" | "state_asset" | "equity") {
            return Err((
                "category",
                format!("{:?} is none of land, state_asset, equity", self.category),
            ));
        }
        for (key, rule) in [
            ("announcement_min_days", &r.announcement_min_days),
            ("listing_min_days", &r.listing_min_days),
        ] {
            if rule.value == 0 || rule.value > MAX_RULE_DAYS {
                return Err((
                    key,
                    format!("must be 1–{MAX_RULE_DAYS}, got {}", rule.value),
                ));
            }
            if rule.article.trim().is_empty() {
                return Err((key, "has no article".into()));
            }
        }
        for (key, rule) in [
            ("extend_minutes", &r.extend_minutes),
            ("final_auction_minutes", &r.final_auction_minutes),
        ] {
            if rule.value == 0 || rule.value > MAX_MINUTES {
                return Err((key, format!("must be 1–{MAX_MINUTES}, got {}", rule.value)));
            }
        }
        let q = &r.custodian_quorum;
        // Shamir over GF(256) issues at most 255 shares.
        if q.k == 0 || q.k > q.n || q.n > 255 {
            return Err((
                "custodian_quorum",
                format!("k = {}, n = {} needs 1 ≤ k ≤ n ≤ 255", q.k, q.n),
            ));
        }
        if i64::from(r.increment_min_fen.value) > MAX_MONEY_FEN || r.increment_min_fen.value == 0 {
            return Err(("increment_min_fen", "must be at least 1 fen".into()));
        }
        for (key, article) in [
            (
                "listing_is_announcement",
                &r.listing_is_announcement.article,
            ),
            ("deposit_required", &r.deposit_required.article),
            ("increment_min_fen", &r.increment_min_fen.article),
            ("extend_minutes", &r.extend_minutes.article),
            ("final_auction_minutes", &r.final_auction_minutes.article),
            ("custodian_quorum", &q.article),
        ] {
            if article.trim().is_empty() {
                return Err((key, "has no article".into()));
            }
        }
        // A timed auction shorter than its own extension window would end in the middle of
        // the window that is meant to protect the last bidder.
        if r.extend_minutes.value > r.final_auction_minutes.value {
            return Err((
                "extend_minutes",
                format!(
                    "{} minutes is longer than final_auction_minutes ({})",
                    r.extend_minutes.value, r.final_auction_minutes.value
                ),
            ));
        }
        // A listing that is the disclosure must last the whole disclosure period.
        if r.listing_is_announcement.value
            && (r.listing_min_days.unit != r.announcement_min_days.unit
                || r.listing_min_days.value < r.announcement_min_days.value)
        {
            return Err((
                "listing_min_days",
                "a listing that is the announcement must last at least announcement_min_days, in the same unit".into(),
            ));
        }
        Ok(())
    }

    /// The anti-sniping window in milliseconds.
    pub fn extend_ms(&self) -> i64 {
        i64::from(self.rules.extend_minutes.value) * 60_000
    }

    /// The timed auction after a listing, in milliseconds.
    pub fn final_auction_ms(&self) -> i64 {
        i64::from(self.rules.final_auction_minutes.value) * 60_000
    }
}

/// Every auction rulebook, by category.
#[derive(Debug, Clone)]
pub struct AuctionRulebooks {
    books: Vec<AuctionRulebook>,
}

impl AuctionRulebooks {
    /// The rulebooks shipped with the platform.
    pub fn builtin() -> Result<Self, AuctionRulebookError> {
        let books = BUILTIN
            .iter()
            .map(|(file, text)| AuctionRulebook::parse(text, file))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { books })
    }

    /// The rulebook of a category.
    pub fn get(&self, category: &str) -> Option<&AuctionRulebook> {
        self.books.iter().find(|b| b.category == category)
    }

    /// The rulebook with an id.
    pub fn by_id(&self, id: &str) -> Option<&AuctionRulebook> {
        self.books.iter().find(|b| b.id == id)
    }
}

/// A period that breaks its rule: the key, its article, and a message in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PeriodViolation {
    /// The rulebook key.
    pub rule: &'static str,
    /// The article it comes from.
    pub article: String,
    /// "English / 中文".
    pub message: String,
}

/// The times a trade is published with.
#[derive(Debug, Clone, Copy)]
pub struct Periods {
    /// When the announcement is published (now).
    pub announced_at: DateTime<Utc>,
    /// When bidding or the listing starts.
    pub starts_at: DateTime<Utc>,
    /// When bidding or the listing ends.
    pub ends_at: DateTime<Utc>,
}

impl AuctionRulebook {
    /// Checks the announcement and listing periods of a trade of `kind` (pure: the time is
    /// in `p`). Every broken rule is listed.
    pub fn check_periods(&self, listing: bool, p: &Periods) -> Vec<PeriodViolation> {
        let r = &self.rules;
        let mut out = Vec::new();
        if p.ends_at <= p.starts_at {
            out.push(PeriodViolation {
                rule: "ends_at",
                article: "平台规则".into(),
                message: "the end must come after the start / 结束时间须晚于开始时间".into(),
            });
        }
        let announcement_applies = !(listing && r.listing_is_announcement.value);
        if announcement_applies && !r.announcement_min_days.is_met(p.announced_at, p.starts_at) {
            let rule = &r.announcement_min_days;
            out.push(PeriodViolation {
                rule: "announcement_min_days",
                article: rule.article.clone(),
                message: format!(
                    "the announcement must come at least {} before bidding starts ({}) / 公告须在竞价开始前至少{}发布（{}）",
                    rule.describe_en(),
                    rule.article,
                    rule.describe_zh(),
                    rule.article
                ),
            });
        }
        if listing && !r.listing_min_days.is_met(p.starts_at, p.ends_at) {
            let rule = &r.listing_min_days;
            out.push(PeriodViolation {
                rule: "listing_min_days",
                article: rule.article.clone(),
                message: format!(
                    "the listing period must be at least {} ({}) / 挂牌期不得少于{}（{}）",
                    rule.describe_en(),
                    rule.article,
                    rule.describe_zh(),
                    rule.article
                ),
            });
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn land() -> AuctionRulebook {
        AuctionRulebooks::builtin()
            .unwrap()
            .get("land")
            .unwrap()
            .clone()
    }

    #[test]
    fn the_builtin_rulebooks_load_with_their_articles() {
        let books = AuctionRulebooks::builtin().unwrap();
        for c in ["land", "state_asset", "equity"] {
            assert!(books.get(c).is_some(), "{c}");
        }
        let land = land();
        assert_eq!(land.rules.announcement_min_days.value, 20);
        assert!(land.rules.announcement_min_days.article.contains("第10条"));
        assert_eq!(land.rules.listing_min_days.value, 10);
        let equity = books.get("equity").unwrap();
        assert_eq!(equity.rules.listing_min_days.value, 20);
    }

    #[test]
    fn a_missing_number_is_refused_naming_file_and_key() {
        let text = BUILTIN[0]
            .1
            .replace("listing_min_days =", "# listing_min_days =");
        let err = AuctionRulebook::parse(&text, "land.toml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("land.toml") && msg.contains("listing_min_days"),
            "{msg}"
        );
    }

    #[test]
    fn contradictory_numbers_are_refused_naming_file_key_and_reason() {
        let text = BUILTIN[0].1.replace(
            "extend_minutes = { value = 5",
            "extend_minutes = { value = 30",
        );
        let err = AuctionRulebook::parse(&text, "land.toml").unwrap_err();
        assert!(
            matches!(&err, AuctionRulebookError::Invalid { key: "extend_minutes", file, .. } if file == "land.toml"),
            "{err}"
        );
        let text = BUILTIN[2].1.replace(
            "listing_min_days = { value = 20",
            "listing_min_days = { value = 5",
        );
        let err = AuctionRulebook::parse(&text, "equity.toml").unwrap_err();
        assert!(err.to_string().contains("listing_min_days"), "{err}");
        let text = BUILTIN[0]
            .1
            .replace("value = 20, article", "value = 0, article");
        let err = AuctionRulebook::parse(&text, "land.toml").unwrap_err();
        assert!(err.to_string().contains("announcement_min_days"), "{err}");
    }

    #[test]
    fn land_periods_need_20_days_of_announcement_and_10_of_listing() {
        let book = land();
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        let ok = Periods {
            announced_at: at,
            starts_at: at + Duration::days(20),
            ends_at: at + Duration::days(30),
        };
        assert!(book.check_periods(true, &ok).is_empty());
        let short = Periods {
            ends_at: at + Duration::days(30) - Duration::seconds(1),
            ..ok
        };
        let v = book.check_periods(true, &short);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].rule, "listing_min_days");
        let early = Periods {
            starts_at: at + Duration::days(19),
            ..ok
        };
        assert_eq!(
            book.check_periods(false, &early)[0].rule,
            "announcement_min_days"
        );
        // An auction has no listing period.
        let auction = Periods {
            ends_at: at + Duration::days(20) + Duration::hours(1),
            ..ok
        };
        assert!(book.check_periods(false, &auction).is_empty());
    }

    #[test]
    fn an_equity_listing_is_its_own_disclosure_in_working_days() {
        let books = AuctionRulebooks::builtin().unwrap();
        let book = books.get("equity").unwrap();
        // Monday 2026-03-02 09:00 China time; 20 working days = 4 weeks.
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
        let p = Periods {
            announced_at: at,
            starts_at: at,
            ends_at: at + Duration::days(28),
        };
        assert!(book.check_periods(true, &p).is_empty());
        let p = Periods {
            ends_at: at + Duration::days(20),
            ..p
        };
        assert_eq!(book.check_periods(true, &p)[0].rule, "listing_min_days");
    }
}
