use std::borrow::Cow;

use super::*;
use Scope::Route;

const NONE: Authentication = Authentication {
    auth_time: None,
    acr: None,
    amr: Vec::new(),
};

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
        assert_eq!(rules.check(&identity(&[], None, None), &NONE, 0), Ok(()));
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
    assert_eq!(rules.check(&jane(), &NONE, 0), Ok(()));
    // `,` separates items; `%2C` is a comma inside a name.
    let split = RouteRules::parse("allowed_groups=dev,admins").unwrap();
    assert_eq!(split.check(&jane(), &NONE, 0), Err(Refusal::GroupNotAllowed(Route)));
    let spaced = RouteRules::parse("allowed_groups=Domain+Admins").unwrap();
    assert_eq!(
        spaced.check(&identity(&["Domain Admins"], None, None), &NONE, 0),
        Ok(())
    );
}

#[test]
fn groups_must_include_one_of_the_list_compared_exactly() {
    let rules = RouteRules::parse("allowed_groups=ops,users").unwrap();
    assert_eq!(rules.check(&jane(), &NONE, 0), Ok(()));
    let rules = RouteRules::parse("allowed_groups=ops, admins ,").unwrap();
    assert_eq!(rules.check(&identity(&["admins"], None, None), &NONE, 0), Ok(()));
    assert_eq!(
        rules.check(&identity(&["Admins"], None, None), &NONE, 0),
        Err(Refusal::GroupNotAllowed(Route))
    );
    assert_eq!(
        rules.check(&identity(&["admin"], None, None), &NONE, 0),
        Err(Refusal::GroupNotAllowed(Route))
    );
    assert_eq!(
        rules.check(&identity(&[], None, None), &NONE, 0),
        Err(Refusal::GroupNotAllowed(Route))
    );
}

#[test]
fn emails_must_match_ignoring_case_and_be_verified() {
    let rules = RouteRules::parse("allowed_emails=bob@x.org,jane%40example.org").unwrap();
    assert_eq!(rules.check(&jane(), &NONE, 0), Ok(()));
    let unverified = identity(&[], Some("jane@example.org"), Some(false));
    assert_eq!(rules.check(&unverified, &NONE, 0), Err(Refusal::EmailNotVerified));
    let unknown = identity(&[], Some("jane@example.org"), None);
    assert_eq!(rules.check(&unknown, &NONE, 0), Err(Refusal::EmailNotVerified));
    assert_eq!(
        rules.check(&identity(&[], None, Some(true)), &NONE, 0),
        Err(Refusal::EmailNotVerified)
    );
    let other = identity(&[], Some("eve@example.org"), Some(true));
    assert_eq!(rules.check(&other, &NONE, 0), Err(Refusal::EmailNotAllowed(Route)));
    let unicode = RouteRules::parse("allowed_emails=%C3%A4gir@X.org").unwrap();
    assert_eq!(
        unicode.check(&identity(&[], Some("ägir@x.org"), Some(true)), &NONE, 0),
        Ok(())
    );
}

#[test]
fn email_domains_match_exactly_ignoring_case_for_verified_emails() {
    let rules = RouteRules::parse("allowed_email_domains=example.org,x.org").unwrap();
    assert_eq!(rules.check(&jane(), &NONE, 0), Ok(()));
    for (email, denied) in [
        ("jane@sub.example.org", Refusal::DomainNotAllowed(Route)),
        ("jane@example.org.evil", Refusal::DomainNotAllowed(Route)),
        ("jane@evil-example.org", Refusal::DomainNotAllowed(Route)),
        ("example.org", Refusal::DomainNotAllowed(Route)),
        ("jane@", Refusal::DomainNotAllowed(Route)),
    ] {
        assert_eq!(
            rules.check(&identity(&[], Some(email), Some(true)), &NONE, 0),
            Err(denied),
            "{email}"
        );
    }
    let unverified = identity(&[], Some("jane@example.org"), Some(false));
    assert_eq!(rules.check(&unverified, &NONE, 0), Err(Refusal::EmailNotVerified));
}

#[test]
fn every_rule_given_must_hold() {
    let rules = RouteRules::parse("allowed_groups=users&allowed_email_domains=example.org").unwrap();
    assert_eq!(rules.check(&jane(), &NONE, 0), Ok(()));
    let outsider = identity(&["users"], Some("jane@elsewhere.org"), Some(true));
    assert_eq!(rules.check(&outsider, &NONE, 0), Err(Refusal::DomainNotAllowed(Route)));
    let not_member = identity(&["guests"], Some("jane@example.org"), Some(true));
    assert_eq!(rules.check(&not_member, &NONE, 0), Err(Refusal::GroupNotAllowed(Route)));
}

