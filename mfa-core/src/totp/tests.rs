use super::*;
use crate::code::parse_code;

const SHA1_SEED: &[u8] = b"12345678901234567890";
const SHA256_SEED: &[u8] = b"12345678901234567890123456789012";
const SHA512_SEED: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

fn key(seed: &[u8], algorithm: TotpAlgorithm, digits: u32) -> TotpKey {
    TotpKey::new(
        Zeroizing::new(seed.to_vec()),
        TotpParams {
            algorithm,
            digits,
            period: 30,
        },
    )
    .unwrap()
}

/// RFC 6238 Appendix B, all rows and all three algorithms, including 64-bit time.
#[test]
fn rfc6238_appendix_b_vectors() {
    let rows: &[(u64, &str, &str, &str)] = &[
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];
    let sha1 = key(SHA1_SEED, TotpAlgorithm::Sha1, 8);
    let sha256 = key(SHA256_SEED, TotpAlgorithm::Sha256, 8);
    let sha512 = key(SHA512_SEED, TotpAlgorithm::Sha512, 8);
    for &(t, c1, c256, c512) in rows {
        assert_eq!(sha1.code_at(t).as_str(), c1, "SHA1 at {t}");
        assert_eq!(sha256.code_at(t).as_str(), c256, "SHA256 at {t}");
        assert_eq!(sha512.code_at(t).as_str(), c512, "SHA512 at {t}");
        // And each verifies at that instant, for that step.
        let step = t / 30;
        for (k, c) in [(&sha1, c1), (&sha256, c256), (&sha512, c512)] {
            assert_eq!(
                k.verify(&parse_code(c).unwrap(), t, None, 1),
                Verification::Accepted { step }
            );
        }
    }
}

/// RFC 4226 Appendix D: HOTP(counter) is TOTP at time counter × period.
#[test]
fn rfc4226_appendix_d_vectors() {
    let want = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    let k = key(SHA1_SEED, TotpAlgorithm::Sha1, 6);
    for (counter, code) in want.iter().enumerate() {
        assert_eq!(
            k.code_for_step(counter as u64).as_str(),
            *code,
            "counter {counter}"
        );
    }
}

#[test]
fn a_code_is_accepted_once_and_then_is_a_replay() {
    let k = key(SHA1_SEED, TotpAlgorithm::Sha1, 6);
    let now = 1_700_000_000;
    let code = parse_code(&k.code_at(now)).unwrap();
    let Verification::Accepted { step } = k.verify(&code, now, None, 1) else {
        panic!()
    };
    assert_eq!(step, now / 30);
    assert_eq!(k.verify(&code, now, Some(step), 1), Verification::Replayed);
    // An older step's code is a replay too once a newer one was accepted.
    let older = parse_code(&k.code_for_step(step - 1)).unwrap();
    assert_eq!(k.verify(&older, now, Some(step), 1), Verification::Replayed);
}

#[test]
fn window_is_plus_minus_one_step_and_capped_at_two() {
    let k = key(SHA1_SEED, TotpAlgorithm::Sha1, 6);
    let now = 1_700_000_000u64;
    let s = now / 30;
    for (delta, ok) in [
        (-1i64, true),
        (1, true),
        (-2, false),
        (2, false),
        (-3, false),
        (3, false),
    ] {
        let code = parse_code(&k.code_for_step((s as i64 + delta) as u64)).unwrap();
        let got = k.verify(&code, now, None, 1);
        assert_eq!(
            matches!(got, Verification::Accepted { .. }),
            ok,
            "delta {delta}"
        );
    }
    // A configured window of 5 is capped at 2: three steps away is still rejected.
    let code = parse_code(&k.code_for_step(s + 3)).unwrap();
    assert_eq!(k.verify(&code, now, None, 5), Verification::Rejected);
    let code = parse_code(&k.code_for_step(s + 2)).unwrap();
    assert!(matches!(
        k.verify(&code, now, None, 5),
        Verification::Accepted { .. }
    ));
}

#[test]
fn wrong_length_and_wrong_codes_are_rejected() {
    let k = key(SHA1_SEED, TotpAlgorithm::Sha1, 8);
    let now = 59;
    // The 6-digit suffix of the right 8-digit code must not pass.
    assert_eq!(
        k.verify(&parse_code("287082").unwrap(), now, None, 1),
        Verification::Rejected
    );
    assert_eq!(
        k.verify(&parse_code("94287083").unwrap(), now, None, 1),
        Verification::Rejected
    );
}

#[test]
fn parameters_and_secrets_are_checked() {
    let p = |digits, period| TotpParams {
        algorithm: TotpAlgorithm::Sha1,
        digits,
        period,
    };
    assert_eq!(p(7, 30).validate(), Err(TotpError::Digits(7)));
    assert_eq!(p(6, 45).validate(), Err(TotpError::Period(45)));
    assert!(p(8, 60).validate().is_ok());
    let short = TotpKey::new(Zeroizing::new(vec![1; 15]), TotpParams::default());
    assert_eq!(short.unwrap_err(), TotpError::SecretLength(15));
    assert_eq!(
        TotpKey::from_base32("not base32!", TotpParams::default()).unwrap_err(),
        TotpError::SecretEncoding
    );
}

#[test]
fn base32_import_tolerates_spaces_case_and_padding() {
    // GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ is base32 of the RFC SHA1 seed.
    let k = TotpKey::from_base32(
        "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
        TotpParams::default(),
    )
    .unwrap();
    assert_eq!(k.secret(), SHA1_SEED);
}

#[test]
fn otpauth_uri_carries_the_parameters() {
    let k = key(SHA1_SEED, TotpAlgorithm::Sha256, 8);
    let uri = k.otpauth_uri("pam_mfa host1", "alice").unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{}", uri.as_str());
    assert!(
        uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        "{}",
        uri.as_str()
    );
    assert!(uri.contains("digits=8"), "{}", uri.as_str());
    assert!(uri.contains("algorithm=SHA256"), "{}", uri.as_str());
    assert!(k.otpauth_uri("bad:issuer", "alice").is_err());
}

#[test]
fn debug_never_shows_the_secret() {
    let k = key(SHA1_SEED, TotpAlgorithm::Sha1, 6);
    assert!(!format!("{k:?}").contains("1234567890"));
}
