//! `GET /auth/logout` reached from another site (a link or an auto-submitted form there:
//! logout CSRF) ends nothing: the browser gets a page whose button signs out with a POST
//! from this site instead.

use poem_openapi::payload::Html;
use poem_openapi::ApiResponse;

#[derive(ApiResponse)]
pub(crate) enum LogoutGet {
    /// Signed out: go on to the provider's logout (or the post-logout page).
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
    /// A cross-site navigation (`Sec-Fetch-Site: cross-site`): nothing has ended; the
    /// page's button signs out with a same-site POST.
    #[oai(status = 200)]
    Confirm(
        Html<&'static str>,
        #[oai(header = "Content-Security-Policy")] String,
        #[oai(header = "X-Frame-Options")] String,
    ),
}

/// No script, and no framing: another site cannot click the button for the user.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

// `action="logout"` is relative, so it stays right behind a proxy that adds a path prefix.
const PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out?</title>\
<meta name=\"viewport\" content=\"width=device-width\"></head>\
<body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em\">\
<h1>Sign out?</h1><p>Another site sent you here to sign you out. Nothing has changed yet.</p>\
<form method=\"post\" action=\"logout\"><button type=\"submit\">Sign out</button></form></body></html>";

/// The same page for `everywhere=true`: its button ends every session of the user.
const PAGE_EVERYWHERE: &str =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out everywhere?</title>\
<meta name=\"viewport\" content=\"width=device-width\"></head>\
<body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em\">\
<h1>Sign out everywhere?</h1><p>This ends every session of your account, on every device. Nothing has changed yet.</p>\
<form method=\"post\" action=\"logout\"><input type=\"hidden\" name=\"everywhere\" value=\"true\">\
<button type=\"submit\">Sign out everywhere</button></form></body></html>";

impl LogoutGet {
    pub(crate) fn confirm() -> Self {
        Self::Confirm(Html(PAGE), POLICY.to_owned(), "DENY".to_owned())
    }

    /// The confirmation of a sign-out everywhere: never done by a GET alone.
    pub(crate) fn confirm_everywhere() -> Self {
        Self::Confirm(Html(PAGE_EVERYWHERE), POLICY.to_owned(), "DENY".to_owned())
    }
}
