//! The JSON-lines schema of `rocketlog dump --format jsonl` (the objects of the
//! fixtures' `expected*.jsonl`), rendered by hand so every host (CLI, browser,
//! plugin) prints identical bytes.

use alloc::string::String;
use core::fmt::Write;

use crate::codec::consume_queue::CqUnit;
use crate::codec::dledger::EntryView;
use crate::codec::message::{Host, MessageView};
use crate::codec::properties;

/// Whether byte `b` must be escaped inside a JSON string literal.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` as a JSON string literal. Runs of bytes that need no escape
/// are copied whole (every escaped character is ASCII, so a byte scan never
/// splits a multi-byte character).
pub fn push_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        // `i` is the index of an ASCII byte: a character boundary.
        out.push_str(&s[run..i]);
        run = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            c => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[usize::from(c >> 4)] as char);
                out.push(HEX[usize::from(c & 15)] as char);
            }
        }
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Appends bytes as lower-case hex, a chunk at a time through a stack buffer
/// (pushing characters one by one costs a capacity check and a UTF-8 encode
/// each: it was the largest cost of `dump --format jsonl`).
pub fn push_hex(out: &mut String, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const CHUNK: usize = 256;
    out.reserve(b.len() * 2);
    let mut buf = [0u8; CHUNK * 2];
    for chunk in b.chunks(CHUNK) {
        for (d, &x) in buf.chunks_exact_mut(2).zip(chunk) {
            d[0] = HEX[usize::from(x >> 4)];
            d[1] = HEX[usize::from(x & 15)];
        }
        let n = chunk.len() * 2;
        // Only ASCII hex digits were written: this never fails.
        if let Ok(t) = core::str::from_utf8(&buf[..n]) {
            out.push_str(t);
        }
    }
}

/// Appends `v` as upper-case hex, zero-padded to `width` digits (at most 16).
fn push_hex_upper(out: &mut String, v: u64, width: usize) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let width = width.min(16);
    for i in (0..width).rev() {
        out.push(HEX[((v >> (4 * i)) & 15) as usize] as char);
    }
}

/// Integers rendered in decimal without `core::fmt`.
trait Int: Copy {
    /// (negative, magnitude).
    fn split(self) -> (bool, u64);
}

macro_rules! int_signed {
    ($($t:ty),*) => {$(
        impl Int for $t {
            fn split(self) -> (bool, u64) {
                (self < 0, i64::from(self).unsigned_abs())
            }
        }
    )*};
}
macro_rules! int_unsigned {
    ($($t:ty),*) => {$(
        impl Int for $t {
            fn split(self) -> (bool, u64) {
                (false, u64::from(self))
            }
        }
    )*};
}
int_signed!(i8, i16, i32, i64);
int_unsigned!(u8, u16, u32, u64);

impl Int for usize {
    fn split(self) -> (bool, u64) {
        // usize is at most 64 bits on every supported target.
        (false, self as u64)
    }
}

/// Appends `v` in decimal (what `Display` prints).
fn push_int(out: &mut String, v: impl Int) {
    let (neg, mut m) = v.split();
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if neg {
        out.push('-');
    }
    // Only ASCII digits were written: this never fails.
    if let Ok(t) = core::str::from_utf8(&buf[i..]) {
        out.push_str(t);
    }
}

/// Appends a host as its `Display` text, quoted (`"a.b.c.d:port"`); the text
/// never needs escaping.
fn push_host(out: &mut String, h: &Host) {
    out.push('"');
    match h {
        Host::V4 { addr, port } => {
            for (i, &b) in addr.iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_int(out, b);
            }
            out.push(':');
            push_int(out, *port);
        }
        v6 => {
            let _ = write!(out, "{v6}");
        }
    }
    out.push('"');
}

