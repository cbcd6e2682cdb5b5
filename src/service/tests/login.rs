//! Login completion: state, browser binding, issuer, nonce, claim rules, token size, and
//! what becomes of the browser's previous session.

use serde_json::json;

use super::scripted::ScriptedProvider;
use super::{harness, harness_with, user, Harness, Started};
use crate::crypto::KeyRing;
use crate::domain::{now, Secret};
use crate::http::error::PageError;
use crate::service::login::{Callback, FinishedLogin, LoginError};
use crate::service::Refusal;
use crate::session::{PendingLogin, PendingLogins};
use crate::util::test_log::logged;

/// Why a login failed; panics when it completed.
fn refusal(result: Result<FinishedLogin, LoginError>) -> LoginError {
    match result {
        Ok(_) => panic!("the login completed"),
        Err(e) => e,
    }
}

/// Scripts the code exchange of `started` with an ID token of `claims` (nonce added).
fn script_login(h: &Harness, started: &Started, mut claims: serde_json::Value) {
    claims["nonce"] = started.nonce.clone().into();
    let id_token = ScriptedProvider::id_token(claims);
    let tokens = ScriptedProvider::token_set(Some(id_token), Some("refresh-token"));
    h.provider.script_exchange(Ok(tokens));
}

#[tokio::test]
async fn a_completed_login_creates_a_session_with_the_users_identity() {
    let h = harness();
    let started = h.start().await;
    script_login(&h, &started, user("ann"));
    let finished = h.finish(&started).await.expect("login completes");

    assert_eq!(finished.return_to, "/");
    let active = h.active(finished.session.as_str()).await.expect("a live session");
    let identity = &active.record.identity;
    assert_eq!(identity.sub, "ann");
    assert_eq!(identity.username.as_deref(), Some("ann"));
    assert_eq!(identity.groups, ["staff"]);
    assert_eq!(active.record.sid.as_deref(), Some("sid-ann"));
}

#[tokio::test]
async fn a_login_state_is_good_for_one_callback_only() {
    let h = harness();
    let started = h.start().await;
    script_login(&h, &started, user("ann"));
    h.finish(&started).await.expect("the first callback completes");
    script_login(&h, &started, user("ann"));

    let again = h.finish(&started).await;
    let again = refusal(again);
    assert!(matches!(again, LoginError::UnknownState), "{again:?}");
    assert_eq!(h.provider.codes_exchanged(), 1, "the second callback exchanged nothing");
    assert_eq!(h.session_count().await, 1);
}

#[tokio::test]
async fn a_state_is_used_up_once_its_code_is_exchanged_even_when_the_login_then_fails() {
    let h = harness();
    let started = h.start().await;
    let id_token = ScriptedProvider::id_token(json!({"sub": "ann", "nonce": "the-nonce-of-another-login"}));
    h.provider
        .script_exchange(Ok(ScriptedProvider::token_set(Some(id_token), None)));
    let failed = refusal(h.finish(&started).await);
    assert!(matches!(failed, LoginError::IdToken(_)), "{failed:?}");

    script_login(&h, &started, user("ann"));
    let again = refusal(h.finish(&started).await);
    assert!(matches!(again, LoginError::UnknownState), "{again:?}");
    assert_eq!(h.provider.codes_exchanged(), 1);
    assert_eq!(h.session_count().await, 0);
}

#[tokio::test]
async fn a_callback_in_a_browser_that_did_not_start_the_login_exchanges_no_code_and_spoils_nothing() {
    let h = harness();
    let started = h.start().await;
    let other_login = h.start().await;
    let mut tampered = started.binding.clone();
    let last = if tampered.ends_with('A') { "B" } else { "A" };
    tampered.replace_range(tampered.len() - 1.., last);
    let cookies = [
        None,
        Some(other_login.binding.as_str()),
        Some(tampered.as_str()),
        Some("forged"),
    ];
    for binding in cookies {
        let refused = refusal(h.service.finish_login(started.callback(), binding, None).await);
        assert!(
            matches!(refused, LoginError::NotBoundToBrowser | LoginError::UnknownState),
            "{binding:?}: {refused:?}"
        );
    }
    assert_eq!(h.provider.codes_exchanged(), 0, "no code was exchanged");
    assert_eq!(h.session_count().await, 0);

    script_login(&h, &started, user("ann"));
    h.finish(&started)
        .await
        .expect("the browser that started the login still completes it");
}

