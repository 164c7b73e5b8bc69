//! The relay server: admits members (signed hello over a relay challenge, membership
//! credential checked against a trusted directory and its status list), pairs clients with
//! a data connection the target node dials on request, then only copies bytes.
//!
//! The relay never terminates TLS and never parses what it copies: after pairing, each
//! direction is a loop over one fixed buffer (read, wait for the node's byte budget, write
//! everything, read again), so nothing beyond the bytes in flight is ever held and a slow
//! reader slows its writer down. Nothing is written to disk.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tanso_core::crypto::{self, NodeKey};
use tanso_core::directory::{DirectoryCard, MembershipCredential, StatusList};

use crate::home::{RelayConfig, RelayHome};
use crate::metrics::{GaugeGuard, Refusal, RelayMetrics};
use tanso_core::relay::RelayError;
use tanso_core::relay::protocol::{self, Message, ProtocolError, RelayCard};

/// How long a new connection may take to send its first frame (and a node its proof).
const PREAMBLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client waits for the target node to dial its data connection.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
pub use tanso_core::relay::protocol::PING_INTERVAL;
/// The copy buffer of each direction of a session: the most a session holds in flight.
const COPY_BUFFER: usize = 32 * 1024;
/// How many bytes of each direction the test tap records.
const TAP_BYTES: usize = 64 * 1024;
/// Environment variable naming a directory where the relay records the first bytes of each
/// direction of every session. A test hook: nothing is recorded unless it is set.
pub const TAP_ENV: &str = "TANSO_RELAY_TAP_DIR";

/// A relay: its key, limits, trusted directories and the members currently registered.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    config: RelayConfig,
    key: NodeKey,
    endpoint: RwLock<String>,
    directories: RwLock<Vec<DirectoryCard>>,
    status: RwLock<HashMap<String, StatusList>>,
    nodes: Mutex<HashMap<String, Registration>>,
    limits: Mutex<HashMap<String, Arc<NodeLimits>>>,
    pending: Mutex<HashMap<String, Pending>>,
    next_id: AtomicU64,
    tap: Option<PathBuf>,
    registered: tokio::sync::Notify,
    metrics: RelayMetrics,
    bound: AtomicBool,
    /// The clock credentials are checked at (see [`tanso_core::clock`]).
    clock: tanso_core::clock::Clock,
}

/// A member's live control connection.
struct Registration {
    id: u64,
    association_id: String,
    dial: mpsc::Sender<String>,
    kick: CancellationToken,
}

/// Per-node limits, kept across reconnections of the node.
struct NodeLimits {
    sessions: Arc<Semaphore>,
    bucket: Bucket,
}

/// A client waiting for its data connection.
struct Pending {
    company_id: String,
    deliver: oneshot::Sender<TcpStream>,
}

