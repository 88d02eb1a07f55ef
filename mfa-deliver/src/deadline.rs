//! A hard bound on a blocking call whose library only bounds each socket operation.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::error::{Channel, DeliveryError};

/// Runs `work` on its own thread and waits at most `timeout` for it.
///
/// lettre's timeout applies to each read and write, so a server that trickles bytes could
/// hold a send for many timeouts. The caller gets `TimedOut` at the deadline; the abandoned
/// thread ends by itself when the socket timeouts fire (it holds no lock and nothing of the
/// caller's).
pub(crate) fn run_bounded<T: Send + 'static>(
    channel: Channel,
    timeout: Duration,
    work: impl FnOnce() -> Result<T, DeliveryError> + Send + 'static,
) -> Result<T, DeliveryError> {
    let (tx, rx) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("mfa-deliver".into())
        .spawn(move || {
            // The receiver may be gone after a timeout: nothing left to tell.
            let _ = tx.send(work());
        })
        .map_err(|e| DeliveryError::Protocol {
            channel,
            detail: format!("could not start a delivery thread: {e}"),
        })?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(DeliveryError::TimedOut {
            channel,
            after: timeout,
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(DeliveryError::Protocol {
            channel,
            detail: "the delivery thread panicked".into(),
        }),
    }
}
