//! Messages shown to users when a login is refused, in one shape everywhere:
//!
//! ```text
//! Access denied
//! Service: sshd
//! User: alice
//! Detail: Additional authentication is required:
//!   - Multi-factor authentication (MFA): no token is enrolled.
//!     Ask an administrator to run: mfactl enroll totp alice
//! ```

/// Builds the "Access denied" message. `detail` lines are indented under the bullet.
pub fn access_denied(service: &str, user: &str, headline: &str, detail: &[&str]) -> String {
    let mut out = format!(
        "Access denied\nService: {service}\nUser: {user}\nDetail: Additional authentication is required:\n  - Multi-factor authentication (MFA): {headline}"
    );
    for line in detail {
        out.push_str("\n    ");
        out.push_str(line);
    }
    out
}

/// The single-line form for syslog.
pub fn one_line(message: &str) -> String {
    message
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_the_documented_form() {
        let m = access_denied(
            "sshd",
            "alice",
            "no token is enrolled.",
            &["Run `mfactl enroll totp`."],
        );
        assert_eq!(
            m,
            "Access denied\nService: sshd\nUser: alice\nDetail: Additional authentication is required:\n  - Multi-factor authentication (MFA): no token is enrolled.\n    Run `mfactl enroll totp`."
        );
        assert_eq!(
            one_line(&m),
            "Access denied | Service: sshd | User: alice | Detail: Additional authentication is required: | - Multi-factor authentication (MFA): no token is enrolled. | Run `mfactl enroll totp`."
        );
    }
}
