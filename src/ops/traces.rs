//! OpenTelemetry traces, off by default: with `otlp_endpoint` set, every `tracing` span of
//! `sunbid serve` (the `request` span of each HTTP request and what runs inside it) is also
//! exported to an OTLP/HTTP collector (protobuf), batched on a thread of its own.
//!
//! What a span carries is what the code gives its fields: the request span has the request
//! id, the method and the route path (never the query string, headers or body), so no
//! password, token, passphrase or bid content can reach the collector through it; the
//! integration test `ops::traces_reach_an_otlp_collector_without_secrets` checks that.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};

/// Why the exporter could not be set up (a start-up error, never a panic).
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error(
        "otlp_endpoint must be an http:// or https:// URL of the collector's /v1/traces, not {0:?}"
    )]
    BadEndpoint(String),
    /// The OTLP exporter refused its settings.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
}

/// The exporting side: keep it until the process ends, then [`Traces::shutdown`] flushes
/// the spans still queued.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Sets up the exporter to `endpoint` (the collector's `/v1/traces` URL) for
    /// `service` (the `service.name` resource attribute).
    pub fn start(endpoint: &str, service: &str) -> Result<Traces, TracesError> {
        let url = reqwest::Url::parse(endpoint).map_err(|_| {
            TracesError::BadEndpoint(crate::expert::notify::redact_webhook(endpoint))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TracesError::BadEndpoint(
                crate::expert::notify::redact_webhook(endpoint),
            ));
        }
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TracesError::Exporter(e.to_string()))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service.to_owned())
                    .build(),
            )
            .build();
        Ok(Traces { provider })
    }

    /// The tracer the `tracing` layer records into.
    pub fn tracer(&self) -> Tracer {
        self.provider.tracer("sunbid")
    }

    /// Exports what is still queued and stops the exporter.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("OpenTelemetry traces: {e}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_that_is_not_http_is_refused_without_echoing_a_token() {
        for bad in ["not a url", "ftp://collector/v1/traces?token=s3cret"] {
            let err = Traces::start(bad, "sunbid").err().unwrap();
            assert!(matches!(err, TracesError::BadEndpoint(_)), "{err}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }
}
