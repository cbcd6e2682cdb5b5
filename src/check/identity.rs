//! Identity beyond the browser: the key the identity assertions will be signed with, and
//! whether the provider can vouch for opaque bearer tokens.

use super::Report;
use crate::config::Settings;
use crate::oidc::discovery::Discovered;

/// The `kid` and `alg` assertions will carry, and what upstreams fetch to verify them.
pub(super) fn assertion(settings: &Settings, report: &mut Report) {
    let Some(assertion) = &settings.assertion else {
        return;
    };
    let jwks = assertion.keys.jwk_set(None);
    let signing = &jwks[0];
    let published = match jwks.len() {
        1 => "its public key".to_owned(),
        n => format!("{n} public keys (a rotation)"),
    };
    report.ok(format!(
        "identity assertions: signed {} with kid `{}`, valid {} s; {published} at the internal GET /.well-known/jwks.json",
        signing.alg,
        signing.kid,
        assertion.lifetime.as_secs()
    ));
}

/// With `OIDC_BEARER_AUDIENCES`: JWT access tokens are verified with the provider's keys;
/// opaque ones need its `introspection_endpoint`.
pub(super) fn bearer(settings: &Settings, found: &Discovered, report: &mut Report) {
    if settings.bearer_audiences.is_empty() {
        return;
    }
    let audiences = settings.bearer_audiences.join(", ");
    match &found.endpoints.introspection {
        Some(url) => report.ok(format!(
            "bearer tokens for {audiences}: JWTs verified with the provider's keys, opaque tokens at the introspection_endpoint {url}"
        )),
        None => report.warn(format!(
            "bearer tokens for {audiences}: the provider advertises no introspection_endpoint, so only JWT access \
             tokens can be accepted and opaque ones are refused (OIDC_BEARER_AUDIENCES)"
        )),
    }
}
