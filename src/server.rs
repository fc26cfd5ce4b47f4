//! Startup and graceful shutdown: the gRPC server (TreeStore, grpc.health.v1, reflection) and
//! the /metrics endpoint on their listeners; on the shutdown signal, report NOT_SERVING, stop
//! accepting, finish in-flight requests, then stop the backend (which checkpoints every shard).

use crate::admission::ConnectionAdmissionLayer;
use crate::backend::Backend;
use crate::config::Config;
use crate::grpc_errors::ClientErrorsLayer;
use crate::health;
use crate::metrics::{Metrics, MetricsError};
use crate::pb;
use crate::security::incoming::{nodelay, tls_incoming};
use crate::security::layer::AuthLayer;
use crate::security::tls::ReloadableTls;
use crate::security::{Auth, SecurityError};
use crate::service::Service;
use shards::engine::Engine;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tonic_health::ServingStatus;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("shutting down the shards: {0}")]
    Shutdown(shards::Error),
    #[error("shutdown task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Security(#[from] SecurityError),
}

/// The TLS config (None: plaintext) and who may call, from the configuration; logs a warning
/// for each protection that is off.
fn security(config: &Config) -> Result<(Option<Arc<ReloadableTls>>, Arc<Auth>), SecurityError> {
    let tls = match config.tls_files() {
        Some(files) => {
            let mtls = files.client_ca.is_some();
            let tls = ReloadableTls::new(files)?;
            tracing::info!(mutual_tls = mtls, "gRPC over TLS");
            Some(Arc::new(tls))
        }
        None => {
            tracing::warn!(
                "serving gRPC WITHOUT TLS (--insecure-plaintext): requests and tokens travel in \
                 clear; development only"
            );
            None
        }
    };
    let auth = match &config.auth_file {
        Some(file) => {
            let auth = Auth::from_file(file.clone())?;
            tracing::info!(
                principals = auth.principals().all().len(),
                metrics_auth = config.metrics_auth,
                "authentication required"
            );
            if tls.is_none() {
                tracing::warn!(
                    "bearer tokens over plaintext: anyone on the network path can read them"
                );
            }
            auth
        }
        None => {
            tracing::warn!(
                "serving WITHOUT authentication: every client may read, write and profile"
            );
            Auth::open()
        }
    };
    Ok((tls, Arc::new(auth)))
}

/// How long in-flight requests may take to finish after the shutdown signal.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// How often shard states are polled for health and metrics.
const HEALTH_POLL: Duration = Duration::from_millis(200);

