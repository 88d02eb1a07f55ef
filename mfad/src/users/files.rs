//! A copy of `/etc/passwd` kept in memory, answering exactly as glibc's NSS `files` module
//! would, for hosts whose `passwd:` line in `/etc/nsswitch.conf` starts with `files`.
//!
//! Why: glibc reads and parses `/etc/passwd` line by line on every `getpwnam`, so with
//! 10,000 local accounts each login's lookup cost 0.37 ms of mfad's CPU, a third of it under
//! load. This copy answers in microseconds and keeps NSS's semantics:
//!
//! - It is used only when `files` is the first source with no action after it, so a name it
//!   finds is the one glibc returns (the first matching line), and a name it does not find
//!   goes to the real `getpwnam` (the next sources: `systemd`, `sss`, …).
//! - Every lookup first compares `stat` of `/etc/passwd` and `/etc/nsswitch.conf` (device,
//!   inode, size, change and modification times) with the copy's; any change re-reads them,
//!   so a removed or changed account takes effect at the next login, as without the copy.
//! - A file changed less than [`RACY_SECS`] before it was read is not kept: file times tick
//!   at the kernel's coarse clock, so a second same-size write in the same tick would keep
//!   the same times ("racily clean", as git calls it). Such a file is read again next time.
//! - Any line it does not parse in the plain form (seven fields, decimal UID and GID, a name
//!   that is not a NIS `+`/`-` entry) turns the copy off for that file: glibc has rules for
//!   those (whitespace, signs, compat entries) that are not worth repeating.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::Account;

/// A file changed this recently is read again on the next lookup, not kept.
pub const RACY_SECS: u64 = 2;

/// Files larger than this are not copied (glibc is used instead).
const MAX_PASSWD_BYTES: u64 = 32 << 20;

/// What glibc would answer from the `files` source, when the copy can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The account of the first matching line.
    Found(Account),
    /// The copy cannot answer (no such line, the copy is off, a file unreadable): ask NSS.
    AskNss,
}

/// The identity of a file's current contents, as far as `stat` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = fs::metadata(path).ok()?;
        Some(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// Whether the file changed within `racy_secs` of `now` (or in the future).
    fn is_racy(&self, now: SystemTime, racy_secs: u64) -> bool {
        let changed = self.mtime.0.max(self.ctime.0);
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        racy_secs > 0 && changed >= now.saturating_sub(i64::try_from(racy_secs).unwrap_or(i64::MAX))
    }
}

/// The parsed `/etc/passwd`, or `None` where the copy is off.
#[derive(Debug)]
struct Snapshot {
    passwd: Stamp,
    nsswitch: Stamp,
    /// `None`: NSS does not consult `files` first, or a line is not plain.
    by_name: Option<HashMap<String, Account>>,
    by_uid: HashMap<u32, Account>,
}

/// The in-memory copy; cheap to share between threads.
#[derive(Debug)]
pub struct PasswdFiles {
    passwd: PathBuf,
    nsswitch: PathBuf,
    racy_secs: u64,
    current: Mutex<Option<Arc<Snapshot>>>,
}

impl Default for PasswdFiles {
    fn default() -> Self {
        PasswdFiles::new("/etc/passwd", "/etc/nsswitch.conf", RACY_SECS)
    }
}

impl PasswdFiles {
    /// A copy of `passwd` used as `nsswitch` says, not kept while either file changed less
    /// than `racy_secs` ago (tests pass their own files, and 0 to keep files just written).
    pub fn new(passwd: impl Into<PathBuf>, nsswitch: impl Into<PathBuf>, racy_secs: u64) -> Self {
        PasswdFiles {
            passwd: passwd.into(),
            nsswitch: nsswitch.into(),
            racy_secs,
            current: Mutex::new(None),
        }
    }

    /// The account called `name`, as glibc's `files` source would return it.
    pub fn by_name(&self, name: &str) -> Answer {
        self.with_snapshot(|s| s.by_name.as_ref().and_then(|m| m.get(name).cloned()))
    }

    /// The first account with `uid`, as glibc's `files` source would return it.
    pub fn by_uid(&self, uid: u32) -> Answer {
        self.with_snapshot(|s| {
            s.by_name.as_ref()?;
            s.by_uid.get(&uid).cloned()
        })
    }

