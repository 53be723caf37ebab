// Page logic: talks to worker.js (which owns wasm + files), renders the
// summary, problems, pictures, a virtualized table and the record view.
import { histogram, timeline, fileMap, fmtBytes } from './charts.js';

const $ = s => document.querySelector(s);
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map();
worker.onmessage = ev => {
  const m = ev.data;
  if (m.op === 'progress') return progress(m);
  const p = pending.get(m.id); if (!p) return;
  pending.delete(m.id);
  m.ok ? p.resolve(m.result) : p.reject(Object.assign(new Error(m.error.message), m.error));
};
worker.onerror = ev => showError(`The decoder worker failed: ${ev.message || 'unknown error'}`);
const call = (op, args) => new Promise((resolve, reject) => { const id = nextId++; pending.set(id, { resolve, reject }); worker.postMessage({ id, op, args }); });

const ROWH = 22;
const COLS = {
  messages: [['id', '#', 60], ['offset', 'offset', 100], ['size', 'size', 64], ['topic', 'topic', 120], ['queueId', 'queue', 52],
    ['queueOffset', 'q.offset', 70], ['storeTimestamp', 'store time', 180], ['tags', 'tags', 90], ['keys', 'keys', 150], ['bodyLength', 'body', 60]],
  entries: [['id', '#', 60], ['offset', 'pos', 100], ['size', 'size', 64], ['index', 'index', 70], ['term', 'term', 60],
    ['topic', 'topic', 120], ['queueId', 'queue', 52], ['storeTimestamp', 'store time', 180], ['bodyLength', 'body', 60]],
  consumequeue: [['id', '#', 60], ['offset', 'offset', 100], ['topic', 'topic', 120], ['queueId', 'queue', 52], ['queueOffset', 'q.offset', 80]],
};
let state = { loaded: null, count: 0, cache: new Map(), sort: null, selected: null, view: 'messages', gen: 0 };

function showError(msg) { const e = $('#error'); e.textContent = msg; e.hidden = false; }
function clearError() { const e = $('#error'); e.textContent = ''; e.hidden = true; }
function progress(m) {
  const p = $('#progress'); p.hidden = false;
  p.querySelector('.bar').style.width = `${(100 * m.done / Math.max(1, m.total)).toFixed(1)}%`;
  p.querySelector('.ptext').textContent = `${fmtBytes(m.done)} / ${fmtBytes(m.total)} · ${m.records.toLocaleString()} records · ${m.file}`;
}
const fmtTs = t => (t > 0 ? new Date(t).toISOString().replace('T', ' ').replace('Z', '') : '');
const esc = s => String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

async function loadFiles(fileList) {
  clearError();
  for (const id of ['#summary-panel', '#problems-panel', '#charts-panel', '#records-panel', '#record-panel']) $(id).hidden = true;
  if (!fileList.length) return;
  let r;
  try {
    r = await call('load', { fileList, format: $('#format').value, verifyCrc: $('#verify').checked });
  } catch (e) {
    $('#progress').hidden = true;
    const file = e.file ? `${e.file}: ` : '';
    showError(`Could not decode these files. ${file}${e.message}.`);
    return;
  }
  window.__lastLoad = { ms: r.ms, bytes: r.summary.bytes, records: r.summary.records, peakMemory: r.peakMemory, tableBytes: r.tableBytes };
  state.loaded = r; state.cache.clear(); state.sort = null; state.selected = null;
  state.count = r.summary.records;
  const dl = r.summary.kind === 'dledger';
  const viewSel = $('#view');
  viewSel.disabled = r.summary.kind !== 'rocketmq-dledger';
  viewSel.value = dl ? 'entries' : 'messages';
  state.view = r.summary.kind === 'consumequeue' ? 'consumequeue' : viewSel.value;
  renderSummary(r);
  renderProblems(r.summary);
  if (r.summary.records === 0 && r.summary.kind === 'empty') showError('These files hold no records (only zeros): nothing to show.');
  const topics = $('#f-topic'); topics.length = 1;
  for (const t of Object.keys(r.summary.topics)) topics.add(new Option(t, t));
  $('#record-count').textContent = String(r.summary.records);
  for (const id of ['#summary-panel', '#problems-panel', '#charts-panel', '#records-panel']) $(id).hidden = false;
  await applyFilters();
  const c = await call('charts');
  histogram($('#hist'), c.sizes);
  timeline($('#timeline'), c.timestamps, c.topicIds, r.topicNames);
  fileMap($('#filemap'), r.summary.fileReports, c.offsets, c.fileIndexes, r.summary.recoveryEnd);
}

