//! Responses the server may send already encoded. The node-read RPCs answer from a cached tree
//! by writing the response bytes directly (`encode.rs`); the generated server
//! (`pb::server`) takes these types for those responses in place of the plain messages, and
//! they encode either way to the same bytes on the wire.

use crate::pb;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};

/// A response message, built or already encoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply<M> {
    Built(M),
    /// The message's encoding (without a length prefix).
    Encoded(Vec<u8>),
}

impl<M: Default> Default for Reply<M> {
    fn default() -> Self {
        Reply::Built(M::default())
    }
}

impl<M> From<M> for Reply<M> {
    fn from(m: M) -> Self {
        Reply::Built(m)
    }
}

impl<M: Message + Default> Message for Reply<M> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            Reply::Built(m) => m.encode_raw(buf),
            Reply::Encoded(bytes) => buf.put_slice(bytes),
        }
    }

    /// Decoding builds the message (the server never decodes its own responses; this keeps
    /// the type a complete `Message`).
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let mut built = match std::mem::take(self) {
            Reply::Built(m) => m,
            Reply::Encoded(bytes) => M::decode(bytes.as_slice())?,
        };
        let merged = built.merge_field(tag, wire_type, buf, ctx);
        *self = Reply::Built(built);
        merged
    }

    fn encoded_len(&self) -> usize {
        match self {
            Reply::Built(m) => m.encoded_len(),
            Reply::Encoded(bytes) => bytes.len(),
        }
    }

    fn clear(&mut self) {
        *self = Reply::Built(M::default());
    }
}

pub type GetDocumentResponse = Reply<pb::GetDocumentResponse>;
pub type GetNodeResponse = Reply<pb::GetNodeResponse>;
pub type GetSubtreeResponse = Reply<pb::GetSubtreeResponse>;
pub type GetChildrenResponse = Reply<pb::GetChildrenResponse>;
pub type GetAncestorsResponse = Reply<pb::GetAncestorsResponse>;
