//! The sections of [`super::Settings`], each parsed from the raw strings on its own; a
//! section is `None` when one of its variables has a problem (recorded in [`Problems`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::raw::Raw;
use super::settings::*;
use super::{parse, Problems};
use crate::crypto::KeyRing;
use crate::domain::access::{Rule, Values};
use crate::domain::{ClaimPath, SignInRules};

pub(super) fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::to_owned)
}

/// Every duration variable, parsed once (several sections use some of them).
pub(super) struct Durations {
    http_timeout: Option<Duration>,
    clock_skew: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    login_timeout: Option<Duration>,
    refresh_leeway: Option<Duration>,
}

pub(super) fn durations(raw: &Raw, p: &mut Problems) -> Durations {
    // Each duration has a maximum far beyond any sensible setting: an absurd value is a
    // configuration error here, never an overflowing clock addition later.
    let duration = |p: &mut Problems, var, raw: &Option<String>, default, max| {
        p.or_default(var, raw.as_deref(), default, |v| parse::duration_at_most(v, max))
    };
    let http_timeout = duration(p, "OIDC_HTTP_TIMEOUT", &raw.http_timeout, "10s", "5m");
    let clock_skew = duration(p, "OIDC_CLOCK_SKEW", &raw.clock_skew, "60s", "10m");
    let idle_timeout = duration(p, "OIDC_SESSION_IDLE_TIMEOUT", &raw.session_idle_timeout, "8h", "365d");
    let max_lifetime = duration(p, "OIDC_SESSION_MAX_LIFETIME", &raw.session_max_lifetime, "7d", "365d");
    let login_timeout = duration(p, "OIDC_LOGIN_TIMEOUT", &raw.login_timeout, "10m", "1d");
    let refresh_leeway = duration(p, "OIDC_REFRESH_LEEWAY", &raw.refresh_leeway, "60s", "1d");
    for (var, d) in [
        ("OIDC_SESSION_IDLE_TIMEOUT", idle_timeout),
        ("OIDC_SESSION_MAX_LIFETIME", max_lifetime),
        ("OIDC_LOGIN_TIMEOUT", login_timeout),
        ("OIDC_HTTP_TIMEOUT", http_timeout),
    ] {
        if d == Some(Duration::ZERO) {
            p.push(var, "must be longer than zero; for example 30m");
        }
    }
    Durations {
        http_timeout,
        clock_skew,
        idle_timeout,
        max_lifetime,
        login_timeout,
        refresh_leeway,
    }
}

