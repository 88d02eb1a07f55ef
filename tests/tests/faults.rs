//! Storage and crash faults with the real mfad, bus and libpam (issue 6; security.md §5
//! "Storage", "Time", "Concurrency"): a database that cannot be written (immutable files,
//! read-only mount, full disk, held by another writer), corrupt or unsafe files, mfad killed
//! in the middle of a verify and at every step of an enrollment, the clock jumping back and
//! forth between logins, and a flood of wrong codes from parallel clients.
//!
//! Every fault must end in a denial (`PAM_AUTHINFO_UNAVAIL` with a message, and a syslog
//! line naming the cause) or a refusal to start that says what to fix; nothing half-written;
//! once the fault is cleared the same, unused code logs in and a used one still does not.
//!
//! File-system faults live in a private mount namespace of the test thread
//! ([`MountNamespace`]): an ext4 image on a loop device (immutable files), a read-only bind
//! mount, a tiny tmpfs. The host never sees them, and they go away with the test.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use mfa_proto::{LoginFacts, LoginProxy, MfaError, TotpEnrollOptions, WireStep};
use mfa_tests::manage::{call, manage, root_conn};
use mfa_tests::realenv::MountNamespace;
use mfa_tests::{
    CmdOutput, DEFAULT_SERVICE, LoginOutcome, NOT_ACCEPTED, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL,
    TestEnv, Totp, bin, now, wait_for_fresh_step,
};

const LOG_WAIT: Duration = Duration::from_secs(5);
/// The denial headline when mfad cannot use its database.
const DB_UNUSABLE: &str = "the MFA service cannot read its database.";

// ----- helpers -------------------------------------------------------------------------------

