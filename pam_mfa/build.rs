//! Link flags of the module.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Relative relocations packed as RELR: about 100 KB less of `.rela.dyn` in the module that
    // every sshd and sudo maps. A module linked so needs glibc >= 2.36 to load (it carries
    // GLIBC_ABI_DT_RELR), and the build host's glibc is the one it is built for, so only
    // where that glibc has it (Debian 12: 2.36; Ubuntu 22.04's 2.35 does not).
    if host_glibc().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

/// The build host's glibc version, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn host_glibc() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
