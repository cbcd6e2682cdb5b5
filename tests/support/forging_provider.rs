//! A hand-written OpenID Provider that issues forged and defective ID tokens — the cases a
//! real provider cannot produce. Everything else about it is minimal but well-formed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use poem::listener::TcpAcceptor;
use poem::web::{Data, Form, Json, Query};
use poem::{get, handler, post, EndpointExt, IntoResponse, Response, Route, Server};
use serde_json::{json, Value};

use reqwest::StatusCode;
use tokio::sync::oneshot;

use crate::support::app::{
    browser, free_listener, location, session_cookie, start_service, wait_until_ready, CLIENT_ID,
};
use crate::support::forge::TestSigner;
use crate::support::redis::TestRedis;

/// What the token endpoint puts in `id_token`, given the request's nonce.
pub type IdTokenMaker = Arc<dyn Fn(&Forge, &str) -> String + Send + Sync>;

pub struct Forge {
    pub issuer: String,
    pub signer: TestSigner,
    /// Published in the JWKS besides `signer`'s key (key rotation).
    pub extra_keys: Mutex<Vec<Value>>,
    nonce: Mutex<String>,
    maker: Mutex<Option<IdTokenMaker>>,
    /// Merged into the discovery document (to add or remove features).
    pub discovery_extra: Mutex<Value>,
    /// Merged into every token response (hostile `expires_in`, say).
    pub token_extra: Mutex<Value>,
    /// When set, the token endpoint authenticates the client strictly by its registered
    /// method and secret (Authelia does; oidc-provider takes basic and post alike).
    pub client_auth: Mutex<Option<(ClientAuth, String)>>,
    /// When set, the authorization, token and userinfo endpoints answer only this status.
    pub fail_with: Mutex<Option<u16>>,
    /// When set, a code grant gets this OAuth error after the client authenticated (how
    /// some providers answer a client that lacks the grant).
    pub code_grant_refused: Mutex<Option<(u16, &'static str)>>,
    /// How many times the JWKS was fetched.
    pub jwks_fetches: std::sync::atomic::AtomicUsize,
}

/// How the registered client must authenticate at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

impl Forge {
    /// Valid claims for `sub` with this nonce; tests then break one thing.
    pub fn claims(&self, client_id: &str, nonce: &str) -> Value {
        let now = oidc_session::session::now();
        json!({"iss": self.issuer, "sub": "forged-user", "aud": client_id, "iat": now, "exp": now + 300, "nonce": nonce})
    }

    pub fn header(&self) -> Value {
        json!({"alg": "RS256", "typ": "JWT", "kid": self.signer.kid()})
    }

    pub fn set_maker(&self, maker: IdTokenMaker) {
        *self.maker.lock().unwrap() = Some(maker);
    }
}

pub struct ForgingProvider {
    pub forge: Arc<Forge>,
    _server: tokio::task::JoinHandle<()>,
}

impl Drop for ForgingProvider {
    fn drop(&mut self) {
        self._server.abort();
    }
}

impl ForgingProvider {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let acceptor = TcpAcceptor::from_std(listener).unwrap();
        Self::serve(issuer, acceptor)
    }

    /// The same provider over https, with a fresh self-signed certificate for 127.0.0.1;
    /// returns the certificate (PEM) too.
    pub async fn start_tls() -> (Self, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let issuer = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let (acceptor, cert_pem) =
            crate::support::tls::SelfSignedAcceptor::new(TcpAcceptor::from_std(listener).unwrap());
        (Self::serve(issuer, acceptor), cert_pem)
    }

    fn serve(issuer: String, acceptor: impl poem::listener::Acceptor + 'static) -> Self {
        let forge = Arc::new(Forge {
            issuer,
            signer: TestSigner::new("key-1"),
            extra_keys: Mutex::new(Vec::new()),
            nonce: Mutex::new(String::new()),
            maker: Mutex::new(None),
            discovery_extra: Mutex::new(json!({})),
            token_extra: Mutex::new(json!({})),
            client_auth: Mutex::new(None),
            fail_with: Mutex::new(None),
            code_grant_refused: Mutex::new(None),
            jwks_fetches: Default::default(),
        });
        let app = Route::new()
            .at("/.well-known/openid-configuration", get(discovery))
            .at("/jwks", get(jwks))
            .at("/authorize", get(authorize))
            .at("/token", post(token))
            .at("/userinfo", get(userinfo))
            .around(fail_when_asked)
            .data(forge.clone());
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self { forge, _server: server }
    }
}

