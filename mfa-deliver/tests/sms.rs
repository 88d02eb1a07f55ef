//! The SMS transports against real parts: the Python gateway fixture on loopback, and
//! shell scripts as the command.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Gateway, free_port, stalled_listener, temp_dir, write_file};
use mfa_core::delivery::SmsConfig;
use mfa_deliver::{DeliveryError, SmsSender};

const TO: &str = "+4912345689";
/// A message with the characters each encoding must escape.
const TEXT: &str = "Your \"login\" code for a&b=c is 493817. It is valid for 5:00.";

fn sender(cfg: &SmsConfig) -> SmsSender {
    cfg.check().expect("config is valid");
    SmsSender::from_config(cfg)
        .expect("transport builds")
        .expect("configured")
}

fn gateway_config(url: String) -> SmsConfig {
    SmsConfig {
        gateway_url: Some(url),
        timeout_secs: 2,
        ..SmsConfig::default()
    }
}

#[test]
fn given_no_sms_section_then_no_sender() {
    assert!(
        SmsSender::from_config(&SmsConfig::default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn given_a_json_gateway_then_one_post_with_escaped_values_and_the_auth_header() {
    let dir = temp_dir();
    let gw = Gateway::start(dir.path(), 200);
    let mut cfg = gateway_config(gw.url("/send?account=7"));
    cfg.auth_header_file = Some(write_file(
        dir.path(),
        "gw.secret",
        "Authorization: Bearer tok-3f9a\n",
        0o600,
    ));
    let s = sender(&cfg);
    assert!(!format!("{s:?}").contains("tok-3f9a"), "{s:?}");
    s.check().expect("gateway reachable");
    s.send(TO, TEXT).expect("sent");
    let reqs = gw.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let r = &reqs[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/send?account=7");
    assert_eq!(r["headers"]["content-type"], "application/json");
    assert_eq!(r["headers"]["authorization"], "Bearer tok-3f9a");
    let body: serde_json::Value =
        serde_json::from_str(r["body"].as_str().unwrap()).expect("body is JSON");
    assert_eq!(body, serde_json::json!({"to": TO, "text": TEXT}));
}

#[test]
fn given_a_form_gateway_then_values_are_percent_encoded() {
    let dir = temp_dir();
    let gw = Gateway::start(dir.path(), 201);
    let mut cfg = gateway_config(gw.url("/api"));
    cfg.content_type = "application/x-www-form-urlencoded".into();
    cfg.body = "from=pam_mfa&to={to}&text={message}".into();
    sender(&cfg).send(TO, TEXT).expect("sent (201 counts)");
    let reqs = gw.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0]["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    let body = reqs[0]["body"].as_str().unwrap();
    let pairs: Vec<(String, String)> = form_pairs(body);
    assert_eq!(
        pairs,
        [
            ("from".to_owned(), "pam_mfa".to_owned()),
            ("to".to_owned(), TO.to_owned()),
            ("text".to_owned(), TEXT.to_owned()),
        ]
    );
}

/// Decodes a form body by hand (independent of the form_urlencoded crate we encode with).
fn form_pairs(body: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

#[test]
fn given_the_gateway_answers_500_then_the_error_names_the_status_and_hides_the_code() {
    let dir = temp_dir();
    let gw = Gateway::start(dir.path(), 500);
    let e = sender(&gateway_config(gw.url("/send")))
        .send(TO, TEXT)
        .unwrap_err();
    assert_eq!(e.to_string(), "SMS gateway answered HTTP 500", "{e:?}");
    // The fixture echoes the request: the log detail keeps it, minus code and number.
    let detail = e.detail();
    assert!(detail.contains("gateway got:"), "{detail}");
    assert!(!detail.contains("493817"), "{detail}");
    assert!(
        !detail.contains(TO) && detail.contains("+4•••••••89"),
        "{detail}"
    );
    assert_eq!(gw.requests().len(), 1);
}

#[test]
fn given_the_gateway_down_or_stalled_then_unreachable_or_timed_out() {
    let s = sender(&gateway_config(format!(
        "http://127.0.0.1:{}/send",
        free_port()
    )));
    let start = Instant::now();
    let e = s.send(TO, TEXT).unwrap_err();
    assert_eq!(e.to_string(), "SMS gateway unreachable", "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(
        s.check().unwrap_err().to_string(),
        "SMS gateway unreachable"
    );

    let (_listener, port) = stalled_listener();
    let mut cfg = gateway_config(format!("http://127.0.0.1:{port}/send"));
    cfg.timeout_secs = 1;
    let start = Instant::now();
    let e = sender(&cfg).send(TO, TEXT).unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.to_string(), "timed out", "{e:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn given_bad_recipients_or_secret_files_then_nothing_is_sent() {
    let dir = temp_dir();
    let gw = Gateway::start(dir.path(), 200);
    let s = sender(&gateway_config(gw.url("/send")));
    for bad in ["4912345689", "+49 123", "+4912345689\"}", "--help"] {
        let e = s.send(bad, TEXT).unwrap_err();
        assert!(matches!(e, DeliveryError::Recipient(_)), "{bad}: {e:?}");
    }
    assert!(gw.requests().is_empty());

    let mut cfg = gateway_config(gw.url("/send"));
    let loose = write_file(dir.path(), "loose", "X-Key: abc\n", 0o644);
    cfg.auth_header_file = Some(loose.clone());
    let msg = SmsSender::from_config(&cfg).unwrap_err().to_string();
    assert!(
        msg.contains(loose.to_str().unwrap()) && msg.contains("chmod 600"),
        "{msg}"
    );
    cfg.auth_header_file = Some(write_file(dir.path(), "bad", "no colon here\n", 0o600));
    let msg = SmsSender::from_config(&cfg).unwrap_err().to_string();
    assert!(msg.contains("Name: value"), "{msg}");

    let mut cfg = gateway_config(gw.url("/send"));
    cfg.body = "{\"to\":{to},\"text\":\"{message}\"}".into();
    let e = SmsSender::from_config(&cfg).unwrap_err();
    assert!(e.to_string().starts_with("sms.body:"), "{e}");
}

/// A script recording its argv, stdin and environment in `dir`, then running `tail`.
fn script(dir: &Path, tail: &str) -> String {
    let d = dir.display();
    let text = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > {d}/argv\ncat > {d}/stdin\nenv > {d}/env\n{tail}\n"
    );
    write_file(dir, "send-sms", &text, 0o755)
        .display()
        .to_string()
}

fn command_config(argv: Vec<String>, timeout_secs: u64) -> SmsConfig {
    SmsConfig {
        command: Some(argv),
        timeout_secs,
        ..SmsConfig::default()
    }
}

#[test]
fn given_a_command_then_recipient_last_message_on_stdin_no_shell_no_environment() {
    let dir = temp_dir();
    let prog = script(dir.path(), "exit 0");
    let s = sender(&command_config(
        vec![prog, "--route".into(), "a b; echo pwned".into()],
        5,
    ));
    s.check().expect("executable");
    s.send(TO, TEXT).expect("sent");
    let read = |n: &str| fs::read_to_string(dir.path().join(n)).unwrap();
    assert_eq!(read("argv"), format!("--route\na b; echo pwned\n{TO}\n"));
    assert_eq!(read("stdin"), format!("{TEXT}\n"));
    let env = read("env");
    assert!(
        env.lines().all(|l| l.starts_with("PATH=")
            || l.starts_with("PWD=")
            || l.starts_with("SHLVL=")
            || l.starts_with("_=")),
        "{env}"
    );
}

#[test]
fn given_a_failing_command_then_exit_status_and_redacted_stderr() {
    let dir = temp_dir();
    let prog = script(
        dir.path(),
        "echo \"no credit left for $1, message: $(cat {d}/stdin)\" >&2\nexit 3"
            .replace("{d}", &dir.path().display().to_string())
            .as_str(),
    );
    let e = sender(&command_config(vec![prog], 5))
        .send(TO, TEXT)
        .unwrap_err();
    assert_eq!(e.to_string(), "SMS command failed (exit 3)", "{e:?}");
    let detail = e.detail();
    assert!(
        detail.contains("no credit left for +4•••••••89"),
        "{detail}"
    );
    assert!(
        !detail.contains("493817") && !detail.contains(TO),
        "{detail}"
    );

    let missing = command_config(vec![dir.path().join("nope").display().to_string()], 5);
    let s = sender(&missing);
    let e = s.send(TO, TEXT).unwrap_err();
    assert_eq!(e.to_string(), "SMS command could not be started", "{e:?}");
    assert!(s.check().is_err());
    let writable = script(dir.path(), "exit 0");
    fs::set_permissions(
        &writable,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let msg = sender(&command_config(vec![writable], 5))
        .check()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("chmod go-w"), "{msg}");
}

#[test]
fn given_a_hanging_command_then_it_is_killed_at_the_timeout() {
    let dir = temp_dir();
    let d = dir.path().display().to_string();
    let prog = script(dir.path(), &format!("echo $$ > {d}/pid\nexec sleep 30"));
    let start = Instant::now();
    let e = sender(&command_config(vec![prog], 1))
        .send(TO, TEXT)
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.to_string(), "timed out", "{e:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let pid = fs::read_to_string(dir.path().join("pid")).unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the command (pid {pid}) still runs"
    );
}

#[test]
fn given_a_hanging_wrapper_script_then_its_children_are_killed_too() {
    let dir = temp_dir();
    let d = dir.path().display().to_string();
    // A wrapper that starts a child holding the message (as `sh -c 'curl …'` would).
    let prog = script(
        dir.path(),
        &format!("sleep 30 &\necho $! > {d}/grandchild\nwait"),
    );
    let e = sender(&command_config(vec![prog], 1))
        .send(TO, TEXT)
        .unwrap_err();
    assert_eq!(e.to_string(), "timed out", "{e:?}");
    let pid = fs::read_to_string(dir.path().join("grandchild")).unwrap();
    let proc_dir = format!("/proc/{}", pid.trim());
    // Killed; a zombie until init reaps it at most.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Path::new(&proc_dir).exists()
        && !fs::read_to_string(format!("{proc_dir}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "the wrapper's child (pid {pid}) still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
