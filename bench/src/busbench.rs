//! mfad over the bus, without PAM: what a login costs the daemon and the bus.
//!
//! - **Verify** = `Begin` + `Answer` with a fresh, valid code (what one login costs the
//!   daemon: NSS lookup, policy read, flow, TOTP check, the committed step, the audit line).
//! - **Begin** alone (the flow is then cancelled, untimed).
//! - **Ping**: `org.freedesktop.DBus.Peer.Ping` to mfad's unique name, the bus floor. mfad
//!   has no no-op method of its own; zbus answers `Peer` on every object, so this is a real
//!   round trip through the same dbus-daemon to the same daemon connection and executor.
//! - **Verify, new connection**: what the module does per login: connect (SASL, `Hello`),
//!   `GetNameOwner`, `GetConnectionUnixUser` of the owner, `Begin`, `Answer`, close.
//!
//! Clients run on their own threads with their own connections and their own users, so no
//! two clients ever race for one token's step.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use zbus::Connection;
use zbus::fdo::{DBusProxy, PeerProxy};
use zbus::names::{BusName, OwnedUniqueName};
use zbus::proxy::CacheProperties;

use mfa_proto::{BUS_NAME, DenyReason, LoginFacts, LoginProxy, OBJECT_PATH, Step, StepKind};

use crate::codes::{BenchUser, Dealer, now};
use crate::error::{BenchError, Result};
use crate::pam_loop::interleave;
use crate::stats::Summary;

/// The PAM service name sent with `Begin` (no rule: the built-in default, required).
pub const SERVICE: &str = "bench-bus";
/// The prompt mfad sends for a TOTP code.
pub const PROMPT: &str = "Verification code: ";

/// One kind of measured call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `Peer.Ping` to mfad (the floor).
    Ping,
    /// `Begin` alone.
    Begin,
    /// `Begin` + `Answer` with a fresh code.
    Verify,
    /// Connect, check the owner, `Begin` + `Answer`, close: the module's bus work per login.
    VerifyNewConnection,
}

impl Op {
    /// Whether it consumes a fresh code.
    pub fn needs_codes(self) -> bool {
        matches!(self, Op::Verify | Op::VerifyNewConnection)
    }
}

/// A client connection to mfad.
pub struct Client {
    conn: Connection,
    login: LoginProxy<'static>,
    peer: PeerProxy<'static>,
    owner: OwnedUniqueName,
}

async fn owner_of_mfad(conn: &Connection) -> Result<OwnedUniqueName> {
    let bus = DBusProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let name = BusName::try_from(BUS_NAME)?;
    Ok(bus.get_name_owner(name).await?)
}

impl Client {
    /// Connects to `address` and addresses mfad by its unique name, as the module does.
    pub async fn connect(address: &str) -> Result<Client> {
        let conn = zbus::connection::Builder::address(address).build().await?;
        let owner = owner_of_mfad(&conn).await?;
        let login = LoginProxy::builder(&conn)
            .destination(owner.clone())
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let peer = PeerProxy::builder(&conn)
            .destination(owner.clone())
            .path(OBJECT_PATH)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok(Client {
            conn,
            login,
            peer,
            owner,
        })
    }

    /// Closes the connection.
    pub async fn close(self) {
        let Client {
            conn, login, peer, ..
        } = self;
        drop((login, peer));
        let _ = conn.close().await;
    }

    /// `Peer.Ping`.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.peer.ping().await?)
    }

    /// `Begin` for `user`; returns the flow of the code prompt (anything else is an error).
    pub async fn begin(&self, user: &str) -> Result<String> {
        let facts = LoginFacts {
            user: user.to_owned(),
            service: SERVICE.to_owned(),
            ..LoginFacts::default()
        };
        let step = Step::try_from(self.login.begin(&facts).await?).map_err(BenchError::Invalid)?;
        match step.kind {
            StepKind::Prompt { flow, text, .. } if text == PROMPT => Ok(flow),
            other => Err(BenchError::Invalid(format!(
                "Begin for {user} gave {other:?} instead of the code prompt"
            ))),
        }
    }

    /// `Cancel`.
    pub async fn cancel(&self, flow: &str) -> Result<()> {
        Ok(self.login.cancel(flow).await?)
    }

    /// `Begin` + `Answer(code)`; `Ok(true)` when allowed, `Ok(false)` when refused because
    /// the code was not accepted, an error for anything else.
    pub async fn verify(&self, user: &str, code: &str) -> Result<bool> {
        let flow = self.begin(user).await?;
        let step =
            Step::try_from(self.login.answer(&flow, code).await?).map_err(BenchError::Invalid)?;
        match step.kind {
            StepKind::Allow { .. } => Ok(true),
            StepKind::Deny {
                reason: DenyReason::AuthFailed,
                ..
            } => Ok(false),
            other => Err(BenchError::Invalid(format!(
                "Answer for {user} gave {other:?}"
            ))),
        }
    }

    /// Checks, as the module does, that mfad's owner runs as root.
    pub async fn owner_uid(&self) -> Result<u32> {
        let bus = DBusProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok(bus
            .get_connection_unix_user(BusName::from(self.owner.as_ref()))
            .await?)
    }
}