#[handler]
fn discovery(forge: Data<&Arc<Forge>>) -> Json<Value> {
    let i = &forge.issuer;
    let mut doc = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    });
    for (k, v) in forge.discovery_extra.lock().unwrap().as_object().into_iter().flatten() {
        match v {
            Value::Null => doc.as_object_mut().unwrap().remove(k),
            v => doc.as_object_mut().unwrap().insert(k.clone(), v.clone()),
        };
    }
    Json(doc)
}

#[handler]
fn jwks(forge: Data<&Arc<Forge>>) -> Json<Value> {
    forge.jwks_fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut keys = vec![forge.signer.public_jwk()];
    keys.extend(forge.extra_keys.lock().unwrap().iter().cloned());
    Json(json!({ "keys": keys }))
}

#[derive(serde::Deserialize)]
struct AuthorizeQuery {
    redirect_uri: String,
    state: String,
    nonce: String,
}

#[handler]
fn authorize(forge: Data<&Arc<Forge>>, Query(q): Query<AuthorizeQuery>) -> Response {
    *forge.nonce.lock().unwrap() = q.nonce;
    let to = format!("{}?code=forged-code&state={}", q.redirect_uri, q.state);
    Response::builder()
        .status(poem::http::StatusCode::FOUND)
        .header("location", to)
        .finish()
}

/// `fail_with`: every endpoint but discovery and keys answers with that status.
async fn fail_when_asked<E: poem::Endpoint>(next: E, request: poem::Request) -> poem::Result<Response> {
    let forge = request.data::<Arc<Forge>>().expect("forge data").clone();
    let status = *forge.fail_with.lock().unwrap();
    let path = request.uri().path().to_owned();
    match status {
        Some(status) if path != "/.well-known/openid-configuration" && path != "/jwks" => Ok(Response::builder()
            .status(poem::http::StatusCode::from_u16(status).unwrap())
            .body("something went wrong")),
        _ => Ok(next.call(request).await?.into_response()),
    }
}

