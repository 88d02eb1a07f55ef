//! Real logins (sshd + ssh, sudo, su, login) inside a private mount namespace.
//!
//! A [`RealEnv`] is a [`TestEnv`] (private bus, real mfad) plus everything the real login
//! programs need, without changing the host (recipes §3-§6):
//!
//! - The **calling test thread** moves into its own mount namespace (`unshare(CLONE_NEWNS)`
//!   affects only the calling thread; every process it starts inherits it), with private
//!   propagation, so no mount is ever seen outside. In it: a private copy of all of `/etc`
//!   (so `common-*`, `other`, … keep working, and our PAM services, sudoers and users go
//!   into the copy only), a tmpfs on `/run` (with `/run/sshd`, `/run/dbus`, an empty
//!   `utmp`), private empty `wtmp`/`btmp`/`lastlog`/`faillog`, and on request the test bus
//!   socket at `/run/dbus/system_bus_socket`. The namespace dies with the thread (the guard
//!   also switches the thread back when dropped), crash or not.
//! - **Throw-away users** (`mfat` + 6 random hex digits, `useradd -M -s /bin/sh` with a
//!   random UID from 200000 to 899999, a random password via `chpasswd`), created inside
//!   the namespace, so the host's user database is never touched, even if the test process
//!   is killed; `userdel -f` runs in `Drop` anyway.
//! - **Background programs** (sshd, an attacker's bus and mfad) are recorded and ended by
//!   their PID (TERM, then KILL) in `Drop`; their logs are printed when a test fails.
//!
//! Everything is started from the test's own thread after the namespace is entered, so
//! every program (the bus, mfad, mfactl, sshd, …) sees the same private `/etc` and `/run`.
//! Needs root. A program the tests need that is missing makes the test fail, naming the
//! Debian package to install ([`require_programs`]).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::env::TestEnv;
use crate::process::{CmdOutput, run, terminate};
use crate::totp::Totp;
use crate::{bin, pam_module, user_ids};

/// Deadline for one client run (ssh, sudo, su, useradd, …).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// `(program, Debian package)`: a program the real-login tests run.
pub type Program = (&'static str, &'static str);

/// sshd.
pub const SSHD: Program = ("sshd", "openssh-server");
/// The ssh client.
pub const SSH: Program = ("ssh", "openssh-client");
/// Host and client keys.
pub const SSH_KEYGEN: Program = ("ssh-keygen", "openssh-client");
/// sudo.
pub const SUDO: Program = ("sudo", "sudo");
/// Checks the private sudoers.
pub const VISUDO: Program = ("visudo", "sudo");
/// su (util-linux).
pub const SU: Program = ("su", "util-linux");
/// login (shadow's, package `login` on Debian 12).
pub const LOGIN: Program = ("login", "login");
/// Runs programs as another user without PAM.
pub const SETPRIV: Program = ("setpriv", "util-linux");
/// Throw-away users.
pub const USERADD: Program = ("useradd", "passwd");
/// Throw-away users.
pub const USERDEL: Program = ("userdel", "passwd");
/// Throw-away users' passwords.
pub const CHPASSWD: Program = ("chpasswd", "passwd");
/// The attacker's bus (and the test bus).
pub const DBUS_DAEMON: Program = ("dbus-daemon", "dbus-daemon");
/// TOTP codes.
pub const OATHTOOL: Program = ("oathtool", "oathtool");
/// Who owns a bus name (the harness's `TestEnv` uses it too). Package systemd on Debian 12.
pub const BUSCTL: Program = ("busctl", "systemd");
/// Copies `/etc`.
pub const CP: Program = ("cp", "coreutils");

/// What every [`RealEnv`] needs.
const BASE_PROGRAMS: &[Program] = &[
    SETPRIV,
    USERADD,
    USERDEL,
    CHPASSWD,
    DBUS_DAEMON,
    BUSCTL,
    OATHTOOL,
    CP,
];

