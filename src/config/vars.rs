//! The one list of environment variables the service reads. `.env.example`, the Helm chart
//! and the README table are checked against it by `tests/config_truth.rs`.

/// Every `OIDC_*` variable the service understands. Anything else with the prefix is
/// reported as a probable typo.
pub const KNOWN_VARS: &[&str] = &[
    "OIDC_ISSUER_URL",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_CLIENT_AUTH_METHOD",
    "OIDC_REDIRECT_URI",
    "OIDC_SCOPES",
    "OIDC_PROMPT",
    "OIDC_EXTRA_AUTH_PARAMS",
    "OIDC_DISCOVERY_URL",
    "OIDC_AUTHORIZATION_ENDPOINT",
    "OIDC_TOKEN_ENDPOINT",
    "OIDC_USERINFO_ENDPOINT",
    "OIDC_JWKS_URI",
    "OIDC_END_SESSION_ENDPOINT",
    "OIDC_POST_LOGIN_REDIRECT_URI",
    "OIDC_POST_LOGOUT_REDIRECT_URI",
    "OIDC_ALLOWED_RETURN_ORIGINS",
    "OIDC_LISTEN_ADDR",
    "OIDC_INTERNAL_LISTEN_ADDR",
    "OIDC_INTROSPECTION_SECRET",
    "OIDC_INTROSPECTION_EXPOSE_TOKENS",
    "OIDC_REDIS_URL",
    "OIDC_REDIS_SENTINELS",
    "OIDC_REDIS_SENTINEL_MASTER",
    "OIDC_REDIS_SENTINEL_PASSWORD",
    "OIDC_REDIS_CLUSTER_NODES",
    "OIDC_REDIS_KEY_PREFIX",
    "OIDC_SESSION_ENCRYPTION_KEY",
    "OIDC_SESSION_IDLE_TIMEOUT",
    "OIDC_SESSION_MAX_LIFETIME",
    "OIDC_LOGIN_TIMEOUT",
    "OIDC_REFRESH_LEEWAY",
    "OIDC_CLOCK_SKEW",
    "OIDC_COOKIE_NAME",
    "OIDC_COOKIE_SAMESITE",
    "OIDC_COOKIE_DOMAIN",
    "OIDC_USERNAME_CLAIM",
    "OIDC_EMAIL_CLAIM",
    "OIDC_GROUPS_CLAIM",
    "OIDC_ALLOWED_GROUPS",
    "OIDC_REQUIRE_EMAIL_VERIFIED",
    "OIDC_FETCH_USERINFO",
    "OIDC_HTTP_TIMEOUT",
    "OIDC_EXTRA_CA_FILE",
    "OIDC_LOG_FORMAT",
    "OIDC_LOG",
];

/// Variables whose values are secrets: never logged, never in a ConfigMap.
pub const SECRET_VARS: &[&str] = &[
    "OIDC_CLIENT_SECRET",
    "OIDC_INTROSPECTION_SECRET",
    "OIDC_SESSION_ENCRYPTION_KEY",
    "OIDC_REDIS_SENTINEL_PASSWORD",
    // May carry a password (`redis://user:pass@host` entries).
    "OIDC_REDIS_SENTINELS",
    // May carry a password (`redis://user:pass@host`).
    "OIDC_REDIS_URL",
    "OIDC_REDIS_CLUSTER_NODES",
];
