//! User accounts on the write side, with what the pure domain cannot decide by itself: that a
//! username or email belongs to one user only. The `user_identifiers` table holds each
//! identifier once (primary key on kind and lower-cased value) and is written in the same
//! transaction as the user's events, so uniqueness rests on strongly consistent state: of two
//! registrations racing for one username, the database lets exactly one in.
//!
//! Passwords are hashed here, off the async runtime, before the command reaches the domain.

use std::fmt;
use std::sync::{Arc, OnceLock};

use sigil_domain::{NewUser, User, UserChanges, UserCommand, UserError, UserEvent};
use sigil_eventstore::sqlx::{self, AnyConnection, AnyPool};

use crate::commands::{CommandContext, CommandError, Commands};
use crate::passwords::{self, PasswordError};

/// Which identifier a row or an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierKind {
    Username,
    Email,
}

impl IdentifierKind {
    /// The `kind` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::Username => "username",
            IdentifierKind::Email => "email",
        }
    }

    /// What a sign-in form's "Username or email" holds: an email when it has an `@` (the
    /// domain never allows one in a username).
    pub fn of(identifier: &str) -> IdentifierKind {
        if identifier.contains('@') {
            IdentifierKind::Email
        } else {
            IdentifierKind::Username
        }
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a change to a user did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UserCommandError {
    /// Another user holds the username or email. Says which kind, never the value (an email
    /// is personal data, and the one asking typed it anyway).
    #[error("that {kind} is already taken")]
    Taken { kind: IdentifierKind },
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Command(#[from] CommandError<UserError>),
}

/// Registers a user. A password, if given, is checked against the policy and hashed (off the
/// runtime) into `new.password_hash`; without one, `new.password_hash` is kept as given.
pub async fn register(
    commands: &Commands,
    id: &str,
    mut new: NewUser,
    password: Option<&str>,
    context: &CommandContext,
) -> Result<(), UserCommandError> {
    if let Some(password) = password {
        new.password_hash = Some(passwords::hash_blocking(password).await?);
    }
    execute(commands, id, UserCommand::Create(new), context).await
}

/// Changes a user's username, email or name; a changed identifier moves (the old one is free
/// again, the new one is taken) in the transaction that records the change.
pub async fn update(
    commands: &Commands,
    id: &str,
    changes: UserChanges,
    context: &CommandContext,
) -> Result<(), UserCommandError> {
    execute(commands, id, UserCommand::Update(changes), context).await
}

/// Deletes a user and frees its identifiers for others.
pub async fn delete(
    commands: &Commands,
    id: &str,
    context: &CommandContext,
) -> Result<(), UserCommandError> {
    execute(commands, id, UserCommand::Delete, context).await
}

/// The id of the user holding a username, or (when `identifier` contains `@`) a primary
/// email, in any case.
pub async fn find_by_identifier(
    pool: &AnyPool,
    identifier: &str,
) -> Result<Option<String>, sqlx::Error> {
    let identifier = identifier.trim();
    sqlx::query_scalar("SELECT user_id FROM user_identifiers WHERE kind = $1 AND value = $2")
        .bind(IdentifierKind::of(identifier).as_str())
        .bind(identifier.to_lowercase())
        .fetch_optional(pool)
        .await
}

/// Sets a new password, checked against the policy and hashed off the runtime.
pub async fn set_password(
    commands: &Commands,
    id: &str,
    password: &str,
    context: &CommandContext,
) -> Result<(), UserCommandError> {
    let password_hash = passwords::hash_blocking(password).await?;
    execute(
        commands,
        id,
        UserCommand::SetPassword { password_hash },
        context,
    )
    .await
}

/// Runs any user command, keeping `user_identifiers` in step with it.
pub async fn execute(
    commands: &Commands,
    id: &str,
    command: UserCommand,
    context: &CommandContext,
) -> Result<(), UserCommandError> {
    // The index notes which identifier it was inserting when the database refused it: the
    // database's error names only the constraint, which covers both kinds.
    let taken = Arc::new(OnceLock::new());
    let (index_taken, index_id) = (taken.clone(), id.to_string());
    let result = commands
        .execute_indexed::<User>(
            id,
            command,
            context,
            Box::new(move |conn, events| {
                Box::pin(index(conn, index_id.clone(), events, index_taken.clone()))
            }),
        )
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(CommandError::Duplicate(reason)) => match taken.get() {
            Some(&kind) => Err(UserCommandError::Taken { kind }),
            None => Err(CommandError::Duplicate(reason).into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// The lookup writer for a user command decided through [`Commands::decide`] (several
/// aggregates committed together): the same rows [`execute`] writes.
pub fn indexer(user_id: &str) -> crate::commands::Index<'static, UserEvent> {
    let user_id = user_id.to_string();
    Box::new(move |conn, events| {
        Box::pin(index(
            conn,
            user_id.clone(),
            events,
            Arc::new(OnceLock::new()),
        ))
    })
}

/// The user an upstream identity is linked to.
pub async fn find_by_identity(
    pool: &AnyPool,
    connector_id: &str,
    subject: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM user_identities WHERE connector_id = $1 AND subject = $2",
    )
    .bind(connector_id)
    .bind(subject)
    .fetch_optional(pool)
    .await
}

/// Writes what a user's events change in `user_identifiers` and `user_identities`.
async fn index(
    conn: &mut AnyConnection,
    user_id: String,
    events: &[UserEvent],
    taken: Arc<OnceLock<IdentifierKind>>,
) -> Result<(), sqlx::Error> {
    for event in events {
        match event {
            UserEvent::UserRegistered {
                username,
                primary_email,
                ..
            } => {
                for (kind, value) in [
                    (IdentifierKind::Username, username),
                    (IdentifierKind::Email, primary_email),
                ] {
                    if let Some(value) = value {
                        insert(conn, kind, value, &user_id, &taken).await?;
                    }
                }
            }
            UserEvent::UserUpdated { changes } => {
                for (kind, value) in [
                    (IdentifierKind::Username, &changes.username),
                    (IdentifierKind::Email, &changes.primary_email),
                ] {
                    // `None`: unchanged. `Some("")`: removed. Otherwise replaced.
                    let Some(value) = value else { continue };
                    // By user, not by old value: the event holds only the new one, and a
                    // user has at most one identifier of each kind.
                    sqlx::query("DELETE FROM user_identifiers WHERE kind = $1 AND user_id = $2")
                        .bind(kind.as_str())
                        .bind(&user_id)
                        .execute(&mut *conn)
                        .await?;
                    if !value.is_empty() {
                        insert(conn, kind, value, &user_id, &taken).await?;
                    }
                }
            }
            UserEvent::UserDeleted => {
                for table in ["user_identifiers", "user_identities"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                        .bind(&user_id)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            UserEvent::UserIdentityLinked {
                connector_id,
                subject,
            } => {
                // A subject already linked is a Duplicate: the caller re-reads the link.
                sqlx::query(
                    "INSERT INTO user_identities (connector_id, subject, user_id) VALUES ($1, $2, $3)",
                )
                .bind(connector_id)
                .bind(subject)
                .bind(&user_id)
                .execute(&mut *conn)
                .await?;
            }
            UserEvent::UserPasswordChanged { .. }
            | UserEvent::UserSuspended
            | UserEvent::UserReinstated
            | UserEvent::UserRolesAssigned { .. }
            | UserEvent::UserRolesRemoved { .. } => {}
        }
    }
    Ok(())
}

async fn insert(
    conn: &mut AnyConnection,
    kind: IdentifierKind,
    value: &str,
    user_id: &str,
    taken: &OnceLock<IdentifierKind>,
) -> Result<(), sqlx::Error> {
    let inserted =
        sqlx::query("INSERT INTO user_identifiers (kind, value, user_id) VALUES ($1, $2, $3)")
            .bind(kind.as_str())
            .bind(value.to_lowercase())
            .bind(user_id)
            .execute(&mut *conn)
            .await;
    if let Err(sqlx::Error::Database(e)) = &inserted
        && e.kind() == sqlx::error::ErrorKind::UniqueViolation
    {
        // The first refusal ends the transaction, so there is never a second.
        let _ = taken.set(kind);
    }
    inserted.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_with_an_at_sign_is_an_email() {
        assert_eq!(IdentifierKind::of("ada"), IdentifierKind::Username);
        assert_eq!(IdentifierKind::of("Ada@Example.com"), IdentifierKind::Email);
        assert_eq!(
            UserCommandError::Taken {
                kind: IdentifierKind::Username
            }
            .to_string(),
            "that username is already taken"
        );
        assert_eq!(
            UserCommandError::Taken {
                kind: IdentifierKind::Email
            }
            .to_string(),
            "that email is already taken"
        );
    }
}
