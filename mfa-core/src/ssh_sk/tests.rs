//! Keys made by the real ssh-keygen (see `mfa-core/tests/fixtures/ssh/README.md`) and the
//! `SSH_AUTH_INFO_0` the real sshd wrote; fingerprints are ssh-keygen's own.

use std::collections::HashSet;

use super::*;

const ECDSA_SK: &str = include_str!("../../tests/fixtures/ssh/ecdsa-sk.pub");
const ECDSA_SK_2: &str = include_str!("../../tests/fixtures/ssh/ecdsa-sk-2.pub");
const ED25519_SK: &str = include_str!("../../tests/fixtures/ssh/ed25519-sk.pub");
const ECDSA_SK_APP: &str = include_str!("../../tests/fixtures/ssh/ecdsa-sk-app.pub");
const ED25519: &str = include_str!("../../tests/fixtures/ssh/ed25519.pub");
const ECDSA: &str = include_str!("../../tests/fixtures/ssh/ecdsa.pub");
const RSA: &str = include_str!("../../tests/fixtures/ssh/rsa.pub");
const CERT: &str = include_str!("../../tests/fixtures/ssh/ecdsa-sk-cert.pub");
const FINGERPRINTS: &str = include_str!("../../tests/fixtures/ssh/fingerprints.txt");
const SSHD_INFO: &str = include_str!("../../tests/fixtures/ssh/sshd-auth-info-0.txt");
const SSHD_INFO_KEY: &str = include_str!("../../tests/fixtures/ssh/sshd-auth-info-0.key.pub");

