#!/usr/bin/env node
// infercast's ONNX Runtime runner. Reads one JSON request per line on stdin, answers
// one JSON line per request on stdout, in order. The protocol is specified in
// docs/runner-protocol.md; this file is one implementation of it.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const util = require('util');

const PROTOCOL = 1;

// stdout carries protocol lines only: whatever a library prints goes to stderr.
const protocolOut = process.stdout;
for (const method of ['log', 'info', 'debug', 'warn']) {
  console[method] = (...args) => process.stderr.write(util.format(...args) + '\n');
}

let ort = null;
let ortLoadError = null;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  ortLoadError = e;
}

// Element types: the protocol's names (infercast's dtype names) → ORT's and the typed array holding the bytes.
const DTYPES = {
  float32: {ort: 'float32', array: Float32Array},
  float64: {ort: 'float64', array: Float64Array},
  float16: {ort: 'float16', array: Uint16Array},
  int8: {ort: 'int8', array: Int8Array},
  uint8: {ort: 'uint8', array: Uint8Array},
  int16: {ort: 'int16', array: Int16Array},
  uint16: {ort: 'uint16', array: Uint16Array},
  int32: {ort: 'int32', array: Int32Array},
  uint32: {ort: 'uint32', array: Uint32Array},
  int64: {ort: 'int64', array: BigInt64Array},
  uint64: {ort: 'uint64', array: BigUint64Array},
  bool: {ort: 'bool', array: Uint8Array},
};
const FROM_ORT = Object.fromEntries(Object.entries(DTYPES).map(([name, t]) => [t.ort, name]));

class RequestError extends Error {}

// The loaded session and what it was created with.
const state = {session: null, model: null, threads: 0, optimization: 'all', inputs: [], outputs: [], generation: 0};

function sessionOptions(threads, optimization, extra) {
  return Object.assign({
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: optimization,
  }, extra || {});
}

function portsOf(metadata, what) {
  return metadata.map((m) => {
    if (!m.isTensor) throw new RequestError(`${what} '${m.name}' is not a tensor`);
    const dtype = FROM_ORT[m.type];
    if (dtype === undefined) throw new RequestError(`${what} '${m.name}' has unsupported type ${m.type}`);
    return {name: m.name, dtype, dims: m.shape.map((d) => (typeof d === 'number' ? d : String(d)))};
  });
}

function numel(dims) {
  return dims.reduce((n, d) => n * d, 1);
}

// ---- Random inputs: the generator documented in docs/runner-protocol.md ----

function fnv1a(text) {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function halfBits(k) {  // binary16 bits of k / 1024 - 1, k in [0, 2048)
  const v = k - 1024;
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const m = Math.abs(v);
  let e = 0;
  while ((m >> e) > 1) ++e;
  return sign | ((e - 10 + 15) << 10) | ((m << (10 - e)) & 0x3ff);
}

function randomTensor(name, dtype, dims, seed) {
  const type = DTYPES[dtype];
  if (type === undefined) throw new RequestError(`cannot generate random ${dtype} input '${name}'`);
  const n = numel(dims);
  const data = new type.array(n);
  const fold = ((seed % 0x100000000) ^ Math.floor(seed / 0x100000000)) >>> 0;
  let x = (fnv1a(name) ^ fold) >>> 0;
  if (x === 0) x = 0x9e3779b9;
  for (let i = 0; i < n; ++i) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (dtype === 'float32' || dtype === 'float64') {
      data[i] = (x >>> 8) / 8388608 - 1;
    } else if (dtype === 'float16') {
      data[i] = halfBits(x >>> 21);
    } else if (dtype === 'bool') {
      data[i] = x >>> 31;
    } else if (dtype === 'int64' || dtype === 'uint64') {
      data[i] = BigInt(x % 8);
    } else {
      data[i] = x % 8;
    }
  }
  return new ort.Tensor(type.ort, data, dims);
}

// The last random feeds, reused while seed and shapes stay the same, so that a
// time request costs no input generation.
let feedCache = {key: null, feeds: null};

function randomFeeds(seed, shapes) {
  const key = JSON.stringify([state.generation, seed, shapes || null]);
  if (feedCache.key === key) return feedCache.feeds;
  const feeds = {};
  for (const input of state.inputs) {
    const dims = (shapes && shapes[input.name]) || input.dims;
    if (!dims.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new RequestError(`input '${input.name}' has shape [${dims}]; give a static one in input_shapes`);
    }
    feeds[input.name] = randomTensor(input.name, input.dtype, dims, seed);
  }
  feedCache = {key, feeds};
  return feeds;
}

// ---- Tensors on the wire ----

