//! The real test OpenID Provider (`tests/provider/provider.mjs`, panva's
//! oidc-provider) as a child process, plus helpers that act as the browser:
//! they drive its dev login/consent forms and its end-session page over plain
//! HTTP with a cookie-carrying `reqwest::Client`.
//!
//! Needs `node` on PATH and `npm ci --prefix tests/provider` done once.
//! One provider per test: its output is drained by tasks of the test's runtime.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use scraper::{Html, Selector};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use url::Url;

const READY_TIMEOUT: Duration = Duration::from_secs(45);
/// Redirects + form posts allowed in one `sign_in` (a full login takes ~7).
const MAX_STEPS: usize = 20;
/// Bytes of provider stderr kept for panic messages.
const LOG_LIMIT: usize = 64 * 1024;

pub struct TestProvider {
    /// Exactly as the provider announces it, e.g. `http://127.0.0.1:41234`
    /// or `http://127.0.0.1:41234/realms/x` (no trailing slash unless
    /// `issuer_path` had one).
    pub issuer: String,
    child: Child,
    /// Held open: the provider exits when its stdin closes, so it cannot
    /// outlive a test process that dies without running destructors.
    _stdin: ChildStdin,
    http: reqwest::Client,
}

impl TestProvider {
    /// Starts the provider with `config` (see the header of provider.mjs for
    /// the schema) and waits for its `READY <issuer>` line.
    pub async fn start(config: serde_json::Value) -> TestProvider {
        // A machine starved of CPU can stall a Node start-up now and then; one fresh
        // attempt tells that apart from a provider that cannot start at all.
        match Self::try_start(&config).await {
            Ok(provider) => provider,
            Err(first) => {
                eprintln!("test provider: retrying after a failed start: {first}");
                Self::try_start(&config).await.unwrap_or_else(|e| panic!("{e}"))
            }
        }
    }

    async fn try_start(config: &serde_json::Value) -> Result<TestProvider, String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/provider");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test OpenID Provider is not installed: run `npm ci --prefix tests/provider`"
        );

        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .current_dir(&dir)
            .env("TEST_OP_CONFIG", config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot run `node` (is Node.js installed and on PATH?)");

        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        // Drain stderr for the whole run (a full pipe would stall the
        // provider) and keep the start of it for panic messages.
        let log = Arc::new(Mutex::new(String::new()));
        let stderr_task = tokio::spawn(keep_output(stderr, Arc::clone(&log)));

        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(issuer) = line.strip_prefix("READY ") {
                    return Some(issuer.trim().to_owned());
                }
            }
            None // stdout closed: the provider died
        })
        .await;

        let issuer = match ready {
            Ok(Some(issuer)) => issuer,
            failure => {
                let _ = child.start_kill();
                // Let the stderr drain reach EOF so the message is complete.
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
                let why = match failure {
                    Err(_) => format!("no READY line within {READY_TIMEOUT:?}"),
                    _ => format!("it exited before READY ({:?})", child.try_wait().ok().flatten()),
                };
                return Err(format!(
                    "test OpenID Provider failed to start: {why}\nconfig: {config}\nstderr:\n{}",
                    log.lock().unwrap()
                ));
            }
        };

        // Nothing else is expected on stdout, but never let it block the provider.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        Ok(TestProvider {
            issuer,
            child,
            _stdin: stdin,
            http: reqwest::Client::new(),
        })
    }

    /// `issuer` + `path`, e.g. `provider.url("/.well-known/openid-configuration")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }

    /// The provider's counters: `token_requests`, `refresh_grants`,
    /// `authorization_code_grants`, `backchannel_logout_ok`,
    /// `backchannel_logout_errors`, `last_backchannel_error`.
    pub async fn stats(&self) -> serde_json::Value {
        let url = self.url("/test/stats");
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
        resp.json().await.unwrap_or_else(|e| panic!("GET {url}: bad JSON: {e}"))
    }

    /// Changes an account while the provider runs, as an administrator would: `overrides`
    /// replace its claim overrides; `{"disabled": true}` removes the account.
    pub async fn set_account(&self, login: &str, overrides: serde_json::Value) {
        let url = self.url(&format!("/test/accounts/{login}"));
        let resp = self
            .http
            .post(&url)
            .json(&overrides)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "POST {url}");
    }

    /// Refresh-token grants POSTed to the token endpoint so far (failed ones included).
    pub async fn refresh_grants(&self) -> u64 {
        self.stats().await["refresh_grants"].as_u64().expect("refresh_grants")
    }
}

