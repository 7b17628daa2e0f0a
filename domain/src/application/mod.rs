//! The application aggregate: an OAuth 2.0 client (RFC 6749 §2) registered
//! with Sigil. It decides which registrations and changes are allowed and
//! records them as events; its state is rebuilt by replaying those events.

mod command;
mod error;
mod event;
mod rules;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use crate::id_set;
use crate::redirect_uri::redirect_uri_matches;

pub use command::{ApplicationChanges, ApplicationCommand, NewApplication};
pub use error::{ApplicationError, BrandingField, UriList};
pub use event::ApplicationEvent;
pub use types::{
    ApplicationType, Branding, ConsentScopes, DEFAULT_ALWAYS_ISSUE_REFRESH_TOKEN,
    DEFAULT_REFRESH_TOKEN_REUSE_GRACE_SECONDS, DEFAULT_REFRESH_TOKEN_TTL_DAYS,
    DEFAULT_ROTATE_REFRESH_TOKEN, MAX_BRANDING_URL_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_NAME_CHARS,
    MAX_REFRESH_TOKEN_REUSE_GRACE_SECONDS, MAX_URIS, REFRESH_TOKEN_TTL_DAYS, SigningAlgorithm,
    USER_SCOPES,
};

/// State of one application. The default value is "never created".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Application {
    status: Status,
    name: String,
    description: Option<String>,
    app_type: Option<ApplicationType>,
    is_third_party: bool,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    cors_allowed_origins: Vec<String>,
    client_secret_digest: Option<String>,
    always_issue_refresh_token: bool,
    rotate_refresh_token: bool,
    refresh_token_ttl_days: u32,
    refresh_token_reuse_grace_seconds: u32,
    id_token_signed_response_alg: SigningAlgorithm,
    /// Global roles (`AccessControl`) of kind `MachineToMachine`.
    #[serde(default)]
    role_ids: BTreeSet<String>,
    /// `None` until an admin sets them; see `consent_scopes()`.
    #[serde(default)]
    consent_scopes: Option<ConsentScopes>,
    #[serde(default)]
    branding: Branding,
}

/// The consent scopes of an application that never set any.
static OPENID_ONLY: LazyLock<ConsentScopes> = LazyLock::new(|| ConsentScopes {
    user_scopes: vec!["openid".to_owned()],
    ..ConsentScopes::default()
});

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Status {
    #[default]
    Absent,
    Active,
    Deleted,
}

