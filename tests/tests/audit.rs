//! The audit trail, app-access analytics and point-in-time answers, end to end over HTTP on
//! every backend: a scripted workload (two applications, two users, a failed sign-in, a
//! refresh and its replay, a third-party consent and its revocation, admin changes), then
//! every answer is checked against what the workload did.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use sigil_api::audit::export::{Format, export};
use sigil_api::audit::{AuditFilter, page};
use sigil_api::master_key::MasterKey;
use sigil_eventstore::sqlx;
use sigil_projections::{AnalyticsView, AuditView, Projection, ProjectionRunner};
use sigil_tests::admin::{Live, admin_token, gql};
use sigil_tests::flow::{CALLBACK, authorize, authorize_consent, browser, pkce, sign_in, token};
use sigil_tests::{TestDatabase, TestServer};

const PASSWORD: &str = "correct horse battery";

/// What the workload made, and the instants between its steps.
struct World {
    admin: String,
    console: String,
    partner: String,
    alice: String,
    bob: String,
    organization: String,
    before_role: DateTime<Utc>,
    after_role: DateTime<Utc>,
    member: DateTime<Utc>,
    after_leaving: DateTime<Utc>,
    before_rename: DateTime<Utc>,
    consented: DateTime<Utc>,
    after_revocation: DateTime<Utc>,
    before_bob: DateTime<Utc>,
}

/// An instant strictly between what came before and what comes after.
async fn instant() -> DateTime<Utc> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let t = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    t
}

fn id(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not an id: {v}"))
        .to_string()
}

async fn create_user(server: &TestServer, admin: &str, username: &str) -> String {
    let created = gql(
        server,
        admin,
        "mutation($u: String!, $p: String!) { createUser(input: { username: $u, password: $p }) { id } }",
        json!({ "u": username, "p": PASSWORD }),
    )
    .await;
    id(&created["createUser"]["id"])
}

