//! Back-channel logout: by `sid`, by `sub`, replays, retries after a store failure, and
//! the key re-fetch budget anonymous callers may use.

use std::sync::Arc;

use serde_json::{json, Value};

use super::failing::FailingStore;
use super::forge::{logout_claims, TestSigner};
use super::scripted::{attackers_key, first_key, rotated_key, ScriptedProvider};
use super::{harness, harness_on, user, Harness, CLIENT_ID, ISSUER};
use crate::domain::now;
use crate::oidc::keys::KeyRequester;
use crate::service::backchannel::BackchannelError;

/// A logout token for `sub` and/or `sid` (`null` leaves a claim out), signed by `key`.
fn logout_token(key: &TestSigner, sub: Value, sid: Value) -> String {
    let mut claims = logout_claims(ISSUER, CLIENT_ID, now());
    for (name, value) in [("sub", sub), ("sid", sid)] {
        match value {
            Value::Null => claims.as_object_mut().expect("an object").remove(name),
            value => claims.as_object_mut().expect("an object").insert(name.into(), value),
        };
    }
    key.sign(key.logout_header(), claims)
}

async fn logout(h: &Harness, token: &str) -> Result<usize, BackchannelError> {
    h.service.backchannel_logout(token).await
}

/// A user `sub` signed in on a device in provider session `sid`.
fn on_device(sub: &str, sid: &str) -> Value {
    let mut claims = user(sub);
    claims["sid"] = sid.into();
    claims
}

#[tokio::test]
async fn a_logout_token_with_a_sid_ends_the_sessions_of_that_provider_session_only() {
    let h = harness();
    let laptop = h.sign_in(on_device("ann", "sid-laptop")).await;
    let phone = h.sign_in(on_device("ann", "sid-phone")).await;

    let token = logout_token(first_key(), json!("ann"), json!("sid-laptop"));
    assert_eq!(logout(&h, &token).await.expect("accepted"), 1);
    assert!(!h.is_live(&laptop.cookie).await);
    assert!(
        h.is_live(&phone.cookie).await,
        "another provider session of the same user"
    );
    h.provider.wait_until_revoked(&laptop.refresh_token).await;
}

#[tokio::test]
async fn a_sid_that_matches_a_session_of_another_subject_ends_nothing() {
    let h = harness();
    let ann = h.sign_in(on_device("ann", "sid-shared")).await;

    let token = logout_token(first_key(), json!("mallory"), json!("sid-shared"));
    assert_eq!(logout(&h, &token).await.expect("accepted"), 0);
    assert!(h.is_live(&ann.cookie).await);
}

#[tokio::test]
async fn a_logout_token_with_only_a_sub_ends_every_session_of_that_user() {
    let h = harness();
    let laptop = h.sign_in(on_device("ann", "sid-laptop")).await;
    let phone = h.sign_in(on_device("ann", "sid-phone")).await;
    let bob = h.sign_in(user("bob")).await;

    let token = logout_token(first_key(), json!("ann"), Value::Null);
    assert_eq!(logout(&h, &token).await.expect("accepted"), 2);
    assert!(!h.is_live(&laptop.cookie).await && !h.is_live(&phone.cookie).await);
    assert!(h.is_live(&bob.cookie).await, "another user's session");
    h.provider.wait_until_revoked(&laptop.refresh_token).await;
    h.provider.wait_until_revoked(&phone.refresh_token).await;
}

#[tokio::test]
async fn a_replayed_logout_token_is_refused_and_ends_nothing() {
    let h = harness();
    h.sign_in(user("ann")).await;
    let token = logout_token(first_key(), json!("ann"), Value::Null);
    assert_eq!(logout(&h, &token).await.expect("accepted"), 1);

    let again = h.sign_in(user("ann")).await;
    let replay = logout(&h, &token).await;
    assert!(matches!(replay, Err(BackchannelError::Replayed)), "{replay:?}");
    assert!(h.is_live(&again.cookie).await, "the session signed in since stays");
}

