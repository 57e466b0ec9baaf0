//! Transactions that write to several shards: intents, a record, a commit
//! point, resolution, and recovery of transactions whose coordinator
//! stopped (docs/transactions.md, "Writes").
//!
//! A [`Txn`] writes its changes as intents (the first shard it writes also
//! gets its record, pending, in the same command). `commit` sets the record
//! to committed at one timestamp: that single Raft entry is the commit
//! point. Then each shard turns the intents into versions and the record
//! is forgotten. Anything that stops a transaction before its commit point
//! aborts it; anything that stops it after leaves a committed record that
//! [`recover`] finishes. [`LiveTxns`] says which transactions a coordinator
//! on this node is still running: only the others are recovered.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::watch;

use super::rows::{Conflict, RowWrite, WriteError, merge_write};
use super::{ShardAccess, ShardError, ShardId};
use crate::error::{PgError, codes};
use crate::hlc::Timestamp;
use crate::shard::{Command, CommandResult, Op, ResolveScope, TxnId, TxnStatus};

/// Intents per Raft entry.
pub const CHUNK: usize = 2000;
/// Intents per resolution round when the keys are not remembered.
const ROUND: u32 = 2000;
/// Keys a transaction remembers to resolve them by name; past this it
/// resolves by scanning each shard's intents (bounded memory for COPY).
const REMEMBER_KEYS: usize = 200_000;
/// How often a proposal whose outcome is unknown (a timeout) is sent again
/// with the same request id (applied at most once).
const RESEND: usize = 3;

/// Transactions coordinated on this node that are still running, and who
/// waits for whom (to find deadlocks).
#[derive(Default)]
pub struct LiveTxns {
    inner: parking_lot::Mutex<LiveInner>,
}

#[derive(Default)]
struct LiveInner {
    /// Each running transaction: a receiver that ends when it ends.
    running: HashMap<TxnId, watch::Receiver<()>>,
    /// Waiter → the transaction it waits for.
    waits: HashMap<TxnId, TxnId>,
}

/// A cancel or statement_timeout that reached a write running detached
/// (`Engine::apply_detached`): it stops the write only while the write
/// waits for another transaction's locks holding nothing (or before its
/// own intents are committed), so nothing of it applies.
#[derive(Default)]
pub struct Interrupt {
    /// 0: none; 1: cancel; 2: statement_timeout.
    why: std::sync::atomic::AtomicU8,
    notify: tokio::sync::Notify,
}

impl Interrupt {
    pub fn raise(&self, timeout: bool) {
        self.why.store(
            if timeout { 2 } else { 1 },
            std::sync::atomic::Ordering::SeqCst,
        );
        self.notify.notify_waiters();
    }

    pub fn clear(&self) {
        self.why.store(0, std::sync::atomic::Ordering::SeqCst);
    }

    fn error(&self) -> Option<PgError> {
        let why = match self.why.load(std::sync::atomic::Ordering::SeqCst) {
            1 => "user request",
            2 => "statement timeout",
            _ => return None,
        };
        Some(PgError::new(
            codes::QUERY_CANCELED,
            format!("canceling statement due to {why}"),
        ))
    }

    /// Resolves when raised.
    async fn raised(&self) -> PgError {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(e) = self.error() {
                return e;
            }
            notified.await;
        }
    }
}

/// [`Interrupt::raised`] of an optional interrupt (never, without one).
async fn interrupted(i: Option<&Interrupt>) -> PgError {
    match i {
        Some(i) => i.raised().await,
        None => std::future::pending().await,
    }
}

/// Keeps a transaction registered as running until dropped.
pub struct LiveGuard {
    txns: Arc<LiveTxns>,
    id: TxnId,
    _done: watch::Sender<()>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut g = self.txns.inner.lock();
        g.running.remove(&self.id);
        g.waits.remove(&self.id);
    }
}

impl LiveTxns {
    pub fn new() -> Arc<LiveTxns> {
        Arc::default()
    }

