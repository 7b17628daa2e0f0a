//! Who is asking: turns a request's peer address and headers into the metadata every event
//! carries.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};
use chrono::Utc;

use crate::commands::CommandContext;

pub fn request_context(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    actor: String,
) -> CommandContext {
    let text = |value: Option<&axum::http::HeaderValue>| {
        value
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect::<String>())
    };
    CommandContext {
        actor: Some(actor),
        ip: peer.map(|p| p.ip().to_string()),
        user_agent: text(headers.get(header::USER_AGENT)),
        request_id: text(headers.get("x-request-id")),
        now: Utc::now(),
    }
}
