//! Making text from a server or a program safe for a log line.

/// Longest detail kept from a server reply or a program's stderr.
const MAX_DETAIL_CHARS: usize = 160;

/// The first non-empty line of `raw`, without control characters, at most 160 characters,
/// with `recipient` replaced by `masked` and every run of 4+ digits found in `message` (the
/// code) replaced by `[redacted]`: a gateway or a script may echo what it was given.
pub(crate) fn sanitize(raw: &str, message: &str, recipient: &str, masked: &str) -> String {
    let line = raw
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut line = if recipient.is_empty() {
        line.to_owned()
    } else {
        line.replace(recipient, masked)
    };
    for secret in digit_runs(message) {
        line = line.replace(secret, "[redacted]");
    }
    let mut out: String = line
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DETAIL_CHARS)
        .collect();
    if line.chars().count() > MAX_DETAIL_CHARS {
        out.push('…');
    }
    out
}

/// Runs of at least 4 ASCII digits, longest first (so no run is left half-replaced).
fn digit_runs(text: &str) -> Vec<&str> {
    let mut runs: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|r| r.len() >= 4)
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.len()));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_and_the_recipient_never_reach_the_log() {
        let msg = "Your login code for h is 123456. It is valid for 5:00.";
        let out = sanitize(
            "\n  rejected +4912345689: text 'code 123456'\x1b[31m\nsecond line",
            msg,
            "+4912345689",
            "+4•••••••89",
        );
        assert_eq!(out, "rejected +4•••••••89: text 'code [redacted]'[31m");
    }

    #[test]
    fn long_lines_are_cut() {
        let out = sanitize(&"x".repeat(500), "", "r", "m");
        assert_eq!(out.chars().count(), MAX_DETAIL_CHARS + 1);
        assert!(out.ends_with('…'));
        assert_eq!(sanitize("", "", "r", "m"), "");
    }
}
