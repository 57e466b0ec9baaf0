//! A group's Raft snapshots as files: built from one RocksDB snapshot (data
//! and applied id read together, so a snapshot always matches the id it
//! names, while entries keep applying), written and read in a stream
//! (never held whole in memory), installed crash-safely.
//!
//! File: `[u64 header length][bincode Header]` then `[u32 key length][key]
//! [u32 value length][value]` for every state-machine key of the group but
//! its metadata (the header carries applied id, membership and the newest
//! commit timestamp).
//!
//! Files live in `<rocksdb dir>/snapshots/<group>/`: `<id>.snap` (the
//! current one; older ones are removed), `<id>.tmp` while building,
//! `installing.snap` while installing. Install first copies what it
//! receives to `installing.snap` and records a marker (in `raft_meta`);
//! a start that finds the marker installs that file again, so a crash
//! midway never leaves half a snapshot applied.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use openraft::{LogId, StoredMembership};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use super::store::{CF_DATA, CF_META, group_prefix, meta_key, sm_meta_key};
use super::{GroupId, NodeId, Store};
use crate::hlc::Timestamp;

pub type Membership = StoredMembership<NodeId, openraft::BasicNode>;

/// What a snapshot is of.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub id: String,
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: Membership,
    pub max_ts: Timestamp,
}

/// Keys per write batch while installing.
const INSTALL_BATCH: usize = 10_000;
const INSTALLING: &str = "installing.snap";

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The directory of `group`'s snapshot files.
pub fn dir(store: &Store, group: GroupId) -> PathBuf {
    store.path().join("snapshots").join(group.to_string())
}

/// The key range a snapshot carries: all of the group's state-machine keys
/// (`m`, its metadata, is skipped while reading).
fn range(group: GroupId) -> (Vec<u8>, Vec<u8>) {
    let from = group_prefix(group).to_vec();
    let mut to = group_prefix(group).to_vec();
    to.push(0xff);
    (from, to)
}

fn write_chunk(w: &mut impl Write, b: &[u8], len4: bool) -> std::io::Result<()> {
    if len4 {
        w.write_all(&(b.len() as u32).to_be_bytes())?;
    } else {
        w.write_all(&(b.len() as u64).to_be_bytes())?;
    }
    w.write_all(b)
}

/// Read one length-prefixed chunk; None at a clean end of file.
fn read_chunk(r: &mut impl Read, len4: bool) -> std::io::Result<Option<Vec<u8>>> {
    let n = if len4 {
        let mut b = [0u8; 4];
        match r.read_exact(&mut b) {
            Ok(()) => u32::from_be_bytes(b) as usize,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
    } else {
        let mut b = [0u8; 8];
        r.read_exact(&mut b)?;
        u64::from_be_bytes(b) as usize
    };
    let mut v = vec![0u8; n];
    r.read_exact(&mut v)?;
    Ok(Some(v))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Build a snapshot of `group` as it is now, into a new current file.
pub fn build(store: &Store, group: GroupId) -> std::io::Result<(Header, PathBuf)> {
    let db = store.db();
    let snap = db.snapshot();
    let cf = store.cf(CF_DATA);
    let meta = |name: &str| snap.get_cf(cf, sm_meta_key(group, name)).map_err(other);
    let last_applied: Option<LogId<NodeId>> = match meta("applied")? {
        Some(b) => bincode::deserialize::<Option<LogId<NodeId>>>(&b).map_err(other)?,
        None => None,
    };
    let membership: Membership = match meta("membership")? {
        Some(b) => bincode::deserialize(&b).map_err(other)?,
        None => Membership::default(),
    };
    let max_ts: Timestamp = match meta("max_ts")? {
        Some(b) => bincode::deserialize(&b).map_err(other)?,
        None => Timestamp::ZERO,
    };
    let id = match last_applied {
        Some(l) => format!("{group}-{}-{}", l.leader_id, l.index),
        None => format!("{group}-empty"),
    };
    let header = Header {
        id: id.clone(),
        last_applied,
        membership,
        max_ts,
    };
    let dir = dir(store, group);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!("{id}.tmp"));
    let file = File::create(&tmp)?;
    let mut w = BufWriter::new(file);
    write_chunk(&mut w, &bincode::serialize(&header).map_err(other)?, false)?;
    let (from, to) = range(group);
    let mut ro = rocksdb::ReadOptions::default();
    ro.set_iterate_upper_bound(to);
    let iter = snap.iterator_cf_opt(
        cf,
        ro,
        rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward),
    );
    for item in iter {
        let (k, v) = item.map_err(other)?;
        if k.get(4) == Some(&b'm') {
            continue;
        }
        write_chunk(&mut w, &k[4..], true)?;
        write_chunk(&mut w, &v, true)?;
    }
    let file = w.into_inner().map_err(other)?;
    file.sync_all()?;
    let path = dir.join(format!("{id}.snap"));
    std::fs::rename(&tmp, &path)?;
    sync_dir(&dir)?;
    // The new one replaces the older ones.
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p != path && p.extension().is_some_and(|x| x == "snap") && !p.ends_with(INSTALLING) {
            let _ = std::fs::remove_file(p);
        }
    }
    Ok((header, path))
}

