#!/usr/bin/env python3
"""Decode RocketMQ CommitLog / DLedger data files with the rocketlog wasm plugin.

    python3 examples/python/decode.py FILE...            # core module (C ABI), streamed
    python3 examples/python/decode.py --component FILE... # WebAssembly component (WIT)

FILEs are one log's files, named by their 20-digit base offsets (a store's
`commitlog/` or `dledger-*/data/` files). Prints the records as JSON lines, the
same objects as `rocketlog dump --format jsonl`; exits 1 with a message on bad
input. The wasm files are looked up in `target/plugin/` of the repository (run
`scripts/build-plugin.sh`), or in $ROCKETLOG_PLUGIN_DIR.

Needs the `wasmtime` package (`pip install wasmtime==50.0.1`).
"""

import argparse
import json
import os
import struct
import sys

try:
    import wasmtime
    from wasmtime import component as wc
except ImportError:  # pragma: no cover - environment problem
    sys.exit("decode.py: the wasmtime package is missing (pip install wasmtime==50.0.1)")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN_DIR = os.environ.get("ROCKETLOG_PLUGIN_DIR", os.path.join(ROOT, "target", "plugin"))
CORE_WASM = os.path.join(PLUGIN_DIR, "rocketlog_plugin.wasm")
COMPONENT_WASM = os.path.join(PLUGIN_DIR, "rocketlog_component.wasm")
DECODER = "rocketlog:plugin/decoder@0.1.0"

KINDS = {"commitlog": 1, "dledger": 2, "dledger-commitlog": 3}
FLAG_VERIFY = 4


class PluginError(Exception):
    """A decode failure reported by the plugin (a JSON error object or WIT variant)."""


def _engine(fuel):
    cfg = wasmtime.Config()
    if fuel is not None:
        cfg.consume_fuel = True
    return wasmtime.Engine(cfg)


def _store(engine, fuel, memory_limit):
    store = wasmtime.Store(engine)
    if memory_limit is not None:
        store.set_limits(memory_size=memory_limit)
    if fuel is not None:
        store.set_fuel(fuel)
    return store


