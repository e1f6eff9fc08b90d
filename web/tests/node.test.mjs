// The tandem-web package under Node 20: parity with onnxruntime-node, both wasm builds, API
// behaviour on bad inputs and bad models, the memory ceiling, the Node file cache, download
// progress and the Node CLI (web/bin/tandem.mjs).
//
//   node --test web/tests/node.test.mjs          (needs web/dist built and tests/models/generated)
//
// The model-parity set (tests/models/generated, exported by scripts/export_models.py) is made by
// `scripts/test native`; silero VAD v5/v6 come from node_modules/@ricky0123/vad-web.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { compareArrays } from '../../tests/models/compare.mjs';
import { readNpy } from '../../tests/models/npy.mjs';
import { prng } from '../../tests/models/prng.mjs';
import { MT19937, randomData } from '../bin/random.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const GEN = path.join(REPO, 'tests', 'models', 'generated');
const DIST = path.join(REPO, 'web', 'dist', 'index.js');
const CLI = path.join(REPO, 'web', 'bin', 'tandem.mjs');
const SEED_MLP = path.join(GEN, 'seed_mlp.onnx');
const MOBILENET = path.join(GEN, 'mobilenetv2.onnx');
const BERT = path.join(GEN, 'bert_encoder.onnx');
const WORK = path.join(REPO, 'build', 'web-test');
const TOL = { rtol: 1e-4, atol: 1e-5 };

// ---- helpers ------------------------------------------------------------------------------

let pkgPromise;
function pkg() {
  if (!existsSync(DIST)) {
    throw new Error(`${DIST} is missing: build the wasm presets and the package first (see README)`);
  }
  pkgPromise ??= import(pathToFileURL(DIST).href);
  return pkgPromise;
}

let ortPromise;
const ort = () => (ortPromise ??= import('onnxruntime-node').then((m) => m.default ?? m));

function needGenerated(...files) {
  for (const f of [path.join(GEN, 'manifest.json'), ...files]) {
    if (!existsSync(f)) assert.fail(`${f} is missing: run scripts/test native first (it exports them)`);
  }
}

const asArray = (t) => ({ dtype: t.type, shape: [...t.dims].map(Number), data: t.data });

function assertClose(actual, expected, what) {
  const r = compareArrays(asArray(actual), asArray(expected), { ...TOL, name: what });
  assert.ok(r.ok, `${what}: ${r.message}`);
}

