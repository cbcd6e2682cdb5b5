//! Step-up: `max_age` and `acr_values` asked of the provider at sign-in, the callback's
//! checks of the new ID token (OIDC Core §3.1.3.7 rule 11 and `acr`), the session replaced
//! only when they pass, and forward-auth's step-up rules on the record.

use serde_json::{json, Value};

use super::scripted::ScriptedProvider;
use super::{harness, user, Harness, SignedIn, Started};
use crate::domain::access::{RouteRules, StepUpError, StepUpFailure};
use crate::domain::now;
use crate::service::forward_auth::{OriginalUrl, Verdict};
use crate::service::login::LoginError;

/// Finishes `started` for a user whose ID token adds `extra` claims, in a browser whose
/// session cookie is `previous`.
async fn finish_with(
    h: &Harness,
    started: &Started,
    extra: Value,
    previous: Option<&str>,
) -> Result<String, LoginError> {
    let mut claims = user("ann");
    claims["nonce"] = started.nonce.clone().into();
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let id_token = ScriptedProvider::id_token(claims);
    h.provider.script_exchange(Ok(ScriptedProvider::token_set(
        Some(id_token),
        Some("refresh-stepped-up"),
    )));
    let finished = h
        .service
        .finish_login(started.callback(), Some(&started.binding), previous)
        .await?;
    Ok(finished.session.as_str().to_owned())
}

fn parameter(started: &Started, name: &str) -> Option<String> {
    started
        .authorize_url
        .query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn max_age_and_acr_values_are_sent_to_the_provider_with_the_authorization_request() {
    let h = harness();
    let started = h.start_stepping_up(Some("300"), Some("mfa,hw")).await.unwrap();
    assert_eq!(parameter(&started, "max_age").as_deref(), Some("300"));
    assert_eq!(parameter(&started, "acr_values").as_deref(), Some("mfa hw"));
    let plain = h.start().await;
    assert_eq!(parameter(&plain, "max_age"), None);
    assert_eq!(parameter(&plain, "acr_values"), None);
}

#[tokio::test]
async fn bad_step_up_parameters_refuse_the_login_before_it_starts() {
    let h = harness();
    for (max_age, acr_values, expected) in [
        (Some("abc"), None, StepUpError::MaxAgeNotANumber),
        (Some("-1"), None, StepUpError::MaxAgeNotANumber),
        (Some("99999999999"), None, StepUpError::MaxAgeTooLarge(7 * 86_400)),
        (None, Some(""), StepUpError::AcrValuesEmpty),
        (None, Some("a b c d e f g h i j k"), StepUpError::TooManyAcrValues),
        (None, Some("mfa\u{1}"), StepUpError::AcrValueInvalid),
    ] {
        match h.start_stepping_up(max_age, acr_values).await {
            Err(LoginError::StepUpParameters(e)) => assert_eq!(e, expected),
            Err(e) => panic!("{max_age:?} {acr_values:?}: {e}"),
            Ok(_) => panic!("{max_age:?} {acr_values:?} started a login"),
        }
    }
}

/// A signed-in browser that then starts a step-up login.
async fn signed_in_then_stepping_up(h: &Harness, max_age: Option<&str>, acr: Option<&str>) -> (SignedIn, Started) {
    let signed_in = h.sign_in(user("ann")).await;
    let started = h.start_stepping_up(max_age, acr).await.unwrap();
    (signed_in, started)
}

#[tokio::test]
async fn a_step_up_whose_id_token_lacks_auth_time_or_shows_an_old_one_is_refused_and_the_session_kept() {
    let h = harness();
    for (extra, expected) in [
        (json!({}), StepUpFailure::NoAuthTime),
        // 300 s allowed, plus the default 60 s of clock skew.
        (json!({"auth_time": now() - 400}), StepUpFailure::TooOld),
    ] {
        let (old, started) = signed_in_then_stepping_up(&h, Some("300"), None).await;
        let result = finish_with(&h, &started, extra, Some(&old.cookie)).await;
        assert!(
            matches!(result, Err(LoginError::StepUp(e)) if e == expected),
            "{result:?}"
        );
        assert!(h.is_live(&old.cookie).await, "the session is left as it was");
        assert!(h.provider.revoked().is_empty());
    }
}

#[tokio::test]
async fn a_step_up_whose_id_token_shows_another_acr_is_refused_and_the_session_kept() {
    let h = harness();
    for extra in [json!({"acr": "pwd", "auth_time": now()}), json!({"auth_time": now()})] {
        let (old, started) = signed_in_then_stepping_up(&h, None, Some("mfa hw")).await;
        let result = finish_with(&h, &started, extra, Some(&old.cookie)).await;
        assert!(
            matches!(result, Err(LoginError::StepUp(StepUpFailure::AcrNotSatisfied))),
            "{result:?}"
        );
        assert!(h.is_live(&old.cookie).await);
    }
}

#[tokio::test]
async fn a_successful_step_up_replaces_the_session_and_keeps_auth_time_acr_and_amr() {
    let h = harness();
    let (old, started) = signed_in_then_stepping_up(&h, Some("300"), Some("mfa")).await;
    let auth_time = now() - 340; // within max_age and the clock skew
    let extra = json!({"auth_time": auth_time, "acr": "mfa", "amr": ["pwd", "otp"]});
    let new = finish_with(&h, &started, extra, Some(&old.cookie)).await.unwrap();
    assert_ne!(new, old.cookie, "a new cookie value");
    assert!(!h.is_live(&old.cookie).await, "the old session ended");
    let record = h.active(&new).await.expect("the new session").record;
    assert_eq!(record.authentication.auth_time, Some(auth_time));
    assert_eq!(record.authentication.acr.as_deref(), Some("mfa"));
    assert_eq!(record.authentication.amr, ["pwd", "otp"]);
}

#[tokio::test]
async fn a_refresh_that_brings_a_new_id_token_updates_auth_time() {
    let h = harness();
    let mut claims = user("ann");
    claims["auth_time"] = (now() - 5000).into();
    claims["acr"] = "pwd".into();
    let signed_in = h.sign_in(claims.clone()).await;
    let active = h.active(&signed_in.cookie).await.unwrap();
    assert_eq!(active.record.authentication.auth_time, Some(now() - 5000));
    claims["auth_time"] = (now() - 10).into();
    claims.as_object_mut().unwrap().remove("acr");
    let id_token = ScriptedProvider::id_token(claims);
    h.provider
        .script_refresh(Ok(ScriptedProvider::token_set(Some(id_token), Some("refresh-2"))));
    let refreshed = h
        .service
        .refresh(active, crate::service::refresh::RefreshKind::Explicit)
        .await
        .unwrap();
    assert_eq!(refreshed.record.authentication.auth_time, Some(now() - 10));
    assert_eq!(
        refreshed.record.authentication.acr.as_deref(),
        Some("pwd"),
        "kept when not re-sent"
    );
}

const ORIGINAL: OriginalUrl<'static> = OriginalUrl {
    scheme: "https",
    authority: "app.example.com",
    path_and_query: "/admin",
};

