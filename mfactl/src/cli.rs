//! The command line, declared once with clap's derive API.
//!
//! This is the single source of `--help`, and later of shell completions and the man page:
//! [`command`] returns the whole [`clap::Command`] for `clap_complete` and `clap_mangen`.
//!
//! Only syntax is checked here (user names, field lengths, the fixed choices of digits,
//! algorithm and period). Secrets and codes are checked later by the command itself, because a
//! clap error quotes the rejected value and must never print a secret.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use zeroize::Zeroizing;

use mfa_core::delivery::{check_email_address, check_phone_e164};
use mfa_core::username::check_user_name;
use mfa_proto::{MAX_FIELD_LEN, MAX_SERVICE_LEN, METHOD_NAMES, TotpAlgorithm};

/// Enroll and manage the second factors that pam_mfa asks for at login.
///
/// mfactl talks to mfad over D-Bus with your own rights: anyone may manage their own tokens,
/// root and members of mfad's admin group may manage everyone's.
#[derive(Debug, Parser)]
#[command(
    name = "mfactl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// D-Bus address of the bus mfad is on [default: $DBUS_SYSTEM_BUS_ADDRESS, else the system
    /// bus]
    #[arg(long, global = true, value_name = "ADDRESS")]
    pub bus_address: Option<String>,

    /// Print one JSON value on standard output instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// TEST-ONLY (feature soft-fido2): use the software authenticator with this key file
    /// instead of a USB security key
    #[cfg(feature = "soft-fido2")]
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub fido2_soft_key: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll a new second factor
    #[command(subcommand)]
    Enroll(EnrollCommand),
    /// List a user's tokens (never their secrets) and how many recovery codes are left
    List(ListArgs),
    /// Remove one of a user's tokens
    #[command(
        allow_missing_positional = true,
        after_help = "Removing one of your own tokens may need a fresh second factor first; \
                      mfactl then asks for it.\n\
                      Exit status: 0 removed, 1 refused or failed, 2 bad arguments."
    )]
    Remove(RemoveArgs),
    /// Give one of a user's tokens a new name
    Rename(RenameArgs),
    /// Show a user's tokens, recovery codes, locks, enrollment deadline and what each service
    /// asks of them
    Status(StatusArgs),
    /// Clear a user's failure counter, back-off and administrative lock (administrators only)
    Unlock(UnlockArgs),
    /// Lock a user's second factor: every login that asks for one is denied until `mfactl
    /// unlock` (administrators only)
    #[command(
        after_help = "Logins that need no second factor (a service whose rule is off, or \
                      optional for this user) are not affected.\n\
                      Exit status: 0 locked, 1 refused or failed, 2 bad arguments."
    )]
    Lock(LockArgs),
    /// Turn on (or off) asking a user for a second factor on every service that stacks
    /// pam_mfa, even where its rule is optional or off
    #[command(
        after_help = "Turning it on needs an enrolled second factor and, for yourself, the \
                      permission set with `mfactl policy always-require allow`. A \
                      non-administrator turning it off needs a fresh second factor; mfactl \
                      then asks for it.\nExit status: 0 done, 1 refused or failed, 2 bad arguments."
    )]
    AlwaysRequire(AlwaysRequireArgs),
    /// Manage one-time recovery codes, which stand in for a lost authenticator
    #[command(subcommand)]
    Recovery(RecoveryCommand),
    /// Show or change the policy: service rules and methods, enforced groups, who may turn
    /// always-require on, enrollment deadlines
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Show who mfad sees calling, and whether that caller may manage every account
    #[command(name = "whoami")]
    WhoAmI,
    /// Check this host's sshd, PAM and mfad set-up and say what will go wrong, with the file,
    /// the line and the fix
    #[command(after_help = DOCTOR_HELP)]
    Doctor(DoctorArgs),
}

