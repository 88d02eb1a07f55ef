#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::Duration;

use super::*;

fn parse(args: &[&str]) -> Result<Options, ArgError> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    Options::try_from(args.as_slice())
}

fn problem(args: &[&str]) -> ArgError {
    parse(args).expect_err("arguments should be refused")
}

#[test]
fn given_no_arguments_then_the_system_bus_and_defaults_are_used() {
    let opts = parse(&[]).unwrap();
    assert_eq!(
        opts.bus,
        Address::try_from(mfa_proto::SYSTEM_BUS_ADDRESS).unwrap()
    );
    assert_eq!(opts.timeout, Duration::from_millis(10_000));
    assert_eq!(opts.fido2_timeout, Duration::from_secs(30));
    assert!(!opts.debug);
}

#[test]
fn debug_is_a_flag() {
    assert!(parse(&["debug"]).unwrap().debug);
    assert_eq!(problem(&["debug=1"]).argument, "debug=1");
    assert_eq!(problem(&["debug", "debug"]).problem, "given twice");
}

#[test]
fn bus_accepts_an_absolute_unix_path_or_an_abstract_socket() {
    let opts = parse(&["bus=unix:path=/run/test/bus.sock"]).unwrap();
    assert_eq!(
        opts.bus,
        Address::try_from("unix:path=/run/test/bus.sock").unwrap()
    );
    assert!(parse(&["bus=unix:abstract=mfa-test"]).is_ok());
}

#[test]
fn bus_refuses_anything_but_one_unix_socket() {
    for bad in [
        "bus=tcp:host=127.0.0.1,port=4000",
        "bus=unix:path=relative/bus.sock",
        "bus=unix:path=/a;unix:path=/b",
        "bus=unix:runtime=yes",
        "bus=unix:dir=/tmp",
        "bus=unix:tmpdir=/tmp",
        "bus=unix:",
        "bus=",
        "bus=unixexec:path=/bin/sh",
        "bus",
    ] {
        let e = problem(&[bad]);
        assert_eq!(e.argument, bad, "{bad} should be refused");
    }
    assert_eq!(
        problem(&["bus=unix:path=/a", "bus=unix:path=/b"]).problem,
        "given twice"
    );
}

#[test]
fn timeout_is_milliseconds_between_1_and_30000() {
    assert_eq!(
        parse(&["timeout=1"]).unwrap().timeout,
        Duration::from_millis(1)
    );
    assert_eq!(
        parse(&["timeout=30000"]).unwrap().timeout,
        Duration::from_secs(30)
    );
    for bad in [
        "timeout=0",
        "timeout=30001",
        "timeout=-5",
        "timeout=+5",
        "timeout=1s",
        "timeout=",
        "timeout",
    ] {
        assert_eq!(problem(&[bad]).argument, bad, "{bad} should be refused");
    }
    assert_eq!(problem(&["timeout=5", "timeout=6"]).problem, "given twice");
    assert!(
        problem(&["timeout=99999999999999999999999"])
            .problem
            .contains("between")
    );
}

#[test]
fn fido2_timeout_is_milliseconds_between_1000_and_120000() {
    assert_eq!(
        parse(&["fido2_timeout=1000"]).unwrap().fido2_timeout,
        Duration::from_secs(1)
    );
    assert_eq!(
        parse(&["fido2_timeout=120000"]).unwrap().fido2_timeout,
        Duration::from_secs(120)
    );
    // Independent of the daemon deadline, both ways.
    let opts = parse(&["timeout=500", "fido2_timeout=45000"]).unwrap();
    assert_eq!(
        (opts.timeout, opts.fido2_timeout),
        (Duration::from_millis(500), Duration::from_secs(45))
    );
    assert_eq!(
        parse(&["timeout=500"]).unwrap().fido2_timeout,
        Duration::from_secs(30)
    );
    for bad in [
        "fido2_timeout=999",
        "fido2_timeout=0",
        "fido2_timeout=120001",
        "fido2_timeout=99999999999999999999999",
    ] {
        let e = problem(&[bad]);
        assert_eq!(e.argument, bad);
        assert_eq!(
            e.problem,
            "the FIDO2 timeout must be between 1000 and 120000 milliseconds"
        );
    }
    for bad in [
        "fido2_timeout=",
        "fido2_timeout=30s",
        "fido2_timeout=+5000",
        "fido2_timeout=-5000",
    ] {
        assert_eq!(
            problem(&[bad]).problem,
            "the FIDO2 timeout must be a number of milliseconds",
            "{bad}"
        );
    }
    assert_eq!(
        problem(&["fido2_timeout"]).problem,
        "needs a value (key=value)"
    );
    assert_eq!(
        problem(&["fido2_timeout=5000", "fido2_timeout=6000"]).problem,
        "given twice"
    );
}

