//! Page tokens: opaque to clients (hex of a tagged cursor), validated on the way back in, so a
//! malformed token is INVALID_ARGUMENT and a token of another RPC is rejected.

use crate::status::invalid;
use tonic::Status;

/// Encodes `cursor` for the RPC family `tag` (one ASCII letter).
pub fn encode(tag: char, cursor: &str) -> String {
    let mut raw = String::with_capacity(cursor.len() + 1);
    raw.push(tag);
    raw.push_str(cursor);
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a token made by `encode` with the same `tag`; "" is the first page (None).
pub fn decode(tag: char, token: &str) -> Result<Option<String>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        invalid(
            "page_token",
            "malformed; pass \"\" or a token from a previous response",
        )
    };
    if !token.len().is_multiple_of(2) || token.len() > 4096 {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect::<Result<Vec<u8>, Status>>()?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    match text.strip_prefix(tag) {
        Some(rest) => Ok(Some(rest.to_string())),
        None => Err(bad()),
    }
}

/// Decodes an offset token (lists the server slices itself).
pub fn decode_offset(tag: char, token: &str) -> Result<usize, Status> {
    match decode(tag, token)? {
        None => Ok(0),
        Some(s) => s
            .parse()
            .map_err(|_| invalid("page_token", "malformed offset")),
    }
}

/// Page size: 0 = `default`, larger than `max` = `max`.
pub fn size(requested: u32, default: usize, max: usize) -> usize {
    match requested as usize {
        0 => default.min(max),
        n => n.min(max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let t = encode('L', "doc/é");
        assert_eq!(decode('L', &t).unwrap().as_deref(), Some("doc/é"));
        assert_eq!(decode('L', "").unwrap(), None);
        for bad in ["garbage!", "abc", "zz", &encode('V', "1")] {
            let e = decode('L', bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}");
        }
        assert_eq!(decode_offset('C', &encode('C', "7")).unwrap(), 7);
        assert!(decode_offset('C', &encode('C', "x")).is_err());
        assert_eq!(size(0, 100, 1000), 100);
        assert_eq!(size(5000, 100, 1000), 1000);
    }
}
