//! Process-level logins: one `pamtester SERVICE USER authenticate` per login, reading the
//! code from its standard input, timed from spawn to exit, as a login program would cost.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{BenchError, Result};
use crate::pam_loop::{Login, LoginResult};

/// Runs each of `logins` in its own pamtester process (stacks from `/etc/pam.d`, which is
/// the private copy inside the bench's mount namespace).
pub fn run(logins: &[Login]) -> Result<Vec<LoginResult>> {
    logins.iter().map(one).collect()
}

fn one(l: &Login) -> Result<LoginResult> {
    let start = Instant::now();
    let mut child = Command::new("pamtester")
        .args([&l.service, &l.user, "authenticate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BenchError::io("run pamtester (apt-get install pamtester)", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A module that asks nothing never reads it: a closed pipe is fine then.
        let _ = writeln!(stdin, "{}", l.code.as_deref().unwrap_or(""));
    }
    let out = child
        .wait_with_output()
        .map_err(|e| BenchError::io("wait for pamtester", e))?;
    let elapsed = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let ok = out.status.success() && text.contains("successfully authenticated");
    Ok(LoginResult {
        rc: if ok {
            0
        } else {
            out.status.code().unwrap_or(-1).max(1)
        },
        elapsed,
        // pamtester writes prompts to standard error.
        prompts: u32::from(String::from_utf8_lossy(&out.stderr).contains("Verification code:")),
        threads: 0,
    })
}