// Runs onnxruntime-node on {name: {dtype, shape, data}}; returns {name: ort.Tensor}.
async function runOrt(model, inputs) {
  const o = await ort();
  const s = await o.InferenceSession.create(model);
  try {
    const feeds = Object.fromEntries(Object.entries(inputs).map(([k, a]) => [k, new o.Tensor(a.dtype, a.data, a.shape)]));
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

async function tandemFeeds(inputs) {
  const { Tensor } = await pkg();
  return Object.fromEntries(Object.entries(inputs).map(([k, a]) => [k, new Tensor(a.dtype, a.data, a.shape)]));
}

function mlpInput(seed = 1, batch = 1) {
  const rnd = prng(seed);
  return { dtype: 'float32', shape: [batch, 784], data: Float32Array.from({ length: batch * 784 }, () => 2 * rnd() - 1) };
}

async function expectReject(promiseOrFn, pattern, what) {
  let error;
  let value;
  try {
    value = await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    error = e;
  }
  if (!error) await value?.release?.();
  assert.ok(error, `${what}: expected an error, got success`);
  assert.ok(error instanceof Error, `${what}: expected an Error, got ${typeof error}: ${error}`);
  assert.match(error.message, pattern, `${what}: message does not match ${pattern}`);
  return error;
}

// Bytes the wasm heap(s) hold, if the package says; else the process's array buffers + rss.
async function heapBytes() {
  const { env } = await pkg();
  const d = env.diagnostics ?? {};
  for (const k of ['heapBytes', 'wasmHeapBytes', 'memoryBytes', 'heapSize']) {
    if (typeof d[k] === 'number') return { bytes: d[k], source: `env.diagnostics.${k}` };
  }
  const m = process.memoryUsage();
  return { bytes: m.arrayBuffers + m.rss, source: 'process arrayBuffers + rss' };
}

// ---- a tiny ONNX writer (protobuf) for generated test models -------------------------------

function varint(n) {
  let v = BigInt(n);
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const vint = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const bytes = (field, b) => {
  const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b);
  return Buffer.concat([key(field, 2), varint(buf.length), buf]);
};
const msg = (...parts) => Buffer.concat(parts);

const ELEM = { float32: 1, int64: 7 };
function valueInfo(name, dtype, dims) {
  const dimMsgs = dims.map((d) => bytes(1, typeof d === 'number' ? vint(1, d) : bytes(2, d)));
  const tensorType = msg(vint(1, ELEM[dtype]), bytes(2, msg(...dimMsgs)));
  return msg(bytes(1, name), bytes(2, bytes(1, tensorType)));
}
function initializer(name, dtype, dims, data) {
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return msg(...dims.map((d) => vint(1, d)), vint(2, ELEM[dtype]), bytes(8, name), bytes(9, raw));
}
function node(op, inputs, outputs, attrs = []) {
  return msg(...inputs.map((i) => bytes(1, i)), ...outputs.map((o) => bytes(2, o)), bytes(4, op), ...attrs);
}
const intAttr = (name, i) => bytes(5, msg(bytes(1, name), vint(3, i), vint(20, 2)));
function model({ nodes, inits = [], inputs, outputs, opset = 13 }) {
  const graph = msg(...nodes.map((n) => bytes(1, n)), bytes(2, 'g'), ...inits.map((t) => bytes(5, t)),
    ...inputs.map((v) => bytes(11, v)), ...outputs.map((v) => bytes(12, v)));
  return new Uint8Array(msg(vint(1, 8), bytes(2, 'tandem-web-test'), bytes(7, graph), bytes(8, msg(bytes(1, ''), vint(2, opset)))));
}

// x [1, 1] -> Expand to `dims` (float32) -> a few elementwise ops -> ReduceSum -> [1, 1]: a tiny
// file whose memory plan is as big as we like.
//   'single': one [65536, 32768] intermediate, 8 GiB, twice the wasm32 address space.
//   'many':   four [49152, 8192] intermediates (1.5 GiB each, under wasm32's 2 GiB per tensor)
//             live at once: 4.5 GiB of arena.
//   'arena':  two 1.5 GiB intermediates live at once: a 3 GiB arena, under the 4 GiB ceiling but
//             more than one wasm32 allocation can hold (2 GiB).
function hugeModel(kind) {
  const shape = (a, b) => initializer('shape', 'int64', [2], BigInt64Array.from([a, b]));
  const sum = (from) => node('ReduceSum', [from], ['y'], [intAttr('keepdims', 1)]);
  const graphs = {
    single: { nodes: [node('Expand', ['x', 'shape'], ['a']), sum('a')], init: shape(65536n, 32768n) },
    many: {
      nodes: [node('Expand', ['x', 'shape'], ['a']), node('Relu', ['a'], ['b']), node('Neg', ['a'], ['c']),
        node('Add', ['b', 'c'], ['d']), node('Add', ['d', 'a'], ['e']), sum('e')],
      init: shape(49152n, 8192n),
    },
    arena: {
      nodes: [node('Expand', ['x', 'shape'], ['a']), node('Relu', ['a'], ['b']), node('Add', ['a', 'b'], ['c']), sum('c')],
      init: shape(49152n, 8192n),
    },
  };
  const g = graphs[kind];
  return model({
    nodes: g.nodes, inits: [g.init],
    inputs: [valueInfo('x', 'float32', [1, 1])],
    outputs: [valueInfo('y', 'float32', [1, 1])],
  });
}

// ---- parity -------------------------------------------------------------------------------

test('parity with onnxruntime-node on the model-parity set (wasm CLI through tests/models/parity.mjs)', { timeout: 240_000 }, () => {
  needGenerated(SEED_MLP, MOBILENET);
  const args = [path.join(REPO, 'tests', 'models', 'parity.mjs'), CLI, '--work', path.join(WORK, 'parity'),
    '--model', SEED_MLP];
  const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8', timeout: 230_000, maxBuffer: 64 << 20 });
  const out = `${r.stdout}\n${r.stderr}`.trim();
  assert.equal(r.status, 0, `parity.mjs exited ${r.status ?? r.signal ?? r.error}:\n${out}`);
  assert.match(r.stdout, /model parity: (\d+)\/\1 passed/, out);
});

// ---- both builds ---------------------------------------------------------------------------

for (const [label, file, inputsOf] of [
  ['seed MLP', SEED_MLP, () => ({ input: mlpInput(11) })],
  ['MobileNetV2', MOBILENET, () => ({ input: readNpy(path.join(GEN, 'mobilenetv2', 'input.npy')) })],
]) {
  test(`single-thread and threads builds agree with each other and onnxruntime on ${label}`, { timeout: 60_000 }, async () => {
    needGenerated(file);
    const { InferenceSession } = await pkg();
    const inputs = inputsOf();
    const ref = await runOrt(file, inputs);
    const results = {};
    for (const threads of [1, 2]) {
      const s = await InferenceSession.create(file, { threads });
      try {
        const want = threads === 1 ? 'simd' : 'simd-threads';
        assert.equal(s.placement?.build, want, `threads: ${threads} should use the ${want} build (placement ${JSON.stringify(s.placement)})`);
        if (threads > 1) assert.equal(s.placement.threads, threads, 'placement.threads');
        results[threads] = await s.run(await tandemFeeds(inputs));
      } finally {
        await s.release();
      }
    }
    for (const name of Object.keys(ref)) {
      assertClose(results[1][name], ref[name], `${label} ${name} (1 thread vs ort)`);
      assertClose(results[2][name], ref[name], `${label} ${name} (2 threads vs ort)`);
      assertClose(results[2][name], results[1][name], `${label} ${name} (2 threads vs 1 thread)`);
    }
  });
}

test('two live multi-threaded sessions run one after the other (one shared worker pool)', { timeout: 60_000 }, async () => {
  needGenerated(SEED_MLP, MOBILENET);
  const { InferenceSession, Tensor } = await pkg();
  // Each session used to create its own pthreadpool; the module's Web Worker pool holds one
  // session's threads, so the second session's run waited forever for a worker.
  const a = await InferenceSession.create(SEED_MLP, { threads: 2 });
  const b = await InferenceSession.create(MOBILENET, { threads: 2 });
  try {
    assert.equal(a.placement.build, 'simd-threads');
    assert.equal(b.placement.build, 'simd-threads');
    const x = new Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 784]);
    const y = readNpy(path.join(GEN, 'mobilenetv2', 'input.npy'));
    const ra = await a.run({ input: x });
    const rb = await b.run({ input: new Tensor('float32', y.data, y.shape) });
    const ra2 = await a.run({ input: x });
    assert.deepEqual([...rb.logits.dims], [1, 1000]);
    assert.deepEqual(ra2.probabilities.data, ra.probabilities.data);
  } finally {
    await a.release();
    await b.release();
  }
});

