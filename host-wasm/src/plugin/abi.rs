//! The C ABI of the core module (`rocketlog_plugin.wasm`, no imports). See
//! `docs/plugin.md` for the contract; in short:
//!
//! * `rl_alloc(len) -> ptr` / `rl_free(ptr, len)`: buffers the host fills
//!   with input. Inputs passed to other calls must lie inside a live block.
//! * Every other call returns a pointer to the module's output buffer,
//!   `[u32 little-endian len][len bytes of UTF-8]`: JSON lines (dump records,
//!   then a `{"summary":..}` line where asked), and on failure a last
//!   `{"error":{..}}` line. `rl_status()` gives the call's status code. The
//!   buffer stays valid until the next call; the host never frees it.
//!   A return of 0 means the module could not allocate even that buffer.
//!
//! Nothing here panics: the state is reached with `try_borrow_mut`, every
//! allocation is fallible, and host pointers are checked against the live
//! blocks before they become slices.

use std::alloc::{Layout, alloc, dealloc};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;

use rocketlog_core::layout;

use super::error::PluginError;
use super::jsonl::{self, JsonSink};
use super::session::{self, Kind, Options, Session, Sink};

/// Bumped on any incompatible change of the exports below.
const ABI_VERSION: u32 = 1;

/// The call succeeded.
const STATUS_OK: i32 = 0;
/// The input bytes are not a valid log (decode error, unknown kind, ...).
const STATUS_DATA: i32 = 1;
/// The host broke the contract (bad flags, handle, pointer, call order).
const STATUS_CALL: i32 = 2;
/// An allocation failed (the host's memory limit).
const STATUS_MEMORY: i32 = 3;

/// Flag bits: the kind (0 = detect, 1 = commitlog, 2 = dledger, 3 = dledger-commitlog).
const FLAG_KIND_MASK: u32 = 0b11;
/// Fail on warnings too.
const FLAG_VERIFY: u32 = 1 << 2;
/// `rl_decode*`: append a `{"summary":..}` line.
const FLAG_SUMMARY: u32 = 1 << 3;
/// Do not output records (with `FLAG_SUMMARY`: a summary only).
const FLAG_NO_RECORDS: u32 = 1 << 4;
const FLAG_ALL: u32 = FLAG_KIND_MASK | FLAG_VERIFY | FLAG_SUMMARY | FLAG_NO_RECORDS;

/// Output buffers above this capacity are released at the next call.
const OUT_KEEP: usize = 16 << 20;

struct SessionSlot {
    session: Session,
    flags: u32,
}

#[derive(Default)]
struct State {
    /// Live `rl_alloc` blocks: start -> length.
    allocs: BTreeMap<u32, u32>,
    /// The output being written: four placeholder bytes, then the text.
    out: String,
    /// The last call's finished output: `[u32 LE len][text]`.
    done: Vec<u8>,
    status: i32,
    sessions: BTreeMap<u32, SessionSlot>,
    next_handle: u32,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Runs `f` on the state; `None` if the state is busy (cannot happen: the
/// module has no imports, so no call can re-enter it).
fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> Option<T> {
    STATE.with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)))
}

fn options(flags: u32) -> Result<Options, PluginError> {
    if flags & !FLAG_ALL != 0 {
        return Err(PluginError::InvalidCall {
            what: "unknown flag bits",
        });
    }
    let kind = match flags & FLAG_KIND_MASK {
        0 => None,
        k => Kind::ALL.get(k as usize - 1).copied(),
    };
    Ok(Options {
        kind,
        verify: flags & FLAG_VERIFY != 0,
    })
}

fn status_of(e: &PluginError) -> i32 {
    match e {
        PluginError::InvalidCall { .. } | PluginError::BadFileName { .. } => STATUS_CALL,
        PluginError::OutOfMemory { .. } => STATUS_MEMORY,
        _ => STATUS_DATA,
    }
}

impl State {
    /// Empties the output buffer and writes its placeholder header.
    fn start(&mut self) -> Result<(), ()> {
        let mut buf = core::mem::take(&mut self.done);
        buf.clear();
        if buf.capacity() > OUT_KEEP {
            buf = Vec::new();
        }
        // An empty vector is valid UTF-8.
        self.out = String::from_utf8(buf).unwrap_or_default();
        self.out.try_reserve(64).map_err(|_| ())?;
        self.out.push_str("\0\0\0\0");
        self.status = STATUS_OK;
        Ok(())
    }

