//! `mfa-docs OUTDIR`: writes the man pages and mfactl's shell completions, generated from the
//! code, for `make install`:
//!
//! - `OUTDIR/man/man1/mfactl.1` and one page per subcommand (`mfactl-enroll.1`, …), from
//!   `mfactl::cli::command()` (clap_mangen);
//! - `OUTDIR/man/man8/mfad.8`, from `mfad::cli::command()`;
//! - `OUTDIR/man/man8/pam_mfa.8`, from the module's argument and return-code tables
//!   (`pam_mfa::args::ARGUMENTS`, `pam_mfa::flow::RETURN_CODES`);
//! - `OUTDIR/completions/{bash/mfactl, zsh/_mfactl, fish/mfactl.fish}` (clap_complete).
//!
//! Every page says `pam_mfa VERSION` and is dated from `SOURCE_DATE_EPOCH` when set (for
//! reproducible builds), else today.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap_complete::Shell;
use clap_mangen::Man;
use roff::{Roff, bold, italic, roman};

/// The project version, shown in every page footer.
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The manual every page belongs to (the centre of the header).
const MANUAL: &str = "pam_mfa";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [flag] if flag == "-h" || flag == "--help" => {
            println!("Usage: mfa-docs OUTDIR\n\nWrites OUTDIR/man/man{{1,8}}/*.{{1,8}} and");
            println!("OUTDIR/completions/{{bash/mfactl,zsh/_mfactl,fish/mfactl.fish}}.");
            return ExitCode::SUCCESS;
        }
        [out] if !out.starts_with('-') => PathBuf::from(out),
        _ => {
            eprintln!("Usage: mfa-docs OUTDIR");
            return ExitCode::from(2);
        }
    };
    match generate(&out) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mfa-docs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every page and completion file under `out`; returns the paths written.
fn generate(out: &Path) -> io::Result<Vec<PathBuf>> {
    let date = page_date();
    let mut files = Vec::new();

    let man1 = out.join("man/man1");
    fs::create_dir_all(&man1)?;
    mfactl_pages(mfactl::cli::command(), &man1, &date, &mut files)?;

    let man8 = out.join("man/man8");
    fs::create_dir_all(&man8)?;
    files.push(write(&man8.join("mfad.8"), &mfad_page(&date)?)?);
    files.push(write(&man8.join("pam_mfa.8"), &pam_mfa_page(&date))?);

    for (shell, path) in [
        (Shell::Bash, "completions/bash/mfactl"),
        (Shell::Zsh, "completions/zsh/_mfactl"),
        (Shell::Fish, "completions/fish/mfactl.fish"),
    ] {
        let mut cmd = mfactl::cli::command();
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd, "mfactl", &mut text);
        files.push(write(&out.join(path), &text)?);
    }
    Ok(files)
}

fn write(path: &Path, contents: &[u8]) -> io::Result<PathBuf> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, contents)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(path.to_path_buf())
}

/// A [`Man`] with this project's header fields.
fn man(cmd: clap::Command, section: &str, date: &str) -> Man {
    let title = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_uppercase();
    Man::new(cmd)
        .title(title)
        .section(section)
        .date(date)
        .source(format!("pam_mfa {VERSION}"))
        .manual(MANUAL)
}

/// clap_mangen's page followed by `extra` sections.
fn render(man: &Man, extra: &Roff) -> io::Result<Vec<u8>> {
    let mut page = Vec::new();
    man.render(&mut page)?;
    // to_roff: no second apostrophe preamble (clap_mangen's render wrote one).
    page.write_all(extra.to_roff().as_bytes())?;
    Ok(page)
}

/// mfactl(1) and one page per (nested) subcommand, as `clap_mangen::generate_to` names them
/// (`mfactl-enroll-totp.1`), each with a SEE ALSO section.
fn mfactl_pages(
    cmd: clap::Command,
    dir: &Path,
    date: &str,
    files: &mut Vec<PathBuf>,
) -> io::Result<()> {
    fn generate(
        cmd: clap::Command,
        dir: &Path,
        date: &str,
        top: bool,
        files: &mut Vec<PathBuf>,
    ) -> io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            generate(sub, dir, date, false, files)?;
        }
        let page = man(cmd, "1", date);
        let see_also: &[(&str, &str)] = if top {
            &[("mfad", "8"), ("pam_mfa", "8")]
        } else {
            &[("mfactl", "1"), ("mfad", "8"), ("pam_mfa", "8")]
        };
        let mut extra = Roff::new();
        see_also_section(&mut extra, see_also);
        files.push(write(
            &dir.join(page.get_filename()),
            &render(&page, &extra)?,
        )?);
        Ok(())
    }

    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    generate(cmd, dir, date, true, files)
}

