//! Connectors (seed 004's OIDC connector) and the sign-in experience that offers them. The
//! client secret goes in and is sealed at once; no query ever returns it.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use sigil_domain::connector::{
    AuthRequestOptions, Connector, ConnectorCommand, OidcConnectorConfig,
    TokenEndpointAuthMethod as Method,
};
use sigil_domain::sign_in_experience::{
    SIGN_IN_EXPERIENCE_ID, SignInExperience, SignInExperienceCommand, SignInMethods,
};

use super::error::{ApiError, ApiResult};
use super::{app, command_context, new_id, settle};
use crate::connectors::config::{ConnectorSettings, IdTokenVerificationSettings, resolve};
use crate::connectors::redirect_uri;
use crate::state::AppState;

/// How Sigil authenticates to the upstream's token endpoint (OIDC Core §9).
// The names are OIDC's, which all happen to start alike.
#[allow(clippy::enum_variant_names)]
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "sigil_domain::connector::TokenEndpointAuthMethod")]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
}

/// Seed 004's `idTokenVerificationConfig`. Times are in seconds.
#[derive(InputObject, Default)]
pub struct IdTokenVerificationInput {
    jwks_uri: Option<String>,
    issuer: Option<Vec<String>>,
    /// Empty: the client id.
    audience: Option<Vec<String>>,
    algorithms: Option<Vec<String>>,
    clock_tolerance: Option<u32>,
    max_token_age: Option<u32>,
}

/// Seed 004's `authRequestOptionalConfig`; `responseType` is always `code`.
#[derive(InputObject, SimpleObject, Default, Clone)]
#[graphql(input_name = "AuthRequestOptionalConfigInput")]
pub struct AuthRequestOptionalConfig {
    prompt: Option<String>,
    max_age: Option<u32>,
    ui_locales: Option<String>,
    login_hint: Option<String>,
    acr_values: Option<String>,
    response_mode: Option<String>,
    display: Option<String>,
    id_token_hint: Option<String>,
}

/// One extra authorization parameter (seed 004's `customConfig`).
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "ParameterInput")]
pub struct Parameter {
    name: String,
    value: String,
}

/// A new connector: an `issuer` (discovery fills the endpoints and the JWKS), or the
/// endpoints themselves.
#[derive(InputObject)]
pub struct CreateOidcConnectorInput {
    display_name: String,
    logo_url: Option<String>,
    issuer: Option<String>,
    client_id: String,
    client_secret: String,
    /// Must include `openid`.
    scope: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    client_secret_jwt_signing_algorithm: Option<String>,
    id_token_verification_config: Option<IdTokenVerificationInput>,
    auth_request_optional_config: Option<AuthRequestOptionalConfig>,
    custom_config: Option<Vec<Parameter>>,
    /// Link a first sign-in to the account with the same email when the upstream says
    /// `email_verified: true`. Default false.
    link_verified_email: Option<bool>,
    /// Default true.
    enabled: Option<bool>,
}

/// Any field of the above; absent fields stay. `""` removes `logoUrl` or `userinfoEndpoint`.
/// An `issuer` runs discovery again.
#[derive(InputObject, Default)]
pub struct UpdateOidcConnectorInput {
    display_name: Option<String>,
    logo_url: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    client_secret_jwt_signing_algorithm: Option<String>,
    id_token_verification_config: Option<IdTokenVerificationInput>,
    auth_request_optional_config: Option<AuthRequestOptionalConfig>,
    custom_config: Option<Vec<Parameter>>,
    link_verified_email: Option<bool>,
    enabled: Option<bool>,
}

impl From<CreateOidcConnectorInput> for UpdateOidcConnectorInput {
    fn from(i: CreateOidcConnectorInput) -> Self {
        UpdateOidcConnectorInput {
            display_name: Some(i.display_name),
            logo_url: i.logo_url,
            issuer: i.issuer,
            client_id: Some(i.client_id),
            client_secret: Some(i.client_secret),
            scope: Some(i.scope),
            authorization_endpoint: i.authorization_endpoint,
            token_endpoint: i.token_endpoint,
            userinfo_endpoint: i.userinfo_endpoint,
            token_endpoint_auth_method: i.token_endpoint_auth_method,
            client_secret_jwt_signing_algorithm: i.client_secret_jwt_signing_algorithm,
            id_token_verification_config: i.id_token_verification_config,
            auth_request_optional_config: i.auth_request_optional_config,
            custom_config: i.custom_config,
            link_verified_email: i.link_verified_email,
            enabled: i.enabled,
        }
    }
}

