#!/usr/bin/env node
// Load benchmark of `tandem serve` (Open Inference Protocol v2 over REST) on loopback.
//
//   node bench/serve.mjs [--quick] [--models seed_mlp,resnet18,silero_vad_v5] [--duration S]
//                        [--repeats R] [--clients C] [--cap N] [--steps 0.25,0.5,1,1.5,2]
//                        [--threads T] [--io-threads N] [--backend B] [--encoding auto|json|binary]
//                        [--inproc-runs N] [--no-wrk] [--tandem PATH] [--md FILE]
//
// For every model it measures the in-process ceiling first (`tandem bench MODEL --json --threads
// T` on the same inputs: 1000 / median ms = requests/s at batch 1; T = --threads, or per model:
// 1 for the seed MLP and silero VAD, one per core for ResNet-18), then, for each of the model's
// server configurations (no batching / dynamic batching; silero VAD also 2 instances, and its
// batching names the state's batch axis), starts `tandem serve` on 127.0.0.1 with a temporary
// model repository holding only that model, warms it up and measures:
//   - saturation: closed loop, C concurrent clients (16) back to back for S seconds (10), from
//     this process, then from wrk (when installed; --no-wrk skips it), whose cost per request is
//     a fraction of Node's;
//   - offered load: open loop at fixed rates = each step (0.25x ... 2x) times the saturation
//     throughput, S seconds each, at most N requests outstanding (128; more are dropped, counted);
// each repeated R times (3; the ladder runs R times over), reported as medians over repeats
// (counts: sums). ResNet-18 sends binary tensor data (in and out), silero VAD JSON, the seed MLP
// both (every configuration once per encoding); --encoding forces one for all.
//
// Writes bench/out/serve-results.json and the section "## Model server (tandem serve, OIP v2
// REST)" of BENCHMARKS.md (the rest of the file is kept byte for byte) for a full run (no
// options but --md), of bench/out/BENCHMARKS-serve.md otherwise (or --md FILE). Progress goes to
// stderr. --quick: 1.5 s steps, 1 repeat, few in-process runs (a smoke test, not numbers).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { readNpy, writeNpy } from '../tests/models/npy.mjs';
import { prng } from '../tests/models/prng.mjs';
import { Target, closedLoop, findWrk, openLoop, wrkClosedLoop } from './serve-load.mjs';
import { printHeaderComment, writeSection } from './sections.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const OUT = path.join(HERE, 'out');
const GENERATED = path.join(REPO, 'tests', 'models', 'generated');
const VAD_DIST = path.join(REPO, 'node_modules', '@ricky0123', 'vad-web', 'dist');
const PYTHON = process.env.TANDEM_PYTHON || '/usr/bin/python3';
const HEADING = '## Model server (tandem serve, OIP v2 REST)';
const HIGH_LOAD = 0.5;