/// Where programs are looked for: `PATH`, then the sbin directories (a root shell's `PATH`
/// may lack them).
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// Absolute path of `name`, if an executable of that name exists.
pub fn find_program(name: &str) -> Option<PathBuf> {
    search_dirs().into_iter().map(|d| d.join(name)).find(|p| {
        p.is_absolute()
            && fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Fails (panics) unless every program exists, naming the Debian packages to install.
/// A missing program is a failure, never a skip: CI must not go green without the tests.
#[track_caller]
pub fn require_programs(programs: &[Program]) {
    let missing: Vec<&Program> = programs
        .iter()
        .filter(|(name, _)| find_program(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let packages: BTreeSet<&str> = missing.iter().map(|(_, pkg)| *pkg).collect();
    let list: Vec<String> = missing
        .iter()
        .map(|(name, pkg)| format!("`{name}` (Debian package {pkg})"))
        .collect();
    panic!(
        "the real-login tests need programs that are not installed: {}.\n\
         Install them (`make deps`, or: apt-get install {}) and run the tests again.",
        list.join(", "),
        packages.into_iter().collect::<Vec<_>>().join(" ")
    );
}

/// Absolute path of a program checked by [`require_programs`].
pub fn program(name: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| panic!("`{name}` not found (require_programs first)"))
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut v = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut v))
        .expect("read /dev/urandom");
    v.iter().map(|b| format!("{b:02x}")).collect()
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).expect("path without NUL")
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

// ----- the mount namespace ---------------------------------------------------------------

/// The calling thread in its own mount namespace (private propagation). Not `Send`: the
/// namespace belongs to the thread that entered it. Dropping it switches the thread back
/// (best effort; the namespace dies with the thread anyway). Every process the thread
/// starts afterwards shares it, and sees the mounts made in it later; the host never does.
pub struct MountNamespace {
    host: OwnedFd,
    _thread_bound: PhantomData<*const ()>,
}

impl MountNamespace {
    /// Moves the calling thread into a new mount namespace with private propagation.
    pub fn enter() -> MountNamespace {
        let path = cstr(Path::new("/proc/thread-self/ns/mnt"));
        // SAFETY: open(2) with a NUL-terminated path; the result is checked.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert!(fd >= 0, "{}", os_err("open /proc/thread-self/ns/mnt"));
        // SAFETY: `fd` is a descriptor we just opened and own.
        let host = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: unshare(2) affects only the calling thread (CLONE_NEWNS implies CLONE_FS,
        // which gives this thread its own root and cwd); no memory is involved.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
        assert_eq!(
            rc,
            0,
            "{} (the real-login tests must run as root)",
            os_err("unshare(CLONE_NEWNS)")
        );
        let ns = MountNamespace {
            host,
            _thread_bound: PhantomData,
        };
        let root = cstr(Path::new("/"));
        // SAFETY: mount(2) with NUL-terminated strings or null pointers; it changes only
        // our new namespace: nothing mounted below propagates to the host.
        let rc = unsafe {
            libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "{}", os_err("mount --make-rprivate /"));
        ns
    }

    /// `mount --bind src dst` (in this thread's namespace).
    pub fn bind(&self, src: &Path, dst: &Path) {
        let (s, d) = (cstr(src), cstr(dst));
        // SAFETY: NUL-terminated paths, null fstype and data; affects our namespace only.
        let rc = unsafe {
            libc::mount(
                s.as_ptr(),
                d.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        assert_eq!(
            rc,
            0,
            "{}",
            os_err(&format!("mount --bind {} {}", src.display(), dst.display()))
        );
    }

    /// A fresh tmpfs on `dst`.
    pub fn tmpfs(&self, dst: &Path, options: &str) {
        let (src, d, t) = (
            CString::new("mfa-test").expect("c"),
            cstr(dst),
            CString::new("tmpfs").expect("c"),
        );
        let o = CString::new(options).expect("options");
        // SAFETY: NUL-terminated strings; affects our namespace only.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                d.as_ptr(),
                t.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                o.as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "{}",
            os_err(&format!("mount -t tmpfs {}", dst.display()))
        );
    }
}

impl Drop for MountNamespace {
    fn drop(&mut self) {
        // SAFETY: setns(2) on a namespace descriptor we own; failure (e.g. a helper thread
        // still shares our fs_struct) is harmless: the namespace ends with the thread.
        unsafe {
            libc::setns(self.host.as_raw_fd(), libc::CLONE_NEWNS);
        }
    }
}

// ----- users -----------------------------------------------------------------------------

/// useradd/userdel in one process, one at a time (each test has its own `/etc`, but this
/// costs nothing and keeps lock-file waits out of the picture).
static USER_DB: Mutex<()> = Mutex::new(());

/// A throw-away local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// `mfat` + 6 hex digits.
    pub name: String,
    /// Its random password.
    pub password: String,
}

fn user_db_command(program_name: &str, args: &[&str], stdin: &[u8]) -> CmdOutput {
    let _guard = USER_DB.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new(program(program_name));
    cmd.args(args).env("LANG", "C");
    run(cmd, stdin, CLIENT_TIMEOUT)
}

// ----- background processes --------------------------------------------------------------

struct Background {
    name: String,
    child: Child,
    log: PathBuf,
}

// ----- the environment -------------------------------------------------------------------

/// A [`TestEnv`] plus a private mount namespace, throw-away users and background programs.
/// Create it on the test's own thread and keep it there.
pub struct RealEnv {
    procs: Vec<Background>,
    users: Vec<TestUser>,
    /// The private bus and the real mfad.
    pub env: TestEnv,
    ns: MountNamespace,
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    counter: AtomicUsize,
}

impl RealEnv {
    /// Checks `programs` (and the base ones), enters a private mount namespace, sets up the
    /// private `/etc`, `/run` and login records, and starts the bus and mfad.
    pub fn start(programs: &[Program]) -> RealEnv {
        require_programs(BASE_PROGRAMS);
        require_programs(programs);
        // SAFETY: geteuid(2) cannot fail.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(euid, 0, "the real-login tests must run as root");
        // Build and resolve the project binaries before anything is mounted.
        pam_module();
        bin("mfad");
        bin("mfactl");

        let dir = tempfile::Builder::new()
            .prefix("mfa-real.")
            .tempdir()
            .expect("temp dir");
        // Test users must reach the bus socket, scripts and keys in here.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");

        let ns = MountNamespace::enter();
        let root = dir.path();

        // /etc: a full private copy (`cp -a`, owners and modes kept), so useradd, chpasswd,
        // our PAM services and sudoers change only the copy; `common-*`, `other`, … stay.
        let etc = root.join("etc");
        let mut cp = Command::new(program("cp"));
        cp.arg("-a").arg("/etc").arg(&etc);
        let out = run(cp, b"", CLIENT_TIMEOUT);
        assert!(out.success(), "copying /etc failed:\n{out}");
        ns.bind(&etc, Path::new("/etc"));

        // /run: a tmpfs, so nothing sshd, sudo or login leave there reaches the host.
        ns.tmpfs(Path::new("/run"), "mode=755,size=16m");
        for d in ["/run/sshd", "/run/dbus"] {
            fs::create_dir(d).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        fs::write("/run/utmp", b"").expect("create /run/utmp");
        fs::set_permissions("/run/utmp", fs::Permissions::from_mode(0o664)).expect("chmod");

        // Login records: private empty copies.
        let records = root.join("records");
        fs::create_dir(&records).expect("records dir");
        for f in [
            "/var/log/wtmp",
            "/var/log/btmp",
            "/var/log/lastlog",
            "/var/log/faillog",
        ] {
            let target = Path::new(f);
            if target.is_file() {
                let private = records.join(target.file_name().expect("name"));
                fs::write(&private, b"").expect("private record");
                // Same mode and owner as the real one (sshd checks btmp's).
                let meta = fs::metadata(target).expect("stat record");
                fs::set_permissions(&private, meta.permissions()).expect("chmod record");
                std::os::unix::fs::chown(&private, Some(meta.uid()), Some(meta.gid()))
                    .expect("chown record");
                ns.bind(&private, target);
            }
        }

        let env = TestEnv::start();
        RealEnv {
            procs: Vec::new(),
            users: Vec::new(),
            env,
            ns,
            root: root.to_path_buf(),
            dir: Some(dir),
            counter: AtomicUsize::new(0),
        }
    }

    /// This environment's temporary directory (0755; the test bus is elsewhere).
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn next_id(&self) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    // ----- users -----------------------------------------------------------------------

    /// Creates a throw-away user with a random password; removed when `self` is dropped.
    pub fn add_user(&mut self) -> TestUser {
        let user = TestUser {
            name: format!("mfat{}", random_hex(3)),
            password: random_hex(12),
        };
        // A random UID far from the usual ranges, so parallel tests (each with its own
        // /etc) and the host's own users do not share UIDs. -l: no lastlog/faillog entry.
        let random = u32::from_str_radix(&random_hex(4), 16).expect("hex");
        let uid = (200_000 + random % 700_000).to_string();
        // Recorded first, so a half-done useradd is cleaned up too.
        self.users.push(user.clone());
        let out = user_db_command(
            "useradd",
            &["-M", "-l", "-u", &uid, "-s", "/bin/sh", &user.name],
            b"",
        );
        assert!(out.success(), "useradd {} failed:\n{out}", user.name);
        let out = user_db_command(
            "chpasswd",
            &[],
            format!("{}:{}\n", user.name, user.password).as_bytes(),
        );
        assert!(out.success(), "chpasswd for {} failed:\n{out}", user.name);
        user
    }

    // ----- configuration ---------------------------------------------------------------

    /// Writes `/etc/pam.d/NAME` (in the private `/etc`), atomically.
    pub fn set_pam_service(&self, name: &str, text: &str) {
        install_file(&self.path().join("etc/pam.d").join(name), text, 0o644);
    }

    /// Replaces `/etc/sudoers` (in the private `/etc`) by `text`, checked with `visudo -c`.
    pub fn set_sudoers(&self, text: &str) {
        let p = self.path().join(format!("sudoers.{}", self.next_id()));
        fs::write(&p, text).expect("write sudoers");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o440)).expect("chmod");
        let mut check = Command::new(program("visudo"));
        check.args(["-c", "-f"]).arg(&p);
        let out = run(check, b"", CLIENT_TIMEOUT);
        assert!(
            out.success(),
            "visudo rejects the test sudoers:\n{out}\n{text}"
        );
        install_file(&self.path().join("etc/sudoers"), text, 0o440);
    }

    /// Binds `socket` over `/run/dbus/system_bus_socket`: the module's default bus path
    /// reaches that bus, in this namespace only.
    pub fn bind_system_bus(&self, socket: &Path) {
        let target = Path::new("/run/dbus/system_bus_socket");
        fs::write(target, b"").expect("bind target");
        self.ns.bind(socket, target);
    }

    // ----- commands --------------------------------------------------------------------

    /// A command running `program` as `user` (real and effective IDs, the user's groups)
    /// via `setpriv`, which execs and skips PAM, in a clean environment (`env -i`) plus
    /// `vars`; cwd `/`.
    pub fn as_user(&self, user: &str, vars: &[(String, String)], prog: &str) -> Command {
        let (uid, gid) = user_ids(user);
        let mut c = Command::new(program("setpriv"));
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--init-groups")
            // Set after the UID change (which would clear it): should the test process be
            // killed outright, the program does not outlive it. (setuid programs such as su
            // and sudo drop it at exec; they end with their input anyway.)
            .arg("--pdeathsig=KILL")
            .arg("--")
            .arg("env")
            .arg("-i")
            .arg("PATH=/usr/local/bin:/usr/bin:/bin")
            .arg("HOME=/")
            .arg("LANG=C")
            .arg(format!("USER={user}"))
            .arg(format!("LOGNAME={user}"));
        for (k, v) in vars {
            c.arg(format!("{k}={v}"));
        }
        c.arg(prog).current_dir("/");
        c
    }

    /// Starts `cmd` in the background (stdin /dev/null, output to `<dir>/<name>.log`),
    /// recorded for [`Drop`]. Returns its PID. It gets SIGKILL should this thread die
    /// without running `Drop` (e.g. the test process killed); [`RealEnv::as_user`] commands
    /// keep that through the UID change.
    pub fn spawn_background(&mut self, name: &str, mut cmd: Command) -> u32 {
        let log = self.path().join(format!("{name}.log"));
        let f = fs::File::create(&log).expect("create log");
        let f2 = f.try_clone().expect("dup log");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2));
        // SAFETY: prctl(2) is async-signal-safe and changes only the child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({:?}): {e}", cmd.get_program()));
        let pid = child.id();
        self.procs.push(Background {
            name: name.into(),
            child,
            log,
        });
        pid
    }

    /// Output so far of the background program `name`.
    pub fn background_log(&self, name: &str) -> String {
        fs::read_to_string(self.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn background(&mut self, name: &str) -> &mut Background {
        self.procs
            .iter_mut()
            .find(|b| b.name == name)
            .unwrap_or_else(|| panic!("no background program {name}"))
    }

    /// Ends the background program `name` (by its recorded PID).
    pub fn stop_background(&mut self, name: &str) {
        terminate(&mut self.background(name).child);
    }

    // ----- sshd ------------------------------------------------------------------------

    /// Starts sshd on two free loopback ports (PAM service `sshd`: the private
    /// `/etc/pam.d/sshd`): keyboard-interactive only on the first, publickey then keyboard-interactive
    /// on the second. Keys in `<dir>/ak/<user>`. Returns once both ports listen.
    pub fn start_sshd(&mut self, allow_users: &[&str]) -> Sshd {
        self.start_sshd_with(allow_users, SshdAuth::KeyboardInteractive)
    }

    /// [`RealEnv::start_sshd`] with the client-facing method `auth` in place of
    /// keyboard-interactive: on the first port that method alone, on the second a public
    /// key then that method.
    pub fn start_sshd_with(&mut self, allow_users: &[&str], auth: SshdAuth) -> Sshd {
        let root = self.path().to_path_buf();
        let (password, kbd) = match auth {
            SshdAuth::Password => ("yes", "no"),
            SshdAuth::KeyboardInteractive => ("no", "yes"),
        };
        self.launch_sshd(|ports| {
            format!(
                "Port {p1}\nPort {p2}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile none\n\
                 LogLevel VERBOSE\nUseDNS no\nAllowUsers {users}\nPermitRootLogin no\n\
                 UsePAM yes\nPasswordAuthentication {password}\n\
                 KbdInteractiveAuthentication {kbd}\n\
                 PubkeyAuthentication yes\nAuthorizedKeysFile {ak}/%u\nStrictModes no\n\
                 ExposeAuthInfo yes\nPrintMotd no\nPrintLastLog no\nLoginGraceTime 30\n\
                 AuthenticationMethods {method}\n\
                 Match LocalPort {p2}\n  AuthenticationMethods publickey,{method}\n",
                method = auth.method(),
                p1 = ports[0],
                p2 = ports[1],
                key = root.join("hostkey").display(),
                users = allow_users.join(" "),
                ak = root.join("ak").display(),
            )
        })
    }

    /// Starts sshd (host key `<dir>/hostkey`, keys in `<dir>/ak/<user>`) with the
    /// `sshd_config` that `config_text` returns for two free loopback ports; retries with other
    /// ports if one was taken in between. Returns once both ports listen.
    fn launch_sshd(&mut self, config_text: impl Fn([u16; 2]) -> String) -> Sshd {
        let root = self.path().to_path_buf();
        let hostkey = root.join("hostkey");
        if !hostkey.exists() {
            keygen(&hostkey);
        }
        fs::create_dir_all(root.join("ak")).expect("ak dir");
        let sshd = program("sshd");
        let mut last_log = String::new();
        for attempt in 0..5 {
            let ports = free_ports();
            let config = root.join("sshd_config");
            fs::write(&config, config_text(ports)).expect("write sshd_config");
            let mut check = Command::new(&sshd);
            check.arg("-t").arg("-f").arg(&config);
            let out = run(check, b"", CLIENT_TIMEOUT);
            assert!(out.success(), "sshd -t rejects the test config:\n{out}");

            let name = format!("sshd.{attempt}");
            let mut cmd = Command::new(&sshd);
            cmd.args(["-D", "-e", "-f"]).arg(&config);
            self.spawn_background(&name, cmd);
            let want: Vec<String> = ports
                .iter()
                .map(|p| format!("Server listening on 127.0.0.1 port {p}."))
                .collect();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let log = self.background_log(&name);
                if want.iter().all(|w| log.contains(w)) {
                    return Sshd {
                        ports,
                        log_name: name,
                    };
                }
                let exited = matches!(self.background(&name).child.try_wait(), Ok(Some(_)));
                if exited || log.contains("Bind to port") || Instant::now() > deadline {
                    // A port was taken in between (or sshd failed): try other ports.
                    last_log = log;
                    self.stop_background(&name);
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("sshd never listened on two free ports:\n{last_log}");
    }

    /// Authorises a new client key for `user` on sshd; returns the private key's path.
    pub fn add_client_key(&self, user: &str) -> PathBuf {
        let key = self.path().join(format!("client.{user}"));
        keygen(&key);
        let public = fs::read_to_string(format!("{}.pub", key.display())).expect("read public key");
        let ak = self.path().join("ak").join(user);
        fs::write(&ak, public).expect("write authorized keys");
        fs::set_permissions(&ak, fs::Permissions::from_mode(0o644)).expect("chmod");
        key
    }

    /// Replaces `user`'s authorized keys on sshd by `public_keys` (lines of `.pub` files).
    pub fn authorize_keys(&self, user: &str, public_keys: &str) {
        let ak = self.path().join("ak").join(user);
        fs::write(&ak, public_keys).expect("write authorized keys");
        fs::set_permissions(&ak, fs::Permissions::from_mode(0o644)).expect("chmod");
    }

    /// One `ssh` connection as `user` to `port`, answering every keyboard-interactive prompt
    /// through an askpass program (the chooser, whose prompt text also carries the list of
    /// methods: `recovery` when `code` has a hyphen, else `totp`; password prompts:
    /// `password`; the code and recovery-code prompts: `code`) that records the prompts. With `key`, public-key authentication (that key only)
    /// comes first. Runs `remote` on success.
    pub fn ssh(&self, a: SshLogin<'_>) -> SshOutcome {
        self.ssh_with_options(a, &[])
    }

    /// [`RealEnv::ssh`] with extra client options (`-o OPTION` each), e.g.
    /// `SecurityKeyProvider=PATH` for security-key (sk-) identities.
    pub fn ssh_with_options(&self, a: SshLogin<'_>, options: &[&str]) -> SshOutcome {
        let askpass = self.path().join("askpass");
        if !askpass.exists() {
            fs::write(
                &askpass,
                "#!/bin/sh\n\
                 printf '%s\\n' \"$1\" >>\"$MFA_PROMPT_LOG\"\n\
                 case \"$1\" in\n\
                   *Method*) case \"$MFA_TEST_CODE\" in\n\
                     *-*) echo recovery ;;\n\
                     *) echo totp ;;\n\
                   esac ;;\n\
                   *assword*) printf '%s\\n' \"$MFA_TEST_PW\" ;;\n\
                   *erification*|*ecovery*) printf '%s\\n' \"$MFA_TEST_CODE\" ;;\n\
                   *) exit 1 ;;\n\
                 esac\n",
            )
            .expect("write askpass");
            fs::set_permissions(&askpass, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let prompt_log = self.path().join(format!("prompts.{}", self.next_id()));
        fs::write(&prompt_log, b"").expect("prompt log");
        let mut cmd = Command::new(program("ssh"));
        cmd.env_remove("SSH_AUTH_SOCK")
            .env_remove("DISPLAY")
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("MFA_TEST_PW", a.password)
            .env("MFA_TEST_CODE", a.code)
            .env("MFA_PROMPT_LOG", &prompt_log)
            .args(["-n", "-F", "/dev/null", "-p"])
            .arg(a.port.to_string())
            .args([
                "-o",
                "BatchMode=no",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "NumberOfPasswordPrompts=1",
            ]);
        match a.key {
            Some(k) => {
                cmd.arg("-i").arg(k).args([
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "PubkeyAuthentication=yes",
                    "-o",
                    "PreferredAuthentications=publickey,keyboard-interactive,password",
                ]);
            }
            None => {
                cmd.args([
                    "-o",
                    "PubkeyAuthentication=no",
                    "-o",
                    "PreferredAuthentications=keyboard-interactive,password",
                ]);
            }
        }
        for o in options {
            cmd.arg("-o").arg(o);
        }
        cmd.arg(format!("{}@127.0.0.1", a.user)).arg(a.remote);
        let output = run(cmd, b"", CLIENT_TIMEOUT);
        let prompts = fs::read_to_string(&prompt_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        SshOutcome { output, prompts }
    }

    // ----- the attacker's bus ----------------------------------------------------------

    /// As the (non-root) `attacker`: a directory they own, a dbus-daemon there that lets
    /// anyone own any name and call anything, and mfad (a copy the attacker owns) on the
    /// attacker's own database, with the attacker's group as admin group so the attacker
    /// can enroll anyone there with mfactl. The bus socket is `<dir>/bus`, so the directory
    /// also serves as an `XDG_RUNTIME_DIR` whose session bus is the attacker's.
    pub fn start_attacker_bus(&mut self, attacker: &str) -> AttackerBus {
        let (uid, gid) = user_ids(attacker);
        let dir = self.path().join("attacker");
        fs::create_dir(&dir).expect("attacker dir");
        let socket = dir.join("bus");
        let address = format!("unix:path={}", socket.display());
        let bus_conf = dir.join("bus.conf");
        fs::write(
            &bus_conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>{address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"#
            ),
        )
        .expect("attacker bus.conf");
        fs::write(
            dir.join("mfad.toml"),
            format!("[daemon]\nadmin_group = \"{attacker}\"\n"),
        )
        .expect("attacker mfad.toml");
        let bin_dir = dir.join("bin");
        fs::create_dir(&bin_dir).expect("attacker bin");
        for b in ["mfad", "mfactl"] {
            fs::copy(bin(b), bin_dir.join(b)).expect("copy binary");
        }
        chown_tree(&dir, uid, gid);

        let mut cmd = self.as_user(attacker, &[], &program("dbus-daemon").display().to_string());
        cmd.arg(format!("--config-file={}", bus_conf.display()))
            .args(["--nofork", "--nopidfile", "--nosyslog"]);
        self.spawn_background("attacker-bus", cmd);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "the attacker's dbus-daemon never listened:\n{}",
                self.background_log("attacker-bus")
            );
            thread::sleep(Duration::from_millis(10));
        }

        let bus = AttackerBus {
            user: attacker.into(),
            dir,
            address,
            mfad_log: "attacker-mfad".into(),
        };
        let mut cmd = self.as_user(
            attacker,
            &[],
            &bus.dir.join("bin").join("mfad").display().to_string(),
        );
        bus.mfad_args(&mut cmd);
        let pid = self.spawn_background(&bus.mfad_log, cmd);
        self.wait_for_owner(&bus, Some(pid));
        bus
    }

    /// Replaces the attacker's mfad by one running as root on the same bus and database
    /// (handed over to root). It stands in for a bus that lies about its members' UIDs,
    /// which an attacker who runs the bus can make it do: the module checks that the
    /// daemon's owner is uid 0, and asks the bus to learn it.
    pub fn attacker_mfad_as_root(&mut self, bus: &mut AttackerBus) {
        self.stop_background(&bus.mfad_log);
        self.wait_for_owner(bus, None);
        chown_tree(&bus.dir.join("state"), 0, 0);
        bus.mfad_log = "attacker-mfad-as-root".into();
        let mut cmd = Command::new(bin("mfad"));
        bus.mfad_args(&mut cmd);
        let pid = self.spawn_background(&bus.mfad_log, cmd);
        self.wait_for_owner(bus, Some(pid));
    }

    /// Waits (bounded) until `pid` owns the daemon's name on `bus` (None: nobody does).
    fn wait_for_owner(&self, bus: &AttackerBus, pid: Option<u32>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut list = Command::new(program("busctl"));
            list.arg(format!("--address={}", bus.address))
                .args(["list", "--no-legend"]);
            let out = run(list, b"", CLIENT_TIMEOUT);
            let owner: Option<u32> = out
                .stdout
                .lines()
                .find(|l| l.starts_with(&format!("{BUS_NAME} ")))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
            if owner == pid {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the attacker's mfad: expected owner pid {pid:?}, got {owner:?}:\n{}\n{out}",
                self.background_log(&bus.mfad_log)
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the attacker's mfactl as the attacker on the attacker's bus.
    pub fn attacker_mfactl(&self, bus: &AttackerBus, args: &[&str]) -> CmdOutput {
        let mut cmd = self.as_user(
            &bus.user,
            &[],
            &bus.dir.join("bin").join("mfactl").display().to_string(),
        );
        cmd.arg("--bus-address").arg(&bus.address).args(args);
        run(cmd, b"", CLIENT_TIMEOUT)
    }

    /// Enrolls `totp` for `user` in the attacker's mfad (as the attacker), with the previous
    /// step's code so the current one stays free.
    pub fn attacker_enroll(&self, bus: &AttackerBus, user: &str, totp: &Totp) {
        crate::wait_for_fresh_step(totp.period, 6);
        let opts = totp.mfactl_options();
        let code = totp.previous_code();
        let mut args: Vec<&str> = vec!["enroll", "totp", user];
        args.extend(opts.iter().map(String::as_str));
        args.extend(["--code", &code]);
        let out = self.attacker_mfactl(bus, &args);
        assert!(
            out.success(),
            "the attacker could not enroll {user} on their own mfad:\n{out}\n--- attacker mfad ---\n{}",
            self.background_log(&bus.mfad_log)
        );
    }

    // ----- diagnostics -----------------------------------------------------------------

    fn dump(&self) {
        eprintln!(
            "===== real-login environment {} =====",
            self.path().display()
        );
        for b in &self.procs {
            eprintln!("--- {} ({}) ---", b.name, b.log.display());
            let log = fs::read_to_string(&b.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let from = lines.len().saturating_sub(80);
            eprintln!("{}", lines[from..].join("\n"));
        }
    }
}

impl Drop for RealEnv {
    fn drop(&mut self) {
        for b in self.procs.iter_mut().rev() {
            terminate(&mut b.child);
        }
        if thread::panicking() {
            self.dump();
        }
        for u in self.users.drain(..) {
            // -f: also if a process of the user is still around; removes the user's group.
            let out = user_db_command("userdel", &["-f", &u.name], b"");
            if !out.success() && !out.stderr.contains("does not exist") {
                eprintln!("warning: userdel -f {} failed:\n{out}", u.name);
            }
        }
        if std::env::var_os("MFA_TEST_KEEP").is_some()
            && let Some(d) = self.dir.take()
        {
            eprintln!("keeping {}", d.keep().display());
        }
        // Then the fields: env (mfad, bus), the namespace, the directory.
    }
}

/// The daemon's bus name (as in `mfa_proto::BUS_NAME`).
const BUS_NAME: &str = "org.pam_mfa.Mfad";

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    if path.is_dir() {
        for e in fs::read_dir(path).expect("read_dir") {
            chown_tree(&e.expect("entry").path(), uid, gid);
        }
    }
}

/// Writes `text` to `path` with `mode` (owner root) through a temporary file and a rename,
/// so a reader never sees a half-written file.
fn install_file(path: &Path, text: &str, mode: u32) {
    let tmp = path.with_extension("mfa-tmp");
    fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).expect("chmod");
    fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

fn keygen(path: &Path) {
    let mut cmd = Command::new(program("ssh-keygen"));
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", "mfa-test", "-f"])
        .arg(path);
    let out = run(cmd, b"", CLIENT_TIMEOUT);
    assert!(out.success(), "ssh-keygen failed:\n{out}");
}

/// Two distinct loopback ports that were free a moment ago.
fn free_ports() -> [u16; 2] {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind");
    [
        a.local_addr().expect("addr").port(),
        b.local_addr().expect("addr").port(),
    ]
}

/// A PAM stack for the real programs: `pam_unix` (password, `nodelay`), then the module
/// under test with `module_args`; `account` pam_unix, `session` pam_permit, `password`
/// pam_deny.
pub fn mfa_stack(module_args: &str) -> String {
    format!(
        "auth     required  pam_unix.so nodelay\n\
         auth     required  {} {module_args}\n\
         account  required  pam_unix.so\n\
         session  required  pam_permit.so\n\
         password required  pam_deny.so\n",
        pam_module().display()
    )
}

/// The block the module shows when it denies (see `LoginOutcome::assert_denied`).
pub fn denial_block(service: &str, user: &str, headline: &str) -> String {
    format!(
        "Access denied\nService: {service}\nUser: {user}\nDetail: Additional authentication is required:\n  - Multi-factor authentication (MFA): {headline}"
    )
}

/// How sshd authenticates the user after (or instead of) a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshdAuth {
    /// keyboard-interactive: one round trip per PAM prompt.
    KeyboardInteractive,
    /// password: sshd answers every hidden PAM prompt with the one password the client
    /// sent (single-prompt mode's client).
    Password,
}

impl SshdAuth {
    /// The method's name in `AuthenticationMethods`.
    pub fn method(self) -> &'static str {
        match self {
            SshdAuth::KeyboardInteractive => "keyboard-interactive",
            SshdAuth::Password => "password",
        }
    }
}

/// sshd started by [`RealEnv::start_sshd`].
#[derive(Debug, Clone)]
pub struct Sshd {
    /// `[keyboard-interactive only, publickey + keyboard-interactive]`.
    pub ports: [u16; 2],
    /// Name of its background log.
    pub log_name: String,
}

/// One ssh connection, see [`RealEnv::ssh`].
#[derive(Debug, Clone, Copy)]
pub struct SshLogin<'a> {
    /// Port.
    pub port: u16,
    /// Remote user.
    pub user: &'a str,
    /// Answer to password prompts.
    pub password: &'a str,
    /// Answer to the code prompt.
    pub code: &'a str,
    /// Private key for public-key authentication first.
    pub key: Option<&'a Path>,
    /// Remote command.
    pub remote: &'a str,
}

/// What one ssh connection did.
#[derive(Debug, Clone)]
pub struct SshOutcome {
    /// The ssh run.
    pub output: CmdOutput,
    /// Each keyboard-interactive prompt the askpass program was asked, in order.
    pub prompts: Vec<String>,
}

impl SshOutcome {
    /// The code prompt was asked.
    pub fn saw_code_prompt(&self) -> bool {
        self.prompts
            .iter()
            .any(|p| p.ends_with(crate::PROMPT.trim_end()) || p.ends_with(crate::PROMPT))
    }
}

impl fmt::Display for SshOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "prompts: {:?}", self.prompts)?;
        write!(f, "{}", self.output)
    }
}

/// The attacker's bus, see [`RealEnv::start_attacker_bus`].
#[derive(Debug, Clone)]
pub struct AttackerBus {
    /// The attacker.
    pub user: String,
    /// The attacker's directory (socket `bus` in it).
    pub dir: PathBuf,
    /// `unix:path=<dir>/bus`.
    pub address: String,
    /// Name of the background log of the attacker's current mfad.
    pub mfad_log: String,
}

impl AttackerBus {
    fn mfad_args(&self, cmd: &mut Command) {
        cmd.arg("--db")
            .arg(self.dir.join("state").join("mfa.db"))
            .arg("--bus-address")
            .arg(&self.address)
            .arg("--config")
            .arg(self.dir.join("mfad.toml"))
            // No syslog there: mfad then logs to stderr only (our log file).
            .arg("--syslog-socket")
            .arg(self.dir.join("no-syslog"))
            .arg("--log-stderr");
    }

    /// Every variable that could plausibly choose a bus, all pointing at the attacker's:
    /// the D-Bus ones, `XDG_RUNTIME_DIR` (its `bus` is the attacker's socket), project-style
    /// names, and every `*BUS*`/`*ADDR*`/`*SOCK*` identifier found in the module's binary.
    pub fn hostile_environment(&self) -> Vec<(String, String)> {
        let socket = self.dir.join("bus").display().to_string();
        let mut vars: Vec<(String, String)> = vec![
            ("DBUS_SYSTEM_BUS_ADDRESS".into(), self.address.clone()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone()),
            ("DBUS_STARTER_ADDRESS".into(), self.address.clone()),
            ("DBUS_STARTER_BUS_TYPE".into(), "system".into()),
            ("XDG_RUNTIME_DIR".into(), self.dir.display().to_string()),
        ];
        for name in [
            "MFA_BUS_ADDRESS",
            "MFA_BUS",
            "MFAD_BUS_ADDRESS",
            "MFAD_ADDRESS",
            "PAM_MFA_BUS",
            "PAM_MFA_BUS_ADDRESS",
            "ZBUS_ADDRESS",
        ] {
            vars.push((name.into(), self.address.clone()));
        }
        let so = fs::read(pam_module()).expect("read the module");
        for name in identifiers(&so) {
            if vars.iter().any(|(k, _)| *k == name) {
                continue;
            }
            let value = if name.contains("SOCK") {
                socket.clone()
            } else {
                self.address.clone()
            };
            vars.push((name, value));
        }
        vars
    }
}

/// Upper-case identifiers (`[A-Z_][A-Z0-9_]{3,63}`) in `bytes` naming a bus, an address or
/// a socket, as `strings` would find them.
fn identifiers(bytes: &[u8]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for run in bytes.split(|b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')) {
        if !(4..=64).contains(&run.len()) || run[0].is_ascii_digit() {
            continue;
        }
        let s = String::from_utf8_lossy(run).into_owned();
        if ["BUS", "ADDR", "SOCK"].iter().any(|k| s.contains(k)) {
            found.insert(s);
        }
        if found.len() >= 200 {
            break;
        }
    }
    found
}

// ----- a program on a pseudo-terminal ----------------------------------------------------

/// A program running as the session leader on a new pseudo-terminal (its controlling
/// terminal), e.g. `login`. Everything it writes is kept as the transcript.
pub struct PtySession {
    child: Child,
    master: fs::File,
    chunks: mpsc::Receiver<Vec<u8>>,
    text: String,
    consumed: usize,
}

impl PtySession {
    /// Spawns `cmd` with a new pty as stdin, stdout, stderr and controlling terminal.
    pub fn spawn(mut cmd: Command) -> PtySession {
        // SAFETY: posix_openpt(3) returns a new descriptor or -1, checked.
        let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        assert!(fd >= 0, "{}", os_err("posix_openpt"));
        // SAFETY: we own the new descriptor.
        let master = unsafe { fs::File::from_raw_fd(fd) };
        let mut name = [0 as libc::c_char; 256];
        // SAFETY: grantpt/unlockpt on our master; ptsname_r writes at most `len` bytes
        // (NUL-terminated) into `name`, which lives across the call.
        let slave_path = unsafe {
            assert_eq!(libc::grantpt(fd), 0, "{}", os_err("grantpt"));
            assert_eq!(libc::unlockpt(fd), 0, "{}", os_err("unlockpt"));
            assert_eq!(
                libc::ptsname_r(fd, name.as_mut_ptr(), name.len()),
                0,
                "ptsname_r"
            );
            std::ffi::CStr::from_ptr(name.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        let slave = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave_path)
            .unwrap_or_else(|e| panic!("open {slave_path}: {e}"));
        let winsize = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize that lives across the call.
        unsafe {
            libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &winsize);
        }
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup pty")))
            .stdout(Stdio::from(slave.try_clone().expect("dup pty")))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?} on a pty: {e}", cmd.get_program()));
        // Close our copies of the slave, so reading the master ends when the program's do.
        drop(cmd);
        let mut reader = master.try_clone().expect("dup master");
        let (tx, chunks) = mpsc::channel();
        // Not joined: it ends when the last slave descriptor closes (EIO).
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        PtySession {
            child,
            master,
            chunks,
            text: String::new(),
            consumed: 0,
        }
    }

    fn pull(&mut self, wait: Duration) -> bool {
        match self.chunks.recv_timeout(wait) {
            Ok(c) => {
                self.text.push_str(&String::from_utf8_lossy(&c));
                while let Ok(c) = self.chunks.try_recv() {
                    self.text.push_str(&String::from_utf8_lossy(&c));
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Waits (bounded) until one of `needles` appears after what earlier calls consumed;
    /// returns its index and consumes the output up to its end. None on timeout or EOF.
    pub fn expect_any(&mut self, needles: &[&str], timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            let rest = &self.text[self.consumed..];
            let hit = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| rest.find(n).map(|at| (at, i, n.len())))
                .min();
            if let Some((at, i, len)) = hit {
                self.consumed += at + len;
                return Some(i);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if !self.pull(left.min(Duration::from_millis(100))) {
                let exited = matches!(self.child.try_wait(), Ok(Some(_)));
                if exited && !self.pull(Duration::from_millis(200)) {
                    return None;
                }
            }
        }
    }

    /// Waits for `needle` (see [`PtySession::expect_any`]).
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> bool {
        self.expect_any(&[needle], timeout).is_some()
    }

    /// Types `s`.
    pub fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).expect("write to pty");
        self.master.flush().expect("flush pty");
    }

    /// Waits (bounded) for the program to exit; kills it on timeout (then None).
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.pull(Duration::from_millis(50));
                return Some(st);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            self.pull(Duration::from_millis(20));
        }
    }

    /// Ends the program (SIGKILL by its PID) if it still runs.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Everything read so far, with the terminal's `\r\n` turned into `\n`.
    pub fn transcript(&self) -> String {
        self.text.replace("\r\n", "\n")
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        self.kill();
    }
}

