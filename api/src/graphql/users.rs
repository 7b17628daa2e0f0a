//! Users: accounts, their passwords and status, their roles, and the organizations they
//! belong to. Password hashes never leave the domain.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object};
use sigil_domain::access_control::RoleKind;
use sigil_domain::consent::{Consent, ConsentCommand, consent_id};
use sigil_domain::{NewUser, User as DomainUser, UserChanges, UserCommand};

use super::access_control::{Role, check_roles, roles_by_ids};
use super::error::{ApiError, ApiResult};
use super::organizations::{Organization, organizations_of};
use super::pagination::{Arg, Cursor, Listing, Page, like};
use super::{app, command_context, history, ids, new_id, settle};
use crate::state::AppState;
use crate::users;
use chrono::{DateTime, Utc};

pub struct User {
    pub id: String,
    pub user: DomainUser,
    /// Set when the user was folded as of that instant: roles, organizations and consents
    /// are then answered as of it too.
    pub as_of: Option<DateTime<Utc>>,
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn username(&self) -> Option<&str> {
        self.user.username()
    }
    async fn primary_email(&self) -> Option<&str> {
        self.user.primary_email()
    }
    async fn name(&self) -> Option<&str> {
        self.user.name()
    }
    /// A suspended user cannot sign in; their account and grants stay.
    async fn is_suspended(&self) -> bool {
        self.user.is_suspended()
    }
    /// Whether a password is set (it is never shown, not even hashed).
    async fn has_password(&self) -> bool {
        self.user.password_hash().is_some()
    }
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        let ac = history::access_control_at(app(ctx), history::instant(self.as_of)).await?;
        Ok(roles_by_ids(&ac, self.user.role_ids().iter()))
    }
    async fn organizations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Organization>> {
        Ok(match self.as_of {
            None => organizations_of(app(ctx), &self.id).await?,
            Some(t) => history::organizations_at(app(ctx), &self.id, t.timestamp_micros()).await?,
        })
    }
    /// The applications this user has consented to, and to what.
    async fn consents(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<history::Consent>> {
        Ok(history::consents_at(app(ctx), &self.id, history::instant(self.as_of)).await?)
    }
    /// The instant this answer is as of; null for now.
    async fn as_of(&self) -> Option<DateTime<Utc>> {
        self.as_of
    }
}

/// Loads a user that exists (suspended included, deleted not).
pub async fn load(state: &AppState, id: &str) -> ApiResult<User> {
    load_as_of(state, id, None).await
}

/// Loads a user as their stream stood at `as_of` (now when `None`); not found if they did
/// not exist then.
pub async fn load_as_of(
    state: &AppState,
    id: &str,
    as_of: Option<DateTime<Utc>>,
) -> ApiResult<User> {
    let (user, _) = state
        .commands
        .load_as_of::<DomainUser>(id, history::instant(as_of))
        .await?;
    if !(user.is_active() || user.is_suspended()) {
        return Err(ApiError::not_found("user"));
    }
    Ok(User {
        id: id.to_string(),
        user,
        as_of,
    })
}

#[derive(InputObject)]
pub struct CreateUserInput {
    username: Option<String>,
    primary_email: Option<String>,
    /// Checked against the password policy, stored only as an Argon2id hash.
    password: Option<String>,
    name: Option<String>,
}

/// `""` removes a field; an absent field is left as it is.
#[derive(InputObject)]
pub struct UpdateUserInput {
    username: Option<String>,
    primary_email: Option<String>,
    name: Option<String>,
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// A user as they are now, or as they were at `asOf` (their profile, roles,
    /// organizations and consents then), rebuilt from the log.
    async fn user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Option<User>> {
        match load_as_of(app(ctx), &id, as_of).await {
            Ok(u) => Ok(Some(u)),
            Err(e) if e.code == super::Code::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Users in the order they were created; `search` matches part of the username, email
    /// or name in any case.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
        is_suspended: Option<bool>,
    ) -> async_graphql::Result<Connection<Cursor, User, EmptyFields, EmptyFields>> {
        let state = app(ctx);
        let page = Page::new(first, after)?;
        let mut listing = Listing::new("rm_users");
        if let Some(s) = search {
            listing = listing.and(
                "(LOWER(COALESCE(username, '')) LIKE ? OR LOWER(COALESCE(primary_email, '')) LIKE ? \
                 OR LOWER(COALESCE(name, '')) LIKE ?)",
                Arg::Text(like(&s)),
            );
        }
        if let Some(suspended) = is_suspended {
            listing = listing.and("suspended = ?", Arg::Bool(suspended));
        }
        Ok(listing
            .fetch(state.store.pool(), &page, |id| async move {
                load(state, &id).await
            })
            .await?)
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> async_graphql::Result<User> {
        let state = app(ctx);
        let id = new_id();
        let new = NewUser {
            username: input.username,
            primary_email: input.primary_email,
            name: input.name,
            password_hash: None,
        };
        users::register(
            &state.commands,
            &id,
            new,
            input.password.as_deref(),
            &command_context(ctx),
        )
        .await
        .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(load(state, &id).await?)
    }

    async fn update_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateUserInput,
    ) -> async_graphql::Result<User> {
        let changes = UserChanges {
            username: input.username,
            primary_email: input.primary_email,
            name: input.name,
        };
        run(ctx, &id, UserCommand::Update(changes)).await
    }

    async fn set_user_password(
        &self,
        ctx: &Context<'_>,
        id: ID,
        password: String,
    ) -> async_graphql::Result<User> {
        let state = app(ctx);
        users::set_password(&state.commands, &id, &password, &command_context(ctx))
            .await
            .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(load(state, &id).await?)
    }

    /// The user can no longer sign in; tokens already issued stop at userinfo and refresh.
    async fn suspend_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        run(ctx, &id, UserCommand::Suspend).await
    }

    async fn reinstate_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        run(ctx, &id, UserCommand::Reinstate).await
    }

    /// Takes back everything the user consented to for `applicationId`: the next sign-in asks
    /// again, and a third-party application's refresh tokens stop working.
    async fn revoke_user_consent(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        application_id: ID,
    ) -> async_graphql::Result<User> {
        let state = app(ctx);
        state
            .commands
            .execute::<Consent>(
                &consent_id(&user_id, &application_id),
                ConsentCommand::Revoke,
                &command_context(ctx),
            )
            .await
            .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(load(state, &user_id).await?)
    }

    /// Deletes the user and frees their username and email. Returns the id.
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let state = app(ctx);
        users::delete(&state.commands, &id, &command_context(ctx))
            .await
            .map_err(ApiError::from)?;
        settle(state).await?;
        Ok(id)
    }

    /// Gives a user roles, and with them the scopes the roles hold.
    async fn assign_user_roles(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role_ids: Vec<ID>,
    ) -> async_graphql::Result<User> {
        let role_ids: Vec<String> = ids(role_ids);
        check_roles(app(ctx), &role_ids, RoleKind::User).await?;
        run(ctx, &user_id, UserCommand::AssignRoles { role_ids }).await
    }

    async fn remove_user_roles(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role_ids: Vec<ID>,
    ) -> async_graphql::Result<User> {
        let role_ids = ids(role_ids);
        run(ctx, &user_id, UserCommand::RemoveRoles { role_ids }).await
    }
}

async fn run(ctx: &Context<'_>, id: &str, command: UserCommand) -> async_graphql::Result<User> {
    let state = app(ctx);
    users::execute(&state.commands, id, command, &command_context(ctx))
        .await
        .map_err(ApiError::from)?;
    settle(state).await?;
    Ok(load(state, id).await?)
}
