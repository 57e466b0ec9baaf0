//! Where a group keeps transactions' intents and records
//! (docs/transactions.md, "Writes"), apart from committed versions so the
//! common read stays one lookup.
//!
//! In the `data` column family, per group:
//! - `[group]['l'][key]` → [`Intent`]: the provisional write of the one
//!   transaction holding `key` (raw key: a prefix delete of a table covers
//!   its intents with one range);
//! - `[group]['t'][client u64][seq u64]` → [`TxnStatus`]: a transaction
//!   record, on the group of the transaction's first write.

use rocksdb::{DB, Direction, IteratorMode, ReadOptions};
use serde::{Deserialize, Serialize};

use super::GroupId;
use super::command::{RequestId, TxnId, TxnStatus};
use super::store::{CF_DATA, group_prefix, prefix_successor};

const INTENTS: u8 = b'l';
const RECORDS: u8 = b't';

/// A provisional write: what transaction `txn` will make `key` hold if it
/// commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub txn: TxnId,
    /// The group holding `txn`'s record.
    pub record: GroupId,
    /// The new value (None: a delete).
    pub value: Option<Vec<u8>>,
    /// Only a lock (SELECT ... FOR UPDATE): the value is what the key
    /// holds, and committing leaves the key as it is.
    pub lock_only: bool,
}

impl Intent {
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("serializable")
    }

    pub fn decode(b: &[u8]) -> Option<Intent> {
        bincode::deserialize(b).ok()
    }
}

pub fn encode_status(s: &TxnStatus) -> Vec<u8> {
    bincode::serialize(s).expect("serializable")
}

fn decode_status(b: &[u8]) -> Option<TxnStatus> {
    bincode::deserialize(b).ok()
}

/// The key of `key`'s intent.
pub fn intent_key(group: GroupId, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(5 + key.len());
    k.extend_from_slice(&group_prefix(group));
    k.push(INTENTS);
    k.extend_from_slice(key);
    k
}

/// The range of the intents of keys starting with `prefix`.
pub fn intent_prefix_range(group: GroupId, prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let from = intent_key(group, prefix);
    let to = match prefix_successor(prefix) {
        Some(s) => intent_key(group, &s),
        None => {
            let mut k = group_prefix(group).to_vec();
            k.push(INTENTS + 1);
            k
        }
    };
    (from, to)
}

/// The key of `txn`'s record.
pub fn record_key(group: GroupId, txn: TxnId) -> Vec<u8> {
    let mut k = Vec::with_capacity(21);
    k.extend_from_slice(&group_prefix(group));
    k.push(RECORDS);
    k.extend_from_slice(&txn.0.client.to_be_bytes());
    k.extend_from_slice(&txn.0.seq.to_be_bytes());
    k
}

fn cf(db: &DB) -> &rocksdb::ColumnFamily {
    db.cf_handle(CF_DATA).expect("column family exists")
}

/// The intent on `key`, if any.
pub fn intent(db: &DB, group: GroupId, key: &[u8]) -> Result<Option<Intent>, rocksdb::Error> {
    Ok(db
        .get_cf(cf(db), intent_key(group, key))?
        .and_then(|b| Intent::decode(&b)))
}

/// Up to `limit` intents of keys in `[start, end)` (end None: to the last).
pub fn intents(
    db: &DB,
    group: GroupId,
    start: &[u8],
    end: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<(Vec<u8>, Intent)>, rocksdb::Error> {
    let from = intent_key(group, start);
    let upper = match end {
        Some(e) => intent_key(group, e),
        None => intent_prefix_range(group, &[]).1,
    };
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(upper);
    let skip = intent_key(group, &[]).len();
    let mut out = Vec::new();
    for item in db.iterator_cf_opt(cf(db), ro, IteratorMode::From(&from, Direction::Forward)) {
        if out.len() >= limit {
            break;
        }
        let (k, v) = item?;
        if let Some(i) = Intent::decode(&v) {
            out.push((k[skip..].to_vec(), i));
        }
    }
    Ok(out)
}

/// The status `txn`'s record holds (None: no record).
pub fn record(db: &DB, group: GroupId, txn: TxnId) -> Result<Option<TxnStatus>, rocksdb::Error> {
    Ok(db
        .get_cf(cf(db), record_key(group, txn))?
        .and_then(|b| decode_status(&b)))
}

/// Every transaction record of `group`.
pub fn records(db: &DB, group: GroupId) -> Result<Vec<(TxnId, TxnStatus)>, rocksdb::Error> {
    let mut from = group_prefix(group).to_vec();
    from.push(RECORDS);
    let mut ro = ReadOptions::default();
    ro.set_iterate_upper_bound(prefix_successor(&from).expect("non-empty prefix"));
    let mut out = Vec::new();
    for item in db.iterator_cf_opt(cf(db), ro, IteratorMode::From(&from, Direction::Forward)) {
        let (k, v) = item?;
        let b = &k[from.len()..];
        if b.len() != 16 {
            continue;
        }
        let txn = TxnId(RequestId {
            client: u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
            seq: u64::from_be_bytes(b[8..].try_into().expect("8 bytes")),
        });
        if let Some(s) = decode_status(&v) {
            out.push((txn, s));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_and_records_round_trip_and_stay_in_their_ranges() {
        let txn = TxnId(RequestId { client: 7, seq: 9 });
        let i = Intent {
            txn,
            record: 3,
            value: Some(b"v".to_vec()),
            lock_only: false,
        };
        assert_eq!(Intent::decode(&i.encode()), Some(i));
        let s = TxnStatus::Committed(crate::hlc::Timestamp(42));
        assert_eq!(decode_status(&encode_status(&s)), Some(s));
        let (from, to) = intent_prefix_range(2, b"ab");
        assert!(from <= intent_key(2, b"ab") && intent_key(2, b"ab\xff") < to);
        assert!(intent_key(2, b"ac") >= to);
        assert!(record_key(2, txn).starts_with(&[0, 0, 0, 2, RECORDS]));
    }
}
