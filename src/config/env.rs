//! Raw `OIDC_*` strings (read with envy) turned into [`Settings`], every problem collected.

use super::raw::Raw;
use super::sections::{claims, cookie, durations, listeners, provider, redirects, session, text};
use super::settings::*;
use super::{parse, ConfigError, Problems, Secret};

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Builds settings from `(name, value)` pairs; every problem is reported together.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        type Vars = Vec<(String, String)>;
        let (vars, otel): (Vars, Vars) = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("OIDC_") || k.starts_with("OTEL_"))
            .partition(|(k, _)| k.starts_with("OIDC_"));
        let mut warnings: Vec<String> = super::unknown_vars(vars.iter().map(|(k, _)| k.as_str()))
            .into_iter()
            .map(|v| format!("{v} is not a known variable (a typo?); it is ignored"))
            .collect();
        let raw: Raw = envy::prefixed("OIDC_").from_iter(vars).unwrap_or_default();
        let mut p = Problems::default();
        let tracing = super::otel::parse(&otel, &mut p);
        let settings = build(&raw, &mut p, &mut warnings).map(|s| Settings { tracing, ..s });
        p.into_result()?;
        Ok(settings.expect("no problems means every field parsed"))
    }
}

fn build(raw: &Raw, p: &mut Problems, warnings: &mut Vec<String>) -> Option<Settings> {
    // Every section is parsed before any `?`: all problems are reported together.
    let durations = durations(raw, p);
    let provider = provider(raw, p, &durations);
    let secure = provider.as_ref().is_some_and(|pr| pr.redirect_uri.scheme() == "https");
    let redirect_uri_set = raw.redirect_uri.is_some();
    let cookie = cookie(raw, p, secure, redirect_uri_set);
    let session = session(raw, p, &durations, warnings);
    let claims = claims(raw, p);
    let redirects = redirects(raw, p);
    let (listen_addr, internal_listen_addr) = listeners(raw, p);
    let max_connections = p.or_default(
        "OIDC_MAX_CONNECTIONS",
        raw.max_connections.as_deref(),
        "4096",
        |v| match v.parse::<usize>() {
            Ok(n @ 16..=1_000_000) => Ok(n),
            _ => Err(format!("`{v}` is not a number from 16 to 1000000")),
        },
    );
    let introspection_expose_tokens = p.or_default(
        "OIDC_INTROSPECTION_EXPOSE_TOKENS",
        raw.introspection_expose_tokens.as_deref(),
        "false",
        parse::boolean,
    );
    let redis = super::redis::parse(
        super::redis::RawRedis {
            url: raw.redis_url.as_deref(),
            sentinels: raw.redis_sentinels.as_deref(),
            master: raw.redis_sentinel_master.as_deref(),
            sentinel_password: raw.redis_sentinel_password.as_deref(),
            cluster_nodes: raw.redis_cluster_nodes.as_deref(),
        },
        p,
    );
    let key_prefix = text(&raw.redis_key_prefix).unwrap_or_else(|| "oidc:".into());
    let log_format = p.or_default("OIDC_LOG_FORMAT", raw.log_format.as_deref(), "json", |v| match v {
        "json" => Ok(LogFormat::Json),
        "pretty" => Ok(LogFormat::Pretty),
        _ => Err(format!("`{v}` is not json or pretty")),
    });
    let log_filter = text(&raw.log).unwrap_or_else(|| "info".into());
    let identity = super::identity::RawIdentity {
        key: raw.assertion_key.as_deref(),
        key_file: raw.assertion_key_file.as_deref(),
        key_id: raw.assertion_key_id.as_deref(),
        lifetime: raw.assertion_lifetime.as_deref(),
        bearer_audiences: raw.bearer_audiences.as_deref(),
    };
    let client_auth = provider.as_ref().map(|pr| &pr.client_auth);
    let assertion = super::identity::assertion(&identity, client_auth, p);
    let introspection_secret = text(&raw.introspection_secret).filter(|s| !s.is_empty());
    let admin_secret = text(&raw.admin_secret).filter(|s| !s.is_empty());
    if admin_secret.is_some() && admin_secret == introspection_secret {
        // One secret for both would let every proxy that may introspect end sessions too.
        p.push(
            "OIDC_ADMIN_SECRET",
            "must differ from OIDC_INTROSPECTION_SECRET: the operator API needs a secret of its own; \
             generate another, e.g. with `openssl rand -base64 32`"
                .to_owned(),
        );
    }

    Some(Settings {
        provider: provider?,
        cookie: cookie?,
        session: session?,
        claims: claims?,
        redirects: redirects?,
        listen_addr: listen_addr?,
        internal_listen_addr: internal_listen_addr?,
        max_connections: max_connections?,
        introspection_secret: introspection_secret.map(Secret::new),
        introspection_expose_tokens: introspection_expose_tokens?,
        admin_secret: admin_secret.map(Secret::new),
        assertion: assertion?,
        bearer_audiences: super::identity::bearer_audiences(&identity),
        redis: RedisSettings {
            mode: redis?,
            key_prefix,
        },
        log_format: log_format?,
        log_filter,
        tracing: None,
        warnings: std::mem::take(warnings),
    })
}
