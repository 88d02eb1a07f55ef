//! Pure logic shared by `mfad` and `mfactl`: no I/O, no clock, no randomness.
//!
//! Time is always a parameter (`now`, Unix seconds as `u64`), so every rule here is tested
//! with fixed instants, including RFC 6238's 64-bit vectors.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod code;
pub mod config;
pub mod delivery;
pub mod fido2;
pub mod policy;
pub mod ratelimit;
pub mod recovery;
pub mod ssh_sk;
pub mod totp;
pub mod username;
