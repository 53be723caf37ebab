//! The message properties string: `key 0x01 value 0x02` pairs, parsed exactly
//! as Java's `MessageDecoder.string2messageProperties` does, without reordering.

use alloc::string::String;
use alloc::vec::Vec;

/// Separates a key from its value.
pub const NAME_VALUE_SEPARATOR: u8 = 0x01;
/// Ends each pair.
pub const PROPERTY_SEPARATOR: u8 = 0x02;

/// Well-known keys (`MessageConst`).
pub mod keys {
    /// Space-separated user keys, each indexed.
    pub const KEYS: &str = "KEYS";
    /// The tag; its Java hash is the consume-queue tags code.
    pub const TAGS: &str = "TAGS";
    /// The client message id, indexed.
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    /// Wait for flush before acknowledging.
    pub const WAIT: &str = "WAIT";
    /// Delay level (1-based).
    pub const DELAY: &str = "DELAY";
    /// Whole-record CRC trailer.
    pub const CRC32: &str = "__CRC32#";
    /// Inner-batch message count.
    pub const INNER_NUM: &str = "INNER_NUM";
    /// Inner-batch base queue offset.
    pub const INNER_BASE: &str = "INNER_BASE";
    /// Cluster name set by the broker.
    pub const CLUSTER: &str = "CLUSTER";
}

/// Iterates the pairs of a stored properties string in stored order, applying
/// Java's rule: segments are split on `0x02` (the last may be unterminated); a
/// segment is a pair only if its first `0x01` (searched from the segment start,
/// possibly beyond it) leaves a non-empty key and a non-empty value inside the
/// segment. Other segments are skipped silently, as Java does.
pub fn pairs(props: &[u8]) -> Pairs<'_> {
    Pairs { props, pos: 0 }
}

/// Iterator returned by [`pairs`].
pub struct Pairs<'a> {
    props: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let p = self.props;
        while self.pos < p.len() {
            let i = self.pos;
            let j = p[i..]
                .iter()
                .position(|&b| b == PROPERTY_SEPARATOR)
                .map_or(p.len(), |k| i + k);
            self.pos = j + 1;
            // Java: kvSepIndex = indexOf(NAME_VALUE_SEPARATOR, index); accept if
            // kvSepIndex > index && kvSepIndex < newIndex - 1.
            if let Some(k) = p[i..]
                .iter()
                .position(|&b| b == NAME_VALUE_SEPARATOR)
                .map(|k| i + k)
                && k > i
                && k + 1 < j
            {
                return Some((&p[i..k], &p[k + 1..j]));
            }
        }
        None
    }
}

/// The value of `key` (last occurrence wins, as in Java's map).
pub fn get<'a>(props: &'a [u8], key: &str) -> Option<&'a [u8]> {
    pairs(props)
        .filter(|(k, _)| *k == key.as_bytes())
        .last()
        .map(|(_, v)| v)
}

/// Decodes text the way Java's UTF-8 `String` constructor does (bad sequences become U+FFFD).
pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The properties as a map with Java semantics (last duplicate wins), sorted by
/// key in Java `String` order.
pub fn to_sorted_map(props: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs(props) {
        let (k, v) = (lossy(k), lossy(v));
        match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    out.sort_by(|a, b| crate::java::compare_utf16(&a.0, &b.0));
    out
}

/// Serialises pairs in the given order (`key 0x01 value 0x02` each).
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut v = Vec::new();
    for (k, val) in pairs {
        v.extend_from_slice(k.as_bytes());
        v.push(NAME_VALUE_SEPARATOR);
        v.extend_from_slice(val.as_bytes());
        v.push(PROPERTY_SEPARATOR);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_rules() {
        let p = b"KEYS\x01a b\x02\x01novalue\x02nokey\x01\x02TAGS\x01T\x02TAGS\x01U";
        let got: Vec<_> = pairs(p).collect();
        assert_eq!(
            got,
            [
                (&b"KEYS"[..], &b"a b"[..]),
                (b"TAGS", b"T"),
                (b"TAGS", b"U")
            ]
        );
        assert_eq!(get(p, "TAGS"), Some(&b"U"[..]));
        // A separator search may run past the segment end: no pair here.
        assert_eq!(pairs(b"abc\x02d\x01e\x02").count(), 1);
        assert_eq!(pairs(b"").count(), 0);
    }
}