impl Aggregate for Application {
    const TYPE: &'static str = "application";
    type Command = ApplicationCommand;
    type Event = ApplicationEvent;
    type Error = ApplicationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ApplicationCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ApplicationError> {
        let event = match command {
            ApplicationCommand::Create(new) => Some(self.create(new)?),
            ApplicationCommand::Update(changes) => self.update(changes)?,
            ApplicationCommand::RotateSecret {
                client_secret_digest,
            } => self.rotate_secret(client_secret_digest)?,
            ApplicationCommand::Delete => {
                self.active_type()?;
                Some(ApplicationEvent::ApplicationDeleted)
            }
            ApplicationCommand::AssignRoles { role_ids } => {
                self.machine_to_machine()?;
                let role_ids = id_set::added(role_ids, &self.role_ids);
                (!role_ids.is_empty())
                    .then_some(ApplicationEvent::ApplicationRolesAssigned { role_ids })
            }
            ApplicationCommand::RemoveRoles { role_ids } => {
                self.machine_to_machine()?;
                let role_ids = id_set::removed(role_ids, &self.role_ids);
                (!role_ids.is_empty())
                    .then_some(ApplicationEvent::ApplicationRolesRemoved { role_ids })
            }
            ApplicationCommand::SetConsentScopes(scopes) => self.set_consent_scopes(scopes)?,
            ApplicationCommand::SetBranding(branding) => self.set_branding(branding)?,
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ApplicationEvent) {
        match event {
            ApplicationEvent::ApplicationRegistered {
                name,
                description,
                app_type,
                is_third_party,
                redirect_uris,
                post_logout_redirect_uris,
                cors_allowed_origins,
                client_secret_digest,
                always_issue_refresh_token,
                rotate_refresh_token,
                refresh_token_ttl_days,
                refresh_token_reuse_grace_seconds,
                id_token_signed_response_alg,
            } => {
                *self = Self {
                    status: Status::Active,
                    name,
                    description,
                    app_type: Some(app_type),
                    is_third_party,
                    redirect_uris,
                    post_logout_redirect_uris,
                    cors_allowed_origins,
                    client_secret_digest,
                    always_issue_refresh_token,
                    rotate_refresh_token,
                    refresh_token_ttl_days,
                    refresh_token_reuse_grace_seconds,
                    id_token_signed_response_alg,
                    ..Self::default()
                }
            }
            ApplicationEvent::ApplicationUpdated { changes } => self.apply_changes(changes),
            ApplicationEvent::ClientSecretRotated {
                client_secret_digest,
            } => self.client_secret_digest = Some(client_secret_digest),
            // Forget everything, the secret first: a deleted client must
            // not authenticate or redirect anywhere.
            ApplicationEvent::ApplicationDeleted => {
                *self = Self {
                    status: Status::Deleted,
                    ..Self::default()
                }
            }
            ApplicationEvent::ApplicationRolesAssigned { role_ids } => {
                self.role_ids.extend(role_ids)
            }
            ApplicationEvent::ApplicationRolesRemoved { role_ids } => {
                for role_id in &role_ids {
                    self.role_ids.remove(role_id);
                }
            }
            ApplicationEvent::ApplicationConsentScopesSet { consent_scopes } => {
                self.consent_scopes = Some(consent_scopes)
            }
            ApplicationEvent::ApplicationBrandingSet { branding } => self.branding = branding,
        }
    }
}

// Decisions: each checks the command against the state and returns the
// event to record, or `None` when there is nothing new to record.
impl Application {
    fn create(&self, new: NewApplication) -> Result<ApplicationEvent, ApplicationError> {
        // A deleted id stays taken: reusing a client_id would hand the new
        // client whatever grants and tokens still name the old one.
        if self.status != Status::Absent {
            return Err(ApplicationError::AlreadyExists);
        }
        let app_type = new.app_type;
        let name = rules::name(&new.name)?;
        rules::client_secret_digest(app_type, new.client_secret_digest.as_deref())?;
        // Third-party means a user consents to it acting for them; a
        // machine-to-machine client acts for no user (RFC 6749 §4.4).
        if new.is_third_party && app_type == ApplicationType::MachineToMachine {
            return Err(ApplicationError::ThirdPartyMachineToMachine);
        }
        rules::redirect_uris(UriList::RedirectUris, &new.redirect_uris, app_type)?;
        rules::redirect_uris(
            UriList::PostLogoutRedirectUris,
            &new.post_logout_redirect_uris,
            app_type,
        )?;
        rules::cors_allowed_origins(&new.cors_allowed_origins, app_type)?;
        Ok(ApplicationEvent::ApplicationRegistered {
            name,
            description: rules::description(new.description.as_deref()),
            app_type,
            is_third_party: new.is_third_party,
            redirect_uris: new.redirect_uris,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            cors_allowed_origins: new.cors_allowed_origins,
            client_secret_digest: new.client_secret_digest,
            always_issue_refresh_token: DEFAULT_ALWAYS_ISSUE_REFRESH_TOKEN,
            rotate_refresh_token: DEFAULT_ROTATE_REFRESH_TOKEN,
            refresh_token_ttl_days: DEFAULT_REFRESH_TOKEN_TTL_DAYS,
            refresh_token_reuse_grace_seconds: DEFAULT_REFRESH_TOKEN_REUSE_GRACE_SECONDS,
            id_token_signed_response_alg: SigningAlgorithm::default(),
        })
    }

