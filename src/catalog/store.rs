//! Persistence of the catalog in the meta group, and sequences.

use std::sync::Arc;

use parking_lot::RwLock;

use tokio::sync::Mutex;

use super::Catalog;
use crate::cluster::Node;
use crate::error::{PgError, PgResult, codes};
use crate::shard::{Command, CommandResult, Op};

const CATALOG_KEY: &[u8] = b"catalog";
/// Key prefixes whose rows are being deleted on every shard (DROP,
/// TRUNCATE): recorded before the deletes begin and removed when they are
/// done, so a crash in between is finished at the next start.
const PURGE_PREFIX: &[u8] = b"purge/";

fn purge_key(prefix: &[u8]) -> Vec<u8> {
    let mut k = PURGE_PREFIX.to_vec();
    k.extend_from_slice(prefix);
    k
}
/// Sequence values are handed out from the meta group in blocks of this size;
/// a restart skips the rest of a block (gaps, as PostgreSQL's sequence cache).
const SEQUENCE_BLOCK: i64 = 100;

pub struct CatalogStore {
    node: Arc<Node>,
    current: RwLock<Arc<Catalog>>,
    /// Serialises DDL on this node so CAS conflicts are rare.
    ddl_lock: Mutex<()>,
    /// Per counter: the last value handed out of the block taken, how
    /// many are left in it, and the increment it was taken with.
    sequences: Mutex<std::collections::HashMap<String, (i64, i64, i64)>>,
    /// The node's table locks (sessions take theirs from here).
    pub locks: Arc<super::locks::TableLocks>,
    /// The node's advisory locks.
    pub advisory: Arc<super::advisory::AdvisoryLocks>,
}

impl CatalogStore {
    pub fn load(node: Arc<Node>) -> PgResult<CatalogStore> {
        let catalog = stored(&node)?;
        Ok(CatalogStore {
            node,
            current: RwLock::new(Arc::new(catalog)),
            ddl_lock: Mutex::new(()),
            sequences: Mutex::new(Default::default()),
            locks: super::locks::TableLocks::new(),
            advisory: super::advisory::AdvisoryLocks::new(),
        })
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.current.read().clone()
    }

    /// Apply a change to the catalog through the meta group. `f` edits a copy;
    /// its result is returned when the change has been committed.
    pub async fn update<T>(&self, f: impl FnOnce(&mut Catalog) -> PgResult<T>) -> PgResult<T> {
        self.update_and_purge(|cat| f(cat).map(|out| (out, Vec::new())))
            .await
    }

    /// [`CatalogStore::update`] that also records, in the same meta-group
    /// command, the key prefixes `f` returns as to be purged (a dropped
    /// table's rows): the change and the promise to delete its data commit
    /// together. The caller deletes them and calls [`CatalogStore::purged`].
    pub async fn update_and_purge<T>(
        &self,
        f: impl FnOnce(&mut Catalog) -> PgResult<(T, Vec<Vec<u8>>)>,
    ) -> PgResult<T> {
        let _guard = self.ddl_lock.lock().await;
        let old = self.current();
        let mut new = (*old).clone();
        let (out, purges) = f(&mut new)?;
        if new == *old {
            drop(_guard);
            self.purging(&purges).await?;
            return Ok(out);
        }
        new.version = old.version + 1;
        let ops = self.commit_ops(&old, &new, &purges)?;
        let cmd = Command::new(ops);
        let res = self.node.meta.propose(cmd).await;
        if let Ok(CommandResult::Applied { .. }) = res {
            self.installed(new);
            return Ok(out);
        }
        // Refused, failed or of unknown outcome (timed out: it may still
        // apply): take what the meta group holds now, so this node's copy
        // is never left behind it (a later DDL that finds it changed again
        // refreshes it the same way).
        self.refresh();
        match res {
            Err(e) => Err(e.into()),
            _ => Err(PgError::new(
                codes::SERIALIZATION_FAILURE,
                "could not serialize access due to concurrent catalog change",
            )),
        }
    }

