//! The write side: commands go to `cqrs-es` frameworks over the log. The api supplies what
//! the pure domain may not produce itself: the time, and who asked (actor, ip, user agent,
//! request id), which become each event's metadata.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework};
use sigil_domain::{
    Application, ApplicationCommand, ApplicationError, User, UserCommand, UserError,
};
use sigil_eventstore::{EventRepository, EventStore, OCCURRED_AT_KEY};

type Framework<A> = CqrsFramework<A, PersistedEventStore<EventRepository, A>>;

/// Who asked for a change, and when: written beside every event it causes.
#[derive(Clone, Debug)]
pub struct CommandContext {
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub now: DateTime<Utc>,
}

impl CommandContext {
    /// A change made from the command line or by the server itself.
    pub fn system(actor: &str) -> CommandContext {
        CommandContext {
            actor: Some(actor.to_string()),
            ip: None,
            user_agent: None,
            request_id: None,
            now: Utc::now(),
        }
    }

    fn metadata(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert(
            OCCURRED_AT_KEY.to_string(),
            self.now.to_rfc3339_opts(SecondsFormat::Micros, true),
        );
        for (key, value) in [
            ("actor", &self.actor),
            ("ip", &self.ip),
            ("user_agent", &self.user_agent),
            ("request_id", &self.request_id),
        ] {
            if let Some(value) = value {
                m.insert(key.to_string(), value.clone());
            }
        }
        m
    }
}

/// Why a command did not change anything.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The domain refused it; the message is for the person who asked.
    #[error("{0}")]
    Rejected(E),
    /// Another command changed the same aggregate first; reload and retry, or report.
    #[error("the record was changed by another request at the same time; try again")]
    Conflict,
    #[error("the event store failed: {0}")]
    Store(String),
}

impl<E: std::error::Error> From<AggregateError<E>> for CommandError<E> {
    fn from(e: AggregateError<E>) -> Self {
        match e {
            AggregateError::UserError(e) => CommandError::Rejected(e),
            AggregateError::AggregateConflict => CommandError::Conflict,
            other => CommandError::Store(other.to_string()),
        }
    }
}

/// One framework per aggregate, sharing one store.
pub struct Commands {
    applications: Framework<Application>,
    users: Framework<User>,
}

fn framework<A: Aggregate<Services = ()>>(store: &EventStore) -> Framework<A> {
    let events = PersistedEventStore::new_event_store(EventRepository::new(store.clone()));
    CqrsFramework::new(events, vec![], ())
}

impl Commands {
    pub fn new(store: &EventStore) -> Commands {
        Commands {
            applications: framework(store),
            users: framework(store),
        }
    }

    pub async fn application(
        &self,
        id: &str,
        command: ApplicationCommand,
        context: &CommandContext,
    ) -> Result<(), CommandError<ApplicationError>> {
        Ok(self
            .applications
            .execute_with_metadata(id, command, context.metadata())
            .await?)
    }

    pub async fn user(
        &self,
        id: &str,
        command: UserCommand,
        context: &CommandContext,
    ) -> Result<(), CommandError<UserError>> {
        Ok(self
            .users
            .execute_with_metadata(id, command, context.metadata())
            .await?)
    }
}
