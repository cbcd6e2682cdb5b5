//! Refresh: one grant per burst, reuse, and which outcomes end the session.

use std::time::Duration;

use serde_json::json;

use super::scripted::{rotated_key, ScriptedProvider};
use super::{eventually, harness, harness_with, user, Harness, SignedIn};
use crate::oidc::keys::KeyRequester;
use crate::oidc::login::TokenError;
use crate::service::refresh::{RefreshError, RefreshKind};
use crate::service::sessions::ActiveSession;

/// Scripts the next refresh: an ID token of `claims` (none when `None`) and `refresh_token`.
fn script_refresh(h: &Harness, claims: Option<serde_json::Value>, refresh_token: &str) {
    let id_token = claims.map(ScriptedProvider::id_token);
    let tokens = ScriptedProvider::token_set(id_token, Some(refresh_token));
    h.provider.script_refresh(Ok(tokens));
}

async fn refresh(h: &Harness, active: &ActiveSession, kind: RefreshKind) -> Result<ActiveSession, RefreshError> {
    h.service.refresh(active.clone(), kind).await
}

async fn signed_in(h: &Harness) -> (SignedIn, ActiveSession) {
    let signed_in = h.sign_in(user("ann")).await;
    let active = h.active(&signed_in.cookie).await.expect("a live session");
    (signed_in, active)
}

fn access_token(h: &Harness, active: &ActiveSession) -> String {
    h.service
        .tokens(&active.key, &active.record)
        .expect("tokens")
        .access_token
}

#[tokio::test]
async fn concurrent_refreshes_of_one_session_send_one_grant() {
    let h = harness();
    let (_, active) = signed_in(&h).await;
    script_refresh(&h, Some(user("ann")), "refresh-2");
    h.provider.hold_refreshes();
    let tabs: Vec<_> = (0..4)
        .map(|_| {
            let (service, active) = (h.service.clone(), active.clone());
            tokio::spawn(async move { service.refresh(active, RefreshKind::Explicit).await })
        })
        .collect();
    h.provider.wait_for_grants(1).await;
    // Give the other tabs time to queue behind the lock; the assertions do not depend on it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.provider.release_refreshes();

    let mut access_tokens = Vec::new();
    for tab in tabs {
        let refreshed = tab.await.expect("no panic").expect("every tab gets tokens");
        access_tokens.push(access_token(&h, &refreshed));
    }
    assert_eq!(h.provider.grants().len(), 1, "one grant");
    access_tokens.dedup();
    assert_eq!(access_tokens.len(), 1, "every tab got the same, new tokens");
    assert_ne!(access_tokens[0], access_token(&h, &active));
}

#[tokio::test]
async fn an_explicit_refresh_right_after_another_still_sends_a_grant() {
    let h = harness();
    let (_, active) = signed_in(&h).await;
    script_refresh(&h, None, "refresh-2");
    script_refresh(&h, None, "refresh-3");

    let first = refresh(&h, &active, RefreshKind::Explicit).await.expect("refreshed");
    let second = refresh(&h, &first, RefreshKind::Explicit)
        .await
        .expect("refreshed again");
    assert_eq!(h.provider.grants().len(), 2);
    assert_ne!(access_token(&h, &first), access_token(&h, &second));
}

#[tokio::test]
async fn a_due_refresh_reuses_a_refresh_from_the_last_five_seconds() {
    let h = harness();
    let (_, active) = signed_in(&h).await;
    script_refresh(&h, None, "refresh-2");

    let due = refresh(&h, &active, RefreshKind::Due).await.expect("refreshed");
    assert_eq!(
        h.provider.grants().len(),
        1,
        "a session never refreshed is refreshed when due"
    );
    let reused = refresh(&h, &due, RefreshKind::Due).await.expect("reused");
    assert_eq!(h.provider.grants().len(), 1, "no second grant");
    assert_eq!(access_token(&h, &reused), access_token(&h, &due));
}

#[tokio::test]
async fn a_refresh_token_refused_with_invalid_grant_ends_the_session() {
    let h = harness();
    let (signed_in, active) = signed_in(&h).await;
    h.provider.script_refresh(Err(TokenError::Rejected {
        error: "invalid_grant".into(),
        description: Some("grant revoked".into()),
    }));

    let result = refresh(&h, &active, RefreshKind::Explicit).await;
    assert!(matches!(result, Err(RefreshError::Ended)), "{:?}", result.err());
    assert!(!h.is_live(&signed_in.cookie).await);
}