function renderSummary(r) {
  const s = r.summary;
  const range = (a, b, f = String) => (a == null ? '—' : `${f(a)} … ${f(b)}`);
  const items = [
    ['kind', { commitlog: 'RocketMQ commitlog', dledger: 'DLedger data', 'rocketmq-dledger': 'RocketMQ on DLedger (commitlog mode)', consumequeue: 'consume queue', empty: 'empty' }[s.kind] || s.kind],
    ['files', `${s.files} (${fmtBytes(s.bytes)})`],
    ['records', `${s.records.toLocaleString()}`],
    ['messages / entries / units', `${s.messages} / ${s.entries} / ${s.units}`],
    ['offset range', range(s.firstOffset, s.endOffset)],
    ['store time range', range(s.minStoreTimestamp, s.maxStoreTimestamp, fmtTs)],
    ['blanks', String(s.blanks)],
    ['problems', String(s.problems.length + s.problemsDropped)],
    ['decode', `${r.ms.toFixed(0)} ms · ${(s.bytes / 1048576 / Math.max(r.ms / 1000, 1e-3)).toFixed(0)} MB/s · wasm memory ${fmtBytes(r.peakMemory)}`],
  ];
  if (s.entries) items.push(['index range', range(s.minIndex, s.maxIndex)]);
  let html = items.map(([k, v]) => `<div><b>${esc(k)}</b>${esc(v)}</div>`).join('');
  if (s.kind !== 'dledger') html += `<div class="wide"><b>topics / queues</b>${Object.entries(s.topics).map(([t, n]) => `<span class="tag">${esc(t)}: ${n}</span>`).join('')}
    ${s.queues.map(q => `<span class="tag">${esc(q.topic)}/${q.queueId}: ${q.count}</span>`).join('')}</div>`;
  if (s.terms.length) html += `<div class="wide"><b>terms</b>${s.terms.map(t => `<span class="tag">term ${t.term}: ${t.count}</span>`).join('')}</div>`;
  if (r.ignored.length) html += `<div class="wide"><b>ignored (not 20-digit log file names)</b>${r.ignored.map(esc).join(', ')}</div>`;
  $('#summary').innerHTML = html;
}

function renderProblems(s) {
  const rec = s.recoveryEnd == null ? 'Each consume queue is walked up to its first invalid unit.'
    : `A sequential recovery walk keeps everything before offset <b>${s.recoveryEnd}</b>` +
      (s.beyondRecovery ? `; <b>${s.beyondRecovery}</b> records after that point (highlighted) would be dropped.` : '; every decoded record is kept.');
  $('#recovery').innerHTML = `<p>${rec}</p>` + (s.problems.length ? '' : '<p>No problems found.</p>');
  $('#problems tbody').innerHTML = s.problems.map(p => `<tr><td class="sev-${p.severity}">${p.severity}</td><td>${esc(p.kind)}</td><td>${esc(p.segment || '')}</td><td>${p.offset}</td><td>${esc(p.message)}</td></tr>`).join('');
  $('#problems').hidden = !s.problems.length;
}

function parseTime(v) { if (!v) return null; const t = Date.parse(v + 'Z'); return Number.isNaN(t) ? null : t; }

