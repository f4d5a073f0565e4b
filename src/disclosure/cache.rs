//! A short-lived cache of the public tender list, so the most visited page does not hit
//! the database on every request. Entries live `list_cache_ms` (one second by default): a
//! newly published tender shows up at most that late, on every server process, with no
//! invalidation protocol to get wrong.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::i18n::Lang;

/// Bound on distinct (query, page) entries; past it the cache starts over.
const MAX_ENTRIES: usize = 1024;

/// The rendered list (the same HTML for every visitor reading in that language).
pub type ListPage = Arc<str>;

/// Search text, page number and language.
type Key = (String, u32, Lang);

/// The cache, keyed by search text, page number and language.
#[derive(Debug)]
pub struct ListCache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, (Instant, ListPage)>>,
}

impl ListCache {
    /// A cache whose entries stay fresh for `ttl` (zero: never cache).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// A fresh entry, if any.
    pub fn get(&self, q: &str, page: u32, lang: Lang) -> Option<ListPage> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&(q.to_string(), page, lang))
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, p)| p.clone())
    }

    /// Stores an entry.
    pub fn put(&self, q: &str, page: u32, lang: Lang, value: ListPage) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert((q.to_string(), page, lang), (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_per_language() {
        let ttl = Duration::from_millis(50);
        let c = ListCache::new(ttl);
        c.put("", 1, Lang::Zh, Arc::from("list"));
        assert_eq!(c.get("", 1, Lang::Zh).as_deref(), Some("list"));
        assert!(c.get("x", 1, Lang::Zh).is_none());
        assert!(c.get("", 1, Lang::En).is_none());
        std::thread::sleep(ttl + Duration::from_millis(20));
        assert!(c.get("", 1, Lang::Zh).is_none());
        let off = ListCache::new(Duration::ZERO);
        off.put("", 1, Lang::Zh, Arc::from("list"));
        assert!(off.get("", 1, Lang::Zh).is_none());
    }
}