    pub fn register(self: &Arc<Self>, id: TxnId) -> LiveGuard {
        let (tx, rx) = watch::channel(());
        self.inner.lock().running.insert(id, rx);
        LiveGuard {
            txns: self.clone(),
            id,
            _done: tx,
        }
    }

    pub fn is_live(&self, id: TxnId) -> bool {
        self.inner.lock().running.contains_key(&id)
    }

    pub fn count(&self) -> usize {
        self.inner.lock().running.len()
    }

    /// Wait until `holder` is no longer running here. `me` (a transaction
    /// that holds intents while it waits) is recorded as waiting, and a
    /// wait that would close a cycle fails at once. Returns whether
    /// `holder` was running.
    async fn wait(&self, me: Option<TxnId>, holder: TxnId) -> Result<bool, Deadlock> {
        let (mut rx, _edge) = {
            let mut g = self.inner.lock();
            let Some(rx) = g.running.get(&holder).cloned() else {
                return Ok(false);
            };
            let edge = match me {
                Some(me) => {
                    let mut at = holder;
                    let mut steps = 0;
                    while let Some(&next) = g.waits.get(&at) {
                        if next == me || steps > g.waits.len() {
                            return Err(Deadlock);
                        }
                        at = next;
                        steps += 1;
                    }
                    g.waits.insert(me, holder);
                    Some(WaitEdge { txns: self, me })
                }
                None => None,
            };
            (rx, edge)
        };
        // Ends (with an error) when the holder's guard is dropped.
        let _ = rx.changed().await;
        Ok(true)
    }
}

/// A wait-for edge, removed however the wait ends (a cancelled statement
/// drops it mid-wait).
struct WaitEdge<'a> {
    txns: &'a LiveTxns,
    me: TxnId,
}

impl Drop for WaitEdge<'_> {
    fn drop(&mut self) {
        self.txns.inner.lock().waits.remove(&self.me);
    }
}

struct Deadlock;

fn deadlock(me: TxnId, holder: TxnId) -> PgError {
    PgError::new(codes::DEADLOCK_DETECTED, "deadlock detected").with_detail(format!(
        "Transaction {me} waits for transaction {holder}, which waits for it."
    ))
}

/// The conflict of a failed check.
fn op_conflict(op: &Op, actual: Option<Vec<u8>>) -> Conflict {
    match op {
        Op::Check { key, expect } => Conflict {
            key: key.clone(),
            expected: expect.clone(),
            actual,
        },
        _ => Conflict {
            key: Vec::new(),
            expected: None,
            actual,
        },
    }
}

/// Propose `cmd`, sending it again (same request id) while the outcome is
/// unknown.
pub(super) async fn propose(
    data: &dyn ShardAccess,
    shard: ShardId,
    cmd: Command,
) -> Result<CommandResult, ShardError> {
    let mut tries = 0;
    loop {
        match data.propose(shard, data.epoch(), cmd.clone()).await {
            Err(ShardError::Timeout { .. }) if tries < RESEND => tries += 1,
            r => return r,
        }
    }
}

/// Why a write of intents stopped.
pub(super) enum Stop {
    /// A precondition failed.
    Conflict(Conflict),
    /// The key is held by another transaction's intent.
    Locked {
        holder: TxnId,
        record: ShardId,
        key: Vec<u8>,
    },
    Failed(PgError),
}

impl From<ShardError> for Stop {
    fn from(e: ShardError) -> Self {
        Stop::Failed(e.into())
    }
}

/// A transaction this node coordinates (see the module doc).
pub struct Txn {
    data: Arc<dyn ShardAccess>,
    id: TxnId,
    /// The shard holding the record (the first written, unless chosen).
    record: Option<ShardId>,
    /// The record exists (a chosen record group gets it before any intent).
    begun: bool,
    /// Shards holding intents, with their keys while they are few enough.
    written: BTreeMap<ShardId, Option<Vec<Vec<u8>>>>,
    remembered: usize,
    /// Shards with commands in flight (a write dropped mid-way, its
    /// statement cancelled, may have left intents there).
    in_flight: Vec<ShardId>,
    live: Option<LiveGuard>,
    /// Stops lock waits (see [`Interrupt`]).
    interrupt: Option<Arc<Interrupt>>,
    /// Rows written, counted into the node's activity at commit.
    tally: super::activity::Tally,
}

