//! The JSON-lines input of `rocketlog append`: one record per line in the
//! `dump --format jsonl` schema (messages, or DLedger entries), checked field
//! by field. Every error names the line number and the field.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use rocketlog_core::codec::message::{Host, MessageParts};
use serde_json::{Map, Value};

/// Longest line accepted (a 4 MiB body is 8 MiB of hex, plus the rest).
pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

/// Bad input: which line, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputError {
    /// 1-based line number on stdin.
    pub(crate) line: u64,
    /// The field (`None`: the line as a whole).
    pub(crate) field: Option<&'static str>,
    /// What is wrong.
    pub(crate) why: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "stdin line {}: field `{field}`: {}", self.line, self.why),
            None => write!(f, "stdin line {}: {}", self.line, self.why),
        }
    }
}

impl std::error::Error for InputError {}

/// A message read from a line. Broker-assigned fields are `None` when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageIn {
    pub(crate) line: u64,
    pub(crate) topic: String,
    pub(crate) queue_id: i32,
    pub(crate) flag: i32,
    pub(crate) body: Vec<u8>,
    /// The stored properties text (`key\u0001value\u0002...`).
    pub(crate) properties: Vec<u8>,
    pub(crate) sys_flag: i32,
    pub(crate) born_timestamp: Option<i64>,
    pub(crate) born_host: Option<Host>,
    pub(crate) reconsume_times: i32,
    pub(crate) prepared_transaction_offset: i64,
    // Assigned by the broker; kept only by `--replay`.
    pub(crate) magic: Option<i32>,
    pub(crate) body_crc: Option<i32>,
    pub(crate) queue_offset: Option<i64>,
    pub(crate) physical_offset: Option<i64>,
    pub(crate) store_timestamp: Option<i64>,
    pub(crate) store_host: Option<Host>,
}

/// A DLedger entry read from a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryIn {
    pub(crate) line: u64,
    pub(crate) body: Vec<u8>,
    // Assigned by the leader; kept only by `--replay`.
    pub(crate) index: Option<i64>,
    pub(crate) term: Option<i64>,
    pub(crate) pos: Option<i64>,
    pub(crate) magic: Option<i32>,
    pub(crate) channel: Option<i32>,
    pub(crate) chain_crc: Option<i32>,
    pub(crate) body_crc: Option<i32>,
}

/// One input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordIn {
    Message(Box<MessageIn>),
    Entry(EntryIn),
}

impl MessageIn {
    /// The record exactly as described (`--replay`): every broker field must be present.
    pub(crate) fn replay_parts(&self) -> Result<MessageParts<'_>, InputError> {
        let need = |field: &'static str| InputError {
            line: self.line,
            field: Some(field),
            why: "missing (required with --replay)".into(),
        };
        Ok(MessageParts {
            v2: Some(
                self.magic.ok_or_else(|| need("magic"))?
                    == rocketlog_core::codec::message::MAGIC_V2,
            ),
            body_crc: Some(self.body_crc.ok_or_else(|| need("bodyCrc"))?),
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset.ok_or_else(|| need("queueOffset"))?,
            physical_offset: self
                .physical_offset
                .ok_or_else(|| need("physicalOffsetField"))?,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp.ok_or_else(|| need("bornTimestamp"))?,
            born_host: self.born_host.ok_or_else(|| need("bornHost"))?,
            store_timestamp: self.store_timestamp.ok_or_else(|| need("storeTimestamp"))?,
            store_host: self.store_host.ok_or_else(|| need("storeHost"))?,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: &self.body,
            topic: self.topic.as_bytes(),
            properties: &self.properties,
            append_prop_crc: false,
        })
    }
}

/// Reads lines, counting them; blank lines are skipped.
pub(crate) struct Lines<R: Read> {
    input: BufReader<R>,
    line: u64,
    buf: Vec<u8>,
}

impl<R: Read> Lines<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input: BufReader::with_capacity(1 << 16, input),
            line: 0,
            buf: Vec::new(),
        }
    }

    /// True when no more input is buffered (the next read may block): the
    /// moment to make pending records durable and acknowledge them.
    pub(crate) fn would_block(&self) -> bool {
        self.input.buffer().is_empty()
    }

    /// The next non-blank line (number, text); `None` at the end of input.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, String)>, InputError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let n = read_limited(&mut self.input, &mut self.buf).map_err(|why| InputError {
                line: self.line,
                field: None,
                why,
            })?;
            if n == 0 {
                return Ok(None);
            }
            let text = std::str::from_utf8(&self.buf).map_err(|e| InputError {
                line: self.line,
                field: None,
                why: format!("not UTF-8 (byte {})", e.valid_up_to()),
            })?;
            let t = text.trim();
            if !t.is_empty() {
                return Ok(Some((self.line, t.to_owned())));
            }
        }
    }
}

