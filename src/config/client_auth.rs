//! How the client authenticates: `OIDC_CLIENT_SECRET`, `OIDC_CLIENT_AUTH_METHOD`, the
//! private key for `private_key_jwt` (`OIDC_CLIENT_PRIVATE_KEY`, `…_FILE`, `…_ID`), and
//! `OIDC_PAR`.

use super::settings::{ClientAuth, ClientAuthMethod, ClientKeys, ParMode};
use super::{Problems, Secret};
use crate::crypto::client_key::parse_pem;
use crate::util::error_chain;

const CLIENT_KEY: KeyVars = KeyVars {
    key: "OIDC_CLIENT_PRIVATE_KEY",
    file: "OIDC_CLIENT_PRIVATE_KEY_FILE",
    id: "OIDC_CLIENT_PRIVATE_KEY_ID",
};
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

pub(super) struct ClientAuthSection {
    pub auth: ClientAuth,
    pub par: ParMode,
}

fn set(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|v| !v.is_empty())
}

/// Every problem is recorded in `p`; `None` when there was one.
pub(super) fn parse(raw: RawClientAuth<'_>, p: &mut Problems) -> Option<ClientAuthSection> {
    let secret = raw.secret.filter(|s| !s.is_empty()).map(|s| Secret::new(s.to_owned()));
    let key_configured = set(raw.private_key).is_some() || set(raw.private_key_file).is_some();
    let private_keys = private_keys(
        CLIENT_KEY,
        set(raw.private_key),
        set(raw.private_key_file),
        set(raw.private_key_id),
        p,
    );
    if secret.is_some() && key_configured {
        p.push(
            "OIDC_CLIENT_SECRET",
            "is set together with a private key (OIDC_CLIENT_PRIVATE_KEY or OIDC_CLIENT_PRIVATE_KEY_FILE); \
             a client authenticates with one of them: remove the other",
        );
    }
    let method = p.optional(METHOD, raw.method, "private_key_jwt", |v| match v.parse() {
        // `none` is what leaving the secret unset means; it is not written here.
        Ok(ClientAuthMethod::None) => Err(format!(
            "`{v}` is not client_secret_basic, client_secret_post or private_key_jwt"
        )),
        other => other,
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
    let auth = match (method?, secret, private_keys) {
        (ClientAuthMethod::PrivateKeyJwt, _, Some(keys)) => ClientAuth::PrivateKeyJwt(keys),
        (ClientAuthMethod::ClientSecretBasic, Some(secret), _) => ClientAuth::SecretBasic(secret),
        (ClientAuthMethod::ClientSecretPost, Some(secret), _) => ClientAuth::SecretPost(secret),
        (ClientAuthMethod::None, None, None) => ClientAuth::None,
        // Every other combination was recorded as a problem above.
        _ => return None,
    };
    Some(ClientAuthSection { auth, par: par? })
}

/// The three variables of one private key: the PEM, a file holding it, and key ids.
#[derive(Clone, Copy)]
pub(super) struct KeyVars {
    pub key: &'static str,
    pub file: &'static str,
    pub id: &'static str,
}

/// The keys from `vars.key` or its file, with the key ids of `vars.id` applied (the client's
/// `private_key_jwt` keys and the assertion keys are read alike). Messages never quote a key.
pub(super) fn private_keys(
    vars: KeyVars,
    inline: Option<&str>,
    file: Option<&str>,
    ids: Option<&str>,
    p: &mut Problems,
) -> Option<ClientKeys> {
    let (var, pem) = match (inline, file) {
        (Some(_), Some(_)) => {
            p.push(
                vars.file,
                format!("is set together with {}; set only one of them", vars.key),
            );
            return None;
        }
        // An env file cannot hold line breaks: accept a one-line PEM with `\n` escapes.
        (Some(inline), None) if !inline.contains('\n') => (vars.key, inline.replace("\\n", "\n")),
        (Some(inline), None) => (vars.key, inline.to_owned()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => (vars.file, text),
            Err(e) => {
                p.push(vars.file, format!("cannot read `{path}` ({e})"));
                return None;
            }
        },
        (None, None) => {
            if ids.is_some() {
                p.push(
                    vars.id,
                    format!(
                        "is set but no private key is; set {} or {}, or remove it",
                        vars.key, vars.file
                    ),
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
                vars.id,
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
                vars.id,
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
            if ids.is_some() { vars.id } else { var },
            format!("lists the key `{}` twice; each key must have its own id", dup.kid()),
        );
        return None;
    }
    ClientKeys::new(keys)
}

#[cfg(test)]
pub(super) mod tests {
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};

    use crate::config::{ClientAuthMethod, ParMode, Problem, Settings};

    pub(in crate::config) fn vars(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let base = [
            ("OIDC_ISSUER_URL", "https://id.example.com"),
            ("OIDC_CLIENT_ID", "app"),
            ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
        ];
        base.iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub(in crate::config) fn ec_pem() -> String {
        p256::SecretKey::generate()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    }

    pub(in crate::config) fn problems(extra: &[(&str, &str)]) -> Vec<Problem> {
        Settings::from_vars(vars(extra)).expect_err("a problem").problems
    }

    fn named(problems: &[Problem], var: &str) -> String {
        problems
            .iter()
            .find(|p| p.var == var)
            .map(|p| p.message.clone())
            .unwrap_or_else(|| panic!("{var} not named in {problems:?}"))
    }

    #[test]
    fn a_private_key_alone_means_private_key_jwt_and_par_defaults_to_auto() {
        let pem = ec_pem();
        let s = Settings::from_vars(vars(&[("OIDC_CLIENT_PRIVATE_KEY", &pem)])).unwrap();
        assert_eq!(s.provider.client_auth.method(), ClientAuthMethod::PrivateKeyJwt);
        assert_eq!(s.provider.par, ParMode::Auto);
        assert!(s.provider.client_auth.secret().is_none());
        let keys = s.provider.client_auth.keys().expect("the key");
        assert_eq!(keys.signing().kid(), keys.signing().public_jwk().thumbprint());
    }

    #[test]
    fn a_key_from_a_file_and_a_one_line_key_with_escaped_newlines_are_both_read() {
        let pem = ec_pem();
        let path = std::env::temp_dir().join(format!("oidc-key-{}.pem", crate::util::random_token()));
        std::fs::write(&path, &pem).unwrap();
        let from_file = Settings::from_vars(vars(&[("OIDC_CLIENT_PRIVATE_KEY_FILE", path.to_str().unwrap())]));
        std::fs::remove_file(&path).unwrap();
        let one_line = pem.trim_end().replace('\n', "\\n");
        let inline = Settings::from_vars(vars(&[("OIDC_CLIENT_PRIVATE_KEY", &one_line)])).unwrap();
        let kid = |s: &Settings| s.provider.client_auth.keys().unwrap().signing().kid().to_owned();
        assert_eq!(kid(&from_file.unwrap()), kid(&inline));
    }

    #[test]
    fn a_configured_key_id_replaces_the_thumbprint() {
        let pem = ec_pem();
        let s = Settings::from_vars(vars(&[
            ("OIDC_CLIENT_PRIVATE_KEY", &pem),
            ("OIDC_CLIENT_PRIVATE_KEY_ID", "key-2026"),
            ("OIDC_PAR", "always"),
        ]))
        .unwrap();
        assert_eq!(s.provider.client_auth.keys().unwrap().signing().kid(), "key-2026");
        assert_eq!(s.provider.par, ParMode::Always);
    }

    #[test]
    fn a_secret_and_a_key_together_and_a_bad_par_value_are_reported_together() {
        let pem = ec_pem();
        let found = problems(&[
            ("OIDC_CLIENT_SECRET", "s3cret-value"),
            ("OIDC_CLIENT_PRIVATE_KEY", &pem),
            ("OIDC_PAR", "sometimes"),
        ]);
        assert!(named(&found, "OIDC_CLIENT_SECRET").contains("private key"));
        assert!(named(&found, "OIDC_PAR").contains("auto, always or never"));
        assert!(!format!("{found:?}").contains("s3cret-value"));
    }

    #[test]
    fn a_key_and_a_key_file_together_are_a_problem_naming_the_file() {
        let pem = ec_pem();
        let found = problems(&[
            ("OIDC_CLIENT_PRIVATE_KEY", &pem),
            ("OIDC_CLIENT_PRIVATE_KEY_FILE", "/etc/key.pem"),
        ]);
        assert!(named(&found, "OIDC_CLIENT_PRIVATE_KEY_FILE").contains("only one"));
    }

    #[test]
    fn an_unreadable_key_file_is_a_problem_naming_the_path() {
        let found = problems(&[("OIDC_CLIENT_PRIVATE_KEY_FILE", "/nonexistent/key.pem")]);
        assert!(named(&found, "OIDC_CLIENT_PRIVATE_KEY_FILE").contains("/nonexistent/key.pem"));
    }

    #[test]
    fn a_weak_key_is_a_problem_that_never_quotes_the_key() {
        use rsa::pkcs8::EncodePrivateKey as _;
        let weak = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let pem = weak.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let found = problems(&[("OIDC_CLIENT_PRIVATE_KEY", &pem)]);
        assert!(named(&found, "OIDC_CLIENT_PRIVATE_KEY").contains("1024 bits"));
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!format!("{found:?}").contains(&body[..24]));
    }

    #[test]
    fn private_key_jwt_without_a_key_and_a_key_id_without_a_key_are_problems() {
        let found = problems(&[
            ("OIDC_CLIENT_AUTH_METHOD", "private_key_jwt"),
            ("OIDC_CLIENT_PRIVATE_KEY_ID", "k1"),
        ]);
        assert!(named(&found, "OIDC_CLIENT_AUTH_METHOD").contains("no private key"));
        assert!(named(&found, "OIDC_CLIENT_PRIVATE_KEY_ID").contains("no private key"));
    }

    #[test]
    fn a_secret_method_with_only_a_key_is_a_problem_pointing_at_private_key_jwt() {
        let pem = ec_pem();
        let found = problems(&[
            ("OIDC_CLIENT_PRIVATE_KEY", &pem),
            ("OIDC_CLIENT_AUTH_METHOD", "client_secret_basic"),
        ]);
        assert!(named(&found, "OIDC_CLIENT_AUTH_METHOD").contains("private_key_jwt"));
    }

    #[test]
    fn key_ids_must_match_the_keys_one_for_one() {
        let two = format!("{}{}", ec_pem(), ec_pem());
        let found = problems(&[
            ("OIDC_CLIENT_PRIVATE_KEY", &two),
            ("OIDC_CLIENT_PRIVATE_KEY_ID", "only-one"),
        ]);
        assert!(named(&found, "OIDC_CLIENT_PRIVATE_KEY_ID").contains("1 key id(s) for 2 key(s)"));
        let s = Settings::from_vars(vars(&[
            ("OIDC_CLIENT_PRIVATE_KEY", &two),
            ("OIDC_CLIENT_PRIVATE_KEY_ID", "new, old"),
        ]))
        .unwrap();
        let kids: Vec<&str> = s
            .provider
            .client_auth
            .keys()
            .unwrap()
            .all()
            .iter()
            .map(|k| k.kid())
            .collect();
        assert_eq!(kids, ["new", "old"]);
    }
}
