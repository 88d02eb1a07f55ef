use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::doctor::pamconf::{PamFile, PamType, parse_file};
use crate::doctor::pamstack::{Files, flatten};
use crate::doctor::tests::DEBIAN_COMMON_AUTH;

struct Dir(BTreeMap<PathBuf, PamFile>);

impl Files for Dir {
    fn get(&mut self, path: &Path) -> Result<&PamFile, String> {
        self.0.get(path).ok_or_else(|| "missing".to_owned())
    }

    fn resolve(&self, name: &str) -> PathBuf {
        Path::new("/etc/pam.d").join(name)
    }
}

/// The auth stack of a service file with this text (common-auth is Debian's, unless given),
/// and the index of its first pam_mfa entry.
fn stack(service: &str, others: &[(&str, &str)]) -> (Vec<Entry>, usize) {
    let mut files = BTreeMap::new();
    files.insert(
        PathBuf::from("/etc/pam.d/common-auth"),
        parse_file(DEBIAN_COMMON_AUTH),
    );
    for (name, text) in others {
        files.insert(Path::new("/etc/pam.d").join(name), parse_file(text));
    }
    files.insert(PathBuf::from("/etc/pam.d/svc"), parse_file(service));
    let mut dir = Dir(files);
    let entries = flatten(&mut dir, Path::new("/etc/pam.d/svc"), PamType::Auth);
    let target = entries
        .iter()
        .position(Entry::is_mfa)
        .expect("a pam_mfa line");
    (entries, target)
}

fn analysed(service: &str) -> Analysis {
    let (entries, target) = stack(service, &[]);
    analyse(&entries, target)
}

/// Lines (in the service file or common-auth) of the entries that skipped pam_mfa.
fn skippers(service: &str, others: &[(&str, &str)]) -> Vec<(String, usize)> {
    let (entries, target) = stack(service, others);
    analyse(&entries, target)
        .skipped_by
        .iter()
        .map(|&i| {
            let e = &entries[i];
            (
                e.file.file_name().unwrap().to_string_lossy().into_owned(),
                e.line,
            )
        })
        .collect()
}

#[test]
fn debians_stack_with_pam_mfa_required_after_it_holds() {
    for control in ["required", "requisite", "[success=ok default=bad]"] {
        let a = analysed(&format!(
            "@include common-auth\nauth {control} pam_mfa.so\n"
        ));
        assert_eq!(a, Analysis::default(), "{control}");
    }
}

#[test]
fn sufficient_after_the_password_ignores_a_wrong_code() {
    // Debian's common-auth ends on `required pam_permit.so`: the stack is already a success
    // when a `sufficient` pam_mfa fails, and its failure is ignored.
    let a = analysed("@include common-auth\nauth sufficient pam_mfa.so\n");
    assert!(a.wrong_code_passes, "{a:?}");
    assert!(
        !a.code_alone_passes,
        "the password was checked first: {a:?}"
    );
}

#[test]
fn an_ignored_failure_lets_a_wrong_code_in() {
    for control in [
        "optional",
        "[success=ok default=ignore]",
        "[success=ok auth_err=1 default=bad]",
    ] {
        let a = analysed(&format!(
            "@include common-auth\nauth {control} pam_mfa.so\nauth required pam_permit.so\n"
        ));
        assert!(a.wrong_code_passes, "{control}: {a:?}");
    }
    // Falling through to a pam_deny is fine.
    let a = analysed(
        "@include common-auth\nauth [success=1 default=ignore] pam_mfa.so\n\
         auth requisite pam_deny.so\nauth required pam_permit.so\n",
    );
    assert_eq!(a, Analysis::default());
}

#[test]
fn ignoring_only_an_unavailable_daemon_fails_open() {
    let a = analysed(
        "@include common-auth\nauth [success=ok authinfo_unavail=ignore default=bad] pam_mfa.so\n",
    );
    assert!(a.unavailable_passes);
    assert!(!a.wrong_code_passes);
}

