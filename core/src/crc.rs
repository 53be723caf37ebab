//! CRC exactly as the reference computes it: CRC-32/IEEE (`java.util.zip.CRC32`)
//! with the top bit cleared (`UtilAll.crc32`, `& 0x7FFFFFFF`), stored as an `i32`.

/// Masked CRC-32 of `data`, as RocketMQ stores it in BODYCRC (0 for empty input).
#[inline]
pub fn masked_crc32(data: &[u8]) -> i32 {
    (crc32fast::hash(data) & 0x7FFF_FFFF) as i32
}

/// An incremental masked CRC-32, for data that arrives in pieces.
#[derive(Clone, Default)]
pub struct MaskedCrc(crc32fast::Hasher);

impl MaskedCrc {
    /// A fresh CRC.
    pub fn new() -> Self {
        Self(crc32fast::Hasher::new())
    }
    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The masked value so far.
    pub fn finish(&self) -> i32 {
        (self.0.clone().finalize() & 0x7FFF_FFFF) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_from_the_spec() {
        // crc32("123456789") = 0xCBF43926, stored with the top bit cleared.
        assert_eq!(masked_crc32(b"123456789"), 0x4BF4_3926);
        assert_eq!(masked_crc32(b"Hello RocketMQ"), 1_774_740_973);
        assert_eq!(masked_crc32(b""), 0);
        let mut c = MaskedCrc::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 1_274_296_614);
    }
}
