//! The user aggregate: an end-user account that signs in to Sigil. It
//! guards the account's identifiers, password hash and suspension, and
//! records each change as an event.

mod command;
mod error;
mod event;
mod rules;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use crate::id_set;

pub use command::{FederatedIdentity, NewUser, UserChanges, UserCommand};
pub use error::UserError;
pub use event::UserEvent;
pub use rules::{MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_USERNAME_CHARS};

/// State of one user. The default value is "never created".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    status: Status,
    username: Option<String>,
    primary_email: Option<String>,
    name: Option<String>,
    password_hash: Option<String>,
    /// Global roles (`AccessControl`) of kind `User`.
    #[serde(default)]
    role_ids: BTreeSet<String>,
    /// Upstream identities linked to the account.
    #[serde(default)]
    identities: BTreeSet<FederatedIdentity>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Status {
    #[default]
    Absent,
    Active,
    Suspended,
    Deleted,
}

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = ();

    async fn handle(
        &mut self,
        command: UserCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), UserError> {
        let event = match command {
            UserCommand::Create(new) => Some(self.create(new, false)?),
            UserCommand::Provision { new, identity } => {
                rules::identity(&identity)?;
                let registered = self.create(new, true)?;
                sink.write(registered, self).await;
                Some(linked(identity))
            }
            UserCommand::LinkIdentity(identity) => {
                rules::identity(&identity)?;
                self.existing()?;
                (!self.identities.contains(&identity)).then(|| linked(identity))
            }
            UserCommand::Update(changes) => self.update(changes)?,
            UserCommand::SetPassword { password_hash } => self.set_password(password_hash)?,
            UserCommand::Suspend => match self.existing()? {
                Status::Suspended => return Err(UserError::AlreadySuspended),
                _ => Some(UserEvent::UserSuspended),
            },
            UserCommand::Reinstate => match self.existing()? {
                Status::Suspended => Some(UserEvent::UserReinstated),
                _ => return Err(UserError::NotSuspended),
            },
            UserCommand::Delete => {
                self.existing()?;
                Some(UserEvent::UserDeleted)
            }
            // An admin may change the roles of a suspended user too: the
            // roles take effect once the user is reinstated.
            UserCommand::AssignRoles { role_ids } => {
                self.existing()?;
                let role_ids = id_set::added(role_ids, &self.role_ids);
                (!role_ids.is_empty()).then_some(UserEvent::UserRolesAssigned { role_ids })
            }
            UserCommand::RemoveRoles { role_ids } => {
                self.existing()?;
                let role_ids = id_set::removed(role_ids, &self.role_ids);
                (!role_ids.is_empty()).then_some(UserEvent::UserRolesRemoved { role_ids })
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: UserEvent) {
        match event {
            UserEvent::UserRegistered {
                username,
                primary_email,
                name,
                password_hash,
            } => {
                *self = Self {
                    status: Status::Active,
                    username,
                    primary_email,
                    name,
                    password_hash,
                    ..Self::default()
                }
            }
            UserEvent::UserUpdated { changes } => {
                let non_empty = |v: String| (!v.is_empty()).then_some(v);
                if let Some(username) = changes.username {
                    self.username = non_empty(username);
                }
                if let Some(email) = changes.primary_email {
                    self.primary_email = non_empty(email);
                }
                if let Some(name) = changes.name {
                    self.name = non_empty(name);
                }
            }
            UserEvent::UserPasswordChanged { password_hash } => {
                self.password_hash = Some(password_hash)
            }
            UserEvent::UserSuspended => self.status = Status::Suspended,
            UserEvent::UserReinstated => self.status = Status::Active,
            // Keep nothing of a deleted account, its password hash least of
            // all, nor its roles.
            UserEvent::UserDeleted => {
                *self = Self {
                    status: Status::Deleted,
                    ..Self::default()
                }
            }
            UserEvent::UserRolesAssigned { role_ids } => self.role_ids.extend(role_ids),
            UserEvent::UserIdentityLinked {
                connector_id,
                subject,
            } => {
                self.identities.insert(FederatedIdentity {
                    connector_id,
                    subject,
                });
            }
            UserEvent::UserRolesRemoved { role_ids } => {
                for role_id in &role_ids {
                    self.role_ids.remove(role_id);
                }
            }
        }
    }
}

// Decisions: each checks the command against the state and returns the
// event to record, or `None` when there is nothing new to record.
impl User {
    /// `federated`: the account comes with an upstream identity, which identifies it.
    fn create(&self, new: NewUser, federated: bool) -> Result<UserEvent, UserError> {
        // A deleted id stays taken, so old sessions and grants cannot
        // resolve to a new person.
        if self.status != Status::Absent {
            return Err(UserError::AlreadyExists);
        }
        let username = new
            .username
            .as_deref()
            .map(rules::username)
            .transpose()?
            .flatten();
        let primary_email = new
            .primary_email
            .as_deref()
            .map(rules::primary_email)
            .transpose()?
            .flatten();
        let name = new.name.as_deref().map(rules::name).transpose()?.flatten();
        if let Some(hash) = &new.password_hash {
            rules::password_hash(hash)?;
        }
        if username.is_none() && primary_email.is_none() && !federated {
            return Err(UserError::MissingIdentifier);
        }
        Ok(UserEvent::UserRegistered {
            username,
            primary_email,
            name,
            password_hash: new.password_hash,
        })
    }

    fn update(&self, new: UserChanges) -> Result<Option<UserEvent>, UserError> {
        self.existing()?;
        let username = new.username.as_deref().map(rules::username).transpose()?;
        let primary_email = new
            .primary_email
            .as_deref()
            .map(rules::primary_email)
            .transpose()?;
        let name = new.name.as_deref().map(rules::name).transpose()?;
        // A user must keep some way to be found and to sign in.
        let keeps_username =
            username.as_ref().unwrap_or(&self.username).is_some() || !self.identities.is_empty();
        let keeps_email = primary_email
            .as_ref()
            .unwrap_or(&self.primary_email)
            .is_some();
        if !keeps_username && !keeps_email {
            return Err(UserError::MissingIdentifier);
        }
        // Recorded as "" when removed, so the event can say so.
        let changed = |new: Option<Option<String>>, current: &Option<String>| {
            new.filter(|new| new != current)
                .map(Option::unwrap_or_default)
        };
        let changes = UserChanges {
            username: changed(username, &self.username),
            primary_email: changed(primary_email, &self.primary_email),
            name: changed(name, &self.name),
        };
        Ok((!changes.is_empty()).then_some(UserEvent::UserUpdated { changes }))
    }

    fn set_password(&self, password_hash: String) -> Result<Option<UserEvent>, UserError> {
        self.existing()?;
        rules::password_hash(&password_hash)?;
        // Argon2 salts are random, so the same hash again is a retried command.
        if self.password_hash.as_deref() == Some(password_hash.as_str()) {
            return Ok(None);
        }
        Ok(Some(UserEvent::UserPasswordChanged { password_hash }))
    }

    // The status of a user that exists (active or suspended), else NotFound.
    fn existing(&self) -> Result<Status, UserError> {
        match self.status {
            Status::Active | Status::Suspended => Ok(self.status),
            Status::Absent | Status::Deleted => Err(UserError::NotFound),
        }
    }
}

fn linked(identity: FederatedIdentity) -> UserEvent {
    UserEvent::UserIdentityLinked {
        connector_id: identity.connector_id,
        subject: identity.subject,
    }
}

// Read access for the rest of Sigil.
impl User {
    /// Exists, not suspended, not deleted: may sign in.
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    pub fn is_suspended(&self) -> bool {
        self.status == Status::Suspended
    }

    pub fn is_deleted(&self) -> bool {
        self.status == Status::Deleted
    }

    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Always lower case.
    pub fn primary_email(&self) -> Option<&str> {
        self.primary_email.as_deref()
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Argon2id PHC string, for the api to verify a password against.
    pub fn password_hash(&self) -> Option<&str> {
        self.password_hash.as_deref()
    }

    /// Ids of the global roles the user holds. They may name roles deleted
    /// since, which grant nothing (`AccessControl::granted_resource_scopes`).
    pub fn role_ids(&self) -> &BTreeSet<String> {
        &self.role_ids
    }

    /// The upstream identities linked to the account.
    pub fn identities(&self) -> &BTreeSet<FederatedIdentity> {
        &self.identities
    }
}
