//! `treestore`: `serve` runs the gRPC server; `health` asks a running server whether it serves
//! (the container image's health check); `wal dump DIR` and `wal verify DIR` inspect a shard's
//! write-ahead log; `token` makes a bearer token and its auth-file entry.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use treestore::config::{Config, ServeArgs};
use treestore::{backend, health_check, logging, server};

#[derive(Parser, Debug)]
#[command(
    name = "treestore",
    version,
    about = "TreeStore: a sharded database for PageIndex-style document trees"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gRPC server (options: flag > TREESTORE_* environment > --config file > default).
    Serve(Box<ServeArgs>),
    /// Ask a running server whether it serves (grpc.health.v1 Check of service ""). Exit
    /// status: 0 SERVING; 1 otherwise (not serving, cannot connect, timeout), with the reason
    /// on stderr.
    Health {
        /// The server's gRPC address, host:port.
        #[arg(long, env = "TREESTORE_HEALTH_ADDR", default_value = "127.0.0.1:50051")]
        addr: String,
        /// Give up after this many milliseconds (connecting and the call together).
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
        /// Connect with TLS, trusting this CA (PEM) (for a server with --tls-cert).
        #[arg(long, env = "TREESTORE_HEALTH_TLS_CA")]
        tls_ca: Option<PathBuf>,
        /// The name to verify the server's certificate against [default: the address's host].
        #[arg(long, env = "TREESTORE_HEALTH_TLS_SERVER_NAME", requires = "tls_ca")]
        tls_server_name: Option<String>,
        /// A client certificate (PEM), for a server with --tls-client-ca.
        #[arg(long, env = "TREESTORE_HEALTH_TLS_CLIENT_CERT", requires_all = ["tls_ca", "tls_client_key"])]
        tls_client_cert: Option<PathBuf>,
        /// The key of --tls-client-cert.
        #[arg(
            long,
            env = "TREESTORE_HEALTH_TLS_CLIENT_KEY",
            requires = "tls_client_cert"
        )]
        tls_client_key: Option<PathBuf>,
    },
    /// Make a bearer token: prints the token (once: the server keeps only its SHA-256) and the
    /// auth-file entry that grants it.
    Token {
        /// The principal the token belongs to.
        #[arg(long, default_value = "client")]
        name: String,
        /// Its scopes, comma-separated: read, write, admin (none: `--scopes` alone).
        #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "read")]
        scopes: Vec<treestore::security::scope::Scope>,
    },
    /// Inspect a shard's write-ahead log directory (DATA_DIR/wal/shard-N).
    Wal {
        #[command(subcommand)]
        command: WalCommand,
    },
}

#[derive(Subcommand, Debug)]
enum WalCommand {
    /// Print every record of every segment.
    Dump { dir: PathBuf },
    /// Check the log without changing it. Exit status: 0 clean, 1 torn tail only
    /// (recoverable), 2 corrupt, 3 could not read.
    Verify { dir: PathBuf },
}

/// mimalloc instead of glibc malloc: requests allocate and free many small buffers, often on
/// different threads (a router thread frees what an executor allocated).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Health {
            addr,
            timeout_ms,
            tls_ca,
            tls_server_name,
            tls_client_cert,
            tls_client_key,
        } => {
            let tls = tls_ca.map(|ca| health_check::HealthTls {
                ca,
                server_name: tls_server_name,
                client_cert: tls_client_cert,
                client_key: tls_client_key,
            });
            health(&addr, Duration::from_millis(timeout_ms), tls.as_ref())
        }
        Command::Wal { command } => wal(command),
        Command::Token { name, scopes } => token(&name, &scopes),
    }
}

fn token(name: &str, scopes: &[treestore::security::scope::Scope]) -> ExitCode {
    use treestore::security::token::{generate, TokenHash};
    let token = match generate() {
        Ok(t) => t,
        Err(_) => {
            fail("token: the system's random source failed");
            return ExitCode::FAILURE;
        }
    };
    let scopes: Vec<String> = scopes.iter().map(|s| format!("{:?}", s.name())).collect();
    out(&format!(
        "{token}\n\n# The line above is the token: give it to the client (Authorization: Bearer \
         <token>) and keep it secret; it is not stored anywhere.\n\
         # Add this to the auth file (--auth-file), then reload (SIGHUP):\n\
         [[principal]]\nname = {name:?}\nscopes = [{}]\ntoken_sha256 = [\"{}\"]\n",
        scopes.join(", "),
        TokenHash::of(&token).to_hex()
    ));
    ExitCode::SUCCESS
}

fn health(addr: &str, timeout: Duration, tls: Option<&health_check::HealthTls>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            fail(&format!("health: cannot start the tokio runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let outcome = rt.block_on(health_check::check(addr, timeout, tls));
    if outcome.is_serving() {
        ExitCode::SUCCESS
    } else {
        fail(&format!("health {addr}: {outcome}"));
        ExitCode::FAILURE
    }
}

fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn fail(msg: &str) {
    let _ = writeln!(std::io::stderr(), "treestore: {msg}");
}

fn wal(cmd: WalCommand) -> ExitCode {
    match cmd {
        WalCommand::Dump { dir } => match treestore_wal::ctl::dump(&dir) {
            Ok(text) => {
                out(&text);
                ExitCode::SUCCESS
            }
            Err(e) => {
                fail(&format!("{}: {e}", dir.display()));
                ExitCode::from(3)
            }
        },
        WalCommand::Verify { dir } => match treestore_wal::ctl::verify(&dir) {
            Ok(report) => {
                out(&report.render());
                ExitCode::from(report.exit_code().clamp(0, 255) as u8)
            }
            Err(e) => {
                fail(&format!("{}: {e}", dir.display()));
                ExitCode::from(3)
            }
        },
    }
}

fn serve(args: &ServeArgs) -> ExitCode {
    let config = match Config::load(args) {
        Ok(c) => c,
        Err(e) => {
            fail(&e.to_string());
            return ExitCode::from(2);
        }
    };
    if let Err(e) = logging::init(config.log_format, &config.log) {
        fail(&e.to_string());
        return ExitCode::from(2);
    }
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "treestore serve failed");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("cannot start the shards: {0}")]
    Start(shards::Error),
    #[error("cannot start the tokio runtime: {0}")]
    Tokio(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Server(#[from] server::ServerError),
}

fn run(config: Config) -> Result<(), RunError> {
    tracing::info!(data_dir = %config.data_dir.display(), "starting shards");
    let backend = backend::start(&config).map_err(RunError::Start)?;
    // The router: tokio's work-stealing runtime on `router_threads` threads (default: one per
    // core, which measured best here), or a current-thread runtime on one dedicated thread.
    let threads = config.router_threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let rt = builder
        .enable_all()
        .thread_name("treestore-router")
        .build()
        .map_err(RunError::Tokio)?;
    let result = rt.block_on(async {
        let listen = |addr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::Listen { addr, source })
        };
        let grpc = listen(config.listen).await?;
        let metrics = listen(config.metrics_listen).await?;
        server::serve(
            &config,
            backend.clone(),
            grpc,
            metrics,
            server::shutdown_signal(),
        )
        .await?;
        Ok(())
    });
    if matches!(result, Err(RunError::Listen { .. })) {
        // Listening failed before serve() ran (serve() stops the shards itself): stop them here.
        if let Err(e) = treestore::backend::Backend::shutdown(backend.as_ref()) {
            tracing::warn!(error = %e, "shard shutdown after a failed start");
        }
    }
    result
}
