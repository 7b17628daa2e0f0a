//! Given/when/then tests for the user aggregate, one rule each.

use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};

use super::*;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
const OTHER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNoaGFzaA";

fn user() -> TestFramework<User> {
    TestFramework::with(())
}

fn ada() -> NewUser {
    NewUser {
        username: Some("ada".into()),
        primary_email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        password_hash: Some(HASH.into()),
    }
}

// Hand-written so a change in normalisation shows up as a failing test.
fn created(new: NewUser) -> UserEvent {
    UserEvent::UserRegistered {
        username: new.username,
        primary_email: new.primary_email,
        name: new.name,
        password_hash: new.password_hash,
    }
}

fn create(new: NewUser) -> Result<Vec<UserEvent>, UserError> {
    user()
        .given_no_previous_events()
        .when(UserCommand::Create(new))
        .inspect_result()
}

fn update(changes: UserChanges) -> Result<Vec<UserEvent>, UserError> {
    user()
        .given(vec![created(ada())])
        .when(UserCommand::Update(changes))
        .inspect_result()
}

fn updated(changes: UserChanges) -> UserEvent {
    UserEvent::UserUpdated { changes }
}

// --- Create ---

#[test]
fn create_records_the_account() {
    user()
        .given_no_previous_events()
        .when(UserCommand::Create(ada()))
        .then_expect_events(vec![created(ada())]);
}

#[test]
fn create_on_an_existing_or_deleted_user_fails() {
    user()
        .given(vec![created(ada())])
        .when(UserCommand::Create(ada()))
        .then_expect_error(UserError::AlreadyExists);
    user()
        .given(vec![created(ada()), UserEvent::UserDeleted])
        .when(UserCommand::Create(ada()))
        .then_expect_error(UserError::AlreadyExists);
}

#[test]
fn a_username_or_an_email_is_enough() {
    let username_only = NewUser {
        username: Some("ada".into()),
        ..Default::default()
    };
    assert_eq!(
        create(username_only.clone()),
        Ok(vec![created(username_only)])
    );
    let email_only = NewUser {
        primary_email: Some("ada@example.com".into()),
        ..Default::default()
    };
    assert_eq!(create(email_only.clone()), Ok(vec![created(email_only)]));
}

#[test]
fn a_user_needs_a_username_or_an_email() {
    let nameless = NewUser {
        username: None,
        primary_email: None,
        ..ada()
    };
    assert_eq!(create(nameless), Err(UserError::MissingIdentifier));
    let blank = NewUser {
        username: Some(String::new()),
        primary_email: Some(String::new()),
        ..ada()
    };
    assert_eq!(create(blank), Err(UserError::MissingIdentifier));
}

#[test]
fn usernames_follow_the_pattern() {
    let longest = format!("a{}", "b".repeat(127));
    for ok in ["a", "_", "Ada_99", "_9", longest.as_str()] {
        let new = NewUser {
            username: Some(ok.into()),
            ..ada()
        };
        assert_eq!(create(new.clone()), Ok(vec![created(new)]), "{ok}");
    }
    let too_long = format!("a{}", "b".repeat(128));
    for bad in [
        "9ada",
        "ada-l",
        "ada l",
        "ada.l",
        "ädä",
        "ada@x",
        too_long.as_str(),
    ] {
        let new = NewUser {
            username: Some(bad.into()),
            ..ada()
        };
        assert_eq!(create(new), Err(UserError::InvalidUsername), "{bad}");
    }
}

#[test]
fn emails_are_stored_in_lower_case() {
    let new = NewUser {
        primary_email: Some("Ada@Example.COM".into()),
        ..ada()
    };
    assert_eq!(create(new), Ok(vec![created(ada())]));
}