const log = (msg) => process.stderr.write(`${msg}\n`);
function die(msg) {
  log(`bench/serve: ${msg}`);
  process.exit(2);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- options --------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = {
    quick: false, models: null, duration: null, repeats: null, clients: 16, cap: 128, steps: [0.25, 0.5, 1, 1.5, 2],
    threads: null, ioThreads: 2, backend: 'xnnpack', encoding: 'auto', inprocRuns: null,
    tandem: path.join(REPO, 'build', 'native', 'tandem'), md: null, partial: false, wrk: undefined,
  };
  const num = (a, v, min, int = true) => {
    const n = Number(v);
    if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) die(`${a} takes a ${int ? 'whole ' : ''}number >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : die(`${a} needs a value`));
    if (a === '--quick') o.quick = true;
    else if (a === '--models') o.models = value().split(',').filter(Boolean);
    else if (a === '--duration') o.duration = num(a, value(), 0.1, false);
    else if (a === '--repeats') o.repeats = num(a, value(), 1);
    else if (a === '--clients') o.clients = num(a, value(), 1);
    else if (a === '--cap') o.cap = num(a, value(), 1);
    else if (a === '--steps') o.steps = value().split(',').filter(Boolean).map((s) => num(a, s, 0.001, false));
    else if (a === '--threads') o.threads = num(a, value(), 1);
    else if (a === '--io-threads') o.ioThreads = num(a, value(), 1);
    else if (a === '--backend') o.backend = value();
    else if (a === '--encoding') o.encoding = value();
    else if (a === '--inproc-runs') o.inprocRuns = num(a, value(), 1);
    else if (a === '--no-wrk') o.wrk = null;
    else if (a === '--tandem') o.tandem = path.resolve(value());
    else if (a === '--md') o.md = path.resolve(value());
    else if (a === '-h' || a === '--help') printHeaderComment(import.meta.url); else die(`unknown option '${a}' (see --help)`);
    if (a !== '--md') o.partial = true;
  }
  if (!['auto', 'json', 'binary'].includes(o.encoding)) die(`--encoding takes auto, json or binary, got '${o.encoding}'`);
  for (const m of o.models ?? []) if (!MODELS[m]) die(`unknown model '${m}'; choose from ${Object.keys(MODELS).join(', ')}`);
  if (!existsSync(o.tandem)) die(`no tandem binary at ${o.tandem}; build it (cmake --build --preset native) or pass --tandem PATH`);
  o.duration ??= o.quick ? 1.5 : 10;
  o.repeats ??= o.quick ? 1 : 3;
  o.inprocRuns ??= o.quick ? 5 : 30;
  if (o.wrk === undefined) {
    o.wrk = findWrk();
    if (!o.wrk) log('bench/serve: no wrk (Debian package wrk, installed by scripts/setup): saturation is measured with the Node client only');
  }
  return o;
}

// ---- models, inputs, configurations ---------------------------------------------------------

function uniform(shape, seed, scale = 1) {
  const rnd = prng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; ++i) data[i] = scale * (2 * rnd() - 1);
  return { dtype: 'float32', shape, data };
}

function ensureGenerated() {
  if (existsSync(path.join(GENERATED, 'manifest.json')) && existsSync(path.join(GENERATED, 'resnet18.onnx'))) return;
  log('bench/serve: exporting models (tests/models/prepare.sh) ...');
  const r = spawnSync(path.join(REPO, 'tests', 'models', 'prepare.sh'), { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) die('tests/models/prepare.sh failed');
}

// name -> { what, encodings (auto: each configuration in each), threads (0: one per core),
//           make(dir) -> { model, inputs: { name: array } }, configs }
// Each config: { key, label, kind: 'base' | 'batching' | 'instances', config (config.json) }.
const MODELS = {
  seed_mlp: {
    // Both encodings: its 784-float input as JSON costs the server more than the model does.
    what: 'seed MLP 784-256-128-10, batch 1', encodings: ['binary', 'json'], threads: 1,
    make: (dir) => {
      const model = path.join(dir, 'seed_mlp.onnx');
      const r = spawnSync(PYTHON, [path.join(REPO, 'scripts', 'make_seed_mlp.py'), model], { stdio: ['ignore', 2, 2] });
      if (r.status !== 0) throw new Error(`scripts/make_seed_mlp.py failed (needs ${PYTHON} with numpy and onnx)`);
      return { model, inputs: { input: uniform([1, 784], 1) } };
    },
    configs: [
      { key: 'nobatch', label: 'no batching', kind: 'base', config: { max_batch_size: 0 } },
      // No added delay (Triton's default): a worker takes whatever is queued when it is free.
      // Under a closed loop that beats waiting for company (1000 µs: ~8% fewer requests/s).
      { key: 'batch', label: 'dynamic batching (max 16, 0 µs)', kind: 'batching',
        config: { max_batch_size: 16, dynamic_batching: { max_queue_delay_us: 0 } } },
    ],
  },
  resnet18: {
    what: 'ResNet-18, 1x3x224x224', encodings: ['binary'], threads: 0,
    make: () => {
      ensureGenerated();
      const file = path.join(GENERATED, 'resnet18', 'input.npy');
      return { model: path.join(GENERATED, 'resnet18.onnx'), inputs: { input: existsSync(file) ? readNpy(file) : uniform([1, 3, 224, 224], 18) } };
    },
    configs: [
      { key: 'nobatch', label: 'no batching', kind: 'base', config: { max_batch_size: 0 } },
      { key: 'batch', label: 'dynamic batching (max 8, 2000 µs)', kind: 'batching',
        config: { max_batch_size: 8, dynamic_batching: { max_queue_delay_us: 2000 } } },
    ],
  },
  silero_vad_v5: {
    what: 'silero VAD v5, one 576-sample frame + state', encodings: ['json'], threads: 1,
    // state is [2, N, 128] (batch on axis 1) and sr a scalar: config.json names the state's batch
    // axis (dynamic_batching.batch_axes), and a scalar input is shared (requests with equal sr
    // batch together). Two instances (two worker threads) are the other way to use both cores.
    note: 'its recurrent state is [2, N, 128], so the batching configuration sets `dynamic_batching.batch_axes` ' +
      '{"state": 1, "stateN": 1}; `sr` is a scalar, shared by the requests of a batch (equal values only)',
    make: () => {
      const model = path.join(VAD_DIST, 'silero_vad_v5.onnx');
      if (!existsSync(model)) throw new Error(`${model} is missing; run "npm ci --ignore-scripts" in ${REPO}`);
      const input = uniform([1, 576], 5);
      input.data.forEach((v, i) => { input.data[i] = 0.3 * Math.sin(i / 7) + 0.05 * v; });
      const state = uniform([2, 1, 128], 6, 0.1);
      const sr = { dtype: 'int64', shape: [], data: BigInt64Array.from([16000n]) };
      return { model, inputs: { input, state, sr } };
    },
    configs: [
      { key: '1inst', label: '1 instance', kind: 'base', config: { max_batch_size: 0, instance_count: 1 } },
      { key: '2inst', label: '2 instances', kind: 'instances', config: { max_batch_size: 0, instance_count: 2 } },
      { key: 'batch', label: 'dynamic batching (max 16, 1000 µs; state on axis 1)', kind: 'batching',
        config: { max_batch_size: 16, dynamic_batching: { max_queue_delay_us: 1000, batch_axes: { state: 1, stateN: 1 } } } },
    ],
  },
};

// `a` (one request's rows along `axis`) repeated `times` times along that axis.
function repeatAlong(a, axis, times) {
  const outer = a.shape.slice(0, axis).reduce((x, y) => x * y, 1);
  const slab = a.data.length / outer;
  const data = new a.data.constructor(a.data.length * times);
  for (let o = 0; o < outer; ++o) {
    for (let t = 0; t < times; ++t) data.set(a.data.subarray(o * slab, (o + 1) * slab), (o * times + t) * slab);
  }
  const shape = a.shape.slice();
  shape[axis] *= times;
  return { dtype: a.dtype, shape, data };
}

const OIP_TYPES = { float32: 'FP32', int64: 'INT64', int32: 'INT32', float64: 'FP64', uint8: 'UINT8', int8: 'INT8', bool: 'BOOL', float16: 'FP16' };

// The one request a configuration sends: JSON tensors, or the binary tensor data extension (the
// JSON header, then each input's raw little-endian bytes; outputs asked for as binary too).
function buildRequest(modelName, inputs, encoding) {
  const names = Object.keys(inputs);
  const oipType = (a) => OIP_TYPES[a.dtype] ?? die(`no OIP datatype for ${a.dtype}`);
  const urlPath = `/v2/models/${modelName}/infer`;
  if (encoding === 'json') {
    const body = JSON.stringify({
      inputs: names.map((n) => ({ name: n, shape: inputs[n].shape, datatype: oipType(inputs[n]), data: Array.from(inputs[n].data, Number) })),
    });
    return { path: urlPath, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
  }
  const raw = names.map((n) => Buffer.from(inputs[n].data.buffer, inputs[n].data.byteOffset, inputs[n].data.byteLength));
  const header = Buffer.from(JSON.stringify({
    inputs: names.map((n, i) => ({ name: n, shape: inputs[n].shape, datatype: oipType(inputs[n]), parameters: { binary_data_size: raw[i].length } })),
    parameters: { binary_data_output: true },
  }));
  return {
    path: urlPath, body: Buffer.concat([header, ...raw]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}

// Checks one answer: 200, every model output present with a shape and finite values.
function checkAnswer(r, outputs) {
  if (r.status !== 200) return `status ${r.status}: ${r.body?.toString('utf8').slice(0, 300)}`;
  const hlen = r.headers['inference-header-content-length'];
  const json = JSON.parse(r.body.subarray(0, hlen === undefined ? r.body.length : Number(hlen)).toString('utf8'));
  let offset = hlen === undefined ? 0 : Number(hlen);
  for (const name of outputs) {
    const o = json.outputs?.find((x) => x.name === name);
    if (!o || !Array.isArray(o.shape)) return `output ${name} missing: ${JSON.stringify(json).slice(0, 300)}`;
    let values = o.data;
    if (o.parameters?.binary_data_size !== undefined) {
      const n = o.parameters.binary_data_size;
      const bytes = r.body.subarray(offset, offset + n);
      offset += n;
      if (o.datatype === 'FP32') values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n));
    }
    if (values && Array.from(values).some((v) => typeof v === 'number' && !Number.isFinite(v))) return `output ${name} has non-finite values`;
  }
  return null;
}

// ---- in-process ceiling ---------------------------------------------------------------------

function inProcess(opts, threads, model, inputFiles, runs) {
  const args = ['bench', model, '--json', '--backend', opts.backend, '--threads', String(threads),
    '--runs', String(runs), '--warmup', String(opts.quick ? 1 : 5)];
  for (const [k, f] of Object.entries(inputFiles)) args.push('--input', `${k}=${f}`);
  const r = spawnSync(opts.tandem, args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 600e3 });
  if (r.status !== 0) throw new Error(`tandem ${args.join(' ')} failed (${r.signal ?? `exit ${r.status}`}): ${(r.stderr || '').trim()}`);
  const j = JSON.parse(r.stdout);
  return { median_ms: j.median_ms, min_ms: j.min_ms, runs };
}

// ---- the server -----------------------------------------------------------------------------

async function startServer(opts, threads, repoDir) {
  const args = ['serve', '--model-repository', repoDir, '--host', '127.0.0.1', '--http-port', '0', '--no-access-log',
    '--threads', String(threads), '--io-threads', String(opts.ioThreads), '--backend', opts.backend];
  const child = spawn(opts.tandem, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { child, args, output: '' };
  const keep = (d) => { srv.output = (srv.output + d).slice(-65536); };
  child.stderr.on('data', keep);
  srv.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tandem serve did not start within 60 s:\n${srv.output}`)), 60e3);
    child.stdout.on('data', (d) => {
      keep(d);
      const m = srv.output.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && !srv.port) {
        clearTimeout(timer);
        srv.port = Number(m[1]);
        resolve();
      }
    });
    srv.exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`tandem serve exited (${code ?? signal}) before listening:\n${srv.output}`)); });
  });
  return srv;
}

