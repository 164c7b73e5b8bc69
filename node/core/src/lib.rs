//! tanso's core: one node's state and the operations on it, whichever door reaches them.
//!
//! - [`node`]: the [`Node`] handle; [`config`] and [`home`]: the validated config and the
//!   home directory (key, certificate, store); [`tls`]: identities and TLS configs;
//!   [`seal`]: node keys sealed under a host's key-encryption key; [`bundle`]: a whole home
//!   exported to and imported from one signed file.
//! - [`journal`] and the model's `audit`: the group-committed, hash-chained audit log;
//!   [`archive`]: verify, export and archive it into signed segments; [`nonces`]: replay memory.
//! - [`exchange`]: requests, answers, notifications and the durable outbox (its state; the
//!   runtime's worker delivers); [`publish`]: the streamed, all-or-nothing publish;
//!   [`rotation`]: key rotation and partners' card updates; [`migrate`]: engine migration.
//! - [`transport`]: what core needs from the doors (deliveries, announcements), as a trait
//!   the runtime implements, so core never names an edge.
//! - [`peer`]: pinned-TLS channels to peers and directories, their pool and deadlines;
//!   [`directory`]: the node's directory client and cache; [`relay`]: the node's side of a relay.
//! - [`metrics`], [`methods`]: Prometheus metrics and the peer method names they label;
//!   [`refusals`]: refused envelopes summarised per source.
//! - [`conn`], [`https`], [`shutdown`], [`admin_socket`]: connection caps, the HTTPS listener
//!   every HTTP door shares, graceful shutdown, and the unix-socket framing of admin protocols.

pub mod admin_socket;
pub mod archive;
pub mod bundle;
pub mod config;
pub mod conn;
pub mod directory;
pub mod disclosure;
pub mod error;
pub mod exchange;
pub mod home;
pub mod https;
pub mod journal;
pub mod methods;
pub mod metrics;
pub mod migrate;
#[cfg(test)]
mod narrow_tests;
pub mod node;
pub mod nonces;
pub mod peer;
pub mod publish;
pub mod quota;
pub mod refusals;
pub mod relay;
pub mod rotation;
pub mod seal;
pub mod shutdown;
pub mod status;
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod testkit;
pub mod tls;
pub mod transport;
pub mod wait;

pub use tanso_model::{
    audit, backoff, card, clock, crypto, ids, keys, pact, parallel, policy, progress, rounding,
    signed,
};
pub use tanso_store as store;

pub use error::NodeError;
pub use node::Node;
