//! PostgreSQL's date/time operators and functions where DataFusion has
//! none or answers differently: `date ± interval` is a timestamp,
//! `interval * number` and `interval / number` cascade fractions down as
//! PostgreSQL's interval_mul does, `age`, `justify_*`, `make_timestamp`,
//! and `to_char` with PostgreSQL's template patterns (in the session's
//! time zone for timestamptz).

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::error::{PgError, codes};
use crate::format::Zone;

const US_PER_DAY: i64 = 86_400_000_000;

/// What a row-wise function sees besides its arguments.
struct Ctx {
    /// The session's time zone (timestamptz is shown in it).
    zone: Zone,
}

type RowFn = fn(&[ScalarValue], &Ctx) -> std::result::Result<ScalarValue, PgError>;

/// A function computed row by row on scalars (these are not hot paths);
/// NULL in, NULL out.
#[derive(Debug)]
struct RowWise {
    name: &'static str,
    ret: DataType,
    signature: Signature,
    f: RowFn,
}

// One function per name: equal by name (function pointers do not compare
// reliably).
impl PartialEq for RowWise {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for RowWise {}
impl std::hash::Hash for RowWise {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name.hash(h)
    }
}

impl ScalarUDFImpl for RowWise {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ctx = Ctx {
            zone: Zone::parse(
                args.config_options
                    .execution
                    .time_zone
                    .as_deref()
                    .unwrap_or("+00:00"),
            ),
        };
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        if rows == 0 {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(&self.ret),
            ));
        }
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            let vals = args
                .args
                .iter()
                .map(|a| match a {
                    ColumnarValue::Scalar(s) => Ok(s.clone()),
                    ColumnarValue::Array(arr) => ScalarValue::try_from_array(arr, i),
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(if vals.iter().any(ScalarValue::is_null) {
                ScalarValue::try_from(&self.ret)?
            } else {
                (self.f)(&vals, &ctx).map_err(|e| DataFusionError::External(Box::new(e)))?
            });
        }
        if all_scalar {
            return Ok(ColumnarValue::Scalar(out.pop().expect("one row")));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

fn interval_type() -> DataType {
    DataType::Interval(IntervalUnit::MonthDayNano)
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn udf(name: &'static str, arity: Option<usize>, ret: DataType, f: RowFn) -> ScalarUDF {
    let signature = match arity {
        Some(n) => Signature::any(n, Volatility::Immutable),
        None => Signature::variadic_any(Volatility::Immutable),
    };
    ScalarUDF::new_from_impl(RowWise {
        name,
        ret,
        signature,
        f,
    })
}

/// The functions this module defines (`to_char` replaces DataFusion's).
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        udf("justify_hours", Some(1), interval_type(), |a, _| {
            Ok(interval(justify_hours(interval_of(&a[0])?)))
        }),
        udf("justify_days", Some(1), interval_type(), |a, _| {
            Ok(interval(justify_days(interval_of(&a[0])?)))
        }),
        udf("justify_interval", Some(1), interval_type(), |a, _| {
            Ok(interval(justify_interval(interval_of(&a[0])?)))
        }),
        udf(INTERVAL_MUL_FN, Some(2), interval_type(), |a, _| {
            interval_mul(interval_of(&a[0])?, float_of(&a[1])?).map(interval)
        }),
        udf(INTERVAL_DIV_FN, Some(2), interval_type(), |a, _| {
            let f = float_of(&a[1])?;
            if f == 0.0 {
                return Err(PgError::new(codes::DIVISION_BY_ZERO, "division by zero"));
            }
            interval_mul(interval_of(&a[0])?, 1.0 / f).map(interval)
        }),
        udf("make_timestamp", Some(6), ts_type(), |a, _| {
            make_timestamp(a).map(|us| ScalarValue::TimestampMicrosecond(Some(us), None))
        }),
        udf("age", None, interval_type(), |a, ctx| {
            let (t1, t2) = match a {
                [t] => {
                    // age(ts): from midnight of today (in the session's zone).
                    let now = chrono::Utc::now().timestamp_micros();
                    let local = now + ctx.zone.offset_at(now) as i64 * 1_000_000;
                    (local - local.rem_euclid(US_PER_DAY), wall_clock(t, ctx)?)
                }
                [a, b] => (wall_clock(a, ctx)?, wall_clock(b, ctx)?),
                _ => {
                    return Err(PgError::new(
                        codes::UNDEFINED_FUNCTION,
                        "function age() does not exist",
                    ));
                }
            };
            Ok(interval(age(t1, t2)))
        }),
        udf("to_char", Some(2), DataType::Utf8, |a, ctx| {
            let fmt = match &a[1] {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)) => s.clone(),
                _ => return Err(unsupported_to_char(&a[0])),
            };
            let (us, offset) = match &a[0] {
                ScalarValue::Date32(Some(d)) => (*d as i64 * US_PER_DAY, None),
                v @ ScalarValue::TimestampSecond(..)
                | v @ ScalarValue::TimestampMillisecond(..)
                | v @ ScalarValue::TimestampMicrosecond(..)
                | v @ ScalarValue::TimestampNanosecond(..) => {
                    let utc = micros_of(v)?;
                    if timestamp_zone(v).is_some() {
                        let off = ctx.zone.offset_at(utc);
                        (utc + off as i64 * 1_000_000, Some(off))
                    } else {
                        (utc, None)
                    }
                }
                other => return Err(unsupported_to_char(other)),
            };
            let t = chrono::DateTime::from_timestamp_micros(us)
                .ok_or_else(|| {
                    PgError::new(codes::DATETIME_FIELD_OVERFLOW, "timestamp out of range")
                })?
                .naive_utc();
            Ok(ScalarValue::Utf8(Some(to_char(&t, &fmt, offset))))
        }),
    ]
}

