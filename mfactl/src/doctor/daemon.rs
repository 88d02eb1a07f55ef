//! mfad: can pam_mfa reach it, is it the root-owned daemon, and what its policy means for
//! the services that stack pam_mfa.

use std::collections::BTreeMap;
use std::time::Duration;

use zbus::Address;
use zbus::fdo::DBusProxy;
use zbus::names::BusName;
use zbus::proxy::CacheProperties;

use mfa_proto::{BUS_NAME, ManageProxy, PolicyOverview, SYSTEM_BUS_ADDRESS, WhoAmI};

use super::fs::Root;
use super::{Finding, Host, Severity, and_list};
use crate::client::bus_address;
use crate::deadline::rfc3339;
use crate::error::{CliError, from_zbus};

/// How long doctor waits for the bus and mfad, all calls together: a hung daemon makes a
/// finding, not a hung doctor.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How much later each single bus call gives up than the whole probe.
const PROBE_TIMEOUT_MARGIN: Duration = Duration::from_secs(2);

/// Where mfad is asked, or why it is not.
#[derive(Debug)]
pub(crate) enum BusChoice {
    /// Ask on this bus.
    Ask {
        /// The address.
        address: Address,
        /// The address as given, for messages.
        shown: String,
        /// No bus was named: this is the system bus.
        system: bool,
    },
    /// `--root` reads another system's files and no bus was named: the running mfad has
    /// nothing to do with them.
    Skip,
}

impl BusChoice {
    /// `--bus-address`, else `DBUS_SYSTEM_BUS_ADDRESS`, else the system bus, as every mfactl
    /// command; with `--root` other than `/`, only a bus named one of the first two ways.
    pub fn choose(given: Option<&str>, root: &Root) -> Result<BusChoice, CliError> {
        let named = given.is_some() || std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_some();
        if !root.is_host() && !named {
            return Ok(BusChoice::Skip);
        }
        let address = bus_address(given)?;
        Ok(BusChoice::Ask {
            shown: address.to_string(),
            address,
            system: !named,
        })
    }
}

/// What mfad said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DaemonFacts {
    /// It was not asked ([`BusChoice::Skip`]).
    Skipped,
    /// Nobody answered.
    Unreachable {
        /// `the system bus` or `the bus at ADDRESS`.
        bus: String,
        /// Why, from the bus or the OS.
        detail: String,
    },
    /// It answered.
    Reachable {
        /// `the system bus` or `the bus at ADDRESS`.
        bus: String,
        /// The uid of the process owning mfad's name, if the bus said.
        owner_uid: Option<u32>,
        /// Who mfad sees calling.
        caller: WhoAmI,
        /// Its policy, or why it was not shown.
        policy: Result<PolicyOverview, String>,
    },
}

fn bus_words(shown: &str, system: bool) -> String {
    if system || shown == SYSTEM_BUS_ADDRESS {
        "the system bus".to_owned()
    } else {
        format!("the bus at {shown}")
    }
}

/// Asks mfad who we are and what its policy is, within [`PROBE_TIMEOUT`].
pub(crate) fn probe(choice: &BusChoice) -> DaemonFacts {
    let BusChoice::Ask {
        address,
        shown,
        system,
    } = choice
    else {
        return DaemonFacts::Skipped;
    };
    let bus = bus_words(shown, *system);
    let answer = zbus::block_on(async {
        // Inside zbus::block_on this is the thread's own runtime, the one driving the
        // connection: no extra thread.
        let runtime = zruntime::SharedRuntime::current()
            .map_err(|e| format!("no runtime for the bus connection: {e}"))?;
        match runtime.timeout(PROBE_TIMEOUT, ask(address, shown)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "no answer within {} seconds; mfad or the bus is hung",
                PROBE_TIMEOUT.as_secs()
            )),
        }
    });
    match answer {
        Ok((owner_uid, caller, policy)) => DaemonFacts::Reachable {
            bus,
            owner_uid,
            caller,
            policy,
        },
        Err(detail) => DaemonFacts::Unreachable { bus, detail },
    }
}

type Answer = (Option<u32>, WhoAmI, Result<PolicyOverview, String>);

/// The text of a bus failure without mfactl's usual "Is mfad running?" sentence.
fn detail(e: CliError) -> String {
    match e {
        CliError::Unreachable { detail, .. } => detail.trim_end_matches('.').to_owned(),
        other => other.to_string(),
    }
}

async fn ask(address: &Address, shown: &str) -> Result<Answer, String> {
    // A safety net only: the overall deadline in `probe` must fire first, so that a hung
    // daemon always gets the "hung" finding rather than whichever timer won the race.
    let connection = zbus::connection::Builder::address(address.clone())
        .method_timeout(PROBE_TIMEOUT + PROBE_TIMEOUT_MARGIN)
        .build()
        .await
        .map_err(|e| detail(from_zbus(e, shown)))?;
    let bus = DBusProxy::builder(&connection)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .map_err(|e| detail(from_zbus(e, shown)))?;
    let name = BusName::try_from(BUS_NAME).map_err(|e| e.to_string())?;
    let owner = bus
        .get_name_owner(name)
        .await
        .map_err(|e| detail(from_zbus(zbus::Error::from(e), shown)))?;
    // Best effort: only used to say that pam_mfa would refuse a non-root owner.
    let owner_uid = bus
        .get_connection_unix_user(BusName::from(owner.as_ref()))
        .await
        .ok();
    let manage = ManageProxy::builder(&connection)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .map_err(|e| detail(from_zbus(e, shown)))?;
    let caller = manage
        .who_am_i()
        .await
        .map_err(|e| detail(CliError::from(e).at_address(shown)))?;
    let policy = manage
        .policy()
        .await
        .map_err(|e| detail(CliError::from(e).at_address(shown)));
    drop(manage);
    drop(bus);
    // Best effort: the process exits next, which closes the socket anyway.
    let _ = connection.close().await;
    Ok((owner_uid, caller, policy))
}