/// `after_help` of `mfactl doctor`.
const DOCTOR_HELP: &str = "doctor reads /etc/ssh/sshd_config (with its Include files and \
    Match blocks), the PAM services in /etc/pam.d (sshd, sudo, su, login and every service \
    whose auth stack has pam_mfa, includes followed), /etc/mfa/mfad.toml (with the files its \
    [email] and [sms] sections name), mfad's database and the module file, and asks the \
    running mfad for its policy. On this host (without --root) and as root, it also tries the \
    configured mail server or SMS gateway: it connects and, for mail, logs in, but sends \
    nothing. It changes nothing. Each \
    finding names the file and line at fault and how to fix it:\n  \
    error    logins are refused, or get in without the second factor, or secrets are exposed\n  \
    warning  a gap: some logins can skip the second factor, or a risky arrangement\n  \
    note     worth knowing; nothing to do unless it is not what you meant\n\
    Run it as root: other users cannot look into mfad's database directory or read \
    /etc/shadow, and get fewer checks. With --json, the findings are printed as one JSON \
    array of objects with the fields check, severity, file, line, what and fix.\n\
    Exit status: 0 no errors or warnings (notes allowed), 1 warnings but no errors, 2 at \
    least one error (also for a command line mfactl cannot parse), 3 doctor could not run \
    its checks.";

/// Arguments of `mfactl doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Read the system under DIR instead of /: DIR/etc/ssh/sshd_config, DIR/etc/pam.d, … (a
    /// mounted image, a container's root). The running mfad is then asked only when a bus is
    /// named (--bus-address or DBUS_SYSTEM_BUS_ADDRESS)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// mfad's database, where mfad's unit passes another --db (read under --root) [default:
    /// /var/lib/mfad/mfa.db]
    #[arg(long, value_name = "PATH", value_parser = parse_absolute)]
    pub db: Option<PathBuf>,
}

/// `mfactl recovery …`: one-time recovery codes.
#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Create a new set of recovery codes, replacing the earlier set
    #[command(after_help = RECOVERY_GENERATE_HELP)]
    Generate(RecoveryGenerateArgs),
}

/// `after_help` of `mfactl recovery generate`.
const RECOVERY_GENERATE_HELP: &str = "Each code lets its owner log in once without the \
    authenticator app. The codes are printed once and never again; the codes of the earlier \
    set stop working. A non-administrator who already has a token needs a fresh second \
    factor first; mfactl then asks for it.\nExit status: 0 created, 1 refused or failed, 2 bad arguments.";

/// `mfactl enroll …`: one subcommand per kind of factor.
#[derive(Debug, Subcommand)]
pub enum EnrollCommand {
    /// Enroll a TOTP authenticator app (RFC 6238), confirmed with one code from the app
    #[command(
        after_help = "The otpauth URI printed during enrollment holds the secret: it is shown \
                      once and never again.\nExit status: 0 enrolled, 1 refused or failed \
                      (nothing is saved unless a code was accepted), 2 bad arguments."
    )]
    Totp(EnrollTotpArgs),
    /// Enroll an SSH security key (sk- key): when sshd reports that exactly this key
    /// authenticated the connection, no code is asked
    #[command(
        name = "ssh-sk",
        after_help = "The key must be an OpenSSH security-key public key \
                      (sk-ecdsa-sha2-nistp256@openssh.com or sk-ssh-ed25519@openssh.com, as \
                      made by `ssh-keygen -t ecdsa-sk`). It counts only for logins where sshd \
                      verified it first: `AuthenticationMethods publickey,keyboard-interactive` \
                      in sshd_config, and the key in the user's authorized_keys. A \
                      non-administrator who already has a factor needs a fresh second factor \
                      first; mfactl then asks for it.\nExit status: 0 enrolled, 1 refused or \
                      failed, 2 bad arguments."
    )]
    SshSk(EnrollSshSkArgs),
    /// Enroll a FIDO2 security key plugged into this host: touch it at login (and give its
    /// PIN, with --pin or --uv)
    #[command(after_help = ENROLL_FIDO2_HELP)]
    Fido2(EnrollFido2Args),
    /// Enroll an email address: mfad mails a code to it, and saves the address once the code
    /// is typed back
    #[command(after_help = ENROLL_EMAIL_HELP)]
    Email(EnrollEmailArgs),
    /// Enroll a mobile phone number: mfad texts a code to it (SMS), and saves the number once
    /// the code is typed back
    #[command(after_help = ENROLL_SMS_HELP)]
    Sms(EnrollSmsArgs),
}

