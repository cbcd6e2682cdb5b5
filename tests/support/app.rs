//! `spawn_app()`: the service in-process against a real Redis and the real test
//! provider, plus a browser-like client and typed request helpers.

use std::net::TcpListener;

use oidc_session::config::Settings;
use oidc_session::session::{SessionId, SessionRecord};
use oidc_session::startup::Application;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{redirect::Policy, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::support::provider::{self, TestProvider};
use crate::support::redis::TestRedis;

pub const CLIENT_ID: &str = "rp";
pub const CLIENT_SECRET: &str = "a-long-test-client-secret";
/// The redirect URI `oidc-session check` runs with in tests; registered for the test client.
pub const CHECK_REDIRECT_URI: &str = "https://app.example.com/auth/callback";

/// How the test provider and the service are set up.
pub struct Options {
    pub confidential: Option<&'static str>,
    /// Extra `OIDC_*` variables for the service.
    pub env: Vec<(&'static str, String)>,
    /// Extra keys merged into the test provider's config.
    pub provider: Value,
    /// Extra metadata merged into the test provider's client `rp` (after `confidential`);
    /// `{public}` in a string value stands for the service's public URL.
    pub client: Value,
    /// Connect as this Redis ACL user, limited to the `oidc:` key prefix.
    pub redis_user: Option<(&'static str, &'static str)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            confidential: None,
            env: Vec::new(),
            provider: json!({}),
            client: json!({}),
            redis_user: None,
        }
    }
}

pub struct TestApp {
    pub public: String,
    pub internal: String,
    pub provider: TestProvider,
    pub redis: TestRedis,
    /// A browser: keeps cookies, follows no redirects.
    pub browser: reqwest::Client,
    /// A backend calling the internal API.
    pub api: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The Redis URL, with an ACL user created first when one is asked for.
fn redis_url_for(redis: &TestRedis, user: Option<(&str, &str)>) -> String {
    let Some((name, password)) = user else {
        return redis.url.clone();
    };
    let mut conn = redis.connection();
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg(name)
        .arg("on")
        .arg(format!(">{password}"))
        .arg("~oidc:*")
        .arg("+@all")
        .arg("-@dangerous")
        .query::<()>(&mut conn)
        .unwrap();
    format!("redis://{name}:{password}@127.0.0.1:{}", redis.port)
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub fn free_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let redis = TestRedis::start();
    let public = free_listener();
    let internal = free_listener();
    let public_url = format!("http://127.0.0.1:{}", public.local_addr().unwrap().port());
    let internal_url = format!("http://127.0.0.1:{}", internal.local_addr().unwrap().port());

    let mut client = json!({
        "client_id": CLIENT_ID,
        "token_endpoint_auth_method": "none",
        // The second is what the `check` tests configure (check probes the registration).
        "redirect_uris": [format!("{public_url}/auth/callback"), CHECK_REDIRECT_URI],
        "post_logout_redirect_uris": [format!("{public_url}/bye")],
        "backchannel_logout_uri": format!("{public_url}/auth/backchannel-logout"),
    });
    if let Some(method) = options.confidential {
        client["client_secret"] = json!(CLIENT_SECRET);
        client["token_endpoint_auth_method"] = json!(method);
    }
    for (k, v) in options.client.as_object().into_iter().flatten() {
        client[k] = match v.as_str() {
            Some(text) => json!(text.replace("{public}", &public_url)),
            None => v.clone(),
        };
    }
    let mut config = json!({ "port": 0, "clients": [client] });
    for (k, v) in options.provider.as_object().into_iter().flatten() {
        config[k] = v.clone();
    }
    let provider = TestProvider::start(config).await;

    let mut vars: Vec<(String, String)> = vec![
        ("OIDC_ISSUER_URL".into(), provider.issuer.clone()),
        ("OIDC_CLIENT_ID".into(), CLIENT_ID.into()),
        ("OIDC_REDIRECT_URI".into(), format!("{public_url}/auth/callback")),
        ("OIDC_POST_LOGOUT_REDIRECT_URI".into(), format!("{public_url}/bye")),
        ("OIDC_REDIS_URL".into(), redis_url_for(&redis, options.redis_user)),
        // oidc-provider issues refresh tokens for offline_access only with consent.
        ("OIDC_PROMPT".into(), "consent".into()),
        ("OIDC_LOG".into(), "warn".into()),
    ];
    if let Some(method) = options.confidential {
        vars.push(("OIDC_CLIENT_SECRET".into(), CLIENT_SECRET.into()));
        vars.push(("OIDC_CLIENT_AUTH_METHOD".into(), method.into()));
    }
    if options
        .env
        .iter()
        .any(|(k, _)| k.starts_with("OIDC_REDIS_") && *k != "OIDC_REDIS_KEY_PREFIX")
    {
        vars.retain(|(name, _)| name != "OIDC_REDIS_URL");
    }
    for (k, v) in options.env {
        vars.retain(|(name, _)| name != k);
        vars.push((k.into(), v));
    }
    let stop = start_service(vars, public, internal);
    let test_app = TestApp {
        public: public_url,
        internal: internal_url,
        provider,
        redis,
        browser: browser(),
        api: reqwest::Client::new(),
        stop: Some(stop),
    };
    test_app.wait_until_ready().await;
    test_app
}

/// Runs the service in-process on the given listeners; it stops when the sender drops.
pub fn start_service(vars: Vec<(String, String)>, public: TcpListener, internal: TcpListener) -> oneshot::Sender<()> {
    let settings = Settings::from_vars(vars).expect("test settings are valid");
    static LOGS: std::sync::OnceLock<Option<oidc_session::telemetry::Telemetry>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| oidc_session::telemetry::init(settings.log_format, &settings.log_filter, None).ok());
    let app = Application::with_listeners(settings, public, internal).expect("the app builds");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    stop
}