fn unsupported_to_char(v: &ScalarValue) -> PgError {
    PgError::new(
        codes::FEATURE_NOT_SUPPORTED,
        format!(
            "to_char({}, text) is not supported",
            crate::sql::errors::pg_type_name(&v.data_type().to_string())
        ),
    )
}

pub const INTERVAL_MUL_FN: &str = "grape_interval_mul";
pub const INTERVAL_DIV_FN: &str = "grape_interval_div";

fn interval(v: IntervalMonthDayNano) -> ScalarValue {
    ScalarValue::IntervalMonthDayNano(Some(v))
}

fn interval_of(v: &ScalarValue) -> std::result::Result<IntervalMonthDayNano, PgError> {
    match v.cast_to(&interval_type()) {
        Ok(ScalarValue::IntervalMonthDayNano(Some(i))) => Ok(i),
        _ => Err(PgError::new(
            codes::DATATYPE_MISMATCH,
            format!("{} is not an interval", v.data_type()),
        )),
    }
}

fn float_of(v: &ScalarValue) -> std::result::Result<f64, PgError> {
    match v.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(Some(f))) => Ok(f),
        _ => Err(PgError::new(
            codes::DATATYPE_MISMATCH,
            format!("{} is not a number", v.data_type()),
        )),
    }
}

fn micros_of(v: &ScalarValue) -> std::result::Result<i64, PgError> {
    match v.cast_to(&DataType::Timestamp(
        TimeUnit::Microsecond,
        timestamp_zone(v),
    )) {
        Ok(ScalarValue::TimestampMicrosecond(Some(us), _)) => Ok(us),
        _ => Err(PgError::new(
            codes::DATATYPE_MISMATCH,
            format!("{} is not a timestamp", v.data_type()),
        )),
    }
}

fn timestamp_zone(v: &ScalarValue) -> Option<Arc<str>> {
    match v.data_type() {
        DataType::Timestamp(_, tz) => tz,
        _ => None,
    }
}

/// A date or timestamp as wall-clock microseconds (timestamptz in the
/// session's zone).
fn wall_clock(v: &ScalarValue, ctx: &Ctx) -> std::result::Result<i64, PgError> {
    if let ScalarValue::Date32(Some(d)) = v {
        return Ok(*d as i64 * US_PER_DAY);
    }
    let us = micros_of(v)?;
    Ok(match timestamp_zone(v) {
        Some(_) => us + ctx.zone.offset_at(us) as i64 * 1_000_000,
        None => us,
    })
}

/// PostgreSQL's justify_hours: whole days out of the time part.
fn justify_hours(i: IntervalMonthDayNano) -> IntervalMonthDayNano {
    let day_ns = US_PER_DAY * 1000;
    let mut days = i.days as i64 + i.nanoseconds / day_ns;
    let mut ns = i.nanoseconds % day_ns;
    if days > 0 && ns < 0 {
        ns += day_ns;
        days -= 1;
    } else if days < 0 && ns > 0 {
        ns -= day_ns;
        days += 1;
    }
    IntervalMonthDayNano::new(i.months, clamp_i32(days), ns)
}

