//! A connector: an upstream OpenID provider people may sign in with ("Continue with …",
//! seed 004). Sigil is its relying party. The aggregate records the configuration an
//! administrator sets; the sign-in itself is the api's (`api/src/connectors`), and its
//! outcome is recorded on `UpstreamSignIn`, `User` and `Session`. The id is a uuid chosen by
//! the api.

mod config;
#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

pub use config::{
    AuthRequestOptions, CLIENT_SECRET_JWT_ALGORITHMS, ID_TOKEN_ALGORITHMS, IdTokenVerification,
    MAX_DISPLAY_NAME_CHARS, OidcConnectorConfig, RESERVED_PARAMS, TokenEndpointAuthMethod,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectorCommand {
    Configure(OidcConnectorConfig),
    /// The whole new configuration: the api merges the admin's partial input into the
    /// current one (and resolves discovery again) before it asks.
    Update(OidcConnectorConfig),
    Delete,
}

/// Facts about a connector. Version "1.0". The client secret is sealed in them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectorEvent {
    ConnectorConfigured { config: OidcConnectorConfig },
    ConnectorUpdated { config: OidcConnectorConfig },
    ConnectorDeleted,
}

impl DomainEvent for ConnectorEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ConnectorConfigured { .. } => "ConnectorConfigured",
            Self::ConnectorUpdated { .. } => "ConnectorUpdated",
            Self::ConnectorDeleted => "ConnectorDeleted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    #[error("connector not found")]
    NotFound,
    #[error("connector already exists")]
    AlreadyExists,
    #[error("displayName must not be empty")]
    DisplayNameEmpty,
    #[error("scope must include openid")]
    ScopeWithoutOpenid,
    #[error(
        "{0} must be an https URL (http only to a loopback host), without fragment or credentials"
    )]
    InvalidUrl(String),
    #[error("{0} is invalid")]
    Invalid(String),
    #[error("customConfig may not set {0}: the flow sets it itself")]
    ReservedParameter(String),
    #[error("the client secret must be sealed before it is recorded")]
    SecretNotSealed,
}

/// State of one connector. The default value is "never configured".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    status: Status,
    config: OidcConnectorConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Status {
    #[default]
    Absent,
    Active,
    Deleted,
}

impl Aggregate for Connector {
    const TYPE: &'static str = "connector";
    type Command = ConnectorCommand;
    type Event = ConnectorEvent;
    type Error = ConnectorError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ConnectorCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ConnectorError> {
        let event = match command {
            ConnectorCommand::Configure(config) => {
                // A deleted id stays taken: links to it must never name another provider.
                if self.status != Status::Absent {
                    return Err(ConnectorError::AlreadyExists);
                }
                config.validate()?;
                Some(ConnectorEvent::ConnectorConfigured { config })
            }
            ConnectorCommand::Update(config) => {
                self.active()?;
                config.validate()?;
                (config != self.config).then_some(ConnectorEvent::ConnectorUpdated { config })
            }
            ConnectorCommand::Delete => {
                self.active()?;
                Some(ConnectorEvent::ConnectorDeleted)
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ConnectorEvent) {
        match event {
            ConnectorEvent::ConnectorConfigured { config }
            | ConnectorEvent::ConnectorUpdated { config } => {
                self.status = Status::Active;
                self.config = config;
            }
            ConnectorEvent::ConnectorDeleted => {
                *self = Connector {
                    status: Status::Deleted,
                    config: OidcConnectorConfig::default(),
                }
            }
        }
    }
}

impl Connector {
    fn active(&self) -> Result<(), ConnectorError> {
        match self.status {
            Status::Active => Ok(()),
            _ => Err(ConnectorError::NotFound),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    /// Active and enabled: people may sign in with it.
    pub fn is_enabled(&self) -> bool {
        self.is_active() && self.config.enabled
    }

    pub fn config(&self) -> &OidcConnectorConfig {
        &self.config
    }
}
