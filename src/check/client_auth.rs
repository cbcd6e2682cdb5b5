//! `check` lines for `private_key_jwt` and Pushed Authorization Requests: what the
//! provider advertises, and whether the configuration fits it.

use super::Report;
use crate::config::{AssertionAudience, ClientAuth, ParMode, Settings};
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
    assertion_audience(settings, found, report);
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

/// The `aud` assertions carry, and a warning where the provider is known to want another
/// one, or a certificate (Okta and Microsoft Entra ID document the token endpoint).
fn assertion_audience(settings: &Settings, found: &Discovered, report: &mut Report) {
    let provider = &settings.provider;
    let ClientAuth::PrivateKeyJwt(keys) = &provider.client_auth else {
        return;
    };
    let (audience, named) = match &provider.assertion_audience {
        AssertionAudience::Issuer => (provider.issuer.clone(), "issuer"),
        AssertionAudience::TokenEndpoint => (found.endpoints.token.to_string(), "token_endpoint"),
        AssertionAudience::Url(url) => (url.to_string(), "an explicit URL"),
    };
    report.ok(format!(
        "private_key_jwt: assertions carry aud = {audience} (OIDC_CLIENT_ASSERTION_AUDIENCE: {named})"
    ));
    let has_certificate = keys.certificate().is_some();
    for warning in known_wants(&provider.issuer, &provider.assertion_audience, has_certificate) {
        report.warn(warning);
    }
}

/// What a provider recognised by its issuer's host documents and this configuration lacks.
fn known_wants(issuer: &str, audience: &AssertionAudience, has_certificate: bool) -> Vec<String> {
    let host = url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let host = host.as_deref().unwrap_or("");
    let entra = host == "login.microsoftonline.com" || host.ends_with(".ciamlogin.com");
    let okta = host.ends_with(".okta.com") || host.ends_with(".oktapreview.com");
    let mut wants = Vec::new();
    if (entra || okta) && *audience == AssertionAudience::Issuer {
        wants.push(format!(
            "{} documents its token endpoint as the client assertion's aud: set OIDC_CLIENT_ASSERTION_AUDIENCE=token_endpoint",
            if entra { "Microsoft Entra ID" } else { "Okta" }
        ));
    }
    if entra && !has_certificate {
        wants.push("Microsoft Entra ID identifies certificate credentials by thumbprint (x5t#S256): set OIDC_CLIENT_CERTIFICATE to the key's certificate".to_owned());
    }
    wants
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_and_okta_are_told_to_use_the_token_endpoint_and_entra_a_certificate_others_nothing() {
        let entra = "https://login.microsoftonline.com/tenant-id/v2.0";
        let okta = "https://example.okta.com/oauth2/default";
        let issuer = AssertionAudience::Issuer;
        let endpoint = AssertionAudience::TokenEndpoint;

        let said = known_wants(entra, &issuer, false);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].starts_with("Microsoft Entra ID documents its token endpoint"),
            "{said:?}"
        );
        assert!(said[1].contains("OIDC_CLIENT_CERTIFICATE"), "{said:?}");
        assert!(known_wants(entra, &endpoint, true).is_empty());

        let said = known_wants(okta, &issuer, false);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("Okta documents") && said[0].contains("=token_endpoint"));
        assert!(known_wants(okta, &endpoint, false).is_empty());

        assert!(known_wants("https://auth.example.com/realms/main", &issuer, false).is_empty());
        assert!(known_wants("https://notokta.com.evil.test", &issuer, false).is_empty());
    }
}
