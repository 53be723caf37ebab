#!/usr/bin/env python3
"""Tests of the wasm plugin from Python (core module and component).

    python3 examples/python/test_decode.py      # prints "N passed, N failed"

Every fixture's log files decoded through both faces must equal the fixture's
expected.jsonl (what the Java code read back); if a rocketlog CLI binary exists
under target/, its `dump --format jsonl` output must be identical too. Hostile
inputs must give errors (exit status 1 from decode.py), and limits (fuel,
memory) must stop a call with a wasmtime error.
"""

import glob
import json
import os
import subprocess
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import decode  # noqa: E402

ROOT = decode.ROOT
SHARED = os.path.join(ROOT, "..", "shared", "fixtures")
FIXTURES = SHARED if os.path.isdir(SHARED) else os.path.join(ROOT, "tests", "fixtures")
DECODE = os.path.join(HERE, "decode.py")

results = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        fn()
        results["passed"] += 1
        print(f"ok    {name}")
    except Exception:  # noqa: BLE001 - report every failure
        results["failed"] += 1
        print(f"FAIL  {name}")
        traceback.print_exc()


def fixtures():
    out = []
    for d in sorted(glob.glob(os.path.join(FIXTURES, "*", "*"))):
        store = os.path.join(d, "store")
        if not os.path.isdir(store):
            continue
        logs = glob.glob(os.path.join(store, "commitlog")) + glob.glob(os.path.join(store, "dledger-*", "data"))
        files = sorted(glob.glob(os.path.join(logs[0], "*")))
        out.append((os.path.relpath(d, FIXTURES), d, files))
    assert len(out) >= 4, f"fixtures missing under {FIXTURES}"
    return out


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_decode(args):
    return subprocess.run([sys.executable, DECODE, *args], capture_output=True, text=True)


def same(got, want, what):
    assert len(got) == len(want), f"{what}: {len(got)} records, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"{what}: record {i} differs:\n got  {g}\n want {w}"


def cli():
    for p in ("target/release/rocketlog", "target/debug/rocketlog"):
        path = os.path.join(ROOT, p)
        if os.access(path, os.X_OK):
            return path
    return None


def fixture_tests():
    exe = cli()
    for name, d, files in fixtures():
        want = read_jsonl(os.path.join(d, "expected.jsonl"))
        for mode in ([], ["--chunk", "1000"], ["--component"]):
            def t(files=files, want=want, mode=mode, name=name):
                r = run_decode([*mode, *files])
                assert r.returncode == 0, r.stderr
                same([json.loads(x) for x in r.stdout.splitlines()], want, f"{name} {mode}")
            check(f"{name} decode.py {' '.join(mode) or '(core)'} == expected.jsonl", t)
        dl = os.path.join(d, "expected_dledger.jsonl")
        if os.path.isfile(dl):
            def t(files=files, dl=dl, name=name):
                r = run_decode(["--kind", "dledger", *files])
                assert r.returncode == 0, r.stderr
                same([json.loads(x) for x in r.stdout.splitlines()], read_jsonl(dl), name)
            check(f"{name} --kind dledger == expected_dledger.jsonl", t)
        if exe:
            def t(files=files, name=name, exe=exe):
                # The CLI takes the directory holding the files.
                native = subprocess.run([exe, "dump", "--format", "jsonl", os.path.dirname(files[0])],
                                        capture_output=True, text=True)
                assert native.returncode == 0, native.stderr
                r = run_decode(files)
                assert r.returncode == 0, r.stderr
                same([json.loads(x) for x in r.stdout.splitlines()],
                     [json.loads(x) for x in native.stdout.splitlines()], f"{name} vs CLI")
            check(f"{name} decode.py == rocketlog dump --format jsonl", t)


def hostile_tests(tmp):
    _, _, files = fixtures()[0]
    with open(files[0], "rb") as f:
        first = f.read()
    size = int.from_bytes(first[0:4], "big") if first[4:8] != b"\0\0\0\0" else 0
    cases = {
        "zero-length": b"",
        "random": bytes((i * 7919 + 13) % 251 for i in range(5000)),
        "huge totalSize": (0x7FFFFFFF).to_bytes(4, "big") + first[4:size],
    }
    for cut in (7, 8, 20, 60, 100, size - 1):
        if 0 < cut < size:
            cases[f"cut at {cut}"] = first[:cut]
    for label, data in cases.items():
        path = os.path.join(tmp, "00000000000000000000")
        with open(path, "wb") as f:
            f.write(data)
        for mode in ([], ["--component"]):
            def t(path=path, mode=mode, data=data):
                r = run_decode([*mode, path])
                assert r.returncode == 1, f"exit {r.returncode}, stdout {r.stdout[:200]!r}"
                assert r.stderr.startswith("decode.py: ") and len(r.stderr) > 20, r.stderr
            check(f"hostile {label} {' '.join(mode) or '(core)'} -> error", t)
    def bad_name():
        path = os.path.join(tmp, "not-a-log-file")
        with open(path, "wb") as f:
            f.write(first)
        r = run_decode([path])
        assert r.returncode == 1 and "20-digit" in r.stderr, r.stderr
    check("bad file name -> error", bad_name)


def limit_tests():
    _, _, files = fixtures()[0]

    def fuel():
        p = decode.CorePlugin(fuel=50_000)
        try:
            list(p.session(files))
        except (decode.wasmtime.WasmtimeError, decode.wasmtime.Trap) as e:
            assert "fuel" in str(e), e
        else:
            raise AssertionError("50k fuel decoded a whole store")
    check("core module: tiny fuel -> wasmtime error", fuel)

    def fuel_component():
        try:
            p = decode.ComponentPlugin(fuel=50_000)
            p.decode_jsonl([(0, open(files[0], "rb").read())])
        except (decode.wasmtime.WasmtimeError, decode.wasmtime.Trap) as e:
            assert "fuel" in str(e), e
        else:
            raise AssertionError("50k fuel decoded a file")
    check("component: tiny fuel -> wasmtime error", fuel_component)

    def memory():
        p = decode.CorePlugin(memory_limit=4 << 20)
        try:
            p._put(b"\0" * (8 << 20))
        except decode.PluginError as e:
            assert "out of memory" in str(e)
        else:
            raise AssertionError("8 MiB allocated under a 4 MiB limit")
        lines, err = p.decode(int(os.path.basename(files[0])), open(files[0], "rb").read())
        assert err is None and lines, err
    check("core module: memory limit -> rl_alloc 0, then still usable", memory)


def main():
    import tempfile
    if not os.path.isfile(decode.CORE_WASM) or not os.path.isfile(decode.COMPONENT_WASM):
        print(f"{decode.PLUGIN_DIR}: wasm files missing: run scripts/build-plugin.sh first")
        print("0 passed, 1 failed")
        return 1
    fixture_tests()
    with tempfile.TemporaryDirectory() as tmp:
        hostile_tests(tmp)
    limit_tests()
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