async fn spa_code(
    server: &TestServer,
    client_id: &str,
    user: &str,
    extra: &[(&str, &str)],
    scope: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let code = authorize(
        &server.base,
        &browser(),
        client_id,
        scope,
        Some(&challenge),
        extra,
        (user, PASSWORD),
    )
    .await;
    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", client_id),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn workload(server: &TestServer) -> World {
    let admin = admin_token(server).await;
    let console = gql(
        server,
        &admin,
        "mutation($cb: String!) { createApplication(input: { name: \"Console\", type: SPA, redirectUris: [$cb] }) { application { id } } }",
        json!({ "cb": CALLBACK }),
    )
    .await;
    let console = id(&console["createApplication"]["application"]["id"]);
    // No grace window: a replayed refresh token is reuse at once.
    gql(
        server,
        &admin,
        "mutation($a: ID!) { updateApplication(id: $a, input: { refreshTokenReuseGraceSeconds: 0 }) { id } }",
        json!({ "a": console }),
    )
    .await;
    let partner = gql(
        server,
        &admin,
        "mutation($cb: String!) { createApplication(input: { name: \"Partner\", type: TRADITIONAL, isThirdParty: true, redirectUris: [$cb] }) { application { id } clientSecret } }",
        json!({ "cb": CALLBACK }),
    )
    .await;
    let partner_secret = id(&partner["createApplication"]["clientSecret"]);
    let partner = id(&partner["createApplication"]["application"]["id"]);
    gql(
        server,
        &admin,
        "mutation($a: ID!) { setApplicationConsentScopes(applicationId: $a, input: { userScopes: [\"profile\"] }) { id } }",
        json!({ "a": partner }),
    )
    .await;
    let alice = create_user(server, &admin, "alice").await;
    let before_bob = instant().await;
    let bob = create_user(server, &admin, "bob").await;

    // Bob mistypes his password once, then signs in to the console.
    let (_, challenge) = pkce();
    let failed = sign_in(
        &server.base,
        &browser(),
        &console,
        "openid",
        Some(&challenge),
        &[],
        ("bob", "not his password"),
    )
    .await;
    assert!(failed.headers().get("location").is_none(), "refused");
    spa_code(server, &console, "bob", &[], "openid").await;

    // Alice signs in to the console with offline access, refreshes, then replays the old
    // refresh token: reuse, and the family is revoked.
    let tokens = spa_code(
        server,
        &console,
        "alice",
        &[("prompt", "consent")],
        "openid offline_access",
    )
    .await;
    let first = id(&tokens["refresh_token"]);
    let refresh = |rt: String| {
        let console = console.clone();
        async move {
            token(
                &server.base,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", &console),
                ],
                None,
            )
            .await
        }
    };
    let (status, body) = refresh(first.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = refresh(first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Alice grants the third-party partner her profile on its consent page.
    let browser = browser();
    let response = sign_in(
        &server.base,
        &browser,
        &partner,
        "openid profile",
        None,
        &[],
        ("alice", PASSWORD),
    )
    .await;
    assert_eq!(response.status(), 200, "the consent page");
    let html = response.text().await.unwrap();
    let code = authorize_consent(&server.base, &browser, &html).await;
    let before_rename = instant().await;
    gql(
        server,
        &admin,
        "mutation($a: ID!) { updateApplication(id: $a, input: { name: \"Partner Two\", alwaysIssueRefreshToken: true }) { id } }",
        json!({ "a": partner }),
    )
    .await;
    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
        Some((&partner, &partner_secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let partner_refresh = id(&body["refresh_token"]);
    let consented = instant().await;

    // An admin gives Alice a role, and an organization she then leaves.
    let role = gql(
        server,
        &admin,
        "mutation { createRole(input: { name: \"Auditor\" }) { id } }",
        json!({}),
    )
    .await;
    let before_role = instant().await;
    gql(
        server,
        &admin,
        "mutation($u: ID!, $r: [ID!]!) { assignUserRoles(userId: $u, roleIds: $r) { id } }",
        json!({ "u": alice, "r": [role["createRole"]["id"]] }),
    )
    .await;
    let after_role = instant().await;
    let organization = gql(
        server,
        &admin,
        "mutation { createOrganization(input: { name: \"Acme\" }) { id } }",
        json!({}),
    )
    .await;
    let organization = id(&organization["createOrganization"]["id"]);
    gql(
        server,
        &admin,
        "mutation($o: ID!, $u: [ID!]!) { addOrganizationMembers(organizationId: $o, userIds: $u) { id } }",
        json!({ "o": organization, "u": [alice] }),
    )
    .await;
    let member = instant().await;
    gql(
        server,
        &admin,
        "mutation($o: ID!, $u: [ID!]!) { removeOrganizationMembers(organizationId: $o, userIds: $u) { id } }",
        json!({ "o": organization, "u": [alice] }),
    )
    .await;
    let after_leaving = instant().await;

    // The revocation is watched live: the subscription starts before it.
    let mut live = Live::start(server, &admin).await;
    live.subscribe(
        "audit",
        &format!(
            "subscription {{ auditEvents(filter: {{ userId: \"{alice}\", eventTypes: [\"ConsentRevoked\"] }}) \
             {{ position eventType applicationId userId actor }} }}"
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gql(
        server,
        &admin,
        "mutation($u: ID!, $a: ID!) { revokeUserConsent(userId: $u, applicationId: $a) { id } }",
        json!({ "u": alice, "a": partner }),
    )
    .await;
    let message = live.receive().await;
    assert_eq!(message["type"], "next", "{message}");
    let entry = &message["payload"]["data"]["auditEvents"];
    assert_eq!(entry["eventType"], "ConsentRevoked");
    assert_eq!(entry["applicationId"], partner.as_str());
    assert_eq!(entry["userId"], alice.as_str());
    assert_eq!(entry["actor"], "client:sigil-admin");
    let after_revocation = instant().await;

    // With consent taken back, the partner's refresh token no longer works.
    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &partner_refresh),
        ],
        Some((&partner, &partner_secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    World {
        admin,
        console,
        partner,
        alice,
        bob,
        organization,
        before_role,
        after_role,
        member,
        after_leaving,
        before_rename,
        consented,
        after_revocation,
        before_bob,
    }
}

/// Every entry of the audit log that matches `filter`, through the API's pages.
async fn audit_log(server: &TestServer, admin: &str, filter: Value) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = gql(
            server,
            admin,
            "query($f: AuditLogFilter, $a: String) { auditLog(filter: $f, first: 100, after: $a) { \
               edges { cursor node { position occurredAt eventType aggregateType aggregateId actor \
               applicationId userId organizationId ip userAgent details hash } } \
               pageInfo { hasNextPage } } }",
            json!({ "f": filter, "a": after }),
        )
        .await;
        let log = &data["auditLog"];
        for edge in log["edges"].as_array().unwrap() {
            entries.push(edge["node"].clone());
            after = Some(id(&edge["cursor"]));
        }
        if !log["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return entries;
        }
    }
}

/// Whether `expected` appear in `entries` in this order, as (eventType, applicationId).
fn in_order(entries: &[Value], expected: &[(&str, Option<&str>)]) -> bool {
    let mut wanted = expected.iter().peekable();
    for e in entries {
        if let Some((kind, app)) = wanted.peek()
            && e["eventType"] == *kind
            && e["applicationId"] == app.map_or(Value::Null, |a| json!(a))
        {
            wanted.next();
        }
    }
    wanted.peek().is_none()
}

async fn check_audit(server: &TestServer, db: &TestDatabase, w: &World) {
    // The read model follows the log a moment behind: let it reach the end first.
    sigil_tests::caught_up(
        &ProjectionRunner::new(db.store.clone(), Arc::new(AuditView)),
        &db.store,
    )
    .await;
    let everything = audit_log(server, &w.admin, json!({})).await;
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    // One entry per event, in the log's order.
    assert_eq!(everything.len() as i64, events);
    let positions: Vec<i64> = everything
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "position order");
    for e in &everything {
        let details = e["details"].to_string();
        for secret in ["digest", "sealed", "password_hash"] {
            assert!(!details.contains(secret), "{secret} in {details}");
        }
    }

    let alice = audit_log(server, &w.admin, json!({ "userId": w.alice })).await;
    let (console, partner) = (Some(w.console.as_str()), Some(w.partner.as_str()));
    assert!(
        in_order(
            &alice,
            &[
                ("UserRegistered", None),
                ("UserSignedIn", console),
                ("AuthorizationCodeIssued", console),
                ("AuthorizationCodeRedeemed", console),
                ("RefreshTokenIssued", console),
                ("RefreshTokenRotated", console),
                ("RefreshTokenReuseDetected", console),
                ("TokenRevoked", console),
                ("UserSignedIn", partner),
                ("ConsentGranted", partner),
                ("AccessTokenIssued", partner),
                ("UserRolesAssigned", None),
                ("ConsentRevoked", partner),
            ],
        ),
        "{alice:#?}"
    );
    assert!(alice.iter().all(|e| e["userId"] == w.alice.as_str()));
    let admin_changes: Vec<&Value> = alice
        .iter()
        .filter(|e| {
            matches!(
                e["eventType"].as_str(),
                Some("UserRolesAssigned" | "ConsentRevoked")
            )
        })
        .collect();
    assert_eq!(admin_changes.len(), 2, "{admin_changes:#?}");
    assert!(
        admin_changes
            .iter()
            .all(|e| e["actor"] == "client:sigil-admin")
    );
    let signed_in = alice
        .iter()
        .find(|e| e["eventType"] == "UserSignedIn")
        .unwrap();
    assert_eq!(signed_in["actor"], format!("user:{}", w.alice));
    assert_eq!(signed_in["ip"], "127.0.0.1");
    assert!(signed_in["details"].get("token_digest").is_none());

    let bob_failed = audit_log(
        server,
        &w.admin,
        json!({ "userId": w.bob, "eventTypes": ["SignInFailed"] }),
    )
    .await;
    assert_eq!(bob_failed.len(), 1, "{bob_failed:#?}");
    assert_eq!(bob_failed[0]["applicationId"], w.console.as_str());

    // Filters compose: the partner's entries between two instants.
    let window = audit_log(
        server,
        &w.admin,
        json!({ "applicationId": w.partner, "from": w.consented, "to": w.after_revocation }),
    )
    .await;
    assert_eq!(
        window
            .iter()
            .map(|e| e["eventType"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ConsentRevoked"]
    );
    // The management app's own changes are all there with it as actor.
    let by_admin = audit_log(server, &w.admin, json!({ "actor": "client:sigil-admin" })).await;
    for kind in [
        "ApplicationRegistered",
        "ApplicationUpdated",
        "ApplicationConsentScopesSet",
        "UserRegistered",
        "RoleCreated",
        "OrganizationCreated",
        "OrganizationMembersAdded",
        "OrganizationMembersRemoved",
    ] {
        assert!(
            by_admin.iter().any(|e| e["eventType"] == kind),
            "{kind} by the admin app"
        );
    }
    assert!(
        by_admin
            .iter()
            .any(|e| e["eventType"] == "OrganizationMembersAdded"
                && e["organizationId"] == w.organization.as_str())
    );
}

fn sum(buckets: &Value, field: &str) -> i64 {
    buckets
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[field].as_i64().unwrap())
        .sum()
}

fn grant_count(buckets: &Value, grant: &str) -> i64 {
    buckets
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["tokensByGrantType"].as_array().unwrap().clone())
        .filter(|g| g["grantType"] == grant)
        .map(|g| g["count"].as_i64().unwrap())
        .sum()
}

async fn check_analytics(server: &TestServer, db: &TestDatabase, w: &World) {
    sigil_tests::caught_up(
        &ProjectionRunner::new(db.store.clone(), Arc::new(AnalyticsView)),
        &db.store,
    )
    .await;
    // Two days either side, so a run across midnight UTC counts the same.
    let from = Utc::now() - chrono::Duration::days(2);
    let to = Utc::now() + chrono::Duration::days(2);
    let stats = |app: String, bucket: &'static str| {
        let admin = w.admin.clone();
        async move {
            gql(
                server,
                &admin,
                "query($a: ID!, $f: DateTime!, $t: DateTime!, $b: Bucket!) { appAccessStats(applicationId: $a, from: $f, to: $t, bucket: $b) { \
                   start signIns uniqueUsers failedSignIns consentsGranted consentsRevoked tokensIssued \
                   tokensByGrantType { grantType count } } }",
                json!({ "a": app, "f": from, "t": to, "b": bucket }),
            )
            .await["appAccessStats"]
                .clone()
        }
    };
    let console = stats(w.console.clone(), "DAY").await;
    // From the day holding `from` to the one holding `to`.
    assert_eq!(
        console.as_array().unwrap().len(),
        5,
        "every day, idle ones too"
    );
    // Hand-counted from the workload: Bob and Alice each signed in once (Bob after one
    // failure); two codes were redeemed and one refresh succeeded.
    assert_eq!(sum(&console, "signIns"), 2);
    assert_eq!(sum(&console, "failedSignIns"), 1);
    assert_eq!(sum(&console, "uniqueUsers"), 2);
    assert_eq!(grant_count(&console, "authorization_code"), 2);
    assert_eq!(grant_count(&console, "refresh_token"), 1);
    assert_eq!(sum(&console, "tokensIssued"), 3);
    assert_eq!(
        sum(&console, "consentsGranted"),
        0,
        "first-party: no consent"
    );

    let partner = stats(w.partner.clone(), "HOUR").await;
    // From the hour holding `from` to the one holding `to`: four days and one hour.
    assert_eq!(
        partner.as_array().unwrap().len(),
        97,
        "every hour, idle ones too"
    );
    assert_eq!(sum(&partner, "signIns"), 1);
    assert_eq!(sum(&partner, "uniqueUsers"), 1);
    assert_eq!(sum(&partner, "consentsGranted"), 1);
    assert_eq!(sum(&partner, "consentsRevoked"), 1);
    assert_eq!(grant_count(&partner, "authorization_code"), 1);
    assert_eq!(
        grant_count(&partner, "refresh_token"),
        0,
        "refused after revocation"
    );

    let access = gql(
        server,
        &w.admin,
        "query($u: ID!) { userAppAccess(userId: $u) { applicationId application { name } firstAccess lastAccess signIns tokensIssued } }",
        json!({ "u": w.alice }),
    )
    .await["userAppAccess"]
        .clone();
    let apps: Vec<(&str, i64, i64)> = access
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["applicationId"].as_str().unwrap(),
                a["signIns"].as_i64().unwrap(),
                a["tokensIssued"].as_i64().unwrap(),
            )
        })
        .collect();
    // Most recent first: the partner, then the console (a code and a refresh).
    assert_eq!(
        apps,
        [(w.partner.as_str(), 1, 1), (w.console.as_str(), 1, 2)]
    );
    assert_eq!(access[0]["application"]["name"], "Partner Two");
    assert!(access[1]["firstAccess"].as_str() <= access[1]["lastAccess"].as_str());

    let error = sigil_tests::admin::gql_error(
        server,
        &w.admin,
        "query($a: ID!, $f: DateTime!, $t: DateTime!) { appAccessStats(applicationId: $a, from: $f, to: $t, bucket: HOUR) { start } }",
        json!({ "a": w.console, "f": from - chrono::Duration::days(60), "t": to }),
    )
    .await;
    assert_eq!(error, "VALIDATION", "a range too long for hours");
}

