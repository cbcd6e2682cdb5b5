//! Bearer tokens at the service: what a verification proved is reused, and the sign-in and
//! route rules apply to a token's identity as to a session's.

use std::sync::Arc;

use serde_json::{json, Value};

use super::scripted::first_key;
use super::{harness_with, user, Harness, ISSUER};
use crate::domain::access::RouteRules;
use crate::domain::now;
use crate::service::forward_auth::Verdict;

const AUDIENCE: &str = "https://api.example.com";

fn access_token(sub: &str) -> String {
    let mut claims: Value = user(sub);
    claims["iss"] = json!(ISSUER);
    claims["aud"] = json!(AUDIENCE);
    claims["iat"] = json!(now());
    claims["exp"] = json!(now() + 300);
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": first_key().kid()});
    first_key().sign(header, claims)
}

fn bearers(extra: &[(&str, &str)]) -> Harness {
    let mut vars = vec![("OIDC_BEARER_AUDIENCES", AUDIENCE)];
    vars.extend_from_slice(extra);
    harness_with(&vars)
}

#[tokio::test]
async fn a_verified_token_is_remembered_until_its_exp_instead_of_verified_again() {
    let h = bearers(&[]);
    let token = access_token("ann");
    let first = h.service.bearer(&token).await.expect("accepted");
    assert_eq!(first.identity.sub, "ann");
    assert_eq!(first.identity.username.as_deref(), Some("ann"));
    assert_eq!(first.identity.groups, ["staff"]);
    let second = h.service.bearer(&token).await.expect("accepted");
    assert!(Arc::ptr_eq(&first, &second), "the second answer is the remembered one");
    let other = h.service.bearer(&access_token("bob")).await.expect("accepted");
    assert!(!Arc::ptr_eq(&first, &other));
}

#[tokio::test]
async fn the_sign_in_rules_and_the_route_rules_apply_to_a_tokens_identity() {
    let h = bearers(&[]);
    let token = access_token("ann");
    let staff = RouteRules::parse("allowed_groups=staff").unwrap();
    assert!(matches!(
        h.service.forward_auth_bearer(&token, &staff, None).await,
        Verdict::AllowBearer(..)
    ));
    let admins = RouteRules::parse("allowed_groups=admins").unwrap();
    assert!(matches!(
        h.service.forward_auth_bearer(&token, &admins, None).await,
        Verdict::Deny(_)
    ));

    let strict = bearers(&[("OIDC_ALLOWED_GROUPS", "admins")]);
    assert!(matches!(
        strict
            .service
            .forward_auth_bearer(&token, &RouteRules::default(), None)
            .await,
        Verdict::Deny(_)
    ));
    assert!(strict.service.introspect_bearer(&token).await.is_none());
    assert!(h.service.introspect_bearer(&token).await.is_some());
}

#[tokio::test]
async fn a_token_that_fails_only_a_step_up_rule_is_asked_to_authenticate_again_not_refused() {
    let h = bearers(&[]);
    let token = access_token("ann");
    let recent = RouteRules::parse("max_age=300").unwrap();
    match h.service.forward_auth_bearer(&token, &recent, None).await {
        Verdict::StepUp { step_up, sign_in } => {
            assert!(sign_in.is_none(), "never a redirect for a token");
            assert_eq!(step_up.parameters(), [("max_age", "300".to_owned())]);
        }
        _ => panic!("a token without auth_time fails max_age as a step-up"),
    }
    // With another rule failing too, it is refused.
    let both = RouteRules::parse("max_age=300&allowed_groups=admins").unwrap();
    assert!(matches!(
        h.service.forward_auth_bearer(&token, &both, None).await,
        Verdict::Deny(_)
    ));
}

#[tokio::test]
async fn without_bearer_audiences_introspection_never_judges_a_token() {
    let h = harness_with(&[]);
    assert!(!h.service.accepts_bearer_tokens());
    assert!(h.service.introspect_bearer(&access_token("ann")).await.is_none());
}
