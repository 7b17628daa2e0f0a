//! Given/when/then tests for the application aggregate, one rule each.

use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};

use super::*;
use crate::redirect_uri::UriError;

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const OTHER_DIGEST: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

fn app() -> TestFramework<Application> {
    TestFramework::with(())
}

fn spa() -> NewApplication {
    NewApplication {
        name: "Shop".into(),
        description: None,
        app_type: ApplicationType::Spa,
        is_third_party: false,
        redirect_uris: vec!["https://shop.example/cb".into()],
        post_logout_redirect_uris: vec!["https://shop.example/".into()],
        cors_allowed_origins: vec!["https://shop.example".into()],
        client_secret_digest: None,
    }
}

fn of_type(app_type: ApplicationType, digest: Option<&str>) -> NewApplication {
    NewApplication {
        app_type,
        client_secret_digest: digest.map(str::to_owned),
        ..spa()
    }
}

fn machine() -> NewApplication {
    NewApplication {
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        cors_allowed_origins: vec![],
        ..of_type(ApplicationType::MachineToMachine, Some(DIGEST))
    }
}

// The event a valid registration records, written out by hand with the
// Logto defaults so that a change to the defaults in code fails a test.
fn created(new: NewApplication) -> ApplicationEvent {
    ApplicationEvent::ApplicationRegistered {
        name: new.name,
        description: new.description,
        app_type: new.app_type,
        is_third_party: new.is_third_party,
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
        cors_allowed_origins: new.cors_allowed_origins,
        client_secret_digest: new.client_secret_digest,
        always_issue_refresh_token: false,
        rotate_refresh_token: true,
        refresh_token_ttl_days: 14,
        refresh_token_reuse_grace_seconds: 0,
        id_token_signed_response_alg: SigningAlgorithm::ES384,
    }
}

fn updated(changes: ApplicationChanges) -> ApplicationEvent {
    ApplicationEvent::ApplicationUpdated { changes }
}

fn create_fails(new: NewApplication, error: ApplicationError) {
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(new))
        .then_expect_error(error);
}

fn update_on(
    new: NewApplication,
    changes: ApplicationChanges,
) -> Result<Vec<ApplicationEvent>, ApplicationError> {
    app()
        .given(vec![created(new)])
        .when(ApplicationCommand::Update(changes))
        .inspect_result()
}

fn invalid(list: UriList, uri: &str, reason: UriError) -> ApplicationError {
    ApplicationError::InvalidUri {
        list,
        uri: uri.into(),
        reason,
    }
}

fn uris(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://shop.example/cb{i}"))
        .collect()
}

// --- Create ---

#[test]
fn create_records_the_registration_with_refresh_token_defaults() {
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(spa()))
        .then_expect_events(vec![created(spa())]);
}

#[test]
fn create_on_an_existing_application_fails() {
    app()
        .given(vec![created(spa())])
        .when(ApplicationCommand::Create(spa()))
        .then_expect_error(ApplicationError::AlreadyExists);
}

#[test]
fn create_on_a_deleted_application_fails_because_ids_are_not_reused() {
    app()
        .given(vec![created(spa()), ApplicationEvent::ApplicationDeleted])
        .when(ApplicationCommand::Create(spa()))
        .then_expect_error(ApplicationError::AlreadyExists);
}

#[test]
fn create_trims_the_name_and_drops_a_blank_description() {
    let new = NewApplication {
        name: "  Shop \n".into(),
        description: Some("   ".into()),
        ..spa()
    };
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(new))
        .then_expect_events(vec![created(spa())]);
}

#[test]
fn create_refuses_a_blank_name() {
    create_fails(
        NewApplication {
            name: " \t ".into(),
            ..spa()
        },
        ApplicationError::NameEmpty,
    );
}

#[test]
fn create_accepts_256_characters_of_name_and_refuses_257() {
    let at_limit = NewApplication {
        name: "é".repeat(256),
        ..spa()
    };
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(at_limit.clone()))
        .then_expect_events(vec![created(at_limit)]);
    create_fails(
        NewApplication {
            name: "é".repeat(257),
            ..spa()
        },
        ApplicationError::NameTooLong,
    );
}

#[test]
fn confidential_applications_require_a_secret_digest() {
    for app_type in [
        ApplicationType::Traditional,
        ApplicationType::MachineToMachine,
    ] {
        create_fails(
            NewApplication {
                app_type,
                client_secret_digest: None,
                ..machine()
            },
            ApplicationError::ClientSecretRequired,
        );
    }
}

#[test]
fn confidential_applications_are_created_with_their_digest() {
    let web = of_type(ApplicationType::Traditional, Some(DIGEST));
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(web.clone()))
        .then_expect_events(vec![created(web)]);
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(machine()))
        .then_expect_events(vec![created(machine())]);
}