impl From<UpdateOidcConnectorInput> for ConnectorSettings {
    fn from(i: UpdateOidcConnectorInput) -> Self {
        let v = i.id_token_verification_config.unwrap_or_default();
        ConnectorSettings {
            display_name: i.display_name,
            logo_url: i.logo_url,
            issuer: i.issuer,
            client_id: i.client_id,
            client_secret: i.client_secret,
            scope: i.scope,
            authorization_endpoint: i.authorization_endpoint,
            token_endpoint: i.token_endpoint,
            userinfo_endpoint: i.userinfo_endpoint,
            token_endpoint_auth_method: i.token_endpoint_auth_method.map(Method::from),
            client_secret_jwt_signing_algorithm: i.client_secret_jwt_signing_algorithm,
            id_token_verification: IdTokenVerificationSettings {
                jwks_uri: v.jwks_uri,
                issuer: v.issuer,
                audience: v.audience,
                algorithms: v.algorithms,
                clock_tolerance_secs: v.clock_tolerance.map(u64::from),
                max_token_age_secs: v.max_token_age.map(|m| Some(u64::from(m))),
            },
            auth_request: i.auth_request_optional_config.map(|a| AuthRequestOptions {
                prompt: a.prompt,
                max_age: a.max_age.map(u64::from),
                ui_locales: a.ui_locales,
                login_hint: a.login_hint,
                acr_values: a.acr_values,
                response_mode: a.response_mode,
                display: a.display,
                id_token_hint: a.id_token_hint,
            }),
            custom_params: i
                .custom_config
                .map(|ps| ps.into_iter().map(|p| (p.name, p.value)).collect()),
            link_verified_email: i.link_verified_email,
            enabled: i.enabled,
        }
    }
}

/// A connector as an administrator reads it: everything but the client secret.
pub struct OidcConnector {
    id: String,
    config: OidcConnectorConfig,
    redirect_uri: String,
}

#[derive(SimpleObject)]
pub struct IdTokenVerificationConfig {
    jwks_uri: String,
    issuer: Vec<String>,
    audience: Vec<String>,
    algorithms: Vec<String>,
    clock_tolerance: u64,
    max_token_age: Option<u64>,
}

