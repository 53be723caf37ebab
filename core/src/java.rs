//! Java semantics the formats depend on.

use core::cmp::Ordering;

/// Java `String.hashCode()`: `h = 31*h + c` over UTF-16 code units, wrapping `i32`.
pub fn string_hash(s: &str) -> i32 {
    string_hash_from(0, s)
}

/// Continues a Java `String.hashCode()` computation `h` over `s` (the hash of
/// a concatenation is the fold of its parts).
pub fn string_hash_from(h: i32, s: &str) -> i32 {
    if s.is_ascii() {
        // ASCII: each byte is one UTF-16 unit.
        return s
            .bytes()
            .fold(h, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    }
    s.encode_utf16()
        .fold(h, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Java `String.hashCode()` of text stored as UTF-8 bytes. Invalid UTF-8 is
/// decoded the way Java's `new String(bytes, UTF_8)` does: each bad sequence
/// becomes one U+FFFD.
pub fn bytes_hash(b: &[u8]) -> i32 {
    let mut h = 0i32;
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().encode_utf16() {
            h = h.wrapping_mul(31).wrapping_add(i32::from(c));
        }
        if !chunk.invalid().is_empty() {
            h = h.wrapping_mul(31).wrapping_add(0xFFFD);
        }
    }
    h
}

/// Java `String.compareTo`: lexicographic over UTF-16 code units (this is the
/// order of a Java `TreeMap<String, _>`, which differs from byte order for
/// characters above U+FFFF versus U+E000..U+FFFF).
pub fn compare_utf16(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Tags code of a TAGS value (Java hash sign-extended to 64 bits; 0 when absent or empty).
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        Some(t) if !t.is_empty() => i64::from(string_hash(t)),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_java() {
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("TagA"), 2_598_919);
        assert_eq!(string_hash("TopicTest#order-1"), -1_829_193_424);
        // Supplementary characters hash as two UTF-16 units.
        assert_eq!(string_hash("𝄞"), 0xD834 * 31 + 0xDD1E);
        assert_eq!(bytes_hash("значение".as_bytes()), string_hash("значение"));
        assert_eq!(tags_code(Some("TagA")), 2_598_919);
        assert_eq!(tags_code(Some("")), 0);
    }

    #[test]
    fn utf16_order_differs_from_bytes() {
        assert_eq!(compare_utf16("\u{FF01}", "𝄞"), Ordering::Greater);
        assert!("\u{FF01}" < "𝄞");
    }
}