/// mfad must be reachable, and owned by root, or every login through pam_mfa is refused.
pub(crate) fn check_reachable(host: &Host) -> Vec<Finding> {
    let stacked = host.pam.stacking().next().is_some();
    match &host.daemon {
        DaemonFacts::Skipped => vec![Finding::new(
            "daemon-skipped",
            Severity::Note,
            "The running mfad was not asked: --root reads another system's files, and no bus \
             was named.",
            "Give --bus-address (or set DBUS_SYSTEM_BUS_ADDRESS) to check a running mfad too.",
        )],
        DaemonFacts::Unreachable { bus, detail } => {
            let (severity, effect) = if stacked {
                (
                    Severity::Error,
                    "every login through pam_mfa is refused until it runs",
                )
            } else {
                (
                    Severity::Warning,
                    "no PAM service stacks pam_mfa yet, so logins are not affected, but nobody \
                     can enroll",
                )
            };
            vec![Finding::new(
                "daemon-reachable",
                severity,
                format!("mfad is not reachable on {bus} ({detail}): {effect}."),
                "Start it and have it start at boot: `systemctl enable --now mfad`; `mfactl \
                 whoami` answers once it is up. If it does not start, `journalctl -u mfad` \
                 says why.",
            )]
        }
        DaemonFacts::Reachable {
            bus,
            owner_uid: Some(uid),
            ..
        } if *uid != 0 => vec![Finding::new(
            "daemon-owner",
            Severity::Error,
            format!(
                "{BUS_NAME} on {bus} is owned by a process of uid {uid}, not root: pam_mfa \
                 refuses to talk to it, so every login through pam_mfa is refused."
            ),
            "Stop that process and start mfad as root (`systemctl restart mfad`); the shipped \
             D-Bus policy (/usr/share/dbus-1/system.d/org.pam_mfa.Mfad.conf) lets only root \
             own the name.",
        )],
        DaemonFacts::Reachable { .. } => Vec::new(),
    }
}

/// Where a service's mode comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// Its own rule.
    Own,
    /// The `*` rule.
    Star,
}

/// What mfad's policy makes of the services that stack pam_mfa: `optional` and `off` rules,
/// and enrollment deadlines still running.
pub(crate) fn check_policy(host: &Host) -> Vec<Finding> {
    let DaemonFacts::Reachable { policy, caller, .. } = &host.daemon else {
        return Vec::new();
    };
    let policy = match policy {
        Ok(policy) => policy,
        Err(why) => {
            return vec![Finding::new(
                "daemon-policy",
                Severity::Note,
                format!(
                    "mfad did not show its policy to uid {} ({why}): the policy checks were \
                     skipped.",
                    caller.uid
                ),
                "Run doctor as root, or as a member of mfad's admin group.",
            )];
        }
    };
    let mut by_mode: BTreeMap<(String, Source), Vec<String>> = BTreeMap::new();
    for service in host.pam.stacking() {
        let own = policy.services.iter().find(|p| p.service == service.name);
        let star = policy.services.iter().find(|p| p.service == "*");
        let (mode, source) = match (own, star) {
            (Some(rule), _) => (rule.mode.clone(), Source::Own),
            (None, Some(rule)) => (rule.mode.clone(), Source::Star),
            // The built-in default is required: nothing to say.
            (None, None) => continue,
        };
        by_mode
            .entry((mode, source))
            .or_default()
            .push(service.name.clone());
    }
    let mut out = Vec::new();
    for ((mode, source), names) in by_mode {
        let rule = match (source, names.len()) {
            (Source::Own, 1) => "its own rule",
            (Source::Own, _) => "their own rules",
            (Source::Star, _) => "the '*' rule",
        };
        let list = and_list(&names);
        let example = &names[0];
        match mode.as_str() {
            "optional" => out.push(Finding::new(
                "policy-optional",
                Severity::Note,
                format!(
                    "mfad's rule for {list} is optional ({rule}): users without a token log in \
                     with the password alone."
                ),
                format!(
                    "Nothing to do if that is the plan (say, while users enroll); `mfactl \
                     policy service {example} required` makes the code mandatory."
                ),
            )),
            "off" => out.push(Finding::new(
                "policy-off",
                Severity::Warning,
                format!(
                    "{list} stack{} pam_mfa, but mfad's rule for {} is off ({rule}): nobody is \
                     asked for a code there, except users who turned on always-require.",
                    if names.len() == 1 { "s" } else { "" },
                    if names.len() == 1 { "it" } else { "them" },
                ),
                format!(
                    "`mfactl policy service {example} required` (or optional), or remove the \
                     pam_mfa line if the service should not ask."
                ),
            )),
            _ => {}
        }
    }
    for grace in policy.grace.iter().filter(|g| g.until > host.now) {
        let who = match grace.subject.strip_prefix("group:") {
            Some(group) => format!("the members of group {group}"),
            None => grace.subject.clone(),
        };
        out.push(Finding::new(
            "policy-grace",
            Severity::Note,
            format!(
                "Enrollment deadline for {who}: {}. Until then, a login that needs a code but \
                 finds no usable method enrolled is let in with a warning instead of being \
                 denied.",
                rfc3339(grace.until)
            ),
            format!(
                "Nothing to do if that is the plan; `mfactl policy grace {} none` ends it now.",
                grace.subject
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests;
