//! The state machine every group runs: applies [`Command`]s to the group's
//! key space in RocksDB. The applied log id and membership are written in the
//! same `WriteBatch` as the data they describe, so a restart never sees a
//! half-applied entry.

use std::collections::HashMap;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftSnapshotBuilder, SnapshotMeta,
    StoredMembership,
};
use rocksdb::WriteBatch;
use serde::Serialize;

use super::Change;
use super::command::{RequestId, ResolveScope, TxnId, TxnStatus};
use super::mvcc::{self, Version, history_key, history_prefix_range};
use super::store::{
    CF_DATA, data_key, data_prefix_end, prefix_successor, request_index_key, request_key,
    sm_meta_key,
};
use super::txn::{self as txns, Intent, intent_key, intent_prefix_range, record_key};
use super::{
    Command, CommandResult, GroupId, NodeId, Op, StorageError, Store, TypeConfig, io_err, snapshot,
};
use crate::hlc::Timestamp;

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
    /// The stored `max_ts`, kept here so applying does not read it back.
    max_ts: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// This batch's writes, as later entries of the same batch must see them:
/// reading through it gives the same answer as applying each entry in a
/// `WriteBatch` of its own.
#[derive(Default)]
struct Pending {
    /// The latest version of each key written in this batch (None: absent).
    keys: HashMap<Vec<u8>, Option<Version>>,
    /// Prefixes deleted in this batch (keys under them that are not in
    /// `keys` read as absent).
    deleted_prefixes: Vec<Vec<u8>>,
    /// Request ids applied in this batch: id → (log index, result).
    requests: HashMap<RequestId, (u64, CommandResult)>,
    /// Request ids forgotten in this batch.
    forgotten: std::collections::HashSet<RequestId>,
    /// Intents written or removed in this batch (None: removed).
    intents: HashMap<Vec<u8>, Option<Intent>>,
    /// Transaction records written or removed in this batch.
    records: HashMap<TxnId, Option<TxnStatus>>,
}

