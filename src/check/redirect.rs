//! Is `OIDC_REDIRECT_URI` registered? Asked with the login's own authorization request:
//! pushed (PAR) where the provider has an endpoint for it — its answer is exact —, otherwise
//! opened like a browser would, redirects not followed, and the answer read.

use openidconnect::reqwest;
use url::Url;

use super::{provider_text, reach, Report};
use crate::config::Settings;
use crate::oidc::discovery::Discovered;
use crate::oidc::login;
use crate::oidc::probe::{self, Answer, Page};

/// A redirect URI no provider has registered (RFC 2606 reserves `.invalid`): a provider
/// that accepts it too does not check redirect URIs at this step.
const UNREGISTERED: &str = "https://redirect-uri-check.invalid/auth/callback";

/// OAuth error codes an error page may show.
const ERROR_CODES: &[&str] = &[
    "invalid_redirect_uri",
    "invalid_client",
    "invalid_scope",
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_request",
    "access_denied",
    "server_error",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Accepted; says how it showed.
    Registered(String),
    NotRegistered(String),
    UnknownClient(String),
    /// Refused for another reason (scope, grant, parameters).
    Refused(String),
    Undecided(String),
    /// No answer; the line to print.
    Unreachable(String),
}

pub(super) async fn check(settings: &Settings, http: &reqwest::Client, found: &Discovered, report: &mut Report) {
    let redirect_uri = &settings.provider.redirect_uri;
    let client_id = &settings.provider.client_id;
    match ask(settings, http, found, redirect_uri).await {
        Verdict::Registered(how) => {
            let control = Url::parse(UNREGISTERED).expect("a valid URL");
            match ask(settings, http, found, &control).await {
                Verdict::Registered(_) => report.warn(format!(
                    "cannot tell whether the redirect URI {redirect_uri} is registered: the provider accepted an unregistered one ({UNREGISTERED}) as well, so it checks later or not at all"
                )),
                _ => report.ok(format!("redirect URI {redirect_uri}: registered ({how})")),
            }
        }
        Verdict::NotRegistered(detail) => report.problem(format!(
            "the provider does not accept the redirect URI ({detail}): register exactly {redirect_uri} for client `{client_id}` at the provider, or set OIDC_REDIRECT_URI to the URI registered there"
        )),
        Verdict::UnknownClient(detail) => report.problem(format!(
            "the provider does not know client `{client_id}` ({detail}): check OIDC_CLIENT_ID"
        )),
        Verdict::Refused(detail) => report.problem(format!(
            "the provider refuses the authorization request ({detail}): check OIDC_SCOPES, OIDC_PROMPT and OIDC_EXTRA_AUTH_PARAMS"
        )),
        Verdict::Undecided(detail) => report.warn(format!(
            "cannot tell whether the redirect URI {redirect_uri} is registered: {detail}"
        )),
        // The browser goes there, not this service: it may well reach what this machine cannot.
        Verdict::Unreachable(line) => report.warn(format!("{line}; browsers may still reach it")),
    }
}

async fn ask(settings: &Settings, http: &reqwest::Client, found: &Discovered, redirect_uri: &Url) -> Verdict {
    let mut provider = settings.provider.clone();
    provider.redirect_uri = redirect_uri.clone();
    let request = login::authorization_request(&provider, &found.endpoints);
    // The login pushes its request where the provider has PAR (unless OIDC_PAR=never).
    if let Some(par) = &found.endpoints.pushed_authorization {
        // Anything short of an exact answer (the client refused, an outage) falls back to
        // the way a browser asks.
        if let Ok(answer) =
            probe::push_authorization_request(&provider, &found.endpoints, http, par, &request.url).await
        {
            if let Some(verdict) = pushed(&answer) {
                return verdict;
            }
        }
    }
    let url = &found.endpoints.authorization;
    match probe::open(http, &request.url).await {
        Ok(page) => opened(&page, redirect_uri),
        Err(e) => {
            let cause = reach::diagnose(&e, url, provider.http_timeout).await;
            Verdict::Unreachable(reach::line(
                "the authorization endpoint",
                url,
                &cause,
                "check OIDC_AUTHORIZATION_ENDPOINT",
                &provider,
            ))
        }
    }
}

