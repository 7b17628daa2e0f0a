//! Applications (OAuth clients): every setting of the OIDC core, roles for
//! machine-to-machine apps, the permissions a third-party app may ask for, and its branding.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use sigil_domain::application::{Branding, ConsentScopes};
use sigil_domain::{
    Application as App, ApplicationChanges, ApplicationCommand, ApplicationType as AppType,
    NewApplication,
};

use super::access_control::{Role, check_scope_ids, roles_by_ids};
use super::error::{ApiError, ApiResult};
use super::pagination::{Arg, Cursor, Listing, Page, like};
use super::{app, command_context, history, ids, new_id, settle};
use crate::applications;
use chrono::{DateTime, Utc};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ApplicationType", remote = "sigil_domain::ApplicationType")]
pub enum ApplicationType {
    Native,
    Spa,
    Traditional,
    MachineToMachine,
}

/// How ID tokens (and JWT access tokens) for the application are signed.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(rename_items = "UPPERCASE", remote = "sigil_domain::SigningAlgorithm")]
pub enum SigningAlgorithm {
    ES384,
    EdDSA,
    RS256,
}

/// An application as its stream says it is now, or was at `as_of`.
pub struct Application {
    pub id: String,
    pub app: App,
    pub as_of: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct ApplicationBranding {
    display_name: Option<String>,
    logo_url: Option<String>,
    terms_of_use_url: Option<String>,
    privacy_policy_url: Option<String>,
}

/// What a third-party application may ask a user for (seed 001).
#[derive(SimpleObject)]
pub struct ApplicationConsentScopes {
    user_scopes: Vec<String>,
    resource_scope_ids: Vec<ID>,
    organization_scope_ids: Vec<ID>,
}

#[Object]
impl Application {
    /// The OAuth `client_id`.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn name(&self) -> &str {
        self.app.name()
    }
    async fn description(&self) -> Option<&str> {
        self.app.description()
    }
    #[graphql(name = "type")]
    async fn app_type(&self) -> Option<ApplicationType> {
        self.app.app_type().map(Into::into)
    }
    async fn is_third_party(&self) -> bool {
        self.app.is_third_party()
    }
    async fn redirect_uris(&self) -> &[String] {
        self.app.redirect_uris()
    }
    async fn post_logout_redirect_uris(&self) -> &[String] {
        self.app.post_logout_redirect_uris()
    }
    async fn cors_allowed_origins(&self) -> &[String] {
        self.app.cors_allowed_origins()
    }
    /// Whether a client secret is set; the secret itself is shown only when created.
    async fn has_client_secret(&self) -> bool {
        self.app.client_secret_digest().is_some()
    }
    async fn always_issue_refresh_token(&self) -> bool {
        self.app.always_issue_refresh_token()
    }
    async fn rotate_refresh_token(&self) -> bool {
        self.app.rotate_refresh_token()
    }
    async fn refresh_token_ttl_days(&self) -> u32 {
        self.app.refresh_token_ttl_days()
    }
    async fn refresh_token_reuse_grace_seconds(&self) -> u32 {
        self.app.refresh_token_reuse_grace_seconds()
    }
    async fn id_token_signed_response_alg(&self) -> SigningAlgorithm {
        self.app.id_token_signed_response_alg().into()
    }
    async fn branding(&self) -> ApplicationBranding {
        let b = self.app.branding();
        ApplicationBranding {
            display_name: b.display_name.clone(),
            logo_url: b.logo_url.clone(),
            terms_of_use_url: b.terms_of_use_url.clone(),
            privacy_policy_url: b.privacy_policy_url.clone(),
        }
    }
    async fn consent_scopes(&self) -> ApplicationConsentScopes {
        let c = self.app.consent_scopes();
        let ids = |v: &mut dyn Iterator<Item = &String>| v.map(|s| ID(s.clone())).collect();
        ApplicationConsentScopes {
            user_scopes: c.user_scopes.to_vec(),
            resource_scope_ids: ids(&mut c.resource_scope_ids.iter()),
            organization_scope_ids: ids(&mut c.organization_scope_ids.iter()),
        }
    }
    /// Roles of a machine-to-machine application: what `client_credentials` can grant it.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        let ac = history::access_control_at(app(ctx), history::instant(self.as_of)).await?;
        Ok(roles_by_ids(&ac, self.app.role_ids().iter()))
    }
    /// The instant this answer is as of; null for now.
    async fn as_of(&self) -> Option<DateTime<Utc>> {
        self.as_of
    }
}

#[derive(SimpleObject)]
pub struct CreateApplicationPayload {
    application: Application,
    /// Shown once; null for public clients (SPA, native).
    client_secret: Option<String>,
}

