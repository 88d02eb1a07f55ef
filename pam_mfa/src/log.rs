//! Logging to syslog (authpriv) through `pam_syslog(3)`.
//!
//! Lines never contain codes or answers. Anything that came from outside the module (user
//! names, the daemon's reasons and error texts) goes through [`quote`] or [`escape`] first, so
//! it cannot forge log lines or carry terminal escapes.

use pamsm::{LogLvl, Pam, PamLibExt};

/// Longest user name, in characters, written to a log line or message before it is cut.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest free text (reasons, error messages), in characters, written to a log line.
pub const MAX_TEXT_CHARS: usize = 256;

/// How important a line is; mapped to syslog levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something is broken: the daemon is unreachable, a protocol violation, bad config.
    Error,
    /// A login was refused or abandoned.
    Notice,
    /// A login passed this module.
    Info,
}

/// Writes lines to syslog for one PAM handle. Debug lines only when `debug` was given.
pub struct Log<'a> {
    pam: &'a Pam,
    debug: bool,
}

impl<'a> Log<'a> {
    /// A logger for `pam`; `debug` enables [`Log::debug`] lines.
    pub fn new(pam: &'a Pam, debug: bool) -> Self {
        Log { pam, debug }
    }

    /// Writes one line at `severity`.
    pub fn line(&self, severity: Severity, text: &str) {
        let level = match severity {
            Severity::Error => LogLvl::ERR,
            Severity::Notice => LogLvl::NOTICE,
            Severity::Info => LogLvl::INFO,
        };
        self.write(level, text);
    }

    /// Writes a detail line, only if the `debug` argument was given.
    pub fn debug(&self, text: &str) {
        if self.debug {
            self.write(LogLvl::DEBUG, text);
        }
    }

    fn write(&self, level: LogLvl, text: &str) {
        // pam_syslog takes a C string; a NUL would make pamsm refuse the whole line.
        let text = text.replace('\0', "\\0");
        // Nothing sensible to do if syslog itself fails.
        let _ = self.pam.syslog(level, &text);
    }
}

/// A name for a log line or a message: quoted, control characters escaped (`{:?}` style),
/// cut to [`MAX_NAME_CHARS`] characters (marked with `…`).
pub fn quote(name: &str) -> String {
    let (head, cut) = truncate(name, MAX_NAME_CHARS);
    format!("{head:?}{}", if cut { "…" } else { "" })
}

/// Free text for a log line: control characters escaped, no quotes added, cut to `max`
/// characters (marked with `…`).
pub fn escape(text: &str, max: usize) -> String {
    let (head, cut) = truncate(text, max);
    let quoted = format!("{head:?}");
    // `{:?}` of a str always starts and ends with a quote.
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted);
    format!("{inner}{}", if cut { "…" } else { "" })
}

/// The first `max` characters of `s`, and whether anything was cut.
fn truncate(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((at, _)) => (&s[..at], true),
        None => (s, false),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn quote_escapes_control_characters() {
        assert_eq!(quote("alice"), "\"alice\"");
        assert_eq!(quote("al\nice\u{1b}[2J"), "\"al\\nice\\u{1b}[2J\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn quote_cuts_long_names_at_64_characters() {
        let long = "é".repeat(100);
        let q = quote(&long);
        assert_eq!(q, format!("\"{}\"…", "é".repeat(64)));
        assert_eq!(quote(&"x".repeat(64)), format!("\"{}\"", "x".repeat(64)));
    }

    #[test]
    fn escape_keeps_text_readable_and_bounded() {
        assert_eq!(escape("no token is enrolled", 256), "no token is enrolled");
        assert_eq!(escape("line1\nline2\r\0", 256), "line1\\nline2\\r\\0");
        assert_eq!(escape("abcdef", 3), "abc…");
    }
}
