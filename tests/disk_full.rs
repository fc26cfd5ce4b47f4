//! A full disk, for real: the server runs in an unprivileged user and mount namespace
//! (`unshare -Urm`) on a 24 MiB tmpfs holding its data directory (and, for the flush test,
//! RocksDB's directory on a tmpfs of its own); the test fills those file systems through
//! `/proc/PID/root` and frees them again.
//!
//! The reserve: while fewer bytes than `--disk-reserve-bytes` (4 MiB here) are free, writes get
//! RESOURCE_EXHAUSTED naming the full disk, before anything is logged, so no shard is poisoned;
//! reads go on; checkpoints (every second here) are postponed rather than flushing RocksDB into
//! ENOSPC. Once the filler is deleted, writes are taken again, every acknowledged write reads
//! back, and `treestore wal verify` finds every shard's log clean.
//!
//! A flush into a full disk: with the reserve off, RocksDB's file system is filled while the
//! log's has room, so a checkpoint's flush fails with ENOSPC and RocksDB stops taking writes.
//! Writes are then refused with RESOURCE_EXHAUSTED before they are logged (not applied into the
//! stopped RocksDB, which would poison the shard), reads go on, and once space is freed RocksDB
//! recovers by itself (it checks every 5 s) and writes are taken again, without a restart.
//!
//! Needs unprivileged user namespaces (or root) and `unshare` (util-linux): without them the
//! tests fail, saying so, rather than skipping.

mod common;

use common::{code, free_port, put_request, small_tree, Client, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
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
/// size such as "80m"), RocksDB's directory is on a tmpfs of its own, so it can fill up while the
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
/// A write refused for the full disk: RESOURCE_EXHAUSTED saying so.
fn assert_disk_full(status: &tonic::Status, j: &Jailed) {
    assert_eq!(
        status.code(),
        tonic::Code::ResourceExhausted,
        "{status:?}\n{}",
        j.logs()
    );
    assert!(status.message().contains("disk full"), "{status:?}");
}

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

/// RocksDB's file system (80 MiB) fills up while the log's has room, and the reserve is off: as
/// if another process took the space between the reserve check and a checkpoint's flush. The
/// flush fails with ENOSPC, and RocksDB stops taking writes, of every shard (a hard background
/// error), until it recovers by itself: its SstFileManager retries the flush every 5 s once its
/// file system has room for a write buffer (64 MiB by default, hence 80 MiB here). Meanwhile
/// writes are refused with RESOURCE_EXHAUSTED before they are logged (no acknowledged write is
/// lost, no shard is poisoned), reads go on, and once space is freed writes are taken again
/// without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_into_a_full_disk_refuses_writes_until_rocksdb_recovers() {
    let mut j = start_jailed(Some("80m"), &["--disk-reserve-bytes", "0"]).await;
    let mut c = j.server.client().await;
    let mut acked: Vec<String> = Vec::new();
    for i in 0..6 {
        let d = format!("before-{i}");
        c.put_document(put(&d)).await.unwrap();
        acked.push(d);
    }

    let filler = j.data.join("rocksdb").join("filler");
    fill(&filler);
    // Writes still go to the log (its disk has room) and into RocksDB's memtable, until a
    // checkpoint (every second) flushes a memtable holding one of them into the full disk.
    // From then on a write is refused before it is logged. Writes until the first refusal.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut refused: Vec<String> = Vec::new();
    for i in 0.. {
        let d = format!("during-{i}");
        match c.put_document(put(&d)).await {
            Ok(_) => acked.push(d),
            Err(status) => {
                assert_disk_full(&status, &j);
                refused.push(d);
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no write refused within 60 s of filling RocksDB's disk\n{}",
            j.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        acked.iter().any(|d| d.starts_with("during-")),
        "no write was taken after the fill, so no flush held one: {refused:?}\n{}",
        j.logs()
    );
    let log = j.server.log_text();
    assert!(log.contains("checkpoint flush failed"), "{}", j.logs());
    assert!(log.contains("No space left on device"), "{}", j.logs());
    assert!(!log.contains("poisoned"), "{}", j.logs());

    // Every write is refused, naming the full disk; no shard is poisoned.
    for i in 0..6 {
        let d = format!("refused-{i}");
        let status = c.put_document(put(&d)).await.unwrap_err();
        assert_disk_full(&status, &j);
        refused.push(d);
    }
    // RocksDB is one database for all shards: the refusals came from both.
    let log = j.server.log_text();
    for shard in 0..SHARDS {
        assert!(
            log.contains(&format!("shard={shard} status=\"RESOURCE_EXHAUSTED\"")),
            "no write refused on shard {shard}\n{}",
            j.logs()
        );
    }
    // Reads go on, and see every acknowledged write.
    for d in &acked {
        c.get_document(get(d)).await.unwrap();
    }
    assert_serving(&mut j, &mut c).await;

    // Space back: RocksDB recovers by itself (it retries the flush every 5 s), then writes are
    // taken again, without a restart.
    // Successful checkpoints of each shard so far (the log line of one names its covered LSN).
    let checkpoints = |j: &Jailed| -> Vec<usize> {
        let log = j.server.log_text();
        (0..SHARDS)
            .map(|shard| log.matches(&format!("shard={shard} covered_lsn=")).count())
            .collect()
    };
    let checkpoints_before = checkpoints(&j);
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match c.put_document(put("after-0")).await {
            Ok(_) => break,
            Err(s) if s.code() == tonic::Code::ResourceExhausted => {}
            Err(s) => panic!("{s:?}\n{}", j.logs()),
        }
        assert!(
            Instant::now() < deadline,
            "writes still refused 60 s after space was freed\n{}",
            j.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    acked.push("after-0".into());
    for i in 1..6 {
        let d = format!("after-{i}");
        c.put_document(put(&d)).await.unwrap();
        acked.push(d);
    }
    for d in &acked {
        c.get_document(get(d)).await.unwrap();
    }
    for d in &refused {
        assert_eq!(code(c.get_document(get(d)).await), tonic::Code::NotFound);
    }
    assert_serving(&mut j, &mut c).await;
    // Checkpoints succeed again (each shard's next flush after RocksDB's recovery).
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoints(&j)
        .iter()
        .zip(&checkpoints_before)
        .any(|(now, before)| now <= before)
    {
        assert!(
            Instant::now() < deadline,
            "no checkpoint of every shard within 60 s of writes resuming\n{}",
            j.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    j.verify_logs();
    assert_eq!(j.server.stop(), 0, "{}", j.logs());
}