#[tokio::test]
async fn a_store_failing_midway_lets_the_providers_retry_end_the_rest() {
    let store = Arc::new(FailingStore::new());
    let h = harness_on(store.clone(), &[]);
    let laptop = h.sign_in(on_device("ann", "sid-laptop")).await;
    let phone = h.sign_in(on_device("ann", "sid-phone")).await;
    let token = logout_token(first_key(), json!("ann"), Value::Null);

    store.fail_removal_after(1);
    let failed = logout(&h, &token).await;
    assert!(matches!(failed, Err(BackchannelError::Store(_))), "{failed:?}");
    let live = [h.is_live(&laptop.cookie).await, h.is_live(&phone.cookie).await];
    assert_eq!(live.iter().filter(|l| **l).count(), 1, "one ended before the failure");

    assert_eq!(logout(&h, &token).await.expect("the retry is accepted"), 1);
    assert!(!h.is_live(&laptop.cookie).await && !h.is_live(&phone.cookie).await);
}

#[tokio::test]
async fn anonymous_logout_tokens_with_unknown_keys_leave_the_key_refetch_budget_of_logins_alone() {
    let h = harness();
    let forged = logout_token(attackers_key(), json!("ann"), Value::Null);
    for _ in 0..3 {
        let refused = logout(&h, &forged).await;
        assert!(matches!(refused, Err(BackchannelError::Invalid(_))), "{refused:?}");
    }
    assert_eq!(h.provider.refetches(), [KeyRequester::Anonymous]);

    h.provider.rotate_keys();
    let started = h.start().await;
    let claims = json!({"sub": "ann", "nonce": started.nonce});
    let id_token = ScriptedProvider::id_token_signed_by(rotated_key(), claims);
    h.provider
        .script_exchange(Ok(ScriptedProvider::token_set(Some(id_token), None)));
    h.finish(&started)
        .await
        .expect("a login signed with the rotated key completes");
    assert_eq!(
        h.provider.refetches(),
        [KeyRequester::Anonymous, KeyRequester::TokenEndpoint]
    );
}

#[tokio::test]
async fn a_session_refreshed_with_another_sid_can_still_be_ended_by_a_logout_token_for_its_sid() {
    let h = harness();
    let signed_in = h.sign_in(on_device("ann", "sid-at-login")).await;
    let active = h.active(&signed_in.cookie).await.expect("a live session");
    let id_token = ScriptedProvider::id_token(on_device("ann", "sid-after-refresh"));
    h.provider
        .script_refresh(Ok(ScriptedProvider::token_set(Some(id_token), Some("refresh-2"))));
    h.service
        .refresh(active, crate::service::refresh::RefreshKind::Explicit)
        .await
        .expect("refreshed");

    let token = logout_token(first_key(), json!("ann"), json!("sid-at-login"));
    assert_eq!(logout(&h, &token).await.expect("accepted"), 1);
    assert!(!h.is_live(&signed_in.cookie).await);
}

#[tokio::test]
async fn a_back_channel_logout_ends_its_sessions_without_waiting_for_the_revocation_endpoint() {
    let h = harness();
    let devices = [
        h.sign_in(on_device("ann", "sid-a")).await,
        h.sign_in(on_device("ann", "sid-b")).await,
        h.sign_in(on_device("ann", "sid-c")).await,
    ];
    h.provider.hold_revocations(); // the provider's revocation endpoint hangs

    let token = logout_token(first_key(), json!("ann"), Value::Null);
    assert_eq!(logout(&h, &token).await.expect("answered while revocations hang"), 3);
    for device in &devices {
        assert!(
            !h.is_live(&device.cookie).await,
            "ended before any revocation completed"
        );
    }
    assert!(h.provider.revoked().is_empty(), "no revocation has completed yet");

    h.provider.release_revocations();
    for device in &devices {
        h.provider.wait_until_revoked(&device.refresh_token).await;
    }
}
