//! Reading the root-only files that hold the SMTP login and the gateway's auth header.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::DeliveryError;

/// Largest secret file read: a user name and a password, or one header line.
const MAX_SECRET_FILE_BYTES: u64 = 4096;

fn file_error(path: &Path, why: impl Into<String>) -> DeliveryError {
    DeliveryError::File {
        path: path.to_owned(),
        why: why.into(),
    }
}

/// Reads a secret file, refusing it unless it is a regular file owned by root that neither
/// group nor others may read or write (as pam-u2f does with its files): anyone who can
/// read it can send mail or run up an SMS bill in our name.
///
/// The checks use the opened file (`fstat`), so a swapped path cannot slip past them.
pub(crate) fn read_root_only(path: &Path) -> Result<Zeroizing<String>, DeliveryError> {
    let mut file =
        File::open(path).map_err(|e| file_error(path, format!("cannot be opened: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| file_error(path, format!("cannot be examined: {e}")))?;
    if !meta.is_file() {
        return Err(file_error(path, "is not a regular file"));
    }
    if meta.uid() != 0 {
        return Err(file_error(
            path,
            format!(
                "is owned by uid {}, not root: run `chown root: {}`",
                meta.uid(),
                path.display()
            ),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(file_error(
            path,
            format!(
                "holds a secret but group or others may access it (mode {mode:04o}): run `chmod 600 {}`",
                path.display()
            ),
        ));
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(file_error(
            path,
            format!("is larger than {MAX_SECRET_FILE_BYTES} bytes"),
        ));
    }
    let mut text = Zeroizing::new(String::new());
    file.by_ref()
        .take(MAX_SECRET_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| file_error(path, format!("cannot be read as UTF-8 text: {e}")))?;
    Ok(text)
}

/// The login in `email.credentials_file`: user on the first line, password on the second
/// (trailing `\r` tolerated; nothing else may follow but empty lines).
pub(crate) fn read_credentials(path: &Path) -> Result<(String, Zeroizing<String>), DeliveryError> {
    let text = read_root_only(path)?;
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let user = lines.next().unwrap_or("");
    let password = lines.next().unwrap_or("");
    if user.is_empty() || password.is_empty() {
        return Err(file_error(
            path,
            "must hold the user name on the first line and the password on the second",
        ));
    }
    if lines.any(|l| !l.is_empty()) {
        return Err(file_error(path, "has more than two lines"));
    }
    Ok((user.to_owned(), Zeroizing::new(password.to_owned())))
}

/// The header in `sms.auth_header_file`: one line `Name: value`.
pub(crate) fn read_header(path: &Path) -> Result<(String, Zeroizing<String>), DeliveryError> {
    let text = read_root_only(path)?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let line = lines.next().unwrap_or("");
    let shape = "must hold one header line `Name: value`, e.g. `Authorization: Bearer TOKEN`";
    if lines.next().is_some() {
        return Err(file_error(path, shape));
    }
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| file_error(path, shape))?;
    let value = value.trim();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) || value.is_empty() {
        return Err(file_error(path, shape));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(file_error(path, "the header value has control characters"));
    }
    Ok((name.to_owned(), Zeroizing::new(value.to_owned())))
}
