//! OpenTelemetry traces over OTLP, on only when an endpoint is configured. Spans are the
//! `tracing` spans the code already opens, turned into OpenTelemetry spans by
//! `tracing-opentelemetry`; a batch processor on its own thread exports them, off the
//! request path.
//!
//! What a span may carry is decided where it is opened: route templates, methods, status
//! codes, endpoint names, Redis command names. Never a cookie, code, verifier, token or
//! secret, and never a raw query.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::{OtlpProtocol, TraceSampler, TracingSettings};

/// How long one export may take before the batch is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP trace exporter: {0}")]
pub struct TraceSetupError(String);

/// Builds the exporter and the provider whose tracer the `tracing` layer uses. Called
/// inside the Tokio runtime: the exporters' connections run on it.
pub(super) fn provider(settings: &TracingSettings) -> Result<SdkTracerProvider, TraceSetupError> {
    let endpoint = settings.endpoint.as_str().to_owned();
    let exporter = match settings.protocol {
        OtlpProtocol::HttpProtobuf => {
            let headers: HashMap<String, String> = settings
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect();
            let client = ExportClient::new().map_err(|e| TraceSetupError(e.to_string()))?;
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_http_client(client)
                .with_endpoint(endpoint)
                .with_timeout(EXPORT_TIMEOUT)
                .with_headers(headers)
                .build()
        }
        OtlpProtocol::Grpc => {
            let mut metadata = tonic::metadata::MetadataMap::new();
            for (k, v) in &settings.headers {
                let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                    .map_err(|_| TraceSetupError(format!("`{k}` cannot be a gRPC metadata key")))?;
                let value = v
                    .expose()
                    .parse()
                    .map_err(|_| TraceSetupError(format!("the value of `{k}` cannot be gRPC metadata")))?;
                metadata.insert(key, value);
            }
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(EXPORT_TIMEOUT)
                .with_metadata(metadata);
            if settings.endpoint.scheme() == "https" {
                builder = builder.with_tls_config(tonic::transport::ClientTlsConfig::new().with_webpki_roots());
            }
            builder.build()
        }
    }
    .map_err(|e| TraceSetupError(e.to_string()))?;
    let resource = Resource::builder_empty()
        .with_attributes(
            settings
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler(&settings.sampler))
        .with_resource(resource)
        .build())
}

/// The `tracing` layer that turns spans into OpenTelemetry spans.
pub(super) fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("oidc-session"))
        .with_level(false)
        .with_target(false)
        .with_location(false)
        .with_threads(false)
        // Busy/idle time would cost two clock reads at every poll of every span, sampled
        // or not; the span's own start and end are what a trace shows.
        .with_tracked_inactivity(false)
}

fn sampler(s: &TraceSampler) -> Sampler {
    match s {
        TraceSampler::AlwaysOn => Sampler::AlwaysOn,
        TraceSampler::AlwaysOff => Sampler::AlwaysOff,
        TraceSampler::TraceIdRatio(r) => Sampler::TraceIdRatioBased(*r),
        TraceSampler::ParentBased(root) => Sampler::ParentBased(Box::new(sampler(root))),
    }
}

/// Continues an incoming W3C `traceparent` (and `tracestate`) in `span`, and records the
/// trace id on it so that log lines inside carry it. Does nothing when tracing is off.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    if parent.span().span_context().is_valid() && span.set_parent(parent).is_err() {
        return;
    }
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// The W3C `traceparent` (and `tracestate`) of the current span, for a call going out;
/// empty when tracing is off. An unsampled trace goes out with its sampled flag unset.
pub fn outgoing_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut opentelemetry_http::HeaderInjector(&mut headers));
    }
    headers
}

/// A CLIENT span for one store operation (its Redis commands) on a path that is not the
/// hot one: login, refresh, logout. Debug level: free when neither logs nor traces want it.
/// Names the operation, never a key (keys are derived from session ids).
pub fn redis_span(operation: &'static str) -> tracing::Span {
    tracing::debug_span!(
        "redis",
        otel.name = %format_args!("redis {operation}"),
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = operation,
    )
}

/// Sends export requests with the reqwest 0.12 client the service already has, on the
/// service's runtime (the batch processor's thread has none).
#[derive(Debug)]
struct ExportClient {
    client: openidconnect::reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl ExportClient {
    fn new() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self {
            client: openidconnect::reqwest::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()?,
            runtime: tokio::runtime::Handle::try_current()?,
        })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let request = openidconnect::reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await?;
            Ok::<_, opentelemetry_http::HttpError>(answer.body(body)?)
        });
        sent.await?
    }
}
