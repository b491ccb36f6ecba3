use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Timestamp;
use super::civil::{civil_from_days, days_from_civil};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn days_and_dates_round_trip_over_ten_thousand_years() {
    // Every day from -4713-01-01 to 9999-12-31 (PostgreSQL's dates start
    // at 4713 BC), checked against a day-by-day walk of the calendar.
    let start = days_from_civil(-4713, 1, 1);
    let (mut y, mut m, mut d) = (-4713_i64, 1_u32, 1_u32);
    for days in start..=days_from_civil(9999, 12, 31) {
        assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
        assert_eq!(days_from_civil(y, m, d), days);
        d += 1;
        if d > super::civil::days_in_month(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
}

#[test]
fn displays_rfc3339_in_utc() {
    assert_eq!(Timestamp::UNIX_EPOCH.to_string(), "1970-01-01T00:00:00Z");
    assert_eq!(
        Timestamp::from_unix_micros(-1).to_string(),
        "1969-12-31T23:59:59.999999Z"
    );
    assert_eq!(
        Timestamp::from_unix_micros(951_782_400_000_001).to_string(),
        "2000-02-29T00:00:00.000001Z"
    );
    assert_eq!(
        format!("{:?}", ts("2026-12-04T21:30:00Z")),
        "2026-12-04T21:30:00Z"
    );
    let far = ts("9999-12-31T23:59:59Z").checked_add(Duration::from_secs(1));
    assert_eq!(far.unwrap().to_string(), "+10000-01-01T00:00:00Z");
}

#[test]
fn parses_what_it_displays_and_offsets() {
    for micros in [
        0,
        -1,
        1,
        1_796_419_800_500_000,
        -62_135_596_800_000_000,
        253_402_300_799_999_999,
    ] {
        let t = Timestamp::from_unix_micros(micros);
        assert_eq!(ts(&t.to_string()), t, "{t}");
    }
    assert_eq!(ts("2026-12-04T22:30:00+01:00"), ts("2026-12-04T21:30:00Z"));
    assert_eq!(ts("2026-12-04 16:00:00-05:30"), ts("2026-12-04T21:30:00z"));
    assert_eq!(
        ts("2026-12-04t21:30:00.1234567891Z").unix_micros() % 1_000_000,
        123_456
    );
    assert_eq!(
        ts("2026-12-04T21:30:00.5Z").unix_micros() % 1_000_000,
        500_000
    );
    assert_eq!(ts("2024-02-29T23:59:60Z"), ts("2024-03-01T00:00:00Z"));
}

#[test]
fn refuses_what_is_not_rfc3339() {
    for bad in [
        "",
        "2026-12-04",
        "2026-12-04T21:30:00",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-12-00T00:00:00Z",
        "2026-12-04T24:00:00Z",
        "2026-12-04T21:60:00Z",
        "2026-12-04T21:30:00.Z",
        "2026-12-04T21:30:00+1:00",
        "2026-12-04T21:30:00+24:00",
        "2026-12-04T21:30:00Z ",
        "26-12-04T21:30:00Z",
        "2026/12/04T21:30:00Z",
        "２026-12-04T21:30:00Z",
        "12026-12-04T21:30:00Z",
        "+026-12-04T21:30:00Z",
    ] {
        let err = bad.parse::<Timestamp>().unwrap_err();
        assert!(
            err.to_string().starts_with("not an RFC 3339 timestamp"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn converts_to_and_from_system_time_to_the_microsecond() {
    let t = UNIX_EPOCH + Duration::new(1_796_419_800, 123_456_789);
    assert_eq!(Timestamp::from(t).unix_micros(), 1_796_419_800_123_456);
    assert_eq!(
        SystemTime::from(Timestamp::from(t)),
        UNIX_EPOCH + Duration::new(1_796_419_800, 123_456_000)
    );
    // Before the epoch, truncation is towards the past, as for positive times.
    let before = UNIX_EPOCH - Duration::from_nanos(1_500);
    assert_eq!(Timestamp::from(before).unix_micros(), -2);
    let t = Timestamp::from_unix_micros(-2);
    assert_eq!(t.to_system_time(), UNIX_EPOCH - Duration::from_micros(2));
    let now = Timestamp::now();
    assert!(now > ts("2026-01-01T00:00:00Z"));
}

#[test]
fn arithmetic_checks_its_range() {
    let t = ts("2026-12-04T21:30:00Z");
    assert_eq!(
        t.checked_sub(Duration::from_secs(86_400)),
        Some(ts("2026-12-03T21:30:00Z"))
    );
    assert_eq!(
        t.duration_since(t.checked_add(Duration::from_micros(1)).unwrap()),
        None
    );
    assert_eq!(
        Timestamp::from_unix_micros(i64::MAX).checked_add(Duration::from_micros(1)),
        None
    );
    assert_eq!(
        Timestamp::from_unix_micros(i64::MIN).checked_sub(Duration::from_micros(1)),
        None
    );
    assert_eq!(t.checked_add(Duration::MAX), None);
    let (lo, hi) = (
        Timestamp::from_unix_micros(-1),
        Timestamp::from_unix_micros(i64::MAX),
    );
    assert!(hi.duration_since(lo).is_some());
}

#[test]
fn serde_is_text_for_json_and_micros_for_binary() {
    let t = ts("2026-12-04T21:30:00.25Z");
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(json, "\"2026-12-04T21:30:00.250000Z\"");
    assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    let packed = rmp_serde::to_vec(&t).unwrap();
    assert_eq!(rmp_serde::from_slice::<Timestamp>(&packed).unwrap(), t);
}

#[cfg(feature = "chrono")]
#[test]
fn agrees_with_chrono() {
    use chrono::{DateTime, Utc};
    let mut micros: i64 = -62_135_596_800_000_000; // 0001-01-01
    while micros < 253_402_300_799_999_999 {
        let t = Timestamp::from_unix_micros(micros);
        let c = DateTime::<Utc>::from_timestamp_micros(micros).unwrap();
        assert_eq!(DateTime::<Utc>::from(t), c);
        assert_eq!(Timestamp::from(c), t);
        let text = c.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        assert_eq!(ts(&text), t, "{text}");
        micros += 7_777_777_777_777; // about 90 days, odd steps
    }
    assert_eq!(
        DateTime::<Utc>::from(Timestamp::from_unix_micros(i64::MAX)),
        DateTime::<Utc>::MAX_UTC
    );
}