/// `after_help` of `mfactl enroll email`.
const ENROLL_EMAIL_HELP: &str = "mfad sends a 6-digit code to the address and prints where \
    it went (masked) and how long it stays valid; type the code back (on a terminal at the \
    prompt, otherwise as one line of standard input). An empty line sends a new code, once \
    the resend interval has passed. Logins then offer a code by email. Needs [email] in \
    mfad.toml. A non-administrator who already has a factor needs a fresh second factor \
    first; mfactl then asks for it. --verified (root and the admin group) saves the address \
    without sending anything, for bulk provisioning.\n\
    Exit status: 0 enrolled, 1 refused or failed (nothing is saved unless the code was \
    accepted), 2 bad arguments.";

/// `after_help` of `mfactl enroll sms`.
const ENROLL_SMS_HELP: &str = "The number is in international (E.164) form: + and the \
    country code, 8 to 15 digits, no spaces (+4912345689). mfad sends a 6-digit code to it \
    and prints where it went (masked) and how long it stays valid; type the code back (on a \
    terminal at the prompt, otherwise as one line of standard input). An empty line sends a \
    new code, once the resend interval has passed. Logins then offer a code by text message. \
    Needs [sms] in mfad.toml. A non-administrator who already has a factor needs a fresh \
    second factor first; mfactl then asks for it. --verified (root and the admin group) \
    saves the number without sending anything, for bulk provisioning.\n\
    Exit status: 0 enrolled, 1 refused or failed (nothing is saved unless the code was \
    accepted), 2 bad arguments.";

/// Arguments of `mfactl enroll email`.
#[derive(Debug, Args)]
pub struct EnrollEmailArgs {
    /// The account to enroll [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,

    /// The email address codes are sent to (name@domain)
    #[arg(long, value_name = "ADDR", required = true, value_parser = parse_email)]
    pub address: String,

    /// Name of the new token, unique per user [default: chosen by mfad: email, email-2, …]
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// Save the address without sending a code (root and the admin group only)
    #[arg(long)]
    pub verified: bool,
}

/// Arguments of `mfactl enroll sms`.
#[derive(Debug, Args)]
pub struct EnrollSmsArgs {
    /// The account to enroll [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,

    /// The mobile number codes are texted to, in E.164 form (+4912345689)
    #[arg(long, value_name = "+E164", required = true, value_parser = parse_phone)]
    pub phone: String,

    /// Name of the new token, unique per user [default: chosen by mfad: sms, sms-2, …]
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// Save the number without sending a code (root and the admin group only)
    #[arg(long)]
    pub verified: bool,
}

/// `after_help` of `mfactl enroll fido2`.
const ENROLL_FIDO2_HELP: &str = "The key must be plugged into this host (USB); exactly one \
    key. It creates a credential for this host only (relying party pam_mfa://HOSTNAME, or \
    mfad's [fido2] rp_id), ES256 or EdDSA. Logins then ask to touch the key, and for its PIN \
    when --pin or --uv was given. Only the public key is stored. A non-administrator who \
    already has a factor needs a fresh second factor first; mfactl then asks for it.\n\
    Exit status: 0 enrolled, 1 refused or failed (nothing is saved), 2 bad arguments.";

/// Arguments of `mfactl enroll fido2`.
#[derive(Debug, Args)]
pub struct EnrollFido2Args {
    /// The account to enroll [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,

