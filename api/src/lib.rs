//! Sigil's api crate: the HTTP server, the command wiring and the `sigil` command line. It
//! parses and authenticates requests, hands commands to the pure domain with the time and
//! the caller's identity, maps errors to the wire in one place, and serves read models.

pub mod applications;
pub mod audit;
pub mod benchmarks;
pub mod bootstrap;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod fuzzing;
pub mod graphql;
mod group_commit;
pub mod hot;
pub mod http;
pub mod keys;
pub mod master_key;
pub mod oidc;
mod own_thread;
pub mod passwords;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod users;
