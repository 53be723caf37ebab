//! The RocketMQ CommitLog message record (V1 and V2), the end-of-file BLANK
//! record, msgId and the optional `__CRC32#` whole-record CRC property.
//!
//! Layout (big-endian; `B`/`S` = 8 for IPv4 or 20 for IPv6 hosts, chosen by
//! SYSFLAG bits 4 and 5; `TL` = 1 for V1, 2 for V2):
//!
//! ```text
//!  0 TOTALSIZE i32 | 4 MAGIC i32 | 8 BODYCRC i32 | 12 QUEUEID i32 | 16 FLAG i32
//! 20 QUEUEOFFSET i64 | 28 PHYSICALOFFSET i64 | 36 SYSFLAG i32 | 40 BORNTIMESTAMP i64
//! 48 BORNHOST B | 48+B STORETIMESTAMP i64 | 56+B STOREHOST S | 56+B+S RECONSUMETIMES i32
//! 60+B+S PREPARED_TX_OFFSET i64 | 68+B+S BODYLEN i32, BODY | TOPICLEN (TL), TOPIC
//! PROPERTIESLEN i16, PROPERTIES
//! ```

use crate::be::{self, Writer};
use crate::codec::properties;
use crate::crc::masked_crc32;
use crate::error::{DecodeError, DecodeErrorKind as K, EncodeError};
use core::fmt;

/// Magic of a V1 record (1-byte topic length).
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic of a V2 record (2-byte topic length).
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic of the end-of-file BLANK record.
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;
/// Bytes the `__CRC32#` trailer occupies at the end of the properties.
pub const CRC32_RESERVED_LEN: usize = 20;

/// Offset of QUEUEOFFSET in a record.
pub const QUEUE_OFFSET_POS: usize = 20;
/// Offset of PHYSICALOFFSET in a record.
pub const PHYSICAL_OFFSET_POS: usize = 28;
/// Offset of SYSFLAG in a record.
pub const SYSFLAG_POS: usize = 36;
/// Offset of BORNHOST in a record.
pub const BORN_HOST_POS: usize = 48;

/// The smallest well-formed record: V1, IPv4 hosts, empty body, topic and properties.
pub const MIN_RECORD_LEN: usize = 91;

/// SYSFLAG bits (`MessageSysFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SysFlag(pub i32);

impl SysFlag {
    /// Body compressed by the producer.
    pub const COMPRESSED: i32 = 0x1;
    /// Topic filter type MULTI_TAG.
    pub const MULTI_TAGS: i32 = 0x2;
    /// Mask of the transaction type bits.
    pub const TRANSACTION_MASK: i32 = 0xC;
    /// Transaction: not a transaction message.
    pub const TRANSACTION_NOT: i32 = 0;
    /// Transaction: prepared (half) message.
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    /// Transaction: commit.
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    /// Transaction: rollback.
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    /// Born host is IPv6 (16+4 bytes).
    pub const BORNHOST_V6: i32 = 0x10;
    /// Store host is IPv6 (16+4 bytes).
    pub const STOREHOST_V6: i32 = 0x20;
    /// Inner-batch record whose body must be unwrapped.
    pub const NEED_UNWRAP: i32 = 0x40;
    /// Inner-batch record.
    pub const INNER_BATCH: i32 = 0x80;
    /// Mask of the compression type bits.
    pub const COMPRESSION_MASK: i32 = 0x700;

