//! Starting and stopping a node: storage and Raft groups, then the listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::catalog::CatalogStore;
use crate::cluster::Node;
use crate::dataplane::{LocalShards, ShardAccess};
use crate::frontend::Handlers;
use crate::sql::Engine;

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    /// Data shards created when the data directory is new.
    pub shards: u32,
    /// How long replaced row versions are kept for snapshots.
    pub gc_retention: std::time::Duration,
    /// Raft log entries of a group between two of its snapshots (the log is
    /// compacted behind each).
    pub snapshot_every: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./grape-data"),
            listen: "127.0.0.1:5433".into(),
            shards: 4,
            gc_retention: crate::dataplane::gc::DEFAULT_RETENTION,
            snapshot_every: 100_000,
        }
    }
}

/// A running server; dropping it does not stop it, call [`ServerHandle::shutdown`].
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    vindexes: Arc<crate::vindex::VectorIndexes>,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

pub async fn start(config: Config) -> anyhow::Result<ServerHandle> {
    let listener = TcpListener::bind(&config.listen).await?;
    let addr = listener.local_addr()?;
    let node = Node::start(
        &config.data_dir,
        config.shards,
        &addr.to_string(),
        config.snapshot_every,
    )
    .await?;
    let catalog = Arc::new(CatalogStore::load(node.clone()).map_err(|e| anyhow::anyhow!("{e}"))?);
    // Vector indexes: from their checkpoints, or rebuilt from the rows.
    let vindexes = crate::vindex::VectorIndexes::new(node.clone(), &config.data_dir);
    let cat = catalog.current();
    for t in cat.tables.values() {
        for idx in t.indexes.iter().filter(|i| i.vector.is_some()) {
            let name = idx.name.clone();
            vindexes
                .open(t, idx, true, &|msg| tracing::info!("{msg}"))
                .await
                .map_err(|e| anyhow::anyhow!("opening index {name}: {e}"))?;
        }
    }
    {
        // Rebuild graphs whose tombstones passed the threshold.
        let v = Arc::downgrade(&vindexes);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                match v.upgrade() {
                    Some(v) => v.maintain().await,
                    None => break,
                }
            }
        });
    }
    let data = LocalShards::new(node.clone(), vindexes.clone());
    {
        // Remove row versions no snapshot can see any more.
        let d = Arc::downgrade(&data);
        let retention = config.gc_retention;
        let every = (retention / 5).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(60),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(d) = d.upgrade() else { break };
                if let Err(e) = d.collect_garbage(retention).await {
                    tracing::warn!("garbage collection stopped: {e}");
                }
            }
        });
    }
    {
        // Finish the transactions the last run left behind before anyone
        // reads, then those whose coordinator gives up while running.
        let n = crate::dataplane::txn::recover(data.as_ref(), true)
            .await
            .map_err(|e| anyhow::anyhow!("recovering transactions: {e}"))?;
        if n > 0 {
            tracing::info!("finished {n} transactions left by the last run");
        }
        // Indexes whose online build a crash stopped: dropped, their
        // entries purged below.
        catalog
            .update_and_purge(|cat| {
                let mut prefixes = Vec::new();
                for t in cat.tables.values_mut() {
                    for idx in t.indexes.iter().filter(|i| i.building) {
                        tracing::info!("dropping index {} (its build did not finish)", idx.name);
                        prefixes.push(crate::encoding::table_prefix(idx.id));
                    }
                    t.indexes.retain(|i| !i.building);
                }
                Ok(((), prefixes))
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // DROP/TRUNCATE data deletes a crash interrupted.
        let purges = catalog
            .pending_purges()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if !purges.is_empty() {
            let ops = purges
                .iter()
                .map(|p| crate::shard::Op::DeletePrefix { prefix: p.clone() })
                .collect();
            crate::dataplane::write::on_every_shard(data.as_ref(), ops)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            catalog
                .purged(&purges)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!("finished {} purges left by the last run", purges.len());
        }
        let d = Arc::downgrade(&data);
        tokio::spawn(async move {
            // Records every 2 s; every 30 s also intents (one whose
            // coordinator is gone and whose record never got written).
            for round in 1u64.. {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                let Some(d) = d.upgrade() else { break };
                let intents = round % 15 == 0;
                if let Err(e) = crate::dataplane::txn::recover(d.as_ref(), intents).await {
                    tracing::warn!("transaction recovery: {e}");
                }
            }
        });
    }
    let engine = Arc::new(Engine {
        data,
        catalog,
        vindexes: vindexes.clone(),
        backends: crate::sql::activity::Backends::new(),
        notify: crate::sql::notify::Hub::new(),
        xids: crate::sql::xid::Xids::new(),
    });
    let handlers = Handlers::new(engine);
    let (stop, mut stopped) = watch::channel(false);
    let accept = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                conn = listener.accept() => match conn {
                    Ok((socket, _peer)) => {
                        let _ = socket.set_nodelay(true);
                        let h = handlers.clone();
                        tokio::spawn(async move {
                            if let Err(e) = crate::frontend::connection::serve(socket, h).await {
                                tracing::debug!("connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => tracing::warn!("accept failed: {e}"),
                }
            }
        }
    });
    Ok(ServerHandle {
        addr,
        node,
        vindexes,
        stop,
        accept,
    })
}

impl ServerHandle {
    /// The node's vector indexes (tests drive their rebuilds).
    pub fn vector_indexes(&self) -> &Arc<crate::vindex::VectorIndexes> {
        &self.vindexes
    }

    /// Stop accepting connections and shut the Raft groups down.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        self.node.shutdown().await;
        // After the groups stop, the graphs reflect the final applied state.
        self.vindexes.checkpoint_all();
        self.node.store.clear_observer();
    }
}
