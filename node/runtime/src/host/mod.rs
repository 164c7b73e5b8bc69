//! `tanso host`: many companies' nodes in one process. A tenant is a whole node — its own
//! company id, key (sealed under the host's key-encryption key), store, policies, partners,
//! audit chain, PACT clients, outbox and dashboard users — and shares only the runtime and
//! the listening ports:
//!
//! - peers reach a tenant through the shared gRPC port: the signed envelope's audience names
//!   it ([`peer`]); every tenant's card advertises the host's endpoint and certificate;
//! - PACT clients and dashboard users use `/t/{slug}/` on the shared HTTPS ports ([`web`]);
//! - a tenant's store is opened on first use and closed when idle ([`tenants`]);
//! - operators administer tenants and run any node command on one over the host's admin
//!   socket ([`admin`]).

pub mod admin;
pub mod config;
pub mod home;
pub mod kek;
pub mod peer;
pub mod serve;
pub mod tenants;
pub mod web;

pub use config::{HostConfig, RawHostConfig};
pub use home::{HostError, HostHome, TenantEntry, TenantSpec, TenantState};
pub use serve::{HostListeners, run};
pub use tenants::{Host, Lease, TenantError, TenantStatus};
