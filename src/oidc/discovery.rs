//! Provider discovery: metadata (with per-endpoint overrides) and the signing keys.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{reqwest, AdditionalProviderMetadata, ProviderMetadata};
use serde::{Deserialize, Serialize};
use url::Url;

use super::body::{read_limited, BodyError, METADATA_LIMIT};
use crate::config::{ParMode, ProviderSettings};
use crate::util::error_chain;

/// Metadata fields the core type lacks (RP-initiated and back-channel logout, PKCE, revocation, PAR).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ExtraMetadata {
    pub(crate) end_session_endpoint: Option<Url>,
    pub(crate) revocation_endpoint: Option<Url>,
    pub(crate) code_challenge_methods_supported: Option<Vec<String>>,
    pub(crate) backchannel_logout_supported: Option<bool>,
    pub(crate) backchannel_logout_session_supported: Option<bool>,
    pub(crate) pushed_authorization_request_endpoint: Option<Url>,
    pub(crate) require_pushed_authorization_requests: Option<bool>,
    /// RFC 9207: the provider puts `iss` in every authorization response.
    pub(crate) authorization_response_iss_parameter_supported: Option<bool>,
    pub(crate) introspection_endpoint: Option<Url>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

pub(crate) type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DiscoveryError {
    #[error("cannot reach the provider at {url}")]
    Unreachable {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("the provider answered {status} for {url}")]
    Status { url: Url, status: u16 },
    #[error("the provider's answer at {url} is larger than the {limit} bytes accepted")]
    TooLarge { url: Url, limit: usize },
    #[error("{url} is not a valid OpenID discovery document")]
    InvalidDocument {
        url: Url,
        #[source]
        source: serde_json::Error,
    },
    #[error("{url} is not a valid JSON Web Key Set")]
    InvalidJwks {
        url: Url,
        #[source]
        source: serde_json::Error,
    },
    #[error("the provider's issuer is `{found}` but OIDC_ISSUER_URL is `{configured}`; {hint}")]
    IssuerMismatch {
        configured: String,
        found: String,
        hint: String,
    },
    #[error("the provider advertises no {0}; set {1}")]
    MissingEndpoint(&'static str, &'static str),
    #[error("OIDC_PAR=always, but the provider advertises no pushed_authorization_request_endpoint; enable PAR at the provider or set OIDC_PAR=auto")]
    ParUnavailable,
}

impl DiscoveryError {
    fn issuer_mismatch(configured: &str, found: &str) -> Self {
        let hint = if configured.trim_end_matches('/') == found.trim_end_matches('/') {
            format!("they differ only by the trailing slash: set OIDC_ISSUER_URL={found} exactly")
        } else {
            format!("set OIDC_ISSUER_URL={found} if that provider is the right one")
        };
        Self::IssuerMismatch {
            configured: configured.to_owned(),
            found: found.to_owned(),
            hint,
        }
    }
}

/// Why the provider is not usable right now.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum NotReady {
    #[error("provider metadata not loaded yet")]
    Starting,
    /// The last discovery attempt's error, shared by every request that asks meanwhile.
    #[error("provider metadata not loaded: {}", error_chain(.0.as_ref()))]
    Failed(Arc<DiscoveryError>),
}

/// The provider as this service uses it, overrides applied.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub(crate) authorization: Url,
    pub(crate) token: Url,
    pub(crate) userinfo: Option<Url>,
    pub(crate) jwks: Url,
    pub(crate) end_session: Option<Url>,
    pub(crate) revocation: Option<Url>,
    /// RFC 7662, for opaque bearer tokens.
    pub(crate) introspection: Option<Url>,
    /// RFC 9126; `None` when not advertised or when `OIDC_PAR=never`.
    pub(crate) pushed_authorization: Option<Url>,
    /// `token_endpoint_auth_signing_alg_values_supported`, when advertised: what the
    /// provider accepts for `private_key_jwt` client assertions.
    pub(crate) client_assertion_algs: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    pub(crate) endpoints: Endpoints,
    /// Algorithms accepted for ID tokens: the advertised ones, never `none`.
    pub(crate) id_token_algs: Vec<CoreJwsSigningAlgorithm>,
    /// The raw metadata, when discovery succeeded (the `check` command reads it).
    pub(crate) metadata: Option<Metadata>,
}

