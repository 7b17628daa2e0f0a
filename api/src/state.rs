//! What every handler can reach.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sigil_eventstore::EventStore;
use sigil_projections::ProjectionRunner;

use crate::commands::Commands;
use crate::config::ServeArgs;

pub struct AppState {
    pub config: ServeArgs,
    pub store: EventStore,
    pub commands: Arc<Commands>,
    pub projections: Vec<ProjectionRunner>,
    pub metrics: PrometheusHandle,
}
