//! A throttle engaging: too many failed sign-ins (or client authentications) for one account,
//! client or IP address. One stream per engagement, one event, for the audit trail and for
//! security teams watching for attacks.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottledAction {
    SignIn,
    ClientAuthentication,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngageThrottle {
    pub action: ThrottledAction,
    /// What was throttled: `account:user:<id>` (or `account:identifier:<pseudonym>` for an
    /// identifier naming no one), `ip:<address>` or `client:<client id>`.
    pub key: String,
    /// Unix seconds.
    pub until: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ThrottleEvent {
    SignInThrottled(EngageThrottle),
    ClientAuthenticationThrottled(EngageThrottle),
}

impl DomainEvent for ThrottleEvent {
    fn event_type(&self) -> String {
        match self {
            ThrottleEvent::SignInThrottled(_) => "SignInThrottled",
            ThrottleEvent::ClientAuthenticationThrottled(_) => "ClientAuthenticationThrottled",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this throttle was already recorded")]
pub struct AlreadyRecorded;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttle {
    recorded: bool,
}

impl Aggregate for Throttle {
    const TYPE: &'static str = "throttle";
    type Command = EngageThrottle;
    type Event = ThrottleEvent;
    type Error = AlreadyRecorded;
    type Services = ();

    async fn handle(
        &mut self,
        command: EngageThrottle,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AlreadyRecorded> {
        if self.recorded {
            return Err(AlreadyRecorded);
        }
        let event = match command.action {
            ThrottledAction::SignIn => ThrottleEvent::SignInThrottled(command),
            ThrottledAction::ClientAuthentication => {
                ThrottleEvent::ClientAuthenticationThrottled(command)
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, _event: ThrottleEvent) {
        self.recorded = true;
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    #[test]
    fn each_action_gets_its_own_event_once() {
        let sign_in = EngageThrottle {
            action: ThrottledAction::SignIn,
            key: "account:alice".into(),
            until: 100,
        };
        TestFramework::<Throttle>::with(())
            .given_no_previous_events()
            .when(sign_in.clone())
            .then_expect_events(vec![ThrottleEvent::SignInThrottled(sign_in.clone())]);
        let client = EngageThrottle {
            action: ThrottledAction::ClientAuthentication,
            ..sign_in.clone()
        };
        TestFramework::<Throttle>::with(())
            .given_no_previous_events()
            .when(client.clone())
            .then_expect_events(vec![ThrottleEvent::ClientAuthenticationThrottled(client)]);
        TestFramework::<Throttle>::with(())
            .given(vec![ThrottleEvent::SignInThrottled(sign_in.clone())])
            .when(sign_in)
            .then_expect_error(AlreadyRecorded);
    }
}
