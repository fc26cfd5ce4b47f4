//! Server configuration: defaults, overridden by a TOML file (`--config`), overridden by
//! TREESTORE_* environment variables, overridden by command-line flags.

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Whether shards run on io_uring (`--io-uring`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IoUring {
    /// io_uring where the host allows it, else plain threads (one warning at start).
    #[default]
    Auto,
    /// io_uring, or refuse to start.
    On,
    /// Plain threads (epoll), never io_uring.
    Off,
}

impl From<IoUring> for shards::runtime::IoUringMode {
    fn from(m: IoUring) -> Self {
        match m {
            IoUring::Auto => shards::runtime::IoUringMode::Auto,
            IoUring::On => shards::runtime::IoUringMode::On,
            IoUring::Off => shards::runtime::IoUringMode::Off,
        }
    }
}

/// `treestore serve` options. Every flag also reads a TREESTORE_* variable; unset ones fall
/// back to the config file, then to the defaults shown.
#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// TOML config file (keys as in `Config`, e.g. `listen = "0.0.0.0:50051"`, `[limits]`).
    #[arg(long, env = "TREESTORE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve gRPC over TLS with this certificate chain (PEM); needs --tls-key. Reloaded on
    /// SIGHUP and when the file changes. Without TLS the server starts only with
    /// --insecure-plaintext.
    #[arg(long, env = "TREESTORE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "TREESTORE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: every client must present a certificate signed by this CA (PEM); its
    /// subject CN or a DNS/URI SAN names its principal (`cert_names` in --auth-file).
    #[arg(long, env = "TREESTORE_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve gRPC without TLS (development and benchmarks only; a warning is logged).
    #[arg(long, env = "TREESTORE_INSECURE_PLAINTEXT", num_args = 0..=1, default_missing_value = "true")]
    pub insecure_plaintext: Option<bool>,
    /// Principals, their scopes, token hashes, certificate names and limits (TOML; see
    /// README, "Security"). Reloaded on SIGHUP and when the file changes.
    #[arg(long, env = "TREESTORE_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// Serve TLS without authentication: every caller may do everything (implied by
    /// --insecure-plaintext when no --auth-file is given).
    #[arg(long, env = "TREESTORE_NO_AUTH", num_args = 0..=1, default_missing_value = "true")]
    pub no_auth: Option<bool>,
    /// With --auth-file: the metrics port needs a bearer token too (/metrics any principal,
    /// /debug/pprof admin). `false` leaves it open: then bind it to localhost [default: true].
    #[arg(long, env = "TREESTORE_METRICS_AUTH")]
    pub metrics_auth: Option<bool>,
    /// Seconds between checks of the TLS and auth files for changes; 0: reload on SIGHUP only
    /// [default: 10].
    #[arg(long, env = "TREESTORE_SECURITY_RELOAD_POLL_SECS")]
    pub security_reload_poll_secs: Option<u64>,
    /// gRPC listen address [default: 0.0.0.0:50051].
    #[arg(long, env = "TREESTORE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Prometheus /metrics listen address [default: 0.0.0.0:9090].
    #[arg(long, env = "TREESTORE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve CPU profiles on the metrics port (/debug/pprof/profile?seconds=N) [default: true].
    #[arg(long, env = "TREESTORE_PPROF")]
    pub pprof: Option<bool>,
    /// Data directory (RocksDB, WAL, manifest) [default: ./data].
    #[arg(long, env = "TREESTORE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Shard count of a NEW data directory [default: number of cores]; an existing data
    /// directory keeps its count.
    #[arg(long, env = "TREESTORE_SHARDS")]
    pub shards: Option<usize>,
    /// Executor threads [default: min(cores, shards)].
    #[arg(long, env = "TREESTORE_EXECUTORS")]
    pub executors: Option<usize>,
    /// Do not pin executor threads to cores.
    #[arg(long, env = "TREESTORE_NO_PIN_CORES", num_args = 0..=1, default_missing_value = "true")]
    pub no_pin_cores: Option<bool>,
    /// Run shards on io_uring (glommio): `auto` uses it where the host allows it (container
    /// seccomp profiles often deny it) and otherwise runs them on plain threads, `on` refuses to
    /// start without it, `off` never uses it [default: auto].
    #[arg(long, env = "TREESTORE_IO_URING", value_enum)]
    pub io_uring: Option<IoUring>,
    /// Threads of the router (the tokio runtime serving gRPC and metrics) [default: number of
    /// cores; 1 runs it on a single dedicated thread].
    #[arg(long, env = "TREESTORE_ROUTER_THREADS")]
    pub router_threads: Option<usize>,
    /// Bounded inbox per shard; a full inbox answers RESOURCE_EXHAUSTED [default: 1024].
    #[arg(long, env = "TREESTORE_INBOX_CAPACITY")]
    pub inbox_capacity: Option<usize>,
    /// Longest a request may be expected to queue on a shard, ms; one that would wait longer
    /// (by the shard's queue and its time per request) is refused at once with
    /// RESOURCE_EXHAUSTED, and one still queued after it is dropped unserved. The same bound
    /// holds for the responses not yet sent ahead of a request on its connection. A client
    /// deadline (grpc-timeout) that ends sooner bounds it instead (DEADLINE_EXCEEDED). 0: no
    /// server bound [default: 5000].
    #[arg(long, env = "TREESTORE_MAX_QUEUE_WAIT_MS")]
    pub max_queue_wait_ms: Option<u64>,
    /// Most bytes of responses the server holds for all clients together before they take
    /// them; past it, new requests are refused with RESOURCE_EXHAUSTED until clients read.
    /// 0: no bound [default: 536870912 (512 MiB)].
    #[arg(long, env = "TREESTORE_MAX_SEND_BACKLOG_BYTES")]
    pub max_send_backlog_bytes: Option<u64>,
    /// Most concurrent HTTP/2 streams (requests) per client connection [default: 256].
    #[arg(long, env = "TREESTORE_HTTP2_MAX_CONCURRENT_STREAMS")]
    pub http2_max_concurrent_streams: Option<u32>,
    /// Seconds between HTTP/2 PINGs to each client connection; a connection that does not
    /// answer one within --http2-keepalive-timeout-secs (a dead or non-reading client) is
    /// closed, freeing its responses. 0: no PINGs [default: 20].
    #[arg(long, env = "TREESTORE_HTTP2_KEEPALIVE_INTERVAL_SECS")]
    pub http2_keepalive_interval_secs: Option<u64>,
    /// Seconds a client has to answer a keepalive PING [default: 20].
    #[arg(long, env = "TREESTORE_HTTP2_KEEPALIVE_TIMEOUT_SECS")]
    pub http2_keepalive_timeout_secs: Option<u64>,
    /// WAL segment size in bytes [default: 100000000].
    #[arg(long, env = "TREESTORE_WAL_SEGMENT_SIZE")]
    pub wal_segment_size: Option<u64>,
    /// WAL segments always kept after a checkpoint [default: 3].
    #[arg(long, env = "TREESTORE_WAL_KEEP_SEGMENTS")]
    pub wal_keep_segments: Option<usize>,
    /// Seconds between checkpoints of a shard [default: 60].
    #[arg(long, env = "TREESTORE_CHECKPOINT_INTERVAL_SECS")]
    pub checkpoint_interval_secs: Option<u64>,
    /// Checkpoint a shard when its WAL exceeds this many bytes [default: 268435456].
    #[arg(long, env = "TREESTORE_CHECKPOINT_WAL_BYTES")]
    pub checkpoint_wal_bytes: Option<u64>,
    /// RocksDB block cache in bytes [default: 268435456].
    #[arg(long, env = "TREESTORE_CACHE_BYTES")]
    pub cache_bytes: Option<usize>,
    /// Decoded document trees kept in memory for reads, bytes over all shards; 0 turns the
    /// cache off [default: 1073741824].
    #[arg(long, env = "TREESTORE_TREE_CACHE_BYTES")]
    pub tree_cache_bytes: Option<usize>,
    /// Truncate a corrupt WAL at the damage instead of refusing to start.
    #[arg(long, env = "TREESTORE_TRUNCATE_ON_CORRUPTION", num_args = 0..=1, default_missing_value = "true")]
    pub truncate_on_corruption: Option<bool>,
    /// Refuse writes (RESOURCE_EXHAUSTED) and postpone checkpoints while fewer bytes than this
    /// are free on the file system of a shard's log or of RocksDB; 0 turns the check off
    /// [default: 268435456].
    #[arg(long, env = "TREESTORE_DISK_RESERVE_BYTES")]
    pub disk_reserve_bytes: Option<u64>,
    /// Each shard's change feed (Watch) keeps the events of this many most recent log records;
    /// older ones are removed at checkpoints [default: 1000000].
    #[arg(long, env = "TREESTORE_WATCH_RETENTION_RECORDS")]
    pub watch_retention_records: Option<u64>,
    /// Each shard keeps this many of its newest change-feed events in memory (and at most
    /// 4 MiB) for watches close to live; a watch further behind reads them from disk
    /// [default: 4096].
    #[arg(long, env = "TREESTORE_WATCH_MEMORY_EVENTS")]
    pub watch_memory_events: Option<usize>,
    /// Largest gRPC message received or sent, bytes [default: 67108864].
    #[arg(long, env = "TREESTORE_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Deepest document tree (a top-level node has depth 1) [default: 64; at most 99, the
    /// protobuf nesting limit].
    #[arg(long, env = "TREESTORE_MAX_TREE_DEPTH")]
    pub max_tree_depth: Option<usize>,
    /// Largest page of ListDocuments / ListVersions [default: 1000].
    #[arg(long, env = "TREESTORE_MAX_PAGE_SIZE")]
    pub max_page_size: Option<usize>,
    /// Longest node text in bytes [default: 16777216].
    #[arg(long, env = "TREESTORE_MAX_TEXT_BYTES")]
    pub max_text_bytes: Option<usize>,
    /// Most nodes per document [default: 1000000].
    #[arg(long, env = "TREESTORE_MAX_NODES_PER_DOCUMENT")]
    pub max_nodes_per_document: Option<usize>,
    /// Default idle timeout of a transaction, ms [default: 30000].
    #[arg(long, env = "TREESTORE_TXN_TIMEOUT_MS")]
    pub txn_timeout_ms: Option<u64>,
    /// Log format [default: text].
    #[arg(long, env = "TREESTORE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, tracing-subscriber EnvFilter syntax [default: info].
    #[arg(long, env = "TREESTORE_LOG")]
    pub log: Option<String>,
}

