//! The write side: commands go to `cqrs-es` frameworks over the log. The api supplies what
//! the pure domain may not produce itself: the time, and who asked (actor, ip, user agent,
//! request id), which become each event's metadata.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, DomainEvent};
use futures::future::BoxFuture;
use sigil_domain::{
    Application, ApplicationCommand, ApplicationError, SigningKey, SigningKeyCommand,
    SigningKeyError, User, UserCommand, UserError,
};
use sigil_eventstore::sqlx::{self, AnyConnection};
use sigil_eventstore::{AppendTx, EventRepository, EventStore, OCCURRED_AT_KEY};
use sigil_eventstore::{EventMetadata, NewEvent, StoreError, StoredEvent, utc_to_micros};

use crate::group_commit::GroupCommit;
use crate::hot::HotAggregates;

mod kept;
use kept::Folded;
pub use kept::{Current, Retry};

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
    /// A lookup row that must be unique (a username, say) is already held by another
    /// aggregate; the caller knows which value it was and says so. The text is the
    /// database's, naming the constraint and never the value.
    #[error("that value is already taken ({0})")]
    Duplicate(String),
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
    store: EventStore,
    /// The committing tasks ([`crate::group_commit`]), started by the first commit.
    group: std::sync::OnceLock<GroupCommit>,
    /// Applications and RBAC definitions in memory (see [`crate::hot`]).
    hot: std::sync::Arc<HotAggregates>,
    /// Streams folded by [`Commands::load_folded`], with the sequence each was folded to.
    folded: std::sync::Mutex<HashMap<(&'static str, String), Folded>>,
    applications: Framework<Application>,
    users: Framework<User>,
    signing_keys: Framework<SigningKey>,
}

impl<E: std::error::Error> From<StoreError> for CommandError<E> {
    fn from(e: StoreError) -> Self {
        if e.is_conflict() {
            CommandError::Conflict
        } else {
            CommandError::Store(e.to_string())
        }
    }
}

impl<E: std::error::Error> From<sqlx::Error> for CommandError<E> {
    fn from(e: sqlx::Error) -> Self {
        CommandError::Store(e.to_string())
    }
}

/// Writes lookup rows for a command's events inside the transaction that appends them.
/// It may be run more than once, each time in a new transaction: SQLite's group commit
/// writes a batch again, command by command, when one of its commands is refused.
pub type Index<'a, E> = Box<
    dyn for<'c> Fn(&'c mut AnyConnection, &'c [E]) -> BoxFuture<'c, Result<(), sqlx::Error>>
        + Send
        + Sync
        + 'a,
>;

fn framework<A: Aggregate<Services = ()>>(store: &EventStore) -> Framework<A> {
    let events = PersistedEventStore::new_event_store(EventRepository::new(store.clone()));
    CqrsFramework::new(events, vec![], ())
}

impl Commands {
    pub fn new(store: &EventStore) -> Commands {
        Commands {
            store: store.clone(),
            group: std::sync::OnceLock::new(),
            hot: std::sync::Arc::new(HotAggregates::new(store.clone())),
            folded: std::sync::Mutex::new(HashMap::new()),
            applications: framework(store),
            users: framework(store),
            signing_keys: framework(store),
        }
    }

    pub async fn application(
        &self,
        id: &str,
        command: ApplicationCommand,
        context: &CommandContext,
    ) -> Result<(), CommandError<ApplicationError>> {
        let result = self
            .applications
            .execute_with_metadata(id, command, context.metadata())
            .await;
        self.hot.evict(Application::TYPE, id);
        Ok(result?)
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

    pub async fn signing_key(
        &self,
        id: &str,
        command: SigningKeyCommand,
        context: &CommandContext,
    ) -> Result<(), CommandError<SigningKeyError>> {
        Ok(self
            .signing_keys
            .execute_with_metadata(id, command, context.metadata())
            .await?)
    }
}

impl Commands {
    /// The in-memory copies of hot aggregates; the server runs their follower.
    pub fn hot(&self) -> &std::sync::Arc<HotAggregates> {
        &self.hot
    }

    /// A hot aggregate's current state (an application, the RBAC definitions), from memory
    /// when this process has it and no change has been seen since. For the request path;
    /// a command deciding on the aggregate loads it with [`Commands::load`].
    pub async fn current<A>(&self, id: &str) -> Result<std::sync::Arc<A>, StoreError>
    where
        A: Aggregate + std::any::Any + Send + Sync,
    {
        self.hot.get::<A>(id).await
    }

    /// The aggregate's current state, loaded from its stream (strongly consistent), and the
    /// sequence of its last event (0 when it has none).
    pub async fn load<A: Aggregate>(&self, id: &str) -> Result<(A, i64), StoreError> {
        let (aggregate, last) = self.load_as_of::<A>(id, i64::MAX).await?;
        Ok((aggregate, last.map_or(0, |e| e.sequence)))
    }