/// Reads one line (without its newline) of at most [`MAX_LINE`] bytes.
fn read_limited<R: BufRead>(r: &mut R, out: &mut Vec<u8>) -> Result<usize, String> {
    let mut total = 0;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read error: {e}")),
        };
        if avail.is_empty() {
            return Ok(total);
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if out.len() + take > MAX_LINE + 1 {
            return Err(format!("line longer than {MAX_LINE} bytes"));
        }
        let keep = if done { take - 1 } else { take };
        out.extend_from_slice(&avail[..keep]);
        r.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

struct Fields<'a> {
    line: u64,
    obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn err(&self, field: &'static str, why: impl Into<String>) -> InputError {
        InputError {
            line: self.line,
            field: Some(field),
            why: why.into(),
        }
    }

    fn int(&self, field: &'static str, min: i64, max: i64) -> Result<Option<i64>, InputError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(self.err(field, format!("{n} is out of range [{min}, {max}]"))),
            },
            Some(other) => Err(self.err(field, format!("expected an integer, got {other}"))),
        }
    }

    fn i32(&self, field: &'static str, min: i32) -> Result<Option<i32>, InputError> {
        Ok(self
            .int(field, i64::from(min), i64::from(i32::MAX))?
            .map(|v| v as i32))
    }

    fn i32_any(&self, field: &'static str) -> Result<Option<i32>, InputError> {
        self.i32(field, i32::MIN)
    }

    fn str(&self, field: &'static str) -> Result<Option<&str>, InputError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(field, format!("expected a string, got {other}"))),
        }
    }

    fn host(&self, field: &'static str) -> Result<Option<Host>, InputError> {
        match self.str(field)? {
            None => Ok(None),
            Some(s) => Host::parse(s)
                .map(Some)
                .ok_or_else(|| self.err(field, format!("{s:?} is not ADDRESS:PORT"))),
        }
    }

    fn hex(&self, field: &'static str) -> Result<Option<Vec<u8>>, InputError> {
        let Some(s) = self.str(field)? else {
            return Ok(None);
        };
        let b = s.as_bytes();
        if b.len() % 2 != 0 {
            return Err(self.err(field, "hex text of odd length"));
        }
        let nib = |c: u8, at: usize| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(self.err(field, format!("not hex at character {at}"))),
        };
        let mut out = Vec::with_capacity(b.len() / 2);
        for (i, p) in b.chunks_exact(2).enumerate() {
            out.push(nib(p[0], 2 * i)? << 4 | nib(p[1], 2 * i + 1)?);
        }
        Ok(Some(out))
    }

    /// `body` (hex) or `bodyText` (UTF-8); checked against `bodyLength` when given.
    fn body(&self) -> Result<Vec<u8>, InputError> {
        let body = match (self.hex("body")?, self.str("bodyText")?) {
            (Some(_), Some(_)) => return Err(self.err("bodyText", "give either body or bodyText")),
            (Some(b), None) => b,
            (None, Some(t)) => t.as_bytes().to_vec(),
            (None, None) => return Err(self.err("body", "missing (hex; or bodyText)")),
        };
        if let Some(n) = self.int("bodyLength", 0, i64::from(i32::MAX))?
            && n as usize != body.len()
        {
            return Err(self.err(
                "bodyLength",
                format!("{n}, but the body has {} bytes", body.len()),
            ));
        }
        Ok(body)
    }

    fn properties(&self) -> Result<Vec<u8>, InputError> {
        if let Some(s) = self.str("propertiesString")? {
            return Ok(s.as_bytes().to_vec());
        }
        match self.obj.get("properties") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(m)) => {
                let mut out = String::new();
                for (k, v) in m {
                    let Value::String(v) = v else {
                        return Err(
                            self.err("properties", format!("value of {k:?} is not a string"))
                        );
                    };
                    if k.is_empty()
                        || k.contains(['\u{1}', '\u{2}'])
                        || v.contains(['\u{1}', '\u{2}'])
                    {
                        return Err(self.err(
                            "properties",
                            format!("{k:?}: keys must be non-empty; no \\u0001 or \\u0002 in keys or values"),
                        ));
                    }
                    out.push_str(k);
                    out.push('\u{1}');
                    out.push_str(v);
                    out.push('\u{2}');
                }
                Ok(out.into_bytes())
            }
            Some(other) => Err(self.err("properties", format!("expected an object, got {other}"))),
        }
    }
}

