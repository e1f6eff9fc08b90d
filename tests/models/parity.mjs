#!/usr/bin/env node
// Model parity: Tandem's outputs must equal onnxruntime-node's on real models.
//
//   node tests/models/parity.mjs TANDEM_BINARY [--models a,b] [--generated DIR] [--work DIR]
//                                [--rtol 1e-4] [--atol 1e-5] [--scale-atol 0] [--timeout SECONDS]
//                                [--model EXTRA.onnx ...] [--backend NAME] [--threads N]
//   node tests/models/parity.mjs --self-test [...]
//
// TANDEM_BINARY may also be a Node script (.mjs/.js), run with this Node: e.g. web/bin/tandem.mjs
// checks the WebAssembly build with the same cases.
//
// Models: the exports of scripts/export_models.py (tests/models/generated/manifest.json) and the
// pretrained silero VAD v5/v6 shipped in @ricky0123/vad-web. For each case the inputs are written
// as .npy, onnxruntime-node computes the reference, `tandem run MODEL --input NAME=FILE.npy ...
// --output-dir DIR` computes the candidate, and every output is compared elementwise with
// |tandem - ort| <= atol + rtol * |ort| (see compare.mjs). Prints one line per case; exits 1 if
// any case fails, 2 on a setup problem.
//
// --scale-atol F raises atol, per output, to F times the output's largest |ort| value: a
// tolerance relative to the output's scale, for reduced-precision runs (vulkan-fp16).
// --backend and --threads go to `tandem run` (default: the CLI's defaults, i.e. auto and one
// thread per core).
// --model adds any other model, fed seeded random inputs built from its declared input types
// (symbolic dims = 1); --models then also filters those by name.
// --self-test checks the .npy and comparison code, then runs the whole pipeline with a second
// onnxruntime session (graph optimizations off) standing in for Tandem.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { compareArrays, DEFAULT_ATOL, DEFAULT_RTOL, describe, formatValue } from './compare.mjs';
import { encodeNpy, parseNpy, readNpy, typedArrayFor, writeNpy } from './npy.mjs';
import { prng } from './prng.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const VAD_DIST = path.join(REPO, 'node_modules', '@ricky0123', 'vad-web', 'dist');
const SILERO = [
  ['silero_vad_v5', 'silero_vad_v5.onnx'],
  ['silero_vad_v6', 'silero_vad_v6.onnx'],
];

