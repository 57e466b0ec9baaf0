//! PostgreSQL's text forms of values shared by several layers.

/// PostgreSQL's text output for floats (extra_float_digits >= 1): the
/// shortest digits that round-trip, in exponential form when the decimal
/// exponent is below -4 or at least 15 (6 for real).
pub fn pg_float_text(v: f64, is_real: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
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
    let sign = if neg { "-" } else { "" };
    let (mantissa, e) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0');
    if digits.is_empty() {
        return format!("{sign}0");
    }
    // Decimal exponent of the first digit (d.ddd × 10^exp).
    let exp = int.len() as i32 - lead as i32 - 1 + e;
    let limit = if is_real { 6 } else { 15 };
    if exp < -4 || exp >= limit {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs())
    } else if exp < 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
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
