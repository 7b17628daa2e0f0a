//! Sigil's domain: the aggregates of an event-sourced OpenID Connect
//! provider and the rules they enforce. Pure by design: no IO, no clock, no
//! randomness. Ids, times and secrets come in the commands, secrets only as
//! digests, so replaying the event log always rebuilds the same state.

pub mod access_control;
pub mod access_token;
pub mod application;
pub mod authorization_code;
pub mod connector;
pub mod consent;
mod id_set;
pub mod organization;
pub mod redirect_uri;
pub mod refresh_token;
pub mod session;
pub mod sign_in_experience;
pub mod signing_key;
pub mod throttle;
pub mod upstream_sign_in;
pub mod user;

pub use access_control::{
    ACCESS_CONTROL_ID, AccessControl, AccessControlCommand, AccessControlError, AccessControlEvent,
    ApiResource, MANAGEMENT_RESOURCE, OrganizationRole, OrganizationScope, ResourceScope, Role,
    RoleKind,
};
pub use application::{
    Application, ApplicationChanges, ApplicationCommand, ApplicationError, ApplicationEvent,
    ApplicationType, Branding, BrandingField, ConsentScopes, NewApplication, SigningAlgorithm,
    USER_SCOPES,
};
pub use organization::{Organization, OrganizationCommand, OrganizationError, OrganizationEvent};
pub use redirect_uri::{UriError, redirect_uri_matches};
pub use signing_key::{
    SEALED_KEY_PREFIX, SigningKey, SigningKeyCommand, SigningKeyError, SigningKeyEvent,
};
pub use user::{FederatedIdentity, NewUser, User, UserChanges, UserCommand, UserError, UserEvent};