/// Appends the properties object: Java semantics (last duplicate wins),
/// keys in Java `String` order. Without allocating when every key and value
/// is UTF-8 and there are few pairs; otherwise through
/// [`properties::to_sorted_map`], which decodes lossily.
fn push_properties(out: &mut String, props: &[u8]) {
    const MAX: usize = 16;
    let mut kv: [(&str, &str); MAX] = [("", ""); MAX];
    let mut n = 0;
    let mut fast = true;
    for (k, v) in properties::pairs(props) {
        let (Ok(k), Ok(v)) = (core::str::from_utf8(k), core::str::from_utf8(v)) else {
            fast = false;
            break;
        };
        match kv[..n].iter_mut().find(|e| e.0 == k) {
            Some(e) => e.1 = v,
            None if n < MAX => {
                kv[n] = (k, v);
                n += 1;
            }
            None => {
                fast = false;
                break;
            }
        }
    }
    let mut po = Obj::new(out);
    if fast {
        // Keys are unique here: an unstable sort gives the same order.
        kv[..n].sort_unstable_by(|a, b| crate::java::compare_utf16(a.0, b.0));
        for (k, v) in &kv[..n] {
            po.str(k, v);
        }
    } else {
        for (k, v) in properties::to_sorted_map(props) {
            po.str(&k, &v);
        }
    }
    po.end();
}

struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }
    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str(self.out, k);
        self.out.push(':');
        self.out
    }
    fn num(&mut self, k: &str, v: impl Int) {
        let o = self.key(k);
        push_int(o, v);
    }
    fn str(&mut self, k: &str, v: &str) {
        let o = self.key(k);
        push_str(o, v);
    }
    fn hex(&mut self, k: &str, v: &[u8]) {
        let o = self.key(k);
        o.push('"');
        push_hex(o, v);
        o.push('"');
    }
    fn end(self) {
        self.out.push('}');
    }
}

/// Appends one message object (no newline). `physical_offset` is where the
/// record actually starts (for DLedger commitlog mode, entry pos + 48).
pub fn push_message(out: &mut String, m: &MessageView<'_>, physical_offset: u64) {
    out.reserve(m.body.len() * 2 + m.properties.len() * 2 + 640);
    let mut o = Obj::new(out);
    o.num("physicalOffset", physical_offset);
    o.num("totalSize", m.total_size);
    o.num("magic", m.magic);
    o.num("bodyCrc", m.body_crc);
    o.num("queueId", m.queue_id);
    o.num("flag", m.flag);
    o.num("queueOffset", m.queue_offset);
    o.num("physicalOffsetField", m.physical_offset);
    o.num("sysFlag", m.sys_flag.0);
    o.num("bornTimestamp", m.born_timestamp);
    push_host(o.key("bornHost"), &m.born_host);
    o.num("storeTimestamp", m.store_timestamp);
    push_host(o.key("storeHost"), &m.store_host);
    o.num("reconsumeTimes", m.reconsume_times);
    o.num("preparedTransactionOffset", m.prepared_transaction_offset);
    o.num("bodyLength", m.body.len());
    o.hex("body", m.body);
    o.str("topic", &m.topic_str());
    push_properties(o.key("properties"), m.properties);
    match core::str::from_utf8(m.properties) {
        Ok(s) => o.str("propertiesString", s),
        Err(_) => o.str("propertiesString", &properties::lossy(m.properties)),
    }
    {
        // The offset msgId (`message::msg_id`), written in place.
        let p = o.key("msgId");
        p.push('"');
        for &b in m.store_host.addr() {
            push_hex_upper(p, u64::from(b), 2);
        }
        push_hex_upper(p, u64::from(m.store_host.port() as u32), 8);
        push_hex_upper(p, m.physical_offset as u64, 16);
        p.push('"');
    }
    o.num("tagsCode", m.tags_code());
    o.end();
}

/// Appends one DLedger entry object (no newline).
pub fn push_entry(out: &mut String, e: &EntryView<'_>) {
    out.reserve(e.body.len() * 2 + 256);
    let mut o = Obj::new(out);
    o.num("index", e.index);
    o.num("term", e.term);
    o.num("pos", e.pos);
    o.num("size", e.size);
    o.num("magic", e.magic);
    o.num("channel", e.channel);
    o.num("chainCrc", e.chain_crc);
    o.num("bodyCrc", e.body_crc);
    o.num("bodyLength", e.body_len);
    o.hex("body", e.body);
    o.end();
}