#[test]
fn public_applications_refuse_a_secret_digest() {
    for app_type in [ApplicationType::Native, ApplicationType::Spa] {
        create_fails(
            of_type(app_type, Some(DIGEST)),
            ApplicationError::ClientSecretNotAllowed,
        );
    }
}

#[test]
fn a_secret_digest_must_be_64_lowercase_hex_characters() {
    let upper = DIGEST.to_uppercase();
    let short = &DIGEST[..63];
    let long = format!("{DIGEST}0");
    let not_hex = format!("{}g", &DIGEST[..63]);
    for digest in [
        "hunter2",
        upper.as_str(),
        short,
        long.as_str(),
        not_hex.as_str(),
    ] {
        create_fails(
            of_type(ApplicationType::Traditional, Some(digest)),
            ApplicationError::InvalidClientSecretDigest,
        );
    }
}

#[test]
fn machine_to_machine_applications_have_no_uris() {
    let cases = [
        (
            NewApplication {
                redirect_uris: uris(1),
                ..machine()
            },
            UriList::RedirectUris,
        ),
        (
            NewApplication {
                post_logout_redirect_uris: uris(1),
                ..machine()
            },
            UriList::PostLogoutRedirectUris,
        ),
        (
            NewApplication {
                cors_allowed_origins: vec!["https://a.example".into()],
                ..machine()
            },
            UriList::CorsAllowedOrigins,
        ),
    ];
    for (new, list) in cases {
        create_fails(new, ApplicationError::UrisNotAllowed { list });
    }
}

#[test]
fn machine_to_machine_applications_cannot_be_third_party() {
    create_fails(
        NewApplication {
            is_third_party: true,
            ..machine()
        },
        ApplicationError::ThirdPartyMachineToMachine,
    );
}

#[test]
fn other_types_can_be_third_party() {
    let new = NewApplication {
        is_third_party: true,
        ..spa()
    };
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(new.clone()))
        .then_expect_events(vec![created(new)]);
}

#[test]
fn each_uri_list_holds_at_most_32_entries() {
    let full = NewApplication {
        redirect_uris: uris(32),
        post_logout_redirect_uris: uris(32),
        ..spa()
    };
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(full.clone()))
        .then_expect_events(vec![created(full)]);
    let origins: Vec<String> = (0..33).map(|i| format!("https://a{i}.example")).collect();
    let cases = [
        (
            NewApplication {
                redirect_uris: uris(33),
                ..spa()
            },
            UriList::RedirectUris,
        ),
        (
            NewApplication {
                post_logout_redirect_uris: uris(33),
                ..spa()
            },
            UriList::PostLogoutRedirectUris,
        ),
        (
            NewApplication {
                cors_allowed_origins: origins,
                ..spa()
            },
            UriList::CorsAllowedOrigins,
        ),
    ];
    for (new, list) in cases {
        create_fails(new, ApplicationError::TooManyUris { list });
    }
}

#[test]
fn a_redirect_uri_longer_than_2048_bytes_is_refused() {
    let uri = format!("https://shop.example/{}", "a".repeat(2048));
    create_fails(
        NewApplication {
            redirect_uris: vec![uri.clone()],
            ..spa()
        },
        invalid(UriList::RedirectUris, &uri, UriError::TooLong),
    );
}

#[test]
fn redirect_uris_must_be_absolute_without_fragment() {
    let relative = "/cb";
    create_fails(
        NewApplication {
            redirect_uris: vec![relative.into()],
            ..spa()
        },
        invalid(UriList::RedirectUris, relative, UriError::NotAbsolute),
    );
    let fragment = "https://shop.example/cb#x";
    create_fails(
        NewApplication {
            redirect_uris: vec![fragment.into()],
            ..spa()
        },
        invalid(UriList::RedirectUris, fragment, UriError::Fragment),
    );
}

#[test]
fn post_logout_redirect_uris_follow_the_same_rules() {
    let uri = "http://shop.example/";
    create_fails(
        NewApplication {
            post_logout_redirect_uris: vec![uri.into()],
            ..spa()
        },
        invalid(UriList::PostLogoutRedirectUris, uri, UriError::InsecureHttp),
    );
}

#[test]
fn web_applications_need_https_except_on_loopback() {
    let loopback = NewApplication {
        redirect_uris: vec!["http://localhost:3000/cb".into()],
        ..spa()
    };
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(loopback.clone()))
        .then_expect_events(vec![created(loopback)]);
    let uri = "http://shop.example/cb";
    let web = NewApplication {
        redirect_uris: vec![uri.into()],
        ..of_type(ApplicationType::Traditional, Some(DIGEST))
    };
    create_fails(
        web,
        invalid(UriList::RedirectUris, uri, UriError::InsecureHttp),
    );
}