#[test]
fn plain_rules_are_parsed_without_copying() {
    let query = String::from("mode=redirect&allowed_groups=a,b");
    let rules = RouteRules::parse(&query).unwrap();
    let Some(Rule::Groups(Values::Query(List(raw)))) = rules.rules().next() else {
        panic!("groups parsed");
    };
    assert!(std::ptr::eq(*raw, &query[query.len() - 3..]), "borrowed from the query");
    assert!(List(raw).items().all(|item| matches!(item, Cow::Borrowed(_))));
}

#[test]
fn emails_and_domains_ignore_ascii_case_only_so_the_kelvin_sign_is_not_a_k() {
    let kelvin = identity(&[], Some("jane@\u{212A}elvin.org"), Some(true));
    let emails = RouteRules::parse("allowed_emails=jane@kelvin.org").unwrap();
    assert_eq!(emails.check(&kelvin, &NONE, 0), Err(Refusal::EmailNotAllowed(Route)));
    let domains = RouteRules::parse("allowed_email_domains=KELVIN.org").unwrap();
    assert_eq!(domains.check(&kelvin, &NONE, 0), Err(Refusal::DomainNotAllowed(Route)));
    let ascii = identity(&[], Some("jane@Kelvin.ORG"), Some(true));
    assert_eq!(emails.check(&ascii, &NONE, 0), Ok(()));
    assert_eq!(domains.check(&ascii, &NONE, 0), Ok(()));
    // Non-ASCII letters match only as written.
    let upper = RouteRules::parse("allowed_emails=%C3%84GIR@x.org").unwrap();
    let lower = identity(&[], Some("ägir@x.org"), Some(true));
    assert_eq!(upper.check(&lower, &NONE, 0), Err(Refusal::EmailNotAllowed(Route)));
}

#[test]
fn every_rule_parameter_parses_to_the_rule_of_that_name() {
    for name in PARAMETERS {
        // A value that each rule's validation accepts: a domain for one, an address for
        // another, seconds for `max_age`.
        let rule = ["a", "a@b", "60"]
            .into_iter()
            .find_map(|value| Rule::from_parameter(name, value).expect(name).ok())
            .expect(name);
        assert_eq!(rule.name(), name);
    }
    assert_eq!(Rule::from_parameter("mode", "redirect"), None);
    assert_eq!(
        Rule::from_parameter("email_verified", "true"),
        None,
        "a sign-in rule only"
    );
}

#[test]
fn the_unknown_parameter_message_lists_mode_and_every_rule() {
    assert_eq!(
        RuleError::Unknown("x".into()).to_string(),
        "unknown parameter `x` in the forward-auth URL \
         (known: mode, audience, allowed_groups, allowed_emails, allowed_email_domains, max_age, acr_values)"
    );
}

#[test]
fn sign_in_rules_check_groups_then_a_verified_email_and_say_sign_in() {
    let groups = Rule::Groups(Values::Listed(vec!["staff".into(), "ops".into()]));
    let rules = SignInRules::new(vec![groups, Rule::EmailVerified]);
    assert_eq!(rules.admits(&jane()), Err(Refusal::GroupNotAllowed(Scope::SignIn)));
    let unverified = identity(&["ops"], Some("jane@example.org"), Some(false));
    assert_eq!(rules.admits(&unverified), Err(Refusal::EmailNotVerified));
    // Verified without an email address: the flag is what this rule asks for.
    assert_eq!(rules.admits(&identity(&["staff"], None, Some(true))), Ok(()));
    assert_eq!(SignInRules::default().admits(&identity(&[], None, None)), Ok(()));
}

#[test]
fn refusals_are_worded_for_where_they_happen_and_keep_their_metric_labels() {
    let group = |scope| Refusal::GroupNotAllowed(scope).to_string();
    assert_eq!(
        group(Scope::SignIn),
        "your account is not in a group allowed to sign in"
    );
    assert_eq!(group(Route), "your account is not in a group allowed here");
    assert_eq!(
        Refusal::EmailNotVerified.to_string(),
        "your email address is not verified"
    );
    assert_eq!(
        Refusal::EmailNotAllowed(Route).to_string(),
        "your email address is not allowed here"
    );
    assert_eq!(
        Refusal::DomainNotAllowed(Route).to_string(),
        "your email domain is not allowed here"
    );
    assert_eq!(Refusal::GroupNotAllowed(Scope::SignIn).reason(), "group_not_allowed");
    assert_eq!(Refusal::EmailNotVerified.reason(), "email_not_verified");
}

