//! Applications on the write side, with what the pure domain cannot do itself: make a client
//! secret. The secret is returned once, to be shown once; the log keeps only its digest.

use sigil_domain::{Application, ApplicationCommand, ApplicationError, NewApplication};

use crate::commands::{CommandContext, CommandError, Commands};
use crate::oidc::tokens;

/// Registers `new` under `id`. A confidential application gets a fresh secret (any digest in
/// `new` is replaced), returned here and nowhere else; public clients get `None`.
pub async fn register(
    commands: &Commands,
    id: &str,
    mut new: NewApplication,
    context: &CommandContext,
) -> Result<Option<String>, CommandError<ApplicationError>> {
    let secret = new.app_type.is_confidential().then(tokens::new_token);
    new.client_secret_digest = secret.as_deref().map(tokens::digest);
    commands
        .execute::<Application>(id, ApplicationCommand::Create(new), context)
        .await?;
    Ok(secret)
}

/// Gives a confidential application a new secret; the old one stops working at once.
pub async fn rotate_secret(
    commands: &Commands,
    id: &str,
    context: &CommandContext,
) -> Result<String, CommandError<ApplicationError>> {
    let secret = tokens::new_token();
    commands
        .execute::<Application>(
            id,
            ApplicationCommand::RotateSecret {
                client_secret_digest: tokens::digest(&secret),
            },
            context,
        )
        .await?;
    Ok(secret)
}
