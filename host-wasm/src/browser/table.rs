//! The record table behind the page: one compact, columnar row per record
//! (from [`rocketlog_core::stream::Row`]), with interned topics and tags, so
//! 100,000+ rows stay small and filter/sort quickly. No format logic here:
//! every field comes from the core's row summary.

use std::collections::HashMap;
use std::fmt::Write;

use rocketlog_core::json::push_str;
use rocketlog_core::stream::{Row, split_keys};

/// Row flags.
pub const HAS_MESSAGE: u8 = 1;
/// The record lies past where a sequential recovery ends.
pub const BEYOND_RECOVERY: u8 = 2;

/// Interned byte strings; id 0 is the empty string.
#[derive(Debug)]
struct Interner {
    ids: HashMap<Vec<u8>, u32>,
    names: Vec<Vec<u8>>,
}

impl Interner {
    fn new() -> Self {
        let mut ids = HashMap::new();
        ids.insert(Vec::new(), 0);
        Self {
            ids,
            names: vec![Vec::new()],
        }
    }
    fn id(&mut self, s: &[u8]) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.ids.insert(s.to_vec(), i);
        self.names.push(s.to_vec());
        i
    }
    fn find(&self, s: &[u8]) -> Option<u32> {
        self.ids.get(s).copied()
    }
    fn name(&self, i: u32) -> &[u8] {
        self.names.get(i as usize).map_or(&[], Vec::as_slice)
    }
}

/// Columns, one entry per record in decode order (row id = record seq).
#[derive(Debug)]
pub struct Table {
    pub offset: Vec<u64>,
    pub size: Vec<u32>,
    pub file: Vec<u32>,
    pub flags: Vec<u8>,
    pub topic: Vec<u32>,
    pub queue_id: Vec<i32>,
    pub queue_offset: Vec<i64>,
    pub store_ts: Vec<i64>,
    pub tags: Vec<u32>,
    /// Range into `keys` of "KEYS\0UNIQ_KEY".
    keys_at: Vec<(u32, u32)>,
    keys: Vec<u8>,
    pub body_len: Vec<u32>,
    pub index: Vec<i64>,
    pub term: Vec<i64>,
    topics: Interner,
    tag_names: Interner,
}

/// A filter over the table; `None` fields match everything.
#[derive(Debug, Default)]
pub struct Query {
    pub topic: Option<String>,
    pub queue_id: Option<i32>,
    pub tag: Option<String>,
    pub key: Option<String>,
    pub from_ts: Option<i64>,
    pub to_ts: Option<i64>,
}

