//! Refuses state-changing browser requests from other sites (login/logout CSRF).

use poem::Request;

use crate::service::Service;

/// `Origin` (or, without it, `Sec-Fetch-Site`) must show this site or an allowed origin.
/// Requests without either come from non-browser clients and pass.
pub(crate) fn check(req: &Request, service: &Service) -> Result<(), &'static str> {
    if let Some(origin) = req.header("origin") {
        return if trusted(origin, service) {
            Ok(())
        } else {
            Err("cross-site request refused")
        };
    }
    match req.header("sec-fetch-site") {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(_) => Err("cross-site request refused"),
    }
}

fn trusted(origin: &str, service: &Service) -> bool {
    url::Url::parse(origin).is_ok_and(|u| service.is_trusted_origin(&u.origin()))
}

/// A navigation started elsewhere: `Sec-Fetch-Site: cross-site`, or `same-site` (a sibling
/// subdomain, which may be another team's app) unless its `Origin` is this service's own or
/// an allowed return origin. Same-origin, typed-in (`none`) and older browsers' requests
/// (no header) are not.
pub(crate) fn is_cross_site(req: &Request, service: &Service) -> bool {
    from_elsewhere(req.header("sec-fetch-site"), req.header("origin"), |o| {
        trusted(o, service)
    })
}

fn from_elsewhere(fetch_site: Option<&str>, origin: Option<&str>, trusted: impl Fn(&str) -> bool) -> bool {
    match fetch_site {
        Some("cross-site") => true,
        Some("same-site") => !origin.is_some_and(trusted),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::from_elsewhere;

    fn ours(origin: &str) -> bool {
        origin == "https://app.example.com"
    }

    #[test]
    fn same_site_counts_as_elsewhere_unless_its_origin_is_trusted() {
        assert!(from_elsewhere(Some("same-site"), None, ours));
        assert!(from_elsewhere(
            Some("same-site"),
            Some("https://other.example.com"),
            ours
        ));
        assert!(!from_elsewhere(
            Some("same-site"),
            Some("https://app.example.com"),
            ours
        ));
    }

    #[test]
    fn cross_site_is_elsewhere_and_same_origin_typed_in_or_no_header_is_not() {
        assert!(from_elsewhere(
            Some("cross-site"),
            Some("https://app.example.com"),
            ours
        ));
        for fetch_site in [Some("same-origin"), Some("none"), None] {
            assert!(!from_elsewhere(fetch_site, None, ours), "{fetch_site:?}");
        }
    }
}