    /// Transaction type bits (`f & 0xC`).
    pub const fn transaction(self) -> i32 {
        self.0 & Self::TRANSACTION_MASK
    }
    /// True if the body is compressed.
    pub const fn compressed(self) -> bool {
        self.0 & Self::COMPRESSED != 0
    }
    /// True if the topic filter type is MULTI_TAG.
    pub const fn multi_tags(self) -> bool {
        self.0 & Self::MULTI_TAGS != 0
    }
    /// True if the born host is IPv6.
    pub const fn born_v6(self) -> bool {
        self.0 & Self::BORNHOST_V6 != 0
    }
    /// True if the store host is IPv6.
    pub const fn store_v6(self) -> bool {
        self.0 & Self::STOREHOST_V6 != 0
    }
    /// True for an inner-batch record.
    pub const fn inner_batch(self) -> bool {
        self.0 & Self::INNER_BATCH != 0
    }
    /// True if the body must be unwrapped by consumers.
    pub const fn need_unwrap(self) -> bool {
        self.0 & Self::NEED_UNWRAP != 0
    }
    /// Compression algorithm for a compressed body (type bits; 0 means ZLIB).
    pub const fn compression(self) -> Compression {
        match (self.0 & Self::COMPRESSION_MASK) >> 8 {
            0 | 3 => Compression::Zlib,
            1 => Compression::Lz4,
            2 => Compression::Zstd,
            _ => Compression::Unknown,
        }
    }
    /// True if the record is dispatched to a consume queue (NOT or COMMIT).
    pub const fn dispatched_to_queue(self) -> bool {
        matches!(
            self.transaction(),
            Self::TRANSACTION_NOT | Self::TRANSACTION_COMMIT
        )
    }
}

/// Body compression type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zlib stream (also type 0, pre-4.9.4).
    Zlib,
    /// LZ4 frame.
    Lz4,
    /// zstd frame.
    Zstd,
    /// Type bits the reference rejects.
    Unknown,
}

/// A born or store host: address bytes and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// IPv4 (8 bytes on disk).
    V4 {
        /// Address, network order.
        addr: [u8; 4],
        /// Port.
        port: i32,
    },
    /// IPv6 (20 bytes on disk).
    V6 {
        /// Address, network order.
        addr: [u8; 16],
        /// Port.
        port: i32,
    },
}

impl Host {
    /// Bytes on disk.
    pub const fn encoded_len(&self) -> usize {
        match self {
            Self::V4 { .. } => 8,
            Self::V6 { .. } => 20,
        }
    }
    /// The address bytes.
    pub fn addr(&self) -> &[u8] {
        match self {
            Self::V4 { addr, .. } => addr,
            Self::V6 { addr, .. } => addr,
        }
    }
    /// The port.
    pub const fn port(&self) -> i32 {
        match self {
            Self::V4 { port, .. } | Self::V6 { port, .. } => *port,
        }
    }
    fn decode(b: &[u8], v6: bool) -> Option<Self> {
        if v6 {
            let mut addr = [0u8; 16];
            addr.copy_from_slice(b.get(..16)?);
            Some(Self::V6 {
                addr,
                port: be::i32_at(b, 16)?,
            })
        } else {
            let mut addr = [0u8; 4];
            addr.copy_from_slice(b.get(..4)?);
            Some(Self::V4 {
                addr,
                port: be::i32_at(b, 4)?,
            })
        }
    }
    fn encode(&self, w: &mut Writer<'_>) {
        w.bytes(self.addr());
        w.i32(self.port());
    }
    /// Parses `a.b.c.d:port` or an IPv6 address followed by `:port` (brackets optional).
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, port) = s.rsplit_once(':')?;
        let port: i32 = port.parse().ok()?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        if let Some(a) = parse_v4(addr) {
            return Some(Self::V4 { addr: a, port });
        }
        parse_v6(addr).map(|a| Self::V6 { addr: a, port })
    }
}

fn parse_v4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut out {
        *o = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn parse_v6(s: &str) -> Option<[u8; 16]> {
    let mut groups = [0u16; 8];
    let (head, tail) = match s.split_once("::") {
        Some((h, t)) => (h, Some(t)),
        None => (s, None),
    };
    let parse_list = |p: &str, out: &mut [u16; 8], from: usize| -> Option<usize> {
        if p.is_empty() {
            return Some(0);
        }
        let mut n = 0;
        for g in p.split(':') {
            if g.is_empty() || g.len() > 4 || from + n >= 8 {
                return None;
            }
            out[from + n] = u16::from_str_radix(g, 16).ok()?;
            n += 1;
        }
        Some(n)
    };
    let nh = parse_list(head, &mut groups, 0)?;
    if let Some(t) = tail {
        let mut tg = [0u16; 8];
        let nt = parse_list(t, &mut tg, 0)?;
        if nh + nt > 7 {
            return None;
        }
        groups[8 - nt..].copy_from_slice(&tg[..nt]);
    } else if nh != 8 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, g) in groups.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

/// Java `InetAddress.getHostAddress() + ":" + port`: IPv6 as eight lower-case
/// hex groups without zero compression and without brackets.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4 { addr, port } => {
                write!(
                    f,
                    "{}.{}.{}.{}:{}",
                    addr[0], addr[1], addr[2], addr[3], port
                )
            }
            Self::V6 { addr, port } => {
                for i in 0..8 {
                    let g = u16::from_be_bytes([addr[2 * i], addr[2 * i + 1]]);
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{g:x}")?;
                }
                write!(f, ":{port}")
            }
        }
    }
}

