//! PostgreSQL's text forms of values shared by several layers.

use std::fmt::Write;

/// PostgreSQL's text output for floats (extra_float_digits >= 1): the
/// shortest digits that round-trip, in exponential form when the decimal
/// exponent is below -4 or at least 15 (6 for real).
pub fn pg_float_text(v: f64, is_real: bool) -> String {
    let mut out = String::new();
    push_pg_float(&mut out, v, is_real);
    out
}

/// A numeric's text from its unscaled value and scale. `trim` drops the
/// trailing zeros of the decimals: an unconstrained `numeric` is held at a
/// fixed scale here (PostgreSQL keeps each value's own, `1.5` prints
/// `1.5`, not `1.5000000000000000`).
pub fn pg_numeric_text(v: i128, scale: i8, trim: bool) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale <= 0 {
        let zeros = "0".repeat(scale.unsigned_abs() as usize);
        return if v == 0 {
            "0".into()
        } else {
            format!("{sign}{digits}{zeros}")
        };
    }
    let scale = scale as usize;
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    let frac = if trim {
        frac.trim_end_matches('0')
    } else {
        frac
    };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// [`pg_float_text`] appended to `out`, with no allocation of its own
/// (vectors print hundreds of floats per value).
pub fn push_pg_float(out: &mut String, v: f64, is_real: bool) {
    if v.is_nan() {
        return out.push_str("NaN");
    }
    if v.is_infinite() {
        return out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    // Ryu's shortest digits (what PostgreSQL uses, ties to even), laid out
    // as PostgreSQL lays them out.
    let mut buf = ryu::Buffer::new();
    let text = if is_real {
        buf.format_finite(v as f32)
    } else {
        buf.format_finite(v)
    };
    let (neg, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if neg {
        out.push('-');
    }
    let (mantissa, e) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The significant digits (at most 17) on the stack.
    let mut all = [0u8; 40];
    let n = int.len() + frac.len();
    if n > all.len() {
        return out.push_str(text);
    }
    all[..int.len()].copy_from_slice(int.as_bytes());
    all[int.len()..n].copy_from_slice(frac.as_bytes());
    let lead = all[..n].iter().take_while(|&&b| b == b'0').count();
    let trail = all[lead..n]
        .iter()
        .rev()
        .take_while(|&&b| b == b'0')
        .count();
    let digits = std::str::from_utf8(&all[lead..n - trail]).unwrap_or("");
    if digits.is_empty() {
        return out.push('0');
    }
    // Decimal exponent of the first digit (d.ddd × 10^exp).
    let exp = int.len() as i32 - lead as i32 - 1 + e;
    let limit = if is_real { 6 } else { 15 };
    let zeros = |out: &mut String, k: usize| out.extend(std::iter::repeat_n('0', k));
    if exp < -4 || exp >= limit {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
    } else if exp < 0 {
        out.push_str("0.");
        zeros(out, (-exp - 1) as usize);
        out.push_str(digits);
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            out.push_str(digits);
            zeros(out, point - digits.len());
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pg_float_text;

    #[test]
    fn postgres_float_text() {
        for (v, real, want) in [
            (0.0, false, "0"),
            (-0.0, false, "-0"),
            (100.0, false, "100"),
            (1.5, false, "1.5"),
            (0.0001, false, "0.0001"),
            (0.00001, false, "1e-05"),
            (1e15, false, "1e+15"),
            (123456789012345.0, false, "123456789012345"),
            (1e20, true, "1e+20"),
            (1e6, true, "1e+06"),
            (999999.0, true, "999999"),
            (-2.5e-7, true, "-2.5e-07"),
            (0.1, true, "0.1"),
            // An exact tie between two shortest forms: Ryu (and PostgreSQL)
            // round to even, Rust's Display rounds up.
            (3.00390625, true, "3.0039062"),
            (f64::NAN, false, "NaN"),
            (f64::NEG_INFINITY, true, "-Infinity"),
        ] {
            assert_eq!(pg_float_text(v, real), want, "{v}");
        }
    }
}

/// An Arrow time zone: a fixed offset or a tz database name.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// Seconds east of UTC.
    Fixed(i32),
    Named(chrono_tz::Tz),
}

impl Zone {
    pub fn parse(tz: &str) -> Zone {
        match tz.parse::<chrono_tz::Tz>() {
            Ok(z) => Zone::Named(z),
            Err(_) => Zone::Fixed(tz_offset_seconds(tz)),
        }
    }

    /// Seconds east of UTC at the instant `utc_us` (microseconds since the epoch).
    pub fn offset_at(&self, utc_us: i64) -> i32 {
        use chrono::Offset;
        match self {
            Zone::Fixed(s) => *s,
            Zone::Named(z) => match chrono::DateTime::from_timestamp_micros(utc_us) {
                Some(t) => t.with_timezone(z).offset().fix().local_minus_utc(),
                None => 0,
            },
        }
    }

    /// Seconds east of UTC for the wall-clock time `local_us` in this zone.
    /// As PostgreSQL: a time repeated by a jump back takes the offset in
    /// force after the jump, a time skipped by a jump forward the offset
    /// before it.
    pub fn offset_of_local(&self, local_us: i64) -> i32 {
        use chrono::{LocalResult, Offset, TimeZone};
        match self {
            Zone::Fixed(s) => *s,
            Zone::Named(z) => {
                let Some(t) = chrono::DateTime::from_timestamp_micros(local_us) else {
                    return 0;
                };
                match z.offset_from_local_datetime(&t.naive_utc()) {
                    LocalResult::Single(o) | LocalResult::Ambiguous(_, o) => {
                        o.fix().local_minus_utc()
                    }
                    // In a gap: the offset a day earlier (before the jump
                    // for any offset within ±15 hours).
                    LocalResult::None => self.offset_at(local_us - 86_400_000_000),
                }
            }
        }
    }
}

/// Seconds east of UTC of an Arrow time-zone string ("+00:00", "UTC", "-05:30").
pub fn tz_offset_seconds(tz: &str) -> i32 {
    let t = tz.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return 0,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    sign * (h.parse::<i32>().unwrap_or(0) * 3600 + m.parse::<i32>().unwrap_or(0) * 60)
}

/// `HH:MM:SS[.ffffff]` with trailing zeros of the fraction dropped, as PostgreSQL prints.
fn hms(us_of_day: i64) -> String {
    let (secs, frac) = (
        us_of_day.div_euclid(1_000_000),
        us_of_day.rem_euclid(1_000_000),
    );
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

pub fn pg_time_text(us: i64) -> String {
    hms(us)
}

/// PostgreSQL's text for timestamp (offset None) and timestamptz (offset in
/// seconds: shown as +HH or +HH:MM).
pub fn pg_timestamp_text(us: i64, offset: Option<i32>) -> String {
    let local = us + offset.unwrap_or(0) as i64 * 1_000_000;
    let days = local.div_euclid(86_400_000_000);
    let day_us = local.rem_euclid(86_400_000_000);
    let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
    let mut s = format!("{} {}", date.format("%Y-%m-%d"), hms(day_us));
    if let Some(off) = offset {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        s.push(sign);
        s.push_str(&format!("{:02}", a / 3600));
        if a % 3600 != 0 {
            s.push_str(&format!(":{:02}", (a % 3600) / 60));
        }
    }
    s
}

#[cfg(test)]
mod numeric_tests {
    use super::pg_numeric_text;

    #[test]
    fn numerics_print_with_their_scale_or_trimmed() {
        assert_eq!(pg_numeric_text(150, 2, false), "1.50");
        assert_eq!(pg_numeric_text(150, 2, true), "1.5");
        assert_eq!(pg_numeric_text(-5, 3, false), "-0.005");
        assert_eq!(pg_numeric_text(300, 2, true), "3");
        assert_eq!(pg_numeric_text(0, 16, true), "0");
        assert_eq!(pg_numeric_text(-0, 2, false), "0.00");
        assert_eq!(pg_numeric_text(12, -2, false), "1200");
    }
}