/// `POST /introspect` on an internal listener with `{"session": …}`.
pub async fn introspect_at(internal: &str, session: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{internal}/introspect"))
        .json(&json!({ "session": session }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub async fn wait_until_ready(internal: &str) {
    let client = reqwest::Client::new();
    // Generous: a loaded CI machine runs 200 tests at once; the loop ends as soon as it can.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{internal}/readyz")).send().await {
            if r.status() == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the service at {internal} did not become ready within 20 s");
}

impl TestApp {
    pub async fn wait_until_ready(&self) {
        wait_until_ready(&self.internal).await;
    }

    pub async fn get_login(&self, browser: &reqwest::Client, query: &str) -> Response {
        browser
            .get(format!("{}/auth/login{query}", self.public))
            .send()
            .await
            .unwrap()
    }

    /// Signs `user` in with `browser`, returning the session cookie's value.
    pub async fn sign_in_with(&self, browser: &reqwest::Client, user: &str) -> String {
        let callback = self.provider_callback(browser, user, "").await;
        let response = browser.get(&callback).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FOUND,
            "callback: {}",
            response.text().await.unwrap()
        );
        session_cookie(response.headers()).expect("the callback sets a session cookie")
    }

    pub async fn sign_in(&self, user: &str) -> String {
        self.sign_in_with(&self.browser, user).await
    }

    /// Starts a login and drives the provider's forms; returns the callback URL, not yet visited.
    pub async fn provider_callback(&self, browser: &reqwest::Client, user: &str, query: &str) -> String {
        let login = self.get_login(browser, query).await;
        assert_eq!(login.status(), StatusCode::FOUND);
        let authorize = location(&login);
        provider::sign_in(browser, &authorize, user, &format!("{}/auth/callback", self.public)).await
    }

    pub async fn introspect(&self, session: &str) -> Value {
        introspect_at(&self.internal, session).await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.api.get(format!("{}/metrics", self.internal)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    /// `GET /forward-auth` with the session cookie forwarded (`None`: no cookie).
    pub async fn forward_auth(&self, cookie: Option<&str>) -> Response {
        let request = self.api.get(format!("{}/forward-auth", self.internal));
        let request = match cookie {
            Some(value) => request.header("cookie", format!("oidc_session={value}")),
            None => request,
        };
        request.send().await.unwrap()
    }

    pub async fn is_active(&self, session: &str) -> bool {
        self.introspect(session).await["active"] == json!(true)
    }

    /// The session's record as stored in Redis, decoded with the service's own codec.
    pub fn stored_record(&self, session: &str) -> SessionRecord {
        let mut conn = self.redis.connection();
        let raw: Vec<u8> = redis::cmd("GET")
            .arg(session_redis_key(session))
            .query(&mut conn)
            .unwrap();
        SessionRecord::decode(&raw).unwrap()
    }

    /// The tokens stored for a session (stored in clear: no encryption key configured).
    pub fn stored_tokens(&self, session: &str) -> Value {
        let key = SessionId::parse(session).unwrap().key();
        let record = self.stored_record(session);
        assert!(!record.tokens.is_sealed(), "no encryption key is configured");
        serde_json::to_value(record.tokens.open(None, &key).unwrap()).unwrap()
    }

    /// A refresh grant sent straight to the provider, as an attacker holding the token would.
    pub async fn use_refresh_token_at_provider(&self, refresh_token: &str) -> StatusCode {
        reqwest::Client::new()
            .post(self.provider.url("/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", CLIENT_ID),
            ])
            .send()
            .await
            .unwrap()
            .status()
    }

    /// `POST /auth/refresh` as the frontend sends it (same-origin).
    pub fn refresh_request(&self, session: &str) -> reqwest::RequestBuilder {
        self.api
            .post(format!("{}/auth/refresh", self.public))
            .header("cookie", format!("oidc_session={session}"))
            .header("origin", &self.public)
    }

    pub async fn post_refresh(&self, session: &str) -> Response {
        self.refresh_request(session).send().await.unwrap()
    }

    /// Every key and value in the test Redis, as raw text.
    pub fn redis_dump(&self) -> String {
        let mut conn = self.redis.connection();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
        let mut dump = String::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).unwrap();
            let value: Vec<Vec<u8>> = match kind.as_str() {
                "string" => vec![redis::cmd("GET").arg(&key).query(&mut conn).unwrap()],
                "hash" => redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap(),
                "set" => redis::cmd("SMEMBERS").arg(&key).query(&mut conn).unwrap(),
                "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query(&mut conn).unwrap(),
                other => panic!("unexpected Redis type {other}"),
            };
            dump.push_str(&key);
            for v in value {
                dump.push(' ');
                dump.push_str(&String::from_utf8_lossy(&v));
            }
            dump.push('\n');
        }
        dump
    }
}

/// The Redis key of a session cookie's value, under the default prefix.
pub fn session_redis_key(session: &str) -> String {
    format!("oidc:session:{{{}}}", SessionId::parse(session).unwrap().key().0)
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} response", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `oidc_session` value a response sets (not a removal).
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|c| c.starts_with("oidc_session=") && !c.contains("Max-Age=0"))
        .and_then(|c| c.split(';').next().map(|kv| kv["oidc_session=".len()..].to_owned()))
}

pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}
