// End-to-end test of the web page in headless Chromium (playwright-core +
// /usr/bin/chromium): upload fixture stores, check summary, record count,
// filters (counts from expected.jsonl), JSONL export (object by object),
// the record view, and a garbage upload. Screenshots: target/screenshots/.
// Run: scripts/build-web.sh && node tests/js/e2e.mjs
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, DIST, FIXTURES, logFiles, lines, serve, makeCounter } from './common.mjs';

const { check, done } = makeCounter();
if (!fs.existsSync(path.join(DIST, 'index.html'))) { console.error('missing web-demo/dist: run scripts/build-web.sh'); process.exit(2); }
const SHOTS = path.join(ROOT, 'target/screenshots');
fs.mkdirSync(SHOTS, { recursive: true });
const TMP = fs.mkdtempSync(path.join(ROOT, 'target/e2e-'));

const server = await serve();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 1000 } });
const page = await ctx.newPage();
const consoleErrors = [];
page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', e => consoleErrors.push(String(e)));
await page.goto(`${server.url}/index.html`);
await page.waitForFunction(() => document.body.dataset.ready === '1');

const tid = id => page.locator(`[data-testid="${id}"]`);
const parse = ls => ls.map(l => JSON.parse(l));
const deepEq = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function upload(files) {
  await page.evaluate(() => { document.getElementById('record-count').textContent = ''; });
  await tid('file-input').setInputFiles(files);
  await page.waitForFunction(() => {
    const e = document.querySelector('[data-testid="error"]');
    return (e && !e.hidden) || (!document.getElementById('records-panel').hidden && document.getElementById('record-count').textContent !== '');
  }, null, { timeout: 60000 });
}

async function filtered(set) {
  await page.evaluate(() => document.getElementById('filters').reset());
  for (const [sel, v] of Object.entries(set)) {
    if (sel === 'f-topic') await page.selectOption(`#${sel}`, v); else await page.fill(`#${sel}`, v);
  }
  // Wait for this filter's result (the page bumps data-filter-gen when done).
  const before = Number(await page.evaluate(() => document.body.dataset.filterGen || 0));
  await page.click('#apply');
  await page.waitForFunction(b => Number(document.body.dataset.filterGen || 0) > b, before);
  return Number(await tid('filtered-count').textContent());
}

async function exported() {
  const [dl] = await Promise.all([page.waitForEvent('download'), tid('export-jsonl').click()]);
  const p = path.join(TMP, dl.suggestedFilename());
  await dl.saveAs(p);
  return lines(p);
}

const cases = [
  { name: 'rocketmq-basic', dir: 'rocketmq/basic/store/commitlog', exp: 'rocketmq/basic/expected.jsonl', kind: 'RocketMQ commitlog', view: 'messages' },
  { name: 'dledger-basic', dir: 'dledger/basic/store/dledger-n0/data', exp: 'dledger/basic/expected.jsonl', kind: 'DLedger data', view: 'entries' },
  { name: 'dledger-master-basic', dir: 'dledger/master-basic/store/dledger-n0/data', exp: 'dledger/master-basic/expected.jsonl', kind: 'DLedger data', view: 'entries' },
  { name: 'rocketmq-dledger-basic', dir: 'rocketmq-dledger/basic/store/dledger-n0/data', exp: 'rocketmq-dledger/basic/expected.jsonl', kind: 'RocketMQ on DLedger', view: 'messages', entries: 'rocketmq-dledger/basic/expected_dledger.jsonl' },
];

