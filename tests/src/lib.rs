//! End-to-end test harness for pam_mfa.
//!
//! Every test gets a [`TestEnv`]: its own temporary directory, its own private `dbus-daemon`
//! (system-bus semantics, loading the shipped policy `contrib/dbus/org.pam_mfa.Mfad.conf`),
//! the real `mfad` on a fresh SQLite file, a syslog socket the harness reads, and a PAM
//! configuration directory whose stack loads the real `libpam_mfa.so`. Logins go through the
//! real libpam via the test-only application `mfa-pam-login` (`pam_start_confdir`), and TOTP
//! codes come from `oathtool`, an implementation independent of ours.
//!
//! Everything a test starts is recorded and ended in `Drop` (by PID, never by name), also
//! when the test panics; the logs are printed then to explain the failure.
//!
//! Binaries are taken from `MFA_BIN_DIR` if set, else from the directory of the running test
//! (`target/<profile>`). Unless `MFA_BIN_DIR` or `MFA_TESTS_NO_BUILD` is set, the harness
//! first runs `cargo build -p pam_mfa --features soft-fido2` and `cargo build -p mfad -p
//! mfactl --features mfactl/soft-fido2` once per test binary, so the tests never run against
//! stale binaries, and the module tested is built the way it is shipped (alone, without the
//! daemon's features unified in), plus the TEST-ONLY software security key
//! ([`SOFT_FIDO2_FEATURE`]): without its own argument (`fido2_soft_key=`) that build behaves
//! exactly like the shipped one, and `tests/fido2.rs` checks that the shipped build (the
//! `release-small` profile, no features) does not contain it.

pub mod clients;
mod env;
pub mod manage;
mod process;
pub mod realenv;
pub mod sinks;
mod syslog;
mod totp;

pub use env::{DEFAULT_SERVICE, EnvBuilder, InteractiveLogin, LoginOutcome, TestEnv};
pub use process::{CmdOutput, run, run_as};
pub use totp::{Totp, now, wait_for_fresh_step};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `PAM_SUCCESS`.
pub const PAM_SUCCESS: i32 = 0;
/// `PAM_PERM_DENIED`.
pub const PAM_PERM_DENIED: i32 = 6;
/// `PAM_AUTH_ERR`.
pub const PAM_AUTH_ERR: i32 = 7;
/// `PAM_AUTHINFO_UNAVAIL`.
pub const PAM_AUTHINFO_UNAVAIL: i32 = 9;

/// The prompt the module shows.
pub const PROMPT: &str = "Verification code: ";
/// Headline for a wrong, replayed or malformed code, and for an unknown user.
pub const NOT_ACCEPTED: &str = "the verification code was not accepted.";
/// Headline when the daemon cannot be reached.
pub const NOT_REACHABLE: &str = "the MFA service (mfad) is not reachable.";
/// Start of the headline when the user is rate limited.
pub const TOO_MANY: &str = "too many failed attempts; try again in ";

/// The recovery codes in `mfactl recovery generate`'s output (`xxxx-xxxx-xxxx-xxxx`).
pub fn printed_recovery_codes(stdout: &str) -> Vec<String> {
    stdout
        .split_whitespace()
        .filter(|w| {
            let groups: Vec<&str> = w.split('-').collect();
            groups.len() == 4
                && groups
                    .iter()
                    .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_alphanumeric()))
        })
        .map(str::to_owned)
        .collect()
}

/// Headline when `user` has no token.
pub fn no_token_headline(user: &str) -> String {
    format!("no token is enrolled for {user}.")
}

/// The source tree (the workspace root).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The shipped D-Bus policy, as the tests load it.
pub fn dbus_policy_path() -> PathBuf {
    workspace_root().join("contrib/dbus/org.pam_mfa.Mfad.conf")
}

/// Where `mfad`, `mfactl`, `libpam_mfa.so` and `mfa-pam-login` are.
///
/// `MFA_BIN_DIR` if set; otherwise the directory above `deps/` of the running test binary.
/// The project binaries are built there first (once per test process), see the crate docs.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("MFA_BIN_DIR") {
            return PathBuf::from(d);
        }
        let exe = std::env::current_exe().expect("current_exe");
        let mut dir = exe.parent().expect("exe dir").to_path_buf();
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        if std::env::var_os("MFA_TESTS_NO_BUILD").is_none() {
            build_project_binaries(&dir);
        }
        dir
    })
}

