use poem::http::Method;
use poem::Request;

use super::*;

const PAGE: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = Request::builder().method(method).uri(uri.parse().unwrap());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.finish()
}

fn url<'a>(scheme: &'a str, authority: &'a str, path_and_query: &'a str) -> Option<OriginalUrl<'a>> {
    Some(OriginalUrl {
        scheme,
        authority,
        path_and_query,
    })
}

#[test]
fn traefik_and_caddy_headers_give_the_original_url() {
    let req = request(
        Method::GET,
        "/forward-auth",
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/a/b?c=d"),
            ("x-forwarded-method", "GET"),
            ("x-original-url", "https://other.example/ignored"),
            ("accept", PAGE),
        ],
    );
    let original = Original::read(&req);
    assert_eq!(original.url, url("https", "app.example.com", "/a/b?c=d"));
    assert!(original.page_load);
}

#[test]
fn the_first_of_several_forwarded_values_is_the_clients() {
    let req = request(
        Method::GET,
        "/forward-auth",
        &[
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "app.example.com, internal:8080"),
            ("x-forwarded-uri", "/"),
        ],
    );
    assert_eq!(Original::read(&req).url, url("https", "app.example.com", "/"));
}

#[test]
fn without_forwarded_uri_the_original_url_header_is_read() {
    let req = request(
        Method::GET,
        "/forward-auth",
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "ignored.example"),
            ("x-original-url", "https://app.example.com:8443/x?y=1&z"),
        ],
    );
    assert_eq!(
        Original::read(&req).url,
        url("https", "app.example.com:8443", "/x?y=1&z")
    );
    for (raw, expected) in [
        ("http://app.example.com", url("http", "app.example.com", "/")),
        ("http://app.example.com?x", url("http", "app.example.com", "?x")),
        (
            "http://app.example.com/\\evil",
            url("http", "app.example.com", "/\\evil"),
        ),
        (
            "http://app.example.com\\evil/",
            url("http", "app.example.com", "\\evil/"),
        ),
        ("http://app.example.com//evil", url("http", "app.example.com", "//evil")),
        ("/relative/only", None),
    ] {
        let req = request(Method::GET, "/forward-auth", &[("x-original-url", raw)]);
        assert_eq!(Original::read(&req).url, expected, "{raw}");
    }
}

#[test]
fn without_any_of_them_there_is_no_original_url() {
    for headers in [
        &[][..],
        &[("x-forwarded-uri", "/x"), ("x-forwarded-host", "app.example.com")][..],
        &[("x-forwarded-uri", "/x"), ("x-forwarded-proto", "https")][..],
        &[("x-forwarded-host", "app.example.com"), ("x-forwarded-proto", "https")][..],
    ] {
        let req = request(Method::GET, "/forward-auth", headers);
        assert_eq!(Original::read(&req).url, None, "{headers:?}");
    }
}

#[test]
fn the_original_method_comes_from_forwarded_then_original_then_the_request() {
    let html = ("accept", "text/html");
    let cases = [
        (
            Method::POST,
            vec![("x-forwarded-method", "GET"), ("x-original-method", "POST")],
            true,
        ),
        (
            Method::GET,
            vec![("x-forwarded-method", "POST"), ("x-original-method", "GET")],
            false,
        ),
        (Method::POST, vec![("x-original-method", "HEAD")], true),
        (Method::GET, vec![("x-original-method", "DELETE")], false),
        (Method::GET, vec![], true),
        (Method::HEAD, vec![], true),
        (Method::POST, vec![], false),
        (Method::PUT, vec![], false),
    ];
    for (method, mut headers, page_load) in cases {
        headers.push(html);
        let req = request(method.clone(), "/forward-auth", &headers);
        assert_eq!(Original::read(&req).page_load, page_load, "{method} {headers:?}");
    }
}

#[test]
fn a_page_load_names_html_navigates_and_is_not_an_xhr() {
    let yes: &[&[(&str, &str)]] = &[
        &[("accept", PAGE)],
        &[("accept", "TEXT/HTML")],
        &[("accept", "application/json, text/html;q=0.5")],
        &[("accept", PAGE), ("sec-fetch-mode", "navigate")],
        &[("accept", PAGE), ("x-requested-with", "fetch")],
    ];
    let no: &[&[(&str, &str)]] = &[
        &[],
        &[("accept", "*/*")],
        &[("accept", "text/*")],
        &[("accept", "application/json")],
        &[("accept", "text/html;q=0")],
        &[("accept", "text/htmlx")],
        &[("accept", PAGE), ("sec-fetch-mode", "cors")],
        &[("accept", PAGE), ("sec-fetch-mode", "no-cors")],
        &[("accept", PAGE), ("x-requested-with", "XMLHttpRequest")],
        &[("accept", PAGE), ("x-requested-with", "xmlhttprequest")],
    ];
    for (headers, expected) in yes.iter().map(|h| (h, true)).chain(no.iter().map(|h| (h, false))) {
        let req = request(Method::GET, "/forward-auth", headers);
        assert_eq!(Original::read(&req).page_load, expected, "{headers:?}");
    }
}

#[test]
fn rules_are_read_from_the_bare_url_only() {
    let bare = request(Method::GET, "/forward-auth?mode=redirect&allowed_groups=a", &[]);
    let rules = rules(&bare, &throttle()).unwrap();
    assert!(rules.redirect);
    let bad = request(Method::GET, "/forward-auth?allowed_groups=", &[]);
    assert_eq!(rules_of(&bad), Err(RuleError::Empty("allowed_groups")));
    // Envoy: path and query are the original request's.
    let envoy = request(Method::POST, "/forward-auth/api/items?page=2&mode=x", &[]);
    assert_eq!(rules_of(&envoy), Ok(RouteRules::default()));
    let root = request(Method::GET, "/forward-auth/?unknown=1", &[]);
    assert_eq!(rules_of(&root), Ok(RouteRules::default()));
}

fn throttle() -> Throttle {
    Throttle::new(IGNORED_RULES_WARNING_EVERY)
}

fn rules_of(req: &Request) -> Result<RouteRules<'_>, RuleError> {
    rules(req, &throttle())
}

#[test]
fn rule_parameters_below_forward_auth_are_warned_about_once_a_minute() {
    // A throttle of its own: what other tests log cannot use up this one's warning.
    let throttle = throttle();
    let logged =
        |uri: &str| crate::util::test_log::logged(|| drop(rules(&request(Method::GET, uri, &[]), &throttle).unwrap()));
    assert!(!logged("/forward-auth?allowed_groups=admins").contains("WARN"));
    assert!(
        !logged("/forward-auth/app/page?q=1").contains("WARN"),
        "an original query of its own"
    );
    let first = logged("/forward-auth/?allowed_groups=admins&mode=redirect");
    assert!(
        first.contains("WARN") && first.contains("allowed_groups,mode"),
        "{first}"
    );
    assert!(
        !logged("/forward-auth/?allowed_groups=admins").contains("WARN"),
        "rate-limited"
    );
}
