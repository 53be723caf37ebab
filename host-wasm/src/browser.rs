//! The wasm-bindgen API used by the web page (`web-demo/`): a thin adapter over
//! [`rocketlog_core::stream`]. Everything format-related (detection, decoding,
//! roll rules, checks, JSON, field spans) happens in the core; this module
//! only moves bytes in, keeps the compact row table ([`table`]) and maps
//! errors to JS `Error`s with `kind` and `offset` properties.
//!
//! JS usage (in a Worker):
//!
//! ```js
//! const s = new Session(null /* or "commitlog" | "dledger" | "consumequeue" */, true);
//! for (const f of files) {            // in offset order
//!   s.beginFile(parseFileName(f.name), f.size, null, null);
//!   for (let p = 0; p < f.size; p += CHUNK)
//!     s.push(new Uint8Array(await f.slice(p, p + CHUNK).arrayBuffer()));
//!   s.endFile();
//! }
//! const summary = JSON.parse(s.finish());
//! const ids = s.filter("TopicA", null, "TagA", null, null, null, null);
//! ```
//!
//! Export and body search re-read the files through a [`Replay`] (same
//! options, so record ids line up), so the session never holds record bytes.

mod table;
#[cfg(all(test, target_arch = "wasm32"))]
mod tests;

use rocketlog_core::error::DecodeError;
use rocketlog_core::stream::{
    self, Decoder, Event, FileSpec, Format, Options, StreamError, Summary, View,
};
use wasm_bindgen::prelude::*;

use table::{Query, Table};

/// Installs the panic hook (runs when the module is instantiated).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// A JS `Error` with `kind` (a short stable name) and `offset` (absolute, or null).
fn js_error(kind: &str, offset: Option<u64>, msg: &str) -> JsValue {
    let e = js_sys::Error::new(msg);
    let _ = js_sys::Reflect::set(&e, &"kind".into(), &kind.into());
    let off = offset.map_or(JsValue::NULL, |o| JsValue::from_f64(o as f64));
    let _ = js_sys::Reflect::set(&e, &"offset".into(), &off);
    e.into()
}

fn stream_error(e: &StreamError) -> JsValue {
    js_error(e.kind.name(), Some(e.offset), &e.to_string())
}

fn decode_error(e: &DecodeError) -> JsValue {
    js_error("decode", Some(e.offset), &e.to_string())
}

fn parse_format(format: Option<String>) -> Result<Option<Format>, JsValue> {
    match format.as_deref() {
        None | Some("") | Some("auto") => Ok(None),
        Some(f) => Format::parse(f).map(Some).ok_or_else(|| {
            js_error(
                "bad-argument",
                None,
                &format!("unknown format {f:?} (use commitlog, dledger or consumequeue)"),
            )
        }),
    }
}

fn parse_view(view: &str) -> Result<View, JsValue> {
    match view {
        "messages" => Ok(View::Messages),
        "entries" => Ok(View::Entries),
        v => Err(js_error(
            "bad-argument",
            None,
            &format!("unknown view {v:?} (use messages or entries)"),
        )),
    }
}

fn options(format: Option<Format>, verify_crc: Option<bool>) -> Options {
    Options {
        format,
        verify_crc: verify_crc.unwrap_or(true),
        ..Options::default()
    }
}

/// JS numbers hold integers up to 2^53 exactly; offsets and sizes of real
/// stores are far below.
fn to_u64(v: f64, what: &str) -> Result<u64, JsValue> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(js_error(
            "bad-argument",
            None,
            &format!("{what} must be a non-negative integer, got {v}"),
        ))
    }
}

fn file_spec(
    base: f64,
    size: f64,
    topic: Option<String>,
    queue_id: Option<i32>,
) -> Result<FileSpec, JsValue> {
    Ok(FileSpec {
        base: to_u64(base, "base offset")?,
        size: to_u64(size, "file size")?,
        queue: topic.map(|t| (t, queue_id.unwrap_or(-1))),
    })
}

/// The base offset from a 20-digit file name, or `undefined`.
#[wasm_bindgen(js_name = parseFileName)]
pub fn parse_file_name(name: &str) -> Option<f64> {
    rocketlog_core::layout::parse_file_name(name).map(|v| v as f64)
}

/// What a file's first bytes look like: `commitlog`, `dledger`,
/// `consumequeue`, `empty` or `unknown`.
#[wasm_bindgen(js_name = detectFormat)]
pub fn detect_format(head: &[u8]) -> String {
    match stream::detect(head) {
        stream::Detected::Format(f) => f.name().into(),
        stream::Detected::Empty => "empty".into(),
        stream::Detected::Unknown => "unknown".into(),
    }
}

