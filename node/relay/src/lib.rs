//! The blind relay server: lets a node with no inbound port be reached by its partners, while
//! TLS (and gRPC inside it) runs end to end between the two nodes; it copies ciphertext and
//! stores nothing. A node's side (keeper, dialer, protocol) is `tanso_core::relay`.
//!
//! - [`home`]: the relay's home (config, key, trusted directory cards).
//! - [`server`]: the relay ([`Relay::run`]): admission, pairing, byte copying with limits.
//! - [`metrics`]: the relay's Prometheus metrics and `/metrics`, `/healthz`, `/readyz`.

pub mod home;
pub mod metrics;
pub mod server;

pub use home::{RawRelayConfig, RelayConfig, RelayHome};
pub use server::Relay;
pub use tanso_core::relay::RelayError;
