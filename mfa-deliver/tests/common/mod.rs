//! Real servers on loopback for the transport tests: Debian's aiosmtpd, the Python gateway
//! fixture, a listener that never answers, and a throw-away CA made with the openssl CLI.
//! Every process is ended by its own handle in `Drop` (also when a test panics) and gets
//! SIGKILL from the kernel if the test process dies first (`setpriv --pdeathsig`).

#![allow(dead_code, reason = "each test file uses a different part")]

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Debian's python, which has python3-aiosmtpd (the `python3` on PATH may be another one).
pub const PYTHON: &str = "/usr/bin/python3";

/// A child process ended and reaped on drop.
pub struct Proc {
    child: Child,
    name: &'static str,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `program args...` under `setpriv --pdeathsig KILL`, which execs it (same PID).
    pub fn spawn(name: &'static str, program: &str, args: &[&str], stdout: Stdio) -> Proc {
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--", program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc { child, name }
    }

    /// Fails the test if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("{} exited early: {st}", self.name);
        }
    }
}

/// A port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Waits (bounded) until something accepts TCP connections on `port`.
pub fn wait_for_port(proc: &mut Proc, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        proc.assert_running();
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A listener whose connections the kernel accepts and nobody ever answers.
pub fn stalled_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

/// Runs a short command to completion, failing the test on a non-zero exit.
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away CA and a server certificate for 127.0.0.1 and localhost.
pub struct Certs {
    /// The CA certificate (PEM): what `email.tls_ca_file` points at.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server key (PEM).
    pub key: PathBuf,
}

/// Makes [`Certs`] in `dir` with the openssl CLI (P-256 keys: fast).
pub fn make_certs(dir: &Path) -> Certs {
    let p = |name: &str| dir.join(name).to_str().expect("utf-8 path").to_owned();
    let (ca_key, ca, key, csr, cert, ext) = (
        p("ca.key"),
        p("ca.pem"),
        p("server.key"),
        p("server.csr"),
        p("server.pem"),
        p("server.ext"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509", "-days", "2", "-subj", "/CN=mfa test CA"];
    args.extend(ec);
    args.extend(["-keyout", &ca_key, "-out", &ca]);
    run("openssl", &args);
    let mut args = vec!["req", "-new", "-subj", "/CN=localhost"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr]);
    run("openssl", &args);
    fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    Certs {
        ca: ca.into(),
        cert: cert.into(),
        key: key.into(),
    }
}

/// How the test SMTP server talks.
pub enum SmtpMode<'a> {
    /// No TLS.
    Plain,
    /// TLS from the first byte (`--smtpscert`).
    ImplicitTls(&'a Certs),
    /// STARTTLS offered and required before MAIL (`--tlscert`).
    StartTls(&'a Certs),
}

/// aiosmtpd storing every message in a Maildir.
pub struct Smtpd {
    /// Its port on 127.0.0.1.
    pub port: u16,
    maildir: PathBuf,
    _proc: Proc,
}

impl Smtpd {
    /// Starts aiosmtpd on a free port with `dir/maildir`.
    pub fn start(dir: &Path, mode: SmtpMode<'_>) -> Smtpd {
        let maildir = dir.join("maildir");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args: Vec<String> = ["-m", "aiosmtpd", "-n", "-l", &listen]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let tls_args = |flag_cert: &str, flag_key: &str, c: &Certs| {
            vec![
                flag_cert.to_owned(),
                c.cert.display().to_string(),
                flag_key.to_owned(),
                c.key.display().to_string(),
            ]
        };
        match mode {
            SmtpMode::Plain => {}
            SmtpMode::ImplicitTls(c) => args.extend(tls_args("--smtpscert", "--smtpskey", c)),
            SmtpMode::StartTls(c) => args.extend(tls_args("--tlscert", "--tlskey", c)),
        }
        args.extend([
            "-c".into(),
            "aiosmtpd.handlers.Mailbox".into(),
            maildir.display().to_string(),
        ]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut proc = Proc::spawn("aiosmtpd", PYTHON, &argv, Stdio::null());
        wait_for_port(&mut proc, port);
        Smtpd {
            port,
            maildir,
            _proc: proc,
        }
    }

    /// The messages received so far, as text.
    pub fn messages(&self) -> Vec<String> {
        let Ok(dir) = fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        dir.map(|e| fs::read_to_string(e.expect("entry").path()).expect("read mail"))
            .collect()
    }
}

impl Smtpd {
    /// Starts `tests/fixtures/smtp_auth.py`: STARTTLS with `certs`, then a login as
    /// `user`/`password` required before any mail.
    pub fn start_with_login(dir: &Path, certs: &Certs, user: &str, password: &str) -> Smtpd {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_auth.py");
        let maildir = dir.join("maildir");
        let port = free_port();
        let (port_s, maildir_s) = (port.to_string(), maildir.display().to_string());
        let (cert, key) = (
            certs.cert.display().to_string(),
            certs.key.display().to_string(),
        );
        let mut proc = Proc::spawn(
            "smtp_auth.py",
            PYTHON,
            &[script, &port_s, &maildir_s, &cert, &key, user, password],
            Stdio::piped(),
        );
        let stdout = proc.child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read READY line");
        assert_eq!(line.trim(), "READY", "smtp_auth.py said {line:?}");
        wait_for_port(&mut proc, port);
        Smtpd {
            port,
            maildir,
            _proc: proc,
        }
    }
}

/// The Python gateway fixture (`tests/fixtures/sms_gateway.py`) answering `status`.
pub struct Gateway {
    /// Its port on 127.0.0.1.
    pub port: u16,
    record: PathBuf,
    _proc: Proc,
}

impl Gateway {
    /// Starts the fixture, recording requests in `dir/requests.jsonl`.
    pub fn start(dir: &Path, status: u16) -> Gateway {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/sms_gateway.py"
        );
        let record = dir.join("requests.jsonl");
        let status = status.to_string();
        let mut proc = Proc::spawn(
            "sms_gateway.py",
            PYTHON,
            &[script, record.to_str().expect("utf-8"), &status],
            Stdio::piped(),
        );
        let stdout = proc.child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read PORT line");
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("gateway said {line:?}"));
        Gateway {
            port,
            record,
            _proc: proc,
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("record line"))
            .collect()
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Writes `text` to `dir/name` with `mode` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// A temporary directory others can traverse (removed on drop).
pub fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}
