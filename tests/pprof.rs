//! /debug/pprof/ on the metrics port of the real server: a CPU profile that decodes as pprof's
//! protobuf and names the server's own functions, one profile at a time, heap answered 501,
//! everything off with `--pprof false`.

mod common;

use common::{put_small, Server};
use pprof::protos::Message;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Status code and body of `GET path` (HTTP/1.1, connection closed by the server).
async fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut out = vec![];
    s.read_to_end(&mut out).await.expect("read");
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&out[..end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let body = out[end + 4..].to_vec();
    // Chunked answers carry sizes between chunks; a profile is sent with a content length.
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
            || status != 200,
        "{head}"
    );
    (status, body)
}

#[tokio::test]
async fn cpu_profile_decodes_and_names_the_servers_functions() {
    let s = Server::start(&[]).await;
    // Load while the profile runs, so that the server's threads are on CPU.
    let mut c = s.client().await;
    let load = tokio::spawn(async move {
        for i in 0..100_000 {
            put_small(&mut c, &format!("d{i}")).await;
        }
    });
    let metrics = s.metrics_addr.clone();
    let first = tokio::spawn(async move { get(&metrics, "/debug/pprof/profile?seconds=3").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (busy, why) = get(&s.metrics_addr, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(busy, 409, "{}", String::from_utf8_lossy(&why));
    let (status, body) = first.await.expect("profile task");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    load.abort();
    let profile = pprof::protos::Profile::decode(body.as_slice()).expect("pprof protobuf");
    assert!(!profile.sample.is_empty(), "no samples in 3 s of load");
    assert!(profile.duration_nanos >= 2_000_000_000);
    let names = &profile.string_table;
    assert!(
        names
            .iter()
            .any(|n| n.contains("shards::") || n.contains("treestore")),
        "no function of the server among {} strings",
        names.len()
    );
    let (status, _) = get(&s.metrics_addr, "/debug/pprof/profile?seconds=0").await;
    assert_eq!(status, 400);
    let (status, body) = get(&s.metrics_addr, "/debug/pprof/heap").await;
    assert_eq!(status, 501, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn pprof_false_serves_no_profiles() {
    let s = Server::start(&["--pprof", "false"]).await;
    let (status, _) = get(&s.metrics_addr, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(status, 404);
    let (status, _) = get(&s.metrics_addr, "/metrics").await;
    assert_eq!(status, 200);
}
