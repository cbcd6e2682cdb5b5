//! Every method and path, the per-route rules and their errors, the internal secret, the
//! OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{error_of, header, send, PAGE};
use crate::support::app::{spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn every_method_and_every_path_below_forward_auth_is_answered() {
    let app = spawn_app().await;
    let session = app.sign_in("alice").await;
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for path in ["/forward-auth", "/forward-auth/", "/forward-auth/api/items/7?page=2"] {
            let ok = send(app.gate(method.clone(), path, Some(&session))).await;
            assert_eq!(ok.status(), StatusCode::OK, "{method} {path}");
            assert_eq!(header(&ok, "x-auth-request-user"), "alice", "{method} {path}");
            let denied = send(app.gate(method.clone(), path, None)).await;
            assert_eq!(denied.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    let unknown = send(app.gate(Method::GET, "/forward-authx", Some(&session))).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn below_forward_auth_the_query_is_the_original_requests_and_is_not_read() {
    let app = spawn_app().await;
    let session = app.sign_in("alice").await;
    let path = "/forward-auth/search?allowed_groups=&mode=login&q=1";
    let ok = send(app.gate(Method::GET, path, Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let page_load = app
        .gate(Method::GET, "/forward-auth/?mode=redirect", None)
        .header("accept", PAGE);
    assert_eq!(send(page_load).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_rules_are_a_400_naming_the_parameter_with_or_without_a_session() {
    let app = spawn_app().await;
    let session = app.sign_in("alice").await;
    for (query, parameter) in [
        ("mode=redirect&allowed_group=admins", "allowed_group"),
        ("mode=login", "mode"),
        ("mode=", "mode"),
        ("allowed_groups=", "allowed_groups"),
        ("allowed_groups=,", "allowed_groups"),
        ("allowed_emails=,", "allowed_emails"),
        ("allowed_email_domains=", "allowed_email_domains"),
        ("allowed_emails=not-an-address", "allowed_emails"),
    ] {
        for cookie in [Some(session.as_str()), None] {
            let response = send(app.gate(Method::GET, &format!("/forward-auth?{query}"), cookie)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
            let body = error_of(response).await;
            assert_eq!(body["error"], "invalid_request");
            let description = body["error_description"].as_str().unwrap();
            assert!(
                description.contains(&format!("`{parameter}`")),
                "{query}: {description}"
            );
        }
    }
    assert!(app.is_active(&session).await, "the session is untouched");
}

#[tokio::test]
async fn a_member_of_an_allowed_group_passes_and_others_get_403() {
    let app = spawn_app().await;
    let admin = app.sign_in("admin-carol").await;
    let user = app.sign_in_with(&crate::support::app::browser(), "alice").await;
    let route = "/forward-auth?allowed_groups=ops,admins";
    let ok = send(app.gate(Method::GET, route, Some(&admin))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(header(&ok, "x-auth-request-groups"), "users,admins");

    let api = send(
        app.gate(Method::GET, route, Some(&user))
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    assert!(api.headers().get("x-auth-request-user").is_none());
    let body = error_of(api).await;
    assert_eq!(body["error"], "forbidden");
    assert!(body["error_description"].as_str().unwrap().contains("group"), "{body}");

    let page = send(
        app.gate(Method::GET, &format!("{route}&mode=redirect"), Some(&user))
            .header("accept", PAGE)
            .header("x-forwarded-uri", "/admin"),
    )
    .await;
    assert_eq!(
        page.status(),
        StatusCode::FORBIDDEN,
        "a live session is never sent to sign in"
    );
    assert!(header(&page, "content-type").starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Access denied") && html.contains("group"), "{html}");
    assert!(app.is_active(&user).await, "a refusal does not end the session");
}

#[tokio::test]
async fn email_rules_need_a_verified_address_on_the_list_or_at_a_listed_domain() {
    let app = spawn_app_with(Options {
        provider: json!({"accounts": {"mixed": {"email": "Mixed.Case@EXAMPLE.test"}}}),
        ..Options::default()
    })
    .await;
    let alice = app.sign_in("alice").await;
    let mixed = app.sign_in_with(&crate::support::app::browser(), "mixed").await;
    let unverified = app
        .sign_in_with(&crate::support::app::browser(), "unverified-uma")
        .await;
    let cases = [
        ("allowed_emails=ALICE@example.test", &alice, StatusCode::OK),
        ("allowed_emails=mixed.case@example.TEST", &mixed, StatusCode::OK),
        ("allowed_emails=bob@example.test", &alice, StatusCode::FORBIDDEN),
        (
            "allowed_emails=unverified-uma@example.test",
            &unverified,
            StatusCode::FORBIDDEN,
        ),
        ("allowed_email_domains=Example.Test", &alice, StatusCode::OK),
        ("allowed_email_domains=test", &alice, StatusCode::FORBIDDEN),
        ("allowed_email_domains=other.test,example.test", &mixed, StatusCode::OK),
        ("allowed_email_domains=example.test", &unverified, StatusCode::FORBIDDEN),
        (
            "allowed_email_domains=example.test&allowed_groups=admins",
            &alice,
            StatusCode::FORBIDDEN,
        ),
        (
            "allowed_email_domains=example.test&allowed_groups=users",
            &alice,
            StatusCode::OK,
        ),
    ];
    for (query, session, status) in cases {
        let response = send(app.gate(Method::GET, &format!("/forward-auth?{query}"), Some(session))).await;
        assert_eq!(response.status(), status, "{query}");
    }
}

#[tokio::test]
async fn a_wrong_internal_secret_is_refused_before_anything_else() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_INTROSPECTION_SECRET", "s3cret-for-the-internal-api".into())],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("alice").await;
    let wrong = send(app.gate(Method::GET, "/forward-auth?bogus=1", Some(&session))).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = send(
        app.gate(Method::GET, "/forward-auth/x", Some(&session))
            .bearer_auth("s3cret-for-the-internal-api"),
    )
    .await;
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_describes_forward_auth_for_every_method() {
    let app = spawn_app().await;
    let doc: Value = app
        .api
        .get(format!("{}/openapi.json", app.internal))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations = doc["paths"]["/forward-auth"].as_object().expect("listed");
    for method in ["get", "head", "post", "put", "patch", "delete", "options"] {
        let responses = operations[method]["responses"].as_object().expect(method);
        for status in ["200", "302", "400", "401", "403", "503"] {
            assert!(responses.contains_key(status), "{method} {status}");
        }
    }
    let refused = operations["get"]["responses"]["403"]["content"].as_object().unwrap();
    assert!(
        refused.keys().any(|k| k.starts_with("text/html")) && refused.keys().any(|k| k.starts_with("application/json")),
        "a page or the JSON error shape: {refused:?}"
    );
    let ok = &operations["get"]["responses"]["200"]["headers"];
    assert!(
        ok["X-AUTH-REQUEST-GROUPS"].is_object() || ok["X-Auth-Request-Groups"].is_object(),
        "{ok}"
    );
}
