//! Streams kept in memory between commands, and the one rule for deciding on them: a
//! decision on a kept state is proven current by its commit (a stream moved since
//! conflicts), and anything else decided on it (a refusal, say) is decided again on the
//! state the log has.

use std::collections::HashMap;
use std::future::Future;

use cqrs_es::Aggregate;
use sigil_eventstore::StoreError;

use super::{Commands, decode};

/// A folded stream kept between loads, and the sequence it was folded to.
pub(super) type Folded = (Box<dyn std::any::Any + Send + Sync>, i64);

/// More folded streams than this and the memory starts over.
const MAX_FOLDED: usize = 50_000;

impl Commands {
    /// [`Commands::load`] for a stream that keeps growing (a refresh-token family gains an
    /// event at every rotation, a user at every sign-in): the state folded last time is kept,
    /// and only the events after it are read and applied. As strongly consistent as `load`,
    /// since the log is still asked for anything newer; only the replay is saved.
    pub async fn load_folded<A>(&self, id: &str) -> Result<(A, i64), StoreError>
    where
        A: Aggregate + Clone + std::any::Any + Send + Sync,
    {
        let (mut aggregate, mut version) = self.kept::<A>(id).unwrap_or_default();
        let newer = self.store.stream(A::TYPE, id, version).await?;
        if newer.is_empty() {
            return Ok((aggregate, version));
        }
        for stored in newer {
            aggregate.apply(decode::<A>(&stored)?);
            version = stored.sequence;
        }
        self.keep(id, aggregate.clone(), version);
        Ok((aggregate, version))
    }

    /// The state [`Commands::load_folded`] keeps for the stream, without asking the log
    /// whether it is still current. Only for a command whose commit proves it current: one
    /// decided on a state the stream has since moved past conflicts at commit, and anything
    /// else it decides (a refusal, say) must be decided again on the state `load_folded`
    /// gives.
    pub fn kept<A>(&self, id: &str) -> Option<(A, i64)>
    where
        A: Aggregate + Clone + std::any::Any + Send + Sync,
    {
        let memory = self.folded_memory();
        let (state, version) = memory.get(&(A::TYPE, id.to_string()))?;
        Some((state.downcast_ref::<A>()?.clone(), *version))
    }

    /// Keeps a stream's state as of `version`: folded from the log, or just committed by
    /// this process.
    pub fn keep<A>(&self, id: &str, aggregate: A, version: i64)
    where
        A: Aggregate + std::any::Any + Send + Sync,
    {
        let key = (A::TYPE, id.to_string());
        let mut memory = self.folded_memory();
        // A concurrent load or commit may have kept a later state already.
        if memory.get(&key).is_none_or(|(_, kept)| *kept < version) {
            if memory.len() >= MAX_FOLDED {
                memory.clear();
            }
            memory.insert(key, (Box::new(aggregate), version));
        }
    }

    /// Keeps the state a command was decided on, `(aggregate, version)`, with the events its
    /// commit has just written applied.
    pub fn keep_committed<A>(
        &self,
        id: &str,
        (mut aggregate, version): (A, i64),
        events: &[A::Event],
    ) where
        A: Aggregate + std::any::Any + Send + Sync,
    {
        events
            .iter()
            .for_each(|event| aggregate.apply(event.clone()));
        self.keep(id, aggregate, version + events.len() as i64);
    }

    /// Drops a kept stream that will not be used again (a redeemed code).
    pub fn forget<A: Aggregate>(&self, id: &str) {
        self.folded_memory().remove(&(A::TYPE, id.to_string()));
    }

    fn folded_memory(&self) -> std::sync::MutexGuard<'_, HashMap<(&'static str, String), Folded>> {
        self.folded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A stream's state, with its version, to decide a command on.
pub enum Current<A> {
    /// As this process kept it ([`Commands::kept`]): perhaps stale.
    Kept((A, i64)),
    /// As the log has it.
    Log((A, i64)),
}

impl<A> Current<A> {
    pub fn state(&self) -> &A {
        match self {
            Current::Kept((state, _)) | Current::Log((state, _)) => state,
        }
    }

    /// The state and its version, and whether it was kept.
    pub fn into_parts(self) -> ((A, i64), bool) {
        match self {
            Current::Kept(state) => (state, true),
            Current::Log(state) => (state, false),
        }
    }
}

/// Why a decision on a [`Current`] state gave no answer.
pub enum Retry<E> {
    /// Decided on a state the log may have moved past (a refusal on a kept state, or a
    /// commit that conflicted): decide again on the log's.
    Stale(E),
    /// The answer.
    Final(E),
}

impl<E> Retry<E> {
    /// A refusal: decided on a kept state it may be stale; on the log's it is the answer.
    pub fn refusal(on_kept: bool, e: E) -> Self {
        if on_kept {
            Retry::Stale(e)
        } else {
            Retry::Final(e)
        }
    }
}

/// A plain error is the answer: only what says so is decided again.
impl<E> From<E> for Retry<E> {
    fn from(e: E) -> Self {
        Retry::Final(e)
    }
}

impl Commands {
    /// The stream as this process kept it, or else as the log has it (which is then kept).
    pub async fn kept_or_log<A>(&self, id: &str) -> Result<Current<A>, StoreError>
    where
        A: Aggregate + Clone + std::any::Any + Send + Sync,
    {
        match self.kept::<A>(id) {
            Some(kept) => Ok(Current::Kept(kept)),
            None => Ok(Current::Log(self.load_folded(id).await?)),
        }
    }

    /// Runs `attempt` on `first`, then on the log's state each time it answers
    /// [`Retry::Stale`], `tries` times in all; the last stale error is the answer. Several
    /// tries, for a third request racing the second.
    pub async fn decide_until_current<A, T, E, F>(
        &self,
        id: &str,
        first: Current<A>,
        tries: usize,
        mut attempt: impl FnMut(Current<A>) -> F,
    ) -> Result<T, E>
    where
        A: Aggregate + Clone + std::any::Any + Send + Sync,
        F: Future<Output = Result<T, Retry<E>>>,
        E: From<StoreError>,
    {
        let mut current = first;
        for _ in 1..tries.max(1) {
            match attempt(current).await {
                Ok(answer) => return Ok(answer),
                Err(Retry::Final(e)) => return Err(e),
                // Folding the newer events also replaces the stale copy kept.
                Err(Retry::Stale(_)) => current = Current::Log(self.load_folded(id).await?),
            }
        }
        attempt(current)
            .await
            .map_err(|(Retry::Stale(e) | Retry::Final(e))| e)
    }
}
