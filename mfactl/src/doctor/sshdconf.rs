//! `sshd_config` read with sshd's own rules (OpenSSH 9.x): keywords are case-insensitive; the
//! first value obtained wins; `Include` takes glob patterns (relative ones under `/etc/ssh`)
//! and is expanded in place; a `Match` block lasts until the next `Match` or the end of its
//! file, and its settings apply only to the connections it matches.

use std::io;
use std::path::{Path, PathBuf};

use super::fs::{Fs, Root};
use super::{Finding, Severity};

/// Where sshd's configuration is.
pub(crate) const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
/// sshd refuses deeper `Include` nesting (SERVCONF_MAX_DEPTH).
const MAX_INCLUDE_DEPTH: usize = 16;

/// One `Keyword arguments` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// The keyword in lower case.
    pub keyword: String,
    /// The keyword as written.
    pub written: String,
    /// The arguments, quotes removed.
    pub args: Vec<String>,
    /// The file it is in.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
    /// The `Match` block it is in (an index into [`SshdConfig::blocks`]), if any.
    pub block: Option<usize>,
}

impl Directive {
    /// The line as sshd reads it: `KbdInteractiveAuthentication no`.
    pub(crate) fn text(&self) -> String {
        format!("{} {}", self.written, self.args.join(" "))
    }
}

/// One `Match` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MatchBlock {
    /// Its criteria as written (`User backup`).
    pub criteria: String,
    /// The file it is in.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
}

/// sshd's configuration with every `Include` expanded in place.
#[derive(Debug)]
pub(crate) struct SshdConfig {
    /// `/etc/ssh/sshd_config` (under the root).
    pub main: PathBuf,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
    /// Every setting, in the order sshd reads them.
    pub directives: Vec<Directive>,
    /// The `Match` blocks.
    pub blocks: Vec<MatchBlock>,
    /// What kept a file from being read.
    pub problems: Vec<Finding>,
}

/// Reads sshd's configuration; `None` when there is no `sshd_config` (no sshd).
pub(crate) fn read(root: &Root, fs: &dyn Fs) -> Option<SshdConfig> {
    let main = root.path(SSHD_CONFIG);
    let text = match fs.read(&main) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        other => other,
    };
    let mut parser = Parser {
        root,
        fs,
        chain: vec![main.clone()],
        config: SshdConfig {
            main: main.clone(),
            files: Vec::new(),
            directives: Vec::new(),
            blocks: Vec::new(),
            problems: Vec::new(),
        },
    };
    match text {
        Ok(text) => parser.file(&main, &text, None),
        Err(e) => parser.unreadable(&main, None, &e),
    }
    Some(parser.config)
}

struct Parser<'a> {
    root: &'a Root,
    fs: &'a dyn Fs,
    /// The files being read, outermost first (to catch an `Include` loop).
    chain: Vec<PathBuf>,
    config: SshdConfig,
}