function setupError(msg) {
  console.error(`parity: ${msg}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    tandem: null, selfTest: false, models: null, extra: [], rtol: DEFAULT_RTOL, atol: DEFAULT_ATOL, scaleAtol: 0, timeout: 300,
    backend: null, threads: null,
    generated: path.join(HERE, 'generated'), work: path.join(REPO, 'build', 'model_parity'),
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) setupError(`${a} needs a value`);
      return argv[++i];
    };
    const number = () => {
      const v = Number(value());
      if (!Number.isFinite(v) || v < 0) setupError(`${a} needs a non-negative number`);
      return v;
    };
    if (a === '--self-test') o.selfTest = true;
    else if (a === '--models') o.models = value().split(',').filter(Boolean);
    else if (a === '--model') o.extra.push(path.resolve(value()));
    else if (a === '--generated') o.generated = path.resolve(value());
    else if (a === '--work') o.work = path.resolve(value());
    else if (a === '--rtol') o.rtol = number();
    else if (a === '--atol') o.atol = number();
    else if (a === '--scale-atol') o.scaleAtol = number();
    else if (a === '--timeout') o.timeout = number();
    else if (a === '--backend') o.backend = value();
    else if (a === '--threads') {
      const n = number();
      if (!Number.isInteger(n)) setupError('--threads needs a whole number (0 = one per core)');
      o.threads = String(n);
    } else if (a === '-h' || a === '--help') {
      const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n'));
      process.exit(0);
    } else if (a.startsWith('-')) setupError(`unknown option '${a}' (see --help)`);
    else if (o.tandem === null) o.tandem = path.resolve(a);
    else setupError(`unexpected argument '${a}'`);
  }
  if (!o.selfTest && o.tandem === null) setupError('usage: parity.mjs TANDEM_BINARY [options] | --self-test (see --help)');
  if (o.tandem !== null && !existsSync(o.tandem)) setupError(`tandem binary '${o.tandem}' does not exist (build target tandem_cli)`);
  return o;
}

async function loadOrt() {
  try {
    return (await import('onnxruntime-node')).default;
  } catch (e) {
    setupError(`cannot load onnxruntime-node (${e.message.split('\n')[0]}); run "npm ci --ignore-scripts" in ${REPO}`);
  }
}

// ---- inputs -------------------------------------------------------------------------------

// 16 kHz audio: a 220 Hz tone with a harmonic and a rising envelope, plus uniform noise.
function syntheticAudio(samples, seed) {
  const rnd = prng(seed);
  const x = new Float32Array(samples);
  for (let i = 0; i < samples; ++i) {
    const t = i / 16000;
    const env = Math.min(1, i / (samples / 2));
    const tone = 0.4 * Math.sin(2 * Math.PI * 220 * t) + 0.15 * Math.sin(2 * Math.PI * 660 * t + 0.3);
    x[i] = env * tone + 0.05 * (2 * rnd() - 1);
  }
  return x;
}

function generatedCases(dir) {
  const manifest = path.join(dir, 'manifest.json');
  if (!existsSync(manifest)) {
    setupError(`${manifest} is missing; run /usr/bin/python3 scripts/export_models.py (or tests/models/prepare.sh)`);
  }
  const { models } = JSON.parse(readFileSync(manifest, 'utf8'));
  return Object.entries(models).map(([name, m]) => ({
    name,
    model: path.join(dir, m.file),
    inputs: Object.fromEntries(m.inputs.map((k) => [k, readNpy(path.join(dir, name, `${k}.npy`))])),
  }));
}

// Silero v5/v6 as @ricky0123/vad-web drives them: [1, 64 context + 512 new] samples, state
// [2, 1, 128], sr = 16000 (int64 scalar). Frame 0 starts from zero state and context; frame 1
// carries frame 0's context and onnxruntime's stateN, so a non-zero state is exercised.
async function sileroCases(ort) {
  const cases = [];
  const audio = syntheticAudio(1024, 20240611);
  for (const [name, file] of SILERO) {
    const model = path.join(VAD_DIST, file);
    if (!existsSync(model)) setupError(`${model} is missing; run "npm ci --ignore-scripts" in ${REPO}`);
    let state = { dtype: 'float32', shape: [2, 1, 128], data: new Float32Array(256) };
    const sr = { dtype: 'int64', shape: [], data: BigInt64Array.from([16000n]) };
    const session = await ort.InferenceSession.create(model);
    for (let frame = 0; frame < 2; ++frame) {
      const chunk = new Float32Array(64 + 512);
      if (frame > 0) chunk.set(audio.subarray(frame * 512 - 64, frame * 512), 0);
      chunk.set(audio.subarray(frame * 512, (frame + 1) * 512), 64);
      const inputs = { input: { dtype: 'float32', shape: [1, chunk.length], data: chunk }, state, sr };
      cases.push({ name: `${name}#${frame}`, model, inputs });
      if (frame === 0) {
        const out = await session.run(toOrtFeeds(ort, inputs));
        state = fromOrt(out.stateN);
      }
    }
    await session.release();
  }
  return cases;
}