#[Object]
impl OidcConnector {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// The redirect URI to register at the upstream provider.
    async fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }
    async fn display_name(&self) -> &str {
        &self.config.display_name
    }
    async fn logo_url(&self) -> Option<&str> {
        self.config.logo_url.as_deref()
    }
    /// The issuer discovery was run for, if any.
    async fn issuer(&self) -> Option<&str> {
        self.config.discovery_issuer.as_deref()
    }
    async fn client_id(&self) -> &str {
        &self.config.client_id
    }
    async fn scope(&self) -> &str {
        &self.config.scope
    }
    async fn authorization_endpoint(&self) -> &str {
        &self.config.authorization_endpoint
    }
    async fn token_endpoint(&self) -> &str {
        &self.config.token_endpoint
    }
    async fn userinfo_endpoint(&self) -> Option<&str> {
        self.config.userinfo_endpoint.as_deref()
    }
    async fn token_endpoint_auth_method(&self) -> TokenEndpointAuthMethod {
        self.config.token_endpoint_auth_method.into()
    }
    async fn client_secret_jwt_signing_algorithm(&self) -> Option<&str> {
        self.config.client_secret_jwt_signing_algorithm.as_deref()
    }
    async fn id_token_verification_config(&self) -> IdTokenVerificationConfig {
        let v = &self.config.id_token_verification;
        IdTokenVerificationConfig {
            jwks_uri: v.jwks_uri.clone(),
            issuer: v.issuer.clone(),
            audience: v.audience.clone(),
            algorithms: v.algorithms.clone(),
            clock_tolerance: v.clock_tolerance_secs,
            max_token_age: v.max_token_age_secs,
        }
    }
    async fn auth_request_optional_config(&self) -> AuthRequestOptionalConfig {
        let a = &self.config.auth_request;
        AuthRequestOptionalConfig {
            prompt: a.prompt.clone(),
            max_age: a.max_age.and_then(|m| u32::try_from(m).ok()),
            ui_locales: a.ui_locales.clone(),
            login_hint: a.login_hint.clone(),
            acr_values: a.acr_values.clone(),
            response_mode: a.response_mode.clone(),
            display: a.display.clone(),
            id_token_hint: a.id_token_hint.clone(),
        }
    }
    async fn custom_config(&self) -> Vec<Parameter> {
        self.config
            .custom_params
            .iter()
            .map(|(name, value)| Parameter {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }
    async fn link_verified_email(&self) -> bool {
        self.config.link_verified_email
    }
    async fn enabled(&self) -> bool {
        self.config.enabled
    }
}

/// What `createOidcConnector` and `updateOidcConnector` return (CONTRACT.md).
#[derive(SimpleObject)]
pub struct OidcConnectorPayload {
    id: ID,
    redirect_uri: String,
    connector: OidcConnector,
}

/// Which ways to sign in the sign-in page offers.
#[derive(SimpleObject, InputObject)]
#[graphql(input_name = "SignInExperienceInput")]
pub struct SignInExperienceSettings {
    password: bool,
    connectors: bool,
}

fn view(state: &AppState, id: &str, connector: &Connector) -> OidcConnector {
    OidcConnector {
        id: id.to_string(),
        config: connector.config().clone(),
        redirect_uri: redirect_uri(&state.config.issuer(), id),
    }
}

async fn load(state: &AppState, id: &str) -> ApiResult<Connector> {
    let (connector, _) = state.commands.load::<Connector>(id).await?;
    if !connector.is_active() {
        return Err(ApiError::not_found("connector"));
    }
    Ok(connector)
}

#[derive(Default)]
pub struct ConnectorQuery;

#[Object]
impl ConnectorQuery {
    /// Every connector, oldest first.
    async fn connectors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OidcConnector>> {
        let state = app(ctx);
        let all = crate::connectors::all(state)
            .await
            .map_err(ApiError::from)?;
        Ok(all.iter().map(|(id, c)| view(state, id, c)).collect())
    }

    async fn connector(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<OidcConnector>> {
        let state = app(ctx);
        match load(state, &id).await {
            Ok(c) => Ok(Some(view(state, &id, &c))),
            Err(e) if e.code == super::Code::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn sign_in_experience(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<SignInExperienceSettings> {
        let (experience, _) = app(ctx)
            .commands
            .load::<SignInExperience>(SIGN_IN_EXPERIENCE_ID)
            .await
            .map_err(ApiError::from)?;
        let m = experience.methods();
        Ok(SignInExperienceSettings {
            password: m.password,
            connectors: m.connectors,
        })
    }
}

#[derive(Default)]
pub struct ConnectorMutation;

#[Object]
impl ConnectorMutation {
    async fn create_oidc_connector(
        &self,
        ctx: &Context<'_>,
        input: CreateOidcConnectorInput,
    ) -> async_graphql::Result<OidcConnectorPayload> {
        let id = new_id();
        Ok(configure(ctx, &id, None, input.into()).await?)
    }

    async fn update_oidc_connector(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateOidcConnectorInput,
    ) -> async_graphql::Result<OidcConnectorPayload> {
        let current = load(app(ctx), &id).await?;
        Ok(configure(ctx, &id, Some(current.config()), input).await?)
    }

    /// Deletes a connector; accounts linked through it stay, and can no longer sign in
    /// through it.
    async fn delete_oidc_connector(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let state = app(ctx);
        execute(state, &id, ConnectorCommand::Delete, ctx).await?;
        Ok(id)
    }

    async fn update_sign_in_experience(
        &self,
        ctx: &Context<'_>,
        input: SignInExperienceSettings,
    ) -> async_graphql::Result<SignInExperienceSettings> {
        let state = app(ctx);
        let command = SignInExperienceCommand::Update(SignInMethods {
            password: input.password,
            connectors: input.connectors,
        });
        state
            .commands
            .execute::<SignInExperience>(SIGN_IN_EXPERIENCE_ID, command, &command_context(ctx))
            .await
            .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(input)
    }
}

async fn configure(
    ctx: &Context<'_>,
    id: &str,
    current: Option<&OidcConnectorConfig>,
    input: UpdateOidcConnectorInput,
) -> ApiResult<OidcConnectorPayload> {
    let state = app(ctx);
    let config = resolve(&state.upstreams, id, current, input.into())
        .await
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let command = match current {
        None => ConnectorCommand::Configure(config),
        Some(_) => ConnectorCommand::Update(config),
    };
    execute(state, id, command, ctx).await?;
    let connector = view(state, id, &load(state, id).await?);
    Ok(OidcConnectorPayload {
        id: ID(id.to_string()),
        redirect_uri: connector.redirect_uri.clone(),
        connector,
    })
}

async fn execute(
    state: &AppState,
    id: &str,
    command: ConnectorCommand,
    ctx: &Context<'_>,
) -> ApiResult<()> {
    let context = command_context(ctx);
    let (index_id, created_at) = (id.to_string(), sigil_eventstore::utc_to_micros(context.now));
    state
        .commands
        .execute_indexed::<Connector>(
            id,
            command,
            &context,
            Box::new(move |conn, events| {
                Box::pin(crate::connectors::index(
                    conn,
                    index_id.clone(),
                    created_at,
                    events,
                ))
            }),
        )
        .await?;
    settle(state).await
}
