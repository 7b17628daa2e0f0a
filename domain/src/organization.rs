//! An organization: a group of users, such as a customer of a B2B product,
//! whose members hold organization roles (Logto's organizations). The roles
//! and their scopes are the template in `AccessControl`, shared by every
//! organization; the api checks that role ids exist there before it sends
//! them here. The aggregate id is a uuid chosen by the api.

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::id_set;

/// Longest organization name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest organization description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// Lists of ids may hold duplicates and come in any order; only the set
/// counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrganizationCommand {
    Create {
        name: String,
        description: Option<String>,
    },
    /// `None` leaves a field as it is; a description of `Some("")` clears it.
    Update {
        name: Option<String>,
        description: Option<String>,
    },
    Delete,
    AddMembers {
        user_ids: Vec<String>,
    },
    /// Members leave with their organization roles.
    RemoveMembers {
        user_ids: Vec<String>,
    },
    AssignMemberRoles {
        user_id: String,
        organization_role_ids: Vec<String>,
    },
    RemoveMemberRoles {
        user_id: String,
        organization_role_ids: Vec<String>,
    },
}

/// Facts about an organization, as stored in the event log. Version "1.0".
/// Lists of ids are sorted and hold no duplicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrganizationEvent {
    OrganizationCreated {
        name: String,
        description: Option<String>,
    },
    /// Only the fields that actually changed; a description of `""` means
    /// removed.
    OrganizationUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// Members and their roles go with it.
    OrganizationDeleted,
    /// Only users who were not members yet.
    OrganizationMembersAdded { user_ids: Vec<String> },
    /// Only users who were members; their organization roles go with them.
    OrganizationMembersRemoved { user_ids: Vec<String> },
    /// Only roles the member did not hold yet.
    OrganizationMemberRolesAssigned {
        user_id: String,
        organization_role_ids: Vec<String>,
    },
    /// Only roles the member held.
    OrganizationMemberRolesRemoved {
        user_id: String,
        organization_role_ids: Vec<String>,
    },
}

impl DomainEvent for OrganizationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OrganizationCreated { .. } => "OrganizationCreated",
            Self::OrganizationUpdated { .. } => "OrganizationUpdated",
            Self::OrganizationDeleted => "OrganizationDeleted",
            Self::OrganizationMembersAdded { .. } => "OrganizationMembersAdded",
            Self::OrganizationMembersRemoved { .. } => "OrganizationMembersRemoved",
            Self::OrganizationMemberRolesAssigned { .. } => "OrganizationMemberRolesAssigned",
            Self::OrganizationMemberRolesRemoved { .. } => "OrganizationMemberRolesRemoved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why a command on an organization was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationError {
    #[error("organization not found")]
    NotFound,
    #[error("organization already exists")]
    AlreadyExists,
    #[error("name must not be empty")]
    NameEmpty,
    #[error("name must be at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("description must be at most {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    #[error("user {user_id:?} is not a member of the organization")]
    NotAMember { user_id: String },
}

/// State of one organization. The default value is "never created".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    status: Status,
    name: String,
    description: Option<String>,
    /// Each member's user id and the organization role ids they hold.
    members: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Status {
    #[default]
    Absent,
    Active,
    Deleted,
}

