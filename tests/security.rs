//! The adversarial suite against the real server: TLS (plaintext to a TLS port, a wrong CA, a
//! client certificate of another CA, certificate reload), tokens (none, wrong, malformed,
//! removed by a reload), scopes (a read-only principal calling every write RPC), per-principal
//! limits (a rate-limited principal beside an unlimited one), the metrics and profiling
//! endpoints, and secrets kept out of the log at trace level. Certificates are made here, at
//! test time (rcgen); no key is committed.

mod common;

use common::{free_port, with_token, ClientSecurity, Server};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::Code;
use treestore::pb;
use treestore::pb::tree_store_client::TreeStoreClient;
use treestore::security::scope::{Rpc, Scope};
use treestore::security::token::{generate, TokenHash};

/// A certificate authority made for the test.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).expect("CA").pem();
        Ca { params, key, pem }
    }

    /// A leaf certificate and its key (PEM) with subject CN `cn` and DNS SAN `dns`.
    fn issue(&self, cn: &str, dns: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params.distinguished_name.push(DnType::CommonName, cn);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("leaf");
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Replaces a file atomically (as a Secret update or a careful operator does).
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn client_tls(ca_pem: &str) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost")
}

/// One principal of the auth file, with a fresh token.
struct Principal {
    name: &'static str,
    scopes: &'static [&'static str],
    extra: &'static str,
    token: String,
}

fn principal(
    name: &'static str,
    scopes: &'static [&'static str],
    extra: &'static str,
) -> Principal {
    Principal {
        name,
        scopes,
        extra,
        token: generate().expect("token"),
    }
}

fn auth_file(principals: &[&Principal]) -> String {
    principals
        .iter()
        .map(|p| {
            let scopes: Vec<String> = p.scopes.iter().map(|s| format!("{s:?}")).collect();
            format!(
                "[[principal]]\nname = {:?}\nscopes = [{}]\ntoken_sha256 = [\"{}\"]\n{}\n",
                p.name,
                scopes.join(", "),
                TokenHash::of(&p.token).to_hex(),
                p.extra
            )
        })
        .collect()
}

/// A TLS server with the auth file; the tests' clients trust `ca` and use `token`.
struct Fixture {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Server,
}

async fn start(auth: &str, token: &str, extra: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("treestore test CA");
    let (cert, key) = ca.issue("localhost", &["localhost"]);
    let cert = write(dir.path(), "server.pem", &cert);
    let key = write(dir.path(), "server.key", &key);
    let auth = write(dir.path(), "auth.toml", auth);
    let mut args: Vec<String> = vec![
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
        "--auth-file".into(),
        auth.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let security = ClientSecurity {
        tls: Some(client_tls(&ca.pem)),
        token: Some(token.into()),
    };
    let server = Server::start_secure(
        &dir.path().join("data"),
        dir.path(),
        &args,
        None,
        common::serving,
        security,
    )
    .await;
    Fixture { dir, ca, server }
}

/// Calls `rpc` with an empty request (the auth layer decides before the body is read) and
/// returns the status code.
async fn call(
    c: &mut TreeStoreClient<tonic::transport::Channel>,
    rpc: Rpc,
    token: Option<&str>,
) -> Code {
    fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
        r.map(|_| Code::Ok).unwrap_or_else(|s| s.code())
    }
    let t = token;
    match rpc {
        Rpc::PutDocument => code(c.put_document(with_token(Default::default(), t)).await),
        Rpc::GetDocument => code(c.get_document(with_token(Default::default(), t)).await),
        Rpc::ListDocuments => code(c.list_documents(with_token(Default::default(), t)).await),
        Rpc::DeleteDocument => code(c.delete_document(with_token(Default::default(), t)).await),
        Rpc::ListVersions => code(c.list_versions(with_token(Default::default(), t)).await),
        Rpc::GetNode => code(c.get_node(with_token(Default::default(), t)).await),
        Rpc::GetSubtree => code(c.get_subtree(with_token(Default::default(), t)).await),
        Rpc::GetChildren => code(c.get_children(with_token(Default::default(), t)).await),
        Rpc::GetAncestors => code(c.get_ancestors(with_token(Default::default(), t)).await),
        Rpc::InsertNode => code(c.insert_node(with_token(Default::default(), t)).await),
        Rpc::UpdateNode => code(c.update_node(with_token(Default::default(), t)).await),
        Rpc::MoveNode => code(c.move_node(with_token(Default::default(), t)).await),
        Rpc::DeleteNode => code(c.delete_node(with_token(Default::default(), t)).await),
        Rpc::SearchNodes => code(c.search_nodes(with_token(Default::default(), t)).await),
        Rpc::GetVersionAsOf => code(c.get_version_as_of(with_token(Default::default(), t)).await),
        Rpc::DiffVersions => code(c.diff_versions(with_token(Default::default(), t)).await),
        Rpc::AddCrossReference => code(
            c.add_cross_reference(with_token(Default::default(), t))
                .await,
        ),
        Rpc::RemoveCrossReference => code(
            c.remove_cross_reference(with_token(Default::default(), t))
                .await,
        ),
        Rpc::GetCrossReferences => code(
            c.get_cross_references(with_token(Default::default(), t))
                .await,
        ),
        Rpc::StoreToolResult => code(c.store_tool_result(with_token(Default::default(), t)).await),
        Rpc::GetToolResult => code(c.get_tool_result(with_token(Default::default(), t)).await),
        Rpc::BeginTransaction => code(c.begin_transaction(with_token(Default::default(), t)).await),
        Rpc::CommitTransaction => code(
            c.commit_transaction(with_token(Default::default(), t))
                .await,
        ),
        Rpc::RollbackTransaction => code(
            c.rollback_transaction(with_token(Default::default(), t))
                .await,
        ),
        Rpc::Watch => code(c.watch(with_token(Default::default(), t)).await),
        Rpc::Health => code(c.health(with_token(Default::default(), t)).await),
        Rpc::Stats => code(c.stats(with_token(Default::default(), t)).await),
    }
}

