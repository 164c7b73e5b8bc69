//! tanso's runtime and the `node` library: serves a node's doors ([`server`]), runs the outbox
//! worker ([`worker`]) and the admin socket ([`admin`]), wires the edges to core through
//! [`doors`] (core's `Transport`), and runs the demo data space ([`demo`]).
//!
//! It also re-exports the crates below at the paths the binary and the tests use:
//! `tanso_model` and `tanso_store` (through core), `tanso_core`, `tanso_calc`, and the edges:
//! [`service`] (gRPC), [`pact_api`] (PACT REST), [`dashboard`], [`directory`] (the node's
//! client and the server) and [`relay`] (the node's side and the server).

pub mod admin;
pub mod demo;
pub mod doors;
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
pub mod server;
pub mod worker;

pub use tanso_calc::{inventory, kpi, monitor, scope3};
pub use tanso_cbam as cbam;
pub use tanso_core::{
    Node, NodeError, admin_socket, archive, audit, backoff, bundle, card, clock, config, conn,
    crypto, error, home, ids, journal, keys, methods, metrics, migrate, node, nonces, pact,
    parallel, peer, policy, progress, publish, quota, refusals, rotation, rounding, seal, shutdown,
    signed, status, store, tls, transport, wait,
};
pub use tanso_dashboard as dashboard;
pub use tanso_logistics as logistics;
pub use tanso_pact_api as pact_api;

pub use doors::{open, open_with};

/// The node's directory client and cache (core) and the association's directory server.
pub mod directory {
    pub use tanso_core::directory::*;
    pub use tanso_directory::{
        DirAnswer, DirCommand, Directory, DirectoryError, RawDirectoryConfig, server,
    };
}

/// The node's side of a relay (core) and the relay server.
pub mod relay {
    pub use tanso_core::relay::*;
    pub use tanso_relay::{RawRelayConfig, Relay, RelayConfig, RelayHome, home, metrics, server};
}

/// The gRPC edge, and the refusal summaries its authentication feeds (core).
pub mod service {
    pub use tanso_core::refusals;
    pub use tanso_grpc::*;
}

/// The exchange's state (core) and the outbox worker that delivers it (this crate).
pub mod exchange {
    pub use crate::worker;
    pub use tanso_core::exchange::*;
}
