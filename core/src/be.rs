//! Big-endian field access (Java `ByteBuffer` order) over borrowed bytes.
//!
//! Every read is bounds-checked and returns `None` past the end, so a hostile
//! length can never index out of range.

/// Reads a big-endian `i16` at `at`.
#[inline]
pub fn i16_at(buf: &[u8], at: usize) -> Option<i16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(i16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian `i32` at `at`.
#[inline]
pub fn i32_at(buf: &[u8], at: usize) -> Option<i32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a big-endian `i64` at `at`.
#[inline]
pub fn i64_at(buf: &[u8], at: usize) -> Option<i64> {
    let b = buf.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(i64::from_be_bytes(a))
}

/// Writes a big-endian `i16` at `at`; `false` if it does not fit.
#[inline]
pub fn put_i16(buf: &mut [u8], at: usize, v: i16) -> bool {
    put(buf, at, &v.to_be_bytes())
}

/// Writes a big-endian `i32` at `at`; `false` if it does not fit.
#[inline]
pub fn put_i32(buf: &mut [u8], at: usize, v: i32) -> bool {
    put(buf, at, &v.to_be_bytes())
}

/// Writes a big-endian `i64` at `at`; `false` if it does not fit.
#[inline]
pub fn put_i64(buf: &mut [u8], at: usize, v: i64) -> bool {
    put(buf, at, &v.to_be_bytes())
}

/// Copies `bytes` to `at`; `false` if it does not fit.
#[inline]
pub fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> bool {
    match at
        .checked_add(bytes.len())
        .and_then(|end| buf.get_mut(at..end))
    {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            true
        }
        None => false,
    }
}

/// A cursor that appends big-endian fields to a caller-owned buffer.
///
/// The caller sizes the buffer first (encoders compute the exact length), so
/// the writer only checks and never allocates.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'a> Writer<'a> {
    /// Starts writing at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            overflow: false,
        }
    }
    /// Appends an `i8`.
    pub fn i8(&mut self, v: i8) {
        self.bytes(&v.to_be_bytes());
    }
    /// Appends an `i16`.
    pub fn i16(&mut self, v: i16) {
        self.bytes(&v.to_be_bytes());
    }
    /// Appends an `i32`.
    pub fn i32(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }
    /// Appends an `i64`.
    pub fn i64(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        if put(self.buf, self.pos, b) {
            self.pos += b.len();
        } else {
            self.overflow = true;
        }
    }
    /// Bytes written so far, or `None` if anything did not fit.
    pub fn finish(self) -> Option<usize> {
        if self.overflow { None } else { Some(self.pos) }
    }
}