/// A decoded message record borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageView<'a> {
    /// The whole record (`total_size` bytes).
    pub raw: &'a [u8],
    /// TOTALSIZE.
    pub total_size: i32,
    /// MAGICCODE (V1 or V2).
    pub magic: i32,
    /// BODYCRC as stored.
    pub body_crc: i32,
    /// QUEUEID.
    pub queue_id: i32,
    /// FLAG.
    pub flag: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
    /// PHYSICALOFFSET as stored.
    pub physical_offset: i64,
    /// SYSFLAG.
    pub sys_flag: SysFlag,
    /// BORNTIMESTAMP (ms).
    pub born_timestamp: i64,
    /// BORNHOST.
    pub born_host: Host,
    /// STORETIMESTAMP (ms).
    pub store_timestamp: i64,
    /// STOREHOSTADDRESS.
    pub store_host: Host,
    /// RECONSUMETIMES.
    pub reconsume_times: i32,
    /// PREPARED TRANSACTION OFFSET.
    pub prepared_transaction_offset: i64,
    /// BODY as stored (possibly compressed).
    pub body: &'a [u8],
    /// TOPIC (UTF-8 bytes).
    pub topic: &'a [u8],
    /// PROPERTIES (the stored text).
    pub properties: &'a [u8],
}

/// What lies at a record position in a commitlog file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// A message.
    Message(MessageView<'a>),
    /// The end-of-file BLANK: the rest of the file (`total_size` bytes) is filler.
    Blank {
        /// TOTALSIZE of the blank (bytes to the end of the file).
        total_size: i32,
    },
}

/// How strictly to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Check BODYCRC (non-empty bodies), as recovery does (`checkCRCOnRecover`).
    pub check_body_crc: bool,
    /// What to do with the `__CRC32#` property.
    pub prop_crc: PropCrcCheck,
    /// Require PHYSICALOFFSET to equal the record's actual offset.
    pub check_physical_offset: bool,
}

/// Treatment of the whole-record `__CRC32#` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropCrcCheck {
    /// Ignore it (the reference's default, `forceVerifyPropCRC=false`).
    Ignore,
    /// Verify it when the property is present.
    IfPresent,
    /// Require and verify it (`forceVerifyPropCRC=true`; the body CRC is then not checked).
    Require,
}

impl DecodeOptions {
    /// What the reference's recovery checks (body CRC on, property ignored), plus nothing else.
    pub const JAVA_RECOVERY: Self = Self {
        check_body_crc: true,
        prop_crc: PropCrcCheck::Ignore,
        check_physical_offset: false,
    };
    /// Everything that can be checked.
    pub const STRICT: Self = Self {
        check_body_crc: true,
        prop_crc: PropCrcCheck::IfPresent,
        check_physical_offset: true,
    };
    /// Structure only.
    pub const LENIENT: Self = Self {
        check_body_crc: false,
        prop_crc: PropCrcCheck::Ignore,
        check_physical_offset: false,
    };
}

/// Record length for the given parts (`calMsgLength`).
pub const fn record_len(
    magic_v2: bool,
    born_v6: bool,
    store_v6: bool,
    body_len: usize,
    topic_len: usize,
    props_len: usize,
) -> usize {
    let b = if born_v6 { 20 } else { 8 };
    let s = if store_v6 { 20 } else { 8 };
    let tl = if magic_v2 { 2 } else { 1 };
    72 + b + s + body_len + tl + topic_len + 2 + props_len
}

fn trunc(offset: u64, have: usize, need: usize) -> DecodeError {
    DecodeError::new(
        offset,
        K::Truncated {
            needed: (need - have) as u64,
        },
    )
}

