//! The other pages: sign-in, sign-out (confirmation and done) and errors.

use askama::Template;

use crate::Locale;

/// What went wrong, as the person is told it: each is a title and a plain explanation of
/// what to do next, in the page's language. Never a stack trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorMessage {
    NotFound,
    /// The server failed during sign-in (logged with the request id).
    SignInFailed,
    /// The server failed during sign-out.
    SignOutFailed,
    /// The sign-in form came back without its CSRF token or interaction, or too late.
    SignInExpired,
    /// The consent form came back without its CSRF token, interaction or session.
    RequestExpired,
    /// The sign-out form came back without its CSRF token.
    SignOutExpired,
    /// An authorization request that cannot be sent back to the client (RFC 6749
    /// §4.1.2.1); the page shows why as its detail.
    BadSignInRequest,
    /// A logout request that could not be parsed; the detail says why.
    BadSignOutRequest,
    /// `id_token_hint` not signed by us (RP-Initiated Logout §4).
    SignOutUnverifiedHint,
    /// `client_id` is not the hint's audience (RP-Initiated Logout §2).
    SignOutClientMismatch,
    /// A sign-in through a connector was refused; the detail is the reason's code.
    UpstreamSignInFailed,
    /// The connector's provider could not be reached or did not redeem the code.
    UpstreamUnavailable,
    /// A connector's callback came back without its state, too late, or a second time.
    UpstreamSignInExpired,
}

impl ErrorMessage {
    pub const ALL: [ErrorMessage; 13] = [
        ErrorMessage::NotFound,
        ErrorMessage::SignInFailed,
        ErrorMessage::SignOutFailed,
        ErrorMessage::SignInExpired,
        ErrorMessage::RequestExpired,
        ErrorMessage::SignOutExpired,
        ErrorMessage::BadSignInRequest,
        ErrorMessage::BadSignOutRequest,
        ErrorMessage::SignOutUnverifiedHint,
        ErrorMessage::SignOutClientMismatch,
        ErrorMessage::UpstreamSignInFailed,
        ErrorMessage::UpstreamUnavailable,
        ErrorMessage::UpstreamSignInExpired,
    ];

    /// The keys of its title and its explanation.
    pub fn keys(self) -> (&'static str, &'static str) {
        use ErrorMessage::*;
        match self {
            NotFound => ("error.not_found.title", "error.not_found.message"),
            SignInFailed => ("error.server.title", "error.server.sign_in"),
            SignOutFailed => ("error.server.title", "error.server.sign_out"),
            SignInExpired => (
                "error.sign_in_expired.title",
                "error.sign_in_expired.message",
            ),
            RequestExpired => (
                "error.request_expired.title",
                "error.request_expired.message",
            ),
            SignOutExpired => (
                "error.sign_out_expired.title",
                "error.sign_out_expired.message",
            ),
            BadSignInRequest => ("error.bad_sign_in.title", "error.bad_sign_in.message"),
            BadSignOutRequest => ("error.bad_sign_out.title", "error.bad_sign_out.message"),
            SignOutUnverifiedHint => (
                "error.bad_sign_out.title",
                "error.bad_sign_out.unverified_hint",
            ),
            SignOutClientMismatch => (
                "error.bad_sign_out.title",
                "error.bad_sign_out.client_mismatch",
            ),
            UpstreamSignInFailed => ("error.upstream.title", "error.upstream.refused"),
            UpstreamUnavailable => ("error.upstream.title", "error.upstream.unavailable"),
            UpstreamSignInExpired => ("error.sign_in_expired.title", "error.upstream.expired"),
        }
    }
}

/// A plain explanation of what went wrong, with the request id a person can quote to
/// support.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub locale: Locale,
    pub message: ErrorMessage,
    /// Why, in the protocol's terms (shown as it is, escaped), for a person to pass on to
    /// the application's developers.
    pub detail: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

impl ErrorPage<'_> {
    /// Renders the page; a template that cannot render is a bug caught by the tests, so the
    /// fallback is a minimal static page rather than an error a user would see.
    pub fn to_html(&self) -> String {
        crate::render(self)
    }

    fn title(&self) -> &'static str {
        self.locale.t(self.message.keys().0)
    }

    fn explanation(&self) -> &'static str {
        self.locale.t(self.message.keys().1)
    }
}