// ----- the shipped configuration (contrib/) ----------------------------------------------

/// Rewrites the PAM `common-*` files from `/usr/share/pam-configs`.
pub const PAM_AUTH_UPDATE: Program = ("pam-auth-update", "libpam-runtime");

/// A file shipped in `contrib/` (e.g. `pam.d/mfa-sshd.example`), in the source tree: the
/// tests use the shipped files themselves, never copies kept with the tests.
pub fn contrib_file(relative: &str) -> PathBuf {
    let p = crate::workspace_root().join("contrib").join(relative);
    assert!(p.is_file(), "the shipped file {} is missing", p.display());
    p
}

/// Where libpam finds a module named without a path, and where `make install` puts
/// `pam_mfa.so`: `/usr/lib/<multiarch>/security` on Debian (also reached as `/lib/…` with
/// merged `/usr`), recognised by its `pam_unix.so`; else `/usr/lib/security`.
pub fn system_module_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("security"))
        .filter(|d| d.join("pam_unix.so").is_file())
        .collect();
    found.sort();
    // With several architectures installed, the one the tests (and the module) are built for.
    let ours = found.iter().find(|d| {
        d.parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n.to_string_lossy().starts_with(std::env::consts::ARCH))
    });
    if let Some(d) = ours.or(found.first()) {
        return d.clone();
    }
    let plain = PathBuf::from("/usr/lib/security");
    assert!(
        plain.join("pam_unix.so").is_file(),
        "no PAM module directory with pam_unix.so under /usr/lib (Debian package libpam-modules)"
    );
    plain
}