/// The crate version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").into()
}

/// A decoding session over one log: feed files in offset order, chunk by
/// chunk; then query the summary and the record table.
#[wasm_bindgen]
pub struct Session {
    dec: Option<Decoder>,
    summary: Option<Summary>,
    table: Table,
    forced: Option<Format>,
    verify_crc: bool,
    /// (base, queue label) of each file, in session order.
    files: Vec<(u64, Option<(String, i32)>)>,
}

#[wasm_bindgen]
impl Session {
    /// `format`: `null`/`"auto"` to detect, or `commitlog`, `dledger`,
    /// `consumequeue`. `verifyCrc` (default true): check CRCs as recovery does.
    #[wasm_bindgen(constructor)]
    pub fn new(format: Option<String>, verify_crc: Option<bool>) -> Result<Self, JsValue> {
        let forced = parse_format(format)?;
        let verify_crc = verify_crc.unwrap_or(true);
        Ok(Self {
            dec: Some(Decoder::new(options(forced, Some(verify_crc)))),
            summary: None,
            table: Table::new(),
            forced,
            verify_crc,
            files: Vec::new(),
        })
    }

    fn decoder(&mut self) -> Result<&mut Decoder, JsValue> {
        self.dec
            .as_mut()
            .ok_or_else(|| js_error("finished", None, "the session is finished"))
    }

    /// Starts the next file: its base offset (from the 20-digit name), size,
    /// and for consume-queue files the topic and queue id.
    #[wasm_bindgen(js_name = beginFile)]
    pub fn begin_file(
        &mut self,
        base: f64,
        size: f64,
        topic: Option<String>,
        queue_id: Option<i32>,
    ) -> Result<(), JsValue> {
        let spec = file_spec(base, size, topic, queue_id)?;
        self.files.push((spec.base, spec.queue.clone()));
        self.decoder()?
            .begin_file(spec)
            .map_err(|e| stream_error(&e))
    }

