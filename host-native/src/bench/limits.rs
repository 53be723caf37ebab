//! The machine's own limits, measured in the same process as the workloads:
//! memcpy into a fresh and into a warm mapping, crc32fast over the same bytes,
//! and this disk's `write 4 KiB + fdatasync` latency.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use memmap2::MmapMut;

use super::stats::Latencies;

/// The limits a run compares its figures with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes/s copying 1 KiB chunks into a freshly created, never touched mapping.
    pub memcpy_fresh: f64,
    /// Bytes/s copying 1 KiB chunks into the same mapping once its pages are resident.
    pub memcpy_warm: f64,
    /// Bytes/s of crc32fast over resident mapped bytes.
    pub crc32: f64,
    /// Median latency of `write(4 KiB) + fdatasync` on the store's disk.
    pub fdatasync_median: Duration,
    /// Its 99th percentile.
    pub fdatasync_p99: Duration,
}

/// Copies `chunk`-sized pieces over the whole mapping; returns bytes/s.
fn copy_pass(map: &mut MmapMut, src: &[u8]) -> f64 {
    let t = Instant::now();
    for dst in map.chunks_exact_mut(src.len()) {
        dst.copy_from_slice(src);
    }
    std::hint::black_box(&map[..]);
    let secs = t.elapsed().as_secs_f64();
    (map.len() - map.len() % src.len()) as f64 / secs
}

/// crc32fast over `bytes`; returns bytes/s (the best of three passes).
pub fn crc_rate(bytes: &[u8]) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let mut h = crc32fast::Hasher::new();
        h.update(bytes);
        std::hint::black_box(h.finalize());
        best = best.min(t.elapsed().as_secs_f64());
    }
    bytes.len() as f64 / best
}

fn create(path: &Path, len: u64) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    f.set_len(len)?;
    Ok(f)
}

/// Measures every limit with a scratch file of `map_len` bytes under `dir`
/// (removed afterwards) and `syncs` fdatasync probes.
pub fn measure(dir: &Path, map_len: u64, syncs: usize) -> io::Result<Limits> {
    let path = dir.join("limits.map");
    let file = create(&path, map_len)?;
    // SAFETY: the file was just created (`create_new`) in the bench's private
    // scratch directory; nothing else knows it, maps it or truncates it while
    // the mapping lives, and it is unlinked only after the mapping is dropped.
    let mut map = unsafe { MmapMut::map_mut(&file)? };
    let src = vec![0x5au8; 1024];
    let memcpy_fresh = copy_pass(&mut map, &src);
    let memcpy_warm = copy_pass(&mut map, &src).max(copy_pass(&mut map, &src));
    let crc32 = crc_rate(&map);
    drop(map);
    drop(file);
    std::fs::remove_file(&path)?;

    // As the store does: a preallocated file written in order, one 4 KiB
    // block per `fdatasync`.
    let probe = dir.join("limits.sync");
    let mut f = create(&probe, 0)?;
    let want = libc::off_t::try_from(syncs * 4096).unwrap_or(libc::off_t::MAX);
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::posix_fallocate(std::os::fd::AsRawFd::as_raw_fd(&f), 0, want) } != 0 {
        f.set_len(0)?;
    }
    let block = vec![1u8; 4096];
    let mut lat = Latencies::with_capacity(syncs);
    for _ in 0..syncs {
        f.write_all(&block)?;
        let t = Instant::now();
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    drop(f);
    std::fs::remove_file(&probe)?;
    let p = lat.percentiles();
    Ok(Limits {
        memcpy_fresh,
        memcpy_warm,
        crc32,
        fdatasync_median: p.p50,
        fdatasync_p99: p.p99,
    })
}
