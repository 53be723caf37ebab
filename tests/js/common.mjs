// Shared helpers for the JS tests: fixture discovery and a static server.
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(ROOT, 'tests/fixtures');
export const DIST = path.join(ROOT, 'web-demo/dist');

/** The 20-digit-named files of a directory, sorted by name (= offset). */
export function logFiles(dir) {
  return fs.readdirSync(dir).filter(n => /^\d{20}$/.test(n)).sort().map(n => path.join(dir, n));
}

/** Lines of an expected file. */
export function lines(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** Log directories of the fixtures: [{name, dir, expected: {messages?, entries?}}]. */
export function fixtureCases() {
  const cases = [];
  for (const group of ['rocketmq', 'dledger', 'rocketmq-dledger']) {
    const gdir = path.join(FIXTURES, group);
    if (!fs.existsSync(gdir)) continue;
    for (const name of fs.readdirSync(gdir).sort()) {
      const fdir = path.join(gdir, name);
      const store = path.join(fdir, 'store');
      const c = { name: `${group}/${name}`, dir: null, messages: null, entries: null, cq: null };
      if (group === 'rocketmq') {
        c.dir = path.join(store, 'commitlog');
        c.messages = path.join(fdir, 'expected.jsonl');
      } else {
        const node = fs.readdirSync(store).find(n => n.startsWith('dledger-'));
        c.dir = path.join(store, node, 'data');
        if (group === 'dledger') c.entries = path.join(fdir, 'expected.jsonl');
        else { c.messages = path.join(fdir, 'expected.jsonl'); c.entries = path.join(fdir, 'expected_dledger.jsonl'); }
      }
      const cqdir = path.join(store, 'consumequeue');
      if (fs.existsSync(cqdir)) c.cq = { dir: cqdir, expected: path.join(fdir, 'expected_consumequeue.jsonl') };
      cases.push(c);
    }
  }
  return cases;
}

/** Serves DIST on 127.0.0.1 at a free port; returns {url, close}. */
export function serve(dir = DIST) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };
  const server = http.createServer((req, res) => {
    const u = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const p = path.join(dir, path.normalize(u === '/' ? '/index.html' : u));
    if (!p.startsWith(dir) || !fs.existsSync(p) || fs.statSync(p).isDirectory()) { res.writeHead(404); res.end('not found'); return; }
    res.writeHead(200, { 'content-type': types[path.extname(p)] || 'application/octet-stream' });
    fs.createReadStream(p).pipe(res);
  });
  return new Promise(resolve => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise(r => server.close(r)) });
  }));
}

/** The import module names of a wasm binary (parses the import section). */
export function wasmImportModules(bytes) {
  let p = 8;
  const u32 = () => { let r = 0, s = 0, b; do { b = bytes[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  const str = () => { const n = u32(); const s = Buffer.from(bytes.subarray(p, p + n)).toString('utf8'); p += n; return s; };
  if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error('not a wasm module');
  const mods = [];
  while (p < bytes.length) {
    const id = bytes[p++]; const size = u32(); const end = p + size;
    if (id === 2) {
      const n = u32();
      for (let i = 0; i < n; i++) {
        const mod = str(); const name = str(); const kind = bytes[p++];
        mods.push({ mod, name });
        if (kind === 0) u32();
        else if (kind === 1) { p++; const f = bytes[p++]; u32(); if (f & 1) u32(); }
        else if (kind === 2) { const f = bytes[p++]; u32(); if (f & 1) u32(); }
        else if (kind === 3) { p += 2; }
        else if (kind === 4) { p++; u32(); }
        else throw new Error(`unknown import kind ${kind}`);
      }
    }
    p = end;
  }
  return mods;
}

export function makeCounter() {
  let passed = 0, failed = 0;
  const check = (cond, what, detail = '') => {
    if (cond) { passed++; console.log(`ok   ${what}`); } else { failed++; console.log(`FAIL ${what}${detail ? `: ${detail}` : ''}`); }
    return cond;
  };
  const done = () => { console.log(`${passed} passed, ${failed} failed`); process.exit(failed ? 1 : 0); };
  return { check, done };
}
