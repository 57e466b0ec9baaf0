//! Commands carried by Raft log entries and their results.

use serde::{Deserialize, Serialize};

use crate::hlc::Timestamp;

/// One change to a group's key-value state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Precondition: the key currently holds `expect` (None = absent).
    /// If any check of a command fails, nothing of the command is applied.
    Check {
        key: Vec<u8>,
        expect: Option<Vec<u8>>,
    },
    /// Add `by` to a big-endian i64 counter (absent = 0) and return the new value.
    Incr {
        key: Vec<u8>,
        by: i64,
    },
    /// Delete every key that starts with `prefix`.
    DeletePrefix {
        prefix: Vec<u8>,
    },
    /// Remove the versions no snapshot at or after `horizon` can see, for up
    /// to `limit` history entries starting at `from` (a position in the
    /// history, as the previous round's [`CommandResult::Collected`] gave
    /// it). Alone in its command.
    Gc {
        horizon: Timestamp,
        from: Vec<u8>,
        limit: u32,
    },
    /// Create the record of transaction `txn` on this group, pending (its
    /// coordinator puts it in the command that writes its first intents).
    BeginTxn {
        txn: TxnId,
    },
    /// A provisional write of transaction `txn`, whose record is on group
    /// `record`: the key must hold `expect` (None = absent) and carry no
    /// other transaction's intent; then the intent holds `new` (None = a
    /// delete) until [`Op::Resolve`] makes it a version or drops it.
    Intent {
        txn: TxnId,
        record: u32,
        key: Vec<u8>,
        expect: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        /// Written whatever the key holds (`expect` unchecked; another
        /// transaction's intent still locks it).
        blind: bool,
    },
    /// Decide transaction `txn` on its record's group: committed at the
    /// command's timestamp, or aborted. The first decision stands (a later
    /// opposite one reports it). Alone in its command, or (to commit)
    /// followed by checks and writes of the same group that apply only if
    /// their checks hold and this command commits the transaction.
    EndTxn {
        txn: TxnId,
        commit: bool,
    },
    /// Turn `txn`'s intents on this group into versions at `commit` (None:
    /// drop them), at the keys listed or in one round over the group's
    /// intents. Alone in its command.
    Resolve {
        txn: TxnId,
        commit: Option<Timestamp>,
        scope: ResolveScope,
    },
    /// Remove `txn`'s record (every intent of it is resolved).
    ForgetTxn {
        txn: TxnId,
    },
}

/// Which intents an [`Op::Resolve`] looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResolveScope {
    /// These keys (the coordinator remembers what it wrote).
    Keys(Vec<Vec<u8>>),
    /// Up to `limit` intents of any transaction from `from` on (a key;
    /// recovery, and writes too large to remember).
    From { from: Vec<u8>, limit: u32 },
}

/// A transaction's identity: who began it and a sequence number, unique
/// across the processes of a cluster.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct TxnId(pub RequestId);

impl TxnId {
    pub fn fresh() -> TxnId {
        TxnId(RequestId::fresh())
    }
}

impl std::fmt::Display for TxnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}-{}", self.0.client, self.0.seq)
    }
}

/// What a transaction record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    Pending,
    Committed(Timestamp),
    Aborted,
}

/// Who proposed a command: a random id per process and a sequence number.
/// The state machine remembers recent ids, so a command proposed again
/// (a retry after a timeout whose outcome was unknown) applies once.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct RequestId {
    pub client: u64,
    pub seq: u64,
}

impl RequestId {
    /// A request id not used before by this process.
    pub fn fresh() -> RequestId {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static CLIENT: OnceLock<u64> = OnceLock::new();
        static SEQ: AtomicU64 = AtomicU64::new(1);
        let client = *CLIENT.get_or_init(|| {
            // Not cryptographic: distinct per process is all that matters.
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.write_u32(std::process::id());
            h.finish()
        });
        RequestId {
            client,
            seq: SEQ.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// An atomic batch of ops: applied all together or not at all, once per
/// request id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub ops: Vec<Op>,
    pub request: RequestId,
    /// The commit timestamp of the versions this command writes (set by
    /// the proposer: every entry carries its own, so replicas and replays
    /// agree).
    pub ts: Timestamp,
}

impl Command {
    /// Whether applying it iterates the group's stored keys (garbage
    /// collection, a resolution round): it is then applied in a write
    /// batch of its own, so what it reads never depends on batching.
    pub fn reads_ranges(&self) -> bool {
        matches!(
            self.ops.as_slice(),
            [Op::Gc { .. }]
                | [Op::Resolve {
                    scope: ResolveScope::From { .. },
                    ..
                }]
        )
    }

    /// A command with a fresh request id (clone it to retry the same request).
    pub fn new(ops: Vec<Op>) -> Command {
        Command {
            ops,
            request: RequestId::fresh(),
            ts: Timestamp::ZERO,
        }
    }
}

/// What applying a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Applied. `counters` holds the new value of every `Incr`, in order.
    Applied { counters: Vec<i64> },
    /// Not applied: the `Check` at this index failed; `actual` is what the key held.
    CheckFailed {
        op_index: usize,
        actual: Option<Vec<u8>>,
    },
    /// A garbage collection round: how many old versions and deleted keys
    /// it removed, and where the next round starts (None: done).
    Collected {
        versions: u64,
        keys: u64,
        next: Option<Vec<u8>>,
    },
    /// Not applied: the key of the op at this index carries an intent of
    /// transaction `holder` (record on group `record`).
    Locked {
        op_index: usize,
        holder: TxnId,
        record: u32,
    },
    /// [`Op::EndTxn`]: the transaction's status after it (None: no record,
    /// the transaction was forgotten or never began).
    Txn { status: Option<TxnStatus> },
    /// [`Op::Resolve`]: how many intents became versions or were dropped,
    /// and for [`ResolveScope::From`] where the next round starts (None:
    /// done).
    Resolved { intents: u64, next: Option<Vec<u8>> },
    /// Entries that carry no command (blank, membership).
    #[default]
    None,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Command({} ops)", self.ops.len())
    }
}
