//! Bearer tokens: 256 random bits, written `tst_` + 64 hex digits. The server keeps only their
//! SHA-256 (in the principals file), and compares hashes in constant time.

use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

/// The prefix of every token `treestore token` makes (it lets secret scanners find leaked ones).
pub const TOKEN_PREFIX: &str = "tst_";

/// SHA-256 of a token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes are not secrets, but there is no reason to print them either.
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut h = [0u8; 32];
        h.copy_from_slice(d.as_ref());
        TokenHash(h)
    }

    /// From 64 hex digits.
    pub fn from_hex(s: &str) -> Option<TokenHash> {
        let s = s.trim();
        if s.len() != 64 {
            return None;
        }
        let mut h = [0u8; 32];
        for (i, byte) in h.iter_mut().enumerate() {
            *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(TokenHash(h))
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Constant-time equality (no early exit on the first differing byte).
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new token from the system's secure random source.
pub fn generate() -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&bytes)))
}

/// The token of an `authorization` header value `Bearer <token>` (scheme case-insensitive).
pub fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hash_and_parse() {
        let t = generate().unwrap();
        assert!(t.starts_with(TOKEN_PREFIX) && t.len() == 4 + 64);
        assert_ne!(t, generate().unwrap());
        let h = TokenHash::of(&t);
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Some(h));
        assert!(h.ct_eq(&TokenHash::of(&t)));
        assert!(!h.ct_eq(&TokenHash::of("other")));
        // SHA-256("abc")
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenHash::from_hex("zz"), None);
        assert_eq!(bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer(b"bearer  abc "), Some("abc"));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
    }
}
