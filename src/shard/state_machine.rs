//! The state machine every group runs: applies [`Command`]s to the group's
//! key space in RocksDB. The applied log id and membership are written in the
//! same `WriteBatch` as the data they describe, so a restart never sees a
//! half-applied entry.

use std::collections::HashMap;
use std::io::Cursor;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftSnapshotBuilder, SnapshotMeta,
    StoredMembership,
};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use super::Change;
use super::store::{CF_DATA, data_key, data_prefix_end, prefix_successor, sm_meta_key};
use super::{Command, CommandResult, GroupId, NodeId, Op, StorageError, Store, TypeConfig, io_err};

type Membership = StoredMembership<NodeId, openraft::BasicNode>;

#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    group: GroupId,
}

#[derive(Serialize, Deserialize)]
struct SnapshotPayload {
    last_applied: Option<LogId<NodeId>>,
    membership: Membership,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl StateMachine {
    pub fn new(store: Store, group: GroupId) -> Self {
        StateMachine { store, group }
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StorageError> {
        let v = self
            .store
            .db()
            .get_cf(self.store.cf(CF_DATA), sm_meta_key(self.group, name))
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
        v.map(|b| bincode::deserialize(&b))
            .transpose()
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))
    }

    fn put_meta<T: Serialize>(&self, batch: &mut WriteBatch, name: &str, v: &T) {
        let b = bincode::serialize(v).expect("serializable");
        batch.put_cf(self.store.cf(CF_DATA), sm_meta_key(self.group, name), b);
    }

    /// Current value of `key`, seeing the writes of this batch so far.
    fn current(
        &self,
        pending: &HashMap<Vec<u8>, Option<Vec<u8>>>,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = pending.get(key) {
            return Ok(v.clone());
        }
        self.store
            .get(self.group, key)
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))
    }

    /// Apply one command into `batch`; `pending` tracks this batch's writes so
    /// later entries in the same batch see earlier ones.
    fn apply_command(
        &self,
        cmd: &Command,
        batch: &mut WriteBatch,
        pending: &mut HashMap<Vec<u8>, Option<Vec<u8>>>,
        changes: &mut Option<Vec<Change>>,
    ) -> Result<CommandResult, StorageError> {
        for (i, op) in cmd.ops.iter().enumerate() {
            if let Op::Check { key, expect } = op {
                let actual = self.current(pending, key)?;
                if &actual != expect {
                    return Ok(CommandResult::CheckFailed {
                        op_index: i,
                        actual,
                    });
                }
            }
        }
        let cf = self.store.cf(CF_DATA);
        let mut counters = Vec::new();
        for op in &cmd.ops {
            match op {
                Op::Put { key, value } => {
                    batch.put_cf(cf, data_key(self.group, key), value);
                    pending.insert(key.clone(), Some(value.clone()));
                    if let Some(c) = changes {
                        c.push(Change::Put(key.clone(), value.clone()));
                    }
                }
                Op::Delete { key } => {
                    batch.delete_cf(cf, data_key(self.group, key));
                    pending.insert(key.clone(), None);
                    if let Some(c) = changes {
                        c.push(Change::Delete(key.clone()));
                    }
                }
                Op::Check { .. } => {}
                Op::Incr { key, by } => {
                    let cur = self
                        .current(pending, key)?
                        .map(|b| i64::from_be_bytes(b.as_slice().try_into().unwrap_or([0; 8])))
                        .unwrap_or(0);
                    let next = cur.saturating_add(*by);
                    batch.put_cf(cf, data_key(self.group, key), next.to_be_bytes());
                    pending.insert(key.clone(), Some(next.to_be_bytes().to_vec()));
                    counters.push(next);
                }
                Op::DeletePrefix { prefix } => {
                    let from = data_key(self.group, prefix);
                    let to = match prefix_successor(prefix) {
                        Some(s) => data_key(self.group, &s),
                        None => data_prefix_end(self.group),
                    };
                    batch.delete_range_cf(cf, from, to);
                    if let Some(c) = changes {
                        c.push(Change::DeletePrefix(prefix.clone()));
                    }
                    pending.retain(|k, _| !k.starts_with(prefix));
                    // Keys deleted by range but still visible through `pending`
                    // are not tracked; a later Check on them reads RocksDB,
                    // which has not seen this batch. Commands do not mix the two.
                }
            }
        }
        Ok(CommandResult::Applied { counters })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let last_applied: Option<LogId<NodeId>> = self.read_meta("applied")?.flatten();
        let membership: Membership = self.read_meta("membership")?.unwrap_or_default();
        let mut entries = Vec::new();
        let mut start = Vec::new();
        loop {
            let chunk = self
                .store
                .scan(self.group, &start, None, 10_000)
                .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
            let done = chunk.len() < 10_000;
            if let Some((k, _)) = chunk.last() {
                start = k.clone();
                start.push(0);
            }
            entries.extend(chunk);
            if done {
                break;
            }
        }
        let payload = SnapshotPayload {
            last_applied,
            membership: membership.clone(),
            entries,
        };
        let data = bincode::serialize(&payload)
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{}", self.group, l.leader_id, l.index),
            None => format!("{}-empty", self.group),
        };
        Ok(Snapshot {
            meta: SnapshotMeta {
                last_log_id: last_applied,
                last_membership: membership,
                snapshot_id,
            },
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, Membership), StorageError> {
        let applied = self
            .read_meta::<Option<LogId<NodeId>>>("applied")?
            .flatten();
        let membership = self.read_meta("membership")?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut batch = WriteBatch::default();
        let mut pending = HashMap::new();
        let mut results = Vec::new();
        let mut last = None;
        let observer = self.store.observer();
        let mut changes = observer.as_ref().map(|_| Vec::new());
        for entry in entries {
            last = Some(entry.log_id);
            let res = match &entry.payload {
                EntryPayload::Blank => CommandResult::None,
                EntryPayload::Normal(cmd) => {
                    self.apply_command(cmd, &mut batch, &mut pending, &mut changes)?
                }
                EntryPayload::Membership(m) => {
                    let sm = StoredMembership::new(Some(entry.log_id), m.clone());
                    self.put_meta(&mut batch, "membership", &sm);
                    CommandResult::None
                }
            };
            results.push(res);
        }
        if let Some(last) = last {
            self.put_meta(&mut batch, "applied", &Some(last));
            // The log is already durable; the state machine write need not be
            // synced: a crash replays the committed entries it lost.
            self.store
                .db()
                .write(batch)
                .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Write))?;
            if let (Some(o), Some(c)) = (observer, changes) {
                if !c.is_empty() {
                    o.applied(self.group, &c, last.index);
                }
            }
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let payload: SnapshotPayload = bincode::deserialize(snapshot.get_ref()).map_err(|e| {
            io_err(
                e,
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Read,
            )
        })?;
        let cf = self.store.cf(CF_DATA);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, data_key(self.group, &[]), data_prefix_end(self.group));
        for (k, v) in &payload.entries {
            batch.put_cf(cf, data_key(self.group, k), v);
        }
        self.put_meta(&mut batch, "applied", &meta.last_log_id);
        self.put_meta(&mut batch, "membership", &meta.last_membership);
        self.store
            .write_durable(batch)
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Write))
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        // Snapshots are built on demand from the live state.
        Ok(None)
    }
}

/// The log index a group's applied state reflects (0 before any entry).
pub fn applied_index(store: &Store, group: GroupId) -> u64 {
    let sm = StateMachine::new(store.clone(), group);
    match sm.read_meta::<Option<LogId<NodeId>>>("applied") {
        Ok(Some(Some(l))) => l.index,
        _ => 0,
    }
}
