//! No secret at rest, ever: after a workload that exercises every kind of secret (client
//! secret, password, session cookie, authorization code, access and refresh tokens, a
//! connector's client secret), every text and byte column of every table (the log, lookups,
//! read models) is scanned for any of them in clear. Both backends.

use sigil_domain::ApplicationType;
use sigil_eventstore::sqlx::{self, Row};
use sigil_eventstore::{Backend, EventStore};
use sigil_tests::flow::{CALLBACK, browser, pkce, sign_in, token};
use sigil_tests::{TestDatabase, TestServer, create_confidential, create_spa, register_user};

const PASSWORD: &str = "correct horse battery staple";

/// Every string and byte value stored anywhere in the database.
async fn everything_stored(store: &EventStore) -> Vec<(String, String)> {
    let tables: Vec<String> = match store.backend() {
        Backend::Postgres => sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(store.pool())
        .await
        .unwrap(),
        Backend::Sqlite => {
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(store.pool())
                .await
                .unwrap()
        }
    };
    let mut values = Vec::new();
    // sqlx's and SQLite's own bookkeeping hold migration checksums and counters, nothing of ours.
    for table in tables
        .into_iter()
        .filter(|t| !t.starts_with("_sqlx") && !t.starts_with("sqlite_"))
    {
        let rows = sqlx::query(&format!("SELECT * FROM {table}"))
            .fetch_all(store.pool())
            .await
            .unwrap();
        for row in rows {
            for i in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    values.push((table.clone(), text));
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    values.push((table.clone(), String::from_utf8_lossy(&bytes).into_owned()));
                }
            }
        }
    }
    values
}

#[tokio::test]
async fn no_secret_is_stored_in_clear_anywhere() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        let mut secrets: Vec<(&str, String)> = vec![("password", PASSWORD.to_string())];
        register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
        create_spa(&server.commands, "spa", "Single page").await;
        let m2m =
            create_confidential(&server.commands, "m2m", ApplicationType::MachineToMachine).await;
        secrets.push(("client secret", m2m.clone()));

        let (_, body) = token(
            &server.base,
            &[("grant_type", "client_credentials")],
            Some(("m2m", &m2m)),
        )
        .await;
        secrets.push((
            "client_credentials token",
            body["access_token"].as_str().unwrap().to_string(),
        ));

        // Sign in through the browser, keeping the last response to see the cookie and code.
        let (verifier, challenge) = pkce();
        let response = sign_in(
            &server.base,
            &browser(),
            "spa",
            "openid offline_access",
            Some(&challenge),
            &[("prompt", "consent")],
            ("alice", PASSWORD),
        )
        .await;
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("sigil_session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string();
        secrets.push(("session cookie", cookie));
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let code = sigil_tests::flow::param(&location, "code").unwrap();
        secrets.push(("authorization code", code.clone()));
        let (status, body) = token(
            &server.base,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "spa"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        secrets.push((
            "access token",
            body["access_token"].as_str().unwrap().to_string(),
        ));
        let refresh = body["refresh_token"].as_str().unwrap().to_string();
        secrets.push(("refresh token", refresh.clone()));
        let (_, body) = token(
            &server.base,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "spa"),
                ("refresh_token", &refresh),
            ],
            None,
        )
        .await;
        secrets.push((
            "rotated refresh token",
            body["refresh_token"].as_str().unwrap().to_string(),
        ));
        secrets.push((
            "refreshed access token",
            body["access_token"].as_str().unwrap().to_string(),
        ));

        // A connector's client secret, set at creation and changed once.
        let printed = sigil_api::bootstrap::bootstrap(&server.commands, &server.issuer())
            .await
            .unwrap();
        let (_, body) = token(
            &server.base,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "urn:sigil:management"),
                ("scope", "all"),
            ],
            Some((&printed.client_id, &printed.client_secret)),
        )
        .await;
        let admin = body["access_token"].as_str().unwrap().to_string();
        let graphql = |query: &'static str, variables: serde_json::Value| {
            let (url, admin) = (server.url("/graphql"), admin.clone());
            async move {
                let body: serde_json::Value = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(admin)
                    .json(&serde_json::json!({ "query": query, "variables": variables }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(body.get("errors").is_none(), "{body}");
                body["data"].clone()
            }
        };
        let (first, second) = ("connector-secret-one-Zq81", "connector-secret-two-Xw42");
        let created = graphql(
            "mutation($i: CreateOidcConnectorInput!) { createOidcConnector(input: $i) { id } }",
            serde_json::json!({ "i": {
                "displayName": "Acme", "clientId": "sigil", "clientSecret": first,
                "scope": "openid", "authorizationEndpoint": "https://id.acme.example/auth",
                "tokenEndpoint": "https://id.acme.example/token",
                "idTokenVerificationConfig": {
                    "jwksUri": "https://id.acme.example/jwks",
                    "issuer": ["https://id.acme.example"],
                },
            } }),
        )
        .await;
        let id = created["createOidcConnector"]["id"].clone();
        graphql(
            "mutation($id: ID!, $i: UpdateOidcConnectorInput!) { updateOidcConnector(id: $id, input: $i) { id } }",
            serde_json::json!({ "id": id, "i": { "clientSecret": second } }),
        )
        .await;
        secrets.push(("connector client secret", first.to_string()));
        secrets.push(("rotated connector client secret", second.to_string()));

        let stored = everything_stored(&db.store).await;
        assert!(
            stored.iter().any(|(t, _)| t == "events"),
            "the scan reads the log"
        );
        for (kind, secret) in &secrets {
            for (table, value) in &stored {
                assert!(
                    !value.contains(secret.as_str()),
                    "{:?}: a {kind} is in clear in {table}",
                    db.backend()
                );
            }
        }
        // What is kept instead: digests, and the Argon2id hash.
        let all: String = stored
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(all.contains(&sigil_api::oidc::tokens::digest(&m2m)));
        assert!(all.contains("$argon2id$"));
        assert!(all.contains("\"sealed_client_secret\":\"v1."));
        server.stop().await;
    }
}
