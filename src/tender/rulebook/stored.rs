//! The operator's replacements of rulebooks (`rulebook_version`, versions 2, 3 …) as this
//! process knows them, across server processes.
//!
//! A stored version never changes, so a process reads each once and keeps it for its
//! lifetime (leaked: a few kilobytes per replacement, an operator's rare act), which lets
//! every lookup hand out a plain `&Rulebook` as it did before rulebooks could change. Before
//! the reads that must see the latest — drafting, publishing, the operator's pages — a
//! process asks the database how many versions exist (one count) and reads the new ones; the
//! job loop does the same every few seconds, so a replacement made by another process is
//! known long before a tender published under it reaches its deadline.

use std::sync::RwLockReadGuard;

use crate::q_all;
use crate::q_one;
use crate::store::{Db, StoreError, Tx};

use super::{Rulebook, Rulebooks};

/// The stored versions read so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Rows of `rulebook_version` read.
    count: i64,
    versions: Vec<&'static Rulebook>,
}

impl Stored {
    /// The highest version that matches.
    pub(super) fn latest(
        &self,
        mut pred: impl FnMut(&Rulebook) -> bool,
    ) -> Option<&'static Rulebook> {
        self.versions
            .iter()
            .copied()
            .filter(|b| pred(b))
            .max_by_key(|b| b.version)
    }

    /// Adds a version as if read from the database (unit tests).
    #[cfg(test)]
    pub(super) fn push_for_test(&mut self, book: &'static Rulebook) {
        self.versions.push(book);
    }

    /// Every stored version read.
    pub(super) fn all(&self) -> Vec<&'static Rulebook> {
        self.versions.clone()
    }
}

/// One stored version as read back.
#[derive(sqlx::FromRow)]
struct StoredRow {
    rulebook_id: String,
    version: i64,
    toml: String,
}

impl Rulebooks {
    /// The stored versions as last read.
    pub(super) fn stored_now(&self) -> RwLockReadGuard<'_, Stored> {
        // A writer replaces whole values only, so a poisoned lock still holds a good one.
        self.stored
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the versions stored since the last look (by this or another process).
    pub async fn fresh(&self, db: &Db) -> Result<&Self, StoreError> {
        let mut tx = db.read().await?;
        self.fresh_in(&mut tx).await?;
        tx.commit().await?;
        Ok(self)
    }

    /// [`fresh`](Self::fresh) within the caller's transaction.
    pub async fn fresh_in(&self, tx: &mut Tx) -> Result<(), StoreError> {
        let (count,): (i64,) = q_one!(tx, (i64,), "select count(*) from rulebook_version")?;
        if count == self.stored_now().count {
            return Ok(());
        }
        let rows = q_all!(
            tx,
            StoredRow,
            "select rulebook_id, version, toml from rulebook_version order by rulebook_id, version"
        )?;
        let mut new = Vec::new();
        {
            let known = self.stored_now();
            for row in rows {
                let Ok(version) = u32::try_from(row.version) else {
                    continue;
                };
                if known
                    .latest(|b| b.id == row.rulebook_id && b.version == version)
                    .is_some()
                {
                    continue;
                }
                let name = format!("{}@v{version}", row.rulebook_id);
                match Rulebook::parse_named(&row.toml, &name) {
                    Ok(mut book) => {
                        book.version = version;
                        new.push(book);
                    }
                    // Validated before it was stored; a later build with stricter checks may
                    // refuse it. Its tenders then report their rulebook unknown (corrupt
                    // data), loudly, rather than being judged by another version.
                    Err(e) => {
                        tracing::error!(rulebook = %name, error = %e, "stored rulebook refused");
                    }
                }
            }
        }
        let mut stored = self
            .stored
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for book in new {
            // Another request may have read the same row meanwhile.
            if stored
                .latest(|b| b.id == book.id && b.version == book.version)
                .is_none()
            {
                // Leaked on purpose: see the module comment.
                stored.versions.push(Box::leak(Box::new(book)));
            }
        }
        stored.count = stored.count.max(count);
        Ok(())
    }
}