/// The PAR endpoint's answer, when it is an exact one.
fn pushed(answer: &Answer) -> Option<Verdict> {
    let detail = |error: &str, description: &Option<String>| match description {
        Some(d) => format!(
            "pushed authorization request: {}: {}",
            provider_text(error),
            provider_text(d)
        ),
        None => format!("pushed authorization request: {}", provider_text(error)),
    };
    match answer {
        Answer::Accepted => Some(Verdict::Registered(
            "the pushed authorization request was accepted".into(),
        )),
        Answer::Refused { status: 401, .. } => None,
        Answer::Refused { status: 500.., .. } => None,
        Answer::Refused { error, .. } if error == "invalid_client" => None,
        Answer::Refused { error, description, .. } if error == "invalid_redirect_uri" => {
            Some(Verdict::NotRegistered(detail(error, description)))
        }
        Answer::Refused { error, description, .. } if error == "invalid_request" => {
            let about_redirect = description.as_deref().is_none_or(mentions_redirect_uri);
            Some(match about_redirect {
                true => Verdict::NotRegistered(detail(error, description)),
                false => Verdict::Refused(detail(error, description)),
            })
        }
        Answer::Refused { error, description, .. } => Some(Verdict::Refused(detail(error, description))),
        Answer::Unreadable { .. } => None,
    }
}

fn mentions_redirect_uri(text: &str) -> bool {
    let text = text.to_lowercase();
    [
        "redirect_uri",
        "redirect uri",
        "redirect url",
        "redirect_url",
        "redirecturi",
        "callback url",
    ]
    .iter()
    .any(|m| text.contains(m))
}

fn error_code(text: &str) -> Option<&'static str> {
    ERROR_CODES.iter().copied().find(|code| text.contains(code))
}

/// The part of an error redirect that names the error.
fn error_of(location: &Url) -> Option<(String, String)> {
    let mut error = None;
    let mut description = String::new();
    for (k, v) in location.query_pairs() {
        match k.as_ref() {
            "error" => error = Some(v.into_owned()),
            "error_description" => description = v.into_owned(),
            _ => {}
        }
    }
    error.map(|e| (e, description))
}

