//! Logout CSRF: a `GET /auth/logout` that another site started (a link, an image, an
//! auto-submitted form) ends nothing; the user confirms with a POST from this site.

use reqwest::StatusCode;
use scraper::{Html, Selector};
use url::Url;

use crate::support::app::{browser, location, set_cookies, spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn a_cross_site_get_of_logout_shows_a_confirmation_page_and_ends_nothing() {
    let app = spawn_app().await;
    let session = app.sign_in("fay").await;
    let page_url = format!("{}/auth/logout", app.public);
    let response = app
        .browser
        .get(&page_url)
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(response.headers()).is_empty(), "no cookie is cleared");
    let headers = response.headers();
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    let page = response.text().await.unwrap();
    assert!(app.is_active(&session).await, "the session lives on");

    // The page's one button posts back to this service's logout, from this site.
    let html = Html::parse_document(&page);
    let forms: Vec<_> = html.select(&Selector::parse("form").unwrap()).collect();
    assert_eq!(forms.len(), 1, "{page}");
    assert_eq!(forms[0].value().attr("method"), Some("post"));
    let action = Url::parse(&page_url)
        .unwrap()
        .join(forms[0].value().attr("action").unwrap())
        .unwrap();
    assert_eq!(action.as_str(), page_url);
    assert!(html.select(&Selector::parse("script").unwrap()).next().is_none());

    let confirmed = app
        .browser
        .post(action)
        .header("origin", &app.public)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::FOUND);
    assert!(location(&confirmed).starts_with(&app.provider.issuer));
    assert!(set_cookies(confirmed.headers()).iter().any(|c| c.contains("Max-Age=0")));
    assert!(!app.is_active(&session).await);
}

#[tokio::test]
async fn same_origin_typed_in_and_header_less_gets_of_logout_still_sign_out() {
    let app = spawn_app().await;
    for sec_fetch_site in [Some("same-origin"), Some("none"), None] {
        let browser = browser();
        let session = app.sign_in_with(&browser, "gus").await;
        let request = browser.get(format!("{}/auth/logout", app.public));
        let request = match sec_fetch_site {
            Some(value) => request.header("sec-fetch-site", value),
            None => request,
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{sec_fetch_site:?}");
        assert!(location(&response).starts_with(&app.provider.issuer));
        assert!(!app.is_active(&session).await, "{sec_fetch_site:?}");
    }
}

#[tokio::test]
async fn a_same_site_get_of_logout_signs_out_only_from_the_own_or_an_allowed_origin() {
    let app = spawn_app_with(Options {
        env: vec![("OIDC_ALLOWED_RETURN_ORIGINS", "https://admin.example.com".into())],
        ..Options::default()
    })
    .await;
    // A sibling subdomain's page (no Origin on a navigation, or its own): nothing ends.
    for origin in [None, Some("https://blog.example.com")] {
        let browser = browser();
        let session = app.sign_in_with(&browser, "hal").await;
        let request = browser
            .get(format!("{}/auth/logout", app.public))
            .header("sec-fetch-site", "same-site");
        let request = match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{origin:?}");
        assert!(response.text().await.unwrap().contains("Sign out?"));
        assert!(app.is_active(&session).await, "{origin:?}");
    }
    for origin in [app.public.as_str(), "https://admin.example.com"] {
        let browser = browser();
        let session = app.sign_in_with(&browser, "hal").await;
        let response = browser
            .get(format!("{}/auth/logout", app.public))
            .header("sec-fetch-site", "same-site")
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{origin}");
        assert!(!app.is_active(&session).await, "{origin}");
    }
}
