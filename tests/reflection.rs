//! Server reflection, as grpcurl uses it: list the services, then fetch the descriptor of
//! `treestore.v1.TreeStore` and find every RPC in it.

mod common;
use common::*;
use prost::Message;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// Sends one reflection request and returns its answer.
async fn ask(url: &str, request: MessageRequest) -> Result<MessageResponse, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(url.to_string())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut client = ServerReflectionClient::new(channel);
    let outbound = tokio_stream::iter(vec![ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }]);
    let mut answers = client
        .server_reflection_info(outbound)
        .await
        .expect("reflection call")
        .into_inner();
    Ok(answers
        .message()
        .await?
        .expect("one answer")
        .message_response
        .expect("a response"))
}

const RPCS: [&str; 26] = [
    "PutDocument",
    "GetDocument",
    "ListDocuments",
    "DeleteDocument",
    "ListVersions",
    "GetNode",
    "GetSubtree",
    "GetChildren",
    "GetAncestors",
    "InsertNode",
    "UpdateNode",
    "MoveNode",
    "DeleteNode",
    "SearchNodes",
    "GetVersionAsOf",
    "DiffVersions",
    "AddCrossReference",
    "RemoveCrossReference",
    "GetCrossReferences",
    "StoreToolResult",
    "GetToolResult",
    "BeginTransaction",
    "CommitTransaction",
    "RollbackTransaction",
    "Health",
    "Stats",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services_and_describes_every_rpc() {
    let srv = Server::start(&[]).await;
    let url = srv.url();

    let MessageResponse::ListServicesResponse(list) =
        ask(&url, MessageRequest::ListServices(String::new()))
            .await
            .unwrap()
    else {
        panic!("ListServices gave another answer");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "treestore.v1.TreeStore",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }

    let answer = ask(
        &url,
        MessageRequest::FileContainingSymbol("treestore.v1.TreeStore".into()),
    )
    .await
    .unwrap();
    let MessageResponse::FileDescriptorResponse(files) = answer else {
        panic!("FileContainingSymbol gave another answer: {answer:?}");
    };
    let service = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(&bytes[..]).expect("descriptor"))
        .filter(|f| f.package() == "treestore.v1")
        .flat_map(|f| f.service)
        .find(|s| s.name() == "TreeStore")
        .expect("service TreeStore in the descriptors");
    let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    for rpc in RPCS {
        assert!(methods.contains(&rpc), "{rpc} missing from {methods:?}");
    }
    let get_node = service
        .method
        .iter()
        .find(|m| m.name() == "GetNode")
        .expect("GetNode");
    assert_eq!(get_node.input_type(), ".treestore.v1.GetNodeRequest");

    // An unknown symbol is NOT_FOUND.
    let answer = ask(
        &url,
        MessageRequest::FileContainingSymbol("no.such.Thing".into()),
    )
    .await;
    assert_eq!(answer.unwrap_err().code(), tonic::Code::NotFound);
}
