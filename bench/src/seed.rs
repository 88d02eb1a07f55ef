//! The bench population: accounts, their mfad tokens (written with mfad's own store code)
//! and pam_google_authenticator secret files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use mfad::store::{NewTotpToken, Store};

use crate::codes::{BenchUser, PERIOD, Token};
use crate::error::{BenchError, Result};

/// Prefix of the bench accounts' names (`mfab00000`, …).
pub const NAME_PREFIX: &str = "mfab";

/// The login name of bench account `i`.
pub fn account_name(i: usize) -> String {
    format!("{NAME_PREFIX}{i:05}")
}

/// `count` accounts with `tokens_each` random tokens whose steps before the current period
/// count as used (as if enrolled a minute ago).
pub fn population(count: usize, tokens_each: usize, now: u64) -> Result<Vec<BenchUser>> {
    let confirmed = (now / PERIOD).saturating_sub(2);
    (0..count)
        .map(|i| {
            Ok(BenchUser {
                name: account_name(i),
                tokens: (0..tokens_each)
                    .map(|_| Token::random(confirmed))
                    .collect::<Result<_>>()?,
            })
        })
        .collect()
}

/// Creates mfad's database at `db` (directory 0700, file 0600, schema migrated, exactly as
/// mfad does) and enrolls every token of `users` through `Store::insert_totp`, one
/// transaction per token as enrollment does. Returns the time it took. The store is closed
/// at the end (SQLite then checkpoints the WAL into the file).
pub fn seed_database(db: &Path, users: &[BenchUser], now: u64) -> Result<Duration> {
    let start = Instant::now();
    let store =
        Store::open(db).map_err(|e| BenchError::Setup(format!("open {}: {e}", db.display())))?;
    for u in users {
        for (i, t) in u.tokens.iter().enumerate() {
            let name = format!("bench{i}");
            store
                .insert_totp(
                    &NewTotpToken {
                        user: &u.name,
                        name: &name,
                        key: &t.key,
                        confirmed_step: t.last_step,
                    },
                    now,
                )
                .map_err(|e| BenchError::Setup(format!("enroll {}: {e}", u.name)))?;
        }
    }
    drop(store);
    Ok(start.elapsed())
}

/// Copies mfad's closed state directory `from` (the database and whatever files the store
/// keeps beside it, such as its key file) to `to`, created 0700; each file keeps its mode
/// and is fsynced, as a restore from backup would leave them.
pub fn install_state(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| BenchError::path("mkdir", to, e))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o700))
        .map_err(|e| BenchError::path("chmod", to, e))?;
    for e in fs::read_dir(from).map_err(|e| BenchError::path("list", from, e))? {
        let e = e.map_err(|e| BenchError::path("list", from, e))?;
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let dst = to.join(e.file_name());
        fs::copy(e.path(), &dst).map_err(|err| BenchError::path("copy", &e.path(), err))?;
        fs::File::open(&dst)
            .and_then(|f| f.sync_all())
            .map_err(|err| BenchError::path("fsync", &dst, err))?;
    }
    Ok(())
}

/// Writes one pam_google_authenticator secret file per user in `dir` (owner root, 0400):
/// the secret, `TOTP_AUTH` and `DISALLOW_REUSE`, so every successful login rewrites the
/// file (GA writes a temporary file, fsyncs it and renames it over the old one).
pub fn write_ga_secrets(dir: &Path, users: &[BenchUser]) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| BenchError::path("mkdir", dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| BenchError::path("chmod", dir, e))?;
    for u in users {
        let token = u
            .tokens
            .first()
            .ok_or_else(|| BenchError::Setup(format!("GA user {} has no secret", u.name)))?;
        let p = dir.join(&u.name);
        fs::write(
            &p,
            format!("{}\n\" TOTP_AUTH\n\" DISALLOW_REUSE\n", token.base32()),
        )
        .map_err(|e| BenchError::path("write", &p, e))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o400))
            .map_err(|e| BenchError::path("chmod", &p, e))?;
    }
    Ok(())
}

