//! `oidc-session check`: the configuration against the live provider and Redis, one line
//! per finding, with what to change. Exit status 0 only when a login can work.

mod client_auth;

use std::fmt::Write as _;

use openidconnect::core::CoreClientAuthMethod;

use crate::config::{ClientAuthMethod, RedisMode, Settings};
use crate::oidc::discovery::{self, Discovered, DiscoveryError};
use crate::oidc::provider;
use crate::session::redis::RedisStore;
use crate::session::{SessionStore, StoreError};
use crate::telemetry::metrics::Metrics;
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

    match provider::http_client(&settings.provider) {
        Ok(http) => check_provider(settings, &http, &mut report).await,
        Err(e) => report.problem(format!("{} (OIDC_EXTRA_CA_FILE)", error_chain(&e))),
    }
    check_redis(settings, &mut report).await;
    report
}

async fn check_provider(settings: &Settings, http: &openidconnect::reqwest::Client, report: &mut Report) {
    let found = match discovery::discover(http, &settings.provider).await {
        Ok(found) => found,
        Err(e) => return report.problem(discovery_hint(settings, &e)),
    };
    report.ok(format!("discovery: {}", settings.provider.discovery_url));
    match discovery::fetch_jwks(http, &found.endpoints.jwks).await {
        Ok(keys) if !keys.keys().is_empty() => report.ok(format!(
            "signing keys: {} at {}",
            keys.keys().len(),
            found.endpoints.jwks
        )),
        Ok(_) => report.problem(format!(
            "the provider's JWKS at {} holds no usable key",
            found.endpoints.jwks
        )),
        Err(e) => report.problem(format!("{}; check OIDC_JWKS_URI", error_chain(&e))),
    }
    if found.id_token_algs.is_empty() {
        report.problem("the provider advertises no ID-token signing algorithm this client may accept (HMAC needs OIDC_CLIENT_SECRET)");
    }
    features(settings, &found, report);
    client_auth::findings(settings, &found, report);
}

fn discovery_hint(settings: &Settings, e: &DiscoveryError) -> String {
    let text = error_chain(e);
    match e {
        DiscoveryError::Unreachable { .. } if text.contains("certificate") || text.to_lowercase().contains("tls") => {
            format!(
                "{text}: the provider's TLS certificate is not trusted; set OIDC_EXTRA_CA_FILE to its CA bundle (PEM)"
            )
        }
        DiscoveryError::Unreachable { .. } | DiscoveryError::Status { .. } => {
            let issuer = settings.provider.issuer.trim_end_matches('/');
            let derived = format!("{issuer}/.well-known/openid-configuration");
            if settings.provider.discovery_url.as_str() == derived {
                format!("{text}: check OIDC_ISSUER_URL; if this service reaches the provider by another hostname (in-cluster), set OIDC_DISCOVERY_URL")
            } else {
                format!("{text}: check OIDC_DISCOVERY_URL")
            }
        }
        _ => text,
    }
}

fn features(settings: &Settings, found: &Discovered, report: &mut Report) {
    let Some(metadata) = &found.metadata else {
        report.warn("no discovery document: using the configured endpoints only");
        return;
    };
    let extra = metadata.additional_metadata();
    match &extra.code_challenge_methods_supported {
        Some(methods) if methods.iter().any(|m| m == "S256") => report.ok("PKCE S256: supported"),
        _ => report.warn("PKCE S256 is not advertised (code_challenge_methods_supported); the service sends it anyway"),
    }
    let wants_offline = settings.provider.scopes.iter().any(|s| s == "offline_access");
    let offers_offline = metadata
        .scopes_supported()
        .is_some_and(|scopes| scopes.iter().any(|s| s.as_str() == "offline_access"));
    match (wants_offline, offers_offline) {
        (true, true) => report.ok("offline_access: supported (refresh tokens)"),
        (true, false) => report.warn("offline_access is requested but not in scopes_supported: there may be no refresh token; remove it from OIDC_SCOPES or enable it at the provider"),
        (false, _) => report.warn("offline_access is not requested (OIDC_SCOPES): sessions end when their access token expires"),
    }
    match &found.endpoints.end_session {
        Some(url) => report.ok(format!("end_session_endpoint: {url}")),
        None => report.warn("no end_session_endpoint: logout will only clear the local session (set OIDC_END_SESSION_ENDPOINT if the provider has one)"),
    }
    match (extra.backchannel_logout_supported, extra.backchannel_logout_session_supported) {
        (Some(true), Some(true)) => report.ok("back-channel logout: supported, with sid"),
        (Some(true), _) => report.warn("back-channel logout is supported without sid: a logout at the provider ends all of the user's sessions here"),
        _ => report.warn("back-channel logout is not supported: a logout at the provider does not end sessions here until they expire"),
    }
    let method = match settings.provider.auth_method {
        ClientAuthMethod::None => CoreClientAuthMethod::None,
        ClientAuthMethod::ClientSecretBasic => CoreClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost => CoreClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::PrivateKeyJwt => CoreClientAuthMethod::PrivateKeyJwt,
    };
    // Discovery 1.0: without the list, client_secret_basic is the default.
    let advertised = metadata
        .token_endpoint_auth_methods_supported()
        .cloned()
        .unwrap_or_else(|| vec![CoreClientAuthMethod::ClientSecretBasic]);
    let name = serde_json::to_value(&method)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if advertised.contains(&method) {
        report.ok(format!("client authentication {name}: supported"));
    } else {
        let names: Vec<String> = advertised
            .iter()
            .filter_map(|m| serde_json::to_value(m).ok().and_then(|v| v.as_str().map(str::to_owned)))
            .collect();
        let fix = match method {
            CoreClientAuthMethod::None => {
                "set OIDC_CLIENT_SECRET (the provider wants a confidential client)".to_owned()
            }
            _ => format!("set OIDC_CLIENT_AUTH_METHOD to one of {}", names.join(", ")),
        };
        report.problem(format!(
            "client authentication {name} is not advertised by the provider ({}): {fix}",
            names.join(", ")
        ));
    }
}

async fn check_redis(settings: &Settings, report: &mut Report) {
    let store = match RedisStore::new(&settings.redis, std::sync::Arc::new(Metrics::new())) {
        Ok(store) => store,
        Err(e) => return report.problem(format!("{}: fix {}", error_chain(&e), settings.redis.mode.vars())),
    };
    match store.ping().await {
        Ok(()) => report.ok(match &settings.redis.mode {
            RedisMode::Standalone { .. } => "redis: standalone, reachable".to_owned(),
            RedisMode::Sentinel { master, .. } => format!("redis: sentinel, master `{master}` reached"),
            RedisMode::Cluster { .. } => "redis: cluster, reachable".to_owned(),
        }),
        Err(e) => {
            let text = error_chain(&e);
            let var = settings.redis.mode.vars();
            let hint = if matches!(e, StoreError::Refused(_)) {
                format!("Redis refuses the credentials: fix the user/password in {var}")
            } else {
                format!("Redis is unreachable: check {var}")
            };
            report.problem(format!("{text}: {hint}"));
        }
    }
}