    /// Name of the new token, unique per user [default: fido2, fido2-2, …]
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// Ask for the key's PIN now, and require it (user verification) at every login
    #[arg(long)]
    pub pin: bool,

    /// Require user verification at every login: the key's PIN, or its built-in biometric
    #[arg(long)]
    pub uv: bool,
}

/// `mfactl policy …`: the per-service rules, enforced groups, always-require permission and
/// enrollment deadlines.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Set or remove the rule for one PAM service, and the methods allowed there
    /// (administrators only)
    #[command(
        after_help = "A service without a rule follows the '*' rule; without a '*' rule, a \
                      second factor is required. Each rule replaces the earlier one of the \
                      service, methods included.\nExit status: 0 done, 1 refused or failed, 2 \
                      bad arguments."
    )]
    Service(PolicyServiceArgs),
    /// Enforce (or stop enforcing) MFA for the members of a Unix group (administrators only)
    #[command(
        after_help = "Members of an enforced group must pass a second factor on every service \
                      whose rule is not off, even where the rule is optional.\nExit status: 0 \
                      done, 1 refused or failed, 2 bad arguments."
    )]
    Group(PolicyGroupArgs),
    /// Choose who may turn always-require on for themselves (administrators only)
    #[command(subcommand)]
    AlwaysRequire(PolicyAlwaysRequireCommand),
    /// Give a user or a group's members until a deadline to enroll (administrators only)
    #[command(after_help = GRACE_HELP)]
    Grace(PolicyGraceArgs),
    /// Show the service rules, enforced groups, always-require permission and enrollment
    /// deadlines
    Show,
    /// Explain what pam_mfa would decide for one user logging in to one service
    #[command(after_help = "Exit status: 0 explained, 1 refused or failed, 2 bad arguments.")]
    Explain(PolicyExplainArgs),
}

/// `after_help` of `mfactl policy grace`.
const GRACE_HELP: &str = "Until the deadline, a user who must use MFA but has no usable \
    method enrolled is let in with a warning instead of being denied. UNTIL is one of:\n  \
    2026-12-31            the end of that day (23:59:59 UTC)\n  \
    2026-12-31T18:00:00Z  that time, in UTC (also 2026-12-31 18:00:00)\n  \
    14d, 2weeks, 36h      that long from now (a leading + is allowed)\n  \
    none                  remove the deadline\n\
    Exit status: 0 done, 1 refused or failed, 2 bad arguments.";

/// `mfactl policy always-require …`.
#[derive(Debug, Subcommand)]
pub enum PolicyAlwaysRequireCommand {
    /// Set who may turn always-require on for themselves; administrators may always set it for
    /// anyone
    #[command(after_help = "Exit status: 0 done, 1 refused or failed, 2 bad arguments.")]
    Allow(PolicyAllowArgs),
}

/// Arguments of `mfactl policy always-require allow`.
#[derive(Debug, Args)]
pub struct PolicyAllowArgs {
    /// `all` (every user), `none` (administrators only) or `group:NAME` (the members of a
    /// Unix group)
    #[arg(value_name = "all|none|group:NAME", value_parser = parse_allow)]
    pub who: String,
}

/// Arguments of `mfactl policy grace`.
#[derive(Debug, Args)]
pub struct PolicyGraceArgs {
    /// A user name, or `group:NAME` for the members of a Unix group
    #[arg(value_name = "USER|group:NAME", value_parser = parse_subject)]
    pub subject: String,

    /// The deadline: a date, a UTC time, a duration from now, or `none` (see below)
    #[arg(value_name = "UNTIL", allow_hyphen_values = true)]
    pub until: String,
}

/// Arguments of `mfactl policy explain`.
#[derive(Debug, Args)]
pub struct PolicyExplainArgs {
    /// The account logging in
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: String,

    /// The PAM service (its file name under /etc/pam.d); `*` is not a service
    #[arg(value_name = "SERVICE", value_parser = parse_login_service)]
    pub service: String,
}