/// Why the sign-in form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInError {
    /// The same words for every failure: which part was wrong is not for an attacker to
    /// learn.
    WrongCredentials,
    /// Too many failures; try again after this many minutes.
    Throttled { minutes: u64 },
}

/// A "Continue with {displayName}" button (CONTRACT.md): a form that starts the sign-in
/// through one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorButton {
    pub action: String,
    pub display_name: String,
    /// Shown only when it is an https address (the page's CSP allows no other image).
    pub logo_url: Option<String>,
}

/// The sign-in page (CONTRACT.md: "Username or email", "Password", "Sign in", and "Continue
/// with {displayName}" per enabled connector).
#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage<'a> {
    pub locale: Locale,
    /// Whether the password form is offered (the sign-in experience).
    pub password: bool,
    pub connectors: &'a [ConnectorButton],
    pub action: &'a str,
    pub interaction: &'a str,
    pub csrf: &'a str,
    pub app_name: Option<&'a str>,
    pub identifier: &'a str,
    pub error: Option<SignInError>,
}

impl SignInPage<'_> {
    fn continue_with(&self, button: &ConnectorButton) -> String {
        self.locale.fmt(
            "sign_in.continue_with",
            &[("provider", &button.display_name)],
        )
    }

    fn logo<'b>(&self, button: &'b ConnectorButton) -> Option<&'b str> {
        button
            .logo_url
            .as_deref()
            .filter(|u| u.starts_with("https://"))
    }

    fn continue_to(&self) -> Option<String> {
        self.app_name
            .map(|app| self.locale.fmt("sign_in.continue_to", &[("app", app)]))
    }

    fn error_text(&self) -> Option<String> {
        self.error.map(|e| match e {
            SignInError::WrongCredentials => self.locale.t("sign_in.wrong_credentials").into(),
            SignInError::Throttled { minutes } => {
                let key = if minutes == 1 {
                    "sign_in.throttled.one"
                } else {
                    "sign_in.throttled.other"
                };
                self.locale.fmt(key, &[("minutes", &minutes.to_string())])
            }
        })
    }
}

/// Asks the person to confirm signing out (OpenID Connect RP-Initiated Logout 1.0 §2: the OP
/// MUST ask when it cannot tell from an ID token hint that the request is the user's own).
/// `fields` are the logout request's parameters, carried through the form unchanged.
#[derive(Template)]
#[template(path = "sign_out_confirm.html")]
pub struct SignOutConfirmPage<'a> {
    pub locale: Locale,
    pub action: &'a str,
    pub csrf: &'a str,
    pub app_name: Option<&'a str>,
    pub fields: Vec<(&'a str, &'a str)>,
}

impl SignOutConfirmPage<'_> {
    fn question(&self) -> String {
        match self.app_name {
            Some(app) => self.locale.fmt("sign_out.app_asks", &[("app", app)]),
            None => self.locale.t("sign_out.question").into(),
        }
    }
}

/// Shown after signing out when there is nowhere to send the person back to.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage<'a> {
    pub locale: Locale,
    pub app_name: Option<&'a str>,
}

