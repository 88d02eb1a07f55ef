//! Email and SMS one-time codes: the `[otp]`, `[email]` and `[sms]` sections of mfad.toml,
//! and the pure helpers around them (masking, address checks, message text).
//!
//! The transports themselves (SMTP, HTTP gateway, command) live in the `mfa-deliver` crate;
//! everything here is I/O-free so it can be unit-tested and shared with `mfactl`.

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;

use serde::Deserialize;
use thiserror::Error;

use crate::config::ConfigError;

/// Longest transport timeout accepted, in seconds: a send must finish well inside the time a
/// login prompt waits for the daemon.
pub const MAX_DELIVERY_TIMEOUT_SECS: u64 = 25;
/// Longest email address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// What a masked character is replaced with.
const MASK: char = '•';

/// `[otp]`: lifetime and abuse limits of emailed and texted codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpConfig {
    /// Seconds a sent code stays valid (30 to 3600; default 300).
    pub validity_secs: u64,
    /// Seconds before a new code may be sent to the same user and method (below
    /// `validity_secs`; default 30).
    pub resend_after_secs: u64,
    /// Codes sent per user and method in any hour (1 to 100; default 5): a login prompt must
    /// not become a way to flood a mailbox.
    pub max_sends_per_hour: u32,
    /// Codes sent per minute over all users (1 to 100000; default 60): caps the bill an SMS
    /// pumping attack can run up.
    pub max_sends_per_minute: u32,
}

impl Default for OtpConfig {
    fn default() -> Self {
        OtpConfig {
            validity_secs: 300,
            resend_after_secs: 30,
            max_sends_per_hour: 5,
            max_sends_per_minute: 60,
        }
    }
}

/// `[email]`: SMTP delivery of codes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Mail server, see [`SmtpUrl`] for the syntax. Email codes are offered only when set.
    pub smtp_url: Option<String>,
    /// Sender mailbox (RFC 5322), e.g. `Login codes <mfa@host.example>`; required with
    /// `smtp_url`.
    pub from: Option<String>,
    /// Root-only file: user name on the first line, password on the second.
    pub credentials_file: Option<PathBuf>,
    /// Extra PEM CA certificate(s) trusted for the mail server, besides the system store.
    pub tls_ca_file: Option<PathBuf>,
    /// Seconds a send (connect, TLS, login, transfer) may take (1 to 25; default 8).
    pub timeout_secs: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp_url: None,
            from: None,
            credentials_file: None,
            tls_ca_file: None,
            timeout_secs: 8,
        }
    }
}

/// Default `sms.body`: the JSON shape most gateways accept.
pub const DEFAULT_SMS_BODY: &str = r#"{"to":"{to}","text":"{message}"}"#;

/// `[sms]`: delivery of codes by text message, through an HTTP gateway or a local command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `http://` or `https://` URL the message is POSTed to.
    pub gateway_url: Option<String>,
    /// Request body; `{to}` and `{message}` are replaced by the values escaped for
    /// `content_type` (JSON string content, or percent-encoding for a form).
    pub body: String,
    /// `application/json` (default) or `application/x-www-form-urlencoded`.
    pub content_type: String,
    /// Root-only file holding one header line `Name: value` sent with each request.
    pub auth_header_file: Option<PathBuf>,
    /// Program and arguments (absolute path, no shell); the recipient is appended as the last
    /// argument and the message written to its standard input. Exit status 0 means sent.
    pub command: Option<Vec<String>>,
    /// Seconds a send may take (1 to 25; default 8); a command is killed after it.
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            gateway_url: None,
            body: DEFAULT_SMS_BODY.to_owned(),
            content_type: "application/json".to_owned(),
            auth_header_file: None,
            command: None,
            timeout_secs: 8,
        }
    }
}

/// How `{to}` and `{message}` are escaped in `sms.body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// `application/json`: the content of a JSON string (the template supplies the quotes).
    Json,
    /// `application/x-www-form-urlencoded`: percent-encoding of a form value.
    Form,
}

impl BodyEncoding {
    /// The encoding for a `Content-Type` value (parameters such as `charset` allowed), or
    /// None for a type whose escaping rules we do not know.
    pub fn for_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/json") {
            Some(BodyEncoding::Json)
        } else if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            Some(BodyEncoding::Form)
        } else {
            None
        }
    }
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://host`: no TLS at all (a local relay).
    Plain,
    /// `smtp://host?tls=opportunistic`: STARTTLS when the server offers it.
    StartTlsOpportunistic,
    /// `smtp://host?tls=required`: STARTTLS, or no send.
    StartTlsRequired,
    /// `smtps://host`: TLS from the first byte.
    ImplicitTls,
}

