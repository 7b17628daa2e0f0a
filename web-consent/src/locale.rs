//! The languages the pages speak and how one is chosen for a request. Every string a page
//! shows lives in one table per language (`locales/*.rs`), under the same keys; a value
//! the page fills in is marked `{name}` and substituted before the template escapes the
//! whole text, so a translation can put it wherever its grammar wants.

#[path = "locales/en.rs"]
mod en;
#[path = "locales/ja.rs"]
mod ja;

/// A language the pages are written in. English is the fallback for everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    Ja,
}

/// At most this many language ranges are looked at: a header is not a reason to loop long.
const MAX_RANGES: usize = 32;

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Ja];

    /// The BCP 47 tag, for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Ja => "ja",
        }
    }

    /// The supported language a BCP 47 tag asks for, by its primary subtag (`ja-JP` is
    /// Japanese, `en-GB` English).
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let primary = tag.split(['-', '_']).next()?.trim();
        Locale::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(primary))
    }

    /// OIDC Core §3.1.2.1: `ui_locales` is the end user's preference, a space-separated list
    /// in order; the first supported one wins. Without one, the browser's `Accept-Language`
    /// (RFC 9110 §12.5.4: highest q-value first, q=0 meaning "not this"); else English.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Locale {
        ui_locales
            .and_then(|list| {
                list.split_whitespace()
                    .take(MAX_RANGES)
                    .find_map(Locale::from_tag)
            })
            .or_else(|| accept_language.and_then(Locale::from_accept_language))
            .unwrap_or_default()
    }

    /// The supported language an `Accept-Language` header prefers, if any.
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        let mut ranges: Vec<(f32, &str)> = header
            .split(',')
            .take(MAX_RANGES)
            .filter_map(|item| {
                let mut parts = item.split(';');
                let range = parts.next()?.trim();
                let mut q = 1.0;
                for param in parts {
                    let (name, value) = param.split_once('=')?;
                    if name.trim().eq_ignore_ascii_case("q") {
                        q = value
                            .trim()
                            .parse::<f32>()
                            .ok()
                            .filter(|q| (0.0..=1.0).contains(q))?;
                    }
                }
                (q > 0.0 && !range.is_empty()).then_some((q, range))
            })
            .collect();
        // Stable: equal weights keep the order the browser wrote them in.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges.into_iter().find_map(|(_, range)| match range {
            // "Any language": the default is as good as any.
            "*" => Some(Locale::default()),
            tag => Locale::from_tag(tag),
        })
    }

    fn table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Locale::En => en::TABLE,
            Locale::Ja => ja::TABLE,
        }
    }

    /// The text for `key`. A key missing from a table falls back to English, then to the
    /// key itself (the tests make sure neither happens).
    pub fn t(self, key: &str) -> &'static str {
        let find = |table: &'static [(&'static str, &'static str)]| {
            table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        };
        find(self.table())
            .or_else(|| find(en::TABLE))
            .unwrap_or_else(|| {
                debug_assert!(false, "no text for {key}");
                ""
            })
    }

    /// The text for `key` with each `{name}` replaced by its value, in one pass (a value
    /// that itself looks like `{name}` stays as it is).
    pub fn fmt(self, key: &str, values: &[(&str, &str)]) -> String {
        let template = self.t(key);
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}').and_then(|close| {
                let name = &after[..close];
                values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (close, *v))
            }) {
                Some((close, value)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The text for `key` split around `{name}`, for pages that mark the value up (bold
    /// application or account names).
    pub fn around(self, key: &str, name: &str) -> (&'static str, &'static str) {
        let template = self.t(key);
        template
            .split_once(&format!("{{{name}}}"))
            .unwrap_or((template, ""))
    }

    /// What a user scope lets the application do.
    pub fn describe_scope(self, scope: &str) -> String {
        match scope {
            "openid" | "profile" | "email" | "phone" | "address" | "offline_access"
            | "organizations" => self.t(&format!("scope.{scope}")).to_string(),
            other => self.fmt("scope.other", &[("scope", other)]),
        }
    }

    /// Every key of this language's table, in order.
    pub fn keys(self) -> impl Iterator<Item = &'static str> {
        self.table().iter().map(|(k, _)| *k)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn placeholders(text: &str) -> BTreeSet<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn every_language_has_exactly_the_same_keys_once() {
        let english: Vec<_> = Locale::En.keys().collect();
        let unique: BTreeSet<_> = english.iter().collect();
        assert_eq!(unique.len(), english.len(), "a key appears twice in en");
        for locale in Locale::ALL {
            let keys: Vec<_> = locale.keys().collect();
            assert_eq!(keys, english, "{locale:?} has other keys than en");
            for key in &keys {
                assert!(
                    !locale.t(key).trim().is_empty(),
                    "{locale:?} {key} is empty"
                );
            }
        }
    }

    #[test]
    fn translations_fill_in_the_same_values() {
        for key in Locale::En.keys() {
            for locale in Locale::ALL {
                assert_eq!(
                    placeholders(locale.t(key)),
                    placeholders(Locale::En.t(key)),
                    "{locale:?} {key}"
                );
            }
        }
    }

    #[test]
    fn the_contract_labels_are_the_english_ones() {
        let en = Locale::En;
        assert_eq!(en.t("sign_in.identifier"), "Username or email");
        assert_eq!(en.t("sign_in.password"), "Password");
        assert_eq!(en.t("sign_in.submit"), "Sign in");
        assert_eq!(en.t("consent.authorize"), "Authorize");
        assert_eq!(en.t("consent.cancel"), "Cancel");
    }

    #[test]
    fn ui_locales_beats_accept_language() {
        assert_eq!(Locale::negotiate(Some("ja"), Some("en")), Locale::Ja);
        assert_eq!(Locale::negotiate(Some("en"), Some("ja")), Locale::En);
        // The first supported one in the list wins; unsupported ones are passed over.
        assert_eq!(Locale::negotiate(Some("fr-CA ja-JP en"), None), Locale::Ja);
        // None supported: the browser decides.
        assert_eq!(Locale::negotiate(Some("fr de"), Some("ja")), Locale::Ja);
        assert_eq!(Locale::negotiate(Some(""), Some("ja-JP")), Locale::Ja);
    }

    #[test]
    fn accept_language_honours_q_values_and_regions() {
        let pick = |h| Locale::negotiate(None, Some(h));
        assert_eq!(pick("ja-JP"), Locale::Ja);
        assert_eq!(pick("en-US,en;q=0.9,ja;q=0.8"), Locale::En);
        assert_eq!(pick("en;q=0.5, ja-JP;q=0.9"), Locale::Ja);
        assert_eq!(pick("fr-FR, fr;q=0.9, ja;q=0.4, en;q=0.3"), Locale::Ja);
        assert_eq!(pick("ja;q=0, en;q=0.1"), Locale::En, "q=0 means not this");
        assert_eq!(
            pick("ja;q=0.8, en;q=0.8"),
            Locale::Ja,
            "ties keep their order"
        );
        assert_eq!(pick("JA"), Locale::Ja);
        assert_eq!(pick("*;q=0.9, ja;q=0.5"), Locale::En);
        assert_eq!(
            pick("ja;q=abc, en;q=0.1"),
            Locale::En,
            "a bad q-value is ignored"
        );
    }

    #[test]
    fn without_a_supported_language_it_is_english() {
        assert_eq!(Locale::negotiate(None, None), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("fr, de;q=0.5")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some(",;;==,")), Locale::En);
        assert_eq!(Locale::negotiate(Some("x-klingon"), Some("")), Locale::En);
    }

    #[test]
    fn values_are_filled_in_once_wherever_the_grammar_puts_them() {
        assert_eq!(
            Locale::En.fmt("consent.wants", &[("app", "Photos")]),
            "Photos wants to access your account."
        );
        assert_eq!(
            Locale::Ja.fmt("consent.wants", &[("app", "Photos")]),
            "Photos があなたのアカウントへのアクセスを求めています。"
        );
        // A value that looks like a placeholder is not expanded again.
        assert_eq!(
            Locale::En.fmt("consent.title", &[("app", "{app}")]),
            "Authorize {app}"
        );
        assert_eq!(
            Locale::En.around("consent.signed_in_as", "account"),
            ("Signed in as ", "")
        );
    }

    #[test]
    fn scopes_are_described_in_each_language() {
        assert_eq!(Locale::En.describe_scope("email"), "See your email address");
        assert_eq!(Locale::Ja.describe_scope("email"), "メールアドレスを見る");
        assert_eq!(
            Locale::En.describe_scope("read:photos"),
            "Use the permission \u{201c}read:photos\u{201d}"
        );
    }
}
