//! Properties of `redirect_uri_matches` (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3, RFC 8252 §7.3):
//! no open redirect. A generated registered URI is changed by one to three generated tricks
//! (scheme, host, userinfo, port, path, query, fragment); the result never matches, except
//! that a native application's `http` loopback URI matches on any valid port when nothing
//! else changed.

use proptest::prelude::*;
use sigil_domain::{ApplicationType, redirect_uri_matches};

/// A URI in parts, so that a change says exactly what it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Uri {
    scheme: String,
    /// `None`: no authority, as in `com.example.app:/cb`.
    host: Option<String>,
    userinfo: Option<String>,
    port: Option<String>,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

impl Uri {
    fn render(&self) -> String {
        let mut s = format!("{}:", self.scheme);
        if let Some(host) = &self.host {
            s.push_str("//");
            if let Some(userinfo) = &self.userinfo {
                s.push_str(&format!("{userinfo}@"));
            }
            s.push_str(host);
            if let Some(port) = &self.port {
                s.push_str(&format!(":{port}"));
            }
        }
        s.push_str(&self.path);
        if let Some(query) = &self.query {
            s.push_str(&format!("?{query}"));
        }
        if let Some(fragment) = &self.fragment {
            s.push_str(&format!("#{fragment}"));
        }
        s
    }

    /// RFC 8252 §7.3: plain http to a loopback host, where a native app listens.
    fn is_http_loopback(&self) -> bool {
        self.scheme == "http"
            && self.userinfo.is_none()
            && self
                .host
                .as_deref()
                .is_some_and(|h| ["127.0.0.1", "[::1]", "localhost"].contains(&h))
    }

    /// Whether `self` is `registered` with only the port changed, to a valid one.
    fn only_port_differs_from(&self, registered: &Uri) -> bool {
        let valid = self.port.as_deref().is_none_or(|p| {
            p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|p| p != 0)
        });
        valid
            && Uri {
                port: registered.port.clone(),
                ..self.clone()
            } == *registered
    }
}

const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// Not a port: empty, zero, too large, signed, with spaces or letters.
const BAD_PORTS: [&str; 12] = [
    "", "0", "00", "65536", "70000", "+80", "-1", "80 ", " 80", "8o", "80a", "0x50",
];

fn host() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,6}[a-z0-9](\\.[a-z][a-z0-9]{0,6}){1,2}"
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof!["", "(/[A-Za-z0-9._~-]{1,8}){1,3}/?"]
}

fn query() -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(
        0.3,
        "[a-z]{1,5}=[A-Za-z0-9]{0,5}(&[a-z]{1,5}=[A-Za-z0-9]{0,5}){0,2}",
    )
}

fn port() -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(0.3, (1..=u16::MAX).prop_map(|p| p.to_string()))
}

fn loopback(scheme: &'static str) -> impl Strategy<Value = Uri> {
    (
        proptest::sample::select(&LOOPBACK_HOSTS[..]),
        port(),
        path(),
        query(),
    )
        .prop_map(move |(host, port, path, query)| Uri {
            scheme: scheme.into(),
            host: Some(host.into()),
            userinfo: None,
            port,
            path,
            query,
            fragment: None,
        })
}

/// URIs as they pass registration: https on any host, http or https on loopback, a
/// private-use scheme; no userinfo, no fragment.
fn registered() -> impl Strategy<Value = Uri> {
    let web = (host(), port(), path(), query()).prop_map(|(host, port, path, query)| Uri {
        scheme: "https".into(),
        host: Some(host),
        userinfo: None,
        port,
        path,
        query,
        fragment: None,
    });
    let loopback = prop_oneof![3 => loopback("http"), 1 => loopback("https")];
    let private_use = (
        "(com|org)\\.[a-z]{1,8}\\.app|myapp",
        proptest::option::of("[a-z]{1,8}"),
        "(/[a-z]{1,8}){1,2}",
        query(),
    )
        .prop_map(|(scheme, host, path, query)| Uri {
            scheme,
            host,
            userinfo: None,
            port: None,
            path,
            query,
            fragment: None,
        });
    prop_oneof![3 => web, 3 => loopback, 1 => private_use]
}