    /// Feeds the next chunk of the current file.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        let Self { dec, table, .. } = self;
        let dec = dec
            .as_mut()
            .ok_or_else(|| js_error("finished", None, "the session is finished"))?;
        dec.push(chunk, &mut |e: Event<'_>| {
            if let Event::Record(r) = e {
                table.push(&r.row(), r.file, r.beyond_recovery);
            }
        })
        .map_err(|e| stream_error(&e))
    }

    /// Ends the current file.
    #[wasm_bindgen(js_name = endFile)]
    pub fn end_file(&mut self) -> Result<(), JsValue> {
        let Self { dec, table, .. } = self;
        let dec = dec
            .as_mut()
            .ok_or_else(|| js_error("finished", None, "the session is finished"))?;
        dec.end_file(&mut |e: Event<'_>| {
            if let Event::Record(r) = e {
                table.push(&r.row(), r.file, r.beyond_recovery);
            }
        })
        .map_err(|e| stream_error(&e))
    }

    /// Ends the session; returns the summary as JSON (see
    /// `rocketlog_core::stream::Summary::to_json`).
    pub fn finish(&mut self) -> String {
        if let Some(d) = self.dec.take() {
            self.summary = Some(d.finish());
        }
        self.summary_json()
    }

    /// The summary so far (or the final one) as JSON.
    #[wasm_bindgen(js_name = summaryJson)]
    pub fn summary_json(&self) -> String {
        match (&self.summary, &self.dec) {
            (Some(s), _) => s.to_json(),
            (None, Some(d)) => d.summary().to_json(),
            (None, None) => Summary::default().to_json(),
        }
    }

    /// Records decoded so far.
    #[wasm_bindgen(js_name = recordCount)]
    pub fn record_count(&self) -> f64 {
        self.table.len() as f64
    }

    /// The detected (or forced) format name, once known.
    pub fn format(&self) -> Option<String> {
        let f = match (&self.summary, &self.dec) {
            (Some(s), _) => s.format,
            (None, Some(d)) => d.format(),
            _ => None,
        };
        f.or(self.forced).map(|f| f.name().into())
    }

    /// Whether CRCs are verified (replays must use the same setting).
    #[wasm_bindgen(getter, js_name = verifyCrc)]
    pub fn verify_crc(&self) -> bool {
        self.verify_crc
    }

    /// Row ids matching every given filter (null = any): exact topic, queue
    /// id, exact tag, a key (one of the space-separated KEYS, or UNIQ_KEY),
    /// store-timestamp range (ms, inclusive), and optionally restricted to
    /// `only` (e.g. the hits of a body search).
    #[allow(clippy::too_many_arguments)]
    pub fn filter(
        &self,
        topic: Option<String>,
        queue_id: Option<i32>,
        tag: Option<String>,
        key: Option<String>,
        from_ts: Option<f64>,
        to_ts: Option<f64>,
        only: Option<Vec<u32>>,
    ) -> Vec<u32> {
        let q = Query {
            topic: topic.filter(|s| !s.is_empty()),
            queue_id,
            tag: tag.filter(|s| !s.is_empty()),
            key: key.filter(|s| !s.is_empty()),
            from_ts: from_ts.map(|v| v as i64),
            to_ts: to_ts.map(|v| v as i64),
        };
        self.table.filter(&q, only.as_deref())
    }

    /// `ids` sorted by `column` (`offset`, `size`, `topic`, `tags`, `queueId`,
    /// `queueOffset`, `storeTimestamp`, `bodyLength`, `index`, `term`).
    pub fn sort(&self, mut ids: Vec<u32>, column: &str, desc: bool) -> Result<Vec<u32>, JsValue> {
        if self.table.sort(&mut ids, column, desc) {
            Ok(ids)
        } else {
            Err(js_error(
                "bad-argument",
                None,
                &format!("cannot sort by {column:?}"),
            ))
        }
    }

    /// The rows `ids` as a JSON array of objects.
    #[wasm_bindgen(js_name = rowsJson)]
    pub fn rows_json(&self, ids: &[u32]) -> String {
        self.table.rows_json(ids)
    }

    /// Where record `id` lies: `[fileIndex, positionInFile, size, absoluteOffset]`.
    pub fn locate(&self, id: u32) -> Option<Vec<f64>> {
        let i = id as usize;
        let off = *self.table.offset.get(i)?;
        let file = self.table.file[i];
        let base = self.files.get(file as usize)?.0;
        Some(vec![
            f64::from(file),
            (off - base) as f64,
            f64::from(self.table.size[i]),
            off as f64,
        ])
    }

    /// Decodes record `id` from its bytes (read with [`Self::locate`]) and
    /// returns `{"json": <dump line or null>, "spans": [{name, group, offset,
    /// len, value}]}`.
    pub fn inspect(&self, id: u32, bytes: &[u8], view: &str) -> Result<String, JsValue> {
        let view = parse_view(view)?;
        let i = id as usize;
        let (Some(&off), Some(format)) = (
            self.table.offset.get(i),
            self.format().and_then(|f| Format::parse(&f)),
        ) else {
            return Err(js_error("bad-argument", None, &format!("no record {id}")));
        };
        let queue = self
            .files
            .get(self.table.file[i] as usize)
            .and_then(|f| f.1.as_ref())
            .map(|(t, q)| (t.as_str(), *q));
        let mut line = String::new();
        let has = stream::render_json(format, view, bytes, off, queue, &mut line)
            .map_err(|e| decode_error(&e))?;
        let spans = stream::field_spans(format, bytes, off).map_err(|e| decode_error(&e))?;
        let mut o = String::from("{\"json\":");
        if has {
            rocketlog_core::json::push_str(&mut o, &line);
        } else {
            o.push_str("null");
        }
        o.push_str(",\"spans\":[");
        for (n, s) in spans.iter().enumerate() {
            if n > 0 {
                o.push(',');
            }
            o.push_str("{\"name\":");
            rocketlog_core::json::push_str(&mut o, s.name);
            o.push_str(",\"group\":");
            rocketlog_core::json::push_str(&mut o, s.group);
            o.push_str(&format!(
                ",\"offset\":{},\"len\":{},\"value\":",
                s.offset, s.len
            ));
            rocketlog_core::json::push_str(&mut o, &s.value);
            o.push('}');
        }
        o.push_str("]}");
        Ok(o)
    }

    /// Record sizes in row order (for the size histogram).
    pub fn sizes(&self) -> Vec<u32> {
        self.table.size.clone()
    }

    /// Store timestamps (ms; 0 when not a message) in row order.
    #[wasm_bindgen(js_name = storeTimestamps)]
    pub fn store_timestamps(&self) -> Vec<f64> {
        self.table.store_ts.iter().map(|&t| t as f64).collect()
    }

    /// Absolute offsets in row order.
    pub fn offsets(&self) -> Vec<f64> {
        self.table.offset.iter().map(|&t| t as f64).collect()
    }

    /// File index of each row.
    #[wasm_bindgen(js_name = fileIndexes)]
    pub fn file_indexes(&self) -> Vec<u32> {
        self.table.file.clone()
    }

    /// Topic id of each row (names: [`Self::topic_names`]).
    #[wasm_bindgen(js_name = topicIds)]
    pub fn topic_ids(&self) -> Vec<u32> {
        self.table.topic.clone()
    }

    /// Topic names by id, as a JSON array.
    #[wasm_bindgen(js_name = topicNames)]
    pub fn topic_names(&self) -> String {
        self.table.topic_names_json()
    }

    /// Approximate bytes held by the row table.
    #[wasm_bindgen(js_name = tableBytes)]
    pub fn table_bytes(&self) -> f64 {
        self.table.heap_bytes() as f64
    }
}

