//! The consent page and the view model it is drawn from. The api fills the model from what
//! the request asks and what the application, its API resources and the person's
//! organizations say; the page only lays it out: the application as its branding presents
//! it, the signed-in account with a way to switch, every permission as a list item, the
//! organization it is for, Authorize and Cancel.

use askama::Template;

use crate::Locale;

/// How the application presents itself (set by its owner; none of it is trusted markup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branding {
    pub display_name: String,
    /// Shown only when it is an https URL (the pages' CSP allows `img-src 'self' https:`).
    pub logo_url: Option<String>,
    pub terms_of_use_url: Option<String>,
    pub privacy_policy_url: Option<String>,
}

/// The person who is signed in and about to consent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// What they sign in with: username, or email when there is none.
    pub identifier: String,
    /// Their name, when the profile has one.
    pub name: Option<String>,
}

impl Account {
    fn label(&self) -> String {
        match &self.name {
            Some(name) if self.identifier.is_empty() => name.clone(),
            Some(name) if name != &self.identifier => format!("{name} ({})", self.identifier),
            _ => self.identifier.clone(),
        }
    }
}

/// A permission of an API resource or an organization: its name, and the description its
/// owner wrote for people, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permission {
    pub name: String,
    pub description: Option<String>,
}

impl Permission {
    fn label(&self) -> &str {
        self.description
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or(&self.name)
    }
}

/// The permissions asked of one API resource, shown under its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourcePermissions {
    pub name: String,
    pub scopes: Vec<Permission>,
}

/// An organization the person may grant the organization permissions for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationChoice {
    pub id: String,
    pub name: String,
}

/// The consent page (CONTRACT.md: the application's display name as the heading, each
/// permission a list item, Authorize and Cancel). Two forms post to `action`: the decision
/// (`decision=authorize|cancel`, with `organization_id` when organization permissions are
/// asked) and "not you?" (`decision=switch`).
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub locale: Locale,
    pub action: &'a str,
    pub interaction: &'a str,
    pub csrf: &'a str,
    pub branding: Branding,
    pub account: Account,
    /// OIDC scopes as requested (`openid`, `profile`, …); the locale describes them.
    pub user_scopes: Vec<String>,
    pub resources: Vec<ResourcePermissions>,
    pub organization_scopes: Vec<Permission>,
    /// Where organization permissions would apply: a choice when there are several.
    pub organizations: Vec<OrganizationChoice>,
}

impl ConsentPage<'_> {
    fn title(&self) -> String {
        let app = self.branding.display_name.as_str();
        self.locale.fmt("consent.title", &[("app", app)])
    }

    fn will_allow(&self) -> String {
        let app = self.branding.display_name.as_str();
        self.locale.fmt("consent.will_allow", &[("app", app)])
    }

    fn legal(&self) -> String {
        let app = self.branding.display_name.as_str();
        self.locale.fmt("consent.legal", &[("app", app)])
    }

    fn single_organization(&self) -> String {
        let name = self.organizations.first().map_or("", |o| o.name.as_str());
        self.locale
            .fmt("consent.organization.one", &[("organization", name)])
    }

    /// The user scopes described, in a fixed order people can compare between apps (the
    /// sign-in itself first), whatever order the request listed them in.
    fn user_permissions(&self) -> Vec<String> {
        const ORDER: [&str; 7] = [
            "openid",
            "profile",
            "email",
            "phone",
            "address",
            "organizations",
            "offline_access",
        ];
        let rank = |s: &String| ORDER.iter().position(|o| o == s).unwrap_or(ORDER.len());
        let mut scopes: Vec<&String> = self.user_scopes.iter().collect();
        // Stable: scopes Sigil does not describe keep the request's order, after the rest.
        scopes.sort_by_key(|s| rank(s));
        scopes.dedup();
        scopes
            .into_iter()
            .map(|s| self.locale.describe_scope(s))
            .collect()
    }

    /// Headings per group only when there is more than one kind of permission.
    fn grouped(&self) -> bool {
        !self.resources.is_empty() || !self.organization_scopes.is_empty()
    }

    /// Stands in for a missing logo: the name's first letter.
    fn initial(&self) -> String {
        let name = self.branding.display_name.trim();
        name.chars()
            .next()
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_default()
    }

    fn logo_url(&self) -> Option<&str> {
        https_only(self.branding.logo_url.as_deref())
    }

    fn terms_of_use_url(&self) -> Option<&str> {
        web_only(self.branding.terms_of_use_url.as_deref())
    }

    fn privacy_policy_url(&self) -> Option<&str> {
        web_only(self.branding.privacy_policy_url.as_deref())
    }

    fn has_legal_links(&self) -> bool {
        self.terms_of_use_url().is_some() || self.privacy_policy_url().is_some()
    }
}

