//! The relay wire protocol: length-prefixed JSON frames exchanged before a connection is
//! paired, the signatures of registration, and the self-signed relay card.
//!
//! Every connection to a relay opens with frames (`TNSR`, a big-endian u16 length, then JSON).
//! Once a client connection is paired with a node's data connection, no frame is ever sent
//! again on either: from then on the relay only copies bytes, which are the two nodes' TLS
//! records. Frames are read with exact reads, so no byte past the last frame is consumed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::crypto::{self, CryptoError, NodeKey};

/// First bytes of every frame.
pub const MAGIC: &[u8; 4] = b"TNSR";
/// Largest frame body accepted (a membership credential fits many times over).
pub const MAX_FRAME: usize = 16 * 1024;
/// Domain of the relay's signature over a registration challenge.
pub const DOMAIN_RELAY_CHALLENGE: &str = "tanso/v1/relay/challenge";
/// Domain of a node's signature proving it holds its key at registration.
pub const DOMAIN_RELAY_REGISTER: &str = "tanso/v1/relay/register";
/// Domain of a relay card signature.
pub const DOMAIN_RELAY_CARD: &str = "tanso/v1/relay/card";

/// Errors of the relay protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("connection closed")]
    Closed,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a tanso relay frame (bad magic bytes)")]
    BadMagic,
    #[error("frame of {0} bytes is larger than the {MAX_FRAME} byte limit")]
    TooLarge(usize),
    #[error("frame is not a valid relay message: {0}")]
    Json(String),
    #[error("expected {expected}, got {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("refused by the relay: {0}")]
    Refused(String),
    #[error("relay card field {field}: {reason}")]
    Card { field: &'static str, reason: String },
    #[error("signature: {0}")]
    Signature(#[from] CryptoError),
}

/// One frame's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Message {
    /// Node → relay, first frame of a control connection: its membership credential (JSON)
    /// and a fresh nonce the relay must sign.
    #[serde(rename_all = "camelCase")]
    Register { credential: String, nonce: String },
    /// Relay → node: the relay's nonce, and the relay's signature over both nonces.
    #[serde(rename_all = "camelCase")]
    Challenge {
        nonce: String,
        relay_key_id: String,
        signature: String,
    },
    /// Node → relay: the node key's signature over the registration bytes.
    #[serde(rename_all = "camelCase")]
    Proof { signature: String },
    /// Relay → node: registered; the node is now reachable through the relay.
    #[serde(rename_all = "camelCase")]
    Registered { company_id: String },
    /// Relay → anyone: why the connection is refused (then the relay closes it).
    #[serde(rename_all = "camelCase")]
    Refused { reason: String },
    /// Relay → node (control connection): dial a data connection for this session.
    #[serde(rename_all = "camelCase")]
    Dial { session: String },
    /// Relay → node (control connection): liveness; nothing to answer.
    Ping,
    /// Node → relay, first frame of a data connection answering a `Dial`.
    #[serde(rename_all = "camelCase")]
    Data { company_id: String, session: String },
    /// Client → relay, first frame of a client connection: the company to reach.
    #[serde(rename_all = "camelCase")]
    Connect { target: String },
    /// Relay → client: paired; the next bytes are the target node's.
    Paired,
}

impl Message {
    /// The message's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Register { .. } => "register",
            Message::Challenge { .. } => "challenge",
            Message::Proof { .. } => "proof",
            Message::Registered { .. } => "registered",
            Message::Refused { .. } => "refused",
            Message::Dial { .. } => "dial",
            Message::Ping => "ping",
            Message::Data { .. } => "data",
            Message::Connect { .. } => "connect",
            Message::Paired => "paired",
        }
    }
}

/// Reads one frame with exact reads (never past its end).
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Message, ProtocolError> {
    let mut header = [0u8; 6];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(ProtocolError::Closed);
        }
        Err(e) => return Err(e.into()),
    }
    if &header[..4] != MAGIC {
        return Err(ProtocolError::BadMagic);
    }
    let len = u16::from_be_bytes([header[4], header[5]]) as usize;
    if len > MAX_FRAME {
        return Err(ProtocolError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ProtocolError::Closed
        } else {
            e.into()
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| ProtocolError::Json(e.to_string()))
}

