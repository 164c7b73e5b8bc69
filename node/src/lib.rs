//! tanso library: the connector node, the directory and the relay.
//!
//! Major components:
//! - [`pact`]: the PACT v3 data model, validation, filters and v2 import (no IO).
//! - [`crypto`] and [`signed`]: Ed25519 keys, envelopes and owner signatures (no IO).
//! - [`keys`]: key rotation statements, the key history chain, the swappable key (no IO);
//!   [`rotation`]: `tanso key rotate` and partners' card updates.
//! - [`policy`]: the ODRL-subset usage-policy evaluator (no IO).
//! - [`store`]: the only module that touches the storage engine (redb or sled).
//! - [`journal`] and [`audit`]: group-committed, hash-chained audit log, nonces, counters;
//!   [`archive`]: verify, export and archive the log into signed segments (retention);
//!   [`nonces`]: the seen-nonce memory, forgotten as the replay window passes.
//! - [`disclosure`]: reading, listing and request decisions over own footprints, one
//!   implementation for every door (policy, purpose, daily cap, audit, recipients).
//! - [`node`]: the node and the operations operators run on it; [`admin`] carries them
//!   over the home's unix socket while the node runs; [`publish`]: the streamed,
//!   all-or-nothing publish.
//! - [`service`]: the gRPC edge (peer service, peer client, wire conversions).
//! - [`pact_api`]: the PACT v3 REST host (HTTPS, OAuth client credentials).
//! - [`exchange`]: requests, answers, Published notifications and the durable outbox.
//! - [`migrate`]: `tanso store migrate`, moving a stopped node's store to the other engine.
//! - [`metrics`]: Prometheus metrics and the plain-HTTP ops listener (`/metrics`, health).
//! - [`server`]: `run(node, listener, shutdown)`, the serving loop with drain;
//!   [`conn`]: the cap on open connections and the idle timeout every listener shares.
//! - [`scope3`] and [`kpi`]: calculations over the node's data; [`rounding`]: the one
//!   rounding rule of every reported figure (half away from zero).
//! - [`directory`]: the association's discovery directory (credentials, status lists).
//! - [`relay`]: the blind relay for nodes with no inbound port (server, node and client sides).
//! - [`demo`]: a whole local data space on loopback.
//! - [`progress`]: how long operations report their progress (the library never draws).

pub mod admin;
pub mod archive;
pub mod audit;
pub mod card;
pub mod clock;
pub mod config;
pub mod conn;
pub mod crypto;
mod csv_lines;
pub mod dashboard;
pub mod demo;
pub mod directory;
pub mod disclosure;
pub mod error;
pub mod exchange;
#[doc(hidden)]
pub mod fuzzing;
pub mod home;
mod https;
pub mod ids;
pub mod journal;
pub mod keys;
pub mod kpi;
pub mod metrics;
pub mod migrate;
pub mod node;
pub mod nonces;
pub mod pact;
pub mod pact_api;
mod parallel;
pub mod policy;
pub mod progress;
pub mod publish;
pub mod relay;
pub mod rotation;
pub mod rounding;
pub mod scope3;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod signed;
pub mod store;
pub mod tls;

pub use error::NodeError;
pub use node::Node;