impl Txn {
    pub fn begin(data: Arc<dyn ShardAccess>) -> Txn {
        let id = TxnId::fresh();
        let live = Some(data.live_txns().register(id));
        Txn {
            data,
            id,
            record: None,
            begun: false,
            written: BTreeMap::new(),
            remembered: 0,
            in_flight: Vec::new(),
            live,
            interrupt: None,
            tally: Default::default(),
        }
    }

    /// A transaction whose record lives on group `record` (the meta
    /// group, when the commit also changes the catalog: see
    /// [`Txn::commit_with`]).
    pub fn begin_recorded_on(data: Arc<dyn ShardAccess>, record: ShardId) -> Txn {
        let mut t = Txn::begin(data);
        t.record = Some(record);
        t
    }

    /// Let `interrupt` stop this transaction's lock waits.
    pub fn interruptible(mut self, interrupt: Option<Arc<Interrupt>>) -> Txn {
        self.interrupt = interrupt;
        self
    }

    pub fn id(&self) -> TxnId {
        self.id
    }

    /// Write `writes` (one per key) as intents. With `wait`, a key held by
    /// another transaction is waited for (a deadlock fails with 40P01);
    /// without, it stops the write with [`Stop::Locked`].
    pub(super) async fn write(&mut self, writes: &[RowWrite], wait: bool) -> Result<(), Stop> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut by_shard: BTreeMap<ShardId, Vec<&RowWrite>> = BTreeMap::new();
        for w in writes {
            by_shard
                .entry(self.data.shard_of(&w.key))
                .or_default()
                .push(w);
        }
        // The record's shard is the first one written; every command to it
        // carries the record (created once), so the record exists from the
        // first intent there on. Intents elsewhere may land first: one
        // without a record is treated as aborted once its coordinator is
        // gone (recovery reads intents at start; writers clean them).
        if self.record.is_none() {
            self.record = by_shard.keys().next().copied();
        }
        let record = self.record.unwrap_or_default();
        if !self.begun && !by_shard.contains_key(&record) {
            let cmd = Command::new(vec![Op::BeginTxn { txn: self.id }]);
            propose(self.data.as_ref(), record, cmd).await?;
        }
        self.begun = true;
        let mut todo: Vec<(ShardId, Vec<&RowWrite>)> = Vec::new();
        for (shard, ws) in by_shard {
            for chunk in ws.chunks(CHUNK) {
                todo.push((shard, chunk.to_vec()));
            }
        }
        // All shards at once; chunks that met a lock go again after the
        // holder ended (when waiting).
        while !todo.is_empty() {
            self.in_flight = todo.iter().map(|(s, _)| *s).collect();
            let sent = todo.iter().map(|(shard, chunk)| {
                let mut ops = Vec::with_capacity(chunk.len() + 1);
                if *shard == record {
                    ops.push(Op::BeginTxn { txn: self.id });
                }
                ops.extend(chunk.iter().map(|w| Op::Intent {
                    txn: self.id,
                    record,
                    key: w.key.clone(),
                    expect: w.expect.clone(),
                    new: w.new.clone(),
                    blind: w.blind,
                }));
                propose(self.data.as_ref(), *shard, Command::new(ops))
            });
            let results = futures::future::join_all(sent).await;
            self.in_flight.clear();
            let mut stop = None;
            let mut again = Vec::new();
            let mut holders = Vec::new();
            for ((shard, chunk), res) in todo.into_iter().zip(results) {
                let skip = usize::from(shard == record);
                match res {
                    Ok(CommandResult::Applied { .. }) => self.remember(shard, &chunk),
                    Ok(CommandResult::CheckFailed { op_index, actual }) => {
                        let w = chunk[op_index - skip];
                        stop.get_or_insert(Stop::Conflict(Conflict::on(w, actual)));
                    }
                    Ok(CommandResult::Locked {
                        op_index,
                        holder,
                        record,
                    }) => {
                        let key = chunk[op_index - skip].key.clone();
                        if wait {
                            holders.push((holder, record, key));
                            again.push((shard, chunk));
                        } else {
                            stop.get_or_insert(Stop::Locked {
                                holder,
                                record,
                                key,
                            });
                        }
                    }
                    Ok(other) => {
                        stop.get_or_insert(Stop::Failed(PgError::internal(format!(
                            "writing intents gave {other:?}"
                        ))));
                    }
                    Err(e) => {
                        // Unknown outcome: the intents may be there; abort
                        // looks for them on the whole shard.
                        self.written.insert(shard, None);
                        stop.get_or_insert(e.into());
                    }
                }
            }
            if let Some(stop) = stop {
                return Err(stop);
            }
            for (holder, holder_record, key) in holders {
                let i = self.interrupt.as_deref();
                wait_for(&self.data, Some(self.id), holder, holder_record, &key, i).await?;
            }
            todo = again;
        }
        self.tally.add(writes);
        Ok(())
    }

    /// Write `writes` as intents, waiting for keys other transactions
    /// hold (COPY: its data cannot be read again to retry).
    pub async fn write_waiting(&mut self, writes: Vec<RowWrite>) -> Result<(), WriteError> {
        let mut merged = BTreeMap::new();
        for w in writes {
            merge_write(&mut merged, w).map_err(WriteError::Conflict)?;
        }
        let writes: Vec<RowWrite> = merged.into_values().collect();
        match self.write(&writes, true).await {
            Ok(()) => Ok(()),
            Err(Stop::Conflict(c)) => Err(WriteError::Conflict(c)),
            Err(Stop::Failed(e)) => Err(WriteError::Failed(e)),
            Err(Stop::Locked { .. }) => unreachable!("a waiting write is not stopped by locks"),
        }
    }

    fn remember(&mut self, shard: ShardId, chunk: &[&RowWrite]) {
        let fits = self.remembered + chunk.len() <= REMEMBER_KEYS;
        let slot = self
            .written
            .entry(shard)
            .or_insert_with(|| Some(Vec::new()));
        match slot {
            Some(keys) if fits => {
                keys.extend(chunk.iter().map(|w| w.key.clone()));
                self.remembered += chunk.len();
            }
            _ => *slot = None,
        }
    }

    /// Write the last `writes` (waiting for locks) and commit with `extra`
    /// ([`Txn::commit_with`]) in a task of its own, so that nothing that
    /// interrupts the caller (a cancelled statement) stops it halfway;
    /// a failure before the commit point aborts it.
    pub async fn finish_detached(
        mut self,
        writes: Vec<RowWrite>,
        extra: Vec<Op>,
    ) -> Result<(), WriteError> {
        tokio::spawn(async move {
            match self.write_waiting(writes).await {
                Ok(()) => self.commit_with(extra).await,
                Err(e) => {
                    self.abort().await;
                    Err(e)
                }
            }
        })
        .await
        .unwrap_or_else(|e| {
            Err(WriteError::Failed(PgError::internal(format!(
                "commit task failed: {e}"
            ))))
        })
    }

    /// Commit: decide on the record (the commit point), then resolve the
    /// intents. Success means the transaction is durable; an error before
    /// the commit point means nothing of it applies; when the decision's
    /// outcome cannot be learned the error is 08007.
    pub async fn commit(self) -> Result<(), WriteError> {
        self.commit_with(Vec::new()).await
    }

    /// [`Txn::commit`] whose decision also carries `extra`: checks and
    /// writes of the record's group (the catalog, for DDL in a block),
    /// applied with the decision or not at all. A failed check aborts the
    /// transaction with a conflict.
    pub async fn commit_with(mut self, extra: Vec<Op>) -> Result<(), WriteError> {
        let record = match self.record {
            Some(r) if self.begun => r,
            // Nothing written: the extra writes commit alone.
            _ if !extra.is_empty() => {
                self.live.take();
                let record = self.record.unwrap_or_default();
                return match propose(self.data.as_ref(), record, Command::new(extra.clone())).await
                {
                    Ok(CommandResult::Applied { .. }) => Ok(()),
                    Ok(CommandResult::CheckFailed { op_index, actual }) => {
                        Err(WriteError::Conflict(op_conflict(&extra[op_index], actual)))
                    }
                    Ok(other) => Err(WriteError::Failed(PgError::internal(format!(
                        "committing gave {other:?}"
                    )))),
                    Err(e) => Err(WriteError::Failed(e.into())),
                };
            }
            _ => {
                self.live.take();
                return Ok(());
            }
        };
        let data = self.data.clone();
        crate::failpoint::hit("txn-before-commit");
        // Snapshots at or above the commit timestamp wait for this guard:
        // they see the whole transaction, resolved.
        let guard = data.begin_write();
        let mut ops = vec![Op::EndTxn {
            txn: self.id,
            commit: true,
        }];
        ops.extend(extra);
        let mut cmd = Command::new(ops);
        cmd.ts = guard.ts;
        let status = match propose(data.as_ref(), record, cmd.clone()).await {
            Ok(CommandResult::Txn { status }) => status,
            Ok(CommandResult::CheckFailed { op_index, actual }) => {
                drop(guard);
                self.abort_now().await;
                return Err(WriteError::Conflict(op_conflict(
                    &cmd.ops[op_index],
                    actual,
                )));
            }
            Ok(other) => {
                return Err(WriteError::Failed(PgError::internal(format!(
                    "ending a transaction gave {other:?}"
                ))));
            }
            Err(e) => {
                // The decision may or may not have applied: recovery
                // finishes the transaction either way.
                tracing::error!("commit of transaction {} unknown: {e}", self.id);
                self.written.clear();
                self.live.take();
                return Err(WriteError::Failed(PgError::new(
                    codes::TRANSACTION_RESOLUTION_UNKNOWN,
                    format!("transaction resolution unknown: {e}"),
                )));
            }
        };
        match status {
            Some(TxnStatus::Committed(ts)) => {
                crate::failpoint::hit("txn-after-commit");
                data.activity().committed(std::mem::take(&mut self.tally));
                let written = std::mem::take(&mut self.written);
                // A transaction too large to remember its keys (a big COPY)
                // would hold every new snapshot for its whole resolution:
                // readers use its committed intents instead (its rows reach
                // the vector indexes as they are resolved).
                let guard = if written.values().all(Option::is_some) {
                    Some(guard)
                } else {
                    None
                };
                match resolve_intents(data.as_ref(), self.id, Some(ts), written).await {
                    // The record goes off the client's path (a crash
                    // before it leaves a committed record with no intents,
                    // which recovery forgets).
                    Ok(()) => {
                        let (id, live) = (self.id, self.live.take());
                        tokio::spawn(async move {
                            if let Err(e) = forget(data.as_ref(), id, record).await {
                                tracing::warn!("record of transaction {id} left to recovery: {e}");
                            }
                            drop(live);
                        });
                    }
                    // Committed: the client hears so; what is left is
                    // finished by recovery, and readers see it meanwhile.
                    Err(e) => {
                        tracing::warn!("transaction {} committed, not yet resolved: {e}", self.id);
                        self.live.take();
                    }
                }
                drop(guard);
                Ok(())
            }
            _ => {
                // Aborted by another (recovery took it for abandoned).
                drop(guard);
                self.abort_now().await;
                Err(WriteError::Failed(PgError::serialization_failure()))
            }
        }
    }

    /// Abort: the record says so, then the intents go.
    pub async fn abort(mut self) {
        self.abort_now().await;
    }

    /// The shards to clean on abort: those written, and those a dropped
    /// write may have reached (looked through whole).
    fn take_written(&mut self) -> BTreeMap<ShardId, Option<Vec<Vec<u8>>>> {
        let mut written = std::mem::take(&mut self.written);
        for s in self.in_flight.drain(..) {
            written.insert(s, None);
        }
        written
    }

    async fn abort_now(&mut self) {
        let written = self.take_written();
        if let Some(record) = self.record {
            if let Err(e) = abort(self.data.as_ref(), self.id, record, written).await {
                tracing::warn!("abort of transaction {} left to recovery: {e}", self.id);
            }
        }
        self.live.take();
    }
}

