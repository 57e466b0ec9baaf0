//! PostgreSQL's text input for date, timestamp and timestamptz in ISO
//! order: `2024-03-05`, `2024-03-05 14:07`, `2024-03-05T14:07:09.5`,
//! with an optional zone (`Z`, `UTC`, `+02`, `-05:30`, `+0530`,
//! `Europe/Oslo`) and the special value `epoch`. Field values are checked
//! as PostgreSQL does (`2024-02-30` is 22008, not a syntax error).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::error::{PgError, PgResult, codes};
use crate::format::Zone;

/// A parsed value: its wall-clock time and the zone it was written with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parsed {
    pub local: NaiveDateTime,
    /// None when the text names no zone (the target's zone applies).
    pub zone: Option<ZoneSpec>,
    /// Whether the text had a time of day (a date alone is midnight).
    pub has_time: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZoneSpec {
    /// Seconds east of UTC.
    Fixed(i32),
    Named(chrono_tz::Tz),
}

fn syntax(ty: &str, s: &str) -> PgError {
    PgError::new(
        codes::INVALID_DATETIME_FORMAT,
        format!("invalid input syntax for type {ty}: \"{s}\""),
    )
}

fn out_of_range(s: &str) -> PgError {
    PgError::new(
        codes::DATETIME_FIELD_OVERFLOW,
        format!("date/time field value out of range: \"{s}\""),
    )
}

/// Parse `s` as input for type `ty` (named in errors as PostgreSQL names it).
pub fn parse(ty: &str, s: &str) -> PgResult<Parsed> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("epoch") {
        return Ok(Parsed {
            local: chrono::DateTime::UNIX_EPOCH.naive_utc(),
            zone: Some(ZoneSpec::Fixed(0)),
            has_time: true,
        });
    }
    let b = t.as_bytes();
    // Date: YYYY-MM-DD (years of 4+ digits).
    let num = |from: usize| {
        let end = b[from..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |p| from + p);
        (t[from..end].parse::<u32>().ok(), end)
    };
    let (Some(y), i) = num(0) else {
        return Err(syntax(ty, s));
    };
    if i < 4 || b.get(i) != Some(&b'-') {
        return Err(syntax(ty, s));
    }
    let (Some(m), i) = num(i + 1) else {
        return Err(syntax(ty, s));
    };
    if b.get(i) != Some(&b'-') {
        return Err(syntax(ty, s));
    }
    let (Some(d), i) = num(i + 1) else {
        return Err(syntax(ty, s));
    };
    // Years 1 to 294276, as PostgreSQL's timestamps (dates go further).
    if y == 0 || y > 294_276 {
        return Err(out_of_range(s));
    }
    let date = NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(|| out_of_range(s))?;
    // Time: [T or spaces] HH:MM[:SS[.f]]
    let mut j = i;
    if b.get(j) == Some(&b'T') || b.get(j) == Some(&b't') {
        j += 1;
    } else {
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
    }
    if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
        let (Some(h), k) = num(j) else {
            return Err(syntax(ty, s));
        };
        if b.get(k) == Some(&b':') {
            let (Some(mi), mut k) = num(k + 1) else {
                return Err(syntax(ty, s));
            };
            let mut sec = 0u32;
            let mut micros = 0u32;
            if b.get(k) == Some(&b':') {
                let (Some(se), k2) = num(k + 1) else {
                    return Err(syntax(ty, s));
                };
                sec = se;
                k = k2;
                if b.get(k) == Some(&b'.') {
                    let start = k + 1;
                    let (_, end) = num(start);
                    let digits = &t[start..end];
                    // Rounded to microseconds, as PostgreSQL stores them.
                    let mut frac: f64 = format!("0.{digits}").parse().unwrap_or(0.0);
                    frac = (frac * 1e6).round();
                    micros = frac as u32;
                    k = end;
                }
            }
            if h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi > 0 || sec > 0 || micros > 0)) {
                return Err(out_of_range(s));
            }
            // One duration from midnight: 24:00, a leap second (:60) and a
            // fraction rounded up to a whole second carry into the next
            // second, minute, hour or day.
            let since_midnight =
                ((h as i64 * 60 + mi as i64) * 60 + sec as i64) * 1_000_000 + micros as i64;
            let local = date
                .and_time(NaiveTime::MIN)
                .checked_add_signed(chrono::Duration::microseconds(since_midnight))
                .ok_or_else(|| out_of_range(s))?;
            return finish(ty, s, t, k, local, true);
        }
    }
    finish(ty, s, t, i, date.and_time(NaiveTime::MIN), false)
}

fn finish(
    ty: &str,
    s: &str,
    t: &str,
    i: usize,
    local: NaiveDateTime,
    has_time: bool,
) -> PgResult<Parsed> {
    let rest = t[i..].trim();
    let zone = if rest.is_empty() {
        None
    } else {
        Some(zone_spec(rest).ok_or_else(|| syntax(ty, s))?)
    };
    Ok(Parsed {
        local,
        zone,
        has_time,
    })
}