async function stopServer(srv) {
  if (srv.child.exitCode === null && srv.child.signalCode === null) srv.child.kill('SIGTERM');
  const killer = setTimeout(() => srv.child.kill('SIGKILL'), 30e3);
  const r = await srv.exited;
  clearTimeout(killer);
  return r;
}

// ---- one configuration ----------------------------------------------------------------------

const med = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

// Medians over repeats of the rates, latencies and CPU shares; sums of the counts.
function combine(reps) {
  const out = { repeats: reps.length };
  for (const k of ['throughput', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms', 'mean_ms', 'client_cpu', 'server_cpu', 'send_lag_p99_ms', 'offered', 'seconds']) {
    if (reps.some((r) => r[k] !== undefined && r[k] !== null)) out[k] = med(reps.map((r) => r[k]));
  }
  for (const k of ['answers', 'ok', 'backpressure', 'other', 'errors', 'sent', 'dropped']) {
    if (reps.some((r) => r[k] !== undefined)) out[k] = reps.reduce((a, r) => a + (r[k] ?? 0), 0);
  }
  out.statuses = {};
  for (const r of reps) for (const [s, n] of Object.entries(r.statuses ?? {})) out.statuses[s] = (out.statuses[s] ?? 0) + n;
  if (reps.some((r) => r.max_outstanding !== undefined)) out.max_outstanding = Math.max(...reps.map((r) => r.max_outstanding ?? 0));
  return out;
}

const fmt = (x, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(d));
const counts = (r) => `${r.ok} ok / ${r.backpressure} 503 / ${r.other} other / ${r.errors} err`;

async function benchConfig(opts, threads, spec, name, made, cfg, outputs) {
  const { encoding } = cfg;
  const res = { config: cfg.key, label: cfg.label, kind: cfg.kind, config_json: cfg.config, threads, encoding_short: encoding === 'binary' ? 'binary' : 'JSON' };
  res.encoding = encoding === 'binary' ? 'binary tensor data (in and out)' : 'JSON';
  const tag = `${cfg.label}, ${res.encoding_short}`;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tandem-serve-bench-'));
  const repoName = `${name}_${cfg.key}`;
  mkdirSync(path.join(tmp, repoName, '1'), { recursive: true });
  copyFileSync(made.model, path.join(tmp, repoName, '1', 'model.onnx'));
  writeFileSync(path.join(tmp, repoName, 'config.json'), JSON.stringify(cfg.config));
  let srv;
  let target;
  try {
    srv = await startServer(opts, threads, tmp);
    res.server_args = srv.args.filter((a) => a !== tmp).join(' ').replace('--model-repository', '--model-repository DIR');
    res.server_log = (srv.output.match(/loaded model[^\n]*/) ?? [''])[0];
    log(`bench/serve: ${name} [${tag}]: server on port ${srv.port}: ${res.server_log}`);
    const request = buildRequest(repoName, made.inputs, encoding);
    res.request_bytes = request.body.length;
    target = new Target({ host: '127.0.0.1', port: srv.port, request, maxSockets: Math.max(opts.cap, opts.clients) });
    const first = await target.sendAsync(true);
    const bad = checkAnswer(first, outputs);
    if (bad) throw new Error(`the first answer is wrong: ${bad}`);
    res.response_bytes = first.bytes;
    // Warm-up: closed loop for a second (opens the connections, fills the caches).
    await closedLoop(target, { clients: opts.clients, seconds: Math.min(2, Math.max(0.5, opts.duration / 4)), serverPid: srv.child.pid });

    const la = os.loadavg()[0];
    if (la > HIGH_LOAD + os.availableParallelism()) log(`bench/serve: warning: load average ${la.toFixed(2)} before ${name} [${tag}]; numbers will be noisy`);
    res.load_average = la;

    const sat = [];
    for (let i = 0; i < opts.repeats; ++i) {
      const r = await closedLoop(target, { clients: opts.clients, seconds: opts.duration, serverPid: srv.child.pid });
      sat.push(r);
      log(`bench/serve: ${name} [${tag}] saturation ${i + 1}/${opts.repeats}: ${fmt(r.throughput)} req/s with ${opts.clients} clients, ` +
        `p50 ${fmt(r.p50_ms)} ms, p99 ${fmt(r.p99_ms)} ms, ${counts(r)}; client CPU ${fmt(r.client_cpu)}, server CPU ${fmt(r.server_cpu)} cores`);
      await sleep(200);
    }
    res.saturation = { ...combine(sat), clients: opts.clients, runs: sat };
    const satRate = res.saturation.throughput;
    if (!(satRate > 0)) throw new Error('no successful answers at saturation');
    if (opts.wrk) {
      // The same closed loop from wrk, whose cost per request is a fraction of Node's: what the
      // server reaches when the client leaves it the cores (the ladder below stays on Node).
      const runs = [];
      for (let i = 0; i < opts.repeats; ++i) {
        const r = await wrkClosedLoop(target, { wrk: opts.wrk, clients: opts.clients, seconds: opts.duration, serverPid: srv.child.pid });
        runs.push(r);
        log(`bench/serve: ${name} [${tag}] saturation (wrk) ${i + 1}/${opts.repeats}: ${fmt(r.throughput)} req/s, p50 ${fmt(r.p50_ms)} ms, ` +
          `p99 ${fmt(r.p99_ms)} ms, ${counts(r)}; wrk CPU ${fmt(r.client_cpu)}, server CPU ${fmt(r.server_cpu)} cores`);
        await sleep(200);
      }
      res.saturation_wrk = { ...combine(runs), clients: opts.clients, runs };
    }

    const ladder = opts.steps.map((x) => ({ x, rate: x * satRate, runs: [] }));
    for (let i = 0; i < opts.repeats; ++i) {
      for (const step of ladder) {
        // At least ~5 requests per step (slow models at low rates), at most 6x the duration.
        const seconds = Math.min(Math.max(opts.duration, 5 / step.rate), 6 * opts.duration);
        const r = await openLoop(target, { rate: step.rate, seconds, cap: opts.cap, serverPid: srv.child.pid });
        step.runs.push(r);
        log(`bench/serve: ${name} [${tag}] ${step.x}x = ${fmt(step.rate)} req/s (${i + 1}/${opts.repeats}): got ${fmt(r.throughput)} req/s, ` +
          `p50 ${fmt(r.p50_ms)} ms, p99 ${fmt(r.p99_ms)} ms, ${counts(r)}, ${r.dropped} dropped at the cap; ` +
          `client CPU ${fmt(r.client_cpu)}, server CPU ${fmt(r.server_cpu)} cores${r.drained ? '' : '; NOT DRAINED'}`);
        if (r.send_lag_p99_ms > 5) log(`bench/serve: warning: the client sent late (p99 ${fmt(r.send_lag_p99_ms)} ms behind schedule): the offered rate was not met evenly`);
        await sleep(200);
      }
    }
    res.steps = ladder.map((s) => ({ x: s.x, ...combine(s.runs), offered: s.rate, runs: s.runs }));
  } catch (e) {
    res.error = e.message;
    log(`bench/serve: ${name} [${tag}]: FAILED: ${e.message}`);
  } finally {
    target?.close();
    if (srv) {
      const ex = await stopServer(srv);
      res.server_exit = ex.code ?? ex.signal;
      if (ex.code !== 0) log(`bench/serve: ${name} [${tag}]: server exited ${ex.code ?? ex.signal}:\n${srv.output.slice(-2000)}`);
    }
    rmSync(tmp, { recursive: true, force: true });
  }
  return res;
}

// ---- report ---------------------------------------------------------------------------------

function machine() {
  const git = (args) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout?.trim() || '?';
  const dirty = (spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO, encoding: 'utf8' }).stdout ?? '').trim() !== '';
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? '?', cores: os.availableParallelism(), os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), node: process.version,
    tandem_commit: `${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ' + uncommitted changes' : ''}`,
  };
}

