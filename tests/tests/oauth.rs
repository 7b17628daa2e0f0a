//! OAuth 2.0 over HTTP: client authentication (basic, post, none), the client credentials
//! grant, introspection (RFC 7662), revocation (RFC 7009) and discovery, with every refusal
//! checked, on SQLite and PostgreSQL.

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use sigil_api::oidc::tokens::digest;
use sigil_domain::{ApplicationCommand, ApplicationType};
use sigil_eventstore::sqlx;
use sigil_tests::{TestDatabase, TestServer, create_confidential, create_spa, ctx};

struct World {
    server: TestServer,
    http: Client,
    m2m_secret: String,
    web_secret: String,
}

async fn world(db: &TestDatabase) -> World {
    let server = TestServer::start(db).await;
    let m2m_secret =
        create_confidential(&server.commands, "m2m", ApplicationType::MachineToMachine).await;
    let web_secret =
        create_confidential(&server.commands, "web", ApplicationType::Traditional).await;
    create_spa(&server.commands, "spa", "Single page").await;
    World {
        server,
        http: Client::new(),
        m2m_secret,
        web_secret,
    }
}

impl World {
    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Response {
        let mut request = self.http.post(self.server.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    async fn token(&self) -> String {
        let response = self
            .post(
                "/oidc/token",
                &[("grant_type", "client_credentials")],
                Some(("m2m", &self.m2m_secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn introspect(&self, token: &str) -> Value {
        let response = self
            .post(
                "/oidc/token/introspection",
                &[("token", token)],
                Some(("web", &self.web_secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

async fn error_of(response: Response) -> (StatusCode, String) {
    let status = response.status();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn client_credentials_with_basic_and_post_issue_tokens_that_introspect() {
    for db in TestDatabase::all().await {
        let w = world(&db).await;
        let basic = w
            .post(
                "/oidc/token",
                &[("grant_type", "client_credentials")],
                Some(("m2m", &w.m2m_secret)),
            )
            .await;
        assert_eq!(basic.status(), 200, "{:?}", db.backend());
        assert_eq!(basic.headers()["cache-control"], "no-store");
        assert_eq!(basic.headers()["pragma"], "no-cache");
        let body: Value = basic.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        let token = body["access_token"].as_str().unwrap().to_string();

        let post = w
            .post(
                "/oidc/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "m2m"),
                    ("client_secret", &w.m2m_secret),
                ],
                None,
            )
            .await;
        assert_eq!(post.status(), 200);

        let info = w.introspect(&token).await;
        assert_eq!(info["active"], true);
        assert_eq!(info["client_id"], "m2m");
        assert_eq!(info["iss"], w.server.issuer());
        assert_eq!(
            w.introspect("not-a-token").await,
            serde_json::json!({ "active": false })
        );

        // The log and the lookup hold the digest only.
        let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM events")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
        let all = payloads.join("\n");
        assert!(all.contains(&digest(&token)));
        assert!(!all.contains(&token) && !all.contains(&w.m2m_secret));
        let issued: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE event_type = 'AccessTokenIssued' AND metadata LIKE '%client:m2m%'",
        )
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        assert_eq!(issued, 2);
        w.server.stop().await;
    }
}

#[tokio::test]
async fn client_authentication_failures_are_refused() {
    for db in TestDatabase::all().await {
        let w = world(&db).await;
        let grant = [("grant_type", "client_credentials")];
        // Wrong secret over Basic: 401 with a challenge (RFC 6749 §5.2).
        let response = w.post("/oidc/token", &grant, Some(("m2m", "wrong"))).await;
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(
            error_of(response).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into())
        );
        // Wrong secret in the body: 400.
        let response = w
            .post(
                "/oidc/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "m2m"),
                    ("client_secret", "wrong"),
                ],
                None,
            )
            .await;
        assert_eq!(
            error_of(response).await,
            (StatusCode::BAD_REQUEST, "invalid_client".into())
        );
        // A confidential client may not skip its secret.
        let response = w
            .post(
                "/oidc/token",
                &[("grant_type", "client_credentials"), ("client_id", "m2m")],
                None,
            )
            .await;
        assert_eq!(error_of(response).await.1, "invalid_client");
        // Unknown client, another client's secret, a public client presenting a secret.
        let response = w
            .post("/oidc/token", &grant, Some(("nobody", &w.m2m_secret)))
            .await;
        assert_eq!(error_of(response).await.1, "invalid_client");
        let response = w
            .post("/oidc/token", &grant, Some(("web", &w.m2m_secret)))
            .await;
        assert_eq!(error_of(response).await.1, "invalid_client");
        let response = w
            .post("/oidc/token", &grant, Some(("spa", "anything")))
            .await;
        assert_eq!(error_of(response).await.1, "invalid_client");
        // A deleted application authenticates no more.
        w.server
            .commands
            .application("m2m", ApplicationCommand::Delete, &ctx())
            .await
            .unwrap();
        let response = w
            .post("/oidc/token", &grant, Some(("m2m", &w.m2m_secret)))
            .await;
        assert_eq!(error_of(response).await.1, "invalid_client");
        w.server.stop().await;
    }
}

#[tokio::test]
async fn malformed_requests_and_unsupported_grants_are_refused() {
    for db in TestDatabase::all().await {
        let w = world(&db).await;
        let m2m = Some(("m2m", w.m2m_secret.as_str()));
        let response = w.post("/oidc/token", &[], m2m).await;
        assert_eq!(error_of(response).await.1, "invalid_request");
        let response = w
            .post("/oidc/token", &[("grant_type", "password")], m2m)
            .await;
        assert_eq!(error_of(response).await.1, "unsupported_grant_type");
        let response = w
            .post(
                "/oidc/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("grant_type", "client_credentials"),
                ],
                m2m,
            )
            .await;
        assert_eq!(error_of(response).await.1, "invalid_request");
        let response = w
            .http
            .post(w.server.url("/oidc/token"))
            .basic_auth("m2m", Some(&w.m2m_secret))
            .json(&serde_json::json!({ "grant_type": "client_credentials" }))
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(response).await.1, "invalid_request");
        // Scopes the application holds nothing for.
        let response = w
            .post(
                "/oidc/token",
                &[("grant_type", "client_credentials"), ("scope", "read")],
                m2m,
            )
            .await;
        assert_eq!(error_of(response).await.1, "invalid_scope");
        // Only machine-to-machine applications use client_credentials.
        let response = w
            .post(
                "/oidc/token",
                &[("grant_type", "client_credentials")],
                Some(("web", &w.web_secret)),
            )
            .await;
        assert_eq!(error_of(response).await.1, "unauthorized_client");
        let response = w
            .post(
                "/oidc/token",
                &[("grant_type", "client_credentials"), ("client_id", "spa")],
                None,
            )
            .await;
        assert_eq!(error_of(response).await.1, "unauthorized_client");
        w.server.stop().await;
    }
}

#[tokio::test]
async fn revocation_ends_a_token_for_its_own_client_only() {
    for db in TestDatabase::all().await {
        let w = world(&db).await;
        let token = w.token().await;
        // Another client may not revoke it.
        let response = w
            .post(
                "/oidc/token/revocation",
                &[("token", &token)],
                Some(("web", &w.web_secret)),
            )
            .await;
        assert_eq!(error_of(response).await.1, "invalid_request");
        assert_eq!(w.introspect(&token).await["active"], true);
        // Its own client may, twice; unknown tokens are answered 200 too (RFC 7009 §2.2).
        for _ in 0..2 {
            let response = w
                .post(
                    "/oidc/token/revocation",
                    &[("token", &token)],
                    Some(("m2m", &w.m2m_secret)),
                )
                .await;
            assert_eq!(response.status(), 200);
        }
        let response = w
            .post(
                "/oidc/token/revocation",
                &[("token", "unknown")],
                Some(("m2m", &w.m2m_secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(w.introspect(&token).await["active"], false);
        let revoked: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = 'TokenRevoked'")
                .fetch_one(db.store.pool())
                .await
                .unwrap();
        assert_eq!(revoked, 1, "revoking twice records once");
        w.server.stop().await;
    }
}

#[tokio::test]
async fn introspection_requires_an_authenticated_client() {
    for db in TestDatabase::all().await {
        let w = world(&db).await;
        let token = w.token().await;
        let response = w
            .post(
                "/oidc/token/introspection",
                &[("token", &token), ("client_id", "spa")],
                None,
            )
            .await;
        assert_eq!(error_of(response).await.1, "invalid_client");
        let response = w
            .post("/oidc/token/introspection", &[("token", &token)], None)
            .await;
        assert_eq!(error_of(response).await.1, "invalid_client");
        w.server.stop().await;
    }
}

#[tokio::test]
async fn discovery_documents_name_the_endpoints() {
    for db in TestDatabase::all().await {
        let w = world(&db).await;
        for path in [
            "/oidc/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/oidc",
        ] {
            let doc: Value = w
                .http
                .get(w.server.url(path))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let issuer = w.server.issuer();
            assert_eq!(doc["issuer"], issuer);
            assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
            assert_eq!(doc["authorization_endpoint"], format!("{issuer}/auth"));
            assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"));
            assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/me"));
            assert_eq!(
                doc["revocation_endpoint"],
                format!("{issuer}/token/revocation")
            );
            assert_eq!(
                doc["introspection_endpoint"],
                format!("{issuer}/token/introspection")
            );
            assert_eq!(
                doc["code_challenge_methods_supported"],
                serde_json::json!(["S256"])
            );
            assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        }
        w.server.stop().await;
    }
}