/// Arguments of `mfactl policy group`.
#[derive(Debug, Args)]
pub struct PolicyGroupArgs {
    /// The Unix group (as NSS knows it)
    #[arg(value_name = "GROUP", value_parser = parse_group)]
    pub group: String,

    /// Whether its members must use MFA
    #[arg(value_name = "ACTION", value_enum)]
    pub action: GroupAction,
}

/// `ACTION` of `mfactl policy group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupAction {
    /// Members must pass a second factor on every service that is not off
    Enforce,
    /// Stop enforcing; members follow the service rules again
    Unenforce,
}

impl GroupAction {
    /// Whether the group is enforced after this action.
    pub fn enforce(self) -> bool {
        self == GroupAction::Enforce
    }
}

/// Arguments of `mfactl policy service`.
#[derive(Debug, Args)]
pub struct PolicyServiceArgs {
    /// The PAM service (its file name under /etc/pam.d), or `*` for every service without a
    /// rule of its own
    #[arg(value_name = "SERVICE", value_parser = parse_service)]
    pub service: String,

    /// What the service asks for
    #[arg(value_name = "MODE", value_enum)]
    pub mode: PolicyMode,

    /// The methods allowed on the service, comma-separated or repeated (totp, fido2, email,
    /// sms, ssh-sk, recovery)
    /// [default: every method]
    #[arg(
        long,
        value_name = "METHOD",
        value_delimiter = ',',
        value_parser = parse_method
    )]
    pub methods: Vec<String>,
}

/// `MODE` of `mfactl policy service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyMode {
    /// Everybody must pass a second factor; users without a token are denied
    Required,
    /// Users with a token are asked, users without one are not
    Optional,
    /// Nobody is asked
    Off,
    /// Remove the rule: the service follows `*`, else the built-in default (required)
    Unset,
}

impl PolicyMode {
    /// The name mfad expects (`required`, `optional`, `off`, `unset`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyMode::Required => "required",
            PolicyMode::Optional => "optional",
            PolicyMode::Off => "off",
            PolicyMode::Unset => "unset",
        }
    }
}

/// Arguments of `mfactl enroll totp`.
#[derive(Debug, Args)]
pub struct EnrollTotpArgs {
    /// The account to enroll [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,

    /// Name of the new token, unique per user [default: chosen by mfad: totp, totp-2, …]
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// Issuer label shown by the authenticator app [default: mfad's configured issuer]
    #[arg(long, value_name = "ISSUER", value_parser = parse_issuer)]
    pub issuer: Option<String>,

    /// Import this base32 secret instead of a new random one; `-` reads it from standard
    /// input (command-line arguments are visible to other local users)
    #[arg(long, value_name = "BASE32", value_parser = parse_secret)]
    pub secret: Option<SecretArg>,

    /// Number of digits per code [default: 6]
    #[arg(long, value_enum)]
    pub digits: Option<Digits>,

    /// HMAC algorithm; most apps support only sha1 [default: sha1]
    #[arg(long, value_enum, ignore_case = true)]
    pub algorithm: Option<Algorithm>,

    /// Seconds each code is valid [default: 30]
    #[arg(long, value_enum)]
    pub period: Option<Period>,

    /// The code the app shows now; skips the prompt and allows a single try
    #[arg(long, value_name = "CODE", value_parser = parse_secret_text)]
    pub code: Option<Zeroizing<String>>,
}

/// Arguments of `mfactl list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Whose tokens to list [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,
}

/// Arguments of `mfactl remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The owner of the token [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,

    /// The token's id or name, as `mfactl list` shows it
    #[arg(value_name = "TOKEN", value_parser = parse_token)]
    pub token: String,
}

/// Arguments of `mfactl rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The owner of the token
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: String,

    /// The token's id or name, as `mfactl list` shows it
    #[arg(value_name = "TOKEN", value_parser = parse_token)]
    pub token: String,

    /// The token's new name, unique per user
    #[arg(value_name = "NEW_NAME", value_parser = parse_name)]
    pub new_name: String,
}