async function applyFilters() {
  const q = {
    topic: $('#f-topic').value, tag: $('#f-tag').value.trim(), key: $('#f-key').value.trim(), body: $('#f-body').value,
    queueId: $('#f-queue').value === '' ? null : Number($('#f-queue').value),
    fromTs: parseTime($('#f-from').value), toTs: parseTime($('#f-to').value),
  };
  const gen = ++state.gen;
  const r = await call('filter', q);
  if (gen !== state.gen) return;
  state.count = r.count; state.cache.clear();
  $('#filtered-count').textContent = String(r.count);
  await renderTable(true);
  document.body.dataset.filterGen = String(gen);
}

function columns() { return COLS[state.view] || COLS.messages; }

function renderHeader() {
  const cols = columns();
  $('#table').style.setProperty('--cols', cols.map(c => `${c[2]}px`).join(' ') + ' 1fr');
  $('#thead').innerHTML = cols.map(([k, label]) => {
    const s = state.sort && state.sort.column === k ? ` sorted${state.sort.desc ? ' desc' : ''}` : '';
    return `<div data-col="${k}" class="${s}">${label}</div>`;
  }).join('') + '<div></div>';
}

let rowsInFlight = null;
async function renderTable(reset) {
  renderHeader();
  const sc = $('#tscroll'), sp = $('#tspacer');
  if (reset) sc.scrollTop = 0;
  sp.style.height = `${state.count * ROWH}px`;
  const first = Math.max(0, Math.floor(sc.scrollTop / ROWH) - 5);
  const last = Math.min(state.count, first + Math.ceil(sc.clientHeight / ROWH) + 10);
  const missing = [];
  for (let i = first; i < last; i++) if (!state.cache.has(i)) missing.push(i);
  if (missing.length) {
    const start = missing[0], end = missing[missing.length - 1] + 1, gen = state.gen;
    const key = `${gen}:${start}:${end}`;
    if (rowsInFlight !== key) {
      rowsInFlight = key;
      const rows = await call('rows', { start, end });
      rowsInFlight = null;
      if (gen !== state.gen) return;
      rows.forEach((r, j) => state.cache.set(start + j, r));
      if (state.cache.size > 5000) { for (const k of state.cache.keys()) { if (k < first - 500 || k > last + 500) state.cache.delete(k); } }
    }
  }
  const cols = columns();
  let html = '';
  for (let i = first; i < last; i++) {
    const r = state.cache.get(i); if (!r) continue;
    const cls = `trow${r.beyondRecovery ? ' beyond' : ''}${state.selected === r.id ? ' sel' : ''}`;
    html += `<div class="${cls}" style="top:${i * ROWH}px" data-id="${r.id}">` + cols.map(([k]) => {
      let v = r[k];
      if (k === 'storeTimestamp') v = fmtTs(v);
      if (k === 'keys') v = [r.keys, r.uniqKey].filter(Boolean).join(' · ');
      if (!r.hasMessage && ['topic', 'queueId', 'storeTimestamp', 'queueOffset'].includes(k) && state.view !== 'consumequeue') v = '';
      return `<div title="${esc(v)}">${esc(v)}</div>`;
    }).join('') + '</div>';
  }
  sp.innerHTML = html;
}

