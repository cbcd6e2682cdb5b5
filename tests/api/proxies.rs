//! The service behind real nginx and Caddy, configured from `examples/`: what a browser,
//! a script and an attacker see through the proxy, and what reaches the app.

use reqwest::StatusCode;

use crate::header_aliases::{
    forged_identity_headers_in_any_spelling_never_reach_the_app_of_a_signed_in_user,
    forged_identity_headers_in_any_spelling_never_reach_the_app_without_a_session,
    with_tokens_exposed_the_app_sees_the_gatekeepers_access_token_never_a_forged_one,
};
use crate::proxy_identity::{
    a_page_load_brings_the_app_an_assertion_both_readme_verifiers_accept_never_a_client_sent_one,
    an_api_call_with_a_bearer_token_passes_and_a_forged_one_gets_401,
    without_a_key_a_client_sent_assertion_never_reaches_the_app,
};
use crate::support::app::{browser, location};
use crate::support::proxy::Kind;
use crate::support::site::{echo, site, PAGE};

/// Each check runs once behind nginx and once behind Caddy.
macro_rules! behind_each_proxy {
    ($($check:ident),* $(,)?) => {
        mod nginx {
            $(#[tokio::test]
            async fn $check() {
                super::$check(crate::support::proxy::Kind::Nginx).await
            })*
        }
        mod caddy {
            $(#[tokio::test]
            async fn $check() {
                super::$check(crate::support::proxy::Kind::Caddy).await
            })*
        }
    };
}

behind_each_proxy!(
    a_page_load_without_a_session_signs_in_and_returns_to_the_page_with_the_identity_at_the_app,
    scripts_without_a_session_get_401_not_a_redirect,
    a_route_for_a_group_refuses_a_non_member_with_403_and_lets_a_member_in,
    a_post_with_a_session_reaches_the_app_with_its_body_and_the_identity,
    a_spoofed_forwarded_host_never_becomes_a_redirect_off_the_allowed_origins,
    identity_headers_sent_by_the_client_never_reach_the_app,
    forged_identity_headers_in_any_spelling_never_reach_the_app_of_a_signed_in_user,
    forged_identity_headers_in_any_spelling_never_reach_the_app_without_a_session,
    with_tokens_exposed_the_app_sees_the_gatekeepers_access_token_never_a_forged_one,
    a_page_load_brings_the_app_an_assertion_both_readme_verifiers_accept_never_a_client_sent_one,
    without_a_key_a_client_sent_assertion_never_reaches_the_app,
    an_api_call_with_a_bearer_token_passes_and_a_forged_one_gets_401,
);

async fn a_page_load_without_a_session_signs_in_and_returns_to_the_page_with_the_identity_at_the_app(kind: Kind) {
    let site = site(kind, vec![]).await;
    let browser = browser();
    let page = site
        .sign_in_at(&browser, "/reports/2026?q=a%20b&sort=asc", "admin-carol")
        .await;
    let seen = echo(page).await;
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["uri"], "/reports/2026?q=a%20b&sort=asc");
    let identity = &seen["headers"];
    assert_eq!(identity["x-auth-request-user"], "admin-carol");
    assert_eq!(identity["x-auth-request-email"], "admin-carol@example.test");
    assert_eq!(identity["x-auth-request-groups"], "users,admins");
    assert_eq!(identity["x-auth-request-sub"], "admin-carol");
    assert!(
        identity.get("authorization").is_none(),
        "tokens are not exposed by default"
    );
}

async fn scripts_without_a_session_get_401_not_a_redirect(kind: Kind) {
    let site = site(kind, vec![]).await;
    let client = browser();
    let requests = [
        client
            .get(format!("{}/api/items", site.url))
            .header("accept", "application/json")
            .header("x-requested-with", "XMLHttpRequest"),
        client
            .get(format!("{}/api/items", site.url))
            .header("accept", "*/*")
            .header("sec-fetch-mode", "cors"),
        client.get(format!("{}/api/items", site.url)),
        client
            .post(format!("{}/api/items", site.url))
            .header("accept", PAGE)
            .body("x=1"),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get("location").is_none());
    }
}

