//! Integration tests: real nodes on 127.0.0.1 port 0, and the real `tanso` binary.

mod audit;
mod cbam;
mod cli;
mod dashboard;
mod demo;
mod deploy;
mod directory;
mod disclosure;
mod envelope;
mod exchange;
mod faults;
mod host;
mod ileap;
mod keys;
mod lifecycle;
mod monitor;
mod moving;
mod ops;
mod pact_api;
mod pact_trust;
mod progress;
mod publish;
mod relay;
mod scope3;
mod silent;
mod transport;
