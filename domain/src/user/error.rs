//! Why a command on a user was refused. Messages echo neither the email
//! (personal data) nor the password hash (it may be a password in clear).

use super::rules::{MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_USERNAME_CHARS};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user not found")]
    NotFound,
    #[error("user already exists")]
    AlreadyExists,
    #[error("a user needs a username or a primary email")]
    MissingIdentifier,
    #[error(
        "username must start with a letter or underscore, contain only ASCII letters, digits and underscores, and be at most {MAX_USERNAME_CHARS} characters"
    )]
    InvalidUsername,
    #[error(
        "primary email must be an address like name@example.com of at most {MAX_EMAIL_CHARS} characters"
    )]
    InvalidEmail,
    #[error("name must be at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("password hash must be an Argon2id PHC string ($argon2id$...)")]
    InvalidPasswordHash,
    #[error("user is already suspended")]
    AlreadySuspended,
    #[error("user is not suspended")]
    NotSuspended,
    #[error("an upstream subject must be 1 to 255 printable ASCII characters")]
    InvalidIdentity,
}
