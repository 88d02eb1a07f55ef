//! `SSH_AUTH_INFO_0` (what sshd tells PAM about the methods a connection completed) and
//! OpenSSH public-key lines and wire blobs of security keys (`sk-` keys).
//!
//! Input: the first byte picks what the rest is.
//! Checked: no panic; SSH counts as the second factor only for a well-formed value whose
//! `publickey` line carries exactly an enrolled key, never with no key enrolled; a parsed
//! key survives its own round trips (line and wire blob); reasons for the log hold no
//! control character.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::ssh_sk::{SkFactor, SshSkPublicKey, enrolled_sk_key_used, parse_auth_info};

fn check_key(key: &SshSkPublicKey) {
    let again = SshSkPublicKey::parse_openssh(&key.to_openssh())
        .unwrap_or_else(|e| panic!("to_openssh does not parse back: {e}"));
    assert!(again == *key, "line round trip changed the key");
    let blob = SshSkPublicKey::from_wire_blob(key.wire_blob())
        .unwrap_or_else(|e| panic!("wire blob does not parse back: {e}"));
    assert!(blob == *key, "blob round trip changed the key");
    assert!(!key.fingerprint().chars().any(char::is_control));
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let Ok(info) = parse_auth_info(text) else {
                return;
            };
            // Nothing enrolled: never satisfied.
            match enrolled_sk_key_used(text, &[]) {
                SkFactor::Satisfied(_) => panic!("satisfied with no key enrolled"),
                SkFactor::NotSatisfied(miss) => {
                    assert!(!miss.to_string().chars().any(char::is_control), "{miss}");
                }
            }
            // Enrolling exactly the keys the value names satisfies it only when well formed.
            let used: Vec<SshSkPublicKey> = info.completed_sk_keys().into_iter().cloned().collect();
            for k in &used {
                check_key(k);
            }
            match enrolled_sk_key_used(text, &used) {
                SkFactor::Satisfied(k) => {
                    assert!(info.is_well_formed(), "satisfied by a malformed value");
                    assert!(used.contains(k));
                }
                SkFactor::NotSatisfied(_) => {
                    assert!(
                        used.is_empty() || !info.is_well_formed(),
                        "an enrolled key that completed public-key auth was not recognised"
                    );
                }
            }
        }
        1 => {
            let Ok(line) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(key) = SshSkPublicKey::parse_openssh(line) {
                check_key(&key);
                assert!(!key.comment().chars().any(|c| c.is_control() && c != '\t'));
            }
        }
        _ => {
            if let Ok(key) = SshSkPublicKey::from_wire_blob(rest) {
                check_key(&key);
            }
        }
    }
});