/// Decodes the record at the start of `buf`, which lies at absolute `offset`.
///
/// `buf` may extend past the record. If it ends early, the error is
/// `Truncated` with the number of bytes still needed; nothing is allocated.
pub fn decode(buf: &[u8], offset: u64, opts: DecodeOptions) -> Result<Record<'_>, DecodeError> {
    let bad = |kind| Err(DecodeError::new(offset, kind));
    if buf.len() < 8 {
        return Err(trunc(offset, buf.len(), 8));
    }
    let total = be::i32_at(buf, 0).unwrap_or(0);
    let magic = be::i32_at(buf, 4).unwrap_or(0);
    if magic == BLANK_MAGIC {
        return Ok(Record::Blank { total_size: total });
    }
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return bad(K::BadMagic { found: magic });
    }
    if total < MIN_RECORD_LEN as i32 {
        return bad(K::SizeOutOfRange {
            field: "totalSize",
            value: total.into(),
            min: MIN_RECORD_LEN as i64,
            max: i32::MAX.into(),
        });
    }
    let total_us = total as usize;
    if buf.len() < total_us {
        return Err(trunc(offset, buf.len(), total_us));
    }
    let r = &buf[..total_us];
    // Every field below is read inside the record; running off its end means the
    // lengths disagree with TOTALSIZE.
    let short = |computed: usize| {
        Err(DecodeError::new(
            offset,
            K::LengthMismatch {
                stored: total.into(),
                computed: computed as i64,
            },
        ))
    };
    let sys_flag = SysFlag(be::i32_at(r, SYSFLAG_POS).unwrap_or(0));
    let b = if sys_flag.born_v6() { 20 } else { 8 };
    let s = if sys_flag.store_v6() { 20 } else { 8 };
    let Some(born_host) = Host::decode(&r[BORN_HOST_POS..], sys_flag.born_v6()) else {
        return short(BORN_HOST_POS + b);
    };
    let p = BORN_HOST_POS + b;
    let fixed_end = p + 8 + s + 4 + 8 + 4;
    if fixed_end > total_us {
        return short(fixed_end);
    }
    let store_timestamp = be::i64_at(r, p).unwrap_or(0);
    let Some(store_host) = Host::decode(&r[p + 8..], sys_flag.store_v6()) else {
        return short(p + 8 + s);
    };
    let p = p + 8 + s;
    let reconsume_times = be::i32_at(r, p).unwrap_or(0);
    let prepared_transaction_offset = be::i64_at(r, p + 4).unwrap_or(0);
    let body_len = be::i32_at(r, p + 12).unwrap_or(0);
    if body_len < 0 {
        return bad(K::SizeOutOfRange {
            field: "bodyLength",
            value: body_len.into(),
            min: 0,
            max: total.into(),
        });
    }
    let body_start = p + 16;
    let body_end = body_start + body_len as usize;
    let v2 = magic == MAGIC_V2;
    let tl = if v2 { 2 } else { 1 };
    if body_end + tl > total_us {
        return short(body_end + tl);
    }
    let topic_len = if v2 {
        be::i16_at(r, body_end).unwrap_or(0) as i32
    } else {
        r[body_end] as i8 as i32
    };
    if topic_len < 0 {
        return bad(K::SizeOutOfRange {
            field: "topicLength",
            value: topic_len.into(),
            min: 0,
            max: if v2 { i16::MAX.into() } else { i8::MAX.into() },
        });
    }
    let topic_start = body_end + tl;
    let topic_end = topic_start + topic_len as usize;
    if topic_end + 2 > total_us {
        return short(topic_end + 2);
    }
    let props_len = be::i16_at(r, topic_end).unwrap_or(0);
    if props_len < 0 {
        return bad(K::SizeOutOfRange {
            field: "propertiesLength",
            value: props_len.into(),
            min: 0,
            max: i16::MAX.into(),
        });
    }
    let props_start = topic_end + 2;
    let end = props_start + props_len as usize;
    if end != total_us {
        return short(end);
    }
    let body = &r[body_start..body_end];
    let properties = &r[props_start..end];
    let body_crc = be::i32_at(r, 8).unwrap_or(0);
    let physical_offset = be::i64_at(r, PHYSICAL_OFFSET_POS).unwrap_or(0);
    if opts.check_physical_offset && physical_offset as u64 != offset {
        return bad(K::OffsetMismatch {
            field: "physicalOffset",
            stored: physical_offset,
            actual: offset as i64,
        });
    }
    let check_body = opts.check_body_crc && opts.prop_crc != PropCrcCheck::Require;
    if check_body && !body.is_empty() {
        let c = masked_crc32(body);
        if c != body_crc {
            return bad(K::CrcMismatch {
                field: "bodyCrc",
                stored: body_crc.into(),
                computed: c.into(),
            });
        }
    }
    if opts.prop_crc != PropCrcCheck::Ignore {
        match properties::get(properties, properties::keys::CRC32) {
            Some(v) => {
                let stored = parse_reversed_digits(v);
                let c = masked_crc32(&r[..total_us.saturating_sub(CRC32_RESERVED_LEN)]);
                if stored != Some(i64::from(c)) {
                    return bad(K::CrcMismatch {
                        field: "__CRC32#",
                        stored: stored.unwrap_or(-1),
                        computed: c.into(),
                    });
                }
            }
            None if opts.prop_crc == PropCrcCheck::Require => {
                return bad(K::BadField {
                    field: "__CRC32# (missing)",
                    value: 0,
                });
            }
            None => {}
        }
    }
    Ok(Record::Message(MessageView {
        raw: r,
        total_size: total,
        magic,
        body_crc,
        queue_id: be::i32_at(r, 12).unwrap_or(0),
        flag: be::i32_at(r, 16).unwrap_or(0),
        queue_offset: be::i64_at(r, QUEUE_OFFSET_POS).unwrap_or(0),
        physical_offset,
        sys_flag,
        born_timestamp: be::i64_at(r, 40).unwrap_or(0),
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic: &r[topic_start..topic_end],
        properties,
    }))
}

