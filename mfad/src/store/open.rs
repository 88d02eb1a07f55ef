//! Opening the database file safely.
//!
//! The directory must be a real directory (not a symlink) owned by us and closed to other
//! users; the file must be a regular file owned by us with mode 0600. When missing, both are
//! created that way. Anything else is refused with a message that says how to fix it,
//! because a group- or world-readable store would leak TOTP secrets.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Checks or creates the directory and file, then opens the connection.
pub fn open_checked(path: &Path) -> Result<Connection, StoreError> {
    let euid = nix::unistd::geteuid().as_raw();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io_err(dir, e))?;
            // `recursive` applies the mode only to the last component; make sure of it.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| io_err(dir, e))?;
        }
        Err(e) => return Err(io_err(dir, e)),
        Ok(meta) => {
            if !meta.file_type().is_dir() {
                return Err(StoreError::Unsafe(format!(
                    "refusing to use {}: it is not a directory (symbolic links are not followed)",
                    dir.display()
                )));
            }
            check_owner_and_mode(dir, &meta, euid, "700")?;
        }
    }
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Create it 0600 ourselves, so SQLite (which copies the main file's mode to the
            // -wal and -shm files) never creates anything readable by others.
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc_o_nofollow())
                .open(path)
                .map_err(|e| io_err(path, e))?;
        }
        Err(e) => return Err(io_err(path, e)),
        Ok(meta) => {
            if !meta.file_type().is_file() {
                return Err(StoreError::Unsafe(format!(
                    "refusing to use {}: not a regular file (symbolic links are not followed)",
                    path.display()
                )));
            }
            check_owner_and_mode(path, &meta, euid, "600")?;
            if meta.nlink() > 1 {
                return Err(StoreError::Unsafe(format!(
                    "refusing to use {}: it has {} hard links",
                    path.display(),
                    meta.nlink()
                )));
            }
        }
    }
    check_writable(dir)?;
    check_writable(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    Ok(Connection::open_with_flags(path, flags)?)
}

/// Refuses `path` if it cannot be written: a read-only file system or an immutable file.
///
/// mfad must record every used code and failure before it answers, so a database it cannot
/// write would deny every login anyway; SQLite itself would only say "unable to open
/// database file". Saying why here lets the administrator fix the right thing.
fn check_writable(path: &Path) -> Result<(), StoreError> {
    use nix::errno::Errno;
    match nix::unistd::access(path, nix::unistd::AccessFlags::W_OK) {
        Ok(()) => Ok(()),
        Err(Errno::EROFS) => Err(StoreError::Unsafe(format!(
            "refusing to use {p}: it is on a read-only file system, and mfad must record used \
             codes and failures; remount it read-write (`mount -o remount,rw` on its file system)",
            p = path.display()
        ))),
        Err(Errno::EPERM) => Err(StoreError::Unsafe(format!(
            "refusing to use {p}: it is immutable, and mfad must record used codes and \
             failures; run `chattr -i {p}`",
            p = path.display()
        ))),
        Err(e) => Err(io_err(path, std::io::Error::from(e))),
    }
}

/// Refuses `path` unless it is owned by `euid` and closed to group and others.
fn check_owner_and_mode(
    path: &Path,
    meta: &fs::Metadata,
    euid: u32,
    mode_fix: &str,
) -> Result<(), StoreError> {
    if meta.uid() != euid {
        return Err(StoreError::Unsafe(format!(
            "refusing to use {p}: owned by uid {}, not {euid}; run `chown {euid} {p}`",
            meta.uid(),
            p = path.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(StoreError::Unsafe(format!(
            "refusing to use {p}: mode {:04o} lets other users in; run `chmod {mode_fix} {p}`",
            meta.mode() & 0o7777,
            p = path.display()
        )));
    }
    Ok(())
}

fn libc_o_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}
