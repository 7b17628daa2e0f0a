//! Hot aggregates: the applications and the RBAC definitions that every token request
//! consults, kept in memory instead of replayed from their streams on each request.
//!
//! An entry is the aggregate folded from its whole stream. It is dropped when the stream
//! moves: at once for this process's own commits ([`HotAggregates::evict`], called by
//! `Commands::commit`), and for other processes' commits (another node on PostgreSQL, the CLI
//! on SQLite) by [`HotAggregates::follow`], which reads the log up to its safe frontier,
//! woken by the log's notifications and by a short poll. The next read loads the stream
//! again. A load that raced an eviction is used but not kept (the generation check), so a
//! stale state is never cached past the eviction meant to remove it.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cqrs_es::Aggregate;
use sigil_domain::Application;
use sigil_domain::access_control::AccessControl;
use sigil_eventstore::{EventStore, StoreError};
use tokio::sync::watch;

use crate::commands::fold_as_of;

/// How often the follower looks at the log when nothing woke it: bounds how long another
/// process's change (the CLI's, on SQLite, which sends no notification) goes unseen.
const POLL: Duration = Duration::from_millis(100);

/// The least time between two reads of the log by the follower.
const REST: Duration = Duration::from_millis(20);

/// More entries than this and the cache starts over: applications are few, and a flood of
/// unknown client ids must not grow memory without bound.
const MAX_ENTRIES: usize = 10_000;

