//! The management API end to end over HTTP: `sigil admin bootstrap`, a token by
//! client_credentials for `urn:sigil:management`, then every mutation and query of the
//! contract as real GraphQL requests; the 401/403 cases; RBAC at the authorization and token
//! endpoints (resource indicators, JWT access tokens, the RBAC-filtered consent page,
//! organization tokens); and the live log over the graphql-transport-ws WebSocket.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sigil_tests::admin::{Live, MANAGEMENT, admin_token, client_token, gql, gql_error, gql_raw};
use sigil_tests::flow::{CALLBACK, authorize_consent, browser, pkce, sign_in, token};
use sigil_tests::{TestDatabase, TestServer, register_user};
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "correct horse battery";

/// The JOSE header and claims of a JWT, unverified (the server's own tests verify).
fn jwt_parts(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut next = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    (next(), next())
}

#[tokio::test]
async fn no_token_a_bad_token_or_the_wrong_token_gets_no_data() {
    let db = TestDatabase::sqlite().await;
    let server = TestServer::start(&db).await;
    let admin = admin_token(&server).await;
    let query = "{ applications { edges { node { id name } } } }";

    let (status, body) = gql_raw(&server, None, query, json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.get("data").is_none());
    for bad in ["garbage", "a.b.c", &format!("{admin}x")] {
        let (status, body) = gql_raw(&server, Some(bad), query, json!({})).await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert!(body.get("data").is_none());
    }

    // A Sigil token for another API resource: 403.
    let api = gql(
        &server,
        &admin,
        "mutation($i: CreateApiResourceInput!) { createApiResource(input: $i) { id } }",
        json!({ "i": { "name": "Photos", "indicator": "https://photos.example" } }),
    )
    .await;
    let resource_id = api["createApiResource"]["id"].as_str().unwrap().to_string();
    let scope = gql(
        &server,
        &admin,
        "mutation($i: CreateResourceScopeInput!) { createResourceScope(input: $i) { id } }",
        json!({ "i": { "resourceId": resource_id, "name": "read" } }),
    )
    .await;
    let role = gql(
        &server,
        &admin,
        "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
        json!({ "i": { "name": "Reader", "type": "MACHINE_TO_MACHINE",
                       "scopeIds": [scope["createResourceScope"]["id"]] } }),
    )
    .await;
    let created = gql(
        &server,
        &admin,
        "mutation($i: CreateApplicationInput!) { createApplication(input: $i) { application { id } clientSecret } }",
        json!({ "i": { "name": "Robot", "type": "MACHINE_TO_MACHINE" } }),
    )
    .await;
    let robot = created["createApplication"]["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let robot_secret = created["createApplication"]["clientSecret"]
        .as_str()
        .unwrap()
        .to_string();
    gql(
        &server,
        &admin,
        "mutation($a: ID!, $r: [ID!]!) { assignApplicationRoles(applicationId: $a, roleIds: $r) { id } }",
        json!({ "a": robot, "r": [role["createRole"]["id"]] }),
    )
    .await;
    let photos = client_token(
        &server,
        &robot,
        &robot_secret,
        Some("https://photos.example"),
        None,
    )
    .await;
    let (header, claims) = jwt_parts(&photos);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["aud"], "https://photos.example");
    assert_eq!(claims["scope"], "read");
    let (status, body) = gql_raw(&server, Some(&photos), query, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert!(body.get("data").is_none());

    // The management resource, but without the role that grants `all`: 403 too.
    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "client_credentials"),
            ("resource", MANAGEMENT),
            ("scope", "all"),
        ],
        Some((&robot, &robot_secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "{body}"
    );
    let scopeless = client_token(&server, &robot, &robot_secret, Some(MANAGEMENT), None).await;
    let (status, _) = gql_raw(&server, Some(&scopeless), query, json!({})).await;
    assert_eq!(status, 403);

    // An unknown resource is invalid_target (RFC 8707 §2).
    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://nowhere.example"),
        ],
        Some((&robot, &robot_secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );

    // A revoked management token stops at once.
    let response = reqwest::Client::new()
        .post(format!("{}/token/revocation", server.issuer()))
        .form(&[("token", admin.as_str())])
        .basic_auth("sigil-admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "revocation needs the client's own secret"
    );
    let second = admin_token(&server).await;
    let (status, _) = gql_raw(&server, Some(&admin), query, json!({})).await;
    assert_eq!(
        status, 200,
        "a rotated secret does not revoke tokens already issued"
    );
    let printed_again = sigil_api::bootstrap::bootstrap(&server.commands, &server.issuer())
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/token/revocation", server.issuer()))
        .form(&[("token", second.as_str())])
        .basic_auth(&printed_again.client_id, Some(&printed_again.client_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = gql_raw(&server, Some(&second), query, json!({})).await;
    assert_eq!(status, 401, "revoked");
    server.stop().await;
}

const APP_FIELDS: &str = "id name description type isThirdParty redirectUris postLogoutRedirectUris \
    corsAllowedOrigins alwaysIssueRefreshToken rotateRefreshToken refreshTokenTtlDays \
    idTokenSignedResponseAlg hasClientSecret branding { displayName logoUrl termsOfUseUrl privacyPolicyUrl } \
    consentScopes { userScopes resourceScopeIds organizationScopeIds }";

#[tokio::test]
async fn every_mutation_and_query_of_the_contract_on_both_backends() {
    for db in TestDatabase::all().await {
        contract_workflow(&db).await;
    }
}

async fn contract_workflow(db: &TestDatabase) {
    let server = TestServer::start(db).await;
    let admin = admin_token(&server).await;

    // Applications: create, read back at once (read-your-writes), list with a cursor.
    let mut ids = Vec::new();
    for (name, kind, third) in [
        ("Partner", "SPA", true),
        ("Portal", "TRADITIONAL", false),
        ("Phone", "NATIVE", false),
    ] {
        let data = gql(
            &server,
            &admin,
            &format!("mutation($i: CreateApplicationInput!) {{ createApplication(input: $i) {{ application {{ {APP_FIELDS} }} clientSecret }} }}"),
            json!({ "i": {
                "name": name, "description": "d", "type": kind, "isThirdParty": third,
                "redirectUris": [CALLBACK], "postLogoutRedirectUris": ["https://app.example.com/"],
                "corsAllowedOrigins": ["https://app.example.com"],
            } }),
        )
        .await;
        let created = &data["createApplication"];
        assert_eq!(created["application"]["type"], kind);
        assert_eq!(
            created["clientSecret"].is_string(),
            kind == "TRADITIONAL",
            "{created}"
        );
        ids.push(created["application"]["id"].as_str().unwrap().to_string());
    }
    let one = gql(
        &server,
        &admin,
        &format!("query($id: ID!) {{ application(id: $id) {{ {APP_FIELDS} }} }}"),
        json!({ "id": ids[0] }),
    )
    .await;
    assert_eq!(one["application"]["name"], "Partner");
    assert_eq!(one["application"]["redirectUris"], json!([CALLBACK]));
    let page = gql(
        &server,
        &admin,
        "query($f: ApplicationFilter) { applications(first: 1, filter: $f) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
        json!({ "f": { "search": "p" } }),
    )
    .await;
    let conn = &page["applications"];
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    let mut seen = vec![conn["edges"][0]["node"]["id"].as_str().unwrap().to_string()];
    let mut after = conn["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    loop {
        let page = gql(
            &server,
            &admin,
            "query($a: String) { applications(first: 1, after: $a, filter: { search: \"P\" }) { edges { node { id } } pageInfo { hasNextPage endCursor } } }",
            json!({ "a": after }),
        )
        .await;
        let conn = &page["applications"];
        seen.extend(
            conn["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_string()),
        );
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    }
    assert_eq!(
        seen, ids,
        "every matching application once, in creation order"
    );
    let third = gql(
        &server,
        &admin,
        "{ applications(filter: { isThirdParty: true, type: SPA }) { edges { node { id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(third["applications"]["edges"].as_array().unwrap().len(), 1);

    let updated = gql(
        &server,
        &admin,
        "mutation($id: ID!, $i: UpdateApplicationInput!) { updateApplication(id: $id, input: $i) { name alwaysIssueRefreshToken rotateRefreshToken refreshTokenTtlDays idTokenSignedResponseAlg } }",
        json!({ "id": ids[1], "i": { "name": "Portal 2", "alwaysIssueRefreshToken": true,
                "rotateRefreshToken": false, "refreshTokenTtlDays": 30, "idTokenSignedResponseAlg": "RS256" } }),
    )
    .await;
    assert_eq!(
        updated["updateApplication"],
        json!({ "name": "Portal 2", "alwaysIssueRefreshToken": true, "rotateRefreshToken": false,
                "refreshTokenTtlDays": 30, "idTokenSignedResponseAlg": "RS256" })
    );
    let rotated = gql(
        &server,
        &admin,
        "mutation($id: ID!) { rotateApplicationSecret(id: $id) { clientSecret } }",
        json!({ "id": ids[1] }),
    )
    .await;
    assert!(rotated["rotateApplicationSecret"]["clientSecret"].is_string());

    // Bad input: clear codes, never a 500.
    for (query, variables, code) in [
        (
            "mutation($i: CreateApplicationInput!) { createApplication(input: $i) { clientSecret } }",
            json!({ "i": { "name": "X", "type": "SPA", "redirectUris": ["not a uri"] } }),
            "VALIDATION",
        ),
        (
            "mutation($id: ID!) { updateApplication(id: $id, input: { name: \"y\" }) { id } }",
            json!({ "id": "nope" }),
            "NOT_FOUND",
        ),
        (
            "mutation($id: ID!) { updateApplication(id: $id, input: { type: SPA }) { id } }",
            json!({ "id": ids[1] }),
            "VALIDATION",
        ),
        (
            "{ applications(first: 1000) { edges { cursor } } }",
            json!({}),
            "VALIDATION",
        ),
        (
            "{ applications(after: \"garbage\") { edges { cursor } } }",
            json!({}),
            "VALIDATION",
        ),
    ] {
        assert_eq!(
            gql_error(&server, &admin, query, variables).await,
            code,
            "{query}"
        );
    }
    let missing = gql(
        &server,
        &admin,
        "{ application(id: \"nope\") { id } }",
        json!({}),
    )
    .await;
    assert_eq!(missing["application"], Value::Null);

    // Users: create, search, update, password, suspend, delete.
    let user = gql(
        &server,
        &admin,
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id username primaryEmail name hasPassword isSuspended } }",
        json!({ "i": { "username": "ada", "primaryEmail": "ada@example.com", "password": PASSWORD, "name": "Ada" } }),
    )
    .await;
    let user_id = user["createUser"]["id"].as_str().unwrap().to_string();
    assert_eq!(user["createUser"]["hasPassword"], true);
    let code = gql_error(
        &server,
        &admin,
        "mutation { createUser(input: { username: \"ADA\", password: \"correct horse battery\" }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(code, "CONFLICT");
    let weak = gql_error(
        &server,
        &admin,
        "mutation { createUser(input: { username: \"bob\", password: \"123\" }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(weak, "VALIDATION");
    let found = gql(
        &server,
        &admin,
        "{ users(search: \"ADA@EX\") { edges { node { id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(found["users"]["edges"][0]["node"]["id"], user_id.as_str());
    let none = gql(
        &server,
        &admin,
        "{ users(search: \"zzz\") { edges { node { id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(none["users"]["edges"], json!([]));
    let renamed = gql(
        &server,
        &admin,
        "mutation($id: ID!) { updateUser(id: $id, input: { name: \"Ada L.\" }) { name } }",
        json!({ "id": user_id }),
    )
    .await;
    assert_eq!(renamed["updateUser"]["name"], "Ada L.");
    gql(
        &server,
        &admin,
        "mutation($id: ID!) { setUserPassword(id: $id, password: \"another good passphrase\") { id } }",
        json!({ "id": user_id }),
    )
    .await;
    let suspended = gql(
        &server,
        &admin,
        "mutation($id: ID!) { suspendUser(id: $id) { isSuspended } }",
        json!({ "id": user_id }),
    )
    .await;
    assert_eq!(suspended["suspendUser"]["isSuspended"], true);
    let listed = gql(
        &server,
        &admin,
        "{ users(isSuspended: true) { edges { node { id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(listed["users"]["edges"].as_array().unwrap().len(), 1);
    gql(
        &server,
        &admin,
        "mutation($id: ID!) { reinstateUser(id: $id) { id } }",
        json!({ "id": user_id }),
    )
    .await;

    // RBAC: resource, scope, role, assignment; consent scopes and branding.
    let resource = gql(
        &server,
        &admin,
        "mutation { createApiResource(input: { name: \"Photos\", indicator: \"https://photos.example\", accessTokenTtlSeconds: 600 }) { id indicator accessTokenTtlSeconds } }",
        json!({}),
    )
    .await;
    let resource_id = resource["createApiResource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dup = gql_error(
        &server,
        &admin,
        "mutation { createApiResource(input: { name: \"Again\", indicator: \"https://photos.example\" }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(dup, "CONFLICT");
    let reserved = gql_error(
        &server,
        &admin,
        "mutation { createApiResource(input: { name: \"Fake\", indicator: \"urn:sigil:management\" }) { id } }",
        json!({}),
    )
    .await;
    assert_ne!(reserved, "INTERNAL");
    let scope = gql(
        &server,
        &admin,
        "mutation($r: ID!) { createResourceScope(input: { resourceId: $r, name: \"read\", description: \"See your photos\" }) { id name } }",
        json!({ "r": resource_id }),
    )
    .await;
    let scope_id = scope["createResourceScope"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let role = gql(
        &server,
        &admin,
        "mutation($s: [ID!]!) { createRole(input: { name: \"Viewer\", description: \"d\", scopeIds: $s }) { id type scopes { name } } }",
        json!({ "s": [scope_id] }),
    )
    .await;
    assert_eq!(role["createRole"]["type"], "USER");
    let role_id = role["createRole"]["id"].as_str().unwrap().to_string();
    let assigned = gql(
        &server,
        &admin,
        "mutation($u: ID!, $r: [ID!]!) { assignUserRoles(userId: $u, roleIds: $r) { roles { id name scopes { name resource { indicator } } } } }",
        json!({ "u": user_id, "r": [role_id] }),
    )
    .await;
    assert_eq!(
        assigned["assignUserRoles"]["roles"][0]["scopes"][0]["resource"]["indicator"],
        "https://photos.example"
    );
    let bad_role = gql_error(
        &server,
        &admin,
        "mutation($u: ID!) { assignUserRoles(userId: $u, roleIds: [\"nope\"]) { id } }",
        json!({ "u": user_id }),
    )
    .await;
    assert_eq!(bad_role, "VALIDATION");
    let consent = gql(
        &server,
        &admin,
        "mutation($a: ID!, $s: [ID!]!) { setApplicationConsentScopes(applicationId: $a, input: { userScopes: [\"profile\"], resourceScopeIds: $s, organizationScopeIds: [] }) { consentScopes { userScopes resourceScopeIds } } }",
        json!({ "a": ids[0], "s": [scope_id] }),
    )
    .await;
    assert_eq!(
        consent["setApplicationConsentScopes"]["consentScopes"],
        json!({ "userScopes": ["openid", "profile"], "resourceScopeIds": [scope_id] }),
        "openid is the sign-in itself and always allowed"
    );
    let not_third = gql_error(
        &server,
        &admin,
        "mutation($a: ID!) { setApplicationConsentScopes(applicationId: $a, input: { userScopes: [\"profile\"] }) { id } }",
        json!({ "a": ids[1] }),
    )
    .await;
    assert_eq!(not_third, "VALIDATION");
    let branded = gql(
        &server,
        &admin,
        "mutation($a: ID!) { setApplicationBranding(applicationId: $a, input: { displayName: \"Partner Photos\", logoUrl: \"https://partner.example/logo.png\", termsOfUseUrl: \"https://partner.example/terms\", privacyPolicyUrl: \"https://partner.example/privacy\" }) { branding { displayName logoUrl } } }",
        json!({ "a": ids[0] }),
    )
    .await;
    assert_eq!(
        branded["setApplicationBranding"]["branding"]["displayName"],
        "Partner Photos"
    );
    let bad_logo = gql_error(
        &server,
        &admin,
        "mutation($a: ID!) { setApplicationBranding(applicationId: $a, input: { logoUrl: \"javascript:alert(1)\" }) { id } }",
        json!({ "a": ids[0] }),
    )
    .await;
    assert_eq!(bad_logo, "VALIDATION");

    // Organizations.
    let org = gql(
        &server,
        &admin,
        "mutation { createOrganization(input: { name: \"Acme\" }) { id name } }",
        json!({}),
    )
    .await;
    let org_id = org["createOrganization"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let org_scope = gql(
        &server,
        &admin,
        "mutation { createOrganizationScope(input: { name: \"invite:member\" }) { id } }",
        json!({}),
    )
    .await;
    let org_role = gql(
        &server,
        &admin,
        "mutation($s: [ID!]!) { createOrganizationRole(input: { name: \"Admin\", organizationScopeIds: $s }) { id scopes { name } } }",
        json!({ "s": [org_scope["createOrganizationScope"]["id"]] }),
    )
    .await;
    gql(
        &server,
        &admin,
        "mutation($o: ID!, $u: [ID!]!) { addOrganizationMembers(organizationId: $o, userIds: $u) { id } }",
        json!({ "o": org_id, "u": [user_id] }),
    )
    .await;
    let members = gql(
        &server,
        &admin,
        "mutation($o: ID!, $u: ID!, $r: [ID!]!) { assignOrganizationRoles(organizationId: $o, userId: $u, organizationRoleIds: $r) { members { user { username } roles { name scopes { name } } } } }",
        json!({ "o": org_id, "u": user_id, "r": [org_role["createOrganizationRole"]["id"]] }),
    )
    .await;
    assert_eq!(
        members["assignOrganizationRoles"]["members"],
        json!([{ "user": { "username": "ada" }, "roles": [{ "name": "Admin", "scopes": [{ "name": "invite:member" }] }] }])
    );
    let of_user = gql(
        &server,
        &admin,
        "query($u: ID!) { user(id: $u) { organizations { name } roles { name } } organizations(search: \"ac\") { id } }",
        json!({ "u": user_id }),
    )
    .await;
    assert_eq!(
        of_user["user"]["organizations"],
        json!([{ "name": "Acme" }])
    );
    assert_eq!(of_user["organizations"][0]["id"], org_id.as_str());

    // Deletes.
    gql(
        &server,
        &admin,
        "mutation($id: ID!) { deleteApplication(id: $id) }",
        json!({ "id": ids[2] }),
    )
    .await;
    let gone = gql(
        &server,
        &admin,
        "query($id: ID!) { application(id: $id) { id } }",
        json!({ "id": ids[2] }),
    )
    .await;
    assert_eq!(gone["application"], Value::Null);
    gql(
        &server,
        &admin,
        "mutation($id: ID!) { deleteUser(id: $id) }",
        json!({ "id": user_id }),
    )
    .await;
    let gone = gql(
        &server,
        &admin,
        "query($id: ID!) { user(id: $id) { id } }",
        json!({ "id": user_id }),
    )
    .await;
    assert_eq!(gone["user"], Value::Null);

    // Every change above is in the log with the admin application as its actor.
    let actors: Vec<String> = sigil_eventstore::sqlx::query_scalar(
        "SELECT metadata FROM events WHERE aggregate_type IN ('application', 'user', 'access_control', 'organization')",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert!(
        actors.iter().any(|m| m.contains("client:sigil-admin")),
        "{actors:?}"
    );
    server.stop().await;
}

/// What the consent page lists, as text.
fn list_items(html: &str) -> Vec<String> {
    html.split("<li")
        .skip(1)
        .filter_map(|part| part.split_once('>').map(|(_, rest)| rest))
        .filter_map(|rest| rest.split("</li>").next())
        .map(|s| s.split('<').next().unwrap_or("").trim().to_string())
        .collect()
}

#[tokio::test]
async fn consent_and_tokens_carry_only_what_the_user_holds_and_the_app_may_ask() {
    let db = TestDatabase::sqlite().await;
    let server = TestServer::start(&db).await;
    let admin = admin_token(&server).await;
    register_user(&server.commands, "u-ada", "ada", PASSWORD).await;
    let resource = gql(
        &server,
        &admin,
        "mutation { createApiResource(input: { name: \"Photos\", indicator: \"https://photos.example\" }) { id } }",
        json!({}),
    )
    .await;
    let resource_id = resource["createApiResource"]["id"].clone();
    let mut scope_ids = Vec::new();
    for (name, description) in [("read", "See your photos"), ("write", "Change your photos")] {
        let s = gql(
            &server,
            &admin,
            "mutation($r: ID!, $n: String!, $d: String) { createResourceScope(input: { resourceId: $r, name: $n, description: $d }) { id } }",
            json!({ "r": resource_id, "n": name, "d": description }),
        )
        .await;
        scope_ids.push(s["createResourceScope"]["id"].clone());
    }
    // Ada holds read only.
    let role = gql(
        &server,
        &admin,
        "mutation($s: [ID!]!) { createRole(input: { name: \"Viewer\", scopeIds: $s }) { id } }",
        json!({ "s": [scope_ids[0]] }),
    )
    .await;
    gql(
        &server,
        &admin,
        "mutation($r: [ID!]!) { assignUserRoles(userId: \"u-ada\", roleIds: $r) { id } }",
        json!({ "r": [role["createRole"]["id"]] }),
    )
    .await;
    // A third-party SPA that may ask for profile, read and write (not email).
    let app = gql(
        &server,
        &admin,
        "mutation($cb: String!) { createApplication(input: { name: \"Partner\", type: SPA, isThirdParty: true, redirectUris: [$cb] }) { application { id } } }",
        json!({ "cb": CALLBACK }),
    )
    .await;
    let client_id = app["createApplication"]["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    gql(
        &server,
        &admin,
        "mutation($a: ID!, $s: [ID!]!) { setApplicationConsentScopes(applicationId: $a, input: { userScopes: [\"profile\"], resourceScopeIds: $s }) { id } }",
        json!({ "a": client_id, "s": scope_ids }),
    )
    .await;
    gql(
        &server,
        &admin,
        "mutation($a: ID!) { setApplicationBranding(applicationId: $a, input: { displayName: \"Partner Photos\" }) { id } }",
        json!({ "a": client_id }),
    )
    .await;

    let browser = browser();
    let (verifier, challenge) = pkce();
    let response = sign_in(
        &server.base,
        &browser,
        &client_id,
        "openid profile email read write",
        Some(&challenge),
        &[("resource", "https://photos.example")],
        ("ada", PASSWORD),
    )
    .await;
    assert_eq!(response.status(), 200, "the consent page");
    let html = response.text().await.unwrap();
    assert!(html.contains("Partner Photos"), "the branded name");
    let items = list_items(&html).join(" | ");
    assert!(items.contains("See your photos"), "{items}");
    assert!(
        !items.contains("Change your photos"),
        "a scope Ada lacks is never shown: {items}"
    );
    assert!(
        !items.to_lowercase().contains("email"),
        "a scope the app may not ask for: {items}"
    );
    let code = authorize_consent(&server.base, &browser, &html).await;
    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
            ("resource", "https://photos.example"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "read");
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["aud"], "https://photos.example");
    assert_eq!(claims["sub"], "u-ada");
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], "read");
    let (_, id_claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert!(
        id_claims.get("email").is_none(),
        "email was dropped: {id_claims}"
    );
    // A JWT for a resource is not a userinfo token.
    assert!(
        !sigil_tests::flow::userinfo_ok(&server.base, body["access_token"].as_str().unwrap()).await
    );
    server.stop().await;
}

#[tokio::test]
async fn an_organization_token_carries_the_members_organization_scopes() {
    let db = TestDatabase::sqlite().await;
    let server = TestServer::start(&db).await;
    let admin = admin_token(&server).await;
    register_user(&server.commands, "u-ada", "ada", PASSWORD).await;
    let spa = gql(
        &server,
        &admin,
        "mutation($cb: String!) { createApplication(input: { name: \"Console\", type: SPA, redirectUris: [$cb] }) { application { id } } }",
        json!({ "cb": CALLBACK }),
    )
    .await;
    let client_id = spa["createApplication"]["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut org_scopes = Vec::new();
    for name in ["invite:member", "delete:org"] {
        let s = gql(
            &server,
            &admin,
            "mutation($n: String!) { createOrganizationScope(input: { name: $n }) { id } }",
            json!({ "n": name }),
        )
        .await;
        org_scopes.push(s["createOrganizationScope"]["id"].clone());
    }
    let role = gql(
        &server,
        &admin,
        "mutation($s: [ID!]!) { createOrganizationRole(input: { name: \"Member\", organizationScopeIds: $s }) { id } }",
        json!({ "s": [org_scopes[0]] }),
    )
    .await;
    let mut orgs = Vec::new();
    for name in ["Acme", "Globex"] {
        let o = gql(
            &server,
            &admin,
            "mutation($n: String!) { createOrganization(input: { name: $n }) { id } }",
            json!({ "n": name }),
        )
        .await;
        orgs.push(o["createOrganization"]["id"].as_str().unwrap().to_string());
    }
    gql(
        &server,
        &admin,
        "mutation($o: ID!, $r: [ID!]!) { addOrganizationMembers(organizationId: $o, userIds: [\"u-ada\"]) { id } assignOrganizationRoles(organizationId: $o, userId: \"u-ada\", organizationRoleIds: $r) { id } }",
        json!({ "o": orgs[0], "r": [role["createOrganizationRole"]["id"]] }),
    )
    .await;

    let browser = browser();
    let (verifier, challenge) = pkce();
    let code = sigil_tests::flow::authorize(
        &server.base,
        &browser,
        &client_id,
        "openid organizations offline_access invite:member delete:org",
        Some(&challenge),
        &[("prompt", "consent")],
        ("ada", PASSWORD),
    )
    .await;
    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, id_claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(id_claims["organizations"], json!([orgs[0]]));
    let refresh = body["refresh_token"]
        .as_str()
        .expect("offline_access")
        .to_string();

    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
            ("organization_id", &orgs[0]),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["aud"], format!("urn:sigil:organization:{}", orgs[0]));
    assert_eq!(claims["organization_id"], orgs[0].as_str());
    assert_eq!(
        claims["scope"], "invite:member",
        "delete:org is held by no role of Ada's"
    );
    let refresh = body["refresh_token"]
        .as_str()
        .unwrap_or(&refresh)
        .to_string();

    // Not a member of Globex: refused.
    let (status, body) = token(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
            ("organization_id", &orgs[1]),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_websocket_delivers_changes_appended_after_subscribing() {
    let db = TestDatabase::sqlite().await;
    let server = TestServer::start(&db).await;
    let admin = admin_token(&server).await;
    let mut refused = Live::connect(&server).await;
    // Without a token the connection is refused.
    refused
        .send(json!({ "type": "connection_init", "payload": {} }))
        .await;
    let answer = refused.try_next(std::time::Duration::from_secs(10)).await;
    assert!(
        !matches!(answer, Some(Message::Text(ref t)) if t.contains("connection_ack")),
        "{answer:?}"
    );

    let mut live = Live::start(&server, &admin).await;
    live.subscribe(
        "1",
        "subscription { logEvents(aggregateTypes: [\"user\"]) { position eventType aggregateType aggregateId actor } }",
    )
    .await;
    // Give the subscription a moment to start before the change it must see.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let created = gql(
        &server,
        &admin,
        "mutation { createUser(input: { username: \"live\" }) { id } }",
        json!({}),
    )
    .await;
    let message = live.receive().await;
    assert_eq!(message["type"], "next", "{message}");
    let event = &message["payload"]["data"]["logEvents"];
    assert_eq!(event["eventType"], "UserRegistered");
    assert_eq!(event["aggregateId"], created["createUser"]["id"]);
    assert_eq!(event["actor"], "client:sigil-admin");
    server.stop().await;
}