    fn with_snapshot(&self, find: impl FnOnce(&Snapshot) -> Option<Account>) -> Answer {
        let (Some(passwd), Some(nsswitch)) = (Stamp::of(&self.passwd), Stamp::of(&self.nsswitch))
        else {
            return Answer::AskNss;
        };
        let kept = self
            .current
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(Arc::clone))
            .filter(|s| s.passwd == passwd && s.nsswitch == nsswitch);
        let snapshot = match kept {
            Some(s) => s,
            None => {
                let Some(fresh) = self.read(passwd, nsswitch) else {
                    return Answer::AskNss;
                };
                let fresh = Arc::new(fresh);
                let now = SystemTime::now();
                if let Ok(mut c) = self.current.lock() {
                    let racy = |s: Stamp| s.is_racy(now, self.racy_secs);
                    *c = (!racy(passwd) && !racy(nsswitch)).then(|| Arc::clone(&fresh));
                }
                fresh
            }
        };
        find(&snapshot).map_or(Answer::AskNss, Answer::Found)
    }

    /// Reads both files; `None` if either cannot be read or changed while being read.
    fn read(&self, passwd: Stamp, nsswitch: Stamp) -> Option<Snapshot> {
        let files_first = files_first(&fs::read_to_string(&self.nsswitch).ok()?);
        let (by_name, by_uid) = if files_first && passwd.size <= MAX_PASSWD_BYTES {
            let text = fs::read(&self.passwd).ok()?;
            match parse_passwd(&text) {
                Some((n, u)) => (Some(n), u),
                None => (None, HashMap::new()),
            }
        } else {
            (None, HashMap::new())
        };
        // Changed under us: use nothing from this read.
        if Stamp::of(&self.passwd)? != passwd || Stamp::of(&self.nsswitch)? != nsswitch {
            return None;
        }
        Some(Snapshot {
            passwd,
            nsswitch,
            by_name,
            by_uid,
        })
    }
}

/// Whether the `passwd:` line of `nsswitch.conf` names `files` first with no action after it
/// (glibc: a `files` hit is then the answer; a miss goes on to the next source). Anything
/// glibc versions might read differently (several `passwd` lines, other case, leading
/// blanks) answers no, and glibc is asked.
fn files_first(nsswitch: &str) -> bool {
    let mut passwd_lines = nsswitch.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let (db, sources) = line.split_once(':')?;
        db.trim()
            .eq_ignore_ascii_case("passwd")
            .then_some((db, sources))
    });
    let (Some((db, sources)), None) = (passwd_lines.next(), passwd_lines.next()) else {
        return false;
    };
    let mut words = sources.split_whitespace();
    db == "passwd"
        && words.next() == Some("files")
        && !words.next().is_some_and(|w| w.starts_with('['))
}

type Maps = (HashMap<String, Account>, HashMap<u32, Account>);