/// Parses one line as a message (`want_entry` false) or an entry.
pub(crate) fn parse(line: u64, text: &str, want_entry: bool) -> Result<RecordIn, InputError> {
    let v: Value = serde_json::from_str(text).map_err(|e| InputError {
        line,
        field: None,
        why: format!("malformed JSON at column {}: {e}", e.column()),
    })?;
    let Value::Object(obj) = &v else {
        return Err(InputError {
            line,
            field: None,
            why: "expected a JSON object".into(),
        });
    };
    let f = Fields { line, obj };
    if want_entry {
        return Ok(RecordIn::Entry(EntryIn {
            line,
            body: f.body()?,
            index: f.int("index", 0, i64::MAX)?,
            term: f.int("term", 0, i64::MAX)?,
            pos: f.int("pos", 0, i64::MAX)?,
            magic: f.i32_any("magic")?,
            channel: f.i32_any("channel")?,
            chain_crc: f.i32_any("chainCrc")?,
            body_crc: f.i32_any("bodyCrc")?,
        }));
    }
    let topic = f
        .str("topic")?
        .ok_or_else(|| f.err("topic", "missing"))?
        .to_owned();
    if topic.is_empty() || topic.len() > i16::MAX as usize {
        return Err(f.err(
            "topic",
            format!("length {} is out of range [1, 32767]", topic.len()),
        ));
    }
    let properties = f.properties()?;
    if properties.len() > i16::MAX as usize {
        return Err(f.err(
            "propertiesString",
            format!("{} bytes, more than 32767", properties.len()),
        ));
    }
    Ok(RecordIn::Message(Box::new(MessageIn {
        line,
        queue_id: f.i32("queueId", 0)?.unwrap_or(0),
        flag: f.i32_any("flag")?.unwrap_or(0),
        body: f.body()?,
        properties,
        sys_flag: f.i32_any("sysFlag")?.unwrap_or(0),
        born_timestamp: f.int("bornTimestamp", 0, i64::MAX)?,
        born_host: f.host("bornHost")?,
        reconsume_times: f.i32("reconsumeTimes", 0)?.unwrap_or(0),
        prepared_transaction_offset: f
            .int("preparedTransactionOffset", i64::MIN, i64::MAX)?
            .unwrap_or(0),
        magic: f.i32_any("magic")?,
        body_crc: f.i32_any("bodyCrc")?,
        queue_offset: f.int("queueOffset", 0, i64::MAX)?,
        physical_offset: match f.int("physicalOffsetField", 0, i64::MAX)? {
            Some(v) => Some(v),
            None => f.int("physicalOffset", 0, i64::MAX)?,
        },
        store_timestamp: f.int("storeTimestamp", 0, i64::MAX)?,
        store_host: f.host("storeHost")?,
        topic,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_line_and_field() {
        let e = parse(7, r#"{"topic":"T","body":"zz"}"#, false).unwrap_err();
        assert_eq!((e.line, e.field), (7, Some("body")));
        let e = parse(3, r#"{"body":""}"#, false).unwrap_err();
        assert_eq!(e.to_string(), "stdin line 3: field `topic`: missing");
        let e = parse(4, r#"{"topic":"T","body":"","queueId":-1}"#, false).unwrap_err();
        assert_eq!(e.field, Some("queueId"));
        let e = parse(5, r#"{"topic":"T","body":"","queueId":4294967296}"#, false).unwrap_err();
        assert_eq!(e.field, Some("queueId"));
        let e = parse(6, "{not json", false).unwrap_err();
        assert_eq!((e.line, e.field), (6, None));
        let e = parse(8, r#"{"topic":"T","body":"00","bodyLength":2}"#, false).unwrap_err();
        assert_eq!(e.field, Some("bodyLength"));
        let e = parse(
            9,
            r#"{"topic":"T","bodyText":"x","bornHost":"nohost"}"#,
            false,
        )
        .unwrap_err();
        assert_eq!(e.field, Some("bornHost"));
    }

    #[test]
    fn defaults_and_properties() {
        let RecordIn::Message(m) = parse(
            1,
            r#"{"topic":"T","bodyText":"hi","properties":{"KEYS":"k1","TAGS":"a"}}"#,
            false,
        )
        .unwrap() else {
            panic!("a message")
        };
        assert_eq!(m.body, b"hi");
        assert_eq!(m.properties, b"KEYS\x01k1\x02TAGS\x01a\x02");
        assert_eq!((m.queue_id, m.sys_flag, m.queue_offset), (0, 0, None));
    }
}
