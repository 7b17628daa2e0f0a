//! `sigil admin bootstrap` (CONTRACT.md): makes sure the management API can be reached. It
//! creates, once, Sigil's own API resource `urn:sigil:management` with its scope `all`, a
//! machine-to-machine role holding that scope, and a machine-to-machine application with the
//! role; every call then gives the application a new secret, printed once.
//!
//! The ids are fixed, so two bootstraps racing converge on one application, and a retry
//! after a crash halfway finishes what the first call began.

use sigil_domain::access_control::{
    ACCESS_CONTROL_ID, AccessControl, AccessControlCommand, MANAGEMENT_RESOURCE, RoleKind,
};
use sigil_domain::{Application, ApplicationCommand, ApplicationType, NewApplication};

use crate::applications;
use crate::commands::{CommandContext, CommandError, Commands};
use crate::graphql::auth::MANAGEMENT_SCOPE;

pub const MANAGEMENT_RESOURCE_ID: &str = "sigil-management-api";
pub const MANAGEMENT_SCOPE_ID: &str = "sigil-management-all";
pub const MANAGEMENT_ROLE_ID: &str = "sigil-management-role";
/// The bootstrap application's client id.
pub const ADMIN_CLIENT_ID: &str = "sigil-admin";

/// What `sigil admin bootstrap` prints.
#[derive(Debug, serde::Serialize)]
pub struct Bootstrapped {
    pub client_id: String,
    pub client_secret: String,
    pub token_endpoint: String,
    pub resource: String,
    pub scope: String,
}

pub async fn bootstrap(commands: &Commands, issuer: &str) -> anyhow::Result<Bootstrapped> {
    let context = CommandContext::system("cli:bootstrap");
    ensure_access_control(commands, &context).await?;
    let (app, _) = commands.load::<Application>(ADMIN_CLIENT_ID).await?;
    let secret = if app.is_active() {
        applications::rotate_secret(commands, ADMIN_CLIENT_ID, &context).await?
    } else {
        let new = NewApplication {
            name: "Sigil management".into(),
            description: Some("Made by `sigil admin bootstrap` for the management API".into()),
            app_type: ApplicationType::MachineToMachine,
            is_third_party: false,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            cors_allowed_origins: vec![],
            client_secret_digest: None,
        };
        applications::register(commands, ADMIN_CLIENT_ID, new, &context)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a machine-to-machine application gets a secret"))?
    };
    // Also when the application existed: an admin may have taken the role away.
    commands
        .execute::<Application>(
            ADMIN_CLIENT_ID,
            ApplicationCommand::AssignRoles {
                role_ids: vec![MANAGEMENT_ROLE_ID.into()],
            },
            &context,
        )
        .await?;
    Ok(Bootstrapped {
        client_id: ADMIN_CLIENT_ID.into(),
        client_secret: secret,
        token_endpoint: format!("{issuer}/token"),
        resource: MANAGEMENT_RESOURCE.into(),
        scope: MANAGEMENT_SCOPE.into(),
    })
}

/// The management resource, its scope and the role, each created if missing.
async fn ensure_access_control(
    commands: &Commands,
    context: &CommandContext,
) -> anyhow::Result<()> {
    for _ in 0..5 {
        let (ac, _) = commands.load::<AccessControl>(ACCESS_CONTROL_ID).await?;
        let command = if ac.api_resource(MANAGEMENT_RESOURCE_ID).is_none() {
            AccessControlCommand::CreateApiResource {
                resource_id: MANAGEMENT_RESOURCE_ID.into(),
                name: "Sigil management API".into(),
                indicator: MANAGEMENT_RESOURCE.into(),
                access_token_ttl_secs: 3600,
                system: true,
            }
        } else if ac.resource_scope(MANAGEMENT_SCOPE_ID).is_none() {
            AccessControlCommand::CreateResourceScope {
                scope_id: MANAGEMENT_SCOPE_ID.into(),
                resource_id: MANAGEMENT_RESOURCE_ID.into(),
                name: MANAGEMENT_SCOPE.into(),
                description: Some("Everything the management API can do".into()),
            }
        } else if ac.role(MANAGEMENT_ROLE_ID).is_none() {
            AccessControlCommand::CreateRole {
                role_id: MANAGEMENT_ROLE_ID.into(),
                name: "Sigil management".into(),
                description: Some("Full access to the management API".into()),
                kind: RoleKind::MachineToMachine,
                scope_ids: vec![MANAGEMENT_SCOPE_ID.into()],
            }
        } else {
            return Ok(());
        };
        match commands
            .execute::<AccessControl>(ACCESS_CONTROL_ID, command, context)
            .await
        {
            // Another bootstrap got there first: look again.
            Ok(_) | Err(CommandError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("the access-control configuration kept changing; run bootstrap again")
}
