//! The body of every fuzz target: what the input is fed to, and what must hold of the
//! answer besides "no panic". Each `fuzz_targets/<name>.rs` calls one function of
//! [`TARGETS`]; `tests/fuzz_replay.rs` includes this file and runs every committed corpus
//! input and regression through the same functions on the stable toolchain.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use oidc_session::config::vars::{KNOWN_VARS, SECRET_VARS};
use oidc_session::crypto::KeyRing;
use oidc_session::domain::{ClaimPath, Identity};
use oidc_session::fuzzing as f;
use oidc_session::session::{SessionId, SessionKey, SessionRecord, StoredTokens};
use openidconnect::core::{CoreEdDsaPrivateSigningKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, JwsSigningAlgorithm, PrivateSigningKey};
use serde_json::Value;
use url::{Origin, Url};

/// A target's body: the input, and assertions about what the parsers make of it.
pub type Target = fn(&[u8]);

/// Every target by name: the name of its `fuzz_targets/` file and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("cookie_header", cookie_header),
    ("return_to", return_to),
    ("logout_token_header", logout_token_header),
    ("logout_token_claims", logout_token_claims),
    ("logout_token", logout_token),
    ("session_record", session_record),
    ("stored_tokens", stored_tokens),
    ("claim_path", claim_path),
    ("config_values", config_values),
    ("settings", settings),
    ("forward_auth_rules", forward_auth_rules),
    ("forward_auth_sign_in", forward_auth_sign_in),
];

/// The `Cookie` header a reverse proxy forwards to `/forward-auth` and `/introspect`.
pub fn cookie_header(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else { return };
    for name in ["oidc_session", "__Host-oidc_session"] {
        if let Some(value) = f::cookie_in_header(header, name) {
            assert!(!value.contains(';'), "a value never spans two cookies: {value:?}");
            // It is the value of a cookie of that very name.
            let start = value.as_ptr() as usize - header.as_ptr() as usize;
            assert!(
                header[..start].trim_end_matches('"').ends_with(&format!("{name}=")),
                "{header:?}"
            );
            if let Some(id) = SessionId::parse(value) {
                assert!(
                    id.as_str().len() == 43
                        && id
                            .as_str()
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                );
            }
        }
        // The same input as the value of our cookie, between two others, is found again.
        if !header.contains(';') {
            let forwarded = format!("a=1; {name}={header}; b=2");
            let expected = header.trim_end().trim_matches('"');
            assert_eq!(f::cookie_in_header(&forwarded, name), Some(expected), "{forwarded:?}");
        }
    }
}

fn origin(url: &str) -> Origin {
    Url::parse(url).expect("a fixture URL").origin()
}

/// `GET /auth/login?return_to=…`: an accepted value never leads the browser off the own
/// origin and the allowed ones.
pub fn return_to(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let own = origin("https://app.example.com");
    let allowed = [origin("https://admin.example.com"), origin("http://localhost:3000")];
    let Some(accepted) = f::return_to(raw, &own, &allowed) else {
        return;
    };
    assert!(
        !accepted.is_empty()
            && !accepted
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
        "{accepted:?}"
    );
    // Where a browser goes with it: resolved against the callback URL that redirects there.
    let callback = Url::parse("https://app.example.com/auth/callback?code=c&state=s").unwrap();
    let target = callback
        .join(&accepted)
        .expect("an accepted return_to is a URL reference");
    assert!(
        target.origin() == own || allowed.contains(&target.origin()),
        "{raw:?} leads to {target}"
    );
    assert!(target.username().is_empty() && target.password().is_none(), "{target}");
    // Accepted values are stable: what is stored is accepted again.
    assert_eq!(
        f::return_to(&accepted, &own, &allowed).as_deref(),
        Some(accepted.as_str())
    );
}

