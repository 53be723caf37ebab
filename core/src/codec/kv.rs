//! DLedger `checkpoint` and `currterm`: Java-properties `key=value` lines,
//! parsed in any key order.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{DecodeError, DecodeErrorKind as K};

/// Parses `key=value` lines (`\n` or `\r\n`; `#`/`!` comment lines and blank
/// lines skipped; `:` also accepted as separator, as `Properties.load` does).
/// Later duplicates win.
pub fn parse(text: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let Ok(text) = core::str::from_utf8(text) else {
        return Err(DecodeError::new(
            0,
            K::BadText {
                what: "properties file (not UTF-8)",
            },
        ));
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = match line.find(['=', ':']) {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, ""),
        };
        let (k, v) = (String::from(k.trim_end()), String::from(v.trim_start()));
        match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    Ok(out)
}

/// Looks up `key`.
pub fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Parses a `long` value the way DLedger does (`Long.parseLong(value.trim())`).
pub fn get_i64(kv: &[(String, String)], key: &'static str) -> Result<Option<i64>, DecodeError> {
    match get(kv, key) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| DecodeError::new(0, K::BadText { what: key })),
    }
}

/// Serialises pairs as `key=value\n` lines in the given order.
pub fn render(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    s
}

/// DLedger `checkpoint` (classic line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DLedgerCheckpoint {
    /// `committedIndex` (−1 when absent).
    pub committed_index: i64,
    /// `endIndex` (written, never read by Java).
    pub end_index: i64,
}

impl DLedgerCheckpoint {
    /// Parses the file.
    pub fn parse(text: &[u8]) -> Result<Self, DecodeError> {
        let kv = parse(text)?;
        Ok(Self {
            committed_index: get_i64(&kv, "committedIndex")?.unwrap_or(-1),
            end_index: get_i64(&kv, "endIndex")?.unwrap_or(-1),
        })
    }
    /// Renders it the way JDK 17 orders it.
    pub fn render(&self) -> String {
        let (c, e) = (
            alloc::format!("{}", self.committed_index),
            alloc::format!("{}", self.end_index),
        );
        render(&[("committedIndex", &c), ("endIndex", &e)])
    }
}

/// DLedger `currterm`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrTerm {
    /// `currTerm`.
    pub term: i64,
    /// `voteLeader` (`None` when empty).
    pub vote_for: Option<String>,
}

impl CurrTerm {
    /// Parses the file.
    pub fn parse(text: &[u8]) -> Result<Self, DecodeError> {
        let kv = parse(text)?;
        Ok(Self {
            term: get_i64(&kv, "currTerm")?.unwrap_or(0),
            vote_for: get(&kv, "voteLeader")
                .filter(|v| !v.is_empty())
                .map(String::from),
        })
    }
    /// Renders it the way JDK 17 orders it (`voteLeader` first).
    pub fn render(&self) -> String {
        let t = alloc::format!("{}", self.term);
        render(&[
            ("voteLeader", self.vote_for.as_deref().unwrap_or("")),
            ("currTerm", &t),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_order() {
        let a = DLedgerCheckpoint::parse(b"committedIndex=4\nendIndex=5\n").unwrap();
        let b = DLedgerCheckpoint::parse(b"endIndex=5\r\ncommittedIndex=4").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.render(), "committedIndex=4\nendIndex=5\n");
        let t = CurrTerm::parse(b"voteLeader=\ncurrTerm=1\n").unwrap();
        assert_eq!(
            t,
            CurrTerm {
                term: 1,
                vote_for: None
            }
        );
        assert_eq!(CurrTerm::parse(t.render().as_bytes()).unwrap(), t);
        assert!(DLedgerCheckpoint::parse(b"committedIndex=x").is_err());
    }
}
