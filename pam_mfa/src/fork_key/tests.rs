//! The fork wrapper with real child processes: answers and errors through the pipe, children
//! that die or stay silent, and what is left afterwards (nothing: the PID is reaped).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::*;

/// Plenty for a call that answers at once, even on a loaded machine.
const GENEROUS: Duration = Duration::from_secs(20);

fn response() -> GetAssertionResponse {
    GetAssertionResponse {
        // The longest credential ID WebAuthn allows.
        credential_id: (0..1023u32).map(|i| (i % 251) as u8).collect(),
        auth_data: vec![0xad; 37],
        signature: vec![0x30; 72],
    }
}

fn every_error() -> Vec<ClientError> {
    vec![
        ClientError::NoDevice,
        ClientError::MultipleDevices,
        ClientError::Timeout,
        ClientError::NoCredentials,
        ClientError::CredentialExcluded,
        ClientError::PinRequired,
        ClientError::PinInvalid,
        ClientError::PinBlocked,
        ClientError::PinNotSet,
        ClientError::UserVerificationUnavailable,
        ClientError::UnsupportedAlgorithm,
        ClientError::InvalidRequest("empty RP ID".into()),
        ClientError::Device("hid: broken pipe ✗".into()),
        ClientError::Panicked,
        ClientError::NoAnswer { millis: 4321 },
    ]
}

/// The child `pid` is gone entirely: not running, not a zombie waiting to be reaped.
#[track_caller]
fn assert_reaped(pid: Option<libc::pid_t>) {
    let pid = pid.expect("a child was started");
    let mut status = 0;
    // SAFETY: waitpid on a PID this test's call started, with a status integer we own.
    let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    assert_eq!(
        (got, io::Error::last_os_error().raw_os_error()),
        (-1, Some(libc::ECHILD)),
        "child {pid} was not reaped"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "child {pid} is still in /proc"
    );
}

#[test]
fn an_answer_comes_back_from_the_child_intact() {
    let call = in_child(GENEROUS, || Ok(response()));
    assert_eq!(call.answer, Ok(response()));
    assert_ne!(call.pid, Some(0));
    assert_reaped(call.pid);
}

#[test]
fn the_call_really_runs_in_another_process() {
    let here = std::process::id();
    let call = in_child(GENEROUS, || {
        Err(ClientError::Device(std::process::id().to_string()))
    });
    let Err(ClientError::Device(there)) = call.answer else {
        panic!("{:?}", call.answer)
    };
    assert_ne!(there, here.to_string());
    assert_eq!(Some(there.parse::<libc::pid_t>().unwrap()), call.pid);
    assert_reaped(call.pid);
}

#[test]
fn every_error_kind_comes_back_as_itself() {
    for error in every_error() {
        assert_eq!(
            decode(&encode(&Err(error.clone()))),
            Some(Err(error.clone()))
        );
    }
    // Through real children, the ones the login flow acts on.
    for error in [
        ClientError::PinInvalid,
        ClientError::NoDevice,
        ClientError::Device("x".into()),
    ] {
        let sent = error.clone();
        let call = in_child(GENEROUS, move || Err(sent));
        assert_eq!(call.answer, Err(error));
        assert_reaped(call.pid);
    }
}

#[test]
fn a_long_error_detail_is_cut_at_a_character_boundary() {
    let call = in_child(GENEROUS, || Err(ClientError::Device("é".repeat(1000))));
    assert_eq!(
        call.answer,
        Err(ClientError::Device("é".repeat(MAX_DETAIL_LEN / 2)))
    );
    assert_eq!(cut("aé", 2), "a");
}

#[test]
fn a_child_that_exits_without_answering_is_an_error_never_an_answer() {
    let call = in_child(GENEROUS, || {
        // SAFETY: ends the child process on the spot, as a crashing library would.
        unsafe { libc::_exit(7) }
    });
    assert_eq!(
        call.answer,
        Err(ClientError::Device(
            "the process that talks to the security key ended without an answer (exit status \
             7)"
            .into()
        ))
    );
    assert_reaped(call.pid);
    let call = in_child(GENEROUS, || {
        // SAFETY: the child kills itself, as the OOM killer would.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        Ok(response())
    });
    let Err(ClientError::Device(why)) = &call.answer else {
        panic!("{:?}", call.answer)
    };
    assert!(why.ends_with("(killed by signal 9)"), "{why}");
    assert_reaped(call.pid);
}

#[test]
fn a_panicking_key_is_reported_as_such() {
    let call = in_child(GENEROUS, || panic!("the library gave up"));
    assert_eq!(call.answer, Err(ClientError::Panicked));
    assert_reaped(call.pid);
}

