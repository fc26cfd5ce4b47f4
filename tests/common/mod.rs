//! Starts the real `treestore` binary on ephemeral ports with a temporary data directory, and
//! converts between the engine's types and the proto ones for the tests.
#![allow(dead_code)]

use shards::model as m;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;

pub type Client = TreeStoreClient<Channel>;

/// Every shard serves.
pub fn serving(h: &pb::HealthResponse) -> bool {
    h.status == pb::HealthStatus::Serving as i32
}

/// No shard is recovering any more (each serves or is poisoned).
pub fn recovered(h: &pb::HealthResponse) -> bool {
    !h.shards.is_empty()
        && h.shards
            .iter()
            .all(|s| s.state != pb::ShardState::Recovering as i32)
}

/// How the tests' own clients reach a server: TLS (None: plaintext) and a bearer token.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    pub tls: Option<tonic::transport::ClientTlsConfig>,
    pub token: Option<String>,
}

pub struct Server {
    pub child: Option<Child>,
    pub security: ClientSecurity,
    pub addr: String,
    pub metrics_addr: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// A server on a new temporary data directory.
    pub async fn start(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let mut s = Server::start_on(&data, tmp.path(), extra).await;
        s._tmp = Some(tmp);
        s
    }

    /// A server on `data` (restarts reuse it); its log goes next to it.
    pub async fn start_on(data: &Path, log_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with(data, log_dir, extra, None).await
    }

    /// Like `start_on`, with `pre_exec` run in the child before exec (it must only make
    /// async-signal-safe calls, e.g. `deny_io_uring`).
    pub async fn start_with(
        data: &Path,
        log_dir: &Path,
        extra: &[&str],
        pre_exec: Option<fn() -> std::io::Result<()>>,
    ) -> Server {
        Server::start_until(data, log_dir, extra, pre_exec, serving).await
    }

    /// Like `start_with`, returning once the Health RPC answers what `ready` accepts.
    pub async fn start_until(
        data: &Path,
        log_dir: &Path,
        extra: &[&str],
        pre_exec: Option<fn() -> std::io::Result<()>>,
        ready: fn(&pb::HealthResponse) -> bool,
    ) -> Server {
        Server::start_secure(
            data,
            log_dir,
            extra,
            pre_exec,
            ready,
            ClientSecurity::default(),
        )
        .await
    }

