//! The private world the benchmark runs in: a mount namespace of its own, with private
//! copies of `/etc/passwd`, `/etc/group` and `/etc/pam.d`, and a private `/dev` that has a
//! `/dev/log`. Nothing on the host changes; the mounts die with the process.
//!
//! - **Users**: 10,000 throw-away accounts appended to a copy of `/etc/passwd` (the host's
//!   own lines first, so host accounts still resolve). mfad resolves users through NSS
//!   ("files" here), as on a host with that many local accounts.
//! - **`/dev/log`**: this machine has no syslog daemon, and glibc's `syslog()` then falls
//!   back to `/dev/console` for modules that ask for `LOG_CONS` (pam_google_authenticator
//!   does, and the flag is process-wide): a serial console write of about a millisecond
//!   per line, which would swamp what is measured and flood the console. A tmpfs over
//!   `/dev`, with every host entry bound back, gets a `/dev/log` datagram socket that
//!   stands in for journald.
//!
//! [`enter`] must run before the process starts any thread: `unshare(CLONE_NEWNS)` moves
//! only the calling thread, and threads started later inherit its namespace.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

use crate::error::{BenchError, Result};

fn mount_err(what: String) -> impl FnOnce(nix::Error) -> BenchError {
    move |e| BenchError::Setup(format!("{what}: {e}"))
}

/// Moves the process into a new mount namespace with private propagation. Needs root and
/// must be called while the process has a single thread.
pub fn enter() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(mount_err(
        "unshare(CLONE_NEWNS) (the benchmark must run as root)".into(),
    ))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(mount_err("mount --make-rprivate /".into()))
}

/// `mount --bind src dst` (recursively for directories), in our namespace.
pub fn bind(src: &Path, dst: &Path) -> Result<()> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(mount_err(format!(
        "mount --bind {} {}",
        src.display(),
        dst.display()
    )))
}

/// A fresh tmpfs on `dst` (in our namespace).
pub fn tmpfs(dst: &Path) -> Result<()> {
    mount(
        Some("mfa-bench"),
        dst,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=700,size=256m"),
    )
    .map_err(mount_err(format!("mount -t tmpfs {}", dst.display())))
}

/// Unmounts `dst`.
pub fn unmount(dst: &Path) -> Result<()> {
    nix::mount::umount2(dst, nix::mount::MntFlags::empty())
        .map_err(mount_err(format!("umount {}", dst.display())))
}

/// Writes `text` to `dir/name` and binds it over `target` (which must exist).
pub fn bind_copy(dir: &Path, name: &str, text: &str, target: &Path) -> Result<()> {
    let p = dir.join(name);
    let mode = fs::metadata(target)
        .map_err(|e| BenchError::path("stat", target, e))?
        .permissions();
    fs::write(&p, text).map_err(|e| BenchError::path("write", &p, e))?;
    fs::set_permissions(&p, mode).map_err(|e| BenchError::path("chmod", &p, e))?;
    bind(&p, target)
}

