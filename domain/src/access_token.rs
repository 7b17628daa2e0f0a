//! An opaque access token: issued once, revocable, never stored in clear. Its stream holds
//! what was granted to whom; the api keeps a lookup row keyed by the token's digest, written
//! in the same transaction as these events (introspection, userinfo and revocation read it).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// How the token was obtained (RFC 6749 §4 grant types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueAccessToken {
    pub grant_type: GrantType,
    pub client_id: String,
    /// The user the token acts for; `None` for a client acting for itself.
    pub subject: Option<String>,
    pub scope: Vec<String>,
    /// The resource indicator (RFC 8707) a JWT access token (RFC 9068) is for; `None` for an
    /// opaque token good at userinfo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The organization an organization token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Lowercase hex SHA-256 of the token.
    pub token_digest: String,
    /// Unix seconds.
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccessTokenCommand {
    Issue(IssueAccessToken),
    /// RFC 7009: the client that holds the token asks for it to be revoked.
    Revoke {
        client_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccessTokenEvent {
    AccessTokenIssued(IssueAccessToken),
    TokenRevoked { client_id: String },
}

impl DomainEvent for AccessTokenEvent {
    fn event_type(&self) -> String {
        match self {
            AccessTokenEvent::AccessTokenIssued(_) => "AccessTokenIssued",
            AccessTokenEvent::TokenRevoked { .. } => "TokenRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    #[error("this access token was already issued")]
    AlreadyIssued,
    #[error("no such access token")]
    NotFound,
    #[error("the token digest must be a lowercase hex SHA-256")]
    InvalidDigest,
    #[error("the token must expire after it is issued")]
    InvalidLifetime,
    #[error("the token belongs to another client")]
    OtherClient,
    #[error("the token was revoked before it could be issued")]
    Revoked,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessToken {
    issued: Option<IssueAccessToken>,
    revoked: bool,
}

impl AccessToken {
    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    pub fn grant(&self) -> Option<&IssueAccessToken> {
        self.issued.as_ref()
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Aggregate for AccessToken {
    const TYPE: &'static str = "access_token";
    type Command = AccessTokenCommand;
    type Event = AccessTokenEvent;
    type Error = AccessTokenError;
    type Services = ();

    async fn handle(
        &mut self,
        command: AccessTokenCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AccessTokenError> {
        match command {
            AccessTokenCommand::Issue(issue) => {
                if self.issued.is_some() {
                    return Err(AccessTokenError::AlreadyIssued);
                }
                // A replayed code can name this token before its issuance lands (another
                // node, the same instant): that revocation wins.
                if self.revoked {
                    return Err(AccessTokenError::Revoked);
                }
                // A digest, never the token: anything else may be a token in clear.
                if !is_sha256_hex(&issue.token_digest) {
                    return Err(AccessTokenError::InvalidDigest);
                }
                if issue.expires_at <= issue.issued_at {
                    return Err(AccessTokenError::InvalidLifetime);
                }
                sink.write(AccessTokenEvent::AccessTokenIssued(issue), self)
                    .await;
            }
            AccessTokenCommand::Revoke { client_id } => {
                // Revoked before issued: recorded, so that the issuance is refused. Only the
                // server names tokens by id; clients reach this through the digest lookup,
                // which finds issued tokens only.
                if let Some(issued) = &self.issued
                    && issued.client_id != client_id
                {
                    // RFC 7009 §2.1: the server verifies the token was issued to this client.
                    return Err(AccessTokenError::OtherClient);
                }
                // Revoking twice changes nothing and records nothing (RFC 7009 §2.2: still 200).
                if !self.revoked {
                    sink.write(AccessTokenEvent::TokenRevoked { client_id }, self)
                        .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: AccessTokenEvent) {
        match event {
            AccessTokenEvent::AccessTokenIssued(issue) => self.issued = Some(issue),
            AccessTokenEvent::TokenRevoked { .. } => self.revoked = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn issue() -> IssueAccessToken {
        IssueAccessToken {
            grant_type: GrantType::ClientCredentials,
            client_id: "m2m".into(),
            subject: None,
            scope: vec![],
            audience: None,
            organization_id: None,
            token_digest: "a".repeat(64),
            issued_at: 100,
            expires_at: 3700,
        }
    }

    fn given_issued() -> cqrs_es::test::AggregateTestExecutor<AccessToken> {
        TestFramework::<AccessToken>::with(())
            .given(vec![AccessTokenEvent::AccessTokenIssued(issue())])
    }

    #[test]
    fn issuing_records_the_grant() {
        TestFramework::<AccessToken>::with(())
            .given_no_previous_events()
            .when(AccessTokenCommand::Issue(issue()))
            .then_expect_events(vec![AccessTokenEvent::AccessTokenIssued(issue())]);
    }

    #[test]
    fn a_token_is_issued_once() {
        given_issued()
            .when(AccessTokenCommand::Issue(issue()))
            .then_expect_error(AccessTokenError::AlreadyIssued);
    }

    #[test]
    fn only_digests_reach_the_log() {
        for digest in [
            "A".repeat(64),
            "a".repeat(63),
            "secret-token-in-clear".into(),
        ] {
            TestFramework::<AccessToken>::with(())
                .given_no_previous_events()
                .when(AccessTokenCommand::Issue(IssueAccessToken {
                    token_digest: digest,
                    ..issue()
                }))
                .then_expect_error(AccessTokenError::InvalidDigest);
        }
    }

    #[test]
    fn a_token_must_expire_after_issue() {
        TestFramework::<AccessToken>::with(())
            .given_no_previous_events()
            .when(AccessTokenCommand::Issue(IssueAccessToken {
                expires_at: 100,
                ..issue()
            }))
            .then_expect_error(AccessTokenError::InvalidLifetime);
    }

    #[test]
    fn the_holder_revokes_once() {
        given_issued()
            .when(AccessTokenCommand::Revoke {
                client_id: "m2m".into(),
            })
            .then_expect_events(vec![AccessTokenEvent::TokenRevoked {
                client_id: "m2m".into(),
            }]);
        TestFramework::<AccessToken>::with(())
            .given(vec![
                AccessTokenEvent::AccessTokenIssued(issue()),
                AccessTokenEvent::TokenRevoked {
                    client_id: "m2m".into(),
                },
            ])
            .when(AccessTokenCommand::Revoke {
                client_id: "m2m".into(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn another_client_cannot_revoke() {
        given_issued()
            .when(AccessTokenCommand::Revoke {
                client_id: "other".into(),
            })
            .then_expect_error(AccessTokenError::OtherClient);
    }

    #[test]
    fn a_revocation_before_issuance_wins() {
        let revoked = AccessTokenEvent::TokenRevoked {
            client_id: "m2m".into(),
        };
        TestFramework::<AccessToken>::with(())
            .given_no_previous_events()
            .when(AccessTokenCommand::Revoke {
                client_id: "m2m".into(),
            })
            .then_expect_events(vec![revoked.clone()]);
        TestFramework::<AccessToken>::with(())
            .given(vec![revoked])
            .when(AccessTokenCommand::Issue(issue()))
            .then_expect_error(AccessTokenError::Revoked);
    }
}
