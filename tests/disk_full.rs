//! A full disk, for real: the server runs in an unprivileged user and mount namespace
//! (`unshare -Urm`) on a 24 MiB tmpfs holding its data directory; the test fills that file
//! system through `/proc/PID/root` and frees it again.
//!
//! While fewer bytes than the reserve (`--disk-reserve-bytes`, 4 MiB here) are free, writes get
//! RESOURCE_EXHAUSTED naming the full disk, before anything is logged, so no shard is poisoned;
//! reads go on; checkpoints (every second here) are postponed rather than flushing RocksDB into
//! ENOSPC. Once the filler is deleted, writes are taken again, every acknowledged write reads
//! back, and `treestore wal verify` finds every shard's log clean.
//!
//! Needs unprivileged user namespaces (or root) and `unshare` (util-linux): without them the
//! test fails, saying so, rather than skipping.

mod common;

use common::{code, free_port, put_request, small_tree, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use treestore::pb;

const RESERVE: u64 = 4 << 20;

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

/// Fills the file system of `dir` with `file` until ENOSPC.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_reads_and_resumes_once_freed() {
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
    let bin = env!("CARGO_BIN_EXE_treestore");
    let script = r#"mnt=$1; shift; mount -t tmpfs -o size=24m tmpfs "$mnt" && exec "$@""#;
    let child = Command::new("unshare")
        .args(["-Urm", "--", "sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(bin)
        .args([
            "serve",
            "--listen",
            &addr,
            "--metrics-listen",
            &metrics_addr,
        ])
        .arg("--data-dir")
        .arg(mnt.join("data"))
        .args(["--shards", "2", "--executors", "1", "--no-pin-cores"])
        .args(["--cache-bytes", "8388608", "--tree-cache-bytes", "0"])
        .args(["--checkpoint-interval-secs", "1", "--insecure-plaintext"])
        .args(["--disk-reserve-bytes", &RESERVE.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start unshare");
    // unshare and sh exec: the server keeps this pid, and its mounts are under /proc/PID/root.
    let root =
        PathBuf::from(format!("/proc/{}/root", child.id())).join(mnt.strip_prefix("/").unwrap());
    let mut server = Server::adopt(child, addr, metrics_addr, mnt.join("data"), log);
    server.wait_until(common::serving).await;
    let mut c = server.client().await;

    let docs: Vec<String> = (0..6).map(|i| format!("before-{i}")).collect();
    for d in &docs {
        c.put_document(put(d)).await.unwrap();
    }

    let filler = root.join("filler");
    fill(&filler);
    let free = shards::disk_space::available_bytes(&root).unwrap();
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
        server.log_text().contains("checkpoint postponed"),
        "{}",
        server.log_text()
    );
    let health = c.health(pb::HealthRequest {}).await.unwrap().into_inner();
    assert_eq!(
        health.status,
        pb::HealthStatus::Serving as i32,
        "{health:?}"
    );
    assert!(server.alive());

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
    // The logs are clean (no torn or corrupt record from the full disk).
    for shard in 0..2 {
        let dir = root.join("data").join("wal").join(format!("shard-{shard}"));
        let out = Command::new(bin)
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
    assert_eq!(server.stop(), 0, "{}", server.log_text());
}
