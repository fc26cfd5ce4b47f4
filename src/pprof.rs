//! Profiles on the metrics port: `GET /debug/pprof/profile?seconds=N` samples every thread of
//! the process (router, executors, RocksDB's) at 99 Hz for N seconds (default 30, at most 300)
//! and answers the profile in pprof's protobuf format, which `pprof` and `go tool pprof` read.
//! One profile at a time: another request meanwhile gets 409. `GET /debug/pprof/heap` answers
//! 501: the allocator (mimalloc) keeps no heap profile. Both are off with `--pprof false`.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const DEFAULT_SECONDS: u64 = 30;
const MAX_SECONDS: u64 = 300;
/// Not a divisor of common timer rates, so sampling does not beat with periodic work.
const FREQUENCY_HZ: i32 = 99;

/// Set while a profile runs (the profiler is process-wide).
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Clears `RUNNING` however the profile ends.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::Release);
    }
}

/// The `seconds` query parameter: absent is the default, anything else must be 1..=300.
fn seconds(uri: &Uri) -> Result<u64, String> {
    let Some(q) = uri.query() else {
        return Ok(DEFAULT_SECONDS);
    };
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("seconds=") {
            return match v.parse::<u64>() {
                Ok(s) if (1..=MAX_SECONDS).contains(&s) => Ok(s),
                _ => Err(format!(
                    "seconds must be an integer in 1..={MAX_SECONDS}, not {v:?}"
                )),
            };
        }
    }
    Ok(DEFAULT_SECONDS)
}

fn profile_for(seconds: u64) -> Result<Vec<u8>, String> {
    use pprof::protos::Message;
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY_HZ)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| format!("starting the profiler: {e}"))?;
    std::thread::sleep(Duration::from_secs(seconds));
    let profile = guard
        .report()
        .build()
        .map_err(|e| format!("building the report: {e}"))?
        .pprof()
        .map_err(|e| format!("encoding the profile: {e}"))?;
    let mut out = Vec::with_capacity(profile.encoded_len());
    profile
        .encode(&mut out)
        .map_err(|e| format!("encoding the profile: {e}"))?;
    Ok(out)
}

/// `GET /debug/pprof/profile`.
pub async fn profile(uri: Uri) -> Response {
    let secs = match seconds(&uri) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    if RUNNING.swap(true, Ordering::AcqRel) {
        return (
            StatusCode::CONFLICT,
            "a profile is already running; retry when it is done",
        )
            .into_response();
    }
    let running = Running;
    tracing::info!(seconds = secs, "CPU profile started");
    let made = tokio::task::spawn_blocking(move || {
        let _running = running;
        profile_for(secs)
    })
    .await;
    match made {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"profile.pb\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("profile task failed: {e}"),
        )
            .into_response(),
    }
}

/// `GET /debug/pprof/heap`.
pub async fn heap() -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        "no heap profile: the server's allocator (mimalloc) does not sample allocations",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_default_and_bounds() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(seconds(&u("/debug/pprof/profile")), Ok(30));
        assert_eq!(seconds(&u("/debug/pprof/profile?seconds=5")), Ok(5));
        assert_eq!(seconds(&u("/debug/pprof/profile?x=1&seconds=300")), Ok(300));
        assert!(seconds(&u("/debug/pprof/profile?seconds=0")).is_err());
        assert!(seconds(&u("/debug/pprof/profile?seconds=301")).is_err());
        assert!(seconds(&u("/debug/pprof/profile?seconds=abc")).is_err());
    }
}
