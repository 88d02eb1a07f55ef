use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier};

use zeroize::Zeroizing;

use mfa_core::code::parse_code;
use mfa_core::ratelimit::RateLimit;
use mfa_core::totp::{TotpKey, TotpParams};

use super::*;

const NOW: u64 = 1_800_000_000;

fn key() -> TotpKey {
    TotpKey::new(
        Zeroizing::new(b"12345678901234567890".to_vec()),
        TotpParams::default(),
    )
    .unwrap()
}

fn enrolled(store: &Store) -> TotpKey {
    let k = key();
    let t = NewTotpToken {
        user: "alice",
        name: "phone",
        key: &k,
        confirmed_step: NOW / 30 - 2,
    };
    store.insert_totp(&t, NOW).unwrap();
    k
}

#[test]
fn given_one_valid_code_when_verified_from_many_connections_then_exactly_one_success() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.path().join("mfa.db");
    let k = enrolled(&Store::open(&path).unwrap());
    let code = k.code_at(NOW);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (path, barrier, code) = (path.clone(), barrier.clone(), code.clone());
            std::thread::spawn(move || {
                // Separate connections: the guarantee comes from SQLite, not the mutex.
                let store = Store::open(&path).unwrap();
                barrier.wait();
                let c = parse_code(&code).unwrap();
                store
                    .verify_totp(
                        "alice",
                        Some(&c),
                        NOW,
                        1,
                        &RateLimit {
                            free_failures: 50,
                            ..RateLimit::default()
                        },
                    )
                    .unwrap()
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins = outcomes
        .iter()
        .filter(|o| matches!(o, VerifyOutcome::Accepted { .. }))
        .count();
    assert_eq!(wins, 1, "{outcomes:?}");
    let replays = outcomes
        .iter()
        .filter(|o| matches!(o, VerifyOutcome::Failed(f) if f.replayed))
        .count();
    assert_eq!(replays, 7, "{outcomes:?}");
}

#[test]
fn given_failures_then_counter_is_exact_and_success_resets_it() {
    let store = Store::open_in_memory().unwrap();
    let k = enrolled(&store);
    let limits = RateLimit {
        free_failures: 10,
        ..RateLimit::default()
    };
    let wrong = parse_code(&format!(
        "{:06}",
        (k.code_at(NOW).parse::<u32>().unwrap() + 500_000) % 1_000_000
    ))
    .unwrap();
    for n in 1..=3 {
        match store
            .verify_totp("alice", Some(&wrong), NOW, 0, &limits)
            .unwrap()
        {
            VerifyOutcome::Failed(f) => assert_eq!(f.state.consecutive, n),
            other => panic!("{other:?}"),
        }
    }
    let ok = parse_code(&k.code_at(NOW)).unwrap();
    assert!(matches!(
        store
            .verify_totp("alice", Some(&ok), NOW, 0, &limits)
            .unwrap(),
        VerifyOutcome::Accepted { .. }
    ));
    assert_eq!(store.failure_state("alice").unwrap().consecutive, 0);
}

#[test]
fn given_a_closed_gate_then_the_code_is_not_checked_and_not_counted() {
    let store = Store::open_in_memory().unwrap();
    let k = enrolled(&store);
    let limits = RateLimit {
        free_failures: 0,
        base_delay_secs: 60,
        max_delay_secs: 60,
        lockout_after: 100,
    };
    assert!(matches!(
        store.verify_totp("alice", None, NOW, 1, &limits).unwrap(),
        VerifyOutcome::Failed(_)
    ));
    let ok = parse_code(&k.code_at(NOW)).unwrap();
    assert_eq!(
        store
            .verify_totp("alice", Some(&ok), NOW + 1, 1, &limits)
            .unwrap(),
        VerifyOutcome::Throttled { until: NOW + 60 }
    );
    assert_eq!(store.failure_state("alice").unwrap().consecutive, 1);
    // After the delay the rightful code works.
    let ok = parse_code(&k.code_at(NOW + 60)).unwrap();
    assert!(matches!(
        store
            .verify_totp("alice", Some(&ok), NOW + 60, 1, &limits)
            .unwrap(),
        VerifyOutcome::Accepted { .. }
    ));
}

#[test]
fn given_no_token_then_not_enrolled_and_nothing_counted() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(
        store
            .verify_totp("bob", None, NOW, 1, &RateLimit::default())
            .unwrap(),
        VerifyOutcome::NotEnrolled
    );
    assert_eq!(store.failure_state("bob").unwrap().consecutive, 0);
}

#[test]
fn given_unsafe_modes_then_open_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = Store::open(&dir.path().join("mfa.db"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("chmod 700"), "{e}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.path().join("mfa.db");
    drop(Store::open(&path).unwrap());
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Store::open(&path).unwrap_err().to_string();
    assert!(e.contains("chmod 600"), "{e}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let e = Store::open(&link).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
}

#[test]
fn given_a_corrupt_file_then_open_refuses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.path().join("mfa.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Store::open(&path).is_err());
}

#[test]
fn given_a_newer_schema_then_open_refuses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.path().join("mfa.db");
    drop(Store::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let e = Store::open(&path).unwrap_err().to_string();
    assert!(e.contains("newer"), "{e}");
}

#[test]
fn removing_by_id_or_name_and_unknown_tokens() {
    let store = Store::open_in_memory().unwrap();
    enrolled(&store);
    assert!(store.remove_token("alice", "nope").unwrap().is_none());
    assert!(store.remove_token("bob", "phone").unwrap().is_none());
    let id = store.list_tokens("alice").unwrap()[0].id.clone();
    assert_eq!(
        store.remove_token("alice", &id).unwrap().unwrap().name,
        "phone"
    );
    assert_eq!(store.count_tokens("alice").unwrap(), 0);
}
