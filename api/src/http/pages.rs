//! HTML responses: the stylesheet and the error page, with the headers every page carries.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sigil_web_consent::{ErrorPage, STYLESHEET};

/// Pages may not be framed (clickjacking), load nothing but our own stylesheet, and leak no
/// referrer.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' https:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

pub async fn not_found(headers: HeaderMap) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address. Check the link you followed.",
        &headers,
    )
}

/// Renders the error page with the request's id.
pub fn error_page(status: StatusCode, title: &str, message: &str, headers: &HeaderMap) -> Response {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let page = ErrorPage {
        lang: "en",
        title,
        message,
        request_id,
    }
    .to_html();
    html(status, page)
}

/// An HTML response with the headers every page carries.
pub fn html(status: StatusCode, page: String) -> Response {
    let mut response = (status, page).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Browsers apply CSP `form-action` to the redirects that follow a form's submission too
/// (CSP Level 3 §6.4.1), so the page's `form-action 'self'` would block the 303 to the
/// application. Adds the one registered, already checked destination.
pub fn allow_form_redirect(response: &mut Response, uri: &str) {
    let Ok(url) = url::Url::parse(uri) else {
        return;
    };
    let source = match url.origin() {
        origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
        // A native app's private-use scheme (RFC 8252 §7.1) has no origin; CSP names it as
        // a scheme source.
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    let headers = response.headers_mut();
    let widened = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(|csp| {
            csp.replace(
                "form-action 'self'",
                &format!("form-action 'self' {source}"),
            )
        });
    if let Some(v) = widened.and_then(|csp| HeaderValue::from_str(&csp).ok()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
}
