"""Generated protobuf/gRPC stubs (do not edit; see scripts/gen_proto.py)."""
