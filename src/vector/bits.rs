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

    fn bools(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len as usize).map(|i| self.get(i))
    }

    /// `a & b`, `a | b`, `a # b`: PostgreSQL requires equal lengths.
    pub fn combine(&self, other: &Bits, op: char) -> PgResult<Bits> {
        if self.len != other.len {
            let verb = match op {
                '&' => "AND",
                '|' => "OR",
                _ => "XOR",
            };
            return Err(PgError::new(
                code::STRING_LENGTH,
                format!("cannot {verb} bit strings of different sizes"),
            ));
        }
        Ok(Bits::from_bools(self.bools().zip(other.bools()).map(
            |(a, b)| match op {
                '&' => a & b,
                '|' => a | b,
                _ => a ^ b,
            },
        )))
    }

    pub fn not(&self) -> Bits {
        Bits::from_bools(self.bools().map(|b| !b))
    }

    /// `bits << n` (negative `n` shifts right): the length is kept, zeros
    /// come in.
    pub fn shift_left(&self, n: i64) -> Bits {
        let len = self.len as i64;
        // Past the length every bit is shifted out.
        let n = n.clamp(-len, len);
        Bits::from_bools((0..len).map(|i| {
            let from = i + n;
            (0..len).contains(&from) && self.get(from as usize)
        }))
    }

    pub fn count_ones(&self) -> i64 {
        self.bools().filter(|b| *b).count() as i64
    }

    /// Bit `n` (0 is the leftmost), with PostgreSQL's range error.
    pub fn bit_at(&self, n: i64) -> PgResult<bool> {
        self.check_index(n)?;
        Ok(self.get(n as usize))
    }

    pub fn with_bit(&self, n: i64, v: bool) -> PgResult<Bits> {
        self.check_index(n)?;
        Ok(Bits::from_bools(
            self.bools()
                .enumerate()
                .map(|(i, b)| if i as i64 == n { v } else { b }),
        ))
    }

    fn check_index(&self, n: i64) -> PgResult<()> {
        if n < 0 || n >= self.len as i64 {
            return Err(PgError::new(
                "2202E",
                format!(
                    "bit index {n} out of valid range (0..{})",
                    self.len as i64 - 1
                ),
            ));
        }
        Ok(())
    }

    /// An integer's low `len` bits (`5::bit(4)` is `0101`), as
    /// PostgreSQL's int4/int8 to bit casts.
    pub fn from_int(v: i64, len: u32) -> Bits {
        Bits::from_bools((0..len as i64).map(|i| {
            let shift = len as i64 - 1 - i;
            shift < 64 && (v >> shift) & 1 == 1
        }))
    }

    /// The bit string as an integer of `max_bits` bits (32 for int4, 64
    /// for int8): its rightmost bits, an error when it is longer.
    pub fn to_int(&self, max_bits: u32) -> PgResult<i64> {
        if self.len > max_bits {
            return Err(PgError::new(
                code::OUT_OF_RANGE,
                if max_bits == 32 {
                    "integer out of range"
                } else {
                    "bigint out of range"
                },
            ));
        }
        let mut v: u64 = 0;
        for b in self.bools() {
            v = (v << 1) | b as u64;
        }
        // A full-width value keeps its sign bit.
        Ok(if max_bits == 32 {
            v as u32 as i32 as i64
        } else {
            v as i64
        })
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
