//! RP-Initiated Logout 1.0: where to send the browser after the local session ended.

use url::Url;

/// The provider's end-session URL with `id_token_hint`, `client_id`,
/// `post_logout_redirect_uri` (if configured) and `state`.
pub(crate) fn end_session_url(
    endpoint: &Url,
    id_token_hint: Option<&str>,
    client_id: &str,
    post_logout_redirect_uri: Option<&Url>,
    state: &str,
) -> Url {
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        if let Some(hint) = id_token_hint {
            query.append_pair("id_token_hint", hint);
        }
        query.append_pair("client_id", client_id);
        if let Some(uri) = post_logout_redirect_uri {
            query.append_pair("post_logout_redirect_uri", uri.as_str());
        }
        query.append_pair("state", state);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_session_url_keeps_the_endpoints_own_query() {
        let endpoint = Url::parse("https://id.example/logout?realm=x").unwrap();
        let post = Url::parse("https://app.example/bye").unwrap();
        let url = end_session_url(&endpoint, Some("hint"), "app", Some(&post), "s1");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("realm".into(), "x".into()));
        assert!(pairs.contains(&("id_token_hint".into(), "hint".into())));
        assert!(pairs.contains(&("post_logout_redirect_uri".into(), "https://app.example/bye".into())));
        assert!(pairs.contains(&("state".into(), "s1".into())));
    }
}
