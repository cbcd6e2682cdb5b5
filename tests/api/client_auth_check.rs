//! What an operator sees of `private_key_jwt` and PAR before anyone signs in: readiness
//! with `OIDC_PAR=always`, and the `check` command's lines.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::app::{free_listener, start_service, CLIENT_ID};
use crate::support::client_keys::{ec_key, rsa_key, TestKey};
use crate::support::provider::TestProvider;
use crate::support::redis::TestRedis;

/// A provider whose client `rp` authenticates with `key`, plus a Redis, for `check`.
struct Setup {
    provider: TestProvider,
    redis: TestRedis,
    public: String,
}

async fn setup(key: &TestKey, provider: Value) -> Setup {
    let public = format!("http://127.0.0.1:{}", free_listener().local_addr().unwrap().port());
    let mut config = json!({
        "port": 0,
        "clients": [{
            "client_id": CLIENT_ID,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.jwk]},
            "redirect_uris": [format!("{public}/auth/callback")],
        }],
    });
    for (k, v) in provider.as_object().into_iter().flatten() {
        config[k] = v.clone();
    }
    Setup {
        provider: TestProvider::start(config).await,
        redis: TestRedis::start(),
        public,
    }
}

impl Setup {
    fn vars(&self, key: &TestKey, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = [
            ("OIDC_ISSUER_URL", self.provider.issuer.as_str()),
            ("OIDC_CLIENT_ID", CLIENT_ID),
            ("OIDC_CLIENT_PRIVATE_KEY", key.pem.as_str()),
            ("OIDC_REDIS_URL", self.redis.url.as_str()),
            ("OIDC_LOG", "error"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.push(("OIDC_REDIRECT_URI".into(), format!("{}/auth/callback", self.public)));
        vars
    }

    async fn check(&self, key: &TestKey, extra: &[(&str, &str)]) -> (Option<i32>, String) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oidc-session"))
            .arg("check")
            .env_clear()
            .envs(self.vars(key, extra))
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.code(), text)
    }
}

#[tokio::test]
async fn with_par_always_and_a_provider_without_par_the_service_stays_unready_naming_oidc_par() {
    let key = ec_key();
    let setup = setup(&key, json!({"par": false})).await;
    let (public, internal) = (free_listener(), free_listener());
    let public_url = format!("http://127.0.0.1:{}", public.local_addr().unwrap().port());
    let internal_url = format!("http://127.0.0.1:{}", internal.local_addr().unwrap().port());
    let mut vars = setup.vars(&key, &[("OIDC_PAR", "always")]);
    vars.retain(|(k, _)| k != "OIDC_REDIRECT_URI");
    vars.push(("OIDC_REDIRECT_URI".into(), format!("{public_url}/auth/callback")));
    let _stop = start_service(vars, public, internal);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let mut reason = String::new();
    for _ in 0..40 {
        if let Ok(ready) = client.get(format!("{internal_url}/readyz")).send().await {
            assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
            reason = ready.text().await.unwrap();
            if reason.contains("OIDC_PAR") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reason.contains("OIDC_PAR=always"), "{reason}");
    let live = client.get(format!("{internal_url}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let login = client.get(format!("{public_url}/auth/login")).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn check_says_the_provider_takes_private_key_jwt_and_par_and_where_the_keys_are_published() {
    let key = rsa_key();
    let setup = setup(&key, json!({})).await;
    let (code, out) = setup.check(&key, &[]).await;
    assert_eq!(code, Some(0), "{out}");
    for expected in [
        "ok       client authentication private_key_jwt: supported".to_owned(),
        format!(
            "ok       private_key_jwt: signs RS256 with the RSA 2048 key `{}`; register its public key at the provider as jwks_uri {}/auth/jwks.json",
            key.kid, setup.public
        ),
        "ok       pushed authorization requests: advertised and used".to_owned(),
        format!(
            "ok       private_key_jwt: assertions carry aud = {} (OIDC_CLIENT_ASSERTION_AUDIENCE: issuer)",
            setup.provider.issuer
        ),
    ] {
        assert!(out.contains(&expected), "`{expected}` missing from:\n{out}");
    }
    assert!(
        !out.contains(key.pem.lines().nth(1).unwrap()),
        "key material printed:\n{out}"
    );

    let discovery: Value = reqwest::get(format!("{}/.well-known/openid-configuration", setup.provider.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap();
    let (code, out) = setup
        .check(&key, &[("OIDC_CLIENT_ASSERTION_AUDIENCE", "token_endpoint")])
        .await;
    assert_eq!(code, Some(0), "{out}");
    let expected = format!(
        "ok       private_key_jwt: assertions carry aud = {token_endpoint} (OIDC_CLIENT_ASSERTION_AUDIENCE: token_endpoint)"
    );
    assert!(out.contains(&expected), "`{expected}` missing from:\n{out}");
}

#[tokio::test]
async fn check_with_par_always_against_a_provider_without_par_is_a_problem_naming_oidc_par() {
    let key = ec_key();
    let setup = setup(&key, json!({"par": false})).await;
    let (code, out) = setup.check(&key, &[("OIDC_PAR", "always")]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("PROBLEM  OIDC_PAR=always, but the provider advertises no pushed_authorization_request_endpoint"),
        "{out}"
    );
}

#[tokio::test]
async fn check_with_an_ec_key_against_a_provider_taking_only_rsa_assertions_is_a_problem() {
    let key = ec_key();
    let setup = setup(&rsa_key(), json!({"client_auth_signing_algs": ["RS256", "PS256"]})).await;
    let (code, out) = setup.check(&key, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("PROBLEM  private_key_jwt: the provider accepts client assertions signed with RS256, PS256 only, which an EC P-256 key cannot make"),
        "{out}"
    );
}
