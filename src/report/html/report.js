// infercast's HTML report: draws the JSON document embedded in the page (the same
// document `--format json` writes). Chart.js draws the charts, dagre lays out the
// graph; everything is inline, nothing is fetched. window.infercastReport says what
// was drawn (read by the browser test).
(function () {
  'use strict';
  const doc = JSON.parse(document.getElementById('infercast-data').textContent);
  const main = document.getElementById('main');
  const state = { charts: [], graphNodes: 0, clustered: false, errors: [] };
  window.infercastReport = state;
  if (window.Chart) {
    Chart.defaults.animation = false;
    Chart.defaults.responsive = true;
    Chart.defaults.maintainAspectRatio = false;
  }

  // ---- helpers ------------------------------------------------------------------
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  };
  const count = (v) => {
    if (v === null || v === undefined || Number.isNaN(v)) return '';
    const u = ['', ' K', ' M', ' G', ' T', ' P'];
    let i = 0; let x = Number(v);
    while (Math.abs(x) >= 1000 && i < u.length - 1) { x /= 1000; i++; }
    return i === 0 ? String(Math.round(x)) : x.toFixed(2) + u[i];
  };
  const bytes = (v) => {
    if (v === null || v === undefined) return '';
    const u = [' B', ' KiB', ' MiB', ' GiB', ' TiB'];
    let i = 0; let x = Number(v);
    while (Math.abs(x) >= 1024 && i < u.length - 1) { x /= 1024; i++; }
    return i === 0 ? Math.round(x) + u[0] : x.toFixed(2) + u[i];
  };
  const ms = (v) => (v === null || v === undefined ? '' : Number(v).toFixed(4));
  const section = (title, ...children) => { const s = el('section', {}, el('h2', {}, title), ...children); main.append(s); return s; };
  const chartBox = () => { const c = el('canvas'); return [el('div', { class: 'chart' }, c), c]; };
  const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
    '#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
  const colorOf = (() => { const m = new Map(); return (k) => { if (!m.has(k)) m.set(k, palette[m.size % palette.length]); return m.get(k); }; })();
  const addChart = (canvas, config) => { const c = new Chart(canvas.getContext('2d'), config); state.charts.push(c); return c; };
  const kv = (rows) => el('table', { class: 'kv' }, ...rows.filter((r) => r[1] !== undefined && r[1] !== null && r[1] !== '')
    .map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, v))));

  // A sortable, filterable table with a CSV download of the rows shown.
  function dataTable(columns, rows, name) {
    let sortKey = null; let sortDir = 1; let filter = ''; let limit = 1000;
    const body = el('tbody');
    const head = el('tr', {}, ...columns.map((c) => el('th', { class: c.num ? 'num' : '', onclick: () => {
      sortDir = sortKey === c.key ? -sortDir : (c.num ? -1 : 1); sortKey = c.key; draw(); } }, c.title)));
    const info = el('span', { class: 'note' });
    const filtered = () => {
      const f = filter.toLowerCase();
      let out = f ? rows.filter((r) => columns.some((c) => !c.num && String(r[c.key] ?? '').toLowerCase().includes(f))) : rows.slice();
      if (sortKey) {
        out.sort((a, b) => {
          const x = a[sortKey]; const y = b[sortKey];
          if (x === y) return 0; if (x === null || x === undefined) return 1; if (y === null || y === undefined) return -1;
          return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))) * sortDir;
        });
      }
      return out;
    };
    function draw() {
      const out = filtered();
      body.replaceChildren(...out.slice(0, limit).map((r) => el('tr', {}, ...columns.map((c) =>
        el('td', { class: c.num ? 'num' : '' }, c.fmt ? c.fmt(r[c.key]) : (r[c.key] ?? ''))))));
      info.textContent = `${out.length} of ${rows.length} rows` + (out.length > limit ? `, first ${limit} shown` : '');
      more.style.display = out.length > limit ? '' : 'none';
    }
    const more = el('button', { onclick: () => { limit = Infinity; draw(); } }, 'show all');
    const csv = el('button', { onclick: () => {
      const q = (v) => { const s = v === null || v === undefined ? '' : String(v); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
      const text = [columns.map((c) => q(c.key)).join(',')].concat(filtered().map((r) => columns.map((c) => q(r[c.key])).join(','))).join('\n') + '\n';
      const a = el('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: name + '.csv' });
      document.body.append(a); a.click(); a.remove();
    } }, 'download CSV');
    const input = el('input', { type: 'search', placeholder: 'filter (name, op, ...)', oninput: (e) => { filter = e.target.value; draw(); } });
    const wrap = el('div', {}, el('div', {}, input, ' ', csv, ' ', info, ' ', more),
      el('div', { class: 'scroll' }, el('table', { class: 'data' }, el('thead', {}, head), body)));
    draw();
    return wrap;
  }

  // ---- model report --------------------------------------------------------------
  function modelReport() {
    const layers = doc.layers || [];
    const kernels = doc.kernels || [];
    const pred = doc.prediction; const meas = doc.measurement; const t = doc.totals || {};
    document.getElementById('title').textContent = doc.model || 'model';
    document.getElementById('subtitle').textContent = `${doc.format} · ${layers.length} layers` +
      (pred ? ` · predicted ${pred.latency_ms.toFixed(3)} ms (${pred.runtime}, ${pred.threads} threads)` : '') +
      (meas ? ` · measured ${meas.latency_ms.median.toFixed(3)} ms (${meas.runtime} ${meas.runtime_version}, ${meas.threads} threads)` : '');

    // Summary.
    const io = (list) => (list || []).map((x) => `${x.name} ${x.dtype}[${(x.shape || []).map((d) => d ?? '?').join('x')}]`).join(', ');
    const census = Object.entries(doc.ops || {}).sort((a, b) => b[1] - a[1]);
    const machine = doc.machine || {};
    section('Summary', el('div', { class: 'grid' },
      kv([['model', doc.model], ['format', `${doc.format} (opset/version ${doc.opset}, ${doc.layout})`], ['producer', doc.producer],
        ['inputs', io(doc.inputs)], ['outputs', io(doc.outputs)],
        ['machine', machine.cpu_model ? `${machine.cpu_model}, ${machine.cores} cores, ${machine.hostname}` : ''], ['time', machine.timestamp_utc],
        ['predictor', pred ? `${pred.predictor} (${pred.runtime} ${pred.runtime_version}, ${pred.threads} threads)` : ''],
        ['predicted', pred ? `${pred.latency_ms.toFixed(3)} ms (90% band ${pred.interval_ms[0].toFixed(3)} .. ${pred.interval_ms[1].toFixed(3)} ms)` : ''],
        ['measured', meas ? `${meas.latency_ms.median.toFixed(3)} ms median of ${meas.latency_ms.n} (CV ${(100 * meas.latency_ms.cv).toFixed(1)}%)` : '']]),
      kv([['layers', count(t.layers)], ['params', count(t.params)], ['weight bytes', bytes(t.weight_bytes)], ['MACs', count(t.macs)],
        ['FLOPs', count(t.flops)], ['peak activations (arena)', bytes(t.peak_activation_bytes)],
        ['peak lower bound', bytes(t.peak_activation_lower_bound_bytes)], ['bytes read', bytes(t.read_bytes)],
        ['bytes written', bytes(t.write_bytes)], ['FLOPs per byte', (t.arithmetic_intensity || 0).toFixed(2)]]),
      el('div', {}, el('div', { class: 'note' }, 'op census'), el('div', { class: 'scroll', style: 'max-height:220px' },
        kv(census.map(([op, n]) => [op, String(n)]))))),
    (doc.warnings || []).length ? el('div', { class: 'note' }, 'warnings: ' + doc.warnings.join('; ')) : null);

    // Per-layer table.
    const rows = layers.map((l) => ({ index: l.index, name: l.name, op: l.op, output: l.output_shape, params: l.params, macs: l.macs,
      flops: l.flops, bytes: l.read_bytes + l.write_bytes, intensity: Number((l.arithmetic_intensity || 0).toFixed(3)),
      kernel: l.kernel !== null && kernels[l.kernel] ? kernels[l.kernel].type : null, predicted_ms: l.predicted_ms, measured_ms: l.measured_ms }));
    section('Layers', dataTable([
      { key: 'index', title: '#', num: true }, { key: 'name', title: 'name' }, { key: 'op', title: 'op' }, { key: 'output', title: 'output' },
      { key: 'params', title: 'params', num: true, fmt: count }, { key: 'macs', title: 'MACs', num: true, fmt: count },
      { key: 'flops', title: 'FLOPs', num: true, fmt: count }, { key: 'bytes', title: 'bytes moved', num: true, fmt: bytes },
      { key: 'intensity', title: 'FLOP/B', num: true }, { key: 'kernel', title: 'kernel' },
      { key: 'predicted_ms', title: 'predicted ms', num: true, fmt: ms }, { key: 'measured_ms', title: 'measured ms', num: true, fmt: ms }],
    rows, 'layers'));

    // Where the time goes: by kernel family (predicted and measured), and the slowest kernels.
    {
      const s = section('Where the time goes');
      if (kernels.length || meas) {
        const fam = new Map();
        const add = (f, key, v) => { if (!fam.has(f)) fam.set(f, { predicted: 0, measured: 0 }); fam.get(f)[key] += v || 0; };
        for (const k of kernels) { add(k.family, 'predicted', k.predicted_ms); add(k.family, 'measured', k.measured_ms); }
        if (!kernels.length) for (const l of layers) add(l.op, 'measured', l.measured_ms);
        const families = [...fam.keys()].sort((a, b) => (fam.get(b).predicted + fam.get(b).measured) - (fam.get(a).predicted + fam.get(a).measured));
        const datasets = [];
        if (kernels.length) datasets.push({ label: 'predicted ms', data: families.map((f) => fam.get(f).predicted), backgroundColor: '#4e79a7' });
        if (meas) datasets.push({ label: 'measured ms', data: families.map((f) => fam.get(f).measured), backgroundColor: '#f28e2b' });
        const [box1, c1] = chartBox();
        s.append(el('div', { class: 'note' }, kernels.length ? 'per kernel family (sum of its kernels)' : 'per op (runtime per-layer medians)'), box1);
        addChart(c1, { type: 'bar', data: { labels: families, datasets }, options: { scales: { y: { title: { display: true, text: 'ms' } } } } });
        if (kernels.length) {
          const top = kernels.filter((k) => !k.removed).sort((a, b) => (b.measured_ms ?? b.predicted_ms) - (a.measured_ms ?? a.predicted_ms)).slice(0, 60);
          const [box2, c2] = chartBox();
          s.append(el('div', { class: 'note' }, `the ${top.length} slowest kernels, coloured by family`), box2);
          const ds = [{ label: 'predicted ms', data: top.map((k) => k.predicted_ms), backgroundColor: top.map((k) => colorOf(k.family)) }];
          if (meas) ds.push({ label: 'measured ms', data: top.map((k) => k.measured_ms), backgroundColor: '#bbbbbb' });
          addChart(c2, { type: 'bar', data: { labels: top.map((k) => `${k.name} (${k.type})`), datasets: ds },
            options: { scales: { x: { ticks: { display: top.length <= 30 } }, y: { title: { display: true, text: 'ms' } } } } });
        }
      } else {
        s.append(el('div', { class: 'note' }, 'No latency in this report: give --predictor BUNDLE and/or --runtime R.'));
      }
    }

    // Roofline.
    {
      const s = section('Roofline');
      const points = [];
      const source = meas ? 'measured' : 'predicted';
      if (kernels.length) {
        for (const k of kernels) {
          const t = meas ? k.measured_ms : k.predicted_ms;
          if (k.removed || !(t > 0) || !(k.flops > 0) || !(k.bytes > 0)) continue;
          points.push({ x: k.flops / k.bytes, y: k.flops / (t * 1e6), label: `${k.name} (${k.type})`, family: k.family });
        }
      } else if (meas) {
        for (const l of layers) {
          if (!(l.measured_ms > 0) || !(l.flops > 0)) continue;
          const b = l.read_bytes + l.write_bytes; if (!(b > 0)) continue;
          points.push({ x: l.flops / b, y: l.flops / (l.measured_ms * 1e6), label: `${l.name} (${l.op})`, family: l.op });
        }
      }
      if (points.length) {
        const groups = new Map();
        for (const p of points) { if (!groups.has(p.family)) groups.set(p.family, []); groups.get(p.family).push(p); }
        const datasets = [...groups.entries()].map(([f, pts]) => ({ type: 'scatter', label: f, data: pts, backgroundColor: colorOf(f) }));
        const c = pred && pred.ceilings;
        if (c && c.peak_gflops > 0 && c.bandwidth_gbs > 0) {
          const xs = points.map((p) => p.x); const lo = Math.min(...xs) / 2; const hi = Math.max(...xs) * 2;
          const ridge = c.peak_gflops / c.bandwidth_gbs; const line = [];
          for (const x of [lo, Math.min(Math.max(ridge, lo), hi), hi]) line.push({ x, y: Math.min(c.peak_gflops, c.bandwidth_gbs * x) });
          datasets.push({ type: 'line', label: `ceiling: ${c.peak_gflops.toFixed(1)} GFLOP/s, ${c.bandwidth_gbs.toFixed(1)} GB/s`, data: line,
            borderColor: '#333', borderWidth: 2, pointRadius: 0, fill: false });
          if (c.dram_bandwidth_gbs > 0) {
            datasets.push({ type: 'line', label: `DRAM: ${c.dram_bandwidth_gbs.toFixed(1)} GB/s`, borderDash: [6, 4], borderColor: '#888',
              pointRadius: 0, data: [lo, hi].map((x) => ({ x, y: Math.min(c.peak_gflops, c.dram_bandwidth_gbs * x) })) });
          }
        }
        const [box, canvas] = chartBox();
        s.append(el('div', { class: 'note' }, `each ${kernels.length ? 'kernel' : 'layer'}: FLOPs per byte moved against its ${source} GFLOP/s` +
          (pred ? '; ceilings: the profile\'s peak compute (conv, fc kernels) and bandwidth (eltwise, activation kernels)' : '')), box);
        addChart(canvas, { type: 'scatter', data: { datasets }, options: {
          scales: { x: { type: 'logarithmic', title: { display: true, text: 'FLOPs per byte' } }, y: { type: 'logarithmic', title: { display: true, text: 'GFLOP/s' } } },
          plugins: { tooltip: { callbacks: { label: (ctx) => `${ctx.raw.label || ctx.dataset.label}: ${ctx.raw.x.toFixed(2)} FLOP/B, ${ctx.raw.y.toFixed(2)} GFLOP/s` } } } } });
      } else {
        s.append(el('div', { class: 'note' }, 'No latency in this report: give --predictor BUNDLE and/or --runtime R.'));
      }
    }

    // Memory timeline.
    {
      const m = doc.memory_timeline;
      const s = section('Memory timeline');
      if (m && m.live_bytes && m.live_bytes.length) {
        const labels = m.live_bytes.map((_, i) => i);
        const [box, canvas] = chartBox();
        s.append(el('div', { class: 'note' }, `live activation bytes after each layer, in execution order; arena plan ${bytes(m.arena_bytes)}, lower bound ${bytes(m.lower_bound_bytes)}`), box);
        addChart(canvas, { type: 'line', data: { labels, datasets: [
          { label: 'live activations', data: m.live_bytes, borderColor: '#4e79a7', backgroundColor: 'rgba(78,121,167,0.2)', fill: true, pointRadius: 0, stepped: true },
          { label: 'arena plan (peak)', data: labels.map(() => m.arena_bytes), borderColor: '#e15759', pointRadius: 0, borderDash: [6, 4] },
          { label: 'lower bound', data: labels.map(() => m.lower_bound_bytes), borderColor: '#59a14f', pointRadius: 0, borderDash: [2, 3] }] },
        options: { scales: { x: { title: { display: true, text: 'layer (execution order)' }, ticks: { maxTicksLimit: 20 } },
          y: { beginAtZero: true, title: { display: true, text: 'bytes' }, ticks: { callback: (v) => bytes(v) } } },
        plugins: { tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${bytes(ctx.raw)}` + (ctx.datasetIndex === 0 && layers[ctx.dataIndex] ? ` (${layers[ctx.dataIndex].name})` : '') } } } } });
      }
    }

    graphSection(layers, kernels);
  }

  // ---- the graph --------------------------------------------------------------------
  // Up to kDirect nodes are laid out one by one; a larger graph is cut into clusters of
  // consecutive nodes (execution order) and the clusters are laid out; a click on a
  // cluster opens its own nodes.
  const kDirect = 300;
  function graphSection(layers, kernels) {
    const s = section('Graph');
    const n = layers.length;
    const edges = doc.edges || [];
    const hasLatency = layers.some((l) => l.predicted_ms > 0 || l.measured_ms > 0);
    const colorBy = el('select', {}, ...(hasLatency ? [el('option', { value: 'latency' }, 'colour: latency share')] : []),
      el('option', { value: 'macs' }, 'colour: MACs'));
    const back = el('button', { style: 'display:none' }, 'back to the whole graph');
    const info = el('span', { class: 'note' });
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('id', 'graph');
    const details = el('div', { id: 'details' }, el('div', { class: 'note' }, 'click a node for its attributes and costs'));
    s.append(el('div', {}, colorBy, ' ', back, ' ', info), el('div', { id: 'graph-wrap' }, svg, details));
    const latency = (l) => (l.measured_ms ?? l.predicted_ms ?? 0);
    const value = (l, mode) => (mode === 'latency' ? latency(l) : l.macs || 0);
    const clusterSize = n > kDirect ? Math.ceil(n / 150) : 1;

    function heat(v, max) {
      if (!(v > 0) || !(max > 0)) return '#f0f2f5';
      const t = Math.max(0, Math.min(1, Math.log1p(99 * v / max) / Math.log(100)));
      const r = Math.round(255 - 30 * t); const g = Math.round(245 - 180 * t); const b = Math.round(235 - 200 * t);
      return `rgb(${r},${g},${b})`;
    }
    function showDetails(items) {
      details.replaceChildren();
      for (const l of items.slice(0, 50)) {
        const k = l.kernel !== null && l.kernel !== undefined ? kernels[l.kernel] : null;
        details.append(el('h3', { style: 'font-size:13px;margin:6px 0' }, `#${l.index} ${l.name}`), kv([
          ['op', l.op], ['output', l.output_shape], ['inputs', (l.inputs || []).join(', ')], ['params', count(l.params)],
          ['weight bytes', bytes(l.weight_bytes)], ['MACs', count(l.macs)], ['FLOPs', count(l.flops)],
          ['bytes read', bytes(l.read_bytes)], ['bytes written', bytes(l.write_bytes)], ['FLOPs per byte', (l.arithmetic_intensity || 0).toFixed(3)],
          ['kernel', k ? `${k.name} (${k.type}, ${k.family})` : ''], ['predicted ms', ms(l.predicted_ms)], ['measured ms', ms(l.measured_ms)],
          ...Object.entries(l.attributes || {}).map(([a, v]) => [a, JSON.stringify(v)])]));
      }
      if (items.length > 50) details.append(el('div', { class: 'note' }, `${items.length - 50} more in this cluster`));
    }

    // Builds the view: items are groups of layer indices; view edges join groups.
    function draw(groupsOf) {
      const mode = colorBy.value;
      const groups = groupsOf();
      const groupOf = new Int32Array(n).fill(-1);
      groups.forEach((g, gi) => g.members.forEach((i) => { groupOf[i] = gi; }));
      const g = new dagre.graphlib.Graph({ multigraph: false });
      g.setGraph({ rankdir: 'TB', nodesep: 12, ranksep: 22, marginx: 10, marginy: 10 });
      g.setDefaultEdgeLabel(() => ({}));
      groups.forEach((grp, gi) => g.setNode(String(gi), { width: grp.cluster ? 150 : 120, height: grp.cluster ? 34 : 26 }));
      const seen = new Set();
      for (const [a, b] of edges) {
        const ga = groupOf[a]; const gb = groupOf[b];
        if (ga < 0 || gb < 0 || ga === gb) continue;
        const key = ga + ',' + gb; if (seen.has(key)) continue; seen.add(key);
        g.setEdge(String(ga), String(gb));
      }
      dagre.layout(g);
      const vals = groups.map((grp) => grp.members.reduce((s, i) => s + value(layers[i], mode), 0));
      const max = Math.max(...vals, 0);
      const total = layers.reduce((s, l) => s + value(l, mode), 0);
      const NS = 'http://www.w3.org/2000/svg';
      svg.replaceChildren();
      const root = document.createElementNS(NS, 'g');
      svg.append(root);
      for (const e of g.edges()) {
        const pts = g.edge(e).points;
        const p = document.createElementNS(NS, 'polyline');
        p.setAttribute('points', pts.map((q) => `${q.x},${q.y}`).join(' '));
        p.setAttribute('fill', 'none'); p.setAttribute('stroke', '#9aa3b2'); p.setAttribute('stroke-width', '1');
        root.append(p);
      }
      groups.forEach((grp, gi) => {
        const nd = g.node(String(gi));
        const gEl = document.createElementNS(NS, 'g');
        gEl.setAttribute('class', 'gnode'); gEl.setAttribute('transform', `translate(${nd.x - nd.width / 2},${nd.y - nd.height / 2})`);
        gEl.style.cursor = 'pointer';
        const r = document.createElementNS(NS, 'rect');
        r.setAttribute('width', nd.width); r.setAttribute('height', nd.height); r.setAttribute('rx', grp.cluster ? 8 : 4);
        r.setAttribute('fill', heat(vals[gi], max)); r.setAttribute('stroke', grp.cluster ? '#1d2330' : '#6b7486');
        r.setAttribute('stroke-width', grp.cluster ? 1.5 : 1);
        const text = document.createElementNS(NS, 'text');
        text.setAttribute('x', 6); text.setAttribute('y', grp.cluster ? 14 : 17); text.setAttribute('font-size', '11');
        text.textContent = grp.label.length > 22 ? grp.label.slice(0, 21) + '…' : grp.label;
        const title = document.createElementNS(NS, 'title');
        title.textContent = `${grp.label}: ${mode === 'latency' ? ms(vals[gi]) + ' ms' : count(vals[gi]) + ' MACs'} (${total > 0 ? (100 * vals[gi] / total).toFixed(1) : 0}%)`;
        gEl.append(title, r, text);
        if (grp.cluster) {
          const sub = document.createElementNS(NS, 'text');
          sub.setAttribute('x', 6); sub.setAttribute('y', 28); sub.setAttribute('font-size', '9'); sub.setAttribute('fill', '#5b6578');
          sub.textContent = `${grp.members.length} layers · ${total > 0 ? (100 * vals[gi] / total).toFixed(1) : 0}%`;
          gEl.append(sub);
        }
        gEl.addEventListener('click', () => {
          showDetails(grp.members.map((i) => layers[i]));
          if (grp.cluster) { current = () => grp.members.map((i) => ({ label: layers[i].op + ' ' + layers[i].name, members: [i], cluster: false })); back.style.display = ''; draw(current); }
        });
        root.append(gEl);
      });
      const gr = g.graph();
      view = { x: 0, y: 0, w: Math.max(gr.width || 100, 200), h: Math.max(gr.height || 100, 200) };
      const aspect = svg.clientWidth > 0 ? svg.clientHeight / svg.clientWidth : 0.5;
      view.h = Math.min(view.h, Math.max(view.w * aspect, 400));
      view.w = Math.max(view.w, view.h / aspect);
      setView();
      state.graphNodes = groups.length;
      state.clustered = groups.some((x) => x.cluster);
      info.textContent = state.clustered ? `${n} layers in ${groups.length} clusters of about ${clusterSize} consecutive layers: click one to open it` : `${groups.length} layers`;
    }
    const whole = () => {
      if (clusterSize === 1) return layers.map((l, i) => ({ label: l.op + ' ' + l.name, members: [i], cluster: false }));
      const out = [];
      for (let s0 = 0; s0 < n; s0 += clusterSize) {
        const members = []; for (let i = s0; i < Math.min(n, s0 + clusterSize); i++) members.push(i);
        const ops = new Map(); for (const i of members) ops.set(layers[i].op, (ops.get(layers[i].op) || 0) + 1);
        const main = [...ops.entries()].sort((a, b) => b[1] - a[1])[0][0];
        out.push({ label: `#${s0}–${s0 + members.length - 1} ${main}`, members, cluster: true });
      }
      return out;
    };
    let current = whole;
    let view = { x: 0, y: 0, w: 100, h: 100 };
    const setView = () => svg.setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`);
    svg.addEventListener('wheel', (e) => {
      e.preventDefault();
      const f = e.deltaY > 0 ? 1.2 : 1 / 1.2; const rect = svg.getBoundingClientRect();
      const px = view.x + (e.clientX - rect.left) / rect.width * view.w; const py = view.y + (e.clientY - rect.top) / rect.height * view.h;
      view = { x: px - (px - view.x) * f, y: py - (py - view.y) * f, w: view.w * f, h: view.h * f }; setView();
    }, { passive: false });
    let drag = null;
    svg.addEventListener('mousedown', (e) => { drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y }; });
    window.addEventListener('mouseup', () => { drag = null; });
    window.addEventListener('mousemove', (e) => {
      if (!drag) return; const rect = svg.getBoundingClientRect();
      view.x = drag.vx - (e.clientX - drag.x) / rect.width * view.w; view.y = drag.vy - (e.clientY - drag.y) / rect.height * view.h; setView();
    });
    colorBy.addEventListener('change', () => draw(current));
    back.addEventListener('click', () => { current = whole; back.style.display = 'none'; draw(current); });
    draw(current);
  }

  // ---- validation report -------------------------------------------------------------
  function validationReport() {
    const models = doc.models || []; const s = doc.summary || {};
    document.getElementById('title').textContent = 'validation: ' + (doc.predictor || '');
    document.getElementById('subtitle').textContent = `${doc.runtime || ''} · ${models.length} models · statistic ${doc.statistic || 'median'}`;
    const ok = models.filter((m) => !m.error && m.measured_ms > 0);
    const pct = (v) => (v === undefined || v === null ? '' : (100 * v).toFixed(0) + '%');
    section('Summary', kv([['models', `${s.n} (failed ${s.failed})`], ['within ±5%', pct(s.within5)], ['within ±10%', pct(s.within10)],
      ['MAPE', s.mape !== undefined ? s.mape.toFixed(1) + '%' : ''], ['RMSE', s.rmse_ms !== undefined ? s.rmse_ms.toFixed(3) + ' ms' : ''],
      ['baseline FLOPs-proportional', s.baselines ? `${s.baselines.flops.gflops.toFixed(1)} GFLOP/s: within ±10% ${pct(s.baselines.flops.within10)}, MAPE ${s.baselines.flops.mape.toFixed(1)}%` : ''],
      ['baseline conv-only', s.baselines ? `within ±10% ${pct(s.baselines.conv_only.within10)}, MAPE ${s.baselines.conv_only.mape.toFixed(1)}%` : '']]));
    const sc = section('Predicted vs measured');
    const [box, canvas] = chartBox();
    sc.append(el('div', { class: 'note' }, 'each model; the lines are y = x and the ±10% band'), box);
    const xs = ok.map((m) => m.measured_ms).concat(ok.map((m) => m.predicted_ms));
    const lo = Math.max(Math.min(...xs, 1) / 1.5, 1e-4); const hi = Math.max(...xs, 1) * 1.5;
    const line = (f, label, dash) => ({ type: 'line', label, data: [{ x: lo, y: lo * f }, { x: hi, y: hi * f }], borderColor: f === 1 ? '#333' : '#999', borderDash: dash, pointRadius: 0, fill: false });
    addChart(canvas, { type: 'scatter', data: { datasets: [
      { label: 'models', data: ok.map((m) => ({ x: m.measured_ms, y: m.predicted_ms, label: m.model })), backgroundColor: ok.map((m) => (Math.abs(m.error_pct) <= 10 ? '#59a14f' : '#e15759')) },
      line(1, 'y = x', []), line(1.1, '+10%', [5, 4]), line(0.9, '−10%', [5, 4])] },
    options: { scales: { x: { type: 'logarithmic', title: { display: true, text: 'measured ms' } }, y: { type: 'logarithmic', title: { display: true, text: 'predicted ms' } } },
      plugins: { tooltip: { callbacks: { label: (ctx) => `${ctx.raw.label || ctx.dataset.label}: measured ${ctx.raw.x.toFixed(3)} ms, predicted ${ctx.raw.y.toFixed(3)} ms` } } } } });
    section('Models', dataTable([{ key: 'model', title: 'model' }, { key: 'measured_ms', title: 'measured ms', num: true, fmt: ms },
      { key: 'predicted_ms', title: 'predicted ms', num: true, fmt: ms }, { key: 'error_pct', title: 'error %', num: true, fmt: (v) => (v === undefined ? '' : v.toFixed(1)) },
      { key: 'baseline_flops_ms', title: 'FLOPs-prop. ms', num: true, fmt: ms }, { key: 'baseline_conv_only_ms', title: 'conv-only ms', num: true, fmt: ms },
      { key: 'measured_cv', title: 'CV', num: true, fmt: (v) => (v === undefined ? '' : (100 * v).toFixed(1) + '%') }, { key: 'error', title: 'error' }],
    models, 'validation'));
  }

  try {
    state.view = doc.models && doc.summary ? 'validation' : 'model';
    if (state.view === 'validation') validationReport(); else modelReport();
  } catch (e) {
    state.errors.push(String(e && e.stack || e));
    throw e;
  } finally {
    state.ready = true;
  }
})();
