//! A user's own sessions and the operator's view: handles, the user's index only, ending
//! one or all with their refresh tokens revoked.

use super::{harness, user};
use crate::session::{sub_of_handle, SessionId};

#[tokio::test]
async fn a_user_sees_only_their_own_sessions_by_handles_that_name_neither_cookie_nor_key() {
    let h = harness();
    let first = h.sign_in(user("ann")).await;
    let second = h.sign_in(user("ann")).await;
    h.sign_in(user("bob")).await;
    let current = SessionId::parse(&second.cookie).unwrap().key();
    let listed = h.service.sessions_of("ann", Some(&current)).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed.iter().filter(|s| s.current).count(), 1);
    for session in &listed {
        assert_eq!(session.sub, "ann");
        assert_eq!(sub_of_handle(&session.id).as_deref(), Some("ann"));
        assert!(!session.id.contains(&first.cookie) && !session.id.contains(&second.cookie));
        assert!(!session.id.contains(&current.0));
        assert!(session.created_at <= session.last_seen_at && session.last_seen_at < session.expires_at);
    }
}

#[tokio::test]
async fn ending_by_handle_needs_the_handle_of_that_users_live_session_and_revokes_its_refresh_token() {
    let h = harness();
    let ann = h.sign_in(user("ann")).await;
    let bob = h.sign_in(user("bob")).await;
    let bobs = h.service.sessions_of("bob", None).await.unwrap()[0].id.clone();
    assert!(
        !h.service.end_by_handle("ann", &bobs, "own_session").await.unwrap(),
        "not ann's"
    );
    assert!(!h.service.end_by_handle("ann", "garbage", "own_session").await.unwrap());
    assert!(h.is_live(&bob.cookie).await);
    assert!(h.service.end_by_handle("bob", &bobs, "admin").await.unwrap());
    assert!(!h.is_live(&bob.cookie).await);
    h.provider.wait_until_revoked(&bob.refresh_token).await;
    assert!(!h.service.end_by_handle("bob", &bobs, "admin").await.unwrap(), "once");
    assert!(h.is_live(&ann.cookie).await);
}

#[tokio::test]
async fn ending_all_of_a_users_sessions_can_spare_the_one_that_asked() {
    let h = harness();
    let kept = h.sign_in(user("ann")).await;
    let other = h.sign_in(user("ann")).await;
    let bob = h.sign_in(user("bob")).await;
    let key = SessionId::parse(&kept.cookie).unwrap().key();
    assert_eq!(h.service.end_all_of("ann", Some(&key), "everywhere").await.unwrap(), 1);
    assert!(h.is_live(&kept.cookie).await && !h.is_live(&other.cookie).await);
    h.provider.wait_until_revoked(&other.refresh_token).await;
    assert_eq!(h.service.end_all_of("ann", None, "admin").await.unwrap(), 1);
    assert!(!h.is_live(&kept.cookie).await && h.is_live(&bob.cookie).await);
}