/// Reads the `__CRC32#` value: decimal digits stored least-significant first.
pub fn parse_reversed_digits(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        v.iter()
            .rev()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
    )
}

/// Writes `c` as 10 ASCII digits, least-significant first, padded with `'0'`.
pub fn reversed_digits(c: u32) -> [u8; 10] {
    let mut out = [b'0'; 10];
    let mut c = c;
    for d in &mut out {
        *d = b'0' + (c % 10) as u8;
        c /= 10;
    }
    out
}

impl<'a> MessageView<'a> {
    /// The topic as text (lossy, as Java decodes it).
    pub fn topic_str(&self) -> alloc::borrow::Cow<'a, str> {
        alloc::string::String::from_utf8_lossy(self.topic)
    }
    /// A property value, last occurrence winning.
    pub fn property(&self, key: &str) -> Option<&'a [u8]> {
        properties::get(self.properties, key)
    }
    /// The offset msgId: store host address + port + PHYSICALOFFSET, upper-case hex.
    pub fn msg_id(&self) -> alloc::string::String {
        msg_id(&self.store_host, self.physical_offset)
    }
    /// The consume-queue tags code as the reference's `checkMessageAndReturnSize`
    /// computes it (delay-topic deliver times included).
    pub fn tags_code(&self) -> i64 {
        tags_code_of(self.topic, self.properties, self.store_timestamp)
    }
}

/// Topic of delayed messages.
pub const SCHEDULE_TOPIC: &[u8] = b"SCHEDULE_TOPIC_XXXX";