/// The rules of a forward-auth URL (first line, its query) against an identity: email on
/// the second line, `1` on the third for a verified email, groups on the lines after.
pub fn forward_auth_rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.split('\n');
    let query = lines.next().unwrap_or("");
    let identity = Identity {
        sub: "user".into(),
        email: lines.next().filter(|e| !e.is_empty()).map(str::to_owned),
        email_verified: Some(lines.next() == Some("1")),
        groups: lines.map(str::to_owned).collect(),
        ..Identity::default()
    };
    let Ok((redirect, passes)) = f::forward_auth_rules(query, &identity) else {
        return;
    };
    let keys: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    assert_eq!(redirect, keys.iter().any(|k| k == "mode"), "{query:?}");
    // Someone with no email and no group passes exactly the routes without list rules.
    let nobody = Identity {
        sub: "nobody".into(),
        ..Identity::default()
    };
    let lists = keys.iter().any(|k| k != "mode");
    let (_, nobody_passes) = f::forward_auth_rules(query, &nobody).expect("parsed once, parses again");
    assert_eq!(nobody_passes.is_ok(), !lists, "{query:?}");
    // Without a verified email, no email or domain rule is passed.
    if passes.is_ok() && identity.email_verified != Some(true) {
        assert!(
            !keys
                .iter()
                .any(|k| k == "allowed_emails" || k == "allowed_email_domains"),
            "{query:?}"
        );
    }
}

/// Where forward-auth sends a browser to sign in, from the forwarded scheme, host and URI
/// (one per line): always the own origin's `/auth/login`, with a `return_to` that login
/// accepts and that leads nowhere but the own and the allowed origins.
pub fn forward_auth_sign_in(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\n');
    let (scheme, authority, path) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let own = origin("https://app.example.com");
    let allowed = [origin("https://admin.example.com"), origin("http://localhost:3000")];
    let Some(url) = f::forward_auth_sign_in_url(scheme, authority, path, &own, &allowed) else {
        return;
    };
    assert_eq!(url.origin(), own, "{url}");
    assert_eq!(url.path(), "/auth/login", "{url}");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs.len(), 1, "{url}");
    assert_eq!(pairs[0].0, "return_to");
    return_to(pairs[0].1.as_bytes());
    assert_eq!(
        f::return_to(&pairs[0].1, &own, &allowed).as_deref(),
        Some(pairs[0].1.as_str()),
        "{url}"
    );
}

const ISSUER: &str = "https://op.example.com/realms/main";
const CLIENT_ID: &str = "oidc-session";
const NOW: u64 = 1_800_000_000;
const SKEW: u64 = 60;
const ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EdDsa,
];

fn policy() -> f::LogoutPolicy<'static> {
    f::LogoutPolicy {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        allowed_algs: ALGS,
        clock_skew: Duration::from_secs(SKEW),
        now: NOW,
    }
}

/// The decoded JOSE header of a logout token.
pub fn logout_token_header(data: &[u8]) {
    let Ok((alg, kid)) = f::logout_token_header(data, &policy()) else {
        return;
    };
    assert!(ALGS.contains(&alg) && !alg.uses_shared_secret(), "{alg:?}");
    let header: Value = serde_json::from_slice(data).expect("an accepted header is JSON");
    assert!(header.get("crit").is_none());
    assert_eq!(header["alg"], serde_json::to_value(&alg).unwrap());
    assert_eq!(kid.as_deref(), header.get("kid").and_then(Value::as_str));
}

/// The decoded claims of a logout token whose signature is good.
pub fn logout_token_claims(data: &[u8]) {
    let Ok(claims) = f::logout_token_claims(data, &policy()) else {
        return;
    };
    check_accepted_claims(data, &claims);
}