#[test]
fn a_silent_key_is_abandoned_at_the_deadline_and_its_process_killed_and_reaped() {
    let started = Instant::now();
    let call = in_child(Duration::from_millis(300), || {
        std::thread::sleep(Duration::from_secs(60));
        Ok(response())
    });
    let took = started.elapsed();
    assert_eq!(call.answer, Err(ClientError::NoAnswer { millis: 300 }));
    assert_eq!(
        call.answer.unwrap_err().to_string(),
        "the security key did not answer within 0.3 seconds"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert_reaped(call.pid);
}

/// An inner key that checks what it is asked and says so.
struct PickyKey;

impl Authenticator for PickyKey {
    fn make_credential(
        &self,
        _: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse, ClientError> {
        panic!("the wrapper must never enroll");
    }

    fn get_assertion(
        &self,
        request: &GetAssertionRequest,
    ) -> Result<GetAssertionResponse, ClientError> {
        match request.pin.as_deref().map(String::as_str) {
            Some("2468") => Ok(GetAssertionResponse {
                credential_id: request.allow_credentials[0].clone(),
                auth_data: request.rp_id.as_bytes().to_vec(),
                signature: request.challenge.clone(),
            }),
            Some(_) => Err(ClientError::PinInvalid),
            None => Err(ClientError::PinRequired),
        }
    }
}

fn login_request(pin: Option<&str>) -> GetAssertionRequest {
    GetAssertionRequest {
        rp_id: "pam_mfa://host".into(),
        challenge: vec![0x5a; 32],
        allow_credentials: vec![vec![1, 2, 3]],
        pin: pin.map(|p| Zeroizing::new(p.to_owned())),
        require_uv: true,
    }
}

#[test]
fn the_wrapped_key_sees_the_request_and_its_errors_reach_the_caller() {
    let key = ForkedKey::new(PickyKey, GENEROUS);
    assert_eq!(
        key.get_assertion(&login_request(Some("2468"))),
        Ok(GetAssertionResponse {
            credential_id: vec![1, 2, 3],
            auth_data: b"pam_mfa://host".to_vec(),
            signature: vec![0x5a; 32],
        })
    );
    assert_eq!(
        key.get_assertion(&login_request(Some("1111"))),
        Err(ClientError::PinInvalid)
    );
    assert_eq!(
        key.get_assertion(&login_request(None)),
        Err(ClientError::PinRequired)
    );
    assert!(matches!(
        key.make_credential(&MakeCredentialRequest {
            rp_id: "pam_mfa://host".into(),
            challenge: vec![1; 32],
            algorithms: Vec::new(),
            exclude_credentials: Vec::new(),
            pin: None,
            require_uv: false,
        }),
        Err(ClientError::InvalidRequest(_))
    ));
}

#[test]
fn malformed_messages_are_refused() {
    let good = encode(&Ok(response()));
    assert_eq!(decode(&good), Some(Ok(response())));
    // Short, long, or a length prefix that does not match.
    assert_eq!(decode(&good[..good.len() - 1]), None);
    let mut long = good.clone();
    long.push(0);
    assert_eq!(decode(&long), None);
    let mut wrong_prefix = good.clone();
    wrong_prefix[3] ^= 1;
    assert_eq!(decode(&wrong_prefix), None);
    // Unknown answer kind, unknown error kind, a detail that is not UTF-8, a deadline that
    // is not a number.
    assert_eq!(decode(&[0, 0, 0, 1, 9]), None);
    assert_eq!(decode(&[0, 0, 0, 6, 1, 99, 0, 0, 0, 0]), None);
    assert_eq!(decode(&[0, 0, 0, 7, 1, 13, 0, 0, 0, 1, 0xff]), None);
    assert_eq!(decode(&[0, 0, 0, 7, 1, 15, 0, 0, 0, 1, b'x']), None);
    assert_eq!(decode(&[]), None);
}

#[test]
fn reading_stops_at_a_whole_message_a_closed_pipe_or_too_much() {
    let far = || Instant::now() + GENEROUS;
    // A whole message, with the writer still open: no need to wait for the end of file.
    let (r, w) = pipe().unwrap();
    let message = encode(&Err(ClientError::NoDevice));
    File::from(w.try_clone().unwrap())
        .write_all(&message)
        .unwrap();
    assert_eq!(
        read_message(&File::from(r), far()),
        (message.clone(), End::Complete)
    );
    // Half a message, then the writer gone.
    let (r, w) = pipe().unwrap();
    File::from(w).write_all(&message[..5]).unwrap();
    assert_eq!(
        read_message(&File::from(r), far()),
        (message[..5].to_vec(), End::Closed)
    );
    // A length over the bound is refused as soon as the prefix is in.
    let (r, w) = pipe().unwrap();
    let announced = u32::try_from(MAX_MESSAGE_LEN).unwrap().to_be_bytes();
    let mut writer = File::from(w);
    writer.write_all(&announced).unwrap();
    assert_eq!(read_message(&File::from(r), far()).1, End::TooLong);
    // Nothing at all: the deadline.
    let (r, _w) = pipe().unwrap();
    let started = Instant::now();
    let until = started + Duration::from_millis(100);
    assert_eq!(
        read_message(&File::from(r), until),
        (Vec::new(), End::Deadline)
    );
    assert!(Instant::now() >= until);
    drop(writer);
}
