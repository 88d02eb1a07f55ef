//! The harness itself: what a test starts never outlives it, even when the test process is
//! killed outright (SIGKILL runs no `Drop`), so a CI job killed at its time limit leaves no
//! dbus-daemon or mfad behind.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mfa_tests::TestEnv;

const CHILD_VAR: &str = "MFA_HARNESS_CHILD_PIDS";

/// Run only by [`daemons_die_with_a_test_process_that_is_killed`] in a child process:
/// starts an environment, writes its PIDs to the file named by `MFA_HARNESS_CHILD_PIDS`,
/// and waits to be killed.
#[test]
#[ignore = "helper run by daemons_die_with_a_test_process_that_is_killed"]
fn helper_start_an_environment_and_wait_to_be_killed() {
    let path = std::env::var(CHILD_VAR).expect("run by the parent test only");
    let env = TestEnv::start();
    fs::write(
        format!("{path}.tmp"),
        format!("{} {}", env.bus_pid(), env.mfad_pid()),
    )
    .unwrap();
    fs::rename(format!("{path}.tmp"), &path).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purpose (its parent, the killed test, is gone too, so init
    // reaps it); /proc/PID/stat's third field is the state.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[test]
fn daemons_die_with_a_test_process_that_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pids_file = dir.path().join("pids");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_start_an_environment_and_wait_to_be_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_VAR, &pids_file)
        .env("MFA_TESTS_NO_BUILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while !Path::new(&pids_file).exists() {
        assert!(
            Instant::now() < deadline,
            "the helper never started its environment"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the helper exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pids: Vec<u32> = fs::read_to_string(&pids_file)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&p| alive(p)), "bus and mfad run: {pids:?}");

    child.kill().unwrap(); // SIGKILL: no Drop runs in the helper.
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "bus or mfad outlived the killed test process: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