    /// The aggregate as its stream stood at `as_of` (microseconds): only the events that had
    /// occurred by then are applied. Point-in-time answers come from the log itself, so they
    /// cannot drift from it. Also returns the last event applied.
    pub async fn load_as_of<A: Aggregate>(
        &self,
        id: &str,
        as_of: i64,
    ) -> Result<(A, Option<StoredEvent>), StoreError> {
        fold_as_of(self.store.stream(A::TYPE, id, 0).await?, as_of)
    }
}

/// One stored event as the aggregate's event type; unreadable means the log is corrupt.
fn decode<A: Aggregate>(stored: &StoredEvent) -> Result<A::Event, StoreError> {
    serde_json::from_str(&stored.payload).map_err(|e| StoreError::Corrupt {
        position: stored.position,
        reason: e.to_string(),
    })
}

/// Applies a stream's events, in order, up to the first that occurred after `as_of`.
/// Returns the aggregate and the last event applied.
pub fn fold_as_of<A: Aggregate>(
    stream: Vec<StoredEvent>,
    as_of: i64,
) -> Result<(A, Option<StoredEvent>), StoreError> {
    let mut aggregate = A::default();
    let mut last = None;
    for stored in stream {
        if stored.occurred_at > as_of {
            break;
        }
        aggregate.apply(decode::<A>(&stored)?);
        last = Some(stored);
    }
    Ok((aggregate, last))
}

impl Commands {
    /// Runs a command through the log's own transaction, with no lookup to write.
    pub async fn execute<A>(
        &self,
        id: &str,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<Vec<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate<Services = ()>,
        A::Event: 'static,
    {
        self.execute_indexed::<A>(
            id,
            command,
            context,
            Box::new(|_, _| Box::pin(async { Ok(()) })),
        )
        .await
    }

    /// Runs a command whose events need a lookup row written atomically with them (a token
    /// digest, for instance): the aggregate decides, then one transaction appends the events
    /// and runs `index`. Racing commands on one aggregate: one wins, the other gets
    /// `Conflict`.
    pub async fn execute_indexed<A>(
        &self,
        id: &str,
        command: A::Command,
        context: &CommandContext,
        index: Index<'static, A::Event>,
    ) -> Result<Vec<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate<Services = ()>,
        A::Event: 'static,
    {
        let loaded = self.load::<A>(id).await?;
        self.execute_loaded::<A>(id, loaded, command, context, index)
            .await
    }

    /// [`Commands::execute_indexed`] on a state the caller already has: just loaded, or the
    /// empty state of a stream whose id it has just made up. A stale state only costs a
    /// `Conflict` at commit.
    pub async fn execute_loaded<A>(
        &self,
        id: &str,
        loaded: (A, i64),
        command: A::Command,
        context: &CommandContext,
        index: Index<'static, A::Event>,
    ) -> Result<Vec<A::Event>, CommandError<A::Error>>
    where
        A: Aggregate<Services = ()>,
        A::Event: 'static,
    {
        let (decision, events) = self
            .decide_loaded::<A>(id, loaded, command, context, index)
            .await?;
        self.commit(vec![decision])
            .await
            .map_err(CommandError::from_commit)?;
        Ok(events)
    }

    /// Lets an aggregate decide a command without writing anything yet. Several decisions,
    /// on different aggregates, can then be committed together by [`Commands::commit`]: all
    /// their events and lookup rows in one transaction, or none.
    pub async fn decide<A>(
        &self,
        id: &str,
        command: A::Command,
        context: &CommandContext,
        index: Index<'static, A::Event>,
    ) -> Result<(Decision, Vec<A::Event>), CommandError<A::Error>>
    where
        A: Aggregate<Services = ()>,
        A::Event: 'static,
    {
        let loaded = self.load::<A>(id).await?;
        self.decide_loaded::<A>(id, loaded, command, context, index)
            .await
    }

    /// [`Commands::decide`] on a state the caller has just loaded (with its version), so a
    /// handler that had to read the aggregate first does not read it twice. A stale state
    /// only costs a `Conflict` at commit.
    pub async fn decide_loaded<A>(
        &self,
        id: &str,
        (mut aggregate, version): (A, i64),
        command: A::Command,
        context: &CommandContext,
        index: Index<'static, A::Event>,
    ) -> Result<(Decision, Vec<A::Event>), CommandError<A::Error>>
    where
        A: Aggregate<Services = ()>,
        A::Event: 'static,
    {
        let sink = EventSink::default();
        aggregate
            .handle(command, &(), &sink)
            .await
            .map_err(CommandError::Rejected)?;
        let events = sink.collect().await;
        let metadata = serde_json::to_string(&EventMetadata {
            actor: context.actor.clone(),
            ip: context.ip.clone(),
            user_agent: context.user_agent.clone(),
            request_id: context.request_id.clone(),
        })
        .map_err(|e| CommandError::Store(e.to_string()))?;
        let mut rows = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            rows.push(NewEvent {
                aggregate_type: A::TYPE.to_string(),
                aggregate_id: id.to_string(),
                sequence: version + 1 + i as i64,
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload: serde_json::to_string(event)
                    .map_err(|e| CommandError::Store(e.to_string()))?,
                metadata: metadata.clone(),
                occurred_at: utc_to_micros(context.now),
            });
        }
        let write: Writer = Box::new(Indexed {
            index,
            events: events.clone(),
        });
        Ok((Decision { rows, write }, events))
    }

