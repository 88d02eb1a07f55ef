use super::*;
use crate::config::Config;

/// Parses a config and returns the key it was refused for.
fn refused_key(text: &str) -> &'static str {
    match Config::parse(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("{text:?}: expected an invalid key, got {other:?}"),
    }
}

#[test]
fn defaults_are_the_documented_ones_and_nothing_is_configured() {
    let c = Config::parse("").unwrap();
    assert_eq!(
        (
            c.otp.validity_secs,
            c.otp.resend_after_secs,
            c.otp.max_sends_per_hour,
            c.otp.max_sends_per_minute
        ),
        (300, 30, 5, 60)
    );
    assert!(!c.email.is_configured());
    assert!(!c.sms.is_configured());
    assert_eq!(c.email.timeout_secs, 8);
    assert_eq!(c.sms.timeout_secs, 8);
    assert_eq!(c.sms.body, r#"{"to":"{to}","text":"{message}"}"#);
    assert_eq!(c.sms.content_type, "application/json");
}

#[test]
fn the_issue_example_parses() {
    let c = Config::parse(
        r#"
[otp]
validity_secs = 300
resend_after_secs = 30
max_sends_per_hour = 5
[email]
smtp_url = "smtp://127.0.0.1:25"
from = "Login codes <mfa@host.example>"
[sms]
gateway_url = "https://sms.example/send"
body = '{"to":"{to}","text":"{message}"}'
auth_header_file = "/etc/mfa/sms-gateway.secret"
"#,
    )
    .unwrap();
    assert!(c.email.is_configured() && c.sms.is_configured());
    assert_eq!(
        c.email.parsed_url().unwrap().unwrap(),
        SmtpUrl {
            security: SmtpSecurity::Plain,
            host: "127.0.0.1".into(),
            port: 25
        }
    );
    let c = Config::parse("[sms]\ncommand = [\"/usr/local/bin/send-sms\", \"--quiet\"]\n").unwrap();
    assert!(c.sms.is_configured());
}

#[test]
fn otp_ranges_are_checked() {
    for (text, key) in [
        ("validity_secs = 29", "otp.validity_secs"),
        ("validity_secs = 3601", "otp.validity_secs"),
        (
            "validity_secs = 60\nresend_after_secs = 60",
            "otp.resend_after_secs",
        ),
        ("max_sends_per_hour = 0", "otp.max_sends_per_hour"),
        ("max_sends_per_hour = 101", "otp.max_sends_per_hour"),
        ("max_sends_per_minute = 0", "otp.max_sends_per_minute"),
        ("max_sends_per_minute = 100001", "otp.max_sends_per_minute"),
    ] {
        assert_eq!(refused_key(&format!("[otp]\n{text}\n")), key, "{text}");
    }
    let ok = Config::parse(
        "[otp]\nvalidity_secs = 30\nresend_after_secs = 0\nmax_sends_per_hour = 100\nmax_sends_per_minute = 100000\n",
    )
    .unwrap();
    assert_eq!(ok.otp.validity_secs, 30);
    let e = Config::parse("[otp]\nvalidity = 300\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("validity"), "{e}");
}

#[test]
fn smtp_url_syntax_and_default_ports() {
    let p = |u: &str| SmtpUrl::parse(u).unwrap();
    assert_eq!(p("smtp://mail.example").port, 25);
    assert_eq!(p("smtp://mail.example/").security, SmtpSecurity::Plain);
    let r = p("smtp://mail.example?tls=required");
    assert_eq!((r.security, r.port), (SmtpSecurity::StartTlsRequired, 587));
    let o = p("smtp://mail.example:2525?tls=opportunistic");
    assert_eq!(
        (o.security, o.port),
        (SmtpSecurity::StartTlsOpportunistic, 2525)
    );
    let s = p("smtps://mail.example");
    assert_eq!(
        (s.security, s.port, s.always_tls()),
        (SmtpSecurity::ImplicitTls, 465, true)
    );
    let v6 = p("smtps://[::1]:4650");
    assert_eq!((v6.host.as_str(), v6.port), ("::1", 4650));
    for bad in [
        "mail.example",
        "http://mail.example",
        "smtp://",
        "smtp://:25",
        "smtp://user:pw@mail.example",
        "smtp://mail.example:0",
        "smtp://mail.example:65536",
        "smtp://mail.example:+25",
        "smtp://mail.example/helo",
        "smtp://mail.example?tls=maybe",
        "smtps://mail.example?tls=required",
        "smtp://mail example",
        "smtp://[::1",
        "smtp://[nothex]:25",
        "smtp://mail.example#x",
    ] {
        assert!(SmtpUrl::parse(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn email_section_rules_name_the_key() {
    let base = "[email]\nsmtp_url = \"smtps://mail.example\"\nfrom = \"mfa@host.example\"\n";
    Config::parse(base).unwrap();
    for (extra_or_whole, key) in [
        (
            "[email]\nsmtp_url = \"smtp://mail.example\"\n",
            "email.from",
        ),
        (
            "[email]\nsmtp_url = \"ftp://x\"\nfrom = \"a@b.c\"\n",
            "email.smtp_url",
        ),
        (
            "[email]\nsmtp_url = \"smtp://x\"\nfrom = \"not an address\"\n",
            "email.from",
        ),
        (
            "[email]\nsmtp_url = \"smtp://x\"\nfrom = \"Bad, Name <a@b.c>\"\n",
            "email.from",
        ),
        (
            "[email]\nsmtp_url = \"smtp://x\"\nfrom = \"Name a@b.c>\"\n",
            "email.from",
        ),
        ("[email]\ntimeout_secs = 0\n", "email.timeout_secs"),
        ("[email]\ntimeout_secs = 26\n", "email.timeout_secs"),
        (
            "[email]\ncredentials_file = \"creds\"\n",
            "email.credentials_file",
        ),
        ("[email]\ntls_ca_file = \"ca.pem\"\n", "email.tls_ca_file"),
        (
            "[email]\nsmtp_url = \"smtp://mail.example?tls=opportunistic\"\nfrom = \"a@b.c\"\ncredentials_file = \"/etc/mfa/smtp\"\n",
            "email.credentials_file",
        ),
        (
            "[email]\nsmtp_url = \"smtp://mail.example\"\nfrom = \"a@b.c\"\ntls_ca_file = \"/etc/mfa/ca.pem\"\n",
            "email.tls_ca_file",
        ),
    ] {
        assert_eq!(refused_key(extra_or_whole), key, "{extra_or_whole}");
    }
    // A password may go unencrypted only to this machine; TLS modes accept it anywhere.
    for ok in [
        "smtp://127.0.0.1:25",
        "smtp://localhost",
        "smtp://[::1]:25",
        "smtp://mail.example?tls=required",
        "smtps://mail.example",
    ] {
        let text = format!(
            "[email]\nsmtp_url = \"{ok}\"\nfrom = \"Login codes <mfa@host.example>\"\ncredentials_file = \"/etc/mfa/smtp\"\n"
        );
        Config::parse(&text).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn sms_section_rules_name_the_key() {
    let gw = "[sms]\ngateway_url = \"https://sms.example/send?x=1\"\n";
    Config::parse(gw).unwrap();
    Config::parse(&format!(
        "{gw}content_type = \"application/x-www-form-urlencoded\"\nbody = \"to={{to}}&text={{message}}\"\n"
    ))
    .unwrap();
    Config::parse(&format!(
        "{gw}content_type = \"application/json; charset=utf-8\"\n"
    ))
    .unwrap();
    for (text, key) in [
        (
            "[sms]\ngateway_url = \"https://a.example\"\ncommand = [\"/bin/true\"]\n",
            "sms.command",
        ),
        (
            "[sms]\ngateway_url = \"ftp://a.example\"\n",
            "sms.gateway_url",
        ),
        (
            "[sms]\ngateway_url = \"https://u:p@a.example\"\n",
            "sms.gateway_url",
        ),
        (
            "[sms]\ngateway_url = \"https://a.example/a b\"\n",
            "sms.gateway_url",
        ),
        (
            "[sms]\ngateway_url = \"https://a.example\"\ncontent_type = \"text/xml\"\n",
            "sms.content_type",
        ),
        (
            "[sms]\ngateway_url = \"https://a.example\"\nbody = \"{\\\"to\\\":\\\"{to}\\\"}\"\n",
            "sms.body",
        ),
        (
            "[sms]\ngateway_url = \"https://a.example\"\nbody = \"{message}\"\n",
            "sms.body",
        ),
        (
            "[sms]\ngateway_url = \"http://sms.example\"\nauth_header_file = \"/etc/mfa/s\"\n",
            "sms.auth_header_file",
        ),
        (
            "[sms]\ngateway_url = \"https://sms.example\"\nauth_header_file = \"s\"\n",
            "sms.auth_header_file",
        ),
        (
            "[sms]\nauth_header_file = \"/etc/mfa/s\"\n",
            "sms.auth_header_file",
        ),
        ("[sms]\ncommand = []\n", "sms.command"),
        ("[sms]\ncommand = [\"send-sms\"]\n", "sms.command"),
        (
            "[sms]\ncommand = [\"/bin/x\", \"a\\u0000b\"]\n",
            "sms.command",
        ),
        ("[sms]\ntimeout_secs = 0\n", "sms.timeout_secs"),
        ("[sms]\ntimeout_secs = 26\n", "sms.timeout_secs"),
    ] {
        assert_eq!(refused_key(text), key, "{text}");
    }
    // Plain HTTP with a secret is fine to a loopback gateway.
    let local = Config::parse(
        "[sms]\ngateway_url = \"http://127.0.0.1:8080/send\"\nauth_header_file = \"/etc/mfa/s\"\n",
    )
    .unwrap();
    assert_eq!(
        GatewayUrl::parse(local.sms.gateway_url.as_deref().unwrap()).unwrap(),
        GatewayUrl {
            https: false,
            host: "127.0.0.1".into(),
            port: 8080
        }
    );
}

#[test]
fn body_encoding_follows_the_media_type() {
    assert_eq!(
        BodyEncoding::for_content_type("Application/JSON"),
        Some(BodyEncoding::Json)
    );
    assert_eq!(
        BodyEncoding::for_content_type("application/x-www-form-urlencoded; charset=UTF-8"),
        Some(BodyEncoding::Form)
    );
    assert_eq!(BodyEncoding::for_content_type("text/plain"), None);
    assert_eq!(BodyEncoding::for_content_type("application/jsonx"), None);
}

#[test]
fn masks_match_the_issue() {
    assert_eq!(mask_email("alice@example.org"), "a•••e@ex•••.org");
    assert_eq!(mask_email("a@example.org"), "a•••@ex•••.org");
    assert_eq!(mask_email("bo@mail.example.co.uk"), "b•••o@ma•••.uk");
    assert_eq!(mask_email("root@localhost"), "r•••t@lo•••");
    assert_eq!(mask_email("x@e.io"), "x•••@e•••.io");
    assert_eq!(mask_phone("+4912345689"), "+4•••••••89");
    assert_eq!(mask_phone("+33612345678"), "+3••••••••78");
    assert_eq!(mask_phone("+123"), "+•••");
    // What is hidden is really gone.
    assert!(!mask_email("alice@example.org").contains("lic"));
    assert!(!mask_phone("+4912345689").contains("234"));
}

#[test]
fn email_addresses_are_checked_strictly() {
    for ok in [
        "alice@example.org",
        "a.b+tag@mail.example.co.uk",
        "root@localhost",
        "o'neil@x-y.example",
    ] {
        assert_eq!(check_email_address(ok), Ok(()), "{ok}");
    }
    let long_local = format!("{}@example.org", "a".repeat(65));
    let too_long = format!("{}@{}.org", "a".repeat(60), "b".repeat(200));
    for (bad, why) in [
        ("", RecipientError::EmailShape),
        ("alice", RecipientError::EmailShape),
        ("@example.org", RecipientError::EmailShape),
        ("alice@", RecipientError::EmailShape),
        ("a@b@example.org", RecipientError::EmailShape),
        ("al ice@example.org", RecipientError::EmailLocalPart),
        ("alice\n@example.org", RecipientError::EmailLocalPart),
        (".alice@example.org", RecipientError::EmailLocalPart),
        ("al..ice@example.org", RecipientError::EmailLocalPart),
        ("\"a\"@example.org", RecipientError::EmailLocalPart),
        ("a<b@example.org", RecipientError::EmailLocalPart),
        ("élise@example.org", RecipientError::EmailLocalPart),
        (long_local.as_str(), RecipientError::EmailLocalPart),
        ("alice@exa mple.org", RecipientError::EmailDomain),
        ("alice@example.org\r\nBcc: x", RecipientError::EmailDomain),
        ("alice@-example.org", RecipientError::EmailDomain),
        ("alice@example..org", RecipientError::EmailDomain),
        ("alice@[127.0.0.1]", RecipientError::EmailDomain),
        (too_long.as_str(), RecipientError::EmailTooLong),
    ] {
        assert_eq!(check_email_address(bad), Err(why), "{bad:?}");
    }
    assert_eq!(check_mailbox("Login codes <mfa@host.example>"), Ok(()));
    assert_eq!(check_mailbox("mfa@host.example"), Ok(()));
    assert!(check_mailbox("Login \"codes\" <mfa@host.example>").is_err());
    assert!(check_mailbox("Login <codes> <mfa@host.example>").is_err());
    assert!(check_mailbox("Login <mfa@host.example> x").is_err());
}

#[test]
fn phone_numbers_must_be_e164() {
    for ok in [
        "+4912345689",
        "+12025550123",
        "+123456789012345",
        "+12345678",
    ] {
        assert_eq!(check_phone_e164(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "4912345689",
        "+",
        "+1234567",
        "+1234567890123456",
        "+0123456789",
        "+49 1234 5689",
        "+49-12345689",
        "++4912345689",
        "+４９12345689",
        "+4912345689\n",
    ] {
        assert_eq!(
            check_phone_e164(bad),
            Err(RecipientError::PhoneE164),
            "{bad:?}"
        );
    }
}

#[test]
fn message_holds_code_host_and_validity_only() {
    assert_eq!(format_validity(300), "5:00");
    assert_eq!(format_validity(59), "0:59");
    assert_eq!(format_validity(3600), "60:00");
    assert_eq!(format_validity(125), "2:05");
    assert_eq!(
        message_text("bastion", "123456", 300),
        "Your login code for bastion is 123456. It is valid for 5:00."
    );
    assert_eq!(email_subject("bastion"), "Login code for bastion");
    assert!(!email_subject("bastion").contains("123456"));
}