/// Checks that pam_google_authenticator really committed its state: for every user of
/// `users` whose token was used after `initial_step`, the `DISALLOW_REUSE` line of its secret
/// file in `dir` must list the last step the bench used. Returns how many files were checked.
pub fn check_ga_state(dir: &Path, users: &[BenchUser], initial_step: u64) -> Result<usize> {
    let mut checked = 0;
    for u in users {
        let Some(t) = u.tokens.first().filter(|t| t.last_step > initial_step) else {
            continue;
        };
        let p = dir.join(&u.name);
        let text = fs::read_to_string(&p).map_err(|e| BenchError::path("read", &p, e))?;
        let recorded = text
            .lines()
            .find_map(|l| l.strip_prefix("\" DISALLOW_REUSE"))
            .is_some_and(|steps| {
                steps
                    .split_whitespace()
                    .any(|s| s == t.last_step.to_string())
            });
        if !recorded {
            return Err(BenchError::Invalid(format!(
                "pam_google_authenticator did not record step {} in {}: its per-login state \
                 write did not happen, so its timings would not include it",
                t.last_step,
                p.display()
            )));
        }
        checked += 1;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_tokens_verify_with_the_daemons_store_and_refuse_replays() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state").join("mfa.db");
        let now = 5_000_000 * PERIOD + 3;
        let mut users = population(3, 2, now).unwrap();
        seed_database(&db, &users, now).unwrap();
        let store = Store::open(&db).unwrap();
        assert_eq!(store.count_tokens(&account_name(1)).unwrap(), 2);
        let limits = mfa_core::ratelimit::RateLimit::default();
        let code = users[1].fresh_code(now).unwrap();
        let parsed = mfa_core::code::parse_code(&code).unwrap();
        let first = store
            .verify_totp(&account_name(1), Some(&parsed), now, 1, &limits)
            .unwrap();
        assert!(
            matches!(first, mfad::store::VerifyOutcome::Accepted { .. }),
            "{first:?}"
        );
        let again = store
            .verify_totp(&account_name(1), Some(&parsed), now, 1, &limits)
            .unwrap();
        assert!(
            matches!(again, mfad::store::VerifyOutcome::Failed(_)),
            "{again:?}"
        );
        // The next fresh code (the following step) is accepted too.
        let next = mfa_core::code::parse_code(&users[1].fresh_code(now).unwrap()).unwrap();
        let third = store
            .verify_totp(&account_name(1), Some(&next), now, 1, &limits)
            .unwrap();
        assert!(
            matches!(third, mfad::store::VerifyOutcome::Accepted { .. }),
            "{third:?}"
        );
    }

    #[test]
    fn ga_state_is_checked_against_the_steps_used() {
        let dir = tempfile::tempdir().unwrap();
        let mut users = population(2, 1, 1_000 * PERIOD).unwrap();
        write_ga_secrets(dir.path(), &users).unwrap();
        // Nobody used yet: nothing to check.
        assert_eq!(check_ga_state(dir.path(), &users, 998).unwrap(), 0);
        users[0].fresh_code(1_000 * PERIOD).unwrap();
        assert!(check_ga_state(dir.path(), &users, 998).is_err());
        let p = dir.path().join(account_name(0));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        let text = fs::read_to_string(&p)
            .unwrap()
            .replace("DISALLOW_REUSE", "DISALLOW_REUSE 1000");
        fs::write(&p, text).unwrap();
        assert_eq!(check_ga_state(dir.path(), &users, 998).unwrap(), 1);
    }

    #[test]
    fn ga_files_hold_the_secret_and_the_reuse_option_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let users = population(2, 1, 1_000_000).unwrap();
        write_ga_secrets(&dir.path().join("ga"), &users).unwrap();
        let p = dir.path().join("ga").join(account_name(0));
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            format!(
                "{}\n\" TOTP_AUTH\n\" DISALLOW_REUSE\n",
                users[0].tokens[0].base32()
            )
        );
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o400
        );
    }
}
