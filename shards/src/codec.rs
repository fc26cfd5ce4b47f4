//! Value encoding of stored records (postcard: compact, versioned by the data directory's format
//! version). Decoding failures are `Error::DataLoss`: the bytes on disk are not what we wrote.

use crate::Result;
use serde::{de::DeserializeOwned, Serialize};

pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| crate::Error::Internal(format!("encoding a record: {e}")))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(postcard::from_bytes(bytes)?)
}

pub fn encode_u64(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub fn decode_u64(b: &[u8]) -> Result<u64> {
    crate::keys::be_u64(b)
}
