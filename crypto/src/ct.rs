//! Constant-time helpers.

use subtle::ConstantTimeEq;

/// Constant-time byte comparison.
///
/// Slices of different lengths compare unequal immediately (lengths are not
/// secret in TPM use); equal-length slices are compared without an early exit
/// on content, so HMAC/auth checks do not leak the first differing byte.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::ct_eq;

    #[test]
    fn equal_and_unequal() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"xbc"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"", b"a"));
        let a = [0x5au8; 64];
        let mut b = a;
        assert!(ct_eq(&a, &b));
        b[63] ^= 1;
        assert!(!ct_eq(&a, &b));
    }
}
