//! The service's policy, rule by rule, on the in-memory store and a scripted provider:
//! no network, no `redis-server`, no Node. Each test names the rule it checks.

mod backchannel;
mod bearer;
mod failing;
mod login;
mod logout;
mod own_sessions;
mod refresh;
mod revalidation;
mod scripted;
mod step_up;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::login::{Callback, FinishedLogin, LoginError};
use super::revocation;
use super::sessions::ActiveSession;
use super::Service;
use crate::config::Settings;
use crate::domain::{now, Secret};
use crate::forge;
use crate::session::memory::MemoryStore;
use crate::session::{SessionId, SessionStore, Tokens};
use crate::telemetry::metrics::Metrics;
use scripted::ScriptedProvider;

const ISSUER: &str = "https://op.example.com";
const CLIENT_ID: &str = "app";

/// Waits (at most five seconds) until `check` holds: for what happens in the background.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The claims of a user `sub`, in a provider session of their own.
fn user(sub: &str) -> Value {
    json!({
        "sub": sub,
        "sid": format!("sid-{sub}"),
        "preferred_username": sub,
        "email": format!("{sub}@example.com"),
        "email_verified": true,
        "groups": ["staff"],
    })
}

/// A service wired to a scripted provider, a store, and a running revocation worker.
struct Harness {
    service: Arc<Service>,
    provider: Arc<ScriptedProvider>,
    store: Arc<dyn SessionStore>,
}

/// A started login, as the browser holds it.
struct Started {
    state: String,
    binding: String,
    nonce: String,
    authorize_url: url::Url,
}

/// A browser signed in: its cookie value and the tokens its session got.
struct SignedIn {
    cookie: String,
    refresh_token: String,
    id_token: String,
}

fn harness() -> Harness {
    harness_with(&[])
}

/// With extra `OIDC_*` variables over a minimal configuration.
fn harness_with(vars: &[(&str, &str)]) -> Harness {
    harness_on(Arc::new(MemoryStore::new()), vars)
}

fn harness_on(store: Arc<dyn SessionStore>, vars: &[(&str, &str)]) -> Harness {
    let base = [
        ("OIDC_ISSUER_URL", ISSUER),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_REDIRECT_URI", "https://app.example.com/auth/callback"),
        (
            "OIDC_SESSION_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
    ];
    let vars = base.iter().chain(vars).map(|(k, v)| (k.to_string(), v.to_string()));
    let settings = Arc::new(Settings::from_vars(vars).expect("valid test settings"));
    let provider = Arc::new(ScriptedProvider::new(settings.provider.clone()));
    let (revoker, worker) = revocation::channel(provider.clone(), settings.provider.http_timeout);
    tokio::spawn(worker.run());
    let metrics = Arc::new(Metrics::new());
    let service = Service::new(settings, provider.clone(), store.clone(), revoker, metrics);
    Harness {
        service: Arc::new(service),
        provider,
        store,
    }
}

impl Started {
    /// The provider's redirect back for this login.
    fn callback(&self) -> Callback {
        Callback {
            code: Some(Secret::new("the-code".into())),
            state: Some(self.state.clone()),
            ..Callback::default()
        }
    }
}

impl Harness {
    async fn start(&self) -> Started {
        self.start_stepping_up(None, None).await.expect("login starts")
    }

    /// A login started with `max_age` and `acr_values` as `GET /auth/login` takes them.
    async fn start_stepping_up(&self, max_age: Option<&str>, acr_values: Option<&str>) -> Result<Started, LoginError> {
        let started = self.service.start_login(None, (max_age, acr_values)).await?;
        let nonce = started
            .authorize_url
            .query_pairs()
            .find(|(name, _)| name == "nonce")
            .expect("the request carries a nonce")
            .1
            .into_owned();
        Ok(Started {
            state: started.state,
            binding: started.binding,
            nonce,
            authorize_url: started.authorize_url,
        })
    }

    /// Finishes `started` in the browser that started it.
    async fn finish(&self, started: &Started) -> Result<FinishedLogin, LoginError> {
        self.service
            .finish_login(started.callback(), Some(&started.binding), None)
            .await
    }

    /// A complete login of a user with `claims`; the session gets a refresh token.
    async fn sign_in(&self, claims: Value) -> SignedIn {
        self.sign_in_replacing(claims, None).await
    }

    async fn sign_in_replacing(&self, claims: Value, previous: Option<&str>) -> SignedIn {
        self.sign_in_with(claims, previous, |_| {}).await
    }

    /// A login whose token response `adjust` changes first (an access token that has
    /// expired already, say).
    async fn sign_in_with(
        &self,
        mut claims: Value,
        previous: Option<&str>,
        adjust: impl FnOnce(&mut crate::oidc::login::TokenSet),
    ) -> SignedIn {
        static LOGINS: AtomicUsize = AtomicUsize::new(0);
        let refresh_token = format!("refresh-at-login-{}", LOGINS.fetch_add(1, Ordering::Relaxed));
        let started = self.start().await;
        claims["nonce"] = started.nonce.clone().into();
        let id_token = ScriptedProvider::id_token(claims);
        let mut tokens = ScriptedProvider::token_set(Some(id_token.clone()), Some(&refresh_token));
        adjust(&mut tokens);
        self.provider.script_exchange(Ok(tokens));
        let finished = self
            .service
            .finish_login(started.callback(), Some(&started.binding), previous)
            .await
            .expect("login completes");
        SignedIn {
            cookie: finished.session.as_str().to_owned(),
            refresh_token,
            id_token: id_token.to_string(),
        }
    }

    /// The live session behind `cookie`, as a request reads it.
    async fn active(&self, cookie: &str) -> Option<ActiveSession> {
        self.service.session(Some(cookie)).await.expect("the store answers")
    }

    async fn is_live(&self, cookie: &str) -> bool {
        self.active(cookie).await.is_some()
    }

    /// The tokens the store holds for `cookie`, read without touching the session.
    async fn stored_tokens(&self, cookie: &str) -> Option<Tokens> {
        let key = SessionId::parse(cookie).expect("a session id").key();
        let record = self.store.peek(&key).await.expect("the store answers")?;
        self.service.tokens(&key, &record)
    }

    async fn session_count(&self) -> u64 {
        self.store.count_sessions(now()).await.expect("the store answers")
    }
}
