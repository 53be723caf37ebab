#!/usr/bin/env bash
# Bounded fuzz smoke run of every cargo-fuzz target in tests/fuzz/.
#
#   scripts/fuzz-smoke.sh [seconds-per-target]      (default 20)
#
# Installs cargo-fuzz 0.13.2 with nightly if missing, seeds
# tests/fuzz/corpus/<target>/ from the fixture stores under tests/fixtures/
# (corpus directories are gitignored), builds the targets, runs each one for
# the given time (one at a time, one job), prints the number of runs per
# target and fails on any crash, leak, timeout or out-of-memory.
#
# A crash leaves its input under tests/fuzz/artifacts/<target>/; copy it to
# tests/fuzz-crashers/<target>/ so that tests/tests/fuzz_regressions.rs
# replays it in the normal `cargo test`.
#
# Environment: FUZZ_TARGETS="a b" limits the targets; FUZZ_SEED_ONLY=1 only
# writes the seed corpora.
set -euo pipefail

secs="${1:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/tests/fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
all_targets="decode_message decode_dledger decode_small scan_store stream_decode recover_engine recover_dledger append_jsonl plugin_session"
targets="${FUZZ_TARGETS:-$all_targets}"

if ! cargo +nightly fuzz --version 2>/dev/null | grep -q '0\.13\.2'; then
    echo "== installing cargo-fuzz 0.13.2"
    cargo +nightly install cargo-fuzz --version 0.13.2
fi

echo "== seeding corpora from $root/tests/fixtures"
python3 - "$root/tests/fixtures" "$fuzz/corpus" <<'PY'
"""Writes seed inputs for every target from the Java-written fixture stores.

The store encoding matches tests/fuzz/src/input.rs (StoreSpec::parse)."""
import hashlib, os, struct, sys

fixtures, corpus = sys.argv[1], sys.argv[2]
TOPICS = ["TopicA", "TopicB", "TopicC", "TopicD"]
seeds = {t: [] for t in ["decode_message", "decode_dledger", "decode_small",
                         "scan_store", "stream_decode", "recover_engine", "recover_dledger",
                         "append_jsonl", "plugin_session"]}

def files_in(d):
    if not os.path.isdir(d):
        return []
    return sorted((int(n), os.path.join(d, n)) for n in os.listdir(d) if n.isdigit())

def read(p):
    with open(p, "rb") as f:
        return f.read()

def seg(tag, data, ident, queue=None, cap=None):
    """One segment item; the head is the bytes up to the last non-zero one."""
    head = data.rstrip(b"\0")
    if cap is not None:
        head = head[:cap]
    out = bytes([tag])
    if queue is not None:
        out += bytes([queue])
    out += struct.pack(">I", len(data))
    k = ident // len(data) if data else 0
    if data and ident % len(data) == 0 and k < 255:
        out += bytes([k])
    else:
        out += b"\xff" + struct.pack(">Q", ident)
    return out + struct.pack(">I", len(head)) + head

def meta(tag, data):
    return bytes([tag]) + struct.pack(">I", len(data)) + data

def store_items(store):
    """(kind, item bytes) for every file of a fixture store."""
    items = []
    for base, p in files_in(os.path.join(store, "commitlog")):
        items.append(("commitlog", seg(0, read(p), base)))
    cq = os.path.join(store, "consumequeue")
    if os.path.isdir(cq):
        for ti, topic in enumerate(sorted(os.listdir(cq))[:4]):
            for qid in sorted(os.listdir(os.path.join(cq, topic)), key=int):
                q = TOPICS.index(topic) if topic in TOPICS else ti
                for base, p in files_in(os.path.join(cq, topic, qid)):
                    items.append(("cq", seg(1, read(p), base, queue=q | (int(qid) << 2))))
    for base, p in files_in(os.path.join(store, "index")):
        items.append(("index", seg(2, read(p), base)))
    for d in sorted(os.listdir(store)):
        if d.startswith("dledger-"):
            dl = os.path.join(store, d)
            for base, p in files_in(os.path.join(dl, "data")):
                items.append(("data", seg(3, read(p), base)))
            for base, p in files_in(os.path.join(dl, "index")):
                items.append(("dindex", seg(4, read(p), base)))
            for name, tag in [("checkpoint", 8), ("currterm", 9)]:
                if os.path.exists(os.path.join(dl, name)):
                    items.append(("meta", meta(tag, read(os.path.join(dl, name)))))
    if os.path.exists(os.path.join(store, "checkpoint")):
        items.append(("meta", meta(6, read(os.path.join(store, "checkpoint"))[:40])))
    return items