impl SignedOutPage<'_> {
    fn next_step(&self) -> String {
        match self.app_name {
            Some(app) => self.locale.fmt("signed_out.return", &[("app", app)]),
            None => self.locale.t("signed_out.close").into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    /// As the template engine escapes text.
    fn escaped(text: &str) -> String {
        text.replace('&', "&#38;")
            .replace('<', "&#60;")
            .replace('>', "&#62;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;")
    }

    fn sign_in(locale: Locale, error: Option<SignInError>) -> String {
        render(&SignInPage {
            locale,
            password: true,
            connectors: &[],
            action: "/oidc/interaction/sign-in",
            interaction: "abc",
            csrf: "tok",
            app_name: Some("<Photos>"),
            identifier: "\"><script>",
            error,
        })
    }

    #[test]
    fn error_page_escapes_what_it_shows() {
        let html = ErrorPage {
            locale: Locale::En,
            message: ErrorMessage::BadSignInRequest,
            detail: Some("<script>alert(1)</script>"),
            request_id: Some("req-\"1\""),
        }
        .to_html();
        assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<h1>This sign-in link does not work</h1>"));
        assert!(html.contains("Request ID") && html.contains("req-&#34;1&#34;"));
        assert!(html.contains("/assets/sigil.css"));
    }

    #[test]
    fn request_id_and_detail_are_optional() {
        let html = ErrorPage {
            locale: Locale::En,
            message: ErrorMessage::NotFound,
            detail: None,
            request_id: None,
        }
        .to_html();
        assert!(html.contains("<h1>Page not found</h1>"));
        assert!(!html.contains("Request ID") && !html.contains("Details"));
    }

    #[test]
    fn every_error_message_exists_in_every_language() {
        for locale in Locale::ALL {
            for message in ErrorMessage::ALL {
                let (title, text) = message.keys();
                for key in [title, text] {
                    assert!(locale.keys().any(|k| k == key), "{locale:?} lacks {key}");
                }
                let html = ErrorPage {
                    locale,
                    message,
                    detail: None,
                    request_id: Some("r1"),
                }
                .to_html();
                assert!(html.contains(&format!("<html lang=\"{}\">", locale.tag())));
                assert!(html.contains(&escaped(locale.t(title))), "{html}");
                assert!(html.contains(&escaped(locale.t(text))), "{html}");
            }
        }
    }

    #[test]
    fn japanese_error_page() {
        let html = ErrorPage {
            locale: Locale::Ja,
            message: ErrorMessage::NotFound,
            detail: None,
            request_id: Some("r1"),
        }
        .to_html();
        assert!(html.contains("<html lang=\"ja\">"));
        assert!(html.contains("<h1>ページが見つかりません</h1>"));
        assert!(html.contains("リクエスト ID"));
    }

    #[test]
    fn sign_in_page_has_the_contract_labels_and_escapes_values() {
        let html = sign_in(Locale::En, Some(SignInError::WrongCredentials));
        for label in [
            "<label for=\"identifier\">Username or email</label>",
            "<label for=\"password\">Password</label>",
            ">Sign in</button>",
            "name=\"identifier\"",
            "name=\"password\"",
            "name=\"csrf\" value=\"tok\"",
            "The username, email or password is incorrect.",
            "to continue to &#60;Photos&#62;",
        ] {
            assert!(html.contains(label), "{label} in {html}");
        }
        assert!(!html.contains("<script>") && !html.contains("<Photos>"));
        // The error is announced and tied to the fields it is about.
        assert!(html.contains("role=\"alert\""));
        assert!(html.contains("aria-describedby=\"sign-in-error\""));
    }

    #[test]
    fn japanese_sign_in_page() {
        let html = sign_in(Locale::Ja, Some(SignInError::Throttled { minutes: 5 }));
        assert!(html.contains("<html lang=\"ja\">"));
        assert!(html.contains(">ユーザー名またはメールアドレス</label>"));
        assert!(html.contains(">パスワード</label>"));
        assert!(html.contains(">サインイン</button>"));
        assert!(html.contains("5 分後にもう一度お試しください"));
        assert!(!html.contains("Username or email"));
    }

    #[test]
    fn throttling_counts_minutes() {
        let one = sign_in(Locale::En, Some(SignInError::Throttled { minutes: 1 }));
        assert!(one.contains("Try again in 1 minute."));
        let many = sign_in(Locale::En, Some(SignInError::Throttled { minutes: 3 }));
        assert!(many.contains("Try again in 3 minutes."));
    }

    #[test]
    fn sign_out_confirmation_carries_the_request_escaped_with_a_sign_out_button() {
        let html = render(&SignOutConfirmPage {
            locale: Locale::En,
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
    fn signed_out_page_says_so_in_each_language() {
        let en = render(&SignedOutPage {
            locale: Locale::En,
            app_name: None,
        });
        assert!(en.contains("You are signed out"));
        let ja = render(&SignedOutPage {
            locale: Locale::Ja,
            app_name: Some("Photos"),
        });
        assert!(
            ja.contains("<html lang=\"ja\">")
                && ja.contains("このページを閉じて Photos に戻ってください。")
        );
    }
}
