//! Keys: `[table id u32][order-preserving encoding of the primary key]`
//! (or of the hidden row id), so a table's rows are contiguous in every
//! shard and a key range scan returns them in primary-key order. Secondary
//! index entries use the same encoding under their index id.

use crate::catalog::TableId;
use crate::error::{PgError, PgResult};
use crate::types::Datum;

/// Append `d`'s order-preserving encoding to `out`.
pub fn push_key(d: &Datum, out: &mut Vec<u8>) -> PgResult<()> {
    match d {
        Datum::Null => return Err(PgError::internal("NULL in a key")),
        Datum::Bool(b) => out.push(*b as u8),
        Datum::I16(i) => out.extend_from_slice(&((*i as u16) ^ 0x8000).to_be_bytes()),
        Datum::I32(i) | Datum::Date(i) => {
            out.extend_from_slice(&((*i as u32) ^ 0x8000_0000).to_be_bytes())
        }
        Datum::I64(i) | Datum::Time(i) | Datum::Ts(i) => {
            out.extend_from_slice(&((*i as u64) ^ 0x8000_0000_0000_0000).to_be_bytes())
        }
        Datum::Dec(d) => out.extend_from_slice(&((*d as u128) ^ (1u128 << 127)).to_be_bytes()),
        Datum::F32(f) => out.extend_from_slice(&order_f64(*f as f64).to_be_bytes()),
        Datum::F64(f) => out.extend_from_slice(&order_f64(*f).to_be_bytes()),
        Datum::Text(s) => escape_bytes(s.as_bytes(), out),
        Datum::Bytes(b) => escape_bytes(b, out),
        Datum::Interval(m, d, n) => {
            // Order as PostgreSQL compares intervals: by total duration (30-day months).
            let total = (*m as i128 * 30 + *d as i128) * 86_400_000_000_000 + *n as i128;
            out.extend_from_slice(&((total as u128) ^ (1u128 << 127)).to_be_bytes());
        }
        // Arrays and vectors compare element by element, then the shorter
        // first (PostgreSQL's array order, pgvector's btree order): each
        // element is a marker (1, or 2 for a NULL array element, which sorts
        // after every value) and its own key; 0 ends the list.
        Datum::List(items) => {
            for i in items {
                if i.is_null() {
                    out.push(2);
                } else {
                    out.push(1);
                    push_key(i, out)?;
                }
            }
            out.push(0);
        }
        Datum::Vector(v) => {
            for x in v {
                out.push(1);
                out.extend_from_slice(&order_f64(*x as f64).to_be_bytes());
            }
            out.push(0);
        }
        Datum::HalfVec(v) => {
            for x in v {
                out.push(1);
                let f = half::f16::from_bits(*x).to_f64();
                out.extend_from_slice(&order_f64(f).to_be_bytes());
            }
            out.push(0);
        }
    }
    Ok(())
}

fn order_f64(f: f64) -> u64 {
    let f = if f == 0.0 {
        0.0
    } else if f.is_nan() {
        f64::NAN
    } else {
        f
    };
    let bits = f.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Strings and bytes: 0x00 is escaped as 0x00 0xff, and the value ends with 0x00 0x01,
/// so that a prefix sorts before its extensions and composite keys stay ordered.
fn escape_bytes(b: &[u8], out: &mut Vec<u8>) {
    for &c in b {
        out.push(c);
        if c == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

/// `[table id]` prefix of all keys of a table.
pub fn table_prefix(table: TableId) -> Vec<u8> {
    table.to_be_bytes().to_vec()
}

pub fn encode_key(table: TableId, values: &[Datum]) -> PgResult<Vec<u8>> {
    let mut k = table_prefix(table);
    for v in values {
        push_key(v, &mut k)?;
    }
    Ok(k)
}