#[test]
fn only_native_applications_may_use_a_private_use_scheme() {
    let native = NewApplication {
        redirect_uris: vec!["com.example.app:/cb".into(), "myapp://callback".into()],
        post_logout_redirect_uris: vec![],
        ..of_type(ApplicationType::Native, None)
    };
    app()
        .given_no_previous_events()
        .when(ApplicationCommand::Create(native.clone()))
        .then_expect_events(vec![created(native)]);
    let uri = "myapp://callback";
    create_fails(
        NewApplication {
            redirect_uris: vec![uri.into()],
            ..spa()
        },
        invalid(
            UriList::RedirectUris,
            uri,
            UriError::SchemeNotAllowed("myapp".into()),
        ),
    );
}

#[test]
fn script_and_file_schemes_are_refused_even_for_native_applications() {
    let uri = "javascript:alert(1)";
    create_fails(
        NewApplication {
            redirect_uris: vec![uri.into()],
            ..of_type(ApplicationType::Native, None)
        },
        invalid(
            UriList::RedirectUris,
            uri,
            UriError::ForbiddenScheme("javascript".into()),
        ),
    );
}

#[test]
fn cors_origins_have_no_path() {
    let origin = "https://shop.example/app";
    create_fails(
        NewApplication {
            cors_allowed_origins: vec![origin.into()],
            ..spa()
        },
        invalid(UriList::CorsAllowedOrigins, origin, UriError::NotAnOrigin),
    );
}

// --- Update ---

#[test]
fn update_records_only_the_fields_that_differ() {
    let changes = ApplicationChanges {
        name: Some("Shop".into()),
        redirect_uris: Some(vec!["https://shop.example/cb".into()]),
        rotate_refresh_token: Some(true),
        refresh_token_ttl_days: Some(30),
        id_token_signed_response_alg: Some(SigningAlgorithm::EdDSA),
        ..Default::default()
    };
    let expected = ApplicationChanges {
        refresh_token_ttl_days: Some(30),
        id_token_signed_response_alg: Some(SigningAlgorithm::EdDSA),
        ..Default::default()
    };
    assert_eq!(update_on(spa(), changes), Ok(vec![updated(expected)]));
}

#[test]
fn update_with_nothing_new_records_nothing() {
    let same = ApplicationChanges {
        name: Some(" Shop ".into()),
        description: Some(String::new()),
        redirect_uris: Some(spa().redirect_uris),
        post_logout_redirect_uris: Some(spa().post_logout_redirect_uris),
        cors_allowed_origins: Some(spa().cors_allowed_origins),
        always_issue_refresh_token: Some(false),
        rotate_refresh_token: Some(true),
        refresh_token_ttl_days: Some(14),
        refresh_token_reuse_grace_seconds: Some(0),
        id_token_signed_response_alg: Some(SigningAlgorithm::ES384),
    };
    assert_eq!(update_on(spa(), same), Ok(vec![]));
    assert_eq!(update_on(spa(), ApplicationChanges::default()), Ok(vec![]));
}