/// Runs a system command that must succeed (mount, mkfs, chattr, sqlite3, …).
#[track_caller]
fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `sqlite3 DB SQL` (a second, independent reader of mfad's file), trimmed output.
#[track_caller]
fn sql(db: &Path, query: &str) -> String {
    sh("sqlite3", &[path_str(db), query]).trim().to_owned()
}

#[track_caller]
fn assert_integrity_ok(env: &TestEnv) {
    assert_eq!(
        sql(&env.db_path(), "PRAGMA integrity_check;"),
        "ok",
        "integrity_check after the fault"
    );
}

fn state_dir(env: &TestEnv) -> PathBuf {
    env.db_path().parent().expect("state dir").to_path_buf()
}

/// Stops mfad for good (SIGKILL) and folds its WAL into the database file, so the state
/// directory can be copied, moved or damaged as one file plus the key.
fn stop_and_checkpoint(env: &TestEnv) {
    env.kill_mfad();
    sql(&env.db_path(), "PRAGMA wal_checkpoint(TRUNCATE);");
}

/// Runs mfad on `env`'s database and bus in the foreground (the test's mfad must be
/// stopped), expecting it to refuse to start; returns what it printed.
fn mfad_start_refused(env: &TestEnv) -> CmdOutput {
    mfad_start_refused_with(env, &[])
}

/// [`mfad_start_refused`] with extra command-line arguments.
fn mfad_start_refused_with(env: &TestEnv, extra: &[&str]) -> CmdOutput {
    let mut cmd = Command::new(bin("mfad"));
    cmd.args(extra);
    cmd.arg("--db")
        .arg(env.db_path())
        .arg("--bus-address")
        .arg(&env.bus_address)
        .arg("--syslog-socket")
        .arg(env.path().join("unused-syslog.sock"))
        .arg("--log-stderr");
    let out = mfa_tests::run(cmd, b"", Duration::from_secs(5));
    assert!(!out.timed_out, "mfad started and served:\n{out}");
    assert!(!out.success(), "mfad exited 0:\n{out}");
    out
}

/// Asserts the denial of a login whose daemon could not use its database.
#[track_caller]
fn assert_unavailable(out: &LoginOutcome, user: &str) {
    assert!(out.prompted(), "no code prompt:\n{out}");
    assert_eq!(out.result, Some(PAM_AUTHINFO_UNAVAIL), "{out}");
    out.assert_denied(DEFAULT_SERVICE, user, DB_UNUSABLE);
}

/// Waits for mfad's syslog line explaining an unavailable denial of `user`, and checks that
/// it names the cause (`cause` in SQLite's or the kernel's words).
#[track_caller]
fn assert_logged_cause(env: &TestEnv, user: &str, cause: &str) {
    let line = env.wait_for_syslog(LOG_WAIT, |l| {
        l.contains("reason=unavailable") && l.contains(&format!("user={user} "))
    });
    let line = line.unwrap_or_else(|| {
        panic!(
            "no reason=unavailable line for {user}:\n{}",
            env.syslog_lines().join("\n")
        )
    });
    assert!(
        line.to_lowercase().contains(cause),
        "the log line does not name the cause {cause:?}: {line}"
    );
}

/// After a fault is cleared: the same unused code logs in once, and then never again.
#[track_caller]
fn assert_code_still_fresh_then_used(env: &TestEnv, user: &str, code: &str) {
    env.login(user, &[code]).assert_success();
    let again = env.login(user, &[code]);
    again.assert_denied(DEFAULT_SERVICE, user, NOT_ACCEPTED);
    assert_eq!(again.result, Some(PAM_AUTH_ERR), "{again}");
}

/// `consecutive` of `user`'s failure record (0 without one), read from the file.
fn failures(env: &TestEnv, user: &str) -> u32 {
    let v = sql(
        &env.db_path(),
        &format!("SELECT consecutive FROM failures WHERE user = '{user}';"),
    );
    if v.is_empty() {
        0
    } else {
        v.parse().expect("a number")
    }
}

/// Another writer holding SQLite's write lock on the database (`BEGIN IMMEDIATE` in the
/// sqlite3 shell) until dropped.
struct WriteLock {
    child: Child,
}

impl WriteLock {
    fn hold(db: &Path) -> WriteLock {
        let mut cmd = Command::new("sqlite3");
        cmd.arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn sqlite3");
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin
            // With a busy timeout: mfad may be writing at this very moment, and a shell
            // without one would give up at once and hold nothing.
            .write_all(b".timeout 5000\nBEGIN IMMEDIATE;\n")
            .and_then(|()| stdin.flush())
            .expect("write to sqlite3");
        let lock = WriteLock { child };
        // Ready when a second writer cannot get in.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let probe = Command::new("sqlite3")
                .args([
                    "-cmd",
                    ".timeout 0",
                    path_str(db),
                    "BEGIN IMMEDIATE; ROLLBACK;",
                ])
                .output()
                .expect("probe sqlite3");
            if String::from_utf8_lossy(&probe.stderr).contains("locked") {
                return lock;
            }
            assert!(Instant::now() < deadline, "sqlite3 never took the lock");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"ROLLBACK;\n.quit\n");
        }
        self.child.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// mfad's state directory moved onto a file system of the test's choosing, inside a private
/// mount namespace of the test thread. Unmounted (lazily) when dropped; the namespace, and
/// with it every mount, also ends with the thread.
struct MovedState {
    mounted: PathBuf,
    _ns: MountNamespace,
}

impl MovedState {
    /// Stops mfad, checkpoints, mounts what `mount` sets up over the state directory, copies
    /// the database and key back in (modes and owners kept) and restarts mfad on it.
    fn new(env: &TestEnv, mount: impl FnOnce(&MountNamespace, &Path)) -> MovedState {
        stop_and_checkpoint(env);
        let state = state_dir(env);
        let saved = env.path().join("state.saved");
        sh("cp", &["-a", path_str(&state), path_str(&saved)]);
        let ns = MountNamespace::enter();
        mount(&ns, &state);
        fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).expect("chmod state");
        let _ = fs::remove_dir(state.join("lost+found"));
        sh(
            "cp",
            &["-a", &format!("{}/.", path_str(&saved)), path_str(&state)],
        );
        let moved = MovedState {
            mounted: state,
            _ns: ns,
        };
        env.restart_mfad();
        moved
    }

    /// A fresh ext4 file system in an image file, on a loop device.
    fn on_ext4(env: &TestEnv) -> MovedState {
        let image = env.path().join("state.ext4");
        fs::File::create(&image)
            .and_then(|f| f.set_len(16 << 20))
            .expect("image file");
        sh("mkfs.ext4", &["-q", "-F", path_str(&image)]);
        Self::new(env, |_, state| {
            sh("mount", &["-o", "loop", path_str(&image), path_str(state)]);
        })
    }

    /// A tmpfs of `size` (e.g. `4m`).
    fn on_tmpfs(env: &TestEnv, size: &str) -> MovedState {
        Self::new(env, |ns, state| {
            ns.tmpfs(state, &format!("size={size},mode=0700"));
        })
    }
}

