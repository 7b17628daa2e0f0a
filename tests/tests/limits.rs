//! Brute force and bad input: sign-ins and client authentications are throttled per account,
//! client and IP (the right password is refused while the throttle holds, and the throttle
//! is logged); oversized input gets a clear 4xx, never a 500. Both backends.

use reqwest::StatusCode;
use sigil_domain::ApplicationType;
use sigil_eventstore::sqlx;
use sigil_tests::flow::{CALLBACK, browser, pkce, sign_in};
use sigil_tests::{TestDatabase, TestServer, create_confidential, create_spa, register_user};

const PASSWORD: &str = "correct horse battery";

async fn count(db: &TestDatabase, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(db.store.pool())
        .await
        .unwrap()
}

/// Opens the sign-in page for the SPA and submits `identifier` / `password`.
async fn try_sign_in(server: &TestServer, identifier: &str, password: &str) -> reqwest::Response {
    let (_, challenge) = pkce();
    sign_in(
        &server.base,
        &browser(),
        "spa",
        "openid",
        Some(&challenge),
        &[],
        (identifier, password),
    )
    .await
}

#[tokio::test]
async fn repeated_failed_sign_ins_throttle_the_account_even_for_the_right_password() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
        create_spa(&server.commands, "spa", "Single page").await;
        // The default allows five failures per account and per address.
        for _ in 0..5 {
            assert_eq!(try_sign_in(&server, "alice", "wrong").await.status(), 401);
        }
        let response = try_sign_in(&server, "alice", "wrong").await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{:?}",
            db.backend()
        );
        assert!(response.headers().contains_key("retry-after"));
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Too many failed sign-in attempts")
        );
        // The right password is not even checked while the throttle holds.
        let response = try_sign_in(&server, "alice", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().get("location").is_none());
        // Both the account and the address were throttled, and that is in the log.
        assert_eq!(count(&db, "SignInThrottled").await, 2);
        assert_eq!(count(&db, "UserSignedIn").await, 0);
        server.stop().await;
    }
}

#[tokio::test]
async fn an_unknown_identifier_never_reaches_the_log_in_clear() {
    let db = TestDatabase::sqlite().await;
    let server = TestServer::start(&db).await;
    create_spa(&server.commands, "spa", "Single page").await;
    // A password typed in the wrong field, until the throttle engages and is logged.
    let typed = "Tr0ub4dor&3-in-the-wrong-field";
    for _ in 0..6 {
        try_sign_in(&server, typed, "x").await;
    }
    assert_eq!(count(&db, "SignInThrottled").await, 2);
    let leaked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE LOWER(payload) LIKE $1 OR LOWER(metadata) LIKE $1",
    )
    .bind(format!("%{}%", typed.to_lowercase()))
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(leaked, 0);
    // Attempts with one identifier still share one pseudonym, so they can be correlated.
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT metadata FROM events WHERE event_type = 'SignInFailed'",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    let pseudonyms: std::collections::BTreeSet<String> = actors
        .iter()
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .filter_map(|m| m["actor"].as_str().map(str::to_string))
        .collect();
    assert_eq!(pseudonyms.len(), 1, "{pseudonyms:?}");
    assert!(pseudonyms.iter().all(|a| a.starts_with("identifier:")));
    server.stop().await;
}

#[tokio::test]
async fn repeated_client_authentication_failures_are_throttled() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        let secret =
            create_confidential(&server.commands, "m2m", ApplicationType::MachineToMachine).await;
        let http = reqwest::Client::new();
        let attempt = |secret: String| {
            let http = http.clone();
            let url = server.url("/oidc/token");
            async move {
                http.post(url)
                    .basic_auth("m2m", Some(secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap()
            }
        };
        for _ in 0..10 {
            assert_eq!(attempt("wrong".into()).await.status(), 401);
        }
        let response = attempt("wrong".into()).await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{:?}",
            db.backend()
        );
        assert!(response.headers().contains_key("retry-after"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(
            attempt(secret).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(count(&db, "ClientAuthenticationThrottled").await, 2);
        server.stop().await;
    }
}

#[tokio::test]
async fn oversized_input_gets_a_clear_refusal_never_a_server_error() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        create_spa(&server.commands, "spa", "Single page").await;
        let http = reqwest::Client::new();
        // A body over the limit.
        let big = format!(
            "grant_type=client_credentials&pad={}",
            "a".repeat(300 * 1024)
        );
        let response = http
            .post(server.url("/oidc/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // A parameter over the limit, and too many parameters.
        let long = "a".repeat(9000);
        let response = http
            .post(server.url("/oidc/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "spa"),
                ("scope", &long),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        // An oversized state at the authorization endpoint goes back as invalid_request.
        let (_, challenge) = pkce();
        let mut url = url::Url::parse(&server.url("/oidc/auth")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", "spa")
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("response_type", "code")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &"s".repeat(2000));
        let response = browser().get(url.as_str()).send().await.unwrap();
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(location.contains("error=invalid_request"), "{location}");
        // A redirect_uri longer than any registrable one: an error page.
        let mut url = url::Url::parse(&server.url("/oidc/auth")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", "spa")
            .append_pair(
                "redirect_uri",
                &format!("https://app.example.com/{}", "x".repeat(5000)),
            );
        let response = browser().get(url.as_str()).send().await.unwrap();
        assert_eq!(response.status(), 400);
        // Headers too large for the server.
        let response = http
            .get(server.url("/healthz"))
            .header("x-padding", "p".repeat(512 * 1024))
            .send()
            .await;
        if let Ok(response) = response {
            assert!(response.status().is_client_error(), "{}", response.status());
        }
        server.stop().await;
    }
}
