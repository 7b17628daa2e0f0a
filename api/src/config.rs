//! Configuration: every setting is a flag with a `SIGIL_*` environment variable of the same
//! meaning (CONTRACT.md lists the names and defaults).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Settings every command needs: where the log is and how to talk about it.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// `sqlite://PATH` (embedded, created on first start) or `postgres://…`.
    #[arg(
        long,
        env = "SIGIL_DATABASE_URL",
        default_value = "sqlite://sigil-data/sigil.db",
        global = true
    )]
    pub database_url: String,

    /// Key that seals secrets at rest and signs log checkpoints; generated on first start
    /// (mode 0600).
    #[arg(
        long,
        env = "SIGIL_MASTER_KEY_FILE",
        default_value = "sigil-data/master.key",
        global = true
    )]
    pub master_key_file: PathBuf,

    /// Log filter, as `tracing` directives (`info`, `sigil_api=debug,info`, …).
    #[arg(long, env = "SIGIL_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// Settings of `sigil serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "SIGIL_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// The URL people reach; the issuer is `{public_url}/oidc`.
    #[arg(long, env = "SIGIL_PUBLIC_URL", default_value = "http://127.0.0.1:3000", value_parser = parse_public_url)]
    pub public_url: String,

    /// Seconds between signed checkpoints over the log.
    #[arg(long, env = "SIGIL_CHECKPOINT_INTERVAL_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_interval_secs: u64,

    /// Longest time a request may take before it is answered 503.
    #[arg(long, env = "SIGIL_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,

    /// How long shutdown waits for in-flight requests after SIGTERM.
    #[arg(long, env = "SIGIL_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    #[command(flatten)]
    pub throttling: ThrottleArgs,
}

/// Brute-force limits: failures allowed per account, client IP or client before further
/// attempts wait (see throttle.rs).
#[derive(Args, Clone, Debug)]
pub struct ThrottleArgs {
    /// Failed sign-ins per account or per IP address before further attempts must wait.
    #[arg(long, env = "SIGIL_SIGN_IN_MAX_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub sign_in_max_failures: u32,

    /// Failed client authentications per client or per IP address before further attempts
    /// must wait.
    #[arg(long, env = "SIGIL_CLIENT_AUTH_MAX_FAILURES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub client_auth_max_failures: u32,

    /// The window in which those failures count; after a block, one more try is allowed per
    /// window / max failures.
    #[arg(long, env = "SIGIL_FAILURE_WINDOW_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub failure_window_secs: u64,
}

impl Default for ThrottleArgs {
    fn default() -> Self {
        ThrottleArgs {
            sign_in_max_failures: 5,
            client_auth_max_failures: 10,
            failure_window_secs: 300,
        }
    }
}

impl ServeArgs {
    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.public_url)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// An absolute http(s) URL without query or fragment; a trailing slash is dropped so that
/// `{public_url}/oidc` has exactly one.
pub fn parse_public_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the public URL must be http or https".into());
    }
    if url.query().is_some() || url.fragment().is_some() || url.host().is_none() {
        return Err("the public URL must have a host and no query or fragment".into());
    }
    Ok(value.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_public_url;

    #[test]
    fn public_url_is_normalised_and_checked() {
        assert_eq!(
            parse_public_url("https://id.example.com/").unwrap(),
            "https://id.example.com"
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert!(parse_public_url("ftp://x").is_err());
        assert!(parse_public_url("https://x/?a=1").is_err());
        assert!(parse_public_url("not a url").is_err());
    }
}
