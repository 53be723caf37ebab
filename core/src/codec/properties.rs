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
        while let Some(rest) = self.props.get(self.pos..).filter(|r| !r.is_empty()) {
            let j = find_byte(rest, PROPERTY_SEPARATOR).unwrap_or(rest.len());
            self.pos += j + 1;
            if let Some(pair) = segment_pair(&rest[..j]) {
                return Some(pair);
            }
        }
        None
    }
}

/// The pair in one segment (the bytes between two 0x02), under Java's rule
/// `kvSepIndex > index && kvSepIndex < newIndex - 1`.
///
/// Java searches the first 0x01 from the segment start, possibly past the
/// segment's 0x02; but one found past it (or none) fails that test anyway,
/// so only the first 0x01 inside the segment matters. Keys are short: a
/// byte-at-a-time search suffices.
#[inline]
fn segment_pair(seg: &[u8]) -> Option<(&[u8], &[u8])> {
    let k = seg.iter().position(|&b| b == NAME_VALUE_SEPARATOR)?;
    let (key, value) = (seg.get(..k)?, seg.get(k + 1..)?);
    (!key.is_empty() && !value.is_empty()).then_some((key, value))
}

/// The value of `key` (last occurrence wins, as in Java's map).
///
/// Searches the segments from the last one back, so the first match is the
/// answer; a segment holds `key`'s pair iff it starts with `key`, 0x01 and
/// a non-empty value (`key` holding no separator, its first 0x01 is then the
/// one after `key`).
pub fn get<'a>(props: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let key = key.as_bytes();
    if key.is_empty()
        || key
            .iter()
            .any(|&b| b == NAME_VALUE_SEPARATOR || b == PROPERTY_SEPARATOR)
    {
        // No pair has an empty key or a key holding a separator.
        return None;
    }
    let holds = |seg: &'a [u8]| {
        seg.strip_prefix(key)?
            .strip_prefix(&[NAME_VALUE_SEPARATOR])
            .filter(|v| !v.is_empty())
    };
    let mut end = props.len();
    while let Some(j) = props
        .get(..end)
        .and_then(|b| rfind_byte(b, PROPERTY_SEPARATOR))
    {
        if let Some(v) = props.get(j + 1..end).and_then(holds) {
            return Some(v);
        }
        end = j;
    }
    props.get(..end).and_then(holds)
}

/// Calls `f` on every pair [`pairs`] yields, in the same order (the state in
/// locals: the faster form for a caller that reads every pair anyway).
#[inline]
pub fn for_each_pair<'a>(props: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) {
    let mut rest = props;
    while !rest.is_empty() {
        let j = find_byte(rest, PROPERTY_SEPARATOR).unwrap_or(rest.len());
        if let Some((k, v)) = rest.get(..j).and_then(segment_pair) {
            f(k, v);
        }
        rest = rest.get(j + 1..).unwrap_or_default();
    }
}

/// Bytes tested per step of the word-at-a-time searches.
const WORD: usize = 8;

/// Every byte of a word set to `b`.
const fn splat(b: u8) -> u64 {
    u64::from_be_bytes([b; WORD])
}