#[tokio::test]
async fn a_callback_naming_another_issuer_creates_no_session() {
    let h = harness();
    let started = h.start().await;
    script_login(&h, &started, user("ann"));
    let mut callback = started.callback();
    callback.iss = Some("https://op.example.com.evil.example".into());

    let result = h.service.finish_login(callback, Some(&started.binding), None).await;
    let result = refusal(result);
    assert!(matches!(result, LoginError::WrongIssuer), "{result:?}");
    assert_eq!(h.provider.codes_exchanged(), 0, "no code was exchanged");
    assert_eq!(h.session_count().await, 0);
}

#[tokio::test]
async fn a_login_too_large_for_its_binding_cookie_is_refused_as_such_not_as_a_bad_return_to() {
    let h = harness();
    let long_path = format!("/{}", "a".repeat(2_000));
    let fits = h.service.start_login(Some(&long_path), (None, None)).await;
    assert!(fits.is_ok(), "a long return_to alone fits: {:?}", fits.err());

    let acr_values = vec!["x".repeat(150); 10].join(" ");
    let refused = h.service.start_login(Some(&long_path), (None, Some(&acr_values))).await;
    let refused = refused.err().expect("too large for a cookie");
    assert!(matches!(refused, LoginError::TooLargeForCookie), "{refused:?}");
    assert_eq!(refused.reason(), "login_too_large");
}