/// Appends one consume-queue object (no newline).
pub fn push_cq_unit(out: &mut String, topic: &str, queue_id: i32, queue_offset: u64, u: &CqUnit) {
    let mut o = Obj::new(out);
    o.str("topic", topic);
    o.num("queueId", queue_id);
    o.num("queueOffset", queue_offset);
    o.num("physicalOffset", u.physical_offset);
    o.num("size", u.size);
    o.num("tagsCode", u.tags_code);
    o.end();
}

/// Appends one key-query result object (no newline); offsets are sorted here.
pub fn push_key_query(out: &mut String, topic: &str, key: &str, offsets: &[i64]) {
    let mut sorted = alloc::vec::Vec::from(offsets);
    sorted.sort_unstable();
    let mut o = Obj::new(out);
    o.str("topic", topic);
    o.str("key", key);
    let p = o.key("physicalOffsets");
    p.push('[');
    for (i, v) in sorted.iter().enumerate() {
        if i > 0 {
            p.push(',');
        }
        push_int(p, *v);
    }
    p.push(']');
    o.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        push_str(&mut s, "a\u{1}b\u{2}\"\\ключ");
        assert_eq!(s, "\"a\\u0001b\\u0002\\\"\\\\ключ\"");
    }

    /// The slow, obviously right renderings the fast paths replace.
    fn reference_str(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn every_control_character_and_mixed_text_escape_as_before() {
        let mut all = String::new();
        for c in 0u8..0x80 {
            all.push(c as char);
        }
        for s in [
            all.as_str(),
            "",
            "plain",
            "é\"ü\\\u{1f}中\n",
            "\u{7f}\u{80}",
        ] {
            let mut got = String::new();
            push_str(&mut got, s);
            assert_eq!(got, reference_str(s));
        }
    }

    #[test]
    fn hex_and_integers_match_core_fmt() {
        let bytes: alloc::vec::Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut got = String::new();
        push_hex(&mut got, &bytes);
        let mut want = String::new();
        for b in &bytes {
            let _ = write!(want, "{b:02x}");
        }
        assert_eq!(got, want);
        for v in [0i64, 1, -1, 9, 10, -10, i64::MIN, i64::MAX, 1234567890123] {
            let mut s = String::new();
            push_int(&mut s, v);
            assert_eq!(s, alloc::format!("{v}"));
        }
        for v in [0u64, u64::MAX, 42] {
            let mut s = String::new();
            push_int(&mut s, v);
            assert_eq!(s, alloc::format!("{v}"));
        }
        let mut s = String::new();
        push_int(&mut s, i32::MIN);
        assert_eq!(s, "-2147483648");
    }

    #[test]
    fn hosts_render_as_display() {
        for h in [
            Host::V4 {
                addr: [0, 10, 255, 1],
                port: 0,
            },
            Host::V4 {
                addr: [127, 0, 0, 1],
                port: -5,
            },
            Host::V6 {
                addr: [0xfe; 16],
                port: 10911,
            },
        ] {
            let mut s = String::new();
            push_host(&mut s, &h);
            assert_eq!(s, alloc::format!("\"{h}\""));
        }
    }

    #[test]
    fn properties_match_the_sorted_map() {
        let cases: [&[u8]; 6] = [
            b"",
            b"KEYS\x01k1 k2\x02TAGS\x01t\x02UNIQ_KEY\x01AB\x02",
            b"b\x011\x02a\x012\x02b\x013\x02",
            b"\xc3\xa9\x01x\x02Z\x01\xff\x02",
            b"noval\x02k\x01\x01v\x02",
            b"a\x011\x02b\x011\x02c\x011\x02d\x011\x02e\x011\x02f\x011\x02g\x011\x02h\x011\x02\
              i\x011\x02j\x011\x02k\x011\x02l\x011\x02m\x011\x02n\x011\x02o\x011\x02p\x011\x02q\x011\x02",
        ];
        for props in cases {
            let mut got = String::new();
            push_properties(&mut got, props);
            let mut want = String::new();
            let mut po = Obj::new(&mut want);
            for (k, v) in properties::to_sorted_map(props) {
                po.str(&k, &v);
            }
            po.end();
            assert_eq!(got, want, "{props:?}");
        }
    }
}
