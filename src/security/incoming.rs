//! The gRPC listener's connections: plain TCP, or TLS. TLS handshakes run concurrently, one task
//! each with a time limit, so a client that connects and stalls holds up no one else; only
//! completed handshakes reach the server. Each TLS connection carries `PeerIdentity` (the client
//! certificate's names, read once per connection), which tonic puts in every request's
//! extensions for the auth layer.

use super::tls::{cert_names, ReloadableTls};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::transport::server::Connected;

/// Longest a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const ACCEPTED_QUEUE: usize = 128;

/// Who is at the other end of a TLS connection.
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity {
    pub remote: Option<SocketAddr>,
    /// Names of the verified client certificate (empty without one).
    pub cert_names: Arc<Vec<String>>,
}

/// A server-side TLS connection.
pub struct TlsConn {
    stream: TlsStream<TcpStream>,
    identity: PeerIdentity,
}

impl Connected for TlsConn {
    type ConnectInfo = PeerIdentity;
    fn connect_info(&self) -> PeerIdentity {
        self.identity.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Sets TCP_NODELAY: without it a response written in two segments waits for the client's
/// delayed ACK (about 40 ms).
pub fn nodelay(c: &TcpStream) {
    if let Err(e) = c.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
}

/// The stream of handshaken TLS connections of `listener`; the accept task ends with it.
pub struct TlsIncoming {
    rx: ReceiverStream<io::Result<TlsConn>>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsIncoming {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl Stream for TlsIncoming {
    type Item = io::Result<TlsConn>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

pub fn tls_incoming(listener: TcpListener, tls: Arc<ReloadableTls>) -> TlsIncoming {
    let (tx, rx) = tokio::sync::mpsc::channel(ACCEPTED_QUEUE);
    let accept_task = tokio::spawn(async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            nodelay(&tcp);
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
            let conn_tx = tx.clone();
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            // Scanners, plaintext clients, wrong CAs: not the server's problem.
                            tracing::debug!(%remote, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            return;
                        }
                    };
                let names = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|leaf| cert_names(leaf.as_ref()))
                    .unwrap_or_default();
                let identity = PeerIdentity {
                    remote: Some(remote),
                    cert_names: Arc::new(names),
                };
                let _ = conn_tx.send(Ok(TlsConn { stream, identity })).await;
            });
            if tx.is_closed() {
                return;
            }
        }
    });
    TlsIncoming {
        rx: ReceiverStream::new(rx),
        accept_task,
    }
}
