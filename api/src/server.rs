//! `sigil serve`: binds, starts the read-model runners and the checkpoint writer, serves
//! HTTP, and on SIGTERM or Ctrl-C stops accepting, lets in-flight requests finish, stops the
//! background work and writes a last checkpoint.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use sigil_eventstore::{Backend, EventStore, SigningKey, now_micros};
use sigil_projections::ProjectionRunner;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::commands::Commands;
use crate::config::ServeArgs;
use crate::http;
use crate::keys::keyring::{KeyRing, ensure_active_keys};
use crate::keys::seal::Sealer;
use crate::master_key::MasterKey;
use crate::oidc::interaction::InteractionKey;
use crate::state::AppState;
use crate::telemetry;
use crate::throttle::Throttle;

/// Largest range one checkpoint covers, so a checkpoint after a long pause stays quick.
pub(crate) const CHECKPOINT_MAX_EVENTS: i64 = 100_000;

/// A server that is accepting requests.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    grace: Duration,
}

/// Binds `config.bind` and starts everything; returns once the socket is listening.
pub async fn start(
    store: EventStore,
    config: ServeArgs,
    master_key: &MasterKey,
) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    let (shutdown, _) = watch::channel(false);
    // Before anything records: a metric written before the recorder exists is lost (the
    // runner's first batch, the signing keys made below).
    let metrics = telemetry::metrics_handle();

    let projections: Vec<ProjectionRunner> = sigil_projections::all()
        .into_iter()
        .map(|p| ProjectionRunner::new(store.clone(), p))
        .collect();
    // One runner keeps every read model current: one read of the log and one write
    // transaction per batch. The per-model runners serve catch-ups and rebuilds.
    let all = ProjectionRunner::group(store.clone(), "all", sigil_projections::all());
    // On SQLite its transactions hold the single writer that appends wait for: it runs on a
    // thread of its own, so that no statement of theirs queues behind the requests.
    let runner = all.run(shutdown.subscribe());
    let mut background: Vec<JoinHandle<()>> = vec![match store.backend() {
        Backend::Sqlite => crate::own_thread::spawn("sigil-read-models", runner),
        Backend::Postgres => tokio::spawn(runner),
    }];
    background.push(tokio::spawn(write_checkpoints(
        store.clone(),
        master_key.checkpoint_key(),
        Duration::from_secs(config.checkpoint_interval_secs),
        shutdown.subscribe(),
    )));

    let commands = Arc::new(Commands::new(&store));
    background.push(tokio::spawn(
        commands.hot().clone().follow(shutdown.subscribe()),
    ));
    let sealer = Sealer::new(&master_key.derive("sealing"));
    let keys = ensure_active_keys(&store, &commands, &sealer, chrono::Utc::now().timestamp())
        .await
        .context("cannot prepare the signing keys")?;
    let state = Arc::new(AppState {
        commands,
        interactions: InteractionKey::new(master_key.derive("interactions")),
        sign_in_throttle: Throttle::new(
            config.throttling.sign_in_max_failures,
            Duration::from_secs(config.throttling.failure_window_secs),
        ),
        client_auth_throttle: Throttle::new(
            config.throttling.client_auth_max_failures,
            Duration::from_secs(config.throttling.failure_window_secs),
        ),
        pseudonyms: crate::oidc::tokens::Pseudonyms::new(master_key.derive("pseudonyms")),
        refresh_successors: crate::oidc::refresh_tokens::SuccessorKey::new(
            master_key.derive("refresh-token-successors"),
        ),
        refresh_families: Default::default(),
        codes: Default::default(),
        upstreams: crate::connectors::Upstreams::new(
            &master_key.derive("sealing"),
            master_key.derive("connector-flow"),
        ),
        keys: RwLock::new(Arc::new(keys)),
        checkpoint_verifier: master_key.checkpoint_key().verifying_key(),
        metrics,
        store,
        projections,
        config: config.clone(),
    });
    background.push(tokio::spawn(reload_keys(
        state.clone(),
        sealer,
        shutdown.subscribe(),
    )));
    let app = http::router(state.clone(), config.request_timeout());
    let mut stop = shutdown.subscribe();
    let http = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        })
        .await
    });
    tracing::info!(issuer = %config.issuer(), "listening on http://{addr}");
    Ok(RunningServer {
        addr,
        state,
        shutdown,
        http,
        background,
        grace: Duration::from_secs(config.shutdown_grace_secs),
    })
}

impl RunningServer {
    /// Stops accepting connections, waits for in-flight requests (up to the grace period),
    /// stops background work and seals the log's tail with a checkpoint.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        match tokio::time::timeout(self.grace, self.http).await {
            Ok(joined) => joined.context("the HTTP server task failed")??,
            Err(_) => tracing::warn!("in-flight requests outlived the shutdown grace period"),
        }
        for task in self.background {
            let _ = task.await;
        }
        self.state.store.close().await;
        tracing::info!("shut down");
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("can install a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
}

/// Signs a checkpoint over new events every `interval`, and once more when stopping.
async fn write_checkpoints(
    store: EventStore,
    key: SigningKey,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stopping = *shutdown.borrow();
        loop {
            match store
                .write_checkpoint(&key, CHECKPOINT_MAX_EVENTS, now_micros())
                .await
            {
                Ok(Some(c)) => tracing::debug!(
                    number = c.body.number,
                    through = c.body.through_position,
                    "checkpoint written"
                ),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot write a checkpoint");
                    break;
                }
            }
        }
        if stopping {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// How often a server rereads the signing keys, so a rotation made elsewhere (another node,
/// `sigil keys rotate`) takes effect everywhere.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

async fn reload_keys(state: Arc<AppState>, sealer: Sealer, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(KEY_RELOAD_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        match KeyRing::load(&state.store, &sealer, chrono::Utc::now().timestamp()).await {
            Ok(ring) => {
                *state
                    .keys
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(ring);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload the signing keys; keeping the current ones")
            }
        }
    }
}