impl Drop for Txn {
    /// A transaction dropped before it ended (its client went away) is
    /// aborted in the background.
    fn drop(&mut self) {
        if self.live.is_none() || (self.written.is_empty() && self.in_flight.is_empty()) {
            return;
        }
        let data = self.data.clone();
        let (id, record, written) = (self.id, self.record, self.take_written());
        let live = self.live.take();
        if let (Some(record), Ok(rt)) = (record, tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                if let Err(e) = abort(data.as_ref(), id, record, written).await {
                    tracing::warn!("abort of transaction {id} left to recovery: {e}");
                }
                drop(live);
            });
        }
    }
}

/// Abort `txn` (unless it committed first: then finish its commit).
async fn abort(
    data: &dyn ShardAccess,
    txn: TxnId,
    record: ShardId,
    written: BTreeMap<ShardId, Option<Vec<Vec<u8>>>>,
) -> Result<(), ShardError> {
    let cmd = Command::new(vec![Op::EndTxn { txn, commit: false }]);
    let commit = match propose(data, record, cmd).await? {
        CommandResult::Txn {
            status: Some(TxnStatus::Committed(ts)),
        } => Some(ts),
        _ => None,
    };
    resolve(data, txn, commit, written, record).await
}

/// Resolve `txn`'s intents on the shards of `written`, then forget its
/// record.
async fn resolve(
    data: &dyn ShardAccess,
    txn: TxnId,
    commit: Option<Timestamp>,
    written: BTreeMap<ShardId, Option<Vec<Vec<u8>>>>,
    record: ShardId,
) -> Result<(), ShardError> {
    resolve_intents(data, txn, commit, written).await?;
    forget(data, txn, record).await
}

