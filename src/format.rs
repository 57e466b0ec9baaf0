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
    let sci = if is_real {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let limit = if is_real { 6 } else { 15 };
    if v != 0.0 && (exp < -4 || exp >= limit) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else if is_real {
        format!("{}", v as f32)
    } else {
        format!("{v}")
    }
}
