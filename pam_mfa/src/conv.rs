//! [`PamIo`] over the application's conversation function (through [`crate::ffi::converse`]).

use std::ffi::CString;

use pamsm::Pam;
use zeroize::Zeroizing;

use crate::ffi::{self, MsgStyle};
use crate::flow::single::PasswordItem;
use crate::flow::{ConvError, PamIo};

/// The real conversation of one `pam_authenticate` call.
///
/// Messages are shown even when the application passed `PAM_SILENT`: sudo passes it on
/// every call (always before 1.9.16, by default since), and everything the daemon sends is
/// needed to act: the chooser's list, a grace deadline, or why a login was denied and what
/// to run. A denial without its reason is worse than a line of output.
pub struct PamConversation<'a> {
    pam: &'a Pam,
}

impl<'a> PamConversation<'a> {
    /// A conversation on `pam`.
    pub fn new(pam: &'a Pam) -> Self {
        PamConversation { pam }
    }

    fn show(&self, style: MsgStyle, text: &str) {
        // A message has no answer worth keeping; a failure to show it changes nothing.
        let _ = ffi::converse(self.pam, style, &c_text(text));
    }
}

impl PamIo for PamConversation<'_> {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConvError> {
        let style = if echo {
            MsgStyle::PromptEchoOn
        } else {
            MsgStyle::PromptEchoOff
        };
        match ffi::converse(self.pam, style, &c_text(text)) {
            Ok(Some(bytes)) => answer_text(bytes),
            Ok(None) => Err(ConvError::NoAnswer),
            Err(code) => Err(ConvError::Failed(code)),
        }
    }

    fn info(&mut self, text: &str) {
        self.show(MsgStyle::TextInfo, text);
    }

    fn error(&mut self, text: &str) {
        self.show(MsgStyle::ErrorMsg, text);
    }
}

impl PasswordItem for PamConversation<'_> {
    fn password(&mut self) -> Result<Option<Zeroizing<String>>, ConvError> {
        match ffi::authtok(self.pam) {
            Ok(Some(bytes)) => answer_text(bytes).map(Some),
            Ok(None) => Ok(None),
            Err(code) => Err(ConvError::Failed(code)),
        }
    }

    fn set_password(&mut self, password: &str) -> Result<(), pamsm::PamError> {
        ffi::set_authtok(self.pam, password)
    }
}

/// Text for a C message: a NUL (which the daemon should never send) becomes U+FFFD instead
/// of cutting the message short.
fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{fffd}")).unwrap_or_default()
}

/// The answer as UTF-8 text, moving (not copying) the wiping buffer; a non-UTF-8 answer is
/// wiped and refused.
fn answer_text(mut bytes: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, ConvError> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            // Back into wiping memory, dropped (and wiped) at once.
            drop(Zeroizing::new(e.into_bytes()));
            Err(ConvError::NotUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_utf8_answer_is_moved_into_a_string() {
        let answer = answer_text(Zeroizing::new(b"123456".to_vec())).unwrap();
        assert_eq!(answer.as_str(), "123456");
        let answer = answer_text(Zeroizing::new("žluť".as_bytes().to_vec())).unwrap();
        assert_eq!(answer.as_str(), "žluť");
    }

    #[test]
    fn a_non_utf8_answer_is_refused() {
        assert_eq!(
            answer_text(Zeroizing::new(vec![b'1', 0xff, b'2'])),
            Err(ConvError::NotUtf8)
        );
    }

    #[test]
    fn message_text_never_loses_its_tail_to_a_nul() {
        assert_eq!(c_text("a\0b").to_str().unwrap(), "a\u{fffd}b");
        assert_eq!(c_text("Code: ").to_str().unwrap(), "Code: ");
    }
}