fn check_accepted_claims(payload: &[u8], claims: &f::LogoutToken) {
    assert!(claims.sub.is_some() || claims.sid.is_some(), "{claims:?}");
    assert!(!claims.jti.is_empty() && claims.iss == ISSUER);
    assert!(
        claims.iat <= NOW + SKEW && claims.exp.is_none_or(|exp| NOW < exp.saturating_add(SKEW)),
        "{claims:?}"
    );
    let json: Value = serde_json::from_slice(payload).expect("accepted claims are JSON");
    assert!(json.get("nonce").is_none());
    let aud = &json["aud"];
    assert!(aud == CLIENT_ID || aud.as_array().is_some_and(|a| a.iter().any(|v| v == CLIENT_ID)));
    assert!(json["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
}

struct Keys {
    ed25519: CoreEdDsaPrivateSigningKey,
    jwks: CoreJsonWebKeySet,
}

/// An RSA, an EC P-256 and an Ed25519 key; the Ed25519 one's private half signs tokens.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        const ED25519: &str = "-----BEGIN PRIVATE KEY-----\n\
            MC4CAQAwBQYDK2VwBCIEION66KkiWRDrwOpVJmcTS0ehCkXduzIh7PydQyQKaF1a\n\
            -----END PRIVATE KEY-----\n";
        let ed25519 =
            CoreEdDsaPrivateSigningKey::from_ed25519_pem(ED25519, Some(JsonWebKeyId::new("ed".into()))).unwrap();
        let jwks = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "use": "sig", "e": "AQAB", "n": "rTjUrYRtHC-nFNY25GWMQhJfWe1UG-7YdCz6wOkbQAhT7zaAqXt5ZOMvphEhuY-fF1_OXA02hLbjs752Rl64zPlzZ4oF_VJkczWx6ibJmBrdIj1uZt9tFfkZa5f2aPtT7CfRRSpRGrP4MUNPJmszLP77k4hU3xdP0Z2jM997La5JsvadyZSwxqyGCLwHAXN_HSPdWwkFNl9Rb-0SrJ1LuxEpuKSgH01-4ew6B0-UazVi1qvf9AYMs4W61vycRiihHdR1q08lezo9TkP3O8mwFMfOeUTzfB6bBGXBYOEqpkHn6NPBCPQr4nuh7kVzcTYUia3-y5eEJfFgZKPN27sAOQ"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "qyCGk08pczn_5OyR9Ude5LivY-dcUfw-PBQ9GCmF6qQ", "y": "G46CesGvrPt1dWpGXUrUJpRczVBqzrQ1Yi1nGpV0J_4"},
            serde_json::to_value(ed25519.as_verification_key()).unwrap(),
        ]});
        Keys {
            jwks: serde_json::from_value(jwks).unwrap(),
            ed25519,
        }
    })
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The whole verifier with a fixed key set. The first byte chooses: a token as it comes
/// (never accepted: nobody here holds the keys), or a header and claims (split at the
/// first zero byte) signed with the Ed25519 key — accepted exactly when the header and
/// claims checks pass — or the same with one bit of the signature flipped (never accepted).
pub fn logout_token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    if mode % 3 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else { return };
        let result = f::verify_logout_token(token, &keys.jwks, &policy());
        assert!(result.is_err(), "a token nobody signed was accepted: {result:?}");
        return;
    }
    let (header, payload) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b"{}"[..]),
    };
    let input = format!("{}.{}", b64(header), b64(payload));
    let mut signature = keys
        .ed25519
        .sign(&CoreJwsSigningAlgorithm::EdDsa, input.as_bytes())
        .unwrap();
    if mode % 3 == 2 {
        let bit = usize::from(payload.first().copied().unwrap_or(0)) % (signature.len() * 8);
        signature[bit / 8] ^= 1 << (bit % 8);
    }
    let token = format!("{input}.{}", b64(&signature));
    let result = f::verify_logout_token(&token, &keys.jwks, &policy());
    // Only the Ed25519 key can verify: the header must name its algorithm (and its kid, if any).
    let header_ok = match f::logout_token_header(header, &policy()) {
        Ok((CoreJwsSigningAlgorithm::EdDsa, kid)) => kid.is_none_or(|kid| kid == "ed"),
        _ => false,
    };
    let too_large = token.len() > 16 * 1024;
    if mode % 3 == 2 || !header_ok || too_large {
        assert!(result.is_err(), "accepted with a bad signature or header: {result:?}");
        return;
    }
    let claims = f::logout_token_claims(payload, &policy());
    assert_eq!(result.as_ref().ok(), claims.as_ref().ok());
    assert_eq!(result.is_ok(), claims.is_ok(), "{result:?} {claims:?}");
    if let Ok(claims) = result {
        check_accepted_claims(payload, &claims);
    }
}

const SESSION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn ring() -> KeyRing {
    KeyRing::parse(SESSION_KEY).unwrap()
}

fn session_key() -> SessionKey {
    SessionKey("k".repeat(43))
}

/// A session's value as read back from Redis.
pub fn session_record(data: &[u8]) {
    let Ok(record) = SessionRecord::decode(data) else {
        return;
    };
    let again = SessionRecord::decode(&record.encode()).expect("a record written back reads again");
    assert_eq!(again, record);
    let _ = record.tokens.open(None, &session_key());
    let _ = record.tokens.open(Some(&ring()), &session_key());
}