    fn update(
        &self,
        new: ApplicationChanges,
    ) -> Result<Option<ApplicationEvent>, ApplicationError> {
        let app_type = self.active_type()?;
        let mut changes = ApplicationChanges::default();
        if let Some(name) = new.name {
            changes.name = differs(rules::name(&name)?, &self.name);
        }
        if let Some(description) = new.description {
            // Recorded as "" when cleared, so the event can say so.
            let description = rules::description(Some(&description));
            changes.description =
                differs(description, &self.description).map(Option::unwrap_or_default);
        }
        if let Some(uris) = new.redirect_uris {
            rules::redirect_uris(UriList::RedirectUris, &uris, app_type)?;
            changes.redirect_uris = differs(uris, &self.redirect_uris);
        }
        if let Some(uris) = new.post_logout_redirect_uris {
            rules::redirect_uris(UriList::PostLogoutRedirectUris, &uris, app_type)?;
            changes.post_logout_redirect_uris = differs(uris, &self.post_logout_redirect_uris);
        }
        if let Some(origins) = new.cors_allowed_origins {
            rules::cors_allowed_origins(&origins, app_type)?;
            changes.cors_allowed_origins = differs(origins, &self.cors_allowed_origins);
        }
        if let Some(always) = new.always_issue_refresh_token {
            changes.always_issue_refresh_token = differs(always, &self.always_issue_refresh_token);
        }
        if let Some(rotate) = new.rotate_refresh_token {
            changes.rotate_refresh_token = differs(rotate, &self.rotate_refresh_token);
        }
        if let Some(days) = new.refresh_token_ttl_days {
            rules::refresh_token_ttl_days(days)?;
            changes.refresh_token_ttl_days = differs(days, &self.refresh_token_ttl_days);
        }
        if let Some(seconds) = new.refresh_token_reuse_grace_seconds {
            rules::refresh_token_reuse_grace_seconds(seconds)?;
            changes.refresh_token_reuse_grace_seconds =
                differs(seconds, &self.refresh_token_reuse_grace_seconds);
        }
        if let Some(alg) = new.id_token_signed_response_alg {
            changes.id_token_signed_response_alg = differs(alg, &self.id_token_signed_response_alg);
        }
        Ok((!changes.is_empty()).then_some(ApplicationEvent::ApplicationUpdated { changes }))
    }

    fn rotate_secret(&self, digest: String) -> Result<Option<ApplicationEvent>, ApplicationError> {
        let app_type = self.active_type()?;
        rules::client_secret_digest(app_type, Some(&digest))?;
        // The same digest again is a retried command, not a new secret.
        if self.client_secret_digest.as_deref() == Some(digest.as_str()) {
            return Ok(None);
        }
        Ok(Some(ApplicationEvent::ClientSecretRotated {
            client_secret_digest: digest,
        }))
    }

    fn set_consent_scopes(
        &self,
        scopes: ConsentScopes,
    ) -> Result<Option<ApplicationEvent>, ApplicationError> {
        self.active_type()?;
        // A first-party application is trusted with what it asks for; there
        // is no consent to limit.
        if !self.is_third_party {
            return Err(ApplicationError::NotThirdParty);
        }
        let consent_scopes = rules::consent_scopes(scopes)?;
        Ok((consent_scopes != *self.consent_scopes())
            .then_some(ApplicationEvent::ApplicationConsentScopesSet { consent_scopes }))
    }

    fn set_branding(
        &self,
        branding: Branding,
    ) -> Result<Option<ApplicationEvent>, ApplicationError> {
        self.active_type()?;
        let branding = rules::branding(branding)?;
        Ok((branding != self.branding)
            .then_some(ApplicationEvent::ApplicationBrandingSet { branding }))
    }

    // Roles grant permissions to a client acting for itself (RFC 6749
    // §4.4); any other client acts for a user, with the user's roles.
    fn machine_to_machine(&self) -> Result<(), ApplicationError> {
        match self.active_type()? {
            ApplicationType::MachineToMachine => Ok(()),
            _ => Err(ApplicationError::RolesNeedMachineToMachine),
        }
    }

    fn active_type(&self) -> Result<ApplicationType, ApplicationError> {
        match (self.status, self.app_type) {
            (Status::Active, Some(app_type)) => Ok(app_type),
            _ => Err(ApplicationError::NotFound),
        }
    }