#[derive(InputObject)]
pub struct CreateApplicationInput {
    name: String,
    description: Option<String>,
    #[graphql(name = "type")]
    app_type: ApplicationType,
    #[graphql(default)]
    is_third_party: bool,
    #[graphql(default)]
    redirect_uris: Vec<String>,
    #[graphql(default)]
    post_logout_redirect_uris: Vec<String>,
    #[graphql(default)]
    cors_allowed_origins: Vec<String>,
}

#[derive(InputObject, Default)]
pub struct UpdateApplicationInput {
    name: Option<String>,
    /// `""` clears it.
    description: Option<String>,
    /// Cannot change; accepted only when equal to the current type.
    #[graphql(name = "type")]
    app_type: Option<ApplicationType>,
    /// Cannot change; accepted only when equal to the current value.
    is_third_party: Option<bool>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    cors_allowed_origins: Option<Vec<String>>,
    always_issue_refresh_token: Option<bool>,
    rotate_refresh_token: Option<bool>,
    refresh_token_ttl_days: Option<u32>,
    refresh_token_reuse_grace_seconds: Option<u32>,
    id_token_signed_response_alg: Option<SigningAlgorithm>,
}

#[derive(InputObject)]
pub struct ApplicationConsentScopesInput {
    #[graphql(default)]
    user_scopes: Vec<String>,
    #[graphql(default)]
    resource_scope_ids: Vec<ID>,
    #[graphql(default)]
    organization_scope_ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct ApplicationBrandingInput {
    display_name: Option<String>,
    logo_url: Option<String>,
    terms_of_use_url: Option<String>,
    privacy_policy_url: Option<String>,
}

#[derive(InputObject, Default)]
pub struct ApplicationFilter {
    #[graphql(name = "type")]
    app_type: Option<ApplicationType>,
    is_third_party: Option<bool>,
    /// Part of the name, any case.
    search: Option<String>,
}

/// Loads an application that exists (not deleted).
pub async fn load(state: &crate::state::AppState, id: &str) -> ApiResult<Application> {
    load_as_of(state, id, None).await
}

/// The application if it exists now, for fields that name one which may since have been
/// deleted.
pub async fn find(state: &crate::state::AppState, id: &str) -> ApiResult<Option<Application>> {
    match load(state, id).await {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.code == super::Code::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Loads an application as its stream stood at `as_of` (now when `None`); not found if it
/// did not exist then.
pub async fn load_as_of(
    state: &crate::state::AppState,
    id: &str,
    as_of: Option<DateTime<Utc>>,
) -> ApiResult<Application> {
    let (app, _) = state
        .commands
        .load_as_of::<App>(id, history::instant(as_of))
        .await?;
    if !app.is_active() {
        return Err(ApiError::not_found("application"));
    }
    Ok(Application {
        id: id.to_string(),
        app,
        as_of,
    })
}

#[derive(Default)]
pub struct ApplicationQuery;

#[Object]
impl ApplicationQuery {
    /// An application's configuration now, or as it was at `asOf`, rebuilt from the log.
    async fn application(
        &self,
        ctx: &Context<'_>,
        id: ID,
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Option<Application>> {
        match load_as_of(app(ctx), &id, as_of).await {
            Ok(a) => Ok(Some(a)),
            Err(e) if e.code == super::Code::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn applications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ApplicationFilter>,
    ) -> async_graphql::Result<Connection<Cursor, Application, EmptyFields, EmptyFields>> {
        let state = app(ctx);
        let page = Page::new(first, after)?;
        let filter = filter.unwrap_or_default();
        let mut listing = Listing::new("rm_applications");
        if let Some(t) = filter.app_type {
            // The read model holds the type as the domain serialises it.
            let t = serde_json::to_value(AppType::from(t))
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            listing = listing.and("app_type = ?", Arg::Text(t));
        }
        if let Some(third) = filter.is_third_party {
            listing = listing.and("is_third_party = ?", Arg::Bool(third));
        }
        if let Some(s) = filter.search {
            listing = listing.and("LOWER(name) LIKE ?", Arg::Text(like(&s)));
        }
        Ok(listing
            .fetch(state.store.pool(), &page, |id| async move {
                load(state, &id).await
            })
            .await?)
    }
}

#[derive(Default)]
pub struct ApplicationMutation;

#[Object]
impl ApplicationMutation {
    async fn create_application(
        &self,
        ctx: &Context<'_>,
        input: CreateApplicationInput,
    ) -> async_graphql::Result<CreateApplicationPayload> {
        let state = app(ctx);
        let id = new_id();
        let new = NewApplication {
            name: input.name,
            description: input.description,
            app_type: input.app_type.into(),
            is_third_party: input.is_third_party,
            redirect_uris: input.redirect_uris,
            post_logout_redirect_uris: input.post_logout_redirect_uris,
            cors_allowed_origins: input.cors_allowed_origins,
            client_secret_digest: None,
        };
        let secret = applications::register(&state.commands, &id, new, &command_context(ctx))
            .await
            .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(CreateApplicationPayload {
            application: load(state, &id).await?,
            client_secret: secret,
        })
    }

    async fn update_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateApplicationInput,
    ) -> async_graphql::Result<Application> {
        let state = app(ctx);
        let current = load(state, &id).await?;
        if input
            .app_type
            .is_some_and(|t| Some(AppType::from(t)) != current.app.app_type())
        {
            return Err(ApiError::validation("an application's type cannot change").into());
        }
        if input
            .is_third_party
            .is_some_and(|t| t != current.app.is_third_party())
        {
            return Err(ApiError::validation(
                "whether an application is third-party cannot change",
            )
            .into());
        }
        let changes = ApplicationChanges {
            name: input.name,
            description: input.description,
            redirect_uris: input.redirect_uris,
            post_logout_redirect_uris: input.post_logout_redirect_uris,
            cors_allowed_origins: input.cors_allowed_origins,
            always_issue_refresh_token: input.always_issue_refresh_token,
            rotate_refresh_token: input.rotate_refresh_token,
            refresh_token_ttl_days: input.refresh_token_ttl_days,
            refresh_token_reuse_grace_seconds: input.refresh_token_reuse_grace_seconds,
            id_token_signed_response_alg: input.id_token_signed_response_alg.map(Into::into),
        };
        run(ctx, &id, ApplicationCommand::Update(changes)).await
    }

    /// Deletes the application; its id is never reused. Returns the id.
    async fn delete_application(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let state = app(ctx);
        state
            .commands
            .execute::<App>(&id, ApplicationCommand::Delete, &command_context(ctx))
            .await
            .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(id)
    }

    /// A new client secret for a confidential application, shown once; the old one stops
    /// working at once.
    async fn rotate_application_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CreateApplicationPayload> {
        let state = app(ctx);
        let secret = applications::rotate_secret(&state.commands, &id, &command_context(ctx))
            .await
            .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(CreateApplicationPayload {
            application: load(state, &id).await?,
            client_secret: Some(secret),
        })
    }

    /// Which permissions a third-party application may request at all. The consent page
    /// offers a user only those the app may ask for AND the user holds through roles.
    async fn set_application_consent_scopes(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        input: ApplicationConsentScopesInput,
    ) -> async_graphql::Result<Application> {
        let resource_scope_ids: Vec<String> = ids(input.resource_scope_ids);
        let organization_scope_ids: Vec<String> = input
            .organization_scope_ids
            .into_iter()
            .map(|i| i.0)
            .collect();
        check_scope_ids(app(ctx), &resource_scope_ids, &organization_scope_ids).await?;
        let scopes = ConsentScopes {
            user_scopes: input.user_scopes.into_iter().collect(),
            resource_scope_ids: resource_scope_ids.into_iter().collect(),
            organization_scope_ids: organization_scope_ids.into_iter().collect(),
        };
        run(
            ctx,
            &application_id,
            ApplicationCommand::SetConsentScopes(scopes),
        )
        .await
    }

    /// What the consent page shows of the application.
    async fn set_application_branding(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        input: ApplicationBrandingInput,
    ) -> async_graphql::Result<Application> {
        let branding = Branding {
            display_name: input.display_name,
            logo_url: input.logo_url,
            terms_of_use_url: input.terms_of_use_url,
            privacy_policy_url: input.privacy_policy_url,
        };
        run(
            ctx,
            &application_id,
            ApplicationCommand::SetBranding(branding),
        )
        .await
    }

    /// Gives a machine-to-machine application roles: the scopes `client_credentials` grants.
    async fn assign_application_roles(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        role_ids: Vec<ID>,
    ) -> async_graphql::Result<Application> {
        let role_ids: Vec<String> = ids(role_ids);
        super::access_control::check_roles(
            app(ctx),
            &role_ids,
            sigil_domain::access_control::RoleKind::MachineToMachine,
        )
        .await?;
        run(
            ctx,
            &application_id,
            ApplicationCommand::AssignRoles { role_ids },
        )
        .await
    }

    async fn remove_application_roles(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        role_ids: Vec<ID>,
    ) -> async_graphql::Result<Application> {
        let role_ids = ids(role_ids);
        run(
            ctx,
            &application_id,
            ApplicationCommand::RemoveRoles { role_ids },
        )
        .await
    }
}

/// Runs a command on an application, waits for the read models, returns the application.
async fn run(
    ctx: &Context<'_>,
    id: &str,
    command: ApplicationCommand,
) -> async_graphql::Result<Application> {
    let state = app(ctx);
    state
        .commands
        .execute::<App>(id, command, &command_context(ctx))
        .await
        .map_err(ApiError::from)?;
    settle(state).await?;
    Ok(load(state, id).await?)
}
