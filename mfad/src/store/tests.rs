use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier};

use zeroize::Zeroizing;

use mfa_core::code::parse_code;
use mfa_core::ratelimit::RateLimit;
use mfa_core::totp::{TotpKey, TotpParams};

use super::*;

pub(super) const NOW: u64 = 1_800_000_000;

pub(super) fn key() -> TotpKey {
    TotpKey::new(
        Zeroizing::new(b"12345678901234567890".to_vec()),
        TotpParams::default(),
    )
    .unwrap()
}

pub(super) fn enrolled(store: &Store) -> TotpKey {
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
    assert_eq!(
        store.remove_token("alice", "nope", true).unwrap(),
        Removal::NotFound
    );
    assert_eq!(
        store.remove_token("bob", "phone", true).unwrap(),
        Removal::NotFound
    );
    let id = store.list_tokens("alice").unwrap()[0].id.clone();
    match store.remove_token("alice", &id, true).unwrap() {
        Removal::Removed { info, last, .. } => {
            assert_eq!(info.name, "phone");
            assert!(last);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.count_tokens("alice").unwrap(), 0);
}

#[test]
fn the_last_token_stays_unless_allowed_and_takes_always_require_with_it() {
    let store = Store::open_in_memory().unwrap();
    enrolled(&store);
    assert!(store.set_always_require("alice", true).unwrap());
    assert_eq!(
        store.remove_token("alice", "phone", false).unwrap(),
        Removal::WouldRemoveLast
    );
    assert_eq!(store.count_tokens("alice").unwrap(), 1);
    assert!(store.user_settings("alice").unwrap().always_require);
    let Removal::Removed {
        cleared_always_require,
        ..
    } = store.remove_token("alice", "phone", true).unwrap()
    else {
        panic!("not removed")
    };
    assert!(cleared_always_require);
    assert!(!store.user_settings("alice").unwrap().always_require);
    // And it cannot be turned on again without a token.
    assert!(!store.set_always_require("alice", true).unwrap());
    assert!(!store.user_settings("alice").unwrap().always_require);
}

pub(super) fn recovery_set(
    store: &Store,
    user: &str,
) -> (Vec<mfa_core::recovery::RecoveryCode>, RecoverySalt) {
    use mfa_core::recovery::{KDF_ROUNDS, RecoveryCode};
    let salt = RecoverySalt {
        salt: b"0123456789abcdef".to_vec(),
        rounds: KDF_ROUNDS,
    };
    let codes: Vec<RecoveryCode> = (0..10u8)
        .map(|i| RecoveryCode::from_random(&[i; 10]))
        .collect();
    let hashes: Vec<_> = codes
        .iter()
        .map(|c| c.hash(&salt.salt, salt.rounds))
        .collect();
    store
        .replace_recovery_codes(user, &salt.salt, salt.rounds, &hashes, NOW)
        .unwrap();
    (codes, salt)
}

#[test]
fn a_recovery_code_works_once_and_failures_share_the_counter() {
    let store = Store::open_in_memory().unwrap();
    let (codes, salt) = recovery_set(&store, "alice");
    let limits = RateLimit::default();
    assert_eq!(store.recovery_codes_left("alice").unwrap(), 10);
    let guess = hash_answer(&codes[3].display(), &salt);
    let first = store
        .verify_recovery("alice", &salt, guess.as_ref(), NOW, &limits)
        .unwrap();
    assert!(matches!(first, VerifyOutcome::Accepted { .. }), "{first:?}");
    assert_eq!(store.recovery_codes_left("alice").unwrap(), 9);
    let again = store
        .verify_recovery("alice", &salt, guess.as_ref(), NOW, &limits)
        .unwrap();
    let VerifyOutcome::Failed(f) = again else {
        panic!("a used code was accepted again: {again:?}")
    };
    assert_eq!(f.state.consecutive, 1);
    // A TOTP failure and a malformed recovery answer add to the same counter.
    let k = enrolled(&store);
    drop(k);
    let wrong = parse_code("000000").unwrap();
    let _ = store
        .verify_totp("alice", Some(&wrong), NOW, 1, &limits)
        .unwrap();
    let _ = store
        .verify_recovery("alice", &salt, None, NOW, &limits)
        .unwrap();
    assert_eq!(store.failure_state("alice").unwrap().consecutive, 3);
}

#[test]
fn a_new_recovery_set_replaces_the_old_one_entirely() {
    let store = Store::open_in_memory().unwrap();
    let (old, old_salt) = recovery_set(&store, "alice");
    let new_salt = b"fedcba9876543210".to_vec();
    let fresh = mfa_core::recovery::RecoveryCode::from_random(&[0xaa; 10]);
    store
        .replace_recovery_codes(
            "alice",
            &new_salt,
            mfa_core::recovery::KDF_ROUNDS,
            &[fresh.hash(&new_salt, mfa_core::recovery::KDF_ROUNDS)],
            NOW,
        )
        .unwrap();
    assert_eq!(store.recovery_codes_left("alice").unwrap(), 1);
    // An old code hashed with the old salt: refused (the set changed under it).
    let g = hash_answer(&old[0].display(), &old_salt);
    assert!(matches!(
        store
            .verify_recovery("alice", &old_salt, g.as_ref(), NOW, &RateLimit::default())
            .unwrap(),
        VerifyOutcome::NotEnrolled
    ));
    let salt = store.recovery_salt("alice").unwrap().unwrap();
    let g = hash_answer(&fresh.display(), &salt);
    assert!(matches!(
        store
            .verify_recovery("alice", &salt, g.as_ref(), NOW, &RateLimit::default())
            .unwrap(),
        VerifyOutcome::Accepted { .. }
    ));
}

#[test]
fn an_admin_lock_refuses_valid_codes_until_unlocked() {
    let store = Store::open_in_memory().unwrap();
    let k = enrolled(&store);
    store.lock_user("alice", "lost laptop", NOW).unwrap();
    let c = parse_code(&k.code_at(NOW)).unwrap();
    assert_eq!(
        store
            .verify_totp("alice", Some(&c), NOW, 1, &RateLimit::default())
            .unwrap(),
        VerifyOutcome::AdminLocked
    );
    assert_eq!(
        store.user_settings("alice").unwrap().lock_reason,
        "lost laptop"
    );
    assert!(store.unlock_user("alice").unwrap());
    assert!(!store.unlock_user("alice").unwrap());
    assert!(matches!(
        store
            .verify_totp("alice", Some(&c), NOW, 1, &RateLimit::default())
            .unwrap(),
        VerifyOutcome::Accepted { .. }
    ));
}

#[test]
fn the_login_snapshot_reads_rules_settings_and_deadlines() {
    use mfa_core::policy::{Method, MethodSet, ServiceMode};
    let store = Store::open_in_memory().unwrap();
    enrolled(&store);
    recovery_set(&store, "alice");
    let totp: MethodSet = [Method::Totp].into_iter().collect();
    store
        .set_service_mode("*", Some((ServiceMode::Optional, MethodSet::all())))
        .unwrap();
    store
        .set_service_mode("sshd", Some((ServiceMode::Required, totp)))
        .unwrap();
    store.set_grace("user:alice", Some(NOW + 10)).unwrap();
    store.set_grace("group:staff", Some(NOW + 20)).unwrap();
    store.set_grace("user:bob", Some(NOW + 30)).unwrap();
    let s = store.login_snapshot("alice", "sshd").unwrap();
    let rule = s.rule.unwrap();
    assert_eq!(
        (rule.service.as_str(), rule.mode, rule.methods),
        ("sshd", ServiceMode::Required, totp)
    );
    assert_eq!((s.totp_tokens, s.recovery_left), (1, 10));
    assert_eq!(s.user_grace, Some(NOW + 10));
    assert_eq!(s.group_grace, vec![("staff".to_owned(), NOW + 20)]);
    let s = store.login_snapshot("alice", "login").unwrap();
    assert_eq!(s.rule.unwrap().service, "*");
    assert_eq!(
        store.always_require_allow().unwrap(),
        DEFAULT_ALWAYS_REQUIRE_ALLOW
    );
    store.set_always_require_allow("group:wheel").unwrap();
    assert_eq!(store.always_require_allow().unwrap(), "group:wheel");
    assert!(store.set_grace("user:alice", None).unwrap());
    assert!(!store.set_grace("user:alice", None).unwrap());
}

#[test]
fn given_a_version_4_database_with_secrets_in_clear_when_opened_then_they_are_sealed_and_still_verify()
 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.path().join("mfa.db");
    let k = enrolled(&Store::open(&path).unwrap());
    // Back to what version 4 wrote: the secret in clear, no key check, no key file.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE seal; DROP TABLE sent_codes; DROP TABLE code_sends;
             UPDATE tokens SET secret = X'3132333435363738393031323334353637383930';
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    std::fs::remove_file(seal::default_key_path(&path)).unwrap();

    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), migrations::CURRENT_VERSION);
    let sealed: Vec<u8> = store
        .lock()
        .query_row("SELECT secret FROM tokens", [], |r| r.get(0))
        .unwrap();
    assert!(!sealed.windows(20).any(|w| w == b"12345678901234567890"));
    let c = parse_code(&k.code_at(NOW)).unwrap();
    let outcome = store
        .verify_totp("alice", Some(&c), NOW, 1, &RateLimit::default())
        .unwrap();
    assert!(
        matches!(outcome, VerifyOutcome::Accepted { .. }),
        "{outcome:?}"
    );
}

