//! Reloading the TLS files and the principals file without a restart: on SIGHUP, and when any
//! of the files changes (polled: modification time, size and inode, following symlinks, so a
//! Kubernetes Secret's atomic symlink swap counts). A reload that fails (a half-written file, a
//! key that does not match its certificate) is logged and changes nothing; the old material
//! stays in force until a good one is read.

use super::tls::ReloadableTls;
use super::Auth;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

type Stamp = Option<(i64, i64, u64, u64)>;

fn stamp(path: &std::path::Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.mtime(), m.mtime_nsec(), m.len(), m.ino()))
}

/// Reloads everything now; logs the outcome.
pub fn reload_all(tls: Option<&ReloadableTls>, auth: &Auth, why: &str) {
    if let Some(tls) = tls {
        match tls.reload() {
            Ok(()) => tracing::info!(why, "TLS certificates reloaded"),
            Err(e) => {
                tracing::error!(why, error = %e, "TLS reload failed; the old certificates stay")
            }
        }
    }
    if auth.required() {
        match auth.reload() {
            Ok(n) => tracing::info!(why, principals = n, "auth file reloaded"),
            Err(e) => {
                tracing::error!(why, error = %e, "auth file reload failed; the old principals stay")
            }
        }
    }
}

/// Runs until aborted: reloads on SIGHUP, and every `poll` (None: never) if a file changed.
pub async fn watch(tls: Option<Arc<ReloadableTls>>, auth: Arc<Auth>, poll: Option<Duration>) {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(t) = &tls {
        files.extend(t.files().paths().into_iter().map(PathBuf::from));
    }
    files.extend(auth.file().map(PathBuf::from));
    if files.is_empty() {
        return;
    }
    let mut seen: Vec<Stamp> = files.iter().map(|f| stamp(f)).collect();
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; reloads only on file changes");
            None
        }
    };
    let mut ticker = poll.map(tokio::time::interval);
    loop {
        let hangup = async {
            match hup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let tick = async {
            match ticker.as_mut() {
                Some(t) => t.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = hangup => {
                seen = files.iter().map(|f| stamp(f)).collect();
                reload_all(tls.as_deref(), &auth, "SIGHUP");
            }
            _ = tick => {
                let now: Vec<Stamp> = files.iter().map(|f| stamp(f)).collect();
                if now != seen {
                    seen = now;
                    reload_all(tls.as_deref(), &auth, "file changed");
                }
            }
        }
    }
}
