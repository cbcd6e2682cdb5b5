use url::{Origin, Url};

use super::*;

fn own() -> Origin {
    Url::parse("https://app.example.com").unwrap().origin()
}

fn allowed() -> Vec<Origin> {
    vec![Url::parse("https://admin.example.com").unwrap().origin()]
}

fn sign_in(scheme: &str, authority: &str, path_and_query: &str) -> Option<String> {
    let original = OriginalUrl {
        scheme,
        authority,
        path_and_query,
    };
    original.sign_in_url(&own(), &allowed()).map(String::from)
}

#[test]
fn a_page_on_the_own_origin_returns_to_its_path_and_query() {
    assert_eq!(
        sign_in("https", "app.example.com", "/reports?year=2026&q=a b").as_deref(),
        None,
        "a raw space is refused like GET /auth/login refuses it"
    );
    assert_eq!(
        sign_in("https", "app.example.com", "/reports?year=2026&q=%C3%A4").as_deref(),
        Some("https://app.example.com/auth/login?return_to=%2Freports%3Fyear%3D2026%26q%3D%25C3%25A4")
    );
    assert_eq!(
        sign_in("HTTPS", "APP.example.com:443", "/").as_deref(),
        Some("https://app.example.com/auth/login?return_to=%2F")
    );
}

#[test]
fn a_page_on_an_allowed_origin_returns_to_its_absolute_url() {
    assert_eq!(
        sign_in("https", "admin.example.com", "/x?y=1").as_deref(),
        Some("https://app.example.com/auth/login?return_to=https%3A%2F%2Fadmin.example.com%2Fx%3Fy%3D1")
    );
}

#[test]
fn other_origins_and_paths_read_as_other_hosts_never_redirect() {
    for (scheme, authority, path) in [
        ("https", "evil.example", "/"),
        ("http", "app.example.com", "/"),
        ("https", "app.example.com:8443", "/"),
        ("https", "app.example.com.evil.example", "/"),
        ("https", "evil.example@app.example.com", "/"),
        ("https", "app.example.com@evil.example", "/"),
        ("https", "app.example.com/", "/"),
        ("https", "app.example.com\\evil.example", "/"),
        ("https", "", "/"),
        ("javascript", "app.example.com", "/"),
        ("https", "app.example.com", "//evil.example/"),
        ("https", "app.example.com", "/\\evil.example/"),
        ("https", "admin.example.com", "//evil.example/"),
        ("https", "admin.example.com", "/\\evil.example/"),
        ("https", "app.example.com", "@evil.example/"),
        ("https", "app.example.com", "evil.example"),
        ("https", "app.example.com", ""),
        ("https", "app.example.com", "/\t/evil.example"),
        ("https", "app.example.com", &format!("/{}", "a".repeat(3000))),
    ] {
        assert_eq!(sign_in(scheme, authority, path), None, "{scheme}://{authority}{path}");
    }
}