    /// The meta-group ops that replace catalog `old` by `new` (failing if
    /// `old` is no longer stored) and record `purges` as to be purged: the
    /// transaction of a block with DDL commits them with its decision.
    pub fn commit_ops(
        &self,
        old: &Catalog,
        new: &Catalog,
        purges: &[Vec<u8>],
    ) -> PgResult<Vec<Op>> {
        // The check compares bytes: expect what is stored if it still is
        // `old` (in whichever encoding it was written), else `old` encoded
        // now, which cannot match and so refuses the change.
        let expect = match self.node.meta.get(CATALOG_KEY)? {
            None if old.version == 0 => None,
            Some(b) => {
                let now = encode(old)?;
                if b == now || decode(&b).is_ok_and(|c| c == *old) {
                    Some(b)
                } else {
                    Some(now)
                }
            }
            None => Some(encode(old)?),
        };
        let value = encode(new)?;
        let mut ops = vec![
            Op::Check {
                key: CATALOG_KEY.to_vec(),
                expect,
            },
            Op::Put {
                key: CATALOG_KEY.to_vec(),
                value,
            },
        ];
        ops.extend(purges.iter().map(|p| Op::Put {
            key: purge_key(p),
            value: Vec::new(),
        }));
        Ok(ops)
    }

    /// Whether `key` (of a failed check) is the catalog's own.
    pub fn is_catalog_key(key: &[u8]) -> bool {
        key == CATALOG_KEY
    }

