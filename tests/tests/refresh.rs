//! Refresh tokens over HTTP (RFC 6749 §6, RFC 9700 §4.14, seed 003): who earns one, rotation,
//! reuse revoking the family, the grace window for concurrent tabs, and revocation. Both
//! backends.

use sigil_domain::{ApplicationChanges, ApplicationCommand, ApplicationType};
use sigil_tests::flow::{CALLBACK, authorize, browser, pkce, token, userinfo_ok};
use sigil_tests::{TestDatabase, TestServer, create_confidential, create_spa, ctx, register_user};

const PASSWORD: &str = "correct horse battery";

async fn setup(db: &TestDatabase) -> TestServer {
    let server = TestServer::start(db).await;
    register_user(&server.commands, "user-alice", "alice", PASSWORD).await;
    create_spa(&server.commands, "spa", "Single page").await;
    server
}

async fn change(server: &TestServer, id: &str, changes: ApplicationChanges) {
    server
        .commands
        .application(id, ApplicationCommand::Update(changes), &ctx())
        .await
        .unwrap();
}

/// Signs in through the SPA and redeems the code: (access token, refresh token if any).
async fn spa_tokens(
    server: &TestServer,
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, Option<String>) {
    let (verifier, challenge) = pkce();
    let code = authorize(
        &server.base,
        &browser(),
        "spa",
        scope,
        Some(&challenge),
        extra,
        ("alice", PASSWORD),
    )
    .await;
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
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().map(str::to_string),
    )
}

async fn refresh(server: &TestServer, refresh_token: &str) -> (u16, serde_json::Value) {
    token(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "spa"),
            ("refresh_token", refresh_token),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn offline_access_with_prompt_consent_earns_a_refresh_token_and_spas_rotate() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        // OIDC Core §11: offline_access alone is not enough.
        let (_, none) = spa_tokens(&server, "openid offline_access", &[]).await;
        assert!(none.is_none(), "{:?}", db.backend());
        let (_, rt1) = spa_tokens(&server, "openid offline_access", &[("prompt", "consent")]).await;
        let rt1 = rt1.expect("a refresh token");

        let (status, body) = refresh(&server, &rt1).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["id_token"].is_string());
        let rt2 = body["refresh_token"]
            .as_str()
            .expect("a public client always rotates")
            .to_string();
        assert_ne!(rt1, rt2);
        assert!(userinfo_ok(&server.base, body["access_token"].as_str().unwrap()).await);
        // The family records when each access token it paid for expires, so that it can
        // forget them once dead (its state must not grow with every rotation).
        let family: Vec<String> = sigil_eventstore::sqlx::query_scalar(
            "SELECT payload FROM events WHERE aggregate_type = 'refresh_token_family' \
             ORDER BY position",
        )
        .fetch_all(db.store.pool())
        .await
        .unwrap();
        assert_eq!(family.len(), 2, "issued, rotated: {family:?}");
        assert!(
            family
                .iter()
                .all(|p| p.contains("\"access_token_expires_at\":")),
            "{family:?}"
        );
        // A wider scope than granted is refused.
        let (status, body) = token(
            &server.base,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "spa"),
                ("refresh_token", &rt2),
                ("scope", "openid email"),
            ],
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope"))
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn rotated_refresh_token_reuse_revokes_the_family() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        let (first_access, rt1) =
            spa_tokens(&server, "openid offline_access", &[("prompt", "consent")]).await;
        let rt1 = rt1.unwrap();
        let (_, body) = refresh(&server, &rt1).await;
        let rt2 = body["refresh_token"].as_str().unwrap().to_string();
        let second_access = body["access_token"].as_str().unwrap().to_string();

        // The rotated-out token comes back: an attacker or a bug. Everything goes.
        let (status, body) = refresh(&server, &rt1).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, _) = refresh(&server, &rt2).await;
        assert_eq!(
            status,
            400,
            "{:?}: the family must be revoked",
            db.backend()
        );
        assert!(!userinfo_ok(&server.base, &first_access).await);
        assert!(!userinfo_ok(&server.base, &second_access).await);
        server.stop().await;
    }
}

/// A node decides a refresh on the family it kept from its last one, without reading the
/// log first. Once another node has moved the family, that decision conflicts at commit or
/// may be wrong where nothing is written: both are decided again on the log's family.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_another_node_moved_is_decided_again_on_the_log() {
    for db in TestDatabase::all().await {
        let here = setup(&db).await;
        let there = TestServer::start_beside(&db, &here).await;
        let next = |body: serde_json::Value| body["refresh_token"].as_str().unwrap().to_string();
        let (_, rt1) = spa_tokens(&here, "openid offline_access", &[("prompt", "consent")]).await;
        let (status, body) = refresh(&here, &rt1.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        let rt2 = next(body);
        let (status, body) = refresh(&there, &rt2).await;
        assert_eq!(status, 200, "{:?}: {body}", db.backend());
        let rt3 = next(body);

        // `here` kept the family with rt2 at its head: rt3 looks like a reuse to it.
        let (status, body) = refresh(&here, &rt3).await;
        assert_eq!(status, 200, "{:?}: {body}", db.backend());
        let rt4 = next(body);
        let (status, body) = refresh(&there, &rt4).await;
        assert_eq!(status, 200, "{body}");
        let rt5 = next(body);

        // Now rt4 is the head `here` kept, asking for more than was granted: to the kept
        // family a refusal that writes nothing; to the log's a reuse that ends the family.
        let (status, body) = token(
            &here.base,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "spa"),
                ("refresh_token", &rt4),
                ("scope", "openid email"),
            ],
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{:?}: {body}",
            db.backend()
        );
        let (status, _) = refresh(&there, &rt5).await;
        assert_eq!(
            status,
            400,
            "{:?}: the family must be revoked",
            db.backend()
        );
        there.stop().await;
        here.stop().await;
    }
}

