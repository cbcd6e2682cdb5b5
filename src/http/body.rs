//! Request bodies: read whole before a handler sees them, bounded in size and in time, so a
//! client can neither grow the service's memory nor hold a connection with a trickle.

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use poem::http::StatusCode;
use poem::{Body, Request, Response};

/// The largest request body any endpoint reads (logout tokens, introspection bodies).
const MAX_BODY: usize = 64 * 1024;

/// How long a request body may take to arrive: a client trickling a body cannot hold a
/// connection (`serve.rs` bounds the request head).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads every request body here, within [`MAX_BODY`] and [`BODY_READ_TIMEOUT`], and hands
/// it on in memory. However it is framed (`Content-Length`, chunked, or an HTTP/2 stream
/// that declares no length), a body over the bound is refused with 413 as soon as the
/// bound is passed: memory never grows with the bytes a client sends. The request is
/// borrowed, not moved in and out: each move would be a copy of it kept in the future.
pub(super) async fn limit_body(req: &mut Request) -> Result<(), Response> {
    let refuse = |status: StatusCode, description: &str| {
        let body = serde_json::json!({"error": "invalid_request", "error_description": description});
        Response::builder()
            .status(status)
            .content_type("application/json")
            .body(body.to_string())
    };
    let too_large = || refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    match req.header("content-length").map(|v| v.trim().parse::<usize>()) {
        Some(Ok(len)) if len > MAX_BODY => return Err(too_large()),
        Some(Err(_)) => return Err(refuse(StatusCode::BAD_REQUEST, "invalid Content-Length")),
        _ => {}
    }
    let body = req.take_body();
    if body.is_empty() {
        // GETs and bodiless POSTs (the hot path): nothing to read.
        req.set_body(body);
        return Ok(());
    }
    let mut read = pin!(read_body(body, MAX_BODY));
    // A small body comes in the same packets as the head: hyper has it whole before the
    // handler runs, and it is taken without arming (or even building) the timer.
    let read = match futures_util::poll!(read.as_mut()) {
        Poll::Ready(read) => Ok(read),
        Poll::Pending => tokio::time::timeout(BODY_READ_TIMEOUT, read).await,
    };
    match read {
        Ok(Ok(bytes)) => {
            req.set_body(bytes);
            Ok(())
        }
        Ok(Err(BodyError::TooLarge)) => Err(too_large()),
        Ok(Err(BodyError::Unreadable)) => Err(refuse(StatusCode::BAD_REQUEST, "the request body could not be read")),
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            "the request body took too long to arrive",
        )),
    }
}

pub(crate) enum BodyError {
    TooLarge,
    Unreadable,
}

/// A body's bytes, refused as soon as they pass `limit`. Frame by frame rather than with
/// poem's `into_bytes_limit`, whose 4 KiB buffer is zeroed and copied through on every
/// call and makes each future that awaits it 4 KiB larger (docs/DESIGN.md, "Where the hot
/// path's time goes"); a body already in memory comes back without a copy.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let body: BoxBody<Bytes, std::io::Error> = body.into();
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures_util::StreamExt as _;

    use super::*;

    /// A body of unknown length (as an HTTP/2 stream without `Content-Length`), counting
    /// what is pulled from it.
    fn endless(pulled: Arc<AtomicUsize>) -> Body {
        let chunks = futures_util::stream::repeat_with(move || {
            pulled.fetch_add(4096, Ordering::Relaxed);
            Ok::<_, std::io::Error>(vec![b'x'; 4096])
        });
        Body::from_bytes_stream(chunks)
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_is_cut_off_just_past_the_limit_with_413() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let mut req = Request::builder()
            .method(poem::http::Method::POST)
            .body(endless(pulled.clone()));
        let refused = limit_body(&mut req).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(pulled.load(Ordering::Relaxed) <= MAX_BODY + 4096);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_gets_408_after_the_body_read_timeout() {
        let stalled = futures_util::stream::once(async { Ok::<_, std::io::Error>(vec![b'x'; 10]) })
            .chain(futures_util::stream::pending());
        let mut req = Request::builder()
            .method(poem::http::Method::POST)
            .body(Body::from_bytes_stream(stalled));
        let refused = limit_body(&mut req).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_handed_on_whole() {
        let mut req = Request::builder()
            .method(poem::http::Method::POST)
            .body(Body::from_bytes_stream(futures_util::stream::iter([
                Ok::<_, std::io::Error>("logout_token="),
                Ok("abc"),
            ])));
        limit_body(&mut req).await.unwrap();
        assert_eq!(req.take_body().into_string().await.unwrap(), "logout_token=abc");
    }
}
