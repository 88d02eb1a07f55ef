//! Linux-PAM configuration files (`/etc/pam.d/SERVICE`) and the stacks they build.
//!
//! Syntax: `type control module arguments`, one rule per line, where a line ending in `\`
//! continues on the next and everything from `#` on is a comment. The type may start with
//! `-` (a missing module is then skipped silently). The control is a keyword (`required`,
//! `requisite`, `sufficient`, `optional`, `include`, `substack`) or a bracketed list of
//! `value=action` pairs, which may contain spaces; module arguments may be bracketed too.
//! `@include FILE` takes every rule of FILE; `include` and `substack` take the rules of one
//! type (see [`super::pamstack`]).

use std::path::Path;

/// A PAM management group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PamType {
    /// `auth`.
    Auth,
    /// `account`.
    Account,
    /// `password`.
    Password,
    /// `session`.
    Session,
}

impl PamType {
    fn parse(word: &str) -> Option<PamType> {
        match word.to_ascii_lowercase().as_str() {
            "auth" => Some(PamType::Auth),
            "account" => Some(PamType::Account),
            "password" => Some(PamType::Password),
            "session" => Some(PamType::Session),
            _ => None,
        }
    }

    /// The word in a PAM file.
    pub fn as_str(self) -> &'static str {
        match self {
            PamType::Auth => "auth",
            PamType::Account => "account",
            PamType::Password => "password",
            PamType::Session => "session",
        }
    }
}

/// What libpam does with one module's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Forget the result.
    Ignore,
    /// Count it (a failure fails the stack; a success counts if nothing failed).
    Ok,
    /// Like `Ok`, and a success ends the stack (or the substack) there.
    Done,
    /// A failure of the stack, which goes on.
    Bad,
    /// A failure of the stack, which ends there.
    Die,
    /// Back to the state at the start of the (sub)stack.
    Reset,
    /// Skip the next N modules of this level.
    Jump(u32),
}

impl Action {
    fn parse(word: &str) -> Option<Action> {
        Some(match word.to_ascii_lowercase().as_str() {
            "ignore" => Action::Ignore,
            "ok" => Action::Ok,
            "done" => Action::Done,
            "bad" => Action::Bad,
            "die" => Action::Die,
            "reset" => Action::Reset,
            n => Action::Jump(n.parse().ok().filter(|n| *n > 0)?),
        })
    }
}

/// A control as `value=action` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actions {
    pairs: Vec<(String, Action)>,
}

impl Actions {
    /// Actions from `(value, action)` pairs.
    pub(crate) fn from_pairs(pairs: &[(&str, Action)]) -> Actions {
        Actions {
            pairs: pairs.iter().map(|(v, a)| ((*v).to_owned(), *a)).collect(),
        }
    }

    /// The action for the PAM result named `value` (`success`, `auth_err`, …): its own
    /// pair, else `default`, else `bad` (as libpam fills the gaps).
    pub fn action(&self, value: &str) -> Action {
        let find = |key: &str| self.pairs.iter().find(|(v, _)| v == key).map(|(_, a)| *a);
        find(value)
            .or_else(|| find("default"))
            .unwrap_or(Action::Bad)
    }
}

/// The names libpam accepts on the left of `=` in a bracketed control.
const RETURN_VALUES: &[&str] = &[
    "success",
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "new_authtok_reqd",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "ignore",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
    "conv_again",
    "incomplete",
    "default",
];

/// The second field of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    /// A keyword or bracketed list; `text` is as written.
    Actions {
        /// As written: `required`, `[success=1 default=ignore]`.
        text: String,
        /// What it means.
        actions: Actions,
    },
    /// `include`: the rules of the same type from another file, in place.
    Include,
    /// `substack`: the same, as one nested module.
    Substack,
}

impl Control {
    fn parse(text: &str) -> Result<Control, String> {
        let simple = |pairs: &[(&str, Action)]| {
            Ok(Control::Actions {
                text: text.to_owned(),
                actions: Actions::from_pairs(pairs),
            })
        };
        match text.to_ascii_lowercase().as_str() {
            "required" => simple(&[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("ignore", Action::Ignore),
                ("default", Action::Bad),
            ]),
            "requisite" => simple(&[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("ignore", Action::Ignore),
                ("default", Action::Die),
            ]),
            "sufficient" => simple(&[
                ("success", Action::Done),
                ("new_authtok_reqd", Action::Done),
                ("default", Action::Ignore),
            ]),
            "optional" => simple(&[
                ("success", Action::Ok),
                ("new_authtok_reqd", Action::Ok),
                ("default", Action::Ignore),
            ]),
            "include" => Ok(Control::Include),
            "substack" => Ok(Control::Substack),
            _ => {
                let inner = text
                    .strip_prefix('[')
                    .and_then(|t| t.strip_suffix(']'))
                    .ok_or_else(|| format!("unknown control `{text}`"))?;
                let mut pairs = Vec::new();
                for pair in inner.split_whitespace() {
                    let (value, action) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("`{pair}` in `{text}` is not value=action"))?;
                    let value = value.to_ascii_lowercase();
                    if !RETURN_VALUES.contains(&value.as_str()) {
                        return Err(format!("unknown PAM result `{value}` in `{text}`"));
                    }
                    let action = Action::parse(action)
                        .ok_or_else(|| format!("unknown action `{action}` in `{text}`"))?;
                    pairs.push((value, action));
                }
                Ok(Control::Actions {
                    text: text.to_owned(),
                    actions: Actions { pairs },
                })
            }
        }
    }
}

