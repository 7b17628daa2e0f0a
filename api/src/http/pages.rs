//! HTML responses: the stylesheet, the error page and the page language, with the headers
//! every page carries.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sigil_web_consent::{ErrorMessage, ErrorPage, Locale, STYLESHEET};

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
    error_page(StatusCode::NOT_FOUND, ErrorMessage::NotFound, &headers)
}

/// The language of a page: the request's `ui_locales` when it has one Sigil speaks, else
/// the browser's `Accept-Language`, else English.
pub fn locale(ui_locales: Option<&str>, headers: &HeaderMap) -> Locale {
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Locale::negotiate(ui_locales, accept_language)
}

/// Renders the error page, in the browser's language, with the request's id.
pub fn error_page(status: StatusCode, message: ErrorMessage, headers: &HeaderMap) -> Response {
    error_page_with(status, message, None, None, headers)
}

/// The error page with a `detail` in the protocol's terms (why a request was refused) and
/// the request's own `ui_locales`, when it got far enough to have them.
pub fn error_page_with(
    status: StatusCode,
    message: ErrorMessage,
    detail: Option<&str>,
    ui_locales: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let page = ErrorPage {
        locale: locale(ui_locales, headers),
        message,
        detail,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(response: &Response) -> Vec<(String, String)> {
        response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response.headers()[name].to_str().unwrap()
    }

    fn body(response: Response) -> String {
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
                .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn every_page_forbids_framing_scripts_and_referrers() {
        let page = html(StatusCode::OK, "<p>hi</p>".into());
        assert_eq!(header(&page, "x-frame-options"), "DENY");
        assert_eq!(header(&page, "referrer-policy"), "no-referrer");
        assert_eq!(header(&page, "x-content-type-options"), "nosniff");
        assert_eq!(header(&page, "cache-control"), "no-store");
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        let csp = header(&page, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("style-src 'self'"), "{csp}");
        assert!(csp.contains("img-src 'self' https:"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert!(!csp.contains("script-src"), "no script at all: {csp}");
    }

    #[test]
    fn widening_form_action_keeps_every_other_directive() {
        let mut page = html(StatusCode::OK, String::new());
        let before = header(&page, "content-security-policy").to_string();
        allow_form_redirect(&mut page, "https://app.example.com/callback?x=1");
        let after = header(&page, "content-security-policy");
        assert_eq!(
            after,
            before.replace(
                "form-action 'self'",
                "form-action 'self' https://app.example.com"
            )
        );
        allow_form_redirect(&mut page, "com.example.app:/callback");
        assert!(header(&page, "content-security-policy").contains("com.example.app:"));
        assert!(
            headers_of(&page)
                .iter()
                .any(|(k, _)| k == "x-frame-options")
        );
    }

    #[test]
    fn error_pages_speak_the_browsers_language_and_name_the_request() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("req-42"));
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr;q=1, ja-JP;q=0.8, en;q=0.5"),
        );
        let page = error_page(StatusCode::NOT_FOUND, ErrorMessage::NotFound, &headers);
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&page, "x-frame-options"), "DENY");
        let html = body(page);
        assert!(html.contains("<html lang=\"ja\">"), "{html}");
        assert!(html.contains("req-42"));
        // The request's ui_locales beats the browser.
        let page = error_page_with(
            StatusCode::BAD_REQUEST,
            ErrorMessage::BadSignInRequest,
            Some("<b>unknown client</b>"),
            Some("en"),
            &headers,
        );
        let html = body(page);
        assert!(html.contains("<html lang=\"en\">"), "{html}");
        assert!(html.contains("This sign-in link does not work"));
        assert!(html.contains("&#60;b&#62;unknown client") && !html.contains("<b>"));
    }

    #[test]
    fn without_accept_language_pages_are_english() {
        assert_eq!(locale(None, &HeaderMap::new()), Locale::En);
        assert_eq!(locale(Some("ja"), &HeaderMap::new()), Locale::Ja);
    }
}
