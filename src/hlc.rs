//! Hybrid logical clock (as in CockroachDB): timestamps that follow the
//! node's wall clock, never repeat or go back on one node, and can be moved
//! past a timestamp seen from another node, so that commit order and
//! snapshot order agree across nodes whose clocks differ a little.
//!
//! A [`Timestamp`] is one `u64`: milliseconds since the Unix epoch in the
//! high 48 bits, a logical counter in the low 16.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

const LOGICAL_BITS: u32 = 16;

/// A point in the hybrid logical time of the cluster.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Before every real timestamp: versions written without one.
    pub const ZERO: Timestamp = Timestamp(0);
    /// After every real timestamp: "the latest committed state".
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// The timestamp at `ms` milliseconds since the Unix epoch, logical 0.
    pub fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms << LOGICAL_BITS)
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }

    /// The next timestamp after this one.
    pub fn next(self) -> Timestamp {
        Timestamp(self.0.saturating_add(1))
    }

    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn from_be_bytes(b: [u8; 8]) -> Timestamp {
        Timestamp(u64::from_be_bytes(b))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}",
            self.millis(),
            self.0 & ((1 << LOGICAL_BITS) - 1)
        )
    }
}

/// One node's clock.
#[derive(Debug, Default)]
pub struct Clock {
    last: AtomicU64,
}

fn wall() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

impl Clock {
    pub fn new() -> Clock {
        Clock::default()
    }

    /// A timestamp later than every one this clock handed out or saw, and
    /// not earlier than the wall clock.
    pub fn now(&self) -> Timestamp {
        let wall = wall().0;
        let mut last = self.last.load(Ordering::Acquire);
        loop {
            let next = wall.max(last.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Timestamp(next),
                Err(seen) => last = seen,
            }
        }
    }

    /// Move the clock past `seen` (a timestamp from another node, or one
    /// read back from storage after a restart), so later [`Clock::now`]s
    /// order after it.
    pub fn update(&self, seen: Timestamp) {
        self.last.fetch_max(seen.0, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_and_near_the_wall_clock() {
        let c = Clock::new();
        let mut prev = Timestamp::ZERO;
        for _ in 0..100_000 {
            let t = c.now();
            assert!(t > prev);
            prev = t;
        }
        let drift = prev.millis().abs_diff(wall().millis());
        assert!(drift < 5_000, "{drift} ms from the wall clock");
    }

    #[test]
    fn moves_past_what_it_saw() {
        let c = Clock::new();
        let ahead = Timestamp::from_millis(wall().millis() + 60_000);
        c.update(ahead);
        assert!(c.now() > ahead);
        // An older timestamp does not move it back.
        c.update(Timestamp::from_millis(1));
        assert!(c.now() > ahead);
    }

    #[test]
    fn unique_across_threads() {
        let c = std::sync::Arc::new(Clock::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..20_000).map(|_| c.now()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<Timestamp> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
