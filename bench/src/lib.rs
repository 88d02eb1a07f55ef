//! `make bench`: pam_mfa measured the way an operator would compare it with what runs
//! today, pam_google_authenticator, in one run and as ratios.
//!
//! Absolute times on a shared 2-core machine drift from run to run; ratios taken in the
//! same run, with the contenders interleaved in shuffled blocks, hold. So every phase runs
//! its contenders side by side:
//!
//! 1. **In-process PAM** ([`pam_loop`]): one PAM application process (`mfa-bench-pam`, real
//!    libpam, `pam_start_confdir`) runs `pam_permit`, `pam_google_authenticator` (its state
//!    file rewritten and fsynced per login) and `pam_mfa` with a fresh code per login.
//! 2. **Process level** ([`pamtester`]): the same three through `pamtester`.
//! 3. **The daemon over the bus** ([`busbench`]): Begin+Answer latency and throughput next
//!    to the bus floor (`org.freedesktop.DBus.Peer.Ping` to mfad's unique name).
//! 4. **Footprint** ([`procfs`], [`leak`]): mfad's RSS idle, under load and along a long run
//!    of verifications; cold start on a database of 10k users and 20k tokens; module size;
//!    threads left in the PAM application after `pam_end`.
//! 5. **Fail-closed latency** ([`failclosed`]): time to a denial with no bus, a bus without
//!    mfad, a hung mfad, a hung bus.
//!
//! Fresh codes come from **many enrolled users, not an injectable clock**: 10,000 throw-away
//! accounts (in a private copy of `/etc/passwd`, inside a private mount namespace, see
//! [`world`]) with two TOTP tokens each, written into the database with mfad's own store
//! code ([`seed`]). A token accepts each time step once, and the steps of the current and the
//! next period are both inside the ±1 window, so each token yields two fresh codes at any
//! moment and one more every 30 s ([`codes`]). Every measured login must succeed; one that
//! does not aborts the run, since its time would mean nothing.
#![deny(missing_docs)]

pub mod busbench;
pub mod codes;
pub mod error;
pub mod failclosed;
pub mod leak;
pub mod pam_loop;
pub mod pamtester;
pub mod procfs;
pub mod report;
pub mod run;
pub mod seed;
pub mod stack;
pub mod stats;
pub mod world;

pub use error::{BenchError, Result};