#[test]
fn emails_must_have_a_plausible_shape() {
    let local = "a".repeat(254 - "@example.com".len());
    let longest = format!("{local}@example.com");
    let new = NewUser {
        primary_email: Some(longest.clone()),
        ..ada()
    };
    assert_eq!(create(new.clone()), Ok(vec![created(new)]));
    let too_long = format!("a{longest}");
    let bad = [
        "ada.example.com",
        "ada@@example.com",
        "ada@b@example.com",
        "@example.com",
        "ada@localhost",
        "ada@.example.com",
        "ada@example.com.",
        "ada@exa mple.com",
        " ada@example.com",
        "ada@example.com\n",
        too_long.as_str(),
    ];
    for email in bad {
        let new = NewUser {
            primary_email: Some(email.into()),
            ..ada()
        };
        assert_eq!(create(new), Err(UserError::InvalidEmail), "{email:?}");
    }
}

#[test]
fn names_are_trimmed_and_at_most_128_characters() {
    let padded = NewUser {
        name: Some("  Ada Lovelace ".into()),
        ..ada()
    };
    assert_eq!(create(padded), Ok(vec![created(ada())]));
    let longest = NewUser {
        name: Some("é".repeat(128)),
        ..ada()
    };
    assert_eq!(create(longest.clone()), Ok(vec![created(longest)]));
    let too_long = NewUser {
        name: Some("é".repeat(129)),
        ..ada()
    };
    assert_eq!(create(too_long), Err(UserError::NameTooLong));
}

#[test]
fn password_hashes_must_be_argon2id_phc_strings() {
    let no_version = "$argon2id$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    let new = NewUser {
        password_hash: Some(no_version.into()),
        ..ada()
    };
    assert_eq!(create(new.clone()), Ok(vec![created(new)]));
    let bad = [
        "hunter2",
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1$$aGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA$extra",
        "$argon2id$v=19$m=19456, t=2,p=1$c2FsdA$aGFzaA",
    ];
    for hash in bad {
        let new = NewUser {
            password_hash: Some(hash.into()),
            ..ada()
        };
        assert_eq!(create(new), Err(UserError::InvalidPasswordHash), "{hash}");
    }
}

// --- Update ---

#[test]
fn update_records_only_the_fields_that_differ() {
    let changes = UserChanges {
        username: Some("ada".into()),
        primary_email: Some("ADA@example.org".into()),
        name: Some("Ada".into()),
    };
    let expected = UserChanges {
        username: None,
        primary_email: Some("ada@example.org".into()),
        name: Some("Ada".into()),
    };
    assert_eq!(update(changes), Ok(vec![updated(expected)]));
}

#[test]
fn update_with_nothing_new_records_nothing() {
    let same = UserChanges {
        username: Some("ada".into()),
        primary_email: Some("ADA@EXAMPLE.COM".into()),
        name: Some(" Ada Lovelace ".into()),
    };
    assert_eq!(update(same), Ok(vec![]));
    assert_eq!(update(UserChanges::default()), Ok(vec![]));
}

