//! Real servers on loopback that receive the codes mfad sends: an SMTP server (Debian's
//! aiosmtpd, storing to a Maildir) and an HTTP server standing in for an SMS gateway
//! (`tests/fixtures/sms_gateway.py`). Each is stopped in `Drop`, by PID.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::process::die_with_parent;
use crate::workspace_root;

/// Debian's Python, which has python3-aiosmtpd (the `python3` on PATH may be another).
const PYTHON: &str = "/usr/bin/python3";

/// A free TCP port on 127.0.0.1 (released before returning; the race is harmless here).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited before listening: {st}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 15 s");
}

/// The six-digit code in a message text (the first run of exactly six digits).
pub fn code_in(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(5)).find_map(|i| {
        let run = &b[i..i + 6];
        let before = i.checked_sub(1).map(|j| b[j].is_ascii_digit());
        let after = b.get(i + 6).map(u8::is_ascii_digit);
        (run.iter().all(u8::is_ascii_digit) && before != Some(true) && after != Some(true))
            .then(|| String::from_utf8_lossy(run).into_owned())
    })
}

/// An SMTP server on loopback that keeps every message in a Maildir.
pub struct SmtpSink {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    maildir: PathBuf,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free port, storing under `dir`.
    pub fn start(dir: &Path) -> SmtpSink {
        let maildir = dir.join("Maildir");
        let port = free_port();
        let mut cmd = Command::new(PYTHON);
        cmd.args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .expect("start aiosmtpd (apt install python3-aiosmtpd)");
        wait_for_port(port, &mut child, "aiosmtpd");
        SmtpSink {
            child,
            port,
            maildir,
        }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first (raw RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, String, PathBuf)> =
            fs::read_dir(self.maildir.join("new"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    let modified = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    (
                        modified,
                        e.file_name().to_string_lossy().into_owned(),
                        e.path(),
                    )
                })
                .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, _, p)| fs::read_to_string(p).ok())
            .collect()
    }

    /// Waits (up to 10 s) for message number `n` (1-based) and returns it.
    pub fn wait_for_message(&self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut all = self.messages();
            if all.len() >= n {
                return all.swap_remove(n - 1);
            }
            assert!(
                Instant::now() < deadline,
                "message {n} never arrived (have {})",
                all.len()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (e.g. to test a mail server that is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP server on loopback standing in for an SMS gateway: records each request as a
/// JSON line.
pub struct SmsGateway {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    record: PathBuf,
}

impl SmsGateway {
    /// Starts the gateway, answering every request with HTTP `status`.
    pub fn start(dir: &Path, status: u16) -> SmsGateway {
        let record = dir.join("sms-requests.jsonl");
        let script = workspace_root().join("tests/fixtures/sms_gateway.py");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script)
            .arg(&record)
            .arg(status.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().expect("start the SMS gateway stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the gateway's port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("gateway printed {line:?}, not PORT <n>"));
        wait_for_port(port, &mut child, "the SMS gateway");
        SmsGateway {
            child,
            port,
            record,
        }
    }

    /// `http://127.0.0.1:PORT/send`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/send", self.port)
    }

    /// The request bodies received so far, oldest first.
    pub fn bodies(&self) -> Vec<String> {
        fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("body")?.as_str().map(str::to_owned))
            .collect()
    }

    /// Waits (up to 10 s) for request number `n` (1-based) and returns its body.
    pub fn wait_for_body(&self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut all = self.bodies();
            if all.len() >= n {
                return all.swap_remove(n - 1);
            }
            assert!(
                Instant::now() < deadline,
                "SMS {n} never reached the gateway (have {})",
                all.len()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmsGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::code_in;

    #[test]
    fn finds_exactly_six_digits() {
        assert_eq!(
            code_in("Your login code for h is 012345. It is valid for 5:00.").as_deref(),
            Some("012345")
        );
        assert_eq!(code_in("id 1234567 then 654321").as_deref(), Some("654321"));
        assert_eq!(code_in("none 12345"), None);
    }
}