for (const c of cases) {
  const files = logFiles(path.join(FIXTURES, c.dir));
  const want = lines(path.join(FIXTURES, c.exp));
  const t0 = Date.now();
  await upload(files);
  check(!(await tid('error').isVisible()), `${c.name}: no error shown`, await tid('error').textContent());
  const count = Number(await tid('record-count').textContent());
  check(count === want.length, `${c.name}: record-count ${count} == ${want.length}`);
  const summary = await tid('summary').innerText();
  check(summary.includes(c.kind), `${c.name}: summary says ${c.kind}`);
  check(summary.includes(`${files.length} (`), `${c.name}: summary lists ${files.length} files`);
  check(await page.locator('#view').inputValue() === c.view, `${c.name}: default view is ${c.view}`);
  const objs = parse(want);
  const got = parse(await exported());
  check(deepEq(got, objs), `${c.name}: exported JSONL equals ${c.exp} object by object (${got.length} objects)`);
  console.log(`     (${c.name}: loaded and exported in ${Date.now() - t0} ms)`);

  if (c.view === 'messages') {
    const topics = [...new Set(objs.map(o => o.topic))];
    for (const t of topics.slice(0, 2)) {
      const n = await filtered({ 'f-topic': t });
      check(n === objs.filter(o => o.topic === t).length, `${c.name}: topic filter ${t} -> ${n}`);
    }
    const tag = objs.find(o => o.properties.TAGS)?.properties.TAGS;
    const nTag = await filtered({ 'f-tag': tag });
    check(nTag === objs.filter(o => o.properties.TAGS === tag).length, `${c.name}: tag filter ${tag} -> ${nTag}`);
    const keyOf = o => [...(o.properties.KEYS || '').split(' ').filter(Boolean), o.properties.UNIQ_KEY].filter(Boolean);
    const keyCounts = new Map();
    for (const o of objs) for (const k of new Set(keyOf(o))) keyCounts.set(k, (keyCounts.get(k) || 0) + 1);
    const key = [...keyCounts.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const nKey = await filtered({ 'f-key': key });
    check(nKey === keyCounts.get(key), `${c.name}: key filter ${key} -> ${nKey} (want ${keyCounts.get(key)})`);
    const nBoth = await filtered({ 'f-topic': topics[0], 'f-tag': tag, 'f-queue': '0' });
    check(nBoth === objs.filter(o => o.topic === topics[0] && o.properties.TAGS === tag && o.queueId === 0).length, `${c.name}: topic+tag+queue filter -> ${nBoth}`);
    // Time range: the middle third of store timestamps (inclusive bounds).
    const ts = objs.map(o => o.storeTimestamp).sort((a, b) => a - b);
    const [lo, hi] = [ts[Math.floor(ts.length / 3)], ts[Math.floor(2 * ts.length / 3)]];
    const iso = t => new Date(t).toISOString().slice(0, 23);
    const nTime = await filtered({ 'f-from': iso(lo), 'f-to': iso(hi) });
    check(nTime === objs.filter(o => o.storeTimestamp >= lo && o.storeTimestamp <= hi).length, `${c.name}: time filter -> ${nTime}`);
    // Body text: ASCII bodies containing "msg-1".
    const needle = 'msg-1', hex = Buffer.from(needle).toString('hex');
    const nBody = await filtered({ 'f-body': needle });
    check(nBody === objs.filter(o => Buffer.from(o.body, 'hex').includes(Buffer.from(hex, 'hex'))).length, `${c.name}: body filter "${needle}" -> ${nBody}`);
    // Export of a filtered view: exactly the matching lines.
    await filtered({ 'f-topic': topics[0] });
    const sub = parse(await exported());
    check(deepEq(sub, objs.filter(o => o.topic === topics[0])), `${c.name}: filtered export == expected lines of ${topics[0]}`);
    const n = await filtered({});
    check(n === objs.length, `${c.name}: cleared filters show all ${objs.length}`);
  }
  if (c.entries) {
    await page.selectOption('#view', 'entries');
    const ent = parse(await exported());
    check(deepEq(ent, parse(lines(path.join(FIXTURES, c.entries)))), `${c.name}: entries view export == ${c.entries}`);
    await page.selectOption('#view', 'messages');
  }
  // Sorting by size (descending) shows the largest record first.
  for (let i = 0; i < 2; i++) {
    const g = Number(await page.evaluate(() => document.body.dataset.sortGen || 0));
    await page.click('#thead [data-col="size"]');
    await page.waitForFunction(b => Number(document.body.dataset.sortGen || 0) > b, g);
  }
  check(await page.locator('#thead .sorted.desc').count() === 1, `${c.name}: size column marked sorted descending`);
  const firstSize = Number(await page.locator('#tspacer .trow').first().locator('div').nth(2).textContent());
  const maxSize = Math.max(...objs.map(o => o.size ?? o.totalSize + (c.entries ? 48 : 0)));
  check(firstSize === maxSize, `${c.name}: sort by size desc puts ${maxSize} first (got ${firstSize})`);
  // Record view with named, highlighted fields.
  await page.locator('#tspacer .trow').nth(1).click();
  await page.waitForFunction(() => !document.getElementById('record-panel').hidden && document.querySelectorAll('#hex span.b').length > 0);
  const names = await page.locator('#fields tbody tr td:first-child').allInnerTexts();
  const needFields = c.view === 'entries' ? ['entry.index', 'entry.term', 'entry.pos'] : ['message.totalSize', 'message.topic', 'message.storeTimestamp'];
  check(needFields.every(f => names.some(n => n.includes(f))), `${c.name}: record view names fields ${needFields.join(', ')}`, names.join(' '));
  const title = await page.locator('#hex span.b').first().getAttribute('title');
  check(/=/.test(title || ''), `${c.name}: hex bytes carry a "field = value" tooltip`, title);
  await page.screenshot({ path: path.join(SHOTS, `${c.name}.png`), fullPage: true });
  await page.locator('#record-panel').screenshot({ path: path.join(SHOTS, `${c.name}-record.png`) });
}

// A garbage file: a clear, visible error, not a hang or a blank page.
const garbage = path.join(TMP, 'garbage.bin');
fs.writeFileSync(garbage, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 17) & 255)));
await upload([garbage]);
const errVisible = await tid('error').isVisible();
check(errVisible, 'garbage: error is visible');
check(/not a RocketMQ commitlog, DLedger data or consume-queue file/.test(await tid('error').textContent()), 'garbage: error says what is wrong', await tid('error').textContent());
await page.screenshot({ path: path.join(SHOTS, 'garbage-error.png') });

