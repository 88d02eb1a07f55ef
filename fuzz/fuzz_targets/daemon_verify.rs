//! The daemon's login path as a D-Bus client drives it (`Login1.Begin`, `BeginSinglePrompt`,
//! `Answer`, `Cancel`), called in-process on the real `mfad::daemon::Daemon` over an
//! in-memory SQLite store, with fuzzed callers, login facts, flow ids and answers.
//!
//! One TOTP token is enrolled for root. When an answer byte says so, the harness sends that
//! token's real current code, so the accepting and replay paths run too.
//! Checked: no panic; a non-root caller never starts a login for root; a step is `allow`
//! only for an answer that is the token's valid code, and each time step is allowed at most
//! once (no replay), whatever came before.
#![no_main]

use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use mfa_core::config::Config;
use mfa_core::totp::{TotpKey, TotpParams};
use mfa_proto::{LoginFacts, MfaError, StepKind};
use mfad::audit::Audit;
use mfad::authz::Caller;
use mfad::daemon::Daemon;
use mfad::store::{NewTotpToken, Store};
use mfad::users::Account;
use zeroize::Zeroizing;

struct World {
    daemon: Daemon,
    key: TotpKey,
    /// The last time step an `allow` consumed.
    last_allowed: Mutex<Option<u64>>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // A syslog stand-in that drains every line, so logging never blocks or spams stderr.
        let dir = std::env::temp_dir().join(format!("mfa-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let sock_path = dir.join("syslog.sock");
        let _ = std::fs::remove_file(&sock_path);
        let sink = UnixDatagram::bind(&sock_path).expect("bind syslog stand-in");
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while sink.recv(&mut buf).is_ok() {}
        });
        let store = Store::open_in_memory().expect("in-memory store");
        let key = TotpKey::new(Zeroizing::new(vec![0x42; 20]), TotpParams::default()).expect("key");
        let now = mfad::clock::now();
        store
            .insert_totp(
                &NewTotpToken {
                    user: "root",
                    name: "fuzz",
                    key: &key,
                    confirmed_step: 0,
                },
                now,
            )
            .expect("enroll root");
        let mut config = Config::default();
        // No back-off in the way: every answer is checked (the lock-out still applies at
        // 100 and is cleared before each input).
        config.rate_limit.free_failures = 1000;
        let daemon = Daemon::new(store, &config, Audit::new(Some(sock_path), false));
        World {
            daemon,
            key,
            last_allowed: Mutex::new(None),
        }
    })
}

fn caller(admin: bool, sender: u8) -> Caller {
    let (name, uid) = if admin {
        ("root", 0)
    } else {
        ("nobody", 65534)
    };
    Caller {
        sender: format!(":1.{}", sender % 4),
        uid,
        account: Some(Account {
            name: name.into(),
            uid,
            gid: uid,
        }),
        admin,
    }
}

/// Splits the input into NUL-separated fields (lossy UTF-8, as zbus would refuse non-UTF-8).
fn fields(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let w = world();
    let root = caller(true, 0);
    let _ = w.daemon.unlock(&root, "root");
    let who = caller(control & 1 == 0, control >> 5);
    let f = fields(rest);
    let field = |i: usize| f.get(i).cloned().unwrap_or_default();
    let user = match (control >> 1) & 3 {
        0 | 1 => "root".to_owned(),
        2 => "nobody".to_owned(),
        _ => field(0),
    };
    let facts = LoginFacts {
        user: user.clone(),
        service: if control & 8 == 0 {
            "sshd".into()
        } else {
            field(1)
        },
        tty: field(2),
        rhost: field(3),
        ruser: String::new(),
        ssh_auth_info: if control & 16 == 0 {
            String::new()
        } else {
            field(4)
        },
    };
    let first = if control & 0x80 == 0 {
        w.daemon.begin(&who, &facts)
    } else {
        w.daemon.begin_single_prompt(&who, &facts).map(|(s, _)| s)
    };
    if !who.admin && user == "root" {
        // Malformed facts may be refused first; anything else is AccessDenied.
        assert!(
            matches!(
                first,
                Err(MfaError::AccessDenied(_) | MfaError::InvalidArgument(_))
            ),
            "nobody began a login for root: {first:?}"
        );
        return;
    }
    let Ok(mut step) = first else {
        return;
    };
    // Answers: fields 5.. ; one starting with '\u{1}' means "the real current code".
    for raw in f.iter().skip(5).take(8) {
        let StepKind::Prompt { flow, .. } = &step.kind else {
            break;
        };
        let now = mfad::clock::now();
        let (answer, real) = if raw.starts_with('\u{1}') {
            (w.key.code_at(now).to_string(), true)
        } else {
            (raw.clone(), false)
        };
        let flow = if raw.starts_with('\u{2}') {
            raw.clone()
        } else {
            flow.clone()
        };
        let next = w.daemon.answer(&who, &flow, &answer);
        let Ok(next) = next else {
            return;
        };
        if let StepKind::Allow { .. } = next.kind {
            assert_eq!(user, "root", "allowed a user without a token");
            // Which step did the answer match? Only the window around now can.
            let period = 30;
            let matched = (now / period).saturating_sub(1)..=(now / period + 1);
            let step_used = matched
                .clone()
                .find(|s| w.key.code_for_step(*s).as_str() == answer.trim())
                .unwrap_or_else(|| {
                    panic!("allowed an answer that is no valid code: {answer:?} real={real}")
                });
            let mut last = w.last_allowed.lock().unwrap_or_else(|p| p.into_inner());
            assert!(
                last.is_none_or(|l| step_used > l),
                "step {step_used} allowed again (last {last:?})"
            );
            *last = Some(step_used);
        }
        step = next;
    }
    if let StepKind::Prompt { flow, .. } = &step.kind {
        w.daemon.cancel(&who, flow);
    }
});
