//! RP-initiated logout: the session ends, its refresh token is revoked, and the browser
//! goes to the provider with an ID token hint.

use super::{harness, user, CLIENT_ID, ISSUER};

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn logout_ends_the_session_revokes_its_refresh_token_and_sends_an_id_token_hint() {
    let h = harness();
    let signed_in = h.sign_in(user("ann")).await;
    let other = h.sign_in(user("bob")).await;

    let to = h.service.logout(Some(&signed_in.cookie)).await.expect("logged out");
    assert!(!h.is_live(&signed_in.cookie).await, "the session ended");
    assert!(h.is_live(&other.cookie).await, "and no other");
    h.provider.wait_until_revoked(&signed_in.refresh_token).await;
    assert!(!h.provider.revoked().contains(&other.refresh_token));

    assert_eq!(to.as_str().split('?').next(), Some(format!("{ISSUER}/logout").as_str()));
    assert_eq!(query(&to, "id_token_hint"), Some(signed_in.id_token));
    assert_eq!(query(&to, "client_id").as_deref(), Some(CLIENT_ID));
    assert!(query(&to, "state").is_some_and(|s| !s.is_empty()));
}

#[tokio::test]
async fn logout_without_a_session_still_leads_to_the_provider_without_a_hint() {
    let h = harness();
    for cookie in [None, Some("not-a-session-id"), Some("A".repeat(43).as_str())] {
        let to = h.service.logout(cookie).await.expect("logged out");
        assert_eq!(to.as_str().split('?').next(), Some(format!("{ISSUER}/logout").as_str()));
        assert_eq!(query(&to, "id_token_hint"), None);
    }
    assert!(h.provider.revoked().is_empty());
}
