//! sshd: the checks that SSH logins run pam_mfa, on the configuration as
//! [`super::sshdconf`] reads it. Defaults are OpenSSH 9.x's own (Debian's shipped file sets
//! `UsePAM yes`, but a missing line means no).

use super::sshdconf::{Directive, SSHD_CONFIG, SshdConfig, View, parse_flag};
use super::{Finding, Host, Severity};

/// `UsePAM` (default no).
const USE_PAM: &[&str] = &["usepam"];
/// `KbdInteractiveAuthentication` (default yes); `ChallengeResponseAuthentication` is its
/// deprecated name and sets the same option.
const KBD_INTERACTIVE: &[&str] = &[
    "kbdinteractiveauthentication",
    "challengeresponseauthentication",
];
/// `PubkeyAuthentication` (default yes).
const PUBKEY: &[&str] = &["pubkeyauthentication"];
/// `PasswordAuthentication` (default yes).
const PASSWORD: &[&str] = &["passwordauthentication"];
/// `HostbasedAuthentication` (default no).
const HOSTBASED: &[&str] = &["hostbasedauthentication"];
/// `GSSAPIAuthentication` (default no).
const GSSAPI: &[&str] = &["gssapiauthentication"];
/// `PermitEmptyPasswords` (default no).
const PERMIT_EMPTY: &[&str] = &["permitemptypasswords"];
/// `AuthenticationMethods` (default any).
const METHODS: &[&str] = &["authenticationmethods"];

/// Every yes/no keyword doctor reads, with its default.
const FLAGS: &[(&[&str], bool)] = &[
    (USE_PAM, false),
    (KBD_INTERACTIVE, true),
    (PUBKEY, true),
    (PASSWORD, true),
    (HOSTBASED, false),
    (GSSAPI, false),
    (PERMIT_EMPTY, false),
];

/// How to apply a changed sshd_config.
const RELOAD: &str = "then `sshd -t && systemctl reload ssh`";

/// What the PAM side tells the sshd checks.
struct Context {
    /// The `sshd` PAM service stacks pam_mfa with `single_prompt`: the password and the code
    /// arrive together through sshd's password method.
    single_prompt: bool,
}

/// Runs `check` on the global settings and on each `Match` block. A block's findings that
/// the global settings do not already have are reported at the block's own line (or the
/// block's setting at fault), so a hole for some connections shows, without letting a block
/// hide a global hole.
fn scoped(host: &Host, check: fn(&View, &Context) -> Vec<Finding>) -> Vec<Finding> {
    let Some(config) = &host.sshd else {
        return Vec::new();
    };
    let context = Context {
        single_prompt: host.pam.single_prompt("sshd"),
    };
    let global = check(
        &View {
            config,
            block: None,
        },
        &context,
    );
    let mut out = global.clone();
    for (b, block) in config.blocks.iter().enumerate() {
        let view = View {
            config,
            block: Some(b),
        };
        for mut finding in check(&view, &context) {
            if global
                .iter()
                .any(|g| g.check == finding.check && g.what == finding.what)
            {
                continue;
            }
            let inside = config.directives.iter().any(|d| {
                d.block == Some(b)
                    && finding.file.as_deref() == Some(d.file.as_path())
                    && finding.line == Some(d.line)
            });
            if !inside {
                finding = finding.at(&block.file, Some(block.line));
            }
            finding.what = format!(
                "For connections matching `Match {}`: {}",
                block.criteria, finding.what
            );
            out.push(finding);
        }
    }
    out
}

/// Places a finding at `directive`, or at the main file when sshd's default applies.
fn placed(finding: Finding, directive: Option<&Directive>, config: &SshdConfig) -> Finding {
    match directive {
        Some(d) => finding.at(&d.file, Some(d.line)),
        None => finding.at(&config.main, None),
    }
}

/// No sshd: one note, and the other sshd checks stay silent.
pub(crate) fn check_installed(host: &Host) -> Vec<Finding> {
    if host.sshd.is_some() {
        return Vec::new();
    }
    vec![
        Finding::new(
            "sshd-missing",
            Severity::Note,
            "There is no sshd_config: sshd is not installed, so the SSH checks were skipped.",
            "Nothing to do if this host takes no SSH logins.",
        )
        .at(&host.root.path(SSHD_CONFIG), None),
    ]
}

/// Files sshd cannot read, `Include` loops, and yes/no settings with other values.
pub(crate) fn check_problems(host: &Host) -> Vec<Finding> {
    let Some(config) = &host.sshd else {
        return Vec::new();
    };
    let mut out = config.problems.clone();
    for d in &config.directives {
        let is_flag = FLAGS
            .iter()
            .any(|(keys, _)| keys.contains(&d.keyword.as_str()));
        if is_flag && parse_flag(d).is_none() {
            out.push(
                Finding::new(
                    "sshd-value",
                    Severity::Error,
                    format!(
                        "`{}`: sshd accepts only yes or no here; `sshd -t` fails and sshd \
                         will not start.",
                        d.text()
                    ),
                    format!("Write `{} yes` or `{} no`, {RELOAD}.", d.written, d.written),
                )
                .at(&d.file, Some(d.line)),
            );
        }
    }
    out
}

