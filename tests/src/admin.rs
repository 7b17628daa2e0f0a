//! The management API as a test drives it: GraphQL over HTTP with a bootstrapped admin
//! token, and subscriptions over the graphql-transport-ws WebSocket.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::TestServer;
use crate::flow::token;

pub const MANAGEMENT: &str = "urn:sigil:management";

/// POSTs a GraphQL request; returns the status and the body.
pub async fn gql_raw(
    server: &TestServer,
    bearer: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(server.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A GraphQL request that must succeed; returns `data`.
pub async fn gql(server: &TestServer, bearer: &str, query: &str, variables: Value) -> Value {
    let (status, body) = gql_raw(server, Some(bearer), query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{query}\n{body}");
    body["data"].clone()
}

/// A GraphQL request that must fail; returns the first error's `extensions.code`.
pub async fn gql_error(server: &TestServer, bearer: &str, query: &str, variables: Value) -> String {
    let (status, body) = gql_raw(server, Some(bearer), query, variables).await;
    assert_eq!(status, 200, "{body}");
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
        .to_string()
}

/// Bootstraps and gets a management token, as an integration would.
pub async fn admin_token(server: &TestServer) -> String {
    let printed = sigil_api::bootstrap::bootstrap(&server.commands, &server.issuer())
        .await
        .unwrap();
    assert_eq!(printed.token_endpoint, format!("{}/token", server.issuer()));
    assert_eq!(
        (printed.resource.as_str(), printed.scope.as_str()),
        (MANAGEMENT, "all")
    );
    client_token(
        server,
        &printed.client_id,
        &printed.client_secret,
        Some(MANAGEMENT),
        Some("all"),
    )
    .await
}

pub async fn client_token(
    server: &TestServer,
    id: &str,
    secret: &str,
    resource: Option<&str>,
    scope: Option<&str>,
) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let (status, body) = token(&server.base, &form, Some((id, secret))).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection to `/graphql`.
pub struct Live {
    socket: Socket,
}

impl Live {
    /// Connects without saying anything yet.
    pub async fn connect(server: &TestServer) -> Live {
        let mut request = format!("{}/graphql", server.base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        Live {
            socket: tokio_tungstenite::connect_async(request).await.unwrap().0,
        }
    }

    /// Connects and authenticates with `bearer`; panics unless acknowledged.
    pub async fn start(server: &TestServer, bearer: &str) -> Live {
        let mut live = Live::connect(server).await;
        live.send(json!({ "type": "connection_init",
                          "payload": { "Authorization": format!("Bearer {bearer}") } }))
            .await;
        assert_eq!(live.receive().await["type"], "connection_ack");
        live
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// Starts subscription `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
            .await;
    }

    /// The next text message, within 10 s.
    pub async fn receive(&mut self) -> Value {
        loop {
            if let Message::Text(text) = self.next_frame(Duration::from_secs(10)).await {
                return serde_json::from_str(&text).unwrap();
            }
        }
    }

    /// The next frame, if one comes within `timeout` and the socket is open.
    pub async fn try_next(&mut self, timeout: Duration) -> Option<Message> {
        match tokio::time::timeout(timeout, self.socket.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            _ => None,
        }
    }

    async fn next_frame(&mut self, timeout: Duration) -> Message {
        self.try_next(timeout)
            .await
            .expect("a message within the time, on an open socket")
    }
}
