// tandem-web's hybrid InferenceSession under Node: placement by the core's router (in the wasm
// module), the fetch-based OIP v2 client against a real `tandem serve` on loopback (the native
// build's binary), parity local = remote, privacy (no socket opened), and faults: server down,
// killed mid-run, slow past the deadline, 500, a body cut short. Needs build/native/tandem.
//
//   node --test web/tests/hybrid.test.mjs
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { readNpy } from '../../tests/models/npy.mjs';
import { startTandemServe } from '../../native/serve/launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const GEN = path.join(REPO, 'tests', 'models', 'generated');
const SEED_MLP = path.join(GEN, 'seed_mlp.onnx');
const MOBILENET = path.join(GEN, 'mobilenetv2.onnx');
const DIST = path.join(REPO, 'web', 'dist', 'index.js');

const { InferenceSession, Tensor } = await import(pathToFileURL(DIST).href);

const startServer = (repo) => startTandemServe(repo);

// A loopback server that counts connections and answers as `handler` says (null: never answers).
function faultServer(handler) {
  const state = { connections: 0, posts: 0 };
  const metadata = JSON.stringify({ name: 'seed_mlp', versions: ['1'], platform: 'onnx',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }], outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 10] }] });
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && handler) return res.writeHead(200, { 'content-type': 'application/json' }).end(metadata);
    state.posts++;
    req.resume();
    if (handler) req.on('end', () => handler(req, res));
  });
  server.on('connection', () => { state.connections++; });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    state.url = `http://127.0.0.1:${server.address().port}`;
    state.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
    resolve(state);
  }));
}

async function deadUrl() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

const mlpInput = (seed = 1, batch = 1) => {
  const x = new Float32Array(784 * batch);
  let v = seed;
  for (let i = 0; i < x.length; i++) { v = (v * 1103515245 + 12345) % 2147483648; x[i] = v / 2147483648; }
  return { input: new Tensor('float32', x, [batch, 784]) };
};

// The largest |a - b| relative to the outputs' scale (max |b|, at least 1): the wasm build
// (local) and the native one (remote) sum in different orders, so MobileNetV2's logits of ~4
// differ in the 6th digit.
function maxDiff(a, b) {
  assert.deepEqual([...a.dims], [...b.dims]);
  let worst = 0, scale = 1;
  for (let i = 0; i < a.data.length; i++) {
    worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
    scale = Math.max(scale, Math.abs(b.data[i]));
  }
  return worst / scale;
}

const remote = (url, extra = {}) => ({ url, model: 'seed_mlp', ...extra });

