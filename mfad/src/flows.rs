//! Login conversations in progress, held in memory.
//!
//! A flow has a random 128-bit id, belongs to the bus connection that began it, accepts one
//! answer, and expires after [`FLOW_TTL`]. A daemon restart forgets every flow, so a login
//! whose daemon restarted between prompt and answer is denied: fail closed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mfa_core::policy::{Method, MethodSet};
use mfa_proto::MfaError;

/// How long a prompt may wait for its answer.
pub const FLOW_TTL: Duration = Duration::from_secs(300);
/// Most flows in progress at once; beyond this, Begin is refused (memory bound).
pub const MAX_FLOWS: usize = 4096;

/// One login in progress.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Unique bus name of the connection that began it.
    pub owner: String,
    /// The user logging in (as given; may not exist).
    pub user: String,
    /// The PAM service.
    pub service: String,
    /// Whether NSS knows the user. Unknown users are prompted like everybody else and
    /// denied after the answer, so a prompt reveals nothing.
    pub user_exists: bool,
    /// When it was begun.
    pub started: Instant,
    /// A login, or a step-up for a management change.
    pub purpose: Purpose,
    /// The methods this flow offered in its chooser (or its only method): where an
    /// unavailable security key sends the user back to.
    pub offered: MethodSet,
    /// What the pending prompt asked.
    pub stage: Stage,
}

/// Why a flow exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A PAM login (`Login1.Begin`).
    Login,
    /// A fresh factor before a sensitive self-service change (`Manage1.BeginStepUp`).
    StepUp,
}

/// What the pending prompt asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Which method to use (the chooser), with the number of invalid choices so far.
    Choose {
        /// The methods offered, in order.
        methods: MethodSet,
        /// Invalid answers so far.
        invalid: u8,
    },
    /// A code for this method.
    Code(Method),
    /// A security key's signature over this challenge (single use: the flow is taken by
    /// the answer), issued at `issued`.
    Fido2 {
        /// The random challenge ([`mfa_core::fido2::CHALLENGE_LEN`] bytes).
        challenge: [u8; mfa_core::fido2::CHALLENGE_LEN],
        /// When it was issued (it expires after the configured challenge TTL).
        issued: Instant,
    },
}

/// The table of flows.
#[derive(Debug, Default)]
pub struct FlowTable {
    flows: Mutex<HashMap<String, Flow>>,
}

/// A fresh random id: 128 bits from the OS, hex-encoded.
pub fn random_id() -> Result<String, MfaError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| MfaError::Internal(format!("the OS random generator failed: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl FlowTable {
    /// Registers `flow` and returns its id.
    pub fn start(&self, flow: Flow) -> Result<String, MfaError> {
        let id = random_id()?;
        let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        flows.retain(|_, f| f.started.elapsed() < FLOW_TTL);
        if flows.len() >= MAX_FLOWS {
            return Err(MfaError::Internal(
                "too many logins in progress; try again shortly".into(),
            ));
        }
        flows.insert(id.clone(), flow);
        Ok(id)
    }

    /// Removes and returns the flow `id` if `sender` owns it and it has not expired. A flow
    /// asked for by another connection stays for its owner.
    pub fn take(&self, id: &str, sender: &str) -> Result<Flow, MfaError> {
        let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        let unknown = || {
            MfaError::UnknownFlow("no such login in progress for this connection (it may have expired or been answered)".into())
        };
        match flows.get(id) {
            Some(f) if f.owner == sender => {}
            _ => return Err(unknown()),
        }
        let flow = flows.remove(id).ok_or_else(unknown)?;
        if flow.started.elapsed() >= FLOW_TTL {
            return Err(MfaError::UnknownFlow(
                "the login took too long and expired; start again".into(),
            ));
        }
        Ok(flow)
    }

    /// A copy of the flow `id` if `sender` owns it and it has not expired; the flow stays
    /// (for reads that precede the answer, like `Fido2Request`).
    pub fn peek(&self, id: &str, sender: &str) -> Result<Flow, MfaError> {
        let flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        match flows.get(id) {
            Some(f) if f.owner == sender && f.started.elapsed() < FLOW_TTL => Ok(f.clone()),
            _ => Err(MfaError::UnknownFlow(
                "no such login in progress for this connection (it may have expired or been answered)".into(),
            )),
        }
    }

    /// Number of flows in progress (including expired ones not yet purged).
    pub fn len(&self) -> usize {
        self.flows.lock().map(|f| f.len()).unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(owner: &str) -> Flow {
        Flow {
            owner: owner.into(),
            user: "alice".into(),
            service: "sshd".into(),
            user_exists: true,
            started: Instant::now(),
            purpose: Purpose::Login,
            offered: [Method::Totp].into_iter().collect(),
            stage: Stage::Code(Method::Totp),
        }
    }

    #[test]
    fn a_flow_is_answered_once_and_only_by_its_owner() {
        let t = FlowTable::default();
        let id = t.start(flow(":1.1")).unwrap();
        assert_eq!(id.len(), 32);
        assert!(matches!(t.take(&id, ":1.2"), Err(MfaError::UnknownFlow(_))));
        assert!(matches!(t.peek(&id, ":1.2"), Err(MfaError::UnknownFlow(_))));
        assert_eq!(t.peek(&id, ":1.1").unwrap().user, "alice");
        assert_eq!(t.take(&id, ":1.1").unwrap().user, "alice");
        assert!(matches!(t.take(&id, ":1.1"), Err(MfaError::UnknownFlow(_))));
        assert!(matches!(t.peek(&id, ":1.1"), Err(MfaError::UnknownFlow(_))));
    }

    #[test]
    fn expired_flows_are_refused() {
        let t = FlowTable::default();
        let mut f = flow(":1.1");
        f.started = Instant::now() - FLOW_TTL - Duration::from_secs(1);
        let id = t.start(f).unwrap();
        assert!(
            matches!(t.take(&id, ":1.1"), Err(MfaError::UnknownFlow(m)) if m.contains("expired"))
        );
    }

    #[test]
    fn ids_are_random() {
        assert_ne!(random_id().unwrap(), random_id().unwrap());
    }
}
