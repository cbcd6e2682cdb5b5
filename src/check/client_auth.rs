//! `check` lines for `private_key_jwt` and Pushed Authorization Requests: what the
//! provider advertises, and whether the configuration fits it.

use super::Report;
use crate::config::{ClientAuth, ParMode, Settings};
use crate::oidc::discovery::Discovered;

/// Where this service publishes its public keys: the callback's sibling `jwks.json`.
pub(crate) fn jwks_uri(settings: &Settings) -> String {
    let mut uri = settings.provider.redirect_uri.clone();
    let path = uri.path().to_owned();
    let base = path.strip_suffix("/callback").unwrap_or("/auth");
    uri.set_path(&format!("{base}/jwks.json"));
    uri.set_query(None);
    uri.to_string()
}

pub(super) fn findings(settings: &Settings, found: &Discovered, report: &mut Report) {
    private_key_jwt(settings, found, report);
    par(settings, found, report);
}

fn private_key_jwt(settings: &Settings, found: &Discovered, report: &mut Report) {
    let provider = &settings.provider;
    let ClientAuth::PrivateKeyJwt(keys) = &provider.client_auth else {
        return;
    };
    let key = keys.signing();
    let advertised = found.endpoints.client_assertion_algs.as_deref();
    if key.accepted_by(advertised) {
        report.ok(format!(
            "private_key_jwt: signs {} with the {} key `{}`; register its public key at the provider as jwks_uri {} (or paste that JWK Set)",
            key.alg_for(advertised).as_str(),
            key.describe(),
            key.kid(),
            jwks_uri(settings),
        ));
    } else {
        report.problem(format!(
            "private_key_jwt: the provider accepts client assertions signed with {} only, which an {} key cannot make (token_endpoint_auth_signing_alg_values_supported); set OIDC_CLIENT_PRIVATE_KEY to a key of a matching type (RSA for RS256/PS256, EC P-256 for ES256)",
            advertised.unwrap_or_default().join(", "),
            key.describe(),
        ));
    }
}

fn par(settings: &Settings, found: &Discovered, report: &mut Report) {
    let extra = found.metadata.as_ref().map(|m| m.additional_metadata());
    let endpoint = extra.and_then(|m| m.pushed_authorization_request_endpoint.as_ref());
    let required = extra.and_then(|m| m.require_pushed_authorization_requests) == Some(true);
    match (settings.provider.par, endpoint) {
        (ParMode::Auto | ParMode::Always, Some(url)) => report.ok(format!(
            "pushed authorization requests: advertised and used ({url})"
        )),
        (ParMode::Never, Some(_)) if required => report.problem(
            "the provider requires pushed authorization requests (require_pushed_authorization_requests) but OIDC_PAR=never: set OIDC_PAR=auto",
        ),
        (ParMode::Never, Some(_)) => {
            report.ok("pushed authorization requests: advertised, not used (OIDC_PAR=never)")
        }
        (ParMode::Always, None) => report.problem(
            "OIDC_PAR=always, but the provider advertises no pushed_authorization_request_endpoint (the service stays unready): enable PAR at the provider or set OIDC_PAR=auto",
        ),
        (ParMode::Auto, None) => {
            report.ok("pushed authorization requests: not advertised; the browser carries the authorization request")
        }
        (ParMode::Never, None) => report.ok("pushed authorization requests: not advertised, not used (OIDC_PAR=never)"),
    }
}
