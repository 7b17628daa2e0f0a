//! The pages a person sees, rendered on the server with no JavaScript. Every value is
//! HTML-escaped by the template engine; nothing a request carries is reflected raw.
//!
//! This crate holds the markup and strings; the api crate decides which page to show and
//! sets the security headers.

use askama::Template;

/// The one stylesheet, served at [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = include_str!("sigil.css");
pub const STYLESHEET_PATH: &str = "/assets/sigil.css";

/// A plain explanation of what went wrong, with the request id a person can quote to
/// support. Never a stack trace.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub lang: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub request_id: Option<&'a str>,
}

impl ErrorPage<'_> {
    /// Renders the page; a template that cannot render is a bug caught by the tests, so the
    /// fallback is a minimal static page rather than an error a user would see.
    pub fn to_html(&self) -> String {
        self.render().unwrap_or_else(|_| {
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_page_escapes_what_it_shows() {
        let html = ErrorPage {
            lang: "en",
            title: "Not found",
            message: "<script>alert(1)</script>",
            request_id: Some("req-\"1\""),
        }
        .to_html();
        assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("Request ID"));
        assert!(html.contains("/assets/sigil.css"));
    }

    #[test]
    fn request_id_is_optional() {
        let html = ErrorPage {
            lang: "en",
            title: "Oops",
            message: "m",
            request_id: None,
        }
        .to_html();
        assert!(!html.contains("Request ID"));
    }
}