pub(super) fn provider(raw: &Raw, p: &mut Problems, d: &Durations) -> Option<ProviderSettings> {
    let r = text;
    let issuer = p.required(
        "OIDC_ISSUER_URL",
        raw.issuer_url.as_deref(),
        "https://id.example.com/realms/main",
        |v| parse::http_url(v).map(|_| v.to_owned()),
    );
    let client_id = p.required("OIDC_CLIENT_ID", raw.client_id.as_deref(), "my-app", |v| {
        Ok(v.to_owned())
    });
    let client_auth = super::client_auth::parse(
        super::client_auth::RawClientAuth {
            secret: raw.client_secret.as_deref(),
            method: raw.client_auth_method.as_deref(),
            private_key: raw.client_private_key.as_deref(),
            private_key_file: raw.client_private_key_file.as_deref(),
            private_key_id: raw.client_private_key_id.as_deref(),
            par: raw.par.as_deref(),
        },
        p,
    );
    let par = client_auth.as_ref().map(|c| c.par);
    let (assertion_audience, client_auth) = super::client_assertion::parse(
        super::client_assertion::RawClientAssertion {
            audience: raw.client_assertion_audience.as_deref(),
            certificate: raw.client_certificate.as_deref(),
            certificate_file: raw.client_certificate_file.as_deref(),
        },
        client_auth.map(|c| c.auth),
        p,
    );
    let redirect_uri = p.required(
        "OIDC_REDIRECT_URI",
        raw.redirect_uri.as_deref(),
        "https://app.example.com/auth/callback",
        parse::http_url,
    );
    let mut scopes = parse::list(raw.scopes.as_deref().unwrap_or("openid profile email offline_access"));
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    let extra_auth_params = p.optional(
        "OIDC_EXTRA_AUTH_PARAMS",
        raw.extra_auth_params.as_deref(),
        "audience=api&acr_values=mfa",
        |v| {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(v.as_bytes()).into_owned().collect();
            const RESERVED: &[&str] = &[
                "response_type",
                "client_id",
                "redirect_uri",
                "scope",
                "state",
                "nonce",
                "code_challenge",
                "code_challenge_method",
            ];
            match pairs
                .iter()
                .find(|(k, _)| RESERVED.contains(&k.as_str()) || k.is_empty())
            {
                Some((k, _)) => Err(format!("`{k}` may not be overridden")),
                None => Ok(pairs),
            }
        },
    );
    let endpoint = |p: &mut Problems, var, raw: &Option<String>| {
        p.optional(var, raw.as_deref(), "https://id.example.com/token", parse::http_url)
    };
    let authorization_endpoint = endpoint(p, "OIDC_AUTHORIZATION_ENDPOINT", &raw.authorization_endpoint);
    let token_endpoint = endpoint(p, "OIDC_TOKEN_ENDPOINT", &raw.token_endpoint);
    let userinfo_endpoint = endpoint(p, "OIDC_USERINFO_ENDPOINT", &raw.userinfo_endpoint);
    let jwks_uri = endpoint(p, "OIDC_JWKS_URI", &raw.jwks_uri);
    let end_session_endpoint = endpoint(p, "OIDC_END_SESSION_ENDPOINT", &raw.end_session_endpoint);
    let discovery_url = p.optional(
        "OIDC_DISCOVERY_URL",
        raw.discovery_url.as_deref(),
        "http://keycloak.auth.svc:8080/realms/main/.well-known/openid-configuration",
        parse::http_url,
    );
    let discovery_url = discovery_url.or_else(|| {
        let issuer = issuer.as_ref()?;
        Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .ok()
    });
    if discovery_url.is_none() && issuer.is_some() {
        p.push(
            "OIDC_ISSUER_URL",
            "no discovery URL can be made of it (<issuer>/.well-known/openid-configuration); set OIDC_DISCOVERY_URL",
        );
    }
    let fetch_userinfo = p.or_default(
        "OIDC_FETCH_USERINFO",
        raw.fetch_userinfo.as_deref(),
        "true",
        parse::boolean,
    );
    let extra_ca_file = p.optional(
        "OIDC_EXTRA_CA_FILE",
        raw.extra_ca_file.as_deref(),
        "/etc/ssl/homelab-ca.pem",
        |v| {
            let path = PathBuf::from(v);
            std::fs::metadata(&path).map_err(|e| format!("cannot read `{v}` ({e})"))?;
            Ok(path)
        },
    );

    Some(ProviderSettings {
        issuer: issuer?,
        client_id: client_id?,
        client_auth: client_auth?,
        assertion_audience: assertion_audience?,
        par: par?,
        redirect_uri: redirect_uri?,
        scopes,
        prompt: r(&raw.prompt).filter(|s| !s.is_empty()),
        extra_auth_params: extra_auth_params.unwrap_or_default(),
        discovery_url: discovery_url?,
        authorization_endpoint,
        token_endpoint,
        userinfo_endpoint,
        jwks_uri,
        end_session_endpoint,
        fetch_userinfo: fetch_userinfo?,
        http_timeout: d.http_timeout?,
        clock_skew: d.clock_skew?,
        extra_ca_file,
    })
}

