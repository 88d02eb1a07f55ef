use std::collections::BTreeMap;

use super::*;
use crate::doctor::pamconf::parse_file;

/// Files by name under /etc/pam.d, for [`flatten`].
struct Dir(BTreeMap<PathBuf, Result<PamFile, String>>);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        Dir(files
            .iter()
            .map(|(name, text)| {
                (
                    PathBuf::from(format!("/etc/pam.d/{name}")),
                    Ok(parse_file(text)),
                )
            })
            .collect())
    }
}

impl Files for Dir {
    fn get(&mut self, path: &Path) -> Result<&PamFile, String> {
        match self.0.get(path) {
            Some(Ok(file)) => Ok(file),
            _ => Err(format!("{} cannot be read: not found", path.display())),
        }
    }

    fn resolve(&self, name: &str) -> PathBuf {
        if name.starts_with('/') {
            PathBuf::from(name)
        } else {
            Path::new("/etc/pam.d").join(name)
        }
    }
}

/// (file name, line, level, module or kind) of each entry.
fn shape(entries: &[Entry]) -> Vec<(String, usize, usize, String)> {
    entries
        .iter()
        .map(|e| {
            let what = match &e.kind {
                EntryKind::Module { module, .. } => module.clone(),
                EntryKind::Substack => "(substack)".to_owned(),
                EntryKind::Broken(why) => format!("(broken: {why})"),
            };
            let name = e.file.file_name().unwrap().to_string_lossy().into_owned();
            (name, e.line, e.level, what)
        })
        .collect()
}

#[test]
fn includes_are_expanded_in_place_and_substacks_one_level_down() {
    let mut dir = Dir::new(&[
        (
            "svc",
            "auth required pam_env.so\n@include common-auth\nauth substack system-auth\n\
             account include common-account\nauth required pam_mfa.so\n",
        ),
        (
            "common-auth",
            "auth required pam_unix.so\naccount required pam_x.so\n",
        ),
        ("system-auth", "auth sufficient pam_sss.so\n"),
        ("common-account", "account required pam_unix.so\n"),
    ]);
    let auth = flatten(&mut dir, Path::new("/etc/pam.d/svc"), PamType::Auth);
    let s = |f: &str, l, lv, m: &str| (f.to_owned(), l, lv, m.to_owned());
    assert_eq!(
        shape(&auth),
        [
            s("svc", 1, 0, "pam_env.so"),
            s("common-auth", 1, 0, "pam_unix.so"),
            s("svc", 3, 0, "(substack)"),
            s("system-auth", 1, 1, "pam_sss.so"),
            s("svc", 5, 0, "pam_mfa.so"),
        ]
    );
    let account = flatten(&mut dir, Path::new("/etc/pam.d/svc"), PamType::Account);
    assert_eq!(
        shape(&account),
        [
            s("common-auth", 2, 0, "pam_x.so"),
            s("common-account", 1, 0, "pam_unix.so")
        ]
    );
}

#[test]
fn loops_and_missing_files_break_the_stack_at_the_including_line() {
    let mut dir = Dir::new(&[
        ("a", "auth include b\nauth required pam_mfa.so\n"),
        (
            "b",
            "auth required pam_unix.so\n@include a\n@include nowhere\n",
        ),
    ]);
    let auth = flatten(&mut dir, Path::new("/etc/pam.d/a"), PamType::Auth);
    let shape = shape(&auth);
    assert_eq!(shape.len(), 4, "{shape:#?}");
    assert_eq!(shape[0].3, "pam_unix.so");
    assert_eq!((shape[1].0.as_str(), shape[1].1), ("b", 2));
    assert!(shape[1].3.contains("an include loop"), "{}", shape[1].3);
    assert_eq!((shape[2].0.as_str(), shape[2].1), ("b", 3));
    assert!(
        shape[2].3.contains("/etc/pam.d/nowhere cannot be read"),
        "{}",
        shape[2].3
    );
    assert_eq!(shape[3].3, "pam_mfa.so");
}
