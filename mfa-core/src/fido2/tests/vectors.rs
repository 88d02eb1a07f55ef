//! Published vectors through our COSE decoding and signature paths, and the hash helpers.

use ciborium::value::Value;

use super::{cbor, hex, int};
use crate::fido2::{CoseAlgorithm, CredentialPublicKey, Fido2Error, client_data_hash, rp_id_hash};

/// A COSE OKP/Ed25519 key for raw public key bytes, built by hand (RFC 9053 §7.2).
fn okp_key(x: &[u8]) -> Vec<u8> {
    cbor(&Value::Map(vec![
        (int(1), int(1)),
        (int(3), int(-8)),
        (int(-1), int(6)),
        (int(-2), Value::Bytes(x.to_vec())),
    ]))
}

/// A COSE EC2/P-256 key for affine coordinates, built by hand (RFC 9053 §7.1).
fn ec2_key(x: &[u8], y: &[u8]) -> Vec<u8> {
    cbor(&Value::Map(vec![
        (int(1), int(2)),
        (int(3), int(-7)),
        (int(-1), int(1)),
        (int(-2), Value::Bytes(x.to_vec())),
        (int(-3), Value::Bytes(y.to_vec())),
    ]))
}

/// RFC 8032 §7.1, TEST 1, 2 and 3 (public key, message, signature).
const RFC8032: [(&str, &str, &str); 3] = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

#[test]
fn rfc8032_ed25519_vectors_verify_through_the_cose_eddsa_path() {
    for (public, message, signature) in RFC8032 {
        let key = CredentialPublicKey::from_cose(&okp_key(&hex(public))).expect("RFC key");
        assert_eq!(key.algorithm(), CoseAlgorithm::EdDsa);
        key.verify(&hex(message), &hex(signature))
            .unwrap_or_else(|e| panic!("RFC 8032 vector for key {public}: {e}"));

        let mut flipped = hex(signature);
        flipped[10] ^= 0x01;
        assert_eq!(
            key.verify(&hex(message), &flipped),
            Err(Fido2Error::BadSignature)
        );
        let mut other = hex(message);
        other.push(0);
        assert_eq!(
            key.verify(&other, &hex(signature)),
            Err(Fido2Error::BadSignature)
        );
    }
}

/// RFC 6979 §A.2.5: P-256, SHA-256, private key C9AFA9D8…, public key (Ux, Uy).
const RFC6979_UX: &str = "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6";
const RFC6979_UY: &str = "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
/// (message, r, s) for SHA-256.
const RFC6979_SHA256: [(&[u8], &str, &str); 2] = [
    (
        b"sample",
        "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
        "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
    ),
    (
        b"test",
        "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
        "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
    ),
];

fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    let r: [u8; 32] = r.try_into().expect("32-byte r");
    let s: [u8; 32] = s.try_into().expect("32-byte s");
    let sig = p256::ecdsa::Signature::from_scalars(r, s).expect("in range");
    sig.to_der().as_bytes().to_vec()
}

#[test]
fn rfc6979_p256_vectors_verify_through_the_cose_es256_path_with_der_signatures() {
    let key = CredentialPublicKey::from_cose(&ec2_key(&hex(RFC6979_UX), &hex(RFC6979_UY)))
        .expect("RFC key");
    assert_eq!(key.algorithm(), CoseAlgorithm::Es256);
    for (message, r, s) in RFC6979_SHA256 {
        let der = der_signature(&hex(r), &hex(s));
        key.verify(message, &der)
            .unwrap_or_else(|e| panic!("RFC 6979 vector for {message:?}: {e}"));
        assert_eq!(key.verify(b"other", &der), Err(Fido2Error::BadSignature));
    }
    // The two signatures are not interchangeable.
    let sample = RFC6979_SHA256[0];
    let test = RFC6979_SHA256[1];
    assert_eq!(
        key.verify(sample.0, &der_signature(&hex(test.1), &hex(test.2))),
        Err(Fido2Error::BadSignature)
    );
}

#[test]
fn es256_accepts_both_the_high_s_and_the_low_s_form() {
    // (r, s) and (r, n − s) are the same signature. CTAP2 keys emit either, and WebAuthn
    // servers accept both (no low-S rule for P-256). RFC 6979's "sample" s is the high one.
    let key = CredentialPublicKey::from_cose(&ec2_key(&hex(RFC6979_UX), &hex(RFC6979_UY)))
        .expect("RFC key");
    let (message, r, s) = RFC6979_SHA256[0];
    let r: [u8; 32] = hex(r).try_into().expect("r");
    let s: [u8; 32] = hex(s).try_into().expect("s");
    let n_minus_s = {
        let n = hex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(n[i]) - i16::from(s[i]) - borrow;
            borrow = i16::from(d < 0);
            out[i] = u8::try_from(d + 256 * borrow).expect("byte");
        }
        out
    };
    let published = p256::ecdsa::Signature::from_scalars(r, s).expect("signature");
    let negated = p256::ecdsa::Signature::from_scalars(r, n_minus_s).expect("signature");
    assert_ne!(published, negated);
    assert_eq!(
        published.normalize_s(),
        negated,
        "the published s is the high form"
    );
    assert_eq!(negated.normalize_s(), negated);
    for sig in [published, negated] {
        key.verify(message, sig.to_der().as_bytes())
            .expect("both forms verify");
    }
}

#[test]
fn hashes_are_sha256_of_the_challenge_and_of_the_rp_id() {
    // FIPS 180-2 SHA-256 example: "abc".
    let abc = hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(client_data_hash(b"abc").to_vec(), abc);
    assert_eq!(rp_id_hash("abc").to_vec(), abc);
    assert_eq!(crate::fido2::host_rp_id("web1"), "pam_mfa://web1");
}