/// The effective configuration (also the TOML file's schema; every key optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    /// /debug/pprof/ on the metrics port.
    pub pprof: bool,
    pub data_dir: PathBuf,
    pub shards: Option<usize>,
    pub executors: Option<usize>,
    pub pin_cores: bool,
    pub io_uring: IoUring,
    /// None: one per core.
    pub router_threads: Option<usize>,
    pub inbox_capacity: usize,
    /// 0: no server bound on queueing.
    pub max_queue_wait_ms: u64,
    /// 0: no bound on the responses held for clients.
    pub max_send_backlog_bytes: u64,
    pub http2_max_concurrent_streams: u32,
    /// 0: no keepalive PINGs.
    pub http2_keepalive_interval_secs: u64,
    pub http2_keepalive_timeout_secs: u64,
    pub wal_segment_size: u64,
    pub wal_keep_segments: usize,
    pub checkpoint_interval_secs: u64,
    pub checkpoint_wal_bytes: u64,
    pub cache_bytes: usize,
    pub tree_cache_bytes: usize,
    pub truncate_on_corruption: bool,
    pub disk_reserve_bytes: u64,
    pub watch_retention_records: u64,
    pub watch_memory_events: usize,
    pub max_message_bytes: usize,
    pub txn_timeout_ms: u64,
    /// Longest transaction timeout a client may ask for, ms.
    pub max_txn_timeout_ms: u64,
    pub log_format: LogFormat,
    pub log: String,
    pub limits: shards::Limits,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    /// No TLS: must be said explicitly (`validate`).
    pub insecure_plaintext: bool,
    pub auth_file: Option<PathBuf>,
    /// No authentication with TLS: must be said explicitly (`validate`).
    pub no_auth: bool,
    /// With an auth file, the metrics port needs credentials.
    pub metrics_auth: bool,
    /// 0: reload on SIGHUP only.
    pub security_reload_poll_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        let wal = treestore_wal::WalOptions::default();
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            metrics_listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            pprof: true,
            data_dir: PathBuf::from("./data"),
            shards: None,
            executors: None,
            pin_cores: true,
            io_uring: IoUring::Auto,
            router_threads: None,
            inbox_capacity: 1024,
            max_queue_wait_ms: 5000,
            max_send_backlog_bytes: 512 << 20,
            http2_max_concurrent_streams: 256,
            http2_keepalive_interval_secs: 20,
            http2_keepalive_timeout_secs: 20,
            wal_segment_size: wal.segment_size,
            wal_keep_segments: wal.keep_segments,
            checkpoint_interval_secs: 60,
            checkpoint_wal_bytes: 256 << 20,
            cache_bytes: 256 << 20,
            tree_cache_bytes: 1 << 30,
            truncate_on_corruption: false,
            disk_reserve_bytes: 256 << 20,
            watch_retention_records: 1_000_000,
            watch_memory_events: 4096,
            max_message_bytes: 64 << 20,
            txn_timeout_ms: 30_000,
            max_txn_timeout_ms: 300_000,
            log_format: LogFormat::Text,
            log: "info".into(),
            limits: shards::Limits::default(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            insecure_plaintext: false,
            auth_file: None,
            no_auth: false,
            metrics_auth: true,
            security_reload_poll_secs: 10,
        }
    }
}

