//! What an auth stack can decide: every combination of module results, walked with
//! libpam's own rules (`_pam_dispatch_aux`), to find the logins that succeed without a
//! verified code or without the password.
//!
//! Each module is given the results it can really return for a caller who is not root:
//! the password modules and pam_mfa succeed or fail; pam_mfa can also find mfad
//! unavailable; `pam_deny` fails, `pam_permit` succeeds, `pam_rootok` fails (root skipping
//! the stack through it is normal for su); any other module may succeed or fail.

use super::pamconf::{Action, module_name};
use super::pamstack::{Entry, EntryKind};

/// Modules that check the password.
pub(crate) const PASSWORD_MODULES: &[&str] = &[
    "pam_unix.so",
    "pam_sss.so",
    "pam_ldap.so",
    "pam_krb5.so",
    "pam_winbind.so",
];

/// What a module is, for the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// pam_mfa.
    Mfa,
    /// A password module ([`PASSWORD_MODULES`]).
    Password,
    /// `pam_deny.so`.
    Deny,
    /// `pam_permit.so`.
    Permit,
    /// `pam_rootok.so`.
    RootOk,
    /// Anything else.
    Other,
    /// The `substack` line itself (not a module).
    Substack,
    /// A line libpam cannot use.
    Broken,
}

/// The role of a stack entry.
pub(crate) fn role(entry: &Entry) -> Role {
    match &entry.kind {
        EntryKind::Substack => Role::Substack,
        EntryKind::Broken(_) => Role::Broken,
        EntryKind::Module { module, .. } => {
            if entry.is_mfa() {
                return Role::Mfa;
            }
            match module_name(module) {
                name if PASSWORD_MODULES.contains(&name) => Role::Password,
                "pam_deny.so" => Role::Deny,
                "pam_permit.so" => Role::Permit,
                "pam_rootok.so" => Role::RootOk,
                _ => Role::Other,
            }
        }
    }
}

/// One module result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `PAM_SUCCESS`.
    Success,
    /// `PAM_AUTH_ERR`: a wrong password or code.
    AuthErr,
    /// `PAM_AUTHINFO_UNAVAIL`: mfad down or not answering.
    Unavailable,
    /// `PAM_PERM_DENIED`, what libpam makes of a broken line.
    Broken,
}

impl Outcome {
    /// The name of the result in a bracketed control.
    fn value(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::AuthErr => "auth_err",
            Outcome::Unavailable => "authinfo_unavail",
            Outcome::Broken => "perm_denied",
        }
    }
}

/// What the walk found about one pam_mfa entry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// Some login succeeds although this pam_mfa said the code was wrong.
    pub wrong_code_passes: bool,
    /// Some login succeeds although mfad was unavailable.
    pub unavailable_passes: bool,
    /// Some login succeeds with a verified code but no password module succeeding (only
    /// when the stack has a password module at all).
    pub code_alone_passes: bool,
    /// Entries whose `done` or jump ended or skipped past this pam_mfa in a login that
    /// succeeded without it.
    pub skipped_by: Vec<usize>,
    /// There were too many combinations to walk them all; the findings may be incomplete.
    pub incomplete: bool,
}

/// The most result combinations walked for one stack.
const MAX_PATHS: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impression {
    Undefined,
    Positive,
    Negative,
}

#[derive(Debug, Clone)]
struct State {
    /// The next entry.
    pos: usize,
    /// The level of the entry that ran last (libpam's `prev_level`).
    prev_level: usize,
    impression: Impression,
    /// The status is PAM_SUCCESS.
    status_ok: bool,
    /// The state at the start of each level, for `reset`.
    saved: Vec<(Impression, bool)>,
    /// The result of the pam_mfa entry analysed, if it ran.
    mfa: Option<Outcome>,
    /// A password module succeeded.
    password_ok: bool,
    /// The entry that skipped past the pam_mfa entry analysed.
    skipper: Option<usize>,
}

/// Walks every combination of results of `entries` and reports what can happen to the
/// pam_mfa entry at index `target`.
pub(crate) fn analyse(entries: &[Entry], target: usize) -> Analysis {
    let roles: Vec<Role> = entries.iter().map(role).collect();
    let mut walk = Walk {
        entries,
        roles: &roles,
        target,
        has_password: roles.contains(&Role::Password),
        analysis: Analysis::default(),
        paths: 0,
    };
    let start = State {
        pos: 0,
        prev_level: 0,
        impression: Impression::Undefined,
        status_ok: false,
        saved: vec![(Impression::Undefined, false); deepest(entries) + 1],
        mfa: None,
        password_ok: false,
        skipper: None,
    };
    walk.run(start);
    walk.analysis.skipped_by.sort_unstable();
    walk.analysis.skipped_by.dedup();
    walk.analysis
}