/// The feature of pam_mfa and mfactl that adds the TEST-ONLY software security key (module
/// argument `fido2_soft_key=PATH`, mfactl's hidden `--fido2-soft-key PATH`).
pub const SOFT_FIDO2_FEATURE: &str = "soft-fido2";

/// Builds the project binaries for the profile of `dir`: the module on its own (`cargo build
/// -p pam_mfa`, as it is shipped, so no feature of the daemon's dependencies is unified into
/// it) with the test-only software key, then the daemon and the CLI (with it too).
fn build_project_binaries(dir: &Path) {
    for packages in [
        &["-p", "pam_mfa", "--features", SOFT_FIDO2_FEATURE][..],
        &[
            "-p",
            "mfad",
            "-p",
            "mfactl",
            "--features",
            "mfactl/soft-fido2",
        ][..],
    ] {
        cargo_build(dir, packages);
    }
}

/// `cargo build -p …` for the profile whose output directory is `dir`.
pub fn cargo_build(dir: &Path, packages: &[&str]) {
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--profile", &profile])
        .args(packages)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build {} failed:\n{}",
        packages.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the module as shipped (`make build`, `make install`): profile `release-small`, no
/// features, as a cdylib alone so that rustc runs whole-program LTO (with the rlib crate type
/// too it does not, and the module grows by a quarter). Returns its path.
pub fn build_shipped_module(release_small: &Path) -> PathBuf {
    if std::env::var_os("MFA_BIN_DIR").is_none() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(&cargo)
            .current_dir(workspace_root())
            .args([
                "rustc",
                "--quiet",
                "--profile",
                "release-small",
                "-p",
                "pam_mfa",
            ])
            .args(["--crate-type", "cdylib"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run cargo rustc");
        assert!(
            out.status.success(),
            "cargo rustc -p pam_mfa --crate-type cdylib failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    release_small.join("libpam_mfa.so")
}

/// The TEST-ONLY OpenSSH security-key middleware (`tests/sk-provider`), for `ssh-keygen -w`
/// and `ssh -o SecurityKeyProvider=`. Not a default member, so it is built here on first use
/// (`cargo build -p mfa-test-sk-provider`, same profile), unless `MFA_BIN_DIR` or
/// `MFA_TESTS_NO_BUILD` is set.
pub fn sk_provider() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = bin_dir();
    if std::env::var_os("MFA_BIN_DIR").is_none() && std::env::var_os("MFA_TESTS_NO_BUILD").is_none()
    {
        BUILT.get_or_init(|| cargo_build(dir, &["-p", "mfa-test-sk-provider"]));
    }
    bin("libmfa_test_sk_provider.so")
}

/// Path of a binary (or the module) in [`bin_dir`], checked to exist.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        p.display()
    );
    p
}

/// The PAM module under test.
pub fn pam_module() -> PathBuf {
    bin("libpam_mfa.so")
}

/// Whether `haystack` contains `needle` as a whole token (not inside a longer run of
/// letters or digits). Used to look for codes in log lines.
pub fn contains_token(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    haystack.match_indices(needle).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// UID and GID of a local account (via the thread-safe `getpwnam_r`).
pub fn user_ids(name: &str) -> (u32, u32) {
    let c = std::ffi::CString::new(name).expect("user name");
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value of this plain C struct (null pointers, 0).
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `c` is NUL-terminated, `pwd` and `result`
    // are live locals, `buf` has the length we pass. The strings filled in point into `buf`,
    // which we do not read.
    let rc = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    assert!(
        rc == 0 && !result.is_null(),
        "no local account {name} (rc {rc})"
    );
    (pwd.pw_uid, pwd.pw_gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_match_needs_non_alphanumeric_neighbours() {
        assert!(contains_token("code=123456 x", "123456"));
        assert!(contains_token("123456", "123456"));
        assert!(!contains_token("pid 91234567", "123456"));
        assert!(!contains_token("abc", ""));
    }
}