impl Relay {
    /// Opens a relay home: config, key and trusted directory cards. `tap` is the test hook.
    pub fn open(home: &RelayHome, tap: Option<PathBuf>) -> Result<Relay, RelayError> {
        let config = home.load_config()?;
        let key = home.load_key()?;
        let mut directories = Vec::new();
        for (path, text) in home.directory_card_texts()? {
            let card = DirectoryCard::parse(&text).map_err(|e| RelayError::Directory {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            directories.push(card);
        }
        let endpoint = config
            .advertise
            .clone()
            .unwrap_or_else(|| config.listen.to_string());
        Ok(Relay {
            inner: Arc::new(Inner {
                config,
                key,
                endpoint: RwLock::new(endpoint),
                directories: RwLock::new(directories),
                status: RwLock::new(HashMap::new()),
                nodes: Mutex::new(HashMap::new()),
                limits: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                tap,
                registered: tokio::sync::Notify::new(),
                metrics: RelayMetrics::new(),
                bound: AtomicBool::new(false),
                clock: tanso_core::clock::Clock::default(),
            }),
        })
    }

    pub fn config(&self) -> &RelayConfig {
        &self.inner.config
    }

    /// The relay's clock; tests advance it.
    pub fn clock(&self) -> &tanso_core::clock::Clock {
        &self.inner.clock
    }

    /// The relay's counters and gauges (served by [`tanso_core::metrics::serve`]).
    pub fn metrics(&self) -> &RelayMetrics {
        &self.inner.metrics
    }

    /// Why the relay is not ready yet: its port is not bound, or a trusted directory's
    /// status list has not arrived (until it has, revocations of that directory are unknown).
    pub fn unready_reason(&self) -> Option<String> {
        if !self.inner.bound.load(Ordering::Relaxed) {
            return Some("relay port not bound".into());
        }
        let status = read_lock(&self.inner.status);
        read_lock(&self.inner.directories)
            .iter()
            .find(|d| !status.contains_key(&d.association_id))
            .map(|d| format!("waiting for the status list of {}", d.association_id))
    }

    fn count_registered(&self, nodes: &HashMap<String, Registration>) {
        self.inner
            .metrics
            .registered
            .set(i64::try_from(nodes.len()).unwrap_or(i64::MAX));
    }

    /// The relay's signed card.
    pub fn card(&self) -> Result<RelayCard, RelayError> {
        let endpoint = read_lock(&self.inner.endpoint).clone();
        Ok(RelayCard::issue(
            &self.inner.key,
            &self.inner.config.name,
            &endpoint,
        )?)
    }

    /// Sets the advertised endpoint to the bound address (unless `advertise` is configured).
    pub fn set_bound_endpoint(&self, addr: SocketAddr) {
        if self.inner.config.advertise.is_none() {
            *write_lock(&self.inner.endpoint) = addr.to_string();
        }
    }

    /// The trusted directories.
    pub fn directories(&self) -> Vec<DirectoryCard> {
        read_lock(&self.inner.directories).clone()
    }

    /// Whether `company_id` is registered right now.
    pub fn is_registered(&self, company_id: &str) -> bool {
        lock(&self.inner.nodes).contains_key(&company_id.to_ascii_lowercase())
    }

    /// Waits until `company_id` is registered (or `timeout` passes); for tests and the demo.
    pub async fn wait_registered(&self, company_id: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.registered.notified();
            if self.is_registered(company_id) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_registered(company_id);
            }
        }
    }

    /// Takes a directory's status list (verified against the trusted card) and disconnects
    /// every registered member it revokes.
    pub fn apply_status_list(&self, list: StatusList) -> Result<(), RelayError> {
        let directory = self
            .directories()
            .into_iter()
            .find(|d| d.association_id == list.association_id)
            .ok_or_else(|| {
                RelayError::Refused(format!(
                    "status list of {} is from a directory this relay does not trust",
                    list.association_id
                ))
            })?;
        list.verify(&directory)
            .map_err(|e| RelayError::Refused(format!("status list: {e}")))?;
        {
            let mut status = write_lock(&self.inner.status);
            if let Some(current) = status.get(&list.association_id)
                && current.serial > list.serial
            {
                return Ok(());
            }
            status.insert(list.association_id.clone(), list.clone());
        }
        let mut nodes = lock(&self.inner.nodes);
        nodes.retain(|company, registration| {
            let revoked =
                registration.association_id == list.association_id && list.is_revoked(company);
            if revoked {
                tracing::warn!(company = %company, "member revoked: disconnected");
                registration.kick.cancel();
            }
            !revoked
        });
        self.count_registered(&nodes);
        Ok(())
    }

