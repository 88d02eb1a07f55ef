//! Reading the `UNTIL` of `mfactl policy grace`: a date, a UTC time, a duration from now, or
//! `none`; and writing a deadline back as RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second humantime can print or parse: 9999-12-31T23:59:59Z.
const LAST_SECOND: i64 = 253_402_300_799;

/// What `UNTIL` may look like, for error messages.
const FORMS: &str = "expected none, a date (2026-12-31), a UTC time (2026-12-31T18:00:00Z) or \
                     a duration from now (14d, 2weeks, 36h)";

/// Reads a deadline at Unix time `now`, as Unix time; `none` gives 0 (remove the deadline).
///
/// - `YYYY-MM-DD`: the end of that day, 23:59:59 UTC;
/// - an RFC 3339 time in UTC (`2026-12-31T18:00:00Z`; the `T` may be a space and the `Z` may
///   be left out, the time is still UTC);
/// - a duration from now (`14d`, `2weeks`, `36h`, `1w 2d`), optionally after a `+`.
///
/// A deadline that is not after `now` is refused: `none` is how a deadline is removed.
pub fn parse_deadline(text: &str, now: i64) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("the deadline is empty; {FORMS}"));
    }
    if text.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    let until = if is_date(text) {
        parse_utc(&format!("{text}T23:59:59Z"))
            .map_err(|e| format!("{text:?} is not a valid date ({e})"))?
    } else if looks_like_time(text) {
        parse_utc(text).map_err(|e| {
            format!(
                "{text:?} is not a valid UTC time ({e}); write it like 2026-12-31T18:00:00Z, \
                 times with another offset are not accepted"
            )
        })?
    } else if text.starts_with('-') {
        return Err(format!(
            "{text:?} is negative; a duration counts forward from now (like 14d)"
        ));
    } else {
        let relative = text.strip_prefix('+').unwrap_or(text).trim_start();
        let duration = humantime::parse_duration(relative)
            .map_err(|e| format!("cannot read {text:?} as a deadline ({e}); {FORMS}"))?;
        i64::try_from(duration.as_secs())
            .ok()
            .and_then(|secs| now.checked_add(secs))
            .filter(|&t| t <= LAST_SECOND)
            .ok_or_else(|| format!("{text:?} is too far in the future"))?
    };
    if until <= now {
        return Err(format!(
            "{} has already passed; give a later deadline, or none to remove it",
            rfc3339(until)
        ));
    }
    Ok(until)
}

