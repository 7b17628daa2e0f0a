//! Given/when/then tests for the access-control aggregate, one rule each.

use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};

use super::*;

type Command = AccessControlCommand;

const ORDERS: &str = "https://orders.example/api";
const BILLING: &str = "https://billing.example/api";

fn access() -> TestFramework<AccessControl> {
    TestFramework::with(())
}

fn when(given: Vec<Event>, command: Command) -> Result<Vec<Event>, Error> {
    access().given(given).when(command).inspect_result()
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

fn replay(events: Vec<Event>) -> AccessControl {
    let mut access = AccessControl::default();
    for event in events {
        access.apply(event);
    }
    access
}

// Commands and the events they record when valid, written out by hand.

fn create_resource(resource_id: &str, indicator: &str) -> Command {
    Command::CreateApiResource {
        resource_id: resource_id.into(),
        name: "Orders".into(),
        indicator: indicator.into(),
        access_token_ttl_secs: 3600,
        system: false,
    }
}

fn resource_created(resource_id: &str, indicator: &str) -> Event {
    Event::ApiResourceCreated {
        resource_id: resource_id.into(),
        name: "Orders".into(),
        indicator: indicator.into(),
        access_token_ttl_secs: 3600,
        system: false,
    }
}

fn management_created() -> Event {
    Event::ApiResourceCreated {
        resource_id: "mgmt".into(),
        name: "Sigil management".into(),
        indicator: MANAGEMENT_RESOURCE.into(),
        access_token_ttl_secs: 3600,
        system: true,
    }
}

fn resource_deleted(resource_id: &str) -> Event {
    Event::ApiResourceDeleted {
        resource_id: resource_id.into(),
    }
}

fn update_resource(name: Option<&str>, access_token_ttl_secs: Option<u32>) -> Command {
    Command::UpdateApiResource {
        resource_id: "orders".into(),
        name: name.map(str::to_owned),
        access_token_ttl_secs,
    }
}

fn create_scope(scope_id: &str, resource_id: &str, name: &str) -> Command {
    Command::CreateResourceScope {
        scope_id: scope_id.into(),
        resource_id: resource_id.into(),
        name: name.into(),
        description: None,
    }
}

fn scope_created(scope_id: &str, resource_id: &str, name: &str) -> Event {
    Event::ResourceScopeCreated {
        scope_id: scope_id.into(),
        resource_id: resource_id.into(),
        name: name.into(),
        description: None,
    }
}

fn scope_deleted(scope_id: &str) -> Event {
    Event::ResourceScopeDeleted {
        scope_id: scope_id.into(),
    }
}

fn create_role(role_id: &str, name: &str, scope_ids: &[&str]) -> Command {
    Command::CreateRole {
        role_id: role_id.into(),
        name: name.into(),
        description: None,
        kind: RoleKind::User,
        scope_ids: ids(scope_ids),
    }
}

fn role_created(role_id: &str, name: &str, scope_ids: &[&str]) -> Event {
    Event::RoleCreated {
        role_id: role_id.into(),
        name: name.into(),
        description: None,
        kind: RoleKind::User,
        scope_ids: ids(scope_ids),
    }
}

fn machine_role_created(role_id: &str, name: &str, scope_ids: &[&str]) -> Event {
    Event::RoleCreated {
        role_id: role_id.into(),
        name: name.into(),
        description: None,
        kind: RoleKind::MachineToMachine,
        scope_ids: ids(scope_ids),
    }
}

fn role_deleted(role_id: &str) -> Event {
    Event::RoleDeleted {
        role_id: role_id.into(),
    }
}

fn update_role(name: Option<&str>, description: Option<&str>) -> Command {
    Command::UpdateRole {
        role_id: "clerk".into(),
        name: name.map(str::to_owned),
        description: description.map(str::to_owned),
    }
}

fn role_updated(name: Option<&str>, description: Option<&str>) -> Event {
    Event::RoleUpdated {
        role_id: "clerk".into(),
        name: name.map(str::to_owned),
        description: description.map(str::to_owned),
    }
}

fn create_org_scope(scope_id: &str, name: &str) -> Command {
    Command::CreateOrganizationScope {
        scope_id: scope_id.into(),
        name: name.into(),
        description: None,
    }
}

fn org_scope_created(scope_id: &str, name: &str) -> Event {
    Event::OrganizationScopeCreated {
        scope_id: scope_id.into(),
        name: name.into(),
        description: None,
    }
}

fn org_scope_deleted(scope_id: &str) -> Event {
    Event::OrganizationScopeDeleted {
        scope_id: scope_id.into(),
    }
}

fn create_org_role(role_id: &str, name: &str, scope_ids: &[&str]) -> Command {
    Command::CreateOrganizationRole {
        role_id: role_id.into(),
        name: name.into(),
        description: None,
        scope_ids: ids(scope_ids),
    }
}

fn org_role_created(role_id: &str, name: &str, scope_ids: &[&str]) -> Event {
    Event::OrganizationRoleCreated {
        role_id: role_id.into(),
        name: name.into(),
        description: None,
        scope_ids: ids(scope_ids),
    }
}

fn org_role_deleted(role_id: &str) -> Event {
    Event::OrganizationRoleDeleted {
        role_id: role_id.into(),
    }
}

/// The orders API with scopes `read` and `write`, the billing API with
/// `read`, and the role "Clerk" that may read orders.
fn orders() -> Vec<Event> {
    vec![
        resource_created("orders", ORDERS),
        scope_created("orders-read", "orders", "read"),
        scope_created("orders-write", "orders", "write"),
        resource_created("billing", BILLING),
        scope_created("billing-read", "billing", "read"),
        role_created("clerk", "Clerk", &["orders-read"]),
    ]
}

/// Organization scopes `invite` and `billing`, and the organization role
/// "Admin" that may invite.
fn org_template() -> Vec<Event> {
    vec![
        org_scope_created("invite", "invite:member"),
        org_scope_created("billing", "manage:billing"),
        org_role_created("admin", "Admin", &["invite"]),
    ]
}

fn with(mut events: Vec<Event>, more: Vec<Event>) -> Vec<Event> {
    events.extend(more);
    events
}

// --- API resources ---

#[test]
fn create_api_resource_records_it_with_a_trimmed_name() {
    let command = Command::CreateApiResource {
        resource_id: "orders".into(),
        name: "  Orders \n".into(),
        indicator: ORDERS.into(),
        access_token_ttl_secs: 3600,
        system: false,
    };
    access()
        .given_no_previous_events()
        .when(command)
        .then_expect_events(vec![resource_created("orders", ORDERS)]);
}

#[test]
fn names_are_trimmed_non_blank_and_at_most_128_characters_everywhere() {
    type Named = fn(&str) -> Command;
    let commands: [Named; 5] = [
        |name| Command::CreateApiResource {
            resource_id: "new".into(),
            name: name.into(),
            indicator: "https://new.example".into(),
            access_token_ttl_secs: 3600,
            system: false,
        },
        |name| update_resource(Some(name), None),
        |name| create_role("new", name, &[]),
        |name| update_role(Some(name), None),
        |name| create_org_role("new", name, &[]),
    ];
    let given = || with(orders(), org_template());
    for command in commands {
        for blank in ["", " \t "] {
            assert_eq!(when(given(), command(blank)), Err(Error::NameEmpty));
        }
        let too_long = "é".repeat(129);
        assert_eq!(when(given(), command(&too_long)), Err(Error::NameTooLong));
        let longest = format!(" {} ", "é".repeat(128));
        assert!(when(given(), command(&longest)).is_ok_and(|events| events.len() == 1));
    }
}

#[test]
fn an_indicator_must_be_an_absolute_uri() {
    for indicator in [
        "",
        "/orders",
        "orders.example",
        "https://",
        " https://orders.example",
        "https://orders.example/\t",
        "https://orders.example/a b",
    ] {
        assert_eq!(
            when(vec![], create_resource("orders", indicator)),
            Err(Error::IndicatorNotAbsolute),
            "{indicator:?}"
        );
    }
    for indicator in ["https://orders.example", "urn:example:orders", "api://x"] {
        assert_eq!(
            when(vec![], create_resource("orders", indicator)),
            Ok(vec![resource_created("orders", indicator)]),
            "{indicator:?}"
        );
    }
}

#[test]
fn an_indicator_must_not_contain_a_fragment() {
    for indicator in ["https://orders.example/#", "https://orders.example/#v1"] {
        assert_eq!(
            when(vec![], create_resource("orders", indicator)),
            Err(Error::IndicatorFragment),
            "{indicator:?}"
        );
    }
}

#[test]
fn an_indicator_is_at_most_2048_characters() {
    let prefix = "https://orders.example/";
    let longest = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_eq!(
        when(vec![], create_resource("orders", &longest)),
        Ok(vec![resource_created("orders", &longest)])
    );
    let too_long = format!("{longest}a");
    assert_eq!(
        when(vec![], create_resource("orders", &too_long)),
        Err(Error::IndicatorTooLong)
    );
}

#[test]
fn an_indicator_belongs_to_one_live_resource() {
    assert_eq!(
        when(orders(), create_resource("again", ORDERS)),
        Err(Error::IndicatorTaken {
            indicator: ORDERS.into()
        })
    );
}

#[test]
fn indicators_are_compared_case_sensitively() {
    let upper = ORDERS.to_uppercase();
    assert_eq!(
        when(orders(), create_resource("upper", &upper)),
        Ok(vec![resource_created("upper", &upper)])
    );
}

#[test]
fn a_deleted_resource_frees_its_indicator() {
    let given = with(orders(), vec![resource_deleted("orders")]);
    assert_eq!(
        when(given, create_resource("again", ORDERS)),
        Ok(vec![resource_created("again", ORDERS)])
    );
}

#[test]
fn only_sigil_creates_the_management_resource() {
    for indicator in [
        MANAGEMENT_RESOURCE,
        "URN:SIGIL:MANAGEMENT",
        "urn:Sigil:management",
    ] {
        assert_eq!(
            when(vec![], create_resource("mgmt", indicator)),
            Err(Error::IndicatorReserved),
            "{indicator}"
        );
    }
    let system = Command::CreateApiResource {
        resource_id: "mgmt".into(),
        name: "Sigil management".into(),
        indicator: MANAGEMENT_RESOURCE.into(),
        access_token_ttl_secs: 3600,
        system: true,
    };
    assert_eq!(when(vec![], system), Ok(vec![management_created()]));
}

#[test]
fn a_second_management_resource_is_refused_even_to_sigil() {
    let system = Command::CreateApiResource {
        resource_id: "mgmt2".into(),
        name: "Sigil management".into(),
        indicator: MANAGEMENT_RESOURCE.into(),
        access_token_ttl_secs: 3600,
        system: true,
    };
    assert_eq!(
        when(vec![management_created()], system),
        Err(Error::IndicatorTaken {
            indicator: MANAGEMENT_RESOURCE.into()
        })
    );
}

#[test]
fn access_token_ttl_is_between_60_and_86400_seconds() {
    let with_ttl = |secs| Command::CreateApiResource {
        resource_id: "orders".into(),
        name: "Orders".into(),
        indicator: ORDERS.into(),
        access_token_ttl_secs: secs,
        system: false,
    };
    for secs in [0, 59, 86_401, u32::MAX] {
        assert_eq!(
            when(vec![], with_ttl(secs)),
            Err(Error::InvalidAccessTokenTtl { secs })
        );
    }
    for secs in [60, 86_400] {
        assert!(when(vec![], with_ttl(secs)).is_ok_and(|events| events.len() == 1));
    }
}

#[test]
fn update_resource_records_only_what_changed() {
    assert_eq!(
        when(orders(), update_resource(Some("Orders v2"), Some(3600))),
        Ok(vec![Event::ApiResourceUpdated {
            resource_id: "orders".into(),
            name: Some("Orders v2".into()),
            access_token_ttl_secs: None,
        }])
    );
    assert_eq!(
        when(orders(), update_resource(Some(" Orders "), Some(600))),
        Ok(vec![Event::ApiResourceUpdated {
            resource_id: "orders".into(),
            name: None,
            access_token_ttl_secs: Some(600),
        }])
    );
}

#[test]
fn update_resource_with_nothing_new_records_nothing() {
    assert_eq!(
        when(orders(), update_resource(Some(" Orders "), Some(3600))),
        Ok(vec![])
    );
    assert_eq!(when(orders(), update_resource(None, None)), Ok(vec![]));
}

#[test]
fn update_resource_compares_with_the_state_after_earlier_updates() {
    let earlier = Event::ApiResourceUpdated {
        resource_id: "orders".into(),
        name: Some("Orders v2".into()),
        access_token_ttl_secs: Some(600),
    };
    let given = with(orders(), vec![earlier]);
    assert_eq!(
        when(given, update_resource(Some("Orders v2"), Some(600))),
        Ok(vec![])
    );
}

#[test]
fn update_resource_applies_the_ttl_rule() {
    assert_eq!(
        when(orders(), update_resource(None, Some(59))),
        Err(Error::InvalidAccessTokenTtl { secs: 59 })
    );
}

#[test]
fn delete_resource_records_the_deletion() {
    let delete = Command::DeleteApiResource {
        resource_id: "orders".into(),
    };
    assert_eq!(when(orders(), delete), Ok(vec![resource_deleted("orders")]));
}

#[test]
fn a_system_resource_cannot_be_deleted() {
    let delete = Command::DeleteApiResource {
        resource_id: "mgmt".into(),
    };
    assert_eq!(
        when(vec![management_created()], delete),
        Err(Error::SystemResource {
            resource_id: "mgmt".into()
        })
    );
}

#[test]
fn commands_on_a_missing_or_deleted_resource_fail_with_not_found() {
    let commands = || {
        vec![
            update_resource(Some("New"), None),
            Command::DeleteApiResource {
                resource_id: "orders".into(),
            },
            create_scope("new", "orders", "new"),
        ]
    };
    let not_found = Err(Error::ApiResourceNotFound {
        resource_id: "orders".into(),
    });
    for command in commands() {
        assert_eq!(when(vec![], command), not_found);
    }
    for command in commands() {
        let given = with(orders(), vec![resource_deleted("orders")]);
        assert_eq!(when(given, command), not_found);
    }
}

#[test]
fn deleting_a_resource_deletes_its_scopes_and_takes_them_from_roles() {
    let access = replay(with(
        orders(),
        vec![
            Event::RoleScopesAssigned {
                role_id: "clerk".into(),
                scope_ids: ids(&["billing-read", "orders-write"]),
            },
            resource_deleted("orders"),
        ],
    ));
    assert!(access.api_resource("orders").is_none());
    assert!(access.resource_scope("orders-read").is_none());
    assert!(access.resource_scope("orders-write").is_none());
    assert!(access.resource_scope("billing-read").is_some());
    let clerk = access.role("clerk").unwrap();
    assert_eq!(clerk.scope_ids, ["billing-read".to_string()].into());
}

// --- Ids ---

#[test]
fn ids_are_never_reused_whatever_used_them_and_even_after_deletion() {
    let users: Vec<Vec<Event>> = vec![
        vec![resource_created("x", ORDERS)],
        vec![resource_created("x", ORDERS), resource_deleted("x")],
        with(orders(), vec![scope_created("x", "orders", "x")]),
        with(
            orders(),
            vec![scope_created("x", "orders", "x"), scope_deleted("x")],
        ),
        vec![role_created("x", "X", &[])],
        vec![role_created("x", "X", &[]), role_deleted("x")],
        vec![org_scope_created("x", "x")],
        vec![org_scope_created("x", "x"), org_scope_deleted("x")],
        vec![org_role_created("x", "X", &[])],
        vec![org_role_created("x", "X", &[]), org_role_deleted("x")],
    ];
    let creates = || {
        vec![
            create_resource("x", "https://x.example"),
            create_scope("x", "orders", "other"),
            create_role("x", "Other", &[]),
            create_org_scope("x", "other"),
            create_org_role("x", "Other", &[]),
        ]
    };
    for given in users {
        for command in creates() {
            let given = with(orders(), given.clone());
            assert_eq!(
                when(given.clone(), command.clone()),
                Err(Error::IdTaken { id: "x".into() }),
                "{command:?} after {given:?}"
            );
        }
    }
}

// --- Resource scopes ---

#[test]
fn create_scope_records_it_with_a_trimmed_description() {
    let command = Command::CreateResourceScope {
        scope_id: "orders-delete".into(),
        resource_id: "orders".into(),
        name: "delete:orders".into(),
        description: Some("  Delete orders ".into()),
    };
    assert_eq!(
        when(orders(), command),
        Ok(vec![Event::ResourceScopeCreated {
            scope_id: "orders-delete".into(),
            resource_id: "orders".into(),
            name: "delete:orders".into(),
            description: Some("Delete orders".into()),
        }])
    );
}

#[test]
fn a_blank_description_is_no_description() {
    let command = Command::CreateResourceScope {
        scope_id: "orders-delete".into(),
        resource_id: "orders".into(),
        name: "delete".into(),
        description: Some(" ".into()),
    };
    assert_eq!(
        when(orders(), command),
        Ok(vec![scope_created("orders-delete", "orders", "delete")])
    );
}

#[test]
fn descriptions_are_at_most_256_characters_everywhere() {
    type Described = fn(Option<String>) -> Command;
    let commands: [Described; 5] = [
        |description| Command::CreateResourceScope {
            scope_id: "new".into(),
            resource_id: "orders".into(),
            name: "new".into(),
            description,
        },
        |description| Command::CreateRole {
            role_id: "new".into(),
            name: "New".into(),
            description,
            kind: RoleKind::User,
            scope_ids: vec![],
        },
        |description| Command::UpdateRole {
            role_id: "clerk".into(),
            name: None,
            description,
        },
        |description| Command::CreateOrganizationScope {
            scope_id: "new".into(),
            name: "new".into(),
            description,
        },
        |description| Command::CreateOrganizationRole {
            role_id: "new".into(),
            name: "New".into(),
            description,
            scope_ids: vec![],
        },
    ];
    let given = || with(orders(), org_template());
    for command in commands {
        let too_long = command(Some("é".repeat(257)));
        assert_eq!(when(given(), too_long), Err(Error::DescriptionTooLong));
        let longest = command(Some(format!(" {} ", "é".repeat(256))));
        assert!(when(given(), longest).is_ok_and(|events| events.len() == 1));
    }
}

#[test]
fn scope_names_are_rfc_6749_scope_tokens() {
    let longest = "a".repeat(128);
    for name in ["read:orders", "!#[]~", "orders.read/all", longest.as_str()] {
        assert_eq!(
            when(orders(), create_scope("new", "orders", name)),
            Ok(vec![scope_created("new", "orders", name)]),
            "{name:?}"
        );
    }
    let too_long = "a".repeat(129);
    for name in [
        "",
        "read orders",
        " read",
        "say\"what",
        "back\\slash",
        "tab\t",
        "\u{7f}",
        "lesen:bestellungen:ä",
        too_long.as_str(),
    ] {
        assert_eq!(
            when(orders(), create_scope("new", "orders", name)),
            Err(Error::InvalidScopeName),
            "{name:?}"
        );
    }
}

#[test]
fn scope_names_are_unique_within_their_resource() {
    assert_eq!(
        when(orders(), create_scope("new", "orders", "read")),
        Err(Error::ScopeNameTaken {
            name: "read".into()
        })
    );
}

#[test]
fn the_same_scope_name_may_be_used_by_another_resource_or_in_another_case() {
    let given = vec![
        resource_created("orders", ORDERS),
        resource_created("billing", BILLING),
        scope_created("billing-read", "billing", "read"),
    ];
    assert_eq!(
        when(given.clone(), create_scope("orders-read", "orders", "read")),
        Ok(vec![scope_created("orders-read", "orders", "read")])
    );
    assert_eq!(
        when(given, create_scope("billing-read-2", "billing", "READ")),
        Ok(vec![scope_created("billing-read-2", "billing", "READ")])
    );
}

#[test]
fn a_deleted_scope_frees_its_name() {
    let given = with(orders(), vec![scope_deleted("orders-read")]);
    assert_eq!(
        when(given, create_scope("new", "orders", "read")),
        Ok(vec![scope_created("new", "orders", "read")])
    );
}

#[test]
fn delete_scope_records_the_deletion() {
    let delete = Command::DeleteResourceScope {
        scope_id: "orders-read".into(),
    };
    assert_eq!(
        when(orders(), delete),
        Ok(vec![scope_deleted("orders-read")])
    );
}

#[test]
fn deleting_a_missing_or_deleted_scope_fails_with_not_found() {
    let delete = || Command::DeleteResourceScope {
        scope_id: "orders-read".into(),
    };
    let not_found = Err(Error::ResourceScopeNotFound {
        scope_id: "orders-read".into(),
    });
    assert_eq!(when(vec![], delete()), not_found);
    let given = with(orders(), vec![scope_deleted("orders-read")]);
    assert_eq!(when(given, delete()), not_found);
}

#[test]
fn a_deleted_scope_leaves_every_role() {
    let access = replay(with(
        orders(),
        vec![
            role_created("auditor", "Auditor", &["orders-read", "billing-read"]),
            scope_deleted("orders-read"),
        ],
    ));
    assert!(access.role("clerk").unwrap().scope_ids.is_empty());
    let auditor = &access.role("auditor").unwrap().scope_ids;
    assert_eq!(*auditor, ["billing-read".to_string()].into());
}

// --- Roles ---

#[test]
fn create_role_records_it_with_sorted_unique_scope_ids() {
    let command = Command::CreateRole {
        role_id: "robot".into(),
        name: " Robot ".into(),
        description: Some(" Runs nightly ".into()),
        kind: RoleKind::MachineToMachine,
        scope_ids: ids(&["orders-write", "billing-read", "orders-write"]),
    };
    assert_eq!(
        when(orders(), command),
        Ok(vec![Event::RoleCreated {
            role_id: "robot".into(),
            name: "Robot".into(),
            description: Some("Runs nightly".into()),
            kind: RoleKind::MachineToMachine,
            scope_ids: ids(&["billing-read", "orders-write"]),
        }])
    );
}

#[test]
fn role_names_are_unique_regardless_of_case() {
    for name in ["Clerk", "clerk", " CLERK "] {
        assert_eq!(
            when(orders(), create_role("new", name, &[])),
            Err(Error::RoleNameTaken {
                name: name.trim().into()
            })
        );
    }
}

#[test]
fn a_deleted_role_frees_its_name() {
    let given = with(orders(), vec![role_deleted("clerk")]);
    assert_eq!(
        when(given, create_role("new", "Clerk", &[])),
        Ok(vec![role_created("new", "Clerk", &[])])
    );
}

#[test]
fn a_role_is_created_only_with_live_resource_scopes() {
    let given = with(
        with(orders(), org_template()),
        vec![scope_deleted("orders-write")],
    );
    let command = create_role(
        "new",
        "New",
        &["orders-read", "nope", "orders-write", "invite"],
    );
    assert_eq!(
        when(given, command),
        Err(Error::UnknownResourceScopes {
            scope_ids: ids(&["invite", "nope", "orders-write"])
        })
    );
}

#[test]
fn update_role_records_only_what_changed() {
    assert_eq!(
        when(orders(), update_role(Some("Senior clerk"), Some(""))),
        Ok(vec![role_updated(Some("Senior clerk"), None)])
    );
}

#[test]
fn update_role_with_nothing_new_records_nothing() {
    assert_eq!(
        when(orders(), update_role(Some(" Clerk "), Some(" "))),
        Ok(vec![])
    );
    assert_eq!(when(orders(), update_role(None, None)), Ok(vec![]));
}

#[test]
fn update_role_sets_and_clears_the_description() {
    assert_eq!(
        when(orders(), update_role(None, Some(" Reads orders "))),
        Ok(vec![role_updated(None, Some("Reads orders"))])
    );
    let described = with(orders(), vec![role_updated(None, Some("Reads orders"))]);
    assert_eq!(
        when(described.clone(), update_role(None, Some("Reads orders"))),
        Ok(vec![])
    );
    assert_eq!(
        when(described, update_role(None, Some(""))),
        Ok(vec![role_updated(None, Some(""))])
    );
}

#[test]
fn a_role_cannot_take_another_roles_name() {
    let given = with(orders(), vec![role_created("boss", "Boss", &[])]);
    assert_eq!(
        when(given, update_role(Some("BOSS"), None)),
        Err(Error::RoleNameTaken {
            name: "BOSS".into()
        })
    );
}

#[test]
fn a_role_may_change_the_case_of_its_own_name() {
    assert_eq!(
        when(orders(), update_role(Some("CLERK"), None)),
        Ok(vec![role_updated(Some("CLERK"), None)])
    );
}

#[test]
fn assigning_scopes_records_only_the_new_ones() {
    let assign = Command::AssignRoleScopes {
        role_id: "clerk".into(),
        scope_ids: ids(&[
            "orders-write",
            "orders-read",
            "billing-read",
            "orders-write",
        ]),
    };
    assert_eq!(
        when(orders(), assign),
        Ok(vec![Event::RoleScopesAssigned {
            role_id: "clerk".into(),
            scope_ids: ids(&["billing-read", "orders-write"]),
        }])
    );
}

#[test]
fn assigning_only_held_scopes_records_nothing() {
    let assign = Command::AssignRoleScopes {
        role_id: "clerk".into(),
        scope_ids: ids(&["orders-read"]),
    };
    assert_eq!(when(orders(), assign), Ok(vec![]));
}

#[test]
fn assigning_unknown_scopes_fails() {
    let given = with(orders(), vec![scope_deleted("orders-write")]);
    let assign = Command::AssignRoleScopes {
        role_id: "clerk".into(),
        scope_ids: ids(&["orders-read", "orders-write"]),
    };
    assert_eq!(
        when(given, assign),
        Err(Error::UnknownResourceScopes {
            scope_ids: ids(&["orders-write"])
        })
    );
}

#[test]
fn removing_scopes_records_only_the_held_ones() {
    let remove = Command::RemoveRoleScopes {
        role_id: "clerk".into(),
        scope_ids: ids(&["orders-write", "orders-read", "nope", "orders-read"]),
    };
    assert_eq!(
        when(orders(), remove),
        Ok(vec![Event::RoleScopesRemoved {
            role_id: "clerk".into(),
            scope_ids: ids(&["orders-read"]),
        }])
    );
    let nothing_held = Command::RemoveRoleScopes {
        role_id: "clerk".into(),
        scope_ids: ids(&["orders-write"]),
    };
    assert_eq!(when(orders(), nothing_held), Ok(vec![]));
}

#[test]
fn scope_changes_of_a_role_are_applied() {
    let access = replay(with(
        orders(),
        vec![
            Event::RoleScopesAssigned {
                role_id: "clerk".into(),
                scope_ids: ids(&["orders-write", "billing-read"]),
            },
            Event::RoleScopesRemoved {
                role_id: "clerk".into(),
                scope_ids: ids(&["orders-read"]),
            },
        ],
    ));
    let held: Vec<&String> = access.role("clerk").unwrap().scope_ids.iter().collect();
    assert_eq!(held, ["billing-read", "orders-write"]);
}

#[test]
fn delete_role_records_the_deletion() {
    let delete = Command::DeleteRole {
        role_id: "clerk".into(),
    };
    assert_eq!(when(orders(), delete), Ok(vec![role_deleted("clerk")]));
}

#[test]
fn commands_on_a_missing_or_deleted_role_fail_with_not_found() {
    let commands = || {
        vec![
            update_role(Some("New"), None),
            Command::AssignRoleScopes {
                role_id: "clerk".into(),
                scope_ids: ids(&["orders-read"]),
            },
            Command::RemoveRoleScopes {
                role_id: "clerk".into(),
                scope_ids: ids(&["orders-read"]),
            },
            Command::DeleteRole {
                role_id: "clerk".into(),
            },
        ]
    };
    let not_found = Err(Error::RoleNotFound {
        role_id: "clerk".into(),
    });
    for command in commands() {
        let given = vec![resource_created("orders", ORDERS)];
        assert_eq!(when(given, command), not_found);
    }
    for command in commands() {
        let given = with(orders(), vec![role_deleted("clerk")]);
        assert_eq!(when(given, command), not_found);
    }
}

// --- Organization scopes ---

#[test]
fn create_organization_scope_records_it() {
    let command = Command::CreateOrganizationScope {
        scope_id: "projects".into(),
        name: "read:projects".into(),
        description: Some(" See projects ".into()),
    };
    assert_eq!(
        when(org_template(), command),
        Ok(vec![Event::OrganizationScopeCreated {
            scope_id: "projects".into(),
            name: "read:projects".into(),
            description: Some("See projects".into()),
        }])
    );
}

#[test]
fn organization_scope_names_are_scope_tokens() {
    for name in ["", "read projects", "a\"b", "a\\b", "ä"] {
        assert_eq!(
            when(vec![], create_org_scope("new", name)),
            Err(Error::InvalidScopeName),
            "{name:?}"
        );
    }
}

#[test]
fn organization_scope_names_are_unique_and_case_sensitive() {
    assert_eq!(
        when(org_template(), create_org_scope("new", "invite:member")),
        Err(Error::OrganizationScopeNameTaken {
            name: "invite:member".into()
        })
    );
    assert_eq!(
        when(org_template(), create_org_scope("new", "Invite:Member")),
        Ok(vec![org_scope_created("new", "Invite:Member")])
    );
    let given = with(org_template(), vec![org_scope_deleted("invite")]);
    assert_eq!(
        when(given, create_org_scope("new", "invite:member")),
        Ok(vec![org_scope_created("new", "invite:member")])
    );
}

#[test]
fn organization_scope_names_do_not_clash_with_resource_scope_names() {
    assert_eq!(
        when(orders(), create_org_scope("new", "read")),
        Ok(vec![org_scope_created("new", "read")])
    );
}

#[test]
fn delete_organization_scope_records_the_deletion() {
    let delete = || Command::DeleteOrganizationScope {
        scope_id: "invite".into(),
    };
    assert_eq!(
        when(org_template(), delete()),
        Ok(vec![org_scope_deleted("invite")])
    );
    let not_found = Err(Error::OrganizationScopeNotFound {
        scope_id: "invite".into(),
    });
    assert_eq!(when(vec![], delete()), not_found);
    let given = with(org_template(), vec![org_scope_deleted("invite")]);
    assert_eq!(when(given, delete()), not_found);
}

#[test]
fn a_deleted_organization_scope_leaves_every_organization_role() {
    let access = replay(with(
        org_template(),
        vec![
            org_role_created("owner", "Owner", &["billing", "invite"]),
            org_scope_deleted("invite"),
        ],
    ));
    assert!(
        access
            .organization_role("admin")
            .unwrap()
            .scope_ids
            .is_empty()
    );
    let owner = &access.organization_role("owner").unwrap().scope_ids;
    assert_eq!(*owner, ["billing".to_string()].into());
}

// --- Organization roles ---

#[test]
fn create_organization_role_records_it_with_sorted_unique_scope_ids() {
    let command = Command::CreateOrganizationRole {
        role_id: "owner".into(),
        name: " Owner ".into(),
        description: Some("Everything".into()),
        scope_ids: ids(&["invite", "billing", "invite"]),
    };
    assert_eq!(
        when(org_template(), command),
        Ok(vec![Event::OrganizationRoleCreated {
            role_id: "owner".into(),
            name: "Owner".into(),
            description: Some("Everything".into()),
            scope_ids: ids(&["billing", "invite"]),
        }])
    );
}

#[test]
fn organization_role_names_are_unique_regardless_of_case() {
    assert_eq!(
        when(org_template(), create_org_role("new", "ADMIN", &[])),
        Err(Error::OrganizationRoleNameTaken {
            name: "ADMIN".into()
        })
    );
    let given = with(org_template(), vec![org_role_deleted("admin")]);
    assert_eq!(
        when(given, create_org_role("new", "Admin", &[])),
        Ok(vec![org_role_created("new", "Admin", &[])])
    );
}

#[test]
fn organization_role_names_do_not_clash_with_global_role_names() {
    assert_eq!(
        when(orders(), create_org_role("new", "Clerk", &[])),
        Ok(vec![org_role_created("new", "Clerk", &[])])
    );
}

#[test]
fn organization_roles_hold_only_live_organization_scopes() {
    let given = with(
        with(orders(), org_template()),
        vec![org_scope_deleted("billing")],
    );
    let command = create_org_role("new", "New", &["invite", "billing", "orders-read"]);
    assert_eq!(
        when(given.clone(), command),
        Err(Error::UnknownOrganizationScopes {
            scope_ids: ids(&["billing", "orders-read"])
        })
    );
    let assign = Command::AssignOrganizationRoleScopes {
        role_id: "admin".into(),
        scope_ids: ids(&["orders-read"]),
    };
    assert_eq!(
        when(given, assign),
        Err(Error::UnknownOrganizationScopes {
            scope_ids: ids(&["orders-read"])
        })
    );
}

#[test]
fn assigning_organization_role_scopes_records_only_the_new_ones() {
    let assign = |scope_ids: &[&str]| Command::AssignOrganizationRoleScopes {
        role_id: "admin".into(),
        scope_ids: ids(scope_ids),
    };
    assert_eq!(
        when(org_template(), assign(&["billing", "invite", "billing"])),
        Ok(vec![Event::OrganizationRoleScopesAssigned {
            role_id: "admin".into(),
            scope_ids: ids(&["billing"]),
        }])
    );
    assert_eq!(when(org_template(), assign(&["invite"])), Ok(vec![]));
}

#[test]
fn removing_organization_role_scopes_records_only_the_held_ones() {
    let remove = |scope_ids: &[&str]| Command::RemoveOrganizationRoleScopes {
        role_id: "admin".into(),
        scope_ids: ids(scope_ids),
    };
    assert_eq!(
        when(org_template(), remove(&["billing", "invite", "nope"])),
        Ok(vec![Event::OrganizationRoleScopesRemoved {
            role_id: "admin".into(),
            scope_ids: ids(&["invite"]),
        }])
    );
    assert_eq!(when(org_template(), remove(&["billing"])), Ok(vec![]));
}

#[test]
fn scope_changes_of_an_organization_role_are_applied() {
    let access = replay(with(
        org_template(),
        vec![
            Event::OrganizationRoleScopesAssigned {
                role_id: "admin".into(),
                scope_ids: ids(&["billing"]),
            },
            Event::OrganizationRoleScopesRemoved {
                role_id: "admin".into(),
                scope_ids: ids(&["invite"]),
            },
        ],
    ));
    let held = &access.organization_role("admin").unwrap().scope_ids;
    assert_eq!(*held, ["billing".to_string()].into());
}

#[test]
fn delete_organization_role_records_the_deletion() {
    let delete = Command::DeleteOrganizationRole {
        role_id: "admin".into(),
    };
    assert_eq!(
        when(org_template(), delete),
        Ok(vec![org_role_deleted("admin")])
    );
}

#[test]
fn commands_on_a_missing_or_deleted_organization_role_fail_with_not_found() {
    let commands = || {
        vec![
            Command::AssignOrganizationRoleScopes {
                role_id: "admin".into(),
                scope_ids: ids(&["invite"]),
            },
            Command::RemoveOrganizationRoleScopes {
                role_id: "admin".into(),
                scope_ids: ids(&["invite"]),
            },
            Command::DeleteOrganizationRole {
                role_id: "admin".into(),
            },
        ]
    };
    let not_found = Err(Error::OrganizationRoleNotFound {
        role_id: "admin".into(),
    });
    for command in commands() {
        assert_eq!(when(vec![], command), not_found);
    }
    for command in commands() {
        let given = with(org_template(), vec![org_role_deleted("admin")]);
        assert_eq!(when(given, command), not_found);
    }
}

// --- Read access ---

#[test]
fn listings_are_in_creation_order_and_hold_live_entries_only() {
    let access = replay(vec![
        resource_created("z", "https://z.example"),
        resource_created("a", "https://a.example"),
        resource_created("m", "https://m.example"),
        resource_deleted("m"),
        scope_created("z2", "z", "second"),
        scope_created("z1", "z", "first"),
        scope_created("a1", "a", "other"),
        role_created("r2", "Second", &[]),
        role_created("r1", "First", &[]),
        org_scope_created("s2", "second"),
        org_scope_created("s1", "first"),
        org_role_created("o2", "Second", &[]),
        org_role_created("o1", "First", &[]),
        org_role_created("o0", "Gone", &[]),
        org_role_deleted("o0"),
    ]);
    let resources: Vec<&str> = access
        .api_resources()
        .map(|r| r.resource_id.as_str())
        .collect();
    assert_eq!(resources, ["z", "a"]);
    let scopes: Vec<&str> = access
        .resource_scopes("z")
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(scopes, ["second", "first"]);
    let roles: Vec<&str> = access.roles().map(|r| r.role_id.as_str()).collect();
    assert_eq!(roles, ["r2", "r1"]);
    let org_scopes: Vec<&str> = access
        .organization_scopes()
        .map(|s| s.scope_id.as_str())
        .collect();
    assert_eq!(org_scopes, ["s2", "s1"]);
    let org_roles: Vec<&str> = access
        .organization_roles()
        .map(|r| r.role_id.as_str())
        .collect();
    assert_eq!(org_roles, ["o2", "o1"]);
}

#[test]
fn lookups_find_live_entries_by_id_and_resources_by_exact_indicator() {
    let access = replay(with(
        with(orders(), org_template()),
        vec![management_created()],
    ));
    let orders = access.api_resource("orders").unwrap();
    assert_eq!(orders.indicator, ORDERS);
    assert_eq!(orders.access_token_ttl_secs, 3600);
    assert!(!orders.system);
    assert!(access.api_resource("mgmt").unwrap().system);
    let by_indicator = access.api_resource_by_indicator(ORDERS).unwrap();
    assert_eq!(by_indicator.resource_id, "orders");
    assert!(
        access
            .api_resource_by_indicator(&ORDERS.to_uppercase())
            .is_none()
    );
    assert!(
        access
            .api_resource_by_indicator(&format!("{ORDERS}/"))
            .is_none()
    );
    let scope = access.resource_scope("billing-read").unwrap();
    assert_eq!(
        (scope.resource_id.as_str(), scope.name.as_str()),
        ("billing", "read")
    );
    assert_eq!(access.role("clerk").unwrap().name, "Clerk");
    assert_eq!(
        access.organization_scope("invite").unwrap().name,
        "invite:member"
    );
    assert_eq!(access.organization_role("admin").unwrap().name, "Admin");
    assert!(access.role("admin").is_none());
    assert!(access.organization_role("clerk").is_none());
}

#[test]
fn updates_show_in_the_state() {
    let access = replay(with(
        orders(),
        vec![
            Event::ApiResourceUpdated {
                resource_id: "orders".into(),
                name: Some("Orders v2".into()),
                access_token_ttl_secs: Some(600),
            },
            role_updated(Some("Senior clerk"), Some("Reads orders")),
        ],
    ));
    let orders = access.api_resource("orders").unwrap();
    assert_eq!(orders.name, "Orders v2");
    assert_eq!(orders.access_token_ttl_secs, 600);
    let clerk = access.role("clerk").unwrap();
    assert_eq!(clerk.name, "Senior clerk");
    assert_eq!(clerk.description.as_deref(), Some("Reads orders"));
    let cleared = replay(with(
        orders_with_described_clerk(),
        vec![role_updated(None, Some(""))],
    ));
    assert_eq!(cleared.role("clerk").unwrap().description, None);
}

fn orders_with_described_clerk() -> Vec<Event> {
    with(orders(), vec![role_updated(None, Some("Reads orders"))])
}

#[test]
fn roles_grant_the_names_of_their_scopes_on_the_requested_resource_only() {
    let access = replay(with(
        orders(),
        vec![
            role_created("writer", "Writer", &["orders-write", "billing-read"]),
            role_created("gone", "Gone", &["orders-write"]),
            role_deleted("gone"),
        ],
    ));
    let granted = access.granted_resource_scopes(["clerk", "writer"], ORDERS);
    assert_eq!(granted, ["read".to_string(), "write".to_string()].into());
    let held = ids(&["clerk", "writer"]);
    let billing = access.granted_resource_scopes(held.as_slice(), BILLING);
    assert_eq!(billing, ["read".to_string()].into());
    assert!(
        access
            .granted_resource_scopes(["clerk"], BILLING)
            .is_empty()
    );
}

#[test]
fn deleted_or_unknown_roles_and_unknown_resources_grant_nothing() {
    let access = replay(with(
        orders(),
        vec![
            role_created("gone", "Gone", &["orders-write"]),
            role_deleted("gone"),
        ],
    ));
    assert!(
        access
            .granted_resource_scopes(["gone", "nope"], ORDERS)
            .is_empty()
    );
    let unknown = "https://unknown.example/api";
    assert!(
        access
            .granted_resource_scopes(["clerk"], unknown)
            .is_empty()
    );
    let no_roles: [&str; 0] = [];
    assert!(access.granted_resource_scopes(no_roles, ORDERS).is_empty());
}

#[test]
fn organization_roles_grant_the_names_of_their_scopes() {
    let access = replay(with(
        org_template(),
        vec![
            org_role_created("owner", "Owner", &["billing", "invite"]),
            org_role_created("gone", "Gone", &["billing"]),
            org_role_deleted("gone"),
        ],
    ));
    let admin = access.granted_organization_scopes(["admin"]);
    assert_eq!(admin, ["invite:member".to_string()].into());
    let all = access.granted_organization_scopes(vec!["admin".to_string(), "owner".to_string()]);
    let expected = ["invite:member".to_string(), "manage:billing".to_string()];
    assert_eq!(all, expected.into());
    assert!(
        access
            .granted_organization_scopes(["gone", "nope"])
            .is_empty()
    );
}

#[test]
fn role_kinds_tell_user_roles_from_machine_roles() {
    let access = replay(with(
        orders(),
        vec![
            machine_role_created("robot", "Robot", &[]),
            machine_role_created("gone", "Gone", &[]),
            role_deleted("gone"),
        ],
    ));
    assert_eq!(access.role_kind("clerk"), Some(RoleKind::User));
    assert_eq!(access.role_kind("robot"), Some(RoleKind::MachineToMachine));
    assert_eq!(access.role_kind("gone"), None);
    assert_eq!(
        access.unknown_roles(["robot", "clerk", "nope", "gone", "clerk"], RoleKind::User),
        ids(&["gone", "nope", "robot"])
    );
    assert_eq!(
        access.unknown_roles(["robot"], RoleKind::MachineToMachine),
        Vec::<String>::new()
    );
}

#[test]
fn unknown_ids_are_listed_sorted_for_each_kind_of_entry() {
    let access = replay(with(
        with(orders(), org_template()),
        vec![org_role_deleted("admin"), scope_deleted("orders-write")],
    ));
    assert_eq!(
        access.unknown_organization_roles(["admin", "nope", "clerk"]),
        ids(&["admin", "clerk", "nope"])
    );
    assert_eq!(
        access.unknown_resource_scopes(["orders-read", "orders-write", "invite"]),
        ids(&["invite", "orders-write"])
    );
    assert_eq!(
        access.unknown_organization_scopes(["invite", "billing", "orders-read"]),
        ids(&["orders-read"])
    );
}

// --- Names and serialized form ---

#[test]
fn events_are_named_after_their_variant_at_version_1_0() {
    let role_scopes = || (String::from("r"), ids(&["s"]));
    let events = [
        (resource_created("r", ORDERS), "ApiResourceCreated"),
        (
            Event::ApiResourceUpdated {
                resource_id: "r".into(),
                name: None,
                access_token_ttl_secs: None,
            },
            "ApiResourceUpdated",
        ),
        (resource_deleted("r"), "ApiResourceDeleted"),
        (scope_created("s", "r", "s"), "ResourceScopeCreated"),
        (scope_deleted("s"), "ResourceScopeDeleted"),
        (role_created("r", "R", &[]), "RoleCreated"),
        (role_updated(None, None), "RoleUpdated"),
        (
            {
                let (role_id, scope_ids) = role_scopes();
                Event::RoleScopesAssigned { role_id, scope_ids }
            },
            "RoleScopesAssigned",
        ),
        (
            {
                let (role_id, scope_ids) = role_scopes();
                Event::RoleScopesRemoved { role_id, scope_ids }
            },
            "RoleScopesRemoved",
        ),
        (role_deleted("r"), "RoleDeleted"),
        (org_scope_created("s", "s"), "OrganizationScopeCreated"),
        (org_scope_deleted("s"), "OrganizationScopeDeleted"),
        (org_role_created("r", "R", &[]), "OrganizationRoleCreated"),
        (
            {
                let (role_id, scope_ids) = role_scopes();
                Event::OrganizationRoleScopesAssigned { role_id, scope_ids }
            },
            "OrganizationRoleScopesAssigned",
        ),
        (
            {
                let (role_id, scope_ids) = role_scopes();
                Event::OrganizationRoleScopesRemoved { role_id, scope_ids }
            },
            "OrganizationRoleScopesRemoved",
        ),
        (org_role_deleted("r"), "OrganizationRoleDeleted"),
    ];
    for (event, name) in events {
        assert_eq!(event.event_type(), name);
        assert_eq!(event.event_version(), "1.0");
    }
    assert_eq!(AccessControl::TYPE, "access_control");
}

#[test]
fn the_singleton_and_the_management_api_have_fixed_names() {
    assert_eq!(ACCESS_CONTROL_ID, "default");
    assert_eq!(MANAGEMENT_RESOURCE, "urn:sigil:management");
}

#[test]
fn role_kinds_serialize_with_their_wire_names() {
    let kinds = serde_json::to_string(&[RoleKind::User, RoleKind::MachineToMachine]).unwrap();
    assert_eq!(kinds, r#"["USER","MACHINE_TO_MACHINE"]"#);
}

#[test]
fn update_events_store_only_their_changed_fields() {
    let event = Event::ApiResourceUpdated {
        resource_id: "r".into(),
        name: None,
        access_token_ttl_secs: Some(600),
    };
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(
        json,
        r#"{"ApiResourceUpdated":{"resource_id":"r","access_token_ttl_secs":600}}"#
    );
    assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    let event = role_updated(None, Some(""));
    let json = serde_json::to_string(&event).unwrap();
    assert_eq!(
        json,
        r#"{"RoleUpdated":{"role_id":"clerk","description":""}}"#
    );
    assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
}

#[test]
fn the_state_survives_serialization() {
    let access = replay(with(orders(), org_template()));
    let json = serde_json::to_string(&access).unwrap();
    assert_eq!(
        serde_json::from_str::<AccessControl>(&json).unwrap(),
        access
    );
}
