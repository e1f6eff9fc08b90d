#!/usr/bin/env node
// tandem (WebAssembly build): inspect, run and time ONNX models from the command line with the
// tandem-web package, mirroring the native `tandem` CLI (native/cli) so any check done natively
// can be repeated on the wasm build.
//
//   node web/bin/tandem.mjs inspect MODEL [--json] [--shape NAME=1x3x224x224 ...] [--threads N]
//   node web/bin/tandem.mjs run MODEL [--input NAME=FILE.npy ...] [--output-dir DIR] [--seed N]
//                                     [--shape NAME=DIMS ...] [--threads N]
//   node web/bin/tandem.mjs bench MODEL [--runs R] [--warmup W] [--json] [--input ...] [--shape ...]
//                                       [--seed N] [--threads N]
//
// Exit status: 0 ok, 1 error (message on stderr), 2 usage error.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { encodeNpy, halfToFloat, parseNpy } from './npy.mjs';
import { MT19937, randomData } from './random.mjs';

const USAGE = `usage:
  tandem.mjs inspect MODEL.onnx [--json] [--shape NAME=1x3x224x224 ...] [--backend auto] [--threads N]
  tandem.mjs run MODEL.onnx [--input NAME=FILE.npy ...] [--output-dir DIR] [--seed N]
                            [--shape NAME=DIMS ...] [--backend auto] [--threads N]
  tandem.mjs bench MODEL.onnx [--runs R (50)] [--warmup W (5)] [--json] [--input NAME=FILE.npy ...]
                              [--shape NAME=DIMS ...] [--seed N] [--backend auto] [--threads N]

  The WebAssembly build of tandem (package tandem-web) under Node, with the native CLI's options,
  output and .npy files.
  --backend  auto only (the wasm build places nodes on XNNPACK first, reference kernels for the rest)
  --threads  0 or absent = the package's default; > 1 uses the SIMD + pthreads build
  --input    .npy files only (ONNX TensorProto .pb inputs are not supported here; convert them
             to .npy, e.g. with numpy_helper.to_array)
  Random inputs (those not given) are drawn like the native CLI's (mt19937 seeded with --seed,
  floats uniform in [-1, 1), integers 0..9), so the same --seed gives the same inputs.
`;

class UsageError extends Error {}
class UserError extends Error {}

function usage() {
  process.stderr.write(USAGE);
  return 2;
}

function badOption(msg) {
  process.stderr.write(`tandem: ${msg}\n`);
  return 2;
}

function parseInt10(text, lo, hi) {
  if (!/^[+-]?\d+$/.test(text)) return null;
  const v = Number(text);
  return Number.isSafeInteger(v) && v >= lo && v <= hi ? v : null;
}

function parseDims(text) {
  const bad = () => new UsageError(`bad dimensions '${text}'; expected e.g. 1x3x224x224`);
  const dims = text.split('x').map((p) => parseInt10(p, 0, 2 ** 40));
  if (text === '' || dims.some((d) => d === null)) throw bad();
  return dims;
}