describe('hybrid InferenceSession against tandem serve', () => {
  let server;
  let repo;
  before(async () => {
    for (const f of [SEED_MLP, MOBILENET]) assert.ok(existsSync(f), `${f} is missing: run tests/models/prepare.sh (scripts/test native does)`);
    repo = mkdtempSync(path.join(os.tmpdir(), 'tandem-web-hybrid-'));
    for (const [name, file] of [['seed_mlp', SEED_MLP], ['mobilenetv2', MOBILENET]]) {
      mkdirSync(path.join(repo, name, '1'), { recursive: true });
      symlinkSync(file, path.join(repo, name, '1', 'model.onnx'));
    }
    server = await startServer(repo);
  });
  after(async () => {
    await server?.kill();
    rmSync(repo, { recursive: true, force: true });
  });

  test('a small model runs locally, and says why', async () => {
    const events = [];
    const s = await InferenceSession.create(SEED_MLP, { remote: remote(server.url), onRoute: (e) => events.push(e) });
    assert.equal(s.placement.where, 'local');
    assert.equal(s.placement.fallback, 'remote');
    assert.match(s.placement.reason, /^prefer-local: local, needs [\d.]+ MB of [\d.]+ MB available/);
    assert.ok(s.placement.partitions.length > 0);
    assert.ok(s.placement.device.heapBytes > 0, JSON.stringify(s.placement.device));
    assert.equal(s.placement.device.crossOriginIsolated, null, 'outside browsers');
    await s.run(mlpInput());
    assert.equal(s.lastRun.ranOn, 'local');
    assert.match(s.lastRun.where, /^local \(xnnpack/);
    assert.deepEqual(events.map((e) => e.kind), ['placed', 'ran']);
  });

  test('too large for the budget: remote, decided before downloading', async () => {
    const s = await InferenceSession.create(SEED_MLP, { remote: remote(server.url), memoryCap: 512 * 1024 });
    assert.equal(s.placement.where, 'remote');
    assert.match(s.placement.reason, /estimated from the file size\) but 0\.5 MB is available \(memory cap 0\.5 MB\)/);
    assert.equal(s.source, null, 'nothing was downloaded or loaded locally');
    assert.deepEqual(s.inputNames, ['input']);
    const out = await s.run(mlpInput(2));
    assert.equal(s.lastRun.ranOn, 'remote');
    assert.match(s.lastRun.where, /^remote http:\/\/127\.0\.0\.1:\d+ model 'seed_mlp'/);
    assert.ok(s.lastRun.computeMs > 0, 'the server reports compute in Server-Timing');
    assert.equal(out.probabilities.dims.join('x'), '1x10');
    assert.throws(() => s.runSync(mlpInput()), /not loaded here/);
  });

  test('local and remote agree within 1e-5 of the outputs\' scale (binary and JSON), MLP and MobileNetV2 1x3x224x224', async () => {
    for (const [file, name, feeds] of [
      [SEED_MLP, 'seed_mlp', mlpInput(3, 3)],
      [MOBILENET, 'mobilenetv2', { input: (() => { const a = readNpy(path.join(GEN, 'mobilenetv2', 'input.npy')); return new Tensor('float32', a.data, a.shape); })() }],
    ]) {
      const s = await InferenceSession.create(file, { remote: remote(server.url, { model: name }) });
      const json = await InferenceSession.create(file, { placement: 'remote', remote: remote(server.url, { model: name, binary: false }) });
      const a = await s.run(feeds, undefined, { placement: 'local' });
      assert.equal(s.lastRun.ranOn, 'local');
      const b = await s.run(feeds, undefined, { placement: 'remote' });
      assert.equal(s.lastRun.ranOn, 'remote');
      const c = await json.run(feeds);
      assert.equal(json.lastRun.ranOn, 'remote');
      for (const k of s.outputNames) {
        assert.ok(maxDiff(a[k], b[k]) <= 1e-5, `${name} ${k}: local vs remote binary ${maxDiff(a[k], b[k])}`);
        assert.ok(maxDiff(a[k], c[k]) <= 1e-5, `${name} ${k}: local vs remote JSON ${maxDiff(a[k], c[k])}`);
      }
      assert.equal(s.placement.where, 'local', 'per-call placement leaves the session placement');
    }
  });

  test('privacy opens no socket', async () => {
    const listener = await faultServer(null);
    try {
      await assert.rejects(InferenceSession.create(SEED_MLP, { remote: remote(listener.url), privacy: true, memoryCap: 512 * 1024 }),
        /privacy flag forbids remote calls/);
      await assert.rejects(InferenceSession.create(SEED_MLP, { remote: remote(listener.url), privacy: true, placement: 'remote' }),
        /privacy/);
      const s = await InferenceSession.create(SEED_MLP, { remote: remote(listener.url) });  // local: no remote call needed
      await assert.rejects(s.run(mlpInput(), undefined, { placement: 'remote', privacy: true }), /privacy/);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(listener.connections, 0, 'a privacy-flagged session or call opened a connection');
    } finally {
      await listener.close();
    }
  });

  test('bad input is the caller\'s error on both sides, without a fallback', async () => {
    const s = await InferenceSession.create(SEED_MLP, { remote: remote(server.url) });
    const wrong = { input: new Tensor('float32', new Float32Array(5), [1, 5]) };
    for (const placement of ['local', 'remote', 'auto', 'prefer-remote']) {
      await assert.rejects(s.run(wrong, undefined, { placement }), (e) => {
        assert.match(e.message, /shape|dims|expects/, `${placement}: ${e.message}`);
        return true;
      });
      assert.equal(s.lastRun.fellBack, false, placement);
    }
    await assert.rejects(InferenceSession.create(SEED_MLP, { placement: 'cloud' }), /unknown placement 'cloud'/);
  });

  test('server down at start: prefer-remote goes local, remote-only says so quickly', async () => {
    const url = await deadUrl();
    const s = await InferenceSession.create(SEED_MLP, { placement: 'prefer-remote', remote: remote(url) });
    assert.equal(s.placement.where, 'local');
    assert.match(s.placement.reason, /cannot reach the server/);
    const t0 = Date.now();
    await assert.rejects(InferenceSession.create(SEED_MLP, { placement: 'remote', remote: remote(url) }),
      /cannot run the model anywhere: remote-only: cannot run remotely: .*cannot reach the server/);
    assert.ok(Date.now() - t0 < 2000);
    await assert.rejects(InferenceSession.create(SEED_MLP, { remote: remote(url), memoryCap: 512 * 1024 }),
      (e) => /0\.5 MB is available/.test(e.message) && /cannot reach the server/.test(e.message));
  });

  test('server killed mid-run: the next call falls back to local', async () => {
    const doomed = await startServer(repo);
    const s = await InferenceSession.create(SEED_MLP, { placement: 'prefer-remote', remote: remote(doomed.url) });
    await s.run(mlpInput());
    assert.equal(s.lastRun.ranOn, 'remote');
    await doomed.kill();
    await s.run(mlpInput());
    assert.equal(s.lastRun.ranOn, 'local');
    assert.equal(s.lastRun.fellBack, true);
    assert.match(s.lastRun.fallbackReason, /^remote failed: unavailable/);
  });

  test('slow server, 500, and a body cut short: fallback inside the deadline, or a clear error', async () => {
    const faults = [
      ['slow', () => {}, /no answer within the deadline/],
      ['500', (req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error": "boom!!"}'), /HTTP 500: boom!!/],
      ['cut short', (req, res) => { res.writeHead(200, { 'content-length': '5000' }); res.write('{"outputs": ['); res.socket.destroy(); }, /cannot reach the server|not an Open Inference/],
    ];
    for (const [name, handler, says] of faults) {
      const bad = await faultServer(handler);
      try {
        const s = await InferenceSession.create(SEED_MLP, { placement: 'prefer-remote', remote: remote(bad.url, { breakerFailures: 100 }), deadlineMs: 500 });
        assert.equal(s.placement.where, 'remote', name);
        let t0 = Date.now();
        await s.run(mlpInput());
        assert.ok(Date.now() - t0 < 700, `${name}: ${Date.now() - t0} ms`);
        assert.equal(s.lastRun.ranOn, 'local', name);
        assert.match(s.lastRun.fallbackReason, says, name);
        t0 = Date.now();
        await assert.rejects(s.run(mlpInput(), undefined, { placement: 'remote' }), says);
        assert.ok(Date.now() - t0 < 700, `${name}: ${Date.now() - t0} ms`);
      } finally {
        await bad.close();
      }
    }
  });

  test('the breaker opens after repeated failures and the router routes around it', async () => {
    const bad = await faultServer((req, res) => res.writeHead(500).end('{"error": "down"}'));
    try {
      const s = await InferenceSession.create(SEED_MLP, { placement: 'prefer-remote', remote: remote(bad.url, { breakerFailures: 2, breakerCooldownMs: 60000 }) });
      await s.run(mlpInput());
      await s.run(mlpInput());
      assert.equal(bad.posts, 2);
      await s.run(mlpInput());
      assert.equal(bad.posts, 2, 'an open breaker sends nothing');
      assert.equal(s.lastRun.ranOn, 'local');
      assert.equal(s.lastRun.fellBack, false);
      assert.match(s.placement.reason, /circuit breaker open after 2 consecutive failures/);
    } finally {
      await bad.close();
    }
  });
});