/// mfad(8): clap_mangen's page (a short NAME line, the doc comment and more as DESCRIPTION),
/// then FILES and SEE ALSO.
fn mfad_page(date: &str) -> io::Result<Vec<u8>> {
    let cmd = mfad::cli::command();
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let description = format!(
        "{about}.\n\n\
         It serves the name {bus} on the system bus (object {path}): pam_mfa(8) asks it for \
         a second factor during logins, mfactl(1) manages tokens and policy. Every call is \
         authorised by the caller's UID as the bus reports it.\n\n\
         It runs as root, normally as the systemd service mfad.service (which can also be \
         started on demand by D-Bus activation). While it is not running, every login \
         through a PAM stack that requires pam_mfa fails.",
        bus = mfa_proto::BUS_NAME,
        path = mfa_proto::OBJECT_PATH,
    );
    let cmd = cmd
        .about("the pam_mfa daemon: second-factor tokens and checks for PAM logins")
        .long_about(description);
    let page = man(cmd, "8", date);

    let mut extra = Roff::new();
    extra.control("SH", ["FILES"]);
    tagged(
        &mut extra,
        [bold(mfad::cli::DEFAULT_DB_PATH)],
        "The database (--db): tokens, policy, failure counters. Created mode 0600 in a 0700 \
         directory owned by root.",
    );
    tagged(
        &mut extra,
        [bold(mfa_core::config::DEFAULT_CONFIG_PATH)],
        "The configuration (--config), read at start-up if it exists. Every key is optional \
         and unknown keys are an error; an example with every default is installed as \
         share/doc/pam_mfa/examples/mfad.toml.",
    );
    see_also_section(
        &mut extra,
        &[
            ("mfactl", "1"),
            ("pam_mfa", "8"),
            ("systemctl", "1"),
            ("dbus-daemon", "1"),
        ],
    );
    render(&page, &extra)
}

/// pam_mfa(8), written with `roff` from the module's tables.
fn pam_mfa_page(date: &str) -> Vec<u8> {
    use pam_mfa::args::ARGUMENTS;
    use pam_mfa::flow::RETURN_CODES;

    let mut r = Roff::new();
    let source = format!("pam_mfa {VERSION}");
    r.control("TH", ["PAM_MFA", "8", date, &source, MANUAL]);

    r.control("SH", ["NAME"]);
    r.text([roman(
        "pam_mfa - PAM module asking mfad for a second factor after the password",
    )]);

    r.control("SH", ["SYNOPSIS"]);
    let mut synopsis = vec![bold("auth required pam_mfa.so")];
    for arg in ARGUMENTS {
        synopsis.push(roman(" ["));
        synopsis.extend(arg_name(arg));
        synopsis.push(roman("]"));
    }
    r.text(synopsis);

    r.control("SH", ["DESCRIPTION"]);
    r.text([
        roman(
            "pam_mfa asks for a second factor (a TOTP code, a touch on a FIDO2 security key \
             plugged into this host, a recovery code) during authentication, after the \
             password (or with it, in single_prompt mode), and accepts an SSH security key \
             (sk- key) that sshd verified for this login when it is enrolled. It holds no \
             secrets and makes no decision of its own: it asks ",
        ),
        bold("mfad"),
        roman("(8) over D-Bus (the name "),
        bold(mfa_proto::BUS_NAME),
        roman(
            " on the system bus) whether this login needs a second factor, shows the prompts \
             mfad sends, and forwards the answers. Tokens, the policy (which users, groups \
             and services need a second factor), replay protection and rate limits all live \
             in mfad, and are managed with ",
        ),
        bold("mfactl"),
        roman("(1)."),
    ]);
    para(
        &mut r,
        "The module fails closed: if mfad is not running or does not answer in time, the \
         login fails; there is no fallback to password-only. Before sending a code it checks \
         that the bus name is owned by a process running as root. The bus address comes only \
         from the module arguments (never from the environment), and the typed code is wiped \
         from memory after use and never logged. Messages go to syslog (authpriv).",
    );
    para(
        &mut r,
        "FIDO2 security keys: mfad sends a fresh challenge; the module shows \"Touch your \
         security key\", asks for the key's PIN when the credential requires user \
         verification (the PIN goes to the key only), runs get_assertion on the one USB key \
         plugged in (through libudev and hidraw, in a child process of the module) and sends \
         the signed answer to mfad, which verifies it. The child is killed when fido2_timeout= \
         passes (the key itself also gives up waiting for a touch after about 30 seconds), \
         and mfad refuses an answer that comes after the challenge expired ([fido2] \
         challenge_ttl_secs). With no usable key, or none answering in time, the user is \
         offered their other methods, or denied.",
    );

    r.control("SH", ["OPTIONS"]);
    for arg in ARGUMENTS {
        tagged(
            &mut r,
            arg_name(arg),
            &format!("{} Default: {}.", arg.description, arg.default),
        );
    }
    para(
        &mut r,
        "An unknown, repeated or malformed argument makes the module refuse to run \
         (PAM_SERVICE_ERR).",
    );

    r.control("SH", ["MODULE TYPES PROVIDED"]);
    r.text([
        roman("Only the "),
        bold("auth"),
        roman(
            " module type. pam_sm_setcred returns PAM_SUCCESS (the module has no credentials \
             to set; sshd, sudo and su call it); the account, session and password hooks \
             return PAM_SERVICE_ERR.",
        ),
    ]);

    r.control("SH", ["RETURN VALUES"]);
    for (code, meaning) in RETURN_CODES {
        tagged(&mut r, [bold(format!("PAM_{code:?}"))], meaning);
    }

    r.control("SH", ["EXAMPLES"]);
    r.text([roman(
        "Keep a root shell open while changing PAM files, and do not close it until a login \
         from a second, new session works: a broken stack, or mfad not running, locks every \
         user out, root included. Enroll tokens (mfactl enroll totp) before adding the line.",
    )]);
    para(
        &mut r,
        "On Debian, the pam-auth-update profile adds the module to common-auth for every \
         service:",
    );
    example(&mut r, &["pam-auth-update --enable mfa"]);
    para(
        &mut r,
        "Or only for sshd and sudo: in /etc/pam.d/sshd and /etc/pam.d/sudo, right after the \
         password step:",
    );
    example(
        &mut r,
        &["@include common-auth", "auth    required    pam_mfa.so"],
    );
    para(
        &mut r,
        "sshd also needs, in /etc/ssh/sshd_config or a file in /etc/ssh/sshd_config.d/ \
         (then sshd -t and a reload):",
    );
    example(
        &mut r,
        &[
            "UsePAM yes",
            "KbdInteractiveAuthentication yes",
            "# with public keys, sshd runs the PAM stack only if also required:",
            "AuthenticationMethods publickey,keyboard-interactive",
        ],
    );
    para(&mut r, "A private bus and a shorter deadline:");
    example(
        &mut r,
        &["auth required pam_mfa.so bus=unix:path=/run/mfa-test/bus timeout=2000 debug"],
    );

    r.control("SH", ["FILES"]);
    tagged(
        &mut r,
        [bold("/usr/share/pam-configs/mfa")],
        "The pam-auth-update profile (Auth-Type: Additional, disabled by default).",
    );
    tagged(
        &mut r,
        [bold("/etc/pam.d/")],
        "The PAM stacks of each service, e.g. sshd, sudo, login.",
    );
    tagged(
        &mut r,
        [bold("/usr/share/doc/pam_mfa/examples/")],
        "Commented examples: mfa-sshd.example, mfa-sudo.example, mfa-login.example, \
         pam_mfa.conf (sshd_config.d), mfad.toml.",
    );

    see_also_section(
        &mut r,
        &[
            ("mfad", "8"),
            ("mfactl", "1"),
            ("pam", "8"),
            ("pam.conf", "5"),
            ("pam-auth-update", "8"),
            ("sshd_config", "5"),
        ],
    );
    r.render().into_bytes()
}