impl Aggregate for Organization {
    const TYPE: &'static str = "organization";
    type Command = OrganizationCommand;
    type Event = OrganizationEvent;
    type Error = OrganizationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: OrganizationCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), OrganizationError> {
        use OrganizationCommand as C;
        use OrganizationEvent as E;
        let event = match command {
            C::Create { name, description } => Some(self.create(&name, description.as_deref())?),
            C::Update { name, description } => self.update(name, description)?,
            C::Delete => {
                self.active()?;
                Some(E::OrganizationDeleted)
            }
            C::AddMembers { user_ids } => {
                self.active()?;
                let user_ids: Vec<String> = sorted(user_ids)
                    .filter(|id| !self.members.contains_key(id))
                    .collect();
                (!user_ids.is_empty()).then_some(E::OrganizationMembersAdded { user_ids })
            }
            C::RemoveMembers { user_ids } => {
                self.active()?;
                let user_ids: Vec<String> = sorted(user_ids)
                    .filter(|id| self.members.contains_key(id))
                    .collect();
                (!user_ids.is_empty()).then_some(E::OrganizationMembersRemoved { user_ids })
            }
            C::AssignMemberRoles {
                user_id,
                organization_role_ids,
            } => {
                let held = self.member(&user_id)?;
                let organization_role_ids = id_set::added(organization_role_ids, held);
                (!organization_role_ids.is_empty()).then_some(E::OrganizationMemberRolesAssigned {
                    user_id,
                    organization_role_ids,
                })
            }
            C::RemoveMemberRoles {
                user_id,
                organization_role_ids,
            } => {
                let held = self.member(&user_id)?;
                let organization_role_ids = id_set::removed(organization_role_ids, held);
                (!organization_role_ids.is_empty()).then_some(E::OrganizationMemberRolesRemoved {
                    user_id,
                    organization_role_ids,
                })
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: OrganizationEvent) {
        match event {
            OrganizationEvent::OrganizationCreated { name, description } => {
                *self = Self {
                    status: Status::Active,
                    name,
                    description,
                    members: BTreeMap::new(),
                }
            }
            OrganizationEvent::OrganizationUpdated { name, description } => {
                if let Some(name) = name {
                    self.name = name;
                }
                if let Some(description) = description {
                    self.description = (!description.is_empty()).then_some(description);
                }
            }
            // The id stays taken; nothing else of the organization is kept.
            OrganizationEvent::OrganizationDeleted => {
                *self = Self {
                    status: Status::Deleted,
                    ..Self::default()
                }
            }
            OrganizationEvent::OrganizationMembersAdded { user_ids } => {
                for user_id in user_ids {
                    self.members.entry(user_id).or_default();
                }
            }
            OrganizationEvent::OrganizationMembersRemoved { user_ids } => {
                for user_id in &user_ids {
                    self.members.remove(user_id);
                }
            }
            OrganizationEvent::OrganizationMemberRolesAssigned {
                user_id,
                organization_role_ids,
            } => {
                if let Some(roles) = self.members.get_mut(&user_id) {
                    roles.extend(organization_role_ids);
                }
            }
            OrganizationEvent::OrganizationMemberRolesRemoved {
                user_id,
                organization_role_ids,
            } => {
                if let Some(roles) = self.members.get_mut(&user_id) {
                    for role_id in &organization_role_ids {
                        roles.remove(role_id);
                    }
                }
            }
        }
    }
}

// Decisions: each checks the command against the state and returns the
// event to record, or `None` when there is nothing new to record.
impl Organization {
    fn create(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<OrganizationEvent, OrganizationError> {
        // A deleted id stays taken, so that grants and tokens naming the old
        // organization never apply to a new one.
        if self.status != Status::Absent {
            return Err(OrganizationError::AlreadyExists);
        }
        Ok(OrganizationEvent::OrganizationCreated {
            name: rules::name(name)?,
            description: rules::description(description)?,
        })
    }

    fn update(
        &self,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<Option<OrganizationEvent>, OrganizationError> {
        self.active()?;
        let name = match name {
            Some(name) => Some(rules::name(&name)?).filter(|name| *name != self.name),
            None => None,
        };
        // Recorded as "" when cleared, so the event can say so.
        let description = match description {
            Some(description) => Some(rules::description(Some(&description))?)
                .filter(|description| *description != self.description)
                .map(Option::unwrap_or_default),
            None => None,
        };
        if name.is_none() && description.is_none() {
            return Ok(None);
        }
        Ok(Some(OrganizationEvent::OrganizationUpdated {
            name,
            description,
        }))
    }

    fn active(&self) -> Result<(), OrganizationError> {
        match self.status {
            Status::Active => Ok(()),
            Status::Absent | Status::Deleted => Err(OrganizationError::NotFound),
        }
    }

    // The roles of a member of an active organization.
    fn member(&self, user_id: &str) -> Result<&BTreeSet<String>, OrganizationError> {
        self.active()?;
        self.members
            .get(user_id)
            .ok_or_else(|| OrganizationError::NotAMember {
                user_id: user_id.to_owned(),
            })
    }
}

fn sorted(ids: Vec<String>) -> impl Iterator<Item = String> {
    ids.into_iter().collect::<BTreeSet<_>>().into_iter()
}

mod rules {
    use super::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, OrganizationError};

    pub(super) fn name(name: &str) -> Result<String, OrganizationError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(OrganizationError::NameEmpty);
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(OrganizationError::NameTooLong);
        }
        Ok(name.to_owned())
    }

    /// A blank description is no description.
    pub(super) fn description(
        description: Option<&str>,
    ) -> Result<Option<String>, OrganizationError> {
        let description = description.map(str::trim).filter(|d| !d.is_empty());
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            return Err(OrganizationError::DescriptionTooLong);
        }
        Ok(description.map(str::to_owned))
    }
}