/// Replaces `/dev` by a tmpfs in which every entry of the host's `/dev` is bound back
/// (devices, `pts`, `shm`, …) and symbolic links are recreated, so that `/dev/log` can be
/// created. The host's `/dev` is reached through a descriptor opened before the tmpfs hides
/// it.
pub fn private_dev() -> Result<()> {
    let host = fs::File::open("/dev").map_err(|e| BenchError::io("open /dev", e))?;
    let host_dir = format!("/proc/self/fd/{}", host.as_raw_fd());
    let entries: Vec<fs::DirEntry> = fs::read_dir("/dev")
        .map_err(|e| BenchError::io("list /dev", e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| BenchError::io("list /dev", e))?;
    mount(
        Some("mfa-bench-dev"),
        "/dev",
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some("mode=755,size=1m"),
    )
    .map_err(mount_err("mount -t tmpfs /dev".into()))?;
    for e in entries {
        let name = e.file_name();
        let src = Path::new(&host_dir).join(&name);
        let dst = Path::new("/dev").join(&name);
        let ft = e
            .file_type()
            .map_err(|err| BenchError::path("stat", &src, err))?;
        if ft.is_symlink() {
            let target =
                fs::read_link(&src).map_err(|err| BenchError::path("readlink", &src, err))?;
            std::os::unix::fs::symlink(&target, &dst)
                .map_err(|err| BenchError::path("symlink", &dst, err))?;
            continue;
        }
        if ft.is_dir() {
            fs::create_dir(&dst).map_err(|err| BenchError::path("mkdir", &dst, err))?;
        } else if ft.is_char_device()
            || ft.is_block_device()
            || ft.is_file()
            || ft.is_fifo()
            || ft.is_socket()
        {
            fs::File::create(&dst).map_err(|err| BenchError::path("create", &dst, err))?;
        } else {
            continue;
        }
        bind(&src, &dst)?;
    }
    fs::set_permissions("/dev", fs::Permissions::from_mode(0o755))
        .map_err(|e| BenchError::io("chmod /dev", e))?;
    drop(host);
    Ok(())
}

/// The accounts added to the private `/etc/passwd` and `/etc/group`.
pub struct Accounts<'a> {
    /// Login names, each with its own UID (from `first_uid` on) and the shared group.
    pub names: &'a [String],
    /// UID of the first name.
    pub first_uid: u32,
    /// Name and GID of the group every bench account has as its primary group.
    pub group: (&'a str, u32),
}

/// Binds private copies of `/etc/passwd` and `/etc/group` with `accounts` appended.
pub fn private_accounts(dir: &Path, accounts: &Accounts<'_>) -> Result<()> {
    let read = |p: &str| fs::read_to_string(p).map_err(|e| BenchError::io(format!("read {p}"), e));
    let mut passwd = read("/etc/passwd")?;
    if !passwd.ends_with('\n') {
        passwd.push('\n');
    }
    let (group_name, gid) = accounts.group;
    for (i, name) in accounts.names.iter().enumerate() {
        let uid = accounts.first_uid as usize + i;
        passwd.push_str(&format!(
            "{name}:x:{uid}:{gid}:mfa bench:/nonexistent:/usr/sbin/nologin\n"
        ));
    }
    let mut group = read("/etc/group")?;
    if !group.ends_with('\n') {
        group.push('\n');
    }
    group.push_str(&format!("{group_name}:x:{gid}:\n"));
    bind_copy(dir, "passwd", &passwd, Path::new("/etc/passwd"))?;
    bind_copy(dir, "group", &group, Path::new("/etc/group"))
}

/// A private PAM configuration directory for `pam_start_confdir`: `services` and an
/// `other` that denies everything. libpam parses `other` on every `pam_start` (the fallback
/// stack), and the host's one pulls in `common-*` (pam_unix, libcrypt, libselinux, …), which
/// would add the same fixed cost to every contender and blur the ratios.
pub fn private_confdir(dir: &Path, services: &[(String, String)]) -> Result<std::path::PathBuf> {
    let confdir = dir.join("confdir");
    fs::create_dir(&confdir).map_err(|e| BenchError::path("mkdir", &confdir, e))?;
    let other = (
        "other".to_owned(),
        "auth required pam_deny.so\naccount required pam_deny.so\npassword required pam_deny.so\nsession required pam_deny.so\n".to_owned(),
    );
    for (name, text) in services.iter().chain(std::iter::once(&other)) {
        let p = confdir.join(name);
        fs::write(&p, text).map_err(|e| BenchError::path("write", &p, e))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644))
            .map_err(|e| BenchError::path("chmod", &p, e))?;
    }
    fs::set_permissions(&confdir, fs::Permissions::from_mode(0o755))
        .map_err(|e| BenchError::path("chmod", &confdir, e))?;
    Ok(confdir)
}

/// Copies the host's `/etc/pam.d` into `dir`, adds `services` (name, text) and binds the
/// copy over `/etc/pam.d`: pamtester reads its stacks there, with the host's own `other`, as
/// a login program on this host would.
pub fn private_pam_d(dir: &Path, services: &[(String, String)]) -> Result<()> {
    let copy = dir.join("pam.d");
    fs::create_dir(&copy).map_err(|e| BenchError::path("mkdir", &copy, e))?;
    for e in fs::read_dir("/etc/pam.d").map_err(|e| BenchError::io("list /etc/pam.d", e))? {
        let e = e.map_err(|e| BenchError::io("list /etc/pam.d", e))?;
        if e.file_type().is_ok_and(|t| t.is_file()) {
            fs::copy(e.path(), copy.join(e.file_name()))
                .map_err(|err| BenchError::path("copy", &e.path(), err))?;
        }
    }
    for (name, text) in services {
        let p = copy.join(name);
        fs::write(&p, text).map_err(|e| BenchError::path("write", &p, e))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644))
            .map_err(|e| BenchError::path("chmod", &p, e))?;
    }
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755))
        .map_err(|e| BenchError::path("chmod", &copy, e))?;
    bind(&copy, Path::new("/etc/pam.d"))
}
