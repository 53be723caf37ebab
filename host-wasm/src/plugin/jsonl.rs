//! JSON lines: records exactly as `rocketlog dump --format jsonl` prints them
//! (`rocketlog_core::json`), and the plugin's own error and summary objects.

use core::fmt::Write;
use std::string::String;

use rocketlog_core::json;

use super::error::PluginError;
use super::session::{Item, Sink, Summary};

/// Output bytes reserved per input byte of a record before rendering it: the
/// body doubles as hex, and topic and properties text can grow six-fold as
/// `\u00XX` escapes (properties appear twice, as map and as string).
pub const BYTES_PER_INPUT_BYTE: usize = 12;
/// Output bytes reserved per record on top of that (field names, numbers, ids).
pub const BYTES_PER_RECORD: usize = 1024;

/// Collects dump lines (messages and entries; blanks are not dumped).
#[derive(Debug, Default)]
pub struct JsonSink {
    /// The lines, each ending in `\n`.
    pub out: String,
}

impl Sink for JsonSink {
    fn item(&mut self, item: &Item<'_>) -> Result<(), PluginError> {
        let raw = match item {
            Item::Message { message, .. } => message.raw.len(),
            Item::Entry { entry, .. } => entry.raw.len(),
            Item::Unit { .. } => 20,
            Item::Blank { .. } => return Ok(()),
        };
        // Reserve up front (fallibly) so that rendering does not grow the string.
        let want = raw
            .saturating_mul(BYTES_PER_INPUT_BYTE)
            .saturating_add(BYTES_PER_RECORD);
        self.out
            .try_reserve(want)
            .map_err(|_| PluginError::OutOfMemory {
                requested: want as u64,
            })?;
        match item {
            Item::Message {
                offset, message, ..
            } => json::push_message(&mut self.out, message, *offset),
            Item::Entry { entry, .. } => json::push_entry(&mut self.out, entry),
            // Topic and queue id are not known from the bytes alone.
            Item::Unit {
                queue_offset, unit, ..
            } => json::push_cq_unit(&mut self.out, "", -1, *queue_offset, unit),
            Item::Blank { .. } => {}
        }
        self.out.push('\n');
        Ok(())
    }
}

/// `{"error":{"code":..,"message":..,"file":..,"offset":..}}` (no newline).
pub fn push_error(out: &mut String, e: &PluginError) {
    out.push_str("{\"error\":{\"code\":");
    json::push_str(out, e.code());
    out.push_str(",\"message\":");
    json::push_str(out, &e.to_string());
    if let Some(f) = e.file() {
        let _ = write!(out, ",\"file\":{f}");
    }
    if let Some(o) = e.offset() {
        let _ = write!(out, ",\"offset\":{o}");
    }
    out.push_str("}}");
}

/// `{"summary":{...}}` (no newline): the core decoder's summary object.
pub fn push_summary(out: &mut String, s: &Summary) {
    out.push_str("{\"summary\":");
    out.push_str(&s.to_json());
    out.push('}');
}