// Seeded random inputs for an arbitrary model, from onnxruntime's input metadata.
async function extraCase(ort, model) {
  if (!existsSync(model)) setupError(`--model ${model} does not exist`);
  const session = await ort.InferenceSession.create(model);
  const rnd = prng(7);
  const inputs = {};
  for (const m of session.inputMetadata) {
    if (!m.isTensor) setupError(`${model}: input '${m.name}' is not a tensor; --model supports tensor inputs only`);
    const shape = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
    const n = shape.reduce((a, b) => a * b, 1);
    const Ctor = typedArrayFor(m.type);
    const data = new Ctor(n);
    for (let i = 0; i < n; ++i) {
      const u = rnd();
      if (m.type === 'float32' || m.type === 'float64') data[i] = 2 * u - 1;
      else if (m.type === 'bool') data[i] = u < 0.5 ? 1 : 0;
      else if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(Math.floor(u * 10));
      else if (m.type === 'float16') setupError(`${model}: float16 inputs are not supported by --model`);
      else data[i] = Math.floor(u * 10);
    }
    inputs[m.name] = { dtype: m.type, shape, data };
  }
  await session.release();
  return { name: path.basename(model, '.onnx'), model, inputs };
}

// ---- runners ------------------------------------------------------------------------------

const toOrtFeeds = (ort, inputs) =>
  Object.fromEntries(Object.entries(inputs).map(([k, a]) => [k, new ort.Tensor(a.dtype, a.data, a.shape)]));

function fromOrt(t) {
  const Ctor = typedArrayFor(t.type);
  const data = t.data instanceof Ctor ? t.data.slice() : Ctor.from(t.data);
  return { dtype: t.type, shape: [...t.dims], data };
}

async function runOrt(ort, modelPath, inputs, options = {}) {
  const session = await ort.InferenceSession.create(modelPath, options);
  try {
    const t0 = performance.now();
    const out = await session.run(toOrtFeeds(ort, inputs));
    const ms = performance.now() - t0;
    const outputs = Object.fromEntries(session.outputNames.map((n) => [n, fromOrt(out[n])]));
    return { outputs, ms };
  } finally {
    await session.release();
  }
}

// The CLI names output files after the output, with '/', '\\' and ':' replaced by '_'.
const outputFile = (dir, name) => path.join(dir, `${name.replace(/[/\\:]/g, '_')}.npy`);

function runTandem(opts, modelPath, inputFiles, outDir) {
  const { tandem, timeout: timeoutS } = opts;
  const args = ['run', modelPath];
  for (const [k, f] of Object.entries(inputFiles)) args.push('--input', `${k}=${f}`);
  args.push('--output-dir', outDir);
  if (opts.backend !== null) args.push('--backend', opts.backend);
  if (opts.threads !== null) args.push('--threads', opts.threads);
  const t0 = performance.now();
  // A .mjs/.js "binary" is a Node script (web/bin/tandem.mjs, the wasm build's CLI).
  const script = /\.(mjs|cjs|js)$/.test(tandem);
  const [cmd, argv] = script ? [process.execPath, [tandem, ...args]] : [tandem, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.error?.code === 'ETIMEDOUT') return { error: `tandem run timed out after ${timeoutS}s`, ms };
  if (r.error) return { error: `cannot run tandem: ${r.error.message}`, ms };
  if (r.signal) return { error: `tandem run crashed (${r.signal}); stderr: ${tail(r.stderr)}`, ms };
  if (r.status !== 0) {
    const missing = /supports these operators|no kernel for/.test(r.stderr) ? 'missing kernels: ' : '';
    return { error: `${missing}tandem run exited ${r.status}: ${tail(r.stderr)}`, ms };
  }
  // The memory plan must be what run() allocates: every value with a planned
  // slot has to land in it (the CLI prints how many did not).
  const missed = /(\d+) allocations outside the plan/.exec(r.stdout || '');
  if (missed && Number(missed[1]) !== 0) {
    return { error: `memory plan missed ${missed[1]} allocations: shape inference disagrees with a kernel`, ms };
  }
  return { ms };
}

function tail(text, lines = 6) {
  const t = (text || '').trim().split('\n').slice(-lines).join(' | ');
  return t || '(no output)';
}

