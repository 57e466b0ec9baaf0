//! Keys sort like their values; rows round-trip.

use super::*;
use crate::types::Datum;

fn key(vals: &[Datum]) -> Vec<u8> {
    encode_key(7, vals).unwrap()
}

#[test]
fn keys_sort_like_values() {
    let ints = [i64::MIN, -5, -1, 0, 1, 42, i64::MAX];
    let ks: Vec<_> = ints.iter().map(|i| key(&[Datum::I64(*i)])).collect();
    assert!(ks.windows(2).all(|w| w[0] < w[1]));
    let floats = [
        f64::NEG_INFINITY,
        -2.5,
        -0.0,
        0.0,
        1e-300,
        3.0,
        f64::INFINITY,
    ];
    let ks: Vec<_> = floats.iter().map(|f| key(&[Datum::F64(*f)])).collect();
    assert!(ks.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(key(&[Datum::F64(-0.0)]), key(&[Datum::F64(0.0)]));
    let texts = ["", "a", "a\0", "a\0b", "ab", "b"];
    let ks: Vec<_> = texts
        .iter()
        .map(|t| key(&[Datum::Text(t.to_string())]))
        .collect();
    assert!(ks.windows(2).all(|w| w[0] < w[1]), "{ks:?}");
    // Composite keys: the first column decides, a string prefix sorts first.
    assert!(
        key(&[Datum::Text("a".into()), Datum::I32(9)])
            < key(&[Datum::Text("ab".into()), Datum::I32(1)])
    );
}

#[test]
fn vector_and_array_keys_sort_as_pgvector_and_postgresql() {
    // Element by element, then the shorter first; -0 equals 0.
    let vs: [&[f32]; 6] = [
        &[-1.0, 5.0],
        &[0.0],
        &[0.0, 0.0],
        &[0.0, 1.0],
        &[1.0],
        &[1.0, -1.0],
    ];
    let ks: Vec<_> = vs
        .iter()
        .map(|v| key(&[Datum::Vector(v.to_vec())]))
        .collect();
    assert!(ks.windows(2).all(|w| w[0] < w[1]), "{ks:?}");
    assert_eq!(
        key(&[Datum::Vector(vec![-0.0])]),
        key(&[Datum::Vector(vec![0.0])])
    );
    // A real[] without NULLs keys as the vector of the same elements; a
    // NULL element sorts after every value.
    let list = |v: Vec<Datum>| key(&[Datum::List(v)]);
    assert_eq!(
        list(vec![Datum::F32(1.0), Datum::F32(2.0)]),
        key(&[Datum::Vector(vec![1.0, 2.0])])
    );
    assert!(list(vec![Datum::F32(1e30)]) < list(vec![Datum::Null]));
    assert!(list(vec![Datum::Null]) < list(vec![Datum::Null, Datum::Null]));
    // Text elements keep their own terminators: a prefix sorts first.
    assert!(
        list(vec![Datum::Text("a".into()), Datum::Text("z".into())])
            < list(vec![Datum::Text("ab".into())])
    );
    let half = |v: &[f32]| {
        key(&[Datum::HalfVec(
            v.iter()
                .map(|x| half::f16::from_f32(*x).to_bits())
                .collect(),
        )])
    };
    assert!(half(&[-2.0]) < half(&[0.5]) && half(&[0.5]) < half(&[0.5, 0.0]));
}

#[test]
fn rows_round_trip_and_ignore_dropped_columns() {
    use crate::catalog::{Column, Table};
    use crate::types::SqlType;
    let col = |id, name: &str, ty| Column {
        id,
        name: name.into(),
        ty,
        not_null: false,
        default: None,
        sequence: None,
        identity_always: false,
        identity_by_default: false,
        generated: None,
    };
    let mut t = Table {
        id: 1,
        schema: "public".into(),
        name: "t".into(),
        columns: vec![
            col(1, "a", SqlType::Int8),
            col(2, "b", SqlType::Text),
            col(3, "c", SqlType::Float8),
        ],
        primary_key: vec![1],
        indexes: vec![],
        next_column_id: 4,
        checks: vec![],
        foreign_keys: vec![],
    };
    let row = vec![Datum::I64(5), Datum::Null, Datum::F64(1.5)];
    let bytes = encode_row(&t, &row).unwrap();
    assert_eq!(decode_row(&t, &bytes).unwrap(), row);
    t.columns.remove(1);
    t.columns.push(col(4, "d", SqlType::Bool));
    assert_eq!(
        decode_row(&t, &bytes).unwrap(),
        vec![Datum::I64(5), Datum::F64(1.5), Datum::Null]
    );
}
