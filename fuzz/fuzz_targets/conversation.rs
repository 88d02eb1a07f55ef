//! The module's conversation flow (`pam_mfa::flow::run`, and `flow::single::run` for
//! `single_prompt`) with a scripted PAM handle: the fuzz input plays the user (answers,
//! Ctrl-C, non-UTF-8, oversized answers, a password item), the daemon (any step, well formed
//! or not, any error) and the security key.
//!
//! Checked: no panic; `PAM_SUCCESS` only when the daemon's last step was `allow`, and
//! `PAM_IGNORE` only when it was `not-required`; no answer over `MAX_ANSWER_LEN` bytes and no
//! more than `MAX_PROMPTS` answers reach the daemon; a login the module ends itself cancels
//! the flow it was asked about; in single-prompt mode the daemon gets only the code, and
//! password + code is exactly what the user typed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_fido_client::{
    Authenticator, ClientError, GetAssertionRequest, GetAssertionResponse, MakeCredentialRequest,
    MakeCredentialResponse,
};
use mfa_proto::{LoginFacts, MAX_ANSWER_LEN, MfaError, WireStep};
use pam_mfa::flow::fido2::Fido2Request;
use pam_mfa::flow::single::PasswordItem;
use pam_mfa::flow::{self, ConvError, Daemon, MAX_PROMPTS, Outcome, PamIo};
use pamsm::PamError;
use std::cell::RefCell;
use std::rc::Rc;
use zeroize::Zeroizing;

/// The fuzz input, read front to back by every fake.
struct Script<'a> {
    data: &'a [u8],
}

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0xff,
        }
    }

    /// A short string: a length byte, then that many bytes (lossy UTF-8).
    fn text(&mut self) -> String {
        let n = usize::from(self.byte() % 24).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        String::from_utf8_lossy(head).into_owned()
    }

    fn bytes(&mut self) -> Vec<u8> {
        self.text().into_bytes()
    }
}

/// What the fakes read and record, shared by the user's side and the daemon's side (the
/// flow holds both as separate `&mut`; it calls them one at a time).
struct State<'a> {
    script: Script<'a>,
    /// Kind of the daemon's last successful reply.
    last_kind: Option<String>,
    /// The flows the daemon's replies named, and the ones cancelled.
    flows: Vec<String>,
    cancelled: Vec<String>,
    answers: Vec<String>,
    typed: Vec<String>,
    password_set: Option<String>,
}

type Shared<'a> = Rc<RefCell<State<'a>>>;

/// The daemon, scripted.
struct FakeDaemon<'a>(Shared<'a>);
/// The user and libpam, scripted.
struct FakePam<'a>(Shared<'a>);

fn wire(s: &mut Script<'_>) -> Result<WireStep, MfaError> {
    let pick = s.byte();
    if pick < 16 {
        return Err(match pick % 8 {
            0 => MfaError::Storage(s.text()),
            1 => MfaError::Internal(s.text()),
            2 => MfaError::AccessDenied(s.text()),
            3 => MfaError::InvalidUser(s.text()),
            4 => MfaError::UnknownUser(s.text()),
            5 => MfaError::UnknownFlow(s.text()),
            6 => MfaError::RateLimited(s.text()),
            _ => MfaError::InvalidArgument(s.text()),
        });
    }
    let kind = match pick % 7 {
        0 | 1 => "prompt".to_owned(),
        2 => "allow".to_owned(),
        3 => "not-required".to_owned(),
        4 => "deny".to_owned(),
        5 => "fido2".to_owned(),
        _ => s.text(),
    };
    let flow = if s.byte() % 8 == 0 {
        String::new()
    } else {
        s.text()
    };
    let info = (0..s.byte() % 3).map(|_| s.text()).collect();
    let text = s.text();
    let echo = s.byte() & 1 == 1;
    let reason = match s.byte() % 7 {
        0 => "auth-failed".to_owned(),
        1 => "not-enrolled".to_owned(),
        2 => "locked".to_owned(),
        3 => "user-unknown".to_owned(),
        4 => "unavailable".to_owned(),
        _ => s.text(),
    };
    Ok(WireStep {
        kind,
        flow,
        info,
        text,
        echo,
        reason,
    })
}

