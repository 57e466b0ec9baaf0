//! A compact graph's checkpoint: bincode of its arrays, read back with a
//! length limit and checked for consistency before it is trusted.

use bincode::Options as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::super::distance::WalkDistance;
use super::{Compact, MAX_LEVEL, Nodes};

/// bincode's fixed-width encoding, reading at most `limit` bytes.
fn checkpoint_options(limit: u64) -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(limit)
}

impl<T, D> Compact<T, D>
where
    T: Copy + Send + Sync + Serialize + DeserializeOwned + 'static,
    D: WalkDistance<T> + Clone + Send + Sync,
{
    /// Write the graph to a checkpoint file.
    pub fn write_to(&self, w: impl std::io::Write) -> bincode::Result<()> {
        checkpoint_options(u64::MAX).serialize_into(w, &self.g)
    }

    /// A graph from [`Self::write_to`]'s `len` bytes; an error if they do
    /// not hold a consistent graph (the caller rebuilds from rows).
    pub fn read_from(dist: D, r: impl std::io::Read, len: u64) -> bincode::Result<Self> {
        // Limited to the file's length: a damaged length prefix fails
        // instead of asking for a huge allocation.
        let g: Nodes<T> = checkpoint_options(len).deserialize_from(r)?;
        let n = g.ids.len();
        let bad = || Box::new(bincode::ErrorKind::Custom("inconsistent graph".into()));
        let nodes_ok = |l: &[u32]| l.iter().all(|&x| (x as usize) < n);
        let ok = (2..=256).contains(&g.m)
            && g.m0 == 2 * g.m
            && (1..=1000).contains(&g.ef_construction)
            && n.checked_mul(g.dim) == Some(g.points.len())
            && g.adj0.len() == n * (g.m0 + 1)
            && g.adj0.chunks_exact(g.m0 + 1).all(|s| {
                let c = s[0] as usize;
                c <= g.m0 && nodes_ok(&s[1..1 + c])
            })
            && g.upper.iter().all(|(&k, ls)| {
                (k as usize) < n && ls.len() <= MAX_LEVEL && ls.iter().all(|l| nodes_ok(l))
            })
            && (n == 0 || (g.entry as usize) < n && g.top <= MAX_LEVEL)
            && g.by_id.iter().all(|&x| x == u32::MAX || (x as usize) < n)
            // Every node's id maps back to it (no row twice).
            && g.ids
                .iter()
                .enumerate()
                .all(|(node, &id)| g.by_id.get(id).is_some_and(|&b| b as usize == node))
            && g.by_id.iter().filter(|&&b| b != u32::MAX).count() == n
            && g.codes.as_ref().map(|c| c.kind) == g.codes.as_ref().and(dist.coded())
            && g.codes.as_ref().is_none_or(|c| {
                Some(c.bytes.len()) == n.checked_mul(g.dim)
                    && c.sq.len() == n
                    && c.min.len() == g.dim
                    && c.step.len() == g.dim
            });
        if !ok {
            return Err(bad());
        }
        let mut g = g;
        if g.rng == 0 {
            g.rng = 0x9e37_79b9_7f4a_7c15; // xorshift stays at 0 from 0
        }
        Ok(Compact { dist, g })
    }
}
