//! Facts about a user account, as stored in the event log. Version "1.0".

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::command::UserChanges;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserEvent {
    UserRegistered {
        username: Option<String>,
        primary_email: Option<String>,
        name: Option<String>,
        password_hash: Option<String>,
    },
    /// Only the fields that actually changed; `""` means removed.
    UserUpdated {
        changes: UserChanges,
    },
    UserPasswordChanged {
        password_hash: String,
    },
    UserSuspended,
    UserReinstated,
    UserDeleted,
    /// Only the roles the user did not hold yet; sorted.
    UserRolesAssigned {
        role_ids: Vec<String>,
    },
    /// Only the roles the user held; sorted.
    UserRolesRemoved {
        role_ids: Vec<String>,
    },
    /// The account is reached through this upstream identity from now on.
    UserIdentityLinked {
        connector_id: String,
        subject: String,
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::UserUpdated { .. } => "UserUpdated",
            Self::UserPasswordChanged { .. } => "UserPasswordChanged",
            Self::UserSuspended => "UserSuspended",
            Self::UserReinstated => "UserReinstated",
            Self::UserDeleted => "UserDeleted",
            Self::UserRolesAssigned { .. } => "UserRolesAssigned",
            Self::UserRolesRemoved { .. } => "UserRolesRemoved",
            Self::UserIdentityLinked { .. } => "UserIdentityLinked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
