// Decoding worker: owns the File objects and the wasm Session. Files are read
// with File.slice in CHUNK-byte pieces, so a 1 GiB commitlog never sits in
// wasm memory; only the carried partial record and the compact row table do.
import init, { Session, Replay, parseFileName } from './pkg/rocketlog_wasm.js';

const CHUNK = 8 << 20;
let wasm = null;
let session = null;
let files = [];        // [{file, base, size, topic, queueId}] in session order
let opts = null;       // {format, verifyCrc}
let ids = new Uint32Array(0);
let sortState = null;  // {column, desc}
let bodyCache = null;  // {needle, hits}
let peakMemory = 0;

function memBytes() {
  const n = wasm ? wasm.memory.buffer.byteLength : 0;
  if (n > peakMemory) peakMemory = n;
  return n;
}

function errorOf(e) {
  if (e && typeof e === 'object') return { message: e.message || String(e), kind: e.kind || 'error', offset: e.offset ?? null, file: e.file ?? null };
  return { message: String(e), kind: 'error', offset: null };
}

// Orders files: consume-queue files by (topic, queue, base), others by base.
// Files whose names are not 20-digit offsets are ignored when others are
// (e.g. a whole store dropped); if none are, they are taken in the given order.
function arrange(list) {
  const named = [], unnamed = [];
  for (const f of list) {
    const base = parseFileName(f.name);
    const m = /consumequeue\/([^/]+)\/(-?\d+)\/\d{20}$/.exec(f.webkitRelativePath || '');
    const item = { file: f, base, size: f.size, topic: m ? m[1] : null, queueId: m ? Number(m[2]) : null };
    (base === undefined ? unnamed : named).push(item);
  }
  let ignored = [];
  let out;
  if (named.length) {
    named.sort((a, b) => (a.topic || '').localeCompare(b.topic || '') || (a.queueId ?? 0) - (b.queueId ?? 0) || a.base - b.base);
    out = named; ignored = unnamed.map(u => u.file.name);
  } else {
    let at = 0;
    out = unnamed.map(u => { const r = { ...u, base: at }; at += u.size; return r; });
  }
  return { out, ignored };
}

async function feed(target, list, onChunk) {
  let done = 0;
  const total = list.reduce((s, f) => s + f.size, 0);
  for (const f of list) {
    try {
      target.beginFile(f.base, f.size, f.topic, f.queueId);
      for (let p = 0; p < f.size; p += CHUNK) {
        const buf = new Uint8Array(await f.file.slice(p, Math.min(f.size, p + CHUNK)).arrayBuffer());
        const r = target.push(buf);
        done += buf.length;
        if (onChunk) onChunk(r, done, total, f);
      }
      const r = target.endFile();
      if (onChunk) onChunk(r, done, total, f);
    } catch (e) {
      // Name the file in the error (the core's error carries kind and offset).
      if (e && typeof e === 'object' && !e.file) e.file = f.file.name;
      throw e;
    }
  }
}

async function load({ fileList, format, verifyCrc }) {
  if (session) { session.free(); session = null; }
  bodyCache = null; sortState = null; peakMemory = 0;
  const { out, ignored } = arrange(fileList);
  if (!out.length) throw Object.assign(new Error('no files given'), { kind: 'no-files' });
  files = out;
  opts = { format: format === 'auto' ? null : format, verifyCrc };
  const s = new Session(opts.format, verifyCrc);
  session = s;
  const t0 = performance.now();
  let last = 0;
  await feed(s, files, (_r, done, total, f) => {
    memBytes();
    const now = performance.now();
    if (now - last > 100 || done === total) {
      last = now;
      postMessage({ op: 'progress', done, total, records: s.recordCount(), file: f.file.name });
    }
  });
  const summary = JSON.parse(s.finish());
  const ms = performance.now() - t0;
  ids = Uint32Array.from({ length: s.recordCount() }, (_, i) => i);
  opts.format = s.format();
  return {
    summary, ignored, ms, bytes: summary.bytes, format: s.format(),
    memory: memBytes(), peakMemory, tableBytes: s.tableBytes(),
    topicNames: JSON.parse(s.topicNames()),
    files: files.map(f => ({ name: f.file.name, base: f.base, size: f.size })),
  };
}

async function applyFilter(q) {
  let only = null;
  if (q.body) {
    if (!bodyCache || bodyCache.needle !== q.body) {
      const r = Replay.bodySearch(opts.format, opts.verifyCrc, q.body);
      await feed(r, files, null);
      bodyCache = { needle: q.body, hits: r.hits() };
      r.free();
    }
    only = bodyCache.hits;
  }
  ids = session.filter(q.topic || null, q.queueId ?? null, q.tag || null, q.key || null,
    q.fromTs ?? null, q.toTs ?? null, only);
  if (sortState) ids = session.sort(ids, sortState.column, sortState.desc);
  return { count: ids.length };
}

async function exportJsonl({ view }) {
  const r = Replay.exporter(opts.format, opts.verifyCrc, view, ids);
  const parts = [];
  await feed(r, files, (text) => { if (text) parts.push(text); });
  r.free();
  return { parts };
}

async function inspect({ id, view }) {
  const loc = session.locate(id);
  if (!loc) throw new Error(`no record ${id}`);
  const [fi, pos, size, offset] = loc;
  const f = files[fi];
  const bytes = new Uint8Array(await f.file.slice(pos, pos + size).arrayBuffer());
  const v = JSON.parse(session.inspect(id, bytes, view));
  return { ...v, bytes, offset, file: f.file.name, pos };
}

const ops = {
  load,
  filter: applyFilter,
  sort: ({ column, desc }) => { sortState = column ? { column, desc } : null; ids = session.sort(ids, column || 'offset', !!desc); return { count: ids.length }; },
  rows: ({ start, end }) => JSON.parse(session.rowsJson(ids.subarray(start, end))),
  export: exportJsonl,
  inspect,
  charts: () => ({
    sizes: session.sizes(), timestamps: session.storeTimestamps(), topicIds: session.topicIds(),
    fileIndexes: session.fileIndexes(), offsets: session.offsets(),
  }),
  stats: () => ({ memory: memBytes(), peakMemory }),
};

const ready = init().then(w => { wasm = w; });

onmessage = async (ev) => {
  const { id, op, args } = ev.data;
  try {
    await ready;
    const result = await ops[op](args || {});
    postMessage({ id, ok: true, result });
  } catch (e) {
    postMessage({ id, ok: false, error: errorOf(e) });
  }
};
