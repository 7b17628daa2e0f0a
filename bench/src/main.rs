//! `sigil-load`: drives one scenario against an OpenID provider found by discovery, with
//! `--concurrency` workers for `--duration` seconds after a warm-up, and prints
//!
//! `RESULT scenario=… concurrency=… rps=… p50_ms=… p99_ms=… ok=… errors=…`
//!
//! It knows no provider in particular: bench/load.sh points it at Sigil (SQLite and
//! PostgreSQL) and at the peer in the same run. Each worker is one client with its own
//! cookies and tokens, doing one thing after another, as a real client would.

mod login;
mod scenario;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;

use scenario::{Config, Scenario, Worker};

#[derive(Parser, Debug)]
#[command(name = "sigil-load", about = "Side-by-side load for OpenID providers")]
struct Args {
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// The issuer; its discovery document names every endpoint.
    #[arg(long)]
    issuer: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: Option<String>,
    #[arg(long, default_value = "http://127.0.0.1:9999/cb")]
    redirect_uri: String,
    #[arg(long)]
    scope: Option<String>,
    #[arg(long)]
    resource: Option<String>,
    #[arg(long, default_value = "bench")]
    user: String,
    #[arg(long, default_value = "bench-password-1")]
    password: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 2)]
    warmup: u64,
}

struct Tally {
    ok: u64,
    errors: u64,
    latency: Histogram<u64>,
    first_error: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Arc::new(Config::discover(&args).await?);
    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        workers.push(Worker::prepare(args.scenario, &config).await?);
    }
    let warmup_until = Instant::now() + Duration::from_secs(args.warmup);
    let end = warmup_until + Duration::from_secs(args.duration);
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let config = config.clone();
            let scenario = args.scenario;
            tokio::spawn(async move {
                let mut tally = Tally {
                    ok: 0,
                    errors: 0,
                    latency: Histogram::new(3).expect("3 significant figures"),
                    first_error: None,
                };
                loop {
                    let started = Instant::now();
                    if started >= end {
                        return tally;
                    }
                    let result = worker.once(scenario, &config).await;
                    if started < warmup_until {
                        continue;
                    }
                    match result {
                        Ok(()) => {
                            tally.ok += 1;
                            let micros = started.elapsed().as_micros() as u64;
                            let _ = tally.latency.record(micros.max(1));
                        }
                        Err(e) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
            })
        })
        .collect();
    let mut total = Tally {
        ok: 0,
        errors: 0,
        latency: Histogram::new(3)?,
        first_error: None,
    };
    for task in tasks {
        let tally = task.await?;
        total.ok += tally.ok;
        total.errors += tally.errors;
        total.latency.add(&tally.latency)?;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    if let Some(e) = &total.first_error {
        eprintln!("first error: {e}");
    }
    let ms = |q: f64| total.latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "RESULT scenario={} concurrency={} rps={:.0} p50_ms={:.2} p99_ms={:.2} ok={} errors={}",
        args.scenario.name(),
        args.concurrency,
        total.ok as f64 / args.duration as f64,
        ms(0.5),
        ms(0.99),
        total.ok,
        total.errors
    );
    Ok(())
}
