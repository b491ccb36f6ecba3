//! Microseconds since the epoch to and from calendar dates and RFC 3339
//! text, in the proleptic Gregorian calendar (the days/civil conversions
//! are the well-known era-based ones: exact for every `i64` day count that
//! fits here, with no tables).

use std::fmt;

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Why a text is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTimestampError {
    reason: &'static str,
}

impl fmt::Display for ParseTimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff]Z or ±HH:MM): {}",
            self.reason
        )
    }
}

impl std::error::Error for ParseTimestampError {}

fn bad(reason: &'static str) -> ParseTimestampError {
    ParseTimestampError { reason }
}

/// Days since 1970-01-01 of the civil date `y-m-d` (`m` 1-12, `d` 1-31).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(y, m, d)` of `days` since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = small(doy - (153 * mp + 2) / 5 + 1);
    let m = small(if mp < 10 { mp + 3 } else { mp - 9 });
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A day, month or time-of-day field, which the arithmetic keeps in range.
pub(super) fn small(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

pub(super) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Writes `micros` since the epoch as RFC 3339 in UTC.
pub(super) fn write_rfc3339(micros: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let frac = micros.rem_euclid(MICROS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let tod = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        write!(f, "{y:04}")?;
    } else {
        write!(f, "{y:+05}")?;
    }
    write!(
        f,
        "-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )?;
    if frac != 0 {
        write!(f, ".{frac:06}")?;
    }
    f.write_str("Z")
}

/// A cursor over the text being parsed.
struct Scan<'a> {
    s: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn digits(&mut self, n: usize, what: &'static str) -> Result<u32, ParseTimestampError> {
        let part = self.s.get(self.at..self.at + n).ok_or(bad(what))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad(what));
        }
        self.at += n;
        Ok(part.iter().fold(0, |v, c| v * 10 + u32::from(c - b'0')))
    }

    fn expect(&mut self, any_of: &[u8], what: &'static str) -> Result<u8, ParseTimestampError> {
        match self.s.get(self.at) {
            Some(c) if any_of.contains(c) => {
                self.at += 1;
                Ok(*c)
            }
            _ => Err(bad(what)),
        }
    }
}

/// Parses RFC 3339 into microseconds since the epoch.
pub(super) fn parse_rfc3339(text: &str) -> Result<i64, ParseTimestampError> {
    let mut p = Scan {
        s: text.as_bytes(),
        at: 0,
    };
    // Four digits, or ISO 8601's expanded form (a sign and four or more),
    // which `Display` writes for years outside 0000-9999.
    let sign = match p.s.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => 0,
    };
    p.at = usize::from(sign != 0);
    let digits = p.s[p.at..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits < 4 || (sign == 0 && digits > 4) || digits > 6 {
        return Err(bad(
            "the year must be four digits (or signed, for years past 9999 or BC)",
        ));
    }
    let y = i64::from(p.digits(digits, "the year must be four digits")?)
        * if sign < 0 { -1 } else { 1 };
    p.expect(b"-", "expected `-` after the year")?;
    let m = p.digits(2, "the month must be two digits")?;
    p.expect(b"-", "expected `-` after the month")?;
    let d = p.digits(2, "the day must be two digits")?;
    if !(1..=12).contains(&m) {
        return Err(bad("month out of range"));
    }
    if d == 0 || d > days_in_month(y, m) {
        return Err(bad("day out of range for the month"));
    }
    p.expect(b"Tt ", "expected `T` between the date and the time")?;
    let hh = i64::from(p.digits(2, "the hour must be two digits")?);
    p.expect(b":", "expected `:` after the hour")?;
    let mm = i64::from(p.digits(2, "the minute must be two digits")?);
    p.expect(b":", "expected `:` after the minute")?;
    let ss = i64::from(p.digits(2, "the second must be two digits")?);
    // 60 is a leap second; like PostgreSQL, read it as the next minute.
    if hh > 23 || mm > 59 || ss > 60 {
        return Err(bad("time of day out of range"));
    }
    let mut frac: i64 = 0;
    if p.s.get(p.at) == Some(&b'.') {
        p.at += 1;
        let start = p.at;
        while p.s.get(p.at).is_some_and(u8::is_ascii_digit) {
            if p.at - start < 6 {
                frac = frac * 10 + i64::from(p.s[p.at] - b'0');
            }
            p.at += 1;
        }
        let n = p.at - start;
        if n == 0 {
            return Err(bad("expected digits after `.`"));
        }
        for _ in n..6 {
            frac *= 10;
        }
    }
    let offset = match p.expect(b"Zz+-", "expected `Z` or an offset (`+01:00`)")? {
        b'Z' | b'z' => 0,
        sign => {
            let oh = i64::from(p.digits(2, "the offset's hours must be two digits")?);
            p.expect(b":", "expected `:` in the offset")?;
            let om = i64::from(p.digits(2, "the offset's minutes must be two digits")?);
            if oh > 23 || om > 59 {
                return Err(bad("offset out of range"));
            }
            let secs = oh * 3600 + om * 60;
            if sign == b'-' { -secs } else { secs }
        }
    };
    if p.at != p.s.len() {
        return Err(bad("unexpected text after the timestamp"));
    }
    let secs = days_from_civil(y, m, d) * SECS_PER_DAY + hh * 3600 + mm * 60 + ss - offset;
    Ok(secs * MICROS_PER_SEC + frac)
}