#[test]
fn audience_is_read_decoded_and_restricts_nothing() {
    let rules = RouteRules::parse("mode=redirect&audience=https%3A%2F%2Fapi.example.com").unwrap();
    assert_eq!(rules.audience.as_deref(), Some("https://api.example.com"));
    assert_eq!(rules.check(&Identity::default(), &NONE, 0), Ok(()), "no rule to fail");
    assert_eq!(
        RouteRules::parse("audience=").unwrap_err(),
        RuleError::Empty("audience")
    );
    assert_eq!(
        RouteRules::parse("audience=a&audience=b").unwrap_err(),
        RuleError::Repeated("audience")
    );
}
fn signed_in(auth_time: Option<u64>, acr: Option<&str>) -> Authentication {
    Authentication {
        auth_time,
        acr: acr.map(str::to_owned),
        amr: Vec::new(),
    }
}

#[test]
fn max_age_admits_a_sign_in_within_that_many_seconds_and_refuses_an_older_or_unknown_one() {
    let now = 1_800_000_000;
    let rules = RouteRules::parse("max_age=300").unwrap();
    assert_eq!(rules.check(&jane(), &signed_in(Some(now - 300), None), now), Ok(()));
    assert_eq!(
        rules.check(&jane(), &signed_in(Some(now - 301), None), now),
        Err(Refusal::SignInTooOld)
    );
    assert_eq!(rules.check(&jane(), &NONE, now), Err(Refusal::SignInTooOld));
    assert_eq!(
        rules.step_up(),
        StepUp {
            max_age: Some(300),
            acr_values: vec![]
        }
    );
}

#[test]
fn acr_values_admit_only_a_listed_acr_compared_exactly() {
    let rules = RouteRules::parse("acr_values=mfa,urn%3Aacr%3Agold").unwrap();
    assert_eq!(rules.check(&jane(), &signed_in(None, Some("mfa")), 0), Ok(()));
    assert_eq!(rules.check(&jane(), &signed_in(None, Some("urn:acr:gold")), 0), Ok(()));
    assert_eq!(
        rules.check(&jane(), &signed_in(None, Some("MFA")), 0),
        Err(Refusal::AcrNotAllowed)
    );
    assert_eq!(rules.check(&jane(), &NONE, 0), Err(Refusal::AcrNotAllowed));
    assert_eq!(rules.step_up().acr_values, ["mfa", "urn:acr:gold"]);
}

#[test]
fn an_identity_rule_is_refused_before_a_step_up_rule_so_a_step_up_refusal_means_all_else_passed() {
    let rules = RouteRules::parse("max_age=60&allowed_groups=ops").unwrap();
    let refusal = rules.check(&jane(), &NONE, 0).unwrap_err();
    assert_eq!(refusal, Refusal::GroupNotAllowed(Route));
    assert!(!refusal.is_step_up());
    let rules = RouteRules::parse("acr_values=mfa&allowed_groups=users").unwrap();
    let refusal = rules.check(&jane(), &signed_in(None, Some("pwd")), 0).unwrap_err();
    assert!(refusal.is_step_up());
}

#[test]
fn bad_step_up_parameters_are_errors_naming_the_parameter() {
    for (query, error) in [
        ("max_age=abc", RuleError::NotSeconds("abc".into())),
        ("max_age=-5", RuleError::NotSeconds("-5".into())),
        ("max_age=", RuleError::NotSeconds(String::new())),
        ("max_age=99999999999", RuleError::NotSeconds("99999999999".into())),
        ("acr_values=", RuleError::Empty("acr_values")),
        ("acr_values=a%22b", RuleError::NotAnAcr("a\"b".into())),
        ("acr_values=a%07b", RuleError::NotAnAcr("ab".into())),
        (
            "acr_values=1,2,3,4,5,6,7,8,9,10,11",
            RuleError::TooMany("acr_values", 10),
        ),
        ("max_age=1&max_age=2", RuleError::Repeated("max_age")),
    ] {
        assert_eq!(RouteRules::parse(query), Err(error), "{query}");
    }
}