    /// Follows one trusted directory's status list (the Watch stream pushes every change;
    /// reconnects with capped backoff while the directory is down, keeping the last list).
    async fn watch_status(self, directory: DirectoryCard, cancel: CancellationToken) {
        let mut retries = tanso_core::directory::client::STATUS_WATCH.start();
        loop {
            let outcome = match tanso_core::directory::DirectoryClient::connect_lazy(&directory) {
                Err(e) => Err(e.to_string()),
                Ok(client) => {
                    let mut client = client.with_clock(&self.inner.clock);
                    let relay = self.clone();
                    let watch = client.watch(|list| {
                        retries.reset();
                        if let Err(e) = relay.apply_status_list(list) {
                            tracing::warn!(error = %e, "status list not applied");
                        }
                    });
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        r = watch => r.map_err(|e| e.to_string()),
                    }
                }
            };
            if let Err(reason) = outcome {
                tracing::debug!(directory = %directory.association_id, %reason, "status watch ended");
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(retries.wait().min(self.inner.config.status_refresh)) => {}
            }
        }
    }

    /// Checks a membership credential: issued by a trusted directory, valid now, not revoked.
    fn admit(&self, credential_text: &str) -> Result<MembershipCredential, String> {
        let credential = MembershipCredential::parse(credential_text)
            .map_err(|e| format!("membership credential: {e}"))?;
        let directory = self
            .directories()
            .into_iter()
            .find(|d| d.association_id == credential.association_id)
            .ok_or_else(|| {
                format!(
                    "membership credential of {} is issued by {}, a directory this relay does not trust",
                    credential.company_id, credential.association_id
                )
            })?;
        credential
            .verify(&directory, self.inner.clock.now())
            .map_err(|e| format!("membership credential: {e}"))?;
        if let Some(list) = read_lock(&self.inner.status).get(&credential.association_id)
            && list.is_revoked(&credential.company_id)
        {
            return Err(format!(
                "{} is revoked by {}",
                credential.company_id, credential.association_id
            ));
        }
        Ok(credential)
    }

    fn limits_for(&self, company: &str) -> Arc<NodeLimits> {
        let mut limits = lock(&self.inner.limits);
        limits
            .entry(company.to_string())
            .or_insert_with(|| {
                Arc::new(NodeLimits {
                    sessions: Arc::new(Semaphore::new(self.inner.config.max_sessions_per_node)),
                    bucket: Bucket::new(self.inner.config.max_bytes_per_sec_per_node),
                })
            })
            .clone()
    }

    /// Serves relay connections on `listener` until `shutdown` completes; then every
    /// connection is closed at once (relayed requests fail promptly and clients retry).
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RelayError> {
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let connections = Arc::new(Semaphore::new(self.inner.config.max_connections));
        if let Ok(addr) = listener.local_addr() {
            self.set_bound_endpoint(addr);
        }
        tracing::info!(
            addr = ?listener.local_addr().ok(),
            key_id = self.inner.key.key_id(),
            directories = read_lock(&self.inner.directories).len(),
            tap = self.inner.tap.is_some(),
            "relay serving"
        );
        for directory in self.directories() {
            tasks.spawn(self.clone().watch_status(directory, cancel.clone()));
        }
        self.inner.bound.store(true, Ordering::Relaxed);
        tokio::pin!(shutdown);
        let mut retries = tanso_core::conn::ACCEPT_RETRY.start();
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                a = listener.accept() => a,
            };
            let (tcp, peer) = match accepted {
                Ok(ok) => {
                    retries.reset();
                    ok
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(retries.wait()).await;
                    continue;
                }
            };
            // Over the connection cap, new connections are closed at once rather than left
            // in the backlog, so a flood cannot hold the accept path.
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "connection cap reached: closed");
                self.inner.metrics.refused(Refusal::ConnectionCap);
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let relay = self.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                let open = GaugeGuard::new(&relay.inner.metrics.connections);
                relay.connection(tcp, peer, cancel).await;
                drop(open);
                drop(permit);
            });
        }
        self.inner.bound.store(false, Ordering::Relaxed);
        cancel.cancel();
        tasks.close();
        tasks.wait().await;
        tracing::info!("relay stopped");
        Ok(())
    }

    async fn connection(&self, mut tcp: TcpStream, peer: SocketAddr, cancel: CancellationToken) {
        let first =
            match tokio::time::timeout(PREAMBLE_TIMEOUT, protocol::read_frame(&mut tcp)).await {
                Err(_) => {
                    tracing::debug!(%peer, "no frame in time: closed");
                    self.inner.metrics.refused(Refusal::BadFrame);
                    return;
                }
                Ok(Err(ProtocolError::Closed)) => return,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "bad first frame");
                    self.inner.metrics.refused(Refusal::BadFrame);
                    refuse(&mut tcp, &e.to_string()).await;
                    return;
                }
                Ok(Ok(message)) => message,
            };
        match first {
            Message::Register { credential, nonce } => {
                self.control(tcp, peer, &credential, &nonce, cancel).await
            }
            Message::Data {
                company_id,
                session,
            } => self.data(tcp, &company_id, &session).await,
            Message::Connect { target } => self.client(tcp, peer, &target, cancel).await,
            other => {
                let reason = format!("expected register, data or connect, got {}", other.name());
                self.inner.metrics.refused(Refusal::BadFrame);
                refuse(&mut tcp, &reason).await;
            }
        }
    }

    /// A member's control connection: challenge, proof, then dial requests until it closes.
    async fn control(
        &self,
        mut tcp: TcpStream,
        peer: SocketAddr,
        credential_text: &str,
        node_nonce: &str,
        cancel: CancellationToken,
    ) {
        let credential = match self.admit(credential_text) {
            Ok(c) => c,
            Err(reason) => {
                tracing::warn!(%peer, %reason, "registration refused");
                self.inner.metrics.refused(Refusal::Registration);
                refuse(&mut tcp, &reason).await;
                return;
            }
        };
        let company = credential.company_id.to_ascii_lowercase();
        let Ok(relay_nonce) = protocol::nonce() else {
            return;
        };
        let signature = self.inner.key.sign(
            protocol::DOMAIN_RELAY_CHALLENGE,
            &protocol::challenge_bytes(node_nonce, &relay_nonce),
        );
        let challenge = Message::Challenge {
            nonce: relay_nonce.clone(),
            relay_key_id: self.inner.key.key_id().to_string(),
            signature: protocol::encode_signature(&signature),
        };
        if protocol::write_frame(&mut tcp, &challenge).await.is_err() {
            return;
        }
        let proof =
            match tokio::time::timeout(PREAMBLE_TIMEOUT, protocol::read_frame(&mut tcp)).await {
                Ok(Ok(Message::Proof { signature })) => signature,
                _ => {
                    self.inner.metrics.refused(Refusal::Registration);
                    refuse(&mut tcp, "expected a proof in time").await;
                    return;
                }
            };
        let verified = credential
            .verifying_key()
            .map_err(|e| e.to_string())
            .and_then(|key| {
                let signature = protocol::decode_signature(&proof).map_err(|e| e.to_string())?;
                crypto::verify(
                    &key,
                    protocol::DOMAIN_RELAY_REGISTER,
                    &protocol::register_bytes(
                        self.inner.key.key_id(),
                        &relay_nonce,
                        &credential.company_id,
                    ),
                    &signature,
                )
                .map_err(|e| e.to_string())
            });
        if let Err(reason) = verified {
            tracing::warn!(%peer, company = %company, %reason, "registration proof refused");
            self.inner.metrics.refused(Refusal::Registration);
            refuse(
                &mut tcp,
                &format!("proof is not signed by the credential's key: {reason}"),
            )
            .await;
            return;
        }

        let (dial, mut dials) = mpsc::channel::<String>(64);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let kick = cancel.child_token();
        {
            let mut nodes = lock(&self.inner.nodes);
            // A newer registration of the same member replaces the old one.
            if let Some(old) = nodes.insert(
                company.clone(),
                Registration {
                    id,
                    association_id: credential.association_id.clone(),
                    dial,
                    kick: kick.clone(),
                },
            ) {
                old.kick.cancel();
            }
            self.count_registered(&nodes);
        }
        let registered = Message::Registered {
            company_id: credential.company_id.clone(),
        };
        if protocol::write_frame(&mut tcp, &registered).await.is_ok() {
            tracing::info!(company = %company, %peer, "member registered");
            self.inner.registered.notify_waiters();
            let (mut reader, mut writer) = tcp.into_split();
            // The node sends nothing after its proof: any byte or the end of the stream
            // ends the registration.
            let closed = async move {
                let mut byte = [0u8; 1];
                let _ = reader.read(&mut byte).await;
            };
            tokio::pin!(closed);
            let mut ping = tokio::time::interval(PING_INTERVAL);
            ping.tick().await;
            loop {
                let message = tokio::select! {
                    () = kick.cancelled() => break,
                    () = &mut closed => break,
                    session = dials.recv() => match session {
                        Some(session) => Message::Dial { session },
                        None => break,
                    },
                    _ = ping.tick() => Message::Ping,
                };
                if protocol::write_frame(&mut writer, &message).await.is_err() {
                    break;
                }
            }
        }
        let mut nodes = lock(&self.inner.nodes);
        if nodes.get(&company).is_some_and(|r| r.id == id) {
            nodes.remove(&company);
            self.count_registered(&nodes);
            tracing::info!(company = %company, "member disconnected");
        }
    }

    /// A node's data connection answering a dial request: handed to the waiting client.
    async fn data(&self, mut tcp: TcpStream, company_id: &str, session: &str) {
        let pending = lock(&self.inner.pending).remove(session);
        match pending {
            Some(p) if p.company_id.eq_ignore_ascii_case(company_id) => {
                let _ = p.deliver.send(tcp);
            }
            _ => refuse(&mut tcp, "unknown or expired session").await,
        }
    }

    /// A client connection: pair it with a data connection of `target`, then copy bytes.
    async fn client(
        &self,
        mut tcp: TcpStream,
        peer: SocketAddr,
        target: &str,
        cancel: CancellationToken,
    ) {
        let company = target.to_ascii_lowercase();
        let registration = lock(&self.inner.nodes)
            .get(&company)
            .map(|r| (r.dial.clone(), r.kick.clone()));
        let Some((dial, kick)) = registration else {
            self.inner.metrics.refused(Refusal::NotConnected);
            refuse(
                &mut tcp,
                &format!("{target} is not connected to this relay"),
            )
            .await;
            return;
        };
        let limits = self.limits_for(&company);
        let Ok(permit) = limits.sessions.clone().try_acquire_owned() else {
            tracing::warn!(%peer, company = %company, "session limit reached");
            self.inner.metrics.refused(Refusal::SessionLimit);
            refuse(
                &mut tcp,
                &format!(
                    "{target} has reached its limit of {} relayed sessions",
                    self.inner.config.max_sessions_per_node
                ),
            )
            .await;
            return;
        };
        let Ok(session) = protocol::nonce() else {
            return;
        };
        let (deliver, delivered) = oneshot::channel();
        lock(&self.inner.pending).insert(
            session.clone(),
            Pending {
                company_id: company.clone(),
                deliver,
            },
        );
        if dial.try_send(session.clone()).is_err() {
            lock(&self.inner.pending).remove(&session);
            self.inner.metrics.refused(Refusal::NoAnswer);
            refuse(&mut tcp, &format!("{target} is busy")).await;
            return;
        }
        let data = tokio::select! {
            () = cancel.cancelled() => None,
            d = tokio::time::timeout(DIAL_TIMEOUT, delivered) => d.ok().and_then(Result::ok),
        };
        let Some(data) = data else {
            lock(&self.inner.pending).remove(&session);
            self.inner.metrics.refused(Refusal::NoAnswer);
            refuse(&mut tcp, &format!("{target} did not answer in time")).await;
            return;
        };
        if protocol::write_frame(&mut tcp, &Message::Paired)
            .await
            .is_err()
        {
            return;
        }
        let session_id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let open = self.inner.metrics.session();
        tracing::debug!(%peer, company = %company, session = session_id, "paired");
        let taps = self.inner.tap.as_ref().map(|dir| {
            (
                Tap::open(dir.join(format!("{session_id}-client-to-node.bin"))),
                Tap::open(dir.join(format!("{session_id}-node-to-client.bin"))),
            )
        });
        let (tap_up, tap_down) = match taps {
            Some((a, b)) => (a, b),
            None => (None, None),
        };
        let (client_read, client_write) = tcp.into_split();
        let (node_read, node_write) = data.into_split();
        let metrics = &self.inner.metrics;
        let up = copy(
            client_read,
            node_write,
            &limits.bucket,
            &metrics.to_node,
            tap_up,
        );
        let down = copy(
            node_read,
            client_write,
            &limits.bucket,
            &metrics.to_client,
            tap_down,
        );
        tokio::select! {
            () = kick.cancelled() => {}
            () = cancel.cancelled() => {}
            r = async { tokio::try_join!(up, down) } => {
                if let Err(e) = r {
                    tracing::debug!(session = session_id, error = %e, "session ended");
                }
            }
        }
        drop(open);
        drop(permit);
    }
}

