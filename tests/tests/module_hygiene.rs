//! The shipped module stays small-footprint inside its host process: no Tokio runtime
//! linked in (workspace feature unification), and no thread or file descriptor left behind
//! after `pam_end` (sshd forks after authentication).

use mfa_tests::{DEFAULT_SERVICE, TestEnv};

#[test]
fn given_built_module_then_it_links_no_tokio_and_exports_the_pam_hooks() {
    let bytes = std::fs::read(mfa_tests::pam_module()).expect("read libpam_mfa.so");
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !has(b"tokio"),
        "libpam_mfa.so contains tokio (zbus feature unified in?)"
    );
    assert!(
        has(b"pam_sm_authenticate"),
        "pam_sm_authenticate is not exported"
    );
    assert!(
        has(b"pam_sm_setcred"),
        "pam_sm_setcred is not exported (runuser calls it)"
    );
}

#[test]
fn given_login_when_pam_end_returns_then_no_thread_or_fd_is_left() {
    let env = TestEnv::start();
    let t = env.enroll_new("bin");
    for (what, answer, want_success) in [
        ("wrong", t.wrong_code(), false),
        ("right", t.current_code(), true),
    ] {
        let out = env.pam_login(
            None,
            DEFAULT_SERVICE,
            "bin",
            format!("{answer}\n").as_bytes(),
            &["--resources"],
        );
        assert_eq!(out.succeeded(), want_success, "{what} code:\n{out}");
        let ((threads_before, fds_before), (threads_after, fds_after)) = out
            .resources
            .unwrap_or_else(|| panic!("no RESOURCES line:\n{out}"));
        assert_eq!(
            threads_after, threads_before,
            "threads left behind after a {what} code:\n{out}"
        );
        assert_eq!(
            fds_after, fds_before,
            "file descriptors left open after a {what} code:\n{out}"
        );
    }
    // Also when the daemon is gone.
    env.kill_mfad();
    let out = env.pam_login(None, DEFAULT_SERVICE, "bin", b"123456\n", &["--resources"]);
    let ((tb, fb), (ta, fa)) = out
        .resources
        .unwrap_or_else(|| panic!("no RESOURCES line:\n{out}"));
    assert_eq!(
        (ta, fa),
        (tb, fb),
        "threads/fds left behind with the daemon down:\n{out}"
    );
}

#[test]
fn given_built_module_then_it_needs_only_libpam_libudev_and_the_c_runtime() {
    let module = mfa_tests::pam_module();
    let out = std::process::Command::new("readelf")
        .arg("-d")
        .arg(&module)
        .output()
        .expect("run readelf (binutils)");
    assert!(out.status.success(), "readelf -d {}", module.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_owned()))
        .map(|lib| {
            if lib.starts_with("ld-linux") {
                "ld-linux".to_owned()
            } else {
                lib
            }
        })
        .collect();
    // libudev.so.1: hidapi's hidraw backend enumerates USB security keys through it (FIDO2).
    let want: std::collections::BTreeSet<String> = [
        "libpam.so.0",
        "libudev.so.1",
        "libgcc_s.so.1",
        "libc.so.6",
        "ld-linux",
    ]
    .map(String::from)
    .into();
    assert_eq!(needed, want, "{text}");
}
