//! The standard tool path: the real `pamtester` under `pam_wrapper` (recipes §2.1), so the
//! module is also exercised by a PAM application we did not write.

use std::process::Command;
use std::time::Duration;

use mfa_tests::{DEFAULT_SERVICE, TestEnv, run};

const WRAPPER: &str = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so";

fn pamtester(env: &TestEnv, user: &str, answer: &str) -> mfa_tests::CmdOutput {
    // pam_wrapper copies the service dir into a runtime dir; keep it inside our temp dir
    // rather than in the /tmp/pam.X slots shared with everyone.
    let runtime = env.path().join("pam_wrapper");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let mut cmd = Command::new("env");
    cmd.arg(format!("LD_PRELOAD={WRAPPER}"))
        .arg("PAM_WRAPPER=1")
        .arg(format!(
            "PAM_WRAPPER_SERVICE_DIR={}",
            env.pam_dir().display()
        ))
        .arg(format!("PAM_WRAPPER_RUNTIME_DIR={}", runtime.display()))
        .args(["pamtester", "-v", DEFAULT_SERVICE, user, "authenticate"]);
    run(
        cmd,
        format!("{answer}\n").as_bytes(),
        Duration::from_secs(20),
    )
}

#[test]
fn given_pamtester_with_pam_wrapper_when_right_then_wrong_code_then_success_then_failure() {
    assert!(
        std::path::Path::new(WRAPPER).exists(),
        "libpam-wrapper is not installed"
    );
    let env = TestEnv::start();
    let t = env.enroll_new("bin");
    let ok = pamtester(&env, "bin", &t.current_code());
    assert!(
        ok.success(),
        "pamtester should authenticate:\n{ok}\n--- mfad ---\n{}",
        env.mfad_log()
    );
    assert!(
        ok.all_output().contains("successfully authenticated"),
        "{ok}"
    );
    assert!(
        ok.all_output().contains(mfa_tests::PROMPT.trim_end()),
        "the code prompt was not shown:\n{ok}"
    );

    let bad = pamtester(&env, "bin", &t.wrong_code());
    assert_eq!(bad.code(), Some(1), "{bad}");
    assert!(!bad.timed_out);
    assert!(bad.all_output().contains("Authentication failure"), "{bad}");
    assert!(
        bad.all_output().contains(mfa_tests::NOT_ACCEPTED),
        "the denial message should reach pamtester:\n{bad}"
    );
}
