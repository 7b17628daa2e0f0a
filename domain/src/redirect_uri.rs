//! Redirect URI and CORS origin rules, kept pure so the same code checks a
//! registration and, later, a request at the authorization endpoint.
//! Registration checks the shape of a URI for the kind of client; matching
//! is exact string comparison (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3), with the
//! one exception RFC 8252 §7.3 makes for native apps listening on loopback.

use url::{Host, Url};

use crate::application::ApplicationType;

/// Longest redirect URI or origin we register, in bytes.
pub const MAX_URI_BYTES: usize = 2048;

// Schemes that run code or read local files in a user agent: never a place
// to send an authorization response to.
const FORBIDDEN_SCHEMES: [&str; 4] = ["javascript", "data", "file", "vbscript"];

// The loopback hosts for which RFC 8252 §7.3 lets the port vary.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// Why a redirect URI or CORS origin was refused. The message reads as the
/// end of a sentence whose subject is the URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("is longer than {MAX_URI_BYTES} bytes")]
    TooLong,
    #[error("contains whitespace or control characters")]
    InvalidCharacters,
    #[error("is not a valid absolute URI")]
    NotAbsolute,
    #[error("must not contain a fragment")]
    Fragment,
    #[error("uses the forbidden scheme {0:?}")]
    ForbiddenScheme(String),
    #[error("must not contain user information")]
    UserInfo,
    #[error("may use http only on a loopback address or localhost")]
    InsecureHttp,
    #[error("uses the scheme {0:?}, which this application type may not use")]
    SchemeNotAllowed(String),
    #[error("has no host")]
    MissingHost,
    #[error(
        "is not a serialized origin: lower-case scheme://host[:port] without a default port, path, query or fragment"
    )]
    NotAnOrigin,
}

/// Checks that `uri` may be registered as a redirect URI (or post-logout
/// redirect URI) of an application of type `app_type`.
pub fn validate_redirect_uri(uri: &str, app_type: ApplicationType) -> Result<(), UriError> {
    let url = parse(uri)?;
    // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment.
    if url.fragment().is_some() {
        return Err(UriError::Fragment);
    }
    match url.scheme() {
        "https" | "http" => {
            // `http://127.0.0.1@evil.com/` looks like loopback but is not.
            if !url.username().is_empty() || url.password().is_some() {
                return Err(UriError::UserInfo);
            }
            // RFC 6749 §3.1.2.1 wants TLS; RFC 8252 §7.3 allows plain http on
            // loopback because the traffic never leaves the device.
            if url.scheme() == "http" && !is_loopback(&url) {
                return Err(UriError::InsecureHttp);
            }
        }
        // RFC 8252 §7.1: native apps may claim a private-use URI scheme.
        _ if app_type == ApplicationType::Native => {}
        other => return Err(UriError::SchemeNotAllowed(other.to_owned())),
    }
    Ok(())
}

/// Checks that `origin` is a serialized web origin (`scheme://host[:port]`),
/// the form browsers send in the `Origin` header and CORS compares exactly.
pub fn validate_cors_origin(origin: &str) -> Result<(), UriError> {
    let url = parse(origin)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UriError::UserInfo);
    }
    let Some(host) = url.host_str() else {
        return Err(UriError::MissingHost);
    };
    // Rebuilding the origin from its parts and comparing catches a path, a
    // query, a fragment, a trailing slash, upper case and a default port.
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    if origin != format!("{}://{host}{port}", url.scheme()) {
        return Err(UriError::NotAnOrigin);
    }
    Ok(())
}

/// Whether a `requested` redirect URI matches a `registered` one.
///
/// Exact string comparison (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3): no prefix,
/// pattern or case-insensitive matching. Native apps are the exception: a
/// registered `http` loopback URI matches on any port when everything else is
/// identical, because the app picks a free port at run time (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &str, requested: &str, app_type: ApplicationType) -> bool {
    if registered == requested {
        return true;
    }
    if app_type != ApplicationType::Native {
        return false;
    }
    match (
        without_loopback_port(registered),
        without_loopback_port(requested),
    ) {
        (Some(registered), Some(requested)) => registered == requested,
        _ => false,
    }
}

// Splits `http://<loopback host>[:port]<rest>` into `(host, rest)`, dropping
// the port. Works on the raw string, not a parsed URL, so that nothing the
// parser normalises (case, backslashes, tabs) can make two strings equal;
// `rest` is then compared exactly with that of a registered URI, which was
// checked at registration (no fragment, no whitespace).
fn without_loopback_port(uri: &str) -> Option<(&str, &str)> {
    let after_scheme = uri.strip_prefix("http://")?;
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    let host_end = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if !LOOPBACK_HOSTS.contains(&host) {
        return None;
    }
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.parse::<u16>().ok()? == 0 {
            return None;
        }
    }
    Some((host, rest))
}