/// Serves until `shutdown` resolves, then shuts down gracefully (see the module comment).
pub async fn serve<B: Backend>(
    config: &Config,
    backend: Arc<B>,
    grpc: TcpListener,
    metrics_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (tls, auth) = security(config)?;
    let metrics = Arc::new(Metrics::new()?);
    let reloader = tokio::spawn(crate::security::reload::watch(
        tls.clone(),
        auth.clone(),
        (config.security_reload_poll_secs > 0)
            .then(|| Duration::from_secs(config.security_reload_poll_secs)),
    ));
    backend
        .register_metrics(metrics.registry())
        .map_err(MetricsError::from)?;
    let engine = Arc::new(Engine::new(backend.clone()));
    // One signal, two listeners and the open watches: the gRPC server and the metrics endpoint.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let service = Service::new(
        engine,
        config.limits.clone(),
        metrics.clone(),
        config.max_message_bytes,
        config.txn_timeout_ms,
    )
    .stopping_on(stop_rx.clone());
    let treestore = pb::server::tree_store_server::TreeStoreServer::new(service)
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);

    let (reporter, health_service) = tonic_health::server::health_reporter();
    health::set_all(&reporter, ServingStatus::NotServing).await;
    let stopping = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(health::watch(
        backend.clone(),
        reporter.clone(),
        metrics.clone(),
        stopping.clone(),
        HEALTH_POLL,
    ));

    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    {
        let stopping = stopping.clone();
        let reporter = reporter.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested: refusing new connections, draining requests");
            stopping.store(true, Ordering::Release);
            health::set_all(&reporter, ServingStatus::NotServing).await;
            let _ = stop_tx.send(true);
        });
    }
    let wait_stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let metrics_task = {
        let metrics = metrics.clone();
        let backend = backend.clone();
        let mut app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let m = metrics.clone();
                let b = backend.clone();
                async move {
                    // Gauges read on demand (RocksDB properties, inbox depths): cheap reads.
                    b.refresh_metrics();
                    m.render()
                }
            }),
        );
        if config.pprof {
            app = app
                .route(
                    "/debug/pprof/profile",
                    axum::routing::get(crate::pprof::profile),
                )
                .route("/debug/pprof/heap", axum::routing::get(crate::pprof::heap));
        }
        if auth.required() && config.metrics_auth {
            app = app.layer(axum::middleware::from_fn_with_state(
                auth.clone(),
                crate::security::ops::require_credentials,
            ));
        } else if auth.required() {
            tracing::warn!(
                metrics_listen = %config.metrics_listen,
                "the metrics port needs no credentials (metrics_auth = false): bind it to localhost"
            );
        }
        let stop = wait_stop(stop_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics_listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        })
    };

    tracing::info!(
        listen = %grpc.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        shards = backend.shard_count(),
        "serving treestore.v1.TreeStore"
    );
    // Bounds on what one client connection can hold (see README, "Overload"): its concurrent
    // requests, and its life once it stops answering PINGs (a dead or non-reading client,
    // whose responses would otherwise wait in memory for flow-control window forever).
    // Innermost: only authenticated requests are admitted and counted (see src/admission.rs).
    let connection_admission = ConnectionAdmissionLayer::new(
        config.max_queue_wait(),
        (config.max_send_backlog_bytes > 0).then_some(config.max_send_backlog_bytes),
        metrics.clone(),
    )
    .map_err(MetricsError::from)?;
    let router = tonic::transport::Server::builder()
        .max_concurrent_streams(config.http2_max_concurrent_streams)
        .http2_keepalive_interval(config.http2_keepalive_interval())
        .http2_keepalive_timeout(Some(Duration::from_secs(
            config.http2_keepalive_timeout_secs,
        )))
        // Streams a client resets before the server takes them up: hyper's default (20) is the
        // rapid-reset guard, but a client whose deadlines expire under overload resets that many
        // honestly, and the guard's GOAWAY then fails every request of the connection. Twice the
        // stream limit still bounds the abuse.
        .http2_max_pending_accept_reset_streams(Some(
            2 * config.http2_max_concurrent_streams as usize,
        ))
        .layer(ClientErrorsLayer::new(metrics.clone()))
        .layer(AuthLayer::new(auth.clone(), metrics.clone()))
        .layer(connection_admission)
        .add_service(treestore)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha);
    let stop = wait_stop(stop_rx.clone());
    let serving: std::pin::Pin<
        Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>,
    > = match &tls {
        Some(tls) => {
            Box::pin(router.serve_with_incoming_shutdown(tls_incoming(grpc, tls.clone()), stop))
        }
        None => {
            // TCP_NODELAY on every connection (the TLS acceptor sets it too).
            let incoming = TcpListenerStream::new(grpc).map(|conn| {
                if let Ok(c) = &conn {
                    nodelay(c);
                }
                conn
            });
            Box::pin(router.serve_with_incoming_shutdown(incoming, stop))
        }
    };
    // In-flight requests get DRAIN_GRACE after the signal; connections a client keeps open
    // longer (idle HTTP/2 connections that ignore GOAWAY) are then closed.
    let grace = async {
        wait_stop(stop_rx).await;
        tokio::time::sleep(DRAIN_GRACE).await;
    };
    let served = tokio::select! {
        r = serving => r,
        _ = grace => {
            tracing::warn!(grace = ?DRAIN_GRACE, "connections still open after the grace period; closing them");
            Ok(())
        }
    };
    stopping.store(true, Ordering::Release);
    tracing::info!("gRPC server stopped; stopping the shards (checkpoint)");
    let stopped = tokio::task::spawn_blocking(move || backend.shutdown()).await?;
    watcher.abort();
    reloader.abort();
    metrics_task.abort();
    served?;
    stopped.map_err(ServerError::Shutdown)?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
