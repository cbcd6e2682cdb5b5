//! The app a proxy protects in the tests: it echoes what reached it (method, URI, body and
//! the identity headers) as JSON, and serves the single-page app of `examples/spa/` at
//! `/app/`.

use std::path::Path;

use poem::listener::{AcceptorExt, TcpAcceptor};
use poem::{Endpoint, Request, Response, Server};
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

pub struct Upstream {
    /// `127.0.0.1:<port>`
    pub addr: String,
    _stop: oneshot::Sender<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let acceptor = TcpAcceptor::from_std(listener).unwrap();
        let spa = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spa/index.html"))
            .expect("examples/spa/index.html");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(Server::new_with_acceptor(acceptor.boxed()).run_with_graceful_shutdown(
            Echo { spa },
            async move {
                let _ = stopped.await;
            },
            None,
        ));
        Upstream { addr, _stop: stop }
    }
}

struct Echo {
    spa: String,
}

impl Endpoint for Echo {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.uri().path() == "/app/" {
            return Ok(Response::builder()
                .content_type("text/html; charset=utf-8")
                .body(self.spa.clone()));
        }
        let mut identity = Map::new();
        for (name, value) in req.headers() {
            let name = name.as_str();
            if name.starts_with("x-auth-request-") || name == "authorization" {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                identity.insert(name.to_owned(), Value::String(value));
            }
        }
        let echo = json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "cookie": req.header("cookie"),
            "headers": identity,
            "body": req.into_body().into_string().await.unwrap_or_default(),
        });
        Ok(Response::builder()
            .content_type("application/json")
            .body(echo.to_string()))
    }
}
