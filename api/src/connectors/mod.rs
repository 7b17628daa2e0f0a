//! Sigil as a relying party to upstream OpenID providers: the connectors of seed 004
//! ("Continue with …"). Authorization code flow only, with state, nonce and PKCE S256
//! toward the upstream, and the ID token verified against the upstream's JWKS.
//!
//! - [`config`]: the admin's settings, resolved (discovery, sealed secret) into the
//!   domain's configuration.
//! - [`discovery`]: OpenID Provider metadata, checked against the configured issuer.
//! - [`jwks`]: the upstream's keys, cached, refreshed once on an unknown `kid`.
//! - [`id_token`]: the ID token's verification (OIDC Core §3.1.3.7).
//! - [`flow`]: the two endpoints: start (redirect upstream) and callback (sign in).
//!
//! Every outbound request has a timeout, follows no redirect, and reads at most
//! [`MAX_RESPONSE_BYTES`]: the URLs are an admin's, but the answers are a stranger's.

mod accounts;
pub mod config;
pub mod discovery;
mod flow;
pub mod id_token;
pub mod jwks;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use sigil_domain::connector::Connector;
use sigil_eventstore::sqlx::{self, AnyConnection, AnyPool};

use crate::keys::seal::Sealer;
use crate::state::AppState;

/// Largest discovery document, JWKS, token or userinfo response read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// How long one request to an upstream may take, connection included.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Routes relative to `/oidc`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/connectors/{id}/start", post(flow::start))
        .route("/connectors/{id}/callback", get(flow::callback))
}

/// The redirect URI to register at the upstream for connector `id`: one per connector, so
/// a response cannot be taken for another provider's (RFC 9700 §4.4.2, mix-up).
pub fn redirect_uri(issuer: &str, id: &str) -> String {
    format!("{issuer}/connectors/{id}/callback")
}

/// What the connectors need at run time.
pub struct Upstreams {
    http: reqwest::Client,
    pub jwks: jwks::JwksCache,
    sealer: Sealer,
    /// Signs the flow cookie and derives nonce and PKCE verifier from the state.
    flow_key: [u8; 32],
}

impl Upstreams {
    /// `sealing` is `master_key.derive("sealing")`; `flow` is `derive("connector-flow")`.
    pub fn new(sealing: &[u8; 32], flow: [u8; 32]) -> Upstreams {
        let http = reqwest::Client::builder()
            .timeout(UPSTREAM_TIMEOUT)
            .connect_timeout(UPSTREAM_TIMEOUT)
            // A redirect could lead anywhere, an internal address included.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client without TLS configuration always builds");
        Upstreams {
            http,
            jwks: jwks::JwksCache::default(),
            sealer: Sealer::new(sealing),
            flow_key: flow,
        }
    }

    /// Seals a client secret for connector `id` (the id is the associated data, so a sealed
    /// secret copied to another connector does not open).
    pub fn seal_secret(&self, id: &str, secret: &str) -> String {
        self.sealer.seal(secret.as_bytes(), &secret_aad(id))
    }

    pub fn open_secret(&self, id: &str, sealed: &str) -> Option<String> {
        let bytes = self.sealer.open(sealed, &secret_aad(id)).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// GETs a JSON document.
    pub async fn get_json(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<serde_json::Value, FetchError> {
        let mut request = self.http.get(url).header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        read_json(request).await
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

fn secret_aad(id: &str) -> Vec<u8> {
    format!("connector:{id}:client_secret").into_bytes()
}

/// Why an upstream's answer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("answered HTTP {status}")]
    Status {
        status: u16,
        body: serde_json::Value,
    },
    #[error("answered more than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("did not answer JSON")]
    NotJson,
}

/// Sends `request` and reads a JSON body of bounded size.
pub(crate) async fn read_json(
    request: reqwest::RequestBuilder,
) -> Result<serde_json::Value, FetchError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let json = serde_json::from_slice(&body).map_err(|_| FetchError::NotJson);
    if !(200..300).contains(&status) {
        return Err(FetchError::Status {
            status,
            body: json.unwrap_or_default(),
        });
    }
    json
}

/// The connectors that exist, oldest first, each loaded from its stream.
pub async fn all(
    state: &AppState,
) -> Result<Vec<(String, Connector)>, sigil_eventstore::StoreError> {
    let ids = list_ids(state.store.pool()).await?;
    let mut all = Vec::with_capacity(ids.len());
    for id in ids {
        let (connector, _) = state.commands.load::<Connector>(&id).await?;
        if connector.is_active() {
            all.push((id, connector));
        }
    }
    Ok(all)
}

async fn list_ids(pool: &AnyPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM connectors ORDER BY created_at, id")
        .fetch_all(pool)
        .await
}

/// Keeps the `connectors` list in step with a connector's events, in their transaction.
pub async fn index(
    conn: &mut AnyConnection,
    id: String,
    created_at: i64,
    events: &[sigil_domain::connector::ConnectorEvent],
) -> Result<(), sqlx::Error> {
    use sigil_domain::connector::ConnectorEvent as E;
    for event in events {
        match event {
            E::ConnectorConfigured { .. } => {
                sqlx::query("INSERT INTO connectors (id, created_at) VALUES ($1, $2)")
                    .bind(&id)
                    .bind(created_at)
                    .execute(&mut *conn)
                    .await?;
            }
            E::ConnectorDeleted => {
                sqlx::query("DELETE FROM connectors WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            E::ConnectorUpdated { .. } => {}
        }
    }
    Ok(())
}