/// `secure`: the redirect URI is https (cookies get `Secure` and may use `__Host-`).
pub(super) fn cookie(raw: &Raw, p: &mut Problems, secure: bool, redirect_uri_set: bool) -> Option<CookieSettings> {
    let r = text;
    let same_site = p.or_default(
        "OIDC_COOKIE_SAMESITE",
        raw.cookie_samesite.as_deref(),
        "lax",
        |v| match v.to_ascii_lowercase().as_str() {
            "lax" => Ok(SameSite::Lax),
            "strict" => Ok(SameSite::Strict),
            "none" => Ok(SameSite::None),
            _ => Err(format!("`{v}` is not lax, strict or none")),
        },
    );
    if same_site == Some(SameSite::None) && redirect_uri_set && !secure {
        p.push(
            "OIDC_COOKIE_SAMESITE",
            "`none` needs an https OIDC_REDIRECT_URI (browsers drop SameSite=None cookies without Secure)",
        );
    }
    let cookie_domain = r(&raw.cookie_domain).filter(|s| !s.is_empty());
    let default_cookie = match (secure, &cookie_domain) {
        (true, None) => "__Host-oidc_session",
        _ => "oidc_session",
    };
    let cookie_name = p.or_default("OIDC_COOKIE_NAME", raw.cookie_name.as_deref(), default_cookie, |v| {
        let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            return Err(format!("`{v}` is not a valid cookie name (letters, digits, - _ .)"));
        }
        Ok(v.to_owned())
    });
    if let Some(name) = &cookie_name {
        if name.starts_with("__Host-") && (!secure || cookie_domain.is_some()) {
            p.push(
                "OIDC_COOKIE_NAME",
                "a __Host- cookie needs an https OIDC_REDIRECT_URI and no OIDC_COOKIE_DOMAIN",
            );
        }
        if name.starts_with("__Secure-") && !secure {
            p.push(
                "OIDC_COOKIE_NAME",
                "a __Secure- cookie needs an https OIDC_REDIRECT_URI",
            );
        }
    }

    Some(CookieSettings {
        name: cookie_name?,
        secure,
        same_site: same_site?,
        domain: cookie_domain,
    })
}

pub(super) fn session(
    raw: &Raw,
    p: &mut Problems,
    d: &Durations,
    warnings: &mut Vec<String>,
) -> Option<SessionSettings> {
    let keys = p.optional(
        "OIDC_SESSION_ENCRYPTION_KEY",
        raw.session_encryption_key.as_deref(),
        "$(openssl rand -base64 32)",
        KeyRing::parse,
    );
    if keys.is_none() && raw.session_encryption_key.as_deref().is_none_or(str::is_empty) {
        warnings.push("OIDC_SESSION_ENCRYPTION_KEY is not set: tokens are stored in Redis unencrypted".into());
    }
    let revalidate = p.or_default("OIDC_REVALIDATE", raw.revalidate.as_deref(), "expiry", |v| {
        match v.to_ascii_lowercase().as_str() {
            "expiry" => Ok(Revalidate::Expiry),
            "never" => Ok(Revalidate::Never),
            _ => match parse::duration_at_most(v, "7d") {
                Ok(Duration::ZERO) => Err("must be longer than zero; for example 15m".to_owned()),
                Ok(every) => Ok(Revalidate::Every(every)),
                Err(e) => Err(format!("is neither `expiry`, `never` nor a duration: {e}")),
            },
        }
    });
    let max_sessions_per_user = p.or_default(
        "OIDC_MAX_SESSIONS_PER_USER",
        raw.max_sessions_per_user.as_deref(),
        "100",
        |v| match v.parse::<usize>() {
            Ok(n @ 1..=10_000) => Ok(n),
            _ => Err(format!("`{v}` is not a number from 1 to 10000")),
        },
    );
    Some(SessionSettings {
        idle_timeout: d.idle_timeout?,
        max_lifetime: d.max_lifetime?,
        login_timeout: d.login_timeout?,
        refresh_leeway: d.refresh_leeway?,
        revalidate: revalidate?,
        max_sessions_per_user: max_sessions_per_user?,
        keys,
    })
}

