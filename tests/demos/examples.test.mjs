// The runnable examples (demos/examples) run the same code locally (tandem-web under Node) and
// remotely (a real `tandem serve` on loopback), chosen only by --placement. Checked for each:
//   - every call ran where --placement said, and its outputs equal onnxruntime-node's on the
//     same feeds (recorded in the example's --json file);
//   - local and remote give the same answers (classes, top items);
//   - the seed MLP's PyTorch and Keras-style exports give the same probabilities;
//   - auto with a memory cap below the model sends it remote; remote with no --server starts
//     its own loopback server;
//   - bad options, a missing picture and an unreachable server: exit 1 with a clear message.
//
//   node --test tests/demos/examples.test.mjs
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { compareArrays } from '../models/compare.mjs';
import { startTandemServe } from '../../native/serve/launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const EXAMPLES = path.join(REPO, 'demos', 'examples');
const PYTHON = process.env.TANDEM_PYTHON ?? '/usr/bin/python3';

let dir, server, ort, MODELS;

function example(name, args) {
  const json = path.join(dir, `${name}-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync(process.execPath, [path.join(EXAMPLES, `${name}.mjs`), ...args, '--json', json],
    { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: existsSync(json) ? JSON.parse(readFileSync(json, 'utf8')) : null };
}

const ok = (r) => { assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`); return r.json; };

const typed = { float32: Float32Array, int64: BigInt64Array };
const toOrt = ({ type, dims, data }) => new ort.Tensor(type, type === 'int64' ? BigInt64Array.from(data, BigInt) : Float32Array.from(data), dims);

// Every recorded call: ran where expected, and its outputs = onnxruntime-node's on its feeds.
async function checkRuns(json, side) {
  assert.ok(json.runs.length > 0);
  for (const run of json.runs) {
    assert.equal(run.ranOn, side, `${run.model} ran ${run.ranOn}: ${run.reason}`);
    const session = await ort.InferenceSession.create(MODELS[run.model].file);
    const expected = await session.run(Object.fromEntries(Object.entries(run.feeds).map(([k, v]) => [k, toOrt(v)])));
    for (const [name, actual] of Object.entries(run.outputs)) {
      const want = expected[name];
      assert.deepEqual(actual.dims, Array.from(want.dims), `${run.model}.${name} dims`);
      // fp32 sums over thousands of terms: the absolute tolerance scales with the outputs' size.
      const scale = Math.max(1, ...Array.from(want.data, (v) => Math.abs(Number(v))));
      const cmp = compareArrays({ dtype: actual.type, shape: actual.dims, data: typed[actual.type].from(actual.data) },
        { dtype: want.type, shape: Array.from(want.dims), data: want.data }, { name, rtol: 1e-4, atol: 1e-5 * scale });
      assert.ok(cmp.ok, `${run.model}.${name} (${side}) vs onnxruntime: ${cmp.message}`);
    }
    await session.release();
  }
}

async function deadUrl() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-examples-'));
  const made = spawnSync(PYTHON, [path.join(EXAMPLES, 'make_models.py')], { stdio: 'inherit' });
  assert.equal(made.status, 0, 'demos/examples/make_models.py failed');
  ({ MODELS } = await import('../../demos/examples/common.mjs'));
  ort = (await import('onnxruntime-node')).default;
  server = await startTandemServe(Object.fromEntries(Object.entries(MODELS).map(([k, m]) => [k, m.file])));
});

after(async () => {
  await server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const CASES = [
  ['seed_mlp', ['--rows', '5'], (j) => j.results.classes],
  ['image_classification', [], (j) => j.results.map((r) => r.top)],
  ['text_classification', [], (j) => j.results.map((r) => r.label)],
  ['recommender', ['--user', '7', '--top', '5'], (j) => j.results.top],
];

for (const [name, args, answer] of CASES) {
  describe(name, () => {
    test('local and remote: same code, same answers, both equal to onnxruntime-node', async () => {
      const local = ok(example(name, [...args, '--placement', 'local']));
      const remote = ok(example(name, [...args, '--placement', 'remote', '--server', server.url]));
      await checkRuns(local, 'local');
      await checkRuns(remote, 'remote');
      assert.deepEqual(answer(remote), answer(local));
      assert.equal(local.server, null, 'a local-only run needs no server');
    });
  });
}

test('seed MLP: the PyTorch and Keras-style exports compute the same function', () => {
  const j = ok(example('seed_mlp', ['--rows', '64', '--placement', 'local']));
  assert.ok(j.results.maxDiff < 1e-6, `max difference ${j.results.maxDiff}`);
  assert.equal(j.runs.length, 2);
  assert.notDeepEqual(j.results.classes, new Array(64).fill(j.results.classes[0]), 'the MLP should not answer one class for everything');
});

test('image classification: different pictures get different logits', () => {
  const j = ok(example('image_classification', ['--placement', 'local']));
  const [a, b] = j.runs.map((r) => r.outputs.logits.data);
  const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(diff > 1e-2, `the two pictures' logits differ by ${diff}`);
});

test('auto: a memory cap below the model sends it to the server; the reason says so', () => {
  const r = example('text_classification', ['--placement', 'auto', '--memory-cap', '1M', '--server', server.url]);
  const j = ok(r);
  assert.equal(j.runs[0].ranOn, 'remote');
  assert.match(r.stdout, /text_classifier: placed remote \(.*memory cap/);
});

test('remote without --server starts tandem serve on loopback itself', () => {
  const r = example('recommender', ['--placement', 'remote', '--candidates', '100']);
  const j = ok(r);
  assert.match(j.server, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(j.runs[0].ranOn, 'remote');
  assert.match(r.stderr, /starting tandem serve on loopback/);
});

describe('bad input: exit 1 and a clear message', () => {
  const fails = (name, args, pattern) => {
    const r = example(name, args);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  };
  test('options', () => {
    fails('seed_mlp', ['--placement', 'gpu'], /--placement gpu: expected one of auto, local, remote, prefer-remote/);
    fails('seed_mlp', ['--rows', '0', '--placement', 'local'], /--rows 0: expected a whole number from 1 to 4096/);
    fails('recommender', ['--user', '1000', '--placement', 'local'], /--user 1000: expected a whole number from 0 to 999/);
    fails('seed_mlp', ['--memory-cap', 'lots'], /--memory-cap lots: expected a size/);
    fails('seed_mlp', ['--bogus'], /Unknown option '--bogus'/);
  });
  test('a missing or unreadable picture', () => {
    fails('image_classification', [path.join(dir, 'nope.png'), '--placement', 'local'], /nope\.png: no such file/);
    fails('image_classification', [path.join(EXAMPLES, 'common.mjs'), '--placement', 'local'], /common\.mjs: not a PNG/);
  });
  test('an unreachable server: remote fails within its deadline; auto runs locally', async () => {
    const url = await deadUrl();
    const t0 = Date.now();
    fails('seed_mlp', ['--placement', 'remote', '--server', url], /127\.0\.0\.1/);
    assert.ok(Date.now() - t0 < 60_000);
    const j = ok(example('seed_mlp', ['--placement', 'auto', '--server', url]));
    assert.ok(j.runs.every((r) => r.ranOn === 'local'));
  });
});
