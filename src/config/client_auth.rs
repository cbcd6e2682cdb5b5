//! How the client authenticates: `OIDC_CLIENT_SECRET`, `OIDC_CLIENT_AUTH_METHOD`, the
//! private key for `private_key_jwt` (`OIDC_CLIENT_PRIVATE_KEY`, `…_FILE`, `…_ID`), and
//! `OIDC_PAR`.

use super::settings::{ClientAuthMethod, ParMode};
use super::{Problems, Secret};
use crate::oidc::client_auth::{parse_pem, ClientKeys};
use crate::oidc::provider::error_chain;

const KEY: &str = "OIDC_CLIENT_PRIVATE_KEY";
const KEY_FILE: &str = "OIDC_CLIENT_PRIVATE_KEY_FILE";
const KEY_ID: &str = "OIDC_CLIENT_PRIVATE_KEY_ID";
const METHOD: &str = "OIDC_CLIENT_AUTH_METHOD";

/// The raw values, as read from the environment.
pub(super) struct RawClientAuth<'a> {
    pub secret: Option<&'a str>,
    pub method: Option<&'a str>,
    pub private_key: Option<&'a str>,
    pub private_key_file: Option<&'a str>,
    pub private_key_id: Option<&'a str>,
    pub par: Option<&'a str>,
}

pub(super) struct ClientAuth {
    pub secret: Option<Secret>,
    pub method: ClientAuthMethod,
    pub private_keys: Option<ClientKeys>,
    pub par: ParMode,
}

fn set(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|v| !v.is_empty())
}

/// Every problem is recorded in `p`; `None` when there was one.
pub(super) fn parse(raw: RawClientAuth<'_>, p: &mut Problems) -> Option<ClientAuth> {
    let secret = raw.secret.filter(|s| !s.is_empty()).map(|s| Secret::new(s.to_owned()));
    let key_configured = set(raw.private_key).is_some() || set(raw.private_key_file).is_some();
    let private_keys = private_keys(&raw, p);
    if secret.is_some() && key_configured {
        p.push(
            "OIDC_CLIENT_SECRET",
            "is set together with a private key (OIDC_CLIENT_PRIVATE_KEY or OIDC_CLIENT_PRIVATE_KEY_FILE); \
             a client authenticates with one of them: remove the other",
        );
    }
    let method = p.optional(METHOD, raw.method, "private_key_jwt", |v| match v {
        "client_secret_basic" => Ok(ClientAuthMethod::ClientSecretBasic),
        "client_secret_post" => Ok(ClientAuthMethod::ClientSecretPost),
        "private_key_jwt" => Ok(ClientAuthMethod::PrivateKeyJwt),
        _ => Err(format!(
            "`{v}` is not client_secret_basic, client_secret_post or private_key_jwt"
        )),
    });
    let invalid_method = set(raw.method).is_some() && method.is_none();
    let method = match (method, secret.is_some(), key_configured) {
        (Some(ClientAuthMethod::PrivateKeyJwt), _, false) => {
            p.push(
                METHOD,
                "is private_key_jwt but no private key is set; set OIDC_CLIENT_PRIVATE_KEY or OIDC_CLIENT_PRIVATE_KEY_FILE",
            );
            None
        }
        (Some(ClientAuthMethod::PrivateKeyJwt), _, true) => Some(ClientAuthMethod::PrivateKeyJwt),
        (Some(_), false, true) => {
            p.push(
                METHOD,
                "names a client-secret method, but a private key is set and OIDC_CLIENT_SECRET is not; \
                 use private_key_jwt (or remove OIDC_CLIENT_AUTH_METHOD)",
            );
            None
        }
        (Some(_), false, false) => {
            p.push(
                METHOD,
                "is set but OIDC_CLIENT_SECRET is not; set the secret or remove the method",
            );
            None
        }
        (Some(m), true, _) => Some(m),
        (None, _, _) if invalid_method => None,
        (None, _, true) => Some(ClientAuthMethod::PrivateKeyJwt),
        (None, true, false) => Some(ClientAuthMethod::ClientSecretBasic),
        (None, false, false) => Some(ClientAuthMethod::None),
    };
    let par = p.or_default("OIDC_PAR", raw.par, "auto", |v| match v.to_ascii_lowercase().as_str() {
        "auto" => Ok(ParMode::Auto),
        "always" => Ok(ParMode::Always),
        "never" => Ok(ParMode::Never),
        _ => Err(format!("`{v}` is not auto, always or never")),
    });
    if key_configured && private_keys.is_none() {
        return None; // the key's problem is recorded
    }
    Some(ClientAuth {
        secret,
        method: method?,
        private_keys,
        par: par?,
    })
}

/// The keys from `OIDC_CLIENT_PRIVATE_KEY` or its file, with `OIDC_CLIENT_PRIVATE_KEY_ID`
/// applied. Messages never quote the key.
fn private_keys(raw: &RawClientAuth<'_>, p: &mut Problems) -> Option<ClientKeys> {
    let ids = set(raw.private_key_id);
    let (var, pem) = match (set(raw.private_key), set(raw.private_key_file)) {
        (Some(_), Some(_)) => {
            p.push(
                KEY_FILE,
                "is set together with OIDC_CLIENT_PRIVATE_KEY; set only one of them",
            );
            return None;
        }
        // An env file cannot hold line breaks: accept a one-line PEM with `\n` escapes.
        (Some(inline), None) if !inline.contains('\n') => (KEY, inline.replace("\\n", "\n")),
        (Some(inline), None) => (KEY, inline.to_owned()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => (KEY_FILE, text),
            Err(e) => {
                p.push(KEY_FILE, format!("cannot read `{path}` ({e})"));
                return None;
            }
        },
        (None, None) => {
            if ids.is_some() {
                p.push(
                    KEY_ID,
                    "is set but no private key is; set OIDC_CLIENT_PRIVATE_KEY or OIDC_CLIENT_PRIVATE_KEY_FILE, or remove it",
                );
            }
            return None;
        }
    };
    let mut keys = match parse_pem(&pem) {
        Ok(keys) => keys,
        Err(e) => {
            p.push(var, error_chain(&e));
            return None;
        }
    };
    if let Some(ids) = ids {
        let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
        if ids.len() != keys.len() {
            p.push(
                KEY_ID,
                format!(
                    "names {} key id(s) for {} key(s) in {var}; give one per key, comma-separated, in the order of the keys",
                    ids.len(),
                    keys.len()
                ),
            );
            return None;
        }
        if let Some(bad) = ids
            .iter()
            .find(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()))
        {
            p.push(
                KEY_ID,
                format!("`{bad}` is not a usable key id (visible ASCII characters, no spaces)"),
            );
            return None;
        }
        for (key, id) in keys.iter_mut().zip(ids) {
            key.set_kid(id.to_owned());
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = keys.iter().find(|k| !seen.insert(k.kid().to_owned())) {
        p.push(
            if ids.is_some() { KEY_ID } else { var },
            format!("lists the key `{}` twice; each key must have its own id", dup.kid()),
        );
        return None;
    }
    ClientKeys::new(keys)
}
