//! Bus helpers shared by the policy, chooser, recovery and self-service tests: connections as
//! root or as another local account, Manage1 calls, token enrollment and step-ups.

#![allow(dead_code)] // each test file uses a different part

use std::time::Duration;

use mfa_proto::{MfaError, TotpEnrollOptions, WireStep};
pub use mfa_tests::manage::{call, root_conn};
use mfa_tests::{TestEnv, Totp, now, user_ids};

/// A connection to `env`'s bus that the bus (and so mfad) sees as the local account `user`.
pub fn conn_as(env: &TestEnv, user: &str) -> zbus::Connection {
    let stream = mfa_tests::manage::bus_stream_as(env, user);
    let (uid, _) = user_ids(user);
    zbus::block_on(
        zbus::connection::Builder::unix_stream(stream)
            .user_id(uid)
            .method_timeout(Duration::from_secs(10))
            .build(),
    )
    .unwrap_or_else(|e| panic!("connect to the test bus as {user}: {e}"))
}

/// The D-Bus error name of a refusal, e.g. `StepUpRequired`, for messages and matching.
pub fn kind(e: &MfaError) -> String {
    format!("{e:?}")
        .split('(')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Asserts that `r` is the refusal `want` (the variant name, e.g. `"AccessDenied"`).
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(r: Result<T, MfaError>, want: &str) -> MfaError {
    match r {
        Ok(v) => panic!("expected {want}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(kind(&e), want, "expected {want}, got {e:?}");
            e
        }
    }
}

/// Enrolls `totp` for `user` over `conn` (root, or the user themselves), confirming with the
/// previous step's code so the current step stays free for a login. A step boundary between
/// computing and checking the code is retried once.
pub fn enroll_token(conn: &zbus::Connection, user: &str, name: &str, totp: &Totp) {
    let opts = TotpEnrollOptions {
        name: name.into(),
        secret_base32: totp.secret.clone(),
        digits: totp.digits,
        algorithm: totp.algorithm.clone(),
        period: totp.period as u32,
        issuer: String::new(),
    };
    let start = call(conn, async |p| p.begin_totp_enrollment(user, &opts).await)
        .unwrap_or_else(|e| panic!("begin enrollment of {user}/{name}: {e:?}"));
    let mut last = None;
    for _ in 0..2 {
        let code = totp.previous_code();
        match call(conn, async |p| {
            p.confirm_totp_enrollment(&start.enrollment, &code).await
        }) {
            Ok(_) => return,
            Err(e) => last = Some(e),
        }
    }
    panic!("confirm enrollment of {user}/{name}: {last:?}");
}

/// Enrolls `n` fresh tokens for `user` over `conn`; each can log in once in the current step.
pub fn enroll_tokens(conn: &zbus::Connection, user: &str, n: usize) -> Vec<Totp> {
    (1..=n)
        .map(|i| {
            let t = Totp::sha1();
            enroll_token(conn, user, &format!("t{i}"), &t);
            t
        })
        .collect()
}

/// Runs a step-up for `user` (empty: the caller) on `conn` answering `answers` in turn, and
/// returns the last step.
pub fn step_up(conn: &zbus::Connection, user: &str, answers: &[&str]) -> WireStep {
    let mut step = call(conn, async |p| p.begin_step_up(user).await)
        .unwrap_or_else(|e| panic!("BeginStepUp({user}): {e:?}"));
    for a in answers {
        assert_eq!(step.kind, "prompt", "expected a prompt for {a:?}: {step:?}");
        let flow = step.flow.clone();
        step = call(conn, async |p| p.answer_step_up(&flow, a).await)
            .unwrap_or_else(|e| panic!("AnswerStepUp: {e:?}"));
    }
    step
}

/// Waits until Unix time `t` has passed (by the daemon's clock, the same as ours).
pub fn wait_until_past(t: u64) {
    while now() <= t {
        std::thread::sleep(Duration::from_millis(100));
    }
}
