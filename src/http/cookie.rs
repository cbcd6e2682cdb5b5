//! The session cookie and the short-lived cookie that binds a login to its browser.

use std::time::Duration;

use poem::web::cookie::{Cookie, SameSite as PoemSameSite};

use crate::config::{CookieSettings, SameSite};
use crate::session::SessionId;
use crate::util::sha256_hex;

#[derive(Debug, Clone)]
pub(crate) struct Cookies {
    settings: CookieSettings,
}

impl Cookies {
    pub(crate) fn new(settings: CookieSettings) -> Self {
        Self { settings }
    }

    pub(crate) fn session_name(&self) -> &str {
        &self.settings.name
    }

    /// One binding cookie per pending login, so logins in two tabs do not collide.
    pub(crate) fn binding_name(&self, state: &str) -> String {
        format!("{}_login_{}", self.settings.name, &sha256_hex(state.as_bytes())[..12])
    }

    fn base(&self, name: String, value: &str) -> Cookie {
        let mut cookie = Cookie::new_with_str(name, value);
        cookie.set_http_only(true);
        cookie.set_secure(self.settings.secure);
        cookie.set_path("/");
        if let Some(domain) = &self.settings.domain {
            cookie.set_domain(domain);
        }
        cookie
    }

    pub(crate) fn session(&self, id: &SessionId, max_age: Duration) -> Cookie {
        let mut cookie = self.base(self.settings.name.clone(), id.as_str());
        cookie.set_same_site(Some(match self.settings.same_site {
            SameSite::Lax => PoemSameSite::Lax,
            SameSite::Strict => PoemSameSite::Strict,
            SameSite::None => PoemSameSite::None,
        }));
        cookie.set_max_age(max_age);
        cookie
    }

    pub(crate) fn clear_session(&self) -> Cookie {
        let mut cookie = self.session_removal(self.settings.name.clone());
        cookie.set_same_site(Some(PoemSameSite::Lax));
        cookie
    }

    /// Lax, never Strict: the provider's redirect back is a cross-site navigation.
    pub(crate) fn binding(&self, state: &str, value: &str, max_age: Duration) -> Cookie {
        let mut cookie = self.base(self.binding_name(state), value);
        cookie.set_same_site(Some(PoemSameSite::Lax));
        cookie.set_max_age(max_age);
        cookie
    }

    pub(crate) fn clear_binding(&self, state: &str) -> Cookie {
        let mut cookie = self.session_removal(self.binding_name(state));
        cookie.set_same_site(Some(PoemSameSite::Lax));
        cookie
    }

    fn session_removal(&self, name: String) -> Cookie {
        let mut cookie = self.base(name, "");
        cookie.set_max_age(Duration::ZERO);
        cookie
    }
}

/// Finds a cookie's value in a `Cookie` request header.
pub(crate) fn find_in_header<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others_in_a_forwarded_header() {
        let header = "a=1; oidc_session=abc; b=2";
        assert_eq!(find_in_header(header, "oidc_session"), Some("abc"));
        assert_eq!(find_in_header(header, "oidc"), None);
        assert_eq!(find_in_header("garbage", "oidc_session"), None);
    }
}
