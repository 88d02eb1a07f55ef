//! The real parts under measurement: a private `dbus-daemon` with the shipped policy, the
//! release `mfad` on the seeded database, and a `/dev/log` datagram sink standing in for the
//! syslog daemon (it reads and counts lines, as journald would read them).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::error::{BenchError, Result};
use crate::procfs::{self, Status};

/// The private bus configuration of the test harness (stock system-bus rules plus the
/// shipped policy file), shared with `make demo`.
const BUS_CONFIG_TEMPLATE: &str = include_str!("../../tests/fixtures/private-bus.conf.in");

/// How long a start-up may take before the benchmark gives up.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// Lines the sink saw.
#[derive(Debug, Default)]
pub struct SinkCounts {
    /// Every datagram.
    pub lines: AtomicU64,
    /// mfad's `login result=allow` audit lines (one per accepted factor).
    pub allows: AtomicU64,
}

/// A datagram socket read by a thread, like a syslog daemon's `/dev/log`.
pub struct SyslogSink {
    /// What it counted.
    pub counts: Arc<SinkCounts>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    started: Mutex<Receiver<Instant>>,
}

impl SyslogSink {
    /// Binds `path` (replacing a stale socket) and starts reading.
    pub fn bind(path: &Path) -> Result<SyslogSink> {
        let _ = fs::remove_file(path);
        let sock = UnixDatagram::bind(path).map_err(|e| BenchError::path("bind", path, e))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o666))
            .map_err(|e| BenchError::path("chmod", path, e))?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| BenchError::io("syslog socket timeout", e))?;
        let counts = Arc::new(SinkCounts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx): (Sender<Instant>, Receiver<Instant>) = channel();
        let (c, s) = (counts.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while !s.load(Ordering::Relaxed) {
                let Ok(n) = sock.recv(&mut buf) else { continue };
                let at = Instant::now();
                let line = &buf[..n];
                c.lines.fetch_add(1, Ordering::Relaxed);
                if contains(line, b"mfad[") {
                    if contains(line, b"login result=allow ") {
                        c.allows.fetch_add(1, Ordering::Relaxed);
                    } else if contains(line, b"started version=") {
                        let _ = tx.send(at);
                    }
                }
            }
        });
        Ok(SyslogSink {
            counts,
            stop,
            thread: Some(thread),
            started: Mutex::new(rx),
        })
    }

    /// Waits (bounded) for mfad's "started" line and returns when it arrived.
    pub fn wait_started(&self, timeout: Duration) -> Option<Instant> {
        self.started
            .lock()
            .ok()
            .and_then(|rx| rx.recv_timeout(timeout).ok())
    }

    /// mfad's accepted logins so far.
    pub fn allows(&self) -> u64 {
        self.counts.allows.load(Ordering::Relaxed)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A private `dbus-daemon`.
pub struct Bus {
    child: Child,
    /// `unix:path=…`.
    pub address: String,
}

impl Bus {
    /// Starts a bus listening on `dir/NAME.socket` and waits for the socket.
    pub fn start(dir: &Path, name: &str, policy: &Path) -> Result<Bus> {
        let socket = dir.join(format!("{name}.socket"));
        let conf = dir.join(format!("{name}.conf"));
        let text = BUS_CONFIG_TEMPLATE
            .replace("@LISTEN@", &format!("unix:path={}", socket.display()))
            .replace("@POLICY@", &policy.display().to_string());
        fs::write(&conf, text).map_err(|e| BenchError::path("write", &conf, e))?;
        let log = log_file(&dir.join(format!("{name}.log")))?;
        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--nopidfile", "--nosyslog"])
            .stdout(Stdio::null())
            .stderr(log);
        let mut child = procfs::spawn(&mut cmd, "dbus-daemon (apt-get install dbus-daemon)")?;
        let deadline = Instant::now() + START_DEADLINE;
        while !socket.exists() {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(BenchError::Setup(format!(
                    "dbus-daemon exited ({st}); see {}",
                    dir.join(format!("{name}.log")).display()
                )));
            }
            if Instant::now() > deadline {
                procfs::terminate(&mut child);
                return Err(BenchError::Setup(
                    "dbus-daemon never created its socket".into(),
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
        Ok(Bus {
            child,
            address: format!("unix:path={}", socket.display()),
        })
    }

    /// SIGSTOP, confirmed (its socket still accepts, nobody answers).
    pub fn stop(&self) -> Result<()> {
        procfs::stop(&self.child)
    }

    /// SIGCONT, after checking that it is still there (stopped): a bus that died during a
    /// "hung" measurement would have made it a "no bus" measurement.
    pub fn resume(&mut self) -> Result<()> {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return Err(BenchError::Invalid(
                "dbus-daemon exited while stopped".into(),
            ));
        }
        procfs::signal(&self.child, Signal::SIGCONT)
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        procfs::terminate(&mut self.child);
    }
}

fn log_file(path: &Path) -> Result<fs::File> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| BenchError::path("open", path, e))
}

/// How to start mfad.
#[derive(Debug, Clone)]
pub struct MfadSpec {
    /// The release binary.
    pub binary: PathBuf,
    /// The database.
    pub db: PathBuf,
    /// The bus address.
    pub bus: String,
    /// The configuration file.
    pub config: PathBuf,
    /// Where its stderr goes.
    pub log: PathBuf,
}

/// A running mfad.
pub struct Mfad {
    child: Child,
}

impl Mfad {
    /// Starts mfad and waits for its "started" line (logged once it owns its name and
    /// serves), returning the time from spawn to that line: the cold start.
    pub fn start(spec: &MfadSpec, sink: &SyslogSink) -> Result<(Mfad, Duration)> {
        // Drop a stale "started" from an earlier instance.
        while sink.wait_started(Duration::ZERO).is_some() {}
        let mut cmd = Command::new(&spec.binary);
        cmd.arg("--db")
            .arg(&spec.db)
            .arg("--bus-address")
            .arg(&spec.bus)
            .arg("--config")
            .arg(&spec.config)
            .stdout(Stdio::null())
            .stderr(log_file(&spec.log)?);
        let spawned = Instant::now();
        let mut child = procfs::spawn(&mut cmd, &spec.binary.display().to_string())?;
        let deadline = spawned + START_DEADLINE;
        let status = loop {
            if let Some(at) = sink.wait_started(Duration::from_millis(20)) {
                return Ok((Mfad { child }, at.saturating_duration_since(spawned)));
            }
            if let Ok(Some(st)) = child.try_wait() {
                break Some(st);
            }
            if Instant::now() > deadline {
                procfs::terminate(&mut child);
                break None;
            }
        };
        let log = fs::read_to_string(&spec.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        Err(BenchError::Setup(format!(
            "mfad did not start within {START_DEADLINE:?} (exit: {status:?}): {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )))
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its memory and threads now.
    pub fn status(&self) -> Result<Status> {
        Status::of(self.pid())
    }

    /// SIGSTOP, confirmed (hung: on the bus, answering nothing).
    pub fn stop_process(&self) -> Result<()> {
        procfs::stop(&self.child)
    }

    /// SIGCONT, after checking that it is still there.
    pub fn resume(&mut self) -> Result<()> {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return Err(BenchError::Invalid("mfad exited while stopped".into()));
        }
        procfs::signal(&self.child, Signal::SIGCONT)
    }

    /// Stops it (TERM, then KILL).
    pub fn stop(mut self) {
        procfs::terminate(&mut self.child);
    }
}

impl Drop for Mfad {
    fn drop(&mut self) {
        procfs::terminate(&mut self.child);
    }
}

/// Samples a process's status every `every` on a thread, keeping the largest RSS seen.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Status>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = thread::spawn(move || {
            let mut max = Status::default();
            loop {
                if let Ok(st) = Status::of(pid) {
                    max.rss_kib = max.rss_kib.max(st.rss_kib);
                    max.hwm_kib = max.hwm_kib.max(st.hwm_kib);
                    max.threads = max.threads.max(st.threads);
                }
                if s.load(Ordering::Relaxed) {
                    return max;
                }
                thread::sleep(every);
            }
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and returns the largest RSS, HWM and thread count seen.
    pub fn finish(mut self) -> Status {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