/// One trick played on a registered URI.
#[derive(Clone, Debug)]
enum Change {
    Scheme(&'static str),
    SchemeCase,
    /// `app.example.com.evil.com`, `app.example.com.`
    HostSuffix(String),
    /// `evil.app.example.com`, `evilapp.example.com`
    HostPrefix(String),
    Host(String),
    /// One letter of the host in upper case.
    HostCase(usize),
    /// One character of the host percent-encoded, which URL parsers decode.
    HostPercent(usize),
    /// `https://evil@app.example.com/cb`
    Userinfo(String),
    /// `https://app.example.com:8443@evil.com/cb`: the registered authority as userinfo.
    AuthorityAsUserinfo(String),
    /// `http://127.0.0.1:5000\@evil.com/cb`, which some parsers read as host evil.com.
    Backslash(String),
    /// Any valid port: the one change a native app's http loopback URI allows.
    Port(u16),
    /// Not a port: empty, zero, too large, signed, with spaces or letters.
    BadPort(&'static str),
    PathAppend(String),
    PathReplace(String),
    /// Drop the last `n` bytes of the path.
    PathTruncate(usize),
    QueryAdd(String),
    QueryReplace(String),
    Fragment(String),
}

fn change() -> impl Strategy<Value = Change> {
    let scheme =
        proptest::sample::select(&["http", "https", "ftp", "ws", "javascript", "myapp"][..]);
    let loopback_host = proptest::sample::select(&LOOPBACK_HOSTS[..]).prop_map(String::from);
    let evil = "evil\\.(com|example)|[a-z]{1,6}\\.(com|net)|";
    let path_piece =
        "/|/[A-Za-z0-9._~%-]{1,6}|[A-Za-z0-9]{1,3}|/\\.\\./[a-z]{1,4}|%2[fF]|;[a-z]=1|/\\?";
    prop_oneof![
        1 => scheme.prop_map(Change::Scheme),
        1 => Just(Change::SchemeCase),
        1 => evil.prop_map(|e| Change::HostSuffix(format!(".{e}"))),
        1 => "[a-z]{1,5}[.-]?".prop_map(Change::HostPrefix),
        1 => prop_oneof![host(), loopback_host].prop_map(Change::Host),
        1 => any::<usize>().prop_map(Change::HostCase),
        1 => any::<usize>().prop_map(Change::HostPercent),
        1 => "[a-z0-9]{0,5}(:[a-z0-9]{0,5})?".prop_map(Change::Userinfo),
        1 => host().prop_map(Change::AuthorityAsUserinfo),
        1 => host().prop_map(Change::Backslash),
        3 => (1..=u16::MAX).prop_map(Change::Port),
        1 => proptest::sample::select(&BAD_PORTS[..]).prop_map(Change::BadPort),
        1 => path_piece.prop_map(Change::PathAppend),
        1 => path().prop_map(Change::PathReplace),
        1 => (1..4usize).prop_map(Change::PathTruncate),
        1 => "[a-z]{1,4}=[a-z0-9]{0,4}|[a-z]{1,4}".prop_map(Change::QueryAdd),
        1 => "[a-z]{0,4}=?[a-z0-9]{0,4}".prop_map(Change::QueryReplace),
        1 => "[A-Za-z0-9/?=&]{0,6}".prop_map(Change::Fragment),
    ]
}

fn app_type() -> impl Strategy<Value = ApplicationType> {
    proptest::sample::select(
        &[
            ApplicationType::Native,
            ApplicationType::Spa,
            ApplicationType::Traditional,
            ApplicationType::MachineToMachine,
        ][..],
    )
}

/// Applies `change` to `uri`; `None` when it does not apply (no host to play with).
fn apply(mut uri: Uri, change: &Change) -> Option<Uri> {
    match change {
        Change::Scheme(s) => uri.scheme = s.to_string(),
        Change::SchemeCase => uri.scheme = uri.scheme.to_uppercase(),
        Change::HostSuffix(s) => uri.host.as_mut()?.push_str(s),
        Change::HostPrefix(s) => uri.host = Some(format!("{s}{}", uri.host?)),
        Change::Host(h) => uri.host = Some(h.clone()).filter(|_| uri.host.is_some()),
        Change::HostCase(i) => {
            let host = uri.host.as_mut()?;
            let letters: Vec<usize> = host
                .char_indices()
                .filter(|(_, c)| c.is_ascii_lowercase())
                .map(|(i, _)| i)
                .collect();
            let at = *letters.get(i % letters.len().max(1))?;
            host.replace_range(at..=at, &host[at..=at].to_uppercase());
        }
        Change::HostPercent(i) => {
            let host = uri.host.as_mut()?;
            let at = i % host.len();
            let encoded = format!("%{:02X}", host.as_bytes()[at]);
            host.replace_range(at..=at, &encoded);
        }
        Change::Userinfo(u) => {
            uri.host.as_ref()?;
            uri.userinfo = Some(u.clone());
        }
        Change::AuthorityAsUserinfo(evil) => {
            let host = uri.host.replace(evil.clone())?;
            let port = uri.port.take().map(|p| format!(":{p}")).unwrap_or_default();
            uri.userinfo = Some(format!("{host}{port}"));
        }
        Change::Backslash(evil) => match &mut uri.port {
            Some(port) => port.push_str(&format!("\\@{evil}")),
            None => uri.host.as_mut()?.push_str(&format!("\\@{evil}")),
        },
        Change::Port(p) => {
            uri.host.as_ref()?;
            uri.port = Some(p.to_string());
        }
        Change::BadPort(p) => {
            uri.host.as_ref()?;
            uri.port = Some(p.to_string());
        }
        Change::PathAppend(s) => uri.path.push_str(s),
        Change::PathReplace(s) => uri.path = s.clone(),
        Change::PathTruncate(n) => uri.path.truncate(uri.path.len().saturating_sub(*n)),
        Change::QueryAdd(q) => {
            uri.query = Some(match uri.query {
                Some(existing) => format!("{existing}&{q}"),
                None => q.clone(),
            })
        }
        Change::QueryReplace(q) => uri.query = Some(q.clone()),
        Change::Fragment(f) => uri.fragment = Some(f.clone()),
    }
    Some(uri)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The one rule: what differs from the registered URI does not match, unless it is a
    /// native app's http loopback URI on another valid port.
    #[test]
    fn a_changed_uri_never_matches(
        registered in registered(),
        changes in proptest::collection::vec(change(), 1..=3),
        app_type in app_type(),
    ) {
        let requested = changes.iter().try_fold(registered.clone(), apply);
        prop_assume!(requested.is_some());
        let requested = requested.unwrap();
        let (reg, req) = (registered.render(), requested.render());
        prop_assume!(reg != req);
        let allowed = app_type == ApplicationType::Native
            && registered.is_http_loopback()
            && requested.only_port_differs_from(&registered);
        prop_assert_eq!(
            redirect_uri_matches(&reg, &req, app_type),
            allowed,
            "registered {} requested {} as {:?} after {:?}", reg, req, app_type, changes
        );
    }

    /// Every URI matches itself, whatever the application type.
    #[test]
    fn a_registered_uri_matches_itself(registered in registered(), app_type in app_type()) {
        let uri = registered.render();
        prop_assert!(redirect_uri_matches(&uri, &uri, app_type));
    }

    /// RFC 8252 §7.3: a native app's http loopback URI matches on any port, with or without a
    /// registered one; only for native apps, and then with one more change never.
    #[test]
    fn native_loopback_matches_on_any_port_and_nothing_else(
        registered in loopback("http"),
        port in 1..=u16::MAX,
        other in change().prop_filter("not a port", |c| !matches!(c, Change::Port(_))),
        web_type in proptest::sample::select(&[
            ApplicationType::Spa,
            ApplicationType::Traditional,
            ApplicationType::MachineToMachine,
        ][..]),
    ) {
        let reg = registered.render();
        let moved = Uri { port: Some(port.to_string()), ..registered.clone() };
        let req = moved.render();
        let native = redirect_uri_matches(&reg, &req, ApplicationType::Native);
        prop_assert!(native, "{} vs {}", reg, req);
        prop_assert_eq!(redirect_uri_matches(&reg, &req, web_type), reg == req);

        let changed = apply(moved, &other);
        prop_assume!(changed.is_some());
        let changed = changed.unwrap();
        let req = changed.render();
        let still_same = changed.only_port_differs_from(&registered);
        prop_assert_eq!(
            redirect_uri_matches(&reg, &req, ApplicationType::Native),
            still_same,
            "{} vs {} after {:?}", reg, req, other
        );
    }
}
