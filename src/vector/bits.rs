//! bit strings (`bit(n)`, `varbit`) and binary quantization.

use super::*;
use crate::error::{PgError, PgResult};

/// A bit string: its length and bytes, most significant bit first (PostgreSQL's layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Bits {
    pub len: u32,
    pub data: Vec<u8>,
}

impl Bits {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + self.data.len());
        b.extend_from_slice(&self.len.to_le_bytes());
        b.extend_from_slice(&self.data);
        b
    }
    pub fn from_bytes(b: &[u8]) -> Bits {
        Bits {
            len: u32::from_le_bytes(b[0..4].try_into().unwrap()),
            data: b[4..].to_vec(),
        }
    }
    pub fn from_bools(bits: impl IntoIterator<Item = bool>) -> Bits {
        let mut data = Vec::new();
        let mut len = 0u32;
        for (i, b) in bits.into_iter().enumerate() {
            if i % 8 == 0 {
                data.push(0);
            }
            if b {
                *data.last_mut().unwrap() |= 0x80 >> (i % 8);
            }
            len += 1;
        }
        Bits { len, data }
    }
    pub fn get(&self, i: usize) -> bool {
        self.data[i / 8] & (0x80 >> (i % 8)) != 0
    }
}

/// PostgreSQL's bit_in: `0101`, `B0101` or `X1F`; a bit(n) typmod requires exactly n bits.
pub fn parse_bits(lit: &str, typmod: Option<u32>) -> PgResult<Bits> {
    let (hex, body) = match lit.as_bytes().first() {
        Some(b'b' | b'B') => (false, &lit[1..]),
        Some(b'x' | b'X') => (true, &lit[1..]),
        _ => (false, lit),
    };
    let mut bools = Vec::with_capacity(body.len() * if hex { 4 } else { 1 });
    for c in body.chars() {
        if hex {
            let d = c.to_digit(16).ok_or_else(|| {
                PgError::new(
                    code::INVALID_TEXT,
                    format!("\"{c}\" is not a valid hexadecimal digit"),
                )
            })?;
            for s in (0..4).rev() {
                bools.push(d >> s & 1 == 1);
            }
        } else {
            match c {
                '0' => bools.push(false),
                '1' => bools.push(true),
                _ => {
                    return Err(PgError::new(
                        code::INVALID_TEXT,
                        format!("\"{c}\" is not a valid binary digit"),
                    ));
                }
            }
        }
    }
    if let Some(n) = typmod {
        if bools.len() != n as usize {
            return Err(PgError::new(
                code::STRING_LENGTH,
                format!(
                    "bit string length {} does not match type bit({n})",
                    bools.len()
                ),
            ));
        }
    }
    Ok(Bits::from_bools(bools))
}

pub fn format_bits(b: &Bits) -> String {
    (0..b.len as usize)
        .map(|i| if b.get(i) { '1' } else { '0' })
        .collect()
}

// ---- binary (wire) forms, big-endian as pgvector's send/recv ----------------

/// binary_quantize: 1 for each element > 0.
pub fn binary_quantize(v: &[f32]) -> Bits {
    Bits::from_bools(v.iter().map(|x| *x > 0.0))
}