impl Drop for MovedState {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mounted)
            .stderr(Stdio::null())
            .status();
    }
}

// ----- storage faults while serving -----------------------------------------------------------

#[test]
fn given_database_files_made_immutable_while_serving_then_unavailable_and_the_code_survives() {
    let env = TestEnv::start();
    let t = env.enroll_new("bin");
    let _state = MovedState::on_ext4(&env);
    wait_for_fresh_step(30, 10);
    let code = t.current_code();
    // The store as SQLite writes it in WAL mode: the database and its log. (The shared
    // memory index stays writable: it is mapped, and is no storage.)
    let files: Vec<String> = ["mfa.db", "mfa.db-wal"]
        .iter()
        .map(|f| state_dir(&env).join(f))
        .filter(|p| p.exists())
        .map(|p| path_str(&p).to_owned())
        .collect();
    let mut args = vec!["+i"];
    args.extend(files.iter().map(String::as_str));
    sh("chattr", &args);

    let out = env.login("bin", &[&code]);
    assert_unavailable(&out, "bin");
    assert_logged_cause(&env, "bin", "i/o error");
    assert!(env.mfad_running(), "mfad died:\n{}", env.mfad_log());

    args[0] = "-i";
    sh("chattr", &args);
    assert_code_still_fresh_then_used(&env, "bin", &code);
    assert_integrity_ok(&env);
}

#[test]
fn given_a_full_disk_when_login_then_unavailable_nothing_half_written_and_it_recovers() {
    let env = TestEnv::start();
    let t = env.enroll_new("daemon");
    let _state = MovedState::on_tmpfs(&env, "2m");
    wait_for_fresh_step(30, 10);
    let code = t.current_code();
    // Fill every block left (dd stops with ENOSPC, which is the point).
    let filler = state_dir(&env).join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4096"])
        .arg(format!("of={}", path_str(&filler)))
        .stderr(Stdio::null())
        .status();
    assert!(filler.exists(), "no filler written");

    let out = env.login("daemon", &[&code]);
    assert_unavailable(&out, "daemon");
    assert_logged_cause(&env, "daemon", "full");
    // A wrong code cannot be counted either: denied the same way, not silently forgotten.
    let out = env.login("daemon", &[&t.wrong_code()]);
    assert_unavailable(&out, "daemon");

    fs::remove_file(&filler).expect("remove filler");
    assert_code_still_fresh_then_used(&env, "daemon", &code);
    assert_integrity_ok(&env);
}

#[test]
fn given_another_writer_holding_the_database_longer_than_the_busy_timeout_then_unavailable() {
    let env = TestEnv::start();
    let t = env.enroll_new("sys");
    wait_for_fresh_step(30, 12);
    let code = t.current_code();
    {
        let _lock = WriteLock::hold(&env.db_path());
        let out = env.login("sys", &[&code]);
        assert_unavailable(&out, "sys");
        assert_logged_cause(&env, "sys", "locked");
        // mfad waited its busy timeout (2 s), not the module's 3 s deadline.
        assert!(
            out.elapsed() < Duration::from_millis(2900),
            "took {:?}",
            out.elapsed()
        );
    }
    assert_code_still_fresh_then_used(&env, "sys", &code);
    assert_integrity_ok(&env);
}

// ----- faults at start-up -----------------------------------------------------------------

#[test]
fn given_a_read_only_state_directory_then_mfad_refuses_to_start_saying_so_and_recovers() {
    let env = TestEnv::start();
    let t = env.enroll_new("games");
    stop_and_checkpoint(&env);
    let state = state_dir(&env);
    {
        let ns = MountNamespace::enter();
        ns.bind(&state, &state);
        sh("mount", &["-o", "remount,bind,ro", path_str(&state)]);
        let out = mfad_start_refused(&env);
        assert!(
            out.stderr.contains("read-only file system") && out.stderr.contains("remount"),
            "{out}"
        );
        // Nobody serves: the module fails closed, fast.
        let login = env.login("games", &[&t.current_code()]);
        assert_eq!(login.result, Some(PAM_AUTHINFO_UNAVAIL), "{login}");
        login.assert_denied(DEFAULT_SERVICE, "games", mfa_tests::NOT_REACHABLE);
        sh("umount", &[path_str(&state)]);
    }
    env.restart_mfad();
    wait_for_fresh_step(30, 6);
    assert_code_still_fresh_then_used(&env, "games", &t.current_code());
}

