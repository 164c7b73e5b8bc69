//! The node side of a relay: a registered control connection kept open with jittered,
//! capped backoff, and one data connection dialled per relayed session and handed to the
//! node's TLS accept path (the same one direct connections take).
//!
//! A node uses a relay when its home holds `relay/card.json` (`tanso relay use`). It
//! registers with its membership credential: `relay/credential.json` when present, else
//! the one its trusted directory issued (`tanso directory join`).

use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::Backoff;
use crate::crypto;
use crate::directory::MembershipCredential;
use crate::home::Home;
use crate::node::Node;

use super::RelayError;
use super::protocol::{self, Message, ProtocolError, RelayCard};

/// Waits between registration attempts: 200 ms doubling to 10 s, ±20 % jitter so nodes a
/// relay restart disconnected do not all come back at once.
const RECONNECT: Backoff =
    Backoff::new(Duration::from_millis(200), Duration::from_secs(10)).jittered();
/// How long connecting, and each write and read of registration and dialling, may take: a
/// relay that accepts and stays silent costs a registration attempt this long, then backoff.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a node keeps the card of the relay it uses.
pub fn card_path(home: &Home) -> PathBuf {
    home.dir.join("relay").join("card.json")
}

/// Where a node keeps the membership credential it registers with.
pub fn credential_path(home: &Home) -> PathBuf {
    home.dir.join("relay").join("credential.json")
}

/// The relay this node uses, if any.
pub fn relay_card(home: &Home) -> Result<Option<RelayCard>, RelayError> {
    let path = card_path(home);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(RelayCard::parse(&text)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RelayError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// `tanso relay use`: checks the relay card (and the credential, which must name this
/// node's company and key) and stores them in the home. Takes effect at the next `serve`.
pub fn use_relay(
    home: &Home,
    company_id: &str,
    key_id: &str,
    card_text: &str,
    credential_text: Option<&str>,
) -> Result<RelayCard, RelayError> {
    let card = RelayCard::parse(card_text)?;
    if let Some(text) = credential_text {
        let credential = MembershipCredential::parse(text)
            .map_err(|e| RelayError::NoCredential(e.to_string()))?;
        if !credential.company_id.eq_ignore_ascii_case(company_id) || credential.key_id != key_id {
            return Err(RelayError::NoCredential(format!(
                "the credential is for {} (key {}), not this node {company_id} (key {key_id})",
                credential.company_id, credential.key_id
            )));
        }
    }
    let dir = home.dir.join("relay");
    std::fs::create_dir_all(&dir).map_err(|source| RelayError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let write = |path: PathBuf, text: &str| {
        crate::home::write_atomic(&path, text.as_bytes(), 0o644).map_err(|e| RelayError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })
    };
    if let Some(text) = credential_text {
        write(credential_path(home), text)?;
    }
    let json = serde_json::to_string_pretty(&card).map_err(|e| RelayError::Key(e.to_string()))?;
    write(card_path(home), &json)?;
    Ok(card)
}

/// The credential the node registers with: `relay/credential.json` when `tanso relay use`
/// was given one, else the newest credential a trusted directory issued to this node.
fn credential_text(node: &Node) -> Result<String, RelayError> {
    let path = credential_path(node.home());
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(RelayError::NoCredential(format!("{}: {e}", path.display())));
        }
    }
    let trusted = node
        .directories()
        .trusted(node)
        .map_err(|e| RelayError::NoCredential(e.to_string()))?;
    let newest = trusted
        .into_iter()
        .filter_map(|d| d.credential)
        .filter(|c| c.key_id == node.key().key_id())
        .max_by(|a, b| a.issued_at.cmp(&b.issued_at));
    match newest {
        Some(credential) => {
            serde_json::to_string(&credential).map_err(|e| RelayError::NoCredential(e.to_string()))
        }
        None => Err(RelayError::NoCredential(
            "no directory has approved this node yet (`tanso directory join`), and no \
             --credential was given to `tanso relay use`"
                .into(),
        )),
    }
}

/// Spawns the keeper: relayed sessions arrive on the returned receiver as TCP streams
/// positioned at the client's first TLS byte.
pub fn spawn(
    tasks: &TaskTracker,
    node: Node,
    card: RelayCard,
    cancel: CancellationToken,
) -> mpsc::Receiver<TcpStream> {
    let (relayed, incoming) = mpsc::channel(64);
    spawn_into(tasks, node, card, cancel, relayed);
    incoming
}

