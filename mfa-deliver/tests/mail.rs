//! The SMTP transport against a real server on loopback (Debian's aiosmtpd).

mod common;

use std::os::unix::fs::chown;
use std::time::{Duration, Instant};

use common::{SmtpMode, Smtpd, free_port, make_certs, stalled_listener, temp_dir, write_file};
use mfa_core::delivery::EmailConfig;
use mfa_deliver::{DeliveryError, Mailer};

const TEXT: &str = "Your login code for testhost is 493817. It is valid for 5:00.";

fn config(url: &str) -> EmailConfig {
    EmailConfig {
        smtp_url: Some(url.to_owned()),
        from: Some("Login codes <mfa@host.example>".into()),
        timeout_secs: 3,
        ..EmailConfig::default()
    }
}

fn mailer(cfg: &EmailConfig) -> Mailer {
    cfg.check().expect("config is valid");
    Mailer::from_config(cfg)
        .expect("transport builds")
        .expect("configured")
}

fn assert_one_mail(server: &Smtpd, to: &str) {
    let mails = server.messages();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let m = &mails[0];
    for needle in [
        format!("To: {to}"),
        "From: \"Login codes\" <mfa@host.example>".into(),
        "Subject: Login code for testhost".into(),
        TEXT.into(),
    ] {
        assert!(m.contains(&needle), "{needle:?} not in\n{m}");
    }
}

