//! The provider: discovery, signing keys, the features it advertises, then the probes that
//! ask it about this client.

use openidconnect::reqwest;

use super::{advertised_methods, client_auth, credentials, endpoint_fix, reach, redirect, scopes, Report};
use crate::config::{ClientAuthMethod, Settings};
use crate::oidc::discovery::{self, Discovered, DiscoveryError};
use crate::util::error_chain;

pub(super) async fn check_provider(settings: &Settings, http: &reqwest::Client, report: &mut Report) {
    let found = match discovery::discover(http, &settings.provider).await {
        Ok(found) => found,
        Err(e) => return report.problem(discovery_hint(settings, &e).await),
    };
    report.ok(format!("discovery: {}", settings.provider.discovery_url));
    let jwks = &found.endpoints.jwks;
    match discovery::fetch_jwks(http, jwks).await {
        Ok(keys) if !keys.keys().is_empty() => report.ok(format!("signing keys: {} at {jwks}", keys.keys().len())),
        Ok(_) => report.problem(format!("the provider's JWKS at {jwks} holds no usable key")),
        Err(DiscoveryError::Unreachable { url, source }) => {
            let cause = reach::diagnose(&source, &url, settings.provider.http_timeout).await;
            let fix = endpoint_fix("OIDC_JWKS_URI", &url, settings.provider.jwks_uri.is_some(), settings);
            report.problem(reach::line("the signing keys", &url, &cause, &fix, &settings.provider));
        }
        Err(e) => report.problem(format!("{}; check OIDC_JWKS_URI", error_chain(&e))),
    }
    if found.id_token_algs.is_empty() {
        report.problem("the provider advertises no ID-token signing algorithm this client may accept (HMAC needs OIDC_CLIENT_SECRET)");
    }
    features(settings, &found, report);
    super::identity::bearer(settings, &found, report);
    client_auth::findings(settings, &found, report);
    scopes::check(settings, &found, report);
    credentials::check(settings, http, &found, report).await;
    redirect::check(settings, http, &found, report).await;
    userinfo(settings, http, &found, report).await;
}

async fn discovery_hint(settings: &Settings, e: &DiscoveryError) -> String {
    let issuer = settings.provider.issuer.trim_end_matches('/');
    let derived = format!("{issuer}/.well-known/openid-configuration");
    let fix = if settings.provider.discovery_url.as_str() == derived {
        "check OIDC_ISSUER_URL; if this service reaches the provider by another hostname (in-cluster), set OIDC_DISCOVERY_URL"
    } else {
        "check OIDC_DISCOVERY_URL"
    };
    match e {
        DiscoveryError::Unreachable { url, source } => {
            let cause = reach::diagnose(source, url, settings.provider.http_timeout).await;
            reach::line("the provider", url, &cause, fix, &settings.provider)
        }
        DiscoveryError::Status { .. } => format!("{}: {fix}", error_chain(e)),
        _ => error_chain(e),
    }
}

/// The userinfo endpoint is called at every sign-in (`OIDC_FETCH_USERINFO`): any HTTP answer
/// (a 401 without a token) shows it is reachable.
async fn userinfo(settings: &Settings, http: &reqwest::Client, found: &Discovered, report: &mut Report) {
    let Some(url) = found
        .endpoints
        .userinfo
        .as_ref()
        .filter(|_| settings.provider.fetch_userinfo)
    else {
        return;
    };
    match http.get(url.clone()).send().await {
        // Without a token a 401 is the expected answer; a server error says nothing.
        Ok(response) if response.status().is_server_error() => report.warn(format!(
            "the userinfo endpoint answered {} at {url}: it is reachable, but whether it works shows only at sign-in",
            response.status().as_u16()
        )),
        Ok(_) => report.ok(format!("userinfo endpoint: reachable at {url}")),
        Err(e) => {
            let cause = reach::diagnose(&e, url, settings.provider.http_timeout).await;
            let fix = endpoint_fix(
                "OIDC_USERINFO_ENDPOINT",
                url,
                settings.provider.userinfo_endpoint.is_some(),
                settings,
            ) + ", or set OIDC_FETCH_USERINFO=false";
            report.problem(reach::line(
                "the userinfo endpoint",
                url,
                &cause,
                &fix,
                &settings.provider,
            ));
        }
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
        (false, _) => report.warn("offline_access is not requested (OIDC_SCOPES): expected with providers that issue refresh tokens without it (Keycloak; Google with access_type=offline); with others, sessions end when their access token expires"),
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
    let method = settings.provider.client_auth.method();
    let name = method.as_str();
    let advertised = advertised_methods(found);
    if advertised.iter().any(|m| m == name) {
        report.ok(format!("client authentication {name}: supported"));
    } else {
        let names = advertised.join(", ");
        let fix = match method {
            ClientAuthMethod::None => "set OIDC_CLIENT_SECRET (the provider wants a confidential client)".to_owned(),
            _ => format!("set OIDC_CLIENT_AUTH_METHOD to one of {names}"),
        };
        report.problem(format!(
            "client authentication {name} is not advertised by the provider ({names}): {fix}"
        ));
    }
}