/// Copies one direction through one fixed buffer: read, wait for the byte budget, write all.
async fn copy<R, W>(
    mut reader: R,
    mut writer: W,
    bucket: &Bucket,
    copied: &prometheus_client::metrics::counter::Counter,
    mut tap: Option<Tap>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; COPY_BUFFER];
    loop {
        let n = reader.read(&mut buffer).await?;
        if n == 0 {
            let _ = writer.shutdown().await;
            return Ok(());
        }
        bucket.take(n).await;
        copied.inc_by(n as u64);
        if let Some(t) = tap.as_mut() {
            t.record(&buffer[..n]);
        }
        writer.write_all(&buffer[..n]).await?;
    }
}

/// Tells a connection why it is refused, then the caller drops it.
async fn refuse(tcp: &mut TcpStream, reason: &str) {
    let message = Message::Refused {
        reason: reason.to_string(),
    };
    let _ =
        tokio::time::timeout(Duration::from_secs(1), protocol::write_frame(tcp, &message)).await;
}

/// A byte budget per second, shared by every session of one node. Takes may go into debt;
/// the taker then waits until the debt is paid back, which slows the copy down.
struct Bucket {
    rate: u64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        Bucket {
            rate,
            state: Mutex::new((rate as f64, Instant::now())),
        }
    }

    async fn take(&self, n: usize) {
        if self.rate == 0 {
            return;
        }
        let wait = {
            let mut state = lock(&self.state);
            let now = Instant::now();
            let rate = self.rate as f64;
            let refill = now.duration_since(state.1).as_secs_f64() * rate;
            state.0 = (state.0 + refill).min(rate);
            state.1 = now;
            state.0 -= n as f64;
            (state.0 < 0.0).then(|| Duration::from_secs_f64(-state.0 / rate))
        };
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The test hook: the first bytes of one direction of one session, appended to a file.
struct Tap {
    file: std::fs::File,
    left: usize,
}

impl Tap {
    fn open(path: PathBuf) -> Option<Tap> {
        match std::fs::File::create(&path) {
            Ok(file) => Some(Tap {
                file,
                left: TAP_BYTES,
            }),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "tap file");
                None
            }
        }
    }

    fn record(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.left);
        if n > 0 && self.file.write_all(&bytes[..n]).is_ok() {
            self.left -= n;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
fn read_lock<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}
fn write_lock<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}
