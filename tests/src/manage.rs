//! Helpers for the policy, recovery-code and self-service tests: PAM stacks around the
//! module, Manage1 calls as root, bus sockets connected with another user's credentials,
//! and the daemon's date format.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mfa_proto::{ManageProxy, MfaError};

use crate::env::TestEnv;
use crate::{pam_module, user_ids};

/// How a test stack uses the module (see [`add_stacked_service`]).
pub const STACKINGS: [&str; 4] = ["raw", "required", "requisite", "sufficient"];

/// Writes PAM service `name` whose auth stack puts the module under test (`bus=` this env,
/// `timeout=5000`) in one of these stackings:
///
/// - `raw`: `[success=ok default=bad]` and nothing else, so the stack returns exactly what
///   the module returned (0, 25 `PAM_IGNORE`, 7, …);
/// - `required` / `requisite`: followed by `pam_permit`;
/// - `sufficient`: followed by `pam_deny`, so only a `PAM_SUCCESS` of the module lets in.
pub fn add_stacked_service(env: &TestEnv, name: &str, stacking: &str) {
    let bus = format!("bus={} timeout=5000", env.bus_address);
    let module = pam_module();
    let module = module.display();
    let auth = match stacking {
        "raw" => format!("auth [success=ok default=bad] {module} {bus}\n"),
        "required" | "requisite" => {
            format!("auth {stacking} {module} {bus}\nauth required pam_permit.so\n")
        }
        "sufficient" => format!("auth sufficient {module} {bus}\nauth required pam_deny.so\n"),
        other => panic!("unknown stacking {other:?}"),
    };
    let p = env.pam_dir().join(name);
    fs::write(&p, format!("{auth}account required pam_permit.so\n")).expect("write PAM service");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod PAM service");
}

/// A stream connected to `env`'s bus socket by a thread running with the UID and GID of the
/// local account `user` (no supplementary groups), so the bus (SO_PEERCRED) and mfad see
/// that user calling. Build the D-Bus connection on it with the user's UID for the EXTERNAL
/// handshake (`zbus::connection::Builder::unix_stream(s).user_id(uid)`).
///
/// Only the short-lived helper thread changes its credentials (raw system calls act on the
/// calling thread alone, unlike the C library's wrappers), so the test process keeps root.
pub fn bus_stream_as(env: &TestEnv, user: &str) -> UnixStream {
    let (uid, gid) = user_ids(user);
    let socket = env.bus_socket();
    std::thread::spawn(move || {
        // SAFETY: raw setgroups/setresgid/setresuid with valid arguments (an empty list, and
        // IDs of an existing account). They change the credentials of this thread only; it
        // exits right after connecting and touches nothing else.
        let rc = unsafe {
            let mut rc = libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>());
            if rc == 0 {
                rc = libc::syscall(libc::SYS_setresgid, gid, gid, gid);
            }
            if rc == 0 {
                rc = libc::syscall(libc::SYS_setresuid, uid, uid, uid);
            }
            rc
        };
        assert_eq!(
            rc,
            0,
            "cannot take the credentials of {uid}:{gid}: {}",
            std::io::Error::last_os_error()
        );
        UnixStream::connect(&socket).unwrap_or_else(|e| panic!("connect {socket:?}: {e}"))
    })
    .join()
    .expect("connecting thread")
}

/// A connection to `env`'s bus as root (the test process).
pub fn root_conn(env: &TestEnv) -> zbus::Connection {
    zbus::block_on(
        zbus::connection::Builder::address(env.bus_address.as_str())
            .method_timeout(Duration::from_secs(10))
            .build(),
    )
    .expect("connect to the test bus as root")
}

/// One Manage1 call on `conn`.
pub fn call<T>(
    conn: &zbus::Connection,
    f: impl AsyncFnOnce(&ManageProxy<'_>) -> Result<T, MfaError>,
) -> Result<T, MfaError> {
    zbus::block_on(async {
        let p = ManageProxy::new(conn).await?;
        f(&p).await
    })
}

/// One Manage1 call as root, on a connection of its own.
pub fn manage<T>(
    env: &TestEnv,
    f: impl AsyncFnOnce(&ManageProxy<'_>) -> Result<T, MfaError>,
) -> Result<T, MfaError> {
    call(&root_conn(env), f)
}

/// A Unix time as the daemon shows it: RFC 3339 in UTC, whole seconds
/// (`2026-12-31T23:59:59Z`).
pub fn rfc3339_utc(unix: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The two lines a user without a token is shown while an enrollment deadline has not passed.
pub fn grace_infos(user: &str, until: u64) -> [String; 2] {
    [
        format!(
            "Multi-factor authentication (MFA) will be required for {user} from {}, and no token is enrolled yet.",
            rfc3339_utc(until)
        ),
        "Run `mfactl enroll totp` now to keep access after that date.".to_owned(),
    ]
}

/// The denial headline for a user without a token whose enrollment deadline passed.
pub fn deadline_passed_headline(user: &str, until: u64) -> String {
    format!(
        "no token is enrolled for {user}, and the deadline to enroll passed on {}.",
        rfc3339_utc(until)
    )
}

/// The denial headline for a user whose second factor an administrator locked.
pub fn admin_locked_headline(user: &str) -> String {
    format!("the second factor of {user} is locked by an administrator.")
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn unix_times_format_as_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
