//! Test harness: starts real tanso nodes on 127.0.0.1 port 0.