// Read access for the rest of Sigil. A deleted or never-created
// organization has no name and no members.
impl Organization {
    /// Created and not deleted.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    pub fn is_deleted(&self) -> bool {
        self.status == Status::Deleted
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Each member's user id with the organization role ids they hold.
    /// Role ids may name roles deleted since, which grant nothing
    /// (`AccessControl::granted_organization_scopes`).
    pub fn members(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.members
    }

    pub fn is_member(&self, user_id: &str) -> bool {
        self.members.contains_key(user_id)
    }

    /// The organization role ids of a member; `None` for a non-member.
    pub fn member_roles(&self, user_id: &str) -> Option<&BTreeSet<String>> {
        self.members.get(user_id)
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type Command = OrganizationCommand;
    type Event = OrganizationEvent;
    type Error = OrganizationError;

    fn when(given: Vec<Event>, command: Command) -> Result<Vec<Event>, Error> {
        TestFramework::<Organization>::with(())
            .given(given)
            .when(command)
            .inspect_result()
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    fn replay(events: Vec<Event>) -> Organization {
        let mut organization = Organization::default();
        for event in events {
            organization.apply(event);
        }
        organization
    }

    fn create(name: &str, description: Option<&str>) -> Command {
        Command::Create {
            name: name.into(),
            description: description.map(str::to_owned),
        }
    }

    fn created() -> Event {
        Event::OrganizationCreated {
            name: "Acme".into(),
            description: None,
        }
    }

    fn update(name: Option<&str>, description: Option<&str>) -> Command {
        Command::Update {
            name: name.map(str::to_owned),
            description: description.map(str::to_owned),
        }
    }

    fn updated(name: Option<&str>, description: Option<&str>) -> Event {
        Event::OrganizationUpdated {
            name: name.map(str::to_owned),
            description: description.map(str::to_owned),
        }
    }

    fn add(user_ids: &[&str]) -> Command {
        Command::AddMembers {
            user_ids: ids(user_ids),
        }
    }

    fn added(user_ids: &[&str]) -> Event {
        Event::OrganizationMembersAdded {
            user_ids: ids(user_ids),
        }
    }

    fn remove(user_ids: &[&str]) -> Command {
        Command::RemoveMembers {
            user_ids: ids(user_ids),
        }
    }

    fn removed(user_ids: &[&str]) -> Event {
        Event::OrganizationMembersRemoved {
            user_ids: ids(user_ids),
        }
    }

    fn assign(user_id: &str, role_ids: &[&str]) -> Command {
        Command::AssignMemberRoles {
            user_id: user_id.into(),
            organization_role_ids: ids(role_ids),
        }
    }

    fn assigned(user_id: &str, role_ids: &[&str]) -> Event {
        Event::OrganizationMemberRolesAssigned {
            user_id: user_id.into(),
            organization_role_ids: ids(role_ids),
        }
    }

    fn unassign(user_id: &str, role_ids: &[&str]) -> Command {
        Command::RemoveMemberRoles {
            user_id: user_id.into(),
            organization_role_ids: ids(role_ids),
        }
    }

    fn unassigned(user_id: &str, role_ids: &[&str]) -> Event {
        Event::OrganizationMemberRolesRemoved {
            user_id: user_id.into(),
            organization_role_ids: ids(role_ids),
        }
    }

    /// Acme, with Ada (admin) and Bob (no roles) as members.
    fn acme() -> Vec<Event> {
        vec![
            created(),
            added(&["ada", "bob"]),
            assigned("ada", &["admin"]),
        ]
    }

    // --- Create, update, delete ---

    #[test]
    fn create_records_the_organization_with_trimmed_fields() {
        assert_eq!(
            when(vec![], create(" Acme ", Some(" Rockets "))),
            Ok(vec![Event::OrganizationCreated {
                name: "Acme".into(),
                description: Some("Rockets".into()),
            }])
        );
        assert_eq!(
            when(vec![], create("Acme", Some("  "))),
            Ok(vec![created()])
        );
    }

    #[test]
    fn create_on_an_existing_or_deleted_organization_fails() {
        assert_eq!(
            when(vec![created()], create("Acme", None)),
            Err(Error::AlreadyExists)
        );
        assert_eq!(
            when(
                vec![created(), Event::OrganizationDeleted],
                create("Acme", None)
            ),
            Err(Error::AlreadyExists)
        );
    }

    #[test]
    fn names_are_non_blank_and_at_most_128_characters() {
        let longest = "é".repeat(128);
        let too_long = "é".repeat(129);
        assert!(when(vec![], create(&longest, None)).is_ok());
        assert_eq!(when(vec![], create(" ", None)), Err(Error::NameEmpty));
        assert_eq!(
            when(vec![], create(&too_long, None)),
            Err(Error::NameTooLong)
        );
        assert_eq!(
            when(vec![created()], update(Some(""), None)),
            Err(Error::NameEmpty)
        );
        assert_eq!(
            when(vec![created()], update(Some(&too_long), None)),
            Err(Error::NameTooLong)
        );
    }

    #[test]
    fn descriptions_are_at_most_256_characters() {
        let longest = "é".repeat(256);
        let too_long = "é".repeat(257);
        assert!(when(vec![], create("Acme", Some(&longest))).is_ok());
        assert_eq!(
            when(vec![], create("Acme", Some(&too_long))),
            Err(Error::DescriptionTooLong)
        );
        assert_eq!(
            when(vec![created()], update(None, Some(&too_long))),
            Err(Error::DescriptionTooLong)
        );
    }

    #[test]
    fn update_records_only_what_changed() {
        assert_eq!(
            when(vec![created()], update(Some(" Acme "), Some("Rockets"))),
            Ok(vec![updated(None, Some("Rockets"))])
        );
        assert_eq!(
            when(vec![created()], update(Some("Acme Corp"), Some(""))),
            Ok(vec![updated(Some("Acme Corp"), None)])
        );
    }

    #[test]
    fn update_with_nothing_new_records_nothing() {
        let given = vec![created(), updated(Some("Acme Corp"), Some("Rockets"))];
        assert_eq!(
            when(given.clone(), update(Some("Acme Corp"), Some(" Rockets "))),
            Ok(vec![])
        );
        assert_eq!(when(given, update(None, None)), Ok(vec![]));
    }

    #[test]
    fn update_clears_the_description_with_an_empty_one() {
        let given = vec![created(), updated(None, Some("Rockets"))];
        assert_eq!(
            when(given, update(None, Some(" "))),
            Ok(vec![updated(None, Some(""))])
        );
    }

    #[test]
    fn delete_records_the_deletion() {
        assert_eq!(
            when(acme(), Command::Delete),
            Ok(vec![Event::OrganizationDeleted])
        );
    }

    #[test]
    fn commands_on_a_missing_or_deleted_organization_fail_with_not_found() {
        let commands = || {
            vec![
                update(Some("New"), None),
                Command::Delete,
                add(&["carol"]),
                remove(&["ada"]),
                assign("ada", &["owner"]),
                unassign("ada", &["admin"]),
            ]
        };
        for command in commands() {
            assert_eq!(when(vec![], command), Err(Error::NotFound));
        }
        for command in commands() {
            let given = [acme(), vec![Event::OrganizationDeleted]].concat();
            assert_eq!(when(given, command), Err(Error::NotFound));
        }
    }

    // --- Members ---

    #[test]
    fn adding_members_records_only_new_ones_sorted() {
        assert_eq!(
            when(acme(), add(&["dan", "ada", "carol", "dan"])),
            Ok(vec![added(&["carol", "dan"])])
        );
    }

    #[test]
    fn adding_only_members_records_nothing() {
        assert_eq!(when(acme(), add(&["bob", "ada"])), Ok(vec![]));
        assert_eq!(when(acme(), add(&[])), Ok(vec![]));
    }

    #[test]
    fn removing_members_records_only_present_ones() {
        assert_eq!(
            when(acme(), remove(&["carol", "bob", "bob"])),
            Ok(vec![removed(&["bob"])])
        );
        assert_eq!(when(acme(), remove(&["carol"])), Ok(vec![]));
    }

    #[test]
    fn removed_members_lose_their_roles() {
        let organization = replay([acme(), vec![removed(&["ada"]), added(&["ada"])]].concat());
        assert_eq!(organization.member_roles("ada"), Some(&BTreeSet::new()));
    }

    // --- Member roles ---

    #[test]
    fn assigning_member_roles_records_only_new_ones_sorted() {
        assert_eq!(
            when(
                acme(),
                assign("ada", &["owner", "admin", "billing", "owner"])
            ),
            Ok(vec![assigned("ada", &["billing", "owner"])])
        );
        assert_eq!(when(acme(), assign("ada", &["admin"])), Ok(vec![]));
    }

    #[test]
    fn removing_member_roles_records_only_held_ones() {
        assert_eq!(
            when(acme(), unassign("ada", &["owner", "admin", "admin"])),
            Ok(vec![unassigned("ada", &["admin"])])
        );
        assert_eq!(when(acme(), unassign("bob", &["admin"])), Ok(vec![]));
    }

    #[test]
    fn only_members_have_roles() {
        let not_a_member = Err(Error::NotAMember {
            user_id: "carol".into(),
        });
        assert_eq!(when(acme(), assign("carol", &["admin"])), not_a_member);
        assert_eq!(when(acme(), unassign("carol", &["admin"])), not_a_member);
        let given = [acme(), vec![removed(&["ada"])]].concat();
        assert_eq!(
            when(given, assign("ada", &["admin"])),
            Err(Error::NotAMember {
                user_id: "ada".into()
            })
        );
    }

    // --- State, accessors and serialized form ---

    #[test]
    fn replay_rebuilds_what_the_accessors_report() {
        let organization = replay(
            [
                acme(),
                vec![
                    updated(Some("Acme Corp"), Some("Rockets")),
                    assigned("ada", &["owner"]),
                    unassigned("ada", &["admin"]),
                    assigned("bob", &["billing"]),
                    removed(&["bob"]),
                    added(&["carol"]),
                ],
            ]
            .concat(),
        );
        assert!(organization.is_active());
        assert_eq!(organization.name(), "Acme Corp");
        assert_eq!(organization.description(), Some("Rockets"));
        let members: Vec<&str> = organization.members().keys().map(String::as_str).collect();
        assert_eq!(members, ["ada", "carol"]);
        assert!(organization.is_member("ada"));
        assert!(!organization.is_member("bob"));
        assert_eq!(
            organization.member_roles("ada"),
            Some(&BTreeSet::from(["owner".to_string()]))
        );
        assert_eq!(organization.member_roles("bob"), None);
        let cleared = replay(vec![
            created(),
            updated(None, Some("Rockets")),
            updated(None, Some("")),
        ]);
        assert_eq!(cleared.description(), None);
    }

    #[test]
    fn a_deleted_organization_keeps_no_members() {
        let organization = replay([acme(), vec![Event::OrganizationDeleted]].concat());
        assert!(organization.is_deleted());
        assert!(!organization.is_active());
        assert!(organization.members().is_empty());
        assert_eq!(organization.name(), "");
        assert!(!Organization::default().is_active());
    }

    #[test]
    fn events_are_named_after_their_variant_at_version_1_0() {
        let events = [
            (created(), "OrganizationCreated"),
            (updated(None, None), "OrganizationUpdated"),
            (Event::OrganizationDeleted, "OrganizationDeleted"),
            (added(&["a"]), "OrganizationMembersAdded"),
            (removed(&["a"]), "OrganizationMembersRemoved"),
            (assigned("a", &["r"]), "OrganizationMemberRolesAssigned"),
            (unassigned("a", &["r"]), "OrganizationMemberRolesRemoved"),
        ];
        for (event, name) in events {
            assert_eq!(event.event_type(), name);
            assert_eq!(event.event_version(), "1.0");
        }
        assert_eq!(Organization::TYPE, "organization");
    }

    #[test]
    fn an_update_event_stores_only_its_changed_fields() {
        let event = updated(None, Some(""));
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json, r#"{"OrganizationUpdated":{"description":""}}"#);
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }
}