    fn apply_changes(&mut self, changes: ApplicationChanges) {
        let ApplicationChanges {
            name,
            description,
            redirect_uris,
            post_logout_redirect_uris,
            cors_allowed_origins,
            always_issue_refresh_token,
            rotate_refresh_token,
            refresh_token_ttl_days,
            refresh_token_reuse_grace_seconds,
            id_token_signed_response_alg,
        } = changes;
        set(&mut self.name, name);
        if let Some(description) = description {
            self.description = rules::description(Some(&description));
        }
        set(&mut self.redirect_uris, redirect_uris);
        set(
            &mut self.post_logout_redirect_uris,
            post_logout_redirect_uris,
        );
        set(&mut self.cors_allowed_origins, cors_allowed_origins);
        set(
            &mut self.always_issue_refresh_token,
            always_issue_refresh_token,
        );
        set(&mut self.rotate_refresh_token, rotate_refresh_token);
        set(&mut self.refresh_token_ttl_days, refresh_token_ttl_days);
        set(
            &mut self.refresh_token_reuse_grace_seconds,
            refresh_token_reuse_grace_seconds,
        );
        set(
            &mut self.id_token_signed_response_alg,
            id_token_signed_response_alg,
        );
    }
}

fn differs<T: PartialEq>(new: T, current: &T) -> Option<T> {
    (new != *current).then_some(new)
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

// Read access for the rest of Sigil. On an application that was never
// created or was deleted these return empty values (no type, no secret, no
// URIs), so a caller that forgets `is_active()` still fails closed.
impl Application {
    /// Created and not deleted.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    pub fn is_deleted(&self) -> bool {
        self.status == Status::Deleted
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn app_type(&self) -> Option<ApplicationType> {
        self.app_type
    }

    pub fn is_confidential(&self) -> bool {
        self.app_type.is_some_and(ApplicationType::is_confidential)
    }

    pub fn is_third_party(&self) -> bool {
        self.is_third_party
    }

    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }

    pub fn post_logout_redirect_uris(&self) -> &[String] {
        &self.post_logout_redirect_uris
    }

    pub fn cors_allowed_origins(&self) -> &[String] {
        &self.cors_allowed_origins
    }

    /// Lowercase hex SHA-256 of the current client secret.
    pub fn client_secret_digest(&self) -> Option<&str> {
        self.client_secret_digest.as_deref()
    }

    pub fn always_issue_refresh_token(&self) -> bool {
        self.always_issue_refresh_token
    }

    pub fn rotate_refresh_token(&self) -> bool {
        self.rotate_refresh_token
    }

    pub fn refresh_token_ttl_days(&self) -> u32 {
        self.refresh_token_ttl_days
    }

    pub fn refresh_token_reuse_grace_seconds(&self) -> u32 {
        self.refresh_token_reuse_grace_seconds
    }

    pub fn id_token_signed_response_alg(&self) -> SigningAlgorithm {
        self.id_token_signed_response_alg
    }

    /// Ids of the global roles the application holds; only machine-to-
    /// machine applications hold any. They may name roles deleted since,
    /// which grant nothing (`AccessControl::granted_resource_scopes`).
    pub fn role_ids(&self) -> &BTreeSet<String> {
        &self.role_ids
    }

    /// What a third-party application may ask its users to consent to.
    ///
    /// Until an admin sets them, only `openid`: as in Logto, every other
    /// permission must be enabled explicitly, while `openid` is always
    /// allowed because it is the sign-in itself (it is added to whatever
    /// the admin sets). First-party applications are not asked for consent;
    /// for them this is that same default and means nothing.
    pub fn consent_scopes(&self) -> &ConsentScopes {
        self.consent_scopes.as_ref().unwrap_or(&OPENID_ONLY)
    }

    pub fn branding(&self) -> &Branding {
        &self.branding
    }

    /// The name users are shown: the branding display name, else the name.
    pub fn display_name(&self) -> &str {
        self.branding.display_name.as_deref().unwrap_or(&self.name)
    }

    /// Whether `requested` matches one of the registered redirect URIs.
    pub fn accepts_redirect_uri(&self, requested: &str) -> bool {
        self.accepts(&self.redirect_uris, requested)
    }

    /// Whether `requested` matches one of the registered post-logout
    /// redirect URIs (OpenID Connect RP-Initiated Logout 1.0 §3).
    pub fn accepts_post_logout_redirect_uri(&self, requested: &str) -> bool {
        self.accepts(&self.post_logout_redirect_uris, requested)
    }

    fn accepts(&self, registered: &[String], requested: &str) -> bool {
        match self.active_type() {
            Ok(app_type) => registered
                .iter()
                .any(|uri| redirect_uri_matches(uri, requested, app_type)),
            Err(_) => false,
        }
    }
}
