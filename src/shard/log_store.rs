//! Raft log storage of one group in the node's RocksDB (`raft_log`, `raft_meta`).
//! Appends are synced to disk before openraft is told they are flushed.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{Entry, ErrorSubject, ErrorVerb, LogId, LogState, RaftLogReader, Vote};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::store::{CF_LOG, CF_META, log_key, meta_key};
use super::{GroupId, NodeId, StorageError, Store, TypeConfig, io_err};

#[derive(Clone)]
pub struct LogStore {
    store: Store,
    group: GroupId,
}

impl LogStore {
    pub fn new(store: Store, group: GroupId) -> Self {
        LogStore { store, group }
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StorageError> {
        let v = self
            .store
            .db()
            .get_cf(self.store.cf(CF_META), meta_key(self.group, name))
            .map_err(|e| io_err(e, ErrorSubject::Store, ErrorVerb::Read))?;
        match v {
            None => Ok(None),
            Some(b) => bincode::deserialize(&b)
                .map(Some)
                .map_err(|e| io_err(e, ErrorSubject::Store, ErrorVerb::Read)),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, name: &str, v: &T) -> Result<(), StorageError> {
        let b =
            bincode::serialize(v).map_err(|e| io_err(e, ErrorSubject::Store, ErrorVerb::Write))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.store.cf(CF_META), meta_key(self.group, name), b);
        self.store
            .write_durable(batch)
            .map_err(|e| io_err(e, ErrorSubject::Store, ErrorVerb::Write))
    }

    fn last_entry_id(&self) -> Result<Option<LogId<NodeId>>, StorageError> {
        let upper = log_key(self.group, u64::MAX);
        let mut iter = self.store.db().iterator_cf(
            self.store.cf(CF_LOG),
            IteratorMode::From(&upper, Direction::Reverse),
        );
        match iter.next() {
            Some(Ok((k, v))) if k.starts_with(&self.group.to_be_bytes()) => {
                let e: Entry<TypeConfig> = bincode::deserialize(&v)
                    .map_err(|e| io_err(e, ErrorSubject::Logs, ErrorVerb::Read))?;
                Ok(Some(e.log_id))
            }
            Some(Err(e)) => Err(io_err(e, ErrorSubject::Logs, ErrorVerb::Read)),
            _ => Ok(None),
        }
    }

    fn delete_range(&self, from: u64, to_exclusive: u64) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.store.cf(CF_LOG),
            log_key(self.group, from),
            log_key(self.group, to_exclusive),
        );
        self.store
            .write_durable(batch)
            .map_err(|e| io_err(e, ErrorSubject::Logs, ErrorVerb::Delete))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => *i + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Some(*i + 1),
            Bound::Excluded(i) => Some(*i),
            Bound::Unbounded => None,
        };
        let from = log_key(self.group, start);
        let iter = self.store.db().iterator_cf(
            self.store.cf(CF_LOG),
            IteratorMode::From(&from, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item.map_err(|e| io_err(e, ErrorSubject::Logs, ErrorVerb::Read))?;
            if !k.starts_with(&self.group.to_be_bytes()) {
                break;
            }
            let idx = u64::from_be_bytes(k[4..12].try_into().unwrap());
            if let Some(end) = end {
                if idx >= end {
                    break;
                }
            }
            let e: Entry<TypeConfig> = bincode::deserialize(&v)
                .map_err(|e| io_err(e, ErrorSubject::Logs, ErrorVerb::Read))?;
            out.push(e);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta("purged")?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_meta("vote", vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta("vote")
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError> {
        self.put_meta("committed", &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError> {
        Ok(self
            .get_meta::<Option<LogId<NodeId>>>("committed")?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut batch = WriteBatch::default();
        let cf = self.store.cf(CF_LOG);
        for e in entries {
            let b = bincode::serialize(&e)
                .map_err(|e| io_err(e, ErrorSubject::Logs, ErrorVerb::Write))?;
            batch.put_cf(cf, log_key(self.group, e.log_id.index), b);
        }
        let res = self
            .store
            .write_durable(batch)
            .map_err(|e| std::io::Error::other(e.to_string()));
        let ok = res.is_ok();
        callback.log_io_completed(res);
        if !ok {
            return Err(io_err(
                "log append failed",
                ErrorSubject::Logs,
                ErrorVerb::Write,
            ));
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        self.delete_range(log_id.index, u64::MAX)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        self.put_meta("purged", &log_id)?;
        self.delete_range(0, log_id.index + 1)
    }
}

/// How many entries of `group`'s log are stored, and the index of the
/// first one (the log is purged up to just before it).
pub fn stored_entries(store: &Store, group: GroupId) -> (usize, Option<u64>) {
    let mut ro = rocksdb::ReadOptions::default();
    ro.set_iterate_upper_bound(log_key(group, u64::MAX));
    let iter = store.db().iterator_cf_opt(
        store.cf(CF_LOG),
        ro,
        IteratorMode::From(&log_key(group, 0), Direction::Forward),
    );
    let mut first = None;
    let mut n = 0;
    for (k, _) in iter.flatten() {
        if first.is_none() {
            first = k
                .get(4..12)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
        }
        n += 1;
    }
    (n, first)
}
