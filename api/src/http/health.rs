//! Liveness, readiness and metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// The process is up and serving.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready for traffic: the store answers and every migration is applied.
pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": reason })),
        )
    };
    if let Err(e) = state.store.ping().await {
        return not_ready(format!("the store does not answer: {e}"));
    }
    match state.store.migrations_applied().await {
        Ok(true) => match state.store.check_invariants().await {
            Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
            Err(e) => not_ready(e.to_string()),
        },
        Ok(false) => not_ready("migrations are pending".into()),
        Err(e) => not_ready(format!("cannot read the migration state: {e}")),
    }
}

/// Prometheus text format; log and read-model positions are read fresh on each scrape.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if let Ok(last) = state.store.last_position().await {
        metrics::gauge!("sigil_log_position").set(last as f64);
        // Events committed but held back by a transaction still open somewhere in the
        // cluster: a lasting gap here means an idle transaction is stalling every reader.
        if let Ok(safe) = state.store.safe_position().await {
            metrics::gauge!("sigil_log_frontier_lag_events").set((last - safe).max(0) as f64);
        }
        for runner in &state.projections {
            if let Ok(position) = runner.position().await {
                let name = runner.name();
                metrics::gauge!("sigil_projection_position", "projection" => name)
                    .set(position as f64);
                metrics::gauge!("sigil_projection_lag_events", "projection" => name)
                    .set((last - position).max(0) as f64);
            }
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
