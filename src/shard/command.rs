//! Commands carried by Raft log entries and their results.

use serde::{Deserialize, Serialize};

/// One change to a group's key-value state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Precondition: the key currently holds `expect` (None = absent).
    /// If any check of a command fails, nothing of the command is applied.
    Check {
        key: Vec<u8>,
        expect: Option<Vec<u8>>,
    },
    /// Add `by` to a big-endian i64 counter (absent = 0) and return the new value.
    Incr {
        key: Vec<u8>,
        by: i64,
    },
    /// Delete every key that starts with `prefix`.
    DeletePrefix {
        prefix: Vec<u8>,
    },
}

/// An atomic batch of ops: applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub ops: Vec<Op>,
}

/// What applying a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// Applied. `counters` holds the new value of every `Incr`, in order.
    Applied { counters: Vec<i64> },
    /// Not applied: the `Check` at this index failed; `actual` is what the key held.
    CheckFailed {
        op_index: usize,
        actual: Option<Vec<u8>>,
    },
    /// Entries that carry no command (blank, membership).
    #[default]
    None,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Command({} ops)", self.ops.len())
    }
}
