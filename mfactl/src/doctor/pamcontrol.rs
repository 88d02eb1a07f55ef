//! PAM controls around pam_mfa, walked with libpam's rules: a wrong code, an unavailable
//! mfad, a code without the password, or a stack that ends before pam_mfa must not log in;
//! and pam_mfa's place relative to the password module.

use super::pam::{has_arg, merged, place};
use super::pamconf::{Action, module_name};
use super::pamstack::Entry;
use super::pamwalk::{Role, analyse, role};
use super::{Finding, Host, Severity};

/// The fix for a pam_mfa control that lets logins through.
const USE_REQUIRED: &str = "Use `required` for pam_mfa (`auth required pam_mfa.so`). Whether a \
                            service asks at all is mfad's policy (`mfactl policy service`), \
                            not the control.";

/// The controls around pam_mfa, walked with libpam's rules: a wrong code, an unavailable
/// mfad, a code without the password, or a stack that ends before pam_mfa must not log in.
pub(crate) fn check_controls(host: &Host) -> Vec<Finding> {
    let mut items = Vec::new();
    for service in &host.pam.services {
        let stack = &service.auth;
        for (target, mfa) in stack.iter().enumerate().filter(|(_, e)| e.is_mfa()) {
            let analysis = analyse(stack, target);
            let mut found = |finding: Finding| items.push((service.name.as_str(), finding));
            if analysis.wrong_code_passes {
                found(
                    Finding::new(
                        "pam-control",
                        Severity::Error,
                        format!(
                            "pam_mfa is `{}` here: the stack ignores its failure, so a wrong \
                             code still logs in.",
                            mfa.control_text
                        ),
                        USE_REQUIRED,
                    )
                    .at(&mfa.file, Some(mfa.line)),
                );
            } else if analysis.unavailable_passes {
                found(
                    Finding::new(
                        "pam-control",
                        Severity::Error,
                        format!(
                            "pam_mfa is `{}` here: when mfad is down or does not answer, the \
                             stack ignores that and logs in without a code (the second factor \
                             fails open).",
                            mfa.control_text
                        ),
                        USE_REQUIRED,
                    )
                    .at(&mfa.file, Some(mfa.line)),
                );
            }
            if analysis.code_alone_passes {
                found(code_alone(stack, mfa));
            }
            for &by in &analysis.skipped_by {
                if let Some(finding) = skipped(&stack[by], mfa) {
                    found(finding);
                }
            }
            if analysis.incomplete {
                found(
                    Finding::new(
                        "pam-control",
                        Severity::Note,
                        "This auth stack has too many combinations to check them all; the \
                         control checks may have missed something.",
                        "Test the service by hand (`pamtester SERVICE USER authenticate`).",
                    )
                    .at(&service.file, None),
                );
            }
        }
    }
    merged(items)
}

/// A verified code logs in without the password: blame pam_mfa's own `done`/jump, else the
/// password module whose failure is ignored.
fn code_alone(stack: &[Entry], mfa: &Entry) -> Finding {
    let success = mfa.actions.action("success");
    let password = stack.iter().find(|e| role(e) == Role::Password);
    match password {
        Some(p) if !matches!(success, Action::Done | Action::Jump(_)) => Finding::new(
            "pam-control",
            Severity::Error,
            format!(
                "`{}` lets a wrong password through (its failure is ignored), so a verified \
                 code alone logs in: MFA becomes a single factor.",
                p.text()
            ),
            "Let the password step fail the login: `required`, or Debian's `[success=1 \
             default=ignore]` followed by `auth requisite pam_deny.so`.",
        )
        .at(&p.file, Some(p.line)),
        _ => Finding::new(
            "pam-control",
            Severity::Error,
            format!(
                "pam_mfa is `{}` here and the password is not checked before it: a verified \
                 code alone logs in, so MFA becomes a single factor.",
                mfa.control_text
            ),
            "Use `required` for pam_mfa, after the password step.",
        )
        .at(&mfa.file, Some(mfa.line)),
    }
}

