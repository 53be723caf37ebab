//! Which topics a store can hold: a topic names a directory
//! (`consumequeue/<topic>/<queueId>/`), so it must be one safe path component.
//!
//! Java checks topics in the broker (`TopicValidator`: `[%|a-zA-Z0-9_-]`, at
//! most 127 bytes), not in the store, and every store it writes passes. This
//! engine is also embedded without a broker in front, so it refuses, before
//! anything is written, a topic that would leave the consume-queue directory
//! (`..`, `/`, an absolute path), that no file system can name (NUL, over
//! 255 bytes) or that decodes differently from its bytes (not UTF-8). Other
//! characters Java's broker would refuse are accepted: they are valid names.

use core::fmt;

/// Longest file name Linux (`NAME_MAX`) and the common file systems accept.
pub const MAX_TOPIC_LEN: usize = 255;

/// Why a topic cannot name a consume-queue directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// No bytes at all.
    Empty,
    /// Longer than [`MAX_TOPIC_LEN`] bytes.
    TooLong(usize),
    /// `.` or `..`: names the directory itself or its parent.
    DotName,
    /// Holds `/` or `\` (a path separator) or NUL.
    Separator(u8),
    /// Not UTF-8 (Java would read other characters than were written).
    NotUtf8,
}

impl TopicError {
    /// The reason in a few words, for errors that carry a `&'static str`.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Empty => "topic is empty",
            Self::TooLong(_) => "topic is longer than 255 bytes (a directory name)",
            Self::DotName => "topic `.` or `..` would name a directory outside its queue",
            Self::Separator(0) => "topic contains NUL (no file system can name it)",
            Self::Separator(_) => "topic contains a path separator (`/` or `\\`)",
            Self::NotUtf8 => "topic is not UTF-8",
        }
    }
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(n) => write!(f, "topic is {n} bytes, more than {MAX_TOPIC_LEN}"),
            other => f.write_str(other.reason()),
        }
    }
}

impl core::error::Error for TopicError {}

/// `Ok` if `topic` can name a consume-queue directory (see the module docs).
pub fn check(topic: &[u8]) -> Result<(), TopicError> {
    check_name(topic)?;
    if core::str::from_utf8(topic).is_err() {
        return Err(TopicError::NotUtf8);
    }
    Ok(())
}

/// [`check`] for a topic that is already a `str` (every put but a replay).
pub fn check_str(topic: &str) -> Result<(), TopicError> {
    check_name(topic.as_bytes())
}

fn check_name(topic: &[u8]) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong(topic.len()));
    }
    if topic == b"." || topic == b".." {
        return Err(TopicError::DotName);
    }
    // Every put checks its topic: eight bytes at a time (a byte loop was
    // ~110 instructions for a 10-byte topic, 2 % of a put).
    let mut words = topic.chunks_exact(8);
    let mut found = words.any(|w| {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let v = u64::from_be_bytes(b);
        has_zero_byte(v) || has_zero_byte(v ^ (ONES * 0x2F)) || has_zero_byte(v ^ (ONES * 0x5C))
    });
    found |= words.remainder().iter().any(|&b| is_separator(b));
    if found && let Some(&b) = topic.iter().find(|&&b| is_separator(b)) {
        return Err(TopicError::Separator(b));
    }
    Ok(())
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// `/`, `\` or NUL.
const fn is_separator(b: u8) -> bool {
    matches!(b, b'/' | b'\\' | 0)
}

/// True if some byte of `v` is zero (exact: the classic
/// `(v - 0x01..) & !v & 0x80..` never reports a zero byte that is not there).
const fn has_zero_byte(v: u64) -> bool {
    v.wrapping_sub(ONES) & !v & (ONES * 0x80) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_scan_finds_every_separator_at_every_position() {
        // Oracle: the byte loop.
        for len in 1..40usize {
            for at in 0..len {
                for bad in [b'/', b'\\', 0u8] {
                    let mut t = alloc::vec![b'a'; len];
                    t[at] = bad;
                    assert_eq!(
                        check_name(&t),
                        Err(TopicError::Separator(bad)),
                        "{len} {at}"
                    );
                }
                // Neighbours of the separators and high bytes are fine.
                let mut t = alloc::vec![b'a'; len];
                t[at] = [0x2E, 0x30, 0x5B, 0x5D, 0x01, 0x80, 0xFF][at % 7];
                let want = if len <= 2 && t.iter().all(|&b| b == b'.') {
                    Err(TopicError::DotName)
                } else {
                    Ok(())
                };
                assert_eq!(check_name(&t), want, "{len} {at} {t:?}");
            }
        }
    }

    #[test]
    fn java_topics_pass() {
        // TopicValidator's alphabet, retry/DLQ prefixes, and the longest.
        for t in [
            "TopicA",
            "%RETRY%group-1",
            "%DLQ%g",
            "rmq_sys_TRACE_DATA",
            "a|b",
        ] {
            assert_eq!(check(t.as_bytes()), Ok(()), "{t}");
        }
        assert_eq!(check(&[b'x'; 127]), Ok(()));
        assert_eq!(check(&[b'x'; 255]), Ok(()));
        // Not Java's alphabet, but a valid directory name.
        assert_eq!(check("topic.v2 ü".as_bytes()), Ok(()));
        assert_eq!(check(b"..."), Ok(()));
    }

    #[test]
    fn names_that_leave_or_break_the_directory_are_refused() {
        assert_eq!(check(b""), Err(TopicError::Empty));
        assert_eq!(check(b"."), Err(TopicError::DotName));
        assert_eq!(check(b".."), Err(TopicError::DotName));
        assert_eq!(check(b"a/b"), Err(TopicError::Separator(b'/')));
        assert_eq!(check(b"/etc"), Err(TopicError::Separator(b'/')));
        assert_eq!(check(b"..\\x"), Err(TopicError::Separator(b'\\')));
        assert_eq!(check(b"To\0p"), Err(TopicError::Separator(0)));
        assert_eq!(check(&[b'x'; 256]), Err(TopicError::TooLong(256)));
        assert_eq!(check(b"t\xff"), Err(TopicError::NotUtf8));
        assert_eq!(check_str("a/b"), Err(TopicError::Separator(b'/')));
        assert_eq!(check_str("TopicA"), Ok(()));
        // Every reason reads as a sentence fragment naming the topic.
        for e in [
            TopicError::Empty,
            TopicError::TooLong(300),
            TopicError::DotName,
            TopicError::Separator(0),
            TopicError::Separator(b'/'),
            TopicError::NotUtf8,
        ] {
            assert!(alloc::format!("{e}").starts_with("topic"), "{e}");
        }
    }
}
