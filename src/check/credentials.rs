//! Client credentials: the callback's token request with a made-up code. A provider
//! authenticates the client before it looks at the code, so `invalid_client` (or 401) means
//! the client id, secret or method is wrong, and `invalid_grant` means they were accepted.

use openidconnect::{reqwest, CsrfToken};

use super::{advertised_methods, endpoint_fix, provider_text, reach, Report};
use crate::config::{ClientAuth, ProviderSettings, Secret, Settings};
use crate::oidc::discovery::Discovered;
use crate::oidc::probe::{self, Answer, ProbeError};
use crate::util::error_chain;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The client was not authenticated.
    ClientRefused,
    /// Either of the two above: some providers answer a wrong secret with
    /// `unauthorized_client` or a bare 401/403, as they answer a client without the grant.
    ClientOrGrantRefused,
    /// The client was authenticated; the (made-up) code was refused.
    CodeRefused,
    /// The client may not use the authorization code grant.
    GrantNotAllowed,
    /// Nothing to conclude from.
    Undecided,
}

fn verdict(answer: &Answer) -> Verdict {
    match answer {
        Answer::Refused { error, .. } if error == "invalid_client" => Verdict::ClientRefused,
        Answer::Refused { status: 500.., .. } => Verdict::Undecided,
        Answer::Refused { error, .. } if error == "unauthorized_client" => Verdict::ClientOrGrantRefused,
        Answer::Unreadable { status: 401 | 403 } => Verdict::ClientOrGrantRefused,
        Answer::Refused { status: 401, .. } => Verdict::ClientRefused,
        Answer::Refused { error, .. } if error == "invalid_grant" => Verdict::CodeRefused,
        Answer::Refused { error, .. } if error == "unsupported_grant_type" => Verdict::GrantNotAllowed,
        // "Any other error about the code": only a description can say that it is one.
        Answer::Refused { error, description, .. }
            if error == "invalid_request"
                && description
                    .as_deref()
                    .is_some_and(|d| d.to_lowercase().contains("code")) =>
        {
            Verdict::CodeRefused
        }
        _ => Verdict::Undecided,
    }
}

fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Accepted => "tokens for a made-up code".to_owned(),
        Answer::Refused {
            status,
            error,
            description,
        } => match description {
            Some(d) => format!("{status} {}: {}", provider_text(error), provider_text(d)),
            None => format!("{status} {}", provider_text(error)),
        },
        Answer::Unreadable { status } => format!("HTTP {status} without an OAuth error"),
    }
}

pub(super) async fn check(settings: &Settings, http: &reqwest::Client, found: &Discovered, report: &mut Report) {
    let provider = &settings.provider;
    let url = &found.endpoints.token;
    let answer = match probe::made_up_code_grant(provider, &found.endpoints, http).await {
        Ok(answer) => answer,
        Err(ProbeError::Sign(e)) => {
            return report.problem(format!(
                "cannot sign a client assertion for the token endpoint ({}): check OIDC_CLIENT_PRIVATE_KEY",
                error_chain(&e)
            ))
        }
        Err(ProbeError::Unreachable(e)) => {
            let cause = reach::diagnose(&e, url, provider.http_timeout).await;
            let fix = endpoint_fix("OIDC_TOKEN_ENDPOINT", url, provider.token_endpoint.is_some(), settings);
            return report.problem(reach::line("the token endpoint", url, &cause, &fix, provider));
        }
    };
    let method = provider.client_auth.as_str();
    match verdict(&answer) {
        Verdict::ClientRefused => report.problem(refused(provider, http, found, &answer, false).await),
        Verdict::ClientOrGrantRefused => report.problem(refused(provider, http, found, &answer, true).await),
        Verdict::CodeRefused => {
            // A provider that reads the code before the client answers a stranger alike:
            // then the answer above proves nothing.
            let stranger = ProviderSettings {
                client_id: format!("oidc-session-check-{}", CsrfToken::new_random().secret()),
                client_auth: match &provider.client_auth {
                    ClientAuth::SecretBasic(_) => ClientAuth::SecretBasic(made_up_secret()),
                    ClientAuth::SecretPost(_) => ClientAuth::SecretPost(made_up_secret()),
                    other => other.clone(),
                },
                ..provider.clone()
            };
            match probe::made_up_code_grant(&stranger, &found.endpoints, http).await {
                Ok(control) if verdict(&control) == Verdict::ClientRefused => report.ok(format!(
                    "client credentials: accepted by the token endpoint ({method}; a made-up code got {})",
                    describe(&answer)
                )),
                Ok(control) => report.warn(format!(
                    "cannot tell whether the client credentials are right: the token endpoint answers an unknown client the same way ({}); the first sign-in will tell",
                    describe(&control)
                )),
                Err(_) => report.warn("cannot tell whether the client credentials are right: the token endpoint stopped answering"),
            }
        }
        Verdict::GrantNotAllowed => report.problem(format!(
            "the provider does not let client `{}` use the authorization code flow ({}): {GRANT_FIX}",
            provider.client_id,
            describe(&answer)
        )),
        Verdict::Undecided => report.warn(format!(
            "cannot tell whether the client credentials are right: a token request with a made-up code got {}",
            describe(&answer)
        )),
    }
}

fn made_up_secret() -> Secret {
    Secret::new(CsrfToken::new_random().secret().clone())
}

const GRANT_FIX: &str = "allow the authorization_code grant (standard flow) for this client at the provider";