/// Arguments of `mfactl status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Whose status to show [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,
}

/// Arguments of `mfactl unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The account whose failures, back-off and lock to clear
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: String,
}

/// Arguments of `mfactl lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// The account to lock
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: String,

    /// Why, for other administrators (`mfactl status` shows it; the user never sees it)
    #[arg(long, value_name = "TEXT", value_parser = parse_name)]
    pub reason: Option<String>,
}

/// Arguments of `mfactl always-require`.
#[derive(Debug, Args)]
pub struct AlwaysRequireArgs {
    /// Turn it on or off
    #[arg(value_name = "on|off", value_enum)]
    pub state: OnOff,

    /// The account [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,
}

/// `on|off` of `mfactl always-require`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// A second factor is asked on every service that stacks pam_mfa, even where its rule is off
    On,
    /// The service rules and group enforcement decide again
    Off,
}

impl OnOff {
    /// Whether this is `on`.
    pub fn is_on(self) -> bool {
        self == OnOff::On
    }
}

/// Arguments of `mfactl enroll ssh-sk`.
#[derive(Debug, Args)]
pub struct EnrollSshSkArgs {
    /// The account to enroll [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,

    /// The public key file (`~/.ssh/id_ecdsa_sk.pub`); `-` reads it from standard input
    #[arg(long, value_name = "FILE", required = true)]
    pub pubkey: PathBuf,

    /// Name of the new token, unique per user [default: the key's comment]
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,
}

/// Arguments of `mfactl recovery generate`.
#[derive(Debug, Args)]
pub struct RecoveryGenerateArgs {
    /// The account [default: yourself]
    #[arg(value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,
}

/// Where `--secret` comes from. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretArg {
    /// `--secret -`: one line of standard input.
    Stdin,
    /// The secret given on the command line, unchecked (the command checks it without
    /// quoting it).
    Inline(Zeroizing<String>),
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretArg::Stdin => f.write_str("Stdin"),
            SecretArg::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

/// `--digits`: the lengths mfad accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Digits {
    /// Six digits, what every app supports
    #[value(name = "6")]
    Six,
    /// Eight digits
    #[value(name = "8")]
    Eight,
}

impl Digits {
    /// The number of digits.
    pub fn count(self) -> u32 {
        match self {
            Digits::Six => 6,
            Digits::Eight => 8,
        }
    }
}

/// `--algorithm`: the HMAC functions mfad accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Algorithm {
    /// HMAC-SHA1
    Sha1,
    /// HMAC-SHA256
    Sha256,
    /// HMAC-SHA512
    Sha512,
}

impl From<Algorithm> for TotpAlgorithm {
    fn from(a: Algorithm) -> Self {
        match a {
            Algorithm::Sha1 => TotpAlgorithm::Sha1,
            Algorithm::Sha256 => TotpAlgorithm::Sha256,
            Algorithm::Sha512 => TotpAlgorithm::Sha512,
        }
    }
}

/// `--period`: the step lengths mfad accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Period {
    /// 30 seconds, what every app supports
    #[value(name = "30")]
    Thirty,
    /// 60 seconds
    #[value(name = "60")]
    Sixty,
}

impl Period {
    /// The period in seconds.
    pub fn seconds(self) -> u32 {
        match self {
            Period::Thirty => 30,
            Period::Sixty => 60,
        }
    }
}

/// The whole command-line definition, for help, completions and man page generators.
pub fn command() -> clap::Command {
    Cli::command()
}

