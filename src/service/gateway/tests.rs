use url::{Origin, Url};

use super::*;

fn identity(groups: &[&str], email: Option<&str>, verified: Option<bool>) -> Identity {
    Identity {
        sub: "u1".into(),
        username: Some("jane".into()),
        email: email.map(str::to_owned),
        email_verified: verified,
        name: None,
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn jane() -> Identity {
    identity(&["users", "dev,admins"], Some("Jane@Example.ORG"), Some(true))
}

#[test]
fn no_query_means_no_rules_and_401_answers() {
    for query in ["", "&", "&&"] {
        let rules = RouteRules::parse(query).unwrap();
        assert_eq!(rules, RouteRules::default());
        assert!(!rules.redirect);
        assert_eq!(rules.check(&identity(&[], None, None)), Ok(()));
    }
    assert!(RouteRules::parse("mode=redirect").unwrap().redirect);
}

#[test]
fn unknown_parameters_bad_modes_and_empty_lists_are_errors_naming_the_parameter() {
    let cases: &[(&str, &str)] = &[
        ("allowed_group=admins", "allowed_group"),
        ("mode=redirect&rd=/x", "rd"),
        ("Mode=redirect", "Mode"),
        ("mode=login", "mode"),
        ("mode=", "mode"),
        ("mode", "mode"),
        ("mode=Redirect", "mode"),
        ("allowed_groups=", "allowed_groups"),
        ("allowed_groups=,", "allowed_groups"),
        ("allowed_groups=%20,+", "allowed_groups"),
        ("allowed_groups", "allowed_groups"),
        ("allowed_emails=", "allowed_emails"),
        ("allowed_email_domains=,,", "allowed_email_domains"),
        ("allowed_groups=a&allowed_groups=b", "allowed_groups"),
        ("mode=redirect&mode=redirect", "mode"),
        ("allowed_emails=jane", "allowed_emails"),
        ("allowed_emails=@example.org", "allowed_emails"),
        ("allowed_emails=jane@", "allowed_emails"),
        ("allowed_emails=a@b@c", "allowed_emails"),
        ("allowed_email_domains=@example.org", "allowed_email_domains"),
    ];
    for (query, parameter) in cases {
        let error = RouteRules::parse(query).expect_err(query);
        assert!(
            error.to_string().contains(&format!("`{parameter}`")),
            "{query}: {error}"
        );
    }
}

#[test]
fn an_unknown_parameter_is_named_decoded_and_shortened() {
    let long = format!("x{}", "y".repeat(500));
    assert_eq!(
        RouteRules::parse(&format!("{long}=1")),
        Err(RuleError::Unknown(long[..64].to_owned()))
    );
    assert_eq!(
        RouteRules::parse("allowed%5Fgroup=a"),
        Err(RuleError::Unknown("allowed_group".into()))
    );
}

#[test]
fn percent_encoded_keys_and_values_are_decoded() {
    let rules = RouteRules::parse("allowed%5Fgroups=dev%2Cadmins&mode=re%64irect").unwrap();
    assert!(rules.redirect);
    assert_eq!(rules.check(&jane()), Ok(()));
    // `,` separates items; `%2C` is a comma inside a name.
    let split = RouteRules::parse("allowed_groups=dev,admins").unwrap();
    assert_eq!(split.check(&jane()), Err(Denied::Group));
    let spaced = RouteRules::parse("allowed_groups=Domain+Admins").unwrap();
    assert_eq!(spaced.check(&identity(&["Domain Admins"], None, None)), Ok(()));
}

#[test]
fn groups_must_include_one_of_the_list_compared_exactly() {
    let rules = RouteRules::parse("allowed_groups=ops,users").unwrap();
    assert_eq!(rules.check(&jane()), Ok(()));
    let rules = RouteRules::parse("allowed_groups=ops, admins ,").unwrap();
    assert_eq!(rules.check(&identity(&["admins"], None, None)), Ok(()));
    assert_eq!(rules.check(&identity(&["Admins"], None, None)), Err(Denied::Group));
    assert_eq!(rules.check(&identity(&["admin"], None, None)), Err(Denied::Group));
    assert_eq!(rules.check(&identity(&[], None, None)), Err(Denied::Group));
}

#[test]
fn emails_must_match_ignoring_case_and_be_verified() {
    let rules = RouteRules::parse("allowed_emails=bob@x.org,jane%40example.org").unwrap();
    assert_eq!(rules.check(&jane()), Ok(()));
    let unverified = identity(&[], Some("jane@example.org"), Some(false));
    assert_eq!(rules.check(&unverified), Err(Denied::EmailNotVerified));
    let unknown = identity(&[], Some("jane@example.org"), None);
    assert_eq!(rules.check(&unknown), Err(Denied::EmailNotVerified));
    assert_eq!(
        rules.check(&identity(&[], None, Some(true))),
        Err(Denied::EmailNotVerified)
    );
    let other = identity(&[], Some("eve@example.org"), Some(true));
    assert_eq!(rules.check(&other), Err(Denied::Email));
    let unicode = RouteRules::parse("allowed_emails=%C3%A4gir@X.org").unwrap();
    assert_eq!(unicode.check(&identity(&[], Some("ägir@x.org"), Some(true))), Ok(()));
}

#[test]
fn only_ascii_letters_fold_so_look_alikes_do_not_match() {
    // U+212A KELVIN SIGN lower-cases to `k` under Unicode rules.
    let kelvin = "\u{212A}";
    let emails = RouteRules::parse("allowed_emails=kim@example.org").unwrap();
    let look_alike = identity(&[], Some(&format!("{kelvin}im@example.org")), Some(true));
    assert_eq!(emails.check(&look_alike), Err(Denied::Email));
    let domains = RouteRules::parse("allowed_email_domains=kernel.org").unwrap();
    let look_alike = identity(&[], Some(&format!("jane@{kelvin}ernel.org")), Some(true));
    assert_eq!(domains.check(&look_alike), Err(Denied::Domain));
    let upper = identity(&[], Some("KIM@Example.ORG"), Some(true));
    assert_eq!(emails.check(&upper), Ok(()), "ASCII letters still fold");
    let unicode = RouteRules::parse("allowed_emails=%C3%84GIR@x.org").unwrap();
    let lower = identity(&[], Some("ägir@x.org"), Some(true));
    assert_eq!(
        unicode.check(&lower),
        Err(Denied::Email),
        "non-ASCII letters do not fold"
    );
}

#[test]
fn email_domains_match_exactly_ignoring_case_for_verified_emails() {
    let rules = RouteRules::parse("allowed_email_domains=example.org,x.org").unwrap();
    assert_eq!(rules.check(&jane()), Ok(()));
    for (email, denied) in [
        ("jane@sub.example.org", Denied::Domain),
        ("jane@example.org.evil", Denied::Domain),
        ("jane@evil-example.org", Denied::Domain),
        ("example.org", Denied::Domain),
        ("jane@", Denied::Domain),
    ] {
        assert_eq!(
            rules.check(&identity(&[], Some(email), Some(true))),
            Err(denied),
            "{email}"
        );
    }
    let unverified = identity(&[], Some("jane@example.org"), Some(false));
    assert_eq!(rules.check(&unverified), Err(Denied::EmailNotVerified));
}

#[test]
fn every_rule_given_must_hold() {
    let rules = RouteRules::parse("allowed_groups=users&allowed_email_domains=example.org").unwrap();
    assert_eq!(rules.check(&jane()), Ok(()));
    let outsider = identity(&["users"], Some("jane@elsewhere.org"), Some(true));
    assert_eq!(rules.check(&outsider), Err(Denied::Domain));
    let not_member = identity(&["guests"], Some("jane@example.org"), Some(true));
    assert_eq!(rules.check(&not_member), Err(Denied::Group));
}

#[test]
fn plain_rules_are_parsed_without_copying() {
    let query = String::from("mode=redirect&allowed_groups=a,b");
    let rules = RouteRules::parse(&query).unwrap();
    let Some(List(raw)) = rules.groups else {
        panic!("groups parsed");
    };
    assert!(std::ptr::eq(raw, &query[query.len() - 3..]), "borrowed from the query");
    assert!(rules
        .groups
        .unwrap()
        .items()
        .all(|item| matches!(item, Cow::Borrowed(_))));
}

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
