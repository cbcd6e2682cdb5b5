//! The server loop of both listeners: hyper serving HTTP/1.1 and cleartext HTTP/2 (h2c),
//! with the connection timeouts that poem's `Server` does not offer.
//!
//! Each listener serves at most `OIDC_MAX_CONNECTIONS` connections at once; beyond that,
//! new ones wait in the kernel's accept queue (file descriptors stay for Redis and the
//! provider). A connection with no request in flight is watched:
//! - it is closed after the idle timeout (an idle keep-alive connection);
//! - a new connection, and one that has sent a byte of its next request, must complete a
//!   request head within the header-read timeout, if that comes first (a client that
//!   opens connections and sends nothing, or trickles half a header, cannot hold them).
//!
//! Either way it is shut down gracefully (HTTP/2: GOAWAY) and dropped if it is still
//! there, with still no request in flight, a moment later. Request bodies are bounded in
//! size and time by `body::limit_body`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, Request};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long a connection may take over a request head, and stay idle between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// From the opening of a connection, or the first byte of a later request head, to the
    /// head's end.
    pub header_read: Duration,
    /// With no request in flight and no byte received.
    pub idle: Duration,
}

impl Default for ConnectionTimeouts {
    /// Generous for slow mobile clients; the idle timeout is longer than the upstream
    /// keep-alive of common reverse proxies (nginx 60 s, Traefik 90 s, Caddy 2 min), so
    /// the proxy closes first and never sends on a connection this side is closing.
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(180),
        }
    }
}

/// After a graceful shutdown of an expired connection: how long before it is dropped.
const GRACE: Duration = Duration::from_secs(1);
/// At most one "connection limit reached" warning per listener this often.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Serves `endpoint` on `listener` until `stop` turns true, then lets open connections
/// finish (each shut down gracefully) for at most `drain`.
pub(crate) async fn serve(
    listener: TcpListener,
    endpoint: impl Endpoint + 'static,
    timeouts: ConnectionTimeouts,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let endpoint: Arc<BoxEndpoint<'static>> = Arc::new(endpoint.map_to_response().boxed());
    let mut connections = JoinSet::new();
    let for_connections = stop.clone();
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut warned_full: Option<Instant> = None;
    loop {
        tokio::select! {
            accepted = accept_slot(&listener, &slots) => match accepted {
                Ok((stream, remote, slot)) => {
                    let peer = Peer { local, remote, endpoint: endpoint.clone() };
                    let serving = connection(stream, peer, timeouts, for_connections.clone());
                    connections.spawn(async move {
                        serving.await;
                        drop(slot);
                    });
                    if slots.available_permits() == 0 && warned_full.is_none_or(|at| at.elapsed() > FULL_WARNING_EVERY) {
                        warned_full = Some(Instant::now());
                        tracing::warn!(%local, max_connections, "connection limit reached (OIDC_MAX_CONNECTIONS): new connections wait");
                    }
                }
                Err(e) => accept_failed(e).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(drain, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "drain timeout: closing the connections still open"
        );
    }
    Ok(())
}

/// The next connection, once a slot is free (a pending slot or accept is simply dropped
/// when the caller's `select!` picks another branch).
async fn accept_slot(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let (stream, remote) = listener.accept().await?;
    Ok((stream, remote, slot))
}

/// A failed accept concerns one connection (aborted by its client) or a passing shortage
/// (out of file descriptors): never a reason to stop serving.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::warn!(error = %e, "accepting a connection failed; retrying in a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Resolves once the stop signal is given (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

struct Peer {
    local: SocketAddr,
    remote: SocketAddr,
    endpoint: Arc<BoxEndpoint<'static>>,
}

async fn connection(stream: TcpStream, peer: Peer, timeouts: ConnectionTimeouts, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let in_flight = InFlight::enter(&activity);
            let endpoint = peer.endpoint.clone();
            let req = Request::from((
                req,
                LocalAddr(Addr::SocketAddr(peer.local)),
                RemoteAddr(Addr::SocketAddr(peer.remote)),
                Scheme::HTTP,
            ));
            async move {
                let response = endpoint.get_response(req).await;
                drop(in_flight);
                Ok::<_, Infallible>(hyper::Response::from(response))
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The watchdog below times request heads; hyper's own timer would also close idle
    // keep-alive connections after the header-read timeout.
    builder.http1().header_read_timeout(None);
    // poem's HTTP/2 settings, kept as they were.
    builder
        .http2()
        .max_pending_accept_reset_streams(20)
        .max_header_list_size(16 * 1024);
    let mut conn = pin!(builder.serve_connection(io, service));

    // The watchdog wakes at the deadline, or sooner: a first byte can move the deadline
    // earlier (to the header-read timeout) without waking it, so it never sleeps longer than
    // that timeout before looking again. Requests themselves neither wake it nor re-arm
    // its timer: on the hot path a connection costs no extra task wake-ups.
    let mut watchdog = pin!(tokio::time::sleep(timeouts.header_read.min(timeouts.idle)));
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = watchdog.as_mut() => {
                let now = Instant::now();
                let deadline = activity.deadline(timeouts);
                if deadline.is_some_and(|at| at <= now) {
                    tracing::debug!(remote = %peer.remote, "closing a connection: idle or too slow a request head");
                    break;
                }
                let look_again = now + timeouts.header_read;
                watchdog.as_mut().reset(deadline.map_or(look_again, |at| at.min(look_again)));
            }
            _ = stopped(&mut stop) => break,
        }
    }
    conn.as_mut().graceful_shutdown();
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep(GRACE) => {
                // Requests in flight finish (the server's drain timeout bounds them);
                // a connection with none is dropped.
                if activity.in_flight() == 0 {
                    return;
                }
            }
        }
    }
}

/// What the watchdog of one connection knows about it.
struct Activity {
    state: Mutex<State>,
}

struct State {
    in_flight: usize,
    /// When the last request ended (or the connection opened).
    idle_since: Instant,
    /// The first byte received since then: a request head is on its way.
    first_byte: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                // The first request head is due from the first moment, not from a first
                // byte: a connection that never sends one is closed at the header-read timeout.
                first_byte: Some(Instant::now()),
            }),
        }
    }

    fn in_flight(&self) -> usize {
        self.state.lock().expect("not poisoned").in_flight
    }

    /// When the connection is to be closed; `None` while a request is in flight.
    fn deadline(&self, timeouts: ConnectionTimeouts) -> Option<Instant> {
        let state = self.state.lock().expect("not poisoned");
        if state.in_flight > 0 {
            return None;
        }
        let idle = state.idle_since + timeouts.idle;
        // Bytes may also be HTTP/2 control frames (pings, window updates): they shorten
        // the wait to the header-read timeout, never lengthen it past the idle one.
        Some(match state.first_byte {
            Some(first) => idle.min(first + timeouts.header_read),
            None => idle,
        })
    }

    fn received(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        if state.in_flight == 0 && state.first_byte.is_none() {
            state.first_byte = Some(Instant::now());
        }
    }
}

/// Counts a request as in flight until dropped (when its response is ready, or when
/// hyper drops the request because the client went away).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: &Arc<Activity>) -> Self {
        activity.state.lock().expect("not poisoned").in_flight += 1;
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().expect("not poisoned");
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            state.first_byte = None;
        }
    }
}

/// The socket, telling [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