// A damaged commitlog (a bit flip in a body): decoded up to the damage, problem listed.
const src = logFiles(path.join(FIXTURES, 'rocketmq/basic/store/commitlog'));
const dmgDir = path.join(TMP, 'damaged'); fs.mkdirSync(dmgDir);
const first = lines(path.join(FIXTURES, 'rocketmq/basic/expected.jsonl')).map(l => JSON.parse(l));
const victim = first.find(o => o.bodyLength > 1000 && o.physicalOffset < 65536);
for (const f of src.slice(0, 2)) {
  const b = fs.readFileSync(f);
  if (path.basename(f) === '00000000000000000000') b[victim.physicalOffset + victim.totalSize - 200] ^= 0x40;
  fs.writeFileSync(path.join(dmgDir, path.basename(f)), b);
}
await upload(logFiles(dmgDir));
const probs = await page.locator('#problems tbody tr').allInnerTexts();
check(probs.some(p => p.includes('crc-mismatch') && p.includes(String(victim.physicalOffset))), `damaged: CRC mismatch reported at ${victim.physicalOffset}`, probs.join(' | '));
const recText = await page.locator('#recovery').innerText();
check(recText.includes(String(victim.physicalOffset)), 'damaged: recovery end shown at the damaged record', recText);
const kept = first.filter(o => o.physicalOffset < victim.physicalOffset).length;
const second = first.filter(o => o.physicalOffset >= 65536 && o.physicalOffset < 131072).length;
check(Number(await tid('record-count').textContent()) === kept + second, `damaged: ${kept} records before the damage + ${second} in file 2 (beyond recovery)`);
await page.screenshot({ path: path.join(SHOTS, 'damaged.png'), fullPage: true });

check(consoleErrors.length === 0, 'no console errors', consoleErrors.join(' | '));
await browser.close();
await server.close();
fs.rmSync(TMP, { recursive: true, force: true });
done();