def records(data, base):
    """CommitLog records of one file: (offset, bytes)."""
    pos = 0
    while pos + 8 <= len(data):
        total, magic = struct.unpack(">iI", data[pos:pos + 8])
        if magic == 0xCBD43194:
            yield base + pos, data[pos:pos + 8]
            return
        if magic not in (0xDAA320A7, 0xDAA320AB) or total < 91:
            return
        yield base + pos, data[pos:pos + total]
        pos += total

def entries(data, base):
    """DLedger entries of one data file: (offset, bytes)."""
    pos = 0
    while pos + 8 <= len(data):
        magic, size = struct.unpack(">ii", data[pos:pos + 8])
        if magic == -1:
            yield base + pos, data[pos:pos + 8]
            if size <= 0:
                return
            pos += size
            continue
        if magic not in (1, 2, 3) or size < 48:
            return
        yield base + pos, data[pos:pos + size]
        pos += size

for kind in sorted(os.listdir(fixtures)):
    kd = os.path.join(fixtures, kind)
    if not os.path.isdir(kd):
        continue
    for name in sorted(os.listdir(kd)):
        store = os.path.join(kd, name, "store")
        if not os.path.isdir(store):
            continue
        items = store_items(store)
        by = lambda k: [b for (t, b) in items if t == k]
        metas = by("meta")
        whole = b"".join(b for _, b in items)
        flags = [0x00, 0x01, 0x02, 0x20, 0x80]
        for f in flags:
            seeds["scan_store"].append(bytes([f]) + whole)
        # Slices: one file of each log with the small files.
        small = by("cq") + by("index") + by("dindex") + metas
        for log in ("commitlog", "data"):
            for i, b in enumerate(by(log)[:3]):
                seeds["scan_store"].append(b"\x00" + b + b"".join(small))
                seeds["stream_decode"].append(bytes([0 if log == "commitlog" else 1, 0]) + b)
        # Two files at most: whole logs make the whole-vs-chunked runs slow.
        seeds["stream_decode"].append(b"\x00\x00" + b"".join(by("commitlog")[:2]))
        seeds["stream_decode"].append(b"\x01\x00" + b"".join(by("data")[-2:]))
        seeds["stream_decode"].append(b"\x02\x00" + b"".join(by("cq")))
        if by("commitlog"):
            seeds["recover_engine"].append(b"\x00" + whole)
            seeds["recover_engine"].append(b"\x00" + by("commitlog")[-1] + b"".join(small))
            seeds["recover_engine"].append(b"\x20" + b"".join(by("commitlog")[:2]) + b"".join(small))
        if by("data"):
            dl_small = by("dindex") + [b for (t, b) in items if t == "meta"]
            seeds["recover_dledger"].append(b"\x00" + whole)
            seeds["recover_dledger"].append(b"\x40" + by("data")[-1] + b"".join(dl_small))
            seeds["recover_dledger"].append(b"\x20" + b"".join(by("data")[:2]) + b"".join(dl_small))
        # Records for the codec targets.
        for base, p in files_in(os.path.join(store, "commitlog"))[:2]:
            for i, (off, rec) in enumerate(records(read(p), base)):
                if i < 12:
                    seeds["decode_message"].append(struct.pack(">Q", off) + rec)
        for d in sorted(os.listdir(store)):
            if not d.startswith("dledger-"):
                continue
            for base, p in files_in(os.path.join(store, d, "data"))[:2]:
                for i, (off, ent) in enumerate(entries(read(p), base)):
                    if i < 12:
                        seeds["decode_dledger"].append(struct.pack(">Q", off) + ent)
                        if len(ent) > 48 + 8:
                            seeds["decode_message"].append(struct.pack(">Q", off + 48) + ent[48:])
            for base, p in files_in(os.path.join(store, d, "index")):
                seeds["decode_dledger"].append(struct.pack(">Q", 0) + read(p)[:256])
            for fn in ("checkpoint", "currterm", "currterm.bak"):
                fp = os.path.join(store, d, fn)
                if os.path.exists(fp):
                    seeds["decode_small"].append(b"\x00" + bytes(8) + read(fp))
        cqd = os.path.join(store, "consumequeue")
        if os.path.isdir(cqd):
            for topic in sorted(os.listdir(cqd)):
                for qid in sorted(os.listdir(os.path.join(cqd, topic))):
                    for base, p in files_in(os.path.join(cqd, topic, qid))[:1]:
                        seeds["decode_small"].append(b"\x00" + bytes(8) + read(p))
        for base, p in files_in(os.path.join(store, "index")):
            data = read(p)
            for sel in (0, 33):
                seeds["decode_small"].append(bytes([sel]) + struct.pack(">Q", 1763700000000) + data)
        if os.path.exists(os.path.join(store, "checkpoint")):
            seeds["decode_small"].append(b"\x00" + bytes(8) + read(os.path.join(store, "checkpoint"))[:40])
        # append_jsonl: knobs (kind, flush) + the first lines of the
        # Java-read expected dump, at most 3 KB (tests/fuzz/src/append.rs).
        kind_byte = {"rocketmq": 0, "dledger": 1, "rocketmq-dledger": 2}.get(kind, 0)
        exp = os.path.join(kd, name, "expected.jsonl")
        if os.path.exists(exp):
            lines, size = [], 0
            for l in read(exp).splitlines(keepends=True)[:8]:
                if size + len(l) > 3072:
                    break
                lines.append(l)
                size += len(l)
            if lines:
                for flush in (0, 4):
                    seeds["append_jsonl"].append(bytes([kind_byte | flush]) + b"".join(lines))
        # plugin_session: knobs (kind, verify, files) + base KiB + the head
        # of the first log file (tests/fuzz/src/plugin.rs).
        for log in ("commitlog", "data"):
            for base, p in (files_in(os.path.join(store, "commitlog")) if log == "commitlog" else
                            [f for d in sorted(os.listdir(store)) if d.startswith("dledger-")
                             for f in files_in(os.path.join(store, d, "data"))])[:1]:
                head = read(p).rstrip(b"\0")[:6144]
                for knobs in (0x00, 0x04, 0x08, 0x10):
                    seeds["plugin_session"].append(bytes([knobs, 0]) + head)