function tensorFromWire(name, wire) {
  const type = DTYPES[wire && wire.dtype];
  if (type === undefined) throw new RequestError(`input '${name}': unsupported dtype ${wire && wire.dtype}`);
  const bytes = Buffer.from(wire.data_b64 || '', 'base64');
  const n = numel(wire.dims);
  if (bytes.length !== n * type.array.BYTES_PER_ELEMENT) {
    throw new RequestError(`input '${name}': ${bytes.length} bytes for ${n} ${wire.dtype} elements`);
  }
  const buffer = new ArrayBuffer(bytes.length);  // aligned copy
  new Uint8Array(buffer).set(bytes);
  return new ort.Tensor(type.ort, new type.array(buffer), wire.dims);
}

function tensorToWire(name, tensor) {
  const dtype = FROM_ORT[tensor.type];
  if (dtype === undefined) throw new RequestError(`output '${name}' has unsupported type ${tensor.type}`);
  const data = tensor.data;
  return {
    dtype,
    dims: Array.from(tensor.dims),
    data_b64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
  };
}

// ---- ORT's profiler output → per-node samples ----

// Node kernel events are assigned to the model_run that contains them; the first
// `skipRuns` runs (warm-up) are dropped. A node that ran several times in one run
// counts once, with the sum of its durations.
function parseProfile(events, skipRuns) {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const nodes = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || typeof e.name !== 'string' || !e.name.endsWith('_kernel_time')) continue;
    let run = -1;
    for (let lo = 0, hi = runs.length - 1; lo <= hi;) {
      const mid = (lo + hi) >> 1;
      if (runs[mid].ts <= e.ts) {
        run = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (runs.length > 0 && (run < skipRuns || e.ts > runs[run].ts + runs[run].dur)) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    if (!nodes.has(name)) {
      const args = e.args || {};
      nodes.set(name, {name, op: args.op_name || '', provider: args.provider || '', perRun: new Map()});
    }
    const key = runs.length > 0 ? run : nodes.get(name).perRun.size;
    const perRun = nodes.get(name).perRun;
    perRun.set(key, (perRun.get(key) || 0) + e.dur / 1000);
  }
  return Array.from(nodes.values()).map((n) => ({
    name: n.name, op: n.op, provider: n.provider, times_ms: Array.from(n.perRun.values()),
  }));
}

// ---- Requests ----

function requireInt(value, what, min) {
  if (!Number.isInteger(value) || value < min) throw new RequestError(`"${what}" must be an integer >= ${min}`);
  return value;
}

function requireSession() {
  if (state.session === null) throw new RequestError('no model loaded: send "load" first');
}

