//! Module arguments: pam_mfa's own (an unknown one makes it refuse every login), and
//! `nullok` on the password module of a stack with pam_mfa.

use std::collections::BTreeSet;

use super::pam::{EmptyPasswords, merged};
use super::pamwalk::{Role, role};
use super::{Finding, Host, Severity, and_list, sshd};

/// pam_mfa's arguments and whether each takes a value. Keep this in step with `ARGUMENTS` in
/// pam_mfa/src/args.rs (the module's own table, which this crate cannot depend on: the
/// module is a cdylib); a unit test reads that file and checks that the two agree.
pub(crate) const MODULE_ARGUMENTS: &[(&str, bool)] = &[
    ("bus", true),
    ("timeout", true),
    ("fido2_timeout", true),
    ("debug", false),
    ("single_prompt", false),
];
/// The system bus, pam_mfa's default `bus=`.
const SYSTEM_BUS: &str = mfa_proto::SYSTEM_BUS_ADDRESS;
/// pam_mfa's largest `timeout=` in milliseconds.
const MAX_TIMEOUT_MS: u64 = 30_000;
/// pam_mfa's accepted `fido2_timeout=` in milliseconds.
const FIDO2_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1_000..=120_000;

/// `nullok` on the password module of a stack with pam_mfa: an account with an empty
/// password would need only the code.
pub(crate) fn check_nullok(host: &Host) -> Vec<Finding> {
    let sshd_allows_empty = sshd::permits_empty_passwords(host.sshd.as_ref());
    let mut items = Vec::new();
    for service in host.pam.stacking() {
        // sshd refuses empty passwords itself unless PermitEmptyPasswords is yes, and tells
        // PAM so (PAM_DISALLOW_NULL_AUTHTOK), which pam_unix honours over nullok.
        if service.name == "sshd" && !sshd_allows_empty {
            continue;
        }
        for entry in &service.auth {
            let nullok = entry
                .args()
                .iter()
                .find(|a| *a == "nullok" || *a == "nullok_secure");
            let Some(nullok) = nullok.filter(|_| role(entry) == Role::Password) else {
                continue;
            };
            let finding = match &host.empty_passwords {
                EmptyPasswords::Known(names) if names.is_empty() => continue,
                EmptyPasswords::Known(names) => {
                    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
                    let more = if names.len() > 5 { ", …" } else { "" };
                    Finding::new(
                        "pam-nullok",
                        Severity::Warning,
                        format!(
                            "`{nullok}` lets an account with an empty password in without \
                             one, and {} {} an empty password: {}{more} would need only the \
                             code.",
                            if names.len() == 1 {
                                "this account"
                            } else {
                                "these accounts"
                            },
                            if names.len() == 1 { "has" } else { "have" },
                            shown.join(", ")
                        ),
                        "Give those accounts a password (`passwd NAME`) or lock them (`passwd \
                         -l NAME`), or remove `nullok` from this line.",
                    )
                }
                EmptyPasswords::Unknown(why) => Finding::new(
                    "pam-nullok",
                    Severity::Note,
                    format!(
                        "`{nullok}` lets an account with an empty password in with the code \
                         alone; whether any account has one is unknown ({why})."
                    ),
                    "Run `sudo mfactl doctor`, or list them with `passwd -S -a | grep ' NP '`.",
                ),
            };
            items.push((
                service.name.as_str(),
                finding.at(&entry.file, Some(entry.line)),
            ));
        }
    }
    merged(items)
}

/// What pam_mfa makes of one argument: `Err` when it refuses to run.
fn check_argument(arg: &str) -> Result<Option<String>, String> {
    let (key, value) = match arg.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (arg, None),
    };
    let Some((_, takes_value)) = MODULE_ARGUMENTS.iter().find(|(k, _)| *k == key) else {
        let known: Vec<String> = MODULE_ARGUMENTS
            .iter()
            .map(|(k, v)| {
                if *v {
                    format!("{k}=…")
                } else {
                    (*k).to_owned()
                }
            })
            .collect();
        return Err(format!(
            "pam_mfa does not know the argument `{arg}` (it knows {})",
            and_list(&known)
        ));
    };
    match (value, takes_value) {
        (Some(_), false) => return Err(format!("`{key}` takes no value")),
        (None, true) => return Err(format!("`{key}` needs a value (`{key}=…`)")),
        _ => {}
    }
    match (key, value) {
        ("timeout", Some(ms)) => match ms.parse::<u64>() {
            Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Ok(None),
            _ => Err(format!(
                "`{arg}`: the timeout must be 1 to {MAX_TIMEOUT_MS} milliseconds"
            )),
        },
        ("fido2_timeout", Some(ms)) => match ms.parse::<u64>() {
            Ok(ms) if FIDO2_TIMEOUT_MS.contains(&ms) => Ok(None),
            _ => Err(format!(
                "`{arg}`: the FIDO2 timeout must be {} to {} milliseconds",
                FIDO2_TIMEOUT_MS.start(),
                FIDO2_TIMEOUT_MS.end()
            )),
        },
        ("bus", Some(address)) => {
            let socket = address.contains("path=/") || address.contains("abstract=");
            if !address.starts_with("unix:") || address.contains(';') || !socket {
                Err(format!(
                    "`{arg}`: pam_mfa takes only one unix: address with an absolute path= or \
                     an abstract= name"
                ))
            } else if address == SYSTEM_BUS {
                Ok(None)
            } else {
                Ok(Some(address.to_owned()))
            }
        }
        _ => Ok(None),
    }
}

/// pam_mfa's arguments: an unknown, repeated or malformed one makes it refuse every login;
/// a private bus is worth a note.
pub(crate) fn check_arguments(host: &Host) -> Vec<Finding> {
    let mut items = Vec::new();
    for service in &host.pam.services {
        let entries = service
            .auth
            .iter()
            .chain(service.other_mfa.iter().map(|(_, e)| e))
            .filter(|e| e.is_mfa());
        for entry in entries {
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut problems = Vec::new();
            let mut private_bus = None;
            for arg in entry.args() {
                let key = arg.split_once('=').map_or(arg.as_str(), |(k, _)| k);
                if !seen.insert(key) {
                    problems.push(format!("`{key}` is given twice"));
                    continue;
                }
                match check_argument(arg) {
                    Ok(bus) => private_bus = private_bus.or(bus),
                    Err(why) => problems.push(why),
                }
            }
            let mut found = |finding: Finding| {
                items.push((
                    service.name.as_str(),
                    finding.at(&entry.file, Some(entry.line)),
                ));
            };
            for why in problems {
                found(Finding::new(
                    "pam-arguments",
                    Severity::Error,
                    format!(
                        "{why}: pam_mfa refuses to run (PAM_SERVICE_ERR), so every login \
                         through this line fails."
                    ),
                    "Correct or remove the argument; pam_mfa(8) lists the arguments.",
                ));
            }
            if let Some(address) = private_bus {
                found(Finding::new(
                    "pam-bus",
                    Severity::Note,
                    format!(
                        "pam_mfa asks mfad on `{address}`, not on the system bus: right for \
                         tests and demos; on a host, mfad serves the system bus."
                    ),
                    "Remove `bus=` unless mfad really runs on that bus.",
                ));
            }
        }
    }
    merged(items)
}
