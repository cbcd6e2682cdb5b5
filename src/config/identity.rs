//! Identity beyond the browser: the key that signs the identity assertion handed to
//! upstreams (`OIDC_ASSERTION_KEY`, `…_FILE`, `…_KEY_ID`, `OIDC_ASSERTION_LIFETIME`), and the
//! audiences of the provider's access tokens that API clients may present
//! (`OIDC_BEARER_AUDIENCES`).

use std::time::Duration;

use super::client_auth::{private_keys, KeyVars};
use super::settings::{AssertionSettings, ClientAuth};
use super::{parse, Problems};

const ASSERTION_KEY: KeyVars = KeyVars {
    key: "OIDC_ASSERTION_KEY",
    file: "OIDC_ASSERTION_KEY_FILE",
    id: "OIDC_ASSERTION_KEY_ID",
};
const LIFETIME: &str = "OIDC_ASSERTION_LIFETIME";

/// The raw values, as read from the environment.
pub(super) struct RawIdentity<'a> {
    pub key: Option<&'a str>,
    pub key_file: Option<&'a str>,
    pub key_id: Option<&'a str>,
    pub lifetime: Option<&'a str>,
    pub bearer_audiences: Option<&'a str>,
}

fn set(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|v| !v.is_empty())
}

/// The assertion settings (`None` without a key); `client_auth` is `None` when the client's
/// own settings had a problem (then reuse of its key cannot be judged).
pub(super) fn assertion(
    raw: &RawIdentity<'_>,
    client_auth: Option<&ClientAuth>,
    p: &mut Problems,
) -> Option<Option<AssertionSettings>> {
    // An assertion lives a minute by default; over an hour, a leaked one is a long-lived
    // credential for every upstream that trusts it.
    let lifetime = p.or_default(LIFETIME, raw.lifetime, "60s", |v| parse::duration_at_most(v, "1h"));
    if lifetime == Some(Duration::ZERO) {
        p.push(LIFETIME, "must be longer than zero; for example 60s");
    }
    let configured = set(raw.key).is_some() || set(raw.key_file).is_some();
    let keys = private_keys(ASSERTION_KEY, set(raw.key), set(raw.key_file), set(raw.key_id), p);
    if configured && keys.is_none() {
        return None; // the key's problem is recorded
    }
    let Some(keys) = keys else {
        return lifetime.map(|_| None);
    };
    let client_keys = client_auth.and_then(ClientAuth::keys);
    // One key, one purpose: an upstream that trusts assertions must not also accept what
    // the provider accepts as this client (and the reverse).
    let reused = client_keys.is_some_and(|client| keys.thumbprints().any(|t| client.thumbprints().any(|c| c == t)));
    if reused {
        p.push(
            ASSERTION_KEY.key,
            "is the client-authentication key (OIDC_CLIENT_PRIVATE_KEY); give assertions a key of their own \
             (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)",
        );
        return None;
    }
    let lifetime = lifetime.filter(|l| !l.is_zero())?;
    Some(Some(AssertionSettings { keys, lifetime }))
}

/// `OIDC_BEARER_AUDIENCES`: empty when bearer tokens are not accepted.
pub(super) fn bearer_audiences(raw: &RawIdentity<'_>) -> Vec<String> {
    raw.bearer_audiences.map(parse::list).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::config::client_auth::tests::{ec_pem, problems, vars};
    use crate::config::Settings;

    #[test]
    fn an_assertion_key_gives_es256_keys_with_a_thumbprint_kid_and_a_minute_by_default() {
        let pem = ec_pem();
        let s = Settings::from_vars(vars(&[
            ("OIDC_ASSERTION_KEY", &pem),
            ("OIDC_BEARER_AUDIENCES", "api, cli"),
        ]))
        .unwrap();
        let assertion = s.assertion.expect("configured");
        assert_eq!(assertion.lifetime.as_secs(), 60);
        let jwks = assertion.keys.jwk_set(None);
        assert_eq!(jwks[0].alg, "ES256");
        assert_eq!(jwks[0].kid, jwks[0].public.thumbprint());
        assert_eq!(s.bearer_audiences, ["api", "cli"]);
    }

    #[test]
    fn without_a_key_there_is_no_assertion_and_no_bearer_audience() {
        let s = Settings::from_vars(vars(&[])).unwrap();
        assert!(s.assertion.is_none());
        assert!(s.bearer_audiences.is_empty());
    }

    #[test]
    fn a_lifetime_over_an_hour_and_an_unreadable_key_file_are_named_together() {
        let found = problems(&[
            ("OIDC_ASSERTION_LIFETIME", "2h"),
            ("OIDC_ASSERTION_KEY_FILE", "/nonexistent/assertion.pem"),
        ]);
        let vars: Vec<&str> = found.iter().map(|p| p.var).collect();
        assert!(vars.contains(&"OIDC_ASSERTION_LIFETIME"), "{found:?}");
        assert!(vars.contains(&"OIDC_ASSERTION_KEY_FILE"), "{found:?}");
    }

    #[test]
    fn the_client_authentication_key_is_refused_as_the_assertion_key_even_under_another_id() {
        let pem = ec_pem();
        let found = problems(&[
            ("OIDC_CLIENT_PRIVATE_KEY", &pem),
            ("OIDC_ASSERTION_KEY", &pem),
            ("OIDC_ASSERTION_KEY_ID", "other-id"),
        ]);
        let problem = found.iter().find(|p| p.var == "OIDC_ASSERTION_KEY").expect("named");
        assert!(problem.message.contains("client-authentication key"), "{problem:?}");
        assert!(!problem.message.contains("PRIVATE KEY-----"), "never quotes the key");
    }

    #[test]
    fn a_public_key_is_not_an_assertion_key() {
        let found = problems(&[(
            "OIDC_ASSERTION_KEY",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )]);
        assert!(found.iter().any(|p| p.var == "OIDC_ASSERTION_KEY"), "{found:?}");
    }
}
