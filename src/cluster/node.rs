//! A node: its RocksDB, the meta group, its data groups and the shard map.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::group::Group;
use super::placement::ShardMap;
use crate::error::{PgError, PgResult, codes};
use crate::hlc::Clock;
use crate::shard::{Command, CommandResult, GroupId, NodeId, Op, Store};

/// Key of the shard map in the meta group.
pub const SHARD_MAP_KEY: &[u8] = b"shardmap";
pub const META_GROUP: GroupId = 0;

pub struct Node {
    pub node_id: NodeId,
    pub store: Store,
    pub meta: Group,
    pub groups: BTreeMap<GroupId, Group>,
    pub shard_map: ShardMap,
    /// Commit and snapshot timestamps.
    pub clock: Arc<Clock>,
}

impl Node {
    /// Open the data directory and start every group. `shards` is used only
    /// when the directory is new; afterwards the stored shard map decides.
    /// `snapshot_every`: log entries of a group between two of its
    /// snapshots (the log is compacted behind each).
    pub async fn start(
        data_dir: &Path,
        shards: u32,
        addr: &str,
        snapshot_every: u64,
    ) -> anyhow::Result<Arc<Node>> {
        std::fs::create_dir_all(data_dir)?;
        let store = Store::open(&data_dir.join("rocksdb"))?;
        let node_id = 1;
        let clock = Arc::new(Clock::new());
        let start = |g| {
            Group::start(
                store.clone(),
                g,
                node_id,
                addr,
                clock.clone(),
                snapshot_every,
            )
        };
        let meta = start(META_GROUP).await?;
        let shard_map = match meta
            .get(SHARD_MAP_KEY)
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            Some(b) => bincode::deserialize(&b)?,
            None => {
                let map = ShardMap::initial(shards.max(1));
                let cmd = Command::new(vec![
                    Op::Check {
                        key: SHARD_MAP_KEY.to_vec(),
                        expect: None,
                    },
                    Op::Put {
                        key: SHARD_MAP_KEY.to_vec(),
                        value: bincode::serialize(&map)?,
                    },
                ]);
                match meta
                    .propose(cmd)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                {
                    CommandResult::Applied { .. } => map,
                    _ => anyhow::bail!("shard map was written concurrently"),
                }
            }
        };
        let mut groups = BTreeMap::new();
        for &g in &shard_map.groups {
            groups.insert(g, start(g).await?);
        }
        Ok(Arc::new(Node {
            node_id,
            store,
            meta,
            groups,
            shard_map,
            clock,
        }))
    }

    pub fn group(&self, id: GroupId) -> PgResult<&Group> {
        self.groups.get(&id).ok_or_else(|| {
            PgError::new(
                codes::INTERNAL_ERROR,
                format!("shard {id} is not on this node"),
            )
        })
    }

    /// The group that owns an encoded primary key.
    pub fn route(&self, encoded_key: &[u8]) -> &Group {
        let g = self.shard_map.group_of(encoded_key);
        &self.groups[&g]
    }

    pub async fn shutdown(&self) {
        for g in self.groups.values() {
            g.shutdown().await;
        }
        self.meta.shutdown().await;
    }
}
