// The benchmark models and the Tandem side of a round, shared by run.mjs (against
// onnxruntime-node) and vulkan.mjs (Vulkan against XNNPACK): the exported parity models, silero
// VAD, the seed MLP and the GEMM microbenchmarks, with their .npy inputs; `tandem bench --json`
// in a child process.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { numel, writeNpy } from '../tests/models/npy.mjs';
import { prng } from '../tests/models/prng.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..');
export const OUT = path.join(HERE, 'out');
const GENERATED = path.join(REPO, 'tests', 'models', 'generated');
const VAD_DIST = path.join(REPO, 'node_modules', '@ricky0123', 'vad-web', 'dist');
const PYTHON = process.env.TANDEM_PYTHON || '/usr/bin/python3';

export const log = (msg) => process.stderr.write(`${msg}\n`);
export function die(msg) {
  log(`bench: ${msg}`);
  process.exit(2);
}

// ---- models and inputs ----------------------------------------------------------------------

export function uniform(shape, seed) {
  const rnd = prng(seed);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; ++i) data[i] = 2 * rnd() - 1;
  return { dtype: 'float32', shape, data };
}

// Writes the arrays once into bench/out/inputs/<name>/ and returns { input name: file }.
function writeInputs(name, arrays) {
  const dir = path.join(OUT, 'inputs', name);
  mkdirSync(dir, { recursive: true });
  return Object.fromEntries(Object.entries(arrays).map(([k, a]) => {
    const file = path.join(dir, `${k}.npy`);
    writeNpy(file, a);
    return [k, file];
  }));
}

function ensureGenerated() {
  const manifest = path.join(GENERATED, 'manifest.json');
  if (existsSync(manifest) && existsSync(path.join(GENERATED, 'seed_mlp.onnx'))) return;
  log('bench: exporting models (tests/models/prepare.sh) ...');
  const r = spawnSync(path.join(REPO, 'tests', 'models', 'prepare.sh'), { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) die('tests/models/prepare.sh failed');
}

function generated(name) {
  ensureGenerated();
  const { models } = JSON.parse(readFileSync(path.join(GENERATED, 'manifest.json'), 'utf8'));
  const m = models[name] ?? die(`${name} is not in ${GENERATED}/manifest.json`);
  return {
    model: path.join(GENERATED, m.file),
    inputs: Object.fromEntries(m.inputs.map((k) => [k, path.join(GENERATED, name, `${k}.npy`)])),
  };
}

function matmul(n) {
  const dir = path.join(OUT, 'models');
  mkdirSync(dir, { recursive: true });
  const model = path.join(dir, `matmul_${n}.onnx`);
  const a = path.join(dir, `matmul_${n}_A.npy`);
  if (!existsSync(model) || !existsSync(a)) {
    log(`bench: writing ${path.relative(REPO, model)} (bench/make_matmul.py)`);
    const r = spawnSync(PYTHON, [path.join(HERE, 'make_matmul.py'), String(n), model, a], { stdio: ['ignore', 2, 2] });
    if (r.status !== 0) die(`bench/make_matmul.py ${n} failed (needs ${PYTHON} with numpy and onnx)`);
  }
  return { model, inputs: { A: a }, flops: 2 * n ** 3 };
}

// name -> { what, section, runs (per round, full run), make() -> { model, inputs, flops? } }
export const MODELS = {
  resnet18: { what: 'ResNet-18, 1x3x224x224', section: 'models', runs: 20, make: () => generated('resnet18') },
  mobilenetv2: { what: 'MobileNetV2, 1x3x224x224', section: 'models', runs: 20, make: () => generated('mobilenetv2') },
  bert_encoder: { what: 'BERT-style encoder (3 layers, hidden 192), seq 128', section: 'models', runs: 20,
    make: () => generated('bert_encoder') },
  silero_vad_v5: { what: 'silero VAD v5, one 576-sample frame + state', section: 'models', runs: 20, make: () => {
    const model = path.join(VAD_DIST, 'silero_vad_v5.onnx');
    if (!existsSync(model)) die(`${model} is missing; run "npm ci --ignore-scripts" in ${REPO}`);
    const input = uniform([1, 576], 5);
    input.data.forEach((v, i) => { input.data[i] = 0.3 * Math.sin(i / 7) + 0.05 * v; });
    const state = uniform([2, 1, 128], 6);
    state.data.forEach((v, i) => { state.data[i] = 0.1 * v; });
    const sr = { dtype: 'int64', shape: [], data: BigInt64Array.from([16000n]) };
    return { model, inputs: writeInputs('silero_vad_v5', { input, state, sr }) };
  } },
  seed_mlp_b1: { what: 'seed MLP 784-256-128-10, batch 1', section: 'models', runs: 20, make: () => {
    ensureGenerated();
    return { model: path.join(GENERATED, 'seed_mlp.onnx'), inputs: writeInputs('seed_mlp_b1', { input: uniform([1, 784], 1) }) };
  } },
  seed_mlp_b64: { what: 'seed MLP 784-256-128-10, batch 64', section: 'models', runs: 20, make: () => {
    ensureGenerated();
    return { model: path.join(GENERATED, 'seed_mlp.onnx'), inputs: writeInputs('seed_mlp_b64', { input: uniform([64, 784], 64) }) };
  } },
  gemm1024: { what: 'MatMul 1024x1024 @ 1024x1024 (constant B)', section: 'gemm', runs: 10, make: () => matmul(1024) },
  gemm2048: { what: 'MatMul 2048x2048 @ 2048x2048 (constant B)', section: 'gemm', runs: 4, make: () => matmul(2048) },
};

// ---- the two sides --------------------------------------------------------------------------

export function tandemRound(opts, c, threads, runs, warmup) {
  const args = ['bench', c.model, '--json', '--backend', opts.backend, '--threads', String(threads),
    '--runs', String(runs), '--warmup', String(warmup)];
  for (const [k, f] of Object.entries(c.inputs)) args.push('--input', `${k}=${f}`);
  const r = spawnSync(opts.tandem, args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 600e3 });
  if (r.status !== 0) {
    throw new Error(`tandem ${args.join(' ')} failed (${r.signal ?? `exit ${r.status}`}): ${(r.stderr || '').trim()}`);
  }
  const j = JSON.parse(r.stdout);
  return { median: j.median_ms, min: j.min_ms, load: j.load_ms + j.first_run_ms, placement: j.placement };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