/// `UsePAM` must be yes, or sshd never runs the PAM stack.
pub(crate) fn check_use_pam(host: &Host) -> Vec<Finding> {
    scoped(host, |view, _| {
        let (on, directive) = view.flag(USE_PAM, false);
        if on {
            return Vec::new();
        }
        let what = match directive {
            Some(d) => format!(
                "`{}`: sshd never runs the PAM stack, so pam_mfa is never asked and SSH \
                 logins need no second factor.",
                d.text()
            ),
            None => "UsePAM is not set, and sshd's default is no: sshd never runs the PAM \
                     stack, so pam_mfa is never asked and SSH logins need no second factor."
                .to_owned(),
        };
        let finding = Finding::new(
            "sshd-use-pam",
            Severity::Error,
            what,
            format!(
                "Set `UsePAM yes` (outside any Match block: sshd does not allow it inside \
                 one), {RELOAD}."
            ),
        );
        vec![placed(finding, directive, view.config)]
    })
}

/// `KbdInteractiveAuthentication` must be yes: the code is asked over keyboard-interactive.
pub(crate) fn check_keyboard_interactive(host: &Host) -> Vec<Finding> {
    scoped(host, |view, context| {
        let (on, directive) = view.flag(KBD_INTERACTIVE, true);
        // The default is yes, so "off" always has a line.
        let Some(d) = directive.filter(|_| !on) else {
            return Vec::new();
        };
        let finding = if context.single_prompt {
            Finding::new(
                "sshd-keyboard-interactive",
                Severity::Note,
                format!(
                    "`{}`: sshd asks no keyboard-interactive questions; pam_mfa's \
                     single_prompt mode takes the code typed right after the password in \
                     sshd's password prompt instead.",
                    d.text()
                ),
                "Nothing to do if that is what you want. For a separate `Verification code:` \
                 prompt, set `KbdInteractiveAuthentication yes` and drop single_prompt.",
            )
        } else {
            Finding::new(
                "sshd-keyboard-interactive",
                Severity::Error,
                format!(
                    "`{}`: sshd cannot ask for the verification code, which pam_mfa asks \
                     over keyboard-interactive: password logins are denied, and public-key \
                     logins skip pam_mfa.",
                    d.text()
                ),
                format!(
                    "Set `KbdInteractiveAuthentication yes`. sshd keeps the first value it \
                     reads, and an Include near the top (Debian's \
                     /etc/ssh/sshd_config.d/*.conf) is read before the rest of \
                     sshd_config: set it there or change this line, {RELOAD}."
                ),
            )
        };
        vec![finding.at(&d.file, Some(d.line))]
    })
}

/// Whether a method named in an `AuthenticationMethods` list is turned on.
fn method_enabled(view: &View, method: &str) -> bool {
    let name = method.split(':').next().unwrap_or(method);
    match name {
        "publickey" => view.flag(PUBKEY, true).0,
        "password" => view.flag(PASSWORD, true).0,
        "keyboard-interactive" => view.flag(KBD_INTERACTIVE, true).0,
        "hostbased" => view.flag(HOSTBASED, false).0,
        "gssapi-with-mic" => view.flag(GSSAPI, false).0,
        // Unknown names make `sshd -t` fail; `none` is never a method of a list.
        _ => true,
    }
}

/// How a login by one `AuthenticationMethods` list meets pam_mfa.
#[derive(Debug, PartialEq, Eq)]
enum ListKind {
    /// keyboard-interactive runs the PAM auth stack (or, in single-prompt mode, password).
    RunsMfa,
    /// Only sshd's password method runs the PAM stack; it cannot carry a second prompt.
    PasswordOnly,
    /// Nothing in the list runs the PAM auth stack.
    NoPam,
}

fn classify(list: &str, single_prompt: bool) -> ListKind {
    let methods: Vec<&str> = list.split(',').map(str::trim).collect();
    let kbd = methods
        .iter()
        .any(|m| *m == "keyboard-interactive" || *m == "keyboard-interactive:pam");
    let password = methods.contains(&"password");
    match (kbd, password) {
        (true, _) => ListKind::RunsMfa,
        (false, true) if single_prompt => ListKind::RunsMfa,
        (false, true) => ListKind::PasswordOnly,
        (false, false) => ListKind::NoPam,
    }
}