/// Waits (up to 30 s) until `check` holds; false if it never did.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn sighup(server: &Server) {
    let pid = server.child.as_ref().expect("running").id() as i32;
    // SAFETY: kill(2) on the pid of our own child process.
    unsafe {
        libc::kill(pid, libc::SIGHUP);
    }
}

/// Status of an HTTP GET on the metrics port with an optional bearer token.
async fn http_status(addr: &str, path: &str, token: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("send");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn credentials_and_scopes() {
    let admin = principal("admin", &["admin"], "");
    let reader = principal("reader", &["read"], "");
    let writer = principal("writer", &["read", "write"], "");
    let prometheus = principal("prometheus", &[], "");
    let f = start(
        &auth_file(&[&admin, &reader, &writer, &prometheus]),
        &reader.token,
        &["--pprof", "true"],
    )
    .await;
    let mut c = f.server.client().await;

    // No token, a wrong token, a malformed header, an unknown principal's look-alike: all
    // UNAUTHENTICATED, with one message.
    let mut messages = std::collections::BTreeSet::new();
    for bad in [
        None,
        Some("tst_0000000000000000000000000000000000000000000000000000000000000000".to_string()),
        Some(format!("{}x", reader.token)),
        Some(generate().unwrap()),
    ] {
        for rpc in [Rpc::GetDocument, Rpc::PutDocument, Rpc::Health] {
            let r = c
                .get_document(with_token(Default::default(), bad.as_deref()))
                .await;
            let s = r.expect_err("refused");
            assert_eq!(s.code(), Code::Unauthenticated, "{rpc:?} with {bad:?}");
            messages.insert(s.message().to_string());
            assert_eq!(
                call(&mut c, rpc, bad.as_deref()).await,
                Code::Unauthenticated
            );
        }
    }
    let mut req = tonic::Request::new(pb::GetDocumentRequest::default());
    req.metadata_mut().insert(
        "authorization",
        format!("Basic {}", reader.token).parse().unwrap(),
    );
    let s = c.get_document(req).await.expect_err("refused");
    assert_eq!(s.code(), Code::Unauthenticated);
    messages.insert(s.message().to_string());
    // Two tokens in one request (a read-only one and an admin one): ambiguous, refused.
    let mut req = tonic::Request::new(pb::PutDocumentRequest::default());
    for t in [&reader.token, &admin.token] {
        req.metadata_mut()
            .append("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let s = c.put_document(req).await.expect_err("refused");
    assert_eq!(s.code(), Code::Unauthenticated);
    messages.insert(s.message().to_string());
    assert_eq!(
        messages.len(),
        1,
        "one message for every bad credential: {messages:?}"
    );

    // A read-only principal: every write RPC is PERMISSION_DENIED, every read RPC passes the
    // auth layer. A writer passes it for every RPC (its empty requests may be invalid).
    let writes: Vec<Rpc> = Rpc::ALL
        .iter()
        .copied()
        .filter(|r| r.scope() == Scope::Write)
        .collect();
    assert_eq!(writes.len(), 12);
    // Only Stats (counts over every tenant) needs admin.
    let admin_only: Vec<Rpc> = Rpc::ALL
        .iter()
        .copied()
        .filter(|r| r.scope() == Scope::Admin)
        .collect();
    assert_eq!(admin_only, [Rpc::Stats]);
    for &rpc in Rpc::ALL {
        let as_reader = call(&mut c, rpc, Some(&reader.token)).await;
        let as_writer = call(&mut c, rpc, Some(&writer.token)).await;
        let as_admin = call(&mut c, rpc, Some(&admin.token)).await;
        if rpc.scope() == Scope::Read {
            assert!(
                !matches!(as_reader, Code::PermissionDenied | Code::Unauthenticated),
                "reader calling {rpc:?}: {as_reader:?}"
            );
        } else {
            assert_eq!(as_reader, Code::PermissionDenied, "reader calling {rpc:?}");
        }
        if rpc.scope() == Scope::Admin {
            assert_eq!(as_writer, Code::PermissionDenied, "writer calling {rpc:?}");
        } else {
            assert!(
                !matches!(as_writer, Code::PermissionDenied | Code::Unauthenticated),
                "writer calling {rpc:?}: {as_writer:?}"
            );
        }
        assert!(
            !matches!(as_admin, Code::PermissionDenied | Code::Unauthenticated),
            "admin calling {rpc:?}: {as_admin:?}"
        );
        // A principal with no scope at all may call nothing.
        assert_eq!(
            call(&mut c, rpc, Some(&prometheus.token)).await,
            Code::PermissionDenied,
            "scope-less principal calling {rpc:?}"
        );
    }
    // The writer really writes; the reader reads it back.
    let put = pb::PutDocumentRequest {
        doc_id: "d1".into(),
        roots: common::small_tree(),
        ..Default::default()
    };
    c.put_document(with_token(put, Some(&writer.token)))
        .await
        .expect("writer puts");
    let got = c
        .get_document(with_token(
            pb::GetDocumentRequest {
                doc_id: "d1".into(),
                ..Default::default()
            },
            Some(&reader.token),
        ))
        .await
        .expect("reader reads");
    assert_eq!(
        got.get_ref().document.as_ref().map(|d| d.doc_id.as_str()),
        Some("d1")
    );

    // grpc.health.v1 is open; reflection needs a principal.
    let channel = f.server.channel().await.expect("channel");
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    // It answers without a token; SERVING once the health reporter has seen every shard serve
    // (it polls: right after start it may still say NOT_SERVING).
    let serving = eventually(|| {
        let mut health = health.clone();
        async move {
            let h = health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .expect("standard health without a token");
            h.get_ref().status == 1
        }
    })
    .await;
    assert!(serving, "grpc.health.v1 never said SERVING");
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let list = || tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let anonymous = reflection
        .server_reflection_info(tokio_stream::iter(vec![list()]))
        .await;
    assert_eq!(
        anonymous.err().map(|s| s.code()),
        Some(Code::Unauthenticated)
    );
    let mut req = tonic::Request::new(tokio_stream::iter(vec![list()]));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", reader.token).parse().unwrap(),
    );
    assert!(reflection.server_reflection_info(req).await.is_ok());

    // The metrics port: a token (any principal) for /metrics, admin for profiles.
    let m = &f.server.metrics_addr;
    assert_eq!(http_status(m, "/metrics", None).await, 401);
    assert_eq!(http_status(m, "/metrics", Some("tst_wrong")).await, 401);
    assert_eq!(
        http_status(m, "/metrics", Some(&prometheus.token)).await,
        200
    );
    assert_eq!(http_status(m, "/debug/pprof/heap", None).await, 401);
    assert_eq!(
        http_status(m, "/debug/pprof/heap", Some(&reader.token)).await,
        403
    );
    let heap = http_status(m, "/debug/pprof/heap", Some(&admin.token)).await;
    assert!(heap != 401 && heap != 403, "admin profiling: {heap}");

    // Refusals are logged with the principal, the method and the scope needed; no token is.
    let log = f.server.log_text();
    assert!(
        log.lines().any(|l| l.contains("permission denied")
            && l.contains("reader")
            && l.contains("PutDocument")
            && l.contains("write")),
        "no permission-denied line:\n{log}"
    );
    for p in [&admin, &reader, &writer, &prometheus] {
        assert!(!log.contains(&p.token), "{}'s token in the log", p.name);
    }
    drop(f.dir);
}

#[tokio::test]
async fn reload_removes_tokens_and_replaces_certificates() {
    let keep = principal("keep", &["read"], "");
    let removed = principal("removed", &["read"], "");
    let f = start(
        &auth_file(&[&keep, &removed]),
        &keep.token,
        &["--security-reload-poll-secs", "1"],
    )
    .await;
    let mut c = f.server.client().await;
    assert_eq!(
        call(&mut c, Rpc::Health, Some(&removed.token)).await,
        Code::Ok
    );

    // SIGHUP after the file lost a token: that token stops working, the other does not.
    let auth = f.dir.path().join("auth.toml");
    replace(&auth, &auth_file(&[&keep]));
    sighup(&f.server);
    let mut c2 = c.clone();
    assert!(
        eventually(|| {
            let mut c = c2.clone();
            let t = removed.token.clone();
            async move { call(&mut c, Rpc::Health, Some(&t)).await == Code::Unauthenticated }
        })
        .await,
        "the removed token still works after the reload"
    );
    assert_eq!(
        call(&mut c2, Rpc::Health, Some(&keep.token)).await,
        Code::Ok
    );

    // A file change alone (no signal) is picked up too; a broken file changes nothing.
    replace(
        &auth,
        "[[principal]]\nname = \"broken\"\ntoken = \"plain text\"\n",
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        call(&mut c2, Rpc::Health, Some(&keep.token)).await,
        Code::Ok
    );
    let newcomer = principal("newcomer", &["read"], "");
    replace(&auth, &auth_file(&[&newcomer]));
    assert!(
        eventually(|| {
            let mut c = c2.clone();
            let t = newcomer.token.clone();
            async move { call(&mut c, Rpc::Health, Some(&t)).await == Code::Ok }
        })
        .await,
        "a changed auth file was not reloaded"
    );
    assert_eq!(
        call(&mut c, Rpc::Health, Some(&keep.token)).await,
        Code::Unauthenticated
    );
    assert!(f.server.log_text().contains("auth file reload failed"));

    // Certificate reload: a certificate of another CA replaces the server's; new connections
    // get it (a client trusting only the old CA is refused), the old connection goes on.
    let ca2 = Ca::new("second CA");
    let (cert, key) = ca2.issue("localhost", &["localhost"]);
    replace(&f.dir.path().join("server.key"), &key);
    replace(&f.dir.path().join("server.pem"), &cert);
    sighup(&f.server);
    let addr = f.server.addr.clone();
    let token = newcomer.token.clone();
    let new_ca = ca2.pem.clone();
    assert!(
        eventually(|| {
            let (addr, token, ca) = (addr.clone(), token.clone(), new_ca.clone());
            async move { health_over(&addr, client_tls(&ca), &token).await == Some(Code::Ok) }
        })
        .await,
        "new connections do not get the new certificate"
    );
    assert_ne!(
        health_over(&f.server.addr, client_tls(&f.ca.pem), &newcomer.token).await,
        Some(Code::Ok),
        "a client trusting only the old CA still connects"
    );
    assert_eq!(
        call(&mut c, Rpc::Health, Some(&newcomer.token)).await,
        Code::Ok
    );
}

/// Health over a new TLS connection: the status code, or None if the connection failed.
async fn health_over(addr: &str, tls: ClientTlsConfig, token: &str) -> Option<Code> {
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .ok()?
        .tls_config(tls)
        .ok()?;
    let channel = endpoint.connect().await.ok()?;
    let mut c = TreeStoreClient::new(channel);
    Some(call(&mut c, Rpc::Health, Some(token)).await)
}

#[tokio::test]
async fn transport_refusals_and_client_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let other_ca = Ca::new("another CA");
    let (cert, key) = ca.issue("localhost", &["localhost"]);
    let cert = write(dir.path(), "server.pem", &cert);
    let key = write(dir.path(), "server.key", &key);
    let client_ca_file = write(dir.path(), "client-ca.pem", &client_ca.pem);
    let token_user = principal("token-user", &["read"], "");
    let auth = format!(
        "{}[[principal]]\nname = \"agent\"\nscopes = [\"read\", \"write\"]\n\
         cert_names = [\"agent.example\"]\n",
        auth_file(&[&token_user])
    );
    let auth = write(dir.path(), "auth.toml", &auth);
    let (agent_cert, agent_key) = client_ca.issue("agent", &["agent.example"]);
    let (stranger_cert, stranger_key) = client_ca.issue("stranger", &["stranger.example"]);
    let (forged_cert, forged_key) = other_ca.issue("agent", &["agent.example"]);
    let agent = Identity::from_pem(&agent_cert, &agent_key);
    let security = ClientSecurity {
        tls: Some(client_tls(&ca.pem).identity(agent.clone())),
        token: None,
    };
    let args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-client-ca",
        client_ca_file.to_str().unwrap(),
        "--auth-file",
        auth.to_str().unwrap(),
    ];
    let server = Server::start_secure(
        &dir.path().join("data"),
        dir.path(),
        &args,
        None,
        common::serving,
        security,
    )
    .await;
    let addr = server.addr.clone();

    // The certificate authenticates the agent, no token needed: it may write.
    let mut c = server.client().await;
    assert_eq!(call(&mut c, Rpc::Health, None).await, Code::Ok);
    let put = pb::PutDocumentRequest {
        doc_id: "by-cert".into(),
        roots: common::small_tree(),
        ..Default::default()
    };
    c.put_document(put).await.expect("the agent writes");

    // Plaintext to the TLS port: no answer.
    let plain = async {
        let mut c = TreeStoreClient::connect(format!("http://{addr}"))
            .await
            .ok()?;
        Some(call(&mut c, Rpc::Health, Some(&token_user.token)).await)
    }
    .await;
    assert!(!matches!(plain, Some(Code::Ok)), "plaintext got {plain:?}");

    // A client that trusts another CA refuses the server.
    let wrong_ca = health_over(
        &addr,
        client_tls(&other_ca.pem).identity(agent.clone()),
        &token_user.token,
    )
    .await;
    assert!(
        !matches!(wrong_ca, Some(Code::Ok)),
        "wrong CA got {wrong_ca:?}"
    );

    // No client certificate, or one from another CA (even with the agent's names): refused.
    let none = health_over(&addr, client_tls(&ca.pem), &token_user.token).await;
    assert!(
        !matches!(none, Some(Code::Ok)),
        "no client certificate got {none:?}"
    );
    let forged = health_over(
        &addr,
        client_tls(&ca.pem).identity(Identity::from_pem(&forged_cert, &forged_key)),
        &token_user.token,
    )
    .await;
    assert!(
        !matches!(forged, Some(Code::Ok)),
        "another CA's certificate got {forged:?}"
    );

    // A valid certificate naming no principal: UNAUTHENTICATED; with a token: the token's
    // principal (read only).
    let stranger = Identity::from_pem(&stranger_cert, &stranger_key);
    let ch = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(client_tls(&ca.pem).identity(stranger))
        .unwrap()
        .connect()
        .await
        .expect("a valid certificate connects");
    let mut s = TreeStoreClient::new(ch);
    assert_eq!(call(&mut s, Rpc::Health, None).await, Code::Unauthenticated);
    assert_eq!(
        call(&mut s, Rpc::Health, Some(&token_user.token)).await,
        Code::Ok
    );
    assert_eq!(
        call(&mut s, Rpc::PutDocument, Some(&token_user.token)).await,
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn a_rate_limited_principal_does_not_stop_another() {
    let limited = principal(
        "limited",
        &["read"],
        "requests_per_second = 2\nburst = 2\nmax_concurrent = 4",
    );
    let free = principal("free", &["read"], "");
    let f = start(&auth_file(&[&limited, &free]), &free.token, &[]).await;
    let mut c = f.server.client().await;
    let started = Instant::now();
    let (mut limited_ok, mut limited_refused, mut free_ok) = (0u32, 0u32, 0u32);
    for _ in 0..60 {
        match call(&mut c, Rpc::Health, Some(&limited.token)).await {
            Code::Ok => limited_ok += 1,
            Code::ResourceExhausted => limited_refused += 1,
            other => panic!("limited principal got {other:?}"),
        }
        if call(&mut c, Rpc::Health, Some(&free.token)).await == Code::Ok {
            free_ok += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(free_ok, 60, "the unlimited principal was refused");
    // The bucket admits its burst plus the rate over the time taken, never more.
    let allowed = 2.0 + 2.0 * elapsed.ceil() + 1.0;
    assert!(
        f64::from(limited_ok) <= allowed,
        "{limited_ok} admitted in {elapsed:.1} s (at most {allowed})"
    );
    assert!(limited_refused > 0);
    assert_eq!(limited_ok + limited_refused, 60);
}

#[tokio::test]
async fn secrets_stay_out_of_trace_logs() {
    let user = principal("user", &["read"], "");
    let admin = principal("admin", &["admin"], "");
    // The log filter of the server: everything, at trace level.
    let f = start(
        &auth_file(&[&user, &admin]),
        &user.token,
        &["--log", "trace"],
    )
    .await;
    let mut c = f.server.client().await;
    let wrong = generate().unwrap();
    for _ in 0..3 {
        assert_eq!(
            call(&mut c, Rpc::GetDocument, Some(&user.token)).await,
            Code::InvalidArgument
        );
        assert_eq!(
            call(&mut c, Rpc::PutDocument, Some(&user.token)).await,
            Code::PermissionDenied
        );
        assert_eq!(
            call(&mut c, Rpc::Health, Some(&wrong)).await,
            Code::Unauthenticated
        );
        assert_eq!(
            call(&mut c, Rpc::Health, Some(&admin.token)).await,
            Code::Ok
        );
    }
    assert_eq!(
        http_status(&f.server.metrics_addr, "/metrics", Some(&admin.token)).await,
        200
    );
    let log = f.server.log_text();
    assert!(
        log.contains("TRACE"),
        "the server did not log at trace level"
    );
    for (what, secret) in [
        ("user", &user.token),
        ("admin", &admin.token),
        ("wrong", &wrong),
    ] {
        assert!(
            !log.contains(secret.as_str()),
            "the {what} token is in the log"
        );
        // Nor the random part alone (e.g. a log that strips the prefix).
        assert!(
            !log.contains(&secret[4..]),
            "the {what} token's digits are in the log"
        );
    }
}

#[tokio::test]
async fn the_token_command_makes_a_working_credential() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_treestore"))
        .args(["token", "--name", "made", "--scopes", "read,write"])
        .output()
        .expect("treestore token");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let token = text
        .lines()
        .next()
        .expect("the token line")
        .trim()
        .to_string();
    assert!(token.starts_with("tst_") && token.len() == 68, "{token}");
    let entry_start = text.find("[[principal]]").expect("an auth-file entry");
    let entry = &text[entry_start..];
    assert!(!entry.contains(&token), "the entry holds the token itself");
    assert!(entry.contains(&TokenHash::of(&token).to_hex()));
    let f = start(entry, &token, &[]).await;
    let mut c = f.server.client().await;
    assert_eq!(call(&mut c, Rpc::Health, Some(&token)).await, Code::Ok);
    assert_ne!(
        call(&mut c, Rpc::PutDocument, Some(&token)).await,
        Code::PermissionDenied
    );
}

#[test]
fn serve_refuses_to_start_open_without_being_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_treestore"))
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(extra)
            .output()
            .expect("run")
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-plaintext"));
    let ca = Ca::new("ca");
    let (cert, key) = ca.issue("localhost", &["localhost"]);
    let cert = write(dir.path(), "c.pem", &cert);
    let key = write(dir.path(), "k.pem", &key);
    let out = run(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auth-file"));
}