/// Remove `txn`'s record (all its intents are resolved).
async fn forget(data: &dyn ShardAccess, txn: TxnId, record: ShardId) -> Result<(), ShardError> {
    let cmd = Command::new(vec![Op::ForgetTxn { txn }]);
    propose(data, record, cmd).await?;
    Ok(())
}

/// Resolve `txn`'s intents on the shards of `written` (by key, or by
/// rounds over a shard's intents where the keys are not known), all shards
/// at once.
async fn resolve_intents(
    data: &dyn ShardAccess,
    txn: TxnId,
    commit: Option<Timestamp>,
    written: BTreeMap<ShardId, Option<Vec<Vec<u8>>>>,
) -> Result<(), ShardError> {
    let shards = written.into_iter().map(|(shard, keys)| async move {
        match keys {
            Some(keys) => {
                for part in keys.chunks(CHUNK) {
                    let scope = ResolveScope::Keys(part.to_vec());
                    resolve_round(data, shard, txn, commit, scope).await?;
                    crate::failpoint::hit("txn-mid-resolution");
                }
            }
            None => {
                let mut from = Vec::new();
                loop {
                    let scope = ResolveScope::From { from, limit: ROUND };
                    match resolve_round(data, shard, txn, commit, scope).await? {
                        Some(next) => from = next,
                        None => break,
                    }
                }
            }
        }
        Ok::<(), ShardError>(())
    });
    for r in futures::future::join_all(shards).await {
        r?;
    }
    Ok(())
}