seeds["decode_small"].append(b"\x00" + bytes(8) + b"00000000000000065536")
seeds["decode_small"].append(b"\x00" + bytes(8) + b"KEYS\x01k1 k2\x02TAGS\x01tagA\x02UNIQ_KEY\x01AB\x02")

for target, items in seeds.items():
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    for b in items:
        name = "seed-" + hashlib.sha1(b).hexdigest()
        with open(os.path.join(d, name), "wb") as f:
            f.write(b)
    print(f"   {target}: {len(items)} seeds")
PY

if [ "${FUZZ_SEED_ONLY:-0}" = 1 ]; then
    exit 0
fi

cd "$fuzz"
echo "== building fuzz targets (nightly, release + debug assertions, no sanitizer: the core is forbid(unsafe_code))"
build_start=$(date +%s)
cargo +nightly fuzz build -s none
echo "   build took $(( $(date +%s) - build_start )) s"

status=0
summary=""
fuzz_start=$(date +%s)
for t in $targets; do
    log="$fuzz/artifacts/$t.log"
    mkdir -p "$fuzz/artifacts/$t" "$fuzz/corpus/$t"
    echo "== $t for ${secs}s"
    t_start=$(date +%s)
    # rss/malloc limits turn an allocation sized by a hostile field into a
    # reported crash; -timeout catches unbounded loops.
    if cargo +nightly fuzz run -s none "$t" "$fuzz/corpus/$t" -- \
        -max_total_time="$secs" -jobs=1 -workers=1 -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
        >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
        # The panic message is on the lines after "panicked at".
        grep -a -A3 -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -n 30 || true
        df -h "${TMPDIR:-/tmp}" | tail -n 1
    fi
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n 1 || true)
    line=$(printf '%-16s %-6s runs=%-10s wall=%ss' "$t" "$result" "${runs:-?}" "$(( $(date +%s) - t_start ))")
    echo "   $line"
    summary="$summary$line"$'\n'
done
echo "== summary (${secs}s per target, fuzzing took $(( $(date +%s) - fuzz_start )) s; logs in tests/fuzz/artifacts/)"
printf '%s' "$summary"
exit "$status"
