//! The daemon's one source of wall-clock time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds. A clock before 1970 reads as 0, which no code verifies against.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
