//! Placement: which group owns a key.
//!
//! `slot = first 8 bytes of SHA-256(encoded primary key) mod SLOTS`; the shard
//! map assigns slots to data groups. It is written once into the meta group
//! when the node is bootstrapped, so a restart never re-places rows.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::shard::GroupId;

pub const SLOTS: u64 = 4096;

pub fn slot_of(encoded_key: &[u8]) -> u64 {
    let digest = Sha256::digest(encoded_key);
    u64::from_be_bytes(digest[..8].try_into().unwrap()) % SLOTS
}

/// Slot → data group assignment, versioned by `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShardMap {
    pub epoch: u64,
    pub groups: Vec<GroupId>,
    /// `slots[s]` is the group that owns slot `s`.
    pub slots: Vec<GroupId>,
}

impl ShardMap {
    /// Spread `SLOTS` evenly over groups `1..=n`.
    pub fn initial(n: u32) -> ShardMap {
        let groups: Vec<GroupId> = (1..=n).collect();
        let slots = (0..SLOTS)
            .map(|s| groups[(s % n as u64) as usize])
            .collect();
        ShardMap {
            epoch: 1,
            groups,
            slots,
        }
    }

    pub fn group_of(&self, encoded_key: &[u8]) -> GroupId {
        self.slots[slot_of(encoded_key) as usize]
    }
}