/// 0x80 in each byte of `v` that is zero, 0 in every other byte (exact: no
/// carry crosses bytes, so a flag is never a false positive). Words are read
/// big-endian: the most significant flag is the first byte in memory.
#[inline]
fn zero_bytes(v: u64) -> u64 {
    const LOW7: u64 = splat(0x7F);
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// One word (`WORD` bytes) with the bytes equal to `needle` flagged.
#[inline]
fn flagged(w: &[u8], needle: u8) -> u64 {
    let mut word = [0u8; WORD];
    word.copy_from_slice(w);
    zero_bytes(u64::from_be_bytes(word) ^ splat(needle))
}

/// Index of the first byte of `b` equal to `needle`, a word at a time
/// (`core`'s `contains` on bytes costs about three times as much on
/// property-sized strings).
#[inline]
pub(crate) fn find_byte(b: &[u8], needle: u8) -> Option<usize> {
    let words = b.chunks_exact(WORD);
    let tail = words.remainder();
    for (n, w) in words.enumerate() {
        let hits = flagged(w, needle);
        if hits != 0 {
            return Some(n * WORD + (hits.leading_zeros() / 8) as usize);
        }
    }
    let full = b.len() - tail.len();
    tail.iter().position(|&x| x == needle).map(|i| full + i)
}

/// Index of the last byte of `b` equal to `needle`, a word at a time.
#[inline]
fn rfind_byte(b: &[u8], needle: u8) -> Option<usize> {
    let words = b.rchunks_exact(WORD);
    let head = words.remainder();
    for (n, w) in words.enumerate() {
        let hits = flagged(w, needle);
        if hits != 0 {
            let last_in_word = WORD - 1 - (hits.trailing_zeros() / 8) as usize;
            return Some(b.len() - (n + 1) * WORD + last_in_word);
        }
    }
    head.iter().rposition(|&x| x == needle)
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
    use proptest::prelude::*;

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

    /// The byte-at-a-time transcription of Java's loop that the word-at-a-time
    /// [`pairs`] replaced: the oracle for it.
    fn pairs_bytewise(p: &[u8]) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < p.len() {
            let i = pos;
            let j = p[i..]
                .iter()
                .position(|&b| b == PROPERTY_SEPARATOR)
                .map_or(p.len(), |k| i + k);
            pos = j + 1;
            if let Some(k) = p[i..]
                .iter()
                .position(|&b| b == NAME_VALUE_SEPARATOR)
                .map(|k| i + k)
                && k > i
                && k + 1 < j
            {
                out.push((&p[i..k], &p[k + 1..j]));
            }
        }
        out
    }

    /// Every alignment of a separator within and across words, amid bytes
    /// one bit away from a separator and at the edges of the zero-byte test.
    #[test]
    fn separators_at_every_position() {
        let filler = [0u8, 3, 0x81, 0x82, 0x7F, 0x80, 0xFF, b'a'];
        for len in 0..40 {
            let base: Vec<u8> = (0..len).map(|n| filler[n % 8]).collect();
            assert_eq!(pairs(&base).count(), 0);
            for at in 0..len {
                for at2 in at..len {
                    for (x, y) in [(1u8, 2u8), (2, 1), (1, 1), (2, 2)] {
                        let mut b = base.clone();
                        b[at] = x;
                        b[at2] = y;
                        let got: Vec<_> = pairs(&b).collect();
                        assert_eq!(got, pairs_bytewise(&b), "{b:?}");
                        let mut each = Vec::new();
                        for_each_pair(&b, |k, v| each.push((k, v)));
                        assert_eq!(each, got, "{b:?}");
                        for n in [x, y] {
                            assert_eq!(find_byte(&b, n), b.iter().position(|&c| c == n));
                            assert_eq!(rfind_byte(&b, n), b.iter().rposition(|&c| c == n));
                        }
                    }
                }
            }
        }
    }

    /// Strings built mostly from separators and a few other bytes, so that
    /// empty keys, empty values, runs of separators and unterminated tails
    /// all come up, at every alignment.
    fn props_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                4 => Just(NAME_VALUE_SEPARATOR),
                4 => Just(PROPERTY_SEPARATOR),
                1 => Just(0u8),
                1 => Just(3u8),
                1 => Just(0x81u8),
                6 => prop::sample::select(b"KEYSTAGU ab".to_vec()),
                2 => any::<u8>(),
            ],
            0..96,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn pairs_match_the_bytewise_definition(p in props_bytes()) {
            prop_assert_eq!(pairs(&p).collect::<Vec<_>>(), pairs_bytewise(&p));
            let mut each = Vec::new();
            for_each_pair(&p, |k, v| each.push((k, v)));
            prop_assert_eq!(each, pairs_bytewise(&p));
            for key in ["KEYS", "TAGS", "a", "", "a\u{1}", "\u{2}a", "KEYS\u{1}a"] {
                // Java's map: the last occurrence wins.
                let want = pairs_bytewise(&p)
                    .into_iter()
                    .rev()
                    .find(|(k, _)| *k == key.as_bytes())
                    .map(|(_, v)| v);
                prop_assert_eq!(get(&p, key), want);
            }
        }

        #[test]
        fn pairs_match_on_arbitrary_bytes(p in prop::collection::vec(any::<u8>(), 0..300)) {
            let want = pairs_bytewise(&p);
            prop_assert_eq!(pairs(&p).collect::<Vec<_>>(), want.clone());
            // Every key present, looked up directly.
            for &(k, _) in &want {
                if let Ok(key) = core::str::from_utf8(k) {
                    let last = want.iter().rev().find(|(wk, _)| *wk == k).map(|(_, v)| *v);
                    prop_assert_eq!(get(&p, key), last);
                }
            }
        }
    }
}