/// Deepest tree a request can carry: prost refuses messages nested more than 100 levels, and
/// a PutDocumentRequest is one level above its top-level nodes.
pub const MAX_DECODABLE_DEPTH: usize = 99;

impl Config {
    /// File (if any), then the flags and environment in `args`, over the defaults.
    pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
        let mut c = match &args.config {
            Some(p) => Self::from_file(p)?,
            None => Config::default(),
        };
        c.apply(args);
        c.validate()?;
        Ok(c)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })
    }

    fn apply(&mut self, a: &ServeArgs) {
        fn set<T: Clone>(dst: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *dst = v.clone();
            }
        }
        set(&mut self.listen, &a.listen);
        set(&mut self.metrics_listen, &a.metrics_listen);
        set(&mut self.pprof, &a.pprof);
        set(&mut self.data_dir, &a.data_dir);
        if a.shards.is_some() {
            self.shards = a.shards;
        }
        if a.executors.is_some() {
            self.executors = a.executors;
        }
        if let Some(no) = a.no_pin_cores {
            self.pin_cores = !no;
        }
        set(&mut self.io_uring, &a.io_uring);
        if a.router_threads.is_some() {
            self.router_threads = a.router_threads;
        }
        set(&mut self.inbox_capacity, &a.inbox_capacity);
        set(&mut self.max_queue_wait_ms, &a.max_queue_wait_ms);
        set(&mut self.max_send_backlog_bytes, &a.max_send_backlog_bytes);
        set(
            &mut self.http2_max_concurrent_streams,
            &a.http2_max_concurrent_streams,
        );
        set(
            &mut self.http2_keepalive_interval_secs,
            &a.http2_keepalive_interval_secs,
        );
        set(
            &mut self.http2_keepalive_timeout_secs,
            &a.http2_keepalive_timeout_secs,
        );
        set(&mut self.wal_segment_size, &a.wal_segment_size);
        set(&mut self.wal_keep_segments, &a.wal_keep_segments);
        set(
            &mut self.checkpoint_interval_secs,
            &a.checkpoint_interval_secs,
        );
        set(&mut self.checkpoint_wal_bytes, &a.checkpoint_wal_bytes);
        set(&mut self.cache_bytes, &a.cache_bytes);
        set(&mut self.tree_cache_bytes, &a.tree_cache_bytes);
        set(&mut self.truncate_on_corruption, &a.truncate_on_corruption);
        set(&mut self.disk_reserve_bytes, &a.disk_reserve_bytes);
        set(
            &mut self.watch_retention_records,
            &a.watch_retention_records,
        );
        set(&mut self.watch_memory_events, &a.watch_memory_events);
        set(&mut self.max_message_bytes, &a.max_message_bytes);
        set(&mut self.limits.max_depth, &a.max_tree_depth);
        set(&mut self.limits.max_page_size, &a.max_page_size);
        set(&mut self.limits.max_text_bytes, &a.max_text_bytes);
        set(
            &mut self.limits.max_nodes_per_document,
            &a.max_nodes_per_document,
        );
        set(&mut self.txn_timeout_ms, &a.txn_timeout_ms);
        set(&mut self.log_format, &a.log_format);
        set(&mut self.log, &a.log);
        if a.tls_cert.is_some() {
            self.tls_cert.clone_from(&a.tls_cert);
        }
        if a.tls_key.is_some() {
            self.tls_key.clone_from(&a.tls_key);
        }
        if a.tls_client_ca.is_some() {
            self.tls_client_ca.clone_from(&a.tls_client_ca);
        }
        set(&mut self.insecure_plaintext, &a.insecure_plaintext);
        if a.auth_file.is_some() {
            self.auth_file.clone_from(&a.auth_file);
        }
        set(&mut self.no_auth, &a.no_auth);
        set(&mut self.metrics_auth, &a.metrics_auth);
        set(
            &mut self.security_reload_poll_secs,
            &a.security_reload_poll_secs,
        );
    }

    /// The TLS files, if TLS is configured.
    pub fn tls_files(&self) -> Option<crate::security::tls::TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::security::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            }),
            _ => None,
        }
    }

    /// Security settings that contradict each other, or leave the server open without saying
    /// so: plaintext needs --insecure-plaintext, no authentication needs --no-auth (or
    /// --insecure-plaintext).
    fn validate_security(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_cert and tls_key go together");
        }
        let tls = self.tls_cert.is_some();
        if self.tls_client_ca.is_some() && !tls {
            return bad("tls_client_ca needs tls_cert and tls_key");
        }
        if tls && self.insecure_plaintext {
            return bad("tls_cert and insecure_plaintext contradict each other");
        }
        if !tls && !self.insecure_plaintext {
            return bad(
                "no TLS configured: give --tls-cert and --tls-key (see README, \"Security\"), \
                 or --insecure-plaintext to serve without TLS (development only)",
            );
        }
        if self.auth_file.is_some() && self.no_auth {
            return bad("auth_file and no_auth contradict each other");
        }
        if self.auth_file.is_none() && !self.no_auth && !self.insecure_plaintext {
            return bad(
                "no authentication configured: give --auth-file (see README, \"Security\"), \
                 or --no-auth to let every client do everything",
            );
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.shards == Some(0) {
            return bad("shards must be at least 1");
        }
        if self.executors == Some(0) {
            return bad("executors must be at least 1");
        }
        if self.router_threads == Some(0) {
            return bad("router_threads must be at least 1");
        }
        if self.inbox_capacity == 0 {
            return bad("inbox_capacity must be at least 1");
        }
        if self.http2_max_concurrent_streams == 0 {
            return bad("http2_max_concurrent_streams must be at least 1");
        }
        if self.http2_keepalive_timeout_secs == 0 {
            return bad("http2_keepalive_timeout_secs must be at least 1");
        }
        if self.wal_keep_segments == 0 {
            return bad("wal_keep_segments must be at least 1");
        }
        if self.max_message_bytes < 1024 {
            return bad("max_message_bytes must be at least 1024");
        }
        if self.limits.max_depth == 0 || self.limits.max_depth > MAX_DECODABLE_DEPTH {
            return bad("max_tree_depth must be in 1..=99 (protobuf nesting limit)");
        }
        if self.limits.max_page_size == 0 {
            return bad("max_page_size must be at least 1");
        }
        if self.txn_timeout_ms == 0 || self.txn_timeout_ms > self.max_txn_timeout_ms {
            return bad("txn_timeout_ms must be in 1..=max_txn_timeout_ms");
        }
        self.validate_security()
    }

    /// The server's bound on a request's expected queue wait (None: unbounded).
    pub fn max_queue_wait(&self) -> Option<Duration> {
        (self.max_queue_wait_ms > 0).then(|| Duration::from_millis(self.max_queue_wait_ms))
    }

    /// The interval of keepalive PINGs (None: off).
    pub fn http2_keepalive_interval(&self) -> Option<Duration> {
        (self.http2_keepalive_interval_secs > 0)
            .then(|| Duration::from_secs(self.http2_keepalive_interval_secs))
    }

    pub fn checkpoint_interval(&self) -> Duration {
        Duration::from_secs(self.checkpoint_interval_secs)
    }

    /// The shard engine's configuration.
    pub fn shard_config(&self) -> shards::shard::ShardConfig {
        shards::shard::ShardConfig {
            limits: self.limits.clone(),
            txn_timeout_ms: self.txn_timeout_ms,
            max_txn_timeout_ms: self.max_txn_timeout_ms,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn flag_over_file_over_default() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "listen = \"127.0.0.1:1\"\nshards = 3\nrouter_threads = 4\nlog_format = \"json\"\n\
             io_uring = \"off\"\ninsecure_plaintext = true\n[limits]\nmax_depth = 10"
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(f.path().into()),
            listen: Some("127.0.0.1:2".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.listen, "127.0.0.1:2".parse().unwrap());
        assert_eq!(c.shards, Some(3));
        assert_eq!(c.router_threads, Some(4));
        assert_eq!(Config::default().router_threads, None);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.io_uring, IoUring::Off);
        assert_eq!(Config::default().io_uring, IoUring::Auto);
        assert_eq!(c.limits.max_depth, 10);
        assert_eq!(c.limits.max_page_size, 1000);
        assert_eq!(c.metrics_listen.port(), 9090);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "lisen = \"127.0.0.1:1\"").unwrap();
        assert!(matches!(
            Config::from_file(f.path()),
            Err(ConfigError::Parse { .. })
        ));
        let args = ServeArgs {
            max_tree_depth: Some(500),
            insecure_plaintext: Some(true),
            ..Default::default()
        };
        assert!(matches!(Config::load(&args), Err(ConfigError::Invalid(_))));
        let args = ServeArgs {
            router_threads: Some(0),
            insecure_plaintext: Some(true),
            ..Default::default()
        };
        assert!(matches!(Config::load(&args), Err(ConfigError::Invalid(_))));
    }

    /// Plaintext and an open server only when said; contradictions refused.
    #[test]
    fn security_must_be_explicit() {
        let load = |a: ServeArgs| Config::load(&a);
        let invalid = |a: ServeArgs| matches!(load(a), Err(ConfigError::Invalid(_)));
        let p = |s: &str| Some(PathBuf::from(s));
        assert!(invalid(ServeArgs::default()));
        assert!(load(ServeArgs {
            insecure_plaintext: Some(true),
            ..Default::default()
        })
        .is_ok());
        let tls = || ServeArgs {
            tls_cert: p("c.pem"),
            tls_key: p("k.pem"),
            ..Default::default()
        };
        assert!(invalid(tls()), "TLS without auth and without --no-auth");
        assert!(load(ServeArgs {
            no_auth: Some(true),
            ..tls()
        })
        .is_ok());
        assert!(load(ServeArgs {
            auth_file: p("a.toml"),
            ..tls()
        })
        .is_ok());
        assert!(invalid(ServeArgs {
            tls_key: None,
            no_auth: Some(true),
            ..tls()
        }));
        assert!(invalid(ServeArgs {
            insecure_plaintext: Some(true),
            no_auth: Some(true),
            ..tls()
        }));
        assert!(invalid(ServeArgs {
            tls_client_ca: p("ca.pem"),
            insecure_plaintext: Some(true),
            ..Default::default()
        }));
        assert!(invalid(ServeArgs {
            auth_file: p("a.toml"),
            no_auth: Some(true),
            ..tls()
        }));
    }
}
