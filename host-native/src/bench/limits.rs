//! The machine's own limits, measured in the same process as the workloads:
//! memcpy into a fresh and into a warm mapping, crc32fast over the same bytes,
//! this disk's `write 4 KiB + fdatasync` latency, and how many blocked
//! threads per second this machine can wake, run and block again (the CPU
//! bound of a sync put, which parks its writer until the flush thread wakes it).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
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
    /// `wake_rate` with `WAKE_THREADS` (64) threads.
    pub wakes: WakeRate,
}

/// Blocked threads the wake-rate probe runs: the sync bench's largest writer count.
pub const WAKE_THREADS: usize = 64;

/// How fast parked threads can be woken, run and parked again.
#[derive(Debug, Clone, Copy)]
pub struct WakeRate {
    /// Threads taking part.
    pub threads: usize,
    /// Wake-ups per second (each: unpark, schedule, one atomic add, park).
    pub per_sec: f64,
    /// CPU time (user + system, every core) per wake-up.
    pub cpu_per_wake: Duration,
}

/// `threads` threads park; per round, one coordinator (playing the flush
/// thread) unparks each of them in turn, each does one atomic add and parks
/// again, and the last to finish unparks the coordinator, which starts the
/// next round. This is the least a group-commit round costs per writer
/// beyond its put, so `per_sec` bounds sync puts per second on this machine
/// whatever the disk: reaching `0.8 x writers / fdatasync latency` needs
/// `per_sec` above it.
pub fn wake_rate(threads: usize, rounds: u64) -> WakeRate {
    let threads = threads.max(1);
    let generation = AtomicU64::new(0);
    let done = AtomicUsize::new(0);
    let mut secs = 0.0;
    let mut cpu = 0.0;
    let coordinator = std::thread::current();
    std::thread::scope(|s| {
        let (generation, done, coordinator) = (&generation, &done, &coordinator);
        let workers: Vec<Thread> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut seen = 0;
                    loop {
                        // Parked until the coordinator starts a round
                        // (spurious returns re-check the generation).
                        let g = loop {
                            let g = generation.load(Ordering::Acquire);
                            if g != seen {
                                break g;
                            }
                            std::thread::park();
                        };
                        seen = g;
                        if g == u64::MAX {
                            return;
                        }
                        if done.fetch_add(1, Ordering::AcqRel) + 1 == threads {
                            coordinator.unpark();
                        }
                    }
                })
                .thread()
                .clone()
            })
            .collect();
        let round = |g: u64| {
            done.store(0, Ordering::Release);
            generation.store(g, Ordering::Release);
            for w in &workers {
                w.unpark();
            }
            while done.load(Ordering::Acquire) < threads {
                std::thread::park();
            }
        };
        // Warm-up: every thread started and parked once.
        round(1);
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        for g in 2..rounds.saturating_add(2) {
            round(g);
        }
        secs = t.elapsed().as_secs_f64();
        cpu = cpu_seconds() - cpu0;
        // Release the workers for good.
        generation.store(u64::MAX, Ordering::Release);
        for w in &workers {
            w.unpark();
        }
    });
    let wakes = (threads as u64 * rounds).max(1) as f64;
    WakeRate {
        threads,
        per_sec: wakes / secs,
        cpu_per_wake: Duration::from_secs_f64((cpu / wakes).max(0.0)),
    }
}

/// User + system CPU time of this process so far (0 if unavailable).
fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` only writes the struct it is given (zeroed is a
    // valid `rusage`) and keeps no pointer to it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always a valid target.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
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
    // About half a second on two cores; fewer rounds for a shorter probe.
    let wakes = wake_rate(WAKE_THREADS, (syncs as u64 * 10).max(100));
    Ok(Limits {
        memcpy_fresh,
        memcpy_warm,
        crc32,
        fdatasync_median: p.p50,
        fdatasync_p99: p.p99,
        wakes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_rate_probe_ends_and_reports_a_rate() {
        // A lost wake-up in the probe would hang here, not return.
        let w = wake_rate(4, 50);
        assert_eq!(w.threads, 4);
        assert!(w.per_sec.is_finite() && w.per_sec > 0.0, "{w:?}");
    }

    /// The figure itself, for a manual look:
    /// `cargo test --release -p rocketlog --lib wake_rate_of_this_machine -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn wake_rate_of_this_machine() {
        for threads in [1, 16, WAKE_THREADS] {
            let w = wake_rate(threads, 20_000 / threads as u64);
            println!(
                "{threads:>3} threads: {:.0} wakes/s, {:.2} us CPU per wake",
                w.per_sec,
                w.cpu_per_wake.as_secs_f64() * 1e6
            );
        }
    }
}