/// `AuthenticationMethods`: without it a public key alone logs in; with it, every list must
/// go through keyboard-interactive (or, in single-prompt mode, password).
pub(crate) fn check_authentication_methods(host: &Host) -> Vec<Finding> {
    scoped(host, |view, context| {
        let directive = view.get(METHODS);
        let lists: Vec<&str> = match directive {
            Some(d) if !(d.args.len() == 1 && d.args[0].eq_ignore_ascii_case("any")) => {
                d.args.iter().map(String::as_str).collect()
            }
            _ => {
                let (pubkey, pubkey_line) = view.flag(PUBKEY, true);
                if !pubkey {
                    return Vec::new();
                }
                let what = format!(
                    "{} and public keys are allowed: a public key alone logs in. sshd runs \
                     the PAM auth stack (and so pam_mfa) only for keyboard-interactive and \
                     password logins.",
                    match directive {
                        Some(d) => format!("`{}` lets any one method log in,", d.text()),
                        None =>
                            "AuthenticationMethods is not set (any one method logs in),".to_owned(),
                    }
                );
                let finding = Finding::new(
                    "sshd-authentication-methods",
                    Severity::Warning,
                    what,
                    format!(
                        "Require the code after the key: `AuthenticationMethods \
                         publickey,keyboard-interactive` (or `keyboard-interactive` alone for \
                         password and code), outside any Match block, {RELOAD}."
                    ),
                );
                return vec![placed(finding, directive.or(pubkey_line), view.config)];
            }
        };
        let Some(d) = directive else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for list in lists {
            if !list.split(',').all(|m| method_enabled(view, m.trim())) {
                // A list naming a method that is off can never complete.
                continue;
            }
            let (what, fix) = match classify(list, context.single_prompt) {
                ListKind::RunsMfa => continue,
                ListKind::NoPam => (
                    format!(
                        "`{}`: the list `{list}` logs in without keyboard-interactive; sshd \
                         runs the PAM auth stack only for keyboard-interactive (and password) \
                         logins, so pam_mfa is never asked.",
                        d.text()
                    ),
                    format!(
                        "Put keyboard-interactive in every list, e.g. `AuthenticationMethods \
                         publickey,keyboard-interactive`, {RELOAD}."
                    ),
                ),
                ListKind::PasswordOnly => (
                    format!(
                        "`{}`: the list `{list}` reaches PAM only through sshd's password \
                         method, which answers every PAM prompt with the password: pam_mfa \
                         gets the password instead of a code, and these logins are denied.",
                        d.text()
                    ),
                    "Use keyboard-interactive instead of password in that list (e.g. \
                     `publickey,keyboard-interactive`), or give pam_mfa the single_prompt \
                     argument so the code is typed right after the password."
                        .to_owned(),
                ),
            };
            out.push(
                Finding::new("sshd-authentication-methods", Severity::Error, what, fix)
                    .at(&d.file, Some(d.line)),
            );
        }
        out
    })
}

/// sshd's password method cannot carry the code prompt: worth a note when it can be used.
pub(crate) fn check_password_authentication(host: &Host) -> Vec<Finding> {
    scoped(host, |view, context| {
        let (password, directive) = view.flag(PASSWORD, true);
        let (use_pam, _) = view.flag(USE_PAM, false);
        if !password || !use_pam || context.single_prompt {
            return Vec::new();
        }
        // With AuthenticationMethods lists that never name password, it is never used.
        let used = match view.get(METHODS) {
            Some(d) if !(d.args.len() == 1 && d.args[0].eq_ignore_ascii_case("any")) => d
                .args
                .iter()
                .any(|list| list.split(',').any(|m| m.trim() == "password")),
            _ => true,
        };
        if !used {
            return Vec::new();
        }
        let what = format!(
            "{}: sshd's password method answers every PAM prompt with the password, so \
             pam_mfa gets no code and denies those logins when a code is needed. That is \
             safe, but confusing for clients that try a password first.",
            match directive {
                Some(d) => format!("`{}`", d.text()),
                None => "PasswordAuthentication is on (sshd's default)".to_owned(),
            }
        );
        let finding = Finding::new(
            "sshd-password-authentication",
            Severity::Note,
            what,
            format!(
                "Set `PasswordAuthentication no` (clients then use keyboard-interactive, which \
                 asks for the password and the code), {RELOAD}."
            ),
        );
        vec![placed(finding, directive, view.config)]
    })
}

/// Whether sshd lets accounts with an empty password try it (`PermitEmptyPasswords yes`);
/// when not, sshd tells PAM so (PAM_DISALLOW_NULL_AUTHTOK) and `nullok` does not matter.
pub(crate) fn permits_empty_passwords(config: Option<&SshdConfig>) -> bool {
    config.is_some_and(|config| {
        View {
            config,
            block: None,
        }
        .flag(PERMIT_EMPTY, false)
        .0
    })
}

#[cfg(test)]
mod tests;
