//! PAM stacks: a service's rules of one type, with `@include`, `include` and `substack`
//! followed, flattened into the list libpam walks. `include` lines are expanded in place;
//! `substack` lines open a nested level whose `done` and `die` end only the substack.

use std::path::{Path, PathBuf};

use super::pamconf::{Action, Actions, Control, PamFile, PamType, Rule, is_mfa};

/// What a stack entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A module.
    Module {
        /// As written.
        module: String,
        /// Its arguments.
        args: Vec<String>,
        /// The type had a leading `-`.
        quiet: bool,
    },
    /// The `substack` line itself; the substack's entries follow one level deeper.
    Substack,
    /// A line libpam cannot use (bad syntax, an unreadable or looping include): it fails.
    Broken(String),
}

/// One entry of a flattened stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The file the rule is in.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
    /// 0 for the service's own stack, one more inside each substack.
    pub level: usize,
    /// The control as written.
    pub control_text: String,
    /// The control's actions.
    pub actions: Actions,
    /// What it is.
    pub kind: EntryKind,
}

impl Entry {
    /// The module path, for module entries.
    pub fn module(&self) -> Option<&str> {
        match &self.kind {
            EntryKind::Module { module, .. } => Some(module),
            _ => None,
        }
    }

    /// The module's arguments (empty for other entries).
    pub fn args(&self) -> &[String] {
        match &self.kind {
            EntryKind::Module { args, .. } => args,
            _ => &[],
        }
    }

    /// Whether this entry is pam_mfa.
    pub fn is_mfa(&self) -> bool {
        self.module().is_some_and(is_mfa)
    }

    /// `auth required pam_mfa.so` style text for messages (arguments left out).
    pub fn text(&self) -> String {
        match &self.kind {
            EntryKind::Module { module, .. } => format!("{} {module}", self.control_text),
            EntryKind::Substack => format!("substack ({})", self.control_text),
            EntryKind::Broken(_) => "a line libpam cannot use".to_owned(),
        }
    }
}

/// The actions of a `substack` line (the substack is counted as one module) and of a broken
/// line (always a failure).
fn failing_actions() -> Actions {
    Actions::from_pairs(&[("default", Action::Bad)])
}

/// Files by path, as loaded; the source of the stacks.
pub(crate) trait Files {
    /// The parsed file at `path`, or why it cannot be read.
    fn get(&mut self, path: &Path) -> Result<&PamFile, String>;
    /// Where an included name points (relative names are under the PAM directory).
    fn resolve(&self, name: &str) -> PathBuf;
}

/// Libpam's limit on nested includes and substacks.
const MAX_DEPTH: usize = 16;

/// The flattened `kind` stack of the file at `path`.
pub(crate) fn flatten(files: &mut dyn Files, path: &Path, kind: PamType) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut chain = vec![path.to_path_buf()];
    expand(files, path, kind, 0, &mut chain, &mut out);
    out
}

fn expand(
    files: &mut dyn Files,
    path: &Path,
    kind: PamType,
    level: usize,
    chain: &mut Vec<PathBuf>,
    out: &mut Vec<Entry>,
) {
    let broken = |line: usize, why: String| Entry {
        file: path.to_path_buf(),
        line,
        level,
        control_text: String::new(),
        actions: failing_actions(),
        kind: EntryKind::Broken(why),
    };
    let file = match files.get(path) {
        Ok(file) => file.clone(),
        Err(why) => {
            out.push(broken(0, why));
            return;
        }
    };
    for problem in &file.problems {
        if problem.kind.is_none_or(|k| k == kind) {
            out.push(broken(problem.line, problem.what.clone()));
        }
    }
    for pam_line in &file.lines {
        let (target, nested) = match &pam_line.rule {
            Rule::IncludeAll(name) => (name, false),
            Rule::Module {
                kind: k,
                control: Control::Include,
                module,
                ..
            } if *k == kind => (module, false),
            Rule::Module {
                kind: k,
                control: Control::Substack,
                module,
                ..
            } if *k == kind => (module, true),
            Rule::Module {
                kind: k,
                quiet,
                control: Control::Actions { text, actions },
                module,
                args,
            } if *k == kind => {
                out.push(Entry {
                    file: path.to_path_buf(),
                    line: pam_line.line,
                    level,
                    control_text: text.clone(),
                    actions: actions.clone(),
                    kind: EntryKind::Module {
                        module: module.clone(),
                        args: args.clone(),
                        quiet: *quiet,
                    },
                });
                continue;
            }
            Rule::Module { .. } => continue,
        };
        let target_path = files.resolve(target);
        if chain.contains(&target_path) || chain.len() >= MAX_DEPTH {
            out.push(broken(
                pam_line.line,
                format!("including {target} again (an include loop)"),
            ));
            continue;
        }
        let level = if nested {
            out.push(Entry {
                file: path.to_path_buf(),
                line: pam_line.line,
                level,
                control_text: "substack".to_owned(),
                actions: failing_actions(),
                kind: EntryKind::Substack,
            });
            level + 1
        } else {
            level
        };
        let before = out.len();
        chain.push(target_path.clone());
        expand(files, &target_path, kind, level, chain, out);
        chain.pop();
        // An unreadable included file is reported at the line that includes it.
        for entry in &mut out[before..] {
            if entry.line == 0 && entry.file == target_path {
                entry.file = path.to_path_buf();
                entry.line = pam_line.line;
            }
        }
    }
}

#[cfg(test)]
mod tests;
