//! Per-thread scratch of graph walks: visited marks reused across searches,
//! and cache prefetching of points about to be compared.

use std::cell::RefCell;

/// Most neighbours a node has at layer 0 (2 × m, m ≤ 100).
pub(super) const FRESH: usize = 256;

/// Per-thread visited marks, reused across searches: a node is visited when
/// its mark equals the current search's stamp, so no clearing per search.
pub(super) struct Visited {
    pub(super) marks: Vec<u32>,
    stamp: u32,
}

impl Visited {
    pub(super) fn next(&mut self, n: usize) -> u32 {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
        self.stamp
    }
}

thread_local! {
    pub(super) static VISITED: RefCell<Visited> = const { RefCell::new(Visited { marks: Vec::new(), stamp: 0 }) };
}

/// Ask the CPU to start loading up to `lines` cache lines of a point we
/// are about to compare against.
#[inline(always)]
pub(super) fn prefetch<T>(p: &[T], lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(p).min(lines.saturating_mul(64));
        let base = p.as_ptr() as *const i8;
        for line in (0..bytes).step_by(64) {
            // SAFETY: prefetching is a hint that never faults; the address
            // is inside `p`.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>(base.add(line));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