async fn resolve_round(
    data: &dyn ShardAccess,
    shard: ShardId,
    txn: TxnId,
    commit: Option<Timestamp>,
    scope: ResolveScope,
) -> Result<Option<Vec<u8>>, ShardError> {
    let mut cmd = Command::new(vec![Op::Resolve { txn, commit, scope }]);
    if let Some(ts) = commit {
        cmd.ts = ts;
    }
    match propose(data, shard, cmd).await? {
        CommandResult::Resolved { next, .. } => Ok(next),
        other => Err(ShardError::Storage {
            shard,
            detail: format!("resolving gave {other:?}"),
        }),
    }
}

/// Wait until `holder` (record on `record`) no longer holds its intent on
/// `key`: wait for its coordinator when it runs here, else (it ended, or
/// it was abandoned: its coordinator stopped) finish it now if the intent
/// is still there.
pub(super) async fn wait_for(
    data: &Arc<dyn ShardAccess>,
    me: Option<TxnId>,
    holder: TxnId,
    record: ShardId,
    key: &[u8],
    interrupt: Option<&Interrupt>,
) -> Result<(), Stop> {
    if let Some(e) = interrupt.and_then(Interrupt::error) {
        return Err(Stop::Failed(e));
    }
    let live = data.live_txns();
    let waited = tokio::select! {
        w = live.wait(me, holder) => w,
        e = interrupted(interrupt) => return Err(Stop::Failed(e)),
    };
    match waited {
        Ok(true) => Ok(()),
        Ok(false) => {
            let shard = data.shard_of(key);
            let held = data.intents(shard, key, 1)?;
            match held.first() {
                Some((k, i)) if k.as_slice() == key && i.txn == holder => {
                    Ok(finish_abandoned(data.as_ref(), holder, record).await?)
                }
                _ => Ok(()),
            }
        }
        Err(Deadlock) => Err(Stop::Failed(deadlock(me.unwrap_or_default(), holder))),
    }
}