/// How an example in `contrib/pam.d` tells the reader to use it (from its own comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExampleUse {
    /// "add the pam_mfa line right after common-auth": its `auth … pam_mfa.so` line(s) go
    /// right after `@include common-auth`.
    AfterCommonAuth,
    /// "replace that line by the lines below": all its `auth` lines take the place of
    /// `@include common-auth`.
    ReplaceCommonAuth,
}

/// `debian` (a service file of Debian's `/etc/pam.d`) with the lines of the shipped
/// `example` put where the example's comments (and README "Install on a host", step 5) say:
/// after `@include common-auth`, or in its place. Nothing else is added or changed. An
/// example or a service file that does not fit is an error saying why.
pub fn apply_pam_example(debian: &str, example: &str) -> Result<String, String> {
    let comments: Vec<&str> = example
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .collect();
    let comments = comments.join(" ").to_lowercase();
    let comments: Vec<&str> = comments.split_whitespace().collect();
    let comments = comments.join(" ");
    let how = match (
        comments.contains("replace that line"),
        comments.contains("right after"),
    ) {
        (true, false) => ExampleUse::ReplaceCommonAuth,
        (false, true) => ExampleUse::AfterCommonAuth,
        (true, true) => {
            return Err("its comments say both \"right after\" and \"replace that line\"".into());
        }
        (false, false) => {
            return Err(
                "its comments say neither where to add its lines (\"right after\" common-auth) \
                 nor what they replace (\"replace that line\")"
                    .into(),
            );
        }
    };
    let is_auth = |l: &&str| l.split_whitespace().next() == Some("auth");
    let is_mfa = |l: &&str| l.split_whitespace().any(|w| w == "pam_mfa.so");
    let auth: Vec<&str> = example
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter(is_auth)
        .collect();
    if !auth.iter().any(is_mfa) {
        return Err("it has no `auth … pam_mfa.so` line".into());
    }
    let new: Vec<&str> = match how {
        ExampleUse::AfterCommonAuth => auth.into_iter().filter(is_mfa).collect(),
        ExampleUse::ReplaceCommonAuth => auth,
    };

    let lines: Vec<&str> = debian.lines().collect();
    if lines
        .iter()
        .any(|l| !l.trim_start().starts_with('#') && is_mfa(l))
    {
        return Err("the service file already uses pam_mfa.so".into());
    }
    let include: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.split_whitespace().eq(["@include", "common-auth"]))
        .map(|(i, _)| i)
        .collect();
    let [at] = include[..] else {
        return Err(format!(
            "the service file has {} `@include common-auth` lines, not one",
            include.len()
        ));
    };
    let mut out: Vec<&str> = Vec::with_capacity(lines.len() + new.len());
    out.extend(&lines[..at]);
    if how == ExampleUse::AfterCommonAuth {
        out.push(lines[at]);
    }
    out.extend(&new);
    out.extend(&lines[at + 1..]);
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