fn parse_user(s: &str) -> Result<String, String> {
    check_user_name(s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

/// A group name follows the user name syntax; the message names a group.
fn parse_group(s: &str) -> Result<String, String> {
    check_user_name(s).map_err(|e| e.to_string().replacen("user name", "group name", 1))?;
    Ok(s.to_owned())
}

/// A user name, or `group:NAME`.
fn parse_subject(s: &str) -> Result<String, String> {
    match s.strip_prefix("group:") {
        Some(group) => parse_group(group).map(|_| s.to_owned()),
        None => parse_user(s),
    }
}

/// `all`, `none` or `group:NAME`.
fn parse_allow(s: &str) -> Result<String, String> {
    match s {
        "all" | "none" => Ok(s.to_owned()),
        _ => match s.strip_prefix("group:") {
            Some(group) => parse_group(group).map(|_| s.to_owned()),
            None => Err("expected all, none or group:NAME".into()),
        },
    }
}

/// One of [`METHOD_NAMES`], in any case; an empty value (`--methods ''`) stands for every
/// method and is dropped later.
fn parse_method(s: &str) -> Result<String, String> {
    let method = s.trim().to_ascii_lowercase();
    if method.is_empty() || METHOD_NAMES.contains(&method.as_str()) {
        Ok(method)
    } else {
        Err(format!(
            "unknown method (expected {})",
            METHOD_NAMES.join(" or ")
        ))
    }
}

/// A free-text field: non-empty, at most [`MAX_FIELD_LEN`] bytes, no control characters.
fn check_field(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_FIELD_LEN {
        return Err(format!("must be at most {MAX_FIELD_LEN} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// An email address as mfad accepts it (mfa-core's strict check), so a typo fails before
/// anything is sent.
fn parse_email(s: &str) -> Result<String, String> {
    check_email_address(s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

/// A phone number in E.164 form, as mfad accepts it.
fn parse_phone(s: &str) -> Result<String, String> {
    check_phone_e164(s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

fn parse_name(s: &str) -> Result<String, String> {
    check_field(s)?;
    Ok(s.to_owned())
}

fn parse_issuer(s: &str) -> Result<String, String> {
    check_field(s)?;
    // The otpauth label is `issuer:account`; Google's key URI format forbids a colon in either.
    if s.contains(':') {
        return Err("must not contain ':'".into());
    }
    Ok(s.to_owned())
}

fn parse_token(s: &str) -> Result<String, String> {
    check_field(s)?;
    Ok(s.to_owned())
}

/// `*`, or what mfad accepts as a PAM service name: 1 to [`MAX_SERVICE_LEN`] characters of
/// `A-Z a-z 0-9 - _ . @ +`, not starting with a dot.
fn parse_service(s: &str) -> Result<String, String> {
    let valid = s == "*"
        || (!s.is_empty()
            && s.len() <= MAX_SERVICE_LEN
            && !s.starts_with('.')
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'+')
            }));
    if valid {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "must be '*' or 1 to {MAX_SERVICE_LEN} characters of A-Z a-z 0-9 - _ . @ +, not \
             starting with '.'"
        ))
    }
}

/// A real PAM service name: what [`parse_service`] accepts, except `*`.
fn parse_login_service(s: &str) -> Result<String, String> {
    if s == "*" {
        return Err(format!(
            "must be 1 to {MAX_SERVICE_LEN} characters of A-Z a-z 0-9 - _ . @ +, not starting \
             with '.' ('*' is not a service)"
        ));
    }
    parse_service(s)
}

/// An absolute path.
fn parse_absolute(s: &str) -> Result<PathBuf, String> {
    if s.starts_with('/') {
        Ok(PathBuf::from(s))
    } else {
        Err("must be an absolute path, as mfad's --db".into())
    }
}

fn parse_secret(s: &str) -> Result<SecretArg, String> {
    Ok(match s {
        "-" => SecretArg::Stdin,
        _ => SecretArg::Inline(Zeroizing::new(s.to_owned())),
    })
}

fn parse_secret_text(s: &str) -> Result<Zeroizing<String>, String> {
    Ok(Zeroizing::new(s.to_owned()))
}

#[cfg(test)]
mod tests;
