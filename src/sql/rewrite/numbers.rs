//! Numeric constants with a point or an exponent (`1.5`, `2.50`, `1e-3`)
//! are `numeric` in PostgreSQL. DataFusion types them decimal too (the
//! session sets `parse_float_as_decimal`), keeping the digits as written;
//! here the exponent is written out first (`1e3` is `1000::numeric(4, 0)`, not
//! a decimal of negative scale), and a constant too long for GrapeDB's
//! numeric (more than 38 digits, as `1e300`) becomes a double precision
//! constant instead.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, ExactNumberInfo, Expr, Statement, Value, visit_expressions_mut,
};

/// The most digits a numeric constant keeps (Decimal128).
const MAX_DIGITS: usize = 38;

/// Rewrite the statement's numeric constants (see the module's comment).
pub fn rewrite(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Value(v) = e
            && let Value::Number(n, _) = &v.value
            && n.contains(['.', 'e', 'E'])
        {
            match plain_decimal(n) {
                Some(p) if p == *n => {}
                // Without a point DataFusion would read an integer.
                Some(p) if !p.contains('.') => {
                    let digits = p.len() as u64;
                    *e = Expr::Cast {
                        kind: CastKind::Cast,
                        expr: Box::new(Expr::value(Value::Number(p, false))),
                        data_type: DataType::Numeric(ExactNumberInfo::PrecisionAndScale(digits, 0)),
                        array: false,
                        format: None,
                    }
                }
                Some(p) => v.value = Value::Number(p, false),
                None => {
                    *e = Expr::Cast {
                        kind: CastKind::Cast,
                        expr: Box::new(super::ast::text_literal(n)),
                        data_type: DataType::DoublePrecision,
                        array: false,
                        format: None,
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `n` written without an exponent, if it has at most [`MAX_DIGITS`]
/// digits and decimals that way (leading zeros of the integer part are
/// dropped, the decimals kept as written: `2.50` stays `2.50`).
fn plain_decimal(n: &str) -> Option<String> {
    let n = n.replace('_', "");
    let (mantissa, exp) = match n.find(['e', 'E']) {
        Some(i) => (&n[..i], n[i + 1..].parse::<i64>().ok()?),
        None => (n.as_str(), 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    // The position of the point within `digits`, after the exponent.
    let point = (int.len() as i64).checked_add(exp)?;
    if point.unsigned_abs() > 2 * MAX_DIGITS as u64 {
        return None;
    }
    let (int, frac) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let significant = int.trim_start_matches('0').len() + frac.len();
    if significant > MAX_DIGITS || frac.len() > MAX_DIGITS {
        return None;
    }
    Some(if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    })
}

#[cfg(test)]
mod tests {
    use super::plain_decimal;

    #[test]
    fn exponents_are_written_out() {
        assert_eq!(plain_decimal("1.5").as_deref(), Some("1.5"));
        assert_eq!(plain_decimal("2.50").as_deref(), Some("2.50"));
        assert_eq!(plain_decimal(".5").as_deref(), Some("0.5"));
        assert_eq!(plain_decimal("5.").as_deref(), Some("5"));
        assert_eq!(plain_decimal("1e3").as_deref(), Some("1000"));
        assert_eq!(plain_decimal("1.5e10").as_deref(), Some("15000000000"));
        assert_eq!(plain_decimal("1.5E-3").as_deref(), Some("0.0015"));
        assert_eq!(plain_decimal("12.5e-1").as_deref(), Some("1.25"));
        assert_eq!(plain_decimal("1e300"), None);
        assert_eq!(plain_decimal("1e9223372036854775807"), None);
        assert_eq!(plain_decimal("1e-300"), None);
        assert_eq!(
            plain_decimal("3.14159265358979323846264338327950288419716939937510"),
            None
        );
    }
}