fn deepest(entries: &[Entry]) -> usize {
    entries.iter().map(|e| e.level).max().unwrap_or(0)
}

struct Walk<'a> {
    entries: &'a [Entry],
    roles: &'a [Role],
    target: usize,
    has_password: bool,
    analysis: Analysis,
    paths: usize,
}

impl Walk<'_> {
    fn outcomes(&self, index: usize) -> &'static [Outcome] {
        use Outcome::*;
        match self.roles[index] {
            Role::Mfa if index == self.target => &[Success, AuthErr, Unavailable],
            Role::Mfa | Role::Password | Role::Other => &[Success, AuthErr],
            Role::Deny | Role::RootOk => &[AuthErr],
            Role::Permit => &[Success],
            Role::Broken => &[Broken],
            Role::Substack => &[],
        }
    }

    fn run(&mut self, mut state: State) {
        loop {
            if self.paths >= MAX_PATHS {
                self.analysis.incomplete = true;
                return;
            }
            let Some(entry) = self.entries.get(state.pos) else {
                self.finish(&state);
                return;
            };
            let level = entry.level;
            if state.prev_level < level {
                state.saved[level] = (state.impression, state.status_ok);
            }
            let outcomes = self.outcomes(state.pos);
            let Some((last, rest)) = outcomes.split_last() else {
                // The substack line itself runs nothing (libpam skips its handler).
                state.prev_level = level;
                state.pos += 1;
                continue;
            };
            for outcome in rest {
                let mut branch = state.clone();
                self.step(&mut branch, *outcome);
                self.run(branch);
            }
            self.step(&mut state, *last);
        }
    }

    /// Applies one module's result, libpam's way, and moves to the next entry.
    fn step(&mut self, state: &mut State, outcome: Outcome) {
        let pos = state.pos;
        let entry = &self.entries[pos];
        let level = entry.level;
        if pos == self.target {
            state.mfa = Some(outcome);
        }
        if self.roles[pos] == Role::Password && outcome == Outcome::Success {
            state.password_ok = true;
        }
        let success = outcome == Outcome::Success;
        let mut next = pos + 1;
        match entry.actions.action(outcome.value()) {
            Action::Reset => (state.impression, state.status_ok) = state.saved[level],
            action @ (Action::Ok | Action::Done) => {
                if state.impression == Impression::Undefined
                    || (state.impression == Impression::Positive && state.status_ok)
                {
                    state.impression = Impression::Positive;
                    state.status_ok = success;
                }
                if action == Action::Done && state.impression == Impression::Positive {
                    next = self.end_of_level(pos);
                }
            }
            action @ (Action::Bad | Action::Die) => {
                if state.impression != Impression::Negative {
                    state.impression = Impression::Negative;
                    state.status_ok = false;
                }
                if action == Action::Die {
                    next = self.end_of_level(pos);
                }
            }
            Action::Ignore => {}
            Action::Jump(n) => {
                let (after, left) = self.jump(pos, n);
                if left > 0 {
                    // libpam: "bad jump in stack".
                    state.impression = Impression::Negative;
                    state.status_ok = false;
                }
                next = after;
            }
        }
        if pos < self.target && self.target < next {
            state.skipper = Some(pos);
        }
        state.prev_level = level;
        state.pos = next;
    }

    /// The entry after the last one of `pos`'s level (a decision ends that level).
    fn end_of_level(&self, pos: usize) -> usize {
        let level = self.entries[pos].level;
        let mut p = pos;
        while p + 1 < self.entries.len() && self.entries[p + 1].level >= level {
            p += 1;
        }
        p + 1
    }

    /// The entry after skipping `n` modules of `pos`'s level (a substack counts as one), and
    /// how many could not be skipped.
    fn jump(&self, pos: usize, n: u32) -> (usize, u32) {
        let level = self.entries[pos].level;
        let mut p = pos;
        let mut left = n;
        while p + 1 < self.entries.len() && self.entries[p + 1].level >= level && left > 0 {
            p += 1;
            while p + 1 < self.entries.len() && self.entries[p + 1].level > level {
                p += 1;
            }
            left -= 1;
        }
        (p + 1, left)
    }

    /// One combination walked to its end: note what a successful login went through.
    fn finish(&mut self, state: &State) {
        self.paths += 1;
        if state.impression != Impression::Positive || !state.status_ok {
            return;
        }
        match state.mfa {
            Some(Outcome::AuthErr) => self.analysis.wrong_code_passes = true,
            Some(Outcome::Unavailable) => self.analysis.unavailable_passes = true,
            Some(Outcome::Success) if self.has_password && !state.password_ok => {
                self.analysis.code_alone_passes = true;
            }
            Some(_) => {}
            None => self.analysis.skipped_by.extend(state.skipper),
        }
    }
}

#[cfg(test)]
mod tests;