#[tokio::test]
async fn an_unreachable_provider_keeps_the_session_and_its_tokens() {
    let h = harness();
    let (signed_in, active) = signed_in(&h).await;
    let before = h.stored_tokens(&signed_in.cookie).await.expect("tokens");
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    h.provider
        .script_refresh(Err(TokenError::Unreachable(Box::new(refused))));

    let result = refresh(&h, &active, RefreshKind::Explicit).await;
    assert!(matches!(result, Err(RefreshError::Provider(_))), "{:?}", result.err());
    assert!(h.is_live(&signed_in.cookie).await);
    assert_eq!(h.stored_tokens(&signed_in.cookie).await, Some(before));
}

#[tokio::test]
async fn an_id_token_signed_with_a_key_that_cannot_be_fetched_yet_keeps_the_session_and_the_new_refresh_token() {
    let h = harness();
    let (signed_in, active) = signed_in(&h).await;
    h.provider.rotate_keys();
    h.provider.fail_key_refetches();
    let mut claims = user("ann");
    claims["groups"] = json!(["admins"]);
    let id_token = ScriptedProvider::id_token_signed_by(rotated_key(), claims);
    h.provider
        .script_refresh(Ok(ScriptedProvider::token_set(Some(id_token), Some("refresh-2"))));

    let refreshed = refresh(&h, &active, RefreshKind::Explicit).await.expect("refreshed");
    assert_eq!(
        h.provider.refetches(),
        [KeyRequester::TokenEndpoint],
        "a re-fetch was tried"
    );
    assert_eq!(
        refreshed.record.identity, active.record.identity,
        "the identity is kept"
    );
    let stored = h.stored_tokens(&signed_in.cookie).await.expect("a live session");
    assert_eq!(stored.refresh_token.as_deref(), Some("refresh-2"));
    assert_eq!(
        stored.id_token, signed_in.id_token,
        "the unverified ID token is not stored"
    );
}

#[tokio::test]
async fn an_id_token_for_another_subject_ends_the_session_and_revokes_the_new_refresh_token() {
    let h = harness();
    let (signed_in, active) = signed_in(&h).await;
    script_refresh(&h, Some(user("mallory")), "refresh-2");

    let result = refresh(&h, &active, RefreshKind::Explicit).await;
    assert!(matches!(result, Err(RefreshError::Ended)), "{:?}", result.err());
    assert!(!h.is_live(&signed_in.cookie).await);
    h.provider.wait_until_revoked("refresh-2").await;
}

#[tokio::test]
async fn refreshed_claims_outside_the_allowed_groups_end_the_session() {
    let h = harness_with(&[("OIDC_ALLOWED_GROUPS", "staff")]);
    let (signed_in, active) = signed_in(&h).await;
    let mut claims = user("ann");
    claims["groups"] = json!(["former-staff"]);
    script_refresh(&h, Some(claims), "refresh-2");

    let result = refresh(&h, &active, RefreshKind::Explicit).await;
    assert!(matches!(result, Err(RefreshError::Ended)), "{:?}", result.err());
    assert!(!h.is_live(&signed_in.cookie).await);
    h.provider.wait_until_revoked("refresh-2").await;
}

#[tokio::test]
async fn claims_missing_from_the_refreshed_id_token_are_gone_not_kept() {
    let h = harness();
    let mut claims = user("ann");
    claims["department"] = json!("sales");
    let signed_in = h.sign_in(claims).await;
    let active = h.active(&signed_in.cookie).await.expect("a live session");
    script_refresh(
        &h,
        Some(json!({"sub": "ann", "email": "ann@new.example.com"})),
        "refresh-2",
    );

    let refreshed = refresh(&h, &active, RefreshKind::Explicit).await.expect("refreshed");
    let claims = refreshed.record.claims.to_map();
    for gone in ["department", "groups", "preferred_username", "email_verified"] {
        assert!(!claims.contains_key(gone), "{gone} is gone: {claims:?}");
    }
    let identity = &refreshed.record.identity;
    assert_eq!(identity.email.as_deref(), Some("ann@new.example.com"));
    assert!(identity.groups.is_empty() && identity.username.is_none());
    let stored = h.active(&signed_in.cookie).await.expect("a live session");
    assert_eq!(stored.record.identity, *identity, "and so is what the store holds");
}