    /// Appends every decision's events and writes their lookup rows in one transaction. If
    /// any stream moved since its decision was made, nothing is written (`Conflict`). The
    /// transaction is shared with the commands committing at the same moment
    /// ([`crate::group_commit`]); each still commits all of its rows or none.
    pub async fn commit(
        &self,
        decisions: Vec<Decision>,
    ) -> Result<(), CommandError<std::convert::Infallible>> {
        if decisions.iter().all(|d| d.rows.is_empty()) {
            return Ok(());
        }
        let (rows, writers): (Vec<_>, Vec<_>) =
            decisions.into_iter().map(|d| (d.rows, d.write)).unzip();
        let moved: Vec<(String, String)> = rows
            .iter()
            .filter_map(|rows| rows.first())
            .filter(|row| crate::hot::is_hot(&row.aggregate_type))
            .map(|row| (row.aggregate_type.clone(), row.aggregate_id.clone()))
            .collect();
        let result = self.commit_rows(rows, writers).await;
        // Whatever the outcome (a failed commit may still have reached the disk), this
        // process's next read of these streams goes to the log.
        for (aggregate_type, id) in moved {
            self.hot.evict(&aggregate_type, &id);
        }
        result
    }

    async fn commit_rows(
        &self,
        rows: Vec<Vec<NewEvent>>,
        writers: Vec<Writer>,
    ) -> Result<(), CommandError<std::convert::Infallible>> {
        let group = self
            .group
            .get_or_init(|| GroupCommit::start(self.store.clone()));
        match group.commit(rows, writers).await {
            Ok(result) => result,
            // The committing tasks' runtime has ended: commit alone.
            Err((rows, writers)) => commit_alone(&self.store, &rows, &writers).await,
        }
    }
}

/// Commits decisions' rows in a transaction of their own: all of them or none.
pub(crate) async fn commit_alone(
    store: &EventStore,
    rows: &[Vec<NewEvent>],
    writers: &[Writer],
) -> Result<(), CommandError<std::convert::Infallible>> {
    let mut tx = store.begin().await?;
    write(
        &mut tx,
        &events_of(rows),
        &writers.iter().collect::<Vec<_>>(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The events of several decisions, in order.
pub(crate) fn events_of<'a>(
    rows: impl IntoIterator<Item = &'a Vec<NewEvent>>,
) -> Vec<&'a NewEvent> {
    rows.into_iter().flatten().collect()
}

/// Appends the events and runs the lookup writers inside `tx`: the events of every decision
/// go in together, then the lookups.
pub(crate) async fn write(
    tx: &mut AppendTx,
    events: &[&NewEvent],
    writers: &[&Writer],
) -> Result<(), CommandError<std::convert::Infallible>> {
    tx.append_all(events).await?;
    for writer in writers {
        if let Err(e) = writer.write(tx.connection()).await {
            // A unique lookup row already held is the caller's mistake to report, not a
            // failure of the store.
            return Err(match e {
                sqlx::Error::Database(e) if e.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                    CommandError::Duplicate(e.message().to_string())
                }
                e => e.into(),
            });
        }
    }
    Ok(())
}

/// A command an aggregate has decided, not yet written (see [`Commands::decide`]).
pub struct Decision {
    rows: Vec<NewEvent>,
    write: Writer,
}

impl Decision {
    /// A decision that changes nothing.
    pub fn nothing() -> Decision {
        Decision {
            rows: Vec::new(),
            write: Box::new(Indexed::<()> {
                index: Box::new(|_, _| Box::pin(async { Ok(()) })),
                events: Vec::new(),
            }),
        }
    }
}

/// The lookup rows of one decided command, ready to be written (again, if a group commit
/// retries its batch).
pub(crate) trait WriteLookups: Send + Sync {
    fn write<'c>(&'c self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Result<(), sqlx::Error>>;
}

pub(crate) type Writer = Box<dyn WriteLookups>;

/// A command's [`Index`] with the events it indexes.
struct Indexed<E> {
    index: Index<'static, E>,
    events: Vec<E>,
}

impl<E: Send + Sync> WriteLookups for Indexed<E> {
    fn write<'c>(&'c self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        (self.index)(conn, &self.events)
    }
}

impl<E: std::error::Error> CommandError<E> {
    /// A commit's error, as any command's error.
    pub fn from_commit(e: CommandError<std::convert::Infallible>) -> Self {
        match e {
            CommandError::Rejected(never) => match never {},
            CommandError::Conflict => CommandError::Conflict,
            CommandError::Duplicate(d) => CommandError::Duplicate(d),
            CommandError::Store(s) => CommandError::Store(s),
        }
    }
}
