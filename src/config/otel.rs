//! The OpenTelemetry SDK's own `OTEL_*` variables (the one exception to the `OIDC_` prefix):
//! parsed here like every other setting, so a bad value is a named problem at start.

use url::Url;

use super::{Problems, Secret};

pub const OTEL_VARS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_RESOURCE_ATTRIBUTES",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

/// Which traces are recorded; `ParentBased` follows an incoming `traceparent`'s decision
/// and asks the inner sampler only for traces that start here.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceSampler {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBased(Box<TraceSampler>),
}

/// Tracing is on exactly when this is present (an OTLP endpoint is set).
#[derive(Debug, Clone)]
pub struct TracingSettings {
    /// The full URL spans are sent to (for HTTP, with `/v1/traces`).
    pub endpoint: Url,
    pub protocol: OtlpProtocol,
    /// May carry an API key: kept as secrets.
    pub headers: Vec<(String, Secret)>,
    pub service_name: String,
    pub sampler: TraceSampler,
    pub resource_attributes: Vec<(String, String)>,
}

/// Parses the `OTEL_*` variables; `None` when no endpoint is set (or a value is wrong, which
/// is then recorded in `p`).
pub(super) fn parse(vars: &[(String, String)], p: &mut Problems) -> Option<TracingSettings> {
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let protocol = p.or_default(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        get("OTEL_EXPORTER_OTLP_PROTOCOL"),
        "http/protobuf",
        |v| match v {
            "grpc" => Ok(OtlpProtocol::Grpc),
            "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
            _ => Err(format!("`{v}` is not grpc or http/protobuf")),
        },
    );
    let traces_endpoint = p.optional(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        "http://collector:4318/v1/traces",
        super::parse::http_url,
    );
    let base_endpoint = p.optional(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "http://collector:4318",
        super::parse::http_url,
    );
    let headers = p.optional(
        "OTEL_EXPORTER_OTLP_HEADERS",
        get("OTEL_EXPORTER_OTLP_HEADERS"),
        "api-key=abc",
        pairs,
    );
    let resource = p.optional(
        "OTEL_RESOURCE_ATTRIBUTES",
        get("OTEL_RESOURCE_ATTRIBUTES"),
        "deployment.environment.name=prod",
        pairs,
    );
    let ratio = p.or_default("OTEL_TRACES_SAMPLER_ARG", get("OTEL_TRACES_SAMPLER_ARG"), "1.0", |v| {
        v.parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("`{v}` is not a ratio between 0 and 1"))
    });
    let sampler = p.or_default(
        "OTEL_TRACES_SAMPLER",
        get("OTEL_TRACES_SAMPLER"),
        "parentbased_always_on",
        |v| sampler(v, ratio.unwrap_or(1.0)),
    );
    let resource_attributes: Vec<(String, String)> = resource.unwrap_or_default();
    let service_name = get("OTEL_SERVICE_NAME")
        .map(str::to_owned)
        .or_else(|| {
            resource_attributes
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|| "oidc-session".into());
    let protocol = protocol?;
    let endpoint = match (traces_endpoint, base_endpoint) {
        (Some(url), _) => url,
        (None, Some(base)) if protocol == OtlpProtocol::HttpProtobuf => with_traces_path(base),
        (None, Some(base)) => base,
        (None, None) => return None,
    };
    Some(TracingSettings {
        endpoint,
        protocol,
        // A header list that did not parse is a recorded problem: the start fails anyway.
        headers: headers
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
        service_name,
        sampler: sampler?,
        resource_attributes,
    })
}

/// The SDK's rule for the shared endpoint over HTTP: the signal's path is appended.
fn with_traces_path(mut base: Url) -> Url {
    let path = format!("{}/v1/traces", base.path().trim_end_matches('/'));
    base.set_path(&path);
    base
}

fn sampler(v: &str, ratio: f64) -> Result<TraceSampler, String> {
    let (parent_based, root) = match v.strip_prefix("parentbased_") {
        Some(root) => (true, root),
        None => (false, v),
    };
    let root = match root {
        "always_on" => TraceSampler::AlwaysOn,
        "always_off" => TraceSampler::AlwaysOff,
        "traceidratio" => TraceSampler::TraceIdRatio(ratio),
        _ => {
            return Err(format!(
                "`{v}` is not always_on, always_off, traceidratio or one of them with parentbased_"
            ))
        }
    };
    Ok(if parent_based {
        TraceSampler::ParentBased(Box::new(root))
    } else {
        root
    })
}

/// `key=value,key2=value2` with percent-encoded values (the W3C Baggage form the SDK uses).
fn pairs(v: &str) -> Result<Vec<(String, String)>, String> {
    v.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (key, value) = entry
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| "an entry is not key=value".to_owned())?;
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .map_err(|_| "a value is not UTF-8 once percent-decoded".to_owned())?;
            Ok((key.trim().to_owned(), value.into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(vars: &[(&str, &str)]) -> Result<Option<TracingSettings>, Vec<&'static str>> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut p = Problems::default();
        let settings = parse(&vars, &mut p);
        match p.into_result() {
            Ok(()) => Ok(settings),
            Err(e) => Err(e.problems.iter().map(|p| p.var).collect()),
        }
    }

    #[test]
    fn without_an_endpoint_tracing_is_off() {
        assert!(parsed(&[("OTEL_SERVICE_NAME", "x")]).unwrap().is_none());
    }

    #[test]
    fn the_shared_endpoint_gets_the_traces_path_over_http_and_is_kept_as_is_over_grpc() {
        let http = parsed(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(http.endpoint.as_str(), "http://c:4318/v1/traces");
        assert_eq!(http.protocol, OtlpProtocol::HttpProtobuf);
        let grpc = parsed(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(grpc.endpoint.as_str(), "http://c:4317/");
        let own = parsed(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/x"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(own.endpoint.as_str(), "http://t:9/x");
    }

    #[test]
    fn defaults_are_the_service_name_and_parent_based_always_on() {
        let s = parsed(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])
            .unwrap()
            .unwrap();
        assert_eq!(s.service_name, "oidc-session");
        assert_eq!(s.sampler, TraceSampler::ParentBased(Box::new(TraceSampler::AlwaysOn)));
    }

    #[test]
    fn sampler_ratio_headers_and_resource_attributes_are_read() {
        let s = parsed(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%3Db, x-tenant=t1"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-resource,deployment.environment.name=prod",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            s.sampler,
            TraceSampler::ParentBased(Box::new(TraceSampler::TraceIdRatio(0.01)))
        );
        let headers: Vec<(&str, &str)> = s.headers.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
        assert_eq!(headers, [("api-key", "a=b"), ("x-tenant", "t1")]);
        assert_eq!(s.service_name, "from-resource");
        assert!(!format!("{s:?}").contains("a=b"), "header values are secrets");
    }

    #[test]
    fn every_wrong_value_is_a_problem_naming_its_variable() {
        let problems = parsed(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ])
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "OTEL_EXPORTER_OTLP_HEADERS",
                "OTEL_TRACES_SAMPLER_ARG",
                "OTEL_TRACES_SAMPLER",
            ]
        );
    }
}
