//! Read models: tables kept in step with the log, each with a checkpoint position written in
//! the same transaction as its rows. Replaying is idempotent, a crash loses nothing, and any
//! read model can be emptied and rebuilt from the log. Read models serve lists, search,
//! audit and analytics; never a security decision (that is the aggregates' job).

mod analytics;
mod audit;
mod error;
mod indexes;
mod organizations;
mod read_models;
mod rows;
mod runner;

pub use analytics::{AnalyticsView, DAY_MICROS, HOUR_MICROS, bucket_start};
pub use audit::{Attribution, AuditView};
pub use error::ProjectionError;
pub use organizations::OrganizationsView;
pub use read_models::{ApplicationsView, UsersView, all};
pub use runner::{Projection, ProjectionRunner, ProjectionTx};
