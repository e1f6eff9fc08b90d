// `tandem serve` over loopback: the suite builds a model repository, starts the server binary
// (TANDEM_BINARY, default build/native/tandem) on a free port and checks the Open Inference
// Protocol v2 endpoints, the binary extension, datatypes, errors, hostile clients, unload under
// load, batching, backpressure, deadlines, auth, metrics, logs, graceful shutdown, TLS (with a
// self-signed certificate made by the openssl CLI) and the separate metrics port.
//
//   TANDEM_BINARY=build/serve-dev/tandem node --test tests/serve/serve.test.mjs
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BINARY = path.resolve(ROOT, process.env.TANDEM_BINARY ?? 'build/native/tandem');
const MAX_BODY = 4 << 20;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tandem-serve-'));
const REPO = path.join(tmp, 'repo');
const CERT = path.join(tmp, 'cert.pem');
const KEY = path.join(tmp, 'key.pem');
let CERT_PEM;
const servers = [];

function startServer({ repo = REPO, args = [], env = {} } = {}) {
  const argv = ['serve', '--host', '127.0.0.1', '--http-port', '0', '--read-timeout-ms', '1000',
    '--max-body-bytes', String(MAX_BODY), ...(repo ? ['--model-repository', repo] : []), ...args];
  const child = spawn(BINARY, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { child, stderr: '', stdout: '' };
  srv.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  servers.push(srv);
  child.stderr.on('data', (d) => { srv.stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${srv.stderr}`)), 20000);
    child.stdout.on('data', (d) => {
      srv.stdout += d;
      const m = srv.stdout.match(/listening on (https?):\/\/127\.0\.0\.1:(\d+)(?:, metrics on http:\/\/127\.0\.0\.1:(\d+))?.*\n/);
      if (m && !srv.port) {
        clearTimeout(timer);
        srv.port = Number(m[2]);
        srv.base = `${m[1]}://127.0.0.1:${srv.port}`;
        if (m[3]) srv.metricsPort = Number(m[3]);
        resolve(srv);
      }
    });
    srv.exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${srv.stderr}`)); });
  });
}

async function stopServer(srv) {
  if (srv.child.exitCode !== null || srv.child.signalCode !== null) return srv.exited;
  srv.child.kill('SIGTERM');
  const killer = setTimeout(() => srv.child.kill('SIGKILL'), 10000);
  const r = await srv.exited;
  clearTimeout(killer);
  return r;
}

async function get(srv, p, headers = {}) {
  const r = await fetch(srv.base + p, { headers });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}

async function post(srv, p, body, headers = {}) {
  const r = await fetch(srv.base + p, {
    method: 'POST', body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  const buf = Buffer.from(await r.arrayBuffer());
  let json;
  const hlen = r.headers.get('inference-header-content-length');
  const jsonPart = hlen === null ? buf : buf.subarray(0, Number(hlen));
  try { json = JSON.parse(jsonPart.toString('utf8')); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, json, binary: hlen === null ? null : buf.subarray(Number(hlen)) };
}

// One raw TCP exchange: sends `data` (optionally half-closing), collects what comes back until
// the server closes or `timeoutMs` passes.
function raw(port, data, { end = false, timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ response: got, closed, ms: Date.now() - t0, status: Number((got.match(/^HTTP\/1\.1 (\d+)/) ?? [])[1]) });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    sock.on('connect', () => {
      sock.write(data);
      if (end) sock.end();
    });
  });
}

// `tandem serve` with these arguments, expected to refuse to start: { code, stderr }.
function startFailure(args) {
  return new Promise((resolve) => {
    const child = spawn(BINARY, ['serve', '--host', '127.0.0.1', '--http-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const killer = setTimeout(() => child.kill('SIGKILL'), 10000);
    // 'close', not 'exit': stderr may still be unread when the process exits.
    child.on('close', (code) => { clearTimeout(killer); resolve({ code, stderr }); });
  });
}

// One HTTPS request (its own connection) trusting the suite's self-signed certificate; extra
// options go to https.request (minVersion, maxVersion, ...).
function httpsRequest(srv, method, p, { body, headers = {}, ...options } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: srv.port, method, path: p, ca: CERT_PEM, agent: false,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers }, ...options,
    }, (res) => {
      const protocol = res.socket.getProtocol();
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json, protocol });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function assertLive(srv) {
  const r = await get(srv, '/v2/health/live');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { live: true });
}

// Deterministic float32 inputs for the seed MLP.
function mlpInput(rows, seed = 1) {
  const a = new Float32Array(rows * 784);
  for (let i = 0; i < a.length; ++i) a[i] = Math.fround(Math.sin((i + 1) * 0.37 * seed) * 0.5);
  return a;
}

function mlpRequest(x, rows, extra = {}) {
  return { inputs: [{ name: 'input', shape: [rows, 784], datatype: 'FP32', data: Array.from(x) }], ...extra };
}

function assertClose(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; ++i) {
    const a = actual[i], b = expected[i];
    assert.ok(Math.abs(a - b) <= 1e-5 + 1e-4 * Math.abs(b), `${what}[${i}]: ${a} vs ${b}`);
  }
}

let main;
let ort;

before(async () => {
  const gen = spawnSync('/usr/bin/python3', [path.join(HERE, 'make_repository.py'), REPO], { encoding: 'utf8' });
  assert.equal(gen.status, 0, gen.stderr);
  // A self-signed P-256 certificate for 127.0.0.1, valid one day, for the TLS tests.
  const cert = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', KEY, '-out', CERT], { encoding: 'utf8' });
  assert.equal(cert.status, 0, cert.stderr);
  CERT_PEM = readFileSync(CERT);
  ort = (await import('onnxruntime-node')).default;
  // The repository holds a broken model on purpose: without strict readiness the server is
  // ready anyway (strict readiness, the default, has its own test below).
  main = await startServer({ args: ['--io-threads', '2', '--strict-readiness', 'false'] });
});

after(async () => {
  const results = [];
  for (const s of servers) results.push(await stopServer(s));
  rmSync(tmp, { recursive: true, force: true });
  // Every server drained and exited cleanly (under ASan, also without leaks).
  servers.forEach((s, i) => assert.equal(results[i].code, 0, `server ${i} exit ${JSON.stringify(results[i])}:\n${s.stderr.slice(-3000)}`));
});

describe('health and metadata', () => {
  test('live, ready, server metadata', async () => {
    await assertLive(main);
    const ready = await get(main, '/v2/health/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { ready: true });
    const meta = await get(main, '/v2');
    assert.equal(meta.status, 200);
    assert.equal(meta.json.name, 'tandem');
    assert.equal(meta.headers.get('keep-alive'), 'timeout=1');  // clients learn the idle timeout
    assert.match(meta.json.version, /^\d+\.\d+\.\d+$/);
    for (const e of ['binary_tensor_data', 'model_repository', 'statistics']) assert.ok(meta.json.extensions.includes(e));
  });

  test('model metadata, versions and readiness', async () => {
    const m = await get(main, '/v2/models/seed_mlp');
    assert.equal(m.status, 200);
    assert.deepEqual(m.json, {
      name: 'seed_mlp', versions: ['1', '2'], platform: 'onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 10] }],
    });
    const v1 = await get(main, '/v2/models/seed_mlp/versions/1');
    assert.equal(v1.status, 200);
    assert.deepEqual(v1.json.versions, ['1']);
    assert.equal((await get(main, '/v2/models/seed_mlp/ready')).status, 200);
    assert.deepEqual((await get(main, '/v2/models/seed_mlp/versions/2/ready')).json, { name: 'seed_mlp', ready: true });
    assert.equal((await get(main, '/v2/models/seed_mlp/versions/9')).status, 404);
    assert.equal((await get(main, '/v2/models/seed_mlp/versions/9/ready')).status, 404);
    const unknown = await get(main, '/v2/models/no_such_model');
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.error, /unknown model/);
    assert.equal((await get(main, '/v2/models/no_such_model/ready')).status, 404);
    const fresh = await get(main, '/v2/models/unloadable/stats');
    assert.equal(fresh.status, 200);
    assert.equal(fresh.json.model_stats.length, 1);
    assert.equal(fresh.json.model_stats[0].inference_count, 0);
    assert.deepEqual(fresh.json.model_stats[0].inference_stats.success, { count: 0, ns: 0 });
  });

  test('unknown routes are 404, wrong methods 405 with Allow', async () => {
    assert.equal((await get(main, '/v2/nothing/here')).status, 404);
    assert.equal((await get(main, '/')).status, 404);
    const r = await get(main, '/v2/models/seed_mlp/infer');
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'POST');
    assert.equal((await post(main, '/v2/health/live', {})).status, 405);
    await assertLive(main);
  });

  test('the default repository (no --model-repository) serves the seed MLP', async () => {
    const srv = await startServer({ repo: null });
    try {
      assert.equal((await get(srv, '/v2/models/seed_mlp/ready')).status, 200);
      const r = await post(srv, '/v2/models/seed_mlp/infer', mlpRequest(mlpInput(1), 1));
      assert.equal(r.status, 200);
    } finally {
      assert.equal((await stopServer(srv)).code, 0);
    }
  });
});

describe('infer', () => {
  test('JSON results match onnxruntime-node and repeat exactly; id echoed', async () => {
    const x = mlpInput(3);
    const r = await post(main, '/v2/models/seed_mlp/infer', mlpRequest(x, 3, { id: 'req-42' }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.model_name, 'seed_mlp');
    assert.equal(r.json.model_version, '2');
    assert.equal(r.json.id, 'req-42');
    assert.equal(r.headers.get('x-request-id'), 'req-42');
    assert.equal(r.json.outputs.length, 1);
    const out = r.json.outputs[0];
    assert.equal(out.name, 'probabilities');
    assert.equal(out.datatype, 'FP32');
    assert.deepEqual(out.shape, [3, 10]);
    const session = await ort.InferenceSession.create(path.join(REPO, 'seed_mlp', '1', 'model.onnx'));
    const ref = await session.run({ input: new ort.Tensor('float32', x, [3, 784]) });
    assertClose(out.data, Array.from(ref.probabilities.data), 'probabilities');
    const evil = await post(main, '/v2/models/seed_mlp/infer', mlpRequest(x, 3, { id: 'a\r\nX-Evil: 1' }));
    assert.equal(evil.json.id, 'a\r\nX-Evil: 1');  // echoed in the body, never as a header
    assert.equal(evil.headers.get('x-evil'), null);
    assert.equal(evil.headers.get('x-request-id'), null);
    const again = await post(main, '/v2/models/seed_mlp/versions/1/infer', mlpRequest(x, 3, { id: 'req-42' }));
    assert.equal(again.json.model_version, '1');
    assert.deepEqual(again.json.outputs[0].data, out.data);
  });

  test('nested data equals flat data; requested outputs', async () => {
    const x = mlpInput(2);
    const nested = [Array.from(x.subarray(0, 784)), Array.from(x.subarray(784))];
    const flat = await post(main, '/v2/models/seed_mlp/infer', mlpRequest(x, 2));
    const req = { inputs: [{ name: 'input', shape: [2, 784], datatype: 'FP32', data: nested }],
      outputs: [{ name: 'probabilities' }] };
    const r = await post(main, '/v2/models/seed_mlp/infer', req);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.outputs[0].data, flat.json.outputs[0].data);
  });

  test('binary tensor data in and out gives the JSON numbers', async () => {
    const x = mlpInput(2, 3);
    const json = await post(main, '/v2/models/seed_mlp/infer', mlpRequest(x, 2));
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: 'input', shape: [2, 784], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
    }));
    const body = Buffer.concat([header, Buffer.from(x.buffer)]);
    const r = await post(main, '/v2/models/seed_mlp/infer', body, {
      'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length),
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    const out = r.json.outputs[0];
    assert.equal(out.parameters.binary_data_size, 2 * 10 * 4);
    assert.equal(out.data, undefined);
    const values = new Float32Array(r.binary.buffer.slice(r.binary.byteOffset, r.binary.byteOffset + r.binary.length));
    // JSON carries each FP32 as the shortest decimal that reads back to it as a float.
    assert.deepEqual(Array.from(values), json.json.outputs[0].data.map(Math.fround));
    assert.ok(json.json.outputs[0].data.every((v) => String(v).replace(/^-?0\./, '').length <= 12), 'shortest float decimals');
    // Request-level binary_data_output, JSON input.
    const r2 = await post(main, '/v2/models/seed_mlp/infer', mlpRequest(x, 2, { parameters: { binary_data_output: true } }));
    assert.equal(r2.status, 200);
    assert.deepEqual(r2.binary, r.binary);
  });

  test('Expect: 100-continue is answered before the body is sent', async () => {
    const body = JSON.stringify(mlpRequest(mlpInput(1), 1));
    const got = await new Promise((resolve, reject) => {
      const sock = net.connect(main.port, '127.0.0.1');
      let text = '';
      let sent = false;
      sock.on('data', (d) => {
        text += d.toString('latin1');
        if (!sent && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
          sent = true;
          sock.write(body);
        }
        if (/HTTP\/1\.1 200[\s\S]*\r\n\r\n\{[\s\S]*\}$/.test(text)) {
          sock.destroy();
          resolve(text);
        }
      });
      sock.on('error', reject);
      setTimeout(() => { sock.destroy(); reject(new Error(`no answer: ${text}`)); }, 5000);
      sock.write(`POST /v2/models/seed_mlp/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
    });
    assert.ok(got.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK'));
  });

  const cases = {
    bool: { json: [true, false, true, true, false, false] },
    uint8: { json: [0, 1, 255, 7, 128, 42], typed: Uint8Array },
    uint16: { json: [0, 65535, 1, 300, 2, 9], typed: Uint16Array },
    uint32: { json: [0, 4294967295, 1, 70000, 2, 9], typed: Uint32Array },
    uint64: { json: [0, 9007199254740991, 1, 2, 3, 4], big: [0n, 18446744073709551615n, 1n, 2n, 3n, 4n], typed: BigUint64Array },
    int8: { json: [-128, 127, 0, -1, 5, 6], typed: Int8Array },
    int16: { json: [-32768, 32767, 0, -1, 5, 6], typed: Int16Array },
    int32: { json: [-2147483648, 2147483647, 0, -1, 5, 6], typed: Int32Array },
    int64: { json: [-9007199254740991, 9007199254740991, 0, -1, 5, 6],
      big: [-9223372036854775808n, 9223372036854775807n, 0n, -1n, 5n, 6n], typed: BigInt64Array },
    fp16: { json: [0, 0.5, -2, 65504, 0.25, -0.125], bits: [0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00] },
    fp32: { json: [1.5, Math.fround(0.1), 3.4028234663852886e38, 1.401298464324817e-45, -7, 0], typed: Float32Array },
    fp64: { json: [Math.PI, 1e308, -5e-324, 0.1, -7, 0], typed: Float64Array },
    bytes: { json: ['hello', '', 'w\u00f6rld', 'a"b', 'tab\t', 'x'] },
  };
  for (const [name, c] of Object.entries(cases)) {
    test(`${name.toUpperCase()} round-trips through Identity (JSON and binary)`, async () => {
      const datatype = name === 'bytes' ? 'BYTES' : name.toUpperCase();
      const model = `/v2/models/identity_${name}/infer`;
      const r = await post(main, model, { inputs: [{ name: 'x', shape: [2, 3], datatype, data: c.json }] });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.outputs[0].datatype, datatype);
      assert.deepEqual(r.json.outputs[0].shape, [2, 3]);
      // FP32 values come back as their shortest float decimals: exact once read as floats.
      assert.deepEqual(name === 'fp32' ? r.json.outputs[0].data.map(Math.fround) : r.json.outputs[0].data, c.json);

      let bytes;
      if (name === 'bytes') {
        const parts = ['hello', '', Buffer.from([0, 255, 10]), 'w\u00f6rld', 'b', 'c'].map((s) => Buffer.from(s));
        bytes = Buffer.concat(parts.flatMap((p) => { const l = Buffer.alloc(4); l.writeUInt32LE(p.length); return [l, p]; }));
      } else if (name === 'bool') {
        bytes = Buffer.from([1, 0, 1, 1, 0, 0]);
      } else if (name === 'fp16') {
        bytes = Buffer.from(new Uint16Array(c.bits).buffer);
      } else {
        bytes = Buffer.from(new c.typed(c.big ?? c.json).buffer);
      }
      const header = Buffer.from(JSON.stringify({
        inputs: [{ name: 'x', shape: [2, 3], datatype, parameters: { binary_data_size: bytes.length } }],
        parameters: { binary_data_output: true },
      }));
      const b = await post(main, model, Buffer.concat([header, bytes]), { 'inference-header-content-length': String(header.length) });
      assert.equal(b.status, 200, JSON.stringify(b.json));
      assert.equal(b.json.outputs[0].parameters.binary_data_size, bytes.length);
      assert.deepEqual(Buffer.from(b.binary), bytes);
    });
  }
});

