//! A statement's row changes as the write path takes them: each with the
//! value it expects, composed per key.

use std::collections::BTreeMap;

use crate::error::PgError;

#[derive(Debug, Clone)]
pub struct RowWrite {
    pub key: Vec<u8>,
    /// What the row must currently be (None = absent).
    pub expect: Option<Vec<u8>>,
    /// New value (None = delete).
    pub new: Option<Vec<u8>>,
    /// Written whatever the key holds (`expect` is not checked): the
    /// entries of an index being built online, which the build may or may
    /// not have written yet.
    pub blind: bool,
}

/// A precondition failed: `key` did not hold what was expected.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub key: Vec<u8>,
    pub expected: Option<Vec<u8>>,
    pub actual: Option<Vec<u8>>,
}

impl Conflict {
    /// `w`'s precondition failed: the key held `actual`.
    pub fn on(w: &RowWrite, actual: Option<Vec<u8>>) -> Conflict {
        Conflict {
            key: w.key.clone(),
            expected: w.expect.clone(),
            actual,
        }
    }
}

pub enum WriteError {
    Conflict(Conflict),
    Failed(PgError),
}

impl From<PgError> for WriteError {
    fn from(e: PgError) -> Self {
        WriteError::Failed(e)
    }
}

/// Add `w` to the writes `buf` already holds, in order: a second write of a
/// key must expect what the first one wrote (two rows of one statement
/// moved onto the same key are a conflict, not a silent overwrite).
pub fn merge_write(buf: &mut BTreeMap<Vec<u8>, RowWrite>, w: RowWrite) -> Result<(), Conflict> {
    match buf.get_mut(&w.key) {
        Some(existing) => {
            if !w.blind && existing.new != w.expect {
                // Both writes were planned from one snapshot: when the first
                // wanted the key absent and the second read a value there,
                // the first is the one that fails (a row moved onto a key
                // another row of the statement still holds: 23505).
                if existing.expect.is_none() && w.expect.is_some() && !existing.blind {
                    return Err(Conflict {
                        key: w.key,
                        expected: None,
                        actual: w.expect,
                    });
                }
                return Err(Conflict {
                    key: w.key,
                    expected: w.expect,
                    actual: existing.new.clone(),
                });
            }
            existing.new = w.new;
        }
        None => {
            buf.insert(w.key.clone(), w);
        }
    }
    Ok(())
}
