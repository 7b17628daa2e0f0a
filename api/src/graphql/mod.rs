//! The management API (CONTRACT.md): GraphQL at `/graphql`. POST runs queries and mutations,
//! GET serves GraphiQL, and a WebSocket (graphql-transport-ws) carries subscriptions.
//!
//! Mutations are commands on aggregates (events in the log); lists read projections, single
//! objects are loaded from their streams. A mutation returns only once every read model has
//! applied it, so a client reads its own writes (and can use what it created at once).
//!
//! - [`auth`]: the bearer token, checked before anything runs.
//! - [`error`]: the one error type, with stable `extensions.code` values.
//! - one module per part of the schema: applications, users, access control (API resources,
//!   scopes, roles), organizations, connectors and the sign-in experience, the audit trail
//!   and analytics, point-in-time answers (history), and the live log.

pub mod auth;
mod error;
mod pagination;

mod access_control;
mod analytics;
mod applications;
mod audit;
mod connectors;
mod history;
mod organizations;
mod subscription;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Context, Data, MergedObject, Schema};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::commands::CommandContext;
use crate::oidc::context::request_context;
pub(crate) use crate::oidc::tokens::new_id;
use crate::state::AppState;
use auth::{Admin, AuthError};
pub use error::{ApiError, ApiResult, Code};

/// Deep enough for every query the schema was designed for, shallow enough that a nested
/// query cannot fan out without bound.
const MAX_DEPTH: usize = 12;
/// Each field costs 1, a list field its `first` times its children.
const MAX_COMPLEXITY: usize = 5_000;
/// How long a mutation waits for the read models to apply it before answering anyway.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(MergedObject, Default)]
pub struct Query(
    applications::ApplicationQuery,
    users::UserQuery,
    access_control::AccessControlQuery,
    organizations::OrganizationQuery,
    audit::AuditQuery,
    analytics::AnalyticsQuery,
    connectors::ConnectorQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    applications::ApplicationMutation,
    users::UserMutation,
    access_control::AccessControlMutation,
    organizations::OrganizationMutation,
    connectors::ConnectorMutation,
);

pub type ManagementSchema = Schema<Query, Mutation, subscription::Subscription>;

fn build(state: Option<Arc<AppState>>) -> ManagementSchema {
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::Subscription,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY);
    match state {
        Some(state) => builder.data(state).finish(),
        None => builder.finish(),
    }
}

/// The schema in SDL, as `sigil graphql schema` prints it and docs/schema.graphql holds it.
pub fn sdl() -> String {
    build(None).sdl()
}

#[derive(Clone)]
struct Graphql {
    state: Arc<AppState>,
    schema: ManagementSchema,
}

pub fn router(state: Arc<AppState>) -> Router {
    let schema = build(Some(state.clone()));
    Router::new()
        .route("/graphql", get(get_graphql).post(post_graphql))
        .with_state(Graphql { state, schema })
}

async fn post_graphql(
    State(g): State<Graphql>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Nothing runs, not even parsing the query, before the token is checked.
    let admin = match auth::authenticate(&g.state, auth::bearer(&headers)).await {
        Ok(admin) => admin,
        Err(e) => return refused(e),
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(&format!("the body must be a GraphQL request in JSON: {e}"));
        }
    };
    let context = request_context(&headers, Some(peer), actor(&admin));
    let response = g.schema.execute(request.data(admin).data(context)).await;
    GraphQLResponse::from(response).into_response()
}

/// GraphiQL for a browser; the graphql-transport-ws subscription protocol for a WebSocket.
async fn get_graphql(State(g): State<Graphql>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return graphiql();
    }
    let (mut parts, _) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let headers = parts.headers;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let state = g.state.clone();
            GraphQLWebSocket::new(socket, g.schema, protocol)
                .on_connection_init(move |payload| async move {
                    // Browsers cannot set headers on a WebSocket: the token comes in the
                    // connection_init payload, as `Authorization: Bearer …`.
                    let token = payload
                        .get("Authorization")
                        .or_else(|| payload.get("authorization"))
                        .and_then(|v| v.as_str())
                        .and_then(|v| v.split_once(' '))
                        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                        .map(|(_, token)| token.trim().to_string());
                    let admin = auth::authenticate(&state, token.as_deref())
                        .await
                        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    let mut data = Data::default();
                    data.insert(request_context(&headers, peer, actor(&admin)));
                    data.insert(admin);
                    Ok(data)
                })
                .serve()
        })
}

fn graphiql() -> Response {
    let page = GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql")
        .title("Sigil management API")
        .finish();
    let mut response = Html(page).into_response();
    response
        .headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn actor(admin: &Admin) -> String {
    format!("client:{}", admin.client_id)
}

/// 401 or 403 with the RFC 6750 §3 challenge and a GraphQL-shaped body; never any data.
fn refused(e: AuthError) -> Response {
    let (status, code, challenge) = match &e {
        AuthError::Missing => (
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Bearer realm=\"sigil\"".to_string(),
        ),
        AuthError::Invalid(_) => (
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Bearer realm=\"sigil\", error=\"invalid_token\"".to_string(),
        ),
        AuthError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            Code::Forbidden.as_str(),
            format!(
                "Bearer realm=\"sigil\", error=\"insufficient_scope\", scope=\"{}\"",
                auth::MANAGEMENT_SCOPE
            ),
        ),
    };
    let body = serde_json::json!({
        "errors": [{ "message": e.to_string(), "extensions": { "code": code } }]
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

fn bad_request(message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": Code::Validation.as_str() } }]
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// GraphQL ids as the domain's.
pub(crate) fn ids(ids: Vec<async_graphql::ID>) -> Vec<String> {
    ids.into_iter().map(|i| i.0).collect()
}

/// What every resolver reaches.
pub(crate) fn app<'a>(ctx: &Context<'a>) -> &'a Arc<AppState> {
    ctx.data_unchecked::<Arc<AppState>>()
}

/// The metadata of the events a mutation writes: the admin application, its address, when.
pub(crate) fn command_context(ctx: &Context<'_>) -> CommandContext {
    let mut context = ctx
        .data_opt::<CommandContext>()
        .cloned()
        .unwrap_or_else(|| CommandContext::system("management-api"));
    context.now = chrono::Utc::now();
    context
}

/// Waits until every read model has applied what this request wrote, so that the client's
/// next query (or token request) sees it. A read model that lags beyond the timeout does
/// not fail the mutation, which is already in the log.
pub(crate) async fn settle(state: &AppState) -> ApiResult<()> {
    let position = state.store.last_position().await?;
    for runner in &state.projections {
        if let Err(e) = runner.catch_up_to(position, SETTLE_TIMEOUT).await {
            tracing::warn!(projection = runner.name(), error = %e, "read model did not settle");
        }
    }
    Ok(())
}