// Stand-in for Tandem in --self-test: onnxruntime with graph optimizations off, writing .npy
// files exactly like the CLI does, so the file and comparison path is exercised end to end.
async function runOrtAsCandidate(ort, modelPath, inputFiles, outDir) {
  const inputs = Object.fromEntries(Object.entries(inputFiles).map(([k, f]) => [k, readNpy(f)]));
  const { outputs, ms } = await runOrt(ort, modelPath, inputs, { graphOptimizationLevel: 'disabled' });
  for (const [n, a] of Object.entries(outputs)) writeNpy(outputFile(outDir, n), a);
  return { ms };
}

// ---- one case -------------------------------------------------------------------------------

async function runCase(ort, c, opts) {
  const caseDir = path.join(opts.work, c.name.replace(/[^A-Za-z0-9_.-]/g, '_'));
  rmSync(caseDir, { recursive: true, force: true });
  for (const d of ['inputs', 'ort', 'tandem']) mkdirSync(path.join(caseDir, d), { recursive: true });
  const inputFiles = {};
  for (const [k, a] of Object.entries(c.inputs)) {
    inputFiles[k] = path.join(caseDir, 'inputs', `${k.replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`);
    writeNpy(inputFiles[k], a);
  }

  let ref;
  try {
    ref = await runOrt(ort, c.model, c.inputs);
  } catch (e) {
    return { ok: false, line: `onnxruntime failed: ${e.message.split('\n')[0]}` };
  }
  for (const [n, a] of Object.entries(ref.outputs)) writeNpy(outputFile(path.join(caseDir, 'ort'), n), a);

  const outDir = path.join(caseDir, 'tandem');
  const cand = opts.selfTest
    ? await runOrtAsCandidate(ort, c.model, inputFiles, outDir)
    : runTandem(opts, c.model, inputFiles, outDir);
  const timing = `ort ${ref.ms.toFixed(1)} ms, ${opts.selfTest ? 'candidate' : 'tandem'} ${cand.ms.toFixed(0)} ms (process)`;
  if (cand.error) return { ok: false, line: cand.error };

  let ok = true;
  let maxAbs = 0;
  let maxRel = 0;
  let worst = null;
  const details = [];
  for (const [n, expected] of Object.entries(ref.outputs)) {
    const file = outputFile(outDir, n);
    if (!existsSync(file)) {
      ok = false;
      details.push(`${n}: tandem wrote no ${path.basename(file)}`);
      continue;
    }
    let actual;
    try {
      actual = readNpy(file);
    } catch (e) {
      ok = false;
      details.push(`${n}: ${e.message}`);
      continue;
    }
    let atol = opts.atol;
    if (opts.scaleAtol > 0 && !(expected.data instanceof BigInt64Array)) {
      let scale = 0;
      for (const v of expected.data) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
      atol = Math.max(atol, opts.scaleAtol * scale);
    }
    const r = compareArrays(actual, expected, { rtol: opts.rtol, atol, name: n });
    maxAbs = Math.max(maxAbs, r.maxAbs);
    maxRel = Math.max(maxRel, r.maxRel);
    if (!r.ok) {
      ok = false;
      details.push(`${n} ${describe(expected)}: ${r.message}`);
    } else if (r.worst && (!worst || r.worst.ratio > worst.ratio)) {
      worst = { ...r.worst, output: n };
    }
  }
  if (!ok) return { ok, line: `mismatch in ${details.length} output(s); ${timing}`, details };
  const w = worst ? `, worst ${worst.output}${worst.index} ${formatValue(worst.actual)} vs ${formatValue(worst.expected)} (${(worst.ratio * 100).toFixed(1)}% of tolerance)` : '';
  return { ok, line: `max abs ${maxAbs.toExponential(2)}, max rel ${maxRel.toExponential(2)}${w}; ${timing}` };
}

// ---- self-test of the helpers -----------------------------------------------------------------