impl Table {
    pub fn new() -> Self {
        Self {
            offset: Vec::new(),
            size: Vec::new(),
            file: Vec::new(),
            flags: Vec::new(),
            topic: Vec::new(),
            queue_id: Vec::new(),
            queue_offset: Vec::new(),
            store_ts: Vec::new(),
            tags: Vec::new(),
            keys_at: Vec::new(),
            keys: Vec::new(),
            body_len: Vec::new(),
            index: Vec::new(),
            term: Vec::new(),
            topics: Interner::new(),
            tag_names: Interner::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.offset.len()
    }

    pub fn push(&mut self, r: &Row<'_>, file: u32, beyond: bool) {
        self.offset.push(r.offset);
        self.size.push(r.size);
        self.file.push(file);
        self.flags.push(
            if r.has_message { HAS_MESSAGE } else { 0 } | if beyond { BEYOND_RECOVERY } else { 0 },
        );
        let t = self.topics.id(r.topic);
        self.topic.push(t);
        self.queue_id.push(r.queue_id);
        self.queue_offset.push(r.queue_offset);
        self.store_ts.push(r.store_timestamp);
        let g = self.tag_names.id(r.tags);
        self.tags.push(g);
        let start = self.keys.len() as u32;
        if !r.keys.is_empty() || !r.uniq_key.is_empty() {
            self.keys.extend_from_slice(r.keys);
            self.keys.push(0);
            self.keys.extend_from_slice(r.uniq_key);
        }
        self.keys_at.push((start, self.keys.len() as u32 - start));
        self.body_len.push(r.body_len);
        self.index.push(r.index);
        self.term.push(r.term);
    }

    fn key_fields(&self, i: usize) -> (&[u8], &[u8]) {
        let (s, n) = self.keys_at[i];
        let b = &self.keys[s as usize..(s + n) as usize];
        match b.iter().position(|&x| x == 0) {
            Some(p) => (&b[..p], &b[p + 1..]),
            None => (b, &[]),
        }
    }

    /// Row ids matching `q` (and, if given, in the sorted id list `only`).
    pub fn filter(&self, q: &Query, only: Option<&[u32]>) -> Vec<u32> {
        // An unknown topic or tag matches nothing.
        let topic = match &q.topic {
            Some(t) => match self.topics.find(t.as_bytes()) {
                Some(id) => Some(id),
                None => return Vec::new(),
            },
            None => None,
        };
        let tag = match &q.tag {
            Some(t) => match self.tag_names.find(t.as_bytes()) {
                Some(id) => Some(id),
                None => return Vec::new(),
            },
            None => None,
        };
        let keep = |i: usize| -> bool {
            if topic.is_some_and(|t| self.topic[i] != t)
                || tag.is_some_and(|t| self.tags[i] != t)
                || q.queue_id.is_some_and(|v| self.queue_id[i] != v)
                || q.from_ts.is_some_and(|v| self.store_ts[i] < v)
                || q.to_ts.is_some_and(|v| self.store_ts[i] > v)
            {
                return false;
            }
            if let Some(k) = &q.key {
                let (keys, uniq) = self.key_fields(i);
                let k = k.as_bytes();
                if uniq != k && !split_keys(keys).any(|x| x == k) {
                    return false;
                }
            }
            true
        };
        match only {
            Some(ids) => ids
                .iter()
                .copied()
                .filter(|&i| (i as usize) < self.len() && keep(i as usize))
                .collect(),
            None => (0..self.len() as u32)
                .filter(|&i| keep(i as usize))
                .collect(),
        }
    }

    /// Sorts ids by a column (stable; ties keep decode order).
    pub fn sort(&self, ids: &mut [u32], column: &str, desc: bool) -> bool {
        macro_rules! by {
            ($col:expr) => {{
                let c = &$col;
                ids.sort_by(|&a, &b| c[a as usize].cmp(&c[b as usize]).then(a.cmp(&b)));
            }};
        }
        match column {
            "offset" | "id" => by!(self.offset),
            "size" => by!(self.size),
            "queueId" => by!(self.queue_id),
            "queueOffset" => by!(self.queue_offset),
            "storeTimestamp" => by!(self.store_ts),
            "bodyLength" => by!(self.body_len),
            "index" => by!(self.index),
            "term" => by!(self.term),
            "topic" => {
                ids.sort_by(|&a, &b| {
                    self.topics
                        .name(self.topic[a as usize])
                        .cmp(self.topics.name(self.topic[b as usize]))
                        .then(a.cmp(&b))
                });
            }
            "tags" => {
                ids.sort_by(|&a, &b| {
                    self.tag_names
                        .name(self.tags[a as usize])
                        .cmp(self.tag_names.name(self.tags[b as usize]))
                        .then(a.cmp(&b))
                });
            }
            _ => return false,
        }
        if desc {
            ids.reverse();
        }
        true
    }

    /// The rows as a JSON array (for the visible window of the table).
    pub fn rows_json(&self, ids: &[u32]) -> String {
        let mut o = String::from("[");
        for (n, &id) in ids.iter().enumerate() {
            let i = id as usize;
            if i >= self.len() {
                continue;
            }
            if n > 0 {
                o.push(',');
            }
            let (keys, uniq) = self.key_fields(i);
            let _ = write!(
                o,
                "{{\"id\":{id},\"offset\":{},\"size\":{},\"file\":{},\"hasMessage\":{},\"beyondRecovery\":{},\
                 \"queueId\":{},\"queueOffset\":{},\"storeTimestamp\":{},\"bodyLength\":{},\"index\":{},\"term\":{},\"topic\":",
                self.offset[i],
                self.size[i],
                self.file[i],
                self.flags[i] & HAS_MESSAGE != 0,
                self.flags[i] & BEYOND_RECOVERY != 0,
                self.queue_id[i],
                self.queue_offset[i],
                self.store_ts[i],
                self.body_len[i],
                self.index[i],
                self.term[i],
            );
            push_str(
                &mut o,
                &String::from_utf8_lossy(self.topics.name(self.topic[i])),
            );
            o.push_str(",\"tags\":");
            push_str(
                &mut o,
                &String::from_utf8_lossy(self.tag_names.name(self.tags[i])),
            );
            o.push_str(",\"keys\":");
            push_str(&mut o, &String::from_utf8_lossy(keys));
            o.push_str(",\"uniqKey\":");
            push_str(&mut o, &String::from_utf8_lossy(uniq));
            o.push('}');
        }
        o.push(']');
        o
    }

    /// Topic names by id (JSON array; id 0 = "").
    pub fn topic_names_json(&self) -> String {
        let mut o = String::from("[");
        for (i, n) in self.topics.names.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            push_str(&mut o, &String::from_utf8_lossy(n));
        }
        o.push(']');
        o
    }

    /// Approximate bytes held by the table.
    pub fn heap_bytes(&self) -> usize {
        self.len() * (8 + 4 + 4 + 1 + 4 + 4 + 8 + 8 + 4 + 8 + 4 + 8 + 8) + self.keys.len()
    }
}
