//! tanso's data model: everything two companies exchange and a node decides, with no IO and
//! no async runtime.
//!
//! - [`pact`]: the PACT v3 data model, validation, filters, streamed documents and v2 import.
//! - [`crypto`] and [`signed`]: Ed25519 keys, envelopes and owner signatures.
//! - [`keys`] and [`card`]: key rotation statements, key history, self-signed node cards.
//! - [`policy`]: the ODRL-subset usage-policy parser and evaluator (`now` is passed in).
//! - [`audit`]: audit entries, heads, anchors, the hash chain and archived segments.
//! - [`directory`]: membership credentials, status lists and signed directory answers.
//! - [`records`]: the inbox entry (a footprint received, with where it came from) and the
//!   request and signature statuses.
//! - [`ids`], [`rounding`] (the one rounding rule), [`clock`] (the injectable clock),
//!   [`progress`] (how long operations report progress), [`parallel`].

pub mod audit;
pub mod backoff;
pub mod card;
pub mod clock;
pub mod crypto;
pub mod directory;
pub mod ids;
pub mod keys;
pub mod pact;
pub mod parallel;
pub mod policy;
pub mod progress;
pub mod records;
pub mod rounding;
pub mod signed;
