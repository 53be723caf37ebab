// Cross-host equivalence: the web build of rocketlog-wasm, loaded in node,
// decodes every fixture into JSON lines identical to the Java-derived
// expected files (which the CLI is tested against too), for several chunk
// sizes; and the wasm binary imports nothing from "env".
// Run: scripts/build-web.sh && node tests/js/equivalence.mjs
import fs from 'node:fs';
import path from 'node:path';
import { DIST, fixtureCases, logFiles, lines, wasmImportModules, makeCounter } from './common.mjs';

const { check, done } = makeCounter();
const wasmPath = path.join(DIST, 'pkg/rocketlog_wasm_bg.wasm');
if (!fs.existsSync(wasmPath)) { console.error(`missing ${wasmPath}: run scripts/build-web.sh first`); process.exit(2); }
const bytes = fs.readFileSync(wasmPath);
const mods = wasmImportModules(bytes);
const env = mods.filter(m => m.mod === 'env');
check(mods.length > 0 && env.length === 0, 'wasm imports nothing from "env"', env.map(m => m.name).join(', '));
check(mods.every(m => m.mod === './rocketlog_wasm_bg.js'), 'every import is a wasm-bindgen shim', [...new Set(mods.map(m => m.mod))].join(', '));

const pkg = await import(path.join(DIST, 'pkg/rocketlog_wasm.js'));
pkg.initSync({ module: bytes });
const { Replay, Session, parseFileName } = pkg;

function exportAll(format, view, files, chunk) {
  const r = Replay.exporter(format, true, view, null);
  let out = '';
  for (const f of files) {
    r.beginFile(f.base, f.bytes.length, f.topic ?? null, f.queueId ?? null);
    for (let p = 0; p < f.bytes.length; p += chunk) out += r.push(f.bytes.subarray(p, p + chunk));
    out += r.endFile();
  }
  r.free();
  return out;
}

const load = dir => logFiles(dir).map(p => ({ base: parseFileName(path.basename(p)), bytes: new Uint8Array(fs.readFileSync(p)) }));

for (const c of fixtureCases()) {
  const files = load(c.dir);
  // The session detects the format; the replay uses it, as the page does.
  const s = new Session(null, true);
  for (const f of files) { s.beginFile(f.base, f.bytes.length, null, null); s.push(f.bytes); s.endFile(); }
  const summary = JSON.parse(s.finish());
  const format = s.format();
  s.free();
  check(summary.problems.length === 0, `${c.name}: no problems`, JSON.stringify(summary.problems.slice(0, 2)));
  for (const [view, exp] of [['messages', c.messages], ['entries', c.entries]]) {
    if (!exp) continue;
    const want = fs.readFileSync(exp, 'utf8');
    for (const chunk of [1 << 20, 4096, 977]) {
      const got = exportAll(format, view, files, chunk);
      check(got === want, `${c.name}: ${view} JSONL == ${path.basename(exp)} (chunk ${chunk})`,
        `got ${got.split('\n').length - 1} lines, want ${want.split('\n').length - 1}`);
    }
  }
  if (c.cq) {
    const got = [];
    for (const topic of fs.readdirSync(c.cq.dir).sort()) {
      for (const q of fs.readdirSync(path.join(c.cq.dir, topic)).sort((a, b) => a - b)) {
        const files = load(path.join(c.cq.dir, topic, q)).map(f => ({ ...f, topic, queueId: Number(q) }));
        got.push(...exportAll('consumequeue', 'messages', files, 4096).split('\n').filter(Boolean));
      }
    }
    const want = lines(c.cq.expected);
    check(JSON.stringify([...got].sort()) === JSON.stringify([...want].sort()), `${c.name}: consume-queue JSONL == expected_consumequeue.jsonl`, `got ${got.length}, want ${want.length}`);
  }
}
done();