async fn check_point_in_time(server: &TestServer, w: &World) {
    let user = |at: DateTime<Utc>| {
        let admin = w.admin.clone();
        let alice = w.alice.clone();
        async move {
            gql(
                server,
                &admin,
                "query($u: ID!, $t: DateTime) { user(id: $u, asOf: $t) { asOf roles { name } organizations { id } consents { applicationId scopes } } }",
                json!({ "u": alice, "t": at }),
            )
            .await["user"]
                .clone()
        }
    };
    let names = |v: &Value, field: &str, key: &str| -> Vec<String> {
        v[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| id(&x[key]))
            .collect()
    };
    assert!(names(&user(w.before_role).await, "roles", "name").is_empty());
    assert_eq!(
        names(&user(w.after_role).await, "roles", "name"),
        ["Auditor"]
    );
    assert_eq!(
        names(&user(w.member).await, "organizations", "id"),
        [w.organization.as_str()]
    );
    assert!(names(&user(w.after_leaving).await, "organizations", "id").is_empty());
    assert!(names(&user(w.before_role).await, "organizations", "id").is_empty());

    let before = user(w.consented).await;
    assert_eq!(
        names(&before, "consents", "applicationId"),
        [w.partner.as_str()]
    );
    assert!(
        before["consents"][0]["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("profile")),
        "{before}"
    );
    assert!(names(&user(w.after_revocation).await, "consents", "applicationId").is_empty());

    // Before Bob was registered there was no Bob.
    let bob = gql(
        server,
        &w.admin,
        "query($u: ID!, $t: DateTime) { user(id: $u, asOf: $t) { id } }",
        json!({ "u": w.bob, "t": w.before_bob }),
    )
    .await;
    assert!(bob["user"].is_null(), "{bob}");

    let application = |at: DateTime<Utc>| {
        let admin = w.admin.clone();
        let partner = w.partner.clone();
        async move {
            gql(
                server,
                &admin,
                "query($a: ID!, $t: DateTime) { application(id: $a, asOf: $t) { name alwaysIssueRefreshToken isThirdParty } }",
                json!({ "a": partner, "t": at }),
            )
            .await["application"]
                .clone()
        }
    };
    let then = application(w.before_rename).await;
    assert_eq!(
        (
            then["name"].as_str(),
            then["alwaysIssueRefreshToken"].as_bool()
        ),
        (Some("Partner"), Some(false))
    );
    let now = application(w.consented).await;
    assert_eq!(
        (
            now["name"].as_str(),
            now["alwaysIssueRefreshToken"].as_bool()
        ),
        (Some("Partner Two"), Some(true))
    );
}

async fn check_export(server: &TestServer, db: &TestDatabase, w: &World) {
    let key = MasterKey::load(&server.master_key_path())
        .unwrap()
        .checkpoint_key();
    let audit = ProjectionRunner::new(db.store.clone(), Arc::new(AuditView));
    let since = w.before_bob;
    let filter = AuditFilter {
        from: Some(since),
        ..AuditFilter::default()
    };
    let mut ndjson = Vec::new();
    let exported = export(
        &db.store,
        &audit,
        &key,
        &filter,
        Format::Ndjson,
        &mut ndjson,
    )
    .await
    .unwrap();
    let lines: Vec<Value> = String::from_utf8(ndjson)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (checkpoint, entries) = lines.split_last().unwrap();
    assert_eq!(entries.len() as u64, exported.entries);

    // The same entries as the query, cut at the same position.
    let queried: Vec<Value> = audit_log(server, &w.admin, json!({ "from": since }))
        .await
        .into_iter()
        .filter(|e| e["position"].as_i64().unwrap() <= exported.through_position)
        .collect();
    assert_eq!(entries.len(), queried.len());
    for (file, api) in entries.iter().zip(&queried) {
        for field in [
            "position",
            "eventType",
            "hash",
            "userId",
            "applicationId",
            "actor",
        ] {
            let snake: String = field
                .chars()
                .flat_map(|c| {
                    if c.is_ascii_uppercase() {
                        vec!['_', c.to_ascii_lowercase()]
                    } else {
                        vec![c]
                    }
                })
                .collect();
            assert_eq!(file[&snake], api[field], "{field}");
        }
    }

    // Each entry's hash is its event's in the log.
    let log = db
        .store
        .read_range(0, exported.through_position, 100_000)
        .await
        .unwrap();
    for e in entries {
        let position = e["position"].as_i64().unwrap();
        let event = log.iter().find(|ev| ev.position == position).unwrap();
        assert_eq!(e["hash"], hex::encode(event.hash));
    }

    // The last line is a signed checkpoint covering every entry.
    let c = &checkpoint["checkpoint"];
    assert!(c["through_position"].as_i64().unwrap() >= exported.through_position);
    let public = VerifyingKey::from_bytes(
        &hex::decode(c["public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        public,
        key.verifying_key(),
        "signed by the log's checkpoint key"
    );
    let signature =
        Signature::from_slice(&hex::decode(c["signature"].as_str().unwrap()).unwrap()).unwrap();
    let hash = hex::decode(c["hash"].as_str().unwrap()).unwrap();
    public.verify(&hash, &signature).expect("a valid signature");

    // CSV: the same rows, then the checkpoint as a last record.
    let mut csv_out = Vec::new();
    export(&db.store, &audit, &key, &filter, Format::Csv, &mut csv_out)
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv_out.as_slice());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "position");
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let (last, rows) = records.split_last().unwrap();
    assert_eq!(&last[2], "checkpoint");
    assert!(rows.len() >= entries.len());
    for (row, e) in rows.iter().zip(entries) {
        assert_eq!(row[0], e["position"].to_string());
        assert_eq!(&row[2], e["event_type"].as_str().unwrap());
        assert_eq!(&row[13], e["hash"].as_str().unwrap());
        let details: Value = serde_json::from_str(&row[12]).unwrap();
        assert_eq!(details, e["details"]);
    }
}

/// A read model's tables as text, row by row, in a stable order.
async fn dump(db: &TestDatabase, projection: &dyn Projection) -> Vec<String> {
    let mut all = Vec::new();
    for table in projection.tables() {
        let columns: Vec<String> = match db.store.backend() {
            sigil_eventstore::Backend::Sqlite => {
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(db.store.pool())
                    .await
                    .unwrap()
            }
            sigil_eventstore::Backend::Postgres => sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_name = $1 ORDER BY ordinal_position",
            )
            .bind(*table)
            .fetch_all(db.store.pool())
            .await
            .unwrap(),
        };
        let row = columns
            .iter()
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '~')"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {row} FROM {table}"))
            .fetch_all(db.store.pool())
            .await
            .unwrap();
        rows.sort();
        all.push(format!("{table}: {} rows", rows.len()));
        all.extend(rows);
    }
    all
}

