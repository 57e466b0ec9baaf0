//! What this node's sessions did to each relation, as PostgreSQL's
//! cumulative statistics count it (`pg_stat_user_tables`,
//! `pg_stat_user_indexes`): rows inserted, updated and deleted by committed
//! writes, scans planned. Counted by key prefix (a table's or an index's
//! id), so the data plane needs no catalog.
//!
//! In memory: the counters start at zero when the node starts, as
//! PostgreSQL's do after a crash; each node counts its own sessions.

use std::collections::HashMap;

use super::rows::RowWrite;

/// One relation's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Scans of the relation's rows (whole, or a primary-key range).
    pub seq_scans: u64,
    /// Lookups through an index (counted on the index's id).
    pub index_scans: u64,
}

impl Counts {
    /// Rows there now, as far as this node's counting knows.
    pub fn live(&self) -> u64 {
        self.inserted.saturating_sub(self.deleted)
    }
}

/// The node's counters, by relation id.
#[derive(Debug, Default)]
pub struct Activity {
    by_id: parking_lot::Mutex<HashMap<u32, Counts>>,
}

/// The relation id a row or index key starts with.
fn id_of(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(..4)?.try_into().ok()?))
}

/// What a set of writes does to each relation, tallied before the commit
/// and added to [`Activity`] once it is durable.
#[derive(Debug, Default, Clone)]
pub struct Tally(HashMap<u32, Counts>);

impl Tally {
    /// Count `writes` (each key once: a transaction's writes are merged
    /// per key before they reach the shards). Blind writes are index
    /// entries of an online build, not rows changed.
    pub fn add(&mut self, writes: &[RowWrite]) {
        for w in writes.iter().filter(|w| !w.blind) {
            let Some(id) = id_of(&w.key) else { continue };
            let c = self.0.entry(id).or_default();
            match (&w.expect, &w.new) {
                (None, Some(_)) => c.inserted += 1,
                // A row lock (a block's FOR UPDATE) writes the row as it is.
                (Some(a), Some(b)) if a != b => c.updated += 1,
                (Some(_), None) => c.deleted += 1,
                _ => {}
            }
        }
    }
}

impl Activity {
    /// Add a committed transaction's tally.
    pub fn committed(&self, tally: Tally) {
        let mut m = self.by_id.lock();
        for (id, t) in tally.0 {
            let c = m.entry(id).or_default();
            c.inserted += t.inserted;
            c.updated += t.updated;
            c.deleted += t.deleted;
        }
    }

    /// A scan of relation `id`'s rows.
    pub fn scanned(&self, id: u32) {
        self.by_id.lock().entry(id).or_default().seq_scans += 1;
    }

    /// A lookup through index `id`.
    pub fn index_used(&self, id: u32) {
        self.by_id.lock().entry(id).or_default().index_scans += 1;
    }

    /// Relation `id`'s counters (zero when nothing was counted).
    pub fn of(&self, id: u32) -> Counts {
        self.by_id.lock().get(&id).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(id: u32, expect: Option<&[u8]>, new: Option<&[u8]>) -> RowWrite {
        let mut key = id.to_be_bytes().to_vec();
        key.push(7);
        RowWrite {
            key,
            expect: expect.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
            blind: false,
        }
    }

    #[test]
    fn tallies_by_kind_and_adds_only_when_committed() {
        let a = Activity::default();
        let mut t = Tally::default();
        t.add(&[
            w(5, None, Some(b"a")),
            w(5, None, Some(b"b")),
            w(5, Some(b"a"), Some(b"c")),
            w(5, Some(b"b"), None),
            w(5, Some(b"d"), Some(b"d")),
            w(9, None, Some(b"x")),
        ]);
        let mut blind = w(9, None, Some(b"i"));
        blind.blind = true;
        t.add(&[blind]);
        assert_eq!(a.of(5), Counts::default());
        a.committed(t);
        let c = a.of(5);
        assert_eq!((c.inserted, c.updated, c.deleted, c.live()), (2, 1, 1, 1));
        assert_eq!(a.of(9).inserted, 1);
        a.scanned(5);
        a.index_used(9);
        assert_eq!(a.of(5).seq_scans, 1);
        assert_eq!(a.of(9).index_scans, 1);
    }
}
