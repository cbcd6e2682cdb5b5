//! JWT access tokens: verified with the provider's keys, no Redis round trip.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use super::{claims_of, client_credentials, header, spawn_with_bearers, API, OTHER_API};
use crate::support::app::{Options, TestApp};

async fn redis_keys(app: &TestApp) -> usize {
    app.redis_dump().lines().count()
}

#[tokio::test]
async fn a_client_credentials_jwt_for_a_configured_audience_passes_without_touching_redis() {
    let app = spawn_with_bearers(Options::default()).await;
    let token = client_credentials(&app, API).await;
    let claims = claims_of(&token);
    assert_eq!(
        claims["aud"], API,
        "the provider issued a JWT for the resource: {claims}"
    );
    let before = redis_keys(&app).await;

    let ok = app.gate_bearer("", &token).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        header(&ok, "x-auth-request-sub"),
        claims["sub"].as_str().unwrap_or("cli")
    );
    assert!(
        ok.headers().get("x-auth-request-access-token").is_none(),
        "the upstream has the token"
    );
    assert!(ok.headers().get("authorization").is_none());

    let introspected = app.introspect_token(&token).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["kind"], "bearer");
    assert_eq!(introspected["session_expires_at"], claims["exp"]);
    assert!(introspected.get("sid").is_none());
    assert!(introspected.get("access_token").is_none());
    assert_eq!(redis_keys(&app).await, before, "judging a JWT writes nothing to Redis");
}

#[tokio::test]
async fn a_token_for_another_resource_or_a_forged_one_gets_the_rfc_6750_401_never_a_redirect() {
    let app = spawn_with_bearers(Options::default()).await;
    let other = client_credentials(&app, OTHER_API).await;
    let good = client_credentials(&app, API).await;
    // The same token with its claims rewritten: the signature no longer holds.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&good);
    claims["sub"] = Value::from("admin");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = parts.join(".");

    for (token, reason) in [(other.as_str(), "audience"), (forged.as_str(), "signature")] {
        let refused = app
            .gate_bearer("?mode=redirect", token)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{reason}");
        let challenge = header(&refused, "www-authenticate");
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{challenge}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert!(body["error_description"].as_str().unwrap().contains(reason), "{body}");
        assert_eq!(app.introspect_token(token).await, serde_json::json!({"active": false}));
    }
}

#[tokio::test]
async fn a_token_without_a_recent_sign_in_on_a_step_up_route_gets_the_rfc_9470_challenge() {
    let app = spawn_with_bearers(Options::default()).await;
    // A client-credentials token has no auth_time: no sign-in is recent enough.
    let token = client_credentials(&app, API).await;
    let asked = app
        .gate_bearer("?mode=redirect&max_age=300", &token)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::UNAUTHORIZED, "never a redirect for a token");
    let challenge = header(&asked, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_user_authentication\"") && challenge.contains("max_age"),
        "{challenge}"
    );
    let body: Value = asked.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_user_authentication");

    let refused = app
        .gate_bearer("?max_age=300&allowed_groups=admins", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "another rule fails too");
}

#[tokio::test]
async fn an_authorization_code_token_carries_the_users_identity_and_the_route_rules_apply() {
    let app = spawn_with_bearers(Options {
        env: vec![
            ("OIDC_EXTRA_AUTH_PARAMS", format!("resource={API}")),
            ("OIDC_INTROSPECTION_EXPOSE_TOKENS", "true".into()),
            ("OIDC_FETCH_USERINFO", "false".into()),
        ],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("alice").await;
    let token = app.introspect(&session).await["access_token"]
        .as_str()
        .expect("the session's access token")
        .to_owned();
    assert_eq!(claims_of(&token)["aud"], API);
    let ok = app.gate_bearer("", &token).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(header(&ok, "x-auth-request-sub"), "alice");
    let admins_only = app.gate_bearer("?allowed_groups=admins", &token).send().await.unwrap();
    assert_eq!(admins_only.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn with_an_internal_secret_the_token_comes_in_x_forwarded_authorization() {
    let app = spawn_with_bearers(Options {
        env: vec![("OIDC_INTROSPECTION_SECRET", "internal-secret-123".into())],
        ..Options::default()
    })
    .await;
    let token = client_credentials(&app, API).await;
    let ok = reqwest::Client::new()
        .get(format!("{}/forward-auth", app.internal))
        .bearer_auth("internal-secret-123")
        .header("x-forwarded-authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let ignored = reqwest::Client::new()
        .get(format!("{}/forward-auth", app.internal))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ignored.status(),
        StatusCode::UNAUTHORIZED,
        "Authorization carries the internal secret, never the client's token"
    );
}