fn parse(line: &str) -> SshSkPublicKey {
    SshSkPublicKey::parse_openssh(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// ssh-keygen -l's fingerprint for the key with `comment`.
fn keygen_fingerprint(comment: &str) -> &'static str {
    FINGERPRINTS
        .lines()
        .find(|l| {
            l.ends_with(&format!(" {comment} (ECDSA-SK)"))
                || l.ends_with(&format!(" {comment} (ED25519-SK)"))
        })
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_else(|| panic!("no fingerprint for {comment}"))
}

/// The base64 word of a `.pub` line.
fn base64_of(line: &str) -> &str {
    line.split(' ').nth(1).expect("base64 word")
}

/// RFC 4251 `string`s concatenated: a wire blob.
fn wire(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        out.extend_from_slice(&u32::try_from(f.len()).expect("len").to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn line_for(algorithm: &str, blob: &[u8]) -> String {
    format!("{algorithm} {}", Base64::encode_string(blob))
}

/// The uncompressed P-256 point inside the ECDSA_SK fixture.
fn fixture_point() -> Vec<u8> {
    let blob = parse(ECDSA_SK).wire_blob().to_vec();
    // string type (4+34), string "nistp256" (4+8), string point (4+65), string application
    blob[4 + 34 + 4 + 8 + 4..4 + 34 + 4 + 8 + 4 + 65].to_vec()
}

#[test]
fn security_keys_from_ssh_keygen_parse_with_ssh_keygens_fingerprint() {
    for (line, key_type, application, comment) in [
        (
            ECDSA_SK,
            SkKeyType::EcdsaP256,
            "ssh:",
            "alice@laptop ecdsa-sk",
        ),
        (
            ECDSA_SK_2,
            SkKeyType::EcdsaP256,
            "ssh:",
            "alice@laptop second ecdsa-sk",
        ),
        (
            ED25519_SK,
            SkKeyType::Ed25519,
            "ssh:",
            "alice@laptop ed25519-sk",
        ),
        (
            ECDSA_SK_APP,
            SkKeyType::EcdsaP256,
            "ssh:mfa-test",
            "custom application",
        ),
    ] {
        let key = parse(line);
        assert_eq!(key.key_type(), key_type, "{line}");
        assert_eq!(key.application(), application);
        assert_eq!(key.comment(), comment);
        assert_eq!(key.fingerprint(), keygen_fingerprint(comment));
        assert_eq!(key.to_openssh(), line.trim_end());
        assert_eq!(
            key.to_string(),
            format!(
                "{} {} ({comment})",
                key_type.short_name(),
                keygen_fingerprint(comment)
            )
        );
        // The blob alone gives the same key, without the comment.
        let bare = SshSkPublicKey::from_wire_blob(key.wire_blob()).expect("blob");
        assert_eq!(bare, key);
        assert_eq!(bare.comment(), "");
    }
}

#[test]
fn ordinary_keys_are_refused_saying_only_sk_keys_count() {
    let err = SshSkPublicKey::parse_openssh(ED25519).expect_err("ed25519");
    assert_eq!(err, SshKeyError::NotSecurityKey { kind: "ed25519" });
    assert!(
        err.to_string().starts_with(
            "this is an ordinary ed25519 key; only security-key (sk-) keys can count as a second factor"
        ),
        "{err}"
    );
    assert_eq!(
        SshSkPublicKey::parse_openssh(ECDSA),
        Err(SshKeyError::NotSecurityKey { kind: "ECDSA" })
    );
    assert_eq!(
        SshSkPublicKey::parse_openssh(RSA),
        Err(SshKeyError::NotSecurityKey { kind: "RSA" })
    );
    // Also when only the blob is given (e.g. from storage).
    let blob = Base64::decode_vec(base64_of(ED25519)).expect("b64");
    assert_eq!(
        SshSkPublicKey::from_wire_blob(&blob),
        Err(SshKeyError::NotSecurityKey { kind: "ed25519" })
    );
}

#[test]
fn certificates_and_authorized_keys_options_are_refused() {
    assert_eq!(
        SshSkPublicKey::parse_openssh(CERT),
        Err(SshKeyError::Certificate)
    );
    let with_option = format!("no-touch-required {ECDSA_SK}");
    assert!(matches!(
        SshSkPublicKey::parse_openssh(&with_option),
        Err(SshKeyError::UnknownKeyType { found }) if found == "no-touch-required"
    ));
}

#[test]
fn line_shape_errors() {
    let sk = ECDSA_SK.trim_end();
    assert_eq!(SshSkPublicKey::parse_openssh(""), Err(SshKeyError::Empty));
    assert_eq!(
        SshSkPublicKey::parse_openssh(" \t\n"),
        Err(SshKeyError::Empty)
    );
    assert_eq!(
        SshSkPublicKey::parse_openssh("sk-ssh-ed25519@openssh.com"),
        Err(SshKeyError::MissingKeyData)
    );
    assert_eq!(
        SshSkPublicKey::parse_openssh(&format!("{sk}\n{sk}\n")),
        Err(SshKeyError::MultipleLines)
    );
    assert_eq!(
        SshSkPublicKey::parse_openssh(&format!("{sk}\u{1b}[2J")),
        Err(SshKeyError::ControlCharacter)
    );
    assert_eq!(
        SshSkPublicKey::parse_openssh(&format!("{sk} {}", "x".repeat(MAX_PUBLIC_KEY_LINE_LEN))),
        Err(SshKeyError::TooLong {
            max: MAX_PUBLIC_KEY_LINE_LEN
        })
    );
    // One trailing newline (LF or CRLF), tabs and extra blanks are fine.
    assert_eq!(parse(&format!("{sk}\r\n")), parse(sk));
    let tabbed = sk.replacen(' ', "\t  ", 2);
    assert_eq!(parse(&tabbed).comment(), "alice@laptop ecdsa-sk");
    // No comment at all.
    let bare = format!("{} {}", SkKeyType::EcdsaP256, base64_of(sk));
    assert_eq!(parse(&bare).comment(), "");
}

#[test]
fn unknown_types_are_quoted_escaped_and_shortened() {
    let err =
        SshSkPublicKey::parse_openssh(&format!("{} AAAA", "é".repeat(100))).expect_err("type");
    let SshKeyError::UnknownKeyType { found } = err else {
        panic!("{err:?}")
    };
    assert_eq!(found.chars().count(), 65, "64 characters and an ellipsis");
    assert_eq!(shorten("a\u{7f}b"), "a\\u{7f}b");
}

#[test]
fn base64_must_be_canonical() {
    let b64 = base64_of(ECDSA_SK);
    for bad in [
        format!("{}!", &b64[..b64.len() - 1]),
        b64.trim_end_matches('=').to_owned(),
        format!("{b64}="),
        // Same bytes, but non-zero unused bits before the padding.
        format!("{}h==", &b64[..b64.len() - 3]),
    ] {
        assert_eq!(
            SshSkPublicKey::parse_openssh(&format!("{} {bad}", SkKeyType::EcdsaP256)),
            Err(SshKeyError::BadBase64),
            "{bad}"
        );
    }
}

#[test]
fn the_declared_and_embedded_types_must_agree() {
    let line = format!("{} {}", SkKeyType::Ed25519, base64_of(ECDSA_SK));
    assert_eq!(
        SshSkPublicKey::parse_openssh(&line),
        Err(SshKeyError::TypeMismatch {
            declared: SkKeyType::Ed25519.algorithm().into(),
            embedded: SkKeyType::EcdsaP256.algorithm().into(),
        })
    );
}

#[test]
fn trailing_bytes_in_the_blob_are_refused() {
    let mut blob = parse(ECDSA_SK).wire_blob().to_vec();
    blob.extend_from_slice(b"\0\0\0\x01x");
    let line = line_for(SkKeyType::EcdsaP256.algorithm(), &blob);
    assert_eq!(
        SshSkPublicKey::parse_openssh(&line),
        Err(SshKeyError::TrailingData { extra: 5 })
    );
}

#[test]
fn the_point_must_be_uncompressed_and_on_the_curve_and_the_curve_nistp256() {
    let ty = SkKeyType::EcdsaP256.algorithm().as_bytes();
    let point = fixture_point();
    let good = wire(&[ty, b"nistp256", &point, b"ssh:"]);
    assert_eq!(
        good,
        parse(ECDSA_SK).wire_blob(),
        "the helper builds real blobs"
    );

    let mut compressed = vec![0x02 | (point[64] & 1)];
    compressed.extend_from_slice(&point[1..33]);
    let mut off_curve = point.clone();
    off_curve[64] ^= 1;
    for (blob, detail) in [
        (wire(&[ty, b"nistp256", &compressed, b"ssh:"]), "compressed"),
        (
            wire(&[ty, b"nistp256", &off_curve, b"ssh:"]),
            "off the curve",
        ),
        (wire(&[ty, b"nistp384", &point, b"ssh:"]), "other curve"),
        (wire(&[ty, b"nistp256", &point]), "no application"),
    ] {
        assert!(
            matches!(
                SshSkPublicKey::from_wire_blob(&blob),
                Err(SshKeyError::Malformed { .. })
            ),
            "{detail}: {:?}",
            SshSkPublicKey::from_wire_blob(&blob)
        );
    }
}

#[test]
fn only_ssh_applications_are_accepted() {
    let ty = SkKeyType::EcdsaP256.algorithm().as_bytes();
    let point = fixture_point();
    for app in [
        "https://example.com".as_bytes(),
        b"ssh",
        b"ssh:\nx",
        &[b's'; 300],
    ] {
        let blob = wire(&[ty, b"nistp256", &point, app]);
        assert!(
            matches!(
                SshSkPublicKey::from_wire_blob(&blob),
                Err(SshKeyError::NotSshApplication { .. })
            ),
            "{}",
            String::from_utf8_lossy(app)
        );
    }
    let err =
        SshSkPublicKey::from_wire_blob(&wire(&[ty, b"nistp256", &point, b"https://example.com"]))
            .expect_err("web");
    assert!(err.to_string().contains("`https://example.com`"), "{err}");
}

#[test]
fn equality_is_blob_equality_and_ignores_the_comment() {
    let a = parse(ECDSA_SK);
    let relabelled = a.clone().with_comment("other label").expect("comment");
    assert_eq!(a, relabelled);
    assert_ne!(a, parse(ECDSA_SK_2));
    assert_ne!(a, parse(ED25519_SK));
    let set: HashSet<SshSkPublicKey> = [a.clone(), relabelled, parse(ECDSA_SK_2)]
        .into_iter()
        .collect();
    assert_eq!(set.len(), 2);
    assert_eq!(
        a.with_comment("bad\ncomment"),
        Err(SshKeyError::ControlCharacter)
    );
}

// ----- SSH_AUTH_INFO_0 --------------------------------------------------------------------

#[test]
fn the_value_sshd_wrote_names_the_key_of_the_pub_file() {
    let info = parse_auth_info(SSHD_INFO).expect("parse");
    assert!(info.is_well_formed());
    let [AuthMethodUsed::PublicKey(used)] = info.methods() else {
        panic!("{info:?}")
    };
    assert_eq!(used.algorithm(), SkKeyType::EcdsaP256.algorithm());
    let key = parse(SSHD_INFO_KEY);
    assert_eq!(used.sk_key(), Some(&key));
    assert_eq!(used.fingerprint(), key.fingerprint());
    assert_eq!(info.completed_sk_keys(), vec![&key]);
}

#[test]
fn every_kind_of_line_sshd_writes() {
    let ed = type_and_base64(ED25519);
    let sk = type_and_base64(ED25519_SK);
    let text = format!(
        "publickey {ed}\npublickey {sk} signature count = 7\nkeyboard-interactive/pam\n\
         keyboard-interactive\npassword\ngssapi-with-mic user@REALM\n"
    );
    let info = parse_auth_info(&text).expect("parse");
    assert!(info.is_well_formed(), "{info:?}");
    let m = info.methods();
    assert_eq!(m.len(), 6);
    assert!(
        matches!(&m[0], AuthMethodUsed::PublicKey(k) if k.algorithm() == "ssh-ed25519" && k.sk_key().is_none())
    );
    assert!(
        matches!(&m[1], AuthMethodUsed::PublicKey(k) if k.sk_key() == Some(&parse(ED25519_SK)))
    );
    assert_eq!(
        m[2],
        AuthMethodUsed::KeyboardInteractive {
            device: Some("pam".into())
        }
    );
    assert_eq!(m[3], AuthMethodUsed::KeyboardInteractive { device: None });
    assert_eq!(m[4], AuthMethodUsed::Password);
    assert_eq!(
        m[5],
        AuthMethodUsed::Other {
            method: "gssapi-with-mic".into()
        }
    );
    assert_eq!(info.completed_sk_keys(), vec![&parse(ED25519_SK)]);
}

#[test]
fn lines_sshd_would_not_write_are_unrecognized_and_nothing_counts() {
    let good = SSHD_INFO.trim_end();
    let b64 = base64_of(good.strip_prefix("publickey ").expect("prefix"));
    for (bad, reason) in [
        (String::new(), "empty line"),
        ("publickey\r".to_owned(), "control character"),
        ("Publickey x y".to_owned(), "not a method name"),
        ("publickey".to_owned(), "publickey without `TYPE BASE64`"),
        (
            format!("publickey {}  {b64}", SkKeyType::EcdsaP256),
            "publickey without `TYPE BASE64`",
        ),
        (
            format!("publickey {} {b64}A", SkKeyType::EcdsaP256),
            "key data is not base64",
        ),
        (
            format!("publickey {} {b64}", SkKeyType::Ed25519),
            "key type and key data differ",
        ),
        (
            "publickey ECDSA-SK SHA256:w3Y3RQaNQX3+h8UPwpQ7ta6fO8dT3ECaLKQ3C3aFWxs".to_owned(),
            "key data is not base64",
        ),
    ] {
        let text = format!("{good}\n{bad}\n");
        let info = parse_auth_info(&text).expect("parse");
        assert!(!info.is_well_formed(), "{bad:?}");
        assert!(info.completed_sk_keys().is_empty(), "{bad:?}");
        assert_eq!(
            info.methods()[1],
            AuthMethodUsed::Unrecognized { line: 2, reason },
            "{bad:?}"
        );
    }
}

#[test]
fn sizes_and_empty_values() {
    assert_eq!(parse_auth_info("").expect("empty").methods(), &[]);
    assert_eq!(parse_auth_info("\n").expect("newline").methods(), &[]);
    let huge = format!("password\n{}", "x".repeat(MAX_AUTH_INFO_LEN));
    assert_eq!(
        parse_auth_info(&huge),
        Err(AuthInfoError::TooLong {
            max: MAX_AUTH_INFO_LEN
        })
    );
    // Without the final newline it still parses.
    assert!(
        parse_auth_info(SSHD_INFO.trim_end())
            .expect("parse")
            .is_well_formed()
    );
}

// ----- the login rule ---------------------------------------------------------------------

/// `SSH_AUTH_INFO_0` as sshd writes it after public-key logins with these `.pub` lines.
fn info_for(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| format!("publickey {}\n", type_and_base64(l)))
        .collect()
}

/// `TYPE BASE64` of a `.pub` line, without the comment.
fn type_and_base64(line: &str) -> String {
    let mut w = line.split(' ');
    format!("{} {}", w.next().expect("type"), w.next().expect("base64"))
}

#[test]
fn only_an_enrolled_security_key_satisfies_the_factor() {
    let enrolled = vec![parse(ECDSA_SK), parse(ED25519_SK)];
    // The enrolled key: satisfied, and the enrolled entry (with its comment) is returned.
    assert_eq!(
        enrolled_sk_key_used(&info_for(&[ED25519_SK]), &enrolled),
        SkFactor::Satisfied(&enrolled[1])
    );
    // Also after an ordinary key (AuthenticationMethods publickey,publickey).
    assert_eq!(
        enrolled_sk_key_used(&info_for(&[ED25519, ECDSA_SK]), &enrolled),
        SkFactor::Satisfied(&enrolled[0])
    );
    // Another security key of the same user: not enrolled.
    let other = parse(ECDSA_SK_2);
    assert_eq!(
        enrolled_sk_key_used(&info_for(&[ECDSA_SK_2]), &enrolled),
        SkFactor::NotSatisfied(SkFactorMiss::NotEnrolled {
            fingerprint: other.fingerprint()
        })
    );
    // Another user's enrolled key: what counts is this user's list.
    assert_eq!(
        enrolled_sk_key_used(&info_for(&[ECDSA_SK]), &[parse(ECDSA_SK_2)]),
        SkFactor::NotSatisfied(SkFactorMiss::NotEnrolled {
            fingerprint: parse(ECDSA_SK).fingerprint()
        })
    );
    // An ordinary key.
    let SkFactor::NotSatisfied(miss) = enrolled_sk_key_used(&info_for(&[ED25519]), &enrolled)
    else {
        panic!("an ordinary key satisfied the factor")
    };
    assert!(
        matches!(&miss, SkFactorMiss::NotSecurityKey { algorithm, .. } if algorithm == "ssh-ed25519")
    );
    assert!(miss.to_string().contains("is not a security key"), "{miss}");
    // Nothing enrolled, nothing used, nothing there.
    assert!(matches!(
        enrolled_sk_key_used(&info_for(&[ECDSA_SK]), &[]),
        SkFactor::NotSatisfied(SkFactorMiss::NotEnrolled { .. })
    ));
    assert_eq!(
        enrolled_sk_key_used("keyboard-interactive/pam\n", &enrolled),
        SkFactor::NotSatisfied(SkFactorMiss::NoPublicKey)
    );
    assert_eq!(
        enrolled_sk_key_used("", &enrolled),
        SkFactor::NotSatisfied(SkFactorMiss::NoAuthInfo)
    );
}

#[test]
fn a_bad_line_anywhere_makes_even_the_enrolled_key_count_for_nothing() {
    let enrolled = vec![parse(ECDSA_SK)];
    let text = format!("{}garbage!\n", info_for(&[ECDSA_SK]));
    assert_eq!(
        enrolled_sk_key_used(&text, &enrolled),
        SkFactor::NotSatisfied(SkFactorMiss::Unrecognized {
            line: 2,
            reason: "not a method name"
        })
    );
    let huge = format!(
        "{}{}",
        info_for(&[ECDSA_SK]),
        "password\n".repeat(MAX_AUTH_INFO_LEN / 9 + 1)
    );
    assert_eq!(
        enrolled_sk_key_used(&huge, &enrolled),
        SkFactor::NotSatisfied(SkFactorMiss::TooLong)
    );
}

#[test]
fn a_security_key_for_another_application_is_understood_but_never_counts() {
    let ty = SkKeyType::EcdsaP256.algorithm();
    let blob = wire(&[
        ty.as_bytes(),
        b"nistp256",
        &fixture_point(),
        b"https://example.com",
    ]);
    let text = format!("publickey {}\n", line_for(ty, &blob));
    let info = parse_auth_info(&text).expect("parse");
    assert!(info.is_well_formed());
    assert!(info.completed_sk_keys().is_empty());
    assert!(matches!(
        enrolled_sk_key_used(&text, &[parse(ECDSA_SK)]),
        SkFactor::NotSatisfied(SkFactorMiss::NotSecurityKey { .. })
    ));
}

// ----- no input makes them panic ----------------------------------------------------------

/// xorshift64*: a fixed, dependency-free stream of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `seed` with a few random edits: byte flips, deletions, insertions (of bytes that matter
/// to the parsers), truncation.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = b" \t\n\r=+/A\0\x7fpk-@";
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(4) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 if at < v.len() => {
                v.remove(at);
            }
            2 => v.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            _ => v.truncate(at),
        }
    }
    v
}