    /// Like `start_until`, with the tests' clients using `security` (TLS, token).
    pub async fn start_secure(
        data: &Path,
        log_dir: &Path,
        extra: &[&str],
        pre_exec: Option<fn() -> std::io::Result<()>>,
        ready: fn(&pb::HealthResponse) -> bool,
        security: ClientSecurity,
    ) -> Server {
        use std::os::unix::process::CommandExt;
        let addr = format!("127.0.0.1:{}", free_port());
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let log = log_dir.join(format!("server-{}.log", free_port()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_treestore"));
        cmd.args([
            "serve",
            "--listen",
            &addr,
            "--metrics-listen",
            &metrics_addr,
        ])
        .arg("--data-dir")
        .arg(data)
        .args(["--shards", "2", "--executors", "1", "--no-pin-cores"])
        .args(["--cache-bytes", "8388608"])
        .args(extra)
        // Plaintext unless the test configures TLS (tests/security.rs).
        .args(
            (!extra.contains(&"--tls-cert"))
                .then_some("--insecure-plaintext")
                .as_slice(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
        if let Some(f) = pre_exec {
            // SAFETY: `f` makes only async-signal-safe calls (its contract above).
            unsafe {
                cmd.pre_exec(f);
            }
        }
        let child = cmd.spawn().expect("start treestore");
        let mut s = Server {
            child: Some(child),
            security,
            addr,
            metrics_addr,
            data_dir: data.into(),
            log,
            _tmp: None,
        };
        s.wait_until(ready).await;
        s
    }

    pub fn url(&self) -> String {
        let scheme = if self.security.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// A channel to the server with the tests' client security (TLS if configured).
    pub async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        let mut endpoint = tonic::transport::Endpoint::from_shared(self.url())?;
        if let Some(tls) = &self.security.tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        endpoint.connect().await
    }

    /// A request carrying the tests' token, if any.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        with_token(msg, self.security.token.as_deref())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A server started by the caller's own command (e.g. in a namespace).
    pub fn adopt(
        child: Child,
        addr: String,
        metrics_addr: String,
        data_dir: PathBuf,
        log: PathBuf,
    ) -> Server {
        Server {
            child: Some(child),
            security: ClientSecurity::default(),
            addr,
            metrics_addr,
            data_dir,
            log,
            _tmp: None,
        }
    }

    /// Waits (up to 60 s) until the Health RPC answers what `ready` accepts.
    pub async fn wait_until(&mut self, ready: fn(&pb::HealthResponse) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!(
                        "treestore exited during startup ({st}):\n{}",
                        self.log_text()
                    );
                }
            }
            if let Ok(ch) = self.channel().await {
                let mut c = TreeStoreClient::new(ch);
                if let Ok(h) = c.health(self.request(pb::HealthRequest {})).await {
                    if ready(h.get_ref()) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "server not ready within 60 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn client(&self) -> Client {
        TreeStoreClient::new(self.channel().await.expect("connect"))
            .max_decoding_message_size(256 << 20)
    }

    /// SIGKILL (a crash: nothing flushed, no shutdown), and reap the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child process.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the exit status (waits up to 60 s).
    pub fn stop(&mut self) -> i32 {
        let Some(mut child) = self.child.take() else {
            return -1;
        };
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return -2;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Still running (not crashed)?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Installs a seccomp filter in the calling process (and what it execs) that answers EPERM to
/// io_uring_setup, io_uring_enter and io_uring_register, as the default seccomp profiles of
/// Docker 25+ and containerd 2.x do. Async-signal-safe (no allocation): for `pre_exec`.
pub fn deny_io_uring() -> std::io::Result<()> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
                             // The same numbers on every architecture (425-427 in the unified syscall table).
    const IO_URING_SETUP: u32 = 425;
    const IO_URING_ENTER: u32 = 426;
    const IO_URING_REGISTER: u32 = 427;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        op(LD_W_ABS, 0, 0, 0), // the syscall number (seccomp_data.nr)
        op(JEQ_K, 3, 0, IO_URING_SETUP),
        op(JEQ_K, 2, 0, IO_URING_ENTER),
        op(JEQ_K, 1, 0, IO_URING_REGISTER),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with valid arguments; `prog` and `filter` outlive the call (the kernel
    // copies the program).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The PageIndex fixtures, kept in the repository (`fixtures/pageindex`, with their provenance).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/pageindex")
}

pub fn fixtures() -> Vec<(String, serde_json::Value)> {
    let mut paths: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let out: Vec<_> = paths
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let json = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (name, json)
        })
        .collect();
    assert!(out.len() >= 4, "expected the four PageIndex fixtures");
    out
}

pub fn to_pb_node(n: m::NodeInput) -> pb::NodeInput {
    pb::NodeInput {
        node_id: n.node_id,
        title: n.content.title,
        summary: n.content.summary.unwrap_or_default(),
        text: n.content.text.unwrap_or_default(),
        start_page: n.content.start_page,
        end_page: n.content.end_page,
        line_num: n.content.line_num,
        extra_json: n.content.extra_json,
        children: n.children.into_iter().map(to_pb_node).collect(),
    }
}

pub fn put_request(d: m::DocumentInput) -> pb::PutDocumentRequest {
    pb::PutDocumentRequest {
        doc_id: d.doc_id,
        name: d.name,
        description: d.description,
        metadata: d.metadata.into_iter().collect(),
        roots: d.roots.into_iter().map(to_pb_node).collect(),
        ..Default::default()
    }
}

fn opt(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

pub fn from_pb_node(n: pb::Node) -> m::NodeView {
    m::NodeView {
        node_id: n.node_id,
        parent_id: opt(n.parent_id),
        position: n.position,
        content: m::NodeContent {
            title: n.title,
            summary: opt(n.summary),
            text: opt(n.text),
            start_page: n.start_page,
            end_page: n.end_page,
            line_num: n.line_num,
            extra_json: n.extra_json,
        },
        has_children: n.has_children,
        children: n.children.into_iter().map(from_pb_node).collect(),
    }
}

pub fn from_pb_doc(d: pb::Document) -> m::Document {
    m::Document {
        doc_id: d.doc_id,
        name: d.name,
        description: d.description,
        metadata: d.metadata.into_iter().collect(),
        created_at: d.created_at,
        updated_at: d.updated_at,
        version: d.version,
        node_count: d.node_count,
    }
}

pub fn leaf(id: &str, title: &str) -> pb::NodeInput {
    pb::NodeInput {
        node_id: id.into(),
        title: title.into(),
        ..Default::default()
    }
}

/// a(a1, a2), b
pub fn small_tree() -> Vec<pb::NodeInput> {
    let mut a = leaf("a", "Alpha section");
    a.text = "alpha text".into();
    a.children = vec![leaf("a1", "Alpha one"), leaf("a2", "Alpha two")];
    vec![a, leaf("b", "Beta")]
}

pub async fn put_small(c: &mut Client, doc: &str) -> pb::PutDocumentResponse {
    c.put_document(pb::PutDocumentRequest {
        doc_id: doc.into(),
        name: "small".into(),
        roots: small_tree(),
        ..Default::default()
    })
    .await
    .expect("put small doc")
    .into_inner()
}

/// The status code of a failed call (panics on success).
pub fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> tonic::Code {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => s.code(),
    }
}

/// The body of an HTTP/1.1 GET (with its status line and headers) from the metrics listener.
pub async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// A request with `authorization: Bearer <token>` when a token is given.
pub fn with_token<T>(msg: T, token: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("an ASCII token"),
        );
    }
    req
}
