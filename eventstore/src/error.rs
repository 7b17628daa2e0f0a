//! The store's one error type. Callers decide what a conflict means to them (retry or report);
//! everything else is an operational failure with a message an operator can act on.

/// What can go wrong reading or writing the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another command appended to the same stream first: the optimistic-concurrency guard.
    #[error(
        "conflict: another command changed {aggregate_type} {aggregate_id} first (sequence {sequence} is taken); reload and retry"
    )]
    Conflict {
        aggregate_type: String,
        aggregate_id: String,
        sequence: i64,
    },
    /// The caller tried to append a sequence that does not follow the stream's last event.
    #[error(
        "event {sequence} of {aggregate_type} {aggregate_id} does not follow the stream's last event"
    )]
    SequenceGap {
        aggregate_type: String,
        aggregate_id: String,
        sequence: i64,
    },
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("the database is misconfigured: {0}")]
    Misconfigured(String),
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("stored event at position {position} cannot be read: {reason}")]
    Corrupt { position: i64, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}
