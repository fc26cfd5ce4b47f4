//! Tracing setup (text or JSON lines) and the one structured line logged per request.

use crate::config::LogFormat;
use std::io::IsTerminal;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

#[derive(Debug, thiserror::Error)]
#[error("cannot set up logging: {0}")]
pub struct LoggingError(String);

/// Installs the global subscriber: `filter` in EnvFilter syntax (RUST_LOG overrides it), lines
/// to stderr as text or JSON.
pub fn init(format: LogFormat, filter: &str) -> Result<(), LoggingError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => EnvFilter::try_new(f),
        _ => EnvFilter::try_new(filter),
    }
    .map_err(|e| LoggingError(e.to_string()))?;
    // Colours only on a terminal: a log file or collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let r = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    r.map_err(|e| LoggingError(e.to_string()))
}

/// A request that succeeds in less time than this is logged at debug level only.
pub const SLOW_REQUEST: Duration = Duration::from_millis(100);

/// The one line logged per request.
pub struct RequestLine<'a> {
    pub method: &'a str,
    /// Who called (never a credential).
    pub principal: &'a str,
    pub namespace: &'a str,
    /// The document's public id, or "".
    pub doc: &'a str,
    pub shard: Option<usize>,
    pub code: tonic::Code,
    pub latency: Duration,
}

/// One line per request: method, principal, namespace, document, shard, status code, latency.
/// At info level for a failed or slow request (warn for INTERNAL), at debug level for the rest
/// (a line for every request costs about 6 µs of server CPU, measured:
/// `--log info,treestore::request=debug` turns it on).
pub fn request(line: &RequestLine<'_>) {
    let RequestLine {
        method,
        principal,
        namespace,
        doc,
        shard,
        code,
        latency,
    } = *line;
    let status = crate::metrics::code_name(code);
    let latency_us = latency.as_micros() as u64;
    let shard = shard.map(|s| s as i64).unwrap_or(-1);
    if code == tonic::Code::Internal {
        tracing::warn!(target: "treestore::request", method, principal, namespace, doc, shard, status, latency_us, "request");
    } else if code != tonic::Code::Ok || latency >= SLOW_REQUEST {
        tracing::info!(target: "treestore::request", method, principal, namespace, doc, shard, status, latency_us, "request");
    } else {
        tracing::debug!(target: "treestore::request", method, principal, namespace, doc, shard, status, latency_us, "request");
    }
}
