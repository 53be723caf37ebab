//! Fast tests for never-written (all-zero) space: the tails of commitlog and
//! consume-queue files that recovery and `verify` must look through.
//!
//! The byte-at-a-time `iter().position(|&b| b != 0)` these replace costs a few
//! instructions per byte; here whole 64-byte blocks are OR-ed together (which
//! the compiler turns into vector instructions) and only a block holding a
//! non-zero byte is searched byte by byte.

/// Bytes per block tested at once.
const BLOCK: usize = 64;

/// True if no byte of `b` (one whole block) is non-zero.
#[inline]
fn block_is_zero(b: &[u8]) -> bool {
    // Whole words OR-ed together (byte order is irrelevant to a zero test).
    let mut acc = 0u64;
    for w in b.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        acc |= u64::from_be_bytes(word);
    }
    acc == 0 && b.chunks_exact(8).remainder().iter().all(|&x| x == 0)
}

/// Index of the first non-zero byte of `b`.
pub fn first_nonzero(b: &[u8]) -> Option<usize> {
    let blocks = b.chunks_exact(BLOCK);
    let tail = blocks.remainder();
    let full = b.len() - tail.len();
    for (n, c) in blocks.enumerate() {
        if !block_is_zero(c) {
            return c.iter().position(|&x| x != 0).map(|i| n * BLOCK + i);
        }
    }
    tail.iter().position(|&x| x != 0).map(|i| full + i)
}

/// Index of the last non-zero byte of `b`.
pub fn last_nonzero(b: &[u8]) -> Option<usize> {
    let blocks = b.chunks_exact(BLOCK);
    let tail = blocks.remainder();
    let full = b.len() - tail.len();
    if let Some(i) = tail.iter().rposition(|&x| x != 0) {
        return Some(full + i);
    }
    for (n, c) in blocks.enumerate().rev() {
        if !block_is_zero(c) {
            return c.iter().rposition(|&x| x != 0).map(|i| n * BLOCK + i);
        }
    }
    None
}

/// Number of non-zero bytes in `b`.
pub fn count_nonzero(b: &[u8]) -> u64 {
    let blocks = b.chunks_exact(BLOCK);
    let tail = blocks.remainder();
    let count = |c: &[u8]| c.iter().filter(|&&x| x != 0).count() as u64;
    let mut n = count(tail);
    for c in blocks {
        if !block_is_zero(c) {
            n += count(c);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// The obvious byte-at-a-time definitions are the oracle.
    #[test]
    fn agree_with_the_byte_at_a_time_definitions() {
        for len in [0usize, 1, 63, 64, 65, 127, 128, 200, 1000] {
            let zeros = vec![0u8; len];
            assert_eq!(first_nonzero(&zeros), None);
            assert_eq!(last_nonzero(&zeros), None);
            assert_eq!(count_nonzero(&zeros), 0);
            for at in [0, 1, 62, 63, 64, 65, 127, 128, 199, 999] {
                if at >= len {
                    continue;
                }
                for other in [None, Some(0), Some(len / 2), Some(len - 1)] {
                    let mut b = zeros.clone();
                    b[at] = 0x80;
                    if let Some(o) = other {
                        b[o] = 1;
                    }
                    assert_eq!(
                        first_nonzero(&b),
                        b.iter().position(|&x| x != 0),
                        "{len} {at}"
                    );
                    assert_eq!(
                        last_nonzero(&b),
                        b.iter().rposition(|&x| x != 0),
                        "{len} {at}"
                    );
                    assert_eq!(
                        count_nonzero(&b),
                        b.iter().filter(|&&x| x != 0).count() as u64
                    );
                }
            }
        }
    }
}
