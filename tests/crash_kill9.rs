//! kill -9 crash test of the real server: concurrent writers record every acknowledged write
//! and transaction; the server is SIGKILLed at a random moment, restarted on the same data
//! directory, and every acknowledged write must be there, and no transaction partly visible.
//! Rounds: `TREESTORE_CRASH_ROUNDS` (default 20); the seed is printed and can be fixed with
//! `TREESTORE_CRASH_SEED`.

mod common;

use common::{leaf, Client, Server};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use treestore::pb;

const WRITERS: usize = 8;
const TX_NODES: usize = 3;

/// What the writers did: acknowledged single inserts, and every transaction they tried.
#[derive(Default)]
struct Ledger {
    acked_nodes: BTreeSet<(String, String)>,
    /// (doc, node ids, acknowledged)
    transactions: Vec<(String, Vec<String>, bool)>,
}

/// A small deterministic generator (xorshift64*), so a failing run can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn writer(mut c: Client, w: usize, round: usize, ledger: Arc<Mutex<Ledger>>, mut rng: Rng) {
    let doc = format!("crash-{w}");
    for i in 0.. {
        if rng.below(4) == 0 {
            let ids: Vec<String> = (0..TX_NODES).map(|k| format!("t{round}-{i}-{k}")).collect();
            let Ok(begin) = c
                .begin_transaction(pb::BeginTransactionRequest {
                    doc_id: doc.clone(),
                    timeout_ms: None,
                })
                .await
            else {
                return;
            };
            let txn = begin.into_inner().transaction_id;
            ledger
                .lock()
                .unwrap()
                .transactions
                .push((doc.clone(), ids.clone(), false));
            let slot = ledger.lock().unwrap().transactions.len() - 1;
            for id in &ids {
                let req = pb::InsertNodeRequest {
                    doc_id: doc.clone(),
                    node: Some(leaf(id, "in a transaction")),
                    transaction_id: txn.clone(),
                    ..Default::default()
                };
                if c.insert_node(req).await.is_err() {
                    return;
                }
            }
            let commit = pb::CommitTransactionRequest {
                transaction_id: txn,
                ..Default::default()
            };
            match c.commit_transaction(commit).await {
                Ok(_) => ledger.lock().unwrap().transactions[slot].2 = true,
                Err(_) => return,
            }
        } else {
            let id = format!("n{round}-{i}");
            let req = pb::InsertNodeRequest {
                doc_id: doc.clone(),
                node: Some(leaf(&id, "single")),
                ..Default::default()
            };
            match c.insert_node(req).await {
                Ok(_) => {
                    ledger.lock().unwrap().acked_nodes.insert((doc.clone(), id));
                }
                Err(_) => return,
            }
        }
    }
}

async fn stored_nodes(c: &mut Client, doc: &str) -> BTreeSet<String> {
    let resp = c
        .get_subtree(pb::GetSubtreeRequest {
            doc_id: doc.into(),
            ..Default::default()
        })
        .await
        .expect("read back after restart")
        .into_inner();
    let mut out = BTreeSet::new();
    let mut stack = resp.roots;
    while let Some(n) = stack.pop() {
        out.insert(n.node_id);
        stack.extend(n.children);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let rounds: usize = std::env::var("TREESTORE_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("TREESTORE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: {rounds} rounds, TREESTORE_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    let mut server = Server::start_on(&data, tmp.path(), &[]).await;
    {
        let mut c = server.client().await;
        for w in 0..WRITERS {
            let req = pb::PutDocumentRequest {
                doc_id: format!("crash-{w}"),
                name: "crash".into(),
                ..Default::default()
            };
            c.put_document(req)
                .await
                .expect("create the writers' documents");
        }
    }

    let mut kills = 0;
    for round in 0..rounds {
        let mut tasks = vec![];
        for w in 0..WRITERS {
            let c = server.client().await;
            tasks.push(tokio::spawn(writer(
                c,
                w,
                round,
                ledger.clone(),
                Rng(rng.next() | 1),
            )));
        }
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400))).await;
        server.kill9();
        kills += 1;
        for t in tasks {
            t.await.expect("writer task");
        }

        server = Server::start_on(&data, tmp.path(), &[]).await;
        let mut c = server.client().await;
        let (acked_nodes, transactions) = {
            let l = ledger.lock().unwrap();
            (l.acked_nodes.clone(), l.transactions.clone())
        };
        for w in 0..WRITERS {
            let doc = format!("crash-{w}");
            let stored = stored_nodes(&mut c, &doc).await;
            for (d, n) in acked_nodes.iter().filter(|(d, _)| *d == doc) {
                assert!(
                    stored.contains(n),
                    "round {round}: acknowledged insert {d}/{n} lost (seed {seed})"
                );
            }
            for (d, ids, acked) in transactions.iter().filter(|(d, _, _)| *d == doc) {
                let present = ids.iter().filter(|id| stored.contains(*id)).count();
                assert!(
                    present == 0 || present == ids.len(),
                    "round {round}: transaction on {d} partly visible: {present} of {ids:?} (seed {seed})"
                );
                if *acked {
                    assert_eq!(
                        present,
                        ids.len(),
                        "round {round}: acknowledged transaction {ids:?} lost (seed {seed})"
                    );
                }
            }
        }
    }
    let l = ledger.lock().unwrap();
    let acked_tx = l.transactions.iter().filter(|t| t.2).count();
    eprintln!(
        "crash test: {kills} kills, {} acknowledged inserts and {acked_tx} acknowledged transactions all recovered",
        l.acked_nodes.len()
    );
    assert!(kills >= rounds);
    assert!(
        !l.acked_nodes.is_empty(),
        "no write was acknowledged: the test checked nothing"
    );
    assert_eq!(server.stop(), 0, "clean shutdown after the last recovery");
}
