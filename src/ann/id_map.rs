//! A vector index's graph ids ↔ the row keys they stand for.
//!
//! Graphs know rows by dense ids (their position in the index's arrays);
//! searches turn ids back into keys, writes find a key's id to tombstone
//! it. Each key is held once, end to end in one buffer, and the lookup
//! table holds only ids (hashing the key they point at): a few tens of
//! bytes a row, where two owned copies of every key in a `Vec` and a
//! `HashMap` took about a hundred.

use std::hash::{BuildHasher, RandomState};

use serde::{Deserialize, Serialize};

/// What a checkpoint holds (the table is rebuilt from it).
#[derive(Deserialize)]
struct Saved {
    bytes: Vec<u8>,
    ends: Vec<u64>,
    gone: Vec<bool>,
}

/// [`Saved`] borrowed from a live map (same encoding, no copy).
#[derive(Serialize)]
struct SavedRef<'a> {
    bytes: &'a [u8],
    ends: &'a [u64],
    gone: &'a [bool],
}

/// Ids ↔ keys, and tombstones: ids whose row was deleted or rewritten
/// (a rewritten row gets a new id; graphs cannot delete nodes).
#[derive(Default)]
pub struct IdMap {
    /// Id `i`'s key is `bytes[ends[i - 1]..ends[i]]` (from 0 for id 0).
    bytes: Vec<u8>,
    ends: Vec<u64>,
    /// Whether id `i` is a tombstone.
    gone: Vec<bool>,
    /// The live ids, by their key's hash.
    table: hashbrown::HashTable<usize>,
    hasher: RandomState,
}

fn key_of<'a>(bytes: &'a [u8], ends: &[u64], id: usize) -> &'a [u8] {
    let start = if id == 0 { 0 } else { ends[id - 1] as usize };
    &bytes[start..ends[id] as usize]
}

impl IdMap {
    /// Ids given out (live and tombstones).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Live ids.
    pub fn live(&self) -> usize {
        self.table.len()
    }

    /// Tombstones.
    pub fn dead(&self) -> usize {
        self.len() - self.live()
    }

    /// Id `id`'s key, unless it is a tombstone (or was never given out).
    pub fn key(&self, id: usize) -> Option<&[u8]> {
        self.is_live(id)
            .then(|| key_of(&self.bytes, &self.ends, id))
    }

    pub fn is_live(&self, id: usize) -> bool {
        self.gone.get(id).is_some_and(|g| !g)
    }

    /// The live id of `key`.
    pub fn id(&self, key: &[u8]) -> Option<usize> {
        let (bytes, ends) = (&self.bytes, &self.ends);
        self.table
            .find(self.hasher.hash_one(key), |&id| {
                key_of(bytes, ends, id) == key
            })
            .copied()
    }

    /// A new live id for `key`, tombstoning the id it had.
    pub fn insert(&mut self, key: &[u8]) -> usize {
        self.remove(key);
        let id = self.len();
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len() as u64);
        self.gone.push(false);
        let (bytes, ends, hasher) = (&self.bytes, &self.ends, &self.hasher);
        self.table.insert_unique(hasher.hash_one(key), id, |&i| {
            hasher.hash_one(key_of(bytes, ends, i))
        });
        id
    }

    /// Tombstone `key`'s id; the id, if it had one.
    pub fn remove(&mut self, key: &[u8]) -> Option<usize> {
        let (bytes, ends) = (&self.bytes, &self.ends);
        let hash = self.hasher.hash_one(key);
        let entry = self
            .table
            .find_entry(hash, |&id| key_of(bytes, ends, id) == key)
            .ok()?;
        let (id, _) = entry.remove();
        self.gone[id] = true;
        Some(id)
    }

    /// The live keys starting with `prefix`.
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        self.table
            .iter()
            .map(|&id| key_of(&self.bytes, &self.ends, id))
            .filter(|k| k.starts_with(prefix))
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
            + 8 * self.ends.capacity()
            + self.gone.capacity()
            + self.table.capacity() * (std::mem::size_of::<usize>() + 1)
    }

    pub fn to_bytes(&self) -> bincode::Result<Vec<u8>> {
        bincode::serialize(&SavedRef {
            bytes: &self.bytes,
            ends: &self.ends,
            gone: &self.gone,
        })
    }

    /// A map from [`Self::to_bytes`]; an error if the bytes are inconsistent.
    pub fn from_bytes(b: &[u8]) -> bincode::Result<IdMap> {
        let s: Saved = bincode::deserialize(b)?;
        let bad = || Box::new(bincode::ErrorKind::Custom("inconsistent key map".into()));
        if s.ends.len() != s.gone.len()
            || s.ends.windows(2).any(|w| w[0] > w[1])
            || s.ends.last().is_some_and(|&e| e as usize != s.bytes.len())
        {
            return Err(bad());
        }
        let mut map = IdMap {
            bytes: s.bytes,
            ends: s.ends,
            gone: s.gone,
            ..IdMap::default()
        };
        let (bytes, ends, hasher) = (&map.bytes, &map.ends, &map.hasher);
        for id in (0..map.ends.len()).filter(|&id| !map.gone[id]) {
            let key = key_of(bytes, ends, id);
            let hash = hasher.hash_one(key);
            if map
                .table
                .find(hash, |&i| key_of(bytes, ends, i) == key)
                .is_some()
            {
                return Err(bad()); // a key live twice
            }
            map.table
                .insert_unique(hash, id, |&i| hasher.hash_one(key_of(bytes, ends, i)));
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keys_tombstones_and_round_trip() {
        let mut m = IdMap::default();
        let a = m.insert(b"t1/a");
        let b = m.insert(b"t1/b");
        let c = m.insert(b"t2/c");
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(m.id(b"t1/b"), Some(1));
        assert_eq!(m.key(2), Some(&b"t2/c"[..]));
        // Rewriting a row: a new id, the old one a tombstone.
        let b2 = m.insert(b"t1/b");
        assert_eq!(b2, 3);
        assert!(!m.is_live(1) && m.key(1).is_none());
        assert_eq!(m.id(b"t1/b"), Some(3));
        assert_eq!(m.remove(b"t1/a"), Some(0));
        assert_eq!(m.remove(b"t1/a"), None);
        assert_eq!((m.len(), m.live(), m.dead()), (4, 2, 2));
        let mut pre = m.keys_with_prefix(b"t1/");
        pre.sort();
        assert_eq!(pre, vec![b"t1/b".to_vec()]);
        // An empty key is a key too.
        let e = m.insert(b"");
        assert_eq!(m.id(b""), Some(e));
        let back = IdMap::from_bytes(&m.to_bytes().unwrap()).unwrap();
        for id in 0..m.len() {
            assert_eq!(back.key(id), m.key(id));
        }
        assert_eq!(back.id(b"t2/c"), Some(2));
        assert_eq!((back.live(), back.dead()), (3, 2));
        assert!(IdMap::from_bytes(&[1, 2, 3]).is_err());
    }
}