#[test]
fn given_a_corrupt_or_truncated_database_then_mfad_refuses_to_start_and_a_restored_copy_serves() {
    let env = TestEnv::start();
    let t = env.enroll_new("man");
    stop_and_checkpoint(&env);
    let db = env.db_path();
    let good = fs::read(&db).expect("read db");
    assert!(good.len() >= 4 * 4096, "database smaller than expected");

    // Pages overwritten in the middle of the file.
    let mut bad = good.clone();
    for b in &mut bad[2 * 4096..4 * 4096] {
        *b = 0x5a;
    }
    fs::write(&db, &bad).expect("write corrupt db");
    let out = mfad_start_refused(&env);
    let text = out.stderr.to_lowercase();
    assert!(
        text.contains("malformed") || text.contains("integrity"),
        "no clear reason:\n{out}"
    );
    assert!(text.contains("backup"), "no way out named:\n{out}");

    // Cut in half.
    fs::write(&db, &good[..good.len() / 2]).expect("write truncated db");
    let out = mfad_start_refused(&env);
    assert!(out.stderr.to_lowercase().contains("backup"), "{out}");

    // The original file, put back, serves as before: nothing was repaired behind our back.
    fs::write(&db, &good).expect("restore db");
    env.restart_mfad();
    wait_for_fresh_step(30, 6);
    assert_code_still_fresh_then_used(&env, "man", &t.current_code());
}

#[test]
fn given_wrong_owner_or_mode_of_the_database_or_its_directory_then_mfad_refuses_with_the_fix() {
    let env = TestEnv::start();
    let t = env.enroll_new("lp");
    stop_and_checkpoint(&env);
    let (db, dir) = (env.db_path(), state_dir(&env));
    let nobody = mfa_tests::user_ids("nobody");

    std::os::unix::fs::chown(&db, Some(nobody.0), None).expect("chown");
    let out = mfad_start_refused(&env);
    assert!(out.stderr.contains("chown 0"), "{out}");
    std::os::unix::fs::chown(&db, Some(0), None).expect("chown back");

    fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = mfad_start_refused(&env);
    assert!(out.stderr.contains("chmod 600"), "{out}");
    fs::set_permissions(&db, fs::Permissions::from_mode(0o600)).expect("chmod back");

    // A second name for the file (a hard link) could be read through another directory.
    let link = env.path().join("db-link");
    fs::hard_link(&db, &link).expect("hard link");
    let out = mfad_start_refused(&env);
    assert!(out.stderr.contains("hard links"), "{out}");
    fs::remove_file(&link).expect("remove link");

    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod dir");
    let out = mfad_start_refused(&env);
    assert!(out.stderr.contains("chmod 700"), "{out}");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod dir back");

    env.restart_mfad();
    wait_for_fresh_step(30, 6);
    assert_code_still_fresh_then_used(&env, "lp", &t.current_code());
}

// ----- crashes -------------------------------------------------------------------------------

#[test]
fn given_mfad_killed_inside_a_verify_then_denied_and_after_restart_token_and_watermark_agree() {
    let env = TestEnv::builder().module_timeout_ms(5000).start();
    let t = env.enroll_new("mail");
    wait_for_fresh_step(30, 12);
    let code = t.current_code();
    let mut login = env.spawn_pam_login(DEFAULT_SERVICE, "mail");
    assert!(
        login.wait_for_line("PROMPT_ECHO_OFF: ", Duration::from_secs(10)),
        "no prompt"
    );
    let sent;
    {
        // mfad will be inside verify_totp, waiting for the write lock, when it is killed.
        let _lock = WriteLock::hold(&env.db_path());
        sent = Instant::now();
        login.answer(&code);
        std::thread::sleep(Duration::from_millis(700));
        env.kill_mfad();
    }
    let out = login.finish(Duration::from_secs(10), Some(sent));
    assert_eq!(out.result, Some(PAM_AUTHINFO_UNAVAIL), "{out}");
    assert!(!out.succeeded());
    assert!(
        out.elapsed() < Duration::from_secs(3),
        "the module noticed the crash late: {:?}",
        out.elapsed()
    );
    env.restart_mfad();
    assert_integrity_ok(&env);
    // Nothing was consumed: the same code logs in once.
    assert_code_still_fresh_then_used(&env, "mail", &code);
    let step = sql(
        &env.db_path(),
        "SELECT last_step FROM tokens WHERE user = 'mail';",
    );
    assert_eq!(
        step,
        t.step_of(now()).to_string(),
        "watermark after the login"
    );
}