/// `bus=`*ADDRESS*, `debug`.
fn arg_name(arg: &pam_mfa::args::ArgDoc) -> Vec<roff::Inline> {
    match arg.value {
        Some(value) => vec![bold(format!("{}=", arg.key)), italic(value)],
        None => vec![bold(arg.key)],
    }
}

/// A `.TP` paragraph: `tag` on its own line, `text` indented below.
fn tagged(r: &mut Roff, tag: impl Into<Vec<roff::Inline>>, text: &str) {
    r.control("TP", []).text(tag).text([roman(text)]);
}

/// A new paragraph.
fn para(r: &mut Roff, text: &str) {
    r.control("PP", []).text([roman(text)]);
}

/// Literal lines, indented and unfilled (follow with [`para`] or a section).
fn example(r: &mut Roff, lines: &[&str]) {
    r.control("RS", ["4"]).control("nf", []);
    for line in lines {
        r.text([roman(*line)]);
    }
    r.control("fi", []).control("RE", []);
}

fn see_also_section(r: &mut Roff, pages: &[(&str, &str)]) {
    r.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for (i, (name, section)) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(*name));
        line.push(roman(format!("({section})")));
    }
    r.text(line);
}

/// `YYYY-MM-DD` of `SOURCE_DATE_EPOCH` if set (reproducible builds), else of today (UTC).
fn page_date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    civil_date(secs / 86_400)
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (UTC).
fn civil_date(days: u64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(days.saturating_mul(86_400));
    let mut s = humantime::format_rfc3339_seconds(t).to_string();
    s.truncate(10);
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_000), "2024-10-04");
    }

    #[test]
    fn the_module_page_lists_every_argument_and_return_code() {
        let page = String::from_utf8(pam_mfa_page("2024-01-01")).unwrap();
        assert!(page.contains(".TH PAM_MFA 8 2024-01-01"), "{page}");
        for arg in pam_mfa::args::ARGUMENTS {
            assert!(page.contains(&format!("\\fB{}", arg.key)), "{}", arg.key);
        }
        for (code, _) in pam_mfa::flow::RETURN_CODES {
            assert!(page.contains(&format!("PAM_{code:?}")), "{code:?}");
        }
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXAMPLES",
            "FILES",
        ] {
            assert!(page.contains(&format!(".SH {section}\n")), "{section}");
        }
        assert!(page.contains(".SH \"RETURN VALUES\"\n"));
        assert!(page.contains(".SH \"SEE ALSO\"\n"));
    }
}