#[test]
fn given_no_email_section_then_no_mailer() {
    assert!(
        Mailer::from_config(&EmailConfig::default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn given_a_plain_server_then_the_mail_arrives_with_to_from_subject_and_text() {
    let dir = temp_dir();
    let server = Smtpd::start(dir.path(), SmtpMode::Plain);
    let m = mailer(&config(&format!("smtp://127.0.0.1:{}", server.port)));
    m.check().expect("check passes");
    m.send("alice@example.org", "Login code for testhost", TEXT)
        .expect("sent");
    assert_one_mail(&server, "alice@example.org");
    // A malformed recipient never reaches the server.
    let e = m
        .send("alice@example.org\r\nBcc: eve@evil.example", "s", TEXT)
        .unwrap_err();
    assert!(matches!(e, DeliveryError::Recipient(_)), "{e:?}");
    assert_eq!(server.messages().len(), 1);
}

#[test]
fn given_the_server_down_then_unreachable_quickly() {
    let m = mailer(&config(&format!("smtp://127.0.0.1:{}", free_port())));
    let start = Instant::now();
    let e = m.send("alice@example.org", "s", TEXT).unwrap_err();
    assert_eq!(e.to_string(), "mail server unreachable", "{e:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(!e.detail().contains("493817"), "{}", e.detail());
    let e = m.check().unwrap_err();
    assert_eq!(e.to_string(), "mail server unreachable");
}

#[test]
fn given_a_server_that_never_answers_then_timed_out_within_the_timeout() {
    let (_listener, port) = stalled_listener();
    let mut cfg = config(&format!("smtp://127.0.0.1:{port}"));
    cfg.timeout_secs = 1;
    let m = mailer(&cfg);
    let start = Instant::now();
    let e = m.send("alice@example.org", "s", TEXT).unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.to_string(), "timed out", "{e:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(e.detail().contains("within 1 s"), "{}", e.detail());
}

#[test]
fn given_implicit_tls_and_the_private_ca_then_the_mail_arrives() {
    let dir = temp_dir();
    let certs = make_certs(dir.path());
    let server = Smtpd::start(dir.path(), SmtpMode::ImplicitTls(&certs));
    let url = format!("smtps://127.0.0.1:{}", server.port);
    // Without the CA the certificate is not trusted: no mail, a clear reason.
    let untrusted = mailer(&config(&url));
    let e = untrusted.send("bob@example.org", "s", TEXT).unwrap_err();
    assert_eq!(
        e.to_string(),
        "secure connection to the mail server failed",
        "{e:?}"
    );
    assert!(server.messages().is_empty());
    let mut cfg = config(&url);
    cfg.tls_ca_file = Some(certs.ca.clone());
    let m = mailer(&cfg);
    m.check().expect("check passes");
    m.send("bob@example.org", "Login code for testhost", TEXT)
        .expect("sent");
    assert_one_mail(&server, "bob@example.org");
}

#[test]
fn given_starttls_required_then_the_mail_goes_encrypted_and_a_server_without_it_is_refused() {
    let dir = temp_dir();
    let certs = make_certs(dir.path());
    let server = Smtpd::start(dir.path(), SmtpMode::StartTls(&certs));
    let mut cfg = config(&format!("smtp://127.0.0.1:{}?tls=required", server.port));
    cfg.tls_ca_file = Some(certs.ca.clone());
    let m = mailer(&cfg);
    m.check().expect("check passes");
    m.send("carol@example.org", "Login code for testhost", TEXT)
        .expect("sent");
    assert_one_mail(&server, "carol@example.org");
    // Proof that the server insists on STARTTLS: a plain client is refused.
    let e = mailer(&config(&format!("smtp://127.0.0.1:{}", server.port)))
        .send("carol@example.org", "s", TEXT)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "mail server refused the message (530)",
        "{e:?}"
    );
    assert_eq!(server.messages().len(), 1);
    // The server requires STARTTLS: it only accepted the mail because we used it. Against
    // a server offering no STARTTLS, "required" sends nothing.
    let plain_dir = temp_dir();
    let plain = Smtpd::start(plain_dir.path(), SmtpMode::Plain);
    let mut cfg = config(&format!("smtp://127.0.0.1:{}?tls=required", plain.port));
    cfg.tls_ca_file = Some(certs.ca.clone());
    let e = mailer(&cfg)
        .send("carol@example.org", "s", TEXT)
        .unwrap_err();
    assert!(plain.messages().is_empty());
    assert_eq!(
        e.to_string(),
        "secure connection to the mail server failed",
        "{e:?}"
    );
    // Opportunistic falls back to plain text with such a server.
    let mut cfg = config(&format!(
        "smtp://127.0.0.1:{}?tls=opportunistic",
        plain.port
    ));
    cfg.tls_ca_file = Some(certs.ca.clone());
    mailer(&cfg)
        .send("carol@example.org", "Login code for testhost", TEXT)
        .expect("sent in plain text");
    assert_one_mail(&plain, "carol@example.org");
}

#[test]
fn given_a_credentials_file_others_can_read_then_it_is_refused_with_the_fix() {
    let dir = temp_dir();
    let url = "smtp://127.0.0.1:25";
    let good = write_file(dir.path(), "smtp.creds", "mailer\ns3cret-pw\n", 0o600);
    let mut cfg = config(url);
    cfg.credentials_file = Some(good.clone());
    let m = mailer(&cfg);
    assert!(!format!("{m:?}").contains("s3cret-pw"), "{m:?}");

    let loose = write_file(dir.path(), "loose.creds", "mailer\ns3cret-pw\n", 0o640);
    cfg.credentials_file = Some(loose.clone());
    let e = Mailer::from_config(&cfg).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(loose.to_str().unwrap()), "{msg}");
    assert!(msg.contains("chmod 600"), "{msg}");
    assert!(!msg.contains("s3cret-pw"), "{msg}");

    let foreign = write_file(dir.path(), "foreign.creds", "mailer\ns3cret-pw\n", 0o600);
    chown(&foreign, Some(65534), None).expect("chown to nobody (tests run as root)");
    cfg.credentials_file = Some(foreign);
    let msg = Mailer::from_config(&cfg).unwrap_err().to_string();
    assert!(
        msg.contains("not root") && msg.contains("chown root:"),
        "{msg}"
    );

    let one_line = write_file(dir.path(), "short.creds", "mailer\n", 0o600);
    cfg.credentials_file = Some(one_line);
    let msg = Mailer::from_config(&cfg).unwrap_err().to_string();
    assert!(msg.contains("second"), "{msg}");

    cfg.credentials_file = Some(dir.path().join("missing"));
    let msg = Mailer::from_config(&cfg).unwrap_err().to_string();
    assert!(msg.contains("cannot be opened"), "{msg}");
}

#[test]
fn given_a_server_requiring_a_login_then_the_credentials_file_logs_in_and_a_wrong_one_is_refused() {
    let dir = temp_dir();
    let certs = make_certs(dir.path());
    let server = Smtpd::start_with_login(dir.path(), &certs, "mailer", "s3cret-pw");
    let mut cfg = config(&format!("smtp://127.0.0.1:{}?tls=required", server.port));
    cfg.tls_ca_file = Some(certs.ca.clone());
    // No login at all: the server refuses the mail.
    let e = mailer(&cfg)
        .send("dave@example.org", "s", TEXT)
        .unwrap_err();
    assert!(matches!(e, DeliveryError::MessageRefused { .. }), "{e:?}");
    cfg.credentials_file = Some(write_file(
        dir.path(),
        "bad",
        "mailer
wrong
",
        0o600,
    ));
    let wrong = mailer(&cfg);
    let e = wrong.check().unwrap_err();
    assert_eq!(
        e.to_string(),
        "mail server refused the login (535)",
        "{e:?}"
    );
    let e = wrong.send("dave@example.org", "s", TEXT).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mail server refused the login (535)",
        "{e:?}"
    );
    assert!(!e.detail().contains("wrong"), "{}", e.detail());
    assert!(server.messages().is_empty());
    cfg.credentials_file = Some(write_file(dir.path(), "good", "mailer\ns3cret-pw\n", 0o600));
    let m = mailer(&cfg);
    m.check().expect("login accepted");
    m.send("dave@example.org", "Login code for testhost", TEXT)
        .expect("sent");
    assert_one_mail(&server, "dave@example.org");
}