/// One enrollment as raw D-Bus calls on a connection of its own.
fn begin_enrollment(conn: &zbus::Connection, user: &str, t: &Totp) -> Result<String, MfaError> {
    let opts = TotpEnrollOptions {
        name: "crash".into(),
        issuer: String::new(),
        secret_base32: t.secret.clone(),
        digits: t.digits,
        algorithm: t.algorithm.clone(),
        period: t.period as u32,
    };
    call(conn, async |p| p.begin_totp_enrollment(user, &opts).await).map(|s| s.enrollment.clone())
}

fn confirm_enrollment(conn: &zbus::Connection, id: &str, code: &str) -> Result<(), MfaError> {
    call(conn, async |p| p.confirm_totp_enrollment(id, code).await).map(|_| ())
}

fn token_names(env: &TestEnv, user: &str) -> Vec<String> {
    manage(env, async |p| p.list_tokens(user).await)
        .expect("ListTokens")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[test]
fn given_mfad_killed_at_every_step_of_an_enrollment_then_the_token_is_all_there_or_not_at_all() {
    let env = TestEnv::start();
    let user = "news";
    let t = Totp::sha1();
    wait_for_fresh_step(30, 12);

    // 1. Killed while the Begin call waits for it (stopped, then killed).
    {
        let conn = root_conn(&env);
        env.stop_mfad();
        let r = std::thread::scope(|s| {
            let h = s.spawn(|| begin_enrollment(&conn, user, &t));
            std::thread::sleep(Duration::from_millis(300));
            env.kill_mfad();
            h.join().expect("begin thread")
        });
        assert!(r.is_err(), "Begin answered by a dead daemon: {r:?}");
        env.restart_mfad();
        assert!(token_names(&env, user).is_empty(), "killed in Begin");
    }

    // 2. Killed after Begin, before Confirm: the pending enrollment was only in memory.
    {
        let conn = root_conn(&env);
        let id = begin_enrollment(&conn, user, &t).expect("Begin");
        // A pending enrollment is no token: it does not log in.
        let out = env.login(user, &[&t.current_code()]);
        out.assert_denied(DEFAULT_SERVICE, user, &mfa_tests::no_token_headline(user));
        env.kill_mfad();
        env.restart_mfad();
        assert!(token_names(&env, user).is_empty(), "killed after Begin");
        let conn = root_conn(&env);
        let r = confirm_enrollment(&conn, &id, &t.previous_code());
        assert!(
            matches!(r, Err(MfaError::UnknownEnrollment(_))),
            "a pending enrollment survived a crash: {r:?}"
        );
    }

    // 3. Killed inside Confirm, while its INSERT waits for the write lock.
    {
        let conn = root_conn(&env);
        let id = begin_enrollment(&conn, user, &t).expect("Begin");
        let r = {
            let _lock = WriteLock::hold(&env.db_path());
            std::thread::scope(|s| {
                let h = s.spawn(|| confirm_enrollment(&conn, &id, &t.previous_code()));
                std::thread::sleep(Duration::from_millis(500));
                env.kill_mfad();
                h.join().expect("confirm thread")
            })
        };
        assert!(r.is_err(), "Confirm answered by a dead daemon: {r:?}");
        env.restart_mfad();
        assert!(token_names(&env, user).is_empty(), "killed inside Confirm");
        assert_integrity_ok(&env);
    }

    // 4. Killed right after Confirm returned: fully enrolled, and usable.
    {
        let conn = root_conn(&env);
        let id = begin_enrollment(&conn, user, &t).expect("Begin");
        let enroll_code = t.previous_code();
        confirm_enrollment(&conn, &id, &enroll_code).expect("Confirm");
        env.kill_mfad();
        env.restart_mfad();
        assert_eq!(token_names(&env, user), ["crash"], "killed after Confirm");
        env.login(user, &[&enroll_code])
            .assert_denied(DEFAULT_SERVICE, user, NOT_ACCEPTED);
        assert_code_still_fresh_then_used(&env, user, &t.current_code());
    }
}

// ----- clock jumps ---------------------------------------------------------------------------

/// libfaketime's preload library (Debian package `libfaketime`, pulled in by `faketime`).
fn libfaketime() -> PathBuf {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("libfaketime is missing: apt-get install faketime (make deps)"))
}