async fn check_rebuild(db: &TestDatabase) {
    let views: [Arc<dyn Projection>; 2] = [Arc::new(AuditView), Arc::new(AnalyticsView)];
    for view in views {
        let runner = ProjectionRunner::new(db.store.clone(), view.clone());
        sigil_tests::caught_up(&runner, &db.store).await;
        let live = dump(db, view.as_ref()).await;
        assert!(live.len() > 2, "{} has rows", view.name());
        runner.reset().await.unwrap();
        sigil_tests::caught_up(&runner, &db.store).await;
        assert_eq!(
            dump(db, view.as_ref()).await,
            live,
            "{} rebuilt",
            view.name()
        );

        // As `sigil projections rebuild` does it: without the secondary indexes, then with
        // the same ones built at the end.
        let indexes = sigil_tests::secondary_indexes(&db.store, view.tables()).await;
        runner.begin_rebuild().await.unwrap();
        assert_eq!(
            sigil_tests::secondary_indexes(&db.store, view.tables()).await,
            Vec::<String>::new(),
            "{} set its indexes aside",
            view.name()
        );
        sigil_tests::caught_up(&runner, &db.store).await;
        assert_eq!(runner.build_indexes().await.unwrap(), indexes.len());
        assert_eq!(
            sigil_tests::secondary_indexes(&db.store, view.tables()).await,
            indexes
        );
        assert_eq!(
            dump(db, view.as_ref()).await,
            live,
            "{} rebuilt by the CLI",
            view.name()
        );
    }
    let audit = sigil_tests::secondary_indexes(&db.store, AuditView.tables()).await;
    assert_eq!(audit.len(), 4, "{audit:?}");
}

