//! Recall of search and insertion against brute force, and the checkpoint round trip.

use super::*;
use hnsw_rs::prelude::{DistL2, Distance};

use crate::ann::distance::Coded;

impl WalkDistance<f32> for DistL2 {
    fn coded(&self) -> Option<Coded> {
        Some(Coded::L2)
    }

    fn floats<'a>(&self, p: &'a [f32]) -> Option<&'a [f32]> {
        Some(p)
    }
}

fn brute(data: &[Vec<f32>], q: &[f32], k: usize) -> Vec<usize> {
    let mut d: Vec<(f32, usize)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (DistL2.eval(q, v), i))
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    d.into_iter().take(k).map(|x| x.1).collect()
}

/// Deterministic pseudo-random points in [0, 1)^16 (xorshift).
fn points(n: usize) -> Vec<Vec<f32>> {
    let mut s = 0x9e3779b97f4a7c15u64;
    let mut rnd = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..n).map(|_| (0..16).map(|_| rnd()).collect()).collect()
}

/// Recall@10 of `g` over every 60th point as query; checks the answers'
/// distances, order and the filter on the way.
fn recall(g: &Compact<f32, DistL2>, data: &[Vec<f32>]) -> f64 {
    let (mut hit, mut total) = (0, 0);
    for q in data.iter().step_by(60) {
        let want = brute(data, q, 10);
        let found = g.search(q, 10, 12, None);
        assert_eq!(found.len(), 10);
        // The walk compared codes; what it returns is re-ranked exactly.
        for (id, d) in &found {
            assert_eq!(*d, DistL2.eval(q, &data[*id]));
        }
        hit += found.iter().filter(|g| want.contains(&g.0)).count();
        total += 10;
        // Only even ids: all kept ones are even, and the nearest even ones.
        let even = |id: usize| id % 2 == 0;
        let got = g.search(q, 10, 64, Some(&even));
        assert!(got.len() == 10 && got.iter().all(|x| x.0 % 2 == 0));
        assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
    }
    hit as f64 / total as f64
}

#[test]
fn copied_from_hnsw_rs_recalls_and_filters() {
    let data = points(3000);
    let h: Hnsw<'static, f32, DistL2> = Hnsw::new(16, data.len(), 16, 64, DistL2);
    let items: Vec<(&[f32], usize)> = data.iter().enumerate().map(|(i, v)| (&v[..], i)).collect();
    h.parallel_insert_slice(&items);
    let g = Compact::from_hnsw(&h, DistL2, 64).unwrap();
    drop(h);
    assert_eq!(g.len(), data.len());
    assert!((0..data.len()).all(|i| g.has(i)) && !g.has(data.len()));
    let r = recall(&g, &data);
    assert!(r > 0.95, "recall {r}");
}

#[test]
fn own_inserts_recall_like_hnsw_rs() {
    let data = points(4000);
    // Half copied from hnsw_rs, half inserted here in batches.
    let h: Hnsw<'static, f32, DistL2> = Hnsw::new(16, 2000, 16, 64, DistL2);
    let items: Vec<(&[f32], usize)> = data[..2000]
        .iter()
        .enumerate()
        .map(|(i, v)| (&v[..], i))
        .collect();
    h.parallel_insert_slice(&items);
    let mut g = Compact::from_hnsw(&h, DistL2, 64).unwrap();
    let rest: Vec<(usize, &[f32])> = data
        .iter()
        .enumerate()
        .skip(2000)
        .map(|(i, v)| (i, &v[..]))
        .collect();
    for batch in rest.chunks(300) {
        g.insert_many(batch);
    }
    assert_eq!(g.len(), data.len());
    let r = recall(&g, &data);
    assert!(r > 0.95, "recall {r}");
    // Built from nothing by inserts alone (codes taken as it grows).
    let mut g = Compact::empty(DistL2, 16, 64);
    let all: Vec<(usize, &[f32])> = data.iter().enumerate().map(|(i, v)| (i, &v[..])).collect();
    for batch in all.chunks(257) {
        g.insert_many(batch);
    }
    // Inserting an id again changes nothing; another dimension is skipped.
    g.insert_many(&[(0, &data[1][..]), (data.len(), &[1.0, 2.0][..])]);
    assert_eq!(g.len(), data.len());
    assert!(g.g.codes.is_some());
    let r = recall(&g, &data);
    assert!(r > 0.95, "recall {r}");
    // A checkpoint round trip gives the same answers; damaged bytes
    // are refused, not trusted.
    let bytes = to_bytes(&g);
    let back = Compact::read_from(DistL2, &bytes[..], bytes.len() as u64).unwrap();
    assert_eq!(
        back.search(&data[7], 10, 40, None),
        g.search(&data[7], 10, 40, None)
    );
    // A copy with room answers the same and grows without moving.
    let mut copy = g.copy_with_room(2);
    assert_eq!(
        copy.search(&data[9], 10, 40, None),
        g.search(&data[9], 10, 40, None)
    );
    let at = copy.g.points.as_ptr();
    copy.insert_many(&[
        (data.len() + 1, &data[3][..]),
        (data.len() + 2, &data[4][..]),
    ]);
    assert_eq!((copy.len(), copy.g.points.as_ptr()), (g.len() + 2, at));
    let mut bad = g.clone();
    bad.g.adj0[1] = data.len() as u32 + 5;
    let damaged = to_bytes(&bad);
    assert!(Compact::read_from(DistL2, &damaged[..], damaged.len() as u64).is_err());
    let half = &bytes[..bytes.len() / 2];
    assert!(Compact::<f32, DistL2>::read_from(DistL2, half, half.len() as u64).is_err());
    // A length prefix beyond the file is refused before allocating, a
    // nonsense parameter is refused.
    let mut huge = bytes.clone();
    huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Compact::<f32, DistL2>::read_from(DistL2, &huge[..], huge.len() as u64).is_err());
    let mut huge = bytes.clone();
    huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Compact::<f32, DistL2>::read_from(DistL2, &huge[..], huge.len() as u64).is_err());
}

fn to_bytes(g: &Compact<f32, DistL2>) -> Vec<u8> {
    let mut out = Vec::new();
    g.write_to(&mut out).unwrap();
    out
}
