//! Work that must not queue behind the request handlers: SQLite's group commit and the
//! read-model runner. Each of their statements is answered from SQLite's connection thread,
//! which wakes the waiting task through the runtime's global queue; busy workers look there
//! only every few dozen polls, so a transaction of sequential statements waited behind the
//! signing of dozens of tokens while it held the single writer. On a thread and runtime of
//! its own, a task is woken by the kernel at once.

use std::future::Future;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Runs `task` on a new thread with a single-threaded runtime of its own. The returned handle,
/// a task on the calling runtime, ends when `task` does. When the calling runtime shuts
/// down first, `task` is dropped there as it would be here, so it never outlives the runtime
/// that started it (and the connections it holds close with it).
pub fn spawn<F>(name: &str, task: F) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (keep, parent_gone) = oneshot::channel::<()>();
    let (finished, done) = oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let started = runtime.and_then(|runtime| {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                runtime.block_on(async {
                    tokio::select! {
                        () = task => {}
                        _ = parent_gone => {}
                    }
                });
                let _ = finished.send(());
            })
    });
    if let Err(e) = started {
        tracing::error!(thread = name, error = %e, "cannot start a thread");
    }
    tokio::spawn(async move {
        let _keep = keep;
        let _ = done.await;
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn the_handle_ends_with_the_task() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = super::spawn("test-own-thread", async move {
            let _ = tx.send(std::thread::current().name().map(str::to_string));
        });
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("the handle ends")
            .expect("the watcher does not panic");
        assert_eq!(rx.await.unwrap().as_deref(), Some("test-own-thread"));
    }

    #[test]
    fn the_task_ends_with_the_runtime_that_started_it() {
        let (dropped, gone) = std::sync::mpsc::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // Held by the task until it is dropped, polled or not.
        let guard = DropSignal(dropped);
        runtime.block_on(async {
            super::spawn("test-own-thread", async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
            tokio::task::yield_now().await;
        });
        drop(runtime);
        gone.recv_timeout(Duration::from_secs(5))
            .expect("the task was dropped with its parent runtime");
    }

    struct DropSignal(std::sync::mpsc::Sender<()>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
}