#[tokio::test]
async fn the_log_answers_the_auditor_on_every_backend() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        let world = workload(&server).await;
        check_audit(&server, &db, &world).await;
        check_analytics(&server, &db, &world).await;
        check_point_in_time(&server, &world).await;
        check_export(&server, &db, &world).await;
        check_rebuild(&db).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_bad_filter_or_cursor_is_a_validation_error() {
    let db = TestDatabase::sqlite().await;
    let server = TestServer::start(&db).await;
    let admin = admin_token(&server).await;
    for (query, vars) in [
        ("{ auditLog(first: 1000) { edges { cursor } } }", json!({})),
        (
            "{ auditLog(after: \"garbage\") { edges { cursor } } }",
            json!({}),
        ),
    ] {
        assert_eq!(
            sigil_tests::admin::gql_error(&server, &admin, query, vars).await,
            "VALIDATION",
            "{query}"
        );
    }
    // The API's pages and the store's query agree.
    sigil_tests::caught_up(
        &ProjectionRunner::new(db.store.clone(), Arc::new(AuditView)),
        &db.store,
    )
    .await;
    let api = audit_log(&server, &admin, json!({})).await;
    let direct = page(db.store.pool(), &AuditFilter::default(), 0, 1000)
        .await
        .unwrap();
    assert_eq!(api.len(), direct.len());
    server.stop().await;
}

