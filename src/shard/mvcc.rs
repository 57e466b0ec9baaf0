//! Versions of a key: the latest committed version at the key itself, older
//! ones in a history keyspace, so that a read at a snapshot timestamp sees
//! the state as of that timestamp (docs/transactions.md, "Storage").
//!
//! In the `data` column family, per group:
//! - `[group]['k'][key]` → `[commit ts u64][kind u8][bytes]`: the latest
//!   version (kind 0: a value; kind 1: a tombstone, the key was deleted);
//! - `[group]['h'][escaped key][0x00 0x01][!ts u64]` → `[kind u8][bytes]`:
//!   older versions, newest first. The escaping (0x00 → 0x00 0xff) keeps
//!   the keys of one prefix together, so a prefix delete covers their
//!   history, and keeps one key's versions apart from a longer key's.

use rocksdb::{DB, Direction, IteratorMode, ReadOptions};

use super::GroupId;
use super::store::{CF_DATA, data_key, data_prefix_end, group_prefix, prefix_successor};
use crate::hlc::Timestamp;

const VALUE: u8 = 0;
const TOMBSTONE: u8 = 1;

/// One committed version: its commit timestamp and its value (None: the key
/// was deleted at `ts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub ts: Timestamp,
    pub value: Option<Vec<u8>>,
}

impl Version {
    pub fn encode(&self) -> Vec<u8> {
        let bytes = self.value.as_deref().unwrap_or(&[]);
        let mut v = Vec::with_capacity(9 + bytes.len());
        v.extend_from_slice(&self.ts.to_be_bytes());
        v.push(if self.value.is_some() {
            VALUE
        } else {
            TOMBSTONE
        });
        v.extend_from_slice(bytes);
        v
    }

    /// The latest version as stored at its key (None if the bytes are not
    /// a version: a store written before versions existed is not readable).
    pub fn decode(b: &[u8]) -> Option<Version> {
        let ts = Timestamp::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let value = match *b.get(8)? {
            VALUE => Some(b[9..].to_vec()),
            TOMBSTONE => None,
            _ => return None,
        };
        Some(Version { ts, value })
    }

    /// [`Version::decode`] of bytes read into a vector of their own: the
    /// value keeps that allocation instead of being copied.
    pub fn decode_owned(mut b: Vec<u8>) -> Option<Version> {
        let v = Version::decode(b.get(..9)?)?;
        Some(Version {
            ts: v.ts,
            value: v.value.map(|_| {
                b.drain(..9);
                b
            }),
        })
    }

    /// The value as history stores it (the timestamp is in the key).
    pub fn encode_history(&self) -> Vec<u8> {
        let bytes = self.value.as_deref().unwrap_or(&[]);
        let mut v = Vec::with_capacity(1 + bytes.len());
        v.push(if self.value.is_some() {
            VALUE
        } else {
            TOMBSTONE
        });
        v.extend_from_slice(bytes);
        v
    }

    fn decode_history(ts: Timestamp, b: &[u8]) -> Option<Version> {
        let value = match *b.first()? {
            VALUE => Some(b[1..].to_vec()),
            TOMBSTONE => None,
            _ => return None,
        };
        Some(Version { ts, value })
    }
}

fn escape_into(out: &mut Vec<u8>, key: &[u8]) {
    for &b in key {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
}

/// Where the history of `key` starts (its versions follow, newest first).
fn history_key_prefix(group: GroupId, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len() + key.len() / 8 + 8);
    k.extend_from_slice(&group_prefix(group));
    k.push(b'h');
    escape_into(&mut k, key);
    k.extend_from_slice(&[0x00, 0x01]);
    k
}

/// The history key of `key`'s version committed at `ts`.
pub fn history_key(group: GroupId, key: &[u8], ts: Timestamp) -> Vec<u8> {
    let mut k = history_key_prefix(group, key);
    k.extend_from_slice(&(!ts.0).to_be_bytes());
    k
}

/// The range of history keys of every key starting with `prefix`.
pub fn history_prefix_range(group: GroupId, prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut from = group_prefix(group).to_vec();
    from.push(b'h');
    escape_into(&mut from, prefix);
    let to = prefix_successor(&from).expect("starts with the group id and 'h'");
    (from, to)
}

/// Where a group's history starts (the `from` of a garbage collection
/// round is relative to it).
pub fn history_start(group: GroupId) -> Vec<u8> {
    let mut k = group_prefix(group).to_vec();
    k.push(b'h');
    k
}

/// The user key and commit timestamp of a history key, given without its
/// [`history_start`].
pub fn split_history_key(b: &[u8]) -> Option<(Vec<u8>, Timestamp)> {
    let mut key = Vec::with_capacity(b.len());
    let mut i = 0;
    loop {
        match (*b.get(i)?, b.get(i + 1)) {
            (0, Some(0xff)) => {
                key.push(0);
                i += 2;
            }
            (0, Some(0x01)) => {
                i += 2;
                break;
            }
            (0, _) => return None,
            (c, _) => {
                key.push(c);
                i += 1;
            }
        }
    }
    let ts = u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?);
    Some((key, Timestamp(!ts)))
}