// ---- API behaviour -------------------------------------------------------------------------

test('names and metadata, symbolic dims as strings', async () => {
  needGenerated(SEED_MLP, BERT);
  const { InferenceSession } = await pkg();
  const s = await InferenceSession.create(SEED_MLP);
  try {
    assert.deepEqual(s.inputNames, ['input']);
    assert.deepEqual(s.outputNames, ['probabilities']);
    assert.deepEqual(s.inputMetadata.map(({ name, type, shape }) => ({ name, type, shape })),
      [{ name: 'input', type: 'float32', shape: ['batch', 784] }]);
    assert.deepEqual(s.outputMetadata.map(({ name, type, shape }) => ({ name, type, shape })),
      [{ name: 'probabilities', type: 'float32', shape: ['batch', 10] }]);
    assert.equal(s.placement?.where, 'local');
    assert.ok(Array.isArray(s.placement?.partitions), 'placement.partitions is an array');
  } finally {
    await s.release();
  }
  const b = await InferenceSession.create(BERT);
  try {
    assert.deepEqual(b.inputNames, ['input_ids', 'attention_mask']);
    assert.deepEqual(b.inputMetadata.map((m) => [m.type, m.shape]), [['int64', ['batch', 128]], ['int64', ['batch', 128]]]);
    assert.deepEqual(b.outputNames, ['last_hidden_state', 'pooler_output']);
    const last = b.outputMetadata[0].shape;
    assert.equal(typeof last[0], 'string', `unnamed symbolic dim should be a string, got ${JSON.stringify(last)}`);
    assert.deepEqual(last.slice(1), [128, 192]);
  } finally {
    await b.release();
  }
});