/// PostgreSQL's interval fields are int32: a result beyond them saturates
/// here (PostgreSQL reports "interval out of range"; these inputs are
/// already at the edge of what an interval holds).
fn clamp_i32(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// PostgreSQL's justify_days: whole 30-day months out of the days.
fn justify_days(i: IntervalMonthDayNano) -> IntervalMonthDayNano {
    let mut months = i.months.saturating_add(i.days / 30);
    let mut days = i.days % 30;
    if months > 0 && days < 0 {
        days += 30;
        months -= 1;
    } else if months < 0 && days > 0 {
        days -= 30;
        months += 1;
    }
    IntervalMonthDayNano::new(months, days, i.nanoseconds)
}

/// PostgreSQL's justify_interval: days from the time, months from the
/// days, then one sign for all three.
fn justify_interval(i: IntervalMonthDayNano) -> IntervalMonthDayNano {
    let day_ns = US_PER_DAY * 1000;
    let (mut months, mut days, mut ns) = (i.months as i64, i.days as i64, i.nanoseconds);
    if (days > 0 && ns > 0) || (days < 0 && ns < 0) {
        days += ns / day_ns;
        ns %= day_ns;
    }
    months += days / 30;
    days %= 30;
    if months > 0 && (days < 0 || (days == 0 && ns < 0)) {
        days += 30;
        months -= 1;
    } else if months < 0 && (days > 0 || (days == 0 && ns > 0)) {
        days -= 30;
        months += 1;
    }
    // Then the time, as justify_hours.
    justify_hours(IntervalMonthDayNano::new(
        clamp_i32(months),
        clamp_i32(days),
        ns,
    ))
}

/// Rounded to whole microseconds, as PostgreSQL's TSROUND.
fn ts_round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// PostgreSQL's interval_mul: fractions of months cascade into days (30
/// to a month) and fractions of days into time.
fn interval_mul(
    i: IntervalMonthDayNano,
    factor: f64,
) -> std::result::Result<IntervalMonthDayNano, PgError> {
    let overflow = || PgError::new(codes::DATETIME_FIELD_OVERFLOW, "interval out of range");
    let m = i.months as f64 * factor;
    let d = i.days as f64 * factor;
    if !m.is_finite() || !d.is_finite() || m.abs() > i32::MAX as f64 || d.abs() > i32::MAX as f64 {
        return Err(overflow());
    }
    let months = m.trunc() as i32;
    let mut days = d.trunc() as i64;
    let month_remainder_days = ts_round((m - months as f64) * 30.0);
    let mut sec_remainder = ts_round(
        (d - days as f64 + month_remainder_days - month_remainder_days.trunc()) * 86_400.0,
    );
    if sec_remainder.abs() >= 86_400.0 {
        let whole = (sec_remainder / 86_400.0).trunc();
        days += whole as i64;
        sec_remainder -= whole * 86_400.0;
    }
    days += month_remainder_days.trunc() as i64;
    let days = i32::try_from(days).map_err(|_| overflow())?;
    let time_us = ((i.nanoseconds / 1000) as f64 * factor + sec_remainder * 1e6).round_ties_even();
    if !time_us.is_finite() || time_us.abs() > i64::MAX as f64 / 1000.0 {
        return Err(overflow());
    }
    Ok(IntervalMonthDayNano::new(
        months,
        days,
        time_us as i64 * 1000,
    ))
}

fn make_timestamp(a: &[ScalarValue]) -> std::result::Result<i64, PgError> {
    let int = |v: &ScalarValue| float_of(v).map(|f| f as i64);
    let (y, mo, d, h, mi) = (
        int(&a[0])?,
        int(&a[1])?,
        int(&a[2])?,
        int(&a[3])?,
        int(&a[4])?,
    );
    let sec = float_of(&a[5])?;
    let bad = || {
        PgError::new(
            codes::DATETIME_FIELD_OVERFLOW,
            format!("date field value out of range: {y}-{mo:02}-{d:02}"),
        )
    };
    let date = NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32).ok_or_else(bad)?;
    if !(0..=23).contains(&h) || !(0..=59).contains(&mi) || !(0.0..60.0).contains(&sec) {
        return Err(PgError::new(
            codes::DATETIME_FIELD_OVERFLOW,
            format!("time field value out of range: {h}:{mi:02}:{sec:02}"),
        ));
    }
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .ok_or_else(bad)?
        .and_utc()
        .timestamp_micros();
    Ok(midnight + (h * 3600 + mi * 60) * 1_000_000 + (sec * 1e6).round() as i64)
}