/// Escaping keeps a URL inside its attribute, but `javascript:` or `data:` would still be
/// a link: only web addresses are rendered.
fn web_only(url: Option<&str>) -> Option<&str> {
    url.filter(|u| url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "https" | "http")))
}

fn https_only(url: Option<&str>) -> Option<&str> {
    url.filter(|u| url::Url::parse(u).is_ok_and(|p| p.scheme() == "https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    fn page(locale: Locale) -> ConsentPage<'static> {
        ConsentPage {
            locale,
            action: "/oidc/interaction/consent",
            interaction: "sealed",
            csrf: "tok",
            branding: Branding {
                display_name: "Photos".into(),
                ..Default::default()
            },
            account: Account {
                identifier: "alice".into(),
                name: None,
            },
            user_scopes: vec!["email".into(), "openid".into()],
            resources: vec![],
            organization_scopes: vec![],
            organizations: vec![],
        }
    }

    fn count(html: &str, needle: &str) -> usize {
        html.matches(needle).count()
    }

    #[test]
    fn consent_page_lists_permissions_with_authorize_and_cancel() {
        let html = render(&page(Locale::En));
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<h1>Photos</h1>"), "{html}");
        assert!(html.contains("<strong>Photos</strong> wants to access your account."));
        // The sign-in itself first, whatever order the request used.
        let openid = html.find("<li>Sign you in with your account</li>").unwrap();
        let email = html.find("<li>See your email address</li>").unwrap();
        assert!(openid < email);
        assert!(html.contains(">Authorize</button>") && html.contains(">Cancel</button>"));
        assert!(html.contains("Signed in as <strong>alice</strong>"));
        // Nothing asked of resources or organizations: no headings, no picker, no links.
        assert!(!html.contains("<h3>") && !html.contains("organization_id"));
        assert!(!html.contains("<img") && !html.contains("<a "));
    }

    #[test]
    fn every_form_carries_the_csrf_token_and_the_interaction() {
        let html = render(&page(Locale::En));
        assert_eq!(count(&html, "<form "), 2);
        assert_eq!(count(&html, "name=\"csrf\" value=\"tok\""), 2);
        assert_eq!(count(&html, "name=\"interaction\" value=\"sealed\""), 2);
        assert!(html.contains("name=\"decision\" value=\"switch\""));
        assert!(html.contains(">Not you?</button>"));
    }

    #[test]
    fn japanese_consent_page() {
        let html = render(&page(Locale::Ja));
        assert!(html.contains("<html lang=\"ja\">"));
        assert!(html.contains("<h1>Photos</h1>"));
        assert!(html.contains(">許可する</button>") && html.contains(">キャンセル</button>"));
        assert!(html.contains("<li>メールアドレスを見る</li>"));
        assert!(html.contains("<strong>alice</strong> としてサインイン中"));
        assert!(!html.contains("Authorize") && !html.contains("Cancel"));
    }

    #[test]
    fn branding_resources_and_a_single_organization() {
        let mut p = page(Locale::En);
        p.branding = Branding {
            display_name: "Photos".into(),
            logo_url: Some("https://cdn.example.com/logo.png".into()),
            terms_of_use_url: Some("https://photos.example.com/terms".into()),
            privacy_policy_url: Some("https://photos.example.com/privacy".into()),
        };
        p.account.name = Some("Alice Liddell".into());
        p.resources = vec![ResourcePermissions {
            name: "Photo API".into(),
            scopes: vec![
                Permission {
                    name: "read:photos".into(),
                    description: Some("See your photos".into()),
                },
                Permission {
                    name: "write:photos".into(),
                    description: None,
                },
            ],
        }];
        p.organization_scopes = vec![Permission {
            name: "read:members".into(),
            description: Some("See the members".into()),
        }];
        p.organizations = vec![OrganizationChoice {
            id: "org-1".into(),
            name: "Acme".into(),
        }];
        let html = render(&p);
        assert!(html.contains("<img class=\"logo\" src=\"https://cdn.example.com/logo.png\""));
        assert!(html.contains("<h3>Your account</h3>") && html.contains("<h3>Photo API</h3>"));
        assert!(
            html.contains("<li>See your photos</li>") && html.contains("<li>write:photos</li>")
        );
        assert!(html.contains("<h3>In your organization</h3>"));
        assert!(html.contains("<li>See the members</li>"));
        assert!(html.contains("Organization: Acme"));
        assert!(html.contains("type=\"hidden\" name=\"organization_id\" value=\"org-1\""));
        assert!(!html.contains("type=\"radio\""));
        assert!(html.contains("href=\"https://photos.example.com/terms\""));
        assert!(html.contains("href=\"https://photos.example.com/privacy\""));
        assert!(html.contains("rel=\"noopener noreferrer\""));
        assert!(html.contains("<strong>Alice Liddell (alice)</strong>"));
    }

    #[test]
    fn several_organizations_are_a_labelled_radio_group() {
        let mut p = page(Locale::En);
        p.organization_scopes = vec![Permission {
            name: "read:members".into(),
            description: None,
        }];
        p.organizations = vec![
            OrganizationChoice {
                id: "org-1".into(),
                name: "Acme".into(),
            },
            OrganizationChoice {
                id: "org-2".into(),
                name: "<Globex>".into(),
            },
        ];
        let html = render(&p);
        assert!(html.contains("<fieldset"));
        assert!(html.contains("<legend>Choose an organization</legend>"));
        assert_eq!(count(&html, "type=\"radio\" name=\"organization_id\""), 2);
        for (i, id) in ["org-1", "org-2"].iter().enumerate() {
            let n = i + 1;
            assert!(html.contains(&format!("id=\"organization-{n}\"")));
            assert!(html.contains(&format!("<label for=\"organization-{n}\">")));
            assert!(html.contains(&format!("value=\"{id}\"")));
        }
        assert_eq!(count(&html, " checked"), 1, "the first is chosen");
        assert!(html.contains("&#60;Globex&#62;") && !html.contains("<Globex>"));
        // Cancel must not be blocked by the required choice.
        assert!(html.contains("value=\"cancel\" class=\"secondary\" formnovalidate"));
    }

    #[test]
    fn organizations_without_organization_permissions_are_not_offered() {
        let mut p = page(Locale::En);
        p.organizations = vec![
            OrganizationChoice {
                id: "a".into(),
                name: "A".into(),
            },
            OrganizationChoice {
                id: "b".into(),
                name: "B".into(),
            },
        ];
        assert!(!render(&p).contains("organization_id"));
    }

    #[test]
    fn everything_the_owner_or_the_request_wrote_is_escaped() {
        let mut p = page(Locale::En);
        p.branding = Branding {
            display_name: "<script>alert(1)</script>".into(),
            logo_url: Some("javascript:alert(1)".into()),
            terms_of_use_url: Some("javascript:alert(1)".into()),
            privacy_policy_url: Some("https://x.example/\"><script>".into()),
        };
        p.account.identifier = "\"><img src=x>".into();
        p.user_scopes = vec!["<b>".into()];
        p.resources = vec![ResourcePermissions {
            name: "<i>api</i>".into(),
            scopes: vec![Permission {
                name: "x".into(),
                description: Some("<u>d</u>".into()),
            }],
        }];
        p.csrf = "\"><script>";
        let html = render(&p);
        for raw in ["<script", "<img src=x", "<b>", "<i>", "<u>", "javascript:"] {
            assert!(!html.contains(raw), "{raw} in {html}");
        }
        // An https logo would be shown; a javascript: one is dropped, not escaped.
        assert!(!html.contains("<img"));
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    }
}
