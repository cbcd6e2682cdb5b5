//! Without a session: 302 to sign in for browser page loads on `mode=redirect` routes,
//! within the open-redirect rules of `/auth/login`; 401 for everything else.

use reqwest::{Method, StatusCode};

use super::{error_of, proxy, send, PAGE};
use crate::support::app::{location, spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn a_page_load_without_a_session_is_sent_to_sign_in_and_the_login_accepts_it() {
    let app = spawn_app().await;
    let response = send(
        app.gate(Method::GET, "/forward-auth?mode=redirect&allowed_groups=admins", None)
            .header("accept", PAGE)
            .header("sec-fetch-mode", "navigate")
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-uri", "/reports/2026?q=a%20b&x=1"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let to = location(&response);
    assert_eq!(
        to,
        format!(
            "{}/auth/login?return_to=%2Freports%2F2026%3Fq%3Da%2520b%26x%3D1",
            app.public
        )
    );
    let login = app.browser.get(&to).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::FOUND);
    assert!(location(&login).starts_with(&app.provider.issuer), "on to the provider");
}

#[tokio::test]
async fn scripts_api_clients_and_routes_without_redirect_mode_get_401() {
    let app = spawn_app().await;
    let redirect = "/forward-auth?mode=redirect";
    type Headers = Vec<(&'static str, &'static str)>;
    let cases: Vec<(&str, Method, Headers)> = vec![
        ("/forward-auth", Method::GET, vec![("accept", PAGE)]),
        (redirect, Method::GET, vec![("accept", "application/json")]),
        (redirect, Method::GET, vec![("accept", "*/*")]),
        (redirect, Method::GET, vec![]),
        (
            redirect,
            Method::GET,
            vec![("accept", PAGE), ("x-requested-with", "XMLHttpRequest")],
        ),
        (
            redirect,
            Method::GET,
            vec![("accept", PAGE), ("sec-fetch-mode", "cors")],
        ),
        (
            redirect,
            Method::GET,
            vec![("accept", PAGE), ("x-forwarded-method", "POST")],
        ),
        (redirect, Method::POST, vec![("accept", PAGE)]),
    ];
    for (route, method, headers) in cases {
        let mut request = app.gate(method.clone(), route, None).header("x-forwarded-uri", "/page");
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let response = send(request).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{route} {method} {headers:?}"
        );
        assert!(response.headers().get("location").is_none());
        assert_eq!(error_of(response).await["error"], "unauthorized");
    }
}

#[tokio::test]
async fn an_original_url_off_the_allowed_origins_gets_401_never_a_redirect() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_ALLOWED_RETURN_ORIGINS", "https://admin.example.test".into())],
        ..Options::default()
    })
    .await;
    let own_host = app.public.trim_start_matches("http://").to_owned();
    let refused: Vec<(&str, String, &str)> = vec![
        ("http", "evil.example".into(), "/"),
        ("https", own_host.clone(), "/"),
        ("http", format!("{own_host}.evil.example"), "/"),
        ("http", format!("evil.example@{own_host}"), "/"),
        ("http", own_host.clone(), "//evil.example/x"),
        ("http", own_host.clone(), "/\\evil.example/x"),
        ("https", "admin.example.test".into(), "//evil.example/x"),
        ("javascript", own_host.clone(), "/"),
    ];
    for (proto, host, uri) in refused {
        let response = send(
            proxy()
                .get(format!("{}/forward-auth?mode=redirect", app.internal))
                .header("accept", PAGE)
                .header("x-forwarded-proto", proto)
                .header("x-forwarded-host", &host)
                .header("x-forwarded-uri", uri),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{proto}://{host}{uri}");
    }
    for original in [
        "http://evil.example/",
        "http://{own}//evil.example",
        "http://{own}/\\evil.example",
    ] {
        let original = original.replace("{own}", &own_host);
        let response = send(
            proxy()
                .get(format!("{}/forward-auth?mode=redirect", app.internal))
                .header("accept", PAGE)
                .header("x-original-url", &original),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{original}");
    }

    let allowed = send(
        proxy()
            .get(format!("{}/forward-auth?mode=redirect", app.internal))
            .header("accept", PAGE)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "admin.example.test")
            .header("x-forwarded-uri", "/users?id=7"),
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::FOUND);
    assert_eq!(
        location(&allowed),
        format!(
            "{}/auth/login?return_to=https%3A%2F%2Fadmin.example.test%2Fusers%3Fid%3D7",
            app.public
        )
    );
}

#[tokio::test]
async fn ingress_nginx_original_url_and_method_headers_are_read() {
    let app = spawn_app().await;
    let original = format!("{}/docs/a?b=c", app.public);
    let request = |method: &str| {
        proxy()
            .get(format!("{}/forward-auth?mode=redirect", app.internal))
            .header("accept", PAGE)
            .header("x-original-url", &original)
            .header("x-original-method", method)
    };
    let page = send(request("GET")).await;
    assert_eq!(page.status(), StatusCode::FOUND);
    assert_eq!(
        location(&page),
        format!("{}/auth/login?return_to=%2Fdocs%2Fa%3Fb%3Dc", app.public)
    );
    assert_eq!(send(request("POST")).await.status(), StatusCode::UNAUTHORIZED);
}
