//! Slow and idle clients on both listeners: a request head must arrive within the
//! header-read timeout, and a connection with nothing to do is closed after the idle
//! timeout, over HTTP/1.1 and cleartext HTTP/2 alike.

use std::time::Duration;

use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use oidc_session::config::Settings;
use oidc_session::startup::{Application, ConnectionTimeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::support::app::{free_listener, CLIENT_ID};

/// Far longer than any timeout set here: only a connection left open forever reaches it.
const GUARD: Duration = Duration::from_secs(30);

struct Service {
    public: String,
    internal: String,
    _stop: oneshot::Sender<()>,
}

impl Service {
    fn addresses(&self) -> [&str; 2] {
        [&self.public, &self.internal]
    }
}

/// The service with short connection timeouts. It needs neither the provider nor Redis
/// for what these tests ask (`/healthz`, `/auth/me` without a session).
fn start(timeouts: ConnectionTimeouts) -> Service {
    start_with(timeouts, &[])
}

fn start_with(timeouts: ConnectionTimeouts, extra: &[(&str, &str)]) -> Service {
    let (public, internal) = (free_listener(), free_listener());
    let addr = |l: &std::net::TcpListener| l.local_addr().unwrap().to_string();
    let (public_addr, internal_addr) = (addr(&public), addr(&internal));
    let vars = [
        ("OIDC_ISSUER_URL", "http://127.0.0.1:9".to_owned()),
        ("OIDC_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OIDC_REDIRECT_URI", format!("http://{public_addr}/auth/callback")),
        ("OIDC_REDIS_URL", "redis://127.0.0.1:9".to_owned()),
        ("OIDC_LOG", "error".to_owned()),
    ];
    let vars = vars.map(|(k, v)| (k.to_owned(), v));
    let extra = extra.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let settings = Settings::from_vars(vars.into_iter().chain(extra)).unwrap();
    let app = Application::with_listeners(settings, public, internal)
        .unwrap()
        .with_connection_timeouts(timeouts);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    Service {
        public: public_addr,
        internal: internal_addr,
        _stop: stop,
    }
}

/// Reads until the server closes the connection; panics if it stays open past [`GUARD`].
async fn assert_closed_by_server(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(GUARD, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: the connection is still open");
}

/// One HTTP/1.1 response: its status line, after reading exactly its body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a response");
        received.extend_from_slice(&buf[..n]);
        if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while received.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed within a response");
        received.extend_from_slice(&buf[..n]);
    }
    head.lines().next().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_that_sends_half_a_request_head_is_disconnected_on_both_listeners() {
    let service = start(ConnectionTimeouts {
        header_read: Duration::from_secs(1),
        idle: Duration::from_secs(600),
    });
    for address in service.addresses() {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        // The idle timeout is ten minutes: only the header-read timeout can close it.
        assert_closed_by_server(&mut stream, address).await;
    }
}

#[tokio::test]
async fn a_client_trickling_a_request_head_is_disconnected_although_it_is_never_silent() {
    let service = start(ConnectionTimeouts {
        header_read: Duration::from_secs(1),
        idle: Duration::from_secs(600),
    });
    let stream = TcpStream::connect(&service.public).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        let mut next: &[u8] = b"GET /auth/me HTTP/1.1\r\nX-Slow: ";
        while writer.write_all(next).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            next = b"a";
        }
    });
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(GUARD, async { while let Ok(1..) = reader.read(&mut buf).await {} }).await;
    trickle.abort();
    assert!(closed.is_ok(), "a byte every 200 ms kept the connection open");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_on_both_listeners() {
    let service = start(ConnectionTimeouts {
        header_read: Duration::from_secs(600),
        idle: Duration::from_secs(1),
    });
    for (address, path) in [(&service.public, "/auth/me"), (&service.internal, "/healthz")] {
        let mut stream = TcpStream::connect(address).await.unwrap();
        // Kept alive between requests...
        for _ in 0..2 {
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let status = read_response(&mut stream).await;
            assert!(
                status.starts_with("http/1.1 200") || status.starts_with("http/1.1 401"),
                "{status}"
            );
        }
        // ...and closed once idle.
        assert_closed_by_server(&mut stream, address).await;
    }
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed() {
    let service = start(ConnectionTimeouts {
        header_read: Duration::from_secs(600),
        idle: Duration::from_secs(1),
    });
    for address in service.addresses() {
        let mut stream = TcpStream::connect(address).await.unwrap();
        assert_closed_by_server(&mut stream, address).await;
    }
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let service = start(ConnectionTimeouts {
        header_read: Duration::from_secs(600),
        idle: Duration::from_secs(1),
    });
    let stream = TcpStream::connect(&service.internal).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get(format!("http://{}/healthz", service.internal))
        .body(Empty::<hyper::body::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    // The client keeps the connection; the server ends it (GOAWAY, then close).
    let ended = tokio::time::timeout(GUARD, connection).await;
    assert!(ended.is_ok(), "the HTTP/2 connection is still open");
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed_at_the_header_read_timeout() {
    let service = start(ConnectionTimeouts {
        header_read: Duration::from_secs(1),
        idle: Duration::from_secs(600),
    });
    for address in service.addresses() {
        let mut stream = TcpStream::connect(address).await.unwrap();
        // The idle timeout is ten minutes: only the header-read timeout, counted from the
        // connection's first moment, can close it.
        assert_closed_by_server(&mut stream, address).await;
    }
}

#[tokio::test]
async fn beyond_oidc_max_connections_a_new_connection_waits_until_one_closes() {
    let service = start_with(
        ConnectionTimeouts {
            header_read: Duration::from_secs(600),
            idle: Duration::from_secs(600),
        },
        &[("OIDC_MAX_CONNECTIONS", "16")],
    );
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(TcpStream::connect(&service.internal).await.unwrap());
    }
    // The kernel completes the handshake, but the service does not take the connection.
    let mut extra = TcpStream::connect(&service.internal).await.unwrap();
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(800), read_response(&mut extra)).await;
    assert!(waited.is_err(), "a seventeenth connection was served: {waited:?}");

    drop(held.pop());
    let status = tokio::time::timeout(GUARD, read_response(&mut extra))
        .await
        .expect("served once a slot is free");
    assert!(status.starts_with("http/1.1 200"), "{status}");
}