/// Finish a transaction nobody coordinates: abort it unless it committed,
/// and resolve its intents on every shard.
async fn finish_abandoned(
    data: &dyn ShardAccess,
    txn: TxnId,
    record: ShardId,
) -> Result<(), ShardError> {
    let everywhere = data.shards().into_iter().map(|s| (s, None)).collect();
    abort(data, txn, record, everywhere).await
}

/// Finish every transaction that left a record (and, with `intents`, an
/// intent) behind and is not running here (after a restart: all of them).
/// An intent always has its record until it is resolved, so the records
/// suffice while the node runs; at start both are read. Returns how many.
pub async fn recover(data: &dyn ShardAccess, intents: bool) -> Result<usize, ShardError> {
    let mut found: BTreeMap<TxnId, ShardId> = BTreeMap::new();
    for shard in data.record_groups() {
        for (txn, _) in data.txn_records(shard)? {
            found.insert(txn, shard);
        }
    }
    for shard in data.shards().into_iter().filter(|_| intents) {
        let mut from = Vec::new();
        loop {
            let page = data.intents(shard, &from, ROUND as usize)?;
            let done = page.len() < ROUND as usize;
            for (key, i) in page {
                found.entry(i.txn).or_insert(i.record);
                from = key;
                from.push(0);
            }
            if done {
                break;
            }
        }
    }
    let live = data.live_txns();
    let mut n = 0;
    for (txn, record) in found {
        if live.is_live(txn) {
            continue;
        }
        finish_abandoned(data, txn, record).await?;
        n += 1;
    }
    Ok(n)
}

/// Intents and records on each shard, for the `grape_txns` view.
pub fn pending_counts(data: &dyn ShardAccess) -> Result<Vec<(ShardId, usize, usize)>, ShardError> {
    let mut out = Vec::new();
    for shard in data.record_groups() {
        let intents = data.intents(shard, &[], usize::MAX)?.len();
        let records = data.txn_records(shard)?.len();
        out.push((shard, intents, records));
    }
    Ok(out)
}
