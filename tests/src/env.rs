//! One isolated world per test: temp dir, private bus, mfad, syslog sink, PAM stack.

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::process::{CmdOutput, die_with_parent, run, run_as, terminate};
use crate::syslog::SyslogSink;
use crate::totp::{Totp, wait_for_fresh_step};
use crate::{PROMPT, bin, dbus_policy_path, pam_module};

/// The PAM service every environment has: `bus=` this env's bus, `timeout=3000`.
pub const DEFAULT_SERVICE: &str = "mfa-test";

/// How long a login or mfactl run may take before the harness kills it.
const CLIENT_DEADLINE: Duration = Duration::from_secs(20);
/// How long mfad may take to own its name.
const READY_DEADLINE: Duration = Duration::from_secs(20);

/// Options for a [`TestEnv`].
#[derive(Debug, Clone, Default)]
pub struct EnvBuilder {
    config: Option<String>,
    umask: Option<u32>,
    module_timeout_ms: Option<u32>,
}

impl EnvBuilder {
    /// Writes `toml` to a file and passes it with `--config`.
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_string());
        self
    }

    /// Starts mfad with this umask (default: the test process's, usually 022).
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }

    /// `timeout=` of the default service (default 3000 ms).
    pub fn module_timeout_ms(mut self, ms: u32) -> Self {
        self.module_timeout_ms = Some(ms);
        self
    }

    /// Starts the bus and the daemon and waits until the daemon owns its name.
    pub fn start(self) -> TestEnv {
        TestEnv::start_with(self)
    }
}

/// A private bus, mfad on a fresh database, a syslog sink and a PAM service directory.
pub struct TestEnv {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    /// `unix:path=…/bus/socket`.
    pub bus_address: String,
    bus: Mutex<Option<Child>>,
    mfad: Mutex<Option<Child>>,
    syslog: Option<SyslogSink>,
    opts: EnvBuilder,
}

fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let f = fs::File::create(log).expect("create log");
    let f2 = f.try_clone().expect("dup log");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(f))
        .stderr(Stdio::from(f2));
    die_with_parent(&mut cmd);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()))
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) with the PID of a child we have not reaped yet (the Child is still
    // held), so the PID cannot have been reused by another process.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({}, {sig}) failed", child.id());
}

fn bus_config(socket: &Path) -> String {
    include_str!("../fixtures/private-bus.conf.in")
        .replace("@LISTEN@", &format!("unix:path={}", socket.display()))
        .replace("@POLICY@", &dbus_policy_path().display().to_string())
}

impl TestEnv {
    /// An environment with the default configuration.
    pub fn start() -> TestEnv {
        EnvBuilder::default().start()
    }

    /// Options for an environment.
    pub fn builder() -> EnvBuilder {
        EnvBuilder::default()
    }

    fn start_with(opts: EnvBuilder) -> TestEnv {
        // Resolve (and build) the binaries before creating anything.
        let module = pam_module();
        bin("mfad");
        bin("mfactl");
        bin("mfa-pam-login");

        let dir = tempfile::Builder::new()
            .prefix("mfa-test.")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        // Test users (nobody) must reach the bus socket and the PAM files.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        let bus_dir = root.join("bus");
        fs::create_dir(&bus_dir).expect("bus dir");
        fs::set_permissions(&bus_dir, fs::Permissions::from_mode(0o755)).expect("chmod bus dir");
        let socket = bus_dir.join("socket");
        let bus_address = format!("unix:path={}", socket.display());

        let mut env = TestEnv {
            dir: Some(dir),
            root: root.clone(),
            bus_address: bus_address.clone(),
            bus: Mutex::new(None),
            mfad: Mutex::new(None),
            syslog: None,
            opts: EnvBuilder::default(),
        };

        // PAM service directory.
        let pam_dir = root.join("pam.d");
        fs::create_dir(&pam_dir).expect("pam.d");
        fs::set_permissions(&pam_dir, fs::Permissions::from_mode(0o755)).expect("chmod pam.d");
        fs::write(
            pam_dir.join("other"),
            "auth required pam_deny.so\naccount required pam_deny.so\npassword required pam_deny.so\nsession required pam_deny.so\n",
        )
        .expect("write other");
        let timeout = opts.module_timeout_ms.unwrap_or(3000);
        env.add_service(
            DEFAULT_SERVICE,
            &format!("bus={bus_address} timeout={timeout}"),
        );
        debug_assert!(module.is_absolute());

        // Private bus.
        let conf = root.join("bus.conf");
        fs::write(&conf, bus_config(&socket)).expect("write bus.conf");
        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!("--config-file={}", conf.display())).args([
            "--nofork",
            "--nopidfile",
            "--nosyslog",
        ]);
        *env.bus.lock().expect("bus") = Some(spawn_logged(cmd, &root.join("bus.log")));
        let deadline = Instant::now() + READY_DEADLINE;
        while !socket.exists() {
            if let Ok(Some(st)) = env
                .bus
                .lock()
                .expect("bus")
                .as_mut()
                .expect("bus")
                .try_wait()
            {
                panic!("dbus-daemon exited ({st}):\n{}", env.bus_log());
            }
            assert!(
                Instant::now() < deadline,
                "dbus-daemon socket never appeared:\n{}",
                env.bus_log()
            );
            thread::sleep(Duration::from_millis(10));
        }

