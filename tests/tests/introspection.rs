//! The D-Bus interface the daemon serves is exactly the checked-in contract
//! (`mfa-proto/org.pam_mfa.Mfad.xml`). Regenerate deliberately with `MFA_BLESS=1`.

use mfa_proto::{BUS_NAME, OBJECT_PATH};
use mfa_tests::TestEnv;

/// Keeps only our own interfaces (zbus adds the standard ones), whitespace-normalised.
fn our_interfaces(xml: &str) -> String {
    let mut out = String::from("<node>\n");
    let mut rest = xml;
    while let Some(start) = rest.find("<interface name=\"org.pam_mfa.") {
        let end = rest[start..]
            .find("</interface>")
            .expect("interface is closed")
            + start
            + "</interface>".len();
        for line in rest[start..end]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
        rest = &rest[end..];
    }
    out.push_str("</node>\n");
    out
}

#[test]
fn given_running_daemon_then_introspection_matches_the_checked_in_contract() {
    let env = TestEnv::start();
    let xml: String = zbus::block_on(async {
        let conn = zbus::connection::Builder::address(env.bus_address.as_str())
            .build()
            .await?;
        let proxy = zbus::fdo::IntrospectableProxy::builder(&conn)
            .destination(BUS_NAME)
            .path(OBJECT_PATH)
            .build()
            .await?;
        proxy.introspect().await.map_err(zbus::Error::from)
    })
    .expect("introspect the daemon");
    let live = our_interfaces(&xml);
    assert!(
        live.contains("org.pam_mfa.Login1") && live.contains("org.pam_mfa.Manage1"),
        "{live}"
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mfa-proto/org.pam_mfa.Mfad.xml"
    );
    if std::env::var_os("MFA_BLESS").is_some() {
        std::fs::write(path, &live).expect("write the contract");
    }
    assert_eq!(
        live,
        mfa_proto::INTROSPECTION_XML,
        "the served interface changed: review, then run with MFA_BLESS=1"
    );
}