/// What opening the authorization URL shows.
fn opened(page: &Page, redirect_uri: &Url) -> Verdict {
    let status = page.status;
    match status {
        300..=399 => {
            let Some(location) = &page.location else {
                return Verdict::Undecided(format!(
                    "the authorization endpoint answered {status} without a Location"
                ));
            };
            let back = location.origin() == redirect_uri.origin() && location.path() == redirect_uri.path();
            match (back, error_of(location)) {
                // A provider redirects errors only to a registered URI (RFC 6749 §4.1.2.1).
                (true, Some((error, description))) => Verdict::Refused(format!(
                    "it redirected back with {}: {}",
                    provider_text(&error),
                    provider_text(&description)
                )),
                (true, None) => Verdict::Registered("the provider redirected straight back".into()),
                (false, Some((error, description))) => {
                    let detail = format!(
                        "its error redirect says {}: {}",
                        provider_text(&error),
                        provider_text(&description)
                    );
                    if error == "invalid_client" {
                        Verdict::UnknownClient(detail)
                    } else if error == "invalid_redirect_uri" || mentions_redirect_uri(&description) {
                        Verdict::NotRegistered(detail)
                    } else {
                        Verdict::Refused(detail)
                    }
                }
                (false, None) => Verdict::Registered("the provider redirects to its sign-in".into()),
            }
        }
        200..=299 => {
            let body = page.body.to_lowercase();
            let code = error_code(&body);
            let errorish = [
                "error",
                "invalid",
                "mismatch",
                "not match",
                "not registered",
                "not allowed",
            ]
            .iter()
            .any(|m| body.contains(m));
            if body.contains("type=\"password\"") || body.contains("type=password") {
                Verdict::Registered("the provider shows its sign-in page".into())
            } else if mentions_redirect_uri(&body) && errorish {
                Verdict::NotRegistered(format!(
                    "the authorization endpoint shows an error page about the redirect URI{}",
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                ))
            } else if code == Some("invalid_client") {
                Verdict::UnknownClient("the authorization endpoint shows an invalid_client error page".into())
            } else if body.contains("<form") {
                Verdict::Registered("the provider shows a form, presumably its sign-in".into())
            } else {
                Verdict::Undecided(format!(
                    "the authorization endpoint answered {status} with a page that is neither a sign-in form nor an error this check can read"
                ))
            }
        }
        400..=499 => {
            let body = page.body.to_lowercase();
            let detail = match error_code(&body) {
                Some(code) => format!("the authorization endpoint answered {status}, {code}"),
                None => format!("the authorization endpoint answered {status}"),
            };
            match error_code(&body) {
                Some("invalid_client") => Verdict::UnknownClient(detail),
                Some("invalid_scope" | "unauthorized_client" | "unsupported_response_type") => Verdict::Refused(detail),
                _ => Verdict::NotRegistered(detail),
            }
        }
        _ => Verdict::Undecided(format!("the authorization endpoint answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: u16, location: Option<&str>, body: &str) -> Page {
        Page {
            status,
            location: location.map(|l| Url::parse(l).unwrap()),
            body: body.into(),
        }
    }

    fn callback() -> Url {
        Url::parse("https://app.example.com/auth/callback").unwrap()
    }

    #[test]
    fn a_redirect_to_the_providers_sign_in_or_straight_back_means_registered() {
        let to_login = page(303, Some("https://id.example.com/interaction/abc"), "");
        assert!(matches!(opened(&to_login, &callback()), Verdict::Registered(_)));
        let back = page(302, Some("https://app.example.com/auth/callback?code=x&state=y"), "");
        assert!(matches!(opened(&back, &callback()), Verdict::Registered(_)));
    }

    #[test]
    fn an_error_redirected_back_is_about_the_request_not_the_redirect_uri() {
        let back = page(
            302,
            Some("https://app.example.com/auth/callback?error=invalid_scope&error_description=nope"),
            "",
        );
        assert!(matches!(opened(&back, &callback()), Verdict::Refused(d) if d.contains("invalid_scope")));
    }

    #[test]
    fn a_4xx_is_a_mismatch_unless_it_names_the_client_or_the_scope() {
        let mismatch = page(400, None, "<pre>error: invalid_redirect_uri</pre>");
        assert!(
            matches!(opened(&mismatch, &callback()), Verdict::NotRegistered(d) if d.contains("invalid_redirect_uri"))
        );
        assert!(matches!(
            opened(&page(400, None, "Invalid parameter: redirect_uri"), &callback()),
            Verdict::NotRegistered(_)
        ));
        assert!(matches!(
            opened(&page(400, None, "error: invalid_client"), &callback()),
            Verdict::UnknownClient(_)
        ));
        assert!(matches!(
            opened(&page(400, None, "error=invalid_scope"), &callback()),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn pages_are_read_for_a_sign_in_form_or_a_redirect_uri_error() {
        let login = page(
            200,
            None,
            r#"<form method="post"><input type="password" name="password"></form>"#,
        );
        assert!(matches!(opened(&login, &callback()), Verdict::Registered(_)));
        let error = page(200, None, "<h1>Error</h1><p>The redirect URI does not match</p>");
        assert!(matches!(opened(&error, &callback()), Verdict::NotRegistered(_)));
        let blank = page(200, None, "<div id=app></div><script src=app.js></script>");
        assert!(matches!(opened(&blank, &callback()), Verdict::Undecided(_)));
        assert!(matches!(
            opened(&page(500, None, ""), &callback()),
            Verdict::Undecided(_)
        ));
    }

    #[test]
    fn a_pushed_request_is_exact_but_a_refused_client_or_an_outage_falls_back() {
        let refused = |status, error: &str, description: Option<&str>| Answer::Refused {
            status,
            error: error.into(),
            description: description.map(Into::into),
        };
        let mismatch = refused(
            400,
            "invalid_request",
            Some("redirect_uri did not match any of the client's registered redirect_uris"),
        );
        assert!(matches!(pushed(&mismatch), Some(Verdict::NotRegistered(_))));
        assert!(matches!(
            pushed(&refused(400, "invalid_redirect_uri", None)),
            Some(Verdict::NotRegistered(_))
        ));
        assert!(matches!(
            pushed(&refused(400, "invalid_request", Some("prompt must be a string"))),
            Some(Verdict::Refused(_))
        ));
        assert!(matches!(pushed(&Answer::Accepted), Some(Verdict::Registered(_))));
        assert_eq!(pushed(&refused(401, "invalid_client", None)), None);
        assert_eq!(pushed(&Answer::Unreadable { status: 500 }), None);
    }
}