// Batching (or instances) against the base configuration of the same model: saturation
// throughput ratio at the same C (closed loop, so the faster side also has the lower mean
// latency), whether its p99 is also no higher, and the ratio of the best 2xx throughput each
// reached, over all measured points, with p99 within the base configuration's saturation p99.
function speedups(models) {
  const out = [];
  for (const m of models) {
    for (const c of m.configs.filter((x) => x.kind !== 'base' && !x.error)) {
      const base = m.configs.find((b) => b.kind === 'base' && !b.error && b.encoding === c.encoding);
      if (!base) continue;
      const budget = base.saturation.p99_ms;
      const best = (cfg) => Math.max(0, ...[cfg.saturation, ...cfg.steps].filter((p) => p.p99_ms <= budget).map((p) => p.throughput));
      const w = c.saturation_wrk && base.saturation_wrk;
      out.push({
        model: m.model, kind: c.kind, config: c.label, encoding: c.encoding_short,
        base_throughput: base.saturation.throughput, base_p99_ms: budget,
        throughput: c.saturation.throughput, p99_ms: c.saturation.p99_ms,
        speedup: c.saturation.throughput / base.saturation.throughput,
        p99_not_higher: c.saturation.p99_ms <= budget,
        speedup_at_p99_budget: best(c) / best(base),
        ...(w ? {
          wrk: {
            base_throughput: base.saturation_wrk.throughput, base_p99_ms: base.saturation_wrk.p99_ms,
            throughput: c.saturation_wrk.throughput, p99_ms: c.saturation_wrk.p99_ms,
            speedup: c.saturation_wrk.throughput / base.saturation_wrk.throughput,
            p99_not_higher: c.saturation_wrk.p99_ms <= base.saturation_wrk.p99_ms,
          },
        } : {}),
      });
    }
  }
  return out;
}

