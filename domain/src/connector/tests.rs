use std::collections::BTreeMap;

use cqrs_es::test::TestFramework;

use super::*;

type Event = ConnectorEvent;

fn when(given: Vec<Event>, command: ConnectorCommand) -> Result<Vec<Event>, ConnectorError> {
    TestFramework::<Connector>::with(())
        .given(given)
        .when(command)
        .inspect_result()
}

fn config() -> OidcConnectorConfig {
    OidcConnectorConfig {
        display_name: "Acme".into(),
        logo_url: Some("https://acme.example/logo.png".into()),
        discovery_issuer: Some("https://id.acme.example".into()),
        client_id: "sigil".into(),
        sealed_client_secret: "v1.c2VhbGVk".into(),
        scope: "openid profile email".into(),
        authorization_endpoint: "https://id.acme.example/auth".into(),
        token_endpoint: "https://id.acme.example/token".into(),
        userinfo_endpoint: None,
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        client_secret_jwt_signing_algorithm: None,
        id_token_verification: IdTokenVerification {
            jwks_uri: "https://id.acme.example/jwks".into(),
            issuer: vec!["https://id.acme.example".into()],
            audience: vec![],
            algorithms: vec!["RS256".into()],
            clock_tolerance_secs: 5,
            max_token_age_secs: Some(600),
        },
        auth_request: AuthRequestOptions::default(),
        custom_params: BTreeMap::new(),
        link_verified_email: false,
        enabled: true,
    }
}

fn configured() -> Event {
    Event::ConnectorConfigured { config: config() }
}

#[test]
fn a_valid_configuration_is_recorded_once() {
    assert_eq!(
        when(vec![], ConnectorCommand::Configure(config())),
        Ok(vec![configured()])
    );
    assert_eq!(
        when(vec![configured()], ConnectorCommand::Configure(config())),
        Err(ConnectorError::AlreadyExists)
    );
    let deleted = vec![configured(), Event::ConnectorDeleted];
    assert_eq!(
        when(deleted, ConnectorCommand::Configure(config())),
        Err(ConnectorError::AlreadyExists)
    );
}

#[test]
fn the_seed_rules_are_enforced() {
    let refused = |change: fn(&mut OidcConnectorConfig), expected: ConnectorError| {
        let mut c = config();
        change(&mut c);
        assert_eq!(when(vec![], ConnectorCommand::Configure(c)), Err(expected));
    };
    refused(
        |c| c.scope = "profile email".into(),
        ConnectorError::ScopeWithoutOpenid,
    );
    refused(
        |c| c.display_name = " ".into(),
        ConnectorError::DisplayNameEmpty,
    );
    refused(
        |c| c.sealed_client_secret = "hunter2".into(),
        ConnectorError::SecretNotSealed,
    );
    refused(
        |c| c.token_endpoint = "http://id.acme.example/token".into(),
        ConnectorError::InvalidUrl("tokenEndpoint".into()),
    );
    refused(
        |c| c.authorization_endpoint = "https://u:p@id.acme.example/auth".into(),
        ConnectorError::InvalidUrl("authorizationEndpoint".into()),
    );
    refused(
        |c| c.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretJwt,
        ConnectorError::Invalid("clientSecretJwtSigningAlgorithm".into()),
    );
    refused(
        |c| c.id_token_verification.algorithms = vec!["HS256".into()],
        ConnectorError::Invalid("idTokenVerificationConfig.algorithms".into()),
    );
    refused(
        |c| c.id_token_verification.algorithms = vec!["none".into()],
        ConnectorError::Invalid("idTokenVerificationConfig.algorithms".into()),
    );
    refused(
        |c| c.id_token_verification.issuer = vec![],
        ConnectorError::Invalid("idTokenVerificationConfig.issuer".into()),
    );
    refused(
        |c| {
            c.custom_params.insert("nonce".into(), "fixed".into());
        },
        ConnectorError::ReservedParameter("nonce".into()),
    );
    refused(
        |c| c.auth_request.response_mode = Some("fragment".into()),
        ConnectorError::Invalid("authRequestOptionalConfig.responseMode".into()),
    );
}

#[test]
fn client_secret_jwt_needs_an_hmac_algorithm_and_loopback_may_use_http() {
    let mut c = config();
    c.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretJwt;
    c.client_secret_jwt_signing_algorithm = Some("HS256".into());
    c.token_endpoint = "http://127.0.0.1:8080/token".into();
    assert!(when(vec![], ConnectorCommand::Configure(c)).is_ok());
}

#[test]
fn updates_record_only_a_change_and_need_a_live_connector() {
    assert_eq!(
        when(vec![configured()], ConnectorCommand::Update(config())),
        Ok(vec![])
    );
    let mut renamed = config();
    renamed.display_name = "Acme ID".into();
    assert_eq!(
        when(
            vec![configured()],
            ConnectorCommand::Update(renamed.clone())
        ),
        Ok(vec![Event::ConnectorUpdated { config: renamed }])
    );
    assert_eq!(
        when(vec![], ConnectorCommand::Update(config())),
        Err(ConnectorError::NotFound)
    );
    assert_eq!(
        when(vec![configured()], ConnectorCommand::Delete),
        Ok(vec![Event::ConnectorDeleted])
    );
    assert_eq!(
        when(
            vec![configured(), Event::ConnectorDeleted],
            ConnectorCommand::Delete
        ),
        Err(ConnectorError::NotFound)
    );
}
