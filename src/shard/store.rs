//! The node's one RocksDB and its key layout.
//!
//! Column families:
//! - `raft_log`:  `[group u32][index u64]` → serialized log entry
//! - `raft_meta`: `[group u32][name]` → vote / committed / last purged id
//! - `data`:      `[group u32][b'm'][name]` → state-machine metadata (applied id, membership)
//!                `[group u32][b'k'][user key]` → latest version of a user key
//!                `[group u32][b'h'][escaped user key][!ts]` → older versions (see `mvcc`)
//!                `[group u32][b'r'][client u64][seq u64]` → (log index, result) of an applied request
//!                `[group u32][b'q'][log index u64][client u64][seq u64]` → () (the same, by age)
//!
//! All integers are big-endian so that keys sort in numeric order.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, DB, Options, WriteBatch, WriteOptions};

use super::GroupId;

pub const CF_LOG: &str = "raft_log";
pub const CF_META: &str = "raft_meta";
pub const CF_DATA: &str = "data";

/// Shared handle to the node's RocksDB.
#[derive(Clone)]
pub struct Store {
    db: Arc<DB>,
    /// The RocksDB directory (snapshot files live under it).
    path: std::path::PathBuf,
    observer: Arc<parking_lot::RwLock<Option<Arc<dyn super::ApplyObserver>>>>,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, rocksdb::Error> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let cfs = [CF_LOG, CF_META, CF_DATA]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir, cfs)?;
        Ok(Store {
            db: Arc::new(db),
            path: dir.to_path_buf(),
            observer: Default::default(),
        })
    }

    /// Register the observer of applied changes (one per node).
    pub fn set_observer(&self, o: Arc<dyn super::ApplyObserver>) {
        *self.observer.write() = Some(o);
    }

    /// Drop the observer (at shutdown: it holds the node, which holds the store).
    pub fn clear_observer(&self) {
        *self.observer.write() = None;
    }

    pub fn observer(&self) -> Option<Arc<dyn super::ApplyObserver>> {
        self.observer.read().clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn db(&self) -> &DB {
        &self.db
    }

    pub fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column family exists")
    }

    /// Write options for anything that must survive a crash once acknowledged.
    pub fn durable() -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        w
    }

    pub fn write_durable(&self, batch: WriteBatch) -> Result<(), rocksdb::Error> {
        self.db.write_opt(batch, &Self::durable())
    }
}

pub fn group_prefix(group: GroupId) -> [u8; 4] {
    group.to_be_bytes()
}

pub fn log_key(group: GroupId, index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(12);
    k.extend_from_slice(&group_prefix(group));
    k.extend_from_slice(&index.to_be_bytes());
    k
}

pub fn meta_key(group: GroupId, name: &str) -> Vec<u8> {
    let mut k = group_prefix(group).to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn sm_meta_key(group: GroupId, name: &str) -> Vec<u8> {
    let mut k = group_prefix(group).to_vec();
    k.push(b'm');
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn data_key(group: GroupId, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(5 + key.len());
    k.extend_from_slice(&group_prefix(group));
    k.push(b'k');
    k.extend_from_slice(key);
    k
}

/// Where the result of an applied request id is kept.
pub fn request_key(group: GroupId, id: super::command::RequestId) -> Vec<u8> {
    let mut k = Vec::with_capacity(21);
    k.extend_from_slice(&group_prefix(group));
    k.push(b'r');
    k.extend_from_slice(&id.client.to_be_bytes());
    k.extend_from_slice(&id.seq.to_be_bytes());
    k
}

/// The request ids of a group by the log index they were applied at.
pub fn request_index_key(group: GroupId, index: u64, id: super::command::RequestId) -> Vec<u8> {
    let mut k = Vec::with_capacity(29);
    k.extend_from_slice(&group_prefix(group));
    k.push(b'q');
    k.extend_from_slice(&index.to_be_bytes());
    k.extend_from_slice(&id.client.to_be_bytes());
    k.extend_from_slice(&id.seq.to_be_bytes());
    k
}

/// Exclusive upper bound of all user keys of a group.
pub fn data_prefix_end(group: GroupId) -> Vec<u8> {
    let mut k = group_prefix(group).to_vec();
    k.push(b'k' + 1);
    k
}

/// The smallest key greater than every key that starts with `prefix`
/// (None if the prefix is all 0xff).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last != 0xff {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}
