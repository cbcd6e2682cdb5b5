//! Revalidation (`OIDC_REVALIDATE`), refreshes that are never lost, and the per-user limit.

use std::time::Duration;

use serde_json::json;

use super::scripted::ScriptedProvider;
use super::{harness_with, user, Harness, SignedIn};
use crate::domain::now;
use crate::oidc::login::TokenError;
use crate::service::login::LoginError;
use crate::service::refresh::{RefreshError, RefreshKind};

/// A user in group `group`, as an ID token or userinfo says.
fn in_group(sub: &str, group: &str) -> serde_json::Value {
    let mut claims = user(sub);
    claims["groups"] = json!([group]);
    claims
}

/// Ann, signed in with an access token that has already expired.
async fn expired_session(h: &Harness) -> SignedIn {
    h.sign_in_with(user("ann"), None, |tokens| {
        tokens.access_token_expires_at = Some(now() - 1)
    })
    .await
}

fn script_refresh(h: &Harness, claims: Option<serde_json::Value>, refresh_token: &str) {
    let id_token = claims.map(ScriptedProvider::id_token);
    h.provider
        .script_refresh(Ok(ScriptedProvider::token_set(id_token, Some(refresh_token))));
}

fn unreachable() -> TokenError {
    TokenError::Unreachable("connection refused".into())
}

#[tokio::test]
async fn a_session_whose_access_token_expired_is_refreshed_on_its_next_use() {
    let h = harness_with(&[]);
    let signed_in = expired_session(&h).await;
    script_refresh(&h, Some(user("ann")), "refresh-2");
    let active = h.active(&signed_in.cookie).await.expect("still signed in");
    assert_eq!(h.provider.grants(), vec![signed_in.refresh_token], "one refresh first");
    assert!(active.record.access_token_expires_at.is_some_and(|at| at > now()));
    assert_eq!(
        h.stored_tokens(&signed_in.cookie)
            .await
            .unwrap()
            .refresh_token
            .as_deref(),
        Some("refresh-2")
    );
    h.active(&signed_in.cookie).await.expect("still signed in");
    assert_eq!(h.provider.grants().len(), 1, "a fresh token is not refreshed again");
}

#[tokio::test]
async fn a_user_no_longer_in_an_allowed_group_loses_the_session_at_revalidation() {
    let h = harness_with(&[("OIDC_ALLOWED_GROUPS", "staff")]);
    let signed_in = expired_session(&h).await;
    script_refresh(&h, Some(in_group("ann", "former-staff")), "refresh-2");
    h.provider.set_userinfo(json!({"groups": ["former-staff"]}));
    assert!(
        h.active(&signed_in.cookie).await.is_none(),
        "this request already sees no session"
    );
    assert!(!h.is_live(&signed_in.cookie).await);
    h.provider.wait_until_revoked("refresh-2").await;
}

#[tokio::test]
async fn a_refresh_refused_by_the_provider_ends_the_session_at_revalidation() {
    let h = harness_with(&[]);
    let signed_in = expired_session(&h).await;
    h.provider.script_refresh(Err(TokenError::Rejected {
        error: "invalid_grant".into(),
        description: None,
    }));
    assert!(h.active(&signed_in.cookie).await.is_none());
}

#[tokio::test]
async fn with_the_provider_down_the_session_stays_and_is_retried_at_most_every_thirty_seconds() {
    let h = harness_with(&[]);
    let signed_in = expired_session(&h).await;
    h.provider.script_refresh(Err(unreachable()));
    let kept = h.active(&signed_in.cookie).await.expect("kept as it was");
    assert_eq!(kept.record.identity.sub, "ann");
    for _ in 0..3 {
        h.active(&signed_in.cookie).await.expect("still kept");
    }
    assert_eq!(h.provider.grants().len(), 1, "no second attempt within the back-off");
}

#[tokio::test]
async fn with_revalidation_off_an_expired_access_token_is_not_refreshed() {
    let h = harness_with(&[("OIDC_REVALIDATE", "never")]);
    let signed_in = expired_session(&h).await;
    h.active(&signed_in.cookie).await.expect("still signed in");
    assert!(h.provider.grants().is_empty());
}

#[tokio::test]
async fn with_an_interval_a_session_is_revalidated_once_its_last_check_is_older() {
    let h = harness_with(&[("OIDC_REVALIDATE", "1s")]);
    let signed_in = h.sign_in(user("ann")).await;
    h.active(&signed_in.cookie).await.expect("signed in");
    assert!(h.provider.grants().is_empty(), "checked at sign-in moments ago");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    script_refresh(&h, Some(user("ann")), "refresh-2");
    h.active(&signed_in.cookie).await.expect("still signed in");
    assert_eq!(h.provider.grants().len(), 1, "checked again after the interval");
}

#[tokio::test]
async fn a_refresh_without_an_id_token_applies_the_sign_in_rules_to_userinfo() {
    let h = harness_with(&[("OIDC_ALLOWED_GROUPS", "staff")]);
    let signed_in = h.sign_in(user("ann")).await;
    let active = h.active(&signed_in.cookie).await.expect("signed in");
    script_refresh(&h, None, "refresh-2");
    h.provider.set_userinfo(json!({"groups": ["former-staff"]}));
    let refreshed = h.service.refresh(active, RefreshKind::Explicit).await;
    assert!(matches!(refreshed, Err(RefreshError::Ended)), "{:?}", refreshed.err());
    assert!(!h.is_live(&signed_in.cookie).await);
}

