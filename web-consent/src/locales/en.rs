//! English: every string the pages show. The labels CONTRACT.md fixes ("Username or email",
//! "Password", "Sign in", "Authorize", "Cancel") are the ones tests find pages by: do not
//! reword them. `{name}` marks a value filled in (and escaped) when the page is rendered.

pub const TABLE: &[(&str, &str)] = &[
    // Sign-in
    ("sign_in.title", "Sign in"),
    ("sign_in.continue_to", "to continue to {app}"),
    ("sign_in.identifier", "Username or email"),
    ("sign_in.password", "Password"),
    ("sign_in.submit", "Sign in"),
    (
        "sign_in.wrong_credentials",
        "The username, email or password is incorrect.",
    ),
    (
        "sign_in.throttled.one",
        "Too many failed sign-in attempts. Try again in {minutes} minute.",
    ),
    (
        "sign_in.throttled.other",
        "Too many failed sign-in attempts. Try again in {minutes} minutes.",
    ),
    ("sign_in.continue_with", "Continue with {provider}"),
    // Consent
    ("consent.title", "Authorize {app}"),
    ("consent.wants", "{app} wants to access your account."),
    ("consent.signed_in_as", "Signed in as {account}"),
    ("consent.not_you", "Not you?"),
    ("consent.will_allow", "This will allow {app} to:"),
    ("consent.your_account", "Your account"),
    ("consent.organization", "In your organization"),
    ("consent.organization.choose", "Choose an organization"),
    ("consent.organization.one", "Organization: {organization}"),
    ("consent.authorize", "Authorize"),
    ("consent.cancel", "Cancel"),
    (
        "consent.legal",
        "{app} handles your data under its own terms:",
    ),
    ("consent.terms_of_use", "Terms of use"),
    ("consent.privacy_policy", "Privacy policy"),
    ("consent.opens_in_new_tab", "(opens in a new tab)"),
    // What each user scope lets the application do.
    ("scope.openid", "Sign you in with your account"),
    ("scope.profile", "See your name and username"),
    ("scope.email", "See your email address"),
    ("scope.phone", "See your phone number"),
    ("scope.address", "See your postal address"),
    ("scope.offline_access", "Keep access while you are away"),
    ("scope.organizations", "See the organizations you belong to"),
    ("scope.other", "Use the permission \u{201c}{scope}\u{201d}"),
    // Sign-out
    ("sign_out.title", "Sign out"),
    ("sign_out.app_asks", "{app} asks you to sign out of Sigil."),
    ("sign_out.question", "Do you want to sign out of Sigil?"),
    ("sign_out.submit", "Sign out"),
    ("sign_out.stay", "To stay signed in, close this page."),
    ("signed_out.title", "Signed out"),
    ("signed_out.heading", "You are signed out"),
    (
        "signed_out.body",
        "You have signed out of Sigil. Applications you use may keep you signed in until you \
         sign out of them too.",
    ),
    (
        "signed_out.return",
        "You can close this page and return to {app}.",
    ),
    ("signed_out.close", "You can close this page."),
    // Errors: a title and a plain explanation of what to do next.
    ("error.request_id", "Request ID"),
    ("error.details", "Details:"),
    ("error.not_found.title", "Page not found"),
    (
        "error.not_found.message",
        "There is nothing at this address. Check the link you followed.",
    ),
    ("error.server.title", "Something went wrong"),
    (
        "error.server.sign_in",
        "Sign-in could not be completed. Try again in a moment.",
    ),
    (
        "error.server.sign_out",
        "Sign-out could not be completed. Try again in a moment.",
    ),
    ("error.sign_in_expired.title", "This sign-in has expired"),
    (
        "error.sign_in_expired.message",
        "Go back to the application and start signing in again.",
    ),
    ("error.request_expired.title", "This request has expired"),
    (
        "error.request_expired.message",
        "Go back to the application and start again.",
    ),
    ("error.sign_out_expired.title", "This sign-out has expired"),
    (
        "error.sign_out_expired.message",
        "Go back to the application and sign out again.",
    ),
    ("error.bad_sign_in.title", "This sign-in link does not work"),
    (
        "error.bad_sign_in.message",
        "The application sent a sign-in request that Sigil cannot accept. If this keeps \
         happening, tell the application's developers what the details below say.",
    ),
    (
        "error.bad_sign_out.title",
        "This sign-out request does not work",
    ),
    (
        "error.bad_sign_out.message",
        "The application sent a sign-out request that Sigil cannot read. You are still \
         signed in.",
    ),
    (
        "error.bad_sign_out.unverified_hint",
        "The application asked to sign you out with a token Sigil cannot verify. You are \
         still signed in.",
    ),
    (
        "error.bad_sign_out.client_mismatch",
        "The sign-out request names one application in its token and another in client_id. \
         You are still signed in.",
    ),
    (
        "error.upstream.title",
        "Could not sign you in with that provider",
    ),
    (
        "error.upstream.refused",
        "The provider's answer could not be accepted, so you are not signed in. Go back to the application and try again; if it keeps happening, pass the details below to the application's support.",
    ),
    (
        "error.upstream.unavailable",
        "The provider could not be reached or did not complete the sign-in. Go back to the application and try again in a few minutes.",
    ),
    (
        "error.upstream.expired",
        "This sign-in with a provider was already used, or it took too long. Go back to the application and start again.",
    ),
];
