//! How `private_key_jwt` assertions address the provider: `OIDC_CLIENT_ASSERTION_AUDIENCE`
//! (their `aud`) and `OIDC_CLIENT_CERTIFICATE` / `…_FILE` (the signing key's certificate,
//! whose thumbprints go in their header, for providers that identify keys that way).

use url::Url;

use super::settings::{AssertionAudience, ClientAuth, ClientKeys};
use super::Problems;
use crate::crypto::client_key::first_certificate;
use crate::crypto::client_keys::CertificateThumbprints;

const AUDIENCE: &str = "OIDC_CLIENT_ASSERTION_AUDIENCE";
const CERTIFICATE: &str = "OIDC_CLIENT_CERTIFICATE";
const CERTIFICATE_FILE: &str = "OIDC_CLIENT_CERTIFICATE_FILE";

pub(super) struct RawClientAssertion<'a> {
    pub audience: Option<&'a str>,
    pub certificate: Option<&'a str>,
    pub certificate_file: Option<&'a str>,
}

fn set(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|v| !v.is_empty())
}

/// The audience, and `auth` with the certificate attached to its keys. Problems are
/// recorded in `p`; `None` when there was one.
pub(super) fn parse(
    raw: RawClientAssertion<'_>,
    auth: Option<ClientAuth>,
    p: &mut Problems,
) -> (Option<AssertionAudience>, Option<ClientAuth>) {
    let audience = p.or_default(AUDIENCE, raw.audience, "issuer", |v| match v {
        "issuer" => Ok(AssertionAudience::Issuer),
        "token_endpoint" => Ok(AssertionAudience::TokenEndpoint),
        other => match Url::parse(other) {
            Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(AssertionAudience::Url(url)),
            _ => Err(format!("`{other}` is not `issuer`, `token_endpoint` or an http(s) URL")),
        },
    });
    let uses_keys = matches!(auth, Some(ClientAuth::PrivateKeyJwt(_)));
    if set(raw.audience).is_some() && auth.is_some() && !uses_keys {
        p.push(
            AUDIENCE,
            "is set but the client does not use private_key_jwt; remove it",
        );
    }
    let certificate = certificate(&raw, p);
    let auth = match (auth, certificate) {
        (Some(ClientAuth::PrivateKeyJwt(keys)), Some(Some(cert))) => Some(ClientAuth::PrivateKeyJwt(with(keys, cert))),
        (Some(_), Some(Some(_))) => {
            p.push(
                CERTIFICATE,
                "is set but the client does not use private_key_jwt; remove it",
            );
            None
        }
        (auth, Some(None)) => auth,
        // Nothing to attach it to: the client's own problem is recorded.
        (None, Some(Some(_))) | (_, None) => None,
    };
    (audience, auth)
}

fn with(keys: ClientKeys, certificate: CertificateThumbprints) -> ClientKeys {
    keys.with_certificate(certificate)
}

/// The first certificate of the PEM, as thumbprints; `Some(None)` when none is configured,
/// `None` after a problem. Its key is not compared with the private key here: a provider
/// that holds the certificate refuses a mismatch at once, and `check` shows it.
fn certificate(raw: &RawClientAssertion<'_>, p: &mut Problems) -> Option<Option<CertificateThumbprints>> {
    let (var, text) = match (set(raw.certificate), set(raw.certificate_file)) {
        (None, None) => return Some(None),
        (Some(_), Some(_)) => {
            p.push(
                CERTIFICATE_FILE,
                format!("is set together with {CERTIFICATE}; set only one of them"),
            );
            return None;
        }
        (Some(inline), None) => (CERTIFICATE, inline.replace("\\n", "\n")),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => (CERTIFICATE_FILE, text),
            Err(e) => {
                p.push(CERTIFICATE_FILE, format!("cannot read `{path}` ({e})"));
                return None;
            }
        },
    };
    match first_certificate(&text) {
        Some(der) => Some(Some(CertificateThumbprints::of_der(&der))),
        None => {
            p.push(
                var,
                "holds no PEM CERTIFICATE block: give the X.509 certificate of the private key",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};

    use crate::config::{AssertionAudience, ClientAuth, Problem, Settings};

    fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let key = p256::SecretKey::generate()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string();
        let base = [
            ("OIDC_ISSUER_URL", "https://id.example.com"),
            ("OIDC_CLIENT_ID", "app"),
            ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
        ];
        let mut all: Vec<(String, String)> = base.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if !extra.iter().any(|(k, _)| *k == "OIDC_CLIENT_SECRET") {
            all.push(("OIDC_CLIENT_PRIVATE_KEY".into(), key));
        }
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    }

    fn problems(extra: &[(&str, &str)]) -> Vec<Problem> {
        Settings::from_vars(vars(extra)).expect_err("a problem").problems
    }

    #[test]
    fn the_audience_is_the_issuer_by_default_or_the_token_endpoint_or_a_url() {
        let audience = |extra: &[(&str, &str)]| Settings::from_vars(vars(extra)).unwrap().provider.assertion_audience;
        assert_eq!(audience(&[]), AssertionAudience::Issuer);
        let token = [("OIDC_CLIENT_ASSERTION_AUDIENCE", "token_endpoint")];
        assert_eq!(audience(&token), AssertionAudience::TokenEndpoint);
        let url = [("OIDC_CLIENT_ASSERTION_AUDIENCE", "https://id.example.com/oauth2/token")];
        assert!(matches!(audience(&url), AssertionAudience::Url(u) if u.path() == "/oauth2/token"));
    }

    #[test]
    fn a_bad_audience_and_one_without_private_key_jwt_are_named() {
        let found = problems(&[("OIDC_CLIENT_ASSERTION_AUDIENCE", "the-token-endpoint")]);
        assert!(found
            .iter()
            .any(|p| p.var == "OIDC_CLIENT_ASSERTION_AUDIENCE" && p.message.contains("token_endpoint")));
        let found = problems(&[
            ("OIDC_CLIENT_SECRET", "s3cret"),
            ("OIDC_CLIENT_ASSERTION_AUDIENCE", "token_endpoint"),
        ]);
        assert!(found
            .iter()
            .any(|p| p.var == "OIDC_CLIENT_ASSERTION_AUDIENCE" && p.message.contains("private_key_jwt")));
    }

    #[test]
    fn a_certificate_is_attached_to_the_signing_key_and_a_non_certificate_is_named() {
        let cert = rcgen::generate_simple_self_signed(vec!["app.example.com".into()])
            .unwrap()
            .cert
            .pem();
        let settings = Settings::from_vars(vars(&[("OIDC_CLIENT_CERTIFICATE", &cert)])).unwrap();
        let ClientAuth::PrivateKeyJwt(keys) = &settings.provider.client_auth else {
            panic!("private_key_jwt");
        };
        assert!(keys.certificate().is_some_and(|c| c.s256.len() == 43));
        let found = problems(&[("OIDC_CLIENT_CERTIFICATE", "not a certificate")]);
        assert!(found
            .iter()
            .any(|p| p.var == "OIDC_CLIENT_CERTIFICATE" && p.message.contains("CERTIFICATE")));
        let found = problems(&[("OIDC_CLIENT_SECRET", "s3cret"), ("OIDC_CLIENT_CERTIFICATE", &cert)]);
        assert!(found
            .iter()
            .any(|p| p.var == "OIDC_CLIENT_CERTIFICATE" && p.message.contains("private_key_jwt")));
    }
}
