//! Rendering results for people (tables, sentences) and for programs (`--json`).
//!
//! Text output escapes control and bidirectional-override characters in everything that
//! came from a user or the daemon (token names, user names, messages), so a crafted name
//! cannot move the cursor, clear the screen or reorder a line.

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;
use zeroize::Zeroizing;

use mfa_core::policy::DEFAULT_MODE;
use mfa_proto::{
    GraceDeadline, PolicyExplanation, PolicyOverview, ServicePolicy, TokenInfo, UserStatus, WhoAmI,
};

use crate::deadline::rfc3339;

/// Column titles of `mfactl list`.
pub const TABLE_HEADERS: [&str; 8] = [
    "ID",
    "NAME",
    "KIND",
    "ALGORITHM",
    "DIGITS",
    "PERIOD",
    "CREATED",
    "LAST USED",
];

/// `text` with control characters (except newline) and bidi overrides escaped as `\u{…}`.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Same as [`printable`], and newlines escaped too: for one table cell or one line.
pub(crate) fn one_line(text: &str) -> Cow<'_, str> {
    match printable(text) {
        Cow::Borrowed(t) if !t.contains('\n') => Cow::Borrowed(t),
        other => Cow::Owned(other.replace('\n', "\\n")),
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS` in UTC (proleptic Gregorian, any `i64`).
pub fn utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // 1970-01-01 is day 719_468 of the era-based calendar starting 0000-03-01. The shift
    // cannot overflow: |days| <= i64::MAX / 86_400.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// When a token was last used: a time, or `never`.
pub fn last_used(unix: i64) -> String {
    if unix == 0 {
        "never".to_owned()
    } else {
        utc(unix)
    }
}

/// The `mfactl list` table: a header line and one line per token, columns padded to fit.
pub fn token_table(tokens: &[TokenInfo]) -> String {
    let rows: Vec<[String; 8]> = tokens
        .iter()
        .map(|t| {
            [
                one_line(&t.id).into_owned(),
                one_line(&t.name).into_owned(),
                one_line(&t.kind).into_owned(),
                // TOTP: the algorithm; an SSH key: its fingerprint (its type is the kind).
                one_line(if t.detail.is_empty() {
                    &t.algorithm
                } else {
                    &t.detail
                })
                .into_owned(),
                match t.digits {
                    0 => "-".to_owned(),
                    d => d.to_string(),
                },
                match t.period {
                    0 => "-".to_owned(),
                    p => format!("{p}s"),
                },
                utc(t.created),
                last_used(t.last_used),
            ]
        })
        .collect();
    let headers = TABLE_HEADERS.map(str::to_owned);
    table(&headers, &rows)
}

/// Column titles of `mfactl policy show`.
pub const POLICY_HEADERS: [&str; 3] = ["SERVICE", "MODE", "METHODS"];

/// A list of methods for people: `all` when empty (every method), else comma-separated.
pub fn methods_text(methods: &[String]) -> String {
    if methods.is_empty() {
        return "all".to_owned();
    }
    let names: Vec<String> = methods.iter().map(|m| one_line(m).into_owned()).collect();
    names.join(",")
}

/// The service rules of `mfactl policy show`: a table (or a sentence when there are none),
/// then the built-in default.
pub fn policy_table(policies: &[ServicePolicy]) -> String {
    let mut out = if policies.is_empty() {
        "No service rules are set.\n".to_owned()
    } else {
        let rows: Vec<[String; 3]> = policies
            .iter()
            .map(|p| {
                [
                    one_line(&p.service).into_owned(),
                    one_line(&p.mode).into_owned(),
                    methods_text(&p.methods),
                ]
            })
            .collect();
        table(&POLICY_HEADERS.map(str::to_owned), &rows)
    };
    out.push_str(&format!(
        "Services without a rule and no '*' rule: {DEFAULT_MODE}.\n"
    ));
    out
}

/// The `mfactl policy show` line after the service table: the enforced groups, or none.
pub fn enforced_groups_line(groups: &[String]) -> String {
    if groups.is_empty() {
        return "No group enforcement.\n".to_owned();
    }
    let names: Vec<String> = groups.iter().map(|g| one_line(g).into_owned()).collect();
    format!(
        "Groups whose members must use MFA (on every service that is not off): {}\n",
        names.join(", ")
    )
}

/// Who may turn always-require on for themselves, as a sentence.
pub fn always_require_allow_line(allow: &str) -> String {
    let who = match allow {
        "all" => "every user may turn it on for themselves".to_owned(),
        "none" => "only administrators may turn it on (for anyone)".to_owned(),
        _ => match allow.strip_prefix("group:") {
            Some(group) => format!(
                "members of group {} may turn it on for themselves; administrators for anyone",
                one_line(group)
            ),
            None => format!("who may turn it on: {}", one_line(allow)),
        },
    };
    format!("Always-require: {who}.\n")
}

/// The enrollment deadlines of `mfactl policy show` at Unix time `now`, or a sentence when
/// there are none.
pub fn grace_text(grace: &[GraceDeadline], now: i64) -> String {
    if grace.is_empty() {
        return "No enrollment deadlines.\n".to_owned();
    }
    let mut out = "Enrollment deadlines (until then, a user who must use MFA but has no usable \
                   method is let in with a warning):\n"
        .to_owned();
    let subjects: Vec<String> = grace
        .iter()
        .map(|g| one_line(&g.subject).into_owned())
        .collect();
    let width = subjects
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0);
    for (g, subject) in grace.iter().zip(&subjects) {
        let passed = if g.until <= now { " (passed)" } else { "" };
        let pad = width - subject.chars().count();
        out.push_str(&format!(
            "  {subject}{}  {}{passed}\n",
            " ".repeat(pad),
            rfc3339(g.until)
        ));
    }
    out
}

/// The whole `mfactl policy show` text at Unix time `now`: service rules, enforced groups,
/// always-require permission, enrollment deadlines.
pub fn policy_overview_text(policy: &PolicyOverview, now: i64) -> String {
    let mut out = policy_table(&policy.services);
    out.push_str(&enforced_groups_line(&policy.enforced_groups));
    out.push_str(&always_require_allow_line(&policy.always_require_allow));
    out.push_str(&grace_text(&policy.grace, now));
    out
}

/// The `mfactl policy explain` text: the decision as a sentence, then one `  - ` line per
/// reason.
pub fn explanation_text(user: &str, service: &str, explanation: &PolicyExplanation) -> String {
    let decision = match explanation.decision.as_str() {
        "ask" => "a verification code is asked.".into(),
        "deny-not-enrolled" => {
            "denied: MFA is required and no method allowed there is enrolled.".into()
        }
        "grace" => "let in with a warning: MFA is required and no method allowed there is \
                    enrolled, but the enrollment deadline has not passed."
            .into(),
        "deny-locked" => "denied: an administrator locked this user's second factor.".into(),
        "not-required" => "no second factor is needed (the module returns PAM_IGNORE).".into(),
        other => one_line(other),
    };
    let mut out = format!(
        "Login of {} on {}: {decision}\n",
        one_line(user),
        one_line(service)
    );
    for reason in &explanation.reasons {
        out.push_str("  - ");
        out.push_str(&one_line(reason));
        out.push('\n');
    }
    out
}

/// The `mfactl status` text at Unix time `now`: the user, the token table, recovery codes,
/// always-require, the failure and lock state, the enrollment deadline, then what each service
/// with a rule would do and with which methods.
pub fn status_text(status: &UserStatus, now: i64) -> String {
    let user = one_line(&status.user);
    let mut out = format!("User: {user}\n");
    if status.tokens.is_empty() {
        out.push_str("No tokens are enrolled.\n");
    } else {
        out.push_str(&token_table(&status.tokens));
    }
    out.push_str(&format!(
        "Recovery codes: {} unused\n",
        status.recovery_codes_left
    ));
    let always = if status.always_require { "on" } else { "off" };
    out.push_str(&format!("Always require MFA: {always}\n"));
    out.push_str(&format!("Failed attempts: {}\n", status.failures));
    if status.locked_out {
        out.push_str(&format!(
            "Locked: yes, until an administrator runs mfactl unlock {user}\n"
        ));
    } else if status.locked_until > now {
        out.push_str(&format!(
            "Throttled until {} UTC\n",
            utc(status.locked_until)
        ));
    } else {
        out.push_str("Locked: no\n");
    }
    if status.admin_locked {
        out.push_str(&format!(
            "Administrative lock: yes, until an administrator runs mfactl unlock {user}\n"
        ));
        if !status.lock_reason.is_empty() {
            out.push_str(&format!("Lock reason: {}\n", one_line(&status.lock_reason)));
        }
    } else {
        out.push_str("Administrative lock: no\n");
    }
    if status.grace_until != 0 {
        let passed = if status.grace_until <= now {
            " (passed)"
        } else {
            ""
        };
        out.push_str(&format!(
            "Enrollment deadline: {}{passed}\n",
            rfc3339(status.grace_until)
        ));
    }
    out.push_str("Services:\n");
    if status.services.is_empty() {
        out.push_str("  (no service rules; every service requires MFA)\n");
    }
    for rule in &status.services {
        let phrase = match rule.mode.as_str() {
            "ask" => "second factor asked".into(),
            "deny-not-enrolled" => "denied (no usable method enrolled)".into(),
            "grace" => "let in with a warning (no usable method; deadline not passed)".into(),
            "deny-locked" => "denied (administrative lock)".into(),
            "not-required" => "not asked".into(),
            other => one_line(other),
        };
        let methods = if rule.methods.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = rule
                .methods
                .iter()
                .map(|m| one_line(m).into_owned())
                .collect();
            format!(" (methods: {})", names.join(", "))
        };
        out.push_str(&format!(
            "  {}: {phrase}{methods}\n",
            one_line(&rule.service)
        ));
    }
    out
}

/// A header line and one line per row, columns padded to fit and separated by two spaces.
/// The cells must already be [`one_line`].
fn table<const N: usize>(headers: &[String; N], rows: &[[String; N]]) -> String {
    let mut widths = headers.each_ref().map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(headers).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `mfactl whoami` as a sentence.
pub fn who_am_i_text(me: &WhoAmI) -> String {
    let name = if me.user.is_empty() {
        "(no user name)".into()
    } else {
        one_line(&me.user)
    };
    let rights = if me.admin {
        "administrator: may manage every account's tokens"
    } else {
        "may manage only its own tokens"
    };
    format!("{name} (uid {}), {rights}\n", me.uid)
}

/// What `mfactl enroll totp --json` prints after success.
#[derive(Debug, Serialize)]
pub struct EnrollmentReport<'a> {
    /// The account the token was enrolled for.
    pub user: &'a str,
    /// The otpauth URI, holding the secret: the caller asked for it with `--json`.
    pub otpauth_uri: &'a str,
    /// The new token.
    pub token: &'a TokenInfo,
}

/// What `mfactl remove --json` prints after success.
#[derive(Debug, Serialize)]
pub struct RemovalReport<'a> {
    /// The owner.
    pub user: &'a str,
    /// The token as given (id or name).
    pub token: &'a str,
    /// Always true: failures exit non-zero and print nothing on standard output.
    pub removed: bool,
}

/// What `mfactl unlock --json` prints after success.
#[derive(Debug, Serialize)]
pub struct UnlockReport<'a> {
    /// The account.
    pub user: &'a str,
    /// Always true: failures exit non-zero and print nothing on standard output.
    pub unlocked: bool,
}

/// What `mfactl lock --json` prints after success.
#[derive(Debug, Serialize)]
pub struct LockReport<'a> {
    /// The account.
    pub user: &'a str,
    /// Always true: failures exit non-zero and print nothing on standard output.
    pub locked: bool,
    /// The reason given (empty without `--reason`).
    pub reason: &'a str,
}

/// What `mfactl always-require --json` prints after success.
#[derive(Debug, Serialize)]
pub struct AlwaysRequireReport<'a> {
    /// The account.
    pub user: &'a str,
    /// The setting now.
    pub always_require: bool,
}

/// What `mfactl recovery generate --json` prints after success. It holds the codes.
#[derive(Debug, Serialize)]
pub struct RecoveryCodesReport<'a> {
    /// The account.
    pub user: &'a str,
    /// The new codes, each usable once; the earlier set no longer works.
    pub codes: &'a [String],
}

/// What `mfactl policy service --json` prints after success.
#[derive(Debug, Serialize)]
pub struct PolicyReport<'a> {
    /// The service as given, or `*`.
    pub service: &'a str,
    /// The mode set, or `unset` when the rule was removed.
    pub mode: &'a str,
    /// The methods allowed there; empty means every method.
    pub methods: &'a [&'a str],
}

/// What `mfactl policy always-require allow --json` prints after success.
#[derive(Debug, Serialize)]
pub struct AllowReport<'a> {
    /// `all`, `none` or `group:NAME`.
    pub always_require_allow: &'a str,
}

/// What `mfactl policy grace --json` prints after success.
#[derive(Debug, Serialize)]
pub struct GraceReport<'a> {
    /// The user name, or `group:NAME`.
    pub subject: &'a str,
    /// The deadline as Unix time; 0 when it was removed.
    pub until: i64,
    /// The deadline as RFC 3339 UTC (`2026-12-31T23:59:59Z`); null when it was removed.
    pub deadline: Option<String>,
}

/// What `mfactl policy group --json` prints after success.
#[derive(Debug, Serialize)]
pub struct GroupReport<'a> {
    /// The group as given.
    pub group: &'a str,
    /// Whether the group is now enforced.
    pub enforced: bool,
}

/// What `mfactl policy explain --json` prints.
#[derive(Debug, Serialize)]
pub struct ExplanationReport<'a> {
    /// The account as given.
    pub user: &'a str,
    /// The service as given.
    pub service: &'a str,
    /// mfad's decision: `ask`, `deny-not-enrolled`, `grace`, `deny-locked` or
    /// `not-required`.
    pub decision: &'a str,
    /// One line per rule consulted, in mfad's order.
    pub reasons: &'a [String],
}

/// Writes `value` to `out` as one line of JSON. The text goes through a buffer that is wiped
/// afterwards, because an enrollment report holds the secret.
pub fn emit_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut buf = Zeroizing::new(Vec::with_capacity(4096));
    serde_json::to_writer(&mut *buf, value)?;
    buf.push(b'\n');
    out.write_all(&buf)?;
    out.flush()
}

/// Writes `text` to `out` and flushes, so a prompt on another stream never overtakes it.
pub fn emit(out: &mut dyn Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests;