    /// Serialise catalog commits on this node (held from reading the
    /// current catalog to installing the next).
    pub async fn ddl_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.ddl_lock.lock().await
    }

    /// `new` was committed (by [`CatalogStore::commit_ops`]' ops).
    pub fn installed(&self, new: Catalog) {
        *self.current.write() = Arc::new(new);
    }

    /// Take what the meta group holds (after a commit of unknown outcome).
    pub fn refresh(&self) {
        if let Ok(now) = stored(&self.node) {
            *self.current.write() = Arc::new(now);
        }
    }

    /// Reserve `n` table/index ids: a block's DDL allocates from them, so
    /// two blocks never give one id to two objects.
    pub async fn reserve_ids(&self, n: u32) -> PgResult<u32> {
        self.update(|cat| {
            let start = cat.next_table_id;
            cat.next_table_id += n;
            Ok(start)
        })
        .await
    }

    /// Record that the rows under `prefixes` are about to be deleted on
    /// every shard (TRUNCATE: the catalog does not change).
    pub async fn purging(&self, prefixes: &[Vec<u8>]) -> PgResult<()> {
        if prefixes.is_empty() {
            return Ok(());
        }
        let ops = prefixes
            .iter()
            .map(|p| Op::Put {
                key: purge_key(p),
                value: Vec::new(),
            })
            .collect();
        self.node.meta.propose(Command::new(ops)).await?;
        Ok(())
    }

    /// The rows under `prefixes` are deleted on every shard.
    pub async fn purged(&self, prefixes: &[Vec<u8>]) -> PgResult<()> {
        let ops = prefixes
            .iter()
            .map(|p| Op::Delete { key: purge_key(p) })
            .collect();
        self.node.meta.propose(Command::new(ops)).await?;
        Ok(())
    }

    /// Purges recorded and not finished (a crash stopped them).
    pub fn pending_purges(&self) -> PgResult<Vec<Vec<u8>>> {
        let mut end = PURGE_PREFIX.to_vec();
        *end.last_mut().expect("non-empty") += 1;
        Ok(self
            .node
            .meta
            .scan(PURGE_PREFIX, Some(&end), usize::MAX)?
            .into_iter()
            .map(|(k, _)| k[PURGE_PREFIX.len()..].to_vec())
            .collect())
    }

    /// Next value of the sequence whose counter is `key`: by its
    /// definition in the catalog (CREATE SEQUENCE, serial and identity
    /// columns), else 1, 2, 3, ... (hidden row ids).
    pub async fn nextval(&self, key: &str) -> PgResult<i64> {
        match self.current().sequence_by_key(key).cloned() {
            Some(seq) => self.next_of(&seq).await,
            None => self.step(key, 1, SEQUENCE_BLOCK).await,
        }
    }

    /// Next value of `seq`: its counter stepped by its increment, checked
    /// against its bounds (2200H past them). With CYCLE the counter still
    /// only grows (one atomic step, so racing sessions never share a
    /// value of one pass) and values past the bound map onto the passes
    /// that restart from the other bound.
    pub async fn next_of(&self, seq: &super::Sequence) -> PgResult<i64> {
        let block = if seq.cycle { 1 } else { SEQUENCE_BLOCK };
        let c = self.step(&seq.key, seq.increment, block).await?;
        self.cycled_value(seq, c)
    }

    /// The value counter `c` of `seq` stands for: `base + c` within the
    /// bounds; past them 2200H, or with CYCLE the value on the pass that
    /// restarted from the other bound.
    fn cycled_value(&self, seq: &super::Sequence, c: i64) -> PgResult<i64> {
        let raw = seq.base as i128 + c as i128;
        let (min, max, inc) = (seq.min as i128, seq.max as i128, seq.increment as i128);
        if raw <= max && raw >= min {
            return Ok(raw as i64);
        }
        let (word, bound) = if inc > 0 {
            ("maximum", seq.max)
        } else {
            ("minimum", seq.min)
        };
        if !seq.cycle {
            return Err(PgError::new(
                "2200H",
                format!(
                    "nextval: reached {word} value of sequence \"{}\" ({bound})",
                    seq.name
                ),
            ));
        }
        // The last value before the bound on the counter's progression,
        // how many steps past it `raw` is, and the length of a pass.
        let step = inc.abs();
        let pass = (max - min) / step + 1;
        let value = if inc > 0 {
            let last = max - (max - raw).rem_euclid(step);
            let past = (raw - last) / step;
            min + ((past - 1).rem_euclid(pass)) * step
        } else {
            let last = min + (raw - min).rem_euclid(step);
            let past = (last - raw) / step;
            max - ((past - 1).rem_euclid(pass)) * step
        };
        Ok(value as i64)
    }

    /// The counter `key` stepped by `by`: values are taken from the meta
    /// group `block` steps at a time and handed out from memory (a block
    /// taken with another increment, before an ALTER SEQUENCE, is dropped).
    async fn step(&self, key: &str, by: i64, block: i64) -> PgResult<i64> {
        let mut seqs = self.sequences.lock().await;
        if let Some((last, left, step)) = seqs.get_mut(key) {
            if *left > 0 && *step == by {
                *last += by;
                *left -= 1;
                return Ok(*last);
            }
        }
        let cmd = Command::new(vec![Op::Incr {
            key: format!("seq/{key}").into_bytes(),
            by: by.saturating_mul(block),
        }]);
        match self.node.meta.propose(cmd).await? {
            CommandResult::Applied { counters } => {
                let first = counters[0] - by * (block - 1);
                seqs.insert(key.to_string(), (first, block - 1, by));
                Ok(first)
            }
            _ => Err(PgError::new(
                codes::INTERNAL_ERROR,
                "sequence update failed",
            )),
        }
    }

    /// Give back the values of counter `key` this node took ahead and did
    /// not hand out (ALTER SEQUENCE: PostgreSQL's next value follows the
    /// last one given, `1000` then `1010` after `INCREMENT BY 10`, not the
    /// end of a block). Only if no other node took values since: the
    /// counter must still stand at this block's end, else the block is
    /// just dropped (a gap, never a value given twice).
    pub async fn return_unused(&self, key: &str) -> PgResult<()> {
        let mut seqs = self.sequences.lock().await;
        let Some((last, left, step)) = seqs.remove(key) else {
            return Ok(());
        };
        if left <= 0 {
            return Ok(());
        }
        let Some(end) = step
            .checked_mul(left)
            .and_then(|ahead| last.checked_add(ahead))
        else {
            return Ok(());
        };
        let k = format!("seq/{key}").into_bytes();
        let cmd = Command::new(vec![
            Op::Check {
                key: k.clone(),
                expect: Some(end.to_be_bytes().to_vec()),
            },
            Op::Put {
                key: k,
                value: last.to_be_bytes().to_vec(),
            },
        ]);
        self.node.meta.propose(cmd).await?;
        Ok(())
    }

    /// What `SELECT last_value, log_cnt, is_called FROM seq` shows: the
    /// last value handed out (is_called), or the next one when none was
    /// (fresh, or after `setval(.., false)` to the first value). The last
    /// value is this node's own when no node took a block since; else the
    /// end of the latest block taken (at or past every value handed out),
    /// so a dump's `setval` never hands a value out twice. `log_cnt` is
    /// what is left of this node's block.
    pub async fn sequence_state(&self, seq: &super::Sequence) -> PgResult<(i64, i64, bool)> {
        let seqs = self.sequences.lock().await;
        let stored = match self.node.meta.get(format!("seq/{}", seq.key).as_bytes())? {
            Some(b) => i64::from_be_bytes(b.as_slice().try_into().map_err(|_| {
                PgError::new(codes::INTERNAL_ERROR, "sequence counter is malformed")
            })?),
            // Never used: its first value comes next.
            None => return Ok((seq.base.saturating_add(seq.increment), 0, false)),
        };
        let (counter, left) = match seqs.get(&seq.key) {
            Some((last, left, step))
                if step
                    .checked_mul(*left)
                    .and_then(|ahead| last.checked_add(ahead))
                    == Some(stored) =>
            {
                (*last, *left)
            }
            _ => (stored, 0),
        };
        let raw = seq.base as i128 + counter as i128;
        let (min, max) = (seq.min as i128, seq.max as i128);
        if raw >= min && raw <= max {
            return Ok((raw as i64, left, true));
        }
        let next = raw + seq.increment as i128;
        if next >= min && next <= max {
            return Ok((next as i64, left, false));
        }
        if !seq.cycle {
            // Exhausted: the bound was the last value given.
            let bound = if seq.increment > 0 { seq.max } else { seq.min };
            return Ok((bound, left, true));
        }
        // A cycling counter past its bound: the value it stands for.
        Ok((self.cycled_value(seq, counter)?, left, true))
    }

    /// Set counter `key` (setval, RESTART): values this node had taken
    /// ahead are dropped.
    pub async fn set_counter(&self, key: &str, value: i64) -> PgResult<()> {
        let mut seqs = self.sequences.lock().await;
        seqs.remove(key);
        let cmd = Command::new(vec![Op::Put {
            key: format!("seq/{key}").into_bytes(),
            value: value.to_be_bytes().to_vec(),
        }]);
        self.node.meta.propose(cmd).await?;
        Ok(())
    }
}