    /// Ends the output (with an error line if `r` failed) and returns its pointer.
    fn end(&mut self, r: Result<(), PluginError>) -> u32 {
        if let Err(e) = r {
            self.status = status_of(&e);
            // Room for the error line; if even this fails, drop the records.
            if self.out.try_reserve(512).is_err() {
                self.out.truncate(4);
            }
            jsonl::push_error(&mut self.out, &e);
            self.out.push('\n');
        }
        let mut bytes = core::mem::take(&mut self.out).into_bytes();
        let len = u32::try_from(bytes.len().saturating_sub(4)).unwrap_or(u32::MAX);
        // The host reads the header as a wasm (little-endian) u32.
        #[allow(clippy::little_endian_bytes)]
        let header = len.to_le_bytes();
        if let Some(h) = bytes.get_mut(..4) {
            h.copy_from_slice(&header);
        }
        self.done = bytes;
        self.done.as_ptr() as usize as u32
    }

    /// The host's bytes at `ptr..ptr+len`, which must lie inside a live block.
    fn input<'a>(&self, ptr: u32, len: u32) -> Result<&'a [u8], PluginError> {
        if len == 0 {
            return Ok(&[]);
        }
        let inside = self
            .allocs
            .range(..=ptr)
            .next_back()
            .is_some_and(|(&start, &alen)| {
                let end = u64::from(start) + u64::from(alen);
                u64::from(ptr) + u64::from(len) <= end
            });
        if !inside {
            return Err(PluginError::InvalidCall {
                what: "input pointer/length outside every rl_alloc block",
            });
        }
        // SAFETY: `ptr..ptr+len` lies inside a block that `rl_alloc` returned
        // and `rl_free` has not released (tracked in `allocs`), so it is valid,
        // initialised (wasm memory is zeroed and the host wrote it) and not
        // written by the module while a call runs: the module writes only its
        // own output and decoder buffers.
        Ok(unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, len as usize) })
    }

    fn name(&self, ptr: u32, len: u32) -> Result<u64, PluginError> {
        let bytes = self.input(ptr, len)?;
        let name = core::str::from_utf8(bytes).unwrap_or("");
        layout::parse_file_name(name).ok_or_else(|| PluginError::BadFileName {
            name: String::from_utf8_lossy(bytes).into_owned(),
        })
    }

    /// Runs `f` with a JSON sink writing into the output buffer.
    fn json<T>(
        &mut self,
        records: bool,
        f: impl FnOnce(&mut Self, &mut dyn Sink) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let mut sink = JsonSink {
            out: core::mem::take(&mut self.out),
        };
        let r = if records {
            f(self, &mut sink)
        } else {
            f(self, &mut ())
        };
        self.out = sink.out;
        r
    }
}

/// Runs one exported call: output framing, status, no panics.
fn call(f: impl FnOnce(&mut State) -> Result<(), PluginError>) -> u32 {
    with_state(|st| {
        if st.start().is_err() {
            return 0;
        }
        let r = f(st);
        st.end(r)
    })
    .unwrap_or(0)
}

/// The ABI version (1).
#[unsafe(no_mangle)]
pub extern "C" fn rl_abi_version() -> u32 {
    ABI_VERSION
}

/// Allocates `len` bytes for input; 0 if that is impossible.
#[unsafe(no_mangle)]
pub extern "C" fn rl_alloc(len: u32) -> u32 {
    let Ok(layout) = Layout::from_size_align(len.max(1) as usize, 8) else {
        return 0;
    };
    with_state(|st| {
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            return 0;
        }
        let p32 = p as usize as u32;
        st.allocs.insert(p32, len);
        p32
    })
    .unwrap_or(0)
}

/// Frees a block from `rl_alloc`; unknown pointers or lengths are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn rl_free(ptr: u32, len: u32) {
    with_state(|st| {
        if st.allocs.get(&ptr) != Some(&len) {
            return;
        }
        st.allocs.remove(&ptr);
        if let Ok(layout) = Layout::from_size_align(len.max(1) as usize, 8) {
            // SAFETY: `ptr` came from `alloc` with this very layout (same
            // length, tracked in `allocs`) and is freed once (removed above).
            unsafe { dealloc(ptr as usize as *mut u8, layout) };
        }
    });
}

/// The status of the last call: 0 ok, 1 bad data, 2 bad call, 3 out of memory.
#[unsafe(no_mangle)]
pub extern "C" fn rl_status() -> i32 {
    with_state(|st| st.status).unwrap_or(STATUS_CALL)
}

/// Detects the kind of log a file's first bytes belong to: `{"kind":".."}`.
#[unsafe(no_mangle)]
pub extern "C" fn rl_detect(ptr: u32, len: u32) -> u32 {
    call(|st| {
        let k = session::detect(st.input(ptr, len)?)?;
        st.out.push_str("{\"kind\":\"");
        st.out.push_str(k.name());
        st.out.push_str("\"}\n");
        Ok(())
    })
}