test('bad feeds are rejected with a message naming the input', async () => {
  needGenerated(SEED_MLP, BERT);
  const { InferenceSession, Tensor } = await pkg();
  const s = await InferenceSession.create(SEED_MLP);
  const good = new Tensor('float32', new Float32Array(784), [1, 784]);
  try {
    await expectReject(s.run({ nope: good }), /nope/, 'unknown input name');
    await expectReject(s.run({}), /input/, 'no inputs');
    await expectReject(s.run({ input: new Tensor('int32', new Int32Array(784), [1, 784]) }), /input[\s\S]*(float32|int32|type)|(float32|int32|type)[\s\S]*input/, 'wrong dtype');
    await expectReject(s.run({ input: new Tensor('float32', new Float32Array(783), [1, 783]) }), /input[\s\S]*(783|784|shape)|(783|784|shape)[\s\S]*input/, 'wrong shape');
    // Wrong data length: the Tensor constructor may refuse it already (as onnxruntime's does).
    let bad;
    try {
      bad = new Tensor('float32', new Float32Array(10), [1, 784]);
    } catch (e) {
      assert.ok(e instanceof Error);
      assert.match(e.message, /10|784|size|length/, 'Tensor constructor message says what is wrong');
    }
    if (bad) await expectReject(s.run({ input: bad }), /input[\s\S]*(10|784)|(10|784)[\s\S]*input/, 'wrong data length');
    // The session still works after all that.
    const out = await s.run({ input: good });
    assert.deepEqual([...out.probabilities.dims], [1, 10]);
  } finally {
    await s.release();
  }
  const b = await InferenceSession.create(BERT);
  try {
    const ids = new Tensor('int64', new BigInt64Array(128), [1, 128]);
    await expectReject(b.run({ input_ids: ids }), /attention_mask/, 'missing input');
    await expectReject(b.run({ input_ids: ids, attention_mask: new Tensor('float32', new Float32Array(128), [1, 128]) }),
      /attention_mask/, 'wrong dtype on the second input');
  } finally {
    await b.release();
  }
});

test('malformed model bytes are refused with an Error and the process stays healthy', async () => {
  needGenerated(SEED_MLP, MOBILENET);
  const { InferenceSession } = await pkg();
  const rnd = prng(99);
  const random = Uint8Array.from({ length: 4096 }, () => Math.floor(rnd() * 256));
  const real = readFileSync(MOBILENET);
  const truncated = new Uint8Array(real.subarray(0, real.length >> 1));
  for (const threads of [1, 2]) { // both builds
    for (const [what, b] of [['random bytes', random], ['truncated model', truncated], ['empty', new Uint8Array(0)]]) {
      await expectReject(InferenceSession.create(b, { threads }), /model|onnx|protobuf/i, `${what}, threads: ${threads}`);
    }
  }
  await expectReject(InferenceSession.create(path.join(os.tmpdir(), 'no-such-tandem-model.onnx')), /no-such-tandem-model|no such|not found|ENOENT/i, 'missing file');
  const inputs = { input: mlpInput(5) };
  const ref = await runOrt(SEED_MLP, inputs);
  const s = await InferenceSession.create(new Uint8Array(readFileSync(SEED_MLP)));
  try {
    assertClose((await s.run(await tandemFeeds(inputs))).probabilities, ref.probabilities, 'seed MLP after bad models');
  } finally {
    await s.release();
  }
});

test('run after release() is a clear error, not a crash', async () => {
  needGenerated(SEED_MLP);
  const { InferenceSession } = await pkg();
  const s = await InferenceSession.create(SEED_MLP);
  const feeds = await tandemFeeds({ input: mlpInput(2) });
  await s.run(feeds);
  await s.release();
  await expectReject(s.run(feeds), /releas/i, 'run after release');
  await expectReject(s.run(feeds), /releas/i, 'second run after release');
  try {
    await s.release(); // a second release may resolve or reject, but must not crash
  } catch (e) {
    assert.ok(e instanceof Error);
  }
  const again = await InferenceSession.create(SEED_MLP);
  try {
    await again.run(feeds);
  } finally {
    await again.release();
  }
});