type Key = (&'static str, String);
type Entry = Arc<dyn Any + Send + Sync>;

pub struct HotAggregates {
    store: EventStore,
    entries: RwLock<HashMap<Key, Entry>>,
    /// Bumped by every eviction; a load keeps its result only if no eviction happened
    /// while it read the stream.
    generation: AtomicU64,
    /// Whether [`HotAggregates::follow`] runs: without it nothing tells us about other
    /// processes' changes, so nothing is kept (the CLI, for instance).
    following: AtomicBool,
}

/// Only these types are cached: read on every request, changed by administrators.
const HOT_TYPES: [&str; 2] = [Application::TYPE, AccessControl::TYPE];

pub fn is_hot(aggregate_type: &str) -> bool {
    HOT_TYPES.contains(&aggregate_type)
}

impl HotAggregates {
    pub fn new(store: EventStore) -> HotAggregates {
        HotAggregates {
            store,
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            following: AtomicBool::new(false),
        }
    }

    /// The aggregate's current state: from memory, or loaded from its stream.
    pub async fn get<A>(&self, id: &str) -> Result<Arc<A>, StoreError>
    where
        A: Aggregate + Any + Send + Sync,
    {
        debug_assert!(is_hot(A::TYPE), "{} is not a hot aggregate", A::TYPE);
        let key = (A::TYPE, id.to_string());
        if let Some(entry) = self.read().get(&key).cloned()
            && let Ok(aggregate) = entry.downcast::<A>()
        {
            return Ok(aggregate);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let (aggregate, _) = fold_as_of::<A>(self.store.stream(A::TYPE, id, 0).await?, i64::MAX)?;
        let aggregate = Arc::new(aggregate);
        let mut entries = self.write();
        // Checked under the lock that evictions take, so none can slip in between.
        if self.following.load(Ordering::SeqCst)
            && self.generation.load(Ordering::SeqCst) == generation
        {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, aggregate.clone());
        }
        Ok(aggregate)
    }

    /// Forgets one stream's state because it has moved.
    pub fn evict(&self, aggregate_type: &str, id: &str) {
        let Some(hot_type) = HOT_TYPES.iter().find(|t| **t == aggregate_type) else {
            return;
        };
        let mut entries = self.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(&(*hot_type, id.to_string()));
    }

    /// Evicts what other processes change, until `shutdown` turns true. Caching starts
    /// once the follower knows where the log stands, and stops whenever it cannot read it.
    pub async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut wake = self.store.appended();
        let mut after = None;
        while !*shutdown.borrow() {
            let moved = match after {
                None => self.store.safe_position().await.map(|p| (p, Vec::new())),
                Some(after) => self.store.streams_moved(after, &HOT_TYPES).await,
            };
            match moved {
                Ok((through, keys)) => {
                    for (aggregate_type, id) in keys {
                        self.evict(&aggregate_type, &id);
                    }
                    if after.is_none() {
                        self.following.store(true, Ordering::SeqCst);
                    }
                    after = Some(through);
                }
                Err(e) => {
                    // Without the log we cannot tell what moved: keep nothing until it is back.
                    tracing::warn!(error = %e, "cannot follow the log; hot aggregates are off");
                    self.following.store(false, Ordering::SeqCst);
                    self.clear();
                    after = None;
                }
            }
            // Under load the log moves every few milliseconds, and this process's own commits
            // evict at once: a short rest between passes keeps the follower to a few reads a
            // second without making another node's change wait noticeably longer.
            tokio::select! {
                _ = async {
                    tokio::time::sleep(REST).await;
                    let _ = tokio::time::timeout(POLL, wake.changed()).await;
                } => {}
                _ = shutdown.changed() => {}
            }
        }
        self.following.store(false, Ordering::SeqCst);
        self.clear();
    }

    fn clear(&self) {
        let mut entries = self.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Key, Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use cqrs_es::Aggregate;
    use sigil_domain::Application;
    use sigil_eventstore::testing::TestDatabase;

    use crate::applications::{register, rotate_secret};
    use crate::commands::{CommandContext, Commands};
    use crate::oidc::tokens::digest;

    fn m2m() -> sigil_domain::NewApplication {
        sigil_domain::NewApplication {
            name: "m2m".into(),
            description: None,
            app_type: sigil_domain::ApplicationType::MachineToMachine,
            is_third_party: false,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            cors_allowed_origins: vec![],
            client_secret_digest: None,
        }
    }

    /// With no follower running, only the commit's own eviction can refresh a held copy;
    /// another writer's change stays unseen, which shows the copy really is held.
    #[tokio::test]
    async fn a_commit_evicts_what_it_changed_and_only_that() {
        for db in TestDatabase::all().await {
            let context = CommandContext::system("test");
            let here = Commands::new(&db.store);
            here.hot().following.store(true, Ordering::SeqCst);
            let elsewhere = Commands::new(&db.store);
            let first = register(&here, "m2m", m2m(), &context)
                .await
                .unwrap()
                .unwrap();
            let held = here.current::<Application>("m2m").await.unwrap();
            assert_eq!(held.client_secret_digest(), Some(digest(&first).as_str()));

            let second = rotate_secret(&here, "m2m", &context).await.unwrap();
            let held = here.current::<Application>("m2m").await.unwrap();
            assert_eq!(held.client_secret_digest(), Some(digest(&second).as_str()));

            rotate_secret(&elsewhere, "m2m", &context).await.unwrap();
            let held = here.current::<Application>("m2m").await.unwrap();
            assert_eq!(held.client_secret_digest(), Some(digest(&second).as_str()));
            // What the follower does when it reads that change from the log.
            here.hot().evict(Application::TYPE, "m2m");
            let held = here.current::<Application>("m2m").await.unwrap();
            assert_ne!(held.client_secret_digest(), Some(digest(&second).as_str()));
        }
    }

    /// Without a follower (the CLI), nothing is held: every read is the log's.
    #[tokio::test]
    async fn without_a_follower_nothing_is_held() {
        let db = TestDatabase::sqlite().await;
        let context = CommandContext::system("test");
        let here = Commands::new(&db.store);
        let elsewhere = Commands::new(&db.store);
        register(&here, "m2m", m2m(), &context).await.unwrap();
        here.current::<Application>("m2m").await.unwrap();
        let latest = rotate_secret(&elsewhere, "m2m", &context).await.unwrap();
        let read = here.current::<Application>("m2m").await.unwrap();
        assert_eq!(read.client_secret_digest(), Some(digest(&latest).as_str()));
    }
}