async fn a_route_for_a_group_refuses_a_non_member_with_403_and_lets_a_member_in(kind: Kind) {
    let site = site(kind, vec![]).await;
    let alice = browser();
    site.sign_in_at(&alice, "/", "alice").await;
    let refused = site.load(&alice, "/admin/users").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let api = alice
        .get(format!("{}/admin/users", site.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);

    let carol = browser();
    site.sign_in_at(&carol, "/", "admin-carol").await;
    let seen = echo(site.load(&carol, "/admin/users").await).await;
    assert_eq!(seen["uri"], "/admin/users");
    assert_eq!(seen["headers"]["x-auth-request-user"], "admin-carol");
}

async fn a_post_with_a_session_reaches_the_app_with_its_body_and_the_identity(kind: Kind) {
    let site = site(kind, vec![]).await;
    let browser = browser();
    site.sign_in_at(&browser, "/", "alice").await;
    // Larger than any body the service itself reads: the gatekeeper must never see it.
    let body = format!("{{\"items\": [{}]}}", "1,".repeat(60_000) + "1");
    let response = browser
        .post(format!("{}/api/items?draft=1", site.url))
        .header("content-type", "application/json")
        .header("origin", &site.url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let seen = echo(response).await;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/api/items?draft=1");
    assert_eq!(seen["body"], body.as_str(), "the body reaches the app whole");
    assert_eq!(seen["headers"]["x-auth-request-user"], "alice");
}

async fn a_spoofed_forwarded_host_never_becomes_a_redirect_off_the_allowed_origins(kind: Kind) {
    let site = site(kind, vec![]).await;
    let client = browser();
    let host = site.url.trim_start_matches("http://");
    let spoofs: [&[(&str, &str)]; 5] = [
        &[("x-forwarded-host", "evil.example")],
        &[("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "https")],
        &[
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-uri", "//evil.example/"),
        ],
        &[("x-original-url", "http://evil.example/")],
        &[("host", "evil.example")],
    ];
    for spoof in spoofs {
        let mut request = client.get(format!("{}/private", site.url)).header("accept", PAGE);
        for (name, value) in spoof {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        match response.status() {
            StatusCode::FOUND => {
                let to = location(&response);
                assert!(
                    to.starts_with(&format!("http://{host}/auth/login?return_to=%2F")),
                    "{spoof:?} → {to}"
                );
            }
            status => assert_eq!(status, StatusCode::UNAUTHORIZED, "{spoof:?}"),
        }
    }
}

async fn identity_headers_sent_by_the_client_never_reach_the_app(kind: Kind) {
    // A user without email, groups or username: the service's headers are empty, which
    // is when a proxy might keep the client's own copies.
    let nothing = |claim: &str| claim.to_owned();
    let env = vec![
        ("OIDC_USERNAME_CLAIM", nothing("nickname")),
        ("OIDC_EMAIL_CLAIM", nothing("phone_number")),
        ("OIDC_GROUPS_CLAIM", nothing("roles")),
    ];
    let site = site(kind, env).await;
    let browser = browser();
    let spoofed = |request: reqwest::RequestBuilder| {
        request
            .header("x-auth-request-user", "root")
            .header("x-auth-request-email", "root@example.test")
            .header("x-auth-request-groups", "admins")
            .header("x-auth-request-sub", "root")
            .header("x-auth-request-access-token", "forged")
    };
    let anonymous = spoofed(browser.get(format!("{}/admin/x", site.url)))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    site.sign_in_at(&browser, "/", "nobody").await;
    let seen = echo(spoofed(browser.get(format!("{}/page", site.url))).send().await.unwrap()).await;
    let identity = &seen["headers"];
    assert_eq!(identity["x-auth-request-sub"], "nobody");
    for (name, forged) in [
        ("x-auth-request-user", "root"),
        ("x-auth-request-email", "root@example.test"),
        ("x-auth-request-groups", "admins"),
        ("x-auth-request-access-token", "forged"),
    ] {
        assert_ne!(
            identity.get(name).and_then(|v| v.as_str()),
            Some(forged),
            "{name}: {identity}"
        );
    }
}

/// README's nginx step-up lines are the example's (which the browser tests run in nginx):
/// every line of the snippet, but its comments, is a line of the template.
#[test]
fn every_line_of_the_readmes_nginx_step_up_snippet_is_in_the_example_template() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let template = std::fs::read_to_string(root.join("examples/nginx/app.conf.template")).unwrap();
    let section = &readme[readme.find("### Step-up per route").expect("the README section")..];
    let snippet = section
        .split("```nginx\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("an nginx snippet in the step-up section");
    let lines: Vec<&str> = template.lines().map(str::trim).collect();
    let mut checked = 0;
    for line in snippet
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        assert!(
            lines.contains(&line),
            "README's `{line}` is not in examples/nginx/app.conf.template"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} lines compared");
}