describe('bad requests leave the server answering', () => {
  const url = '/v2/models/seed_mlp/infer';
  const good = () => mlpRequest(mlpInput(1), 1);
  const bad = [
    ['malformed JSON', '{"inputs": [', /malformed JSON/],
    ['not an object', '[1, 2]', /JSON object/],
    ['no inputs', {}, /"inputs"/],
    ['wrong datatype', { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP64', data: Array(784).fill(0) }] }, /expects datatype FP32/],
    ['unknown datatype', { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP8', data: [] }] }, /unknown datatype/],
    ['wrong shape', { inputs: [{ name: 'input', shape: [1, 783], datatype: 'FP32', data: Array(783).fill(0) }] }, /expects shape/],
    ['negative shape', { inputs: [{ name: 'input', shape: [-1, 784], datatype: 'FP32', data: [] }] }, /non-negative/],
    ['too few elements', { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: [1, 2, 3] }] }, /3 elements/],
    ['strings for FP32', { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: Array(784).fill('a') }] }, /not a valid FP32/],
    ['unknown input', { inputs: [{ name: 'nope', shape: [1], datatype: 'FP32', data: [1] }] }, /no input 'nope'/],
    ['input twice', { inputs: [good().inputs[0], good().inputs[0]] }, /twice/],
    ['unknown output', { ...good(), outputs: [{ name: 'nope' }] }, /no output 'nope'/],
    ['id not a string', { ...good(), id: 5 }, /"id"/],
    ['a million open brackets', `{"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": ${'['.repeat(1000000)}`, /malformed JSON/],
    ['data nested too deeply', { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: JSON.parse('['.repeat(100) + ']'.repeat(100)) }] }, /nested too deeply/],
    ['integer out of range', { inputs: [{ name: 'x', shape: [1, 1], datatype: 'UINT8', data: [256] }] }, /not a valid UINT8/, '/v2/models/identity_uint8/infer'],
  ];
  for (const [what, body, message, target] of bad) {
    test(`${what} -> 400`, async () => {
      const r = await post(main, target ?? url, body);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.match(r.json.error, message);
      await assertLive(main);
    });
  }

  test('binary byte counts that do not add up -> 400', async () => {
    const x = Buffer.from(mlpInput(1).buffer);
    const mk = (size) => Buffer.from(JSON.stringify({
      inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: size } }] }));
    for (const [size, extra, msg] of [[100, 0, /not claimed|needs/], [x.length + 8, 0, /runs past/], [x.length, 5, /not claimed/]]) {
      const h = mk(size);
      const r = await post(main, url, Buffer.concat([h, x, Buffer.alloc(extra)]), { 'inference-header-content-length': String(h.length) });
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.match(r.json.error, msg);
    }
    const h = mk(x.length);
    const r = await post(main, url, Buffer.concat([h, x]), { 'inference-header-content-length': String(h.length + x.length + 1) });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /Inference-Header-Content-Length/);
    await assertLive(main);
  });

  test('path traversal in model names is refused', async () => {
    for (const p of ['/v2/models/..%2F..%2Fetc%2Fpasswd/ready', '/v2/models/%2E%2E/ready',
      '/v2/models/a%2Fb/infer', '/v2/models/%00x/ready', '/v2/models/%zz/ready']) {
      const r = await raw(main.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, 400, `${p}: ${r.response}`);
    }
    const load = await raw(main.port, 'POST /v2/repository/models/..%2Fseed_mlp/load HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    assert.equal(load.status, 400);
    await assertLive(main);
  });

  test('oversized bodies get 413', async () => {
    const announced = await raw(main.port, `POST /v2/models/seed_mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`);
    assert.equal(announced.status, 413);
    assert.ok(announced.closed);
    const r = await post(main, '/v2/models/seed_mlp/infer', Buffer.alloc(MAX_BODY + 1000, 32));
    assert.equal(r.status, 413);
    const chunked = await raw(main.port, `POST /v2/models/seed_mlp/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(MAX_BODY + 16).toString(16)}\r\n${' '.repeat(MAX_BODY + 16)}\r\n0\r\n\r\n`);
    assert.equal(chunked.status, 413);
    const header = await raw(main.port, `GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`);
    assert.equal(header.status, 431);
    await assertLive(main);
  });

  test('truncated bodies and garbage never crash the server', async () => {
    const early = await raw(main.port, 'POST /v2/models/seed_mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"inputs": [', { end: true });
    assert.ok(early.closed);
    const garbage = await raw(main.port, 'NOT HTTP AT ALL\r\n\r\n');
    assert.equal(garbage.status, 400);
    await assertLive(main);
  });

  test('a stalled client gets 408 and does not block others', async () => {
    const stalled = raw(main.port, 'POST /v2/models/seed_mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"inp');
    const halfHeader = raw(main.port, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const silent = raw(main.port, '');
    await assertLive(main);  // answered while three connections stall
    const [s, h, q] = await Promise.all([stalled, halfHeader, silent]);
    assert.equal(s.status, 408, s.response);
    assert.equal(h.status, 408, h.response);
    assert.ok(s.closed && h.closed && q.closed);
    assert.equal(q.response, '');  // idle connection: closed without an answer
    assert.ok(s.ms >= 900 && s.ms < 4000, `408 after ${s.ms} ms`);
    await assertLive(main);
  });
});

