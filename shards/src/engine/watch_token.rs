//! Resume tokens of `Watch`: where a stream is in each shard's feed, opaque to clients.
//!
//! Bytes: `1` (format) | data directory id u64 BE (the manifest's creation time) | shard count
//! u32 BE | per shard, the LSN up to which the stream has delivered (u64 BE). A stream resumed
//! with it delivers, per shard, exactly the selected events above that LSN.

use crate::{Error, Result};

const FORMAT: u8 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeToken {
    pub data_id: u64,
    pub positions: Vec<u64>,
}

impl ResumeToken {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(13 + 8 * self.positions.len());
        b.push(FORMAT);
        b.extend_from_slice(&self.data_id.to_be_bytes());
        b.extend_from_slice(&(self.positions.len() as u32).to_be_bytes());
        for p in &self.positions {
            b.extend_from_slice(&p.to_be_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> Result<ResumeToken> {
        let bad = |why: &str| Error::invalid("resume_token", why.to_string());
        let (&format, rest) = b.split_first().ok_or_else(|| bad("is empty"))?;
        if format != FORMAT {
            return Err(bad("is not a resume token of this server"));
        }
        if rest.len() < 12 {
            return Err(bad("is truncated"));
        }
        let (id, rest) = rest.split_at(8);
        let (count, rest) = rest.split_at(4);
        let data_id = u64::from_be_bytes(id.try_into().map_err(|_| bad("is truncated"))?);
        let count = u32::from_be_bytes(count.try_into().map_err(|_| bad("is truncated"))?);
        if rest.len() != count as usize * 8 {
            return Err(bad("has the wrong length"));
        }
        let positions = rest
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        Ok(ResumeToken { data_id, positions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pins_its_bytes() {
        let t = ResumeToken {
            data_id: 7,
            positions: vec![1, 258],
        };
        let b = t.encode();
        assert_eq!(
            b,
            [
                1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1,
                2
            ]
        );
        assert_eq!(ResumeToken::decode(&b).unwrap(), t);
    }

    #[test]
    fn malformed_tokens_are_invalid_arguments() {
        let good = ResumeToken {
            data_id: 7,
            positions: vec![1, 2],
        }
        .encode();
        for bad in [
            vec![],
            vec![2],
            good[..10].to_vec(),
            good[..good.len() - 1].to_vec(),
            [good.clone(), vec![0]].concat(),
        ] {
            assert!(
                matches!(
                    ResumeToken::decode(&bad),
                    Err(Error::InvalidArgument { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