// Shared first steps: size, characters, absolute, scheme not forbidden.
fn parse(uri: &str) -> Result<Url, UriError> {
    if uri.len() > MAX_URI_BYTES {
        return Err(UriError::TooLong);
    }
    // The url crate silently strips tabs, newlines and surrounding spaces, but
    // the stored string is what gets compared later: refuse them instead.
    if has_invalid_characters(uri) {
        return Err(UriError::InvalidCharacters);
    }
    // `Url::parse` has no base, so a relative reference fails here.
    let url = Url::parse(uri).map_err(|_| UriError::NotAbsolute)?;
    if FORBIDDEN_SCHEMES.contains(&url.scheme()) {
        return Err(UriError::ForbiddenScheme(url.scheme().to_owned()));
    }
    Ok(url)
}

fn has_invalid_characters(uri: &str) -> bool {
    uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::{Native, Spa, Traditional};

    #[test]
    fn registration_rules_by_application_type() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URI_BYTES));
        let not_allowed = |scheme: &str| Err(UriError::SchemeNotAllowed(scheme.into()));
        #[rustfmt::skip]
        let cases: &[(&str, ApplicationType, Result<(), UriError>)] = &[
            ("https://example.com/cb",         Spa,         Ok(())),
            ("https://example.com/cb?x=1",     Traditional, Ok(())),
            ("http://localhost:3000/cb",       Spa,         Ok(())),
            ("http://127.0.0.1/cb",            Traditional, Ok(())),
            ("http://[::1]:8080/cb",           Native,      Ok(())),
            ("myapp://callback",               Native,      Ok(())),
            ("com.example.app:/cb",            Native,      Ok(())),
            ("http://example.com/cb",          Spa,         Err(UriError::InsecureHttp)),
            ("http://example.com/cb",          Native,      Err(UriError::InsecureHttp)),
            ("http://localhost.evil.com/cb",   Spa,         Err(UriError::InsecureHttp)),
            ("http://127.0.0.1@evil.com/cb",   Spa,         Err(UriError::UserInfo)),
            ("https://user:pw@example.com/cb", Spa,         Err(UriError::UserInfo)),
            ("myapp://callback",               Spa,         not_allowed("myapp")),
            ("com.example.app:/cb",            Traditional, not_allowed("com.example.app")),
            ("https://example.com/cb#frag",    Spa,         Err(UriError::Fragment)),
            ("myapp://cb#",                    Native,      Err(UriError::Fragment)),
            ("/cb",                            Spa,         Err(UriError::NotAbsolute)),
            ("example.com/cb",                 Native,      Err(UriError::NotAbsolute)),
            ("https://",                       Spa,         Err(UriError::NotAbsolute)),
            (" https://example.com/cb",        Spa,         Err(UriError::InvalidCharacters)),
            ("https://example.com/c\tb",       Spa,         Err(UriError::InvalidCharacters)),
            (&long,                            Spa,         Err(UriError::TooLong)),
        ];
        for (uri, app_type, expected) in cases {
            let result = validate_redirect_uri(uri, *app_type);
            assert_eq!(&result, expected, "{uri} as {app_type:?}");
        }
    }

    #[test]
    fn dangerous_schemes_are_refused_for_every_type() {
        let uris = [
            "javascript:alert(1)",
            "JavaScript://x/%0aalert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "vbscript:msgbox",
        ];
        for uri in uris {
            for app_type in [Native, Spa, Traditional] {
                let result = validate_redirect_uri(uri, app_type);
                let refused = matches!(result, Err(UriError::ForbiddenScheme(_)));
                assert!(refused, "{uri} as {app_type:?}");
            }
        }
    }

    #[test]
    fn length_limit_is_inclusive() {
        let prefix = "https://example.com/";
        let at_limit = format!("{prefix}{}", "a".repeat(MAX_URI_BYTES - prefix.len()));
        assert_eq!(validate_redirect_uri(&at_limit, Spa), Ok(()));
        let over = format!("{at_limit}a");
        assert_eq!(validate_redirect_uri(&over, Spa), Err(UriError::TooLong));
    }

    #[test]
    fn cors_origin_rules() {
        #[rustfmt::skip]
        let cases: &[(&str, Result<(), UriError>)] = &[
            ("https://example.com",      Ok(())),
            ("http://localhost:3000",    Ok(())),
            ("https://[::1]:8443",       Ok(())),
            ("capacitor://localhost",    Ok(())),
            ("https://example.com/",     Err(UriError::NotAnOrigin)),
            ("https://example.com/app",  Err(UriError::NotAnOrigin)),
            ("https://example.com?x=1",  Err(UriError::NotAnOrigin)),
            ("https://example.com#x",    Err(UriError::NotAnOrigin)),
            ("https://example.com\\",    Err(UriError::NotAnOrigin)),
            ("https://Example.com",      Err(UriError::NotAnOrigin)),
            ("https://example.com:443",  Err(UriError::NotAnOrigin)),
            ("https://user@example.com", Err(UriError::UserInfo)),
            ("com.example.app:/cb",      Err(UriError::MissingHost)),
            ("example.com",              Err(UriError::NotAbsolute)),
            ("data:text/plain,x",        Err(UriError::ForbiddenScheme("data".into()))),
            ("https://exa mple.com",     Err(UriError::InvalidCharacters)),
        ];
        for (origin, expected) in cases {
            assert_eq!(&validate_cors_origin(origin), expected, "{origin}");
        }
    }

    // (registered, requested, what the case is about)
    type Cases = &'static [(&'static str, &'static str, &'static str)];

    #[rustfmt::skip]
    const WEB_MATCHES: Cases = &[
        ("https://a.example/cb", "https://a.example/cb",      "exact"),
    ];

    #[rustfmt::skip]
    const WEB_MISMATCHES: Cases = &[
        ("https://a.example/cb", "https://a.example/cb/",     "trailing slash"),
        ("https://a.example/cb", "https://a.example/cb2",     "prefix"),
        ("https://a.example/cb", "https://a.example/other",   "different path"),
        ("https://a.example/cb", "https://a.example/cb?x=1",  "extra query"),
        ("https://a.example/cb", "https://a.example/cb#x",    "fragment"),
        ("https://a.example/cb", "https://A.example/cb",      "host case"),
        ("https://a.example/cb", "https://a.example:443/cb",  "explicit default port"),
        ("http://127.0.0.1/cb",  "http://127.0.0.1:51004/cb", "loopback, other port"),
        ("http://localhost/cb",  "http://localhost:8080/cb",  "localhost, other port"),
    ];

    #[rustfmt::skip]
    const NATIVE_MATCHES: Cases = &[
        ("http://127.0.0.1/cb",      "http://127.0.0.1:51004/cb",     "loopback v4, any port"),
        ("http://[::1]/cb",          "http://[::1]:51004/cb",         "loopback v6, any port"),
        ("http://localhost/cb",      "http://localhost:8080/cb",      "localhost, any port"),
        ("http://127.0.0.1:1234/cb", "http://127.0.0.1:5678/cb",      "registered port ignored"),
        ("http://127.0.0.1",         "http://127.0.0.1:5000",         "no path"),
        ("http://127.0.0.1/cb?a=1",  "http://127.0.0.1:5000/cb?a=1",  "same query"),
        ("myapp://callback",         "myapp://callback",              "private-use scheme"),
    ];

    #[rustfmt::skip]
    const NATIVE_MISMATCHES: Cases = &[
        ("http://127.0.0.1/cb",   "http://127.0.0.1:5000/other",         "different path"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:5000/cb?x=1",        "extra query"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:5000/cb#x",          "fragment"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:5000@evil.com/cb",   "userinfo trick"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1@evil.com/cb",        "userinfo, no port"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:5000\\@evil.com/cb", "backslash trick"),
        ("http://localhost/cb",   "http://localhost.evil.com:5000/cb",   "localhost as prefix"),
        ("http://localhost/cb",   "http://LOCALHOST:5000/cb",            "host case"),
        ("http://localhost/cb",   "HTTP://localhost:5000/cb",            "scheme case"),
        ("http://localhost/cb",   "http://127.0.0.1:5000/cb",            "other loopback host"),
        ("https://127.0.0.1/cb",  "https://127.0.0.1:5000/cb",           "https loopback"),
        ("http://127.0.0.1/cb",   "https://127.0.0.1:5000/cb",           "scheme changed"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:/cb",                "empty port"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:0/cb",               "port zero"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:70000/cb",           "port out of range"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:+80/cb",             "signed port"),
        ("http://127.0.0.1/cb",   "http://127.0.0.1:50\t00/cb",          "tab in port"),
        ("http://example.com/cb", "http://example.com:8080/cb",          "not loopback"),
        ("myapp://callback",      "myapp://callback/",                   "private-use prefix"),
    ];

    fn check(cases: Cases, app_types: &[ApplicationType], expected: bool) {
        for (registered, requested, why) in cases {
            for app_type in app_types {
                let matched = redirect_uri_matches(registered, requested, *app_type);
                assert_eq!(
                    matched, expected,
                    "{why}: {registered} vs {requested} as {app_type:?}"
                );
            }
        }
    }

    #[test]
    fn web_applications_need_an_exact_match() {
        check(WEB_MATCHES, &[Spa, Traditional, Native], true);
        check(WEB_MISMATCHES, &[Spa, Traditional], false);
    }

    #[test]
    fn native_applications_may_vary_only_the_loopback_port() {
        check(NATIVE_MATCHES, &[Native], true);
        check(NATIVE_MISMATCHES, &[Native], false);
        // The loopback rows (all but the last, an exact match) with another
        // type: the port leeway is Native's alone.
        check(&NATIVE_MATCHES[..6], &[Spa, Traditional], false);
    }
}
