// Opt-in measurement (not part of `npm test`): decode throughput (MB/s) and
// peak wasm memory (memory.buffer.byteLength) in Chromium for a large
// generated commitlog. Usage: node tests/js/bench.mjs [MiB total, default 512] [MiB per file, default 128]
// The store is generated here: V1 records (IPv4 hosts, bodies 200 B .. 4 KiB
// with correct masked CRC32, TAGS/KEYS/UNIQ_KEY), end-of-file blanks under the roll rule.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, serve } from './common.mjs';

const totalMiB = Number(process.argv[2] || 512), fileMiB = Number(process.argv[3] || 128);
const FILE = fileMiB << 20;
const dir = path.join(ROOT, 'target/bench-commitlog');
fs.rmSync(dir, { recursive: true, force: true }); fs.mkdirSync(dir, { recursive: true });

const CRC = new Int32Array(256).map((_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c; });
const crc32 = b => { let c = -1; for (const x of b) c = CRC[(c ^ x) & 255] ^ (c >>> 8); return (c ^ -1) & 0x7fffffff; };
const bodies = Array.from({ length: 16 }, (_, i) => { const n = 200 + i * 250; const b = Buffer.alloc(n); for (let k = 0; k < n; k++) b[k] = 32 + ((k * 7 + i) % 90); return { b, crc: crc32(b) }; });
const topics = ['OrderTopic', 'PayTopic', 'LogTopic'].map(t => Buffer.from(t));

function record(i, phys, t) {
  const { b: body, crc } = bodies[i % bodies.length];
  const topic = topics[i % topics.length];
  const props = Buffer.from(`TAGS\x01Tag${i % 7}\x02KEYS\x01k-${i} shared-${i % 100}\x02UNIQ_KEY\x01U${i.toString(16).padStart(12, '0')}\x02`);
  const len = 72 + 8 + 8 + body.length + 1 + topic.length + 2 + props.length;
  const r = Buffer.alloc(len); let p = 0;
  const i32 = v => { r.writeInt32BE(v, p); p += 4; }, i64 = v => { r.writeBigInt64BE(BigInt(v), p); p += 8; };
  i32(len); i32(0xDAA320A7 | 0); i32(crc); i32(i % 8); i32(0); i64(Math.floor(i / 8)); i64(phys); i32(0);
  i64(1700000000000 + i); r.set([10, 0, 0, 1], p); p += 4; i32(50000); i64(t); r.set([192, 168, 0, 1], p); p += 4; i32(10911);
  i32(0); i64(0); i32(body.length); body.copy(r, p); p += body.length; r[p++] = topic.length; topic.copy(r, p); p += topic.length;
  r.writeInt16BE(props.length, p); p += 2; props.copy(r, p);
  return r;
}

let i = 0, records = 0;
const t0 = Date.now();
for (let base = 0; base < totalMiB << 20; base += FILE) {
  const buf = Buffer.alloc(FILE); let pos = 0;
  for (;;) {
    const r = record(i, base + pos, 1790000000000 + i * 3);
    if (r.length + 8 > FILE - pos) { buf.writeInt32BE(FILE - pos, pos); buf.writeInt32BE(0xCBD43194 | 0, pos + 4); break; }
    r.copy(buf, pos); pos += r.length; i++; records++;
  }
  fs.writeFileSync(path.join(dir, String(base).padStart(20, '0')), buf);
}
console.log(`generated ${totalMiB} MiB in ${totalMiB / fileMiB} files, ${records} records, ${Date.now() - t0} ms`);

const server = await serve();
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
await page.goto(`${server.url}/index.html`);
await page.waitForFunction(() => document.body.dataset.ready === '1');
// Responsiveness: count main-thread animation frames during the decode.
await page.evaluate(() => { window.__frames = 0; const f = () => { window.__frames++; requestAnimationFrame(f); }; requestAnimationFrame(f); });
const files = fs.readdirSync(dir).sort().map(n => path.join(dir, n));
const w0 = Date.now();
await page.locator('[data-testid="file-input"]').setInputFiles(files);
await page.waitForFunction(() => window.__lastLoad || !document.querySelector('[data-testid="error"]').hidden, null, { timeout: 600000 });
const wall = Date.now() - w0;
const r = await page.evaluate(() => ({ ...window.__lastLoad, frames: window.__frames, count: document.querySelector('[data-testid="record-count"]').textContent }));
const mb = r.bytes / 1e6;
console.log(`decoded ${r.records} records (${r.count} shown), ${mb.toFixed(0)} MB in ${r.ms.toFixed(0)} ms in the worker: ${(mb / (r.ms / 1000)).toFixed(1)} MB/s`);
console.log(`peak wasm memory ${(r.peakMemory / 1048576).toFixed(1)} MiB (row table ~${(r.tableBytes / 1048576).toFixed(1)} MiB); page wall ${wall} ms; main-thread frames during decode ${r.frames} (~${(r.frames / (wall / 1000)).toFixed(0)} fps)`);
await page.screenshot({ path: path.join(ROOT, 'target/screenshots/bench.png'), fullPage: false });
await browser.close(); await server.close();
if (String(r.records) !== r.count || r.records !== records) { console.log(`FAIL record count ${r.records} != generated ${records}`); process.exit(1); }
// The native CLI over the same files, in the same run, when a release build exists.
const cli = path.join(ROOT, 'target/release/rocketlog');
if (fs.existsSync(cli)) {
  const { spawnSync } = await import('node:child_process');
  // The generated queue offsets are not per-queue counters, so the CLI warns
  // about the consume queues (exit 1); only the timing matters here.
  const t1 = Date.now();
  const run = spawnSync(cli, ['dump', '--format', 'jsonl', dir], { stdio: 'ignore' });
  const ms = Date.now() - t1;
  if (run.status !== 0 && run.status !== 1) throw new Error(`rocketlog dump exited ${run.status}`);
  console.log(`native CLI: dump --format jsonl of the same ${mb.toFixed(0)} MB in ${ms} ms: ${(mb * 1e3 / ms).toFixed(1)} MB/s`);
  process.stdout.write(spawnSync(cli, ['bench-read', dir], { encoding: 'utf8' }).stdout || '');
}
if (!process.env.KEEP_BENCH_STORE) fs.rmSync(dir, { recursive: true, force: true });