#[tokio::test]
async fn a_refused_refresh_keeps_the_current_token_but_never_hides_a_reuse() {
    let db = TestDatabase::sqlite().await;
    let server = setup(&db).await;
    let (_, rt1) = spa_tokens(&server, "openid offline_access", &[("prompt", "consent")]).await;
    let rt1 = rt1.unwrap();
    let wider = |rt: &str| {
        let rt = rt.to_string();
        let base = server.base.clone();
        async move {
            token(
                &base,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "spa"),
                    ("refresh_token", &rt),
                    ("scope", "openid email"),
                ],
                None,
            )
            .await
        }
    };
    // The current token asking for more than was granted: refused, and still good.
    let (status, body) = wider(&rt1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body) = refresh(&server, &rt1).await;
    assert_eq!(status, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_string();
    // A rotated-out token with the same bad request is still a reuse: the family goes.
    let (status, body) = wider(&rt1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, _) = refresh(&server, &rt2).await;
    assert_eq!(status, 400, "the family must be revoked");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_tabs_within_the_grace_window_get_the_same_successor() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        change(
            &server,
            "spa",
            ApplicationChanges {
                refresh_token_reuse_grace_seconds: Some(30),
                ..Default::default()
            },
        )
        .await;
        let (_, rt1) = spa_tokens(&server, "openid offline_access", &[("prompt", "consent")]).await;
        let rt1 = rt1.unwrap();
        let (_, first) = refresh(&server, &rt1).await;
        let (status, second) = refresh(&server, &rt1).await;
        assert_eq!(status, 200, "{:?}: {second}", db.backend());
        assert_eq!(first["refresh_token"], second["refresh_token"]);
        // And the shared successor goes on working.
        let (status, third) = refresh(&server, first["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        // Two tabs at the same instant: the one whose commit loses the race is decided
        // again, and is a replay within the window.
        let rt3 = third["refresh_token"].as_str().unwrap();
        let ((a, tab_a), (b, tab_b)) = tokio::join!(refresh(&server, rt3), refresh(&server, rt3));
        assert_eq!((a, b), (200, 200), "{:?}: {tab_a} {tab_b}", db.backend());
        assert_eq!(tab_a["refresh_token"], tab_b["refresh_token"]);
        server.stop().await;
    }
}

#[tokio::test]
async fn a_traditional_app_set_to_always_issue_keeps_its_token_until_rotation_is_due() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        let secret =
            create_confidential(&server.commands, "web", ApplicationType::Traditional).await;
        change(
            &server,
            "web",
            ApplicationChanges {
                always_issue_refresh_token: Some(true),
                ..Default::default()
            },
        )
        .await;
        let code = authorize(
            &server.base,
            &browser(),
            "web",
            "openid",
            None,
            &[],
            ("alice", PASSWORD),
        )
        .await;
        let basic = Some(("web", secret.as_str()));
        let (status, body) = token(
            &server.base,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ],
            basic,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let rt = body["refresh_token"]
            .as_str()
            .expect("always issue")
            .to_string();
        for _ in 0..2 {
            let (status, body) = token(
                &server.base,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                basic,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            // Less than 70% of 14 days has passed: no rotation, the same token stays good.
            assert!(body.get("refresh_token").is_none(), "{body}");
        }
        // Another client may not use it.
        let other =
            create_confidential(&server.commands, "web2", ApplicationType::Traditional).await;
        let (status, _) = token(
            &server.base,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            Some(("web2", &other)),
        )
        .await;
        assert_eq!(status, 400);
        server.stop().await;
    }
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family_and_code_reuse_does_too() {
    for db in TestDatabase::all().await {
        let server = setup(&db).await;
        let (access, rt) =
            spa_tokens(&server, "openid offline_access", &[("prompt", "consent")]).await;
        let rt = rt.unwrap();
        let response = reqwest::Client::new()
            .post(server.url("/oidc/token/revocation"))
            .form(&[
                ("token", rt.as_str()),
                ("client_id", "spa"),
                ("token_type_hint", "access_token"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(refresh(&server, &rt).await.0, 400);
        assert!(!userinfo_ok(&server.base, &access).await);

        // A code redeemed twice takes its refresh token down with it.
        let (verifier, challenge) = pkce();
        let code = authorize(
            &server.base,
            &browser(),
            "spa",
            "openid offline_access",
            Some(&challenge),
            &[("prompt", "consent")],
            ("alice", PASSWORD),
        )
        .await;
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
        ];
        let (status, body) = token(&server.base, &form, None).await;
        assert_eq!(status, 200);
        let rt = body["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(token(&server.base, &form, None).await.0, 400);
        assert_eq!(refresh(&server, &rt).await.0, 400, "{:?}", db.backend());
        server.stop().await;
    }
}
