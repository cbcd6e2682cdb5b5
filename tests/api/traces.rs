//! Traces over OTLP, from the real binary to a real receiver (tests/support/otlp.rs): the
//! span trees of a sign-in, a refresh, a forward-auth and a logout, their attributes, what
//! they must never carry, and W3C `traceparent` continued in and carried out.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{browser, location, session_cookie, wait_until_ready, CLIENT_ID, CLIENT_SECRET};
use crate::support::child::{reserve_port, Guarded, Scratch};
use crate::support::otlp::{Receiver, Span, CLIENT, SERVER};
use crate::support::provider::{code_in, sign_in, TestProvider};
use crate::support::redis::TestRedis;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

struct Traced {
    child: Guarded,
    public: String,
    internal: String,
    _scratch: Scratch,
}

/// The binary with its own provider and Redis, and the given `OTEL_*` variables.
async fn start(otel: &[(&str, &str)]) -> (Traced, TestProvider, TestRedis) {
    let reserved = reserve_port();
    let public_port = reserved.local_addr().unwrap().port();
    let provider = provider_for(public_port).await;
    let redis = TestRedis::start();
    drop(reserved);
    let scratch = Scratch::new("traces");
    let internal_port = reserve_port().local_addr().unwrap().port();
    let public = format!("http://127.0.0.1:{public_port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_oidc-session"));
    command.env_clear().envs([
        ("OIDC_ISSUER_URL", provider.issuer.clone()),
        ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("OIDC_REDIRECT_URI", format!("{public}/auth/callback")),
        ("OIDC_REDIS_URL", redis.url.clone()),
        ("OIDC_PROMPT", "consent".to_owned()),
        ("OIDC_LISTEN_ADDR", format!("127.0.0.1:{public_port}")),
        ("OIDC_INTERNAL_LISTEN_ADDR", format!("127.0.0.1:{internal_port}")),
        ("OIDC_LOG", "info".to_owned()),
    ]);
    command.envs(otel.iter().copied());
    let mut child = Guarded::spawn("oidc-session", command, &scratch.path("service.log"));
    child.wait_for_port(internal_port, Duration::from_secs(20)).unwrap();
    let internal = format!("http://127.0.0.1:{internal_port}");
    wait_until_ready(&internal).await;
    let app = Traced {
        child,
        public,
        internal,
        _scratch: scratch,
    };
    (app, provider, redis)
}

async fn provider_for(public_port: u16) -> TestProvider {
    let public = format!("http://127.0.0.1:{public_port}");
    TestProvider::start(json!({"port": 0, "clients": [{
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": [format!("{public}/auth/callback")],
    }]}))
    .await
}

fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.parent_span_id == parent.span_id).collect()
}

fn named<'a>(spans: &[&'a Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no child span {name} among {spans:#?}"))
}