/// Writes one frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &Message,
) -> Result<(), ProtocolError> {
    let body = serde_json::to_vec(message).map_err(|e| ProtocolError::Json(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(ProtocolError::TooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(6 + body.len());
    frame.extend_from_slice(MAGIC);
    frame.extend_from_slice(&(body.len() as u16).to_be_bytes());
    frame.extend_from_slice(&body);
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// A fresh random nonce (32 bytes, base64url).
pub fn nonce() -> Result<String, ProtocolError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ProtocolError::Io(std::io::Error::other(format!("randomness: {e}"))))?;
    Ok(B64.encode(bytes))
}

/// What the relay signs: the node's nonce, then its own (so a node knows it talks to the
/// relay whose card it pinned, and the signature cannot be replayed to another node).
pub fn challenge_bytes(node_nonce: &str, relay_nonce: &str) -> Vec<u8> {
    format!("{node_nonce}\n{relay_nonce}").into_bytes()
}

/// What a node signs at registration: the relay's key id and nonce and the company it
/// registers as (so a proof for one relay or session never verifies for another).
pub fn register_bytes(relay_key_id: &str, relay_nonce: &str, company_id: &str) -> Vec<u8> {
    format!("{relay_key_id}\n{relay_nonce}\n{company_id}").into_bytes()
}

/// Decodes a base64url signature.
pub fn decode_signature(text: &str) -> Result<Vec<u8>, ProtocolError> {
    B64.decode(text)
        .map_err(|_| ProtocolError::Signature(CryptoError::BadSignature))
}

/// Encodes a signature.
pub fn encode_signature(signature: &[u8]) -> String {
    B64.encode(signature)
}

/// What a relay operator hands nodes (`tanso relay card`): its name, where it listens and
/// the key that signs registration challenges. Self-signed, JSON (camelCase).
///
/// The relay has no TLS identity of its own: it never terminates TLS. Nodes authenticate
/// the relay by its signature over their registration nonce; clients need no relay identity,
/// because their TLS session is pinned to the target node's certificate end to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelayCard {
    pub name: String,
    /// "host:port" nodes and clients dial.
    pub endpoint: String,
    /// base64url of the relay's 32-byte Ed25519 public key.
    pub public_key: String,
    pub key_id: String,
    /// base64url signature by the card's key over its JCS form without this field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

impl RelayCard {
    /// Builds and signs a relay card.
    pub fn issue(key: &NodeKey, name: &str, endpoint: &str) -> Result<RelayCard, ProtocolError> {
        let mut card = RelayCard {
            name: name.to_string(),
            endpoint: endpoint.to_string(),
            public_key: B64.encode(key.public_key_bytes()),
            key_id: key.key_id().to_string(),
            signature: String::new(),
        };
        let bytes = card.signing_bytes()?;
        card.signature = B64.encode(key.sign(DOMAIN_RELAY_CARD, &bytes));
        Ok(card)
    }

    /// Parses and checks a relay card: endpoint present, key id matches, signature valid.
    pub fn parse(text: &str) -> Result<RelayCard, ProtocolError> {
        let card: RelayCard = serde_json::from_str(text).map_err(|e| ProtocolError::Card {
            field: "(json)",
            reason: e.to_string(),
        })?;
        if card.endpoint.is_empty() || !card.endpoint.contains(':') {
            return Err(ProtocolError::Card {
                field: "endpoint",
                reason: format!("{:?} is not host:port", card.endpoint),
            });
        }
        let public = card.verifying_key()?;
        if crypto::key_id(&public) != card.key_id {
            return Err(ProtocolError::Card {
                field: "keyId",
                reason: "does not match the public key".into(),
            });
        }
        let signature = decode_signature(&card.signature)?;
        crypto::verify(
            &public,
            DOMAIN_RELAY_CARD,
            &card.signing_bytes()?,
            &signature,
        )?;
        Ok(card)
    }

    /// The relay's public key.
    pub fn verifying_key(&self) -> Result<ed25519_dalek::VerifyingKey, ProtocolError> {
        let raw = B64
            .decode(&self.public_key)
            .map_err(|e| ProtocolError::Card {
                field: "publicKey",
                reason: e.to_string(),
            })?;
        crypto::parse_public_key(&raw).map_err(|e| ProtocolError::Card {
            field: "publicKey",
            reason: e.to_string(),
        })
    }

    fn signing_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        let mut unsigned = self.clone();
        unsigned.signature = String::new();
        let value =
            serde_json::to_value(&unsigned).map_err(|e| ProtocolError::Json(e.to_string()))?;
        Ok(crypto::canonical_json(&value)?)
    }
}

/// How often the relay pings each registered node (nodes reconnect after three silent periods).
pub const PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_never_read_past_their_end() {
        let mut bytes = Vec::new();
        write_frame(
            &mut bytes,
            &Message::Connect {
                target: "urn:x".into(),
            },
        )
        .await
        .unwrap();
        bytes.extend_from_slice(&[0x16, 0x03, 0x01]);
        let mut reader = &bytes[..];
        let message = read_frame(&mut reader).await.unwrap();
        assert_eq!(
            message,
            Message::Connect {
                target: "urn:x".into()
            }
        );
        assert_eq!(
            reader,
            &[0x16, 0x03, 0x01],
            "the tls bytes after the frame are left"
        );
    }

    #[tokio::test]
    async fn garbage_and_oversized_frames_are_refused() {
        let mut reader = &b"GET / HTTP/1.1\r\n\r\n"[..];
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(ProtocolError::BadMagic)
        ));
        let mut big = MAGIC.to_vec();
        big.extend_from_slice(&u16::MAX.to_be_bytes());
        let mut reader = &big[..];
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(ProtocolError::TooLarge(_))
        ));
        let mut short = MAGIC.to_vec();
        short.extend_from_slice(&[0, 2, b'{']);
        let mut reader = &short[..];
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(ProtocolError::Closed)
        ));
    }

    #[test]
    fn a_relay_card_verifies_and_a_changed_one_does_not() {
        let key = NodeKey::from_seed(&[7; 32]);
        let card = RelayCard::issue(&key, "relay", "127.0.0.1:4000").unwrap();
        let text = serde_json::to_string(&card).unwrap();
        assert_eq!(RelayCard::parse(&text).unwrap(), card);
        let forged = text.replace("127.0.0.1:4000", "10.0.0.1:4000");
        assert!(RelayCard::parse(&forged).is_err());
    }
}