function targets(json) {
  const L = [];
  const r18 = json.models.find((m) => m.model === 'resnet18');
  const r18base = r18?.configs.find((c) => c.kind === 'base' && !c.error);
  if (r18base) {
    const ok = r18base.ratio_to_in_process >= 0.95;
    L.push(`- ResNet-18 at batch 1, throughput at saturation >= 95% of in-process: ${fmt(r18base.saturation.throughput)} / ` +
      `${fmt(r18.in_process.requests_per_s)} req/s = **${(100 * r18base.ratio_to_in_process).toFixed(0)}%** (${ok ? 'met' : 'not met'}).`);
  }
  for (const s of json.speedups) {
    if (s.kind !== 'batching' || (s.model !== 'seed_mlp' && s.model !== 'silero_vad_v5')) continue;
    const ok = s.speedup >= 1.5 && s.p99_not_higher;
    const w = s.wrk ? `; with wrk as the client ${s.wrk.speedup.toFixed(2)}x (p99 ${fmt(s.wrk.p99_ms)} vs ${fmt(s.wrk.base_p99_ms)} ms)` : '';
    L.push(`- Dynamic batching >= 1.5x at equal p99, ${MODELS[s.model].what.split(',')[0]} (${s.encoding}): **${s.speedup.toFixed(2)}x** ` +
      `(p99 ${fmt(s.p99_ms)} vs ${fmt(s.base_p99_ms)} ms; ${s.speedup_at_p99_budget.toFixed(2)}x at the p99 budget${w}) (${ok ? 'met' : 'not met'}).`);
  }
  const inst = json.speedups.find((s) => s.model === 'silero_vad_v5' && s.kind === 'instances');
  if (inst) L.push(`- For comparison, silero VAD on 2 instances instead of batching: ${inst.speedup.toFixed(2)}x (p99 ${fmt(inst.p99_ms)} vs ${fmt(inst.base_p99_ms)} ms).`);
  const over = json.models.flatMap((m) => m.configs.filter((c) => !c.error).map((c) => ({ m, c, top: c.steps[c.steps.length - 1] })));
  if (over.length) {
    const other = over.reduce((a, o) => a + o.top.other + o.top.errors, 0);
    const bp = over.reduce((a, o) => a + o.top.backpressure, 0);
    const x = over[0].top.x;
    L.push(`- 0 non-2xx answers for valid requests at ${x}x saturation: **${other}** other non-2xx or failed over all configurations ` +
      `(${bp} 503 + Retry-After as backpressure, reported separately) (${other === 0 ? 'met' : 'not met'}).`);
  }
  return L;
}

