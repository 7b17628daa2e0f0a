//! What a token may carry, decided from RBAC (seed 003, RFC 8707):
//!
//! - At authorization, [`grantable`] keeps of the requested scopes only those the user holds:
//!   user scopes (for a third-party app, only those it may ask for), scopes of the requested
//!   API resources that the user's roles grant, and organization scopes that the user's
//!   organization roles grant in some organization. The rest is dropped (RFC 6749 §3.3).
//!   A third-party app is further limited to the permissions `setApplicationConsentScopes`
//!   allows it, and the consent page lists exactly what is left.
//! - At the token endpoint, [`for_user`] and [`for_client`] turn a grant into one token's
//!   target: a `resource` gives a JWT access token (RFC 9068) for it with the scopes the
//!   roles grant *now*; an `organization_id` gives an organization token; neither gives an
//!   opaque token with the user scopes, good at userinfo.

use std::collections::BTreeSet;

use sigil_domain::access_control::{
    ACCESS_CONTROL_ID, AccessControl, ApiResource, is_resource_indicator,
};
use sigil_domain::access_token::{GrantType, IssueAccessToken};
use sigil_domain::organization::Organization;
use sigil_domain::{Application, User};
use sigil_eventstore::StoreError;

use sigil_domain::consent::{Consent, consent_id};

use super::authorize::request::{AuthRequest, SUPPORTED_SCOPES};
use super::client_auth::AuthenticatedClient;
use super::error::OAuthError;
use super::form::OAuthForm;
use super::jwt_access_token::organization_audience;
use super::organizations::member_of;
use crate::oidc::token::client_credentials::ACCESS_TOKEN_TTL_SECS;
use crate::state::AppState;

/// The scope that asks for the user's organizations and allows organization tokens.
pub const ORGANIZATIONS_SCOPE: &str = "organizations";

/// One access token's audience, scopes and lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The resource indicator, or the organization's URN; `None` for an opaque token.
    pub audience: Option<String>,
    pub organization_id: Option<String>,
    pub scope: Vec<String>,
    pub ttl_secs: i64,
}

impl Target {
    /// The event payload of an access token for this target (its digest, never the token).
    pub fn issue(
        &self,
        grant_type: GrantType,
        client_id: &str,
        subject: Option<&str>,
        token_digest: String,
        issued_at: i64,
    ) -> IssueAccessToken {
        IssueAccessToken {
            grant_type,
            client_id: client_id.to_string(),
            subject: subject.map(str::to_string),
            scope: self.scope.clone(),
            audience: self.audience.clone(),
            organization_id: self.organization_id.clone(),
            token_digest,
            issued_at,
            expires_at: issued_at + self.ttl_secs,
        }
    }

    fn opaque(scope: Vec<String>) -> Target {
        Target {
            audience: None,
            organization_id: None,
            scope,
            ttl_secs: ACCESS_TOKEN_TTL_SECS,
        }
    }

    fn resource(resource: &ApiResource, scope: Vec<String>) -> Target {
        Target {
            audience: Some(resource.indicator.clone()),
            organization_id: None,
            scope,
            ttl_secs: resource.access_token_ttl_secs.into(),
        }
    }
}

async fn access_control(state: &AppState) -> Result<std::sync::Arc<AccessControl>, StoreError> {
    state
        .commands
        .current::<AccessControl>(ACCESS_CONTROL_ID)
        .await
}

fn requested_resource(form: &OAuthForm) -> Result<Option<&str>, OAuthError> {
    match form.resources().as_slice() {
        [] => Ok(None),
        [one] if is_resource_indicator(one) => Ok(Some(one)),
        [_] => Err(OAuthError::InvalidTarget(
            "resource must be an absolute URI without a fragment".into(),
        )),
        _ => Err(OAuthError::InvalidTarget(
            "one access token is for one resource: send one resource parameter".into(),
        )),
    }
}