#[tokio::test]
async fn forward_auth_asks_a_session_that_fails_only_a_step_up_rule_to_sign_in_again() {
    let h = harness();
    let mut claims = user("ann");
    claims["auth_time"] = (now() - 600).into();
    claims["acr"] = "pwd".into();
    let signed_in = h.sign_in(claims).await;
    let cookie = Some(signed_in.cookie.as_str());

    let rules = RouteRules::parse("mode=redirect&max_age=300&acr_values=mfa").unwrap();
    let verdict = h
        .service
        .forward_auth(cookie, &rules, true, Some(ORIGINAL))
        .await
        .unwrap();
    let Verdict::StepUp { step_up, sign_in } = verdict else {
        panic!("not a step-up");
    };
    assert_eq!(
        (step_up.max_age, step_up.acr_values.as_slice()),
        (Some(300), &["mfa".to_owned()][..])
    );
    assert_eq!(
        sign_in.map(String::from).as_deref(),
        Some("https://app.example.com/auth/login?return_to=%2Fadmin&max_age=300&acr_values=mfa")
    );

    let verdict = h
        .service
        .forward_auth(cookie, &rules, false, Some(ORIGINAL))
        .await
        .unwrap();
    assert!(
        matches!(verdict, Verdict::StepUp { sign_in: None, .. }),
        "a script gets the 401"
    );

    let passes = RouteRules::parse("max_age=3600&acr_values=pwd").unwrap();
    let verdict = h
        .service
        .forward_auth(cookie, &passes, true, Some(ORIGINAL))
        .await
        .unwrap();
    assert!(matches!(verdict, Verdict::Allow(..)));

    let other_group = RouteRules::parse("mode=redirect&max_age=300&allowed_groups=ops").unwrap();
    let verdict = h
        .service
        .forward_auth(cookie, &other_group, true, Some(ORIGINAL))
        .await
        .unwrap();
    assert!(matches!(verdict, Verdict::Deny(_)), "a refusal beyond step-up is a 403");
}