fn days_in_month(year: i32, month: u32) -> i64 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (NaiveDate::from_ymd_opt(ny, nm, 1).unwrap() - NaiveDate::from_ymd_opt(year, month, 1).unwrap())
        .num_days()
}

/// PostgreSQL's timestamp_age: the field-by-field difference, borrowing
/// from the larger fields (a month borrows the days of the earlier
/// value's month).
fn age(t1: i64, t2: i64) -> IntervalMonthDayNano {
    let tm = |us: i64| {
        let t = chrono::DateTime::from_timestamp_micros(us)
            .unwrap_or_default()
            .naive_utc();
        (t, us.rem_euclid(1_000_000))
    };
    let ((a, ua), (b, ub)) = (tm(t1), tm(t2));
    let mut f = [
        a.year() as i64 - b.year() as i64,
        a.month() as i64 - b.month() as i64,
        a.day() as i64 - b.day() as i64,
        a.hour() as i64 - b.hour() as i64,
        a.minute() as i64 - b.minute() as i64,
        a.second() as i64 - b.second() as i64,
        ua - ub,
    ];
    let flip = t1 < t2;
    if flip {
        f.iter_mut().for_each(|x| *x = -*x);
    }
    let [year, mon, mday, hour, min, sec, usec] = &mut f;
    while *usec < 0 {
        *usec += 1_000_000;
        *sec -= 1;
    }
    while *sec < 0 {
        *sec += 60;
        *min -= 1;
    }
    while *min < 0 {
        *min += 60;
        *hour -= 1;
    }
    while *hour < 0 {
        *hour += 24;
        *mday -= 1;
    }
    let base: &NaiveDateTime = if flip { &a } else { &b };
    while *mday < 0 {
        *mday += days_in_month(base.year(), base.month());
        *mon -= 1;
    }
    while *mon < 0 {
        *mon += 12;
        *year -= 1;
    }
    if flip {
        f.iter_mut().for_each(|x| *x = -*x);
    }
    let [year, mon, mday, hour, min, sec, usec] = f;
    IntervalMonthDayNano::new(
        (year * 12 + mon) as i32,
        mday as i32,
        (((hour * 60 + min) * 60 + sec) * 1_000_000 + usec) * 1000,
    )
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Upper, capitalised or lower case, as the pattern is written.
fn cased(name: &str, pattern: &str) -> String {
    if pattern.chars().all(|c| !c.is_ascii_lowercase()) {
        name.to_uppercase()
    } else if pattern
        .chars()
        .nth(1)
        .is_some_and(|c| c.is_ascii_lowercase())
        && pattern.starts_with(|c: char| c.is_ascii_uppercase())
    {
        name.to_string()
    } else {
        name.to_lowercase()
    }
}

/// `to_char(timestamp, template)` with PostgreSQL's template patterns;
/// `offset` (seconds east of UTC) for timestamptz's TZ and OF.
pub fn to_char(t: &NaiveDateTime, fmt: &str, offset: Option<i32>) -> String {
    // Longest first, so HH24 wins over HH and MONTH over MON.
    const PATTERNS: [&str; 44] = [
        "HH24", "HH12", "HH", "MI", "SSSS", "SS", "MS", "US", "A.M.", "P.M.", "a.m.", "p.m.", "AM",
        "PM", "am", "pm", "YYYY", "YYY", "YY", "Y", "MONTH", "Month", "month", "MON", "Mon", "mon",
        "MM", "DAY", "Day", "day", "DY", "Dy", "dy", "DDD", "DD", "D", "IW", "WW", "Q", "CC", "TZ",
        "tz", "OF", "J",
    ];
    let mut out = String::new();
    let mut rest = fmt;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            // Quoted text is copied; a backslash escapes a quote.
            let mut chars = r.char_indices();
            let mut end = r.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            rest = &r[end.min(r.len())..];
            continue;
        }
        let (fill_mode, body) = match rest.strip_prefix("FM").or_else(|| rest.strip_prefix("fm")) {
            Some(b) => (true, b),
            None => (false, rest),
        };
        // Numeric patterns in any case (`yyyy-mm-dd`); names, AM/PM and TZ
        // take their case from the pattern, so they match exactly.
        let cased_pattern = |p: &str| {
            p.starts_with(['M', 'm', 'D', 'd', 'A', 'a', 'P', 'p', 'T', 't'])
                && !matches!(p, "MM" | "MI" | "MS" | "DD" | "DDD" | "D")
        };
        let Some(p) = PATTERNS.iter().find(|p| {
            body.starts_with(**p)
                || (!cased_pattern(p)
                    && body.len() >= p.len()
                    && body.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
        }) else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let num = |v: i64, width: usize| {
            if fill_mode {
                v.to_string()
            } else {
                format!("{v:0width$}")
            }
        };
        let name = |n: &str, pattern: &str| {
            let s = cased(n, pattern);
            if fill_mode { s } else { format!("{s:<9}") }
        };
        let hour12 = match t.hour() % 12 {
            0 => 12,
            h => h,
        } as i64;
        let pm = t.hour() >= 12;
        let s = match *p {
            "HH24" => num(t.hour() as i64, 2),
            "HH12" | "HH" => num(hour12, 2),
            "MI" => num(t.minute() as i64, 2),
            "SS" => num(t.second() as i64, 2),
            "SSSS" => num(t.num_seconds_from_midnight() as i64, 1),
            "MS" => num((t.nanosecond() / 1_000_000) as i64, 3),
            "US" => num((t.nanosecond() / 1000) as i64, 6),
            "AM" | "PM" => (if pm { "PM" } else { "AM" }).into(),
            "am" | "pm" => (if pm { "pm" } else { "am" }).into(),
            "A.M." | "P.M." => (if pm { "P.M." } else { "A.M." }).into(),
            "a.m." | "p.m." => (if pm { "p.m." } else { "a.m." }).into(),
            "YYYY" => num(t.year() as i64, 4),
            "YYY" => num((t.year() % 1000) as i64, 3),
            "YY" => num((t.year() % 100) as i64, 2),
            "Y" => num((t.year() % 10) as i64, 1),
            "MONTH" | "Month" | "month" => name(MONTHS[t.month0() as usize], p),
            "MON" | "Mon" | "mon" => cased(&MONTHS[t.month0() as usize][..3], p),
            "MM" => num(t.month() as i64, 2),
            "DAY" | "Day" | "day" => name(DAYS[t.weekday().num_days_from_sunday() as usize], p),
            "DY" | "Dy" | "dy" => cased(&DAYS[t.weekday().num_days_from_sunday() as usize][..3], p),
            "DDD" => num(t.ordinal() as i64, 3),
            "DD" => num(t.day() as i64, 2),
            "D" => num(t.weekday().num_days_from_sunday() as i64 + 1, 1),
            "IW" => num(t.iso_week().week() as i64, 2),
            "WW" => num((t.ordinal0() / 7 + 1) as i64, 2),
            "Q" => num((t.month0() / 3 + 1) as i64, 1),
            "CC" => num(((t.year() - 1) / 100 + 1) as i64, 2),
            "J" => num(
                (t.date() - NaiveDate::from_ymd_opt(-4713, 11, 24).unwrap()).num_days(),
                1,
            ),
            "TZ" | "tz" | "OF" => match offset {
                None => String::new(),
                Some(o) => {
                    let sign = if o < 0 { '-' } else { '+' };
                    let a = o.abs();
                    let mut s = format!("{sign}{:02}", a / 3600);
                    if a % 3600 != 0 {
                        s.push_str(&format!(":{:02}", (a % 3600) / 60));
                    }
                    s
                }
            },
            _ => String::new(),
        };
        out.push_str(&s);
        rest = &body[p.len()..];
    }
    out
}