impl StateMachine {
    pub fn new(store: Store, group: GroupId) -> Self {
        let mut sm = StateMachine {
            store,
            group,
            max_ts: Default::default(),
        };
        // An install a crash interrupted is done again before anything
        // reads the group.
        if snapshot::interrupted(&sm.store, group) {
            if let Err(e) = snapshot::install(&sm.store, group) {
                tracing::error!("group {group}: finishing an interrupted snapshot install: {e}");
            }
        }
        let stored = sm.read_meta::<Timestamp>("max_ts").ok().flatten();
        sm.max_ts = std::sync::Arc::new(stored.unwrap_or_default().0.into());
        sm
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

    /// The latest version of `key`, seeing the writes of this batch so far.
    fn latest(&self, pending: &Pending, key: &[u8]) -> Result<Option<Version>, StorageError> {
        if let Some(v) = pending.keys.get(key) {
            return Ok(v.clone());
        }
        if pending.deleted_prefixes.iter().any(|p| key.starts_with(p)) {
            return Ok(None);
        }
        mvcc::latest(self.store.db(), self.group, key)
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))
    }

    /// The intent on `key`, seeing this batch's writes.
    fn intent(&self, pending: &Pending, key: &[u8]) -> Result<Option<Intent>, StorageError> {
        if let Some(i) = pending.intents.get(key) {
            return Ok(i.clone());
        }
        if pending.deleted_prefixes.iter().any(|p| key.starts_with(p)) {
            return Ok(None);
        }
        txns::intent(self.store.db(), self.group, key)
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))
    }

    fn set_intent(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        key: &[u8],
        i: Option<Intent>,
    ) {
        let cf = self.store.cf(CF_DATA);
        match &i {
            Some(i) => batch.put_cf(cf, intent_key(self.group, key), i.encode()),
            None => batch.delete_cf(cf, intent_key(self.group, key)),
        }
        pending.intents.insert(key.to_vec(), i);
    }

    /// The status of `txn`'s record on this group, seeing this batch.
    fn record(&self, pending: &Pending, txn: TxnId) -> Result<Option<TxnStatus>, StorageError> {
        if let Some(r) = pending.records.get(&txn) {
            return Ok(*r);
        }
        txns::record(self.store.db(), self.group, txn)
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))
    }

    fn set_record(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        txn: TxnId,
        s: Option<TxnStatus>,
    ) {
        let cf = self.store.cf(CF_DATA);
        match &s {
            Some(s) => batch.put_cf(cf, record_key(self.group, txn), txns::encode_status(s)),
            None => batch.delete_cf(cf, record_key(self.group, txn)),
        }
        pending.records.insert(txn, s);
    }

    /// Decide `txn` (see [`Op::EndTxn`]): the first decision stands.
    fn end_txn(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        txn: TxnId,
        commit: bool,
        ts: Timestamp,
    ) -> Result<CommandResult, StorageError> {
        let status = match self.record(pending, txn)? {
            Some(TxnStatus::Pending) => {
                let s = if commit {
                    TxnStatus::Committed(ts)
                } else {
                    TxnStatus::Aborted
                };
                self.set_record(batch, pending, txn, Some(s));
                Some(s)
            }
            other => other,
        };
        Ok(CommandResult::Txn { status })
    }

    /// Resolve `txn`'s intent on `key`, if it holds one: committed at
    /// `commit` it becomes the key's version; aborted it goes.
    fn resolve_key(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        changes: &mut Option<Vec<Change>>,
        txn: TxnId,
        commit: Option<Timestamp>,
        key: &[u8],
        intent: Intent,
    ) -> Result<bool, StorageError> {
        if intent.txn != txn {
            return Ok(false);
        }
        if let (Some(ts), false) = (commit, intent.lock_only) {
            let changed = self.write_version(batch, pending, key, ts, intent.value.clone())?;
            if let (true, Some(c)) = (changed, changes.as_mut()) {
                c.push(match intent.value {
                    Some(v) => Change::Put(key.to_vec(), v),
                    None => Change::Delete(key.to_vec()),
                });
            }
        }
        self.set_intent(batch, pending, key, None);
        Ok(true)
    }

    /// One [`Op::Resolve`].
    fn resolve(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        changes: &mut Option<Vec<Change>>,
        txn: TxnId,
        commit: Option<Timestamp>,
        scope: &ResolveScope,
    ) -> Result<CommandResult, StorageError> {
        let mut intents = 0;
        match scope {
            ResolveScope::Keys(keys) => {
                for key in keys {
                    if let Some(i) = self.intent(pending, key)? {
                        if self.resolve_key(batch, pending, changes, txn, commit, key, i)? {
                            intents += 1;
                        }
                    }
                }
                Ok(CommandResult::Resolved {
                    intents,
                    next: None,
                })
            }
            ResolveScope::From { from, limit } => {
                // Alone in its batch (see `reads_ranges`): the store is the
                // state this entry applies to.
                let limit = (*limit).max(1) as usize;
                let found = txns::intents(self.store.db(), self.group, from, None, limit + 1)
                    .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
                let mut next = None;
                for (n, (key, i)) in found.into_iter().enumerate() {
                    if n == limit {
                        next = Some(key);
                        break;
                    }
                    if self.resolve_key(batch, pending, changes, txn, commit, &key, i)? {
                        intents += 1;
                    }
                }
                Ok(CommandResult::Resolved { intents, next })
            }
        }
    }

    /// The current (latest committed) value of `key`.
    fn current(&self, pending: &Pending, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.latest(pending, key)?.and_then(|v| v.value))
    }

    /// Write `value` (None: a delete) as `key`'s version at `ts`. A newer
    /// version moves the latest one to history; a version at the latest's
    /// own timestamp replaces it (a statement undoing its own write); an
    /// older one (a write that was overtaken in the log by a later one)
    /// goes straight to history. Returns whether the latest changed.
    fn write_version(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        key: &[u8],
        ts: Timestamp,
        value: Option<Vec<u8>>,
    ) -> Result<bool, StorageError> {
        let cf = self.store.cf(CF_DATA);
        let new = Version { ts, value };
        match self.latest(pending, key)? {
            None if new.value.is_none() => return Ok(false),
            Some(old) if old.ts > ts => {
                batch.put_cf(cf, history_key(self.group, key, ts), new.encode_history());
                return Ok(false);
            }
            Some(old) if old.ts < ts => {
                batch.put_cf(
                    cf,
                    history_key(self.group, key, old.ts),
                    old.encode_history(),
                );
            }
            _ => {}
        }
        batch.put_cf(cf, data_key(self.group, key), new.encode());
        pending.keys.insert(key.to_vec(), Some(new));
        Ok(true)
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

    /// One round of garbage collection (see [`Op::Gc`]). For each key whose
    /// history it reads: if the latest version is at or before `horizon`,
    /// every older version goes (and the key itself if the latest is a
    /// deletion); otherwise the newest version at or before `horizon` stays
    /// (a snapshot at the horizon reads it) unless it is a deletion, and the
    /// older ones go.
    fn collect_garbage(
        &self,
        batch: &mut WriteBatch,
        pending: &mut Pending,
        horizon: Timestamp,
        from: &[u8],
        limit: u32,
    ) -> Result<CommandResult, StorageError> {
        let cf = self.store.cf(CF_DATA);
        let start = mvcc::history_start(self.group);
        let mut seek = start.clone();
        seek.extend_from_slice(from);
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(prefix_successor(&start).expect("non-empty prefix"));
        let iter = self.store.db().iterator_cf_opt(
            cf,
            ro,
            rocksdb::IteratorMode::From(&seek, rocksdb::Direction::Forward),
        );
        let (mut versions, mut keys) = (0u64, 0u64);
        let mut read = 0u32;
        // The history of one key: (raw key, commit ts, is a deletion), newest first.
        let mut group: Vec<(Vec<u8>, Timestamp, bool)> = Vec::new();
        let mut current: Option<Vec<u8>> = None;
        let mut next = None;
        let mut finish = |key: &[u8],
                          hist: &[(Vec<u8>, Timestamp, bool)],
                          batch: &mut WriteBatch,
                          pending: &mut Pending|
         -> Result<(), StorageError> {
            let drop_from = match self.latest(pending, key)? {
                // History no reader reaches.
                None => 0,
                Some(l) if l.ts <= horizon => {
                    if l.value.is_none() {
                        batch.delete_cf(cf, data_key(self.group, key));
                        pending.keys.insert(key.to_vec(), None);
                        keys += 1;
                    }
                    0
                }
                Some(_) => match hist.iter().position(|(_, ts, _)| *ts <= horizon) {
                    // The version a snapshot at the horizon reads stays,
                    // unless it says "deleted" and nothing older is left.
                    Some(i) if hist[i].2 => i,
                    Some(i) => i + 1,
                    None => hist.len(),
                },
            };
            for (raw, _, _) in &hist[drop_from..] {
                batch.delete_cf(cf, raw);
                versions += 1;
            }
            Ok(())
        };
        for item in iter {
            let (k, v) =
                item.map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
            let Some((key, ts)) = mvcc::split_history_key(&k[start.len()..]) else {
                continue;
            };
            if current.as_ref() != Some(&key) {
                if let Some(done) = current.take() {
                    finish(&done, &group, batch, pending)?;
                    group.clear();
                    if read >= limit {
                        next = Some(k[start.len()..].to_vec());
                        break;
                    }
                }
                current = Some(key);
            }
            group.push((k.to_vec(), ts, v.first() == Some(&1)));
            read += 1;
        }
        if let Some(done) = current.take() {
            if next.is_none() {
                finish(&done, &group, batch, pending)?;
            }
        }
        Ok(CommandResult::Collected {
            versions,
            keys,
            next,
        })
    }

    /// Write `batch`, which applied the entries up to `last`, with the
    /// applied id and the newest commit timestamp, then tell the observer.
    fn write_batch(
        &self,
        mut batch: WriteBatch,
        last: LogId<NodeId>,
        max_ts: Timestamp,
        changes: &mut Option<Vec<Change>>,
    ) -> Result<(), StorageError> {
        self.put_meta(&mut batch, "applied", &Some(last));
        let stored = self.max_ts.load(std::sync::atomic::Ordering::Acquire);
        if max_ts.0 > stored {
            self.put_meta(&mut batch, "max_ts", &max_ts);
        }
        // The log is already durable; the state machine write need not be
        // synced: a crash replays the committed entries it lost.
        self.store
            .db()
            .write(batch)
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Write))?;
        self.max_ts
            .fetch_max(max_ts.0, std::sync::atomic::Ordering::AcqRel);
        // Also without changes: the observer's applied index must reach
        // the group's (a checkpoint of it is only loaded if they agree).
        if let (Some(o), Some(c)) = (self.store.observer(), changes.as_mut()) {
            o.applied(self.group, c, last.index);
            c.clear();
        }
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
        if let [
            Op::Gc {
                horizon,
                from,
                limit,
            },
        ] = cmd.ops.as_slice()
        {
            return self.collect_garbage(batch, pending, *horizon, from, *limit);
        }
        match cmd.ops.as_slice() {
            [Op::EndTxn { txn, commit }] => {
                return self.end_txn(batch, pending, *txn, *commit, cmd.ts);
            }
            // A commit decision that carries writes of this group (a
            // catalog change committing with its transaction's rows): the
            // writes apply only if their checks hold and this command is
            // the one that commits; failed checks leave the record as is.
            [Op::EndTxn { txn, commit: true }, rest @ ..] => {
                let rest = Command {
                    ops: rest.to_vec(),
                    request: cmd.request,
                    ts: cmd.ts,
                };
                for (i, op) in rest.ops.iter().enumerate() {
                    if let Op::Check { key, expect } = op {
                        let actual = self.current(pending, key)?;
                        if &actual != expect {
                            return Ok(CommandResult::CheckFailed {
                                op_index: i + 1,
                                actual,
                            });
                        }
                    }
                }
                let deciding = matches!(self.record(pending, *txn)?, Some(TxnStatus::Pending));
                let decided = self.end_txn(batch, pending, *txn, true, cmd.ts)?;
                if deciding {
                    self.apply_command(&rest, batch, pending, changes)?;
                }
                return Ok(decided);
            }
            [Op::Resolve { txn, commit, scope }] => {
                return self.resolve(batch, pending, changes, *txn, *commit, scope);
            }
            _ => {}
        }
        // Every precondition before any write: a key another transaction
        // holds an intent on is locked, whatever its value.
        for (i, op) in cmd.ops.iter().enumerate() {
            let (key, expect, mine, blind) = match op {
                Op::Check { key, expect } => (key, expect, None, false),
                Op::Intent {
                    txn,
                    key,
                    expect,
                    blind,
                    ..
                } => (key, expect, Some(*txn), *blind),
                _ => continue,
            };
            // A transaction's own intent is what it sees at the key.
            let own = match self.intent(pending, key)? {
                Some(held) if Some(held.txn) == mine => Some(held.value),
                Some(held) => {
                    return Ok(CommandResult::Locked {
                        op_index: i,
                        holder: held.txn,
                        record: held.record,
                    });
                }
                None => None,
            };
            if blind {
                continue;
            }
            let actual = match own {
                Some(v) => v,
                None => self.current(pending, key)?,
            };
            if &actual != expect {
                return Ok(CommandResult::CheckFailed {
                    op_index: i,
                    actual,
                });
            }
        }
        let cf = self.store.cf(CF_DATA);
        let mut counters = Vec::new();
        for op in &cmd.ops {
            match op {
                Op::Put { key, value } => {
                    let changed =
                        self.write_version(batch, pending, key, cmd.ts, Some(value.clone()))?;
                    if let (true, Some(c)) = (changed, changes.as_mut()) {
                        c.push(Change::Put(key.clone(), value.clone()));
                    }
                }
                Op::Delete { key } => {
                    let changed = self.write_version(batch, pending, key, cmd.ts, None)?;
                    if let (true, Some(c)) = (changed, changes.as_mut()) {
                        c.push(Change::Delete(key.clone()));
                    }
                }
                // Checked above; the others only alone in their command.
                Op::Check { .. } | Op::Gc { .. } | Op::EndTxn { .. } | Op::Resolve { .. } => {}
                Op::Intent {
                    txn,
                    record,
                    key,
                    expect,
                    new,
                    blind,
                } => {
                    // Writing what the key holds only locks it (FOR
                    // UPDATE); a real write of the same transaction over
                    // it makes it a write.
                    let i = Intent {
                        txn: *txn,
                        record: *record,
                        value: new.clone(),
                        lock_only: !blind
                            && expect == new
                            && self.intent(pending, key)?.is_none_or(|i| i.lock_only),
                    };
                    self.set_intent(batch, pending, key, Some(i));
                }
                Op::BeginTxn { txn } => {
                    if self.record(pending, *txn)?.is_none() {
                        self.set_record(batch, pending, *txn, Some(TxnStatus::Pending));
                    }
                }
                Op::ForgetTxn { txn } => self.set_record(batch, pending, *txn, None),
                Op::Incr { key, by } => {
                    let cur = self
                        .current(pending, key)?
                        .map(|b| i64::from_be_bytes(b.as_slice().try_into().unwrap_or([0; 8])))
                        .unwrap_or(0);
                    let next = cur.saturating_add(*by);
                    self.write_version(
                        batch,
                        pending,
                        key,
                        cmd.ts,
                        Some(next.to_be_bytes().to_vec()),
                    )?;
                    counters.push(next);
                }
                Op::DeletePrefix { prefix } => {
                    // Physical removal of every version (DROP, TRUNCATE): like
                    // PostgreSQL's TRUNCATE, not visible to older snapshots.
                    let from = data_key(self.group, prefix);
                    let to = match prefix_successor(prefix) {
                        Some(s) => data_key(self.group, &s),
                        None => data_prefix_end(self.group),
                    };
                    batch.delete_range_cf(cf, from, to);
                    let (from, to) = history_prefix_range(self.group, prefix);
                    batch.delete_range_cf(cf, from, to);
                    let (from, to) = intent_prefix_range(self.group, prefix);
                    batch.delete_range_cf(cf, from, to);
                    if let Some(c) = changes {
                        c.push(Change::DeletePrefix(prefix.clone()));
                    }
                    pending.keys.retain(|k, _| !k.starts_with(prefix));
                    pending.intents.retain(|k, _| !k.starts_with(prefix));
                    pending.deleted_prefixes.push(prefix.clone());
                }
            }
        }
        Ok(CommandResult::Applied { counters })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    /// A point-in-time snapshot streamed to a file (`shard::snapshot`).
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (store, group) = (self.store.clone(), self.group);
        let built = tokio::task::spawn_blocking(move || snapshot::build(&store, group))
            .await
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
        open_snapshot(built).await
    }
}