fn read_header(r: &mut impl Read) -> std::io::Result<Header> {
    let b = read_chunk(r, false)?.ok_or_else(|| other("empty snapshot file"))?;
    bincode::deserialize(&b).map_err(other)
}

/// The current snapshot of `group`, if one was built or installed.
pub fn current(store: &Store, group: GroupId) -> std::io::Result<Option<(Header, PathBuf)>> {
    let dir = dir(store, group);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(None);
    };
    for e in entries {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "snap") && !p.ends_with(INSTALLING) {
            let header = read_header(&mut BufReader::new(File::open(&p)?))?;
            return Ok(Some((header, p)));
        }
    }
    Ok(None)
}

/// Where a snapshot being installed is kept until it is in.
pub fn installing_path(store: &Store, group: GroupId) -> std::io::Result<PathBuf> {
    let dir = dir(store, group);
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(INSTALLING))
}

fn marker(group: GroupId) -> Vec<u8> {
    meta_key(group, "installing-snapshot")
}

/// Whether an install of `group` was interrupted (its file is to be
/// installed again).
pub fn interrupted(store: &Store, group: GroupId) -> bool {
    store
        .db()
        .get_cf(store.cf(CF_META), marker(group))
        .ok()
        .flatten()
        .is_some()
}

/// Replace `group`'s state by the snapshot at `installing_path` (already
/// durable there), in batches; the marker makes a crash midway redo it.
/// The file becomes the group's current snapshot.
pub fn install(store: &Store, group: GroupId) -> std::io::Result<Header> {
    let path = installing_path(store, group)?;
    let mut r = BufReader::new(File::open(&path)?);
    let header = read_header(&mut r)?;
    let data = store.cf(CF_DATA);
    let mut batch = WriteBatch::default();
    batch.put_cf(store.cf(CF_META), marker(group), header.id.as_bytes());
    let (from, to) = range(group);
    batch.delete_range_cf(data, from, to);
    store.write_durable(batch).map_err(other)?;
    let mut batch = WriteBatch::default();
    let mut n = 0;
    while let Some(k) = read_chunk(&mut r, true)? {
        let v = read_chunk(&mut r, true)?.ok_or_else(|| other("snapshot file cut short"))?;
        let mut key = group_prefix(group).to_vec();
        key.extend_from_slice(&k);
        batch.put_cf(data, key, v);
        n += 1;
        if n % INSTALL_BATCH == 0 {
            store
                .db()
                .write(std::mem::take(&mut batch))
                .map_err(other)?;
        }
    }
    let put = |batch: &mut WriteBatch, name: &str, v: Vec<u8>| {
        batch.put_cf(data, sm_meta_key(group, name), v)
    };
    put(
        &mut batch,
        "applied",
        bincode::serialize(&header.last_applied).map_err(other)?,
    );
    put(
        &mut batch,
        "membership",
        bincode::serialize(&header.membership).map_err(other)?,
    );
    put(
        &mut batch,
        "max_ts",
        bincode::serialize(&header.max_ts).map_err(other)?,
    );
    batch.delete_cf(store.cf(CF_META), marker(group));
    store.write_durable(batch).map_err(other)?;
    let dir = dir(store, group);
    let current = dir.join(format!("{}.snap", header.id));
    std::fs::rename(&path, &current)?;
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p != current && p.extension().is_some_and(|x| x == "snap") {
            let _ = std::fs::remove_file(p);
        }
    }
    sync_dir(&dir)?;
    Ok(header)
}