function checkHelpers() {
  const assert = (cond, what) => {
    if (!cond) throw new Error(`self-test: ${what}`);
  };
  const f = { dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 1, -2, 100, 1e-7, -5]) };
  for (const a of [f, { dtype: 'int64', shape: [], data: BigInt64Array.from([16000n]) },
    { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) }]) {
    const b = parseNpy(encodeNpy(a));
    assert(b.dtype === a.dtype && b.shape.join() === a.shape.join() && b.data.join() === a.data.join(), `npy round trip ${a.dtype}`);
  }
  assert(compareArrays(f, f).ok, 'identical arrays compare equal');
  const near = { ...f, data: f.data.map((v) => v + 1e-4 * Math.abs(v) * 0.5) };
  assert(compareArrays(near, f).ok, 'within rtol passes');
  const far = { ...f, data: f.data.slice() };
  far.data[3] = 100.02; // 2e-4 relative: outside
  const r = compareArrays(far, f);
  assert(!r.ok && r.mismatches === 1 && r.worst.index === '[1,0]', `outside rtol fails at [1,0] (${r.message})`);
  const small = { ...f, data: f.data.slice() };
  small.data[0] = 2e-5; // reference 0: only atol applies
  assert(!compareArrays(small, f).ok, 'atol is enforced at zero');
  const nan = { ...f, data: f.data.slice() };
  nan.data[1] = NaN;
  assert(!compareArrays(nan, f).ok, 'NaN against a number fails');
  assert(compareArrays(nan, nan).ok, 'NaN against NaN passes');
  assert(!compareArrays({ ...f, shape: [3, 2] }, f).ok, 'shape mismatch fails');
  assert(!compareArrays({ dtype: 'float64', shape: [2, 3], data: Float64Array.from(f.data) }, f).ok, 'dtype mismatch fails');
  const i = { dtype: 'int64', shape: [2], data: BigInt64Array.from([1n, 2n]) };
  assert(!compareArrays({ ...i, data: BigInt64Array.from([1n, 3n]) }, i).ok, 'int64 must match exactly');
  console.log('self-test: npy and comparison helpers OK');
}

// ---- main ---------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.selfTest) checkHelpers();
  const ort = await loadOrt();
  let cases = [...generatedCases(opts.generated), ...(await sileroCases(ort))];
  for (const m of opts.extra) cases.push(await extraCase(ort, m));
  if (opts.models) cases = cases.filter((c) => opts.models.some((m) => c.name.includes(m)));
  if (cases.length === 0) setupError('no model matches --models');
  mkdirSync(opts.work, { recursive: true });
  console.log(`model parity: ${cases.length} case${cases.length === 1 ? "" : "s"}, |tandem - ort| <= ${opts.atol}` +
    `${opts.scaleAtol > 0 ? ` (or ${opts.scaleAtol} x max|ort| per output)` : ''} + ${opts.rtol}*|ort|, ` +
    `onnxruntime-node ${ort.env.versions?.common ?? ''}, tandem --backend ${opts.backend ?? 'auto'}` +
    `${opts.threads !== null ? ` --threads ${opts.threads}` : ''}, work dir ${opts.work}`);

  const failed = [];
  const width = Math.max(...cases.map((c) => c.name.length));
  for (const c of cases) {
    const r = await runCase(ort, c, opts);
    console.log(`${r.ok ? 'PASS' : 'FAIL'} ${c.name.padEnd(width)}  ${r.line}`);
    for (const d of r.details ?? []) console.log(`       ${d}`);
    if (!r.ok) failed.push(c.name);
  }
  console.log(`model parity: ${cases.length - failed.length}/${cases.length} passed` +
    (failed.length ? `; FAILED: ${failed.join(', ')}` : ''));
  process.exit(failed.length ? 1 : 0);
}

main().catch((e) => {
  console.error(`parity: ${e.stack || e}`);
  process.exit(2);
});