impl Parser<'_> {
    /// Reads one file's lines; `block` is the `Match` block its `Include` line was in.
    fn file(&mut self, path: &Path, text: &str, mut block: Option<usize>) {
        self.config.files.push(path.to_path_buf());
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let Some((written, args)) = split_line(raw) else {
                continue;
            };
            let keyword = written.to_ascii_lowercase();
            match keyword.as_str() {
                "match" => {
                    self.config.blocks.push(MatchBlock {
                        criteria: args.join(" "),
                        file: path.to_path_buf(),
                        line,
                    });
                    block = Some(self.config.blocks.len() - 1);
                }
                "include" => {
                    for pattern in &args {
                        self.include(path, line, pattern, block);
                    }
                }
                _ => self.config.directives.push(Directive {
                    keyword,
                    written,
                    args,
                    file: path.to_path_buf(),
                    line,
                    block,
                }),
            }
        }
    }

    /// Expands one `Include` pattern in place. A `Match` inside the included file ends with
    /// that file, as in sshd.
    fn include(&mut self, from: &Path, line: usize, pattern: &str, block: Option<usize>) {
        let absolute = if pattern.starts_with('/') {
            pattern.to_owned()
        } else {
            format!("/etc/ssh/{pattern}")
        };
        for path in self.fs.glob(&self.root.pattern(&absolute)) {
            if self.chain.contains(&path) || self.chain.len() >= MAX_INCLUDE_DEPTH {
                self.config.problems.push(
                    Finding::new(
                        "sshd-include",
                        Severity::Error,
                        format!(
                            "`Include {pattern}` includes {} again (an Include loop): sshd \
                             refuses to start, and nobody can log in over SSH.",
                            path.display()
                        ),
                        "Remove the Include that leads back to a file already being read.",
                    )
                    .at(from, Some(line)),
                );
                continue;
            }
            match self.fs.read(&path) {
                Ok(text) => {
                    self.chain.push(path.clone());
                    self.file(&path, &text, block);
                    self.chain.pop();
                }
                Err(e) => self.unreadable(&path, Some((from, line)), &e),
            }
        }
    }

    /// A file sshd would read but doctor cannot.
    fn unreadable(&mut self, path: &Path, from: Option<(&Path, usize)>, e: &io::Error) {
        let root = nix::unistd::geteuid().is_root();
        let finding = if e.kind() == io::ErrorKind::PermissionDenied && !root {
            Finding::new(
                "sshd-unreadable",
                Severity::Note,
                format!(
                    "{} cannot be read without root ({e}): the sshd checks did not see it.",
                    path.display()
                ),
                "Run `sudo mfactl doctor` for the full check.",
            )
        } else {
            Finding::new(
                "sshd-unreadable",
                Severity::Error,
                format!(
                    "{} cannot be read ({e}): sshd will not start with it, and nobody can \
                     log in over SSH.",
                    path.display()
                ),
                "Make the file readable by root, or remove it (and the Include naming it).",
            )
        };
        let finding = match from {
            Some((file, line)) => finding.at(file, Some(line)),
            None => finding.at(path, None),
        };
        self.config.problems.push(finding);
    }
}

/// A line's keyword (as written) and arguments; `None` for blanks and comments. The keyword
/// ends at white space or `=`; one `=` between keyword and arguments is allowed.
pub(crate) fn split_line(raw: &str) -> Option<(String, Vec<String>)> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    Some((keyword.to_owned(), split_args(rest)))
}

/// Arguments as OpenSSH splits them: white space separates, single or double quotes group,
/// a backslash escapes a quote, a backslash or a space, and an unquoted `#` starting an
/// argument begins a comment.
fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            break;
        };
        if first == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _)
                    if chars
                        .peek()
                        .is_some_and(|n| matches!(n, '\\' | '"' | '\'' | ' ')) =>
                {
                    arg.extend(chars.next());
                }
                (q @ ('"' | '\''), None) => quote = Some(q),
                (q, Some(open)) if q == open => quote = None,
                (c, None) if c.is_whitespace() => break,
                (c, _) => arg.push(c),
            }
        }
        args.push(arg);
    }
    args
}

/// The settings as one group of connections sees them: a `Match` block's own values first,
/// then the global ones, then sshd's defaults.
pub(crate) struct View<'a> {
    /// The whole configuration.
    pub config: &'a SshdConfig,
    /// The `Match` block whose connections are seen, or `None` for the global settings.
    pub block: Option<usize>,
}

impl<'a> View<'a> {
    /// The setting that decides `keys`, if any line sets it.
    pub(crate) fn get(&self, keys: &[&str]) -> Option<&'a Directive> {
        let first = |block: Option<usize>| {
            self.config
                .directives
                .iter()
                .find(|d| d.block == block && keys.contains(&d.keyword.as_str()))
        };
        match self.block {
            Some(b) => first(Some(b)).or_else(|| first(None)),
            None => first(None),
        }
    }

    /// A yes/no setting and the line that decides it (`None`: sshd's default). A value sshd
    /// does not accept counts as the default (the sshd checks report it).
    pub(crate) fn flag(&self, keys: &[&str], default: bool) -> (bool, Option<&'a Directive>) {
        let directive = self.get(keys);
        let value = directive.and_then(parse_flag).unwrap_or(default);
        (value, directive)
    }
}

/// `yes` or `no` in any case; `None` for anything else.
pub(crate) fn parse_flag(d: &Directive) -> Option<bool> {
    match d.args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
        Some("yes") if d.args.len() == 1 => Some(true),
        Some("no") if d.args.len() == 1 => Some(false),
        _ => None,
    }
}
