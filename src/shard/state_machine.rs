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
use super::command::RequestId;
use super::store::{
    CF_DATA, data_key, data_prefix_end, group_prefix, prefix_successor, request_index_key,
    request_key, sm_meta_key,
};
use super::{Command, CommandResult, GroupId, NodeId, Op, StorageError, Store, TypeConfig, io_err};

/// How many log entries a request id is remembered for: a command proposed
/// again within this many entries of its first application is not applied
/// again (its first result is returned).
pub const REQUEST_ID_RETENTION: u64 = 100_000;
/// Request ids are forgotten in steps, at entries whose index is a multiple
/// of this (so the state after an entry never depends on batching).
const REQUEST_PRUNE_EVERY: u64 = 1024;

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
    /// Every key of the group after its metadata (user keys and the request
    /// table), without the group prefix.
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// This batch's writes, as later entries of the same batch must see them:
/// reading through it gives the same answer as applying each entry in a
/// `WriteBatch` of its own.
#[derive(Default)]
struct Pending {
    keys: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Prefixes deleted in this batch (keys under them that are not in
    /// `keys` read as absent).
    deleted_prefixes: Vec<Vec<u8>>,
    /// Request ids applied in this batch: id → (log index, result).
    requests: HashMap<RequestId, (u64, CommandResult)>,
    /// Request ids forgotten in this batch.
    forgotten: std::collections::HashSet<RequestId>,
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
    fn current(&self, pending: &Pending, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = pending.keys.get(key) {
            return Ok(v.clone());
        }
        if pending.deleted_prefixes.iter().any(|p| key.starts_with(p)) {
            return Ok(None);
        }
        self.store
            .get(self.group, key)
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))
    }

    /// The result a request id already had, if it was applied within the
    /// retention window.
    fn applied_request(
        &self,
        pending: &Pending,
        id: RequestId,
    ) -> Result<Option<CommandResult>, StorageError> {
        if let Some((_, r)) = pending.requests.get(&id) {
            return Ok(Some(r.clone()));
        }
        if pending.forgotten.contains(&id) {
            return Ok(None);
        }
        let v = self
            .store
            .db()
            .get_cf(self.store.cf(CF_DATA), request_key(self.group, id))
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
        v.map(|b| bincode::deserialize::<(u64, CommandResult)>(&b).map(|(_, r)| r))
            .transpose()
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))
    }

    /// Remember that `id` was applied at `index` with `result`.
    fn remember_request(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        id: RequestId,
        index: u64,
        result: &CommandResult,
    ) {
        let cf = self.store.cf(CF_DATA);
        let v = bincode::serialize(&(index, result)).expect("serializable");
        batch.put_cf(cf, request_key(self.group, id), v);
        batch.put_cf(cf, request_index_key(self.group, index, id), []);
        pending.forgotten.remove(&id);
        pending.requests.insert(id, (index, result.clone()));
    }

    /// Before every `REQUEST_PRUNE_EVERY`th entry, forget the request ids
    /// applied more than `REQUEST_ID_RETENTION` entries before it.
    fn forget_old_requests(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        index: u64,
    ) -> Result<(), StorageError> {
        if index % REQUEST_PRUNE_EVERY != 0 || index <= REQUEST_ID_RETENTION {
            return Ok(());
        }
        let cutoff = index - REQUEST_ID_RETENTION;
        let cf = self.store.cf(CF_DATA);
        let from = request_index_key(self.group, 0, RequestId::default());
        let to = request_index_key(self.group, cutoff, RequestId::default());
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(to.clone());
        let iter = self.store.db().iterator_cf_opt(
            cf,
            ro,
            rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward),
        );
        let skip = from.len() - 8 - 16;
        for item in iter {
            let (k, _) =
                item.map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
            let b = &k[skip + 8..];
            let id = RequestId {
                client: u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
                seq: u64::from_be_bytes(b[8..16].try_into().expect("8 bytes")),
            };
            batch.delete_cf(cf, request_key(self.group, id));
            pending.requests.remove(&id);
            pending.forgotten.insert(id);
        }
        // Ids applied earlier in this batch and already due (a batch longer
        // than the retention window).
        let due: Vec<RequestId> = pending
            .requests
            .iter()
            .filter(|(_, (i, _))| *i < cutoff)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            batch.delete_cf(cf, request_key(self.group, id));
            pending.requests.remove(&id);
            pending.forgotten.insert(id);
        }
        batch.delete_range_cf(cf, from, to);
        Ok(())
    }

    /// Apply one command into `batch`; `pending` tracks this batch's writes so
    /// later entries in the same batch see earlier ones.
    fn apply_command(
        &self,
        cmd: &Command,
        batch: &mut WriteBatch,
        pending: &mut Pending,
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
                    pending.keys.insert(key.clone(), Some(value.clone()));
                    if let Some(c) = changes {
                        c.push(Change::Put(key.clone(), value.clone()));
                    }
                }
                Op::Delete { key } => {
                    batch.delete_cf(cf, data_key(self.group, key));
                    pending.keys.insert(key.clone(), None);
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
                    pending
                        .keys
                        .insert(key.clone(), Some(next.to_be_bytes().to_vec()));
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
                    pending.keys.retain(|k, _| !k.starts_with(prefix));
                    pending.deleted_prefixes.push(prefix.clone());
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
        let (from, to) = snapshot_range(self.group);
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(to);
        let iter = self.store.db().iterator_cf_opt(
            self.store.cf(CF_DATA),
            ro,
            rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, v) =
                item.map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
            if k.get(4) != Some(&b'm') {
                entries.push((k[4..].to_vec(), v.to_vec()));
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
        let mut pending = Pending::default();
        let mut results = Vec::new();
        let mut last = None;
        let observer = self.store.observer();
        let mut changes = observer.as_ref().map(|_| Vec::new());
        for entry in entries {
            last = Some(entry.log_id);
            self.forget_old_requests(&mut batch, &mut pending, entry.log_id.index)?;
            let res = match &entry.payload {
                EntryPayload::Blank => CommandResult::None,
                EntryPayload::Normal(cmd) => match self.applied_request(&pending, cmd.request)? {
                    // Proposed again (a retry): the first application stands.
                    Some(first) => first,
                    None => {
                        let r = self.apply_command(cmd, &mut batch, &mut pending, &mut changes)?;
                        self.remember_request(
                            &mut batch,
                            &mut pending,
                            cmd.request,
                            entry.log_id.index,
                            &r,
                        );
                        r
                    }
                },
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
        let (from, to) = snapshot_range(self.group);
        batch.delete_range_cf(cf, from, to);
        for (k, v) in &payload.entries {
            let mut key = group_prefix(self.group).to_vec();
            key.extend_from_slice(k);
            batch.put_cf(cf, key, v);
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

/// All of a group's state-machine keys. A snapshot carries them all but the
/// metadata (`m`: applied id and membership travel in the snapshot's meta):
/// user keys (`k`) and the request table (`q`, `r`).
fn snapshot_range(group: GroupId) -> (Vec<u8>, Vec<u8>) {
    let from = group_prefix(group).to_vec();
    let mut to = group_prefix(group).to_vec();
    to.push(0xff);
    (from, to)
}

/// The log index a group's applied state reflects (0 before any entry).
pub fn applied_index(store: &Store, group: GroupId) -> u64 {
    let sm = StateMachine::new(store.clone(), group);
    match sm.read_meta::<Option<LogId<NodeId>>>("applied") {
        Ok(Some(Some(l))) => l.index,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    //! Applying entries depends only on the state and the entries: not on
    //! how openraft batches them, not on a request being proposed twice.
    use super::*;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};

    const GROUP: GroupId = 3;

    fn entry(index: u64, payload: EntryPayload<TypeConfig>) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload,
        }
    }

    /// Every key of the group (user keys and the request table), raw.
    fn state(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (from, to) = snapshot_range(GROUP);
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(to);
        store
            .db()
            .iterator_cf_opt(
                store.cf(CF_DATA),
                ro,
                rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward),
            )
            .map(|kv| {
                let (k, v) = kv.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .filter(|(k, _)| k.get(4) != Some(&b'm'))
            .collect()
    }

    /// Apply `entries` in batches of `size` to a fresh store; the results of
    /// every entry and the final state.
    async fn run(
        entries: &[Entry<TypeConfig>],
        size: usize,
    ) -> (Vec<CommandResult>, Vec<(Vec<u8>, Vec<u8>)>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut sm = StateMachine::new(store.clone(), GROUP);
        let mut results = Vec::new();
        for chunk in entries.chunks(size) {
            results.extend(sm.apply(chunk.to_vec()).await.unwrap());
        }
        (results, state(&store))
    }

    /// A seeded mix of every op over a small key space, so that entries of one
    /// batch keep reading keys that earlier entries of it wrote, deleted or
    /// deleted by prefix; some commands are proposed again later.
    fn workload(n: usize, seed: u64) -> Vec<Entry<TypeConfig>> {
        let mut s = seed;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut sent: Vec<Command> = Vec::new();
        let mut out = Vec::new();
        for i in 0..n {
            let index = i as u64 + 1;
            if i % 41 == 40 {
                out.push(entry(index, EntryPayload::Blank));
                continue;
            }
            if !sent.is_empty() && next() % 9 == 0 {
                // A retry of an earlier request.
                let again = sent[next() as usize % sent.len()].clone();
                out.push(entry(index, EntryPayload::Normal(again)));
                continue;
            }
            let mut ops = Vec::new();
            for _ in 0..1 + next() % 3 {
                let key = vec![b'a' + (next() % 3) as u8, (next() % 4) as u8];
                ops.push(match next() % 6 {
                    0 | 1 => Op::Put {
                        key,
                        value: vec![(next() % 3) as u8],
                    },
                    2 => Op::Delete { key },
                    3 => Op::Check {
                        key,
                        expect: match next() % 3 {
                            0 => None,
                            v => Some(vec![(v - 1) as u8]),
                        },
                    },
                    4 => Op::Incr {
                        key: vec![b'c', (next() % 2) as u8],
                        by: (next() % 5) as i64 - 2,
                    },
                    _ => Op::DeletePrefix {
                        prefix: vec![b'a' + (next() % 3) as u8],
                    },
                });
            }
            let cmd = Command::new(ops);
            sent.push(cmd.clone());
            out.push(entry(index, EntryPayload::Normal(cmd)));
        }
        out
    }

    #[tokio::test]
    async fn any_batching_gives_the_same_results_and_state() {
        for seed in [7u64, 1234567, 0xdead_beef] {
            let entries = workload(400, seed);
            let one = run(&entries, 1).await;
            let applied = one
                .0
                .iter()
                .filter(|r| matches!(r, CommandResult::Applied { .. }))
                .count();
            let refused = one
                .0
                .iter()
                .filter(|r| matches!(r, CommandResult::CheckFailed { .. }))
                .count();
            // The workload exercises both outcomes.
            assert!(
                applied > 50 && refused > 50,
                "{applied} applied, {refused} refused"
            );
            for size in [2, 3, 7, 64, entries.len()] {
                let other = run(&entries, size).await;
                assert_eq!(
                    other.0, one.0,
                    "results differ in batches of {size}, seed {seed}"
                );
                assert_eq!(
                    other.1, one.1,
                    "state differs in batches of {size}, seed {seed}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_prefix_delete_is_seen_by_later_entries_of_its_batch() {
        let put = Command::new(vec![Op::Put {
            key: b"ab".to_vec(),
            value: b"1".to_vec(),
        }]);
        let wipe = Command::new(vec![Op::DeletePrefix {
            prefix: b"a".to_vec(),
        }]);
        let check = Command::new(vec![
            Op::Check {
                key: b"ab".to_vec(),
                expect: None,
            },
            Op::Incr {
                key: b"ac".to_vec(),
                by: 1,
            },
        ]);
        let entries: Vec<_> = [put, wipe, check]
            .into_iter()
            .enumerate()
            .map(|(i, c)| entry(i as u64 + 1, EntryPayload::Normal(c)))
            .collect();
        // The row is in RocksDB before the batch that wipes and checks it.
        let dir = tempfile::tempdir().unwrap();
        let mut sm = StateMachine::new(Store::open(dir.path()).unwrap(), GROUP);
        sm.apply(entries[..1].to_vec()).await.unwrap();
        let results = sm.apply(entries[1..].to_vec()).await.unwrap();
        assert_eq!(results[1], CommandResult::Applied { counters: vec![1] });
    }

    #[tokio::test]
    async fn a_request_applies_once_within_the_retention() {
        let incr = Command::new(vec![Op::Incr {
            key: b"n".to_vec(),
            by: 5,
        }]);
        // An entry where ids are forgotten, far enough after the first.
        let late = (REQUEST_ID_RETENTION / REQUEST_PRUNE_EVERY + 2) * REQUEST_PRUNE_EVERY;
        let entries = vec![
            entry(1, EntryPayload::Normal(incr.clone())),
            entry(2, EntryPayload::Normal(incr.clone())),
            entry(3, EntryPayload::Normal(Command::new(vec![]))),
            entry(4, EntryPayload::Normal(incr.clone())),
            // Far enough later that the id was forgotten: a new application.
            entry(late, EntryPayload::Normal(incr.clone())),
        ];
        for size in [1, 2, 5] {
            let (results, state) = run(&entries, size).await;
            let first = CommandResult::Applied { counters: vec![5] };
            assert_eq!(results[0], first);
            assert_eq!(results[1], first, "batches of {size}");
            assert_eq!(results[3], first, "batches of {size}");
            assert_eq!(results[4], CommandResult::Applied { counters: vec![10] });
            // Only the requests still remembered are kept.
            let remembered = state.iter().filter(|(k, _)| k[4] == b'r').count();
            assert_eq!(remembered, 1, "batches of {size}");
        }
    }

    #[tokio::test]
    async fn snapshot_round_trip_keeps_rows_and_requests() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut sm = StateMachine::new(store.clone(), GROUP);
        let entries = workload(200, 99);
        sm.apply(entries).await.unwrap();
        let before = state(&store);
        let mut snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        let dir2 = tempfile::tempdir().unwrap();
        let store2 = Store::open(dir2.path()).unwrap();
        let mut sm2 = StateMachine::new(store2.clone(), GROUP);
        // Something to be replaced.
        sm2.apply(vec![entry(
            1,
            EntryPayload::Normal(Command::new(vec![Op::Put {
                key: b"zz".to_vec(),
                value: vec![1],
            }])),
        )])
        .await
        .unwrap();
        sm2.install_snapshot(&snap.meta, std::mem::take(&mut snap.snapshot))
            .await
            .unwrap();
        assert_eq!(state(&store2), before);
        assert_eq!(sm2.applied_state().await.unwrap().0, snap.meta.last_log_id);
    }
}