/// Restarts mfad with its wall clock `offset` seconds away from the real one (libfaketime;
/// the monotonic clock, which zbus's timeouts use, stays real).
fn restart_with_clock_offset(env: &TestEnv, offset: i64) {
    let lib = libfaketime();
    let fake = format!("{offset:+}");
    env.restart_mfad_with_env(&[
        ("LD_PRELOAD", path_str(&lib)),
        ("FAKETIME", &fake),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
}

#[test]
fn given_the_clock_jumping_back_and_forth_between_logins_then_no_code_is_accepted_twice() {
    const HOUR: u64 = 3600;
    let env = TestEnv::start();
    let t = env.enroll_new("uucp");
    wait_for_fresh_step(30, 10);
    let used = t.current_code();
    env.login("uucp", &[&used]).assert_success();

    // An hour back: the code of that (fake) present is valid for the clock, but its step
    // lies before the watermark, so it is a replay; the code used a moment ago is refused.
    restart_with_clock_offset(&env, -(HOUR as i64));
    let past = t.code_at(now() - HOUR);
    env.login("uucp", &[&past])
        .assert_denied(DEFAULT_SERVICE, "uucp", NOT_ACCEPTED);
    assert!(
        env.wait_for_syslog(LOG_WAIT, |l| l.contains("user=uucp")
            && l.contains("detail=replayed"))
            .is_some(),
        "the backwards jump was not logged as a replay:\n{}",
        env.syslog_lines().join("\n")
    );
    env.login("uucp", &[&used])
        .assert_denied(DEFAULT_SERVICE, "uucp", NOT_ACCEPTED);

    // An hour ahead: that present's code is new, and accepted once.
    restart_with_clock_offset(&env, HOUR as i64);
    let future = t.code_at(now() + HOUR);
    env.login("uucp", &[&future]).assert_success();
    env.login("uucp", &[&future])
        .assert_denied(DEFAULT_SERVICE, "uucp", NOT_ACCEPTED);

    // Back to the real clock: every code up to the future watermark stays used.
    env.restart_mfad();
    for code in [&used, &future, &t.current_code()] {
        env.login("uucp", &[code])
            .assert_denied(DEFAULT_SERVICE, "uucp", NOT_ACCEPTED);
    }
    assert_integrity_ok(&env);
}

// ----- failure floods ------------------------------------------------------------------------

/// What one raw-D-Bus attempt with a wrong code ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// The code was checked and refused (`deny`, `auth-failed`): one counted failure.
    Checked,
    /// Refused without checking (back-off or lock-out), at Begin or at Answer.
    Throttled,
}

fn wrong_attempt(conn: &zbus::Connection, user: &str, code: &str) -> Attempt {
    let facts = LoginFacts {
        user: user.into(),
        service: "flood".into(),
        ..LoginFacts::default()
    };
    let classify = |step: &WireStep| match (step.kind.as_str(), step.reason.as_str()) {
        ("deny", "auth-failed") => Attempt::Checked,
        ("deny", "locked") => Attempt::Throttled,
        _ => panic!("unexpected step in a flood: {step:?}"),
    };
    zbus::block_on(async {
        let p = LoginProxy::new(conn).await.expect("proxy");
        let step = p.begin(&facts).await.expect("Begin");
        if step.kind != "prompt" {
            return classify(&step);
        }
        let step = p.answer(&step.flow, code).await.expect("Answer");
        classify(&step)
    })
}

/// `threads` clients × `per_thread` wrong codes for `user`, all started together.
fn flood(
    env: &TestEnv,
    user: &str,
    wrong: &str,
    threads: usize,
    per_thread: usize,
) -> Vec<Attempt> {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let conn = root_conn(env);
                    barrier.wait();
                    (0..per_thread)
                        .map(|_| wrong_attempt(&conn, user, wrong))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("flood thread"))
            .collect()
    })
}

