//! How people may sign in: with a password, through connectors, or both (Logto's sign-in
//! experience). One aggregate with a fixed id; with no event yet, both are offered, as
//! before connectors existed.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// The one stream's id.
pub const SIGN_IN_EXPERIENCE_ID: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInMethods {
    pub password: bool,
    pub connectors: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SignInExperienceCommand {
    Update(SignInMethods),
}

/// Version "1.0".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SignInExperienceEvent {
    SignInExperienceUpdated(SignInMethods),
}

impl DomainEvent for SignInExperienceEvent {
    fn event_type(&self) -> String {
        "SignInExperienceUpdated".to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInExperienceError {
    #[error("at least one way to sign in must stay offered")]
    NoMethod,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignInExperience {
    methods: SignInMethods,
}

impl Default for SignInExperience {
    fn default() -> Self {
        SignInExperience {
            methods: SignInMethods {
                password: true,
                connectors: true,
            },
        }
    }
}

impl SignInExperience {
    pub fn methods(&self) -> SignInMethods {
        self.methods
    }
}

impl Aggregate for SignInExperience {
    const TYPE: &'static str = "sign_in_experience";
    type Command = SignInExperienceCommand;
    type Event = SignInExperienceEvent;
    type Error = SignInExperienceError;
    type Services = ();

    async fn handle(
        &mut self,
        command: SignInExperienceCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SignInExperienceError> {
        let SignInExperienceCommand::Update(methods) = command;
        // Both off would lock every user out, the administrators' own accounts included.
        if !methods.password && !methods.connectors {
            return Err(SignInExperienceError::NoMethod);
        }
        if methods != self.methods {
            sink.write(
                SignInExperienceEvent::SignInExperienceUpdated(methods),
                self,
            )
            .await;
        }
        Ok(())
    }

    fn apply(&mut self, event: SignInExperienceEvent) {
        let SignInExperienceEvent::SignInExperienceUpdated(methods) = event;
        self.methods = methods;
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    const BOTH: SignInMethods = SignInMethods {
        password: true,
        connectors: true,
    };
    const CONNECTORS_ONLY: SignInMethods = SignInMethods {
        password: false,
        connectors: true,
    };

    #[test]
    fn methods_change_but_never_all_off() {
        TestFramework::<SignInExperience>::with(())
            .given_no_previous_events()
            .when(SignInExperienceCommand::Update(CONNECTORS_ONLY))
            .then_expect_events(vec![SignInExperienceEvent::SignInExperienceUpdated(
                CONNECTORS_ONLY,
            )]);
        TestFramework::<SignInExperience>::with(())
            .given_no_previous_events()
            .when(SignInExperienceCommand::Update(BOTH))
            .then_expect_events(vec![]);
        TestFramework::<SignInExperience>::with(())
            .given_no_previous_events()
            .when(SignInExperienceCommand::Update(SignInMethods {
                password: false,
                connectors: false,
            }))
            .then_expect_error(SignInExperienceError::NoMethod);
    }
}
