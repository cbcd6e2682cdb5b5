//! A header-collapsing app behind the proxies: `header_echo.py` on Python's stdlib WSGI
//! server, which reads every alias of a header name (`X_Auth_Request_User`,
//! `X.Auth.Request.User`, …) as `HTTP_X_AUTH_REQUEST_USER`, as CGI, WSGI and PHP apps do.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::child::{reserve_port, Guarded, Scratch};

pub struct HeaderEcho {
    /// `127.0.0.1:<port>`
    pub addr: String,
    _process: Guarded,
    scratch: Scratch,
}

impl HeaderEcho {
    pub fn start() -> HeaderEcho {
        let scratch = Scratch::new("wsgi");
        let reserved = reserve_port();
        let port = reserved.local_addr().unwrap().port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/header_echo.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .arg(port.to_string())
            .arg(scratch.path("journal.jsonl"));
        drop(reserved);
        let mut process = Guarded::spawn("python3 header_echo.py", command, &scratch.path("wsgi.log"));
        process
            .wait_for_port(port, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"));
        HeaderEcho {
            addr: format!("127.0.0.1:{port}"),
            _process: process,
            scratch,
        }
    }

    /// Every request the app has answered, in order: `{"path", "seen": {NAME: [values]}}`,
    /// each NAME an `HTTP_X_AUTH_REQUEST_*` or `HTTP_AUTHORIZATION` after collapsing.
    pub fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(self.scratch.path("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}