/// The catalog the meta group holds (empty before the first DDL).
fn stored(node: &Node) -> PgResult<Catalog> {
    Ok(match node.meta.get(CATALOG_KEY)? {
        Some(b) => decode(&b)?,
        None => Catalog::default(),
    })
}

/// The catalog's stored form: JSON, so a field added later (with
/// `#[serde(default)]`) still reads catalogs written before it.
fn encode(cat: &Catalog) -> PgResult<Vec<u8>> {
    serde_json::to_vec(cat).map_err(|e| PgError::internal(e.to_string()))
}

/// A stored catalog: JSON, or the bincode the first versions wrote
/// (rewritten as JSON by the next DDL).
fn decode(b: &[u8]) -> PgResult<Catalog> {
    serde_json::from_slice(b).or_else(|json| {
        bincode::deserialize::<super::legacy::Catalog>(b)
            .map(Catalog::from)
            .map_err(|old| {
                PgError::internal(format!(
                    "catalog is unreadable: as JSON: {json}; as the first versions' form: {old}"
                ))
            })
    })
}

#[cfg(test)]
mod encoding_tests {
    use super::{decode, encode};
    use crate::catalog::Catalog;

    #[test]
    fn catalogs_written_as_bincode_still_read() {
        let mut cat = Catalog::default();
        cat.version = 123; // its first byte is `{` in bincode
        cat.schemas.insert("shop".into());
        cat.comments.insert("schema:shop".into(), "things".into());
        let old = bincode::serialize(&cat).unwrap(); // no tables: same shape
        assert_eq!(decode(&old).unwrap(), cat);
        assert_eq!(decode(&encode(&cat).unwrap()).unwrap(), cat);
    }
}