fn oauth_error(status: u16, error: &str) -> Response {
    Response::builder()
        .status(poem::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(json!({ "error": error }).to_string())
}

/// The client authentication the request presents: Basic credentials, or form fields.
fn presented(request: &poem::Request, form: &HashMap<String, String>) -> Option<(ClientAuth, String, String)> {
    use base64::Engine as _;
    if let Some(basic) = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    {
        let text = String::from_utf8(basic).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((ClientAuth::Basic, id.to_owned(), secret.to_owned()));
    }
    Some((
        ClientAuth::Post,
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

#[handler]
fn token(forge: Data<&Arc<Forge>>, request: &poem::Request, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some((method, secret)) = forge.client_auth.lock().unwrap().clone() {
        if presented(request, &form) != Some((method, CLIENT_ID.to_owned(), secret)) {
            return oauth_error(401, "invalid_client");
        }
    }
    let code_grant = form.get("grant_type").map(String::as_str) == Some("authorization_code");
    if let (true, Some((status, error))) = (code_grant, *forge.code_grant_refused.lock().unwrap()) {
        return oauth_error(status, error);
    }
    if code_grant && form.get("code").map(String::as_str) != Some("forged-code") {
        return oauth_error(400, "invalid_grant");
    }
    let nonce = forge.nonce.lock().unwrap().clone();
    let maker = forge
        .maker
        .lock()
        .unwrap()
        .clone()
        .expect("the test sets an ID token maker");
    let mut response = json!({
        "access_token": format!("forged-access-token-{}", oidc_session::session::random_token()),
        "refresh_token": "forged-refresh-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": maker(&forge, &nonce),
    });
    for (k, v) in forge.token_extra.lock().unwrap().as_object().into_iter().flatten() {
        response[k] = v.clone();
    }
    Json(response).into_response()
}

#[handler]
fn userinfo() -> Json<Value> {
    Json(json!({"sub": "forged-user", "preferred_username": "forged"}))
}

pub struct ForgedApp {
    pub public: String,
    pub internal: String,
    pub provider: ForgingProvider,
    pub redis: TestRedis,
    _stop: oneshot::Sender<()>,
}

pub async fn spawn_against_forger() -> ForgedApp {
    spawn_against_forger_with(Vec::new()).await
}

/// `redis_env` replaces `OIDC_REDIS_URL` when it names another Redis mode; other variables
/// in it are added.
pub async fn spawn_against_forger_with(redis_env: Vec<(String, String)>) -> ForgedApp {
    spawn_against_forger_prepared(|_| {}, redis_env).await
}

/// Like [`spawn_against_forger_with`], with the provider changed before the service
/// discovers it (a broken endpoint in the discovery document, say).
pub async fn spawn_against_forger_prepared(
    prepare: impl FnOnce(&Forge),
    redis_env: Vec<(String, String)>,
) -> ForgedApp {
    let provider = ForgingProvider::start().await;
    prepare(&provider.forge);
    let redis = TestRedis::start();
    let (public, internal) = (free_listener(), free_listener());
    let public_url = format!("http://127.0.0.1:{}", public.local_addr().unwrap().port());
    let internal_url = format!("http://127.0.0.1:{}", internal.local_addr().unwrap().port());
    let vars = vec![
        ("OIDC_ISSUER_URL".to_owned(), provider.forge.issuer.clone()),
        ("OIDC_CLIENT_ID".to_owned(), CLIENT_ID.to_owned()),
        ("OIDC_REDIRECT_URI".to_owned(), format!("{public_url}/auth/callback")),
        ("OIDC_REDIS_URL".to_owned(), redis.url.clone()),
        ("OIDC_LOG".to_owned(), "error".to_owned()),
        // Its userinfo knows one user only; ID-token claims are what these tests vary.
        ("OIDC_FETCH_USERINFO".to_owned(), "false".to_owned()),
    ];
    let mut vars = vars;
    if redis_env.iter().any(|(k, _)| k.starts_with("OIDC_REDIS_")) {
        vars.retain(|(k, _)| k != "OIDC_REDIS_URL");
    }
    vars.extend(redis_env);
    let stop = start_service(vars, public, internal);
    wait_until_ready(&internal_url).await;
    ForgedApp {
        public: public_url,
        internal: internal_url,
        provider,
        redis,
        _stop: stop,
    }
}

impl ForgedApp {
    /// A whole login in a fresh browser; returns the callback's status and session cookie.
    pub async fn login(
        &self,
        maker: impl Fn(&Forge, &str) -> String + Send + Sync + 'static,
    ) -> (StatusCode, Option<String>, String) {
        self.provider.forge.set_maker(Arc::new(maker));
        let browser = browser();
        let login = browser.get(format!("{}/auth/login", self.public)).send().await.unwrap();
        let at_provider = browser.get(location(&login)).send().await.unwrap();
        let callback = browser.get(location(&at_provider)).send().await.unwrap();
        let status = callback.status();
        let cookie = session_cookie(callback.headers());
        (status, cookie, callback.text().await.unwrap())
    }

    /// Signs in as `sub` in provider session `sid`; returns the session cookie's value.
    pub async fn session_for(&self, sub: &str, sid: &str) -> String {
        let (sub, sid) = (sub.to_owned(), sid.to_owned());
        let (status, cookie, page) = self
            .login(move |f, nonce| {
                let mut claims = f.claims(CLIENT_ID, nonce);
                claims["sub"] = serde_json::json!(sub);
                claims["sid"] = serde_json::json!(sid);
                f.signer.sign(f.header(), claims)
            })
            .await;
        assert_eq!(status, StatusCode::FOUND, "{page}");
        cookie.unwrap()
    }

    pub async fn is_active(&self, session: &str) -> bool {
        crate::support::app::introspect_at(&self.internal, session).await["active"] == true
    }

    pub async fn post_logout_token(&self, logout_token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/auth/backchannel-logout", self.public))
            .form(&[("logout_token", logout_token)])
            .send()
            .await
            .unwrap()
    }

    pub fn sessions_in_redis(&self) -> usize {
        let mut conn = self.redis.connection();
        let keys: Vec<String> = redis::cmd("KEYS").arg("oidc:session:*").query(&mut conn).unwrap();
        keys.len()
    }
}