/// `client_credentials` (RFC 6749 §4.4): a machine-to-machine application's own roles.
pub async fn for_client(
    state: &AppState,
    application: &Application,
    form: &OAuthForm,
) -> Result<Target, OAuthError> {
    let requested: Option<BTreeSet<&str>> = form.get("scope").map(|s| s.split(' ').collect());
    let Some(indicator) = requested_resource(form)? else {
        // Without a resource there is nothing a scope could be for.
        if let Some(scope) = form.get("scope") {
            return Err(OAuthError::InvalidScope(format!(
                "scope {scope:?} needs a resource parameter naming the API it is for"
            )));
        }
        return Ok(Target::opaque(vec![]));
    };
    let ac = access_control(state).await?;
    let resource = ac
        .api_resource_by_indicator(indicator)
        .ok_or_else(|| OAuthError::InvalidTarget(format!("no API resource {indicator:?}")))?;
    let held = ac.granted_resource_scopes(application.role_ids(), indicator);
    let scope: Vec<String> = match requested {
        // RFC 6749 §3.3: asking for more than the client holds is refused, not trimmed, so
        // that a misconfigured role shows up at once.
        Some(requested) => {
            if let Some(missing) = requested.iter().find(|s| !held.contains(**s)) {
                return Err(OAuthError::InvalidScope(format!(
                    "this application's roles do not grant {missing:?} for {indicator}"
                )));
            }
            requested.into_iter().map(str::to_string).collect()
        }
        None => held.into_iter().collect(),
    };
    Ok(Target::resource(resource, scope))
}

/// A user's grant (code or refresh token) turned into one access token's target.
pub async fn for_user(
    state: &AppState,
    client: &AuthenticatedClient,
    user_id: &str,
    user: &User,
    grant_scope: &[String],
    grant_resources: &[String],
    form: &OAuthForm,
) -> Result<Target, OAuthError> {
    let resource = requested_resource(form)?;
    let organization_id = form.get("organization_id");
    match (resource, organization_id) {
        (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(
            "ask for a resource or an organization, not both".into(),
        )),
        (Some(indicator), None) => {
            if !grant_resources.iter().any(|r| r == indicator) {
                return Err(OAuthError::InvalidTarget(format!(
                    "{indicator} was not a resource of the authorization request"
                )));
            }
            let ac = access_control(state).await?;
            let resource = ac.api_resource_by_indicator(indicator).ok_or_else(|| {
                OAuthError::InvalidTarget(format!("no API resource {indicator:?}"))
            })?;
            // Roles as they are now: a role taken away since sign-in grants nothing more.
            let held = ac.granted_resource_scopes(user.role_ids(), indicator);
            let scope = grant_scope
                .iter()
                .filter(|s| held.contains(*s))
                .cloned()
                .collect();
            Ok(Target::resource(resource, scope))
        }
        (None, Some(organization_id)) => {
            if !grant_scope.iter().any(|s| s == ORGANIZATIONS_SCOPE) {
                return Err(OAuthError::InvalidScope(format!(
                    "an organization token needs the {ORGANIZATIONS_SCOPE:?} scope"
                )));
            }
            let (organization, _) = state.commands.load::<Organization>(organization_id).await?;
            if !organization.is_active() || !organization.is_member(user_id) {
                return Err(OAuthError::InvalidTarget(
                    "the user is not a member of that organization".into(),
                ));
            }
            // A third-party application reaches only the organization the user picked.
            if client.application.is_third_party() {
                let id = consent_id(user_id, &client.id);
                let (consent, _) = state.commands.load::<Consent>(&id).await?;
                if !consent.covers([&organization_consent_item(organization_id)]) {
                    return Err(OAuthError::InvalidTarget(
                        "the user did not grant this application that organization".into(),
                    ));
                }
            }
            let ac = access_control(state).await?;
            let held = ac.granted_organization_scopes(
                organization.member_roles(user_id).into_iter().flatten(),
            );
            let scope = grant_scope
                .iter()
                .filter(|s| held.contains(*s))
                .cloned()
                .collect();
            Ok(Target {
                audience: Some(organization_audience(organization_id)),
                organization_id: Some(organization_id.to_string()),
                scope,
                ttl_secs: ACCESS_TOKEN_TTL_SECS,
            })
        }
        (None, None) => Ok(Target::opaque(
            grant_scope
                .iter()
                .filter(|s| SUPPORTED_SCOPES.contains(&s.as_str()))
                .cloned()
                .collect(),
        )),
    }
}

/// A permission as the consent page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePermissions {
    pub indicator: String,
    pub name: String,
    pub scopes: Vec<Permission>,
}

/// What of an authorization request the user holds and the application may ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grantable {
    pub user_scopes: Vec<String>,
    pub resources: Vec<ResourcePermissions>,
    pub organization_scopes: Vec<Permission>,
    /// The organizations the user belongs to, when `organizations` is granted: (id, name).
    pub organizations: Vec<(String, String)>,
}

impl Grantable {
    /// The scope of the code: every granted name, once.
    pub fn scope(&self) -> Vec<String> {
        let mut all: BTreeSet<String> = self.user_scopes.iter().cloned().collect();
        for r in &self.resources {
            all.extend(r.scopes.iter().map(|s| s.name.clone()));
        }
        all.extend(self.organization_scopes.iter().map(|s| s.name.clone()));
        all.into_iter().collect()
    }