#[test]
fn given_1000_wrong_codes_from_16_parallel_clients_then_the_counter_is_exact_and_the_user_gets_in_after_the_back_off()
 {
    let env = TestEnv::builder()
        .config(
            "[rate_limit]\nfree_failures = 20\nbase_delay_secs = 2\nmax_delay_secs = 2\nlockout_after = 100\n",
        )
        .start();
    let t = env.enroll_new("proxy");
    // wrong_code() is wrong for two steps either side: no wait needed.
    let wrong = t.wrong_code();
    let attempts = flood(&env, "proxy", &wrong, 16, 63);
    assert_eq!(attempts.len(), 1008);
    let checked = attempts.iter().filter(|a| **a == Attempt::Checked).count() as u32;
    eprintln!("flood: {checked} of {} wrong codes checked", attempts.len());
    // Exact under concurrency: every checked attempt counted once, none lost or doubled.
    assert_eq!(
        failures(&env, "proxy"),
        checked,
        "counter vs checked attempts"
    );
    // The back-off held the flood far below the hard lock: the victim is not locked out.
    assert!(
        checked > 20 && checked < 100,
        "{checked} attempts were checked"
    );
    let locked_until: u64 = sql(
        &env.db_path(),
        "SELECT locked_until FROM failures WHERE user = 'proxy';",
    )
    .parse()
    .expect("locked_until");
    while now() <= locked_until {
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for_fresh_step(30, 6);
    env.login("proxy", &[&t.current_code()]).assert_success();
    assert_eq!(failures(&env, "proxy"), 0, "a success resets the counter");
}

#[test]
fn given_1000_wrong_codes_without_back_off_then_exactly_lockout_after_are_counted_and_unlock_reopens()
 {
    let env = TestEnv::builder()
        .config("[rate_limit]\nfree_failures = 100\nlockout_after = 100\n")
        .start();
    let t = env.enroll_new("bin");
    let wrong = t.wrong_code();
    let attempts = flood(&env, "bin", &wrong, 8, 125);
    let checked = attempts.iter().filter(|a| **a == Attempt::Checked).count();
    eprintln!("flood: {checked} of {} wrong codes checked", attempts.len());
    assert_eq!(
        checked, 100,
        "exactly lockout_after attempts may be checked"
    );
    assert_eq!(failures(&env, "bin"), 100);
    let refused = env.login("bin", &[&t.current_code()]);
    assert!(!refused.succeeded(), "{refused}");
    assert!(
        refused
            .error_text()
            .contains("locked after too many failed attempts"),
        "{refused}"
    );
    let out = env.mfactl(&["unlock", "bin"]);
    assert!(out.success(), "{out}");
    wait_for_fresh_step(30, 6);
    env.login("bin", &[&t.current_code()]).assert_success();
}

#[test]
fn given_a_missing_or_broken_config_file_then_mfad_refuses_to_start_naming_it() {
    let env = TestEnv::start();
    let t = env.enroll_new("sys");
    env.kill_mfad();
    let missing = env.path().join("no-such.toml");
    let out = mfad_start_refused_with(&env, &["--config", path_str(&missing)]);
    assert!(out.stderr.contains("no-such.toml"), "{out}");
    let broken = env.path().join("broken.toml");
    for text in [
        "[rate_limit]\nfree_failure = 3\n",
        "[totp]\nwindow = 9\n",
        "not toml",
    ] {
        fs::write(&broken, text).expect("write config");
        let out = mfad_start_refused_with(&env, &["--config", path_str(&broken)]);
        assert!(out.stderr.contains("broken.toml"), "{text:?}: {out}");
    }
    // A directory where the file should be: unreadable, refused too.
    let out = mfad_start_refused_with(&env, &["--config", path_str(env.path())]);
    assert!(out.stderr.contains("cannot read"), "{out}");
    env.restart_mfad();
    wait_for_fresh_step(30, 6);
    env.login("sys", &[&t.current_code()]).assert_success();
}

#[test]
fn given_the_token_removed_between_prompt_and_answer_then_the_right_code_is_refused() {
    let env = TestEnv::start();
    let t = env.enroll_new("daemon");
    wait_for_fresh_step(30, 8);
    let mut login = env.spawn_pam_login(DEFAULT_SERVICE, "daemon");
    assert!(
        login.wait_for_line("PROMPT_ECHO_OFF: ", Duration::from_secs(10)),
        "no prompt"
    );
    let out = env.mfactl(&["remove", "daemon", "totp"]);
    assert!(out.success(), "{out}");
    login.answer(&t.current_code());
    let out = login.finish(Duration::from_secs(10), None);
    assert!(!out.succeeded(), "a removed token logged in:\n{out}");
    assert_eq!(out.result, Some(PAM_AUTH_ERR), "{out}");
    assert!(
        out.error_text().contains("has no TOTP token any more"),
        "{out}"
    );
}

// ----- the WAL file (issue 6: "WAL deleted") -------------------------------------------------

/// `PATH-wal` of a database path.
fn wal_of(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// A copy of the main database file alone (no `-wal`), in `dir`: what SQLite sees once the WAL
/// is gone.
fn main_file_copy(env: &TestEnv, dir: &Path) -> PathBuf {
    let copy = dir.join("main-only.db");
    fs::copy(env.db_path(), &copy).expect("copy the main database file");
    copy
}

#[test]
fn given_a_used_recovery_code_when_the_wal_is_deleted_after_sigkill_then_the_code_stays_used() {
    let env = TestEnv::start();
    let root = root_conn(&env);
    let codes = call(&root, async |p| p.generate_recovery_codes("uucp").await)
        .expect("generate recovery codes");
    assert_eq!(codes.len(), 10, "{codes:?}");
    // A user with recovery codes only is asked for one straight away (default policy).
    let out = env.login("uucp", &[&codes[0]]);
    out.assert_success();
    assert!(
        fs::metadata(wal_of(&env.db_path())).is_ok_and(|m| m.len() > 0),
        "no WAL to lose: the test would prove nothing"
    );
    // A crash, then the classic wrong fix: deleting the WAL (and its index).
    env.kill_mfad();
    fs::remove_file(wal_of(&env.db_path())).expect("delete mfa.db-wal");
    let mut shm = env.db_path().into_os_string();
    shm.push("-shm");
    let _ = fs::remove_file(&shm);
    env.restart_mfad();
    assert_integrity_ok(&env);
    let again = env.login("uucp", &[&codes[0]]);
    again.assert_denied(
        DEFAULT_SERVICE,
        "uucp",
        "the recovery code was not accepted.",
    );
    assert_eq!(
        sql(
            &env.db_path(),
            "SELECT COUNT(*) FROM recovery_codes WHERE user = 'uucp' AND used_at > 0;"
        ),
        "1"
    );
    // The set itself survived too: another code still works, once.
    env.login("uucp", &[&codes[1]]).assert_success();
}

#[test]
fn given_sigterm_then_mfad_exits_0_with_an_empty_wal_and_everything_in_the_main_file() {
    let env = TestEnv::start();
    let t = env.enroll_new("man");
    wait_for_fresh_step(30, 8);
    let (code, step) = (t.current_code(), t.step_of(now()));
    env.login("man", &[&code]).assert_success();
    env.login("man", &[&t.wrong_code()])
        .assert_denied(DEFAULT_SERVICE, "man", NOT_ACCEPTED);
    let wal = wal_of(&env.db_path());
    assert!(
        fs::metadata(&wal).is_ok_and(|m| m.len() > 0),
        "the logins left nothing in the WAL: the test would prove nothing"
    );
    let started = Instant::now();
    let status = env.terminate_mfad(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("mfad ignored SIGTERM:\n{}", env.mfad_log()));
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", env.mfad_log());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(
        fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the WAL still holds {} bytes",
        fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
    );
    let line = env
        .wait_for_syslog(LOG_WAIT, |l| l.contains("stopped signal=SIGTERM"))
        .unwrap_or_else(|| panic!("no stop line:\n{}", env.syslog_lines().join("\n")));
    assert!(line.contains("checkpoint=done"), "{line}");
    // The main file alone holds the token, the login's watermark and the failure.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = main_file_copy(&env, dir.path());
    assert_eq!(
        sql(
            &copy,
            "SELECT last_step FROM tokens WHERE user = 'man' AND kind = 'totp';"
        ),
        step.to_string()
    );
    assert_eq!(
        sql(
            &copy,
            "SELECT consecutive FROM failures WHERE user = 'man';"
        ),
        "1"
    );
    // And mfad starts again on it: the used code stays used.
    env.restart_mfad();
    let again = env.login("man", &[&code]);
    again.assert_denied(DEFAULT_SERVICE, "man", NOT_ACCEPTED);
}