async function showRecord(id) {
  state.selected = id;
  renderTable(false);
  const view = state.view === 'entries' ? 'entries' : 'messages';
  let r;
  try { r = await call('inspect', { id, view }); } catch (e) { showError(`Cannot show record ${id}: ${e.message}`); return; }
  $('#record-panel').hidden = false;
  $('#rec-title').textContent = `#${id} at offset ${r.offset} (${r.file} + ${r.pos}, ${r.bytes.length} bytes)`;
  const colors = ['#ffd8b5', '#c8e1ff', '#d4f4d0', '#f4d2f1', '#fff1a8', '#d0f0f4', '#ffd0d0', '#e2dcff', '#dfe9c8', '#f5e0c8'];
  const owner = new Int32Array(r.bytes.length).fill(-1);
  r.spans.forEach((s, i) => { for (let k = s.offset; k < s.offset + s.len && k < owner.length; k++) owner[k] = i; });
  const MAX = 4096, n = Math.min(r.bytes.length, MAX);
  let out = '';
  for (let row = 0; row < n; row += 16) {
    out += `<span class="off">${(r.offset + row).toString(16).padStart(10, '0')}</span>  `;
    for (let k = row; k < row + 16; k++) {
      if (k >= n) { out += '   '; continue; }
      const o = owner[k], s = r.spans[o];
      const hex = r.bytes[k].toString(16).padStart(2, '0');
      out += o >= 0 ? `<span class="b" data-f="${o}" style="background:${colors[o % colors.length]}" title="${esc(s.group)}.${esc(s.name)} = ${esc(s.value)}">${hex}</span> ` : `${hex} `;
    }
    out += ' ' + Array.from(r.bytes.subarray(row, Math.min(n, row + 16)), b => (b >= 32 && b < 127 ? esc(String.fromCharCode(b)) : '.')).join('') + '\n';
  }
  if (r.bytes.length > MAX) out += `… ${r.bytes.length - MAX} more bytes\n`;
  $('#hex').innerHTML = out;
  $('#fields tbody').innerHTML = r.spans.map((s, i) => `<tr data-f="${i}"><td><span class="sw" style="background:${colors[i % colors.length]}"></span>${esc(s.group)}.${esc(s.name)}</td><td>${s.offset}</td><td>${s.len}</td><td>${esc(s.value)}</td></tr>`).join('');
  $('#rec-json').textContent = r.json ?? '(no JSON object for this record in this view)';
}

async function exportJsonl() {
  try {
    const view = state.view === 'entries' ? 'entries' : 'messages';
    const { parts } = await call('export', { view });
    const blob = new Blob(parts, { type: 'application/x-ndjson' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `rocketlog-${state.loaded.summary.kind}-${view}.jsonl`;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) { showError(`Export failed: ${e.message}`); }
}

$('#file-input').addEventListener('change', e => loadFiles([...e.target.files]));
const drop = $('#drop');
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => { e.preventDefault(); drop.classList.remove('over'); loadFiles([...e.dataTransfer.files]); });
$('#filters').addEventListener('submit', e => { e.preventDefault(); applyFilters(); });
$('#f-topic').addEventListener('change', applyFilters);
$('#clear').addEventListener('click', () => { $('#filters').reset(); applyFilters(); });
$('#export').addEventListener('click', exportJsonl);
$('#view').addEventListener('change', () => { state.view = $('#view').value; state.cache.clear(); renderTable(true); });
$('#tscroll').addEventListener('scroll', () => requestAnimationFrame(() => renderTable(false)));
$('#tspacer').addEventListener('click', e => { const row = e.target.closest('.trow'); if (row) showRecord(Number(row.dataset.id)); });
$('#thead').addEventListener('click', async e => {
  const col = e.target.dataset.col; if (!col) return;
  const desc = state.sort && state.sort.column === col ? !state.sort.desc : false;
  state.sort = { column: col === 'id' ? 'offset' : col, desc };
  await call('sort', state.sort);
  state.sort.column = col; state.cache.clear(); await renderTable(true);
  document.body.dataset.sortGen = String(Number(document.body.dataset.sortGen || 0) + 1);
});
$('#hex').addEventListener('mouseover', e => {
  const f = e.target.dataset && e.target.dataset.f;
  document.querySelectorAll('#hex span.hl').forEach(s => s.classList.remove('hl'));
  if (f != null) document.querySelectorAll(`#hex span[data-f="${f}"]`).forEach(s => s.classList.add('hl'));
});
$('#fields').addEventListener('mouseover', e => {
  const tr = e.target.closest('tr[data-f]');
  document.querySelectorAll('#hex span.hl').forEach(s => s.classList.remove('hl'));
  if (tr) document.querySelectorAll(`#hex span[data-f="${tr.dataset.f}"]`).forEach(s => s.classList.add('hl'));
});
document.body.dataset.ready = '1';