pub(super) fn claims(raw: &Raw, p: &mut Problems) -> Option<ClaimSettings> {
    let claim = |p: &mut Problems, var, raw: &Option<String>, default| {
        p.or_default(var, raw.as_deref(), default, ClaimPath::parse)
    };
    let username = claim(p, "OIDC_USERNAME_CLAIM", &raw.username_claim, "preferred_username");
    let email = claim(p, "OIDC_EMAIL_CLAIM", &raw.email_claim, "email");
    let groups = claim(p, "OIDC_GROUPS_CLAIM", &raw.groups_claim, "groups");

    let require_email_verified = p.or_default(
        "OIDC_REQUIRE_EMAIL_VERIFIED",
        raw.require_email_verified.as_deref(),
        "false",
        parse::boolean,
    );
    let mut rules = Vec::new();
    let allowed_groups = raw.allowed_groups.as_deref().map(parse::list).unwrap_or_default();
    if !allowed_groups.is_empty() {
        rules.push(Rule::Groups(Values::Listed(allowed_groups)));
    }
    if require_email_verified? {
        // A claim without a flag of its own would refuse every sign-in.
        if let Some(email) = email.as_ref().filter(|e| e.verified_flag().is_none()) {
            p.push(
                "OIDC_REQUIRE_EMAIL_VERIFIED",
                format!(
                    "cannot apply to OIDC_EMAIL_CLAIM={email}: only an `email` claim has a verification flag \
                     (`email_verified` beside it), so every sign-in would be refused; unset one of them"
                ),
            );
        }
        rules.push(Rule::EmailVerified);
    }
    Some(ClaimSettings {
        username: username?,
        email: email?,
        groups: groups?,
        sign_in_rules: SignInRules::new(rules),
    })
}

pub(super) fn redirects(raw: &Raw, p: &mut Problems) -> Option<RedirectSettings> {
    let post_login = p.or_default(
        "OIDC_POST_LOGIN_REDIRECT_URI",
        raw.post_login_redirect_uri.as_deref(),
        "/",
        |v| {
            if v.starts_with('/') && !v.starts_with("//") && !v.contains('\\') {
                Ok(v.to_owned())
            } else {
                parse::http_url(v).map(|u| u.to_string())
            }
        },
    );
    let post_logout = p.optional(
        "OIDC_POST_LOGOUT_REDIRECT_URI",
        raw.post_logout_redirect_uri.as_deref(),
        "https://app.example.com/",
        parse::http_url,
    );
    let allowed_return_origins = p.optional(
        "OIDC_ALLOWED_RETURN_ORIGINS",
        raw.allowed_return_origins.as_deref(),
        "https://app.example.com,https://admin.example.com",
        |v| {
            parse::list(v)
                .iter()
                .map(|o| parse::origin(o))
                .collect::<Result<Vec<_>, _>>()
        },
    );

    Some(RedirectSettings {
        post_login: post_login?,
        post_logout,
        allowed_return_origins: allowed_return_origins.unwrap_or_default(),
    })
}

pub(super) fn listeners(raw: &Raw, p: &mut Problems) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let addr = |p: &mut Problems, var, raw: &Option<String>, default| {
        p.or_default(var, raw.as_deref(), default, |v| {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("`{v}` is not an address like 0.0.0.0:8080"))
        })
    };
    let listen_addr = addr(p, "OIDC_LISTEN_ADDR", &raw.listen_addr, "0.0.0.0:8080");
    let internal_listen_addr = addr(
        p,
        "OIDC_INTERNAL_LISTEN_ADDR",
        &raw.internal_listen_addr,
        "0.0.0.0:9090",
    );
    if listen_addr.is_some() && listen_addr == internal_listen_addr && listen_addr.is_some_and(|a| a.port() != 0) {
        p.push(
            "OIDC_INTERNAL_LISTEN_ADDR",
            "must differ from OIDC_LISTEN_ADDR (the internal API must not be reachable through the public port)",
        );
    }

    (listen_addr, internal_listen_addr)
}
