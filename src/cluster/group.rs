//! One Raft group as seen by the layers above: propose a command, read state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, Config, Raft};

use super::network::Network;
use crate::error::{PgError, PgResult, codes};
use crate::shard::log_store::LogStore;
use crate::shard::state_machine::StateMachine;
use crate::shard::{Command, CommandResult, GroupId, NodeId, Store, TypeConfig};

#[derive(Clone)]
pub struct Group {
    pub id: GroupId,
    pub raft: Raft<TypeConfig>,
    pub store: Store,
}

impl Group {
    /// Start (or restart) the group on this node as its only voter.
    pub async fn start(
        store: Store,
        id: GroupId,
        node_id: NodeId,
        addr: &str,
    ) -> anyhow::Result<Group> {
        let config = Config {
            cluster_name: format!("grapedb-group-{id}"),
            heartbeat_interval: 100,
            election_timeout_min: 200,
            election_timeout_max: 400,
            // The log is kept until snapshots stream incrementally (cluster work);
            // building one today copies the whole group into memory.
            snapshot_policy: openraft::SnapshotPolicy::Never,
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
        Ok(Group { id, raft, store })
    }

    /// Replicate and apply a command; returns once it is applied.
    pub async fn propose(&self, cmd: Command) -> PgResult<CommandResult> {
        match self.raft.client_write(cmd).await {
            Ok(resp) => Ok(resp.data),
            Err(e) => Err(PgError::new(
                codes::IO_ERROR,
                format!("could not commit write to shard {}: {e}", self.id),
            )),
        }
    }

    pub fn get(&self, key: &[u8]) -> PgResult<Option<Vec<u8>>> {
        self.store.get(self.id, key).map_err(storage_err)
    }

    pub fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> PgResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.store
            .scan(self.id, start, end, limit)
            .map_err(storage_err)
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

fn storage_err(e: rocksdb::Error) -> PgError {
    PgError::new(codes::IO_ERROR, format!("storage error: {e}"))
}
