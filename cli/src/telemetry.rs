//! Logging: text or JSON lines on stderr (`[log] format`), and, in a binary built with the
//! `otel` feature, trace export to an OTLP/gRPC collector (`[log] otlp_endpoint`); the
//! allocator's statistics for the `tanso_allocator_*` metrics.

use anyhow::Result;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the trace pipeline alive; flushes pending spans when dropped.
pub(crate) struct Guard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("tanso: flushing traces: {e}");
        }
    }
}

/// Installs the global subscriber. With an OTLP endpoint it must run inside a tokio runtime
/// (the exporter's channel is spawned on it).
pub(crate) fn init(json: bool, default: &str, otlp_endpoint: Option<&str>) -> Result<Guard> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TANSO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let registry = tracing_subscriber::registry().with(filter).with(fmt);
    #[cfg(feature = "otel")]
    {
        let (layer, provider) = match otlp_endpoint {
            None => (None, None),
            Some(endpoint) => {
                let (layer, provider) = otel_layer(endpoint)?;
                (Some(layer), Some(provider))
            }
        };
        let _ = registry.with(layer).try_init();
        Ok(Guard { provider })
    }
    #[cfg(not(feature = "otel"))]
    {
        if otlp_endpoint.is_some() {
            return Err(anyhow::Error::new(crate::cmd::ConfigInvalid(
                "key `log.otlp_endpoint`: this tanso was built without the `otel` feature \
                 (cargo build --features otel)"
                    .into(),
            )));
        }
        let _ = registry.try_init();
        Ok(Guard {})
    }
}

#[cfg(feature = "otel")]
fn otel_layer<S>(
    endpoint: &str,
) -> Result<(
    impl Layer<S> + 'static,
    opentelemetry_sdk::trace::SdkTracerProvider,
)>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use anyhow::Context;
    use opentelemetry::trace::TracerProvider;
    use opentelemetry_otlp::WithExportConfig;

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("otlp exporter for {endpoint}"))?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("tanso")
                .build(),
        )
        .build();
    let tracer = provider.tracer("tanso");
    Ok((tracing_opentelemetry::layer().with_tracer(tracer), provider))
}

/// Lets `/metrics` export the allocator's own figures (live heap vs what it keeps resident),
/// which tell a leak from memory kept for reuse. jemalloc only; other builds export none.
pub(crate) fn allocator_stats() -> Option<node::metrics::AllocatorStatsFn> {
    #[cfg(feature = "jemalloc")]
    return Some(jemalloc_stats);
    #[cfg(not(feature = "jemalloc"))]
    None
}

#[cfg(feature = "jemalloc")]
fn jemalloc_stats() -> Option<node::metrics::AllocatorStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are a snapshot refreshed when the epoch advances.
    epoch::advance().ok()?;
    Some(node::metrics::AllocatorStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        retained: stats::retained::read().ok()? as u64,
    })
}
