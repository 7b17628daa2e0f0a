//! The write and read sides of the log: appending events (one command at a time, and 32
//! commands at once) on SQLite and, when `SIGIL_TEST_DATABASE_URL` names a server, on
//! PostgreSQL; and the audit read model catching up on 100,000 events, which is what
//! `sigil projections rebuild audit` does. `cargo bench -p sigil-api --bench store`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sigil_domain::access_token::{AccessTokenEvent, GrantType, IssueAccessToken};
use sigil_eventstore::testing::TestDatabase;
use sigil_eventstore::{NewEvent, now_micros};
use sigil_projections::{AuditView, ProjectionRunner};
use tokio::runtime::Runtime;

const CATCH_UP_EVENTS: u64 = 100_000;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// An `AccessTokenIssued` on a stream of its own, as the token endpoint appends one per
/// `client_credentials` request.
fn token_issued() -> NewEvent {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let now = now_micros();
    let payload = AccessTokenEvent::AccessTokenIssued(IssueAccessToken {
        grant_type: GrantType::ClientCredentials,
        client_id: "bench-m2m".into(),
        subject: None,
        scope: vec!["read".into()],
        audience: Some("urn:bench:api".into()),
        organization_id: None,
        token_digest: format!("{n:064x}"),
        issued_at: now / 1_000_000,
        expires_at: now / 1_000_000 + 3600,
    });
    NewEvent {
        aggregate_type: "access_token".into(),
        aggregate_id: format!("bench-{}-{n}", std::process::id()),
        sequence: 1,
        event_type: "AccessTokenIssued".into(),
        event_version: "1.0".into(),
        payload: serde_json::to_string(&payload).unwrap(),
        metadata: r#"{"actor":"client:bench-m2m","ip":"127.0.0.1","request_id":"r"}"#.into(),
        occurred_at: now,
    }
}

async fn databases() -> Vec<(&'static str, TestDatabase)> {
    let mut all = vec![("sqlite", TestDatabase::sqlite().await)];
    if let Some(pg) = TestDatabase::postgres().await {
        all.push(("postgres", pg));
    }
    all
}

fn append(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let databases = runtime.block_on(databases());
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    for (backend, db) in &databases {
        group.bench_function(BenchmarkId::new("single", backend), |b| {
            b.to_async(&runtime)
                .iter(|| async { db.store.append(&[token_issued()]).await.unwrap() })
        });
        // 32 commands at once, each its own transaction, as 32 concurrent token requests.
        group.bench_function(BenchmarkId::new("concurrent_32", backend), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let store = db.store.clone();
                async move {
                    let started = Instant::now();
                    let per_task = iters.div_ceil(32);
                    let tasks: Vec<_> = (0..32)
                        .map(|_| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                for _ in 0..per_task {
                                    store.append(&[token_issued()]).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    // Time per append: the group's throughput is appends per second.
                    started
                        .elapsed()
                        .mul_f64(iters as f64 / (per_task * 32) as f64)
                }
            })
        });
    }
    group.finish();
}

fn catch_up(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let databases = runtime.block_on(async {
        let mut filled = Vec::new();
        for (backend, db) in databases().await {
            for _ in 0..CATCH_UP_EVENTS / 500 {
                let batch: Vec<NewEvent> = (0..500).map(|_| token_issued()).collect();
                db.store.append(&batch).await.unwrap();
            }
            filled.push((backend, db));
        }
        filled
    });
    let mut group = c.benchmark_group("audit_catch_up");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(CATCH_UP_EVENTS));
    for (backend, db) in &databases {
        // The server's live batch, and the larger one a rebuild reads.
        for batch in [500, 5_000] {
            let runner =
                ProjectionRunner::new(db.store.clone(), Arc::new(AuditView)).with_batch(batch);
            group.bench_function(BenchmarkId::new(*backend, batch), |b| {
                b.to_async(&runtime).iter_custom(|iters| {
                    let runner = runner.clone();
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            runner.reset().await.unwrap();
                            let started = Instant::now();
                            runner.catch_up().await.unwrap();
                            total += started.elapsed();
                        }
                        total
                    }
                })
            });
        }
        // What `sigil projections rebuild audit` does once the old rows are gone: replay with
        // the secondary indexes set aside, then build them.
        let runner = ProjectionRunner::new(db.store.clone(), Arc::new(AuditView)).with_batch(5_000);
        group.bench_function(BenchmarkId::new(*backend, "rebuild"), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let runner = runner.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        runner.reset().await.unwrap();
                        let started = Instant::now();
                        runner.begin_rebuild().await.unwrap();
                        runner.catch_up().await.unwrap();
                        runner.build_indexes().await.unwrap();
                        total += started.elapsed();
                    }
                    total
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, append, catch_up);
criterion_main!(benches);
