//! Reading the provider's answers with a size limit: a provider (or whatever sits at a
//! configured URL) cannot make this service buffer an unbounded body.

use openidconnect::reqwest;

/// Discovery documents and key sets: large providers publish tens of keys, far below this.
pub(crate) const METADATA_LIMIT: usize = 1024 * 1024;
/// Token, userinfo, pushed-authorization, revocation and introspection answers: a token
/// set larger than this could not be stored anyway (see `session::tokens`).
pub(crate) const ANSWER_LIMIT: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the answer could not be read")]
    Read(#[source] reqwest::Error),
    #[error("the answer is larger than the {limit} bytes accepted")]
    TooLarge { limit: usize },
}

/// The whole body, or [`BodyError::TooLarge`] as soon as it passes `limit` bytes (a
/// `Content-Length` above it is refused before a byte is read).
pub(crate) async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one answer of `len` bytes, chunked (no `Content-Length` to refuse early).
    async fn serve_chunked(len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 1024];
            let _ = conn.read(&mut head).await;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = vec![b'x'; 16 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len());
                let framed = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
                if conn.write_all(&framed).await.is_err() {
                    return;
                }
                left -= n;
            }
            let _ = conn.write_all(b"0\r\n\r\n").await;
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn a_chunked_answer_past_the_limit_is_refused_and_one_within_it_is_read_whole() {
        let http = reqwest::Client::new();
        let url = serve_chunked(ANSWER_LIMIT + 1).await;
        let response = http.get(url).send().await.unwrap();
        let err = read_limited(response, ANSWER_LIMIT).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: ANSWER_LIMIT }), "{err:?}");

        let url = serve_chunked(ANSWER_LIMIT).await;
        let response = http.get(url).send().await.unwrap();
        assert_eq!(read_limited(response, ANSWER_LIMIT).await.unwrap().len(), ANSWER_LIMIT);
    }
}
