//! Malformed requests get a client-error status (never INTERNAL) and the server stays up:
//! garbage bytes, invalid protobuf, invalid UTF-8, bad frames, oversized and too deeply nested
//! messages.

mod common;
use bytes::Bytes;
use common::*;
use prost::Message;
use tonic::Code;
use treestore::pb;

/// Posts `body` as the raw HTTP/2 body of a gRPC call; returns the grpc-status code.
async fn raw_call(srv: &Server, method: &str, body: Vec<u8>) -> Code {
    raw_call_with(srv, method, body, None).await
}

/// `raw_call` with an optional `grpc-timeout` header, over a bare HTTP/2 connection (no
/// client-side gRPC machinery, no client-side timer).
async fn raw_call_with(srv: &Server, method: &str, body: Vec<u8>, timeout: Option<&str>) -> Code {
    let tcp = tokio::net::TcpStream::connect(&srv.addr)
        .await
        .expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(conn);
    let mut client = client.ready().await.expect("h2 ready");
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{}/treestore.v1.TreeStore/{method}", srv.url()))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(t) = timeout {
        req = req.header("grpc-timeout", t);
    }
    let (resp, mut send) = client
        .send_request(req.body(()).unwrap(), false)
        .expect("send request");
    // The server may answer from the headers alone (a deadline already past) and end the
    // stream before the body is sent: then sending fails and the response says why.
    let _ = send.send_data(Bytes::from(body), true);
    let resp = resp.await.expect("response");
    if let Some(v) = resp.headers().get("grpc-status") {
        return Code::from_i32(v.to_str().unwrap().parse().unwrap_or(-1));
    }
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        // Give the window back, or a response larger than it stalls the stream.
        let chunk = chunk.expect("body chunk");
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.expect("trailers").unwrap_or_default();
    let status = trailers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    Code::from_i32(status.parse().unwrap_or(-1))
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_client_errors() {
    let mut srv = Server::start(&["--max-message-bytes", "1048576"]).await;
    // Garbage that is not a protobuf message.
    assert_eq!(
        raw_call(&srv, "GetNode", frame(&[0xff; 32])).await,
        Code::InvalidArgument
    );
    // A string field (doc_id = 1) holding invalid UTF-8.
    let bad_utf8 = [0x0a, 0x03, 0x61, 0xff, 0xfe];
    assert_eq!(
        raw_call(&srv, "GetNode", frame(&bad_utf8)).await,
        Code::InvalidArgument
    );
    // A frame with an invalid compression flag, and a truncated frame.
    let mut bad_flag = frame(b"");
    bad_flag[0] = 7;
    assert_eq!(
        raw_call(&srv, "Health", bad_flag).await,
        Code::InvalidArgument
    );
    assert_eq!(
        raw_call(&srv, "Health", vec![0, 0, 0, 0, 9, 1]).await,
        Code::InvalidArgument
    );
    // Raw garbage that is not even a frame.
    assert_eq!(
        raw_call(&srv, "Health", b"GET / HTTP/1.1".to_vec()).await,
        Code::InvalidArgument
    );
    // Unknown ids are NOT_FOUND; an unknown method is UNIMPLEMENTED.
    let ok = pb::GetNodeRequest {
        doc_id: "nope".into(),
        node_id: "x".into(),
        ..Default::default()
    };
    assert_eq!(
        raw_call(&srv, "GetNode", frame(&ok.encode_to_vec())).await,
        Code::NotFound
    );
    assert_eq!(
        raw_call(&srv, "NoSuchMethod", frame(&[])).await,
        Code::Unimplemented
    );

    // A deadline the server cannot meet is DEADLINE_EXCEEDED from the server itself.
    let body = frame(&ok.encode_to_vec());
    assert_eq!(
        raw_call_with(&srv, "GetNode", body, Some("0n")).await,
        Code::DeadlineExceeded
    );
    assert_eq!(
        raw_call_with(&srv, "Health", frame(&[]), Some("0n")).await,
        Code::DeadlineExceeded
    );

    let mut c = srv.client().await;
    // Oversized: larger than --max-message-bytes.
    let mut big = leaf("x", "");
    big.text = "a".repeat(2 << 20);
    let e = c
        .put_document(pb::PutDocumentRequest {
            doc_id: "big".into(),
            roots: vec![big],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    // Nested deeper than the protobuf decoder accepts, and deeper than the tree-depth limit.
    for depth in [150, 80] {
        let mut n = leaf("n0", "");
        for i in 1..depth {
            let mut p = leaf(&format!("n{i}"), "");
            p.children = vec![n];
            n = p;
        }
        let e = c
            .put_document(pb::PutDocumentRequest {
                doc_id: format!("deep{depth}"),
                roots: vec![n],
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(
            matches!(e.code(), Code::InvalidArgument | Code::ResourceExhausted),
            "depth {depth}: {e:?}"
        );
    }
    // Invalid UTF-8 and control characters never reach the engine as ids.
    let e = c
        .get_node(pb::GetNodeRequest {
            doc_id: "a\u{0}b".into(),
            node_id: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    assert!(srv.alive(), "server crashed:\n{}", srv.log_text());
    c.health(pb::HealthRequest {}).await.expect("still serving");

    // Each request is counted once, by code, whether a handler answered it or not: two
    // GetNodes that did not decode (refused before the handler) and one with a control
    // character in its id (refused by it); one deadline; one message too large.
    let metrics = common::http_get(&srv.metrics_addr, "/metrics").await;
    let count = |series: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        count(r#"treestore_requests_total{code="INVALID_ARGUMENT",method="GetNode"} "#),
        3,
        "{metrics}"
    );
    assert_eq!(
        count(r#"treestore_requests_total{code="DEADLINE_EXCEEDED",method="GetNode"} "#),
        1
    );
    assert_eq!(
        count(r#"treestore_requests_total{code="RESOURCE_EXHAUSTED",method="PutDocument"} "#),
        1
    );
    assert!(srv
        .log_text()
        .contains("request rejected before its handler"));
    assert_eq!(srv.stop(), 0);
}

// Tonic runs its own timer for `grpc-timeout` and answers CANCELLED when it fires first; the
// server's deadline counts from the request's arrival, so it is due no later and the answer is
// DEADLINE_EXCEEDED every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_that_expires_is_deadline_exceeded_never_cancelled() {
    let srv = Server::start(&[]).await;
    let mut c = srv.client().await;
    let roots: Vec<pb::NodeInput> = (0..3000)
        .map(|i| {
            let mut n = leaf(&format!("n{i}"), "slow");
            n.text = "x".repeat(500);
            n
        })
        .collect();
    c.put_document(pb::PutDocumentRequest {
        doc_id: "slow".into(),
        roots,
        ..Default::default()
    })
    .await
    .unwrap();
    let read = pb::GetSubtreeRequest {
        doc_id: "slow".into(),
        include_text: true,
        ..Default::default()
    };
    let mut expired = 0;
    for _ in 0..30 {
        let code =
            raw_call_with(&srv, "GetSubtree", frame(&read.encode_to_vec()), Some("2m")).await;
        assert!(
            matches!(code, Code::DeadlineExceeded | Code::Ok),
            "{code:?}"
        );
        expired += usize::from(code == Code::DeadlineExceeded);
    }
    assert!(expired > 0, "no read of 3000 nodes took over 2 ms");
}