async fn get_json(http: &reqwest::Client, url: &Url) -> Result<Vec<u8>, DiscoveryError> {
    Ok(get_json_with_age(http, url).await?.0)
}

/// The body, and how long the provider says it may be cached (`Cache-Control: max-age`).
async fn get_json_with_age(http: &reqwest::Client, url: &Url) -> Result<(Vec<u8>, Option<Duration>), DiscoveryError> {
    let unreachable = |source| DiscoveryError::Unreachable {
        url: url.clone(),
        source,
    };
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .headers(crate::telemetry::trace::outgoing_headers())
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(DiscoveryError::Status {
            url: url.clone(),
            status: response.status().as_u16(),
        });
    }
    let max_age = max_age(response.headers());
    let body = read_limited(response, METADATA_LIMIT).await.map_err(|e| match e {
        BodyError::Read(source) => unreachable(source),
        BodyError::TooLarge { limit } => DiscoveryError::TooLarge {
            url: url.clone(),
            limit,
        },
    })?;
    Ok((body, max_age))
}

/// `Cache-Control: max-age=N` (`no-store` and `no-cache` count as 0).
pub(crate) fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        for directive in value.to_str().ok()?.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=") {
                found = secs.trim_matches('"').parse().ok().map(Duration::from_secs);
            }
        }
    }
    found
}

pub(crate) async fn fetch_jwks(http: &reqwest::Client, url: &Url) -> Result<CoreJsonWebKeySet, DiscoveryError> {
    Ok(fetch_jwks_with_age(http, url).await?.0)
}

/// The key set, and how long the provider says it may be cached.
pub(crate) async fn fetch_jwks_with_age(
    http: &reqwest::Client,
    url: &Url,
) -> Result<(CoreJsonWebKeySet, Option<Duration>), DiscoveryError> {
    let (body, max_age) = get_json_with_age(http, url).await?;
    let set = serde_json::from_slice(&body).map_err(|source| DiscoveryError::InvalidJwks {
        url: url.clone(),
        source,
    })?;
    Ok((set, max_age))
}

