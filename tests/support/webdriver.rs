//! A real browser for the tests: Debian's headless Chromium driven by chromedriver over
//! the W3C WebDriver protocol (plain JSON over HTTP). Hosts other than 127.0.0.1 resolve
//! to nothing, so pages that import web fonts (the test provider's) never wait on the
//! network.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::child::{reserve_port, Guarded, Scratch};

/// How long a page, an element or a navigation may take to appear.
const PATIENCE: Duration = Duration::from_secs(30);
/// The W3C name of an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    /// `http://127.0.0.1:<chromedriver port>/session/<id>`
    session: String,
    http: reqwest::Client,
    _driver: Guarded,
    _profile: Scratch,
}

/// Debian installs the browser itself here, and a wrapper script as /usr/bin/chromium.
fn chromium() -> &'static str {
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromium is not installed (scripts/test.sh installs chromium and chromium-driver)")
}

impl Browser {
    pub async fn start() -> Browser {
        let profile = Scratch::new("chromium");
        let (driver, port) = start_driver(&profile);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--password-store=basic",
                    "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path("profile").display()),
                ],
            },
        }}});
        let created: Value = http
            .post(format!("http://127.0.0.1:{port}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let Some(id) = created["value"]["sessionId"].as_str() else {
            panic!("chromium did not start: {created}\n{}", driver.log());
        };
        Browser {
            session: format!("http://127.0.0.1:{port}/session/{id}"),
            http,
            _driver: driver,
            _profile: profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let ok = response.status().is_success();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if ok {
            Ok(value["value"].clone())
        } else {
            Err(value["value"].clone())
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None)
            .await
            .unwrap_or_else(|e| panic!("WebDriver GET {path}: {e}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body.clone()))
            .await
            .unwrap_or_else(|e| panic!("WebDriver POST {path} {body}: {e}"))
    }

    /// Loads `url` and waits for the page (and any redirects) to finish loading.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the current URL satisfies `want`, and returns it.
    pub async fn wait_for_url(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let url = self.url().await;
            if want(&url) {
                return url;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the browser never reached {what}; it is at {url}:\n{}",
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching a CSS selector, waiting for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self
                .command(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Ok(element) = found {
                return element[ELEMENT].as_str().expect("an element reference").to_owned();
            }
            if Instant::now() >= deadline {
                panic!(
                    "no `{css}` on {} within {PATIENCE:?}:\n{}",
                    self.url().await,
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/value"), json!({ "text": text }))
            .await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/click"), json!({})).await;
    }

    /// Waits until the element's visible text satisfies `want`, and returns it.
    pub async fn wait_for_text(&self, css: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let element = self.find(css).await;
            let text = self
                .command(reqwest::Method::GET, &format!("/element/{element}/text"), None)
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if want(&text) {
                return text;
            }
            if Instant::now() >= deadline {
                panic!("`{css}` reads {text:?}:\n{}", self.text().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs a script in the page and returns its result.
    pub async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": "return document.body ? document.body.innerText : ''", "args": []})),
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
    }

    /// The cookies the browser holds for the current page, as it stored them (name,
    /// value, path, domain, httpOnly, secure, sameSite, expiry).
    pub async fn cookies(&self) -> Vec<Value> {
        self.get("/cookie").await.as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Browser {
    /// Ends the WebDriver session, which closes Chromium, before chromedriver is killed
    /// (a blocking request: drop cannot wait on the async client).
    fn drop(&mut self) {
        let Some(rest) = self.session.strip_prefix("http://") else {
            return;
        };
        let Some((host, path)) = rest.split_once('/') else {
            return;
        };
        if let Ok(mut stream) = TcpStream::connect(host) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request =
                format!("DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
    }
}

/// chromedriver on a reserved port (with `--port=0` it binds IPv6 first and may find the
/// same number taken on IPv4); a start that still loses its port is tried again.
fn start_driver(profile: &Scratch) -> (Guarded, u16) {
    let mut failures = Vec::new();
    for attempt in 0..3 {
        let reserved = reserve_port();
        let port = reserved.local_addr().unwrap().port();
        let mut command = Command::new("chromedriver");
        command.arg(format!("--port={port}"));
        drop(reserved);
        let log = profile.path(&format!("chromedriver-{attempt}.log"));
        let mut driver = Guarded::spawn("chromedriver", command, &log);
        match driver.wait_for_port(port, Duration::from_secs(20)) {
            Ok(()) => return (driver, port),
            Err(e) => failures.push(e),
        }
    }
    panic!("chromedriver did not start:\n{}", failures.join("\n"));
}