/// A zone written after a time: `Z`, `UTC`, `GMT`, `+02`, `-05:30`,
/// `+0530`, or a tz database name.
pub fn zone_spec(z: &str) -> Option<ZoneSpec> {
    let z = z.trim();
    if ["z", "utc", "gmt", "zulu"]
        .iter()
        .any(|n| z.eq_ignore_ascii_case(n))
    {
        return Some(ZoneSpec::Fixed(0));
    }
    if let Some(sign) = match z.as_bytes().first() {
        Some(b'+') => Some(1),
        Some(b'-') => Some(-1),
        _ => None,
    } {
        let body = &z[1..];
        if !body.bytes().all(|c| c.is_ascii_digit() || c == b':') {
            return None;
        }
        let (h, m, sec) = match body.split(':').collect::<Vec<_>>()[..] {
            [h] if h.len() == 4 => (&h[..2], &h[2..], "0"),
            [h] => (h, "0", "0"),
            [h, m] => (h, m, "0"),
            [h, m, s] => (h, m, s),
            _ => return None,
        };
        let (h, m, sec): (u32, u32, u32) = (h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?);
        if h > 15 || m > 59 || sec > 59 {
            return None;
        }
        return Some(ZoneSpec::Fixed(sign * (h * 3600 + m * 60 + sec) as i32));
    }
    named(z).map(ZoneSpec::Named)
}

/// A tz database zone by name, in any case (PostgreSQL's lookup is
/// case-insensitive).
pub fn named(name: &str) -> Option<chrono_tz::Tz> {
    let name = name.trim();
    name.parse().ok().or_else(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .find(|z| z.name().eq_ignore_ascii_case(name))
            .copied()
    })
}

impl Parsed {
    /// Microseconds since the epoch of the wall-clock time (timestamp).
    pub fn local_micros(&self) -> i64 {
        self.local.and_utc().timestamp_micros()
    }

    /// The instant, reading a zone-less value in `default` (timestamptz).
    pub fn utc_micros(&self, default: &Zone) -> i64 {
        let local = self.local_micros();
        let offset = match self.zone {
            Some(ZoneSpec::Fixed(o)) => o,
            Some(ZoneSpec::Named(z)) => Zone::Named(z).offset_of_local(local),
            None => default.offset_of_local(local),
        };
        local - offset as i64 * 1_000_000
    }

    /// Days since the epoch (date): the date part.
    pub fn days(&self) -> i32 {
        (self.local.date() - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_forms_parse_as_postgresql_reads_them() {
        let p = |s| parse("timestamp", s).unwrap();
        let us = |s| p(s).local_micros();
        assert_eq!(us("2024-01-01 10:00"), us("2024-01-01T10:00:00"));
        assert_eq!(
            us("2024-01-01 10:00:00.5") - us("2024-01-01 10:00"),
            500_000
        );
        assert_eq!(us("2024-01-01 24:00"), us("2024-01-02"));
        assert!(!p("2024-01-01").has_time);
        let utc = Zone::Fixed(0);
        assert_eq!(
            p("2024-06-01 12:00:00+02").utc_micros(&utc),
            p("2024-06-01 10:00:00Z").utc_micros(&utc)
        );
        assert_eq!(
            p("2024-06-01 12:00 Europe/Oslo").utc_micros(&utc),
            p("2024-06-01 10:00 UTC").utc_micros(&utc)
        );
        assert_eq!(
            p("2024-06-01 12:00-05:30").utc_micros(&utc),
            p("2024-06-01 17:30").utc_micros(&utc)
        );
        let oslo = Zone::Named(chrono_tz::Europe::Oslo);
        assert_eq!(
            p("2024-01-01 12:00").utc_micros(&oslo),
            p("2024-01-01 11:00Z").utc_micros(&utc)
        );
        assert_eq!(p("epoch").utc_micros(&oslo), 0);
        let e = parse("date", "2024-02-30").unwrap_err();
        assert_eq!(e.code, codes::DATETIME_FIELD_OVERFLOW);
        assert_eq!(
            parse("date", "20x4-01-01").unwrap_err().code,
            codes::INVALID_DATETIME_FORMAT
        );
        assert!(parse("timestamp", "2024-01-01 10:00 Mars/Base").is_err());
        // A fraction rounding up carries one second, a leap second one
        // second into the next day.
        assert_eq!(us("2024-01-01 10:00:00.9999999"), us("2024-01-01 10:00:01"));
        assert_eq!(us("2024-01-01 23:59:60"), us("2024-01-02"));
        // Out of range, not a panic.
        assert!(parse("timestamp", "262142-12-31 24:00").is_err());
        assert!(parse("timestamp", "4294967295-01-01").is_err());
        assert!(parse("timestamptz", "2024-01-01 10:00 +1\u{e9}1").is_err());
        assert!(parse("timestamptz", "2024-01-01 10:00 +-999999").is_err());
    }
}
