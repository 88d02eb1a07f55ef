//! What survives the loss of `mfa.db-wal` (see the module docs of [`super`]): each test
//! reads a copy of the main database file alone, as SQLite would after the WAL was deleted.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mfa_core::code::parse_code;
use mfa_core::ratelimit::RateLimit;
use rusqlite::Connection;

use super::tests::{NOW, enrolled, recovery_set};
use super::*;

/// A private directory on the same file system as production state (not a tmpfs, so the
/// `fsync`s the measurement counts are real).
fn state_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("mfad-wal-test.")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// The main database file only, copied to `dir` and opened there: what mfad would find had
/// the WAL been deleted.
fn main_file_only(db: &Path, dir: &Path) -> Connection {
    let copy = dir.join("main-only.db");
    std::fs::copy(db, &copy).unwrap();
    Connection::open(&copy).unwrap()
}

fn wal_len(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len())
}

fn query(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn given_a_used_recovery_code_then_the_main_file_alone_has_it_used() {
    let dir = state_dir();
    let db = dir.path().join("mfa.db");
    let store = Store::open(&db).unwrap();
    let (codes, salt) = recovery_set(&store, "alice");
    let guess = hash_answer(&codes[0].display(), &salt);
    let outcome = store
        .verify_recovery("alice", &salt, guess.as_ref(), NOW, &RateLimit::default())
        .unwrap();
    assert!(
        matches!(outcome, VerifyOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert!(wal_len(&db) > 0, "the test needs a WAL to lose");
    let main = main_file_only(&db, dir.path());
    assert_eq!(
        query(
            &main,
            "SELECT COUNT(*) FROM recovery_codes WHERE user = 'alice'"
        ),
        10,
        "the set itself was not checkpointed"
    );
    assert_eq!(
        query(
            &main,
            "SELECT COUNT(*) FROM recovery_codes WHERE user = 'alice' AND used_at > 0"
        ),
        1,
        "the used code is back to unused without the WAL"
    );
}

#[test]
fn given_rare_writes_then_each_is_in_the_main_file_at_once() {
    let dir = state_dir();
    let db = dir.path().join("mfa.db");
    let store = Store::open(&db).unwrap();
    let _ = enrolled(&store);
    let main = || main_file_only(&db, dir.path());
    assert_eq!(
        query(&main(), "SELECT COUNT(*) FROM tokens"),
        1,
        "enrollment"
    );

    store.lock_user("alice", "lost laptop", NOW).unwrap();
    assert_eq!(
        query(
            &main(),
            "SELECT locked_at FROM user_settings WHERE user = 'alice'"
        ),
        NOW as i64,
        "lock"
    );
    assert!(store.unlock_user("alice").unwrap());
    assert_eq!(
        query(
            &main(),
            "SELECT locked_at FROM user_settings WHERE user = 'alice'"
        ),
        0,
        "unlock"
    );
    store
        .set_service_mode(
            "sshd",
            Some((
                mfa_core::policy::ServiceMode::Required,
                mfa_core::policy::MethodSet::all(),
            )),
        )
        .unwrap();
    assert_eq!(
        query(
            &main(),
            "SELECT COUNT(*) FROM service_policy WHERE service = 'sshd'"
        ),
        1,
        "policy"
    );
    let removal = store.remove_token("alice", "phone", true).unwrap();
    assert!(matches!(removal, Removal::Removed { .. }), "{removal:?}");
    assert_eq!(query(&main(), "SELECT COUNT(*) FROM tokens"), 0, "removal");
}

#[test]
fn given_a_totp_login_then_its_watermark_is_left_to_the_automatic_checkpoint() {
    // The per-login path does no checkpoint (issue 7: no extra fsync per login); its state
    // is still durable, in the WAL.
    let dir = state_dir();
    let db = dir.path().join("mfa.db");
    let store = Store::open(&db).unwrap();
    let k = enrolled(&store);
    let code = parse_code(&k.code_at(NOW)).unwrap();
    let outcome = store
        .verify_totp("alice", Some(&code), NOW, 1, &RateLimit::default())
        .unwrap();
    assert!(
        matches!(outcome, VerifyOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let in_main = query(
        &main_file_only(&db, dir.path()),
        "SELECT last_step FROM tokens WHERE user = 'alice'",
    );
    assert_eq!(in_main, (NOW / 30 - 2) as i64, "the login was checkpointed");
    drop(store);
    // A clean close folds it in (SQLite checkpoints when the last connection closes).
    let reopened = Connection::open(&db).unwrap();
    assert_eq!(
        query(
            &reopened,
            "SELECT last_step FROM tokens WHERE user = 'alice'"
        ),
        (NOW / 30) as i64
    );
}

#[test]
fn given_the_final_checkpoint_then_the_wal_is_empty_and_the_store_stays_locked() {
    let dir = state_dir();
    let db = dir.path().join("mfa.db");
    let store = Arc::new(Store::open(&db).unwrap());
    let k = enrolled(&store);
    let code = parse_code(&k.code_at(NOW)).unwrap();
    let _ = store
        .verify_totp("alice", Some(&code), NOW, 1, &RateLimit::default())
        .unwrap();
    assert!(wal_len(&db) > 0);
    let fin = store.final_checkpoint();
    let c = fin.result.as_ref().unwrap();
    assert!(c.complete(), "{c:?}");
    assert_eq!(wal_len(&db), 0, "TRUNCATE leaves an empty WAL");
    assert_eq!(
        query(
            &main_file_only(&db, dir.path()),
            "SELECT last_step FROM tokens WHERE user = 'alice'"
        ),
        (NOW / 30) as i64
    );
    // While the result lives, no other call gets the store.
    let other = {
        let store = store.clone();
        std::thread::spawn(move || store.lock_user("alice", "late", NOW + 1))
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !other.is_finished(),
        "a write got past the final checkpoint"
    );
    drop(fin);
    other.join().unwrap().unwrap();
}

#[test]
fn given_another_reader_when_a_rare_write_commits_then_it_succeeds_and_a_warning_says_so() {
    let dir = state_dir();
    let db = dir.path().join("mfa.db");
    let store = Store::open(&db).unwrap();
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    store.on_warning(move |w| sink.lock().unwrap().push(w.to_owned()));
    let _ = enrolled(&store);
    assert!(warnings.lock().unwrap().is_empty(), "{warnings:?}");
    // An administrator's sqlite3 in the middle of a read: its snapshot pins the WAL.
    let reader = Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _ = query(&reader, "SELECT COUNT(*) FROM tokens");
    store.lock_user("alice", "stolen phone", NOW).unwrap();
    let got = warnings.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("checkpoint after an administrative lock incomplete")
            && got[0].contains("never delete"),
        "{got:?}"
    );
    reader.execute_batch("COMMIT").unwrap();
    assert!(store.user_settings("alice").unwrap().locked_at > 0);
}

/// `cargo test -p mfad --lib measure_checkpoint_cost -- --ignored --nocapture`: the cost of
/// a commit alone and followed by a PASSIVE or a FULL checkpoint, on this machine's disk.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_checkpoint_cost() {
    let dir = state_dir();
    let db = dir.path().join("mfa.db");
    let store = Store::open(&db).unwrap();
    let _ = enrolled(&store);
    let rounds = 300;
    let mut report = Vec::new();
    for mode in ["none", "PASSIVE", "FULL"] {
        let mut times = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let conn = store.lock();
            let start = Instant::now();
            conn.execute(
                "UPDATE tokens SET last_used = ?1 WHERE user = 'alice'",
                [i as i64],
            )
            .unwrap();
            if mode != "none" {
                assert!(run_checkpoint(&conn, mode).unwrap().complete());
            }
            times.push(start.elapsed());
        }
        times.sort();
        report.push(format!(
            "{mode:>8}: p50 {:?} p90 {:?} p99 {:?}",
            times[rounds / 2],
            times[rounds * 9 / 10],
            times[rounds * 99 / 100]
        ));
    }
    eprintln!(
        "commit (+ checkpoint), {rounds} rounds:\n{}",
        report.join("\n")
    );
}
