//! Account lookups through NSS (files, LDAP, SSSD: whatever the host uses).

use nix::unistd::{Gid, Group, Uid, User, getgrouplist};
use std::ffi::CString;
use std::sync::LazyLock;

use mfa_core::username::{UserNameError, check_user_name};

pub mod files;

/// `/etc/passwd` in memory, for hosts where NSS reads it first (see [`files`]).
static PASSWD_FILES: LazyLock<files::PasswdFiles> = LazyLock::new(Default::default);

/// Why a name does not designate a usable account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The name is syntactically unacceptable.
    Invalid(UserNameError),
    /// NSS has no such user.
    Unknown,
    /// NSS failed (e.g. directory unreachable).
    Nss(String),
}

/// A user as NSS knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The canonical name (as NSS returns it).
    pub name: String,
    /// The UID.
    pub uid: u32,
    /// The primary GID.
    pub gid: u32,
}

/// Looks up `name`, insisting that NSS returns exactly that name: a lookup that matches
/// case-insensitively or after trimming (some NSS back-ends do) would let one account be
/// enrolled under two names (Duo PSA-2015-003).
pub fn lookup(name: &str) -> Result<Account, LookupError> {
    check_user_name(name).map_err(LookupError::Invalid)?;
    if let files::Answer::Found(account) = PASSWD_FILES.by_name(name) {
        return Ok(account);
    }
    match User::from_name(name) {
        Ok(Some(u)) if u.name == name => Ok(Account {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        }),
        Ok(_) => Err(LookupError::Unknown),
        Err(e) => Err(LookupError::Nss(e.to_string())),
    }
}

/// The account of `uid`, if NSS has one.
pub fn by_uid(uid: u32) -> Option<Account> {
    if let files::Answer::Found(account) = PASSWD_FILES.by_uid(uid) {
        return Some(account);
    }
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => Some(Account {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        }),
        _ => None,
    }
}

/// Whether `account` is a member of the group called `group` (primary or supplementary,
/// as `getgrouplist` reports). A failed lookup is an error, never "not a member".
pub fn in_group(account: &Account, group: &str) -> Result<bool, GroupLookupError> {
    Ok(!member_groups(account, std::slice::from_ref(&group))?.is_empty())
}

/// The group database (NSS) could not be read; a decision that depends on membership must
/// not be taken as if the user were in no group (that would fail open for enforced groups).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the group database could not be read for {user}: {detail}")]
pub struct GroupLookupError {
    /// The account.
    pub user: String,
    /// What failed.
    pub detail: String,
}

/// The groups among `groups` that `account` belongs to (primary or supplementary), in the
/// order given, with one `getgrouplist` call. Groups NSS does not know are skipped; a
/// lookup that fails is an error.
pub fn member_groups<G: AsRef<str>>(
    account: &Account,
    groups: &[G],
) -> Result<Vec<String>, GroupLookupError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let error = |detail: String| GroupLookupError {
        user: account.name.clone(),
        detail,
    };
    let name = CString::new(account.name.as_str()).map_err(|e| error(e.to_string()))?;
    let member_of = getgrouplist(&name, Gid::from_raw(account.gid))
        .map_err(|e| error(format!("getgrouplist: {e}")))?;
    let mut found = Vec::new();
    for g in groups.iter().map(AsRef::as_ref) {
        match Group::from_name(g) {
            Ok(Some(group)) if member_of.contains(&group.gid) => found.push(g.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(error(format!("group {g:?}: {e}"))),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_is_canonical() {
        let a = lookup("root").unwrap();
        assert_eq!((a.name.as_str(), a.uid), ("root", 0));
        assert_eq!(by_uid(0).unwrap().name, "root");
        assert_eq!(in_group(&a, "root"), Ok(true));
    }

    #[test]
    fn member_groups_skips_unknown_and_foreign_groups() {
        let root = lookup("root").unwrap();
        let groups = ["no-such-group-mfa-test", "nogroup", "root"];
        assert_eq!(member_groups(&root, &groups), Ok(vec!["root".to_owned()]));
        assert_eq!(
            member_groups(&root, &["no-such-group-mfa-test"]),
            Ok(vec![])
        );
        assert_eq!(member_groups::<&str>(&root, &[]), Ok(vec![]));
    }

    /// The in-memory copy of /etc/passwd answers what glibc answers, for every account of
    /// this host (and the copy is really used here: Debian's nsswitch.conf has `files` first).
    #[test]
    fn the_passwd_copy_agrees_with_glibc_for_every_local_account() {
        let copy = files::PasswdFiles::new("/etc/passwd", "/etc/nsswitch.conf", 0);
        let text = std::fs::read_to_string("/etc/passwd").unwrap();
        let mut checked = 0;
        for name in text.lines().filter_map(|l| l.split(':').next()) {
            let glibc = User::from_name(name).unwrap().unwrap();
            let files::Answer::Found(a) = copy.by_name(name) else {
                panic!("{name} not answered from the copy");
            };
            assert_eq!(
                (a.name.as_str(), a.uid, a.gid),
                (glibc.name.as_str(), glibc.uid.as_raw(), glibc.gid.as_raw())
            );
            let by_uid = User::from_uid(glibc.uid).unwrap().unwrap();
            assert_eq!(
                copy.by_uid(a.uid),
                files::Answer::Found(lookup(&by_uid.name).unwrap())
            );
            checked += 1;
        }
        assert!(checked >= 2, "only {checked} accounts");
        assert_eq!(copy.by_name("no-such-user-mfa-test"), files::Answer::AskNss);
    }

    #[test]
    fn unknown_and_invalid_names_are_told_apart() {
        assert_eq!(lookup("no-such-user-mfa-test"), Err(LookupError::Unknown));
        assert!(matches!(lookup(" root"), Err(LookupError::Invalid(_))));
        assert!(matches!(lookup("ro:ot"), Err(LookupError::Invalid(_))));
        assert_eq!(
            in_group(&lookup("root").unwrap(), "no-such-group-mfa-test"),
            Ok(false)
        );
    }
}
