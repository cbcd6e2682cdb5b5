//! Refuses state-changing browser requests from other sites (login/logout CSRF).

use poem::Request;

use crate::service::Service;

/// `Origin` (or, without it, `Sec-Fetch-Site`) must show this site or an allowed origin.
/// Requests without either come from non-browser clients and pass.
pub(crate) fn check(req: &Request, service: &Service) -> Result<(), &'static str> {
    if let Some(origin) = req.header("origin") {
        let ok = url::Url::parse(origin).is_ok_and(|u| service.is_trusted_origin(&u.origin()));
        return if ok { Ok(()) } else { Err("cross-site request refused") };
    }
    match req.header("sec-fetch-site") {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(_) => Err("cross-site request refused"),
    }
}

/// A navigation started by another site (`Sec-Fetch-Site: cross-site`). Same-site,
/// same-origin, typed-in (`none`) and older browsers' requests (no header) are not.
pub(crate) fn is_cross_site(req: &Request) -> bool {
    req.header("sec-fetch-site") == Some("cross-site")
}