describe('repository', () => {
  test('index lists models with state; a broken model is UNAVAILABLE and answers 503', async () => {
    const r = await post(main, '/v2/repository/index', '');
    assert.equal(r.status, 200);
    const seed = r.json.filter((e) => e.name === 'seed_mlp');
    assert.deepEqual(seed.map((e) => [e.version, e.state]), [['1', 'READY'], ['2', 'READY']]);
    const broken = r.json.find((e) => e.name === 'broken');
    assert.equal(broken.state, 'UNAVAILABLE');
    assert.ok(broken.reason.length > 0);
    const ready = await post(main, '/v2/repository/index', { ready: true });
    assert.ok(!ready.json.some((e) => e.name === 'broken'));
    assert.equal((await get(main, '/v2/models/broken/ready')).status, 503);
    const infer = await post(main, '/v2/models/broken/infer', { inputs: [] });
    assert.equal(infer.status, 503);
    assert.equal((await post(main, '/v2/repository/models/no_such/load', '')).status, 404);
    assert.equal((await post(main, '/v2/repository/models/broken/load', '')).status, 400);
  });

  test('strict readiness (the default): not ready while a model\'s last load failed', async () => {
    const repo = path.join(tmp, 'strict-repo');
    cpSync(path.join(REPO, 'seed_mlp', '1'), path.join(repo, 'seed_mlp', '1'), { recursive: true });
    cpSync(path.join(REPO, 'broken'), path.join(repo, 'broken'), { recursive: true });
    const srv = await startServer({ repo });
    try {
      await assertLive(srv);
      const notReady = await get(srv, '/v2/health/ready');
      assert.equal(notReady.status, 503);
      assert.equal(notReady.json.ready, false);
      assert.match(notReady.json.reason, /model 'broken' failed to load: /);
      // The models that did load serve meanwhile.
      assert.equal((await post(srv, '/v2/models/seed_mlp/infer', mlpRequest(mlpInput(1, 3), 1))).status, 200);
      // An explicit unload settles it; a failed load brings it back.
      assert.equal((await post(srv, '/v2/repository/models/broken/unload', '')).status, 200);
      assert.deepEqual((await get(srv, '/v2/health/ready')).json, { ready: true });
      assert.equal((await post(srv, '/v2/repository/models/broken/load', '')).status, 400);
      assert.equal((await get(srv, '/v2/health/ready')).status, 503);
    } finally {
      await stopServer(srv);
    }
  });

  test('single-model mode: --model-dir DIR --model-name NAME serves DIR\'s one .onnx file as NAME', async () => {
    // As KServe's storage initializer leaves a storageUri naming one file; --option=value as
    // KServe's runtimes write their args.
    const dir = path.join(tmp, 'mnt-models');
    cpSync(path.join(REPO, 'seed_mlp', '1', 'model.onnx'), path.join(dir, 'mnist.onnx'));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ max_batch_size: 4 }));
    const srv = await startServer({ repo: null, args: [`--model-dir=${dir}`, '--model-name=digits'] });
    try {
      assert.deepEqual((await get(srv, '/v2/health/ready')).json, { ready: true });
      const index = await post(srv, '/v2/repository/index', '');
      assert.deepEqual(index.json, [{ name: 'digits', version: '1', state: 'READY', reason: '' }]);
      const x = mlpInput(2, 4);
      const got = await post(srv, '/v2/models/digits/versions/1/infer', mlpRequest(x, 2));
      assert.equal(got.status, 200);
      assert.deepEqual(got.json.outputs[0].data, (await post(main, '/v2/models/seed_mlp/versions/1/infer', mlpRequest(x, 2))).json.outputs[0].data);
      assert.equal((await get(srv, '/v2/models/seed_mlp')).status, 404);
      assert.equal((await post(srv, '/v2/repository/models/seed_mlp/load', '')).status, 404);
      assert.equal((await post(srv, '/v2/repository/models/digits/load', '')).status, 200);
    } finally {
      await stopServer(srv);
    }
    // A folder with both layouts, or neither, is a clear load failure (not ready).
    cpSync(path.join(REPO, 'seed_mlp', '1'), path.join(dir, '1'), { recursive: true });
    const both = await startServer({ repo: null, args: ['--model-dir', dir, '--model-name', 'digits'] });
    try {
      const r = await get(both, '/v2/health/ready');
      assert.equal(r.status, 503);
      assert.match(r.json.reason, /holds both mnist\.onnx and <version>\/model\.onnx; keep one/);
    } finally {
      await stopServer(both);
    }
    const cases = [
      [['--model-dir', dir], /--model-dir and --model-name go together/],
      [['--model-dir', dir, '--model-name', '../x'], /--model-name '\.\.\/x': use letters/],
      [['--model-dir', path.join(tmp, 'nope'), '--model-name', 'x'], /--model-dir '.*nope' is not a directory/],
      [['--model-dir', dir, '--model-name', 'x', '--model-repository', REPO], /either --model-repository or --model-dir/],
    ];
    const results = await Promise.all(cases.map(([args]) => startFailure(args)));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i][0].join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, cases[i][1]);
    });
  });

  test('unload during load: in-flight requests finish, then 503 until loaded again', async () => {
    const x = mlpInput(1, 5);
    const expected = (await post(main, '/v2/models/seed_mlp/infer', mlpRequest(x, 1))).json.outputs[0].data;
    const requests = [];
    for (let i = 0; i < 30; ++i) requests.push(post(main, '/v2/models/unloadable/infer', mlpRequest(x, 1)));
    await new Promise((r) => setTimeout(r, 5));
    const unload = await post(main, '/v2/repository/models/unloadable/unload', '');
    assert.equal(unload.status, 200);
    const results = await Promise.all(requests);
    for (const r of results) {
      assert.ok(r.status === 200 || r.status === 503, `status ${r.status}: ${JSON.stringify(r.json)}`);
      if (r.status === 200) assert.deepEqual(r.json.outputs[0].data, expected);
      else assert.equal(r.headers.get('retry-after'), '1');
    }
    assert.equal((await get(main, '/v2/models/unloadable/ready')).status, 503);
    assert.equal((await post(main, '/v2/models/unloadable/infer', mlpRequest(x, 1))).status, 503);
    const index = await post(main, '/v2/repository/index', '');
    assert.deepEqual(index.json.find((e) => e.name === 'unloadable'), { name: 'unloadable', state: 'UNAVAILABLE', reason: 'unloaded' });
    assert.equal((await post(main, '/v2/repository/models/unloadable/load', '')).status, 200);
    const back = await post(main, '/v2/models/unloadable/infer', mlpRequest(x, 1));
    assert.equal(back.status, 200);
    assert.deepEqual(back.json.outputs[0].data, expected);
  });

  test('reload under load: every request is answered 200', async () => {
    const x = mlpInput(1, 6);
    const requests = [];
    let reload;
    for (let i = 0; i < 30; ++i) {
      requests.push(post(main, '/v2/models/unloadable/infer', mlpRequest(x, 1)));
      if (i === 10) reload = post(main, '/v2/repository/models/unloadable/load', '');
    }
    assert.equal((await reload).status, 200);
    const codes = (await Promise.all(requests)).map((r) => r.status);
    assert.deepEqual(codes, Array(30).fill(200));
  });
});