/// A parsed `email.smtp_url`.
///
/// Syntax (the subset of lettre's `SmtpTransport::from_url` we accept, with its default
/// ports): `smtp://HOST[:PORT]` plain (port 25); `smtp://HOST[:PORT]?tls=required` or
/// `?tls=opportunistic`, STARTTLS (port 587); `smtps://HOST[:PORT]`, implicit TLS (port 465).
/// HOST is a name, an IPv4 address or a bracketed IPv6 address. No user or password in the
/// URL (the config file is world-readable: use `credentials_file`), no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    /// Transport security.
    pub security: SmtpSecurity,
    /// Host name or address (IPv6 without brackets); also the name the certificate must match.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl SmtpUrl {
    /// Parses an `smtp://` or `smtps://` URL (see the type's documentation).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (implicit, rest) = if let Some(rest) = url.strip_prefix("smtps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("smtp://") {
            (false, rest)
        } else {
            return Err("must start with smtp:// or smtps://".into());
        };
        let (host, port, tail) = parse_authority(rest)?;
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        if !path.is_empty() && path != "/" {
            return Err("must not have a path".into());
        }
        let security = match (implicit, query) {
            (true, "") => SmtpSecurity::ImplicitTls,
            (false, "") => SmtpSecurity::Plain,
            (false, "tls=required") => SmtpSecurity::StartTlsRequired,
            (false, "tls=opportunistic") => SmtpSecurity::StartTlsOpportunistic,
            (true, _) => return Err("smtps:// takes no ?tls= option (it is always TLS)".into()),
            (false, _) => {
                return Err("the only options are ?tls=required and ?tls=opportunistic".into());
            }
        };
        let default_port = match security {
            SmtpSecurity::Plain => 25,
            SmtpSecurity::StartTlsOpportunistic | SmtpSecurity::StartTlsRequired => 587,
            SmtpSecurity::ImplicitTls => 465,
        };
        Ok(SmtpUrl {
            security,
            host,
            port: port.unwrap_or(default_port),
        })
    }

    /// Whether TLS can never be skipped (implicit TLS or STARTTLS required).
    pub fn always_tls(&self) -> bool {
        matches!(
            self.security,
            SmtpSecurity::ImplicitTls | SmtpSecurity::StartTlsRequired
        )
    }
}

/// A checked `sms.gateway_url`: its host and whether it uses TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayUrl {
    /// `https://`.
    pub https: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port, default 80 or 443.
    pub port: u16,
}

impl GatewayUrl {
    /// Checks an `http://` or `https://` URL with a host and no user or password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("must start with http:// or https://".into());
        };
        let (host, port, tail) = parse_authority(rest)?;
        if tail.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        Ok(GatewayUrl {
            https,
            host,
            port: port.unwrap_or(if https { 443 } else { 80 }),
        })
    }
}

/// Splits `HOST[:PORT]REST` (REST starting at `/`, `?` or the end).
fn parse_authority(rest: &str) -> Result<(String, Option<u16>, &str), String> {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if tail.contains('#') {
        return Err("must not have a #fragment".into());
    }
    if authority.contains('@') {
        return Err("must not contain a user or password (use the credentials file)".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("an IPv6 address needs a closing ]")?;
        addr.parse::<Ipv6Addr>()
            .map_err(|_| format!("[{addr}] is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after the IPv6 address")?),
        };
        (addr, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(format!("{host:?} is not a host name or address"));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("port {p:?} is not 1 to 65535")),
        },
    };
    Ok((host.to_owned(), port, tail))
}

/// Whether `host` is this machine (traffic to it never leaves the host, so no TLS needed).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn invalid(key: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        why: why.into(),
    }
}

fn check_absolute(key: &'static str, path: &Option<PathBuf>) -> Result<(), ConfigError> {
    match path {
        Some(p) if !p.is_absolute() => Err(invalid(key, "must be an absolute path")),
        _ => Ok(()),
    }
}

fn check_timeout(key: &'static str, secs: u64) -> Result<(), ConfigError> {
    if secs == 0 || secs > MAX_DELIVERY_TIMEOUT_SECS {
        return Err(invalid(
            key,
            format!("must be 1 to {MAX_DELIVERY_TIMEOUT_SECS}, not {secs}"),
        ));
    }
    Ok(())
}

impl OtpConfig {
    /// Checks the ranges (called by [`crate::config::Config::parse`]).
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(30..=3600).contains(&self.validity_secs) {
            return Err(invalid(
                "otp.validity_secs",
                format!("must be 30 to 3600, not {}", self.validity_secs),
            ));
        }
        if self.resend_after_secs >= self.validity_secs {
            return Err(invalid(
                "otp.resend_after_secs",
                format!(
                    "must be smaller than otp.validity_secs ({}), not {}",
                    self.validity_secs, self.resend_after_secs
                ),
            ));
        }
        if !(1..=100).contains(&self.max_sends_per_hour) {
            return Err(invalid(
                "otp.max_sends_per_hour",
                format!("must be 1 to 100, not {}", self.max_sends_per_hour),
            ));
        }
        if !(1..=100_000).contains(&self.max_sends_per_minute) {
            return Err(invalid(
                "otp.max_sends_per_minute",
                format!("must be 1 to 100000, not {}", self.max_sends_per_minute),
            ));
        }
        Ok(())
    }
}