/// The latest version of `key`.
pub fn latest(db: &DB, group: GroupId, key: &[u8]) -> Result<Option<Version>, rocksdb::Error> {
    let cf = db.cf_handle(CF_DATA).expect("column family exists");
    Ok(db
        .get_cf(cf, data_key(group, key))?
        .and_then(Version::decode_owned))
}

/// The newest version of `key` in its history committed at or before `at`.
fn from_history(
    db: &DB,
    group: GroupId,
    key: &[u8],
    at: Timestamp,
) -> Result<Option<Version>, rocksdb::Error> {
    let cf = db.cf_handle(CF_DATA).expect("column family exists");
    let prefix = history_key_prefix(group, key);
    let from = history_key(group, key, at);
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(prefix_successor(&prefix).expect("non-empty prefix"));
    let mut iter = db.iterator_cf_opt(cf, ro, IteratorMode::From(&from, Direction::Forward));
    match iter.next() {
        Some(item) => {
            let (k, v) = item?;
            let ts = Timestamp(!u64::from_be_bytes(
                k[k.len() - 8..].try_into().expect("8 bytes"),
            ));
            Ok(Version::decode_history(ts, &v))
        }
        None => Ok(None),
    }
}

/// What `key` held at `at`: the latest version if it is not newer, else
/// the newest older one (None: absent or deleted then).
pub fn visible(
    db: &DB,
    group: GroupId,
    key: &[u8],
    latest: Option<Version>,
    at: Timestamp,
) -> Result<Option<Vec<u8>>, rocksdb::Error> {
    match latest {
        None => Ok(None),
        Some(v) if v.ts <= at => Ok(v.value),
        Some(_) => Ok(from_history(db, group, key, at)?.and_then(|v| v.value)),
    }
}

/// The value of `key` at `at`.
pub fn get_at(
    db: &DB,
    group: GroupId,
    key: &[u8],
    at: Timestamp,
) -> Result<Option<Vec<u8>>, rocksdb::Error> {
    let l = latest(db, group, key)?;
    visible(db, group, key, l, at)
}

/// Up to `limit` keys of `group` in `[start, end)` with their values at
/// `at`, in key order (keys deleted or not yet written at `at` are left out).
pub fn scan_at(
    db: &DB,
    group: GroupId,
    start: &[u8],
    end: Option<&[u8]>,
    at: Timestamp,
    limit: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>, rocksdb::Error> {
    let cf = db.cf_handle(CF_DATA).expect("column family exists");
    let from = data_key(group, start);
    let upper = match end {
        Some(end) => data_key(group, end),
        None => data_prefix_end(group),
    };
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(upper);
    let iter = db.iterator_cf_opt(cf, ro, IteratorMode::From(&from, Direction::Forward));
    let skip = data_key(group, &[]).len();
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item?;
        let key = &k[skip..];
        if let Some(value) = visible(db, group, key, Version::decode(&v), at)? {
            out.push((key.to_vec(), value));
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip() {
        for v in [
            Version {
                ts: Timestamp(42),
                value: Some(b"row".to_vec()),
            },
            Version {
                ts: Timestamp(7),
                value: Some(vec![]),
            },
            Version {
                ts: Timestamp(9),
                value: None,
            },
        ] {
            assert_eq!(Version::decode(&v.encode()), Some(v.clone()));
            assert_eq!(Version::decode_owned(v.encode()), Some(v.clone()));
            assert_eq!(
                Version::decode_history(v.ts, &v.encode_history()),
                Some(v.clone())
            );
        }
    }

    #[test]
    fn history_keys_split_back() {
        for key in [&b""[..], b"a", b"a\0b", b"\0\0", b"\xff\x00\x01"] {
            let k = history_key(3, key, Timestamp(77));
            let start = history_start(3);
            assert_eq!(
                split_history_key(&k[start.len()..]),
                Some((key.to_vec(), Timestamp(77)))
            );
        }
    }

    #[test]
    fn history_keys_order_newest_first_and_stay_under_their_prefix() {
        let a = history_key(1, b"ab", Timestamp(5));
        let b = history_key(1, b"ab", Timestamp(9));
        assert!(b < a, "newer versions sort first");
        // A key and a longer key with the same start keep apart: every
        // version of "ab" sorts before every version of "ab\0".
        let longer = history_key(1, b"ab\0", Timestamp(1));
        assert!(a < longer && b < longer);
        let (from, to) = history_prefix_range(1, b"a");
        for k in [&a, &b, &longer] {
            assert!(&from <= k && k < &to);
        }
        let (from, to) = history_prefix_range(1, b"ab\0");
        assert!(!(from <= a && a < to));
        assert!(from <= longer && longer < to);
    }
}

/// Approximate bytes RocksDB's files hold for `group`'s keys starting
/// with `prefix`: latest values and older versions (memtables not counted).
pub fn approximate_size(db: &DB, group: GroupId, prefix: &[u8]) -> u64 {
    let cf = db.cf_handle(CF_DATA).expect("column family exists");
    let latest_from = data_key(group, prefix);
    let latest_to = prefix_successor(&latest_from).unwrap_or_else(|| data_prefix_end(group));
    let (history_from, history_to) = history_prefix_range(group, prefix);
    db.get_approximate_sizes_cf(
        &cf,
        &[
            rocksdb::Range::new(&latest_from, &latest_to),
            rocksdb::Range::new(&history_from, &history_to),
        ],
    )
    .iter()
    .sum()
}
