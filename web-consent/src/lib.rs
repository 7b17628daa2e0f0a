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

/// The sign-in page (CONTRACT.md: "Username or email", "Password", "Sign in").
#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage<'a> {
    pub lang: &'a str,
    pub action: &'a str,
    pub interaction: &'a str,
    pub csrf: &'a str,
    pub app_name: Option<&'a str>,
    pub identifier: &'a str,
    pub error: Option<&'a str>,
}

/// The consent page: the application's name as the heading, each permission a list item,
/// Authorize and Cancel.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub lang: &'a str,
    pub action: &'a str,
    pub interaction: &'a str,
    pub csrf: &'a str,
    pub app_name: &'a str,
    pub account: &'a str,
    pub permissions: Vec<String>,
}

/// Renders any page; a template that cannot render is a bug the tests catch.
pub fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|_| {
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
    })
}

/// A person-readable description of a scope, for the consent page.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Sign you in with your account".into(),
        "profile" => "See your name and username".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Keep access while you are away".into(),
        other => format!("Use the permission \"{other}\""),
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

#[cfg(test)]
mod page_tests {
    use super::*;

    #[test]
    fn sign_in_page_has_the_contract_labels_and_escapes_values() {
        let html = render(&SignInPage {
            lang: "en",
            action: "/oidc/interaction/sign-in",
            interaction: "abc",
            csrf: "tok",
            app_name: Some("<Photos>"),
            identifier: "\"><script>",
            error: Some("The username or password is incorrect."),
        });
        for label in [
            "Username or email",
            "Password",
            "Sign in",
            "name=\"identifier\"",
            "name=\"password\"",
        ] {
            assert!(html.contains(label), "{label}");
        }
        assert!(!html.contains("<script>") && !html.contains("<Photos>"));
    }

    #[test]
    fn consent_page_lists_permissions_with_authorize_and_cancel() {
        let html = render(&ConsentPage {
            lang: "en",
            action: "/oidc/interaction/consent",
            interaction: "abc",
            csrf: "tok",
            app_name: "Photos",
            account: "alice",
            permissions: vec![describe_scope("openid"), describe_scope("email")],
        });
        assert!(html.contains("<h1>Photos</h1>"));
        assert!(html.contains("<li>See your email address</li>"));
        assert!(html.contains(">Authorize</button>") && html.contains(">Cancel</button>"));
    }
}

/// Asks the person to confirm signing out (OpenID Connect RP-Initiated Logout 1.0 §2: the OP
/// MUST ask when it cannot tell from an ID token hint that the request is the user's own).
/// `fields` are the logout request's parameters, carried through the form unchanged.
#[derive(Template)]
#[template(path = "sign_out_confirm.html")]
pub struct SignOutConfirmPage<'a> {
    pub lang: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub app_name: Option<&'a str>,
    pub fields: Vec<(&'a str, &'a str)>,
}

/// Shown after signing out when there is nowhere to send the person back to.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage<'a> {
    pub lang: &'a str,
    pub app_name: Option<&'a str>,
}

#[cfg(test)]
mod sign_out_page_tests {
    use super::*;

    #[test]
    fn sign_out_confirmation_carries_the_request_escaped_with_a_sign_out_button() {
        let html = render(&SignOutConfirmPage {
            lang: "en",
            action: "/oidc/session/end",
            csrf: "tok",
            app_name: Some("<Photos>"),
            fields: vec![("state", "\"><script>"), ("client_id", "spa")],
        });
        assert!(html.contains(">Sign out</button>"), "{html}");
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        assert!(html.contains("name=\"client_id\" value=\"spa\""));
        assert!(!html.contains("<script>") && !html.contains("<Photos>"));
    }

    #[test]
    fn signed_out_page_says_so() {
        let html = render(&SignedOutPage {
            lang: "en",
            app_name: None,
        });
        assert!(html.contains("You are signed out"));
    }
}
