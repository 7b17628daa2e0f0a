//! A browser just capable enough to sign in through an OpenID provider's pages: it follows
//! redirects itself (keeping cookies), fills the form that asks for a password with the
//! user's name and password, submits any other form as it is (a consent page's first
//! button), and stops at the client's redirect URI with the code. It knows no provider in
//! particular, so the same run signs in at Sigil and at the peer.

use anyhow::{Context, bail};
use url::Url;

/// Follows the flow from `authorize` until the provider redirects to `redirect_uri`;
/// returns the code.
pub async fn code(
    http: &reqwest::Client,
    authorize: Url,
    redirect_uri: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let mut response = http.get(authorize.clone()).send().await?;
    let mut at = authorize;
    for _ in 0..12 {
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .context("a redirect without Location")?
                .to_str()?;
            let next = at.join(location)?;
            if next.as_str().starts_with(redirect_uri) {
                return code_of(&next);
            }
            response = http.get(next.clone()).send().await?;
            at = next;
        } else if status.is_success() {
            let html = response.text().await?;
            let found = forms(&html);
            let form = pick(&found).context("a page with no form to submit")?;
            let mut fields = form.fields.clone();
            if form.has_password {
                for (name, value) in fields.iter_mut() {
                    match name.as_str() {
                        "identifier" | "login" | "username" => *value = user.to_string(),
                        "password" => *value = password.to_string(),
                        _ => {}
                    }
                }
            }
            let action = at.join(&form.action)?;
            response = http.post(action.clone()).form(&fields).send().await?;
            at = action;
        } else {
            bail!("{status} at {at}");
        }
    }
    bail!("no code after a dozen steps")
}

pub fn code_of(url: &Url) -> anyhow::Result<String> {
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no code in {url}"))
}

#[derive(Clone, Debug, Default)]
struct Form {
    action: String,
    fields: Vec<(String, String)>,
    has_password: bool,
}

/// The sign-in form if there is one, otherwise the last form (a consent page's own).
fn pick(forms: &[Form]) -> Option<&Form> {
    forms
        .iter()
        .find(|f| f.has_password)
        .or_else(|| forms.last())
}

/// Every `<form>` with its action, its inputs and its first named button.
fn forms(html: &str) -> Vec<Form> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let body = &rest[start..];
        let end = body.find("</form>").unwrap_or(body.len());
        let form_html = &body[..end];
        let tag_end = form_html.find('>').unwrap_or(form_html.len());
        let mut form = Form {
            action: attribute(&form_html[..tag_end], "action").unwrap_or_default(),
            ..Form::default()
        };
        let mut button = None;
        for (tag, text) in tags(form_html) {
            let name = attribute(text, "name");
            match tag {
                "input" => {
                    let kind = attribute(text, "type").unwrap_or_else(|| "text".into());
                    if kind == "password" {
                        form.has_password = true;
                    }
                    let checkable = kind == "radio" || kind == "checkbox";
                    if let Some(name) = name
                        && (!checkable || text.contains("checked"))
                        && kind != "submit"
                    {
                        form.fields
                            .push((name, attribute(text, "value").unwrap_or_default()));
                    }
                }
                "button" if button.is_none() => {
                    if let Some(name) = name {
                        button = Some((name, attribute(text, "value").unwrap_or_default()));
                    }
                }
                _ => {}
            }
        }
        form.fields.extend(button);
        found.push(form);
        rest = &body[end..];
    }
    found
}

/// The `<input …>` and `<button …>` tags of a fragment.
fn tags(html: &str) -> impl Iterator<Item = (&'static str, &str)> {
    let mut rest = html;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find('<')?;
            let after = &rest[start + 1..];
            let end = after.find('>').unwrap_or(after.len());
            let tag = &after[..end];
            rest = &after[end..];
            for name in ["input", "button"] {
                if tag.len() > name.len()
                    && tag[..name.len()].eq_ignore_ascii_case(name)
                    && tag.as_bytes()[name.len()].is_ascii_whitespace()
                {
                    return Some((name, tag));
                }
            }
        }
    })
}

/// An attribute's value (double or single quoted), with the entities forms use decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = tag[from..].find(name) {
        let i = from + i;
        from = i + name.len();
        let before_ok = i == 0 || tag.as_bytes()[i - 1].is_ascii_whitespace();
        let rest = tag[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let quote = rest.chars().next()?;
        let value = if quote == '"' || quote == '\'' {
            let inner = &rest[1..];
            &inner[..inner.find(quote)?]
        } else {
            rest.split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or("")
        };
        return Some(
            value
                .replace("&amp;", "&")
                .replace("&quot;", "\"")
                .replace("&#x2F;", "/")
                .replace("&#47;", "/"),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sign_in_form_and_the_consent_button() {
        let html = r#"<form method="post" action="/a?x=1&amp;y=2"><input type="hidden" name="csrf" value="c1">
            <input name="identifier" id="i"><input type="password" name="password">
            <button type="submit">Sign in</button></form>"#;
        let found = forms(html);
        let form = pick(&found).unwrap();
        assert!(form.has_password);
        assert_eq!(form.action, "/a?x=1&y=2");
        assert_eq!(form.fields[0], ("csrf".into(), "c1".into()));

        let consent = r#"<form action="/switch"><button name="decision" value="switch">Not you?</button></form>
            <form action='/consent'><input type="hidden" name="interaction" value="i">
            <button type="submit" name="decision" value="authorize">Authorize</button>
            <button type="submit" name="decision" value="deny">Cancel</button></form>"#;
        let found = forms(consent);
        let form = pick(&found).unwrap();
        assert_eq!(form.action, "/consent");
        assert!(
            form.fields
                .contains(&("decision".into(), "authorize".into()))
        );
        assert!(!form.fields.contains(&("decision".into(), "deny".into())));
    }
}