#[tokio::test]
async fn a_refresh_without_an_id_token_takes_the_new_claims_from_userinfo() {
    let h = harness_with(&[]);
    let signed_in = h.sign_in(user("ann")).await;
    let active = h.active(&signed_in.cookie).await.expect("signed in");
    script_refresh(&h, None, "refresh-2");
    h.provider.set_userinfo(json!({"groups": ["ops"]}));
    let refreshed = h
        .service
        .refresh(active, RefreshKind::Explicit)
        .await
        .expect("refreshed");
    assert_eq!(refreshed.record.identity.groups, ["ops"]);
    assert_eq!(refreshed.record.identity.sub, "ann");
}

#[tokio::test(start_paused = true)]
async fn the_tokens_of_an_answered_refresh_are_kept_when_the_checks_after_it_hang() {
    let h = harness_with(&[("OIDC_HTTP_TIMEOUT", "10s")]);
    let signed_in = h.sign_in(user("ann")).await;
    let active = h.active(&signed_in.cookie).await.expect("signed in");
    script_refresh(&h, Some(user("ann")), "rotated-refresh");
    h.provider.hold_userinfo();
    let refreshed = h.service.refresh(active, RefreshKind::Explicit).await;
    assert!(
        refreshed.is_ok(),
        "the identity is kept, not the session ended: {:?}",
        refreshed.err()
    );
    let stored = h.stored_tokens(&signed_in.cookie).await.expect("still stored");
    assert_eq!(
        stored.refresh_token.as_deref(),
        Some("rotated-refresh"),
        "the rotated token is not lost"
    );
}

#[tokio::test]
async fn shutdown_waits_for_a_refresh_the_provider_is_answering() {
    let h = harness_with(&[]);
    let signed_in = h.sign_in(user("ann")).await;
    let active = h.active(&signed_in.cookie).await.expect("signed in");
    script_refresh(&h, Some(user("ann")), "rotated-refresh");
    h.provider.hold_refreshes();
    let service = h.service.clone();
    let caller = tokio::spawn(async move { service.refresh(active, RefreshKind::Explicit).await });
    h.provider.wait_for_grants(1).await;
    caller.abort(); // the caller hangs up; the refresh goes on
    let service = h.service.clone();
    let drain = tokio::spawn(async move { service.drain_refreshes(Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!drain.is_finished(), "shutdown waits while the grant is in flight");
    h.provider.release_refreshes();
    drain.await.expect("no panic");
    let stored = h.stored_tokens(&signed_in.cookie).await.expect("still stored");
    assert_eq!(stored.refresh_token.as_deref(), Some("rotated-refresh"));
}

#[tokio::test]
async fn a_sign_in_beyond_the_per_user_limit_ends_the_oldest_session_and_revokes_its_token() {
    let h = harness_with(&[("OIDC_MAX_SESSIONS_PER_USER", "2")]);
    let first = h.sign_in(user("ann")).await;
    // Sessions are ordered by their absolute end, to the second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = h.sign_in(user("ann")).await;
    let bob = h.sign_in(user("bob")).await;
    assert!(h.is_live(&first.cookie).await, "within the limit");
    let third = h.sign_in(user("ann")).await;
    assert!(!h.is_live(&first.cookie).await, "the oldest ended");
    for live in [&second, &third, &bob] {
        assert!(h.is_live(&live.cookie).await, "the others stay");
    }
    h.provider.wait_until_revoked(&first.refresh_token).await;
}

#[tokio::test]
async fn signing_in_again_at_the_limit_replaces_this_browsers_session_and_ends_no_other() {
    let h = harness_with(&[("OIDC_MAX_SESSIONS_PER_USER", "2")]);
    let laptop = h.sign_in(user("ann")).await;
    // The laptop's session is the oldest: the one the limit would end.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let phone = h.sign_in(user("ann")).await;

    // A sign-in that fails (here a step-up without `auth_time`) ends nothing.
    let started = h.start_stepping_up(Some("300"), None).await.expect("login starts");
    let mut claims = user("ann");
    claims["nonce"] = started.nonce.clone().into();
    h.provider.script_exchange(Ok(ScriptedProvider::token_set(
        Some(ScriptedProvider::id_token(claims)),
        Some("refresh-refused"),
    )));
    let refused = h
        .service
        .finish_login(started.callback(), Some(&started.binding), Some(&phone.cookie))
        .await;
    assert!(matches!(refused, Err(LoginError::StepUp(_))), "{:?}", refused.err());
    for live in [&laptop, &phone] {
        assert!(h.is_live(&live.cookie).await, "a failed sign-in ends nothing");
    }

    // The phone signs in again: its new session takes the old one's place.
    let again = h.sign_in_replacing(user("ann"), Some(&phone.cookie)).await;
    assert!(!h.is_live(&phone.cookie).await, "the replaced session ended");
    assert!(h.is_live(&again.cookie).await);
    assert!(h.is_live(&laptop.cookie).await, "the other device's session stays");
    assert!(h.provider.revoked().is_empty(), "no token revoked");
}