test('creating and releasing 50 sessions does not grow the heap without bound', { timeout: 60_000 }, async () => {
  needGenerated(SEED_MLP);
  const { InferenceSession } = await pkg();
  const bytesOfModel = new Uint8Array(readFileSync(SEED_MLP));
  const feeds = await tandemFeeds({ input: mlpInput(3) });
  const cycle = async () => {
    const s = await InferenceSession.create(bytesOfModel, { threads: 1 });
    await s.run(feeds);
    await s.release();
  };
  for (let i = 0; i < 10; ++i) await cycle();
  globalThis.gc?.();
  const before = await heapBytes();
  for (let i = 0; i < 50; ++i) await cycle();
  globalThis.gc?.();
  const after = await heapBytes();
  // One leaked session would hold ~1 MB of weights (plus a packed copy); 50 of them > 50 MB.
  const grew = after.bytes - before.bytes;
  assert.ok(grew < 24 * 2 ** 20, `${after.source} grew by ${(grew / 2 ** 20).toFixed(1)} MB over 50 sessions`);
});

async function expectRefusal(kind) {
  const { InferenceSession } = await pkg();
  const t0 = performance.now();
  const e = await expectReject(InferenceSession.create(hugeModel(kind)), /needs/, `memory refusal (${kind})`);
  assert.match(e.message, /needs \d[\d.,]* ?([KMG]i?B|bytes)/, `"needs N MB" in: ${e.message}`);
  assert.match(e.message, /\d[\d.,]* ?([KMG]i?B|bytes)[^.]*available|available[^\d]*\d/, `"available" with a number in: ${e.message}`);
  assert.ok(performance.now() - t0 < 10_000, 'refused quickly, without allocating the intermediates');
  // Still healthy.
  needGenerated(SEED_MLP);
  const s = await InferenceSession.create(SEED_MLP);
  await s.run(await tandemFeeds({ input: mlpInput(4) }));
  await s.release();
}

test('a model whose memory plan exceeds the wasm ceiling is refused with the numbers (4.5 GiB of intermediates)', { timeout: 30_000 }, () =>
  expectRefusal('many'));

test('a model with an intermediate wasm32 cannot address is refused at load (one 8 GiB tensor)', { timeout: 30_000 }, () =>
  expectRefusal('single'));

test('a model whose arena is larger than one wasm32 allocation is refused at load (3 GiB arena)', { timeout: 30_000 }, () =>
  expectRefusal('arena'));

// ---- cache and progress (loopback http) ----------------------------------------------------

async function serve(root, port = 0) {
  const { startServer } = await import('./serve.mjs');
  return startServer({ root, isolated: false, port });
}