#[test]
fn sufficient_before_the_password_lets_a_code_alone_in() {
    let a = analysed("auth sufficient pam_mfa.so\n@include common-auth\n");
    assert!(a.code_alone_passes, "{a:?}");
    // A success jump over the password module: the same.
    let a = analysed("auth [success=2 default=die] pam_mfa.so\n@include common-auth\n");
    assert!(a.code_alone_passes, "{a:?}");
    // An optional password module before pam_mfa: a wrong password is ignored.
    let a = analysed("auth optional pam_unix.so\nauth required pam_mfa.so\n");
    assert!(a.code_alone_passes, "{a:?}");
    // With no password module at all (key + code over sshd), nothing to say.
    let a = analysed("auth required pam_mfa.so\n");
    assert_eq!(a, Analysis::default());
}

#[test]
fn a_stack_ending_before_pam_mfa_names_the_line() {
    // Red Hat's system-auth pulled in with `include`: its sufficient pam_unix ends it all.
    let system_auth = (
        "system-auth",
        "auth required pam_env.so\nauth sufficient pam_unix.so nullok\nauth required pam_deny.so\n",
    );
    let service = "auth include system-auth\nauth required pam_mfa.so\n";
    assert_eq!(
        skippers(service, &[system_auth]),
        [("system-auth".to_owned(), 2)]
    );
    // With `substack`, the sufficient ends only the substack: pam_mfa still runs.
    let service = "auth substack system-auth\nauth required pam_mfa.so\n";
    let (entries, target) = stack(service, &[system_auth]);
    assert_eq!(analyse(&entries, target), Analysis::default());
    // pam_permit sufficient, and a jump over pam_mfa by another module.
    let service = "auth sufficient pam_permit.so\n@include common-auth\nauth required pam_mfa.so\n";
    assert_eq!(skippers(service, &[]), [("svc".to_owned(), 1)]);
    let service = "@include common-auth\nauth [success=1 default=ignore] pam_succeed_if.so uid eq 0\n\
                   auth required pam_mfa.so\n";
    assert_eq!(skippers(service, &[]), [("svc".to_owned(), 2)]);
}

#[test]
fn root_skipping_su_through_pam_rootok_is_not_a_hole() {
    let a =
        analysed("auth sufficient pam_rootok.so\n@include common-auth\nauth required pam_mfa.so\n");
    assert_eq!(a, Analysis::default());
}

#[test]
fn die_and_done_inside_a_substack_end_only_the_substack() {
    let inner = (
        "inner",
        "auth requisite pam_deny.so\nauth required pam_permit.so\n",
    );
    // The substack dies (negative), the outer stack goes on but cannot succeed.
    let service = "@include common-auth\nauth substack inner\nauth optional pam_mfa.so\n";
    let (entries, target) = stack(service, &[inner]);
    let a = analyse(&entries, target);
    assert_eq!(a, Analysis::default(), "a dead substack fails the login");
    // A reset returns to the state at the start of the level: at the top, undecided, which
    // fails the login...
    let a = analysed("@include common-auth\nauth [success=ok default=reset] pam_mfa.so\n");
    assert_eq!(a, Analysis::default());
    // ...unless a later module decides: then the wrong code is forgotten.
    let a = analysed(
        "@include common-auth\nauth [success=ok default=reset] pam_mfa.so\n\
         auth required pam_permit.so\n",
    );
    assert!(a.wrong_code_passes, "reset forgets the failure: {a:?}");
}

#[test]
fn a_jump_past_the_end_is_a_failure() {
    let a = analysed("@include common-auth\nauth [success=ok default=5] pam_mfa.so\n");
    assert_eq!(a, Analysis::default());
}

#[test]
fn huge_stacks_are_cut_short_and_say_so() {
    let mut service = String::new();
    for _ in 0..20 {
        service.push_str("auth optional pam_env.so\n");
    }
    service.push_str("auth required pam_mfa.so\n");
    let a = analysed(&service);
    assert!(a.incomplete);
}