/// Fetches the discovery document (unless every core endpoint is overridden and it is
/// unavailable) and checks its issuer byte for byte.
pub(crate) async fn discover(
    http: &reqwest::Client,
    settings: &ProviderSettings,
) -> Result<Discovered, DiscoveryError> {
    let metadata = match fetch_metadata(http, settings).await {
        Ok(m) => Some(m),
        // A wrong issuer is a misconfiguration; endpoint overrides must not paper over it.
        Err(e @ DiscoveryError::IssuerMismatch { .. }) => return Err(e),
        Err(e) if settings.discovery_optional() => {
            tracing::warn!(error = %e, "discovery failed; using the configured endpoints");
            None
        }
        Err(e) => return Err(e),
    };
    let extra = metadata
        .as_ref()
        .map(|m| m.additional_metadata().clone())
        .unwrap_or_default();
    let pick = |over: &Option<Url>, found: Option<Url>| over.clone().or(found);
    let authorization = pick(
        &settings.authorization_endpoint,
        metadata.as_ref().map(|m| m.authorization_endpoint().url().clone()),
    )
    .ok_or(DiscoveryError::MissingEndpoint(
        "authorization endpoint",
        "OIDC_AUTHORIZATION_ENDPOINT",
    ))?;
    let token = pick(
        &settings.token_endpoint,
        metadata
            .as_ref()
            .and_then(|m| m.token_endpoint())
            .map(|u| u.url().clone()),
    )
    .ok_or(DiscoveryError::MissingEndpoint("token endpoint", "OIDC_TOKEN_ENDPOINT"))?;
    let jwks = pick(
        &settings.jwks_uri,
        metadata.as_ref().map(|m| m.jwks_uri().url().clone()),
    )
    .ok_or(DiscoveryError::MissingEndpoint("jwks_uri", "OIDC_JWKS_URI"))?;
    let endpoints = Endpoints {
        authorization,
        token,
        userinfo: pick(
            &settings.userinfo_endpoint,
            metadata
                .as_ref()
                .and_then(|m| m.userinfo_endpoint())
                .map(|u| u.url().clone()),
        ),
        jwks,
        end_session: pick(&settings.end_session_endpoint, extra.end_session_endpoint.clone()),
        revocation: extra.revocation_endpoint.clone(),
        introspection: extra.introspection_endpoint.clone(),
        pushed_authorization: match settings.par {
            ParMode::Never => None,
            ParMode::Auto | ParMode::Always => extra.pushed_authorization_request_endpoint.clone(),
        },
        client_assertion_algs: metadata
            .as_ref()
            .and_then(|m| m.token_endpoint_auth_signing_alg_values_supported())
            .map(|algs| algs.iter().filter_map(alg_name).collect()),
    };
    let advertised: Vec<CoreJwsSigningAlgorithm> = metadata
        .as_ref()
        .map(|m| m.id_token_signing_alg_values_supported().clone())
        // OIDC Discovery: RS256 must be supported; without a document, it is the only safe guess.
        .unwrap_or_else(|| vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
    let id_token_algs = advertised
        .into_iter()
        .filter(|alg| *alg != CoreJwsSigningAlgorithm::None)
        .filter(|alg| settings.client_auth.secret().is_some() || !is_hmac(alg))
        .collect();
    Ok(Discovered {
        endpoints,
        id_token_algs,
        metadata,
    })
}

impl Discovered {
    /// Whether the provider says that it sends `iss` with every authorization response
    /// (RFC 9207 §3); then a response without one is refused (§2.4).
    pub(crate) fn sends_iss(&self) -> bool {
        self.metadata
            .as_ref()
            .and_then(|m| m.additional_metadata().authorization_response_iss_parameter_supported)
            == Some(true)
    }
}

/// A JWS algorithm's registered name (`RS256`).
pub(crate) fn alg_name(alg: &CoreJwsSigningAlgorithm) -> Option<String> {
    serde_json::to_value(alg).ok()?.as_str().map(str::to_owned)
}

/// `OIDC_PAR=always` needs the provider's PAR endpoint: without it, no login may start.
pub(crate) fn require_par(settings: &ProviderSettings, found: &Discovered) -> Result<(), DiscoveryError> {
    match (settings.par, &found.endpoints.pushed_authorization) {
        (ParMode::Always, None) => Err(DiscoveryError::ParUnavailable),
        _ => Ok(()),
    }
}

pub(crate) fn is_hmac(alg: &CoreJwsSigningAlgorithm) -> bool {
    matches!(
        alg,
        CoreJwsSigningAlgorithm::HmacSha256 | CoreJwsSigningAlgorithm::HmacSha384 | CoreJwsSigningAlgorithm::HmacSha512
    )
}

async fn fetch_metadata(http: &reqwest::Client, settings: &ProviderSettings) -> Result<Metadata, DiscoveryError> {
    let url = &settings.discovery_url;
    let body = get_json(http, url).await?;
    // Read the issuer first: a mismatch is the most common misconfiguration and deserves
    // its own message even when the rest of the document is unusual.
    #[derive(Deserialize)]
    struct IssuerOnly {
        issuer: String,
    }
    let issuer = serde_json::from_slice::<IssuerOnly>(&body)
        .map_err(|source| DiscoveryError::InvalidDocument {
            url: url.clone(),
            source,
        })?
        .issuer;
    if issuer != settings.issuer {
        return Err(DiscoveryError::issuer_mismatch(&settings.issuer, &issuer));
    }
    serde_json::from_slice(&body).map_err(|source| DiscoveryError::InvalidDocument {
        url: url.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_that_differs_by_a_trailing_slash_names_the_exact_value_to_set() {
        let e = DiscoveryError::issuer_mismatch("https://id.example/realms/x", "https://id.example/realms/x/");
        let text = e.to_string();
        assert!(text.contains("trailing slash"), "{text}");
        assert!(
            text.contains("OIDC_ISSUER_URL=https://id.example/realms/x/ exactly"),
            "{text}"
        );
    }
}
