//! A user's consent to one application: which scopes it may have. Third-party applications
//! must have it before they get anything (seed 001); it is remembered, so the user is not
//! asked again for scopes already granted, and it can be revoked.

use std::collections::BTreeSet;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// The stream id of a user's consent to an application.
pub fn consent_id(user_id: &str, client_id: &str) -> String {
    format!("{user_id}:{client_id}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConsentCommand {
    Grant {
        user_id: String,
        client_id: String,
        scopes: Vec<String>,
    },
    Revoke,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConsentEvent {
    /// `scopes` are the ones newly granted by this decision.
    ConsentGranted {
        user_id: String,
        client_id: String,
        scopes: Vec<String>,
    },
    ConsentRevoked,
}

impl DomainEvent for ConsentEvent {
    fn event_type(&self) -> String {
        match self {
            ConsentEvent::ConsentGranted { .. } => "ConsentGranted",
            ConsentEvent::ConsentRevoked => "ConsentRevoked",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    #[error("there is no consent to revoke")]
    NothingToRevoke,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    scopes: BTreeSet<String>,
}

impl Consent {
    /// Whether every one of `scopes` was granted.
    pub fn covers<'a>(&self, scopes: impl IntoIterator<Item = &'a String>) -> bool {
        scopes.into_iter().all(|s| self.scopes.contains(s))
    }

    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.scopes
    }
}

impl Aggregate for Consent {
    const TYPE: &'static str = "consent";
    type Command = ConsentCommand;
    type Event = ConsentEvent;
    type Error = ConsentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ConsentCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ConsentError> {
        match command {
            ConsentCommand::Grant {
                user_id,
                client_id,
                scopes,
            } => {
                let new: Vec<String> = scopes
                    .into_iter()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .filter(|s| !self.scopes.contains(s))
                    .collect();
                // Re-granting what is already granted is not news.
                if !new.is_empty() {
                    let event = ConsentEvent::ConsentGranted {
                        user_id,
                        client_id,
                        scopes: new,
                    };
                    sink.write(event, self).await;
                }
            }
            ConsentCommand::Revoke => {
                if self.scopes.is_empty() {
                    return Err(ConsentError::NothingToRevoke);
                }
                sink.write(ConsentEvent::ConsentRevoked, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: ConsentEvent) {
        match event {
            ConsentEvent::ConsentGranted { scopes, .. } => self.scopes.extend(scopes),
            ConsentEvent::ConsentRevoked => self.scopes.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn grant(scopes: &[&str]) -> ConsentCommand {
        ConsentCommand::Grant {
            user_id: "u".into(),
            client_id: "c".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn granted(scopes: &[&str]) -> ConsentEvent {
        ConsentEvent::ConsentGranted {
            user_id: "u".into(),
            client_id: "c".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn granting_records_only_new_scopes() {
        TestFramework::<Consent>::with(())
            .given(vec![granted(&["openid"])])
            .when(grant(&["profile", "openid", "profile"]))
            .then_expect_events(vec![granted(&["profile"])]);
        TestFramework::<Consent>::with(())
            .given(vec![granted(&["openid", "profile"])])
            .when(grant(&["openid"]))
            .then_expect_events(vec![]);
    }

    #[test]
    fn revoking_forgets_everything_and_needs_something_to_revoke() {
        TestFramework::<Consent>::with(())
            .given(vec![granted(&["openid"])])
            .when(ConsentCommand::Revoke)
            .then_expect_events(vec![ConsentEvent::ConsentRevoked]);
        TestFramework::<Consent>::with(())
            .given(vec![granted(&["openid"]), ConsentEvent::ConsentRevoked])
            .when(ConsentCommand::Revoke)
            .then_expect_error(ConsentError::NothingToRevoke);
    }

    #[test]
    fn coverage() {
        let mut c = Consent::default();
        c.apply(granted(&["openid", "email"]));
        assert!(c.covers(&["openid".to_string()]));
        assert!(!c.covers(&["openid".to_string(), "profile".to_string()]));
        c.apply(ConsentEvent::ConsentRevoked);
        assert!(!c.covers(&["openid".to_string()]));
    }
}