impl EmailConfig {
    /// Whether email codes can be sent (`smtp_url` is set).
    pub fn is_configured(&self) -> bool {
        self.smtp_url.is_some()
    }

    /// The parsed `smtp_url`, if set (already checked by [`Self::check`]).
    pub fn parsed_url(&self) -> Option<Result<SmtpUrl, String>> {
        self.smtp_url.as_deref().map(SmtpUrl::parse)
    }

    /// Checks the section (called by [`crate::config::Config::parse`]).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_timeout("email.timeout_secs", self.timeout_secs)?;
        check_absolute("email.credentials_file", &self.credentials_file)?;
        check_absolute("email.tls_ca_file", &self.tls_ca_file)?;
        let Some(url) = self.parsed_url() else {
            return Ok(());
        };
        let url = url.map_err(|why| invalid("email.smtp_url", why))?;
        match &self.from {
            None => {
                return Err(invalid(
                    "email.from",
                    "is required with email.smtp_url, e.g. \"Login codes <mfa@host.example>\"",
                ));
            }
            Some(from) => {
                check_mailbox(from).map_err(|why| invalid("email.from", why))?;
            }
        }
        if self.credentials_file.is_some() && !url.always_tls() && !is_loopback_host(&url.host) {
            return Err(invalid(
                "email.credentials_file",
                "would send the password unencrypted: use smtps:// or ?tls=required",
            ));
        }
        if self.tls_ca_file.is_some() && url.security == SmtpSecurity::Plain {
            return Err(invalid(
                "email.tls_ca_file",
                "has no effect without TLS: use smtps://, ?tls=required or ?tls=opportunistic",
            ));
        }
        Ok(())
    }
}

impl SmsConfig {
    /// Whether text-message codes can be sent (`gateway_url` or `command` is set).
    pub fn is_configured(&self) -> bool {
        self.gateway_url.is_some() || self.command.is_some()
    }

    /// Checks the section (called by [`crate::config::Config::parse`]).
    pub fn check(&self) -> Result<(), ConfigError> {
        check_timeout("sms.timeout_secs", self.timeout_secs)?;
        check_absolute("sms.auth_header_file", &self.auth_header_file)?;
        if let Some(url) = &self.gateway_url {
            if self.command.is_some() {
                return Err(invalid(
                    "sms.command",
                    "set either sms.gateway_url or sms.command, not both",
                ));
            }
            let url = GatewayUrl::parse(url).map_err(|why| invalid("sms.gateway_url", why))?;
            if BodyEncoding::for_content_type(&self.content_type).is_none() {
                return Err(invalid(
                    "sms.content_type",
                    "must be application/json or application/x-www-form-urlencoded",
                ));
            }
            for placeholder in ["{to}", "{message}"] {
                if !self.body.contains(placeholder) {
                    return Err(invalid("sms.body", format!("must contain {placeholder}")));
                }
            }
            if self.auth_header_file.is_some() && !url.https && !is_loopback_host(&url.host) {
                return Err(invalid(
                    "sms.auth_header_file",
                    "would send the secret unencrypted: use an https:// gateway_url",
                ));
            }
        } else if self.auth_header_file.is_some() {
            return Err(invalid(
                "sms.auth_header_file",
                "is only used with sms.gateway_url",
            ));
        }
        if let Some(argv) = &self.command {
            match argv.first() {
                None => return Err(invalid("sms.command", "must name a program")),
                Some(program) if !program.starts_with('/') => {
                    return Err(invalid(
                        "sms.command",
                        format!("{program:?} must be an absolute path (no shell, no PATH search)"),
                    ));
                }
                Some(_) => {}
            }
            if argv.iter().any(|a| a.contains('\0')) {
                return Err(invalid("sms.command", "must not contain NUL characters"));
            }
        }
        Ok(())
    }
}

/// Why an email address or phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecipientError {
    /// Not `local@domain` with exactly one `@` and both parts present.
    #[error("an email address needs the form name@domain")]
    EmailShape,
    /// Longer than [`MAX_EMAIL_LEN`] bytes.
    #[error("an email address may have at most 254 characters")]
    EmailTooLong,
    /// The part before `@` has a character outside RFC 5322's dot-atom.
    #[error("the part before @ may only hold letters, digits, dots and !#$%&'*+-/=?^_`{{|}}~")]
    EmailLocalPart,
    /// The domain is not dot-separated labels of letters, digits and hyphens.
    #[error("the part after @ must be a domain name such as example.org")]
    EmailDomain,
    /// Not `+` followed by 8 to 15 digits, the first not 0.
    #[error("a phone number needs the international form +<country code><number>, 8 to 15 digits")]
    PhoneE164,
}

