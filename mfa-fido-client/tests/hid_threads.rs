//! The HID authenticator leaves no thread behind: the module runs inside sshd, where a
//! thread surviving `pam_end` would make the next `fork` unsafe. One test per binary, so no
//! other test's threads come and go while the count is taken.

use std::time::Duration;

use mfa_fido_client::{Authenticator, ClientError, GetAssertionRequest, HidAuthenticator};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

#[test]
fn no_thread_outlives_a_call_in_either_mode() {
    if HidAuthenticator::device_count().expect("enumeration") > 0 {
        eprintln!("a FIDO key is plugged in: skipping (a call would wait for a touch)");
        return;
    }
    let request = GetAssertionRequest {
        rp_id: "pam_mfa://h".into(),
        challenge: vec![1; 32],
        allow_credentials: vec![vec![2; 16]],
        pin: None,
        require_uv: false,
    };
    let before = threads();
    let result = HidAuthenticator::new().get_assertion(&request);
    assert_eq!(result, Err(ClientError::NoDevice));
    assert_eq!(threads(), before, "caller-thread mode started a thread");

    let result = HidAuthenticator::with_deadline(Duration::from_secs(5)).get_assertion(&request);
    assert_eq!(result, Err(ClientError::NoDevice));
    assert_eq!(threads(), before, "the helper thread was not joined");
}
