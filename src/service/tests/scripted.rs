//! A provider without a network: it signs ID tokens with a test key, answers the token
//! endpoint from a script, and records what the service asked of it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;
use openidconnect::core::{CoreIdToken, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use url::Url;

use super::forge::TestSigner;
use super::{eventually, CLIENT_ID, ISSUER};
use crate::config::ProviderSettings;
use crate::domain::now;
use crate::oidc::access_token::{self, AccessClaims, AccessTokenError, AccessTokenPolicy};
use crate::oidc::client_auth::Jwk;
use crate::oidc::discovery::Endpoints;
use crate::oidc::id_token::{self, IdTokenError, IdTokenPolicy, VerifiedIdToken};
use crate::oidc::keys::{KeyRequester, ProviderKeys};
use crate::oidc::login::{self, AuthRequest, TokenError, TokenSet, UserinfoError};
use crate::oidc::logout_token::{self, LogoutClaims, LogoutTokenError, LogoutTokenPolicy};
use crate::oidc::provider::{NotReady, OpenIdProvider};
use crate::util::random_token;

/// The provider's signing key at the start of every test.
pub(super) fn first_key() -> &'static TestSigner {
    static KEY: OnceLock<TestSigner> = OnceLock::new();
    KEY.get_or_init(|| TestSigner::new("key-1"))
}

/// The key the provider rotates to.
pub(super) fn rotated_key() -> &'static TestSigner {
    static KEY: OnceLock<TestSigner> = OnceLock::new();
    KEY.get_or_init(|| TestSigner::new("key-2"))
}

/// A key the provider never publishes.
pub(super) fn attackers_key() -> &'static TestSigner {
    static KEY: OnceLock<TestSigner> = OnceLock::new();
    KEY.get_or_init(|| TestSigner::with_bits("attacker", 1024))
}

fn url(path: &str) -> Url {
    Url::parse(&format!("{ISSUER}{path}")).expect("a URL")
}

#[derive(Default)]
struct Script {
    /// What a key re-fetch would find at the provider.
    published: Vec<&'static TestSigner>,
    refetch_fails: bool,
    /// Re-fetches asked for, and whose budget they used.
    refetches: Vec<KeyRequester>,
    exchanges: VecDeque<Result<TokenSet, TokenError>>,
    codes_exchanged: usize,
    refreshes: VecDeque<Result<TokenSet, TokenError>>,
    /// The refresh token of every refresh grant sent.
    grants: Vec<String>,
    userinfo: Map<String, Value>,
    revoked: Vec<String>,
}

/// Only RS256, as the test keys sign.
const ALGS: &[CoreJwsSigningAlgorithm] = &[CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];

pub(super) struct ScriptedProvider {
    settings: ProviderSettings,
    endpoints: Endpoints,
    /// The keys the service has loaded, re-fetched from `Script::published` with the same
    /// budgets as the real provider's.
    keys: ProviderKeys,
    script: Mutex<Script>,
    /// Refresh grants wait while this is false.
    refreshes_open: watch::Sender<bool>,
    /// Revocations wait while this is false (a slow or hanging revocation endpoint).
    revocations_open: watch::Sender<bool>,
    /// Userinfo requests wait while this is false (a hanging userinfo endpoint).
    userinfo_open: watch::Sender<bool>,
}

impl ScriptedProvider {
    pub(super) fn new(settings: ProviderSettings) -> Self {
        let endpoints = Endpoints {
            authorization: url("/authorize"),
            token: url("/token"),
            userinfo: Some(url("/userinfo")),
            jwks: url("/jwks"),
            end_session: Some(url("/logout")),
            revocation: Some(url("/revoke")),
            introspection: None,
            // No PAR here: the browser's redirect carries the request (tests read its nonce).
            pushed_authorization: None,
            client_assertion_algs: None,
        };
        let keys = ProviderKeys::default();
        keys.replace(CoreJsonWebKeySet::new(vec![first_key().verification_key()]));
        let script = Script {
            published: vec![first_key()],
            ..Script::default()
        };
        Self {
            settings,
            endpoints,
            keys,
            script: Mutex::new(script),
            refreshes_open: watch::channel(true).0,
            revocations_open: watch::channel(true).0,
            userinfo_open: watch::channel(true).0,
        }
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().expect("not poisoned")
    }