#[tokio::test]
async fn a_refresh_racing_a_logout_revokes_the_refresh_token_it_was_issued() {
    let h = harness();
    let (signed_in, active) = signed_in(&h).await;
    script_refresh(&h, Some(user("ann")), "refresh-2");
    h.provider.hold_refreshes();
    let service = h.service.clone();
    let racing = tokio::spawn(async move { service.refresh(active, RefreshKind::Explicit).await });
    h.provider.wait_for_grants(1).await;

    h.service.logout(Some(&signed_in.cookie)).await.expect("logged out");
    h.provider.release_refreshes();

    let result = racing.await.expect("no panic");
    assert!(matches!(result, Err(RefreshError::Ended)), "{:?}", result.err());
    assert!(!h.is_live(&signed_in.cookie).await, "the refresh did not bring it back");
    h.provider.wait_until_revoked("refresh-2").await;
    h.provider.wait_until_revoked(&signed_in.refresh_token).await;
}

#[tokio::test]
async fn a_refresh_continues_when_its_caller_hangs_up() {
    let h = harness();
    let (signed_in, active) = signed_in(&h).await;
    script_refresh(&h, Some(user("ann")), "refresh-2");
    h.provider.hold_refreshes();
    let service = h.service.clone();
    let caller = tokio::spawn(async move { service.refresh(active, RefreshKind::Explicit).await });
    h.provider.wait_for_grants(1).await;

    caller.abort();
    assert!(matches!(caller.await, Err(e) if e.is_cancelled()), "the caller is gone");
    h.provider.release_refreshes();

    eventually("the new refresh token is stored", async || {
        let stored = h.stored_tokens(&signed_in.cookie).await.expect("a live session");
        stored.refresh_token.as_deref() == Some("refresh-2")
    })
    .await;
    assert_eq!(h.provider.grants().len(), 1);
}

#[tokio::test]
async fn a_session_without_a_refresh_token_ends_when_its_access_token_expires() {
    let h = harness();
    for refresh_token in [None, Some("refresh-token")] {
        let started = h.start().await;
        let id_token = ScriptedProvider::id_token(json!({"sub": "ann", "nonce": started.nonce}));
        let mut tokens = ScriptedProvider::token_set(Some(id_token), refresh_token);
        tokens.access_token_expires_at = Some(crate::domain::now() - 1);
        h.provider.script_exchange(Ok(tokens));
        let cookie = h.finish(&started).await.expect("login completes").session;

        let live = h.is_live(cookie.as_str()).await;
        assert_eq!(live, refresh_token.is_some(), "with refresh token {refresh_token:?}");
        let stored = h.stored_tokens(cookie.as_str()).await;
        assert_eq!(stored.is_some(), refresh_token.is_some(), "and in the store");
    }
}

#[tokio::test]
async fn a_session_stored_before_refreshability_was_recorded_is_judged_by_its_tokens() {
    let h = harness();
    let ring = crate::crypto::KeyRing::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    for refresh_token in [None, Some("refresh-token")] {
        let started = h.start().await;
        let id_token = ScriptedProvider::id_token(json!({"sub": "ann", "nonce": started.nonce}));
        let mut tokens = ScriptedProvider::token_set(Some(id_token), refresh_token);
        tokens.access_token_expires_at = Some(crate::domain::now() - 1);
        h.provider.script_exchange(Ok(tokens));
        let cookie = h.finish(&started).await.expect("login completes").session;

        // Rewrite the record as an older release wrote it: seven metadata elements, tagged so.
        let key = cookie.key();
        let mut record = h.store.peek(&key).await.unwrap().expect("stored");
        assert_eq!(record.refreshable, Some(refresh_token.is_some()), "recorded at login");
        record.refreshable = None;
        record.tag = Some(ring.tag(&[key.0.as_bytes(), &record.metadata_bytes()]));
        h.store.save(&key, &record, Duration::from_secs(600)).await.unwrap();

        let live = h.is_live(cookie.as_str()).await;
        assert_eq!(live, refresh_token.is_some(), "with refresh token {refresh_token:?}");
    }
}