#[test]
fn given_a_sealed_secret_moved_to_another_user_then_it_does_not_open() {
    let store = Store::open_in_memory().unwrap();
    enrolled(&store);
    store
        .lock()
        .execute("UPDATE tokens SET user = 'mallory'", [])
        .unwrap();
    let c = parse_code(&key().code_at(NOW)).unwrap();
    let e = store
        .verify_totp("mallory", Some(&c), NOW, 1, &RateLimit::default())
        .unwrap_err();
    assert!(e.to_string().contains("does not open"), "{e}");
}

#[test]
fn a_refused_answer_counts_like_a_wrong_code_behind_the_same_gate() {
    let store = Store::open_in_memory().unwrap();
    let _ = enrolled(&store);
    let limits = RateLimit {
        free_failures: 2,
        base_delay_secs: 30,
        ..RateLimit::default()
    };
    for n in 1..=2 {
        let VerifyOutcome::Failed(f) = store.refuse_answer("alice", NOW, &limits).unwrap() else {
            panic!("refused answer {n} was not counted")
        };
        assert_eq!(f.state.consecutive, n);
        assert!(!f.replayed);
    }
    // The third failure starts the back-off; while it runs nothing is counted.
    let third = store.refuse_answer("alice", NOW, &limits).unwrap();
    assert!(matches!(third, VerifyOutcome::Failed(_)), "{third:?}");
    let during = store.refuse_answer("alice", NOW + 1, &limits).unwrap();
    assert!(
        matches!(during, VerifyOutcome::Throttled { .. }),
        "{during:?}"
    );
    assert_eq!(store.failure_state("alice").unwrap().consecutive, 3);
    // An administrative lock refuses before counting, as for a code.
    assert!(store.unlock_user("alice").unwrap());
    store.lock_user("alice", "test", NOW).unwrap();
    assert_eq!(
        store.refuse_answer("alice", NOW, &limits).unwrap(),
        VerifyOutcome::AdminLocked
    );
    assert_eq!(store.failure_state("alice").unwrap().consecutive, 0);
}

#[test]
fn given_one_valid_code_when_verified_from_many_threads_of_one_store_then_exactly_one_success() {
    // One store: the verifications share group commits, the consumption is still exclusive.
    let store = Arc::new(Store::open_in_memory().unwrap());
    let k = enrolled(&store);
    let code = k.code_at(NOW);
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (store, barrier, code) = (store.clone(), barrier.clone(), code.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let c = parse_code(&code).unwrap();
                let limits = RateLimit {
                    free_failures: 50,
                    ..RateLimit::default()
                };
                store
                    .verify_totp("alice", Some(&c), NOW, 1, &limits)
                    .unwrap()
            })
        })
        .collect();
    let outcomes: Vec<VerifyOutcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, VerifyOutcome::Accepted { .. }))
        .count();
    assert_eq!(accepted, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter(|o| !matches!(o, VerifyOutcome::Accepted { .. }))
            .all(|o| matches!(o, VerifyOutcome::Failed(f) if f.replayed)),
        "{outcomes:?}"
    );
    assert_eq!(store.failure_state("alice").unwrap().consecutive, 15);
}