    /// An ID token with `claims` over valid defaults (`iss`, `aud`, `iat`, `exp`).
    pub(super) fn id_token(claims: Value) -> CoreIdToken {
        Self::id_token_signed_by(first_key(), claims)
    }

    pub(super) fn id_token_signed_by(key: &TestSigner, claims: Value) -> CoreIdToken {
        let mut full = json!({"iss": ISSUER, "aud": CLIENT_ID, "iat": now(), "exp": now() + 300});
        let fields = full.as_object_mut().expect("an object");
        fields.extend(claims.as_object().expect("claims are an object").clone());
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid()});
        key.sign(header, full).parse().expect("a well-formed ID token")
    }

    /// A token response with a fresh access token valid for five minutes.
    pub(super) fn token_set(id_token: Option<CoreIdToken>, refresh_token: Option<&str>) -> TokenSet {
        TokenSet {
            access_token: format!("access-{}", random_token()),
            refresh_token: refresh_token.map(str::to_owned),
            access_token_expires_at: Some(now() + 300),
            id_token,
        }
    }

    pub(super) fn script_exchange(&self, response: Result<TokenSet, TokenError>) {
        self.script().exchanges.push_back(response);
    }

    pub(super) fn script_refresh(&self, response: Result<TokenSet, TokenError>) {
        self.script().refreshes.push_back(response);
    }

    /// Extra claims userinfo answers with (beside the `sub` asked for).
    pub(super) fn set_userinfo(&self, claims: Value) {
        self.script().userinfo = claims.as_object().expect("an object").clone();
    }

    pub(super) fn codes_exchanged(&self) -> usize {
        self.script().codes_exchanged
    }

    /// The refresh token of every refresh grant sent so far.
    pub(super) fn grants(&self) -> Vec<String> {
        self.script().grants.clone()
    }

    /// Refresh grants from now on wait, once counted, until [`Self::release_refreshes`].
    pub(super) fn hold_refreshes(&self) {
        self.refreshes_open.send_replace(false);
    }

    pub(super) fn release_refreshes(&self) {
        self.refreshes_open.send_replace(true);
    }

    /// The revocation endpoint hangs until [`Self::release_revocations`].
    pub(super) fn hold_revocations(&self) {
        self.revocations_open.send_replace(false);
    }

    pub(super) fn release_revocations(&self) {
        self.revocations_open.send_replace(true);
    }

    /// The userinfo endpoint hangs from now on.
    pub(super) fn hold_userinfo(&self) {
        self.userinfo_open.send_replace(false);
    }

    pub(super) async fn wait_for_grants(&self, n: usize) {
        eventually("the refresh grant is sent", async || self.script().grants.len() >= n).await;
    }

    pub(super) fn revoked(&self) -> Vec<String> {
        self.script().revoked.clone()
    }

    pub(super) async fn wait_until_revoked(&self, refresh_token: &str) {
        let what = format!("{refresh_token} is revoked");
        eventually(&what, async || self.revoked().iter().any(|t| t == refresh_token)).await;
    }

    /// The provider now publishes the rotated key beside the first one.
    pub(super) fn rotate_keys(&self) {
        self.script().published.push(rotated_key());
    }

    /// Key re-fetches fail from now on (the provider's JWKS endpoint is down).
    pub(super) fn fail_key_refetches(&self) {
        self.script().refetch_fails = true;
    }

    pub(super) fn refetches(&self) -> Vec<KeyRequester> {
        self.script().refetches.clone()
    }
}

impl ScriptedProvider {
    /// A key re-fetch, recorded with the budget it used.
    fn fetch_keys(&self, requester: KeyRequester) -> Option<CoreJsonWebKeySet> {
        let mut script = self.script();
        script.refetches.push(requester);
        if script.refetch_fails {
            return None;
        }
        Some(CoreJsonWebKeySet::new(
            script.published.iter().map(|k| k.verification_key()).collect(),
        ))
    }
}

#[async_trait]
impl OpenIdProvider for ScriptedProvider {
    fn ready(&self) -> Result<(), NotReady> {
        Ok(())
    }

    fn authorization_request(&self) -> Result<AuthRequest, NotReady> {
        Ok(login::authorization_request(&self.settings, &self.endpoints))
    }

