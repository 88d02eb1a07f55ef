//! Criterion benchmarks of the pure hot paths of a login, so that a regression shows up in
//! review: TOTP verification with its window, the policy decision, a recovery-code check.
//!
//! `cargo bench -p mfa-core --bench hot_paths` (`make bench` runs it with short times).
//! Each benchmark first checks its inputs against published vectors (RFC 6238/4226,
//! RFC 7914's PBKDF2-HMAC-SHA256), so it measures the right computation.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use zeroize::Zeroizing;

use mfa_core::code::parse_code;
use mfa_core::policy::{Facts, Mandate, Method, MethodSet, Requirement, ServiceMode, requirement};
use mfa_core::recovery::{HASH_BYTES, KDF_ROUNDS, RecoveryCode, matching_hash};
use mfa_core::totp::{TotpKey, TotpParams, Verification};

/// RFC 6238 Appendix B / RFC 4226 Appendix D: the SHA-1 secret "12345678901234567890".
const RFC_SECRET: &[u8] = b"12345678901234567890";

fn totp_verify(c: &mut Criterion) {
    let key = TotpKey::new(Zeroizing::new(RFC_SECRET.to_vec()), TotpParams::default()).unwrap();
    // T = 59 s is step 1; RFC 4226's HOTP value for counter 1 is 287082 (6 digits).
    let good = parse_code("287082").unwrap();
    let wrong = parse_code("000000").unwrap();
    assert_eq!(
        key.verify(&good, 59, None, 1),
        Verification::Accepted { step: 1 }
    );
    assert_eq!(key.verify(&good, 59, Some(1), 1), Verification::Replayed);
    assert_eq!(key.verify(&wrong, 59, None, 1), Verification::Rejected);
    let eight = TotpKey::new(
        Zeroizing::new(RFC_SECRET.to_vec()),
        TotpParams {
            digits: 8,
            ..TotpParams::default()
        },
    )
    .unwrap();
    // RFC 6238 Appendix B, SHA-1, T = 59: 94287082.
    let good8 = parse_code("94287082").unwrap();
    assert_eq!(
        eight.verify(&good8, 59, None, 2),
        Verification::Accepted { step: 1 }
    );

    let mut g = c.benchmark_group("totp_verify");
    g.bench_function("window_1_accepted", |b| {
        b.iter(|| key.verify(black_box(&good), black_box(59), black_box(None), 1))
    });
    g.bench_function("window_1_rejected", |b| {
        b.iter(|| key.verify(black_box(&wrong), black_box(59), black_box(None), 1))
    });
    g.bench_function("window_2_accepted_8_digits", |b| {
        b.iter(|| eight.verify(black_box(&good8), black_box(59), black_box(None), 2))
    });
    g.finish();
}

fn policy(c: &mut Criterion) {
    let totp: MethodSet = [Method::Totp].into_iter().collect();
    let required = Facts {
        mode: ServiceMode::Required,
        allowed: MethodSet::all(),
        enrolled: totp,
        always_require: false,
        group_enforced: None,
    };
    let optional_group = Facts {
        mode: ServiceMode::Optional,
        allowed: MethodSet::all(),
        enrolled: MethodSet::EMPTY,
        always_require: false,
        group_enforced: Some(true),
    };
    assert_eq!(
        requirement(&required),
        (Requirement::Ask(totp), Some(Mandate::Service))
    );
    assert_eq!(
        requirement(&optional_group),
        (Requirement::Ask(MethodSet::EMPTY), Some(Mandate::Group))
    );
    let mut g = c.benchmark_group("policy_requirement");
    g.bench_function("required_with_token", |b| {
        b.iter(|| requirement(black_box(&required)))
    });
    g.bench_function("optional_enforced_group", |b| {
        b.iter(|| requirement(black_box(&optional_group)))
    });
    g.finish();
}

fn recovery(c: &mut Criterion) {
    // The KDF is PBKDF2-HMAC-SHA256: RFC 7914 §11's vector (P="passwd", S="salt", c=1).
    let mut out = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"passwd", b"salt", 1, &mut out);
    assert_eq!(out[..4], [0x55, 0xac, 0x04, 0x6e]);

    let salt = b"bench-salt-16byt";
    let typed = "7K2M Q9XD 4HVC E1RT";
    let stored: Vec<[u8; HASH_BYTES]> = (0u8..10)
        .map(|i| {
            let code = if i == 6 {
                RecoveryCode::parse(typed).unwrap()
            } else {
                RecoveryCode::from_random(&[i; 10])
            };
            code.hash(salt, KDF_ROUNDS)
        })
        .collect();
    let check = |answer: &str| {
        let code = RecoveryCode::parse(answer).ok()?;
        matching_hash(&code.hash(salt, KDF_ROUNDS), &stored)
    };
    assert_eq!(check(typed), Some(6));
    assert_eq!(check("0000-0000-0000-0001"), None);

    let mut g = c.benchmark_group("recovery_check");
    // One check is 10,000 HMAC rounds (milliseconds): fewer samples keep the run short.
    g.sample_size(20);
    g.bench_function("parse_hash_match_of_10", |b| {
        b.iter(|| check(black_box(typed)))
    });
    let hash = RecoveryCode::parse(typed).unwrap().hash(salt, KDF_ROUNDS);
    g.bench_function("constant_time_match_of_10", |b| {
        b.iter(|| matching_hash(black_box(&hash), black_box(&stored)))
    });
    g.finish();
}

criterion_group!(hot_paths, totp_verify, policy, recovery);
criterion_main!(hot_paths);
