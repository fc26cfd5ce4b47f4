//! A full disk, for real: the server runs in an unprivileged user and mount namespace
//! (`unshare -Urm`) on a 24 MiB tmpfs holding its data directory (optionally RocksDB's
//! directory on a tmpfs of its own); the test fills those file systems through
//! `/proc/PID/root` and frees them again.
//!
//! The reserve: while fewer bytes than `--disk-reserve-bytes` (4 MiB here) are free, writes get
//! RESOURCE_EXHAUSTED naming the full disk, before anything is logged, so no shard is poisoned;
//! reads go on; checkpoints (every second here) are postponed rather than flushing RocksDB into
//! ENOSPC. Once the filler is deleted, writes are taken again, every acknowledged write reads
//! back, and `treestore wal verify` finds every shard's log clean.
//!
//! Needs unprivileged user namespaces (or root) and `unshare` (util-linux): without them the
//! tests fail, saying so, rather than skipping.

mod common;

use common::{code, free_port, put_request, small_tree, Client, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use treestore::pb;

const RESERVE: u64 = 4 << 20;
const SHARDS: usize = 2;

fn namespaces_available() -> Result<(), String> {
    let out = Command::new("unshare")
        .args(["-Urm", "true"])
        .output()
        .map_err(|e| format!("cannot run unshare (util-linux): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "unshare -Urm failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A server in its own user and mount namespace, its data directory on a tmpfs there.
struct Jailed {
    server: Server,
    /// The data directory, as this process reaches it (through `/proc/PID/root`).
    data: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Starts the server (2 shards, a checkpoint every second, plaintext, `extra` flags) in a new
/// user and mount namespace, its data directory on a 24 MiB tmpfs; with `rocksdb_fs` (a tmpfs
/// size such as "8m"), RocksDB's directory is on a tmpfs of its own, so it can fill up while the
/// log's file system has room. Returns once every shard serves.
async fn start_jailed(rocksdb_fs: Option<&str>, extra: &[&str]) -> Jailed {
    if let Err(why) = namespaces_available() {
        panic!(
            "this test needs unprivileged user and mount namespaces (unshare -Urm) or root: {why}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let log = tmp.path().join("server.log");
    let (addr, metrics_addr) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let script = r#"mnt=$1; rocks=$2; shift 2
mount -t tmpfs -o size=24m tmpfs "$mnt" || exit 1
if [ -n "$rocks" ]; then
  mkdir -p "$mnt/data/rocksdb" && mount -t tmpfs -o "size=$rocks" tmpfs "$mnt/data/rocksdb" || exit 1
fi
exec "$@""#;
    let child = Command::new("unshare")
        .args(["-Urm", "--", "sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(rocksdb_fs.unwrap_or(""))
        .arg(env!("CARGO_BIN_EXE_treestore"))
        .args([
            "serve",
            "--listen",
            &addr,
            "--metrics-listen",
            &metrics_addr,
        ])
        .arg("--data-dir")
        .arg(mnt.join("data"))
        .args(["--shards", &SHARDS.to_string(), "--executors", "1"])
        .args(["--no-pin-cores", "--cache-bytes", "8388608"])
        .args(["--tree-cache-bytes", "0", "--checkpoint-interval-secs", "1"])
        .arg("--insecure-plaintext")
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start unshare");
    // unshare and sh exec: the server keeps this pid, and its mounts are under /proc/PID/root.
    let data = PathBuf::from(format!("/proc/{}/root", child.id()))
        .join(mnt.strip_prefix("/").unwrap())
        .join("data");
    let mut server = Server::adopt(child, addr, metrics_addr, mnt.join("data"), log);
    server.wait_until(common::serving).await;
    Jailed {
        server,
        data,
        _tmp: tmp,
    }
}

impl Jailed {
    /// `treestore wal verify` finds every shard's log clean (no torn or corrupt record).
    fn verify_logs(&self) {
        for shard in 0..SHARDS {
            let dir = self.data.join("wal").join(format!("shard-{shard}"));
            let out = Command::new(env!("CARGO_BIN_EXE_treestore"))
                .args(["wal", "verify"])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "wal verify {}: {}{}",
                dir.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The server's log, and the lines of RocksDB's own LOG about background errors and
    /// recovery (for failure messages).
    fn logs(&self) -> String {
        let rocks = std::fs::read_to_string(self.data.join("rocksdb").join("LOG"))
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                ["error", "no space", "resum", "recover"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "--- server log:\n{}\n--- RocksDB LOG (errors, recovery):\n{rocks}",
            self.server.log_text()
        )
    }
}

fn put(doc: &str) -> pb::PutDocumentRequest {
    let mut r = put_request(shards::model::DocumentInput {
        doc_id: doc.into(),
        name: doc.into(),
        ..Default::default()
    });
    r.roots = small_tree();
    r
}

fn get(doc: &str) -> pb::GetDocumentRequest {
    pb::GetDocumentRequest {
        doc_id: doc.into(),
        include_tree: true,
        ..Default::default()
    }
}

/// Fills the file system of `file` with `file` until ENOSPC.
fn fill(file: &Path) {
    let mut f = std::fs::File::create(file).expect("create the filler");
    let chunk = vec![0xa5u8; 256 << 10];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", file.display()),
        }
    }
    // Fill the last partial chunk too.
    let mut small = vec![0u8; 4096];
    while f.write_all(&small[..]).is_ok() {
        small.truncate(small.len().max(2) / 2);
    }
    let _ = f.sync_all();
}

/// Every shard serves (none is poisoned) and the process runs.
async fn assert_serving(j: &mut Jailed, c: &mut Client) {
    let health = c.health(pb::HealthRequest {}).await.unwrap().into_inner();
    assert_eq!(
        health.status,
        pb::HealthStatus::Serving as i32,
        "{health:?}\n{}",
        j.logs()
    );
    assert!(j.server.alive(), "{}", j.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_reads_and_resumes_once_freed() {
    let mut j = start_jailed(None, &["--disk-reserve-bytes", &RESERVE.to_string()]).await;
    let mut c = j.server.client().await;

    let docs: Vec<String> = (0..6).map(|i| format!("before-{i}")).collect();
    for d in &docs {
        c.put_document(put(d)).await.unwrap();
    }

    let filler = j.data.join("filler");
    fill(&filler);
    let free = shards::disk_space::available_bytes(&j.data).unwrap();
    assert!(free < RESERVE, "{free} bytes still free");
    // A shard trusts a reading that found enough space for TRUST_FOR (50 ms): wait that out
    // (four times over), so the next write reads the full disk.
    tokio::time::sleep(4 * shards::disk_space::TRUST_FOR).await;

    // Writes are refused, naming the full disk; no shard is poisoned.
    for d in ["during-0", "during-1", "during-2"] {
        let status = c.put_document(put(d)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("disk full"), "{status:?}");
    }
    // Reads go on.
    for d in &docs {
        c.get_document(get(d)).await.unwrap();
    }
    // Checkpoints come and are postponed; the shards still serve.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        j.server.log_text().contains("checkpoint postponed"),
        "{}",
        j.logs()
    );
    assert_serving(&mut j, &mut c).await;

    // Space back: writes resume.
    std::fs::remove_file(&filler).unwrap();
    let after: Vec<String> = (0..6).map(|i| format!("after-{i}")).collect();
    for d in &after {
        c.put_document(put(d)).await.unwrap();
    }
    for d in docs.iter().chain(&after) {
        c.get_document(get(d)).await.unwrap();
    }
    for d in ["during-0", "during-1", "during-2"] {
        assert_eq!(code(c.get_document(get(d)).await), tonic::Code::NotFound);
    }
    j.verify_logs();
    assert_eq!(j.server.stop(), 0, "{}", j.logs());
}
