/// What can stop a projection.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] sigil_eventstore::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sigil_eventstore::sqlx::Error),
    /// An event the read model cannot interpret; the projection stops rather than skip it.
    #[error("{projection} cannot apply event at position {position} ({event_type}): {reason}")]
    Unreadable {
        projection: &'static str,
        position: i64,
        event_type: String,
        reason: String,
    },
    #[error("unknown read model {0:?}")]
    Unknown(String),
}