#[test]
fn random_and_mutated_input_never_panics_and_only_the_exact_key_counts() {
    let enrolled = vec![parse(ECDSA_SK)];
    let enrolled_b64 = base64_of(ECDSA_SK);
    let seeds: Vec<String> = vec![
        ECDSA_SK.into(),
        ED25519_SK.into(),
        ED25519.into(),
        CERT.into(),
        SSHD_INFO.into(),
        info_for(&[ECDSA_SK, ED25519]),
        format!("keyboard-interactive/pam\n{}", info_for(&[ECDSA_SK])),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut parsed, mut satisfied) = (0, 0);
    for round in 0..20_000 {
        let bytes = if round % 5 == 0 {
            (0..rng.below(300)).map(|_| rng.next() as u8).collect()
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed.as_bytes())
        };
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(key) = SshSkPublicKey::parse_openssh(&text) {
            // Whatever parses round-trips exactly.
            assert_eq!(
                SshSkPublicKey::from_wire_blob(key.wire_blob()).as_ref(),
                Ok(&key)
            );
            assert_eq!(parse(&key.to_openssh()), key);
            parsed += 1;
        }
        let _ = parse_auth_info(&text);
        if let SkFactor::Satisfied(_) = enrolled_sk_key_used(&text, &enrolled) {
            // Only the exact key can satisfy: its exact base64 on a publickey line.
            assert!(
                text.lines().any(|l| l.starts_with(&format!(
                    "publickey {} {enrolled_b64}",
                    SkKeyType::EcdsaP256
                ))),
                "satisfied by {text:?}"
            );
            satisfied += 1;
        }
    }
    // Mutations that leave the key intact (e.g. in a comment or another line) must still
    // pass, or the properties above were never exercised.
    assert!(
        parsed > 50 && satisfied > 50,
        "parsed {parsed}, satisfied {satisfied}"
    );
}