async function opHello() {
  return {
    protocol: PROTOCOL,
    runner: 'ort',
    runtime: 'onnxruntime',
    runtime_version: ort.env.versions.node,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

async function opLoad(req) {
  if (typeof req.model !== 'string') throw new RequestError('"model" must be a path');
  const threads = requireInt(req.threads === undefined ? 0 : req.threads, 'threads', 0);
  const optimization = req.optimization === undefined ? 'all' : req.optimization;
  if (optimization !== 'all' && optimization !== 'disabled') {
    throw new RequestError('"optimization" must be "all" or "disabled"');
  }
  if (state.session !== null) {
    await state.session.release();
    state.session = null;
  }
  const start = process.hrtime.bigint();
  let session;
  try {
    session = await ort.InferenceSession.create(req.model, sessionOptions(threads, optimization));
  } catch (e) {
    throw new RequestError(`ONNX Runtime cannot load the model: ${e.message}`);
  }
  const loadMs = Number(process.hrtime.bigint() - start) / 1e6;
  const inputs = portsOf(session.inputMetadata, 'input');
  const outputs = portsOf(session.outputMetadata, 'output');
  Object.assign(state, {session, model: req.model, threads, optimization, inputs, outputs, generation: state.generation + 1});
  return {inputs, outputs, load_ms: loadMs};
}

// `flush` (a Uint8Array or null): written once per cache line before each timed run,
// so the run finds other data in the caches, as a layer of a large model does.
async function timeRuns(session, feeds, warmup, repeats, maxRepeats, minTimeNs, flush = null) {
  for (let i = 0; i < warmup; ++i) await session.run(feeds);
  const times = [];
  const begin = process.hrtime.bigint();
  while (times.length < maxRepeats && (times.length < repeats || process.hrtime.bigint() - begin < minTimeNs)) {
    if (flush !== null) {
      for (let i = 0; i < flush.length; i += 64) flush[i] += 1;
    }
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / 1e6);
  }
  return times;
}

// One flush buffer, kept between requests: allocating and faulting in up to 1 GiB for
// every flushed pass cost more than the pass's runs.
let flushScratch = null;
function flushBuffer(bytes) {
  if (flushScratch === null || flushScratch.length !== bytes) {
    flushScratch = null;
    flushScratch = new Uint8Array(bytes);
  }
  return flushScratch;
}

async function opTime(req) {
  requireSession();
  const warmup = requireInt(req.warmup === undefined ? 0 : req.warmup, 'warmup', 0);
  const repeats = requireInt(req.repeats === undefined ? 1 : req.repeats, 'repeats', 1);
  const maxRepeats = requireInt(req.max_repeats === undefined ? Math.max(repeats, 1000) : req.max_repeats,
      'max_repeats', repeats);
  const minTimeS = req.min_time_s === undefined ? 0 : req.min_time_s;
  if (typeof minTimeS !== 'number' || !(minTimeS >= 0)) throw new RequestError('"min_time_s" must be >= 0');
  const seed = requireInt(req.seed === undefined ? 0 : req.seed, 'seed', 0);
  const feeds = randomFeeds(seed, req.input_shapes);
  const flushBytes = requireInt(req.flush_bytes === undefined ? 0 : req.flush_bytes, 'flush_bytes', 0);
  if (flushBytes > (1 << 30)) throw new RequestError('"flush_bytes" must be at most 1 GiB');
  const minTimeNs = BigInt(Math.round(minTimeS * 1e9));
  if (!req.profile) {
    return {times_ms: await timeRuns(state.session, feeds, warmup, repeats, maxRepeats, minTimeNs)};
  }
  // Profiling is a session option: a second session with the profiler on, so the
  // main session's timings stay free of its overhead.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'infercast-ort-profile-'));
  let session = null;
  try {
    session = await ort.InferenceSession.create(state.model, sessionOptions(state.threads, state.optimization, {
      enableProfiling: true,
      profileFilePrefix: path.join(dir, 'profile'),
    }));
    const flush = flushBytes > 0 ? flushBuffer(flushBytes) : null;
    const times = await timeRuns(session, feeds, warmup, repeats, maxRepeats, minTimeNs, flush);
    session.endProfiling();
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    if (files.length === 0) throw new RequestError('ONNX Runtime wrote no profile file');
    const events = JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8'));
    return {times_ms: times, profile: parseProfile(events, warmup)};
  } finally {
    if (session !== null) await session.release();
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

async function opInfer(req) {
  requireSession();
  let feeds;
  if (req.inputs !== undefined) {
    if (typeof req.inputs !== 'object' || req.inputs === null) throw new RequestError('"inputs" must be an object');
    feeds = {};
    for (const input of state.inputs) {
      if (!(input.name in req.inputs)) throw new RequestError(`no value for input '${input.name}'`);
      feeds[input.name] = tensorFromWire(input.name, req.inputs[input.name]);
    }
  } else {
    feeds = randomFeeds(requireInt(req.seed === undefined ? 0 : req.seed, 'seed', 0), req.input_shapes);
  }
  let results;
  try {
    results = await state.session.run(feeds);
  } catch (e) {
    throw new RequestError(`ONNX Runtime failed to run: ${e.message}`);
  }
  const outputs = {};
  for (const output of state.outputs) outputs[output.name] = tensorToWire(output.name, results[output.name]);
  return {outputs};
}

const OPS = {hello: opHello, load: opLoad, time: opTime, infer: opInfer};

async function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return {id: null, ok: false, error: `request is not JSON: ${e.message}`};
  }
  const id = req && req.id !== undefined ? req.id : null;
  try {
    if (ort === null) {
      throw new RequestError(`onnxruntime-node is not installed beside ${__filename} ` +
          `(run scripts/install_runners.sh): ${ortLoadError.message.split('\n')[0]}`);
    }
    const op = OPS[req.op];
    if (op === undefined) throw new RequestError(`unknown op '${req.op}'`);
    return Object.assign({id, ok: true}, await op(req));
  } catch (e) {
    if (!(e instanceof RequestError)) process.stderr.write(`runner: ${e.stack || e}\n`);
    return {id, ok: false, error: e.message || String(e)};
  }
}

async function main() {
  if (os.endianness() !== 'LE') {
    process.stderr.write('runner: the protocol carries little-endian tensors; this host is big-endian\n');
    process.exit(1);
  }
  const lines = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const answer = await handle(line);
    protocolOut.write(JSON.stringify(answer) + '\n');
  }
  if (state.session !== null) await state.session.release();
}

main().catch((e) => {
  process.stderr.write(`runner: ${e.stack || e}\n`);
  process.exit(1);
});