function markdown(json) {
  const { machine: m, settings: s } = json;
  const loaded = m.load_average_start > HIGH_LOAD || m.load_average_end > HIGH_LOAD + m.cores;
  const L = [HEADING, '',
    '`tandem serve` on 127.0.0.1 under a load generator written for it (`bench/serve-load.mjs`: Node, keep-alive ' +
      'HTTP/1.1 connections, one request per connection at a time), against the in-process ceiling ' +
      '(`tandem bench`, same inputs, backend and threads); written by `node bench/serve.mjs` (see bench/README.md). ' +
      'Rates in requests/s, latencies in ms (send -> last byte of the answer).', '',
    `- machine: ${m.cpu}, ${m.cores} cores; ${m.os}; 1-minute load average ${fmt(m.load_average_start)} at the start, ` +
      `${fmt(m.load_average_end)} at the end${loaded ? ' (**loaded machine: numbers are noisy**)' : ''}`,
    `- date: ${m.date}; Tandem ${m.tandem_commit}, Node ${m.node}${s.quick ? '; **--quick run: a smoke test, not numbers**' : ''}`,
    `- server: \`tandem serve --threads T --io-threads ${s.io_threads} --backend ${s.backend} --no-access-log\` (T per model, in the table: ` +
      `${s.threads ? `--threads ${s.threads} for all` : 'the small models 1 thread, since a second thread does not speed up their batch-1 runs, ResNet-18 one per core'}), ` +
      'a fresh server per configuration whose repository holds only that model, default queue of 64 per model; ' +
      `in-process: \`tandem bench --threads T --backend ${s.backend}\`, median of ${s.inproc_runs} runs -> 1000 / median = requests/s at batch 1.`,
    `- method: **saturation** = closed loop, ${s.clients} clients sending back to back for ${s.duration} s; **offered load** = ` +
      `open loop at ${s.steps.join(', ')}x the saturation throughput for ${s.duration} s each (fixed rate, 1 ms timer, ` +
      `at most ${s.cap} requests outstanding: requests due beyond that are dropped by the client and counted; **send lag p99**: how late ` +
      'the client sent, in ms, against the schedule: above a few ms the client did not keep the offered rate). ' +
      `Each measured ${s.repeats} time(s) after a warm-up; rates and latencies are medians over repeats, counts are sums. ` +
      'Throughput counts 2xx answers completed within the window. **503** = 503 with Retry-After (backpressure), ' +
      '**other** = any other non-2xx or a failed connection.',
    `- **Two cores shared**: the load generator runs on the same ${m.cores} cores as the server and takes CPU from it; ` +
      '**client CPU** / **server CPU** = CPU time of each process over the phase, in cores (client: `process.cpuUsage()`, ' +
      'server: `/proc/PID/stat`). The in-process ceiling has the cores to itself.', '',
    '### Saturation and the in-process ceiling', '',
    '| model | configuration | threads | encoding | in-process req/s | saturation req/s | ratio | p50 | p99 | 2xx | 503 | other | client CPU | server CPU |',
    '|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|'];
  for (const mo of json.models) {
    for (const c of mo.configs) {
      if (c.error) {
        L.push(`| ${MODELS[mo.model].what} | ${c.label} | ${mo.threads} | ${c.encoding ?? ''} | ${fmt(mo.in_process?.requests_per_s)} | failed: ${c.error.split('\n')[0].slice(0, 160).replace(/\|/g, '/')} | | | | | | | | |`);
        continue;
      }
      const st = c.saturation;
      L.push(`| ${MODELS[mo.model].what} | ${c.label} | ${mo.threads} | ${c.encoding} | ${fmt(mo.in_process?.requests_per_s)} | ${fmt(st.throughput)} | ` +
        `**${fmt(c.ratio_to_in_process)}** | ${fmt(st.p50_ms)} | ${fmt(st.p99_ms)} | ${st.ok} | ${st.backpressure} | ${st.other + st.errors} | ` +
        `${fmt(st.client_cpu)} | ${fmt(st.server_cpu)} |`);
    }
  }
  const viaWrk = json.models.flatMap((mo) => mo.configs.filter((c) => !c.error && c.saturation_wrk).map((c) => ({ mo, c })));
  if (viaWrk.length) {
    L.push('', `### Saturation with a light client (${json.settings.wrk})`, '',
      `The same closed loop (${json.settings.clients} connections, ${json.settings.duration} s, ${json.settings.repeats} repeat(s), medians) from wrk ` +
        '(Debian\'s, C, one thread; `bench/wrk-oip.lua`) instead of Node, whose own cost per request (tens of µs of a core) ' +
        'caps what small models show: this is what the server reaches when the client leaves it the cores. Latency: request written -> answer read.', '',
      '| model | configuration | encoding | in-process req/s | saturation req/s | ratio | p50 | p99 | 2xx | 503 | other | wrk CPU | server CPU | server CPU µs / request |',
      '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const { mo, c } of viaWrk) {
      const st = c.saturation_wrk;
      L.push(`| ${MODELS[mo.model].what.split(',')[0]} | ${c.label} | ${c.encoding_short} | ${fmt(mo.in_process?.requests_per_s)} | ${fmt(st.throughput)} | ` +
        `**${fmt(st.throughput / mo.in_process.requests_per_s)}** | ${fmt(st.p50_ms)} | ${fmt(st.p99_ms)} | ${st.ok} | ${st.backpressure} | ` +
        `${st.other + st.errors} | ${fmt(st.client_cpu)} | ${fmt(st.server_cpu)} | ${fmt((1e6 * st.server_cpu) / st.throughput)} |`);
    }
  }
  const batched = json.models.filter((mo) => mo.in_process?.batched);
  if (batched.length) {
    L.push('', 'In-process at the batching configuration\'s largest batch (rows/s = rows x 1000 / median): ' +
      batched.map((mo) => `${MODELS[mo.model].what.split(',')[0]} batch ${mo.in_process.batched.rows}: ${fmt(mo.in_process.batched.rows_per_s)} rows/s`).join('; ') + '.');
  }
  L.push('', '### Latency against offered load', '',
    '| model | configuration | offered | offered req/s | achieved req/s | p50 | p99 | 2xx | 503 | other | dropped at cap | send lag p99 | client CPU | server CPU |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const mo of json.models) {
    for (const c of mo.configs.filter((x) => !x.error)) {
      for (const st of c.steps) {
        L.push(`| ${MODELS[mo.model].what.split(',')[0]} | ${c.label}, ${c.encoding_short} | ${st.x}x | ${fmt(st.offered)} | ${fmt(st.throughput)} | ${fmt(st.p50_ms)} | ` +
          `${fmt(st.p99_ms)} | ${st.ok} | ${st.backpressure} | ${st.other + st.errors} | ${st.dropped} | ${fmt(st.send_lag_p99_ms)} | ${fmt(st.client_cpu)} | ${fmt(st.server_cpu)} |`);
      }
    }
  }
  if (json.speedups.length) {
    L.push('', '### Batching speedup', '',
      'speedup = saturation throughput of the configuration / of the one without batching, same clients (closed loop: the ' +
        'faster one also has the lower mean latency); **p99 budget** = the best 2xx throughput either reached (saturation or ' +
        'any offered-load step) with p99 at most the unbatched saturation p99, as a ratio.', '',
      '| model | configuration | without: req/s | p99 | with: req/s | p99 | speedup | p99 not higher | at p99 budget |',
      '|---|---|--:|--:|--:|--:|--:|---|--:|');
    for (const s of json.speedups) {
      L.push(`| ${MODELS[s.model].what.split(',')[0]} | ${s.config}, ${s.encoding} | ${fmt(s.base_throughput)} | ${fmt(s.base_p99_ms)} | ${fmt(s.throughput)} | ` +
        `${fmt(s.p99_ms)} | **${s.speedup.toFixed(2)}x** | ${s.p99_not_higher ? 'yes' : 'no'} | ${s.speedup_at_p99_budget.toFixed(2)}x |`);
    }
    const withWrk = json.speedups.filter((s) => s.wrk);
    if (withWrk.length) {
      L.push('', 'With wrk as the client (saturation only):', '',
        '| model | configuration | without: req/s | p99 | with: req/s | p99 | speedup | p99 not higher |', '|---|---|--:|--:|--:|--:|--:|---|');
      for (const s of withWrk) {
        L.push(`| ${MODELS[s.model].what.split(',')[0]} | ${s.config}, ${s.encoding} | ${fmt(s.wrk.base_throughput)} | ${fmt(s.wrk.base_p99_ms)} | ` +
          `${fmt(s.wrk.throughput)} | ${fmt(s.wrk.p99_ms)} | **${s.wrk.speedup.toFixed(2)}x** | ${s.wrk.p99_not_higher ? 'yes' : 'no'} |`);
      }
    }
  }
  L.push('', '### Targets (issue 5)', '', ...targets(json));
  const notes = json.models.filter((mo) => MODELS[mo.model].note).map((mo) => `- ${MODELS[mo.model].what.split(',')[0]}: ${MODELS[mo.model].note}.`);
  if (notes.length) L.push('', ...notes);
  L.push('');
  return L.join('\n');
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const names = opts.models ?? Object.keys(MODELS);
  const m = machine();
  m.load_average_start = os.loadavg()[0];
  if (m.load_average_start > HIGH_LOAD) log(`bench/serve: warning: load average ${m.load_average_start.toFixed(2)}; other work on this machine will skew the numbers`);
  log(`bench/serve: ${names.join(', ')}; ${opts.repeats} repeat(s) of ${opts.duration} s steps at ${opts.steps.join(', ')}x saturation, ` +
    `${opts.clients} clients, cap ${opts.cap}; tandem ${path.relative(REPO, opts.tandem)} --threads ${opts.threads ?? 'per model'} --backend ${opts.backend}; ${m.cpu}, ${m.cores} cores`);
  mkdirSync(OUT, { recursive: true });
  const work = mkdtempSync(path.join(os.tmpdir(), 'tandem-serve-bench-models-'));
  const models = [];
  try {
    for (const name of names) {
      const spec = MODELS[name];
      const threads = opts.threads ?? (spec.threads || os.availableParallelism());
      const mo = { model: name, what: spec.what, threads, configs: [] };
      models.push(mo);
      let made;
      try {
        made = spec.make(work);
        // The same inputs for the in-process ceiling and the requests.
        const dir = path.join(work, `${name}-inputs`);
        mkdirSync(dir, { recursive: true });
        const files = Object.fromEntries(Object.entries(made.inputs).map(([k, a]) => {
          const file = path.join(dir, `${k}.npy`);
          writeNpy(file, a);
          return [k, file];
        }));
        log(`bench/serve: ${name}: in-process ceiling (tandem bench, ${opts.inprocRuns} runs) ...`);
        const ip = inProcess(opts, threads, made.model, files, opts.inprocRuns);
        mo.in_process = { ...ip, requests_per_s: 1000 / ip.median_ms, threads };
        const bcfg = spec.configs.find((c) => c.kind === 'batching');
        if (bcfg) {
          // Also the ceiling at the largest batch: the request's inputs repeated along their batch
          // axes (config.json's batch_axes, else 0; scalars are shared).
          const rows = bcfg.config.max_batch_size;
          const axes = bcfg.config.dynamic_batching?.batch_axes ?? {};
          const batchedFiles = Object.fromEntries(Object.entries(made.inputs).map(([k, a]) => {
            const file = path.join(dir, `${k}-batch${rows}.npy`);
            writeNpy(file, a.shape.length ? repeatAlong(a, axes[k] ?? 0, rows) : a);
            return [k, file];
          }));
          const b = inProcess(opts, threads, made.model, batchedFiles, Math.max(3, Math.round(opts.inprocRuns / 3)));
          mo.in_process.batched = { rows, ...b, rows_per_s: (rows * 1000) / b.median_ms };
        }
        log(`bench/serve: ${name}: in-process ${fmt(ip.median_ms, 3)} ms -> ${fmt(mo.in_process.requests_per_s)} req/s` +
          `${mo.in_process.batched ? `; batch ${mo.in_process.batched.rows}: ${fmt(mo.in_process.batched.rows_per_s)} rows/s` : ''}`);
      } catch (e) {
        mo.error = e.message;
        log(`bench/serve: ${name}: FAILED: ${e.message}`);
        continue;
      }
      const outputs = JSON.parse(spawnSync(opts.tandem, ['inspect', made.model, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout).outputs.map((o) => o.name);
      const encodings = opts.encoding === 'auto' ? spec.encodings : [opts.encoding];
      const configs = encodings.flatMap((encoding) => spec.configs.map((cfg) => ({ ...cfg, encoding, key: encodings.length > 1 ? `${cfg.key}_${encoding}` : cfg.key })));
      for (const cfg of configs) {
        const c = await benchConfig(opts, threads, spec, name, made, cfg, outputs);
        if (!c.error) c.ratio_to_in_process = c.saturation.throughput / mo.in_process.requests_per_s;
        mo.configs.push(c);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  m.load_average_end = os.loadavg()[0];
  const settings = {
    quick: opts.quick, models: names, duration: opts.duration, repeats: opts.repeats, clients: opts.clients, cap: opts.cap,
    steps: opts.steps, threads: opts.threads, io_threads: opts.ioThreads, backend: opts.backend, encoding: opts.encoding, inproc_runs: opts.inprocRuns,
    wrk: opts.wrk ? spawnSync(opts.wrk, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].split(' [')[0] : null,
  };
  const json = { machine: m, settings, models, speedups: [] };
  json.speedups = speedups(models.filter((mo) => !mo.error));
  writeFileSync(path.join(OUT, 'serve-results.json'), `${JSON.stringify(json, null, 1)}\n`);
  const md = opts.md ?? (opts.partial ? path.join(OUT, 'BENCHMARKS-serve.md') : path.join(REPO, 'BENCHMARKS.md'));
  writeSection(md, HEADING, markdown(json));
  log(`bench/serve: wrote ${path.relative(REPO, md)} and ${path.relative(REPO, path.join(OUT, 'serve-results.json'))}`);
  const failed = models.some((mo) => mo.error || mo.configs.some((c) => c.error || c.server_exit !== 0));
  process.exit(failed ? 1 : 0);
}

main().catch((e) => die(e.stack || e));