/// A session's packed tokens, in plain and sealed.
pub fn stored_tokens(data: &[u8]) {
    let key = session_key();
    if let Some(tokens) = f::unpack_tokens(data) {
        // Tokens that unpack are packed again and come back the same (unless too large).
        if let Ok(stored) = StoredTokens::seal(&tokens, None, &key) {
            assert_eq!(stored.open(None, &key).expect("packed just now"), tokens);
        }
    }
    let plain = StoredTokens::Plain(data.to_vec().into()).open(None, &key);
    assert_eq!(plain.ok(), f::unpack_tokens(data));
    assert!(StoredTokens::Sealed(data.to_vec().into()).open(None, &key).is_err());
    let _ = StoredTokens::Sealed(data.to_vec().into()).open(Some(&ring()), &key);
}

/// A claim path from configuration (first line), applied to claims as JSON (the rest).
pub fn claim_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (path, claims) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(parsed) = f::claim_path(path) else { return };
    match &parsed {
        ClaimPath::Name(name) => assert!(!name.is_empty() && !name.starts_with('$'), "{name:?}"),
        ClaimPath::Path(parts) => assert!(!parts.is_empty() && parts.iter().all(|p| !p.is_empty()), "{parts:?}"),
    }
    assert_eq!(f::claim_path(path.trim()).as_ref(), Ok(&parsed));
    if let Ok(Value::Object(claims)) = serde_json::from_str::<Value>(claims) {
        let found = parsed.get(&claims);
        if let ClaimPath::Name(name) = &parsed {
            assert_eq!(found, claims.get(name));
        }
    }
}

/// Values of duration, list, boolean and origin variables.
pub fn config_values(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else { return };
    if let Ok(d) = f::config_duration(value) {
        assert_eq!(f::config_duration(&format!("{}s", d.as_secs())), Ok(d));
        assert_eq!(f::config_duration(&d.as_secs().to_string()), Ok(d));
    }
    let items = f::config_list(value);
    for item in &items {
        assert!(
            !item.is_empty() && !item.contains(',') && !item.chars().any(char::is_whitespace),
            "{item:?}"
        );
    }
    assert_eq!(f::config_list(&items.join(",")), items);
    let _ = f::config_boolean(value);
    if let Ok(o) = f::config_origin(value) {
        assert!(o.is_tuple());
        assert_eq!(f::config_origin(&o.ascii_serialization()), Ok(o));
    }
}

/// The whole configuration from an arbitrary map. Each line is one variable: its first
/// character picks a known name (or, past the list, the line is `NAME=value`), the rest is
/// the value; later lines replace earlier ones. Secret values marked with a non-ASCII
/// character (no fixed message text has one) never appear in errors, warnings or `Debug`.
pub fn settings(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut vars: BTreeMap<String, String> = [
        ("OIDC_ISSUER_URL", "https://op.example.com/realms/main"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for line in text.split('\n') {
        let mut chars = line.chars();
        let Some(pick) = chars.next() else { continue };
        let value = chars.as_str();
        match KNOWN_VARS.get(pick as usize % (KNOWN_VARS.len() + 1)) {
            Some(name) => vars.insert((*name).to_owned(), value.to_owned()),
            None => {
                let (name, value) = value.split_once('=').unwrap_or((value, ""));
                vars.insert(name.to_owned(), value.to_owned())
            }
        };
    }
    let marked: Vec<&str> = vars
        .iter()
        .filter(|(name, _)| SECRET_VARS.contains(&name.as_str()))
        .map(|(_, value)| value.trim())
        .filter(|secret| !secret.is_ascii())
        .filter(|secret| {
            !vars
                .iter()
                .any(|(n, v)| !SECRET_VARS.contains(&n.as_str()) && (v.contains(secret) || n.contains(secret)))
        })
        .collect();
    let shown = match f::settings_from_vars(vars.clone().into_iter().collect()) {
        Ok(settings) => format!("{settings:?} {}", settings.warnings.join(" ")),
        Err(e) => {
            assert!(!e.problems.is_empty());
            for problem in &e.problems {
                assert!(KNOWN_VARS.contains(&problem.var), "{problem:?}");
            }
            e.to_string()
        }
    };
    for secret in marked {
        assert!(!shown.contains(secret), "a secret value is shown: {shown}");
    }
}