fn decode_one(st: &mut State, flags: u32, base: u64, data: &[u8]) -> Result<(), PluginError> {
    let opts = options(flags)?;
    let summary = st.json(flags & FLAG_NO_RECORDS == 0, |_, sink| {
        session::decode_files(&[(base, data)], opts, sink)
    })?;
    if flags & FLAG_SUMMARY != 0 {
        jsonl::push_summary(&mut st.out, &summary);
        st.out.push('\n');
    }
    Ok(())
}

/// Decodes one whole file (base offset `base`) held at `ptr..ptr+len`.
#[unsafe(no_mangle)]
pub extern "C" fn rl_decode(flags: u32, base: u64, ptr: u32, len: u32) -> u32 {
    call(|st| {
        let data = st.input(ptr, len)?;
        decode_one(st, flags, base, data)
    })
}

/// [`rl_decode`] with the base offset given as a 20-digit file name.
#[unsafe(no_mangle)]
pub extern "C" fn rl_decode_named(
    flags: u32,
    name_ptr: u32,
    name_len: u32,
    ptr: u32,
    len: u32,
) -> u32 {
    call(|st| {
        let base = st.name(name_ptr, name_len)?;
        let data = st.input(ptr, len)?;
        decode_one(st, flags, base, data)
    })
}

/// A new streaming session (flags: kind and verify); 0 on bad flags.
#[unsafe(no_mangle)]
pub extern "C" fn rl_session_new(flags: u32) -> u32 {
    let Ok(opts) = options(flags) else {
        return 0;
    };
    with_state(|st| {
        st.next_handle = st.next_handle.wrapping_add(1).max(1);
        let h = st.next_handle;
        st.sessions.insert(
            h,
            SessionSlot {
                session: Session::new(opts),
                flags,
            },
        );
        h
    })
    .unwrap_or(0)
}

fn with_session(
    st: &mut State,
    h: u32,
    f: impl FnOnce(&mut Session, &mut dyn Sink) -> Result<(), PluginError>,
) -> Result<(), PluginError> {
    let Some(mut slot) = st.sessions.remove(&h) else {
        return Err(PluginError::InvalidCall {
            what: "unknown session handle",
        });
    };
    let records = slot.flags & FLAG_NO_RECORDS == 0;
    let r = st.json(records, |_, sink| f(&mut slot.session, sink));
    st.sessions.insert(h, slot);
    r
}

/// Starts the next file of session `h`: base offset and length in bytes.
#[unsafe(no_mangle)]
pub extern "C" fn rl_session_begin_file(h: u32, base: u64, len: u64) -> u32 {
    call(|st| with_session(st, h, |s, _| s.begin_file(base, len)))
}

/// [`rl_session_begin_file`] with the base offset as a 20-digit file name.
#[unsafe(no_mangle)]
pub extern "C" fn rl_session_begin_file_named(
    h: u32,
    name_ptr: u32,
    name_len: u32,
    len: u64,
) -> u32 {
    call(|st| {
        let base = st.name(name_ptr, name_len)?;
        with_session(st, h, |s, _| s.begin_file(base, len))
    })
}

/// Feeds the next chunk of the current file; outputs the records it completes.
#[unsafe(no_mangle)]
pub extern "C" fn rl_session_feed(h: u32, ptr: u32, len: u32) -> u32 {
    call(|st| {
        let data = st.input(ptr, len)?;
        with_session(st, h, |s, sink| s.feed(data, sink))
    })
}

/// Ends the current file; outputs any records still held.
#[unsafe(no_mangle)]
pub extern "C" fn rl_session_end_file(h: u32) -> u32 {
    call(|st| with_session(st, h, |s, sink| s.end_file(sink)))
}

/// Ends the session and frees it; outputs a `{"summary":..}` line.
#[unsafe(no_mangle)]
pub extern "C" fn rl_session_finish(h: u32) -> u32 {
    call(|st| {
        let Some(mut slot) = st.sessions.remove(&h) else {
            return Err(PluginError::InvalidCall {
                what: "unknown session handle",
            });
        };
        let summary = slot.session.finish()?;
        jsonl::push_summary(&mut st.out, &summary);
        st.out.push('\n');
        Ok(())
    })
}

/// Frees session `h` without a summary (unknown handles are ignored).
#[unsafe(no_mangle)]
pub extern "C" fn rl_session_free(h: u32) {
    with_state(|st| st.sessions.remove(&h));
}