/// The line for refused credentials. The other ways to send the same credentials are tried
/// first: when one is accepted, the line names the exact value to set. `or_grant`: the
/// answer may also mean a missing grant, named second as the rarer cause.
async fn refused(
    provider: &ProviderSettings,
    http: &reqwest::Client,
    found: &Discovered,
    answer: &Answer,
    or_grant: bool,
) -> String {
    let id = &provider.client_id;
    let method = provider.client_auth.as_str();
    // The same secret, sent the other ways.
    let others = match &provider.client_auth {
        ClientAuth::SecretBasic(secret) => vec![ClientAuth::SecretPost(secret.clone()), ClientAuth::None],
        ClientAuth::SecretPost(secret) => vec![ClientAuth::SecretBasic(secret.clone()), ClientAuth::None],
        ClientAuth::None | ClientAuth::PrivateKeyJwt(_) => Vec::new(),
    };
    for other in others {
        let attempt = ProviderSettings {
            client_auth: other.clone(),
            ..provider.clone()
        };
        let accepted = probe::made_up_code_grant(&attempt, &found.endpoints, http)
            .await
            .is_ok_and(|a| verdict(&a) == Verdict::CodeRefused);
        if !accepted {
            continue;
        }
        return match other {
            ClientAuth::None => format!(
                "the token endpoint refuses client `{id}` with a secret ({}) but accepts it without one: the provider registered it as a public client: unset OIDC_CLIENT_SECRET and OIDC_CLIENT_AUTH_METHOD, or make the client confidential at the provider",
                describe(answer)
            ),
            other => {
                let name = other.as_str();
                format!(
                    "the token endpoint refuses {method} for client `{id}` ({}) but accepts {name}: set OIDC_CLIENT_AUTH_METHOD={name}",
                    describe(answer)
                )
            }
        };
    }
    let advertised = advertised_methods(found).join(", ");
    let line = match &provider.client_auth {
        ClientAuth::None => format!(
            "the token endpoint refuses client `{id}` without a secret ({}): if the provider registered it as confidential, set OIDC_CLIENT_SECRET (and OIDC_CLIENT_AUTH_METHOD to the registered method; the provider advertises {advertised}); otherwise check OIDC_CLIENT_ID",
            describe(answer)
        ),
        ClientAuth::PrivateKeyJwt(_) => format!(
            "the token endpoint refuses client `{id}` with private_key_jwt ({}): check OIDC_CLIENT_ID, and that the provider holds this service's public key (the jwks_uri above, or the key of OIDC_CLIENT_PRIVATE_KEY) and expects private_key_jwt (the provider advertises {advertised})",
            describe(answer)
        ),
        _ => format!(
            "the token endpoint refuses the client credentials ({}) sent with {method}: check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET, and set OIDC_CLIENT_AUTH_METHOD to the method registered for this client (the provider advertises {advertised})",
            describe(answer)
        ),
    };
    if or_grant {
        or_grant_line(&line)
    } else {
        line
    }
}

/// The credentials line, then the other cause of the same answer.
fn or_grant_line(credentials: &str) -> String {
    format!("{credentials}; if they are right, the client may lack the code grant: {GRANT_FIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, error: &str, description: Option<&str>) -> Answer {
        Answer::Refused {
            status,
            error: error.into(),
            description: description.map(Into::into),
        }
    }

    #[test]
    fn invalid_client_or_401_means_the_credentials_are_wrong() {
        assert_eq!(verdict(&refused(401, "invalid_client", None)), Verdict::ClientRefused);
        assert_eq!(verdict(&refused(400, "invalid_client", None)), Verdict::ClientRefused);
        assert_eq!(verdict(&refused(401, "invalid_request", None)), Verdict::ClientRefused);
    }

    #[test]
    fn unauthorized_client_or_a_bare_401_or_403_may_be_either_the_credentials_or_the_grant() {
        for answer in [
            refused(403, "unauthorized_client", None),
            refused(400, "unauthorized_client", Some("client not allowed")),
            Answer::Unreadable { status: 401 },
            Answer::Unreadable { status: 403 },
        ] {
            assert_eq!(verdict(&answer), Verdict::ClientOrGrantRefused, "{answer:?}");
        }
        assert_eq!(
            verdict(&refused(400, "unsupported_grant_type", None)),
            Verdict::GrantNotAllowed
        );
    }

    #[test]
    fn the_line_for_either_cause_names_the_credentials_first_and_the_grant_second() {
        let line = or_grant_line("check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET");
        let credentials = line.find("OIDC_CLIENT_SECRET").expect("names the secret");
        let grant = line.find("authorization_code grant").expect("names the grant");
        assert!(credentials < grant, "{line}");
    }

    #[test]
    fn an_error_about_the_code_means_the_credentials_were_accepted() {
        assert_eq!(verdict(&refused(400, "invalid_grant", None)), Verdict::CodeRefused);
        assert_eq!(
            verdict(&refused(400, "invalid_request", Some("Code not valid"))),
            Verdict::CodeRefused
        );
    }

    #[test]
    fn server_errors_and_unknown_answers_decide_nothing() {
        assert_eq!(verdict(&refused(500, "invalid_grant", None)), Verdict::Undecided);
        assert_eq!(verdict(&Answer::Unreadable { status: 500 }), Verdict::Undecided);
        assert_eq!(verdict(&Answer::Accepted), Verdict::Undecided);
        assert_eq!(
            verdict(&refused(400, "invalid_request", Some("missing parameter"))),
            Verdict::Undecided
        );
    }
}
