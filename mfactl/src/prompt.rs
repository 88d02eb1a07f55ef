//! Asking the person at the keyboard for a code (or an imported secret).
//!
//! When standard input is a terminal the question goes to `/dev/tty` and the answer comes
//! from it, so standard output stays clean for `--json` and scripts. Otherwise one line is
//! read from standard input and the question goes to standard error.
//!
//! [`Prompter::ask_hidden`] turns the terminal's echo off while the answer is typed (a
//! step-up answer the daemon marks as not to be echoed). Without a terminal it is
//! [`Prompter::ask`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};

use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use zeroize::Zeroizing;

/// Longest line read, in bytes. A code is at most 64 bytes and a base32 secret about 210;
/// anything longer is refused rather than buffered.
pub const MAX_LINE: usize = 1024;

/// Where questions go and answers come from.
pub(crate) trait Prompter {
    /// Whether a person is answering at a terminal (and may retry a mistyped code).
    fn is_interactive(&self) -> bool;

    /// Shows `text` to the person answering (the terminal, or standard error).
    fn show(&mut self, text: &str) -> io::Result<()>;

    /// Asks `question` and reads one line, without its line ending. `None` at end of input.
    fn ask(&mut self, question: &str) -> io::Result<Option<Zeroizing<String>>>;

    /// Like [`ask`](Prompter::ask), but at a terminal the answer is not echoed.
    fn ask_hidden(&mut self, question: &str) -> io::Result<Option<Zeroizing<String>>>;
}

/// The real terminal, or standard input and standard error.
pub(crate) struct SystemPrompter {
    interactive: bool,
    tty: Option<Tty>,
}

struct Tty {
    reader: BufReader<File>,
    writer: File,
}

impl SystemPrompter {
    /// Decides once whether standard input is a terminal; `/dev/tty` is opened on first use.
    pub(crate) fn new() -> Self {
        SystemPrompter {
            interactive: io::stdin().is_terminal(),
            tty: None,
        }
    }

    /// The terminal, opened on first use; `None` when not interactive or it cannot be opened
    /// (then standard input and standard error stand in).
    fn tty(&mut self) -> Option<&mut Tty> {
        if self.interactive && self.tty.is_none() {
            let opened = OpenOptions::new().read(true).write(true).open("/dev/tty");
            if let Ok(file) = opened
                && let Ok(writer) = file.try_clone()
            {
                self.tty = Some(Tty {
                    reader: BufReader::new(file),
                    writer,
                });
            }
        }
        self.tty.as_mut()
    }
}

impl Prompter for SystemPrompter {
    fn is_interactive(&self) -> bool {
        self.interactive
    }

    fn show(&mut self, text: &str) -> io::Result<()> {
        match self.tty() {
            Some(tty) => write_flush(&mut tty.writer, text),
            None => write_flush(&mut io::stderr().lock(), text),
        }
    }

    fn ask(&mut self, question: &str) -> io::Result<Option<Zeroizing<String>>> {
        self.show(question)?;
        match self.tty() {
            Some(tty) => read_line(&mut tty.reader),
            None => {
                let answer = read_line(&mut io::stdin().lock());
                // A pipe does not echo the answer's newline: end the question's line, so
                // whatever follows on standard error starts on a line of its own.
                if !self.interactive && !question.is_empty() {
                    write_flush(&mut io::stderr().lock(), "\n")?;
                }
                answer
            }
        }
    }

    fn ask_hidden(&mut self, question: &str) -> io::Result<Option<Zeroizing<String>>> {
        let Some(tty) = self.tty() else {
            return self.ask(question);
        };
        write_flush(&mut tty.writer, question)?;
        // If the echo cannot be turned off, the answer is read visibly rather than not at all.
        let echo_off = EchoOff::new(&tty.writer);
        let answer = read_line(&mut tty.reader);
        drop(echo_off);
        answer
    }
}

/// The terminal's echo turned off (the newline still echoes), restored when dropped.
struct EchoOff<'a> {
    tty: &'a File,
    saved: Option<Termios>,
}

impl<'a> EchoOff<'a> {
    fn new(tty: &'a File) -> Self {
        let saved = termios::tcgetattr(tty).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            quiet.local_flags.insert(LocalFlags::ECHONL);
            // On failure the answer is simply echoed.
            let _ = termios::tcsetattr(tty, SetArg::TCSANOW, &quiet);
        }
        EchoOff { tty, saved }
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(self.tty, SetArg::TCSANOW, saved);
        }
    }
}

fn write_flush(w: &mut dyn Write, text: &str) -> io::Result<()> {
    w.write_all(text.as_bytes())?;
    w.flush()
}

/// Reads one line of at most [`MAX_LINE`] bytes into a buffer that is wiped when dropped,
/// and strips the line ending. `None` at end of input.
pub(crate) fn read_line(r: &mut dyn BufRead) -> io::Result<Option<Zeroizing<String>>> {
    // Allocated once at full size, so no partial copy is left behind by a reallocation.
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_LINE + 1));
    let n = r.take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if buf.len() > MAX_LINE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the line is longer than {MAX_LINE} bytes"),
        ));
    }
    match String::from_utf8(std::mem::take(&mut *buf)) {
        Ok(text) => Ok(Some(Zeroizing::new(text))),
        Err(e) => {
            // Wipe the bytes on the way out, like everything else read here.
            drop(Zeroizing::new(e.into_bytes()));
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the input is not valid UTF-8",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Option<String>> {
        let mut r = input;
        let mut out = Vec::new();
        loop {
            let line = read_line(&mut r).unwrap().map(|l| l.to_string());
            let end = line.is_none();
            out.push(line);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn line_endings_are_stripped_and_eof_is_none() {
        assert_eq!(
            lines(b"123456\n654321\r\nlast"),
            [
                Some("123456".into()),
                Some("654321".into()),
                Some("last".into()),
                None
            ]
        );
        assert_eq!(lines(b""), [None]);
        assert_eq!(lines(b"\n"), [Some(String::new()), None]);
    }

    #[test]
    fn overlong_lines_and_bad_utf8_are_errors() {
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(read_line(&mut &long[..]).is_err());
        let mut exact = vec![b'1'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(read_line(&mut &exact[..]).unwrap().unwrap().len(), MAX_LINE);
        assert!(read_line(&mut &b"12\xff456\n"[..]).is_err());
    }
}