#[test]
fn update_sets_and_clears_the_description() {
    let set = ApplicationChanges {
        description: Some(" For shoppers ".into()),
        ..Default::default()
    };
    let expected = ApplicationChanges {
        description: Some("For shoppers".into()),
        ..Default::default()
    };
    assert_eq!(update_on(spa(), set), Ok(vec![updated(expected)]));

    let described = NewApplication {
        description: Some("For shoppers".into()),
        ..spa()
    };
    let clear = ApplicationChanges {
        description: Some(" ".into()),
        ..Default::default()
    };
    let expected = ApplicationChanges {
        description: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(update_on(described, clear), Ok(vec![updated(expected)]));
}

#[test]
fn update_applies_the_name_rules() {
    let blank = ApplicationChanges {
        name: Some(" ".into()),
        ..Default::default()
    };
    assert_eq!(update_on(spa(), blank), Err(ApplicationError::NameEmpty));
    let long = ApplicationChanges {
        name: Some("x".repeat(257)),
        ..Default::default()
    };
    assert_eq!(update_on(spa(), long), Err(ApplicationError::NameTooLong));
}

#[test]
fn update_checks_uris_against_the_application_type() {
    let custom = ApplicationChanges {
        redirect_uris: Some(vec!["myapp://cb".into()]),
        ..Default::default()
    };
    assert_eq!(
        update_on(spa(), custom.clone()),
        Err(invalid(
            UriList::RedirectUris,
            "myapp://cb",
            UriError::SchemeNotAllowed("myapp".into())
        ))
    );
    assert_eq!(
        update_on(of_type(ApplicationType::Native, None), custom.clone()),
        Ok(vec![updated(custom)])
    );

    let origins = ApplicationChanges {
        cors_allowed_origins: Some(vec!["https://a.example/".into()]),
        ..Default::default()
    };
    assert_eq!(
        update_on(spa(), origins),
        Err(invalid(
            UriList::CorsAllowedOrigins,
            "https://a.example/",
            UriError::NotAnOrigin
        ))
    );
    let logout = ApplicationChanges {
        post_logout_redirect_uris: Some(uris(33)),
        ..Default::default()
    };
    assert_eq!(
        update_on(spa(), logout),
        Err(ApplicationError::TooManyUris {
            list: UriList::PostLogoutRedirectUris
        })
    );
}

#[test]
fn update_cannot_give_a_machine_to_machine_application_uris() {
    let changes = ApplicationChanges {
        redirect_uris: Some(uris(1)),
        ..Default::default()
    };
    assert_eq!(
        update_on(machine(), changes),
        Err(ApplicationError::UrisNotAllowed {
            list: UriList::RedirectUris
        })
    );
    let empty = ApplicationChanges {
        cors_allowed_origins: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(update_on(machine(), empty), Ok(vec![]));
}

#[test]
fn refresh_token_ttl_is_between_1_and_730_days() {
    for days in [0, 731, u32::MAX] {
        let changes = ApplicationChanges {
            refresh_token_ttl_days: Some(days),
            ..Default::default()
        };
        assert_eq!(
            update_on(spa(), changes),
            Err(ApplicationError::InvalidRefreshTokenTtl { days })
        );
    }
    for days in [1, 730] {
        let changes = ApplicationChanges {
            refresh_token_ttl_days: Some(days),
            ..Default::default()
        };
        assert_eq!(
            update_on(spa(), changes.clone()),
            Ok(vec![updated(changes)])
        );
    }
}

#[test]
fn refresh_token_reuse_grace_is_at_most_60_seconds() {
    let changes = ApplicationChanges {
        refresh_token_reuse_grace_seconds: Some(61),
        ..Default::default()
    };
    assert_eq!(
        update_on(spa(), changes),
        Err(ApplicationError::InvalidRefreshTokenReuseGrace { seconds: 61 })
    );
    let changes = ApplicationChanges {
        refresh_token_reuse_grace_seconds: Some(60),
        ..Default::default()
    };
    assert_eq!(
        update_on(spa(), changes.clone()),
        Ok(vec![updated(changes)])
    );
}

#[test]
fn update_compares_with_the_state_after_earlier_updates() {
    let earlier = ApplicationChanges {
        refresh_token_ttl_days: Some(30),
        ..Default::default()
    };
    let again = ApplicationChanges {
        refresh_token_ttl_days: Some(30),
        ..Default::default()
    };
    app()
        .given(vec![created(spa()), updated(earlier)])
        .when(ApplicationCommand::Update(again))
        .then_expect_events(vec![]);
}

// --- RotateSecret ---

fn rotate(digest: &str) -> ApplicationCommand {
    ApplicationCommand::RotateSecret {
        client_secret_digest: digest.into(),
    }
}

#[test]
fn rotating_records_the_new_digest() {
    app()
        .given(vec![created(machine())])
        .when(rotate(OTHER_DIGEST))
        .then_expect_events(vec![ApplicationEvent::ClientSecretRotated {
            client_secret_digest: OTHER_DIGEST.into(),
        }]);
}

#[test]
fn rotating_to_the_current_digest_records_nothing() {
    app()
        .given(vec![created(machine())])
        .when(rotate(DIGEST))
        .then_expect_events(vec![]);
}

#[test]
fn public_applications_cannot_rotate_a_secret() {
    app()
        .given(vec![created(spa())])
        .when(rotate(OTHER_DIGEST))
        .then_expect_error(ApplicationError::ClientSecretNotAllowed);
}

#[test]
fn rotating_refuses_something_that_is_not_a_digest() {
    app()
        .given(vec![created(machine())])
        .when(rotate("correct horse battery staple"))
        .then_expect_error(ApplicationError::InvalidClientSecretDigest);
}

// --- Roles ---

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

fn assign_roles(ids: &[&str]) -> ApplicationCommand {
    ApplicationCommand::AssignRoles {
        role_ids: strings(ids),
    }
}

fn remove_roles(ids: &[&str]) -> ApplicationCommand {
    ApplicationCommand::RemoveRoles {
        role_ids: strings(ids),
    }
}

fn roles_assigned(ids: &[&str]) -> ApplicationEvent {
    ApplicationEvent::ApplicationRolesAssigned {
        role_ids: strings(ids),
    }
}

fn roles_removed(ids: &[&str]) -> ApplicationEvent {
    ApplicationEvent::ApplicationRolesRemoved {
        role_ids: strings(ids),
    }
}

#[test]
fn assigning_roles_records_only_the_new_ones_sorted() {
    app()
        .given(vec![created(machine()), roles_assigned(&["reader"])])
        .when(assign_roles(&["writer", "reader", "auditor", "writer"]))
        .then_expect_events(vec![roles_assigned(&["auditor", "writer"])]);
}

#[test]
fn assigning_only_held_roles_records_nothing() {
    app()
        .given(vec![created(machine()), roles_assigned(&["reader"])])
        .when(assign_roles(&["reader"]))
        .then_expect_events(vec![]);
}

#[test]
fn removing_roles_records_only_the_held_ones() {
    app()
        .given(vec![
            created(machine()),
            roles_assigned(&["reader", "writer"]),
        ])
        .when(remove_roles(&["writer", "auditor", "writer"]))
        .then_expect_events(vec![roles_removed(&["writer"])]);
    app()
        .given(vec![created(machine())])
        .when(remove_roles(&["writer"]))
        .then_expect_events(vec![]);
}

#[test]
fn only_machine_to_machine_applications_have_roles() {
    let others = [
        spa(),
        of_type(ApplicationType::Native, None),
        of_type(ApplicationType::Traditional, Some(DIGEST)),
    ];
    for new in others {
        for command in [assign_roles(&["reader"]), remove_roles(&["reader"])] {
            app()
                .given(vec![created(new.clone())])
                .when(command)
                .then_expect_error(ApplicationError::RolesNeedMachineToMachine);
        }
    }
}

#[test]
fn role_changes_show_in_the_state_and_deletion_clears_them() {
    let application = replay(vec![
        created(machine()),
        roles_assigned(&["auditor", "reader"]),
        roles_assigned(&["writer"]),
        roles_removed(&["reader"]),
    ]);
    let held: Vec<&str> = application.role_ids().iter().map(String::as_str).collect();
    assert_eq!(held, ["auditor", "writer"]);
    let deleted = replay(vec![
        created(machine()),
        roles_assigned(&["reader"]),
        ApplicationEvent::ApplicationDeleted,
    ]);
    assert!(deleted.role_ids().is_empty());
}

// --- Consent scopes ---

fn third_party() -> NewApplication {
    NewApplication {
        is_third_party: true,
        ..spa()
    }
}

fn consent(user: &[&str], resource: &[&str], organization: &[&str]) -> ConsentScopes {
    ConsentScopes {
        user_scopes: strings(user),
        resource_scope_ids: strings(resource),
        organization_scope_ids: strings(organization),
    }
}

fn consent_set(scopes: ConsentScopes) -> ApplicationEvent {
    ApplicationEvent::ApplicationConsentScopesSet {
        consent_scopes: scopes,
    }
}

fn set_consent_on(
    given: Vec<ApplicationEvent>,
    scopes: ConsentScopes,
) -> Result<Vec<ApplicationEvent>, ApplicationError> {
    app()
        .given(given)
        .when(ApplicationCommand::SetConsentScopes(scopes))
        .inspect_result()
}

#[test]
fn consent_scopes_are_recorded_sorted_without_duplicates_and_with_openid() {
    let scopes = consent(
        &["profile", "email", "profile"],
        &["s2", "s1", "s2"],
        &["o2", "o1", "o1"],
    );
    let expected = consent(
        &["email", "openid", "profile"],
        &["s1", "s2"],
        &["o1", "o2"],
    );
    assert_eq!(
        set_consent_on(vec![created(third_party())], scopes),
        Ok(vec![consent_set(expected)])
    );
}

#[test]
fn only_third_party_applications_have_consent_scopes() {
    for new in [spa(), machine()] {
        assert_eq!(
            set_consent_on(vec![created(new)], consent(&["openid"], &[], &[])),
            Err(ApplicationError::NotThirdParty)
        );
    }
}

#[test]
fn user_scopes_are_the_five_sigil_knows() {
    for scope in USER_SCOPES {
        let scopes = consent(&[scope], &[], &[]);
        assert!(set_consent_on(vec![created(third_party())], scopes).is_ok());
    }
    for scope in ["phone", "address", "OPENID", "", "read:orders"] {
        assert_eq!(
            set_consent_on(
                vec![created(third_party())],
                consent(&["profile", scope], &[], &[])
            ),
            Err(ApplicationError::UnknownUserScope {
                scope: scope.into()
            })
        );
    }
}

#[test]
fn setting_the_current_consent_scopes_records_nothing() {
    let given = vec![
        created(third_party()),
        consent_set(consent(&["email", "openid"], &["s1"], &[])),
    ];
    assert_eq!(
        set_consent_on(given, consent(&["email"], &["s1", "s1"], &[])),
        Ok(vec![])
    );
    // The default already allows openid and nothing else.
    for scopes in [consent(&[], &[], &[]), consent(&["openid"], &[], &[])] {
        assert_eq!(
            set_consent_on(vec![created(third_party())], scopes),
            Ok(vec![])
        );
    }
}

#[test]
fn a_third_party_application_allows_only_openid_until_an_admin_says_otherwise() {
    let fresh = replay(vec![created(third_party())]);
    assert_eq!(*fresh.consent_scopes(), consent(&["openid"], &[], &[]));
    let set = consent(&["openid", "profile"], &["s1"], &["o1"]);
    let configured = replay(vec![created(third_party()), consent_set(set.clone())]);
    assert_eq!(*configured.consent_scopes(), set);
    let deleted = replay(vec![
        created(third_party()),
        consent_set(set),
        ApplicationEvent::ApplicationDeleted,
    ]);
    assert_eq!(*deleted.consent_scopes(), consent(&["openid"], &[], &[]));
}

// --- Branding ---

fn set_branding_on(
    given: Vec<ApplicationEvent>,
    branding: Branding,
) -> Result<Vec<ApplicationEvent>, ApplicationError> {
    app()
        .given(given)
        .when(ApplicationCommand::SetBranding(branding))
        .inspect_result()
}

fn full_branding() -> Branding {
    Branding {
        display_name: Some("Shop".into()),
        logo_url: Some("https://cdn.shop.example/logo.png".into()),
        terms_of_use_url: Some("https://shop.example/terms".into()),
        privacy_policy_url: Some("https://shop.example/privacy#data".into()),
    }
}

#[test]
fn branding_is_recorded_with_a_trimmed_name_and_blanks_as_unset() {
    let branding = Branding {
        display_name: Some("  Shop  ".into()),
        logo_url: Some(" ".into()),
        terms_of_use_url: Some(String::new()),
        privacy_policy_url: Some("https://shop.example/privacy".into()),
    };
    let expected = Branding {
        display_name: Some("Shop".into()),
        logo_url: None,
        terms_of_use_url: None,
        privacy_policy_url: Some("https://shop.example/privacy".into()),
    };
    assert_eq!(
        set_branding_on(vec![created(spa())], branding),
        Ok(vec![ApplicationEvent::ApplicationBrandingSet {
            branding: expected
        }])
    );
    let blank_name = Branding {
        display_name: Some(" ".into()),
        ..full_branding()
    };
    let expected = Branding {
        display_name: None,
        ..full_branding()
    };
    assert_eq!(
        set_branding_on(vec![created(spa())], blank_name),
        Ok(vec![ApplicationEvent::ApplicationBrandingSet {
            branding: expected
        }])
    );
}

#[test]
fn setting_the_current_branding_records_nothing() {
    let given = vec![
        created(spa()),
        ApplicationEvent::ApplicationBrandingSet {
            branding: full_branding(),
        },
    ];
    let same = Branding {
        display_name: Some(" Shop ".into()),
        ..full_branding()
    };
    assert_eq!(set_branding_on(given, same), Ok(vec![]));
    assert_eq!(
        set_branding_on(vec![created(spa())], Branding::default()),
        Ok(vec![])
    );
}

#[test]
fn a_display_name_is_at_most_128_characters() {
    let longest = Branding {
        display_name: Some("é".repeat(128)),
        ..Branding::default()
    };
    assert!(set_branding_on(vec![created(spa())], longest).is_ok_and(|e| e.len() == 1));
    let too_long = Branding {
        display_name: Some("é".repeat(129)),
        ..Branding::default()
    };
    assert_eq!(
        set_branding_on(vec![created(spa())], too_long),
        Err(ApplicationError::DisplayNameTooLong)
    );
}

fn with_url(field: BrandingField, url: &str) -> Branding {
    let url = Some(url.to_owned());
    match field {
        BrandingField::LogoUrl => Branding {
            logo_url: url,
            ..Branding::default()
        },
        BrandingField::TermsOfUseUrl => Branding {
            terms_of_use_url: url,
            ..Branding::default()
        },
        BrandingField::PrivacyPolicyUrl => Branding {
            privacy_policy_url: url,
            ..Branding::default()
        },
    }
}

const BRANDING_FIELDS: [BrandingField; 3] = [
    BrandingField::LogoUrl,
    BrandingField::TermsOfUseUrl,
    BrandingField::PrivacyPolicyUrl,
];

#[test]
fn branding_urls_are_https_or_http_on_localhost() {
    for field in BRANDING_FIELDS {
        for url in [
            "https://cdn.shop.example/logo.png",
            "https://shop.example:8443/terms?lang=en",
            "http://localhost:3000/logo.png",
            "http://127.0.0.1/terms",
        ] {
            let branding = with_url(field, url);
            assert_eq!(
                set_branding_on(vec![created(spa())], branding.clone()),
                Ok(vec![ApplicationEvent::ApplicationBrandingSet { branding }]),
                "{field}: {url}"
            );
        }
        for url in [
            "http://shop.example/logo.png",
            "http://localhost.shop.example/logo.png",
            "http://127.0.0.2/logo.png",
            "http://[::1]/logo.png",
            "ftp://shop.example/logo.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "/logo.png",
            "shop.example/logo.png",
            " https://shop.example/logo.png",
            "https://shop.example/lo go.png",
        ] {
            assert_eq!(
                set_branding_on(vec![created(spa())], with_url(field, url)),
                Err(ApplicationError::InvalidBrandingUrl { field }),
                "{field}: {url}"
            );
        }
    }
}

#[test]
fn branding_urls_are_at_most_2048_characters() {
    let prefix = "https://shop.example/";
    let longest = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    let too_long = format!("{longest}a");
    for field in BRANDING_FIELDS {
        assert!(
            set_branding_on(vec![created(spa())], with_url(field, &longest))
                .is_ok_and(|e| e.len() == 1)
        );
        assert_eq!(
            set_branding_on(vec![created(spa())], with_url(field, &too_long)),
            Err(ApplicationError::InvalidBrandingUrl { field })
        );
    }
}

#[test]
fn users_see_the_display_name_or_else_the_name() {
    let plain = replay(vec![created(spa())]);
    assert_eq!(plain.display_name(), "Shop");
    assert_eq!(*plain.branding(), Branding::default());
    let branding = Branding {
        display_name: Some("Shop & Co".into()),
        ..full_branding()
    };
    let branded = replay(vec![
        created(spa()),
        ApplicationEvent::ApplicationBrandingSet {
            branding: branding.clone(),
        },
    ]);
    assert_eq!(branded.display_name(), "Shop & Co");
    assert_eq!(*branded.branding(), branding);
    assert_eq!(branded.name(), "Shop");
}

// --- Delete and missing applications ---

#[test]
fn delete_records_the_deletion() {
    app()
        .given(vec![created(spa())])
        .when(ApplicationCommand::Delete)
        .then_expect_events(vec![ApplicationEvent::ApplicationDeleted]);
}

#[test]
fn commands_on_a_missing_or_deleted_application_fail_with_not_found() {
    let commands = || {
        vec![
            ApplicationCommand::Update(ApplicationChanges {
                name: Some("New".into()),
                ..Default::default()
            }),
            rotate(OTHER_DIGEST),
            ApplicationCommand::Delete,
            assign_roles(&["reader"]),
            remove_roles(&["reader"]),
            ApplicationCommand::SetConsentScopes(consent(&["profile"], &[], &[])),
            ApplicationCommand::SetBranding(full_branding()),
        ]
    };
    for command in commands() {
        app()
            .given_no_previous_events()
            .when(command)
            .then_expect_error(ApplicationError::NotFound);
    }
    for command in commands() {
        app()
            .given(vec![
                created(machine()),
                ApplicationEvent::ApplicationDeleted,
            ])
            .when(command)
            .then_expect_error(ApplicationError::NotFound);
    }
}

// --- State, accessors and serialized form ---

fn replay(events: Vec<ApplicationEvent>) -> Application {
    let mut application = Application::default();
    for event in events {
        application.apply(event);
    }
    application
}

#[test]
fn replay_rebuilds_what_the_accessors_report() {
    let changes = ApplicationChanges {
        description: Some("For shoppers".into()),
        refresh_token_ttl_days: Some(30),
        ..Default::default()
    };
    let web = NewApplication {
        is_third_party: true,
        ..of_type(ApplicationType::Traditional, Some(DIGEST))
    };
    let application = replay(vec![
        created(web),
        updated(changes),
        ApplicationEvent::ClientSecretRotated {
            client_secret_digest: OTHER_DIGEST.into(),
        },
    ]);
    assert!(application.is_active());
    assert_eq!(application.name(), "Shop");
    assert_eq!(application.description(), Some("For shoppers"));
    assert_eq!(application.app_type(), Some(ApplicationType::Traditional));
    assert!(application.is_confidential());
    assert!(application.is_third_party());
    assert_eq!(application.redirect_uris(), ["https://shop.example/cb"]);
    assert_eq!(application.client_secret_digest(), Some(OTHER_DIGEST));
    assert_eq!(application.refresh_token_ttl_days(), 30);
    assert!(application.rotate_refresh_token());
    assert!(application.accepts_redirect_uri("https://shop.example/cb"));
    assert!(!application.accepts_redirect_uri("https://shop.example/cb/"));
    assert!(application.accepts_post_logout_redirect_uri("https://shop.example/"));
}

#[test]
fn a_deleted_application_keeps_no_secret_and_accepts_no_redirect() {
    let web = of_type(ApplicationType::Traditional, Some(DIGEST));
    let application = replay(vec![created(web), ApplicationEvent::ApplicationDeleted]);
    assert!(!application.is_active());
    assert!(application.is_deleted());
    assert_eq!(application.client_secret_digest(), None);
    assert_eq!(application.app_type(), None);
    assert!(!application.accepts_redirect_uri("https://shop.example/cb"));
}

#[test]
fn native_loopback_redirects_match_on_any_port() {
    let native = NewApplication {
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        post_logout_redirect_uris: vec![],
        ..of_type(ApplicationType::Native, None)
    };
    let application = replay(vec![created(native)]);
    assert!(application.accepts_redirect_uri("http://127.0.0.1:49152/cb"));
    assert!(!application.accepts_redirect_uri("http://127.0.0.1:49152/other"));
}

#[test]
fn events_are_named_after_their_variant_at_version_1_0() {
    let events = [
        (created(spa()), "ApplicationRegistered"),
        (updated(ApplicationChanges::default()), "ApplicationUpdated"),
        (
            ApplicationEvent::ClientSecretRotated {
                client_secret_digest: DIGEST.into(),
            },
            "ClientSecretRotated",
        ),
        (ApplicationEvent::ApplicationDeleted, "ApplicationDeleted"),
        (roles_assigned(&["r"]), "ApplicationRolesAssigned"),
        (roles_removed(&["r"]), "ApplicationRolesRemoved"),
        (
            consent_set(ConsentScopes::default()),
            "ApplicationConsentScopesSet",
        ),
        (
            ApplicationEvent::ApplicationBrandingSet {
                branding: Branding::default(),
            },
            "ApplicationBrandingSet",
        ),
    ];
    for (event, name) in events {
        assert_eq!(event.event_type(), name);
        assert_eq!(event.event_version(), "1.0");
    }
    assert_eq!(Application::TYPE, "application");
}

#[test]
fn enums_serialize_with_their_wire_names() {
    let types = serde_json::to_string(&[
        ApplicationType::Native,
        ApplicationType::Spa,
        ApplicationType::Traditional,
        ApplicationType::MachineToMachine,
    ])
    .unwrap();
    assert_eq!(
        types,
        r#"["NATIVE","SPA","TRADITIONAL","MACHINE_TO_MACHINE"]"#
    );
    let algs = serde_json::to_string(&[
        SigningAlgorithm::ES384,
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::RS256,
    ])
    .unwrap();
    assert_eq!(algs, r#"["ES384","EdDSA","RS256"]"#);
}

#[test]
fn an_update_event_stores_only_its_changed_fields() {
    let event = updated(ApplicationChanges {
        refresh_token_ttl_days: Some(30),
        ..Default::default()
    });
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(
        json,
        r#"{"ApplicationUpdated":{"changes":{"refresh_token_ttl_days":30}}}"#
    );
    assert_eq!(
        serde_json::from_str::<ApplicationEvent>(&json).unwrap(),
        event
    );
}

#[test]
fn registrations_recorded_before_roles_consent_and_branding_still_load() {
    let json = r#"{"ApplicationRegistered":{"name":"Shop","description":null,"app_type":"SPA","is_third_party":true,"redirect_uris":["https://shop.example/cb"],"post_logout_redirect_uris":["https://shop.example/"],"cors_allowed_origins":["https://shop.example"],"client_secret_digest":null,"always_issue_refresh_token":false,"rotate_refresh_token":true,"refresh_token_ttl_days":14,"refresh_token_reuse_grace_seconds":0,"id_token_signed_response_alg":"ES384"}}"#;
    let event: ApplicationEvent = serde_json::from_str(json).unwrap();
    assert_eq!(event, created(third_party()));
    assert_eq!(serde_json::to_string(&event).unwrap(), json);
}

#[test]
fn state_saved_before_roles_consent_and_branding_still_loads() {
    let application = replay(vec![created(third_party())]);
    let mut json = serde_json::to_value(&application).unwrap();
    let fields = json.as_object_mut().unwrap();
    for field in ["role_ids", "consent_scopes", "branding"] {
        assert!(fields.remove(field).is_some(), "{field}");
    }
    let old: Application = serde_json::from_value(json).unwrap();
    assert_eq!(old, application);
    assert_eq!(*old.consent_scopes(), consent(&["openid"], &[], &[]));
}
