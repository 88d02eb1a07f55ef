//! The daemon's one source of wall-clock time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds. A clock before 1970 reads as 0, which no code verifies against.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A Unix time as RFC 3339 in UTC (`2026-12-31T23:59:59Z`), for messages and logs.
pub fn format_utc(t: u64) -> String {
    let t = t.min(253_402_300_799); // 9999-12-31T23:59:59Z, the largest RFC 3339 year
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(t)).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_as_rfc3339_utc() {
        assert_eq!(super::format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::format_utc(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(super::format_utc(u64::MAX), "9999-12-31T23:59:59Z");
    }
}
