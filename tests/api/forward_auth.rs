//! `/forward-auth` (SPEC §3.1) against the real provider and Redis, called as the proxies
//! call it: the original request described in `X-Forwarded-*` or `X-Original-*` headers.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{location, spawn_app, spawn_app_with, Options, TestApp};

const PAGE: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

impl TestApp {
    /// A forward-auth request as Traefik or Caddy sends it for a browser loading
    /// `{public}{uri}`: `path` is `/forward-auth` and its query, or a path below it.
    fn gate(&self, method: Method, path: &str, session: Option<&str>) -> RequestBuilder {
        let host = self.public.trim_start_matches("http://");
        let request = proxy()
            .request(method, format!("{}{path}", self.internal))
            .header("x-forwarded-proto", "http")
            .header("x-forwarded-host", host);
        match session {
            Some(value) => request.header("cookie", format!("theme=dark; oidc_session={value}")),
            None => request,
        }
    }
}

/// A reverse proxy: it hands redirects on, never follows them.
fn proxy() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.unwrap()
}

async fn error_of(response: Response) -> Value {
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json; charset=utf-8"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].is_string() && body["error_description"].is_string(),
        "{body}"
    );
    body
}

fn header(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

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
    let user = app.sign_in_with(&crate::helpers::browser(), "alice").await;
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
    let mixed = app.sign_in_with(&crate::helpers::browser(), "mixed").await;
    let unverified = app.sign_in_with(&crate::helpers::browser(), "unverified-uma").await;
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

#[tokio::test]
async fn identity_headers_encode_group_names_and_carry_no_control_characters() {
    let app = spawn_app_with(Options {
        provider: json!({"accounts": {"odd": {
            "preferred_username": "o\u{7}dd\r\nX-Injected: 1",
            "email": "odd@example.test\u{85}",
            "groups": ["dev,admins", "100%", "ops\nteam", "plain"],
        }}}),
        ..Options::default()
    })
    .await;
    let session = app.sign_in("odd").await;
    let ok = send(app.gate(Method::GET, "/forward-auth", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(header(&ok, "x-auth-request-user"), "oddX-Injected: 1");
    assert_eq!(header(&ok, "x-auth-request-email"), "odd@example.test");
    assert_eq!(
        header(&ok, "x-auth-request-groups"),
        "dev%2Cadmins,100%25,opsteam,plain"
    );
    assert!(ok.headers().get("x-injected").is_none());
    let route = "/forward-auth?allowed_groups=dev%2Cadmins";
    assert_eq!(
        send(app.gate(Method::GET, route, Some(&session))).await.status(),
        StatusCode::OK
    );
    let split = "/forward-auth?allowed_groups=admins";
    assert_eq!(
        send(app.gate(Method::GET, split, Some(&session))).await.status(),
        StatusCode::FORBIDDEN,
        "`dev,admins` is one group, not `admins`"
    );
}

#[tokio::test]
async fn the_access_token_is_passed_on_only_when_exposing_tokens_is_enabled() {
    let hidden = spawn_app().await;
    let session = hidden.sign_in("alice").await;
    let ok = send(hidden.gate(Method::GET, "/forward-auth", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().get("authorization").is_none());
    assert!(ok.headers().get("x-auth-request-access-token").is_none());

    let app = spawn_app_with(Options {
        env: vec![("OIDC_INTROSPECTION_EXPOSE_TOKENS", "true".into())],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("alice").await;
    let ok = send(app.gate(Method::GET, "/forward-auth", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let token = header(&ok, "x-auth-request-access-token");
    assert_eq!(header(&ok, "authorization"), format!("Bearer {token}"));
    assert_eq!(app.introspect(&session).await["access_token"], token.as_str());
    let userinfo = app
        .api
        .get(app.provider.url("/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK, "the provider accepts the token");
}

#[tokio::test]
async fn forward_auth_reads_the_session_in_one_redis_command_and_slides_its_idle_timeout() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_SESSION_IDLE_TIMEOUT", "1h".into())],
        ..Options::default()
    })
    .await;
    let session = app.sign_in("admin-carol").await;
    let key = crate::helpers::session_redis_key(&session);
    let mut redis = app.redis.connection();
    redis::cmd("EXPIRE").arg(&key).arg(60).query::<()>(&mut redis).unwrap();
    redis::cmd("CONFIG").arg("RESETSTAT").query::<()>(&mut redis).unwrap();

    let route = "/forward-auth?mode=redirect&allowed_groups=admins&allowed_email_domains=example.test";
    let ok = send(app.gate(Method::GET, route, Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);

    let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut redis).unwrap();
    let commands: Vec<&str> = stats
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter(|l| !l.starts_with("info") && !l.starts_with("config"))
        .collect();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(commands[0].starts_with("getex:calls=1,"), "{commands:?}");
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut redis).unwrap();
    assert!(ttl > 3000, "the idle timeout was slid back to an hour: {ttl}");
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
