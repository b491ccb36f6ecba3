//! Session tokens: 256 random bits from the operating system, URL-safe
//! base64 without padding (43 characters), and the SHA-256 hash that is
//! all the database, the cache and the logs ever see.
//!
//! A string that is not a well-formed token is "no session" before any
//! lookup: [`hash_of`] refuses it on its length and alphabet alone. A
//! well-formed token is looked up by its hash, so what the server compares
//! is 32 bytes unrelated to the token's text: a forged token that shares a
//! prefix with a real one shares nothing with its hash, and the lookup
//! takes the same time however much of the token matched.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Bytes of randomness in a token.
const TOKEN_BYTES: usize = 32;
/// Characters of a token: `ceil(32 * 8 / 6)`.
pub(crate) const TOKEN_LEN: usize = 43;

/// A session token as handed to the client (a cookie, a bearer header).
///
/// It is the session's only credential: strata stores its SHA-256 hash,
/// never the token. `Debug` prints `SessionToken(..)`, and there is no
/// `Display`, so it does not end up in a log by accident;
/// [`as_str`](SessionToken::as_str) is the one way to read it, for the
/// response that sets the cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// A new token: 32 bytes from the operating system's generator.
    ///
    /// Returns `Error::InvalidInput` only if the operating system cannot
    /// provide randomness (then no session should be created).
    pub(crate) fn generate() -> Result<SessionToken> {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| Error::InvalidInput {
                reason: format!("the operating system's random generator failed: {e}"),
            })?;
        Ok(SessionToken(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token's text, for the client. Never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash the session is stored under.
    pub(crate) fn hash(&self) -> Vec<u8> {
        digest(self.0.as_bytes())
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// The stored hash of `token`, or `None` when `token` cannot be one of
/// ours: not 43 characters of the URL-safe alphabet, or not the canonical
/// encoding of 32 bytes. Nothing here depends on any stored session.
pub(crate) fn hash_of(token: &str) -> Option<Vec<u8>> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let mut bytes = [0u8; TOKEN_BYTES + 3];
    match URL_SAFE_NO_PAD.decode_slice(token.as_bytes(), &mut bytes) {
        Ok(TOKEN_BYTES) => Some(digest(token.as_bytes())),
        _ => None,
    }
}

/// SHA-256 of `bytes`.
pub(crate) fn digest(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_43_url_safe_characters_and_hashes_to_32_bytes() {
        let t = SessionToken::generate().unwrap();
        assert_eq!(t.as_str().len(), TOKEN_LEN);
        assert!(
            t.as_str()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(hash_of(t.as_str()), Some(t.hash()));
        assert_eq!(t.hash().len(), 32);
        assert_ne!(t, SessionToken::generate().unwrap());
        assert_eq!(format!("{t:?}"), "SessionToken(..)");
    }

    #[test]
    fn malformed_tokens_have_no_hash() {
        let t = SessionToken::generate().unwrap();
        let s = t.as_str();
        assert_eq!(hash_of(""), None);
        assert_eq!(hash_of(&s[..42]), None, "truncated");
        assert_eq!(hash_of(&format!("{s}A")), None, "too long");
        assert_eq!(
            hash_of(&format!("{}+", &s[..42])),
            None,
            "standard alphabet"
        );
        assert_eq!(hash_of(&format!("{}=", &s[..42])), None, "padding");
        assert_eq!(hash_of(&format!("{}A", "é".repeat(21))), None, "not ASCII");
        // 43 characters whose last one carries bits past the 32nd byte.
        assert_eq!(
            hash_of(&format!("{}B", "A".repeat(42))),
            None,
            "trailing bits"
        );
        assert!(hash_of(&format!("{}A", "A".repeat(42))).is_some());
    }
}