impl RealEnv {
    /// The module under test as `pam_mfa.so` in [`system_module_dir`], and the test bus at
    /// the default bus path: a host after `make install` with mfad running, so PAM files
    /// can name the module as shipped (`pam_mfa.so`, no `bus=`). In this namespace only: a
    /// copy of the module directory (`cp -a`, plus the module, 0644 root) is bound over the
    /// real one, and the socket over `/run/dbus/system_bus_socket` (the private tmpfs); both
    /// mounts end with the namespace. Call once (it includes [`RealEnv::bind_system_bus`]).
    pub fn install_module_system_wide(&self) {
        let system = system_module_dir();
        let copy = self.path().join("security");
        let mut cp = Command::new(program("cp"));
        cp.arg("-a").arg(&system).arg(&copy);
        let out = run(cp, b"", CLIENT_TIMEOUT);
        assert!(out.success(), "copying {} failed:\n{out}", system.display());
        let module = copy.join("pam_mfa.so");
        fs::copy(pam_module(), &module)
            .unwrap_or_else(|e| panic!("install {}: {e}", module.display()));
        fs::set_permissions(&module, fs::Permissions::from_mode(0o644)).expect("chmod");
        std::os::unix::fs::chown(&module, Some(0), Some(0)).expect("chown");
        self.ns.bind(&copy, &system);
        self.bind_system_bus(&self.env.bus_socket());
    }