#[tokio::test]
async fn log_integrity_reports_the_first_tampered_position() {
    for db in TestDatabase::all().await {
        let server = TestServer::start(&db).await;
        let admin = admin_token(&server).await;
        let query =
            "{ logIntegrity { ok verifiedThrough firstBadPosition reason lastPosition events } }";
        let report = gql(&server, &admin, query, json!({})).await["logIntegrity"].clone();
        assert_eq!(report["ok"], true, "{report}");
        assert!(report["events"].as_i64().unwrap() > 0);
        assert!(report["firstBadPosition"].is_null());

        let target = db
            .store
            .stream("application", "sigil-admin", 0)
            .await
            .unwrap()[0]
            .position;
        let unguard = match db.backend() {
            sigil_eventstore::Backend::Postgres => "ALTER TABLE events DISABLE TRIGGER USER",
            sigil_eventstore::Backend::Sqlite => "DROP TRIGGER events_no_update",
        };
        db.execute(unguard).await.unwrap();
        db.execute(&format!(
            "UPDATE events SET metadata = '{{\"actor\":\"someone else\"}}' WHERE position = {target}"
        ))
        .await
        .unwrap();
        let report = gql(&server, &admin, query, json!({})).await["logIntegrity"].clone();
        assert_eq!(report["ok"], false, "{report}");
        assert_eq!(report["firstBadPosition"], target, "{report}");
        assert!(report["reason"].is_string());
        server.stop().await;
    }
}
