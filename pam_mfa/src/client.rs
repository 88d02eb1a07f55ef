//! The real [`Daemon`]: `org.pam_mfa.Login1` over zbus, one connection per authentication.
//!
//! [`with_daemon`] runs the whole login inside ONE `zbus::block_on` and closes the connection
//! before returning, so no task, thread or fd outlives the hook (a cached connection would
//! leave a zruntime helper thread inside sshd: notes/crates.md §6, §9).
//!
//! - The address is the module argument (root-owned), never `Builder::system()` or anything
//!   else from the process environment.
//! - The set-up (connect, authenticate, `Hello`, owner check) and every call are bounded by
//!   `timeout` with a zruntime timer; zbus's `method_timeout` alone would not cover the
//!   handshake with a hung dbus-daemon.
//! - The owner of [`BUS_NAME`] must be uid 0. Calls then go to that owner's unique name, which
//!   the bus never reuses, so a later change of owner cannot slip in between check and use.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use mfa_proto::{BUS_NAME, LoginFacts, LoginProxy, MfaError, WireStep};
use zbus::Connection;
use zbus::fdo::DBusProxy;
use zbus::names::{BusName, OwnedUniqueName};
use zbus::proxy::CacheProperties;

use crate::args::Options;
use crate::flow::Daemon;
use crate::log::Log;

/// Runs `work` with a [`BusDaemon`] inside one `zbus::block_on`, then closes the connection.
///
/// The PAM conversation may be called from inside `work`: it blocks this thread, which is
/// fine, as nothing else needs to run meanwhile.
pub fn with_daemon<T>(
    opts: &Options,
    log: &Log<'_>,
    work: impl AsyncFnOnce(&mut BusDaemon<'_>) -> T,
) -> T {
    zbus::block_on(async {
        let mut daemon = BusDaemon {
            opts,
            log,
            link: None,
        };
        let out = work(&mut daemon).await;
        daemon.close().await;
        out
    })
}

/// A [`Daemon`] on the bus named by the module arguments. It connects on the first call.
pub struct BusDaemon<'a> {
    opts: &'a Options,
    log: &'a Log<'a>,
    link: Option<Link>,
}

/// An open connection and the proxy addressed to the verified owner.
struct Link {
    conn: Connection,
    login: LoginProxy<'static>,
}

impl Daemon for BusDaemon<'_> {
    async fn begin(&mut self, facts: &LoginFacts) -> Result<WireStep, MfaError> {
        let timeout = self.opts.timeout;
        let login = self.login().await?;
        bounded(timeout, login.begin(facts)).await
    }

    async fn begin_single_prompt(
        &mut self,
        facts: &LoginFacts,
    ) -> Result<(WireStep, u32), MfaError> {
        let timeout = self.opts.timeout;
        let login = self.login().await?;
        bounded(timeout, login.begin_single_prompt(facts)).await
    }

    async fn answer(&mut self, flow: &str, answer: &str) -> Result<WireStep, MfaError> {
        let timeout = self.opts.timeout;
        let login = self.login().await?;
        bounded(timeout, login.answer(flow, answer)).await
    }

    async fn fido2_request(
        &mut self,
        flow: &str,
    ) -> Result<crate::flow::fido2::Fido2Request, MfaError> {
        let timeout = self.opts.timeout;
        let login = self.login().await?;
        bounded(timeout, login.fido2_request(flow))
            .await
            .map(Into::into)
    }

    async fn answer_fido2(
        &mut self,
        flow: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Result<WireStep, MfaError> {
        let timeout = self.opts.timeout;
        let login = self.login().await?;
        bounded(
            timeout,
            login.answer_fido2(flow, credential_id, authenticator_data, signature),
        )
        .await
    }

    async fn fido2_unavailable(&mut self, flow: &str, reason: &str) -> Result<WireStep, MfaError> {
        let timeout = self.opts.timeout;
        let login = self.login().await?;
        bounded(timeout, login.fido2_unavailable(flow, reason)).await
    }

    async fn answer_refused(&mut self, flow: &str, reason: &str) -> Result<WireStep, MfaError> {
        let timeout = self.opts.timeout;
        let login = self.login().await?;
        bounded(timeout, login.answer_refused(flow, reason)).await
    }

    async fn cancel(&mut self, flow: &str) {
        let timeout = self.opts.timeout;
        let result = match self.login().await {
            Ok(login) => bounded(timeout, login.cancel(flow)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.log.debug(&format!(
                "Cancel failed: {}",
                crate::log::escape(&e.message(), 256)
            ));
        }
    }
}

impl BusDaemon<'_> {
    /// The proxy, connecting first if needed.
    async fn login(&mut self) -> Result<&LoginProxy<'static>, MfaError> {
        let link = match self.link.take() {
            Some(link) => link,
            None => bounded(self.opts.timeout, connect(self.opts, self.log)).await?,
        };
        Ok(&self.link.insert(link).login)
    }

    /// Closes the connection, if one was opened.
    async fn close(self) {
        let Some(Link { conn, login }) = self.link else {
            return;
        };
        drop(login);
        let closed = bounded(self.opts.timeout, async { Ok(conn.close().await?) }).await;
        if let Err(e) = closed {
            self.log.debug(&format!(
                "closing the bus connection failed: {}",
                e.message()
            ));
        }
    }
}

/// Connects, checks that the owner of [`BUS_NAME`] is root, and builds the proxy.
async fn connect(opts: &Options, log: &Log<'_>) -> Result<Link, MfaError> {
    let conn = zbus::connection::Builder::address(opts.bus.clone())
        .method_timeout(opts.timeout)
        .build()
        .await?;
    let bus = DBusProxy::builder(&conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let name = BusName::try_from(BUS_NAME)?;
    let owner: OwnedUniqueName = bus.get_name_owner(name).await.map_err(zbus::Error::from)?;
    let uid = bus
        .get_connection_unix_user(BusName::from(owner.as_ref()))
        .await
        .map_err(zbus::Error::from)?;
    if uid != 0 {
        return Err(MfaError::ZBus(zbus::Error::Failure(format!(
            "refusing to talk to {BUS_NAME}: its owner {owner} is uid {uid}, not root"
        ))));
    }
    log.debug(&format!("{BUS_NAME} is owned by {owner} (uid 0)"));
    let login = LoginProxy::builder(&conn)
        .destination(owner)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    Ok(Link { conn, login })
}

/// Runs `fut` with a deadline of `limit` on the runtime of this `block_on`.
async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, MfaError>>,
) -> Result<T, MfaError> {
    // Inside zbus::block_on (default-rt), this is the calling thread's own runtime, the one
    // driving the connection: no extra thread.
    let runtime = zruntime::SharedRuntime::current().map_err(io_error)?;
    match runtime.timeout(limit, fut).await {
        Ok(result) => result,
        Err(_timed_out) => Err(io_error(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer from the bus within {} ms", limit.as_millis()),
        ))),
    }
}

fn io_error(e: io::Error) -> MfaError {
    MfaError::ZBus(zbus::Error::InputOutput(Arc::new(e)))
}
