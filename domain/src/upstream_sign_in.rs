//! One sign-in through a connector, as the callback from the upstream provider ends it. The
//! stream id is the SHA-256 of the `state` Sigil sent upstream, so a state can complete one
//! sign-in only: a second callback with it (a replay) finds the stream used, and the stream's
//! sequence lets exactly one of two racing callbacks in. Failures are recorded with a
//! machine-readable reason; none holds a token or a secret.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// Why a sign-in through a connector was refused. Stable: the audit trail and its readers
/// match on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamFailure {
    /// No, an expired or a forged state cookie, or a `state` that is not the cookie's.
    StateMismatch,
    /// The state already completed a sign-in.
    StateReplayed,
    /// The upstream sent `error=…` back instead of a code.
    UpstreamError,
    /// The connector is gone or disabled, or connectors are off.
    ConnectorUnavailable,
    /// The upstream could not be reached, or answered too slowly or too much.
    UpstreamUnreachable,
    /// The token endpoint refused the code or answered without an ID token.
    TokenRequestFailed,
    /// Not a JWS, or claims missing.
    MalformedIdToken,
    /// Signed with an algorithm the connector does not accept.
    AlgorithmNotAllowed,
    /// No key of the upstream's JWKS, even refreshed, has the token's `kid`.
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    /// `iat` older than `maxTokenAge`, or in the future.
    TokenTooOld,
    NonceMismatch,
    /// The userinfo response could not be read or named another subject (OIDC Core §5.3.4).
    UserinfoFailed,
    /// The linked account is suspended.
    UserSuspended,
    /// The upstream's email belongs to a Sigil account, and linking by email is not allowed.
    AccountConflict,
}

impl UpstreamFailure {
    pub fn as_str(self) -> &'static str {
        // The same words serde writes into the event (tested below).
        use UpstreamFailure::*;
        match self {
            StateMismatch => "state_mismatch",
            StateReplayed => "state_replayed",
            UpstreamError => "upstream_error",
            ConnectorUnavailable => "connector_unavailable",
            UpstreamUnreachable => "upstream_unreachable",
            TokenRequestFailed => "token_request_failed",
            MalformedIdToken => "malformed_id_token",
            AlgorithmNotAllowed => "algorithm_not_allowed",
            UnknownKey => "unknown_key",
            BadSignature => "bad_signature",
            WrongIssuer => "wrong_issuer",
            WrongAudience => "wrong_audience",
            Expired => "expired",
            TokenTooOld => "token_too_old",
            NonceMismatch => "nonce_mismatch",
            UserinfoFailed => "userinfo_failed",
            UserSuspended => "user_suspended",
            AccountConflict => "account_conflict",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UpstreamSignInCommand {
    Complete {
        connector_id: String,
        user_id: String,
        /// The upstream's `sub`: an identifier, not a secret.
        subject: String,
    },
    Fail {
        connector_id: String,
        reason: UpstreamFailure,
        /// The upstream's own `error` code, when it sent one (RFC 6749 §4.1.2.1), checked
        /// against the RFC's character set and length by the api.
        upstream_error: Option<String>,
    },
}

/// Version "1.0".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UpstreamSignInEvent {
    UpstreamSignInCompleted {
        connector_id: String,
        user_id: String,
        subject: String,
    },
    UpstreamSignInFailed {
        connector_id: String,
        reason: UpstreamFailure,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upstream_error: Option<String>,
    },
}

impl DomainEvent for UpstreamSignInEvent {
    fn event_type(&self) -> String {
        match self {
            Self::UpstreamSignInCompleted { .. } => "UpstreamSignInCompleted",
            Self::UpstreamSignInFailed { .. } => "UpstreamSignInFailed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamSignInError {
    #[error("this sign-in state was already used")]
    StateUsed,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpstreamSignIn {
    used: bool,
}

impl UpstreamSignIn {
    /// A callback already came back with this state.
    pub fn is_used(&self) -> bool {
        self.used
    }
}

impl Aggregate for UpstreamSignIn {
    const TYPE: &'static str = "upstream_sign_in";
    type Command = UpstreamSignInCommand;
    type Event = UpstreamSignInEvent;
    type Error = UpstreamSignInError;
    type Services = ();

    async fn handle(
        &mut self,
        command: UpstreamSignInCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), UpstreamSignInError> {
        let event = match command {
            UpstreamSignInCommand::Complete {
                connector_id,
                user_id,
                subject,
            } => {
                // One state, one sign-in (OIDC Core §3.1.2.7, RFC 9700 §4.7).
                if self.used {
                    return Err(UpstreamSignInError::StateUsed);
                }
                UpstreamSignInEvent::UpstreamSignInCompleted {
                    connector_id,
                    user_id,
                    subject,
                }
            }
            // Every refusal is kept, replays of a used state included.
            UpstreamSignInCommand::Fail {
                connector_id,
                reason,
                upstream_error,
            } => UpstreamSignInEvent::UpstreamSignInFailed {
                connector_id,
                reason,
                upstream_error,
            },
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, _event: UpstreamSignInEvent) {
        // A failed state is spent too: the code it came with was refused or never checked.
        self.used = true;
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn complete() -> UpstreamSignInCommand {
        UpstreamSignInCommand::Complete {
            connector_id: "c".into(),
            user_id: "u".into(),
            subject: "s".into(),
        }
    }

    fn failed(reason: UpstreamFailure) -> UpstreamSignInEvent {
        UpstreamSignInEvent::UpstreamSignInFailed {
            connector_id: "c".into(),
            reason,
            upstream_error: None,
        }
    }

    #[test]
    fn a_state_completes_one_sign_in_only() {
        let completed = UpstreamSignInEvent::UpstreamSignInCompleted {
            connector_id: "c".into(),
            user_id: "u".into(),
            subject: "s".into(),
        };
        TestFramework::<UpstreamSignIn>::with(())
            .given_no_previous_events()
            .when(complete())
            .then_expect_events(vec![completed.clone()]);
        TestFramework::<UpstreamSignIn>::with(())
            .given(vec![completed])
            .when(complete())
            .then_expect_error(UpstreamSignInError::StateUsed);
        TestFramework::<UpstreamSignIn>::with(())
            .given(vec![failed(UpstreamFailure::NonceMismatch)])
            .when(complete())
            .then_expect_error(UpstreamSignInError::StateUsed);
    }

    #[test]
    fn refusals_are_always_recorded_with_a_stable_reason() {
        TestFramework::<UpstreamSignIn>::with(())
            .given(vec![failed(UpstreamFailure::BadSignature)])
            .when(UpstreamSignInCommand::Fail {
                connector_id: "c".into(),
                reason: UpstreamFailure::StateReplayed,
                upstream_error: None,
            })
            .then_expect_events(vec![failed(UpstreamFailure::StateReplayed)]);
        let json = serde_json::to_string(&failed(UpstreamFailure::WrongAudience)).unwrap();
        assert!(json.contains("\"wrong_audience\""), "{json}");
        for reason in [UpstreamFailure::UnknownKey, UpstreamFailure::StateMismatch] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::json!(reason.as_str())
            );
        }
    }
}