/// Runs one `op`, drawing a code from `users` when it needs one. `Ok(None)`: no fresh code
/// left (nothing was sent).
async fn run_op(
    client: &Client,
    address: &str,
    op: Op,
    users: &mut [BenchUser],
    dealer: &mut Dealer,
) -> Result<Option<Duration>> {
    let code = if op.needs_codes() {
        match dealer.deal(users, now()) {
            Some((i, code)) => Some((users[i].name.clone(), code)),
            None => return Ok(None),
        }
    } else {
        None
    };
    let start = Instant::now();
    match (op, code) {
        (Op::Ping, _) => client.ping().await?,
        (Op::Begin, _) => {
            let user = dealer.next_user(users).map_or("root", |u| u.name.as_str());
            let flow = client.begin(user).await?;
            let elapsed = start.elapsed();
            client.cancel(&flow).await?;
            return Ok(Some(elapsed));
        }
        (Op::Verify, Some((user, code))) => {
            expect_allowed(client.verify(&user, &code).await?, &user)?
        }
        (Op::VerifyNewConnection, Some((user, code))) => {
            let fresh = Client::connect(address).await?;
            if fresh.owner_uid().await? != 0 {
                return Err(BenchError::Invalid("mfad's owner is not root".into()));
            }
            let allowed = fresh.verify(&user, &code).await?;
            fresh.close().await;
            expect_allowed(allowed, &user)?;
        }
        (_, None) => return Ok(None),
    }
    Ok(Some(start.elapsed()))
}

fn expect_allowed(allowed: bool, user: &str) -> Result<()> {
    if allowed {
        Ok(())
    } else {
        Err(BenchError::Invalid(format!(
            "a fresh code for {user} was refused: the benchmark's code bookkeeping is wrong"
        )))
    }
}

/// One client, `ops` interleaved in shuffled blocks: samples per op (same order as `ops`).
pub fn latency(
    address: &str,
    users: &mut [BenchUser],
    ops: &[Op],
    rounds: usize,
    block: usize,
) -> Result<Vec<Vec<Duration>>> {
    let order = interleave(ops.len(), rounds, block)?;
    zbus::block_on(async {
        let client = Client::connect(address).await?;
        let mut dealer = Dealer::random();
        let mut samples = vec![Vec::new(); ops.len()];
        for &k in &order {
            match run_op(&client, address, ops[k], users, &mut dealer).await? {
                Some(d) => samples[k].push(d),
                None => {
                    return Err(BenchError::Setup(format!(
                        "no fresh code left for {:?} after {} samples",
                        ops[k],
                        samples[k].len()
                    )));
                }
            }
        }
        client.close().await;
        Ok(samples)
    })
}

/// Calls per second with `clients` concurrent clients.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// The call.
    pub op: Op,
    /// Concurrent clients (threads, each with its own connection).
    pub clients: usize,
    /// Calls completed.
    pub calls: u64,
    /// Wall time from the first client's start to the last one's end.
    pub seconds: f64,
    /// `calls / seconds`.
    pub per_second: f64,
    /// Latency of those calls under this load.
    pub latency: Summary,
    /// Clients that ran out of fresh codes before the end (the rate is then a lower bound).
    pub exhausted: usize,
}

struct ClientRun {
    calls: u64,
    started: Instant,
    ended: Instant,
    samples: Vec<Duration>,
    exhausted: bool,
}

/// `clients` threads run `op` back to back for `duration`, each on its own connection and
/// its own slice of `users`.
pub fn throughput(
    address: &str,
    users: &mut [BenchUser],
    op: Op,
    clients: usize,
    duration: Duration,
) -> Result<Throughput> {
    let per_client = users.len().div_ceil(clients).max(1);
    let mut slices: Vec<&mut [BenchUser]> = if op.needs_codes() {
        users.chunks_mut(per_client).collect()
    } else {
        Vec::new()
    };
    slices.resize_with(clients, || &mut []);
    let barrier = Barrier::new(clients);
    let runs: Vec<Result<ClientRun>> = thread::scope(|s| {
        let handles: Vec<_> = slices
            .into_iter()
            .map(|mine| {
                let barrier = &barrier;
                s.spawn(move || client_thread(address, op, mine, barrier, duration))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::Invalid("a client thread panicked".into())))
            })
            .collect()
    });
    let runs: Vec<ClientRun> = runs.into_iter().collect::<Result<_>>()?;
    let first = runs.iter().map(|r| r.started).min();
    let last = runs.iter().map(|r| r.ended).max();
    let seconds = match (first, last) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let calls: u64 = runs.iter().map(|r| r.calls).sum();
    let samples: Vec<Duration> = runs
        .iter()
        .flat_map(|r| r.samples.iter().copied())
        .collect();
    Ok(Throughput {
        op,
        clients,
        calls,
        seconds,
        per_second: if seconds > 0.0 {
            calls as f64 / seconds
        } else {
            0.0
        },
        latency: Summary::of(&samples),
        exhausted: runs.iter().filter(|r| r.exhausted).count(),
    })
}

fn client_thread(
    address: &str,
    op: Op,
    users: &mut [BenchUser],
    barrier: &Barrier,
    duration: Duration,
) -> Result<ClientRun> {
    zbus::block_on(async {
        // Connect before the barrier, so that set-up is not counted; a failed connect still
        // reaches the barrier, or the others would wait forever.
        let client = Client::connect(address).await;
        barrier.wait();
        let client = client?;
        let mut dealer = Dealer::random();
        let started = Instant::now();
        let mut run = ClientRun {
            calls: 0,
            started,
            ended: started,
            samples: Vec::new(),
            exhausted: false,
        };
        while started.elapsed() < duration {
            match run_op(&client, address, op, users, &mut dealer).await? {
                Some(d) => {
                    run.calls += 1;
                    run.samples.push(d);
                }
                None => {
                    run.exhausted = true;
                    break;
                }
            }
        }
        run.ended = Instant::now();
        client.close().await;
        Ok(run)
    })
}
