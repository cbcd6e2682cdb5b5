//! `oidc-session check`: the configuration against the live provider and Redis, one line
//! per finding, with what to change. Exit status 0 only when a login can work.

mod client_auth;
mod credentials;
mod identity;
mod provider;
mod reach;
mod redirect;
mod redis;
mod scopes;

use std::fmt::Write as _;

use openidconnect::core::CoreClientAuthMethod;

use crate::config::Settings;
use crate::oidc::client::http_client;
use crate::oidc::discovery::Discovered;
use crate::util::error_chain;

/// What `check` found: lines to print, and whether a login can work.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub problems: usize,
}

impl Report {
    fn ok(&mut self, text: impl AsRef<str>) {
        self.lines.push(format!("ok       {}", text.as_ref()));
    }
    fn warn(&mut self, text: impl AsRef<str>) {
        self.lines.push(format!("warning  {}", text.as_ref()));
    }
    fn problem(&mut self, text: impl AsRef<str>) {
        self.problems += 1;
        self.lines.push(format!("PROBLEM  {}", text.as_ref()));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let _ = writeln!(out, "{line}");
        }
        let verdict = match self.problems {
            0 => "login can work".to_owned(),
            n => format!("{n} problem(s): login cannot work until they are fixed"),
        };
        let _ = writeln!(out, "\n{verdict}");
        out
    }
}

/// The back-channel logout URI: the callback's sibling.
fn backchannel_uri(settings: &Settings) -> String {
    let mut uri = settings.provider.redirect_uri.clone();
    let path = uri.path().to_owned();
    let base = path.strip_suffix("/callback").unwrap_or("/auth");
    uri.set_path(&format!("{base}/backchannel-logout"));
    uri.set_query(None);
    uri.to_string()
}

pub async fn run(settings: &Settings) -> Report {
    let mut report = Report::default();
    report.lines.push("Register at the provider:".into());
    report.lines.push(format!(
        "  redirect URI               {}",
        settings.provider.redirect_uri
    ));
    match &settings.redirects.post_logout {
        Some(uri) => report.lines.push(format!("  post-logout redirect URI   {uri}")),
        None => report.lines.push(
            "  post-logout redirect URI   (none: set OIDC_POST_LOGOUT_REDIRECT_URI to return users to your app)".into(),
        ),
    }
    report.lines.push(format!(
        "  back-channel logout URI    {} (backchannel_logout_session_required: true)",
        backchannel_uri(settings)
    ));
    report.lines.push(String::new());

    match http_client(&settings.provider) {
        Ok(http) => provider::check_provider(settings, &http, &mut report).await,
        Err(e) => report.problem(format!("{} (OIDC_EXTRA_CA_FILE)", error_chain(&e))),
    }
    identity::assertion(settings, &mut report);
    redis::check_redis(settings, &mut report).await;
    report
}

/// Text the provider chose (an error description), made safe for one terminal line: no
/// control characters (no escape sequences), at most 200 characters.
fn provider_text(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match clean.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean,
    }
}

/// What to change when an endpoint cannot be reached. `overridden`: the URL comes from
/// `var`, not from the discovery document.
fn endpoint_fix(var: &str, url: &url::Url, overridden: bool, settings: &Settings) -> String {
    let host = url.host_str().unwrap_or_default();
    if overridden {
        format!("check {var}")
    } else if Some(host) != settings.provider.discovery_url.host_str() {
        // The classic in-container case: discovery by an internal name works, but the
        // document names the provider's public host.
        format!("set {var} to a URL of this endpoint that this service can reach (the discovery document names host `{host}`)")
    } else {
        format!("check the provider, or set {var}")
    }
}

/// `token_endpoint_auth_methods_supported`; without the list, Discovery 1.0 says
/// `client_secret_basic`.
fn advertised_methods(found: &Discovered) -> Vec<String> {
    let listed = found
        .metadata
        .as_ref()
        .and_then(|m| m.token_endpoint_auth_methods_supported().cloned())
        .unwrap_or_else(|| vec![CoreClientAuthMethod::ClientSecretBasic]);
    listed
        .iter()
        .filter_map(|m| serde_json::to_value(m).ok().and_then(|v| v.as_str().map(str::to_owned)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn provider_text_cannot_carry_escape_sequences_or_run_on() {
        assert_eq!(super::provider_text("bad\u{1b}[2Jthing\n"), "bad [2Jthing ");
        let long = "x".repeat(500);
        assert_eq!(super::provider_text(&long).chars().count(), 201);
    }
}
