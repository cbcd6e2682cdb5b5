//! A real OTLP trace receiver on loopback, built on the official protobuf definitions
//! (the `opentelemetry-proto` crate): OTLP/HTTP with protobuf bodies, or OTLP/gRPC. It
//! keeps every span it is sent, flattened, and the headers of each export.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message as _;

/// One received span, its ids in lowercase hex as in `traceparent`.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// `SpanKind`: 2 server, 3 client.
    pub kind: i32,
    pub duration: Duration,
    pub attributes: BTreeMap<String, String>,
    /// The resource's attributes (`service.name`, …).
    pub resource: BTreeMap<String, String>,
    /// Span events, as `name: attributes`.
    pub events: Vec<String>,
}

#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    headers: Vec<http::HeaderMap>,
}

#[derive(Clone, Default)]
pub struct Receiver {
    received: Arc<Mutex<Received>>,
}

pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;

impl Receiver {
    /// OTLP/HTTP on a free port; returns the base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub async fn http() -> (Receiver, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let keep = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let keep = keep.clone();
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let keep = keep.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body.collect().await?.to_bytes();
                        let status = match (parts.uri.path(), ExportTraceServiceRequest::decode(bytes)) {
                            ("/v1/traces", Ok(request)) => {
                                keep.keep(request, parts.headers);
                                200
                            }
                            _ => 400,
                        };
                        let answer = ExportTraceServiceResponse::default().encode_to_vec();
                        http::Response::builder()
                            .status(status)
                            .header("content-type", "application/x-protobuf")
                            .body(Full::new(bytes::Bytes::from(answer)))
                            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        (receiver, url)
    }

    /// OTLP/gRPC on a free port; returns its URL.
    pub async fn grpc() -> (Receiver, String) {
        let receiver = Receiver::default();
        let addr: SocketAddr = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        let service = TraceServiceServer::new(receiver.clone());
        tokio::spawn(tonic::transport::Server::builder().add_service(service).serve(addr));
        (receiver, format!("http://{addr}"))
    }

    fn keep(&self, request: ExportTraceServiceRequest, headers: http::HeaderMap) {
        let mut received = self.received.lock().unwrap();
        received.headers.push(headers);
        for resource_spans in request.resource_spans {
            let resource = attributes(resource_spans.resource.map(|r| r.attributes).unwrap_or_default());
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                received.spans.push(Span {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    duration: Duration::from_nanos(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano)),
                    attributes: attributes(span.attributes),
                    resource: resource.clone(),
                    events: span
                        .events
                        .into_iter()
                        .map(|e| format!("{}: {:?}", e.name, attributes(e.attributes)))
                        .collect(),
                });
            }
        }
    }

    pub fn spans(&self) -> Vec<Span> {
        self.received.lock().unwrap().spans.clone()
    }

    /// The headers of every export request (HTTP) or its metadata (gRPC).
    pub fn headers(&self) -> Vec<http::HeaderMap> {
        self.received.lock().unwrap().headers.clone()
    }

    /// Waits until a span matching `found` has arrived (the exporter sends in batches).
    pub async fn wait_for(&self, what: &str, found: impl Fn(&Span) -> bool) -> Span {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(span) = self.spans().into_iter().find(|s| found(s)) {
                return span;
            }
            assert!(
                Instant::now() < deadline,
                "no span {what} arrived; got {:#?}",
                self.spans().iter().map(|s| &s.name).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        self.keep(request.into_inner(), headers);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Attribute values as text (strings as they are, other kinds in their debug form).
fn attributes(kvs: Vec<KeyValue>) -> BTreeMap<String, String> {
    kvs.into_iter()
        .map(|kv| {
            let value = match kv.value.and_then(|v| v.value) {
                Some(Value::StringValue(s)) => s,
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key, value)
        })
        .collect()
}
