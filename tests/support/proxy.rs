//! Real reverse proxies from Debian (nginx, Caddy) run from the configurations in
//! `examples/`, on loopback, in front of the service and a test upstream.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::child::{Guarded, Scratch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `examples/nginx/app.conf.template`: auth_request, error_page 401.
    Nginx,
    /// `examples/caddy/Caddyfile`: forward_auth with mode=redirect.
    Caddy,
}

/// Where the proxy sends what.
pub struct Upstreams<'a> {
    /// The service's public listener, `host:port`.
    pub public: &'a str,
    /// The service's internal listener, `host:port`.
    pub internal: &'a str,
    /// The protected app, `host:port`.
    pub app: &'a str,
}

pub struct Proxy {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    process: Guarded,
    _scratch: Scratch,
}

const START_TIMEOUT: Duration = Duration::from_secs(20);

fn example(path: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()))
}

impl Proxy {
    /// Starts the proxy on the reserved port (released just before it binds).
    pub fn start(kind: Kind, reserved: TcpListener, to: &Upstreams<'_>) -> Proxy {
        let port = reserved.local_addr().unwrap().port();
        let scratch = Scratch::new(match kind {
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
        });
        let command = match kind {
            Kind::Nginx => nginx(&scratch, port, to),
            Kind::Caddy => caddy(&scratch, port, to),
        };
        drop(reserved);
        let mut process = Guarded::spawn(&format!("{kind:?}"), command, &scratch.path("proxy.log"));
        process
            .wait_for_port(port, START_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            process,
            _scratch: scratch,
        }
    }

    /// What the proxy logged (errors; access logs are off).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// The example's `${NAME}` filled in as envsubst would, and a main configuration that
/// keeps every path (pid, temp files, logs) inside the scratch directory.
fn nginx(scratch: &Scratch, port: u16, to: &Upstreams<'_>) -> Command {
    let listen = format!("127.0.0.1:{port}");
    let mut site = example("nginx/app.conf.template");
    for (name, value) in [
        ("NGINX_LISTEN", listen.as_str()),
        ("OIDC_PUBLIC", to.public),
        ("OIDC_INTERNAL", to.internal),
        ("APP_UPSTREAM", to.app),
    ] {
        site = site.replace(&format!("${{{name}}}"), value);
    }
    let unfilled = site
        .match_indices("${")
        .any(|(i, _)| site[i + 2..].starts_with(|c: char| c.is_ascii_uppercase()));
    assert!(!unfilled, "a ${{NAME}} of the nginx example is not filled in:\n{site}");
    std::fs::write(scratch.path("app.conf"), site).unwrap();
    let dir = scratch.0.display();
    let main = format!(
        "pid {dir}/nginx.pid;\n\
         error_log stderr warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {dir}/client_body;\n\
           proxy_temp_path {dir}/proxy_temp;\n\
           fastcgi_temp_path {dir}/fastcgi;\n\
           uwsgi_temp_path {dir}/uwsgi;\n\
           scgi_temp_path {dir}/scgi;\n\
           include {dir}/app.conf;\n\
         }}\n"
    );
    std::fs::write(scratch.path("nginx.conf"), main).unwrap();
    let mut command = Command::new("nginx");
    command
        .arg("-p")
        .arg(&scratch.0)
        .args(["-e", "stderr"])
        .arg("-c")
        .arg(scratch.path("nginx.conf"))
        // One process, so that killing it leaves no worker behind.
        .args(["-g", "daemon off; master_process off;"]);
    command
}

/// The example as it is, its `{$NAME}` from the environment, behind global options for a
/// test: no admin endpoint, no HTTPS, loopback only.
fn caddy(scratch: &Scratch, port: u16, to: &Upstreams<'_>) -> Command {
    let caddyfile = format!(
        "{{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}}\n\n{}",
        example("caddy/Caddyfile")
    );
    std::fs::write(scratch.path("Caddyfile"), caddyfile).unwrap();
    let mut command = Command::new("caddy");
    command
        .arg("run")
        .arg("--config")
        .arg(scratch.path("Caddyfile"))
        .args(["--adapter", "caddyfile"])
        .env("SITE_ADDRESS", format!(":{port}"))
        .env("OIDC_PUBLIC", to.public)
        .env("OIDC_INTERNAL", to.internal)
        .env("APP_UPSTREAM", to.app)
        .env("HOME", &scratch.0)
        .env("XDG_CONFIG_HOME", &scratch.0)
        .env("XDG_DATA_HOME", &scratch.0);
    command
}
