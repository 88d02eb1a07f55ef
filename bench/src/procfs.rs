//! Child processes (started so that they die with the benchmark) and what `/proc` says about
//! them.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{BenchError, Result};

/// Spawns `cmd` with standard input closed, asking the kernel to SIGKILL it when the
/// spawning thread ends, so a killed benchmark leaves no daemon behind (they would also keep
/// the private mount namespace alive). Long-lived children must be spawned from the main
/// thread.
pub fn spawn(cmd: &mut Command, what: &str) -> Result<Child> {
    cmd.stdin(Stdio::null());
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2)
    // through nix, which is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
        .map_err(|e| BenchError::io(format!("start {what}"), e))
}

/// Sends `sig` to our child `child` (by its PID; the child is not reaped yet, so the PID is
/// still ours).
pub fn signal(child: &Child, sig: Signal) -> Result<()> {
    kill(Pid::from_raw(child.id() as i32), sig)
        .map_err(|e| BenchError::Setup(format!("kill -{sig} {}: {e}", child.id())))
}

/// The scheduler state letter of `pid` (`R`, `S`, `T` for stopped, …), from
/// `/proc/PID/stat`; `None` once the process is gone.
pub fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Stops `child` with SIGSTOP and waits (bounded) until the kernel reports it stopped, so a
/// measurement of "hung" never starts against a process still running.
pub fn stop(child: &Child) -> Result<()> {
    signal(child, Signal::SIGSTOP)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match state(child.id()) {
            Some('T' | 't') => return Ok(()),
            None => {
                return Err(BenchError::Invalid(format!(
                    "process {} exited instead of stopping",
                    child.id()
                )));
            }
            Some(_) if Instant::now() > deadline => {
                return Err(BenchError::Invalid(format!(
                    "process {} did not stop after SIGSTOP",
                    child.id()
                )));
            }
            Some(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Ends `child`: SIGCONT (it may be stopped), SIGTERM, then SIGKILL after a second.
pub fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = signal(child, Signal::SIGCONT);
    let _ = signal(child, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Memory and threads of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// Peak resident set size, KiB.
    pub hwm_kib: u64,
    /// Threads.
    pub threads: u64,
}

impl Status {
    /// Parses the text of `/proc/PID/status`.
    pub fn parse(text: &str) -> Status {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Status {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            threads: field("Threads:"),
        }
    }

    /// Reads it for `pid`.
    pub fn of(pid: u32) -> Result<Status> {
        let p = format!("/proc/{pid}/status");
        let text = fs::read_to_string(&p).map_err(|e| BenchError::io(format!("read {p}"), e))?;
        Ok(Status::parse(&text))
    }
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let s =
            Status::parse("Name:\tmfad\nVmHWM:\t   12000 kB\nVmRSS:\t    9876 kB\nThreads:\t3\n");
        assert_eq!(
            s,
            Status {
                rss_kib: 9876,
                hwm_kib: 12000,
                threads: 3
            }
        );
        assert_eq!(Status::parse(""), Status::default());
    }

    #[test]
    fn a_stopped_child_reads_as_stopped_then_runs_again() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(matches!(state(child.id()), Some('S' | 'R')));
        stop(&child).unwrap();
        assert_eq!(state(child.id()), Some('T'));
        signal(&child, Signal::SIGCONT).unwrap();
        terminate(&mut child);
        assert_eq!(state(child.id()), None);
    }

    #[test]
    fn our_own_status_is_readable() {
        let s = Status::of(std::process::id()).unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib && s.threads >= 1);
    }
}
