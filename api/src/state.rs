//! What every handler can reach.

use std::sync::{Arc, RwLock};

use metrics_exporter_prometheus::PrometheusHandle;
use sigil_eventstore::EventStore;
use sigil_projections::ProjectionRunner;

use crate::commands::Commands;
use crate::config::ServeArgs;
use crate::keys::keyring::KeyRing;
use crate::oidc::interaction::InteractionKey;

pub struct AppState {
    pub config: ServeArgs,
    pub store: EventStore,
    pub commands: Arc<Commands>,
    pub projections: Vec<ProjectionRunner>,
    pub metrics: PrometheusHandle,
    /// Derives each refresh token's successor (see oidc::refresh_tokens).
    pub refresh_successors: crate::oidc::refresh_tokens::SuccessorKey,
    /// The family of each refresh token this process has seen.
    pub refresh_families: crate::oidc::tokens::KnownDigests,
    /// The stream of each authorization code this process has seen.
    pub codes: crate::oidc::tokens::KnownDigests,
    /// Failed sign-ins per account and per IP address.
    pub sign_in_throttle: crate::throttle::Throttle,
    /// Failed client authentications per client and per IP address.
    pub client_auth_throttle: crate::throttle::Throttle,
    /// Names unknown sign-in identifiers in the log without holding their text.
    pub pseudonyms: crate::oidc::tokens::Pseudonyms,
    /// Signs the state carried through sign-in and consent pages.
    pub interactions: InteractionKey,
    /// Sigil as a relying party to upstream providers (the connectors).
    pub upstreams: crate::connectors::Upstreams,
    /// The signing keys; replaced whole when keys rotate.
    pub keys: RwLock<Arc<KeyRing>>,
    /// Checks the log's signed checkpoints (`logIntegrity`).
    pub checkpoint_verifier: sigil_eventstore::VerifyingKey,
}

impl AppState {
    /// The runner of the read model called `name`.
    pub fn projection(&self, name: &str) -> Option<&ProjectionRunner> {
        self.projections.iter().find(|p| p.name() == name)
    }

    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Cookies get `Secure` when people reach Sigil over https.
    pub fn secure_cookies(&self) -> bool {
        self.config.public_url.starts_with("https://")
    }
}