/// Delay of each level of the default `messageDelayLevel` table, in ms.
pub const DEFAULT_DELAY_LEVELS_MS: [i64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000,
    480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

/// Tags code for a record: the deliver time for delayed messages on the schedule
/// topic, else the Java hash of TAGS (0 without tags).
pub fn tags_code_of(topic: &[u8], props: &[u8], store_timestamp: i64) -> i64 {
    if topic == SCHEDULE_TOPIC
        && let Some(level) = properties::get(props, properties::keys::DELAY)
        && let Some(level) = core::str::from_utf8(level)
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
    {
        let max = DEFAULT_DELAY_LEVELS_MS.len() as i32;
        let level = level.min(max);
        if level > 0 {
            return store_timestamp.wrapping_add(DEFAULT_DELAY_LEVELS_MS[(level - 1) as usize]);
        }
    }
    match properties::get(props, properties::keys::TAGS) {
        Some(t) if !t.is_empty() => i64::from(crate::java::bytes_hash(t)),
        _ => 0,
    }
}

/// Offset msgId from a store host and physical offset (upper-case hex).
pub fn msg_id(store_host: &Host, physical_offset: i64) -> alloc::string::String {
    use core::fmt::Write;
    let mut s = alloc::string::String::with_capacity(56);
    for b in store_host.addr() {
        let _ = write!(s, "{b:02X}");
    }
    let _ = write!(s, "{:08X}", store_host.port() as u32);
    let _ = write!(s, "{:016X}", physical_offset as u64);
    s
}

/// The parts of a record to encode. Offsets and the store timestamp are the
/// caller's; the encoder computes TOTALSIZE and BODYCRC unless told to keep one.
#[derive(Debug, Clone, Copy)]
pub struct MessageParts<'a> {
    /// V2 magic (2-byte topic length). `None` picks V2 only for topics over 127 bytes.
    pub v2: Option<bool>,
    /// BODYCRC to store; `None` computes it from the body.
    pub body_crc: Option<i32>,
    /// QUEUEID.
    pub queue_id: i32,
    /// FLAG.
    pub flag: i32,
    /// QUEUEOFFSET.
    pub queue_offset: i64,
    /// PHYSICALOFFSET.
    pub physical_offset: i64,
    /// SYSFLAG; the IPv6 bits are set from the hosts.
    pub sys_flag: i32,
    /// BORNTIMESTAMP.
    pub born_timestamp: i64,
    /// BORNHOST.
    pub born_host: Host,
    /// STORETIMESTAMP.
    pub store_timestamp: i64,
    /// STOREHOSTADDRESS.
    pub store_host: Host,
    /// RECONSUMETIMES.
    pub reconsume_times: i32,
    /// PREPARED TRANSACTION OFFSET.
    pub prepared_transaction_offset: i64,
    /// BODY.
    pub body: &'a [u8],
    /// TOPIC.
    pub topic: &'a [u8],
    /// PROPERTIES text as it is to be stored (without any `__CRC32#` trailer).
    pub properties: &'a [u8],
    /// Reserve and fill the 20-byte `__CRC32#` trailer (`enabledAppendPropCRC`).
    pub append_prop_crc: bool,
}

