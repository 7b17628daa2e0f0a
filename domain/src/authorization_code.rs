//! An authorization code (RFC 6749 §4.1): single use, short-lived, bound to its client, its
//! redirect URI and its PKCE challenge (RFC 7636). Redeeming it twice is an attack signal:
//! the second attempt fails and everything the first one issued is revoked (RFC 6749 §4.1.2).
//! That is recorded as an event, not an error, so that it is kept.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::session::is_sha256_hex;

/// Codes live 60 seconds.
pub const CODE_TTL_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueCode {
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub nonce: Option<String>,
    /// The S256 challenge, if the client sent one (only S256 is accepted upstream).
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Lowercase hex SHA-256 of the code.
    pub code_digest: String,
    /// Whether the request said prompt=consent: with offline_access, that is what earns a
    /// refresh token (OIDC Core §11).
    #[serde(default)]
    pub prompt_consent: bool,
    /// The resource indicators (RFC 8707) the request named: what the code's tokens may be
    /// for. `scope` holds only what the user was found to hold for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuthorizationCodeCommand {
    Issue(IssueCode),
    Redeem {
        client_id: String,
        redirect_uri: Option<String>,
        /// BASE64URL(SHA256(code_verifier)) of the verifier presented, computed by the api.
        verifier_challenge: Option<String>,
        now: i64,
        /// The id of the access token this redemption will issue.
        access_token_id: String,
        /// The refresh token family this redemption will start, if any.
        refresh_family_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuthorizationCodeEvent {
    AuthorizationCodeIssued(IssueCode),
    AuthorizationCodeRedeemed {
        access_token_id: String,
        #[serde(default)]
        refresh_family_id: Option<String>,
    },
    /// A redeemed code came back: the tokens it produced must be revoked.
    AuthorizationCodeReuseDetected {
        revoke_access_token_ids: Vec<String>,
        #[serde(default)]
        revoke_refresh_family_ids: Vec<String>,
    },
}

impl DomainEvent for AuthorizationCodeEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AuthorizationCodeIssued(_) => "AuthorizationCodeIssued",
            Self::AuthorizationCodeRedeemed { .. } => "AuthorizationCodeRedeemed",
            Self::AuthorizationCodeReuseDetected { .. } => "AuthorizationCodeReuseDetected",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why a redemption is refused; the api answers each with `invalid_grant`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationCodeError {
    #[error("the code was already issued")]
    AlreadyIssued,
    #[error("the code digest must be a lowercase hex SHA-256")]
    InvalidDigest,
    #[error("no such authorization code")]
    NotFound,
    #[error("the authorization code has expired")]
    Expired,
    #[error("the authorization code was issued to another client")]
    WrongClient,
    #[error("redirect_uri does not match the one the code was issued for")]
    RedirectMismatch,
    #[error("code_verifier is required: the authorization request used PKCE")]
    VerifierRequired,
    #[error("code_verifier does not match the code_challenge")]
    VerifierMismatch,
    #[error("code_verifier was sent but the authorization request had no code_challenge")]
    UnexpectedVerifier,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    issued: Option<IssueCode>,
    redeemed_into: Option<(String, Option<String>)>,
}

impl AuthorizationCode {
    pub fn grant(&self) -> Option<&IssueCode> {
        self.issued.as_ref()
    }
}

impl Aggregate for AuthorizationCode {
    const TYPE: &'static str = "authorization_code";
    type Command = AuthorizationCodeCommand;
    type Event = AuthorizationCodeEvent;
    type Error = AuthorizationCodeError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AuthorizationCodeCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AuthorizationCodeError> {
        match command {
            AuthorizationCodeCommand::Issue(issue) => {
                if self.issued.is_some() {
                    return Err(AuthorizationCodeError::AlreadyIssued);
                }
                if !is_sha256_hex(&issue.code_digest) {
                    return Err(AuthorizationCodeError::InvalidDigest);
                }
                sink.write(AuthorizationCodeEvent::AuthorizationCodeIssued(issue), self)
                    .await;
            }
            AuthorizationCodeCommand::Redeem {
                client_id,
                redirect_uri,
                verifier_challenge,
                now,
                access_token_id,
                refresh_family_id,
            } => {
                let Some(issued) = &self.issued else {
                    return Err(AuthorizationCodeError::NotFound);
                };
                if let Some((access, refresh)) = &self.redeemed_into {
                    let event = AuthorizationCodeEvent::AuthorizationCodeReuseDetected {
                        revoke_access_token_ids: vec![access.clone()],
                        revoke_refresh_family_ids: refresh.iter().cloned().collect(),
                    };
                    sink.write(event, self).await;
                    return Ok(());
                }
                if issued.client_id != client_id {
                    return Err(AuthorizationCodeError::WrongClient);
                }
                if now >= issued.expires_at {
                    return Err(AuthorizationCodeError::Expired);
                }
                // RFC 6749 §4.1.3: identical to the redirect_uri of the authorization request.
                if redirect_uri.as_deref() != Some(issued.redirect_uri.as_str()) {
                    return Err(AuthorizationCodeError::RedirectMismatch);
                }
                // RFC 7636 §4.6; and a verifier without a challenge is refused (RFC 9700 §2.1.1).
                match (&issued.code_challenge, verifier_challenge) {
                    (Some(_), None) => return Err(AuthorizationCodeError::VerifierRequired),
                    (Some(expected), Some(got)) if *expected != got => {
                        return Err(AuthorizationCodeError::VerifierMismatch);
                    }
                    (None, Some(_)) => return Err(AuthorizationCodeError::UnexpectedVerifier),
                    _ => {}
                }
                let event = AuthorizationCodeEvent::AuthorizationCodeRedeemed {
                    access_token_id,
                    refresh_family_id,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: AuthorizationCodeEvent) {
        match event {
            AuthorizationCodeEvent::AuthorizationCodeIssued(issue) => self.issued = Some(issue),
            AuthorizationCodeEvent::AuthorizationCodeRedeemed {
                access_token_id,
                refresh_family_id,
            } => self.redeemed_into = Some((access_token_id, refresh_family_id)),
            AuthorizationCodeEvent::AuthorizationCodeReuseDetected { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use AuthorizationCodeError as E;

    fn issue() -> IssueCode {
        IssueCode {
            client_id: "spa".into(),
            user_id: "u1".into(),
            session_id: "s1".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            scope: vec!["openid".into()],
            nonce: Some("n".into()),
            code_challenge: Some("challenge".into()),
            auth_time: 100,
            issued_at: 100,
            expires_at: 160,
            code_digest: "c".repeat(64),
            prompt_consent: false,
            resources: vec![],
        }
    }

    fn redeem(
        client: &str,
        redirect: Option<&str>,
        challenge: Option<&str>,
        now: i64,
    ) -> AuthorizationCodeCommand {
        AuthorizationCodeCommand::Redeem {
            client_id: client.into(),
            redirect_uri: redirect.map(str::to_string),
            verifier_challenge: challenge.map(str::to_string),
            now,
            access_token_id: "at1".into(),
            refresh_family_id: Some("rf1".into()),
        }
    }

    fn ok_redeem() -> AuthorizationCodeCommand {
        redeem(
            "spa",
            Some("https://app.example.com/cb"),
            Some("challenge"),
            120,
        )
    }

    fn given_issued() -> cqrs_es::test::AggregateTestExecutor<AuthorizationCode> {
        TestFramework::<AuthorizationCode>::with(()).given(vec![
            AuthorizationCodeEvent::AuthorizationCodeIssued(issue()),
        ])
    }

    #[test]
    fn issue_once_with_a_digest() {
        TestFramework::<AuthorizationCode>::with(())
            .given_no_previous_events()
            .when(AuthorizationCodeCommand::Issue(issue()))
            .then_expect_events(vec![AuthorizationCodeEvent::AuthorizationCodeIssued(
                issue(),
            )]);
        given_issued()
            .when(AuthorizationCodeCommand::Issue(issue()))
            .then_expect_error(E::AlreadyIssued);
        TestFramework::<AuthorizationCode>::with(())
            .given_no_previous_events()
            .when(AuthorizationCodeCommand::Issue(IssueCode {
                code_digest: "the-code".into(),
                ..issue()
            }))
            .then_expect_error(E::InvalidDigest);
    }

    #[test]
    fn a_good_redemption_is_recorded() {
        given_issued().when(ok_redeem()).then_expect_events(vec![
            AuthorizationCodeEvent::AuthorizationCodeRedeemed {
                access_token_id: "at1".into(),
                refresh_family_id: Some("rf1".into()),
            },
        ]);
    }

    #[test]
    fn code_reuse_revokes_issued_tokens() {
        TestFramework::<AuthorizationCode>::with(())
            .given(vec![
                AuthorizationCodeEvent::AuthorizationCodeIssued(issue()),
                AuthorizationCodeEvent::AuthorizationCodeRedeemed {
                    access_token_id: "at1".into(),
                    refresh_family_id: Some("rf1".into()),
                },
            ])
            .when(ok_redeem())
            .then_expect_events(vec![
                AuthorizationCodeEvent::AuthorizationCodeReuseDetected {
                    revoke_access_token_ids: vec!["at1".into()],
                    revoke_refresh_family_ids: vec!["rf1".into()],
                },
            ]);
    }

    #[test]
    fn each_binding_is_checked() {
        given_issued()
            .when(redeem(
                "other",
                Some("https://app.example.com/cb"),
                Some("challenge"),
                120,
            ))
            .then_expect_error(E::WrongClient);
        given_issued()
            .when(redeem(
                "spa",
                Some("https://app.example.com/cb"),
                Some("challenge"),
                160,
            ))
            .then_expect_error(E::Expired);
        given_issued()
            .when(redeem(
                "spa",
                Some("https://app.example.com/other"),
                Some("challenge"),
                120,
            ))
            .then_expect_error(E::RedirectMismatch);
        given_issued()
            .when(redeem("spa", None, Some("challenge"), 120))
            .then_expect_error(E::RedirectMismatch);
        given_issued()
            .when(redeem("spa", Some("https://app.example.com/cb"), None, 120))
            .then_expect_error(E::VerifierRequired);
        given_issued()
            .when(redeem(
                "spa",
                Some("https://app.example.com/cb"),
                Some("wrong"),
                120,
            ))
            .then_expect_error(E::VerifierMismatch);
        TestFramework::<AuthorizationCode>::with(())
            .given(vec![AuthorizationCodeEvent::AuthorizationCodeIssued(
                IssueCode {
                    code_challenge: None,
                    ..issue()
                },
            )])
            .when(ok_redeem())
            .then_expect_error(E::UnexpectedVerifier);
        TestFramework::<AuthorizationCode>::with(())
            .given_no_previous_events()
            .when(ok_redeem())
            .then_expect_error(E::NotFound);
    }
}