        // Syslog sink, then mfad.
        let syslog_path = root.join("syslog.sock");
        env.syslog = Some(SyslogSink::bind(&syslog_path));
        if let Some(cfg) = &opts.config {
            fs::write(root.join("mfad.toml"), cfg).expect("write mfad.toml");
        }
        env.opts = opts;
        env.spawn_mfad();
        env.wait_ready();
        env
    }

    /// Starts mfad (output appended to `mfad.log`) and records it; does not wait.
    fn spawn_mfad(&self) {
        self.spawn_mfad_with_env(&[]);
    }

    /// [`TestEnv::spawn_mfad`] with extra environment variables for mfad (e.g. libfaketime's).
    fn spawn_mfad_with_env(&self, vars: &[(&str, &str)]) {
        let mut cmd = Command::new(bin("mfad"));
        cmd.envs(vars.iter().copied());
        cmd.arg("--db")
            .arg(self.db_path())
            .arg("--bus-address")
            .arg(&self.bus_address)
            .arg("--syslog-socket")
            .arg(self.root.join("syslog.sock"))
            .arg("--log-stderr");
        if self.opts.config.is_some() {
            cmd.arg("--config").arg(self.root.join("mfad.toml"));
        }
        if let Some(mask) = self.opts.umask {
            // SAFETY: umask(2) is async-signal-safe and touches only the child's own state;
            // nothing else runs between fork and exec here.
            unsafe {
                cmd.pre_exec(move || {
                    libc::umask(mask as libc::mode_t);
                    Ok(())
                });
            }
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("mfad.log"))
            .expect("open mfad.log");
        let log2 = log.try_clone().expect("dup log");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("spawn mfad");
        *self.mfad.lock().expect("mfad") = Some(child);
    }

    /// Stops mfad gracefully (SIGTERM, then SIGKILL after 0.5 s) and starts it again on the
    /// same database, waiting until it owns its name.
    pub fn restart_mfad(&self) {
        if let Some(mut c) = self.mfad.lock().expect("mfad").take() {
            terminate(&mut c);
        }
        self.spawn_mfad();
        self.wait_ready();
    }

    /// Like [`TestEnv::restart_mfad`], with extra environment variables for the new mfad
    /// (the fault tests run it under libfaketime this way). A later plain restart drops them.
    pub fn restart_mfad_with_env(&self, vars: &[(&str, &str)]) {
        if let Some(mut c) = self.mfad.lock().expect("mfad").take() {
            terminate(&mut c);
        }
        self.spawn_mfad_with_env(vars);
        self.wait_ready();
    }

    /// Waits (bounded) until mfad owns `org.pam_mfa.Mfad` on the bus.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(child) = self.mfad.lock().expect("mfad").as_mut()
                && let Ok(Some(st)) = child.try_wait()
            {
                panic!(
                    "mfad exited ({st}) before owning its name:\n{}",
                    self.mfad_log()
                );
            }
            let out = Command::new("busctl")
                .arg(format!("--address={}", self.bus_address))
                .args(["list", "--no-legend"])
                .stdin(Stdio::null())
                .output()
                .expect("run busctl");
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.starts_with("org.pam_mfa.Mfad "))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mfad never owned org.pam_mfa.Mfad:\n{}",
                self.mfad_log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The temporary directory of this environment.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The database file given to mfad (`<tmp>/state/mfa.db`; mfad creates `state/`).
    pub fn db_path(&self) -> PathBuf {
        self.root.join("state").join("mfa.db")
    }

    /// The bus socket.
    pub fn bus_socket(&self) -> PathBuf {
        self.root.join("bus").join("socket")
    }

    /// The PAM configuration directory (`pam_start_confdir`).
    pub fn pam_dir(&self) -> PathBuf {
        self.root.join("pam.d")
    }

    /// Writes PAM service `name` whose auth stack is the module under test with `args`.
    pub fn add_service(&self, name: &str, args: &str) {
        let text = format!(
            "auth     required  {} {args}\naccount  required  pam_permit.so\n",
            pam_module().display()
        );
        let p = self.pam_dir().join(name);
        fs::write(&p, text).expect("write PAM service");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod service");
    }

    // ----- logins ----------------------------------------------------------------------

    /// Runs one PAM authentication of `user` on `service`, as `caller` (None: root),
    /// answering prompts with the lines of `stdin`. `flags` go to mfa-pam-login.
    pub fn pam_login(
        &self,
        caller: Option<&str>,
        service: &str,
        user: &str,
        stdin: &[u8],
        flags: &[&str],
    ) -> LoginOutcome {
        let prog = bin("mfa-pam-login");
        let mut cmd = match caller {
            Some(u) => run_as(u, &prog),
            None => Command::new(&prog),
        };
        cmd.args(flags).arg(self.pam_dir()).arg(service).arg(user);
        LoginOutcome::parse(run(cmd, stdin, CLIENT_DEADLINE))
    }

    /// One PAM authentication as root with extra variables in the client's process
    /// environment (which the module must ignore).
    pub fn pam_login_with_env(
        &self,
        service: &str,
        user: &str,
        stdin: &[u8],
        vars: &[(&str, &str)],
    ) -> LoginOutcome {
        let mut cmd = Command::new(bin("mfa-pam-login"));
        cmd.envs(vars.iter().copied())
            .arg(self.pam_dir())
            .arg(service)
            .arg(user);
        LoginOutcome::parse(run(cmd, stdin, CLIENT_DEADLINE))
    }

    /// Starts one PAM authentication of `user` on `service` as root and returns at once,
    /// for tests that act in the middle of the conversation (answer later, stop the daemon
    /// between prompt and answer, …).
    pub fn spawn_pam_login(&self, service: &str, user: &str) -> InteractiveLogin {
        let mut cmd = Command::new(bin("mfa-pam-login"));
        cmd.arg(self.pam_dir()).arg(service).arg(user);
        InteractiveLogin::spawn(cmd)
    }

    /// Authenticates `user` on the default service as root, answering with `answers`.
    pub fn login(&self, user: &str, answers: &[&str]) -> LoginOutcome {
        self.login_service(crate::DEFAULT_SERVICE, user, answers)
    }

    /// Authenticates `user` on `service` as root, answering with `answers`.
    pub fn login_service(&self, service: &str, user: &str, answers: &[&str]) -> LoginOutcome {
        self.pam_login(None, service, user, &lines(answers), &[])
    }

    /// Authenticates `user` on the default service from a process running as `caller`.
    pub fn login_as(&self, caller: &str, user: &str, answers: &[&str]) -> LoginOutcome {
        self.pam_login(
            Some(caller),
            crate::DEFAULT_SERVICE,
            user,
            &lines(answers),
            &[],
        )
    }

    // ----- mfactl ----------------------------------------------------------------------

    fn mfactl_cmd(&self, caller: Option<&str>, args: &[&str]) -> Command {
        let prog = bin("mfactl");
        let mut cmd = match caller {
            Some(u) => run_as(u, &prog),
            None => Command::new(&prog),
        };
        cmd.arg("--bus-address").arg(&self.bus_address).args(args);
        cmd
    }

    /// Runs `mfactl --bus-address … ARGS` as root.
    pub fn mfactl(&self, args: &[&str]) -> CmdOutput {
        run(self.mfactl_cmd(None, args), b"", CLIENT_DEADLINE)
    }

    /// Runs `mfactl --bus-address … ARGS` as the local account `user`.
    pub fn mfactl_as(&self, user: &str, args: &[&str]) -> CmdOutput {
        run(self.mfactl_cmd(Some(user), args), b"", CLIENT_DEADLINE)
    }

    /// Runs mfactl as `user` with `input` on its standard input (not a terminal: mfactl then
    /// reads one line per prompt, e.g. a step-up's code).
    pub fn mfactl_as_with_input(&self, user: &str, args: &[&str], input: &str) -> CmdOutput {
        run(
            self.mfactl_cmd(Some(user), args),
            input.as_bytes(),
            CLIENT_DEADLINE,
        )
    }

    /// Spawns mfactl with piped stdio for interactive use (caller: root).
    pub fn mfactl_spawn(&self, args: &[&str]) -> Child {
        let mut cmd = self.mfactl_cmd(None, args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        cmd.spawn().expect("spawn mfactl")
    }

    /// `mfactl enroll totp USER <token options> --code CODE`, as `caller` (None: root).
    pub fn enroll_with_code(
        &self,
        caller: Option<&str>,
        user: &str,
        totp: &Totp,
        code: &str,
    ) -> CmdOutput {
        let opts = totp.mfactl_options();
        let mut args: Vec<&str> = vec!["enroll", "totp", user];
        args.extend(opts.iter().map(String::as_str));
        args.extend(["--code", code]);
        let cmd = self.mfactl_cmd(caller, &args);
        run(cmd, b"", CLIENT_DEADLINE)
    }

    /// Enrolls `totp` for `user` as root, confirming with the previous step's code (after
    /// making sure enough of the current step is left), so the current step's code is free
    /// for a login. Panics unless mfactl succeeds.
    pub fn enroll(&self, user: &str, totp: &Totp) -> CmdOutput {
        wait_for_fresh_step(totp.period, 6);
        let out = self.enroll_with_code(None, user, totp, &totp.previous_code());
        assert!(
            out.success(),
            "enrollment of {user} failed:\n{out}\n--- mfad log ---\n{}",
            self.mfad_log()
        );
        out
    }

    /// Enrolls a fresh SHA-1 token for `user` (see [`TestEnv::enroll`]) and returns it.
    pub fn enroll_new(&self, user: &str) -> Totp {
        let t = Totp::sha1();
        self.enroll(user, &t);
        t
    }

    // ----- processes -------------------------------------------------------------------

    fn with_mfad<R>(&self, f: impl FnOnce(&mut Child) -> R) -> R {
        f(self
            .mfad
            .lock()
            .expect("mfad")
            .as_mut()
            .expect("mfad not running"))
    }

    fn with_bus<R>(&self, f: impl FnOnce(&mut Child) -> R) -> R {
        f(self
            .bus
            .lock()
            .expect("bus")
            .as_mut()
            .expect("bus not running"))
    }

    /// PID of the private dbus-daemon.
    pub fn bus_pid(&self) -> u32 {
        self.bus
            .lock()
            .expect("bus")
            .as_ref()
            .map(|c| c.id())
            .expect("the bus is not running")
    }

    /// PID of mfad.
    pub fn mfad_pid(&self) -> u32 {
        self.with_mfad(|c| c.id())
    }

    /// Whether mfad is still running.
    pub fn mfad_running(&self) -> bool {
        self.with_mfad(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILLs mfad and reaps it.
    pub fn kill_mfad(&self) {
        self.with_mfad(|c| {
            let _ = c.kill();
            let _ = c.wait();
        });
    }

    /// Sends mfad SIGTERM and waits up to `timeout` for it to exit; its exit status, or
    /// `None` if it did not exit in time (it is then SIGKILLed). [`TestEnv::restart_mfad`]
    /// starts it again.
    pub fn terminate_mfad(&self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.mfad.lock().expect("mfad").take()?;
        signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// SIGSTOPs mfad (it stays on the bus but answers nothing).
    pub fn stop_mfad(&self) {
        self.with_mfad(|c| signal(c, libc::SIGSTOP));
    }

    /// SIGCONTs mfad.
    pub fn cont_mfad(&self) {
        self.with_mfad(|c| signal(c, libc::SIGCONT));
    }

    /// SIGKILLs the dbus-daemon and removes its socket.
    pub fn kill_bus(&self) {
        self.with_bus(|c| {
            let _ = c.kill();
            let _ = c.wait();
        });
        let _ = fs::remove_file(self.bus_socket());
    }

    /// SIGSTOPs the dbus-daemon: its socket still accepts, nobody answers the handshake.
    pub fn stop_bus(&self) {
        self.with_bus(|c| signal(c, libc::SIGSTOP));
    }

    /// SIGCONTs the dbus-daemon.
    pub fn cont_bus(&self) {
        self.with_bus(|c| signal(c, libc::SIGCONT));
    }

    // ----- logs ------------------------------------------------------------------------

    /// mfad's stdout and stderr so far.
    pub fn mfad_log(&self) -> String {
        fs::read_to_string(self.root.join("mfad.log")).unwrap_or_default()
    }

    /// dbus-daemon's output so far.
    pub fn bus_log(&self) -> String {
        fs::read_to_string(self.root.join("bus.log")).unwrap_or_default()
    }

    /// Every syslog line mfad sent so far.
    pub fn syslog_lines(&self) -> Vec<String> {
        self.syslog
            .as_ref()
            .map(SyslogSink::lines)
            .unwrap_or_default()
    }

    /// Waits (bounded) until some syslog line satisfies `pred`; returns it.
    pub fn wait_for_syslog(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.syslog_lines().into_iter().find(|l| pred(l)) {
                return Some(l);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(mut c) = self.mfad.lock().map(|mut g| g.take()).unwrap_or(None) {
            terminate(&mut c);
        }
        if let Some(mut c) = self.bus.lock().map(|mut g| g.take()).unwrap_or(None) {
            terminate(&mut c);
        }
        let syslog = self.syslog_lines();
        self.syslog.take();
        if thread::panicking() {
            eprintln!("===== test environment {} =====", self.root.display());
            eprintln!("--- mfad log ---\n{}", self.mfad_log());
            eprintln!("--- syslog ---\n{}", syslog.join("\n"));
            eprintln!("--- dbus-daemon log ---\n{}", self.bus_log());
        }
        if std::env::var_os("MFA_TEST_KEEP").is_some()
            && let Some(d) = self.dir.take()
        {
            eprintln!("keeping {}", d.keep().display());
        }
    }
}

fn lines(answers: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for a in answers {
        v.extend_from_slice(a.as_bytes());
        v.push(b'\n');
    }
    v
}

/// What `mfa-pam-login` reported about one `pam_authenticate`.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The raw run.
    pub output: CmdOutput,
    /// The PAM return code, if the program got that far.
    pub result: Option<i32>,
    /// Prompt texts, in order.
    pub prompts: Vec<String>,
    /// PAM_ERROR_MSG texts, in order.
    pub errors: Vec<String>,
    /// PAM_TEXT_INFO texts, in order.
    pub infos: Vec<String>,
    /// `(threads, fds)` before `pam_start` and after `pam_end`, with `--resources`.
    pub resources: Option<((u64, u64), (u64, u64))>,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl LoginOutcome {
    fn parse(output: CmdOutput) -> Self {
        let mut o = LoginOutcome {
            output,
            result: None,
            prompts: Vec::new(),
            errors: Vec::new(),
            infos: Vec::new(),
            resources: None,
        };
        for line in o.output.stdout.lines() {
            if let Some(t) = line
                .strip_prefix("PROMPT_ECHO_OFF: ")
                .or_else(|| line.strip_prefix("PROMPT_ECHO_ON: "))
            {
                o.prompts.push(unescape(t));
            } else if let Some(t) = line.strip_prefix("ERROR_MSG: ") {
                o.errors.push(unescape(t));
            } else if let Some(t) = line.strip_prefix("TEXT_INFO: ") {
                o.infos.push(unescape(t));
            } else if let Some(t) = line.strip_prefix("PAM_RESULT=") {
                o.result = t.split_whitespace().next().and_then(|n| n.parse().ok());
            } else if let Some(t) = line.strip_prefix("RESOURCES ") {
                let v: Vec<u64> = t
                    .split_whitespace()
                    .filter_map(|kv| kv.split_once('=')?.1.parse().ok())
                    .collect();
                if let [a, b, c, d] = v[..] {
                    o.resources = Some(((a, b), (c, d)));
                }
            }
        }
        o
    }

    /// PAM_SUCCESS, exit 0, within the deadline: the only form of success.
    pub fn succeeded(&self) -> bool {
        self.result == Some(crate::PAM_SUCCESS) && self.output.success()
    }

    /// The code prompt was shown.
    pub fn prompted(&self) -> bool {
        self.prompts.iter().any(|p| p == PROMPT)
    }

    /// All error messages, joined by newlines.
    pub fn error_text(&self) -> String {
        self.errors.join("\n")
    }

    /// The time the login took.
    pub fn elapsed(&self) -> Duration {
        self.output.elapsed
    }

    /// Asserts PAM_SUCCESS.
    #[track_caller]
    pub fn assert_success(&self) {
        assert!(self.succeeded(), "expected PAM_SUCCESS:\n{self}");
    }

    /// Asserts a denial (finished in time, not success, exit 1) whose message has the
    /// documented shape for `service`/`user` and the MFA `headline`.
    #[track_caller]
    pub fn assert_denied(&self, service: &str, user: &str, headline: &str) {
        assert!(!self.output.timed_out, "login hung:\n{self}");
        assert!(
            self.result.is_some(),
            "no PAM result (harness fault?):\n{self}"
        );
        assert_ne!(
            self.result,
            Some(crate::PAM_SUCCESS),
            "expected a denial:\n{self}"
        );
        assert_eq!(
            self.output.code(),
            Some(1),
            "mfa-pam-login exit code:\n{self}"
        );
        let want = format!(
            "Access denied\nService: {service}\nUser: {user}\nDetail: Additional authentication is required:\n  - Multi-factor authentication (MFA): {headline}"
        );
        assert!(
            self.error_text().contains(&want),
            "expected the message\n{want}\n---\n{self}"
        );
    }
}

impl fmt::Display for LoginOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "PAM result: {:?}", self.result)?;
        writeln!(f, "prompts: {:?}", self.prompts)?;
        for e in &self.errors {
            writeln!(f, "PAM_ERROR_MSG:\n  {}", e.replace('\n', "\n  "))?;
        }
        for i in &self.infos {
            writeln!(f, "PAM_TEXT_INFO: {i:?}")?;
        }
        write!(f, "{}", self.output)
    }
}

/// A login in progress (see [`TestEnv::spawn_pam_login`]).
pub struct InteractiveLogin {
    child: Child,
    command: String,
    start: Instant,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: Option<thread::JoinHandle<()>>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl InteractiveLogin {
    fn spawn(mut cmd: Command) -> Self {
        use std::io::{BufRead, Read};
        let command = format!("{:?}", cmd);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn mfa-pam-login");
        let out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        InteractiveLogin {
            stdin: child.stdin.take(),
            child,
            command,
            start,
            lines,
            seen: Vec::new(),
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Waits (bounded) for an output line starting with `prefix`; false on timeout or exit.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.starts_with(prefix);
                    self.seen.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// The output lines read so far (`TEXT_INFO: …`, `PROMPT_ECHO_OFF: …`, …).
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Sends one answer line.
    pub fn answer(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let _ = writeln!(stdin, "{line}");
        let _ = stdin.flush();
    }

    /// Waits (bounded by `timeout`, then kills) and returns the outcome; `elapsed` counts from
    /// `since` (e.g. the moment the answer was sent), or from the spawn if None.
    pub fn finish(mut self, timeout: Duration, since: Option<Instant>) -> LoginOutcome {
        self.stdin.take();
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
                Ok(None) => thread::sleep(Duration::from_millis(3)),
                Err(_) => break None,
            }
        };
        let elapsed = since.unwrap_or(self.start).elapsed();
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
        self.seen.extend(self.lines.try_iter());
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let mut stdout = self.seen.join("\n");
        stdout.push('\n');
        LoginOutcome::parse(CmdOutput {
            command: self.command.clone(),
            status,
            stdout,
            stderr,
            elapsed,
            timed_out,
        })
    }
}

impl Drop for InteractiveLogin {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