/// The snapshot in file `path` with `header`, opened for reading.
async fn open_snapshot(
    (header, path): (snapshot::Header, std::path::PathBuf),
) -> Result<Snapshot<TypeConfig>, StorageError> {
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
    Ok(Snapshot {
        meta: SnapshotMeta {
            last_log_id: header.last_applied,
            last_membership: header.membership,
            snapshot_id: header.id,
        },
        snapshot: Box::new(file),
    })
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
        // The last entry applied into `batch` and not yet written.
        let mut unwritten = None;
        let mut changes = self.store.observer().map(|_| Vec::new());
        let mut max_ts = Timestamp::ZERO;
        for entry in entries {
            if let (EntryPayload::Normal(cmd), Some(last)) = (&entry.payload, unwritten) {
                if cmd.reads_ranges() {
                    // It iterates the store: write what came before it so
                    // it reads the same state as if applied alone.
                    self.write_batch(std::mem::take(&mut batch), last, max_ts, &mut changes)?;
                    pending = Pending::default();
                }
            }
            unwritten = Some(entry.log_id);
            self.forget_old_requests(&mut batch, &mut pending, entry.log_id.index)?;
            let res = match &entry.payload {
                EntryPayload::Blank => CommandResult::None,
                EntryPayload::Normal(cmd) => match {
                    max_ts = max_ts.max(cmd.ts);
                    self.applied_request(&pending, cmd.request)?
                } {
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
        if let Some(last) = unwritten {
            self.write_batch(batch, last, max_ts, &mut changes)?;
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let path = snapshot::installing_path(&self.store, self.group)
            .map_err(|e| io_err(e, ErrorSubject::Snapshot(None), ErrorVerb::Write))?;
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
            .map_err(|e| io_err(e, ErrorSubject::Snapshot(None), ErrorVerb::Write))?;
        Ok(Box::new(file))
    }

    /// Copied durably to the group's `installing.snap` (if it is not that
    /// file already), then installed in batches (`shard::snapshot::install`:
    /// a crash midway is redone at the next start).
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        let err = |e: std::io::Error| {
            io_err(
                e,
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
            )
        };
        let path = snapshot::installing_path(&self.store, self.group).map_err(err)?;
        let copy = path.with_extension("copy");
        {
            let mut out = tokio::fs::File::create(&copy).await.map_err(err)?;
            snapshot.flush().await.map_err(err)?;
            snapshot
                .seek(std::io::SeekFrom::Start(0))
                .await
                .map_err(err)?;
            tokio::io::copy(&mut snapshot, &mut out)
                .await
                .map_err(err)?;
            out.sync_all().await.map_err(err)?;
        }
        tokio::fs::rename(&copy, &path).await.map_err(err)?;
        let (store, group) = (self.store.clone(), self.group);
        let header = tokio::task::spawn_blocking(move || snapshot::install(&store, group))
            .await
            .map_err(|e| err(std::io::Error::other(e.to_string())))?
            .map_err(err)?;
        self.max_ts
            .fetch_max(header.max_ts.0, std::sync::atomic::Ordering::AcqRel);
        // Before the next entry applies: it then reaches what replaces the
        // derived state, not what the snapshot made stale.
        if let Some(o) = self.store.observer() {
            o.replaced(self.group, meta.last_log_id.map_or(0, |l| l.index));
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let (store, group) = (self.store.clone(), self.group);
        let found = tokio::task::spawn_blocking(move || snapshot::current(&store, group))
            .await
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?
            .map_err(|e| io_err(e, ErrorSubject::StateMachine, ErrorVerb::Read))?;
        match found {
            Some(f) => open_snapshot(f).await.map(Some),
            None => Ok(None),
        }
    }
}

/// All of a group's state-machine keys (tests compare them).
#[cfg(test)]
fn snapshot_range(group: GroupId) -> (Vec<u8>, Vec<u8>) {
    let from = super::store::group_prefix(group).to_vec();
    let mut to = super::store::group_prefix(group).to_vec();
    to.push(0xff);
    (from, to)
}

/// The newest commit timestamp a group has applied (a restarted node's
/// clock is moved past it, so its new writes order after the old ones even
/// if the wall clock went back).
pub fn max_applied_ts(store: &Store, group: GroupId) -> Timestamp {
    let sm = StateMachine::new(store.clone(), group);
    Timestamp(sm.max_ts.load(std::sync::atomic::Ordering::Acquire))
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
            let txn = |n: u64| {
                TxnId(RequestId {
                    client: 1,
                    seq: n % 2,
                })
            };
            let mut ops = Vec::new();
            if next() % 6 == 0 {
                // Commands that stand alone, some of them reading ranges.
                let t = txn(next());
                ops.push(match next() % 5 {
                    0 => Op::EndTxn {
                        txn: t,
                        commit: next() % 2 == 0,
                    },
                    1 => Op::Resolve {
                        txn: t,
                        commit: Some(Timestamp(next() % 50)),
                        scope: ResolveScope::Keys(vec![vec![b'a', 1], vec![b'b', 2]]),
                    },
                    2 => Op::Resolve {
                        txn: t,
                        commit: (next() % 2 == 0).then_some(Timestamp(next() % 50)),
                        scope: ResolveScope::From {
                            from: vec![],
                            limit: 1 + (next() % 3) as u32,
                        },
                    },
                    3 => Op::Gc {
                        horizon: Timestamp(next() % 50),
                        from: vec![],
                        limit: 2,
                    },
                    _ => Op::ForgetTxn { txn: t },
                });
            }
            for _ in 0..(1 + next() % 3) * u64::from(ops.is_empty()) {
                let key = vec![b'a' + (next() % 3) as u8, (next() % 4) as u8];
                ops.push(match next() % 9 {
                    6 => Op::Intent {
                        txn: txn(next()),
                        record: GROUP,
                        key,
                        expect: None,
                        new: Some(vec![(next() % 3) as u8]),
                        blind: next() % 4 == 0,
                    },
                    7 => Op::BeginTxn { txn: txn(next()) },
                    8 => Op::Incr {
                        key: vec![b'c', (next() % 2) as u8],
                        by: 1,
                    },
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
            let mut cmd = Command::new(ops);
            cmd.ts = Timestamp(index);
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
        let snap = sm
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
        // Derived state (vector indexes) is told to rebuild.
        struct Replaced(parking_lot::Mutex<Vec<(GroupId, u64)>>);
        impl crate::shard::ApplyObserver for Replaced {
            fn applied(&self, _: GroupId, _: &[crate::shard::Change], _: u64) {}
            fn replaced(self: std::sync::Arc<Self>, group: GroupId, log_index: u64) {
                self.0.lock().push((group, log_index));
            }
        }
        let seen = std::sync::Arc::new(Replaced(Default::default()));
        store2.set_observer(seen.clone());
        let meta = snap.meta.clone();
        sm2.install_snapshot(&meta, snap.snapshot).await.unwrap();
        assert_eq!(
            *seen.0.lock(),
            vec![(GROUP, meta.last_log_id.unwrap().index)]
        );
        store2.clear_observer();
        assert_eq!(state(&store2), before);
        assert_eq!(sm2.applied_state().await.unwrap().0, meta.last_log_id);
        assert_eq!(
            max_applied_ts(&store2, GROUP),
            max_applied_ts(&store, GROUP)
        );
        // The installed snapshot is the group's current one.
        let cur = sm2.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(cur.meta.snapshot_id, meta.snapshot_id);

        // An install cut short (the marker set, the state half replaced)
        // is finished when the group is opened again.
        let dir3 = tempfile::tempdir().unwrap();
        let store3 = Store::open(dir3.path()).unwrap();
        std::fs::copy(
            snapshot::dir(&store2, GROUP).join(format!("{}.snap", meta.snapshot_id)),
            snapshot::installing_path(&store3, GROUP).unwrap(),
        )
        .unwrap();
        let mut batch = WriteBatch::default();
        batch.put_cf(
            store3.cf(super::super::store::CF_META),
            super::super::store::meta_key(GROUP, "installing-snapshot"),
            b"x",
        );
        batch.put_cf(store3.cf(CF_DATA), sm_meta_key(GROUP, "applied"), b"junk");
        store3.write_durable(batch).unwrap();
        let mut sm3 = StateMachine::new(store3.clone(), GROUP);
        assert_eq!(state(&store3), before);
        assert_eq!(sm3.applied_state().await.unwrap().0, meta.last_log_id);
        assert!(!snapshot::interrupted(&store3, GROUP));
    }
}

#[cfg(test)]
mod mvcc_tests {
    //! Versions through the state machine: reads at a timestamp see the
    //! state as of it.
    use super::*;
    use crate::shard::txn;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};

    const GROUP: GroupId = 5;

    fn fresh() -> (tempfile::TempDir, Store, StateMachine) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sm = StateMachine::new(store.clone(), GROUP);
        (dir, store, sm)
    }

    /// History entries of the group.
    fn history_len(store: &Store) -> usize {
        let (from, to) = history_prefix_range(GROUP, b"");
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(to);
        store
            .db()
            .iterator_cf_opt(
                store.cf(CF_DATA),
                ro,
                rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward),
            )
            .count()
    }

    fn at(ts: u64, ops: Vec<Op>) -> Command {
        let mut c = Command::new(ops);
        c.ts = Timestamp(ts);
        c
    }

    fn put(k: &[u8], v: &[u8]) -> Op {
        Op::Put {
            key: k.to_vec(),
            value: v.to_vec(),
        }
    }

    async fn apply(
        sm: &mut StateMachine,
        index: &mut u64,
        cmds: Vec<Command>,
    ) -> Vec<CommandResult> {
        let entries = cmds
            .into_iter()
            .map(|c| {
                *index += 1;
                Entry {
                    log_id: LogId::new(CommittedLeaderId::new(1, 1), *index),
                    payload: EntryPayload::Normal(c),
                }
            })
            .collect::<Vec<_>>();
        sm.apply(entries).await.unwrap()
    }

    fn intent(txn: TxnId, k: &[u8], expect: Option<&[u8]>, new: Option<&[u8]>) -> Op {
        Op::Intent {
            txn,
            record: GROUP,
            key: k.to_vec(),
            expect: expect.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
            blind: false,
        }
    }

    /// Intents lock their keys against other transactions and one-phase
    /// writes, are invisible until resolved, and become versions at the
    /// commit timestamp (or vanish on abort); a transaction sees its own.
    #[tokio::test]
    async fn intents_lock_commit_at_the_record_timestamp_and_abort_without_trace() {
        let (_dir, store, mut sm) = fresh();
        let db = store.db();
        let mut i = 0;
        let (t1, t2) = (
            TxnId(RequestId { client: 9, seq: 1 }),
            TxnId(RequestId { client: 9, seq: 2 }),
        );
        apply(&mut sm, &mut i, vec![at(10, vec![put(b"a", b"1")])]).await;
        let r = apply(
            &mut sm,
            &mut i,
            vec![at(
                0,
                vec![
                    Op::BeginTxn { txn: t1 },
                    intent(t1, b"a", Some(b"1"), Some(b"2")),
                    intent(t1, b"b", None, Some(b"x")),
                ],
            )],
        )
        .await;
        assert!(matches!(r[0], CommandResult::Applied { .. }), "{r:?}");
        // Not visible; locked for others; the owner sees its own value.
        assert_eq!(
            mvcc::get_at(db, GROUP, b"a", Timestamp::MAX).unwrap(),
            Some(b"1".to_vec())
        );
        let r = apply(
            &mut sm,
            &mut i,
            vec![
                at(
                    20,
                    vec![
                        Op::Check {
                            key: b"b".to_vec(),
                            expect: None,
                        },
                        put(b"b", b"y"),
                    ],
                ),
                at(
                    0,
                    vec![Op::BeginTxn { txn: t2 }, intent(t2, b"a", Some(b"1"), None)],
                ),
                at(0, vec![intent(t1, b"b", None, Some(b"z"))]),
                at(0, vec![intent(t1, b"b", Some(b"x"), Some(b"z"))]),
            ],
        )
        .await;
        assert_eq!(
            r[0],
            CommandResult::Locked {
                op_index: 0,
                holder: t1,
                record: GROUP
            }
        );
        assert_eq!(
            r[1],
            CommandResult::Locked {
                op_index: 1,
                holder: t1,
                record: GROUP
            }
        );
        assert_eq!(
            r[2],
            CommandResult::CheckFailed {
                op_index: 0,
                actual: Some(b"x".to_vec())
            }
        );
        assert!(matches!(r[3], CommandResult::Applied { .. }), "{r:?}");
        // Commit at 30: the record decides, resolution writes versions.
        let r = apply(
            &mut sm,
            &mut i,
            vec![
                at(
                    30,
                    vec![Op::EndTxn {
                        txn: t1,
                        commit: true,
                    }],
                ),
                at(
                    40,
                    vec![Op::EndTxn {
                        txn: t1,
                        commit: false,
                    }],
                ),
            ],
        )
        .await;
        let committed = Some(TxnStatus::Committed(Timestamp(30)));
        assert_eq!(r[0], CommandResult::Txn { status: committed });
        assert_eq!(
            r[1],
            CommandResult::Txn { status: committed },
            "the first decision stands"
        );
        let r = apply(
            &mut sm,
            &mut i,
            vec![at(
                30,
                vec![Op::Resolve {
                    txn: t1,
                    commit: Some(Timestamp(30)),
                    scope: ResolveScope::From {
                        from: vec![],
                        limit: 10,
                    },
                }],
            )],
        )
        .await;
        assert_eq!(
            r[0],
            CommandResult::Resolved {
                intents: 2,
                next: None
            }
        );
        assert_eq!(
            mvcc::get_at(db, GROUP, b"a", Timestamp(29)).unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(
            mvcc::get_at(db, GROUP, b"a", Timestamp(30)).unwrap(),
            Some(b"2".to_vec())
        );
        assert_eq!(
            mvcc::get_at(db, GROUP, b"b", Timestamp(30)).unwrap(),
            Some(b"z".to_vec())
        );
        assert!(txn::intents(db, GROUP, b"", None, 10).unwrap().is_empty());
        // t2 never got its intent; aborting and resolving leaves nothing.
        let r = apply(
            &mut sm,
            &mut i,
            vec![
                at(0, vec![intent(t2, b"a", Some(b"2"), None)]),
                at(
                    0,
                    vec![Op::EndTxn {
                        txn: t2,
                        commit: false,
                    }],
                ),
                at(
                    0,
                    vec![Op::Resolve {
                        txn: t2,
                        commit: None,
                        scope: ResolveScope::Keys(vec![b"a".to_vec()]),
                    }],
                ),
                at(
                    0,
                    vec![Op::ForgetTxn { txn: t2 }, Op::ForgetTxn { txn: t1 }],
                ),
            ],
        )
        .await;
        // Its record was never made (the command with it was refused).
        assert_eq!(r[1], CommandResult::Txn { status: None });
        assert_eq!(
            r[2],
            CommandResult::Resolved {
                intents: 1,
                next: None
            }
        );
        assert_eq!(
            mvcc::get_at(db, GROUP, b"a", Timestamp::MAX).unwrap(),
            Some(b"2".to_vec())
        );
        assert!(txn::intents(db, GROUP, b"", None, 10).unwrap().is_empty());
        assert!(txn::records(db, GROUP).unwrap().is_empty());
        // A decision on a forgotten transaction reports no record.
        let r = apply(
            &mut sm,
            &mut i,
            vec![at(
                50,
                vec![Op::EndTxn {
                    txn: t1,
                    commit: true,
                }],
            )],
        )
        .await;
        assert_eq!(r[0], CommandResult::Txn { status: None });
    }

    /// A commit decision may carry writes of its own group (the catalog of
    /// a block with DDL): a failed check leaves the record pending and
    /// writes nothing; a passing one commits and writes at the decision's
    /// timestamp; a record already decided (aborted by recovery) keeps its
    /// decision and the writes do not apply.
    #[tokio::test]
    async fn a_commit_decision_carries_its_groups_writes_all_or_nothing() {
        let (_dir, store, mut sm) = fresh();
        let mut i = 0;
        let (t1, t2) = (
            TxnId(RequestId { client: 7, seq: 1 }),
            TxnId(RequestId { client: 7, seq: 2 }),
        );
        apply(&mut sm, &mut i, vec![at(10, vec![put(b"cat", b"v1")])]).await;
        apply(
            &mut sm,
            &mut i,
            vec![at(
                0,
                vec![Op::BeginTxn { txn: t1 }, Op::BeginTxn { txn: t2 }],
            )],
        )
        .await;
        let decide = |txn, expect: &[u8], new: &[u8]| {
            vec![
                Op::EndTxn { txn, commit: true },
                Op::Check {
                    key: b"cat".to_vec(),
                    expect: Some(expect.to_vec()),
                },
                put(b"cat", new),
            ]
        };
        let r = apply(&mut sm, &mut i, vec![at(20, decide(t1, b"v0", b"v2"))]).await;
        assert!(
            matches!(r[0], CommandResult::CheckFailed { op_index: 1, .. }),
            "{r:?}"
        );
        let r = apply(
            &mut sm,
            &mut i,
            vec![
                at(30, decide(t1, b"v1", b"v2")),
                at(
                    40,
                    vec![Op::EndTxn {
                        txn: t2,
                        commit: false,
                    }],
                ),
                at(50, decide(t2, b"v2", b"v3")),
            ],
        )
        .await;
        let committed = Some(TxnStatus::Committed(Timestamp(30)));
        assert_eq!(r[0], CommandResult::Txn { status: committed });
        assert_eq!(
            r[2],
            CommandResult::Txn {
                status: Some(TxnStatus::Aborted)
            }
        );
        let get = |k: &[u8], t: u64| mvcc::get_at(store.db(), GROUP, k, Timestamp(t)).unwrap();
        assert_eq!(get(b"cat", 29), Some(b"v1".to_vec()));
        assert_eq!(get(b"cat", u64::MAX), Some(b"v2".to_vec()));
    }

    #[tokio::test]
    async fn reads_at_a_timestamp_see_the_versions_committed_by_then() {
        let (_dir, store, mut sm) = fresh();
        let mut i = 0;
        apply(
            &mut sm,
            &mut i,
            vec![at(10, vec![put(b"a", b"1"), put(b"b", b"x")])],
        )
        .await;
        apply(&mut sm, &mut i, vec![at(20, vec![put(b"a", b"2")])]).await;
        apply(
            &mut sm,
            &mut i,
            vec![
                at(30, vec![Op::Delete { key: b"a".to_vec() }]),
                at(40, vec![put(b"c", b"y")]),
            ],
        )
        .await;
        let get = |k: &[u8], t: u64| mvcc::get_at(store.db(), GROUP, k, Timestamp(t)).unwrap();
        assert_eq!(get(b"a", 5), None);
        assert_eq!(get(b"a", 10), Some(b"1".to_vec()));
        assert_eq!(get(b"a", 25), Some(b"2".to_vec()));
        assert_eq!(get(b"a", 30), None);
        assert_eq!(get(b"a", u64::MAX), None);
        let keys = |t: u64| -> Vec<Vec<u8>> {
            mvcc::scan_at(store.db(), GROUP, b"", None, Timestamp(t), usize::MAX)
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(keys(9), Vec::<Vec<u8>>::new());
        assert_eq!(keys(15), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(keys(35), vec![b"b".to_vec()]);
        assert_eq!(keys(u64::MAX), vec![b"b".to_vec(), b"c".to_vec()]);
        // A check reads the latest version: "a" is deleted.
        let r = apply(
            &mut sm,
            &mut i,
            vec![at(
                50,
                vec![Op::Check {
                    key: b"a".to_vec(),
                    expect: None,
                }],
            )],
        )
        .await;
        assert_eq!(r[0], CommandResult::Applied { counters: vec![] });
    }

    #[tokio::test]
    async fn an_undo_at_the_same_timestamp_leaves_no_trace_and_an_overtaken_write_is_history() {
        let (_dir, store, mut sm) = fresh();
        let mut i = 0;
        apply(&mut sm, &mut i, vec![at(10, vec![put(b"k", b"old")])]).await;
        // A statement at 20 writes, then undoes at its own timestamp.
        apply(
            &mut sm,
            &mut i,
            vec![at(20, vec![put(b"k", b"new"), put(b"n", b"ins")])],
        )
        .await;
        apply(
            &mut sm,
            &mut i,
            vec![at(
                20,
                vec![put(b"k", b"old"), Op::Delete { key: b"n".to_vec() }],
            )],
        )
        .await;
        for t in [15, 20, 25, u64::MAX] {
            assert_eq!(
                mvcc::get_at(store.db(), GROUP, b"k", Timestamp(t)).unwrap(),
                Some(b"old".to_vec()),
                "at {t}"
            );
            assert_eq!(
                mvcc::get_at(store.db(), GROUP, b"n", Timestamp(t)).unwrap(),
                None,
                "at {t}"
            );
        }
        // A write at 15 that reaches the log after the one at 20: it is the
        // version between them, the latest stays.
        apply(&mut sm, &mut i, vec![at(15, vec![put(b"k", b"mid")])]).await;
        assert_eq!(
            mvcc::get_at(store.db(), GROUP, b"k", Timestamp(12)).unwrap(),
            Some(b"old".to_vec())
        );
        assert_eq!(
            mvcc::get_at(store.db(), GROUP, b"k", Timestamp(17)).unwrap(),
            Some(b"mid".to_vec())
        );
        assert_eq!(
            mvcc::get_at(store.db(), GROUP, b"k", Timestamp::MAX).unwrap(),
            Some(b"old".to_vec())
        );
    }

    /// Garbage collection to `horizon` in rounds of `limit`: (versions,
    /// keys) removed and how many rounds it took.
    async fn collect(
        sm: &mut StateMachine,
        i: &mut u64,
        horizon: u64,
        limit: u32,
    ) -> (u64, u64, usize) {
        let (mut v, mut k, mut rounds) = (0, 0, 0);
        let mut from = Vec::new();
        loop {
            rounds += 1;
            let r = apply(
                sm,
                i,
                vec![at(
                    0,
                    vec![Op::Gc {
                        horizon: Timestamp(horizon),
                        from,
                        limit,
                    }],
                )],
            )
            .await;
            let CommandResult::Collected {
                versions,
                keys,
                next,
            } = r[0].clone()
            else {
                panic!("{r:?}")
            };
            v += versions;
            k += keys;
            match next {
                Some(n) => from = n,
                None => return (v, k, rounds),
            }
        }
    }

    #[tokio::test]
    async fn garbage_collection_keeps_what_snapshots_at_the_horizon_see() {
        for limit in [1, 2, 1000] {
            let (_dir, store, mut sm) = fresh();
            let mut i = 0;
            for (ts, v) in [(10, b"1"), (20, b"2"), (30, b"3")] {
                apply(
                    &mut sm,
                    &mut i,
                    vec![at(ts, vec![put(b"a", v), put(b"b", v)])],
                )
                .await;
            }
            apply(
                &mut sm,
                &mut i,
                vec![at(40, vec![Op::Delete { key: b"b".to_vec() }])],
            )
            .await;
            apply(&mut sm, &mut i, vec![at(40, vec![put(b"c\0", b"x")])]).await;
            let get = |k: &[u8], t: u64| mvcc::get_at(store.db(), GROUP, k, Timestamp(t)).unwrap();
            // To 25: "a" keeps 20 (what a read at 25 sees) and 30, loses 10;
            // "b" the same (its deletion at 40 is newer).
            assert_eq!(
                collect(&mut sm, &mut i, 25, limit).await.0,
                2,
                "limit {limit}"
            );
            for t in [25, 29, 35, u64::MAX] {
                assert_eq!(
                    get(b"a", t),
                    Some(if t < 30 { b"2" } else { b"3" }.to_vec())
                );
            }
            assert_eq!(get(b"b", 35), Some(b"3".to_vec()));
            assert_eq!(get(b"b", 45), None);
            // Nothing more to do at the same horizon.
            assert_eq!(collect(&mut sm, &mut i, 25, limit).await.0, 0);
            // To 50: "a" keeps only its latest; "b" is gone, key and all.
            let (versions, keys, rounds) = collect(&mut sm, &mut i, 50, limit).await;
            assert_eq!((versions, keys), (3, 1), "limit {limit}");
            assert!(limit > 1 || rounds > 1, "paged in rounds of {limit}");
            assert_eq!(get(b"a", u64::MAX), Some(b"3".to_vec()));
            assert_eq!(get(b"b", u64::MAX), None);
            assert_eq!(get(b"c\0", u64::MAX), Some(b"x".to_vec()));
            assert_eq!(history_len(&store), 0, "history left");
            let raw_b = store
                .db()
                .get_cf(store.cf(CF_DATA), data_key(GROUP, b"b"))
                .unwrap();
            assert_eq!(raw_b, None, "the tombstone of b is gone");
        }
    }

    #[tokio::test]
    async fn a_prefix_delete_removes_every_version() {
        let (_dir, store, mut sm) = fresh();
        let mut i = 0;
        apply(
            &mut sm,
            &mut i,
            vec![at(10, vec![put(b"t1", b"a"), put(b"t2", b"b")])],
        )
        .await;
        apply(&mut sm, &mut i, vec![at(20, vec![put(b"t1", b"c")])]).await;
        apply(
            &mut sm,
            &mut i,
            vec![at(
                30,
                vec![Op::DeletePrefix {
                    prefix: b"t".to_vec(),
                }],
            )],
        )
        .await;
        for t in [10, 20, 30, u64::MAX] {
            assert!(
                mvcc::scan_at(store.db(), GROUP, b"", None, Timestamp(t), 10)
                    .unwrap()
                    .is_empty()
            );
        }
        assert_eq!(history_len(&store), 0, "history left behind");
    }
}
