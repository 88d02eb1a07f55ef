//! Running child processes with a deadline, captured output and optional other UID.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished (or killed) command produced.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit status; `None` only if waiting failed.
    pub status: Option<ExitStatus>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// From spawn to exit.
    pub elapsed: Duration,
    /// The deadline passed and the process was killed.
    pub timed_out: bool,
}

impl CmdOutput {
    /// The exit code (None if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Exited 0 within the deadline.
    pub fn success(&self) -> bool {
        !self.timed_out && self.code() == Some(0)
    }

    /// Standard output and standard error together.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\n  exit: {:?}{} after {:?}\n  stdout: {}\n  stderr: {}",
            self.command,
            self.code(),
            if self.timed_out {
                " (TIMED OUT, killed)"
            } else {
                ""
            },
            self.elapsed,
            self.stdout.trim_end().replace('\n', "\n          "),
            self.stderr.trim_end().replace('\n', "\n          "),
        )
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Makes the child of `cmd` get SIGKILL when the thread that spawns it dies, so daemons and
/// clients started by a test never outlive a test process that was itself killed (SIGKILL
/// skips every `Drop`). Spawn from the thread that owns the child (the test's own thread),
/// since the signal follows the spawning thread, not the process.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl(2) is async-signal-safe and changes only the child, between fork and
    // exec; getppid(2) too. If the parent already died before prctl, the child exits.
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the test process is gone"));
            }
            Ok(())
        });
    }
}

/// Runs `cmd` with `stdin` as its input, killing it after `timeout`.
///
/// The child is killed by its recorded PID only. Commands must not leave grandchildren
/// holding the pipes (use exec-ing wrappers such as `setpriv`).
pub fn run(mut cmd: Command, stdin: &[u8], timeout: Duration) -> CmdOutput {
    let command = describe(&cmd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command}: {e}"));
    let input = stdin.to_vec();
    let mut child_in = child.stdin.take().expect("stdin");
    let writer = thread::spawn(move || {
        // The child may exit without reading everything: ignore EPIPE.
        let _ = child_in.write_all(&input);
    });
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = start + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(3)),
            Err(_) => break None,
        }
    };
    let elapsed = start.elapsed();
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    CmdOutput {
        command,
        status,
        stdout,
        stderr,
        elapsed,
        timed_out,
    }
}

/// A command that runs `program` as the local account `user` (real and effective UID and
/// GID, no supplementary groups), via `setpriv`, which execs: the PID is the program's and
/// no PAM stack is involved.
pub fn run_as(user: &str, program: &std::path::Path) -> Command {
    let (uid, gid) = crate::user_ids(user);
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg("--")
        .arg(program)
        .env("HOME", "/")
        .current_dir("/");
    c
}

/// SIGTERM (and SIGCONT, in case it is stopped), up to 0.5 s, then SIGKILL; always reaped.
pub(crate) fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: kill(2) on the PID of our own child, not yet reaped, so not reused; errors
    // ignored, this runs in Drop, possibly while panicking.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        libc::kill(child.id() as libc::pid_t, libc::SIGCONT);
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}
