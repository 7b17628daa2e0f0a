//! Field-level rules for users. Each takes the raw value and returns what to
//! store: `None` for an empty value, otherwise the normalised value.

use super::error::UserError;

pub const MAX_USERNAME_CHARS: usize = 128;
// RFC 5321 §4.5.3.1.3 limits a path to 256 octets, minus the angle brackets.
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_NAME_CHARS: usize = 128;

/// `^[A-Za-z_][A-Za-z0-9_]{0,127}$`, written out.
pub(super) fn username(username: &str) -> Result<Option<String>, UserError> {
    let mut chars = username.chars();
    let Some(first) = chars.next() else {
        return Ok(None);
    };
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && username.len() <= MAX_USERNAME_CHARS;
    if valid {
        Ok(Some(username.to_owned()))
    } else {
        Err(UserError::InvalidUsername)
    }
}

/// A deliberately loose shape check, stored lower-cased so that one address
/// is one account. Proof of ownership is a separate step.
pub(super) fn primary_email(email: &str) -> Result<Option<String>, UserError> {
    if email.is_empty() {
        return Ok(None);
    }
    let email = email.to_lowercase();
    let valid = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(Some(email))
    } else {
        Err(UserError::InvalidEmail)
    }
}

/// A display name; surrounding whitespace is dropped.
pub(super) fn name(name: &str) -> Result<Option<String>, UserError> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(UserError::NameTooLong);
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

/// `$argon2id$[v=19$]m=..,t=..,p=..$salt$hash` (PHC string format). Anything
/// else may be a password in clear that must never reach the event log.
pub(super) fn password_hash(hash: &str) -> Result<(), UserError> {
    let valid = hash.strip_prefix("$argon2id$").is_some_and(|rest| {
        let fields: Vec<&str> = rest.split('$').collect();
        (3..=4).contains(&fields.len())
            && fields
                .iter()
                .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_graphic()))
    });
    if valid {
        Ok(())
    } else {
        Err(UserError::InvalidPasswordHash)
    }
}

/// Longest upstream `sub` (OIDC Core §2: at most 255 ASCII characters).
pub const MAX_SUBJECT_LEN: usize = 255;

pub(super) fn identity(identity: &super::FederatedIdentity) -> Result<(), UserError> {
    let subject_ok = !identity.subject.is_empty()
        && identity.subject.len() <= MAX_SUBJECT_LEN
        && identity.subject.bytes().all(|b| b.is_ascii_graphic());
    if identity.connector_id.is_empty() || !subject_ok {
        return Err(UserError::InvalidIdentity);
    }
    Ok(())
}
