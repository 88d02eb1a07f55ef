//! The command transport: a local program, no shell, recipient as last argument, message on
//! standard input.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt as _, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mfa_core::delivery::mask_phone;

use crate::error::{Channel, DeliveryError};
use crate::redact::sanitize;

/// How often a running command is polled for its exit.
const POLL: Duration = Duration::from_millis(5);
/// How much of the command's stderr is kept.
const MAX_STDERR_BYTES: u64 = 4096;
/// PATH given to the command (its environment is otherwise empty).
const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug)]
pub(crate) struct CommandTransport {
    program: PathBuf,
    args: Vec<String>,
    timeout: Duration,
}

impl CommandTransport {
    pub(crate) fn new(argv: &[String], timeout: Duration) -> Result<Self, DeliveryError> {
        let (program, args) = argv.split_first().ok_or(DeliveryError::Config {
            key: "sms.command",
            why: "must name a program".into(),
        })?;
        if !program.starts_with('/') {
            return Err(DeliveryError::Config {
                key: "sms.command",
                why: format!("{program:?} must be an absolute path"),
            });
        }
        Ok(CommandTransport {
            program: PathBuf::from(program),
            args: args.to_vec(),
            timeout,
        })
    }

    pub(crate) fn send(&self, to: &str, text: &str) -> Result<(), DeliveryError> {
        let start = Instant::now();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .arg(to)
            // Nothing of mfad's environment leaks into the program; it gets a fixed PATH.
            .env_clear()
            .env("PATH", SAFE_PATH)
            .current_dir("/")
            // Its own process group: at the timeout the whole group is killed, so a wrapper
            // script's children (which have the message) do not outlive the send.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| DeliveryError::CommandStart {
                program: self.program.clone(),
                detail: e.to_string(),
            })?;
        // The message is far below a pipe's buffer, so this write never blocks; a program
        // that exits without reading it gets EPIPE, which its exit status will explain.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text.as_bytes());
            let _ = stdin.write_all(b"\n");
        }
        let stderr_rx = child.stderr.take().map(|mut pipe| {
            let (tx, rx) = mpsc::sync_channel(1);
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.by_ref().take(MAX_STDERR_BYTES).read_to_end(&mut buf);
                // Drain the rest so the program never blocks on a full pipe.
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
                let _ = tx.send(buf);
            });
            rx
        });
        let status = self.wait(&mut child, start)?;
        if status.success() {
            return Ok(());
        }
        // A grandchild may still hold stderr open: wait only briefly for it.
        let stderr = stderr_rx
            .and_then(|rx| rx.recv_timeout(Duration::from_millis(200)).ok())
            .unwrap_or_default();
        let outcome = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => "unknown status".into(),
        };
        Err(DeliveryError::CommandFailed {
            outcome,
            stderr: sanitize(&String::from_utf8_lossy(&stderr), text, to, &mask_phone(to)),
        })
    }

    /// Waits for the program until the deadline, then kills it (by the child handle: the
    /// PID is still ours, not yet reaped).
    fn wait(&self, child: &mut Child, start: Instant) -> Result<ExitStatus, DeliveryError> {
        let lost = |e: std::io::Error| DeliveryError::Protocol {
            channel: Channel::SmsCommand,
            detail: format!("waiting for {}: {e}", self.program.display()),
        };
        loop {
            if let Some(status) = child.try_wait().map_err(lost)? {
                return Ok(status);
            }
            if start.elapsed() >= self.timeout {
                // The child is not reaped yet, so its PID is still the group's ID and cannot
                // have been reused: killing the group reaches only what it started.
                let group = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
                return Err(DeliveryError::TimedOut {
                    channel: Channel::SmsCommand,
                    after: self.timeout,
                });
            }
            thread::sleep(POLL);
        }
    }

    pub(crate) fn check(&self) -> Result<(), DeliveryError> {
        let file_error = |why: String| DeliveryError::File {
            path: self.program.clone(),
            why,
        };
        let meta = std::fs::metadata(&self.program)
            .map_err(|e| file_error(format!("sms.command cannot be run: {e}")))?;
        let mode = meta.permissions().mode();
        if !meta.is_file() || mode & 0o111 == 0 {
            return Err(file_error("sms.command is not an executable file".into()));
        }
        if mode & 0o022 != 0 {
            return Err(file_error(format!(
                "sms.command may be changed by group or others (mode {:04o}), who would then read every code: run `chmod go-w {}`",
                mode & 0o7777,
                self.program.display()
            )));
        }
        Ok(())
    }
}
