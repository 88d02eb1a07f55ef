//! Module arguments (`auth required pam_mfa.so ARG…` in /etc/pam.d) → `Options`, and the
//! escaping applied to everything the module logs or shows.
//!
//! Input: arguments separated by NUL bytes (so an argument may hold any other byte,
//! whitespace included, as libpam's `[...]` syntax allows).
//! Checked: no panic; an accepted set has a timeout of 1 to 30000 ms, a FIDO2 timeout in its
//! documented range, at most one of each argument and only arguments of the module's own
//! table (the one pam_mfa(8) is generated from); the escaped forms hold no control character
//! and are cut as documented.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pam_mfa::args::{ARGUMENTS, MAX_TIMEOUT_MS, Options};
use pam_mfa::log::{escape, quote};

fuzz_target!(|data: &[u8]| {
    let args: Vec<String> = data
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if let Ok(opts) = Options::try_from(args.as_slice()) {
        assert!(opts.timeout >= Duration::from_millis(1), "{args:?}");
        assert!(
            opts.timeout <= Duration::from_millis(MAX_TIMEOUT_MS),
            "{args:?}"
        );
        assert!(
            opts.fido2_timeout >= Duration::from_millis(1000)
                && opts.fido2_timeout <= Duration::from_millis(120_000),
            "{args:?}"
        );
        let known: Vec<&str> = ARGUMENTS.iter().map(|a| a.key).collect();
        for key in &known {
            let n = args
                .iter()
                .filter(|a| a.split('=').next() == Some(*key))
                .count();
            assert!(n <= 1, "{key} accepted {n} times: {args:?}");
        }
        assert!(
            args.iter()
                .all(|a| known.contains(&a.split('=').next().unwrap_or(""))),
            "an unknown argument was accepted: {args:?}"
        );
    }
    for a in &args {
        for out in [quote(a), escape(a, 64)] {
            assert!(!out.chars().any(char::is_control), "{out:?}");
        }
    }
});
