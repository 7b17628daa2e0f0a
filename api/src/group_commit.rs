//! Group commit. SQLite has one writer, and with `synchronous = FULL` every
//! commit waits for the disk: one transaction per command caps the token endpoint at the
//! disk's commit rate. Here one task commits for everyone. It takes every command waiting
//! when it starts a transaction, writes them all, and commits them with one sync. Nobody
//! hears "done" before the commit that holds their events has returned, so durability is
//! what it was.
//!
//! A command may be refused at write time (a conflict, a taken lookup value), and it must
//! fail alone. Refusals are rare, so a batch is first written with no savepoints: a
//! savepoint is one more statement per command on the single writer, and while one is open
//! SQLite copies every page it changes into a statement journal (together about a fifth of
//! `client_credentials` throughput). When a command is refused, that transaction is rolled
//! back and the batch written again, each command in a savepoint of its own; the refused
//! one is rolled back to its savepoint and told so, and the others commit.
//!
//! PostgreSQL groups the WAL flushes of concurrent transactions itself, but each transaction
//! still costs its round trips (`BEGIN`, the transaction id the frontier needs, the inserts,
//! `COMMIT`) and its work in a server that shares the machine's cores, so commands share
//! transactions there too. One committing task was measured faster than two or four taking
//! turns, and it keeps the projection lag lower: one transaction in flight at a time holds
//! the subscription frontier back the least (decision 0003).

use std::convert::Infallible;

use sigil_eventstore::{AppendTx, Backend, EventStore, NewEvent};
use tokio::sync::{mpsc, oneshot};

use crate::commands::{CommandError, Writer, commit_alone, events_of, write};

/// The most commands one transaction takes: bounds how long the write lock is held.
const MAX_BATCH: usize = 128;

type Reply = oneshot::Sender<Result<(), CommandError<Infallible>>>;

struct Unit {
    rows: Vec<Vec<NewEvent>>,
    writers: Vec<Writer>,
    reply: Reply,
}

/// The way to the committing task.
pub(crate) struct GroupCommit {
    sender: mpsc::UnboundedSender<Unit>,
}

impl GroupCommit {
    /// Starts the committing task, for as long as the current runtime lives. SQLite's one
    /// runs on a thread of its own ([`crate::own_thread`]): its statements are answered from
    /// SQLite's connection thread, and it holds the single writer.
    pub(crate) fn start(store: EventStore) -> GroupCommit {
        let (sender, receiver) = mpsc::unbounded_channel();
        match store.backend() {
            Backend::Sqlite => {
                crate::own_thread::spawn("sigil-group-commit", run(store, receiver));
            }
            Backend::Postgres => {
                tokio::spawn(run(store, receiver));
            }
        }
        GroupCommit { sender }
    }

    /// Commits one command's events and lookup rows with whatever else is waiting. Gives the
    /// command back when the task is gone (its runtime ended), for the caller to commit alone.
    pub(crate) async fn commit(
        &self,
        rows: Vec<Vec<NewEvent>>,
        writers: Vec<Writer>,
    ) -> Result<Result<(), CommandError<Infallible>>, (Vec<Vec<NewEvent>>, Vec<Writer>)> {
        let (reply, answer) = oneshot::channel();
        if let Err(unsent) = self.sender.send(Unit {
            rows,
            writers,
            reply,
        }) {
            return Err((unsent.0.rows, unsent.0.writers));
        }
        Ok(answer.await.unwrap_or_else(|_| {
            Err(CommandError::Store(
                "the committing task stopped before answering".into(),
            ))
        }))
    }
}

async fn run(store: EventStore, mut receiver: mpsc::UnboundedReceiver<Unit>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(unit) => batch.push(unit),
                Err(_) => break,
            }
        }
        commit_batch(&store, batch).await;
    }
}

async fn commit_batch(store: &EventStore, mut batch: Vec<Unit>) {
    // A command with nobody to share its transaction needs no savepoint: its failure rolls
    // back only itself anyway.
    if batch.len() == 1
        && let Some(unit) = batch.pop()
    {
        let result = commit_alone(store, &unit.rows, &unit.writers).await;
        let _ = unit.reply.send(result);
        return;
    }
    match together(store, &batch).await {
        Ok(()) => {
            for unit in batch {
                let _ = unit.reply.send(Ok(()));
            }
        }
        // A refusal, or a failing store: the retry, command by command, tells which.
        Err(_) => one_by_one(store, batch).await,
    }
}

/// Writes and commits every command of `batch` in one transaction with no savepoints: all
/// their events in a few multi-row inserts, then their lookups.
async fn together(store: &EventStore, batch: &[Unit]) -> Result<(), CommandError<Infallible>> {
    let mut tx = store.begin().await?;
    let events = events_of(batch.iter().flat_map(|u| &u.rows));
    let writers: Vec<&Writer> = batch.iter().flat_map(|u| &u.writers).collect();
    if let Err(e) = write(&mut tx, &events, &writers).await {
        tx.rollback().await?;
        return Err(e);
    }
    tx.commit().await?;
    Ok(())
}

/// Writes each command of `batch` in a savepoint of its own, so that a refused one is undone
/// alone, and commits the rest.
async fn one_by_one(store: &EventStore, batch: Vec<Unit>) {
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail(batch.into_iter().map(|u| u.reply), &e.to_string()),
    };
    let mut written = Vec::with_capacity(batch.len());
    let mut pending = batch.into_iter();
    while let Some(unit) = pending.next() {
        match part(&mut tx, &unit.rows, &unit.writers).await {
            Ok(Ok(())) => written.push(unit.reply),
            Ok(Err(refused)) => {
                let _ = unit.reply.send(Err(refused));
            }
            // The transaction itself failed: nothing in it will commit.
            Err(e) => {
                let reason = e.to_string();
                fail(std::iter::once(unit.reply), &reason);
                fail(written, &reason);
                return fail(pending.map(|u| u.reply), &reason);
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for reply in written {
                let _ = reply.send(Ok(()));
            }
        }
        Err(e) => fail(written, &e.to_string()),
    }
}

/// One command inside a savepoint: `Ok(Err(_))` when the command failed and was undone
/// alone, `Err(_)` when the transaction can go no further.
async fn part(
    tx: &mut AppendTx,
    rows: &[Vec<NewEvent>],
    writers: &[Writer],
) -> Result<Result<(), CommandError<Infallible>>, sigil_eventstore::StoreError> {
    let savepoint = tx.savepoint().await?;
    let writers: Vec<&Writer> = writers.iter().collect();
    match write(tx, &events_of(rows), &writers).await {
        Ok(()) => Ok(Ok(())),
        Err(refused) => {
            tx.rollback_to(savepoint).await?;
            Ok(Err(refused))
        }
    }
}

fn fail(replies: impl IntoIterator<Item = Reply>, reason: &str) {
    for reply in replies {
        let _ = reply.send(Err(CommandError::Store(reason.to_string())));
    }
}
