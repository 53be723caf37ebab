// Hand-written canvas pictures: size histogram, messages over time per topic,
// and a map of each file (records, blank, unwritten tail, damage).
const PALETTE = ['#1f6feb', '#2da44e', '#d1242f', '#8250df', '#bf8700', '#0a7ea4', '#cf222e', '#6e7781', '#e16f24', '#1b7c83'];

function setup(canvas) {
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = '11px system-ui, sans-serif';
  return ctx;
}

function fmtBytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + ' GiB';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1024) return (n / 1024).toFixed(n >= 10240 ? 0 : 1) + ' KiB';
  return n + ' B';
}

export function histogram(canvas, sizes) {
  const ctx = setup(canvas);
  const W = canvas.width, H = canvas.height, L = 44, B = 34, T = 10;
  if (!sizes.length) { ctx.fillText('no records', 10, 20); return; }
  const buckets = new Array(33).fill(0);
  let lo = 32, hi = 0;
  for (const s of sizes) { const b = s <= 1 ? 0 : Math.ceil(Math.log2(s)); buckets[b]++; lo = Math.min(lo, b); hi = Math.max(hi, b); }
  const n = hi - lo + 1, max = Math.max(...buckets);
  const bw = (W - L - 10) / n;
  ctx.strokeStyle = '#ccc'; ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - 5, H - B); ctx.stroke();
  ctx.fillStyle = '#68717d'; ctx.textAlign = 'right';
  ctx.fillText(String(max), L - 4, T + 8); ctx.fillText('0', L - 4, H - B);
  for (let i = 0; i < n; i++) {
    const c = buckets[lo + i], h = (H - B - T) * c / max;
    ctx.fillStyle = '#1f6feb';
    ctx.fillRect(L + i * bw + 1, H - B - h, Math.max(1, bw - 2), h);
    if (n <= 16 || i % Math.ceil(n / 12) === 0) {
      ctx.save(); ctx.fillStyle = '#68717d'; ctx.translate(L + i * bw + bw / 2, H - B + 4); ctx.rotate(-Math.PI / 5);
      ctx.textAlign = 'right'; ctx.fillText('≤' + fmtBytes(2 ** (lo + i)), 0, 8); ctx.restore();
    }
  }
}

export function timeline(canvas, timestamps, topicIds, topicNames) {
  const ctx = setup(canvas);
  const W = canvas.width, H = canvas.height, L = 40, B = 30, T = 10, R = 120;
  let t0 = Infinity, t1 = -Infinity;
  for (const t of timestamps) if (t > 0) { if (t < t0) t0 = t; if (t > t1) t1 = t; }
  if (!(t1 >= t0)) { ctx.fillStyle = '#68717d'; ctx.fillText('no message timestamps (DLedger entries have none)', 10, 20); return; }
  const BINS = 60, span = Math.max(1, t1 - t0);
  const per = new Map();
  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i]; if (t <= 0) continue;
    const k = topicIds[i];
    if (!per.has(k)) per.set(k, new Array(BINS).fill(0));
    per.get(k)[Math.min(BINS - 1, Math.floor((t - t0) / span * BINS))]++;
  }
  const top = [...per.entries()].sort((a, b) => b[1].reduce((x, y) => x + y) - a[1].reduce((x, y) => x + y)).slice(0, PALETTE.length);
  let max = 1; for (const [, v] of top) max = Math.max(max, ...v);
  ctx.strokeStyle = '#ccc'; ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  const x = i => L + (W - R - L) * (i + 0.5) / BINS, y = v => H - B - (H - B - T) * v / max;
  top.forEach(([k, v], j) => {
    ctx.strokeStyle = PALETTE[j]; ctx.lineWidth = 1.5; ctx.beginPath();
    v.forEach((c, i) => (i ? ctx.lineTo(x(i), y(c)) : ctx.moveTo(x(i), y(c))));
    ctx.stroke();
    ctx.fillStyle = PALETTE[j]; ctx.fillRect(W - R + 8, T + j * 16, 10, 10);
    ctx.fillStyle = '#1d232b'; ctx.textAlign = 'left'; ctx.fillText(topicNames[k] || '(none)', W - R + 22, T + 9 + j * 16);
  });
  ctx.fillStyle = '#68717d'; ctx.textAlign = 'right'; ctx.fillText(String(max), L - 4, T + 8);
  ctx.textAlign = 'left'; ctx.fillText(new Date(t0).toISOString().replace('T', ' ').slice(0, 19), L, H - B + 14);
  ctx.textAlign = 'right'; ctx.fillText(new Date(t1).toISOString().replace('T', ' ').slice(0, 19), W - R, H - B + 14);
  ctx.textAlign = 'center'; ctx.fillText(`per ${fmtMs(span / BINS)} bucket`, (L + W - R) / 2, H - 4);
}

function fmtMs(ms) { return ms < 1000 ? ms.toFixed(0) + ' ms' : ms < 60000 ? (ms / 1000).toFixed(1) + ' s' : (ms / 60000).toFixed(1) + ' min'; }

export function fileMap(canvas, reports, offsets, fileIndexes, recoveryEnd) {
  const rowH = 26, top = 4;
  canvas.height = top + reports.length * rowH + 4;
  const ctx = setup(canvas);
  const W = canvas.width, L = 170, R = 8, w = W - L - R;
  reports.forEach((f, i) => {
    const y = top + i * rowH, sx = p => L + w * p / Math.max(1, f.size);
    ctx.fillStyle = '#1d232b'; ctx.textAlign = 'left';
    ctx.fillText(`${f.name}`, 4, y + 11);
    ctx.fillStyle = '#68717d'; ctx.fillText(`${f.records} rec · ${f.stop}`, 4, y + 22);
    ctx.fillStyle = '#eaeef2'; ctx.fillRect(L, y + 3, w, rowH - 8);
    const beyond = recoveryEnd != null && f.base >= recoveryEnd && f.records > 0;
    ctx.fillStyle = beyond ? '#f2cc60' : '#2da44e';
    ctx.fillRect(L, y + 3, Math.max(f.end > 0 ? 1 : 0, sx(f.end) - L), rowH - 8);
    if (f.blank) { ctx.fillStyle = '#8c959f'; ctx.fillRect(sx(f.blank.pos), y + 3, Math.max(2, sx(f.blank.pos + f.blank.len) - sx(f.blank.pos)), rowH - 8); }
    if (f.stop === 'invalid' || f.stop === 'truncated') { ctx.fillStyle = '#d1242f'; ctx.fillRect(sx(f.end) - 1, y, 3, rowH - 2); }
  });
  // Record boundaries as faint ticks.
  ctx.fillStyle = 'rgba(255,255,255,0.55)';
  const step = Math.max(1, Math.floor(offsets.length / 20000));
  for (let i = 0; i < offsets.length; i += step) {
    const f = reports[fileIndexes[i]]; if (!f) continue;
    const y = top + fileIndexes[i] * rowH;
    ctx.fillRect(L + w * (offsets[i] - f.base) / Math.max(1, f.size), y + 3, 1, rowH - 8);
  }
}

export { fmtBytes };