/// Operators on dates and intervals planned as PostgreSQL types them.
#[derive(Debug, Default)]
pub struct DatetimePlanner;

impl ExprPlanner for DatetimePlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let ty = |e: &Expr| e.get_type(schema).ok();
        let is_interval = |t: &Option<DataType>| matches!(t, Some(DataType::Interval(_)));
        let is_number = |t: &Option<DataType>| t.as_ref().is_some_and(|t| t.is_numeric());
        let (lt, rt) = (ty(&expr.left), ty(&expr.right));
        let ts = |e: Expr| {
            Expr::Cast(datafusion::logical_expr::expr::Cast::new(
                Box::new(e),
                ts_type(),
            ))
        };
        match expr.op {
            // date ± interval is a timestamp.
            BinaryOperator::Plus | BinaryOperator::Minus
                if matches!(lt, Some(DataType::Date32)) && is_interval(&rt) =>
            {
                Ok(PlannerResult::Original(RawBinaryExpr {
                    left: ts(expr.left),
                    ..expr
                }))
            }
            BinaryOperator::Plus if is_interval(&lt) && matches!(rt, Some(DataType::Date32)) => {
                Ok(PlannerResult::Original(RawBinaryExpr {
                    right: ts(expr.right),
                    ..expr
                }))
            }
            BinaryOperator::Multiply if is_interval(&lt) && is_number(&rt) => Ok(
                PlannerResult::Planned(call(INTERVAL_MUL_FN, expr.left, expr.right)),
            ),
            BinaryOperator::Multiply if is_number(&lt) && is_interval(&rt) => Ok(
                PlannerResult::Planned(call(INTERVAL_MUL_FN, expr.right, expr.left)),
            ),
            BinaryOperator::Divide if is_interval(&lt) && is_number(&rt) => Ok(
                PlannerResult::Planned(call(INTERVAL_DIV_FN, expr.left, expr.right)),
            ),
            _ => Ok(PlannerResult::Original(expr)),
        }
    }
}