/// Checks an email address strictly: ASCII `local@domain`, the local part an RFC 5322
/// dot-atom, the domain host-name labels, at most 254 bytes. Quoted local parts, comments,
/// address literals and internationalised addresses are refused: they are rare and each is
/// a way to smuggle something into a mail header.
pub fn check_email_address(address: &str) -> Result<(), RecipientError> {
    if address.len() > MAX_EMAIL_LEN {
        return Err(RecipientError::EmailTooLong);
    }
    let (local, domain) = address.split_once('@').ok_or(RecipientError::EmailShape)?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return Err(RecipientError::EmailShape);
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if local.len() > 64
        || local
            .split('.')
            .any(|atom| atom.is_empty() || !atom.chars().all(atext))
    {
        return Err(RecipientError::EmailLocalPart);
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !domain.split('.').all(label_ok) {
        return Err(RecipientError::EmailDomain);
    }
    Ok(())
}

/// Checks a sender mailbox: `address` or `Display Name <address>`; the name without control
/// characters and without the RFC 5322 specials that would need quoting.
pub fn check_mailbox(mailbox: &str) -> Result<(), String> {
    let address = match mailbox.strip_suffix('>') {
        Some(inner) => {
            let (name, address) = inner
                .rsplit_once('<')
                .ok_or("a > without <: use \"Name <address>\"")?;
            if name
                .chars()
                .any(|c| c.is_control() || "()<>[]:;@\\,\"".contains(c))
            {
                return Err(
                    "the display name must not contain control characters or ()<>[]:;@\\,\"".into(),
                );
            }
            address
        }
        None => mailbox,
    };
    check_email_address(address).map_err(|e| e.to_string())
}

/// Checks a phone number in E.164 form: `+`, then 8 to 15 digits, the first not 0.
pub fn check_phone_e164(phone: &str) -> Result<(), RecipientError> {
    let digits = phone.strip_prefix('+').ok_or(RecipientError::PhoneE164)?;
    if !(8..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(RecipientError::PhoneE164);
    }
    Ok(())
}

/// Masks an email address for prompts and logs: `alice@example.org` → `a•••e@ex•••.org`.
///
/// The local part keeps its first and last character (a one-character local part only its
/// first: `a•••`); the domain keeps the first two characters of its first label and its last
/// label. Enough for the user to recognise the address, too little to harvest it.
pub fn mask_email(address: &str) -> String {
    let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
    let mut out = String::new();
    let mut chars = local.chars();
    if let Some(first) = chars.next() {
        out.push(first);
    }
    out.extend([MASK; 3]);
    if let Some(last) = chars.next_back() {
        out.push(last);
    }
    if domain.is_empty() {
        return out;
    }
    out.push('@');
    let (first_label, tld) = match domain.rsplit_once('.') {
        Some((head, tld)) => (head.split('.').next().unwrap_or(head), Some(tld)),
        None => (domain, None),
    };
    out.extend(first_label.chars().take(2));
    out.extend([MASK; 3]);
    if let Some(tld) = tld {
        out.push('.');
        out.push_str(tld);
    }
    out
}

/// Masks a phone number for prompts and logs: `+4912345689` → `+4•••••••89`.
///
/// Keeps the `+`, the first digit and the last two, one `•` per hidden digit (numbers too
/// short to keep anything are masked whole).
pub fn mask_phone(phone: &str) -> String {
    let (plus, digits) = match phone.strip_prefix('+') {
        Some(d) => ("+", d),
        None => ("", phone),
    };
    let chars: Vec<char> = digits.chars().collect();
    let mut out = String::from(plus);
    if chars.len() < 5 {
        out.extend(std::iter::repeat_n(MASK, chars.len()));
        return out;
    }
    out.push(chars[0]);
    out.extend(std::iter::repeat_n(MASK, chars.len() - 3));
    out.extend(&chars[chars.len() - 2..]);
    out
}

/// A validity as the user reads it: minutes and seconds, `300` → `5:00`.
pub fn format_validity(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// The text sent by email or SMS: the code, the host and the validity, nothing else (no
/// user name, no link a phishing copy could imitate).
pub fn message_text(host: &str, code: &str, validity_secs: u64) -> String {
    format!(
        "Your login code for {host} is {code}. It is valid for {}.",
        format_validity(validity_secs)
    )
}

/// Subject line of a code email.
pub fn email_subject(host: &str) -> String {
    format!("Login code for {host}")
}

#[cfg(test)]
mod tests;