def _need(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing: run scripts/build-plugin.sh first")
    return path


class CorePlugin:
    """The core module (`rocketlog_plugin.wasm`, no imports) through its C ABI."""

    def __init__(self, path=None, fuel=None, memory_limit=None):
        self.engine = _engine(fuel)
        self.store = _store(self.engine, fuel, memory_limit)
        module = wasmtime.Module.from_file(self.engine, _need(path or CORE_WASM))
        inst = wasmtime.Instance(self.store, module, [])
        self.ex = inst.exports(self.store)
        self.mem = self.ex["memory"]

    def _call(self, name, *args):
        return self.ex[name](self.store, *args)

    def _put(self, data):
        ptr = self._call("rl_alloc", len(data))
        if ptr == 0:
            raise PluginError("plugin out of memory (rl_alloc)")
        if data:
            self.mem.write(self.store, data, ptr)
        return ptr

    def _free(self, ptr, n):
        self._call("rl_free", ptr, n)

    def _output(self, ptr):
        """(records, error) from an output buffer `[u32 LE len][JSON lines]`."""
        if ptr == 0:
            raise PluginError("plugin out of memory (output)")
        (n,) = struct.unpack("<I", self.mem.read(self.store, ptr, ptr + 4))
        text = self.mem.read(self.store, ptr + 4, ptr + 4 + n).decode("utf-8")
        lines = text.splitlines()
        if self._call("rl_status") != 0:
            return lines[:-1], json.loads(lines[-1])["error"]
        return lines, None

    def session(self, files, kind=None, verify=False, chunk=1 << 20):
        """Streams `files` (paths) through one session; yields JSON lines;
        raises PluginError at the first failure (after the lines before it)."""
        flags = (KINDS[kind] if kind else 0) | (FLAG_VERIFY if verify else 0)
        h = self._call("rl_session_new", flags)
        if h == 0:
            raise PluginError("could not create a session")
        try:
            for path in files:
                name = os.path.basename(path).encode()
                size = os.path.getsize(path)
                p = self._put(name)
                try:
                    yield from self._lines(self._call("rl_session_begin_file_named", h, p, len(name), size))
                finally:
                    self._free(p, len(name))
                with open(path, "rb") as f:
                    while True:
                        data = f.read(chunk)
                        if not data:
                            break
                        p = self._put(data)
                        try:
                            yield from self._lines(self._call("rl_session_feed", h, p, len(data)))
                        finally:
                            self._free(p, len(data))
                yield from self._lines(self._call("rl_session_end_file", h))
            self.summary = json.loads(self._lines_all(self._call("rl_session_finish", h))[0])["summary"]
        finally:
            try:
                self._call("rl_session_free", h)
            except (wasmtime.WasmtimeError, wasmtime.Trap):
                pass  # the store is unusable (a trap, e.g. out of fuel); the original error propagates

    def _lines(self, ptr):
        lines, err = self._output(ptr)
        yield from lines
        if err is not None:
            raise PluginError(err["message"], err)

    def _lines_all(self, ptr):
        return list(self._lines(ptr))

    def decode(self, base, data, kind=None, verify=False):
        """One whole file in one call: (lines, error-or-None)."""
        flags = (KINDS[kind] if kind else 0) | (FLAG_VERIFY if verify else 0)
        p = self._put(data)
        try:
            return self._output(self._call("rl_decode", flags, base, p, len(data)))
        finally:
            self._free(p, len(data))


class ComponentPlugin:
    """The component (`rocketlog_component.wasm`) through its WIT interface."""

    def __init__(self, path=None, fuel=None, memory_limit=None):
        self.engine = _engine(fuel)
        self.store = _store(self.engine, fuel, memory_limit)
        self.store.set_wasi(wasmtime.WasiConfig())
        comp = wc.Component.from_file(self.engine, _need(path or COMPONENT_WASM))
        linker = wc.Linker(self.engine)
        linker.add_wasip2()
        self.inst = linker.instantiate(self.store, comp)
        self.iface = self.inst.get_export_index(self.store, DECODER)

    def call(self, name, *args):
        f = self.inst.get_func(self.store, self.inst.get_export_index(self.store, name, self.iface))
        out = f(self.store, *args)
        f.post_return(self.store)
        return out

    def describe(self, err):
        return self.call("describe-error", err)

    def decode_jsonl(self, files, kind=None):
        """(lines, error-or-None) for whole files given as (base, bytes)."""
        arg = []
        for base, data in files:
            r = wc.Record()
            setattr(r, "base-offset", base)
            r.data = data
            arg.append(r)
        kind_arg = None
        if kind:
            kind_arg = kind
        out = self.call("decode-jsonl", arg, kind_arg)
        if isinstance(out, str):
            return out.splitlines(), None
        return [], out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", metavar="FILE")
    ap.add_argument("--component", action="store_true", help="use the component instead of the core module")
    ap.add_argument("--kind", choices=sorted(KINDS), help="log kind (default: detect)")
    ap.add_argument("--verify", action="store_true", help="fail on warnings too (core module)")
    ap.add_argument("--chunk", type=int, default=1 << 20, help="bytes per feed (core module)")
    args = ap.parse_args(argv)
    files = sorted(args.files, key=os.path.basename)
    out = sys.stdout
    try:
        if args.component:
            plugin = ComponentPlugin()
            names = []
            for path in files:
                name = os.path.basename(path)
                base = plugin.call("parse-file-name", name)
                if not isinstance(base, int):
                    raise PluginError(plugin.describe(base))
                with open(path, "rb") as f:
                    names.append((base, f.read()))
            lines, err = plugin.decode_jsonl(names, args.kind)
            if err is not None:
                raise PluginError(plugin.describe(err))
            for line in lines:
                out.write(line + "\n")
        else:
            plugin = CorePlugin()
            for line in plugin.session(files, args.kind, args.verify, max(1, args.chunk)):
                out.write(line + "\n")
    except PluginError as e:
        out.flush()
        print(f"decode.py: {e.args[0]}", file=sys.stderr)
        return 1
    except (OSError, wasmtime.WasmtimeError, wasmtime.Trap) as e:
        out.flush()
        print(f"decode.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
