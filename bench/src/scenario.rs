//! The scenarios, each one request (or one flow) a client repeats:
//!
//! - `client-credentials`: a machine-to-machine token (RFC 6749 §4.4).
//! - `refresh`: the refresh-token grant with rotation; each worker follows its own chain.
//! - `auth-code`: the whole authorization-code flow of a signed-in user whose consent is
//!   remembered: the authorization request (answered with a redirect carrying the code)
//!   and the token request with PKCE. One flow counts once.
//! - `userinfo`: the UserInfo endpoint with a user's access token.
//! - `introspection`: RFC 7662, by the confidential client the token was issued to.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::Args;
use crate::login;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Scenario {
    ClientCredentials,
    Refresh,
    AuthCode,
    Userinfo,
    Introspection,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::ClientCredentials => "client_credentials",
            Scenario::Refresh => "refresh_token",
            Scenario::AuthCode => "authorization_code_sso",
            Scenario::Userinfo => "userinfo",
            Scenario::Introspection => "introspection",
        }
    }
}

/// Where to send what, from discovery and the command line.
pub struct Config {
    authorization: Url,
    token: Url,
    userinfo: Url,
    introspection: Url,
    client_id: String,
    client_secret: Option<String>,
    redirect_uri: String,
    scope: Option<String>,
    resource: Option<String>,
    user: String,
    password: String,
    /// Shared by the stateless scenarios: one connection pool, as one busy client would.
    shared: reqwest::Client,
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

impl Config {
    pub async fn discover(args: &Args) -> anyhow::Result<Config> {
        let shared = browser();
        let metadata: Value = shared
            .get(format!(
                "{}/.well-known/openid-configuration",
                args.issuer.trim_end_matches('/')
            ))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let endpoint = |name: &str| -> anyhow::Result<Url> {
            let text = metadata[name]
                .as_str()
                .with_context(|| format!("discovery has no {name}"))?;
            Ok(Url::parse(text)?)
        };
        Ok(Config {
            authorization: endpoint("authorization_endpoint")?,
            token: endpoint("token_endpoint")?,
            userinfo: endpoint("userinfo_endpoint")?,
            introspection: endpoint("introspection_endpoint")?,
            client_id: args.client_id.clone(),
            client_secret: args.client_secret.clone(),
            redirect_uri: args.redirect_uri.clone(),
            scope: args.scope.clone(),
            resource: args.resource.clone(),
            user: args.user.clone(),
            password: args.password.clone(),
            shared,
        })
    }

    /// A token request, authenticated with the client's secret (HTTP Basic) when it has
    /// one, else naming the public client in the form.
    async fn token(
        &self,
        http: &reqwest::Client,
        mut form: Vec<(&str, String)>,
    ) -> anyhow::Result<Value> {
        let mut request = http.post(self.token.clone());
        match &self.client_secret {
            Some(secret) => request = request.basic_auth(&self.client_id, Some(secret)),
            None => form.push(("client_id", self.client_id.clone())),
        }
        let response = request.form(&form).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("token endpoint: {status} {body}");
        }
        Ok(body)
    }

    /// An authorization request with a fresh PKCE pair; returns it and the verifier.
    fn authorize_url(&self, scope: &str, extra: &[(&str, &str)]) -> (Url, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut url = self.authorization.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("state", &verifier[..16])
            .append_pair("nonce", &verifier[16..32])
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        (url, verifier)
    }

    async fn redeem(
        &self,
        http: &reqwest::Client,
        code: String,
        verifier: String,
    ) -> anyhow::Result<Value> {
        self.token(
            http,
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", code),
                ("redirect_uri", self.redirect_uri.clone()),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    /// Signs in through the provider's pages and redeems the code.
    async fn sign_in(
        &self,
        http: &reqwest::Client,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let (url, verifier) = self.authorize_url(scope, extra);
        let code = login::code(http, url, &self.redirect_uri, &self.user, &self.password).await?;
        self.redeem(http, code, verifier).await
    }
}

/// One client of the load: its cookies and tokens.
pub struct Worker {
    http: reqwest::Client,
    refresh_token: Option<String>,
    access_token: Option<String>,
}

impl Worker {
    pub async fn prepare(scenario: Scenario, config: &Config) -> anyhow::Result<Worker> {
        let http = browser();
        let mut worker = Worker {
            http,
            refresh_token: None,
            access_token: None,
        };
        match scenario {
            Scenario::ClientCredentials => {}
            Scenario::Refresh => {
                let tokens = worker
                    .sign_in_with(config, "openid offline_access", &[("prompt", "consent")])
                    .await?;
                worker.refresh_token = Some(
                    tokens["refresh_token"]
                        .as_str()
                        .context("no refresh token")?
                        .to_string(),
                );
            }
            Scenario::AuthCode => {
                worker.sign_in_with(config, "openid", &[]).await?;
            }
            Scenario::Userinfo | Scenario::Introspection => {
                let tokens = worker.sign_in_with(config, "openid profile", &[]).await?;
                worker.access_token = Some(
                    tokens["access_token"]
                        .as_str()
                        .context("no access token")?
                        .to_string(),
                );
            }
        }
        Ok(worker)
    }

    async fn sign_in_with(
        &self,
        config: &Config,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        config.sign_in(&self.http, scope, extra).await
    }

    pub async fn once(&mut self, scenario: Scenario, config: &Config) -> anyhow::Result<()> {
        match scenario {
            Scenario::ClientCredentials => {
                let mut form = vec![("grant_type", "client_credentials".to_string())];
                if let Some(scope) = &config.scope {
                    form.push(("scope", scope.clone()));
                }
                if let Some(resource) = &config.resource {
                    form.push(("resource", resource.clone()));
                }
                let body = config.token(&config.shared, form).await?;
                body["access_token"].as_str().context("no access token")?;
            }
            Scenario::Refresh => {
                let current = self.refresh_token.clone().context("no refresh token")?;
                let body = config
                    .token(
                        &config.shared,
                        vec![
                            ("grant_type", "refresh_token".into()),
                            ("refresh_token", current),
                        ],
                    )
                    .await?;
                if let Some(next) = body["refresh_token"].as_str() {
                    self.refresh_token = Some(next.to_string());
                }
            }
            Scenario::AuthCode => {
                let (url, verifier) = config.authorize_url("openid", &[]);
                let response = self.http.get(url.clone()).send().await?;
                if !response.status().is_redirection() {
                    bail!(
                        "authorization: {} (the session was not kept)",
                        response.status()
                    );
                }
                let location = response
                    .headers()
                    .get("location")
                    .context("no Location")?
                    .to_str()?;
                let code = login::code_of(&url.join(location)?)?;
                let body = config.redeem(&self.http, code, verifier).await?;
                body["id_token"].as_str().context("no ID token")?;
            }
            Scenario::Userinfo => {
                let token = self.access_token.as_deref().context("no access token")?;
                let response = config
                    .shared
                    .get(config.userinfo.clone())
                    .bearer_auth(token)
                    .send()
                    .await?;
                if !response.status().is_success() {
                    bail!("userinfo: {}", response.status());
                }
                response.bytes().await?;
            }
            Scenario::Introspection => {
                let token = self.access_token.clone().context("no access token")?;
                let mut request = config.shared.post(config.introspection.clone());
                if let Some(secret) = &config.client_secret {
                    request = request.basic_auth(&config.client_id, Some(secret));
                }
                let body: Value = request
                    .form(&[("token", token)])
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                if body["active"] != true {
                    bail!("introspection: {body}");
                }
            }
        }
        Ok(())
    }
}
