//! A browser session at Sigil: the user signed in once, and apps after the first need not ask
//! again (single sign-on) until it ends. Failed sign-ins are recorded too, each as its own
//! one-event stream, so the audit trail has them without a user to hang them on.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionCommand {
    SignIn {
        user_id: String,
        /// Lowercase hex SHA-256 of the session cookie's value.
        token_digest: String,
        /// Unix seconds: the `auth_time` of ID tokens issued in this session.
        auth_time: i64,
        /// The application whose sign-in this was, if any.
        client_id: Option<String>,
        /// The connector the person signed in through; none for a password.
        connector_id: Option<String>,
    },
    End,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionEvent {
    UserSignedIn {
        user_id: String,
        token_digest: String,
        auth_time: i64,
        /// `password` or `connector`.
        method: String,
        client_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connector_id: Option<String>,
    },
    SessionEnded,
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> String {
        match self {
            SessionEvent::UserSignedIn { .. } => "UserSignedIn",
            SessionEvent::SessionEnded => "SessionEnded",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("this session already exists")]
    AlreadyStarted,
    #[error("no such session")]
    NotFound,
    #[error("the session token digest must be a lowercase hex SHA-256")]
    InvalidDigest,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    user_id: Option<String>,
    auth_time: i64,
    ended: bool,
}

impl Session {
    /// The signed-in user while the session lasts.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref().filter(|_| !self.ended)
    }

    pub fn auth_time(&self) -> i64 {
        self.auth_time
    }
}

pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Aggregate for Session {
    const TYPE: &'static str = "session";
    type Command = SessionCommand;
    type Event = SessionEvent;
    type Error = SessionError;
    type Services = ();

    async fn handle(
        &mut self,
        command: SessionCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SessionError> {
        match command {
            SessionCommand::SignIn {
                user_id,
                token_digest,
                auth_time,
                client_id,
                connector_id,
            } => {
                if self.user_id.is_some() {
                    return Err(SessionError::AlreadyStarted);
                }
                if !is_sha256_hex(&token_digest) {
                    return Err(SessionError::InvalidDigest);
                }
                let event = SessionEvent::UserSignedIn {
                    user_id,
                    token_digest,
                    auth_time,
                    method: match connector_id {
                        Some(_) => "connector",
                        None => "password",
                    }
                    .into(),
                    client_id,
                    connector_id,
                };
                sink.write(event, self).await;
            }
            SessionCommand::End => {
                if self.user_id.is_none() {
                    return Err(SessionError::NotFound);
                }
                // Ending twice (two tabs logging out) records nothing more.
                if !self.ended {
                    sink.write(SessionEvent::SessionEnded, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::UserSignedIn {
                user_id, auth_time, ..
            } => {
                self.user_id = Some(user_id);
                self.auth_time = auth_time;
            }
            SessionEvent::SessionEnded => self.ended = true,
        }
    }
}

/// A failed sign-in: one stream per attempt, one event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignInAttempt {
    recorded: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSignInFailure {
    /// The user the identifier named, when it named one.
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// `unknown_identifier`, `wrong_password` or `suspended`: never the password tried.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SignInAttemptEvent {
    SignInFailed(RecordSignInFailure),
}

impl DomainEvent for SignInAttemptEvent {
    fn event_type(&self) -> String {
        "SignInFailed".to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this attempt was already recorded")]
pub struct AttemptRecorded;

impl Aggregate for SignInAttempt {
    const TYPE: &'static str = "sign_in_attempt";
    type Command = RecordSignInFailure;
    type Event = SignInAttemptEvent;
    type Error = AttemptRecorded;
    type Services = ();

    async fn handle(
        &mut self,
        command: RecordSignInFailure,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AttemptRecorded> {
        if self.recorded {
            return Err(AttemptRecorded);
        }
        sink.write(SignInAttemptEvent::SignInFailed(command), self)
            .await;
        Ok(())
    }

    fn apply(&mut self, _event: SignInAttemptEvent) {
        self.recorded = true;
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn sign_in() -> SessionCommand {
        SessionCommand::SignIn {
            user_id: "u1".into(),
            token_digest: "b".repeat(64),
            auth_time: 1000,
            client_id: Some("app".into()),
            connector_id: None,
        }
    }

    fn signed_in() -> SessionEvent {
        SessionEvent::UserSignedIn {
            user_id: "u1".into(),
            token_digest: "b".repeat(64),
            auth_time: 1000,
            method: "password".into(),
            client_id: Some("app".into()),
            connector_id: None,
        }
    }

    #[test]
    fn signing_in_starts_a_session() {
        TestFramework::<Session>::with(())
            .given_no_previous_events()
            .when(sign_in())
            .then_expect_events(vec![signed_in()]);
    }

    #[test]
    fn a_sign_in_through_a_connector_says_so() {
        let SessionCommand::SignIn {
            user_id,
            token_digest,
            auth_time,
            client_id,
            ..
        } = sign_in()
        else {
            unreachable!()
        };
        TestFramework::<Session>::with(())
            .given_no_previous_events()
            .when(SessionCommand::SignIn {
                user_id: user_id.clone(),
                token_digest: token_digest.clone(),
                auth_time,
                client_id: client_id.clone(),
                connector_id: Some("c1".into()),
            })
            .then_expect_events(vec![SessionEvent::UserSignedIn {
                user_id,
                token_digest,
                auth_time,
                method: "connector".into(),
                client_id,
                connector_id: Some("c1".into()),
            }]);
    }

    #[test]
    fn a_session_starts_once_and_holds_digests_only() {
        TestFramework::<Session>::with(())
            .given(vec![signed_in()])
            .when(sign_in())
            .then_expect_error(SessionError::AlreadyStarted);
        TestFramework::<Session>::with(())
            .given_no_previous_events()
            .when(SessionCommand::SignIn {
                user_id: "u1".into(),
                token_digest: "cookie-value".into(),
                auth_time: 1,
                client_id: None,
                connector_id: None,
            })
            .then_expect_error(SessionError::InvalidDigest);
    }

    #[test]
    fn ending_twice_records_once_and_an_unknown_session_cannot_end() {
        TestFramework::<Session>::with(())
            .given(vec![signed_in()])
            .when(SessionCommand::End)
            .then_expect_events(vec![SessionEvent::SessionEnded]);
        TestFramework::<Session>::with(())
            .given(vec![signed_in(), SessionEvent::SessionEnded])
            .when(SessionCommand::End)
            .then_expect_events(vec![]);
        TestFramework::<Session>::with(())
            .given_no_previous_events()
            .when(SessionCommand::End)
            .then_expect_error(SessionError::NotFound);
    }

    #[test]
    fn an_ended_session_has_no_user() {
        let mut s = Session::default();
        s.apply(signed_in());
        assert_eq!(s.user_id(), Some("u1"));
        s.apply(SessionEvent::SessionEnded);
        assert_eq!(s.user_id(), None);
    }

    #[test]
    fn a_failed_attempt_is_recorded_once() {
        let failure = RecordSignInFailure {
            user_id: None,
            client_id: None,
            reason: "unknown_identifier".into(),
        };
        TestFramework::<SignInAttempt>::with(())
            .given_no_previous_events()
            .when(failure.clone())
            .then_expect_events(vec![SignInAttemptEvent::SignInFailed(failure.clone())]);
        TestFramework::<SignInAttempt>::with(())
            .given(vec![SignInAttemptEvent::SignInFailed(failure.clone())])
            .when(failure)
            .then_expect_error(AttemptRecorded);
    }
}