#[tokio::test]
async fn a_login_refused_before_the_provider_counts_as_failed_with_its_reason_and_not_as_started() {
    let h = harness();
    let refused = h
        .service
        .start_login(Some("https://elsewhere.example/"), (None, None))
        .await;
    assert_eq!(refused.err().map(|e| e.reason()), Some("return_to"));
    assert!(h.service.start_login(None, (None, None)).await.is_ok());
    let text = h.service.metrics_text().await;
    for line in [
        "oidc_session_logins_total{outcome=\"failed\",reason=\"return_to\"} 1",
        "oidc_session_logins_total{outcome=\"started\",reason=\"\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
}

#[tokio::test]
async fn an_id_token_with_another_logins_nonce_creates_no_session() {
    let h = harness();
    let started = h.start().await;
    let id_token = ScriptedProvider::id_token(json!({"sub": "ann", "nonce": "the-nonce-of-another-login"}));
    h.provider
        .script_exchange(Ok(ScriptedProvider::token_set(Some(id_token), None)));

    let result = h.finish(&started).await;
    let result = refusal(result);
    assert!(matches!(result, LoginError::IdToken(_)), "{result:?}");
    assert_eq!(h.session_count().await, 0);
}

#[tokio::test]
async fn a_user_in_none_of_the_allowed_groups_is_refused_with_403_and_gets_no_session() {
    let h = harness_with(&[("OIDC_ALLOWED_GROUPS", "admins")]);
    let started = h.start().await;
    script_login(&h, &started, user("ann"));
    let refused = refusal(h.finish(&started).await);
    assert!(
        matches!(refused, LoginError::Refused(Refusal::GroupNotAllowed(_))),
        "{refused:?}"
    );
    assert!(matches!(PageError::from(refused), PageError::Forbidden(_)));
    assert_eq!(h.session_count().await, 0);

    let started = h.start().await;
    script_login(&h, &started, json!({"sub": "bob", "groups": ["staff", "admins"]}));
    h.finish(&started).await.expect("a member of an allowed group signs in");
}

#[tokio::test]
async fn an_email_not_verified_is_refused_when_verification_is_required() {
    let h = harness_with(&[("OIDC_REQUIRE_EMAIL_VERIFIED", "true")]);
    // The ID token's `email_verified`, then userinfo's (fresher, and a string at some providers).
    let cases = [
        (json!(false), json!({})),
        (json!(null), json!({})),
        (json!(true), json!({"email_verified": "false"})),
    ];
    for (in_id_token, in_userinfo) in cases {
        h.provider.set_userinfo(in_userinfo.clone());
        let started = h.start().await;
        let claims = json!({"sub": "ann", "email": "ann@example.com", "email_verified": in_id_token});
        script_login(&h, &started, claims);
        let refused = refusal(h.finish(&started).await);
        assert!(
            matches!(refused, LoginError::Refused(Refusal::EmailNotVerified)),
            "{in_id_token}, {in_userinfo}: {refused:?}"
        );
        assert!(matches!(PageError::from(refused), PageError::Forbidden(_)));
    }
    assert_eq!(h.session_count().await, 0);

    h.provider.set_userinfo(json!({"email_verified": "true"}));
    let started = h.start().await;
    script_login(&h, &started, json!({"sub": "bob", "email": "bob@example.com"}));
    h.finish(&started).await.expect("a verified email signs in");
}

#[tokio::test]
async fn tokens_too_large_to_store_are_refused_and_create_no_session() {
    let h = harness();
    let started = h.start().await;
    let id_token = ScriptedProvider::id_token(json!({"sub": "ann", "nonce": started.nonce}));
    let mut tokens = ScriptedProvider::token_set(Some(id_token), Some("refresh-token"));
    tokens.access_token = "A".repeat(300 * 1024);
    h.provider.script_exchange(Ok(tokens));

    let result = h.finish(&started).await;
    let result = refusal(result);
    assert!(matches!(result, LoginError::TokensTooLarge(_)), "{result:?}");
    assert_eq!(h.session_count().await, 0);
}

#[tokio::test]
async fn small_tokens_with_claims_too_large_to_store_are_refused_and_create_no_session() {
    let h = harness();
    h.provider.set_userinfo(json!({"bio": "x".repeat(300 * 1024)}));
    let started = h.start().await;
    script_login(&h, &started, json!({"sub": "ann"}));

    let result = refusal(h.finish(&started).await);
    assert!(matches!(result, LoginError::TokensTooLarge(_)), "{result:?}");
    assert_eq!(h.session_count().await, 0);
}

#[tokio::test]
async fn a_pending_login_sealed_by_someone_else_with_a_return_to_elsewhere_is_refused_at_the_callback() {
    let h = harness();
    let started = h.start().await;
    // Whoever holds the sealing key (in the store when none is configured) seals a login
    // of their own for this state, sending the user elsewhere afterwards.
    let key = KeyRing::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let forger = PendingLogins::new(h.store.clone(), Some(key));
    let forged = PendingLogin {
        nonce: Secret::new(started.nonce.clone()),
        pkce_verifier: Secret::new("verifier".into()),
        return_to: "https://evil.test/".into(),
        expires_at: now() + 300,
        step_up: Default::default(),
    };
    let binding = forger.seal(&started.state, &forged).await.unwrap();
    script_login(&h, &started, json!({"sub": "ann"}));

    let result = h.service.finish_login(started.callback(), Some(&binding), None).await;
    let result = refusal(result);
    assert!(matches!(result, LoginError::ReturnTo(_)), "{result:?}");
    assert_eq!(h.session_count().await, 0);
}

#[tokio::test]
async fn a_new_login_replaces_the_browsers_previous_session() {
    let h = harness();
    let first = h.sign_in(user("ann")).await;
    let second = h.sign_in_replacing(user("ann"), Some(&first.cookie)).await;

    assert!(!h.is_live(&first.cookie).await, "the previous session ended");
    assert!(h.is_live(&second.cookie).await);
    assert_ne!(first.cookie, second.cookie, "a fresh session id");
    assert_eq!(h.session_count().await, 1);
}

#[tokio::test]
async fn a_provider_error_shows_its_text_only_to_the_browser_whose_login_it_answers() {
    let h = harness();
    let started = h.start().await;
    let other_login = h.start().await;
    let error = |state: Option<String>| Callback {
        state,
        error: Some("access_denied".into()),
        error_description: Some("Your account is locked. Call +1-555-0100.".into()),
        ..Callback::default()
    };
    let state = || started.callback().state;
    for (callback, binding) in [
        (error(state()), None),
        (error(state()), Some(other_login.binding.as_str())),
        (error(None), Some(started.binding.as_str())),
    ] {
        let refused = refusal(h.service.finish_login(callback, binding, None).await);
        assert!(matches!(refused, LoginError::UnboundProviderError), "{refused:?}");
        assert!(!refused.to_string().contains("+1-555"), "{refused}");
    }
    match refusal(
        h.service
            .finish_login(error(state()), Some(&started.binding), None)
            .await,
    ) {
        LoginError::Provider { error, description } => {
            assert_eq!(error, "access_denied");
            assert_eq!(
                description.as_deref(),
                Some("Your account is locked. Call +1-555-0100.")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.session_count().await, 0);
}

#[test]
fn an_error_response_for_no_login_of_this_browser_is_logged_at_debug_not_warn() {
    let unbound = logged(|| drop(PageError::from(LoginError::UnboundProviderError)));
    assert!(unbound.contains("DEBUG") && !unbound.contains("WARN"), "{unbound}");
    let ours = logged(|| {
        drop(PageError::from(LoginError::Provider {
            error: "access_denied".into(),
            description: None,
        }))
    });
    assert!(ours.contains("WARN"), "{ours}");
}