#[test]
fn update_removes_a_field_given_as_empty() {
    let changes = UserChanges {
        username: Some(String::new()),
        name: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(update(changes.clone()), Ok(vec![updated(changes)]));
}

#[test]
fn update_cannot_remove_the_last_identifier() {
    let both = UserChanges {
        username: Some(String::new()),
        primary_email: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(update(both), Err(UserError::MissingIdentifier));
    let email_only = NewUser {
        username: None,
        ..ada()
    };
    user()
        .given(vec![created(email_only)])
        .when(UserCommand::Update(UserChanges {
            primary_email: Some(String::new()),
            ..Default::default()
        }))
        .then_expect_error(UserError::MissingIdentifier);
}

#[test]
fn update_applies_the_field_rules() {
    let username = UserChanges {
        username: Some("1ada".into()),
        ..Default::default()
    };
    assert_eq!(update(username), Err(UserError::InvalidUsername));
    let email = UserChanges {
        primary_email: Some("ada".into()),
        ..Default::default()
    };
    assert_eq!(update(email), Err(UserError::InvalidEmail));
    let name = UserChanges {
        name: Some("x".repeat(129)),
        ..Default::default()
    };
    assert_eq!(update(name), Err(UserError::NameTooLong));
}

// --- Password ---

fn set_password(hash: &str) -> UserCommand {
    UserCommand::SetPassword {
        password_hash: hash.into(),
    }
}

#[test]
fn set_password_records_the_new_hash() {
    user()
        .given(vec![created(ada())])
        .when(set_password(OTHER_HASH))
        .then_expect_events(vec![UserEvent::UserPasswordChanged {
            password_hash: OTHER_HASH.into(),
        }]);
}

#[test]
fn set_password_to_the_current_hash_records_nothing() {
    user()
        .given(vec![created(ada())])
        .when(set_password(HASH))
        .then_expect_events(vec![]);
}

#[test]
fn set_password_refuses_anything_but_an_argon2id_hash() {
    user()
        .given(vec![created(ada())])
        .when(set_password("hunter2"))
        .then_expect_error(UserError::InvalidPasswordHash);
}

// --- Suspension ---

#[test]
fn suspend_records_the_suspension() {
    user()
        .given(vec![created(ada())])
        .when(UserCommand::Suspend)
        .then_expect_events(vec![UserEvent::UserSuspended]);
}

#[test]
fn suspending_twice_fails() {
    user()
        .given(vec![created(ada()), UserEvent::UserSuspended])
        .when(UserCommand::Suspend)
        .then_expect_error(UserError::AlreadySuspended);
}

#[test]
fn reinstate_records_the_reinstatement() {
    user()
        .given(vec![created(ada()), UserEvent::UserSuspended])
        .when(UserCommand::Reinstate)
        .then_expect_events(vec![UserEvent::UserReinstated]);
}

#[test]
fn reinstating_an_active_user_fails() {
    user()
        .given(vec![created(ada())])
        .when(UserCommand::Reinstate)
        .then_expect_error(UserError::NotSuspended);
    user()
        .given(vec![
            created(ada()),
            UserEvent::UserSuspended,
            UserEvent::UserReinstated,
        ])
        .when(UserCommand::Reinstate)
        .then_expect_error(UserError::NotSuspended);
}

#[test]
fn a_suspended_user_can_still_be_updated_and_deleted() {
    let suspended = || user().given(vec![created(ada()), UserEvent::UserSuspended]);
    suspended()
        .when(set_password(OTHER_HASH))
        .then_expect_events(vec![UserEvent::UserPasswordChanged {
            password_hash: OTHER_HASH.into(),
        }]);
    suspended()
        .when(UserCommand::Delete)
        .then_expect_events(vec![UserEvent::UserDeleted]);
}

// --- Roles ---

fn role_ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

fn assign(ids: &[&str]) -> UserCommand {
    UserCommand::AssignRoles {
        role_ids: role_ids(ids),
    }
}

fn remove(ids: &[&str]) -> UserCommand {
    UserCommand::RemoveRoles {
        role_ids: role_ids(ids),
    }
}

fn assigned(ids: &[&str]) -> UserEvent {
    UserEvent::UserRolesAssigned {
        role_ids: role_ids(ids),
    }
}

fn removed(ids: &[&str]) -> UserEvent {
    UserEvent::UserRolesRemoved {
        role_ids: role_ids(ids),
    }
}

#[test]
fn assigning_roles_records_only_the_new_ones_sorted() {
    user()
        .given(vec![created(ada()), assigned(&["clerk"])])
        .when(assign(&["editor", "clerk", "admin", "editor"]))
        .then_expect_events(vec![assigned(&["admin", "editor"])]);
}

#[test]
fn assigning_only_held_roles_records_nothing() {
    user()
        .given(vec![created(ada()), assigned(&["clerk"])])
        .when(assign(&["clerk"]))
        .then_expect_events(vec![]);
    user()
        .given(vec![created(ada())])
        .when(assign(&[]))
        .then_expect_events(vec![]);
}

#[test]
fn removing_roles_records_only_the_held_ones() {
    user()
        .given(vec![created(ada()), assigned(&["admin", "clerk"])])
        .when(remove(&["clerk", "editor", "clerk"]))
        .then_expect_events(vec![removed(&["clerk"])]);
    user()
        .given(vec![created(ada()), assigned(&["admin"])])
        .when(remove(&["editor"]))
        .then_expect_events(vec![]);
}

#[test]
fn a_suspended_user_can_still_be_given_and_lose_roles() {
    let suspended = || user().given(vec![created(ada()), UserEvent::UserSuspended]);
    suspended()
        .when(assign(&["clerk"]))
        .then_expect_events(vec![assigned(&["clerk"])]);
    user()
        .given(vec![
            created(ada()),
            assigned(&["clerk"]),
            UserEvent::UserSuspended,
        ])
        .when(remove(&["clerk"]))
        .then_expect_events(vec![removed(&["clerk"])]);
}

#[test]
fn role_changes_show_in_the_state_and_deletion_clears_them() {
    let account = replay(vec![
        created(ada()),
        assigned(&["admin", "clerk"]),
        assigned(&["editor"]),
        removed(&["clerk"]),
    ]);
    let held: Vec<&str> = account.role_ids().iter().map(String::as_str).collect();
    assert_eq!(held, ["admin", "editor"]);
    let deleted = replay(vec![
        created(ada()),
        assigned(&["admin"]),
        UserEvent::UserDeleted,
    ]);
    assert!(deleted.role_ids().is_empty());
    assert!(User::default().role_ids().is_empty());
}

// --- Delete and missing users ---

#[test]
fn delete_records_the_deletion() {
    user()
        .given(vec![created(ada())])
        .when(UserCommand::Delete)
        .then_expect_events(vec![UserEvent::UserDeleted]);
}

#[test]
fn commands_on_a_missing_or_deleted_user_fail_with_not_found() {
    let commands = || {
        vec![
            UserCommand::Update(UserChanges {
                name: Some("Ada".into()),
                ..Default::default()
            }),
            set_password(OTHER_HASH),
            UserCommand::Suspend,
            UserCommand::Reinstate,
            UserCommand::Delete,
            assign(&["clerk"]),
            remove(&["clerk"]),
        ]
    };
    for command in commands() {
        user()
            .given_no_previous_events()
            .when(command)
            .then_expect_error(UserError::NotFound);
    }
    for command in commands() {
        user()
            .given(vec![created(ada()), UserEvent::UserDeleted])
            .when(command)
            .then_expect_error(UserError::NotFound);
    }
}

// --- State, accessors and serialized form ---

fn replay(events: Vec<UserEvent>) -> User {
    let mut user = User::default();
    for event in events {
        user.apply(event);
    }
    user
}

#[test]
fn replay_rebuilds_what_the_accessors_report() {
    let account = replay(vec![
        created(ada()),
        updated(UserChanges {
            username: Some(String::new()),
            name: Some("Ada".into()),
            ..Default::default()
        }),
        UserEvent::UserPasswordChanged {
            password_hash: OTHER_HASH.into(),
        },
    ]);
    assert!(account.is_active());
    assert_eq!(account.username(), None);
    assert_eq!(account.primary_email(), Some("ada@example.com"));
    assert_eq!(account.name(), Some("Ada"));
    assert_eq!(account.password_hash(), Some(OTHER_HASH));
}

#[test]
fn suspension_and_deletion_show_in_the_state() {
    let suspended = replay(vec![created(ada()), UserEvent::UserSuspended]);
    assert!(suspended.is_suspended());
    assert!(!suspended.is_active());
    let reinstated = replay(vec![
        created(ada()),
        UserEvent::UserSuspended,
        UserEvent::UserReinstated,
    ]);
    assert!(reinstated.is_active());
    assert!(!reinstated.is_suspended());
    let deleted = replay(vec![created(ada()), UserEvent::UserDeleted]);
    assert!(deleted.is_deleted());
    assert!(!deleted.is_active());
    assert_eq!(deleted.password_hash(), None);
    assert!(!User::default().is_active());
}

#[test]
fn events_are_named_after_their_variant_at_version_1_0() {
    let events = [
        (created(ada()), "UserRegistered"),
        (updated(UserChanges::default()), "UserUpdated"),
        (
            UserEvent::UserPasswordChanged {
                password_hash: HASH.into(),
            },
            "UserPasswordChanged",
        ),
        (UserEvent::UserSuspended, "UserSuspended"),
        (UserEvent::UserReinstated, "UserReinstated"),
        (UserEvent::UserDeleted, "UserDeleted"),
        (assigned(&["clerk"]), "UserRolesAssigned"),
        (removed(&["clerk"]), "UserRolesRemoved"),
    ];
    for (event, name) in events {
        assert_eq!(event.event_type(), name);
        assert_eq!(event.event_version(), "1.0");
    }
    assert_eq!(User::TYPE, "user");
}

#[test]
fn an_update_event_stores_only_its_changed_fields() {
    let event = updated(UserChanges {
        name: Some("Ada".into()),
        ..Default::default()
    });
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(json, r#"{"UserUpdated":{"changes":{"name":"Ada"}}}"#);
    assert_eq!(serde_json::from_str::<UserEvent>(&json).unwrap(), event);
}

#[test]
fn state_saved_before_roles_existed_still_loads() {
    let account = replay(vec![created(ada()), assigned(&["clerk"])]);
    let mut json = serde_json::to_value(&account).unwrap();
    json.as_object_mut().unwrap().remove("role_ids");
    let old: User = serde_json::from_value(json).unwrap();
    assert!(old.role_ids().is_empty());
    assert_eq!(old.username(), Some("ada"));
}

mod federated {
    use cqrs_es::test::TestFramework;

    use crate::user::{FederatedIdentity, NewUser, User, UserCommand, UserError, UserEvent};

    fn identity() -> FederatedIdentity {
        FederatedIdentity {
            connector_id: "acme".into(),
            subject: "248289761001".into(),
        }
    }

    fn linked() -> UserEvent {
        UserEvent::UserIdentityLinked {
            connector_id: "acme".into(),
            subject: "248289761001".into(),
        }
    }

    fn registered(email: Option<&str>) -> UserEvent {
        UserEvent::UserRegistered {
            username: None,
            primary_email: email.map(str::to_string),
            name: Some("Jane".into()),
            password_hash: None,
        }
    }

    #[test]
    fn provisioning_registers_and_links_in_one_decision_even_without_an_email() {
        let new = NewUser {
            name: Some("Jane".into()),
            ..NewUser::default()
        };
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(UserCommand::Provision {
                new: new.clone(),
                identity: identity(),
            })
            .then_expect_events(vec![registered(None), linked()]);
        // Without an identity, an account still needs an identifier.
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(UserCommand::Create(new))
            .then_expect_error(UserError::MissingIdentifier);
    }

    #[test]
    fn linking_is_recorded_once_and_needs_a_sane_subject() {
        TestFramework::<User>::with(())
            .given(vec![registered(Some("jane@example.com"))])
            .when(UserCommand::LinkIdentity(identity()))
            .then_expect_events(vec![linked()]);
        TestFramework::<User>::with(())
            .given(vec![registered(Some("jane@example.com")), linked()])
            .when(UserCommand::LinkIdentity(identity()))
            .then_expect_events(vec![]);
        TestFramework::<User>::with(())
            .given(vec![registered(Some("jane@example.com"))])
            .when(UserCommand::LinkIdentity(FederatedIdentity {
                connector_id: "acme".into(),
                subject: "has space".into(),
            }))
            .then_expect_error(UserError::InvalidIdentity);
        TestFramework::<User>::with(())
            .given_no_previous_events()
            .when(UserCommand::LinkIdentity(identity()))
            .then_expect_error(UserError::NotFound);
    }
}