impl TestProvider {
    /// Stops the provider now (outage tests); its port closes.
    pub async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        // kill_on_drop would do it too; be explicit. Closing stdin (dropped
        // with the struct) also makes the provider exit by itself.
        let _ = self.child.start_kill();
    }
}

async fn keep_output(mut out: impl AsyncRead + Unpin, log: Arc<Mutex<String>>) {
    let mut buf = vec![0u8; 8192];
    while let Ok(n @ 1..) = out.read(&mut buf).await {
        let mut kept = log.lock().unwrap();
        if kept.len() < LOG_LIMIT {
            kept.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

/// The authorization code in the provider's redirect to the callback.
pub fn code_in(callback: &str) -> String {
    url::Url::parse(callback)
        .expect("an absolute callback URL")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("the callback carries a code")
}

/// Signs `login` in at the provider as a browser would, starting from an
/// authorization URL, and returns the callback URL (starting with
/// `redirect_prefix`, carrying `code`/`state` or `error`) without following it.
///
/// `client` must have a cookie store and `redirect(Policy::none())`. Redirects
/// are followed by hand; the dev login form is posted with `login` and any
/// password, the consent form as it is. A provider session already held in
/// the cookie store skips the login form, an existing grant skips consent.
pub async fn sign_in(client: &reqwest::Client, authorize_url: &str, login: &str, redirect_prefix: &str) -> String {
    let mut method = Method::GET;
    let mut url = authorize_url.to_owned();
    let mut form: Vec<(String, String)> = Vec::new();
    let mut trail: Vec<String> = Vec::new(); // for panic messages

    for _ in 0..MAX_STEPS {
        trail.push(format!("{method} {url}"));
        let resp = send(client, &method, &url, &form).await;
        let status = resp.status();

        if status.is_redirection() {
            let location = location(&resp, &url);
            if location.starts_with(redirect_prefix) {
                return location;
            }
            (method, url, form) = (Method::GET, location, Vec::new());
            continue;
        }

        let body = resp.text().await.unwrap_or_default();
        if status != StatusCode::OK {
            flow_failed("unexpected response", status, &trail, &body);
        }
        let Some(page_form) = find_form(&body, &url, |f| f.field("prompt").is_some()) else {
            flow_failed("page without a login or consent form", status, &trail, &body);
        };
        form = page_form.fields.clone();
        match page_form.field("prompt") {
            Some("login") => {
                set_field(&mut form, "login", login);
                set_field(&mut form, "password", "any-password");
            }
            Some("consent") => {}
            other => flow_failed(&format!("unknown interaction prompt {other:?}"), status, &trail, &body),
        }
        (method, url) = (Method::POST, page_form.action);
    }
    panic!(
        "sign_in: no redirect to {redirect_prefix} after {MAX_STEPS} steps:\n  {}",
        trail.join("\n  ")
    );
}

/// Ends the browser's session at the provider through its own end-session
/// page (RP-initiated logout as the user would do it): GET
/// `{issuer}/session/end?{params}` (e.g. `client_id`, `id_token_hint`,
/// `post_logout_redirect_uri`, `state`; may be empty), then POST its
/// confirmation form with `logout=yes` ("Yes, sign me out").
///
/// The provider sends its back-channel logout requests (one per client the
/// session signed in to, with `sid` when the client asked for it) and waits
/// for them before answering, so they have been delivered when this returns.
/// Returns the redirect target, not followed: `post_logout_redirect_uri`
/// (with `state`) or `{issuer}/session/end/success`.
pub async fn end_session_at_provider(client: &reqwest::Client, issuer: &str, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&format!("{}/session/end", issuer.trim_end_matches('/'))).expect("issuer is a URL");
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    let url = url.to_string();
    let mut trail = vec![format!("GET {url}")];

    let resp = send(client, &Method::GET, &url, &[]).await;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status != StatusCode::OK {
        flow_failed("end-session page not shown", status, &trail, &body);
    }
    // With a session: <form id="op.logoutForm"> holding `xsrf`, the Yes
    // button (name=logout value=yes) outside it. Without one: an
    // auto-submitting form that already has logout=yes.
    let Some(confirm) = find_form(&body, &url, |f| f.field("xsrf").is_some()) else {
        flow_failed("end-session page without the confirmation form", status, &trail, &body);
    };
    let mut form = confirm.fields.clone();
    set_field(&mut form, "logout", "yes");

    trail.push(format!("POST {}", confirm.action));
    let resp = send(client, &Method::POST, &confirm.action, &form).await;
    let status = resp.status();
    if !status.is_redirection() {
        let body = resp.text().await.unwrap_or_default();
        flow_failed("end-session confirmation did not redirect", status, &trail, &body);
    }
    location(&resp, &confirm.action)
}

async fn send(client: &reqwest::Client, method: &Method, url: &str, form: &[(String, String)]) -> reqwest::Response {
    let mut req = client.request(method.clone(), url);
    if *method == Method::POST {
        req = req.form(form);
    }
    req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// The `Location` header made absolute against the request URL.
fn location(resp: &reqwest::Response, request_url: &str) -> String {
    let raw = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{} from {request_url} without a Location header", resp.status()));
    Url::parse(request_url)
        .and_then(|base| base.join(raw))
        .map(String::from)
        .unwrap_or_else(|_| raw.to_owned())
}

#[derive(Clone, Debug)]
struct HtmlForm {
    /// Absolute URL to POST to.
    action: String,
    /// Named `<input>`s with their values (empty when none).
    fields: Vec<(String, String)>,
}

impl HtmlForm {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// First form on the page that `want` accepts. Synchronous on purpose:
/// `scraper::Html` is not `Send` and must not live across an `.await`.
fn find_form(html: &str, page_url: &str, want: impl Fn(&HtmlForm) -> bool) -> Option<HtmlForm> {
    let doc = Html::parse_document(html);
    let forms = Selector::parse("form").unwrap();
    let inputs = Selector::parse("input[name]").unwrap();
    let base = Url::parse(page_url).ok();

    doc.select(&forms)
        .map(|form| {
            let action = form.value().attr("action").unwrap_or("");
            let action = base
                .as_ref()
                .and_then(|b| b.join(action).ok())
                .map(String::from)
                .unwrap_or_else(|| action.to_owned());
            let fields = form
                .select(&inputs)
                .map(|i| {
                    let v = i.value();
                    (
                        v.attr("name").unwrap().to_owned(),
                        v.attr("value").unwrap_or("").to_owned(),
                    )
                })
                .collect();
            HtmlForm { action, fields }
        })
        .find(|f| want(f))
}

fn set_field(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some(field) => field.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
}

fn flow_failed(what: &str, status: StatusCode, trail: &[String], body: &str) -> ! {
    panic!(
        "browser flow at the test OpenID Provider: {what} ({status})\nrequests:\n  {}\npage text: {}",
        trail.join("\n  "),
        page_text(body)
    );
}

/// The visible text of an HTML page (e.g. the provider's error page:
/// "oops! something went wrong error: invalid_request …"), shortened.
fn page_text(body: &str) -> String {
    let doc = Html::parse_document(body);
    // Text of <body> only: the dev pages start with a large inline <style>.
    let root = Selector::parse("body")
        .ok()
        .and_then(|s| doc.select(&s).next())
        .unwrap_or(doc.root_element());
    let text = root
        .text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = if text.is_empty() { body.to_owned() } else { text };
    if text.len() > 1500 {
        let mut cut = 1500;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(" …");
    }
    text
}