enum ReplayKind {
    /// Render the selected rows (sorted ids) as JSON lines.
    Export { view: View, ids: Option<Vec<u32>> },
    /// Collect ids whose payload contains the needle.
    Search { needle: Vec<u8>, hits: Vec<u32> },
}

/// A second pass over the same files (same format and CRC setting as the
/// session, so record ids line up): JSONL export of selected rows, or a
/// body-text search. Memory stays bounded: export output is taken chunk by chunk.
#[wasm_bindgen]
pub struct Replay {
    dec: Decoder,
    kind: ReplayKind,
    out: String,
}

#[wasm_bindgen]
impl Replay {
    /// An export of rows `ids` (null = all) in `view` (`messages` or `entries`).
    pub fn exporter(
        format: Option<String>,
        verify_crc: Option<bool>,
        view: &str,
        ids: Option<Vec<u32>>,
    ) -> Result<Self, JsValue> {
        let view = parse_view(view)?;
        let ids = ids.map(|mut v| {
            v.sort_unstable();
            v
        });
        Ok(Self {
            dec: Decoder::new(options(parse_format(format)?, verify_crc)),
            kind: ReplayKind::Export { view, ids },
            out: String::new(),
        })
    }

    /// A search for records whose body contains `needle` (UTF-8 bytes).
    #[wasm_bindgen(js_name = bodySearch)]
    pub fn body_search(
        format: Option<String>,
        verify_crc: Option<bool>,
        needle: &str,
    ) -> Result<Self, JsValue> {
        Ok(Self {
            dec: Decoder::new(options(parse_format(format)?, verify_crc)),
            kind: ReplayKind::Search {
                needle: needle.as_bytes().to_vec(),
                hits: Vec::new(),
            },
            out: String::new(),
        })
    }

    /// As [`Session::begin_file`].
    #[wasm_bindgen(js_name = beginFile)]
    pub fn begin_file(
        &mut self,
        base: f64,
        size: f64,
        topic: Option<String>,
        queue_id: Option<i32>,
    ) -> Result<(), JsValue> {
        let spec = file_spec(base, size, topic, queue_id)?;
        self.dec.begin_file(spec).map_err(|e| stream_error(&e))
    }

    fn on_event(kind: &mut ReplayKind, out: &mut String, e: Event<'_>) {
        let Event::Record(r) = e else {
            return;
        };
        match kind {
            ReplayKind::Export { view, ids } => {
                let seq = r.seq as u32;
                let selected = ids.as_ref().is_none_or(|v| v.binary_search(&seq).is_ok());
                if selected && r.write_json(*view, out) {
                    out.push('\n');
                }
            }
            ReplayKind::Search { needle, hits } => {
                let body = r.payload();
                if needle.is_empty() || body.windows(needle.len()).any(|w| w == needle.as_slice()) {
                    hits.push(r.seq as u32);
                }
            }
        }
    }

    /// Feeds a chunk; returns the export text produced so far (and forgets it).
    pub fn push(&mut self, chunk: &[u8]) -> Result<String, JsValue> {
        let Self { dec, kind, out } = self;
        dec.push(chunk, &mut |e: Event<'_>| Self::on_event(kind, out, e))
            .map_err(|e| stream_error(&e))?;
        Ok(std::mem::take(out))
    }

    /// Ends the current file; returns any remaining export text.
    #[wasm_bindgen(js_name = endFile)]
    pub fn end_file(&mut self) -> Result<String, JsValue> {
        let Self { dec, kind, out } = self;
        dec.end_file(&mut |e: Event<'_>| Self::on_event(kind, out, e))
            .map_err(|e| stream_error(&e))?;
        Ok(std::mem::take(out))
    }

    /// Search hits (row ids, ascending).
    pub fn hits(&self) -> Vec<u32> {
        match &self.kind {
            ReplayKind::Search { hits, .. } => hits.clone(),
            ReplayKind::Export { .. } => Vec::new(),
        }
    }
}
