//! The JSON-lines schema of `rocketlog dump --format jsonl` (the objects of the
//! fixtures' `expected*.jsonl`), rendered by hand so every host (CLI, browser,
//! plugin) prints identical bytes.

use alloc::string::String;
use core::fmt::Write;

use crate::codec::consume_queue::CqUnit;
use crate::codec::dledger::EntryView;
use crate::codec::message::MessageView;
use crate::codec::properties;

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
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
}

/// Appends bytes as lower-case hex.
pub fn push_hex(out: &mut String, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() * 2);
    for &x in b {
        out.push(HEX[(x >> 4) as usize] as char);
        out.push(HEX[(x & 15) as usize] as char);
    }
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
    fn num(&mut self, k: &str, v: impl core::fmt::Display) {
        let o = self.key(k);
        let _ = write!(o, "{v}");
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
    o.str("bornHost", &alloc::format!("{}", m.born_host));
    o.num("storeTimestamp", m.store_timestamp);
    o.str("storeHost", &alloc::format!("{}", m.store_host));
    o.num("reconsumeTimes", m.reconsume_times);
    o.num("preparedTransactionOffset", m.prepared_transaction_offset);
    o.num("bodyLength", m.body.len());
    o.hex("body", m.body);
    o.str("topic", &m.topic_str());
    {
        let p = o.key("properties");
        let mut po = Obj::new(p);
        for (k, v) in properties::to_sorted_map(m.properties) {
            po.str(&k, &v);
        }
        po.end();
    }
    o.str("propertiesString", &properties::lossy(m.properties));
    o.str("msgId", &m.msg_id());
    o.num("tagsCode", m.tags_code());
    o.end();
}

/// Appends one DLedger entry object (no newline).
pub fn push_entry(out: &mut String, e: &EntryView<'_>) {
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
        let _ = write!(p, "{v}");
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
}