impl MessageParts<'_> {
    fn is_v2(&self) -> bool {
        self.v2.unwrap_or(self.topic.len() > 127)
    }
    fn props_len(&self) -> usize {
        if !self.append_prop_crc {
            return self.properties.len();
        }
        let sep = usize::from(
            !self.properties.is_empty()
                && self.properties.last() != Some(&properties::PROPERTY_SEPARATOR),
        );
        self.properties.len() + sep + CRC32_RESERVED_LEN
    }
    fn sys_flag(&self) -> i32 {
        let mut f = self.sys_flag & !(SysFlag::BORNHOST_V6 | SysFlag::STOREHOST_V6);
        if matches!(self.born_host, Host::V6 { .. }) {
            f |= SysFlag::BORNHOST_V6;
        }
        if matches!(self.store_host, Host::V6 { .. }) {
            f |= SysFlag::STOREHOST_V6;
        }
        f
    }
    /// The encoded record length.
    pub fn encoded_len(&self) -> usize {
        let f = SysFlag(self.sys_flag());
        record_len(
            self.is_v2(),
            f.born_v6(),
            f.store_v6(),
            self.body.len(),
            self.topic.len(),
            self.props_len(),
        )
    }

    /// SYSFLAG as stored: the caller's, with the IPv6 bits derived from the hosts.
    pub fn stored_sys_flag(&self) -> i32 {
        self.sys_flag()
    }

    /// The encoded length, if the fields fit the format (what [`Self::encode`]
    /// checks before writing anything): a caller encoding in place checks
    /// first, so a refusal leaves no partial record behind.
    pub fn validate(&self) -> Result<usize, EncodeError> {
        let v2 = self.is_v2();
        let max_topic = if v2 { i16::MAX as u64 } else { i8::MAX as u64 };
        if self.topic.len() as u64 > max_topic {
            return Err(EncodeError::FieldTooLarge {
                field: "topic",
                value: self.topic.len() as u64,
                max: max_topic,
            });
        }
        let props_len = self.props_len();
        if props_len > i16::MAX as usize {
            return Err(EncodeError::FieldTooLarge {
                field: "properties",
                value: props_len as u64,
                max: i16::MAX as u64,
            });
        }
        let len = self.encoded_len();
        if len > i32::MAX as usize {
            return Err(EncodeError::FieldTooLarge {
                field: "record",
                value: len as u64,
                max: i32::MAX as u64,
            });
        }
        Ok(len)
    }

    /// Encodes into `out` (which must hold [`Self::encoded_len`] bytes) and returns the length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.validate()?;
        let v2 = self.is_v2();
        let props_len = self.props_len();
        let Some(out) = out.get_mut(..len) else {
            return Err(EncodeError::BufferTooSmall { needed: len });
        };
        let mut w = Writer::new(out);
        w.i32(len as i32);
        w.i32(if v2 { MAGIC_V2 } else { MAGIC_V1 });
        w.i32(self.body_crc.unwrap_or_else(|| masked_crc32(self.body)));
        w.i32(self.queue_id);
        w.i32(self.flag);
        w.i64(self.queue_offset);
        w.i64(self.physical_offset);
        w.i32(self.sys_flag());
        w.i64(self.born_timestamp);
        self.born_host.encode(&mut w);
        w.i64(self.store_timestamp);
        self.store_host.encode(&mut w);
        w.i32(self.reconsume_times);
        w.i64(self.prepared_transaction_offset);
        w.i32(self.body.len() as i32);
        w.bytes(self.body);
        if v2 {
            w.i16(self.topic.len() as i16);
        } else {
            w.i8(self.topic.len() as i8);
        }
        w.bytes(self.topic);
        w.i16(props_len as i16);
        w.bytes(self.properties);
        if self.append_prop_crc {
            if props_len - self.properties.len() > CRC32_RESERVED_LEN {
                w.bytes(&[properties::PROPERTY_SEPARATOR]);
            }
            // The trailer is filled by `stamp_prop_crc` once the offsets are final.
            w.bytes(&[0u8; CRC32_RESERVED_LEN]);
        }
        let n = w
            .finish()
            .ok_or(EncodeError::BufferTooSmall { needed: len })?;
        if self.append_prop_crc {
            stamp_prop_crc(&mut out[..n]);
        }
        Ok(n)
    }
}

/// Writes the `__CRC32#` trailer over the last 20 bytes of a complete record,
/// covering everything before them. Call again after patching any field.
pub fn stamp_prop_crc(record: &mut [u8]) {
    let Some(split) = record.len().checked_sub(CRC32_RESERVED_LEN) else {
        return;
    };
    let c = masked_crc32(&record[..split]) as u32;
    let t = &mut record[split..];
    t[..8].copy_from_slice(b"__CRC32#");
    t[8] = properties::NAME_VALUE_SEPARATOR;
    t[9..19].copy_from_slice(&reversed_digits(c));
    t[19] = properties::PROPERTY_SEPARATOR;
}

/// Patches QUEUEOFFSET and PHYSICALOFFSET (and the store timestamp, whose
/// position depends on the born-host width) in an encoded record.
pub fn patch_offsets(record: &mut [u8], queue_offset: i64, physical_offset: i64) -> bool {
    be::put_i64(record, QUEUE_OFFSET_POS, queue_offset)
        && be::put_i64(record, PHYSICAL_OFFSET_POS, physical_offset)
}

/// Encodes an end-of-file BLANK header (`total_size`, BLANK magic) into 8 bytes.
pub fn blank_header(total_size: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&total_size.to_be_bytes());
    b[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
    b
}

