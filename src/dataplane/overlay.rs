//! A transaction block's uncommitted writes, which its own reads merge.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Uncommitted writes of the session's open transaction block: key → new
/// value (None = deleted). Scans merge them so a block reads its own writes.
pub type Overlay = Arc<BTreeMap<Vec<u8>, Option<Vec<u8>>>>;