/// An entry that ends the stack, or jumps, past pam_mfa in a successful login.
fn skipped(by: &Entry, mfa: &Entry) -> Option<Finding> {
    let finding = match role(by) {
        Role::Password => Finding::new(
            "pam-control",
            Severity::Error,
            format!(
                "`{}` ends the auth stack when the password is right, before pam_mfa ({}) \
                 runs: pam_mfa is never asked.",
                by.text(),
                place(mfa)
            ),
            "Use `required` on that line (or Debian's `[success=1 default=ignore]` followed by \
             `auth requisite pam_deny.so`). If it comes from a shared file such as \
             system-auth, stack that file with `substack` instead of `include`: a \
             `sufficient` then ends only the substack.",
        ),
        Role::Permit => Finding::new(
            "pam-control",
            Severity::Error,
            format!(
                "`{}` ends the auth stack with success before pam_mfa ({}) runs: anyone logs \
                 in without a password or a code.",
                by.text(),
                place(mfa)
            ),
            "Remove that line, or make it `required`.",
        ),
        Role::Other => Finding::new(
            "pam-exemption",
            Severity::Note,
            format!(
                "When {} succeeds, `{}` skips pam_mfa ({}): an exemption from the second \
                 factor.",
                by.module().map(module_name).unwrap_or("this module"),
                by.text(),
                place(mfa)
            ),
            "Nothing to do if that exemption is meant (e.g. `pam_succeed_if.so uid eq 0` to \
             let root in at the console when mfad is broken); otherwise let that line neither \
             jump over nor end the stack.",
        ),
        // su's `sufficient pam_rootok.so` is normal; pam_mfa lines are checked on their own.
        Role::RootOk | Role::Mfa | Role::Deny | Role::Substack | Role::Broken => return None,
    };
    Some(finding.at(&by.file, Some(by.line)))
}

/// pam_mfa after the password module, except in single-prompt mode, where it must come
/// before it and the password module must take the password it hands on.
pub(crate) fn check_order(host: &Host) -> Vec<Finding> {
    let mut items = Vec::new();
    for service in &host.pam.services {
        let stack = &service.auth;
        let passwords: Vec<(usize, &Entry)> = stack
            .iter()
            .enumerate()
            .filter(|(_, e)| role(e) == Role::Password)
            .collect();
        for (target, mfa) in stack.iter().enumerate().filter(|(_, e)| e.is_mfa()) {
            let before = passwords.iter().find(|(i, _)| *i < target).map(|(_, e)| *e);
            let after = passwords.iter().find(|(i, _)| *i > target).map(|(_, e)| *e);
            let mut found = |finding: Finding| items.push((service.name.as_str(), finding));
            if !has_arg(mfa, "single_prompt") {
                if let (None, Some(p)) = (before, after) {
                    found(
                        Finding::new(
                            "pam-order",
                            Severity::Warning,
                            format!(
                                "pam_mfa comes before the password check ({} at {}): the code \
                                 is asked before the password is known to be right, so anyone \
                                 who knows a user name can use up that user's codes and learn \
                                 whether they have a token.",
                                p.module().map(module_name).unwrap_or("the password module"),
                                place(p)
                            ),
                            "Move the pam_mfa line after the password step (on Debian: after \
                             `@include common-auth`).",
                        )
                        .at(&mfa.file, Some(mfa.line)),
                    );
                }
                continue;
            }
            if let Some(p) = before {
                found(
                    Finding::new(
                        "pam-order",
                        Severity::Error,
                        format!(
                            "pam_mfa's single_prompt expects the password and the code in one \
                             answer, but `{}` ({}) asks for the password first: pam_mfa then \
                             splits that password, and logins fail.",
                            p.text(),
                            place(p)
                        ),
                        "Put the pam_mfa line before the password module, and give that \
                         module `use_first_pass`.",
                    )
                    .at(&mfa.file, Some(mfa.line)),
                );
            } else if let Some(p) = after {
                if !(has_arg(p, "use_first_pass") || has_arg(p, "try_first_pass")) {
                    found(
                        Finding::new(
                            "pam-order",
                            Severity::Error,
                            format!(
                                "`{}` does not take the password that pam_mfa's single_prompt \
                                 hands on (it has neither use_first_pass nor try_first_pass): \
                                 it asks for the password again, and the one typed with the \
                                 code is never checked.",
                                p.text()
                            ),
                            "Add `use_first_pass` to that line.",
                        )
                        .at(&p.file, Some(p.line)),
                    );
                }
            } else {
                found(
                    Finding::new(
                        "pam-order",
                        Severity::Warning,
                        "pam_mfa has single_prompt, but no password module follows it: the \
                         password typed before the code is never checked.",
                        "Stack the password module after pam_mfa, with `use_first_pass`.",
                    )
                    .at(&mfa.file, Some(mfa.line)),
                );
            }
        }
    }
    merged(items)
}