impl<'a> MessageView<'a> {
    /// The parts that re-encode this record byte for byte.
    pub fn parts(&self) -> MessageParts<'a> {
        MessageParts {
            v2: Some(self.magic == MAGIC_V2),
            body_crc: Some(self.body_crc),
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag: self.sys_flag.0,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: self.body,
            topic: self.topic,
            properties: self.properties,
            append_prop_crc: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn spec_example() -> MessageParts<'static> {
        MessageParts {
            v2: None,
            body_crc: None,
            queue_id: 1,
            flag: 0,
            queue_offset: 7,
            physical_offset: 1_073_745_920,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            born_host: Host::V4 {
                addr: [192, 168, 0, 10],
                port: 50000,
            },
            store_timestamp: 1_700_000_000_123,
            store_host: Host::V4 {
                addr: [192, 168, 0, 20],
                port: 10911,
            },
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: b"Hello RocketMQ",
            topic: b"TopicTest",
            properties: b"KEYS\x01order-1\x02TAGS\x01TagA\x02WAIT\x01true\x02",
            append_prop_crc: false,
        }
    }

    #[test]
    fn worked_example_from_the_spec() {
        let p = spec_example();
        let mut buf = vec![0u8; p.encoded_len()];
        assert_eq!(p.encode(&mut buf), Ok(147));
        assert_eq!(
            &buf[..12],
            &[
                0, 0, 0, 0x93, 0xda, 0xa3, 0x20, 0xa7, 0x69, 0xc8, 0x65, 0xed
            ]
        );
        assert_eq!(&buf[0x90..], b"ue\x02");
        let Ok(Record::Message(m)) = decode(&buf, 1_073_745_920, DecodeOptions::STRICT) else {
            panic!()
        };
        assert_eq!(m.msg_id(), "C0A8001400002A9F0000000040001000");
        assert_eq!(m.tags_code(), 2_598_919);
        assert_eq!(m.parts().encoded_len(), 147);

        let p = MessageParts {
            append_prop_crc: true,
            ..spec_example()
        };
        let mut buf = vec![0u8; p.encoded_len()];
        assert_eq!(p.encode(&mut buf), Ok(167));
        assert_eq!(&buf[147..], b"__CRC32#\x011203074340\x02");
        assert!(decode(&buf, 1_073_745_920, DecodeOptions::STRICT).is_ok());
        buf[100] ^= 1;
        assert!(matches!(
            decode(&buf, 1_073_745_920, DecodeOptions::STRICT),
            Err(DecodeError {
                kind: K::CrcMismatch { .. },
                ..
            })
        ));
    }

    #[test]
    fn ipv6_and_v2() {
        let six = Host::parse("2001:db8::1:61000").unwrap();
        assert_eq!(alloc::format!("{six}"), "2001:db8:0:0:0:0:0:1:61000");
        let p = MessageParts {
            born_host: Host::parse("[::1]:50000").unwrap(),
            ..spec_example()
        };
        assert_eq!(p.encoded_len(), 159);
        let topic = [b'a'; 130];
        let p = MessageParts {
            topic: &topic,
            ..spec_example()
        };
        let mut buf = vec![0u8; p.encoded_len()];
        p.encode(&mut buf).unwrap();
        assert_eq!(&buf[4..8], &[0xda, 0xa3, 0x20, 0xab]);
        let Ok(Record::Message(m)) = decode(&buf, 1_073_745_920, DecodeOptions::STRICT) else {
            panic!()
        };
        assert_eq!(m.topic.len(), 130);
    }

    #[test]
    fn truncation_and_garbage() {
        let p = spec_example();
        let mut buf = vec![0u8; p.encoded_len()];
        p.encode(&mut buf).unwrap();
        for cut in 0..buf.len() {
            let e = decode(&buf[..cut], 5, DecodeOptions::STRICT).unwrap_err();
            assert!(e.is_truncated(), "cut {cut}: {e}");
            assert_eq!(e.offset, 5);
        }
        let mut huge = buf.clone();
        huge[..4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(
            decode(&huge, 0, DecodeOptions::STRICT)
                .unwrap_err()
                .is_truncated()
        );
        huge[..4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(
            !decode(&huge, 0, DecodeOptions::STRICT)
                .unwrap_err()
                .is_truncated()
        );
    }

    #[test]
    fn reversed_crc_digits() {
        assert_eq!(&reversed_digits(434_703_021), b"1203074340");
        assert_eq!(parse_reversed_digits(b"1203074340"), Some(434_703_021));
        assert_eq!(&reversed_digits(0), b"0000000000");
    }
}