impl FakeDaemon<'_> {
    fn reply(&mut self) -> Result<WireStep, MfaError> {
        let mut st = self.0.borrow_mut();
        let r = wire(&mut st.script);
        st.last_kind = r.as_ref().ok().map(|w| w.kind.clone());
        if let Ok(w) = &r
            && !w.flow.is_empty()
        {
            st.flows.push(w.flow.clone());
        }
        r
    }
}

impl Daemon for FakeDaemon<'_> {
    async fn begin(&mut self, _facts: &LoginFacts) -> Result<WireStep, MfaError> {
        self.reply()
    }

    async fn begin_single_prompt(
        &mut self,
        _facts: &LoginFacts,
    ) -> Result<(WireStep, u32), MfaError> {
        let chars = u32::from(self.0.borrow_mut().script.byte() % 12);
        self.reply().map(|w| (w, chars))
    }

    async fn answer(&mut self, _flow: &str, answer: &str) -> Result<WireStep, MfaError> {
        self.0.borrow_mut().answers.push(answer.to_owned());
        self.reply()
    }

    async fn cancel(&mut self, flow: &str) {
        self.0.borrow_mut().cancelled.push(flow.to_owned());
    }

    async fn fido2_request(&mut self, _flow: &str) -> Result<Fido2Request, MfaError> {
        let mut st = self.0.borrow_mut();
        let s = &mut st.script;
        if s.byte() % 4 == 0 {
            return Err(MfaError::Internal(s.text()));
        }
        Ok(Fido2Request {
            rp_id: s.text(),
            challenge: s.bytes(),
            credential_ids: (0..s.byte() % 3).map(|_| s.bytes()).collect(),
            user_verification: s.byte() & 1 == 1,
        })
    }

    async fn answer_fido2(
        &mut self,
        _flow: &str,
        _credential_id: &[u8],
        _authenticator_data: &[u8],
        _signature: &[u8],
    ) -> Result<WireStep, MfaError> {
        self.reply()
    }

    async fn fido2_unavailable(
        &mut self,
        _flow: &str,
        _reason: &str,
    ) -> Result<WireStep, MfaError> {
        self.reply()
    }

    async fn answer_refused(&mut self, flow: &str, _reason: &str) -> Result<WireStep, MfaError> {
        // The daemon ends the refused flow itself: for the checks, as good as a Cancel.
        let mut st = self.0.borrow_mut();
        st.cancelled.push(flow.to_owned());
        let r = wire(&mut st.script);
        st.last_kind = r.as_ref().ok().map(|w| w.kind.clone());
        // A flow named by the reply is recorded only if the module may act on it (a prompt).
        if let Ok(w) = &r
            && matches!(w.kind.as_str(), "prompt" | "fido2")
            && !w.flow.is_empty()
        {
            st.flows.push(w.flow.clone());
        }
        r
    }
}

impl PamIo for FakePam<'_> {
    fn prompt(&mut self, _text: &str, _echo: bool) -> Result<Zeroizing<String>, ConvError> {
        let mut st = self.0.borrow_mut();
        let answer = match st.script.byte() % 8 {
            0 => return Err(ConvError::Failed(PamError::CONV_ERR)),
            1 => return Err(ConvError::NoAnswer),
            2 => return Err(ConvError::NotUtf8),
            3 => "7".repeat(MAX_ANSWER_LEN + usize::from(st.script.byte() % 2)),
            _ => st.script.text(),
        };
        st.typed.push(answer.clone());
        Ok(Zeroizing::new(answer))
    }

    fn info(&mut self, _text: &str) {}

    fn error(&mut self, _text: &str) {}
}

