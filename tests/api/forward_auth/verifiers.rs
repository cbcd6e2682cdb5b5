//! The README's two assertion verifiers (Python PyJWT, Node jose), run as written there
//! against an assertion from a real sign-in. The libraries are installed from PyPI and npm
//! into a scratch folder of the target directory, once.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::assertion::app_with_assertions;
use super::{header, send};

const PYJWT: &str = "pyjwt[crypto]==2.15.1";
const JOSE: &str = "jose@6.2.19";
/// What the README's snippets name, replaced by the test's own listeners.
const README_JWKS: &str = "http://oidc-session.auth.svc:9090";
const README_ISSUER: &str = "https://app.example.com";
const README_AUDIENCE: &str = "orders-api";

/// The fenced block of `language` in the README's "Verifying the identity assertion".
fn readme_snippet(language: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("### Verifying the identity assertion")
        .nth(1)
        .expect("README has the section")
        .split("\n### ")
        .next()
        .unwrap();
    let fence = format!("```{language}\n");
    let start = section.find(&fence).unwrap_or_else(|| panic!("no {language} block")) + fence.len();
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_owned()
}

/// Runs an installation step; it must succeed.
fn run(command: &mut Command) {
    let output = command.output().expect("runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A scratch folder with PyJWT in a virtualenv and jose in node_modules; installed once
/// per test binary (tests run in parallel) and kept for later runs.
pub(crate) fn installed() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(install).clone()
}

fn install() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("assertion-verifiers");
    std::fs::create_dir_all(&dir).unwrap();
    if !dir.join(".pyjwt-installed").exists() {
        run(Command::new("python3").args(["-m", "venv", "py"]).current_dir(&dir));
        run(Command::new(dir.join("py/bin/pip")).args(["install", "-q", PYJWT]));
        std::fs::write(dir.join(".pyjwt-installed"), PYJWT).unwrap();
    }
    if !dir.join(".jose-installed").exists() {
        std::fs::write(dir.join("package.json"), r#"{"private": true}"#).unwrap();
        run(Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", JOSE])
            .current_dir(&dir));
        std::fs::write(dir.join(".jose-installed"), JOSE).unwrap();
    }
    dir
}

/// The snippet with the test's URLs, and a few lines that print the claims it returns or
/// exit 3 when it refuses. `audience` replaces the README's `orders-api`.
pub(crate) fn verifier(dir: &Path, language: &str, internal: &str, public: &str, audience: &str) -> PathBuf {
    let snippet = readme_snippet(language);
    let named = [README_JWKS, README_ISSUER, README_AUDIENCE];
    assert!(named.iter().all(|n| snippet.contains(n)), "{snippet}");
    let code = snippet
        .replace(README_JWKS, internal)
        .replace(README_ISSUER, public)
        .replace(README_AUDIENCE, audience);
    let (name, harness) = match language {
        "python" => (
            "verify.py",
            "\nimport json, sys\ntry:\n    print(json.dumps(user_of({\"X-Auth-Request-Assertion\": sys.argv[1]})))\n\
             except jwt.PyJWTError as e:\n    print(\"refused\", type(e).__name__)\n    sys.exit(3)\n",
        ),
        _ => (
            "verify.mjs",
            "\ntry {\n  console.log(JSON.stringify(await userOf({ 'x-auth-request-assertion': process.argv[2] })));\n\
             } catch (e) {\n  console.log('refused', e.code, e.claim ?? '');\n  process.exit(3);\n}\n",
        ),
    };
    let path = dir.join(format!(
        "{}-{name}",
        audience.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    std::fs::write(&path, code + harness).unwrap();
    path
}

/// The claims a verifier returned, or why it refused the token. It runs beside the
/// service, which answers its JWKS request on this test's runtime.
pub(crate) async fn verify(dir: &Path, script: &Path, token: &str) -> Result<Value, String> {
    let program = match script.extension().and_then(|e| e.to_str()) {
        Some("py") => dir.join("py/bin/python"),
        _ => PathBuf::from("node"),
    };
    let output = tokio::process::Command::new(program)
        .arg(script)
        .arg(token)
        .current_dir(dir)
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    match output.status.code() {
        Some(0) => Ok(serde_json::from_str(&stdout).expect("claims as JSON")),
        Some(3) => Err(stdout),
        _ => panic!("{script:?} failed: {stdout}{}", String::from_utf8_lossy(&output.stderr)),
    }
}

#[tokio::test]
async fn the_readme_verifiers_in_python_and_node_accept_a_real_assertion_and_refuse_tampered_ones() {
    let dir = tokio::task::spawn_blocking(installed).await.unwrap();
    let app = app_with_assertions(Vec::new()).await;
    let session = app.sign_in("alice").await;
    let assertion_for = |audience: &'static str| {
        let request = app.gate(
            Method::GET,
            &format!("/forward-auth?audience={audience}"),
            Some(&session),
        );
        async move {
            let ok = send(request).await;
            assert_eq!(ok.status(), StatusCode::OK);
            header(&ok, "x-auth-request-assertion")
        }
    };
    let real = assertion_for("orders-api").await;
    let elsewhere = assertion_for("billing-api").await;
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["sub"] = Value::from("admin");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");

    for language in ["python", "js"] {
        let script = verifier(&dir, language, &app.internal, &app.public, README_AUDIENCE);
        let accepted = verify(&dir, &script, &real)
            .await
            .unwrap_or_else(|why| panic!("{language} refused a real assertion: {why}"));
        assert_eq!(accepted["sub"], "alice", "{language}");
        assert_eq!(accepted["aud"], "orders-api", "{language}");
        let refused = verify(&dir, &script, &tampered).await.expect_err("tampered");
        assert!(refused.to_lowercase().contains("signature"), "{language}: {refused}");
        let refused = verify(&dir, &script, &elsewhere).await.expect_err("another audience");
        assert!(refused.to_lowercase().contains("aud"), "{language}: {refused}");
    }
}
