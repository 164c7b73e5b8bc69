//! The `tanso` binary end to end: init, serve, publish, fetch, verify, kill -9.