impl PasswordItem for FakePam<'_> {
    fn password(&mut self) -> Result<Option<Zeroizing<String>>, ConvError> {
        let mut st = self.0.borrow_mut();
        match st.script.byte() % 4 {
            0 => {
                let p = st.script.text();
                st.typed.push(p.clone());
                Ok(Some(Zeroizing::new(p)))
            }
            1 => Err(ConvError::Failed(PamError::CONV_ERR)),
            _ => Ok(None),
        }
    }

    fn set_password(&mut self, password: &str) -> Result<(), PamError> {
        let mut st = self.0.borrow_mut();
        st.password_set = Some(password.to_owned());
        if st.script.byte() % 16 == 0 {
            Err(PamError::BUF_ERR)
        } else {
            Ok(())
        }
    }
}

/// The security key: its answers come from the script too.
struct Key<'a>(&'a RefCell<Script<'a>>);

impl Authenticator for Key<'_> {
    fn make_credential(
        &self,
        _request: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse, ClientError> {
        Err(ClientError::NoDevice)
    }

    fn get_assertion(
        &self,
        _request: &GetAssertionRequest,
    ) -> Result<GetAssertionResponse, ClientError> {
        let mut s = self.0.borrow_mut();
        match s.byte() % 6 {
            0 => Err(ClientError::NoDevice),
            1 => Err(ClientError::Timeout),
            2 => Err(ClientError::PinRequired),
            3 => Err(ClientError::PinInvalid),
            _ => Ok(GetAssertionResponse {
                credential_id: s.bytes(),
                auth_data: s.bytes(),
                signature: s.bytes(),
            }),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let single = mode & 1 == 1;
    // The key reads from its own copy of the script, so the daemon's and the user's parts
    // are not shifted by it.
    let key_script = RefCell::new(Script { data: rest });
    let key = Key(&key_script);
    let state: Shared<'_> = Rc::new(RefCell::new(State {
        script: Script { data: rest },
        last_kind: None,
        flows: Vec::new(),
        cancelled: Vec::new(),
        answers: Vec::new(),
        typed: Vec::new(),
        password_set: None,
    }));
    let mut pam = FakePam(state.clone());
    let mut daemon = FakeDaemon(state.clone());
    let facts = LoginFacts {
        user: "alice".into(),
        service: "sshd".into(),
        ..LoginFacts::default()
    };
    let outcome = zbus::block_on(async {
        if single {
            flow::single::run(&facts, &mut pam, &mut daemon).await
        } else {
            flow::run(&facts, &mut pam, &mut daemon, &key).await
        }
    });
    check(&state.borrow(), &outcome, single);
});

fn check(f: &State<'_>, outcome: &Outcome, single: bool) {
    let code = outcome.code();
    match outcome {
        Outcome::Allow { .. } => {
            assert_eq!(f.last_kind.as_deref(), Some("allow"), "{outcome:?}");
            assert_eq!(code, PamError::SUCCESS);
        }
        Outcome::NotRequired { .. } => {
            assert_eq!(f.last_kind.as_deref(), Some("not-required"), "{outcome:?}");
            assert_eq!(code, PamError::IGNORE);
        }
        _ => {
            assert_ne!(code, PamError::SUCCESS, "{outcome:?}");
            assert_ne!(code, PamError::IGNORE, "{outcome:?}");
        }
    }
    assert!(
        f.answers.len() <= MAX_PROMPTS,
        "{} answers",
        f.answers.len()
    );
    for a in &f.answers {
        assert!(
            a.len() <= MAX_ANSWER_LEN,
            "an answer of {} bytes was sent",
            a.len()
        );
    }
    if matches!(
        outcome,
        Outcome::Conversation { .. } | Outcome::BadAnswer { .. }
    ) && let Some(last) = f.flows.last()
    {
        assert!(
            f.cancelled.contains(last),
            "{outcome:?} left flow {last:?} open (cancelled {:?})",
            f.cancelled
        );
    }
    if single {
        assert!(
            f.answers.len() <= 1,
            "single-prompt sent {} answers",
            f.answers.len()
        );
        if let (Some(code), Some(password)) = (f.answers.first(), &f.password_set) {
            let typed = f.typed.last().expect("something was typed");
            assert_eq!(&format!("{password}{code}"), typed);
            assert!(!password.is_empty(), "an empty password was handed on");
        }
    }
}
