//! The management API's one error type, and the one place domain and store errors become
//! GraphQL errors with a stable `extensions.code` that clients can branch on.

use async_graphql::ErrorExtensions;
use sigil_domain::{ApplicationError, UserError};

use crate::commands::CommandError;
use crate::users::UserCommandError;

/// `extensions.code` values. Stable: clients match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    NotFound,
    Validation,
    Conflict,
    Forbidden,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotFound => "NOT_FOUND",
            Code::Validation => "VALIDATION",
            Code::Conflict => "CONFLICT",
            Code::Forbidden => "FORBIDDEN",
            Code::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(Code::NotFound, format!("{what} not found"))
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Validation, message)
    }

    /// A failure that is not the caller's: logged in full, reported without detail.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "management API request failed");
        ApiError::new(Code::Internal, "internal error; try again")
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        async_graphql::Error::new(e.message).extend_with(|_, ext| ext.set("code", e.code.as_str()))
    }
}

impl From<sigil_eventstore::StoreError> for ApiError {
    fn from(e: sigil_eventstore::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<sigil_eventstore::sqlx::Error> for ApiError {
    fn from(e: sigil_eventstore::sqlx::Error) -> Self {
        ApiError::internal(e)
    }
}

/// How a domain error reads to a client: most are the input's fault.
pub trait Classify: std::fmt::Display {
    fn code(&self) -> Code {
        Code::Validation
    }
}

impl Classify for ApplicationError {
    fn code(&self) -> Code {
        match self {
            ApplicationError::NotFound => Code::NotFound,
            ApplicationError::AlreadyExists => Code::Conflict,
            _ => Code::Validation,
        }
    }
}

impl Classify for sigil_domain::organization::OrganizationError {
    fn code(&self) -> Code {
        use sigil_domain::organization::OrganizationError as E;
        match self {
            E::NotFound => Code::NotFound,
            E::AlreadyExists => Code::Conflict,
            _ => Code::Validation,
        }
    }
}

impl Classify for sigil_domain::consent::ConsentError {
    fn code(&self) -> Code {
        Code::NotFound
    }
}

impl Classify for sigil_domain::connector::ConnectorError {
    fn code(&self) -> Code {
        use sigil_domain::connector::ConnectorError as E;
        match self {
            E::NotFound => Code::NotFound,
            E::AlreadyExists => Code::Conflict,
            _ => Code::Validation,
        }
    }
}

impl Classify for sigil_domain::sign_in_experience::SignInExperienceError {}

impl Classify for UserError {
    fn code(&self) -> Code {
        match self {
            UserError::NotFound => Code::NotFound,
            UserError::AlreadyExists => Code::Conflict,
            _ => Code::Validation,
        }
    }
}

impl<E: Classify + std::error::Error> From<CommandError<E>> for ApiError {
    fn from(e: CommandError<E>) -> Self {
        match e {
            CommandError::Rejected(e) => ApiError::new(e.code(), e.to_string()),
            CommandError::Conflict => ApiError::new(
                Code::Conflict,
                "changed by another request at the same time; read it again and retry",
            ),
            CommandError::Duplicate(what) => ApiError::new(Code::Conflict, what),
            CommandError::Store(cause) => ApiError::internal(cause),
        }
    }
}

impl From<UserCommandError> for ApiError {
    fn from(e: UserCommandError) -> Self {
        match e {
            UserCommandError::Taken { .. } => ApiError::new(Code::Conflict, e.to_string()),
            UserCommandError::Password(p) => ApiError::validation(p.to_string()),
            UserCommandError::Command(c) => c.into(),
        }
    }
}
