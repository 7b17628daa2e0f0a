//! The server in-process on a random port: health, readiness, metrics and the error page,
//! on SQLite and PostgreSQL.

use sigil_api::config::ServeArgs;
use sigil_api::master_key::MasterKey;
use sigil_api::server;
use sigil_tests::TestDatabase;

fn serve_args() -> ServeArgs {
    ServeArgs {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_url: "http://127.0.0.1:3000".into(),
        checkpoint_interval_secs: 1,
        request_timeout_secs: 30,
        shutdown_grace_secs: 5,
        throttling: Default::default(),
    }
}

// One test, so that its server is the process's first: the metrics recorder is
// process-wide, and a server started first in another test would install it for this one.
#[tokio::test]
async fn health_readiness_metrics_error_page_and_pending_migrations() {
    health_readiness_metrics_and_error_page().await;
    readiness_fails_while_migrations_are_pending().await;
}

async fn health_readiness_metrics_and_error_page() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let running = server::start(db.store.clone(), serve_args(), &key)
            .await
            .unwrap();
        let base = format!("http://{}", running.addr);
        let http = reqwest::Client::new();

        let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{:?}", db.backend());
        assert!(ready.headers().contains_key("x-request-id"));
        assert_eq!(
            http.get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        let page = http
            .get(format!("{base}/no/such/page?<b>"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 404);
        let headers = page.headers().clone();
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let request_id = headers["x-request-id"].to_str().unwrap().to_string();
        let body = page.text().await.unwrap();
        assert!(body.contains(&request_id), "the page names its request id");
        assert!(!body.contains("<b>"));

        let metrics = metrics_text(&http, &base).await;
        assert!(metrics.contains("sigil_http_requests_total"), "{metrics}");
        assert!(
            metrics.contains("sigil_projection_position{projection=\"users\"}"),
            "{metrics}"
        );
        // The signing keys made at start are events: the read models' runner applies them
        // (in its own time) and records how long each took to become visible.
        let lag = "sigil_projection_lag_seconds_bucket{runner=\"all\",le=\"0.1\"}";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut metrics = metrics;
        while !metrics.contains(lag) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            metrics = metrics_text(&http, &base).await;
        }
        assert!(metrics.contains(lag), "{metrics}");

        running.shutdown().await.unwrap();
    }
}

async fn readiness_fails_while_migrations_are_pending() {
    for db in TestDatabase::all().await {
        // A store whose migration bookkeeping says nothing was applied.
        db.execute("DELETE FROM _sqlx_migrations").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let running = server::start(db.store.clone(), serve_args(), &key)
            .await
            .unwrap();
        let ready = reqwest::get(format!("http://{}/readyz", running.addr))
            .await
            .unwrap();
        assert_eq!(ready.status(), 503, "{:?}", db.backend());
        assert!(
            ready
                .text()
                .await
                .unwrap()
                .contains("migrations are pending")
        );
        running.shutdown().await.unwrap();
    }
}

async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
