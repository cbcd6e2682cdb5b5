//! Wiring only: configuration, telemetry, then serve until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use oidc_session::config::Settings;
use oidc_session::startup::Application;

// glibc's malloc took ~15 % of the hot path's CPU, partly in arena lock contention between
// worker threads; mimalloc's thread-local heaps avoid both. Built with `no_thp` (Cargo.toml):
// huge pages would double idle RSS (docs/DESIGN.md, "Where the hot path's time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => false,
        ["check"] => true,
        _ => {
            eprintln!("usage: oidc-session [check]");
            return ExitCode::from(2);
        }
    };
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    if check {
        for warning in &settings.warnings {
            println!("warning  {warning}");
        }
        let report = oidc_session::check::run(&settings).await;
        print!("{}", report.render());
        return if report.problems == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let mut telemetry =
        match oidc_session::telemetry::init(settings.log_format, &settings.log_filter, settings.tracing.as_ref()) {
            Ok(telemetry) => telemetry,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let app = match Application::build(settings) {
        Ok(app) => app.with_traces(telemetry.take_traces()),
        Err(e) => {
            tracing::error!(error = %oidc_session::error_chain(&e), "cannot start");
            return ExitCode::from(if e.is_configuration() { 2 } else { 1 });
        }
    };
    if let Err(e) = app.verify_store().await {
        eprintln!("{}", oidc_session::error_chain(&e));
        return ExitCode::from(2);
    }
    tracing::info!(
        public_port = app.public_port(),
        internal_port = app.internal_port(),
        "listening"
    );
    match app.run(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %oidc_session::error_chain(&e), "stopped with an error");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
