//! Sigil's event log: one append-only `events` table on PostgreSQL or embedded SQLite.
//!
//! - [`EventStore`] appends events atomically (all of a command's events or none), guarded by
//!   each stream's sequence, and reads streams back for aggregates.
//! - Each event carries a hash chained to its stream predecessor; signed checkpoints bind the
//!   streams into one order ([`EventStore::write_checkpoint`], [`EventStore::verify`]).
//! - [`EventStore::subscribe`] and [`EventStore::read_after`] give events in position order
//!   and never skip a late commit (see `subscription`).
//! - [`EventRepository`] plugs the store into `cqrs-es`.

mod checkpoint;
mod db;
mod error;
mod event;
mod hash;
mod repository;
mod store;
mod subscription;
mod verify;

#[cfg(feature = "testing")]
pub mod testing;

pub use checkpoint::Checkpoint;
pub use db::{Backend, placeholders, value_groups};
pub use error::StoreError;
pub use event::{EventMetadata, NewEvent, StoredEvent, micros_to_utc, now_micros, utc_to_micros};
pub use hash::CheckpointBody;
pub use repository::{EventRepository, OCCURRED_AT_KEY, to_new_event};
pub use store::{AppendTx, EventStore, Savepoint, row_bool};
pub use subscription::read_range_on;
pub use verify::{Problem, VerifyReport};

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use sqlx;
