//! Where doctor reads: `--root`, and the few file-system calls the parsers make, behind a
//! trait so the parsers are tested on text held in memory.

use std::io;
use std::path::{Path, PathBuf};

/// The directory the configuration is read under (`--root`, `/` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Root {
    dir: PathBuf,
}

impl Root {
    /// `dir` made absolute (symbolic links are kept as they are).
    pub fn new(dir: &Path) -> io::Result<Root> {
        let dir = std::path::absolute(dir)?;
        Ok(Root { dir })
    }

    /// Whether this is the running system's own `/`.
    pub fn is_host(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the absolute path `abs` of the checked system is, as read from here.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        let relative = abs.strip_prefix("/").unwrap_or(abs);
        self.dir.join(relative)
    }

    /// The glob pattern `abs` (a pattern of the checked system) under this root, the root's
    /// own name escaped so that a `[` in it is not read as a pattern.
    pub fn pattern(&self, abs: &str) -> String {
        let relative = abs.trim_start_matches('/');
        let dir = glob::Pattern::escape(&self.dir.to_string_lossy());
        if dir.ends_with('/') {
            format!("{dir}{relative}")
        } else {
            format!("{dir}/{relative}")
        }
    }
}

/// The reads the parsers make.
pub(crate) trait Fs {
    /// A whole text file.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// The paths matching a glob pattern, sorted as glob(3) sorts them.
    fn glob(&self, pattern: &str) -> Vec<PathBuf>;
    /// The names of the regular files (or links to them) in a directory, sorted.
    fn file_names(&self, dir: &Path) -> io::Result<Vec<String>>;
}

/// glob(3) as sshd calls it: `*` matches neither `/` nor a leading dot.
fn glob_options() -> glob::MatchOptions {
    glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    }
}

/// The largest configuration file doctor reads: far above any real one.
const MAX_FILE_LEN: u64 = 4 << 20;

/// The real file system.
pub(crate) struct RealFs;

impl Fs for RealFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        let len = std::fs::metadata(path)?.len();
        if len > MAX_FILE_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than {MAX_FILE_LEN} bytes"),
            ));
        }
        let bytes = std::fs::read(path)?;
        // A stray non-UTF-8 byte (a Latin-1 comment) must not hide the rest of the file.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        let Ok(paths) = glob::glob_with(pattern, glob_options()) else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        found.sort();
        found
    }

    fn file_names(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            // metadata() follows links: a link to a file counts, as for libpam.
            let is_file = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
            if is_file && let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Files held in memory, for the parser tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct MemFs {
    files: std::collections::BTreeMap<PathBuf, String>,
}

#[cfg(test)]
impl MemFs {
    /// Adds (or replaces) a file.
    pub fn with(mut self, path: &str, text: &str) -> MemFs {
        self.files.insert(PathBuf::from(path), text.to_owned());
        self
    }
}

#[cfg(test)]
impl Fs for MemFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        let Ok(pattern) = glob::Pattern::new(pattern) else {
            return Vec::new();
        };
        self.files
            .keys()
            .filter(|p| pattern.matches_path_with(p, glob_options()))
            .cloned()
            .collect()
    }

    fn file_names(&self, dir: &Path) -> io::Result<Vec<String>> {
        let names: Vec<String> = self
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        if names.is_empty() {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(names)
    }
}
