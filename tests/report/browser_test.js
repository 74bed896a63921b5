#!/usr/bin/env node
// The HTML report in a real browser: headless Chromium (the system's, driven over the
// DevTools protocol by puppeteer-core from src/report/html/node_modules) opens each
// report and the test checks there is no console error and no page error, that every
// chart canvas has drawn pixels, that the graph has drawn nodes and a click on one fills
// the details, and that the page made no network request. A screenshot of each page and
// the load times and file sizes (results.json) are left in OUT_DIR.
//
//   browser_test.js INFERCAST_BINARY OUT_DIR [--many N] [--page FILE.html ...]
// --many N adds a generated N-node ONNX model; --page checks a report written before
// (for example by `infercast report --predictor` or `validate --format html`).
// Exit 77 (skipped) when chromium or puppeteer-core is absent.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const source = path.resolve(__dirname, '..', '..');
const [binary, outDir] = process.argv.slice(2);
const manyIndex = process.argv.indexOf('--many');
const manyNodes = manyIndex > 0 ? Number(process.argv[manyIndex + 1]) : 0;
if (!binary || !outDir) {
  console.error('usage: browser_test.js INFERCAST_BINARY OUT_DIR [--many N]');
  process.exit(2);
}
const chromium = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
if (!chromium) {
  console.log('SKIP: no chromium (apt-get install chromium)');
  process.exit(77);
}
let puppeteer;
try {
  puppeteer = require(path.join(source, 'src/report/html/node_modules/puppeteer-core'));
} catch (e) {
  console.log('SKIP: puppeteer-core is not installed (scripts/install_report_js.sh)');
  process.exit(77);
}

const models = path.join(source, '.cache/models');
fs.mkdirSync(outDir, { recursive: true });
const cases = [];
const addCase = (name, model, args) => { if (fs.existsSync(model)) cases.push({ name, model, args }); };
addCase('mediapipe-face_detection_short_range', path.join(models, 'mediapipe/face_detection_short_range.tflite'), ['analyze']);
// Measured on XNNPACK (end to end and per layer): the latency and roofline charts draw.
addCase('mediapipe-face_detection_short_range-measured', path.join(models, 'mediapipe/face_detection_short_range.tflite'),
  ['report', '--runtime', 'xnnpack', '--threads', '1', '--repeat', '3', '--min-time', '0']);
addCase('torchvision-resnet50', path.join(models, 'torchvision/resnet50.onnx'), ['analyze']);
addCase('torchvision-densenet121', path.join(models, 'torchvision/densenet121.onnx'), ['analyze']);
if (manyNodes > 0) {
  const file = path.join(outDir, `many_nodes_${manyNodes}.onnx`);
  if (!fs.existsSync(file)) {
    execFileSync('/usr/bin/python3', [path.join(__dirname, 'make_many_node_model.py'), file, String(manyNodes)]);
  }
  addCase(`many_nodes_${manyNodes}`, file, ['analyze']);
}
process.argv.forEach((a, i) => { if (a === '--page') cases.push({ name: path.basename(process.argv[i + 1], '.html'), page: path.resolve(process.argv[i + 1]) }); });
if (cases.length === 0) {
  console.log('SKIP: no models in .cache/models (make models)');
  process.exit(77);
}

(async () => {
  const failures = [];
  const results = [];
  const browser = await puppeteer.launch({ executablePath: chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    for (const c of cases) {
      const html = c.page || path.join(outDir, `${c.name}.html`);
      const t0 = Date.now();
      if (!c.page) execFileSync(binary, [c.args[0], c.model, ...c.args.slice(1), '--format', 'html', '-o', html]);
      const writeMs = Date.now() - t0;
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 900 });
      const errors = [];
      const requests = [];
      const pageUrl = 'file://' + path.resolve(html);
      page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
      page.on('pageerror', (e) => errors.push('page: ' + e.message));
      page.on('request', (r) => { if (r.url() !== pageUrl) requests.push(r.url()); });
      const start = Date.now();
      await page.goto(pageUrl, { waitUntil: 'load', timeout: 120000 });
      await page.waitForFunction(() => window.infercastReport && window.infercastReport.ready, { timeout: 120000 });
      const loadMs = Date.now() - start;
      const drawn = await page.evaluate(() => {
        const canvases = [...document.querySelectorAll('canvas')].map((c) => {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let inked = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) inked++;
          return inked;
        });
        return { canvases, charts: window.infercastReport.charts.length, nodes: document.querySelectorAll('#graph g.gnode').length,
          edges: document.querySelectorAll('#graph polyline').length, rows: document.querySelectorAll('table.data tbody tr').length,
          clustered: window.infercastReport.clustered, view: window.infercastReport.view, errors: window.infercastReport.errors };
      });
      // A click on the first drawn node (dispatched: it may lie outside the viewport).
      const detailRows = await page.evaluate(() => {
        const node = document.querySelector('#graph g.gnode');
        if (!node) return 0;
        node.dispatchEvent(new MouseEvent('click', { bubbles: true }));
        return document.querySelectorAll('#details tr').length;
      });
      await page.screenshot({ path: path.join(outDir, `${c.name}.png`), fullPage: true });
      await page.close();
      const size = fs.statSync(html).size;
      const r = { report: c.name, bytes: size, write_ms: writeMs, load_ms: loadMs, ...drawn, detail_rows: detailRows, requests };
      results.push(r);
      console.log(JSON.stringify(r));
      const fail = (what) => failures.push(`${c.name}: ${what}`);
      for (const e of errors.concat(drawn.errors)) fail(e);
      if (requests.length) fail('network requests: ' + requests.join(' '));
      if (drawn.canvases.length < 1 || drawn.charts !== drawn.canvases.length) fail(`charts ${drawn.charts}, canvases ${drawn.canvases.length}`);
      drawn.canvases.forEach((inked, i) => { if (inked < 500) fail(`canvas ${i} is blank (${inked} pixels drawn)`); });
      const model = drawn.view === 'model';
      if (model && (drawn.nodes < 2 || drawn.edges < 1)) fail(`graph: ${drawn.nodes} nodes, ${drawn.edges} edges drawn`);
      if (drawn.rows < 1) fail('the layer table is empty');
      if (model && detailRows < 3) fail('a click on a graph node showed no details');
    }
  } finally {
    await browser.close();
  }
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  if (failures.length) {
    for (const f of failures) console.error('FAIL ' + f);
    process.exit(1);
  }
  console.log(`ok: ${results.length} reports; screenshots in ${outDir}`);
})().catch((e) => { console.error(e); process.exit(1); });