describe('serving', () => {
  test('dynamic batching batches concurrent requests; results equal unbatched ones', async () => {
    const n = 16;
    const inputs = Array.from({ length: n }, (_, i) => mlpInput(1, i + 2));
    const unbatched = [];
    for (const x of inputs) unbatched.push((await post(main, '/v2/models/seed_mlp/infer', mlpRequest(x, 1))).json.outputs[0].data);
    const batched = await Promise.all(inputs.map((x) => post(main, '/v2/models/batched_mlp/infer', mlpRequest(x, 1))));
    for (let i = 0; i < n; ++i) {
      assert.equal(batched[i].status, 200);
      assertClose(batched[i].json.outputs[0].data, unbatched[i], `request ${i}`);
    }
    const stats = await get(main, '/v2/models/batched_mlp/stats');
    const s = stats.json.model_stats[0];
    assert.equal(s.name, 'batched_mlp');
    assert.equal(s.inference_stats.success.count, n);
    assert.ok(s.batch_stats.some((b) => b.batch_size > 1), JSON.stringify(s.batch_stats));
    assert.ok(s.execution_count < n, `${s.execution_count} runs for ${n} requests`);
    const metrics = await get(main, '/metrics');
    const count = metrics.text.match(/tandem_inference_batch_size_count\{model="batched_mlp",version="1"\} (\d+)/);
    assert.ok(count && Number(count[1]) < n);
  });

  test('a full queue answers 503 with Retry-After', async () => {
    const x = new Float32Array(8 * 512).fill(0.01);
    const body = { inputs: [{ name: 'x', shape: [8, 512], datatype: 'FP32', data: Array.from(x) }] };
    const results = await Promise.all(Array.from({ length: 12 }, () => post(main, '/v2/models/slow/infer', body)));
    const codes = results.map((r) => r.status);
    assert.ok(codes.includes(200), codes.join());
    assert.ok(codes.includes(503), codes.join());
    for (const r of results) {
      if (r.status === 503) {
        assert.equal(r.headers.get('retry-after'), '1');
        assert.match(r.json.error, /queue is full/);
      } else {
        assert.equal(r.status, 200);
      }
    }
  });

  test('requests past their deadline in the queue get 504', async () => {
    const x = Array.from(new Float32Array(8 * 512).fill(0.01));
    const body = (extra) => ({ inputs: [{ name: 'x', shape: [8, 512], datatype: 'FP32', data: x }], ...extra });
    // Two instances: two of the four run at once, the other two wait ~10 ms, longer than 1 ms.
    assert.match(main.stderr, /loaded model 'slow_deadline' version 1 \(2 instance\(s\)/);
    const first = post(main, '/v2/models/slow_deadline/infer', body({}));
    const timed = [
      post(main, '/v2/models/slow_deadline/infer', body({ parameters: { timeout_ms: 1 } })),
      post(main, '/v2/models/slow_deadline/infer', body({ parameters: { timeout_ms: 1 } })),
      post(main, '/v2/models/slow_deadline/infer', body({}), { 'inference-timeout-ms': '1' }),
      post(main, '/v2/models/slow_deadline/infer', body({ parameters: { timeout: 1000 } })), // Triton's, in µs
    ];
    assert.equal((await first).status, 200);
    const codes = (await Promise.all(timed)).map((r) => r.status);
    assert.ok(codes.every((c) => c === 200 || c === 504), codes.join());
    assert.ok(codes.includes(504), codes.join());
    const bad = await post(main, '/v2/models/slow_deadline/infer', body({ parameters: { timeout: 'soon' } }));
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /parameters\.timeout \(microseconds\) must be a whole number/);
  });

  test('stats and Prometheus metrics count requests', async () => {
    const stats = await get(main, '/v2/models/seed_mlp/stats');
    assert.equal(stats.status, 200);
    const v2 = stats.json.model_stats.find((s) => s.version === '2');
    assert.ok(v2.inference_stats.success.count >= 5);
    assert.ok(v2.inference_stats.fail.count >= 5);
    assert.ok(v2.inference_stats.queue.ns > 0 && v2.inference_stats.compute_infer.ns > 0);
    assert.equal((await get(main, '/v2/models/no_such/stats')).status, 404);
    const all = await get(main, '/v2/models/stats');
    assert.ok(all.json.model_stats.length >= 3);
    const m = await get(main, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type'), /^text\/plain/);
    assert.match(m.text, /tandem_inference_requests_total\{model="seed_mlp",version="2",status="success"\} \d+/);
    assert.match(m.text, /tandem_inference_compute_duration_seconds_bucket\{model="seed_mlp",version="2",le="\+Inf"\} \d+/);
    assert.match(m.text, /tandem_inference_queue_duration_seconds_count/);
    assert.match(m.text, /tandem_http_responses_total\{code="413"\} \d+/);
  });

  test('the access log is one JSON object per request', async () => {
    await post(main, '/v2/models/seed_mlp/infer', mlpRequest(mlpInput(1), 1, { id: 'log-me-7' }));
    await new Promise((r) => setTimeout(r, 50));
    const lines = main.stderr.split('\n').filter((l) => l.startsWith('{'));
    const entries = lines.map((l) => JSON.parse(l));
    const e = entries.find((x) => x.request_id === 'log-me-7');
    assert.ok(e, 'logged');
    assert.equal(e.method, 'POST');
    assert.equal(e.path, '/v2/models/seed_mlp/infer');
    assert.equal(e.status, 200);
    assert.ok(e.bytes_in > 0 && e.bytes_out > 0 && e.duration_ms >= 0);
    assert.ok(entries.some((x) => x.status === 408));
  });
});

describe('TLS and the metrics port', () => {
  let srv;
  const tlsRepo = path.join(tmp, 'tls-repo');
  before(async () => {
    cpSync(path.join(REPO, 'seed_mlp', '1'), path.join(tlsRepo, 'seed_mlp', '1'), { recursive: true });
    srv = await startServer({ repo: tlsRepo, args: ['--tls-cert', CERT, '--tls-key', KEY, '--metrics-port', '0'] });
  });

  test('HTTPS infer equals plain HTTP; keep-alive; TLS 1.2 and 1.3, nothing older', async () => {
    assert.match(srv.base, /^https:/);
    const x = mlpInput(2, 9);
    const r = await httpsRequest(srv, 'POST', '/v2/models/seed_mlp/infer', { body: mlpRequest(x, 2, { id: 'tls-1' }) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.protocol, 'TLSv1.3');
    assert.equal(r.headers['x-request-id'], 'tls-1');
    const plain = await post(main, '/v2/models/seed_mlp/versions/1/infer', mlpRequest(x, 2));
    assert.deepEqual(r.json.outputs, plain.json.outputs);
    // Keep-alive over TLS: two requests, one connection.
    const answers = await new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: CERT_PEM });
      const got = [];
      let text = '';
      sock.on('secureConnect', () => sock.write('GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n'));
      sock.on('data', (d) => {
        text += d;
        if (!text.endsWith('}')) return;
        got.push(text);
        text = '';
        if (got.length === 1) sock.write('GET /v2/models/seed_mlp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      sock.on('error', reject);
      sock.on('close', () => resolve(got));
    });
    assert.equal(answers.length, 2, answers.join('\n'));
    assert.match(answers[0], /^HTTP\/1\.1 200 [\s\S]*\{"ready": true\}$/);
    assert.match(answers[0], /\r\nKeep-Alive: timeout=1\r\n/);  // the idle timeout (--read-timeout-ms 1000)
    assert.doesNotMatch(answers[1], /Keep-Alive/);
    assert.match(answers[1], /^HTTP\/1\.1 200 [\s\S]*"name": ?"seed_mlp"/);
    const v12 = await httpsRequest(srv, 'GET', '/v2/health/live', { maxVersion: 'TLSv1.2' });
    assert.equal(v12.status, 200);
    assert.equal(v12.protocol, 'TLSv1.2');
    // TLS 1.1 (the client allowed to offer it): the server refuses with a protocol_version alert.
    const old = await new Promise((resolve) => {
      const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: CERT_PEM, minVersion: 'TLSv1', maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT@SECLEVEL=0' });
      sock.on('secureConnect', () => { sock.destroy(); resolve('connected'); });
      sock.on('error', (e) => resolve(e.code));
    });
    assert.match(old, /PROTOCOL_VERSION/);
  });

  test('plain HTTP and garbage on the TLS port are dropped at once; HTTPS goes on', async () => {
    const plain = await raw(srv.port, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(plain.closed && plain.ms < 900, `${plain.ms} ms`);
    assert.ok(!plain.response.includes('HTTP/1.1'), plain.response);
    const garbage = await raw(srv.port, Buffer.from('16030100040100000000deadbeef', 'hex'));
    assert.ok(garbage.closed && garbage.ms < 900, `${garbage.ms} ms`);
    const noise = await raw(srv.port, Buffer.alloc(300, 0xa5));
    assert.ok(noise.closed && noise.ms < 900, `${noise.ms} ms`);
    assert.equal((await httpsRequest(srv, 'GET', '/v2/health/live')).status, 200);
  });

  test('stalled handshakes, and a handshake with no (whole) request after it, are closed after the read timeout', async () => {
    const silent = raw(srv.port, '');
    const midHandshake = raw(srv.port, Buffer.from('1603010200010001fc0303', 'hex'));  // a ClientHello cut short
    const t0 = Date.now();
    const idleAfterHandshake = new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: CERT_PEM });
      sock.on('error', () => {});
      sock.on('close', () => resolve(Date.now() - t0));
      setTimeout(() => { sock.destroy(); reject(new Error('still open after 4 s')); }, 4000);
    });
    const halfRequest = new Promise((resolve) => {
      let got = '';
      const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: CERT_PEM },
        () => sock.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: '));
      sock.on('data', (d) => { got += d; });
      sock.on('error', () => {});
      sock.on('close', () => resolve(got));
      setTimeout(() => { sock.destroy(); resolve('still open after 4 s'); }, 4000);
    });
    // Answered while four connections stall.
    assert.equal((await httpsRequest(srv, 'GET', '/v2/health/live')).status, 200);
    const [s, m, idleMs, half] = await Promise.all([silent, midHandshake, idleAfterHandshake, halfRequest]);
    assert.match(half, /^HTTP\/1\.1 408 /);  // a request begun over TLS is told, as over plain HTTP
    for (const [what, r] of [['silent', s], ['mid-handshake', m]]) {
      assert.ok(r.closed && r.ms >= 900 && r.ms < 4000, `${what}: closed ${r.closed} after ${r.ms} ms`);
    }
    // One deadline covers the handshake and the first request (not one read timeout each).
    assert.ok(idleMs >= 900 && idleMs < 1900, `closed after ${idleMs} ms`);
    assert.equal((await httpsRequest(srv, 'GET', '/v2/health/live')).status, 200);
  });

  test('a missing, unusable or mismatched certificate or key: exit 2 naming the file', async () => {
    const missing = path.join(tmp, 'no-such-key.pem');
    const notPem = path.join(tmp, 'not-a-cert.pem');
    const otherKey = path.join(tmp, 'other-key.pem');
    writeFileSync(notPem, 'this is not a certificate\n');
    const gen = spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', otherKey], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const repo = ['--model-repository', tlsRepo];
    const cases = [
      [['--tls-cert', CERT, '--tls-key', missing], new RegExp(`--tls-key: cannot read '${missing}': No such file`)],
      [['--tls-cert', missing, '--tls-key', KEY], new RegExp(`--tls-cert: cannot read '${missing}'`)],
      [['--tls-cert', notPem, '--tls-key', KEY], new RegExp(`--tls-cert: '${notPem}' is not a usable PEM certificate`)],
      [['--tls-cert', CERT, '--tls-key', notPem], new RegExp(`--tls-key: '${notPem}' is not a usable`)],
      [['--tls-cert', CERT, '--tls-key', otherKey], new RegExp(`--tls-key: '${otherKey}' does not match the certificate in '${CERT}'`)],
      [['--tls-cert', CERT], /--tls-cert and --tls-key go together/],
      [['--metrics-port', '70000'], /--metrics-port takes a whole number/],
      [['--strict-readiness', 'yes'], /--strict-readiness takes true or false, got 'yes'/],
    ];
    const results = await Promise.all(cases.map(([args]) => startFailure([...repo, ...args])));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i][0].join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, cases[i][1]);
      assert.doesNotMatch(r.stderr, /Sanitizer|terminate called/);
    });
  });

  test('mutual TLS (--tls-client-ca): only clients with a certificate from that CA get through', async () => {
    const dir = path.join(tmp, 'mtls');
    mkdirSync(dir, { recursive: true });
    const f = (n) => path.join(dir, n);
    const ssl = (args) => {
      const r = spawnSync('openssl', args, { encoding: 'utf8' });
      assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
    };
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl(['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=tandem test client CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
    ssl(['req', ...ec, '-subj', '/CN=client', '-keyout', f('client.key'), '-out', f('client.csr')]);
    ssl(['x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-out', f('client.pem')]);
    ssl(['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=stranger', '-keyout', f('stranger.key'), '-out', f('stranger.pem')]);
    const mtls = await startServer({ repo: tlsRepo, args: ['--tls-cert', CERT, '--tls-key', KEY, '--tls-client-ca', f('ca.pem')] });
    try {
      const mine = { cert: readFileSync(f('client.pem')), key: readFileSync(f('client.key')) };
      const ok = await httpsRequest(mtls, 'POST', '/v2/models/seed_mlp/infer', { body: mlpRequest(mlpInput(1, 2), 1), ...mine });
      assert.equal(ok.status, 200);
      // No certificate, or one from another issuer: the handshake fails, nothing is answered.
      for (const options of [{}, { cert: readFileSync(f('stranger.pem')), key: readFileSync(f('stranger.key')) }]) {
        await assert.rejects(httpsRequest(mtls, 'GET', '/v2/health/ready', options), (e) => /alert|certificate|socket hang up|ECONNRESET/i.test(e.message));
      }
      assert.equal((await httpsRequest(mtls, 'GET', '/v2/health/ready', mine)).status, 200);
    } finally {
      await stopServer(mtls);
    }
    const r = await startFailure(['--model-repository', tlsRepo, '--tls-client-ca', f('ca.pem')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--tls-client-ca needs --tls-cert and --tls-key/);
    const bad = await startFailure(['--model-repository', tlsRepo, '--tls-cert', CERT, '--tls-key', KEY, '--tls-client-ca', f('client.csr')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--tls-client-ca: '.*client\.csr' holds no usable PEM CA certificate/);
  });

  test('a rotated certificate is picked up for new connections without a restart', async () => {
    const dir = path.join(tmp, 'rotate');
    mkdirSync(dir, { recursive: true });
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    const make = (cn) => {
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-days', '1', '-subj', `/CN=${cn}`, '-keyout', path.join(dir, 'new.key'), '-out', path.join(dir, 'new.pem')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      // Key first, then certificate, as a Secret update lands: the server retries on each change.
      writeFileSync(key, readFileSync(path.join(dir, 'new.key')));
      writeFileSync(cert, readFileSync(path.join(dir, 'new.pem')));
    };
    // The subject's CN of the certificate a fresh connection is served.
    const servedCn = (srv) => new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: srv.port, path: '/v2/health/live', agent: false, rejectUnauthorized: false }, (res) => {
        const cn = res.socket.getPeerCertificate().subject.CN;
        res.resume();
        res.on('end', () => resolve(cn));
      });
      req.on('error', reject);
      req.end();
    });
    make('first');
    const srv = await startServer({ repo: tlsRepo, args: ['--tls-cert', cert, '--tls-key', key] });
    try {
      assert.equal(await servedCn(srv), 'first');
      make('second');
      await new Promise((r) => setTimeout(r, 1200));  // checked at most once a second
      await servedCn(srv);  // this accept notices the change
      assert.equal(await servedCn(srv), 'second');
      assert.match(srv.stderr, /reloaded the TLS certificate from/);
      // Files that do not make a usable pair are reported; the last good certificate stays.
      writeFileSync(cert, 'not a certificate\n');
      await new Promise((r) => setTimeout(r, 1200));
      await servedCn(srv);
      assert.equal(await servedCn(srv), 'second');
      assert.match(srv.stderr, /the TLS files changed but cannot be used, keeping the previous certificate: --tls-cert/);
    } finally {
      await stopServer(srv);
    }
  });

  test('the metrics port answers Prometheus text over plain HTTP, and only /metrics', async () => {
    assert.ok(srv.metricsPort > 0 && srv.metricsPort !== srv.port);
    const base = `http://127.0.0.1:${srv.metricsPort}`;
    const m = await fetch(`${base}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await m.text();
    assert.match(text, /# TYPE tandem_inference_requests_total counter/);
    // The HTTPS infer of the first test, counted.
    assert.match(text, /tandem_inference_requests_total\{model="seed_mlp",version="1",status="success"\} [1-9]/);
    assert.equal((await fetch(`${base}/v2/health/live`)).status, 404);
    const wrong = await fetch(`${base}/metrics`, { method: 'POST', body: '' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET');
    // Still on the API port as well (here over HTTPS).
    const api = await httpsRequest(srv, 'GET', '/metrics');
    assert.equal(api.status, 200);
    assert.match(api.text, /tandem_http_responses_total/);
  });
});

describe('static files and CORS', () => {
  let srv;
  let site;
  const ORIGIN = 'http://app.example:5173';
  before(async () => {
    site = path.join(tmp, 'site');
    mkdirSync(path.join(site, 'pkg'), { recursive: true });
    writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(path.join(site, 'pkg', 'm.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    writeFileSync(path.join(tmp, 'secret.txt'), 'outside the site');
    symlinkSync(path.join(tmp, 'secret.txt'), path.join(site, 'link.txt'));
    srv = await startServer({ args: ['--static', site, '--allow-origin', ORIGIN] });
  });

  test('pages, wasm and HEAD from --static; the API still answers beside them', async () => {
    const page = await get(srv, '/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    const wasm = await fetch(`${srv.base}/pkg/m.wasm`);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal((await wasm.arrayBuffer()).byteLength, 8);
    const head = await fetch(`${srv.base}/pkg/m.wasm`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '8');
    assert.equal((await get(srv, '/missing.js')).status, 404);
    assert.equal((await get(srv, '/v2/health/live')).status, 200);
    assert.equal((await get(srv, '/v2/models/seed_mlp')).json.name, 'seed_mlp');
  });

  test('paths out of the site (.., encoded, backslash, symlink) are refused', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/pkg/%2E%2E/%2e%2e/secret.txt', '/..%5csecret.txt', '/link.txt', '/a%00b']) {
      const r = await raw(srv.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok([400, 403, 404].includes(r.status), `${p}: ${r.response.slice(0, 80)}`);
      assert.ok(!r.response.includes('outside the site'), p);
    }
    await assertLive(srv);
  });

  test('an allowed origin gets its preflight and CORS headers; others get none', async () => {
    const pre = await fetch(`${srv.base}/v2/models/seed_mlp/infer`, { method: 'OPTIONS', headers: {
      origin: ORIGIN, 'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,inference-header-content-length,authorization' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.match(pre.headers.get('access-control-allow-headers'), /inference-header-content-length/);
    const r = await post(srv, '/v2/models/seed_mlp/infer', mlpRequest(mlpInput(1), 1), { origin: ORIGIN });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(r.headers.get('access-control-expose-headers'), /Inference-Header-Content-Length/);
    assert.match(r.headers.get('access-control-expose-headers'), /Server-Timing/);
    const other = await post(srv, '/v2/models/seed_mlp/infer', mlpRequest(mlpInput(1), 1), { origin: 'http://evil.example' });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const none = await fetch(`${srv.base}/v2`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(none.headers.get('access-control-allow-origin'), null);
  });

  test('a --static that is not a directory, or a bad --allow-origin, is exit 2 with the reason', async () => {
    let r = await startFailure(['--static', path.join(tmp, 'secret.txt')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--static .* is not a directory/);
    r = await startFailure(['--allow-origin', 'example.com']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--allow-origin takes an origin/);
  });
});

describe('auth and shutdown', () => {
  let srv;
  const keyFile = path.join(tmp, 'keys.txt');
  before(async () => {
    writeFileSync(keyFile, '# keys\nfile-key-5b2e\n\n');
    srv = await startServer({ args: ['--api-key-file', keyFile, '--metrics-port', '0', '--strict-readiness', 'false'],
      env: { TANDEM_API_KEYS: 'env-key-1a2b, env-key-3c4d' } });
  });

  test('no key or a wrong key is 401 with WWW-Authenticate; health stays open', async () => {
    await assertLive(srv);
    assert.equal((await get(srv, '/v2/health/ready')).status, 200);
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'env-key-1a2b' }, { authorization: 'Basic env-key-1a2b' }]) {
      const r = await get(srv, '/v2', headers);
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate'), /^Bearer/);
    }
    assert.equal((await post(srv, '/v2/models/seed_mlp/infer', mlpRequest(mlpInput(1), 1))).status, 401);
    assert.equal((await get(srv, '/metrics')).status, 401);
  });

  test('the metrics port needs no key (the API port does)', async () => {
    const m = await fetch(`http://127.0.0.1:${srv.metricsPort}/metrics`);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /# TYPE tandem_http_responses_total counter/);
    assert.equal((await get(srv, '/metrics')).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${srv.metricsPort}/v2`)).status, 404);
  });

  test('a configured key is accepted, and never logged', async () => {
    for (const key of ['file-key-5b2e', 'env-key-1a2b', 'env-key-3c4d']) {
      assert.equal((await get(srv, '/v2', { authorization: `Bearer ${key}` })).status, 200);
    }
    const r = await post(srv, '/v2/models/seed_mlp/infer', mlpRequest(mlpInput(1), 1), { authorization: 'bearer env-key-3c4d' });
    assert.equal(r.status, 200);
    await new Promise((res) => setTimeout(res, 50));
    for (const key of ['file-key-5b2e', 'env-key-1a2b', 'env-key-3c4d']) assert.ok(!srv.stderr.includes(key));
  });

  test('SIGTERM drains in-flight requests, then exits 0', async () => {
    const x = Array.from(new Float32Array(8 * 512).fill(0.02));
    const body = { inputs: [{ name: 'x', shape: [8, 512], datatype: 'FP32', data: x }] };
    const inflight = Array.from({ length: 6 }, () =>
      post(srv, '/v2/models/slow_deadline/infer', body, { authorization: 'Bearer env-key-1a2b' }));
    await new Promise((r) => setTimeout(r, 150));
    srv.child.kill('SIGTERM');
    const results = await Promise.all(inflight);
    assert.deepEqual(results.map((r) => r.status), Array(6).fill(200));
    const { code } = await srv.exited;
    assert.equal(code, 0);
    assert.match(srv.stderr, /draining/);
  });
});
