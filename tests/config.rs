//! The binary's configuration errors: every problem at once, each naming its variable,
//! exit status 2, before any port is bound.

use std::process::Command;

fn run(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_oidc-session"))
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn missing_required_variables_exit_2_naming_each_one() {
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    for var in ["OIDC_ISSUER_URL", "OIDC_CLIENT_ID", "OIDC_REDIRECT_URI"] {
        assert!(
            stderr.contains(&format!("{var}: is required")),
            "{var} not named in:\n{stderr}"
        );
    }
}

#[test]
fn every_bad_value_is_reported_together_with_an_example() {
    let (code, stderr) = run(&[
        ("OIDC_ISSUER_URL", "not a url"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_REDIRECT_URI", "ftp://x"),
        ("OIDC_SESSION_IDLE_TIMEOUT", "forever"),
        ("OIDC_COOKIE_SAMESITE", "sometimes"),
        ("OIDC_SESSION_ENCRYPTION_KEY", "c2hvcnQ="),
        ("OIDC_LISTEN_ADDR", "localhost"),
        ("OIDC_REDIS_URL", "http://user:hunter2@redis"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    for var in [
        "OIDC_ISSUER_URL",
        "OIDC_REDIRECT_URI",
        "OIDC_SESSION_IDLE_TIMEOUT",
        "OIDC_COOKIE_SAMESITE",
        "OIDC_SESSION_ENCRYPTION_KEY",
        "OIDC_LISTEN_ADDR",
        "OIDC_REDIS_URL",
    ] {
        assert!(stderr.contains(&format!("{var}:")), "{var} not named in:\n{stderr}");
    }
    assert!(stderr.contains("for example"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "a secret leaked into the error: {stderr}");
}

#[test]
fn two_redis_modes_at_once_are_a_configuration_error() {
    let (code, stderr) = run(&[
        ("OIDC_ISSUER_URL", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
        ("OIDC_REDIS_URL", "redis://a:6379"),
        ("OIDC_REDIS_CLUSTER_NODES", "redis://b:6379"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("only one of OIDC_REDIS_URL"), "{stderr}");
}

#[test]
fn an_absurd_duration_exits_2_naming_the_variable_and_its_maximum() {
    let (code, stderr) = run(&[
        ("OIDC_ISSUER_URL", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
        ("OIDC_HTTP_TIMEOUT", "1000000000d"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("OIDC_HTTP_TIMEOUT: `1000000000d` is longer than the maximum, 5m"),
        "{stderr}"
    );
}

#[test]
fn a_secret_beside_a_weak_private_key_exits_2_naming_both_and_never_prints_the_key() {
    use rsa::pkcs8::EncodePrivateKey as _;
    let weak = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let pem = weak.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let (code, stderr) = run(&[
        ("OIDC_ISSUER_URL", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
        ("OIDC_CLIENT_SECRET", "hunter2-client"),
        ("OIDC_CLIENT_PRIVATE_KEY", pem.as_str()),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("OIDC_CLIENT_SECRET: is set together with a private key"),
        "{stderr}"
    );
    assert!(
        stderr.contains("OIDC_CLIENT_PRIVATE_KEY: holds an RSA key of 1024 bits"),
        "{stderr}"
    );
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(
        !stderr.contains(&body[..32]) && !stderr.contains("hunter2"),
        "a secret leaked: {stderr}"
    );
}
