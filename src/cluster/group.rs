//! One Raft group as seen by the layers above: propose a command, read state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, Config, Raft};

use super::error::ShardError;
use super::network::Network;
use crate::hlc::{Clock, Timestamp};
use crate::shard::log_store::LogStore;
use crate::shard::mvcc;
use crate::shard::state_machine::{StateMachine, max_applied_ts};
use crate::shard::txn::{self, Intent};
use crate::shard::{Command, CommandResult, GroupId, NodeId, Store, TxnId, TxnStatus, TypeConfig};

/// How long a write may wait for its commit before the caller is told
/// its outcome is unknown (a healthy group commits in milliseconds).
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Group {
    pub id: GroupId,
    pub raft: Raft<TypeConfig>,
    pub store: Store,
    /// The node's clock: commands proposed without a timestamp get one.
    clock: Arc<Clock>,
}

impl Group {
    /// Start (or restart) the group on this node as its only voter. Every
    /// `snapshot_every` log entries it builds a snapshot (a point-in-time
    /// file, `shard::snapshot`) and purges the log behind it.
    pub async fn start(
        store: Store,
        id: GroupId,
        node_id: NodeId,
        addr: &str,
        clock: Arc<Clock>,
        snapshot_every: u64,
    ) -> anyhow::Result<Group> {
        let config = Config {
            cluster_name: format!("grapedb-group-{id}"),
            heartbeat_interval: 100,
            election_timeout_min: 200,
            election_timeout_max: 400,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_every.max(1)),
            // A few entries stay behind the snapshot for a lagging follower.
            max_in_snapshot_log_to_keep: (snapshot_every / 10).min(1000),
            ..Default::default()
        };
        let config = Arc::new(config.validate()?);
        let raft = Raft::new(
            node_id,
            config,
            Network,
            LogStore::new(store.clone(), id),
            StateMachine::new(store.clone(), id),
        )
        .await?;
        let mut members = BTreeMap::new();
        members.insert(
            node_id,
            BasicNode {
                addr: addr.to_string(),
            },
        );
        if !raft.is_initialized().await.unwrap_or(false) {
            let _ = raft.initialize(members).await;
        }
        raft.wait(Some(Duration::from_secs(30)))
            .current_leader(node_id, "group leader elected")
            .await
            .map_err(|e| anyhow::anyhow!("group {id} elected no leader: {e}"))?;
        // Entries a crash left in the log uncommitted commit with the new
        // leader's first entry and apply after it: wait for them, so that
        // what starts next (transaction recovery reading intents) sees them.
        let last = raft.metrics().borrow().last_log_index;
        raft.wait(Some(Duration::from_secs(60)))
            .applied_index_at_least(last, "log replayed")
            .await
            .map_err(|e| anyhow::anyhow!("group {id} did not replay its log: {e}"))?;
        clock.update(max_applied_ts(&store, id));
        Ok(Group {
            id,
            raft,
            store,
            clock,
        })
    }

    /// Replicate and apply a command; returns once it is applied.
    /// Replicate `cmd` through the group's log and apply it; the outcome
    /// tells "not leader" (nothing written) from "timed out" (unknown)
    /// from a storage failure.
    pub async fn propose(&self, mut cmd: Command) -> Result<CommandResult, ShardError> {
        use openraft::error::{ClientWriteError, Fatal, RaftError};
        if cmd.ts == Timestamp::ZERO {
            cmd.ts = self.clock.now();
        }
        let shard = self.id;
        let write = tokio::time::timeout(PROPOSE_TIMEOUT, self.raft.client_write(cmd));
        match write.await {
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(ShardError::NotLeader {
                    shard,
                    leader: f.leader_id,
                })
            }
            Ok(Err(RaftError::Fatal(Fatal::Stopped))) => Err(ShardError::ShuttingDown { shard }),
            Ok(Err(e)) => Err(ShardError::Storage {
                shard,
                detail: e.to_string(),
            }),
            Err(_) => Err(ShardError::Timeout {
                shard,
                secs: PROPOSE_TIMEOUT.as_secs(),
            }),
        }
    }

    /// The latest committed value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ShardError> {
        self.get_at(key, Timestamp::MAX)
    }

    /// The value of `key` as of `at`.
    pub fn get_at(&self, key: &[u8], at: Timestamp) -> Result<Option<Vec<u8>>, ShardError> {
        mvcc::get_at(self.store.db(), self.id, key, at).map_err(|e| self.storage_err(e))
    }

    /// Up to `limit` pairs with keys in `[start, end)`, latest committed values.
    pub fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ShardError> {
        self.scan_at(start, end, Timestamp::MAX, limit)
    }

    /// Up to `limit` pairs with keys in `[start, end)` as of `at`.
    pub fn scan_at(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        at: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ShardError> {
        mvcc::scan_at(self.store.db(), self.id, start, end, at, limit)
            .map_err(|e| self.storage_err(e))
    }

    /// The intent on `key`, if a transaction holds one.
    pub fn intent(&self, key: &[u8]) -> Result<Option<Intent>, ShardError> {
        txn::intent(self.store.db(), self.id, key).map_err(|e| self.storage_err(e))
    }

    /// Up to `limit` intents with keys in `[start, end)`, in key order.
    pub fn intents(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Intent)>, ShardError> {
        txn::intents(self.store.db(), self.id, start, end, limit).map_err(|e| self.storage_err(e))
    }

    /// What `id`'s transaction record here says.
    pub fn txn_record(&self, id: TxnId) -> Result<Option<TxnStatus>, ShardError> {
        txn::record(self.store.db(), self.id, id).map_err(|e| self.storage_err(e))
    }

    /// Approximate bytes on disk of this group's keys starting with `prefix`.
    pub fn approximate_size(&self, prefix: &[u8]) -> u64 {
        mvcc::approximate_size(self.store.db(), self.id, prefix)
    }

    /// Every transaction record here.
    pub fn txn_records(&self) -> Result<Vec<(TxnId, TxnStatus)>, ShardError> {
        txn::records(self.store.db(), self.id).map_err(|e| self.storage_err(e))
    }

    fn storage_err(&self, e: rocksdb::Error) -> ShardError {
        ShardError::Storage {
            shard: self.id,
            detail: e.to_string(),
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