function filesUnder(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

test('Node file cache: stores an http model, loads it offline, detects corruption', { timeout: 60_000 }, async () => {
  needGenerated(SEED_MLP);
  const { InferenceSession } = await pkg();
  const cache = mkdtempSync(path.join(os.tmpdir(), 'tandem-cache-test-'));
  const inputs = { input: mlpInput(8) };
  const ref = (await runOrt(SEED_MLP, inputs)).probabilities;
  const feeds = await tandemFeeds(inputs);
  const check = async (s, what) => {
    try {
      assertClose((await s.run(feeds)).probabilities, ref, what);
    } finally {
      await s.release();
    }
  };
  let server = await serve(GEN);
  const { port } = server;
  const url = `${server.url}/seed_mlp.onnx`;
  try {
    const cacheStatus = (s) => s.source?.cache?.status;
    let s = await InferenceSession.create(url, { cache });
    assert.ok([undefined, 'stored'].includes(cacheStatus(s)), `first load: cache status ${cacheStatus(s)}`);
    await check(s, 'first http load');
    const stored = filesUnder(cache);
    const size = statSync(SEED_MLP).size;
    const entry = stored.filter((f) => statSync(f).size >= size).sort((a, b) => statSync(b).size - statSync(a).size)[0];
    assert.ok(entry, `no cache file of >= ${size} bytes under ${cache} (found: ${stored.join(', ') || 'nothing'})`);

    await server.close();
    server = null;
    s = await InferenceSession.create(url, { cache });
    assert.ok([undefined, 'hit'].includes(cacheStatus(s)), `offline load: cache status ${cacheStatus(s)}`);
    await check(s, 'load from the cache with the server stopped');

    // Flip bytes in the middle of the weights: the entry still parses but is wrong.
    const b = readFileSync(entry);
    for (let i = 0; i < 64; ++i) b[(b.length >> 1) + i] ^= 0xff;
    writeFileSync(entry, b);
    await expectReject(InferenceSession.create(url, { cache }), /cache|hash|corrupt|fetch|download|connect|ECONNREFUSED|network|reachable/i,
      'corrupted cache entry with the server stopped must not be used');

    server = await serve(GEN, port);
    s = await InferenceSession.create(url, { cache });
    assert.ok([undefined, 'stored'].includes(cacheStatus(s)), `refetch: cache status ${cacheStatus(s)}`);
    await check(s, 'corrupted entry refetched');
    s = await InferenceSession.create(url, { cache });
    assert.ok([undefined, 'hit'].includes(cacheStatus(s)), `after the refetch: cache status ${cacheStatus(s)}`);
    await check(s, 'repaired entry');
  } finally {
    await server?.close();
    rmSync(cache, { recursive: true, force: true });
  }
});

test('onProgress reports increasing bytes and the final total for an http load', { timeout: 60_000 }, async () => {
  needGenerated(MOBILENET);
  const { InferenceSession } = await pkg();
  const server = await serve(GEN);
  try {
    const calls = [];
    const s = await InferenceSession.create(`${server.url}/mobilenetv2.onnx`, {
      onProgress: (loaded, total) => calls.push([loaded, total]),
    });
    await s.release();
    const size = statSync(MOBILENET).size;
    assert.ok(calls.length >= 2, `expected several progress calls for ${size} bytes, got ${JSON.stringify(calls)}`);
    for (let i = 1; i < calls.length; ++i) {
      assert.ok(calls[i][0] >= calls[i - 1][0], `loaded went down: ${calls[i - 1][0]} -> ${calls[i][0]}`);
    }
    assert.ok(calls.some(([l], i) => i > 0 && l > calls[i - 1][0]), 'loaded increases');
    const [lastLoaded, lastTotal] = calls.at(-1);
    assert.equal(lastLoaded, size, 'final loaded is the file size');
    assert.equal(lastTotal, size, 'final total is the file size');
  } finally {
    await server.close();
  }
});

// ---- the CLI -------------------------------------------------------------------------------

function cli(...args) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}\n${r.stderr}` };
}

test('CLI: run, bench and inspect on the seed MLP', { timeout: 60_000 }, async () => {
  needGenerated(SEED_MLP);
  const out = mkdtempSync(path.join(os.tmpdir(), 'tandem-cli-test-'));
  try {
    const r = cli('run', SEED_MLP, '--seed', '3', '--output-dir', out);
    assert.equal(r.code, 0, r.all);
    assert.match(r.stdout, /^input {2}input: random float32\[1, 784\] \(seed 3\)$/m, r.stdout);
    assert.match(r.stdout, /^output probabilities: float32\[1, 10\] {2}min \S+ {2}max \S+ {2}mean \S+ {2}first \[/m, r.stdout);
    assert.match(r.stdout, /^time {3}\d+\.\d{3} ms/m, r.stdout);
    assert.match(r.stdout, new RegExp(`^wrote {2}1 outputs to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    const got = readNpy(path.join(out, 'probabilities.npy'));
    // The same seeded input the native CLI makes (mt19937, seed 3), through onnxruntime.
    const input = { dtype: 'float32', shape: [1, 784], data: randomData('float32', 784, new MT19937(3)) };
    const ref = (await runOrt(SEED_MLP, { input })).probabilities;
    const c = compareArrays(got, asArray(ref), TOL);
    assert.ok(c.ok, `CLI output vs ort on the seed-3 input: ${c.message}`);
    const native = path.join(REPO, 'build', 'native', 'tandem');
    if (existsSync(native)) { // same inputs as the native CLI: same outputs within tolerance
      const nout = path.join(out, 'native');
      const n = spawnSync(native, ['run', SEED_MLP, '--seed', '3', '--output-dir', nout], { encoding: 'utf8' });
      assert.equal(n.status, 0, n.stderr);
      const nc = compareArrays(got, readNpy(path.join(nout, 'probabilities.npy')), TOL);
      assert.ok(nc.ok, `wasm CLI vs native CLI, --seed 3: ${nc.message}`);
    }

    const b = cli('bench', SEED_MLP, '--runs', '3', '--warmup', '1', '--json');
    assert.equal(b.code, 0, b.all);
    const j = JSON.parse(b.stdout);
    for (const k of ['model', 'backend', 'threads', 'load_ms', 'first_run_ms', 'median_ms', 'min_ms', 'mean_ms', 'p90_ms',
      'runs', 'warmup', 'placement', 'placement_by_backend']) {
      assert.ok(k in j, `bench --json lacks "${k}": ${b.stdout}`);
    }
    assert.equal(j.runs, 3);
    assert.equal(j.warmup, 1);
    assert.ok(j.min_ms <= j.median_ms && j.median_ms <= j.p90_ms, b.stdout);
    const bt = cli('bench', SEED_MLP, '--runs', '2', '--warmup', '0');
    assert.equal(bt.code, 0, bt.all);
    assert.match(bt.stdout, /^load {7}\d/m);
    assert.match(bt.stdout, /^first run {2}\d/m);
    assert.match(bt.stdout, /^warm {7}median [\d.]+ ms, min [\d.]+ ms, mean [\d.]+ ms, p90 [\d.]+ ms \(2 runs after 0 warmups\)$/m);

    const i = cli('inspect', SEED_MLP, '--json');
    assert.equal(i.code, 0, i.all);
    const ij = JSON.parse(i.stdout);
    assert.deepEqual(ij.inputs, [{ name: 'input', type: 'float32[batch, 784]' }]);
    assert.deepEqual(ij.outputs, [{ name: 'probabilities', type: 'float32[batch, 10]' }]);
    assert.ok(ij.nodes > 0 && Object.values(ij.ops).reduce((a, b) => a + b, 0) === ij.nodes, i.stdout);
    if (existsSync(native)) { // the same model facts as the native CLI (same core, same passes)
      const n = spawnSync(native, ['inspect', SEED_MLP, '--json', '--backend', 'reference'], { encoding: 'utf8' });
      assert.equal(n.status, 0, n.stderr);
      const nj = JSON.parse(n.stdout);
      for (const k of ['ir_version', 'producer', 'opsets', 'inputs', 'outputs', 'weight_bytes']) {
        assert.deepEqual(ij[k], nj[k], `inspect --json "${k}": wasm vs native`);
      }
    }
    const it = cli('inspect', SEED_MLP);
    assert.equal(it.code, 0, it.all);
    assert.match(it.stdout, /^inputs\n {2}input: float32\[batch, 784\]$/m);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('CLI: usage errors exit 2, a missing model exits 1 with a message', () => {
  for (const args of [[], ['run'], ['frobnicate', SEED_MLP], ['run', SEED_MLP, '--bogus'], ['run', SEED_MLP, '--seed', 'x'],
    ['run', SEED_MLP, '--runs', '3'], ['bench', SEED_MLP, '--runs', '0'], ['run', SEED_MLP, '--input', 'noequals']]) {
    const r = cli(...args);
    assert.equal(r.code, 2, `tandem.mjs ${args.join(' ')}: exit ${r.code}\n${r.all}`);
    assert.match(r.stderr, /usage:|tandem: /, r.stderr);
  }
  const m = cli('run', path.join(os.tmpdir(), 'missing-model.onnx'));
  assert.equal(m.code, 1, m.all);
  assert.match(m.stderr, /^tandem: error: cannot open '.*missing-model\.onnx': No such file or directory$/m);
  const bad = cli('run', SEED_MLP, '--input', 'input=/nonexistent/x.npy');
  assert.equal(bad.code, 1, bad.all);
  assert.match(bad.stderr, /input 'input'.*x\.npy/);
  const wrongName = cli('run', SEED_MLP, '--input', `nosuch=${path.join(GEN, 'mobilenetv2', 'input.npy')}`);
  assert.equal(wrongName.code, 1, wrongName.all);
  assert.match(wrongName.stderr, /no input named 'nosuch'/);
  for (const r of [m, bad, wrongName]) assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace for user errors');
});