/// Parses `/etc/passwd`; `None` if any line is not in the plain form.
fn parse_passwd(text: &[u8]) -> Option<Maps> {
    let text = std::str::from_utf8(text).ok()?;
    let mut by_name = HashMap::new();
    let mut by_uid = HashMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _pw, uid, gid, _gecos, _dir, _shell] = fields[..] else {
            return None;
        };
        let plain_number = |s: &str| -> Option<u32> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let (uid, gid) = (plain_number(uid)?, plain_number(gid)?);
        let first = name.bytes().next()?;
        if matches!(first, b'+' | b'-' | b'#') || first.is_ascii_whitespace() {
            return None;
        }
        let account = Account {
            name: name.to_owned(),
            uid,
            gid,
        };
        by_uid.entry(uid).or_insert_with(|| account.clone());
        by_name.entry(name.to_owned()).or_insert(account);
    }
    Some((by_name, by_uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn account(name: &str, uid: u32, gid: u32) -> Account {
        Account {
            name: name.into(),
            uid,
            gid,
        }
    }

    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// Files whose modification times are set in the past.
    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new(passwd: &str, nsswitch: &str) -> Files {
            let f = Files {
                dir: tempfile::tempdir().unwrap(),
            };
            f.write("passwd", passwd);
            f.write("nsswitch.conf", nsswitch);
            f
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn write(&self, name: &str, text: &str) {
            self.write_bytes(name, text.as_bytes());
        }

        fn write_bytes(&self, name: &str, bytes: &[u8]) {
            let path = self.path(name);
            let mut file = fs::File::create(&path).unwrap();
            file.write_all(bytes).unwrap();
            // A different time per write, as a later real edit would have.
            let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let old = SystemTime::now() - Duration::from_secs(600 - n);
            file.set_modified(old).unwrap();
        }

        /// Keeps files however recent (their change time cannot be set back).
        fn cache(&self) -> PasswdFiles {
            PasswdFiles::new(self.path("passwd"), self.path("nsswitch.conf"), 0)
        }
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
                          bob:x:1001:100::/home/bob:\n\
                          alice:x:2000:2000:second alice:/:/bin/sh\n\
                          twin:x:1000:5::/:\n";

    #[test]
    fn answers_like_glibc_files_first_line_wins() {
        let f = Files::new(PASSWD, "passwd: files systemd\ngroup: files\n");
        let c = f.cache();
        assert_eq!(
            c.by_name("alice"),
            Answer::Found(account("alice", 1000, 1000))
        );
        assert_eq!(c.by_name("bob"), Answer::Found(account("bob", 1001, 100)));
        assert_eq!(c.by_uid(1000), Answer::Found(account("alice", 1000, 1000)));
        assert_eq!(c.by_uid(0), Answer::Found(account("root", 0, 0)));
        // Not in files: the next source (systemd, sss, …) is glibc's business.
        assert_eq!(c.by_name("carol"), Answer::AskNss);
        assert_eq!(c.by_name("Alice"), Answer::AskNss);
        assert_eq!(c.by_uid(4242), Answer::AskNss);
    }

    #[test]
    fn the_copy_is_kept_and_a_change_is_seen_at_the_next_lookup() {
        let f = Files::new(PASSWD, "passwd: files\n");
        let c = f.cache();
        assert!(matches!(c.by_name("bob"), Answer::Found(_)));
        assert!(c.current.lock().unwrap().is_some(), "old files are kept");
        // bob removed (same inode, other size), then changed in place with the same length:
        // the times differ (the files were written a minute "ago").
        f.write(
            "passwd",
            &PASSWD.replace("bob:x:1001:100::/home/bob:\n", ""),
        );
        assert_eq!(c.by_name("bob"), Answer::AskNss);
        f.write("passwd", &PASSWD.replace("bob:x:1001", "bob:x:1002"));
        assert_eq!(c.by_name("bob"), Answer::Found(account("bob", 1002, 100)));
        // nsswitch.conf changes too: sss first means glibc asks sssd before files.
        f.write("nsswitch.conf", "passwd: sss files\n");
        assert_eq!(c.by_name("bob"), Answer::AskNss);
    }

    #[test]
    fn a_file_changed_just_now_is_not_kept() {
        let f = Files::new(PASSWD, "passwd: files\n");
        let c = PasswdFiles::new(f.path("passwd"), f.path("nsswitch.conf"), RACY_SECS);
        assert_eq!(c.by_name("bob"), Answer::Found(account("bob", 1001, 100)));
        assert!(
            c.current.lock().unwrap().is_none(),
            "racy file is read again"
        );
        let c = f.cache();
        assert_eq!(c.by_name("bob"), Answer::Found(account("bob", 1001, 100)));
        assert!(c.current.lock().unwrap().is_some());
    }

    #[test]
    fn only_files_first_without_an_action_uses_the_copy() {
        for (conf, used) in [
            ("passwd: files\n", true),
            ("passwd:\tfiles systemd # comment\n", true),
            ("# passwd: sss\npasswd: files\nshadow: sss\n", true),
            ("PASSWD: sss\npasswd: files\n", false),
            (" passwd: files\n", false),
            ("Passwd: files\n", false),
            ("passwd: files\npasswd: files\n", false),
            ("passwd: files [NOTFOUND=return] ldap\n", false),
            ("passwd: files [SUCCESS=continue] ldap\n", false),
            ("passwd: sss files\n", false),
            ("passwd: compat\n", false),
            ("passwd: filesx\n", false),
            ("group: files\n", false),
            ("passwd: sss\npasswd: files\n", false),
            ("", false),
        ] {
            assert_eq!(files_first(conf), used, "{conf:?}");
            let f = Files::new(PASSWD, conf);
            let expected = if used {
                Answer::Found(account("bob", 1001, 100))
            } else {
                Answer::AskNss
            };
            assert_eq!(f.cache().by_name("bob"), expected, "{conf:?}");
        }
    }

    #[test]
    fn a_line_that_is_not_plain_turns_the_copy_off() {
        for odd in [
            "+:::::::\n",
            "+nis::0:0:::\n",
            "-bob:x:1:1:::\n",
            "#comment:x:1:1:::\n",
            " bob:x:1:1:::\n",
            "bob:x: 1:1:::\n",
            "bob:x:+1:1:::\n",
            "bob:x:-1:1:::\n",
            "bob:x:1:1::\n",
            "bob:x:1:1::::\n",
            "bob:x::1:::\n",
            "bob:x:99999999999:1:::\n",
            ":x:1:1:::\n",
            "# a comment\n",
        ] {
            let f = Files::new(
                &format!("root:x:0:0:::\n{odd}alice:x:5:5:::\n"),
                "passwd: files\n",
            );
            assert_eq!(f.cache().by_name("alice"), Answer::AskNss, "{odd:?}");
            assert_eq!(f.cache().by_uid(0), Answer::AskNss, "{odd:?}");
        }
        let f = Files::new(PASSWD, "passwd: files\n");
        f.write_bytes("passwd", b"root:x:0:0:::\n\xff:x:1:1:::\n");
        assert_eq!(f.cache().by_name("root"), Answer::AskNss);
    }

    #[test]
    fn missing_files_ask_nss() {
        let f = Files::new(PASSWD, "passwd: files\n");
        fs::remove_file(f.path("passwd")).unwrap();
        assert_eq!(f.cache().by_name("root"), Answer::AskNss);
        let f = Files::new(PASSWD, "passwd: files\n");
        fs::remove_file(f.path("nsswitch.conf")).unwrap();
        assert_eq!(f.cache().by_name("root"), Answer::AskNss);
    }
}