/// [`spawn`], handing relayed sessions to `relayed` (a host's tenants share one accept path).
pub fn spawn_into(
    tasks: &TaskTracker,
    node: Node,
    card: RelayCard,
    cancel: CancellationToken,
    relayed: mpsc::Sender<TcpStream>,
) {
    let inner_tasks = tasks.clone();
    tasks.spawn(async move {
        let mut retries = RECONNECT.start();
        loop {
            let outcome = tokio::select! {
                () = cancel.cancelled() => return,
                o = session(&node, &card, &relayed, &inner_tasks, &cancel) => o,
            };
            if cancel.is_cancelled() {
                return;
            }
            match outcome {
                Ok(()) => {
                    // Registered, then lost: start again from the shortest wait.
                    retries.reset();
                    tracing::warn!(relay = %card.endpoint, "relay connection lost; reconnecting");
                }
                Err(e) => {
                    tracing::warn!(relay = %card.endpoint, error = %e, "relay registration failed");
                }
            }
            let wait = retries.wait();
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// One registration: returns `Ok` once a registered connection is lost, `Err` when
/// registration itself failed.
async fn session(
    node: &Node,
    card: &RelayCard,
    relayed: &mpsc::Sender<TcpStream>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> Result<(), RelayError> {
    let credential = credential_text(node)?;
    let relay_key = card.verifying_key()?;
    let mut tcp = step(TcpStream::connect(&card.endpoint))
        .await?
        .map_err(ProtocolError::Io)?;
    tcp.set_nodelay(true).map_err(ProtocolError::Io)?;
    let node_nonce = protocol::nonce()?;
    step(protocol::write_frame(
        &mut tcp,
        &Message::Register {
            credential,
            nonce: node_nonce.clone(),
        },
    ))
    .await??;
    let (relay_nonce, relay_key_id, signature) =
        match step(protocol::read_frame(&mut tcp)).await?? {
            Message::Challenge {
                nonce,
                relay_key_id,
                signature,
            } => (nonce, relay_key_id, signature),
            Message::Refused { reason } => return Err(ProtocolError::Refused(reason).into()),
            other => {
                return Err(ProtocolError::Unexpected {
                    expected: "challenge",
                    got: other.name(),
                }
                .into());
            }
        };
    // The relay must prove it holds the key of the card we pinned.
    if relay_key_id != card.key_id {
        return Err(RelayError::Refused(format!(
            "relay answered with key {relay_key_id}, not {} of its card",
            card.key_id
        )));
    }
    crypto::verify(
        &relay_key,
        protocol::DOMAIN_RELAY_CHALLENGE,
        &protocol::challenge_bytes(&node_nonce, &relay_nonce),
        &protocol::decode_signature(&signature)?,
    )
    .map_err(|e| RelayError::Refused(format!("relay challenge signature: {e}")))?;
    let proof = node.key().sign(
        protocol::DOMAIN_RELAY_REGISTER,
        &protocol::register_bytes(&relay_key_id, &relay_nonce, node.company_id()),
    );
    step(protocol::write_frame(
        &mut tcp,
        &Message::Proof {
            signature: protocol::encode_signature(&proof),
        },
    ))
    .await??;
    match step(protocol::read_frame(&mut tcp)).await?? {
        Message::Registered { .. } => {}
        Message::Refused { reason } => return Err(ProtocolError::Refused(reason).into()),
        other => {
            return Err(ProtocolError::Unexpected {
                expected: "registered",
                got: other.name(),
            }
            .into());
        }
    }
    tracing::info!(relay = %card.endpoint, "registered with relay");

    // Registered: answer dial requests until the relay goes away or falls silent.
    loop {
        let frame = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            f = tokio::time::timeout(protocol::PING_INTERVAL * 3, protocol::read_frame(&mut tcp)) => f,
        };
        match frame {
            Err(_) => {
                tracing::warn!(relay = %card.endpoint, "relay silent; reconnecting");
                return Ok(());
            }
            Ok(Err(_)) => return Ok(()),
            Ok(Ok(Message::Ping)) => {}
            Ok(Ok(Message::Dial { session })) => {
                let endpoint = card.endpoint.clone();
                let company_id = node.company_id().to_string();
                let relayed = relayed.clone();
                tasks.spawn(async move {
                    match dial(&endpoint, &company_id, &session).await {
                        Ok(tcp) => {
                            let _ = relayed.send(tcp).await;
                        }
                        Err(e) => {
                            tracing::warn!(relay = %endpoint, error = %e, "relay data dial failed")
                        }
                    }
                });
            }
            Ok(Ok(other)) => {
                tracing::warn!(relay = %card.endpoint, got = other.name(), "unexpected relay frame");
                return Ok(());
            }
        }
    }
}

async fn dial(endpoint: &str, company_id: &str, session: &str) -> Result<TcpStream, ProtocolError> {
    let mut tcp = step(TcpStream::connect(endpoint)).await??;
    tcp.set_nodelay(true)?;
    step(protocol::write_frame(
        &mut tcp,
        &Message::Data {
            company_id: company_id.to_string(),
            session: session.to_string(),
        },
    ))
    .await??;
    Ok(tcp)
}

async fn step<T>(future: impl std::future::Future<Output = T>) -> Result<T, ProtocolError> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| {
            ProtocolError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "relay step timed out",
            ))
        })
}