/// One rule or `@include` of a PAM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    /// `@include FILE`: every rule of FILE.
    IncludeAll(String),
    /// `type control module arguments`.
    Module {
        /// The management group.
        kind: PamType,
        /// A leading `-` on the type: a missing module is skipped without a word.
        quiet: bool,
        /// The control.
        control: Control,
        /// The module path as written (for `include`/`substack`: the file).
        module: String,
        /// The module's arguments.
        args: Vec<String>,
    },
}

/// A rule and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PamLine {
    /// The line the rule starts on (1-based).
    pub line: usize,
    /// The rule.
    pub rule: Rule,
}

/// A line libpam cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Its line.
    pub line: usize,
    /// Its type, when that much could be read (else it breaks every type's stack).
    pub kind: Option<PamType>,
    /// What is wrong with it.
    pub what: String,
}

/// A parsed PAM file: its rules, and the lines libpam cannot use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PamFile {
    /// The rules, in order.
    pub lines: Vec<PamLine>,
    /// The lines libpam rejects.
    pub problems: Vec<Problem>,
}

impl PamFile {
    fn problem(&mut self, line: usize, kind: Option<PamType>, what: String) {
        self.problems.push(Problem { line, kind, what });
    }
}

/// Parses the text of one PAM file.
pub(crate) fn parse_file(text: &str) -> PamFile {
    let mut file = PamFile::default();
    for (line, logical) in logical_lines(text) {
        let words = split_words(&logical);
        let Some(first) = words.first() else {
            continue;
        };
        if first == "@include" {
            match words.get(1) {
                Some(name) => file.lines.push(PamLine {
                    line,
                    rule: Rule::IncludeAll(name.clone()),
                }),
                None => file.problem(line, None, "`@include` without a file name".to_owned()),
            }
            continue;
        }
        let (quiet, type_word) = match first.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, first.as_str()),
        };
        let Some(kind) = PamType::parse(type_word) else {
            file.problem(line, None, format!("unknown module type `{first}`"));
            continue;
        };
        let (Some(control), Some(module)) = (words.get(1), words.get(2)) else {
            file.problem(
                line,
                Some(kind),
                "a rule needs a type, a control and a module".to_owned(),
            );
            continue;
        };
        match Control::parse(control) {
            Ok(control) => file.lines.push(PamLine {
                line,
                rule: Rule::Module {
                    kind,
                    quiet,
                    control,
                    module: module.clone(),
                    args: words[3..].to_vec(),
                },
            }),
            Err(why) => file.problem(line, Some(kind), why),
        }
    }
    file
}

/// The lines of `text` with continuations joined and comments removed, each with the
/// number of the line it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let (start, mut joined) = current.take().unwrap_or((index + 1, String::new()));
        match raw.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                current = Some((start, joined));
            }
            None => {
                joined.push_str(raw);
                out.push((start, joined));
            }
        }
    }
    out.extend(current);
    for (_, line) in &mut out {
        if let Some(at) = line.find('#') {
            line.truncate(at);
        }
    }
    out
}

/// Splits a logical line into words; a word starting with `[` runs to its `]` (spaces
/// included, `\]` escaping a bracket). For arguments the brackets are removed, as libpam
/// does; a bracketed control keeps them.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            break;
        };
        let mut word = String::new();
        if first == '[' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&']') => word.push(']'),
                    ']' => break,
                    c => word.push(c),
                }
            }
            // The control (second word) keeps its brackets; arguments lose them.
            if words.len() == 1 {
                word = format!("[{word}]");
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        words.push(word);
    }
    words
}

/// Whether `module` names pam_mfa: `pam_mfa.so`, or an absolute path ending in it.
pub(crate) fn is_mfa(module: &str) -> bool {
    module == "pam_mfa.so" || (module.starts_with('/') && module.ends_with("/pam_mfa.so"))
}

/// The file name of a module path: `pam_unix.so` for `/lib/security/pam_unix.so`.
pub(crate) fn module_name(module: &str) -> &str {
    Path::new(module)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(module)
}

#[cfg(test)]
mod tests;
