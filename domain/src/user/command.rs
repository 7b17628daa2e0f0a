//! What an administrator (or the user) can ask of a user account. Passwords
//! arrive only as Argon2id hashes: the api hashes them before the domain.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserCommand {
    Create(NewUser),
    Update(UserChanges),
    SetPassword {
        password_hash: String,
    },
    Suspend,
    Reinstate,
    Delete,
    /// Gives the user global roles of kind `User`; the api checks that they
    /// exist (`AccessControl::unknown_roles`) before sending the command.
    AssignRoles {
        role_ids: Vec<String>,
    },
    RemoveRoles {
        role_ids: Vec<String>,
    },
    /// Just-in-time provisioning at a first sign-in through a connector: the account and
    /// its link to the upstream identity, in one decision. The identity is the account's
    /// identifier, so username and email may both be absent.
    Provision {
        new: NewUser,
        identity: FederatedIdentity,
    },
    /// Links an upstream identity to this existing account.
    LinkIdentity(FederatedIdentity),
}

/// A person at an upstream provider: the connector and the provider's `sub` (OIDC Core §2:
/// unique and never reassigned within the issuer).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FederatedIdentity {
    pub connector_id: String,
    pub subject: String,
}

/// A new account. An empty string counts as no value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub username: Option<String>,
    pub primary_email: Option<String>,
    pub name: Option<String>,
    /// Argon2id PHC string (`$argon2id$...`), never the password itself.
    pub password_hash: Option<String>,
}

/// A partial update: `None` leaves a field as it is, `Some("")` removes it.
/// Also the payload of `UserUpdated`, holding only the fields that changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl UserChanges {
    /// True when no field is set, i.e. the update would change nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