    /// Writes `/etc/pam.d/SERVICE` (private copy) as README "Install on a host" step 5 and
    /// the example's comments tell a sysadmin to: Debian's own file for SERVICE with the
    /// lines of the shipped `contrib/pam.d/EXAMPLE` put in (see [`apply_pam_example`]).
    /// Returns the text written.
    pub fn shipped_pam_service(&self, service: &str, example: &str) -> String {
        let file = self.path().join("etc/pam.d").join(service);
        let debian = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("read Debian's /etc/pam.d/{service}: {e}"));
        let example_path = contrib_file(&format!("pam.d/{example}"));
        let text = fs::read_to_string(&example_path).expect("read the example");
        let merged = apply_pam_example(&debian, &text).unwrap_or_else(|e| {
            panic!(
                "cannot follow {} for /etc/pam.d/{service}: {e}\n--- /etc/pam.d/{service} ---\n{debian}",
                example_path.display()
            )
        });
        self.set_pam_service(service, &merged);
        merged
    }

    /// Starts sshd configured as README "Install on a host" step 6 says: the shipped drop-in
    /// `contrib/sshd_config.d/pam_mfa.conf` itself, `Include`d first (sshd keeps the first
    /// value it reads for a keyword, so nothing below can override it), then only what a
    /// test sshd needs: ports, host key, users, key files, no pid file or motd, and
    /// `PasswordAuthentication no` (else, after a refused keyboard-interactive login, the
    /// client would try the password method, a second PAM run). The first port takes what
    /// the drop-in allows; the second requires a public key first, with the drop-in's
    /// commented `AuthenticationMethods publickey,keyboard-interactive`. PAM service `sshd`.
    pub fn start_sshd_shipped(&mut self, allow_users: &[&str]) -> Sshd {
        let root = self.path().to_path_buf();
        let drop_in = contrib_file("sshd_config.d/pam_mfa.conf");
        self.launch_sshd(|ports| {
            format!(
                "Include {drop_in}\n\
                 Port {p1}\nPort {p2}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile none\n\
                 LogLevel VERBOSE\nUseDNS no\nAllowUsers {users}\nPermitRootLogin no\n\
                 PasswordAuthentication no\nPubkeyAuthentication yes\n\
                 AuthorizedKeysFile {ak}/%u\nStrictModes no\n\
                 PrintMotd no\nPrintLastLog no\nLoginGraceTime 30\n\
                 Match LocalPort {p2}\n  AuthenticationMethods publickey,keyboard-interactive\n",
                drop_in = drop_in.display(),
                p1 = ports[0],
                p2 = ports[1],
                key = root.join("hostkey").display(),
                users = allow_users.join(" "),
                ak = root.join("ak").display(),
            )
        })
    }

    /// The shipped pam-auth-update profile `contrib/pam-configs/mfa` installed as
    /// `/usr/share/pam-configs/mfa` (as `make install` does), with private copies of all
    /// that `pam-auth-update` reads and writes besides `/etc`: the profiles, its state
    /// `/var/lib/pam` and the debconf database `/var/cache/debconf`, bound over the real
    /// ones in this namespace only. Call once.
    pub fn install_pam_auth_update_profile(&self) {
        for (dir, name) in [
            ("/usr/share/pam-configs", "pam-configs"),
            ("/var/lib/pam", "var-lib-pam"),
            ("/var/cache/debconf", "debconf"),
        ] {
            let copy = self.path().join(name);
            let mut cp = Command::new(program("cp"));
            cp.arg("-a").arg(dir).arg(&copy);
            let out = run(cp, b"", CLIENT_TIMEOUT);
            assert!(out.success(), "copying {dir} failed:\n{out}");
            self.ns.bind(&copy, Path::new(dir));
        }
        let profile = Path::new("/usr/share/pam-configs/mfa");
        fs::copy(contrib_file("pam-configs/mfa"), profile).expect("install the profile");
        fs::set_permissions(profile, fs::Permissions::from_mode(0o644)).expect("chmod");
    }

    /// Runs the real `pam-auth-update ARGS` with debconf's non-interactive front end (no
    /// terminal here; `--enable`/`--disable` imply `--package`, which asks nothing).
    pub fn pam_auth_update(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = Command::new(program("pam-auth-update"));
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LANG", "C")
            .current_dir("/");
        run(cmd, b"", CLIENT_TIMEOUT)
    }
}