// Returns { cmd, model, opts } or an exit code.
function parseArgs(argv) {
  if (argv.length === 1 && (argv[0] === '-h' || argv[0] === '--help' || argv[0] === 'help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.length < 2) return usage();
  const [cmd, model] = argv;
  if (!['inspect', 'run', 'bench'].includes(cmd)) return usage();
  const only = cmd === 'inspect' ? ['--json']
    : cmd === 'run' ? ['--input', '--output-dir', '--seed']
      : ['--json', '--input', '--seed', '--runs', '--warmup'];
  const known = ['--json', '--input', '--output-dir', '--seed', '--runs', '--warmup'];
  const opts = {
    json: false, outputDir: '', seed: 0, inputs: new Map(), shapes: new Map(), backend: 'auto', threads: 0,
    runs: 50, warmup: 5,
  };
  for (let i = 2; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (a.startsWith('--') && !['--shape', '--backend', '--threads', ...only].includes(a)) {
      if (known.includes(a)) return badOption(`'${a}' does not apply to '${cmd}'`);
      process.stderr.write(`tandem: unknown option '${a}'\n`);
      return usage();
    }
    if (a === '--json') {
      opts.json = true;
      continue;
    }
    if (!a.startsWith('--')) return badOption(`unexpected argument '${a}' (one model per command)`);
    if (i + 1 >= argv.length) return badOption(`${a} needs a value`);
    const v = argv[++i];
    const split = () => {
      const eq = v.lastIndexOf('=');
      return eq <= 0 ? null : [v.slice(0, eq), v.slice(eq + 1)];
    };
    let n;
    if (a === '--output-dir') opts.outputDir = v;
    else if (a === '--seed') {
      if ((n = parseInt10(v, 0, 4294967295)) === null) return badOption(`--seed takes a whole number >= 0, got '${v}'`);
      opts.seed = n;
    } else if (a === '--runs') {
      if ((n = parseInt10(v, 1, 1000000)) === null) return badOption(`--runs takes a whole number >= 1, got '${v}'`);
      opts.runs = n;
    } else if (a === '--warmup') {
      if ((n = parseInt10(v, 0, 1000000)) === null) return badOption(`--warmup takes a whole number >= 0, got '${v}'`);
      opts.warmup = n;
    } else if (a === '--threads') {
      if ((n = parseInt10(v, 0, 1024)) === null) {
        return badOption(`--threads takes a whole number from 0 to 1024 (0 = the package's default), got '${v}'`);
      }
      opts.threads = n;
    } else if (a === '--backend') {
      if (v !== 'auto') {
        return badOption(`--backend: the wasm build takes only 'auto' (XNNPACK first, reference kernels for the rest), got '${v}'`);
      }
      opts.backend = v;
    } else if (a === '--input') {
      const kv = split();
      if (!kv) return badOption(`--input expects NAME=FILE, got '${v}'`);
      opts.inputs.set(kv[0], kv[1]);
    } else if (a === '--shape') {
      const kv = split();
      if (!kv) return badOption(`--shape expects NAME=DIMS (e.g. input=1x3x224x224), got '${v}'`);
      try {
        opts.shapes.set(kv[0], parseDims(kv[1]));
      } catch (e) {
        return badOption(e.message);
      }
    }
  }
  return { cmd, model, opts };
}

// ---- shared pieces ------------------------------------------------------------------------

const HERE = path.dirname(fileURLToPath(import.meta.url));

async function loadPackage() {
  const entry = new URL('../dist/index.js', import.meta.url);
  if (!existsSync(entry)) {
    throw new UserError(`the tandem-web package is not built: ${path.resolve(HERE, '..', 'dist', 'index.js')} is missing ` +
      '(build the wasm presets and the TypeScript package first; see README)');
  }
  return import(entry.href);
}

function checkModelFile(file) {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new UserError(`cannot open '${file}': ${e.code === 'ENOENT' ? 'No such file or directory' : e.message}`);
  }
  if (!st.isFile()) throw new UserError(`cannot open '${file}': not a regular file`);
}

async function openSession(pkg, file, opts) {
  checkModelFile(file);
  const options = {};
  if (opts.threads > 0) options.threads = opts.threads;
  try {
    return await pkg.InferenceSession.create(path.resolve(file), options);
  } catch (e) {
    const msg = e?.message ?? String(e);
    throw new UserError(`cannot load '${file}': ${msg}`);
  }
}

const numel = (shape) => shape.reduce((a, b) => a * b, 1);
const shapeToString = (shape) => `[${shape.join(', ')}]`;
const dimText = (d) => (typeof d === 'number' && d >= 0 ? String(d) : d === '' || d == null || d === -1 ? '?' : String(d));
const typeToString = (m) => (m.shape ? `${m.type}[${m.shape.map(dimText).join(', ')}]` : `${m.type}`);

// Concrete shape for an input: --shape override, else declared dims with unknowns as 1.
function shapeFor(meta, overrides) {
  if (overrides.has(meta.name)) return overrides.get(meta.name);
  return (meta.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
}

// The feeds `run` and `bench` use: --input files, seeded random tensors for the rest.
function makeFeeds(pkg, session, opts, log) {
  const rng = new MT19937(opts.seed);
  const feeds = {};
  const metas = session.inputMetadata;
  for (const meta of metas) {
    const file = opts.inputs.get(meta.name);
    if (file !== undefined) {
      if (/\.pb$/i.test(file)) {
        throw new UserError(`input '${meta.name}': '${file}' is a TensorProto .pb file; the wasm CLI reads .npy only (convert it to .npy)`);
      }
      let arr;
      try {
        arr = parseNpy(readFileSync(file), file);
      } catch (e) {
        const why = e.code === 'ENOENT' ? `cannot open '${file}': No such file or directory` : e.message;
        throw new UserError(`input '${meta.name}': ${why}`);
      }
      feeds[meta.name] = new pkg.Tensor(arr.dtype, arr.data, arr.shape);
      continue;
    }
    const shape = shapeFor(meta, opts.shapes);
    let data;
    try {
      data = randomData(meta.type, numel(shape), rng);
    } catch (e) {
      throw new UserError(`input '${meta.name}': ${e.message}; give it with --input`);
    }
    log?.(`input  ${meta.name}: random ${meta.type}${shapeToString(shape)} (seed ${opts.seed})\n`);
    feeds[meta.name] = new pkg.Tensor(meta.type, data, shape);
  }
  for (const name of opts.inputs.keys()) {
    if (!metas.some((m) => m.name === name)) throw new UserError(`the model has no input named '${name}'`);
  }
  return feeds;
}

async function runSession(session, feeds, what) {
  try {
    return await session.run(feeds);
  } catch (e) {
    throw new UserError(what ? `${what}: ${e?.message ?? e}` : e?.message ?? String(e));
  }
}

function placementLines(session) {
  const p = session.placement ?? {};
  return Array.isArray(p.partitions) ? p.partitions : [];
}

function placementByBackend(lines) {
  const out = new Map();
  for (const p of lines) { // "xnnpack: 12 nodes"
    const colon = p.indexOf(': ');
    const name = colon < 0 ? p : p.slice(0, colon);
    const nodes = colon < 0 ? 0 : parseInt(p.slice(colon + 2), 10) || 0;
    const b = out.get(name) ?? { nodes: 0, partitions: 0 };
    b.nodes += nodes;
    b.partitions += 1;
    out.set(name, b);
  }
  return out;
}

const placementJson = (lines) => JSON.stringify(lines).replace(/","/g, '", "');
function placementByBackendJson(lines) {
  const parts = [...placementByBackend(lines)].map(([k, b]) => `${JSON.stringify(k)}: {"nodes": ${b.nodes}, "partitions": ${b.partitions}}`);
  return `{${parts.join(', ')}}`;
}

// C++ ostream's default formatting of a double (printf %g, 6 significant digits).
function formatG(v) {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v < 0 ? '-inf' : 'inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const exp = v.toExponential(5); // d.ddddde±X, rounded to 6 significant digits
  const x = Number(exp.slice(exp.indexOf('e') + 1));
  const strip = (s) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (x < -4 || x >= 6) {
    const [m] = exp.split('e');
    return `${strip(m)}e${x < 0 ? '-' : '+'}${String(Math.abs(x)).padStart(2, '0')}`;
  }
  return strip(v.toFixed(5 - x));
}


function summarize(t) {
  const dims = [...t.dims].map(Number);
  let s = `${t.type}${shapeToString(dims)}`;
  const n = t.data?.length ?? 0;
  if (t.type === 'string' || n === 0) return s;
  const at = t.type === 'float16' ? (i) => halfToFloat(t.data[i]) : (i) => Number(t.data[i]);
  let lo = Infinity;
  let hi = -Infinity;
  let sum = 0;
  for (let i = 0; i < n; ++i) {
    const v = at(i);
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    sum += v;
  }
  const first = [];
  for (let i = 0; i < Math.min(n, 5); ++i) first.push(formatG(at(i)));
  s += `  min ${formatG(lo)}  max ${formatG(hi)}  mean ${formatG(sum / n)}  first [${first.join(', ')}${n > 5 ? ', ...]' : ']'}`;
  return s;
}

function toNpy(t) {
  const data = t.data;
  // .npy writer wants the exact typed array class; bool and float16 arrive as Uint8/Uint16.
  return encodeNpy({ dtype: t.type, shape: [...t.dims].map(Number), data });
}

// IR version, producer, opsets and ops (session.modelInfo), or null from a package without it.
function modelInfo(session) {
  try {
    return session.modelInfo ?? null;
  } catch {
    return null;
  }
}

// The memory plan for the shapes inspect shows (session.memoryFacts), in the native CLI's terms.
async function memoryFacts(session, shapes) {
  if (typeof session.memoryFacts !== 'function') return null;
  let f;
  try {
    f = await session.memoryFacts(Object.fromEntries(shapes));
  } catch (e) {
    throw new UserError(e?.message ?? String(e));
  }
  return { weightBytes: f.weights, arenaBytes: f.arena, inputBytes: f.inputs, outputBytes: f.outputs, peakBytes: f.peak };
}

// ---- commands ---------------------------------------------------------------------------

async function cmdRun(pkg, file, opts) {
  const out = (s) => process.stdout.write(s);
  const session = await openSession(pkg, file, opts);
  try {
    const feeds = makeFeeds(pkg, session, opts, out);
    const t0 = performance.now();
    const results = await runSession(session, feeds);
    const ms = performance.now() - t0;
    const names = session.outputNames.filter((n) => n in results);
    for (const name of names) out(`output ${name}: ${summarize(results[name])}\n`);
    const stats = session.lastRunStats;
    if (stats && typeof stats === 'object' && 'arenaBytes' in stats) {
      out(`time   ${ms.toFixed(3)} ms (arena ${stats.arenaBytes} bytes, ${stats.unplannedAllocations ?? 0} allocations outside the plan)\n`);
    } else {
      out(`time   ${ms.toFixed(3)} ms\n`);
    }
    if (opts.outputDir) {
      try {
        mkdirSync(opts.outputDir, { recursive: true });
        for (const name of names) {
          writeFileSync(path.join(opts.outputDir, `${name.replace(/[/\\:]/g, '_')}.npy`), toNpy(results[name]));
        }
      } catch (e) {
        throw new UserError(`cannot write outputs to '${opts.outputDir}': ${e.message}`);
      }
      out(`wrote  ${names.length} outputs to ${opts.outputDir}\n`);
    }
  } finally {
    await session.release();
  }
  return 0;
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

function percentile(sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

async function cmdBench(pkg, file, opts) {
  const log = opts.json ? null : (s) => process.stdout.write(s);
  const t0 = performance.now();
  const session = await openSession(pkg, file, opts); // file read + InferenceSession.create
  const loadMs = performance.now() - t0;
  try {
    const feeds = makeFeeds(pkg, session, opts, log);
    const timed = async (what) => {
      const t = performance.now();
      await runSession(session, feeds, what);
      return performance.now() - t;
    };
    const firstMs = await timed('first run');
    for (let i = 0; i < opts.warmup; ++i) await timed('warmup run');
    const times = [];
    for (let i = 0; i < opts.runs; ++i) times.push(await timed(`run ${i + 1}`));
    times.sort((a, b) => a - b);
    const med = median(times);
    const lo = times[0];
    const p90 = percentile(times, 90);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const lines = placementLines(session);
    const build = session.placement?.build ?? 'unknown';
    const threadsUsed = session.placement?.threads;
    if (opts.json) {
      process.stdout.write(`{"model": ${JSON.stringify(file)}, "backend": ${JSON.stringify(opts.backend)}, ` +
        `"threads": ${opts.threads}, "load_ms": ${loadMs.toFixed(3)}, "first_run_ms": ${firstMs.toFixed(3)}, ` +
        `"median_ms": ${med.toFixed(4)}, "min_ms": ${lo.toFixed(4)}, "mean_ms": ${mean.toFixed(4)}, ` +
        `"p90_ms": ${p90.toFixed(4)}, "runs": ${opts.runs}, "warmup": ${opts.warmup}, ` +
        `"placement": ${placementJson(lines)}, "placement_by_backend": ${placementByBackendJson(lines)}, ` +
        `"build": ${JSON.stringify(build)}, "threads_used": ${Number.isInteger(threadsUsed) ? threadsUsed : 'null'}}\n`);
      return 0;
    }
    process.stdout.write(`model      ${file}\n` +
      `backend    ${opts.backend} (wasm ${build}), threads ${opts.threads > 0 ? opts.threads : 'default'}` +
      `${Number.isInteger(threadsUsed) ? ` (${threadsUsed} used)` : ''}\n` +
      `placement ${lines.map((p) => ` [${p}]`).join('')}\n` +
      `load       ${loadMs.toFixed(3)} ms (file read + InferenceSession.create, wasm compile included)\n` +
      `first run  ${firstMs.toFixed(3)} ms\n` +
      `warm       median ${med.toFixed(4)} ms, min ${lo.toFixed(4)} ms, mean ${mean.toFixed(4)} ms, ` +
      `p90 ${p90.toFixed(4)} ms (${opts.runs} runs after ${opts.warmup} warmups)\n`);
  } finally {
    await session.release();
  }
  return 0;
}

async function cmdInspect(pkg, file, opts) {
  const session = await openSession(pkg, file, opts);
  try {
    const info = modelInfo(session);
    const shapes = new Map(session.inputMetadata.map((m) => [m.name, shapeFor(m, opts.shapes)]));
    const facts = await memoryFacts(session, shapes);
    const lines = placementLines(session);
    const build = session.placement?.build ?? 'unknown';
    const ins = session.inputMetadata;
    const outs = session.outputMetadata;
    if (opts.json) {
      const io = (list) => `[${list.map((m) => `{"name": ${JSON.stringify(m.name)}, "type": ${JSON.stringify(typeToString(m))}}`).join(', ')}]`;
      let s = `{"model": ${JSON.stringify(file)}`;
      if (info) {
        s += `, "ir_version": ${info.irVersion}, "producer": ${JSON.stringify(`${info.producer} ${info.producerVersion}`)}` +
          `, "opsets": {${Object.entries(info.opsets).map(([d, v]) => `${JSON.stringify(d)}: ${v}`).join(', ')}}`;
      }
      s += `, "inputs": ${io(ins)}, "outputs": ${io(outs)}`;
      if (info) {
        s += `, "nodes": ${info.nodes}, "ops": {${Object.entries(info.ops).map(([k, c]) => `${JSON.stringify(k)}: ${c}`).join(', ')}}`;
      }
      if (facts) {
        s += `, "weight_bytes": ${facts.weightBytes}, "arena_bytes": ${facts.arenaBytes}, "output_bytes": ${facts.outputBytes}` +
          `, "input_bytes": ${facts.inputBytes}, "peak_bytes": ${facts.peakBytes}`;
      }
      s += `, "backend": ${JSON.stringify(opts.backend)}, "build": ${JSON.stringify(build)}` +
        `, "placement": ${placementJson(lines)}, "placement_by_backend": ${placementByBackendJson(lines)}}\n`;
      process.stdout.write(s);
      return 0;
    }
    let s = `model     ${file}\n`;
    if (info) {
      s += `ir        ${info.irVersion}   producer ${info.producer} ${info.producerVersion}\n` +
        `opsets   ${Object.entries(info.opsets).map(([d, v]) => ` ${d}=${v}`).join('')}\n`;
    }
    s += 'inputs\n' + ins.map((m) => `  ${m.name}: ${typeToString(m)}\n`).join('');
    s += 'outputs\n' + outs.map((m) => `  ${m.name}: ${typeToString(m)}\n`).join('');
    if (info) {
      s += `ops       ${info.nodes} nodes:${Object.entries(info.ops).map(([k, c]) => ` ${k}x${c}`).join('')}\n`;
    }
    if (facts) {
      s += `memory    for inputs${[...shapes].map(([n, sh]) => ` ${n}=${shapeToString(sh)}`).join('')}\n` +
        `  weights ${facts.weightBytes} bytes\n  arena   ${facts.arenaBytes} bytes (peak intermediates)\n` +
        `  outputs ${facts.outputBytes} bytes\n  peak    ${facts.peakBytes} bytes\n`;
    }
    s += `placement (--backend ${opts.backend}, wasm ${build})\n`;
    for (const [b, v] of placementByBackend(lines)) {
      s += `  ${b}: ${v.nodes} nodes in ${v.partitions} ${v.partitions === 1 ? 'partition' : 'partitions'}\n`;
    }
    s += `  partitions in order:${lines.map((p) => ` [${p}]`).join('')}\n`;
    process.stdout.write(s);
  } finally {
    await session.release();
  }
  return 0;
}

async function main() {
  const parsed = parseArgs(process.argv.slice(2));
  if (typeof parsed === 'number') return parsed;
  const { cmd, model, opts } = parsed;
  checkModelFile(model);
  const pkg = await loadPackage();
  if (cmd === 'inspect') return cmdInspect(pkg, model, opts);
  if (cmd === 'run') return cmdRun(pkg, model, opts);
  return cmdBench(pkg, model, opts);
}

main().then(
  (code) => {
    process.exitCode = code;
    // The threads build keeps workers alive; exit once stdout has drained.
    process.stdout.write('', () => process.exit(code));
  },
  (e) => {
    if (e instanceof UserError || e instanceof UsageError) {
      process.stderr.write(`tandem: error: ${e.message}\n`);
    } else {
      // Not a user error: still no stack trace unless asked for (TANDEM_DEBUG=1).
      process.stderr.write(`tandem: error: ${e?.message ?? e}\n`);
      if (process.env.TANDEM_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    }
    process.stderr.write('', () => process.exit(e instanceof UsageError ? 2 : 1));
  },
);