#[test]
fn an_unknown_argument_is_named_in_the_error() {
    let e = problem(&["debug", "nullok"]);
    assert_eq!(e.argument, "nullok");
    assert_eq!(e.problem, "unknown argument");
    assert_eq!(
        e.to_string(),
        "module argument \"nullok\": unknown argument"
    );
}

#[test]
fn all_arguments_together() {
    let opts = parse(&["timeout=250", "debug", "bus=unix:path=/tmp/x/socket"]).unwrap();
    assert!(opts.debug);
    assert_eq!(opts.timeout, Duration::from_millis(250));
}

/// The keys in the patterns of the parser's `match (key, value)`, read from this crate's
/// source: string literals there that are bare lowercase words, digits allowed (the error
/// texts all contain spaces).
fn keys_the_parser_matches() -> std::collections::BTreeSet<&'static str> {
    let source = include_str!("../args.rs");
    let start = source
        .find("match (key, value) {")
        .expect("the parser's match");
    let end = start
        + source[start..]
            .find("_ => return Err(error(\"unknown argument\"))")
            .expect("the parser's catch-all arm");
    source[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .collect()
}

#[test]
fn the_documented_arguments_are_exactly_the_ones_the_parser_accepts() {
    let documented: std::collections::BTreeSet<&str> = ARGUMENTS.iter().map(|a| a.key).collect();
    assert_eq!(
        documented.len(),
        ARGUMENTS.len(),
        "a key is documented twice"
    );
    assert_eq!(
        documented,
        keys_the_parser_matches(),
        "ARGUMENTS and the parser in args.rs disagree"
    );
    for doc in ARGUMENTS {
        let example = match (doc.key, doc.value) {
            ("bus", Some(_)) => "bus=unix:path=/run/example/bus".to_owned(),
            ("timeout", Some(_)) => format!("timeout={MAX_TIMEOUT_MS}"),
            ("fido2_timeout", Some(_)) => format!("fido2_timeout={MAX_FIDO2_TIMEOUT_MS}"),
            (key, None) => key.to_owned(),
            (key, Some(_)) => panic!("add an example value for {key}= to this test"),
        };
        assert!(
            parse(&[example.as_str()]).is_ok(),
            "{example} is documented but refused"
        );
        // A key=value argument needs its value; a flag takes none.
        let wrong_shape = match doc.value {
            Some(_) => doc.key.to_owned(),
            None => format!("{}=1", doc.key),
        };
        assert!(
            parse(&[wrong_shape.as_str()]).is_err(),
            "{wrong_shape} is accepted, but {} is documented",
            doc.synopsis()
        );
    }
}

#[test]
fn the_documented_defaults_are_the_parser_defaults() {
    let defaults = parse(&[]).unwrap();
    for doc in ARGUMENTS {
        match (doc.key, doc.default) {
            ("bus", ArgDefault::Text(address)) => {
                assert_eq!(defaults.bus, Address::try_from(address).unwrap());
            }
            ("timeout", ArgDefault::Millis(ms)) => {
                assert_eq!(defaults.timeout, Duration::from_millis(ms));
                assert!(doc.description.contains(&MAX_TIMEOUT_MS.to_string()));
            }
            ("fido2_timeout", ArgDefault::Millis(ms)) => {
                assert_eq!(defaults.fido2_timeout, Duration::from_millis(ms));
                assert!(doc.description.contains(&format!(
                    "({MIN_FIDO2_TIMEOUT_MS} to {MAX_FIDO2_TIMEOUT_MS})"
                )));
            }
            ("debug", ArgDefault::Off) => assert!(!defaults.debug),
            ("single_prompt", ArgDefault::Off) => assert!(!defaults.single_prompt),
            (key, default) => panic!("{key}: check the default {default:?} in this test"),
        }
    }
}

#[test]
fn single_prompt_is_a_flag_given_once() {
    assert!(parse(&["single_prompt"]).unwrap().single_prompt);
    assert!(parse(&["single_prompt", "single_prompt"]).is_err());
    assert!(parse(&["single_prompt=yes"]).is_err());
}

#[test]
fn the_software_key_argument_exists_only_in_the_test_only_build() {
    let result = parse(&["fido2_soft_key=/tmp/key.json"]);
    #[cfg(feature = "soft-fido2")]
    {
        let path = result.unwrap().fido2_soft_key;
        assert_eq!(path, Some(std::path::PathBuf::from("/tmp/key.json")));
        assert!(parse(&["fido2_soft_key=key.json"]).is_err());
        assert!(parse(&["fido2_soft_key"]).is_err());
        assert!(parse(&["fido2_soft_key=/a", "fido2_soft_key=/b"]).is_err());
    }
    #[cfg(not(feature = "soft-fido2"))]
    assert_eq!(
        result.unwrap_err().problem,
        "unknown argument",
        "a release build must refuse to run with it"
    );
}
