//! Logs: JSON by default, `pretty` for humans; level from `OIDC_LOG`. Traces over OTLP
//! when an OpenTelemetry endpoint is set (trace.rs).

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, TracingSettings};

pub mod metrics;
pub mod trace;

pub use trace::TraceSetupError;

/// What must live until exit: the log writer's guard (dropping it flushes the last lines)
/// and the trace exporter, which the application takes to flush after its drain.
pub struct Telemetry {
    _logs: Option<tracing_appender::non_blocking::WorkerGuard>,
    traces: Traces,
}

impl Telemetry {
    /// The trace exporter, for whoever stops last.
    pub fn take_traces(&mut self) -> Traces {
        std::mem::take(&mut self.traces)
    }
}

/// The trace exporter and its batch thread; none when tracing is off. Dropping it exports
/// what is queued ([`Traces::shutdown`] is the awaited form).
#[derive(Default)]
pub struct Traces(Option<SdkTracerProvider>);

impl Traces {
    /// Exports the spans still queued and stops the exporter's thread. Blocking work, so it
    /// runs off the runtime's workers.
    pub async fn shutdown(mut self) {
        if let Some(provider) = self.0.take() {
            let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = stopped {
                tracing::warn!(error = %e, "the trace exporter did not shut down cleanly");
            }
        }
    }
}

impl Drop for Traces {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// so tests can share a process.
///
/// Lines are written to stderr by a background thread, off the request path; keep the
/// returned [`Telemetry`] alive until exit, so that the last lines are flushed. Under a
/// burst that outruns stderr, lines are dropped rather than making requests wait.
///
/// With `traces` unset the subscriber is exactly the log-only one: no exporter, no thread,
/// no per-span work beyond the logs'. Call inside the Tokio runtime.
pub fn init(format: LogFormat, filter: &str, traces: Option<&TracingSettings>) -> Result<Telemetry, TraceSetupError> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let Some(settings) = traces else {
        let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
        let installed = match format {
            LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
            LogFormat::Pretty => builder.try_init(),
        };
        return Ok(Telemetry {
            _logs: installed.ok().map(|()| guard),
            traces: Traces::default(),
        });
    };
    let provider = trace::provider(settings)?;
    let logs = tracing_subscriber::fmt::layer().with_writer(writer);
    let logs = match format {
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => logs.with_filter(filter).boxed(),
    };
    // Spans only (log events stay in the logs), and only the service's own: their fields
    // are chosen not to carry secrets. Any level, so the hot path's debug-level request
    // span is exported while its logs stay quiet.
    let spans = trace::layer(&provider).with_filter(tracing_subscriber::filter::filter_fn(|meta| {
        meta.is_span() && meta.target().starts_with("oidc_session")
    }));
    let installed = tracing_subscriber::registry().with(logs).with(spans).try_init();
    Ok(Telemetry {
        _logs: installed.is_ok().then_some(guard),
        traces: Traces(Some(provider)),
    })
}
