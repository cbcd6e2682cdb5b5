//! Logs: JSON by default, `pretty` for humans; level from `OIDC_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// so tests can share a process.
///
/// Lines are written to stderr by a background thread, off the request path; keep the
/// returned guard (`None` when a subscriber was installed before) alive until exit, so
/// that the last lines are flushed. Under a burst that outruns stderr, lines are dropped
/// rather than making requests wait.
pub fn init(format: LogFormat, filter: &str) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let installed = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    installed.ok().map(|()| guard)
}

pub mod metrics;
