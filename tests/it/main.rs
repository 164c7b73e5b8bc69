//! Integration tests: real nodes on 127.0.0.1 port 0, and the real `tanso` binary.

mod cli;
mod dashboard;
mod directory;
mod envelope;
mod exchange;
mod lifecycle;
mod pact_api;
mod relay;
mod scope3;
mod transport;
