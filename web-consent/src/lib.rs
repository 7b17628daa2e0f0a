//! The pages a person sees, rendered on the server with no JavaScript: sign-in, consent,
//! sign-out and errors. Every value is HTML-escaped by the template engine; nothing a
//! request carries is reflected raw. Every string comes from the locale tables
//! (`src/locales/`), in the language [`Locale::negotiate`] picks.
//!
//! This crate holds the markup, the strings and the one stylesheet; the api crate decides
//! which page to show and sets the security headers.

mod consent;
mod locale;
mod pages;

use askama::Template;

pub use consent::{
    Account, Branding, ConsentPage, OrganizationChoice, Permission, ResourcePermissions,
};
pub use locale::Locale;
pub use pages::{
    ConnectorButton, ErrorMessage, ErrorPage, SignInError, SignInPage, SignOutConfirmPage,
    SignedOutPage,
};

/// The one stylesheet, served at [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = include_str!("sigil.css");
pub const STYLESHEET_PATH: &str = "/assets/sigil.css";

/// Renders any page; a template that cannot render is a bug the tests catch, so the
/// fallback is a minimal static page rather than an error a user would see.
pub fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|_| {
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each page, in each language, with everything optional filled in.
    fn every_page() -> Vec<String> {
        let mut pages = vec![];
        for locale in Locale::ALL {
            pages.push(render(&SignInPage {
                locale,
                password: true,
                connectors: &[ConnectorButton {
                    action: "/oidc/connectors/c/start".into(),
                    display_name: "Acme".into(),
                    logo_url: Some("https://cdn.example.com/acme.png".into()),
                }],
                action: "/a",
                interaction: "i",
                csrf: "c",
                app_name: Some("App"),
                identifier: "",
                error: Some(SignInError::WrongCredentials),
            }));
            pages.push(render(&ConsentPage {
                locale,
                action: "/a",
                interaction: "i",
                csrf: "c",
                branding: Branding {
                    display_name: "App".into(),
                    logo_url: Some("https://cdn.example.com/l.png".into()),
                    terms_of_use_url: Some("https://example.com/t".into()),
                    privacy_policy_url: Some("https://example.com/p".into()),
                },
                account: Account {
                    identifier: "alice".into(),
                    name: None,
                },
                user_scopes: vec!["openid".into()],
                resources: vec![ResourcePermissions {
                    name: "API".into(),
                    scopes: vec![Permission {
                        name: "read".into(),
                        description: None,
                    }],
                }],
                organization_scopes: vec![Permission {
                    name: "org:read".into(),
                    description: None,
                }],
                organizations: vec![
                    OrganizationChoice {
                        id: "1".into(),
                        name: "One".into(),
                    },
                    OrganizationChoice {
                        id: "2".into(),
                        name: "Two".into(),
                    },
                ],
            }));
            pages.push(
                ErrorPage {
                    locale,
                    message: ErrorMessage::BadSignInRequest,
                    detail: Some("d"),
                    request_id: Some("r"),
                }
                .to_html(),
            );
            pages.push(render(&SignOutConfirmPage {
                locale,
                action: "/a",
                csrf: "c",
                app_name: None,
                fields: vec![],
            }));
            pages.push(render(&SignedOutPage {
                locale,
                app_name: None,
            }));
        }
        pages
    }

    #[test]
    fn pages_have_no_script_no_inline_style_and_only_our_stylesheet() {
        for html in every_page() {
            assert!(!html.contains("Something went wrong."), "did not render");
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("<style"), "{html}");
            assert!(!html.contains("style="), "{html}");
            let handlers = html
                .split('<')
                .filter_map(|tag| tag.split('>').next())
                .flat_map(str::split_whitespace)
                .filter(|attribute| attribute.starts_with("on") && attribute.contains('='))
                .count();
            assert_eq!(handlers, 0, "no event handler attributes: {html}");
            assert_eq!(html.matches("<link rel=\"stylesheet\"").count(), 1);
            assert!(html.contains("href=\"/assets/sigil.css\""));
            assert!(html.contains("name=\"viewport\""));
        }
    }

    #[test]
    fn every_input_is_labelled_and_nothing_jumps_the_tab_order() {
        for html in every_page() {
            assert!(!html.contains("tabindex=\"") || html.contains("tabindex=\"-1\""));
            for input in html.split("<input").skip(1) {
                let tag = &input[..input.find('>').unwrap()];
                if tag.contains("type=\"hidden\"") {
                    continue;
                }
                let id = tag
                    .split("id=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or_else(|| panic!("an input without an id: {tag}"));
                assert!(
                    html.contains(&format!("<label for=\"{id}\"")),
                    "no label for {id}"
                );
            }
        }
    }

    #[test]
    fn every_form_posts_a_csrf_token() {
        for html in every_page() {
            let forms = html.matches("<form ").count();
            assert_eq!(html.matches("name=\"csrf\"").count(), forms, "{html}");
            assert!(!html.contains("method=\"get\""));
        }
    }

    #[test]
    fn the_stylesheet_shows_focus_and_states_its_contrast() {
        assert!(STYLESHEET.contains(":focus-visible"));
        assert!(STYLESHEET.contains("AA"));
        assert!(STYLESHEET.contains("@media"));
    }
}