fn call(name: &'static str, a: Expr, b: Expr) -> Expr {
    let f = functions()
        .into_iter()
        .find(|f| f.name() == name)
        .expect("defined here");
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(f), vec![a, b]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    #[test]
    fn interval_arithmetic_cascades_as_postgresql() {
        let i = IntervalMonthDayNano::new(1, 1, 2 * 3_600_000_000_000);
        // 1 mon 1 day 02:00 * 1.5 = 1 mon 16 days 15:00 (half a month is
        // 15 days, half a day 12 hours)
        let r = interval_mul(i, 1.5).unwrap();
        assert_eq!(
            (r.months, r.days, r.nanoseconds),
            (1, 16, 15 * 3_600_000_000_000)
        );
        let h = justify_hours(IntervalMonthDayNano::new(0, 0, 27 * 3_600_000_000_000));
        assert_eq!((h.days, h.nanoseconds), (1, 3 * 3_600_000_000_000));
        let d = justify_days(IntervalMonthDayNano::new(0, 35, 0));
        assert_eq!((d.months, d.days), (1, 5));
    }

    #[test]
    fn age_borrows_as_postgresql() {
        // age('2024-03-05', '2023-01-01') = 1 year 2 mons 4 days
        let a = age(ts("2024-03-05 00:00:00"), ts("2023-01-01 00:00:00"));
        assert_eq!((a.months, a.days, a.nanoseconds), (14, 4, 0));
        // age('2024-03-01', '2024-01-31') = 1 mon 1 day (January's 31 days)
        let a = age(ts("2024-03-01 00:00:00"), ts("2024-01-31 00:00:00"));
        assert_eq!((a.months, a.days), (1, 1));
        let a = age(ts("2023-01-01 00:00:00"), ts("2024-03-05 00:00:00"));
        assert_eq!((a.months, a.days), (-14, -4));
    }

    #[test]
    fn to_char_templates_as_postgresql() {
        let t = NaiveDateTime::parse_from_str("2024-03-05 14:07:09", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            to_char(&t, "YYYY-MM-DD HH24:MI:SS", None),
            "2024-03-05 14:07:09"
        );
        assert_eq!(to_char(&t, "Mon DD, YYYY", None), "Mar 05, 2024");
        assert_eq!(
            to_char(&t, "FMMonth FMDD \"of\" YYYY HH12 AM", None),
            "March 5 of 2024 02 PM"
        );
        assert_eq!(to_char(&t, "Day|DY|Q", None), "Tuesday  |TUE|1");
        assert_eq!(to_char(&t, "HH24:MI TZ", Some(3600)), "14:07 +01");
    }
}