    /// Like most providers before RFC 9207: `iss` is checked when sent, not required.
    fn promises_iss(&self) -> Result<bool, NotReady> {
        Ok(false)
    }

    /// No PAR here: the browser's redirect carries the request (tests read its nonce).
    async fn authorization_redirect(&self, request: &AuthRequest) -> Result<Url, TokenError> {
        Ok(request.url.clone())
    }

    async fn exchange_code(&self, _code: &str, _verifier: &str) -> Result<TokenSet, TokenError> {
        let mut script = self.script();
        script.codes_exchanged += 1;
        script
            .exchanges
            .pop_front()
            .unwrap_or_else(|| Err(TokenError::InvalidResponse("no code exchange scripted".into())))
    }

    async fn verify_id_token(&self, token: &CoreIdToken, nonce: Option<&str>) -> Result<VerifiedIdToken, IdTokenError> {
        let policy = IdTokenPolicy::new(&self.settings, ALGS);
        let fetch = async || self.fetch_keys(KeyRequester::TokenEndpoint);
        let verify = |keys: &CoreJsonWebKeySet| id_token::verify(token, keys, &policy, nonce);
        let requester = KeyRequester::TokenEndpoint;
        self.keys
            .verify(requester, fetch, || IdTokenError::UnknownKey, verify)
            .await
    }

    async fn verify_logout_token(&self, token: &str) -> Result<LogoutClaims, LogoutTokenError> {
        let policy = LogoutTokenPolicy::new(&self.settings, ALGS);
        let fetch = async || self.fetch_keys(KeyRequester::Anonymous);
        let verify = |keys: &CoreJsonWebKeySet| logout_token::verify_logout_token(token, keys, &policy);
        let requester = KeyRequester::Anonymous;
        self.keys
            .verify(requester, fetch, || LogoutTokenError::UnknownKey, verify)
            .await
    }

    async fn verify_access_token(&self, token: &str, audiences: &[String]) -> Result<AccessClaims, AccessTokenError> {
        let policy = AccessTokenPolicy {
            issuer: &self.settings.issuer,
            audiences,
            allowed_algs: ALGS,
            clock_skew: self.settings.clock_skew,
            now: now(),
        };
        let fetch = async || self.fetch_keys(KeyRequester::Anonymous);
        let verify = |keys: &CoreJsonWebKeySet| access_token::verify(token, keys, &policy);
        let requester = KeyRequester::Anonymous;
        self.keys
            .verify(requester, fetch, || AccessTokenError::UnknownKey, verify)
            .await
    }

    async fn introspect_token(&self, _token: &str, _audiences: &[String]) -> Result<AccessClaims, AccessTokenError> {
        Err(AccessTokenError::NoIntrospection)
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, TokenError> {
        self.script().grants.push(refresh_token.to_owned());
        let mut open = self.refreshes_open.subscribe();
        open.wait_for(|open| *open).await.expect("the sender lives in self");
        self.script()
            .refreshes
            .pop_front()
            .unwrap_or_else(|| Err(TokenError::InvalidResponse("no refresh scripted".into())))
    }

    async fn userinfo(&self, _token: &str, expected_sub: &str) -> Result<Option<Map<String, Value>>, UserinfoError> {
        if !self.settings.fetch_userinfo {
            return Ok(None);
        }
        let mut open = self.userinfo_open.subscribe();
        open.wait_for(|open| *open).await.expect("the sender lives in self");
        let mut claims = self.script().userinfo.clone();
        claims.insert("sub".into(), expected_sub.into());
        Ok(Some(claims))
    }

    async fn revoke(&self, refresh_token: &str) -> Result<(), TokenError> {
        let mut open = self.revocations_open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        self.script().revoked.push(refresh_token.to_owned());
        Ok(())
    }

    fn end_session_url(&self, id_token_hint: Option<&str>, post_logout: Option<&Url>, state: &str) -> Option<Url> {
        let endpoint = self.endpoints.end_session.as_ref()?;
        let client_id = &self.settings.client_id;
        Some(crate::oidc::logout::end_session_url(
            endpoint,
            id_token_hint,
            client_id,
            post_logout,
            state,
        ))
    }

    fn client_jwks(&self) -> Option<Vec<Jwk>> {
        None
    }
}