/// `YYYY-MM-DD`: ten characters, digits with dashes at 4 and 7.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// Starts like a date (`NNNN-`): meant as a time, even if malformed, so that the error says
/// what is wrong with the time rather than with a duration.
fn looks_like_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() > 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// An RFC 3339 time (weakly: `T` or space, optional `Z`), as Unix time.
fn parse_utc(text: &str) -> Result<i64, humantime::TimestampError> {
    let time = humantime::parse_rfc3339_weak(text)?;
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // parse_rfc3339_weak stops at year 9999, far below i64::MAX.
    Ok(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// A Unix time as RFC 3339 in UTC, to the second: `2026-12-31T23:59:59Z`.
pub fn rfc3339(unix: i64) -> String {
    match u64::try_from(unix) {
        Ok(secs) if unix <= LAST_SECOND => {
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            humantime::format_rfc3339_seconds(time).to_string()
        }
        // Before 1970 or after 9999: humantime cannot print it; the daemon should not send it.
        _ => format!("{}Z", crate::output::utc(unix).replacen(' ', "T", 1)),
    }
}

/// The current Unix time; a clock before 1970 reads as 0.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-06-01T12:00:00Z.
    const NOW: i64 = 1_780_315_200;
    const DAY: i64 = 86_400;

    #[test]
    fn none_removes_the_deadline() {
        assert_eq!(parse_deadline("none", NOW), Ok(0));
        assert_eq!(parse_deadline("NONE", NOW), Ok(0));
        assert_eq!(parse_deadline(" none ", NOW), Ok(0));
    }

    #[test]
    fn a_date_means_the_end_of_that_day_in_utc() {
        let t = parse_deadline("2026-12-31", NOW).unwrap();
        assert_eq!(rfc3339(t), "2026-12-31T23:59:59Z");
        assert_eq!(t, 1_798_761_599);
        // Today still counts: its end is after now.
        assert_eq!(
            rfc3339(parse_deadline("2026-06-01", NOW).unwrap()),
            "2026-06-01T23:59:59Z"
        );
        assert_eq!(
            rfc3339(parse_deadline("2028-02-29", NOW).unwrap()),
            "2028-02-29T23:59:59Z"
        );
    }

    #[test]
    fn an_rfc3339_time_is_taken_as_utc() {
        for text in [
            "2026-12-31T18:00:00Z",
            "2026-12-31 18:00:00",
            "2026-12-31T18:00:00",
            "2026-12-31T18:00:00+00:00",
        ] {
            let t = parse_deadline(text, NOW).unwrap();
            assert_eq!(rfc3339(t), "2026-12-31T18:00:00Z", "{text}");
        }
    }

    #[test]
    fn a_duration_counts_from_now() {
        assert_eq!(parse_deadline("14d", NOW), Ok(NOW + 14 * DAY));
        assert_eq!(parse_deadline("+14d", NOW), Ok(NOW + 14 * DAY));
        assert_eq!(parse_deadline("2weeks", NOW), Ok(NOW + 14 * DAY));
        assert_eq!(parse_deadline("36h", NOW), Ok(NOW + 36 * 3600));
        assert_eq!(parse_deadline("1w 2d", NOW), Ok(NOW + 9 * DAY));
        assert_eq!(parse_deadline("90m", NOW), Ok(NOW + 5400));
    }

    #[test]
    fn bad_dates_and_times_are_refused_with_the_reason() {
        for text in [
            "2026-13-01",
            "2026-02-30",
            "2027-02-29",
            "2026-00-10",
            "2026-12-31T25:00:00Z",
            "2026-12-31T18:00:00+02:00",
            "2026-12-31T18:00",
            "2026-1-1",
        ] {
            let e = parse_deadline(text, NOW).unwrap_err();
            assert!(e.contains(&format!("{text:?}")), "{text}: {e}");
            assert!(e.contains("not a valid"), "{text}: {e}");
        }
        let e = parse_deadline("2026-12-31T18:00:00+02:00", NOW).unwrap_err();
        assert!(e.contains("2026-12-31T18:00:00Z"), "{e}");
    }

    #[test]
    fn empty_negative_and_garbage_input_is_refused() {
        let e = parse_deadline("", NOW).unwrap_err();
        assert!(e.contains("empty") && e.contains("14d"), "{e}");
        assert!(parse_deadline("   ", NOW).is_err());
        let e = parse_deadline("-3d", NOW).unwrap_err();
        assert!(e.contains("negative"), "{e}");
        for text in [
            "soon",
            "tomorrow",
            "14",
            "3 fortnights",
            "d14",
            "+",
            "++3d",
            "nonee",
        ] {
            let e = parse_deadline(text, NOW).unwrap_err();
            assert!(e.contains("cannot read"), "{text}: {e}");
            assert!(e.contains("expected none, a date"), "{text}: {e}");
        }
    }

    #[test]
    fn deadlines_in_the_past_or_now_are_refused() {
        let e = parse_deadline("2020-01-01", NOW).unwrap_err();
        assert_eq!(
            e,
            "2020-01-01T23:59:59Z has already passed; give a later deadline, or none to remove it"
        );
        assert!(parse_deadline("2026-05-31", NOW).is_err());
        assert!(parse_deadline("2026-06-01T12:00:00Z", NOW).is_err());
        assert!(parse_deadline("2026-06-01T12:00:01Z", NOW).is_ok());
        assert!(parse_deadline("0s", NOW).is_err());
    }

    #[test]
    fn deadlines_beyond_the_year_9999_are_refused() {
        assert!(parse_deadline("9999-12-31", NOW).is_ok());
        assert!(parse_deadline("10000-01-01", NOW).is_err());
        assert!(parse_deadline("8000years", NOW).is_err());
        assert!(parse_deadline("99999999999999999999d", NOW).is_err());
        assert!(parse_deadline("14d", i64::MAX - 10).is_err());
    }

    #[test]
    fn rfc3339_prints_utc_to_the_second() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339(LAST_SECOND), "9999-12-31T23:59:59Z");
        // Out of humantime's range: still printed, never a panic.
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert!(rfc3339(LAST_SECOND + 1).starts_with("10000-01-01T00:00:00"));
        assert!(!rfc3339(i64::MAX).is_empty());
        assert!(!rfc3339(i64::MIN).is_empty());
    }
}