#[tokio::test]
async fn a_sign_in_a_refresh_a_forward_auth_and_a_logout_arrive_as_span_trees_over_otlp_http() {
    let (receiver, endpoint) = Receiver::http().await;
    let (app, provider, mut redis) = start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_SERVICE_NAME", "oidc-session-under-test"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-otlp-key=k-123"),
    ])
    .await;

    // A full sign-in whose callback arrives with a sampled W3C traceparent.
    let browser = browser();
    let login = browser.get(format!("{}/auth/login", app.public)).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::FOUND);
    let callback = sign_in(
        &browser,
        &location(&login),
        "alice",
        &format!("{}/auth/callback", app.public),
    )
    .await;
    let code = code_in(&callback);
    let answer = browser
        .get(&callback)
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    let session = session_cookie(answer.headers()).expect("a session cookie");
    let refreshed = reqwest::Client::new()
        .post(format!("{}/auth/refresh", app.public))
        .header("cookie", format!("oidc_session={session}"))
        .header("origin", &app.public)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "{}",
        refreshed.text().await.unwrap()
    );
    let allowed = reqwest::Client::new()
        .get(format!("{}/forward-auth", app.internal))
        .header("cookie", format!("oidc_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let logout = browser
        .post(format!("{}/auth/logout", app.public))
        .header("origin", &app.public)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);

    let route =
        |r: &'static str| move |s: &Span| s.kind == SERVER && s.attributes.get("http.route").is_some_and(|v| v == r);
    let login_span = receiver.wait_for("/auth/login", route("/auth/login")).await;
    let callback_span = receiver.wait_for("/auth/callback", route("/auth/callback")).await;
    let refresh_span = receiver.wait_for("/auth/refresh", route("/auth/refresh")).await;
    let forward_span = receiver.wait_for("/forward-auth", route("/forward-auth")).await;
    let logout_span = receiver.wait_for("/auth/logout", route("/auth/logout")).await;
    // Children end before their parent, so they are in the same or an earlier batch.
    let spans = receiver.spans();

    // The callback continues the incoming trace and carries the HTTP conventions.
    assert_eq!(callback_span.trace_id, TRACE);
    assert_eq!(callback_span.parent_span_id, PARENT);
    assert_eq!(callback_span.name, "GET /auth/callback");
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/auth/callback"),
        ("http.response.status_code", "302"),
        ("url.scheme", "http"),
    ] {
        assert_eq!(
            callback_span.attributes.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    assert_eq!(callback_span.resource["service.name"], "oidc-session-under-test");
    assert_eq!(callback_span.resource["deployment.environment.name"], "ci");

    // Every provider call of the callback is a CLIENT child with its duration.
    let of_callback = children(&spans, &callback_span);
    let stats = provider.stats().await;
    for endpoint in ["token", "userinfo"] {
        let call = named(&of_callback, endpoint);
        assert_eq!(call.kind, CLIENT, "{endpoint}");
        assert_eq!(call.trace_id, TRACE, "{endpoint}");
        assert!(call.duration > Duration::ZERO, "{endpoint} has a duration");
        assert_eq!(call.attributes["oidc.provider.endpoint"], endpoint);
        // …and the provider saw this span as the caller.
        let expected = format!("00-{TRACE}-{}-01", call.span_id);
        assert!(
            stats["traceparents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["route"] == endpoint && t["traceparent"] == expected.as_str()),
            "the provider's {endpoint} endpoint did not get {expected}: {stats}"
        );
    }
    // The sign-in's start pushes its request (PAR): a CLIENT child of the login's span.
    let push = named(&children(&spans, &login_span), "par");
    assert_eq!(
        (push.kind, push.trace_id.as_str()),
        (CLIENT, login_span.trace_id.as_str())
    );
    assert_eq!(push.attributes["oidc.provider.endpoint"], "par");
    let save = named(&of_callback, "redis save");
    assert_eq!(
        (save.kind, save.attributes["db.system.name"].as_str()),
        (CLIENT, "redis")
    );

    // Discovery and the key set, at start: root CLIENT spans, their context sent along too.
    for endpoint in ["discovery", "jwks"] {
        let call = spans.iter().find(|s| s.name == endpoint).expect(endpoint);
        assert_eq!((call.kind, call.parent_span_id.as_str()), (CLIENT, ""));
        assert!(stats["traceparents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["traceparent"].as_str().is_some_and(|v| v.contains(&call.span_id))));
    }

    // The refresh: the token call and the lock/update/unlock around it.
    let of_refresh = children(&spans, &refresh_span);
    assert_eq!(named(&of_refresh, "token").kind, CLIENT);
    for op in ["redis lock", "redis update", "redis unlock"] {
        named(&of_refresh, op);
    }

    // The logout removes the session in a span of its own.
    assert_eq!(named(&children(&spans, &logout_span), "redis remove").kind, CLIENT);

    // Forward-auth is the hot path: one SERVER span and nothing under it.
    assert_eq!(forward_span.attributes["http.response.status_code"], "200");
    assert!(
        children(&spans, &forward_span).is_empty(),
        "{:#?}",
        children(&spans, &forward_span)
    );

    // Nothing secret anywhere: no cookie, code, token, and no raw query; log lines stay in
    // the logs (no span events).
    for span in &spans {
        assert!(span.events.is_empty(), "{} has events {:?}", span.name, span.events);
        for (key, value) in &span.attributes {
            for secret in [session.as_str(), code.as_str(), "code=", "state=", "eyJ"] {
                assert!(!value.contains(secret), "{} {key}={value} carries {secret}", span.name);
            }
        }
    }
    assert!(
        spans
            .iter()
            .all(|s| !s.attributes.keys().any(|k| k.contains("cookie") || k.contains("token"))),
        "no attribute names a cookie or token"
    );

    // The export carried OTEL_EXPORTER_OTLP_HEADERS; log lines in a span carry its trace id.
    assert!(receiver
        .headers()
        .iter()
        .all(|h| h.get("x-otlp-key").is_some_and(|v| v == "k-123")));
    let log = app.child.log();
    assert!(log.contains(&format!("\"trace_id\":\"{TRACE}\"")), "{log}");

    // So does the line of a request that failed (the store is down: 503).
    redis.stop();
    let failing_trace = "0af7651916cd43dd8448eb211c80319c";
    let failed = reqwest::Client::new()
        .get(format!("{}/auth/me", app.public))
        .header("cookie", format!("oidc_session={session}"))
        .header("traceparent", format!("00-{failing_trace}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The log writer runs beside the request: wait (bounded) for the line to land.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let log = app.child.log();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("request failed") && l.contains("/auth/me"))
        {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed-request line in:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(line.contains(&format!("\"trace_id\":\"{failing_trace}\"")), "{line}");
}

#[tokio::test]
async fn over_grpc_a_ratio_of_zero_drops_new_traces_but_continues_sampled_incoming_ones() {
    let (receiver, endpoint) = Receiver::grpc().await;
    let (app, _provider, _redis) = start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-otlp-key=k-456"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
    ])
    .await;
    let http = reqwest::Client::new();
    let fresh = http
        .get(format!("{}/forward-auth", app.internal))
        .header("x-request-id", "not-sampled")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::UNAUTHORIZED);
    let continued = http
        .get(format!("{}/forward-auth", app.internal))
        .header("x-request-id", "sampled-upstream")
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(continued.status(), StatusCode::UNAUTHORIZED);

    let span = receiver
        .wait_for("the continued forward-auth", |s| s.trace_id == TRACE)
        .await;
    assert_eq!((span.kind, span.parent_span_id.as_str()), (SERVER, PARENT));
    assert_eq!(span.attributes["http.response.status_code"], "401");
    assert_eq!(
        span.resource["service.name"], "oidc-session",
        "the default service name"
    );
    // The unsampled request ended first, so it would be in this or an earlier batch.
    let spans = receiver.spans();
    assert!(
        spans
            .iter()
            .all(|s| s.attributes.get("request_id").is_none_or(|id| id != "not-sampled")),
        "{spans:#?}"
    );
    assert!(receiver
        .headers()
        .iter()
        .all(|h| h.get("x-otlp-key").is_some_and(|v| v == "k-456")));
}

// Multi-threaded: the receiver must answer while the test waits for the process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_still_queued_at_sigterm_are_exported_before_the_process_exits() {
    let (receiver, endpoint) = Receiver::http().await;
    let (mut app, _provider, _redis) = start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;
    let last = reqwest::Client::new()
        .get(format!("{}/healthz", app.internal))
        .header("x-request-id", "the-last-one")
        .send()
        .await
        .unwrap();
    assert_eq!(last.status(), StatusCode::OK);
    let asked = std::time::Instant::now();
    assert!(app.child.terminate(Duration::from_secs(20)).success());
    // Sooner than the batch's 5 s schedule: only the flush at shutdown can have sent it.
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "exit took {:?}",
        asked.elapsed()
    );
    let spans = receiver.spans();
    assert!(
        spans
            .iter()
            .any(|s| s.attributes.get("request_id").is_some_and(|id| id == "the-last-one")),
        "{spans:#?}"
    );
}
