//! A transaction block's uncommitted writes, which its own reads merge.

/// Uncommitted writes of the session's open transaction block: key → new
/// value (None = deleted). Scans merge them so a block reads its own writes.
/// A persistent map: each statement takes a copy in O(1) and each write
/// costs O(log n), so a block of many statements never copies its writes.
pub type Overlay = imbl::OrdMap<Vec<u8>, Option<Vec<u8>>>;