    /// What a consent must cover, by id, so that scopes of the same name on two resources
    /// are consented separately.
    pub fn consent_items(&self) -> Vec<String> {
        let mut items: Vec<String> = self.user_scopes.clone();
        for r in &self.resources {
            items.extend(r.scopes.iter().map(|s| format!("resource_scope:{}", s.id)));
        }
        items.extend(
            self.organization_scopes
                .iter()
                .map(|s| format!("organization_scope:{}", s.id)),
        );
        items
    }

    /// The consent items, with the organization the person picked on the page (when
    /// organization permissions were asked and it is one of theirs; a single organization is
    /// picked by being the only one).
    pub fn consent_items_for(&self, picked: Option<&str>) -> Vec<String> {
        let mut items = self.consent_items();
        if !self.organization_scopes.is_empty() {
            let picked = match (picked, self.organizations.as_slice()) {
                (Some(id), all) => all.iter().find(|(o, _)| o == id),
                (None, [only]) => Some(only),
                (None, _) => None,
            };
            if let Some((id, _)) = picked {
                items.push(organization_consent_item(id));
            }
        }
        items
    }
}

/// What a third-party application's consent must cover for organization tokens of
/// `organization_id`: the user picked that organization on the consent page.
pub fn organization_consent_item(organization_id: &str) -> String {
    format!("organization:{organization_id}")
}

/// Filters an authorization request down to what the user holds (see the module docs).
pub async fn grantable(
    state: &AppState,
    application: &Application,
    user_id: &str,
    user: &User,
    request: &AuthRequest,
) -> Result<Grantable, StoreError> {
    let requested: BTreeSet<&str> = request.scope.iter().map(String::as_str).collect();
    let third_party = application.is_third_party();
    let allowed = application.consent_scopes();
    let user_scopes = requested
        .iter()
        .filter(|s| SUPPORTED_SCOPES.contains(*s))
        // `openid` is the sign-in itself; a third-party app needs nothing more for it.
        .filter(|s| !third_party || **s == "openid" || allowed.user_scopes.iter().any(|u| u == *s))
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    // Organization scopes are words that are not user scopes, asked with `organizations`.
    let asks_organization_scopes = user_scopes.iter().any(|s| s == ORGANIZATIONS_SCOPE)
        && requested.iter().any(|s| !SUPPORTED_SCOPES.contains(s));
    // The common sign-in names no resource and no organization scope: no RBAC to read.
    if request.resources.is_empty() && !asks_organization_scopes {
        return Ok(Grantable {
            user_scopes,
            ..Grantable::default()
        });
    }
    let ac = access_control(state).await?;
    let mut resources = Vec::new();
    for indicator in &request.resources {
        let Some(resource) = ac.api_resource_by_indicator(indicator) else {
            continue;
        };
        let held = ac.granted_resource_scopes(user.role_ids(), indicator);
        let scopes: Vec<Permission> = ac
            .resource_scopes(&resource.resource_id)
            .filter(|s| requested.contains(s.name.as_str()) && held.contains(&s.name))
            .filter(|s| !third_party || allowed.resource_scope_ids.contains(&s.scope_id))
            .map(|s| Permission {
                id: s.scope_id.clone(),
                name: s.name.clone(),
                description: s.description.clone(),
            })
            .collect();
        if !scopes.is_empty() {
            resources.push(ResourcePermissions {
                indicator: indicator.clone(),
                name: resource.name.clone(),
                scopes,
            });
        }
    }
    let mut organization_scopes = Vec::new();
    let mut organizations = Vec::new();
    if asks_organization_scopes {
        let mut held = BTreeSet::new();
        for organization_id in member_of(state.store.pool(), user_id).await? {
            let (organization, _) = state
                .commands
                .load::<Organization>(&organization_id)
                .await?;
            if !organization.is_active() {
                continue;
            }
            held.extend(ac.granted_organization_scopes(
                organization.member_roles(user_id).into_iter().flatten(),
            ));
            organizations.push((organization_id, organization.name().to_string()));
        }
        organization_scopes = ac
            .organization_scopes()
            .filter(|s| requested.contains(s.name.as_str()) && held.contains(&s.name))
            .filter(|s| !third_party || allowed.organization_scope_ids.contains(&s.scope_id))
            .map(|s| Permission {
                id: s.scope_id.clone(),
                name: s.name.clone(),
                description: s.description.clone(),
            })
            .collect();
    }
    Ok(Grantable {
        user_scopes,
        resources,
        organization_scopes,
        organizations,
    })
}
