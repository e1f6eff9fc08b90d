// The native edge demo (tandem-edge, demos/native) on its bundled inputs (demos/native/
// make_inputs.py), locally and against a real `tandem serve` on loopback. Checked:
//   - classify: PNG and JPEG decode; local logits = remote logits (1e-5); over --memory-cap the
//     router sends the model to the server; the summary says where every call ran;
//   - vad: silero v5's per-window probabilities equal onnxruntime-node's on the same windows
//     (same context and state carry), local and remote; silence has no speech segment;
//   - bad inputs (a missing image, 44.1 kHz audio) and a stopped server: clear errors, exit 1.
//
//   node --test tests/demos/native_demo.test.mjs
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { startTandemServe } from '../../native/serve/launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const EDGE = path.join(REPO, 'build', 'native', 'tandem-edge');
const MOBILENET = path.join(REPO, 'tests', 'models', 'generated', 'mobilenetv2.onnx');
const RESNET = path.join(REPO, 'tests', 'models', 'generated', 'resnet18.onnx');
const SILERO = path.join(REPO, 'node_modules', '@ricky0123', 'vad-web', 'dist', 'silero_vad_v5.onnx');

let dir, server, ort;

function edge(args) {
  const json = path.join(dir, `out-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync(EDGE, [...args, '--json', json], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: existsSync(json) ? JSON.parse(readFileSync(json, 'utf8')) : null };
}

function maxDiff(a, b) {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i])));
}

// 16-bit PCM mono WAV -> Float32Array (as libsndfile reads it: s / 32768).
function readWav(file) {
  const buf = readFileSync(file);
  let off = 12;
  while (off < buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const x = new Float32Array(size / 2);
      for (let i = 0; i < x.length; i++) x[i] = buf.readInt16LE(off + 8 + 2 * i) / 32768;
      return x;
    }
    off += 8 + size;
  }
  throw new Error(`${file}: no data chunk`);
}

// silero v5 over `audio` with onnxruntime-node, windowed as tandem-edge does.
async function sileroReference(audio) {
  const s = await ort.InferenceSession.create(SILERO);
  let state = new Float32Array(256);
  let ctx = new Float32Array(64);
  const probs = [];
  for (let w = 0; w + 512 <= audio.length; w += 512) {
    const x = new Float32Array(576);
    x.set(ctx, 0);
    x.set(audio.subarray(w, w + 512), 64);
    ctx = x.slice(512);
    const out = await s.run({ input: new ort.Tensor('float32', x, [1, 576]), state: new ort.Tensor('float32', state, [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []) });
    probs.push(out.output.data[0]);
    state = out.stateN.data;
  }
  return probs;
}

before(async () => {
  assert.ok(existsSync(EDGE), `${EDGE} is missing: build the native preset (needs libstb-dev, libsndfile1-dev: scripts/setup)`);
  for (const f of [MOBILENET, SILERO]) assert.ok(existsSync(f), `${f} is missing: run tests/models/prepare.sh and npm ci --ignore-scripts`);
  ort = (await import('onnxruntime-node')).default;
  dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-edge-'));
  const made = spawnSync('/usr/bin/python3', [path.join(REPO, 'demos', 'native', 'make_inputs.py'), dir], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  server = await startTandemServe({ mobilenetv2: MOBILENET, silero_vad: SILERO });
});

after(async () => {
  await server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('tandem-edge on bundled inputs', () => {
  const images = () => [path.join(dir, 'sunset.png'), path.join(dir, 'stripes.jpg')];

  test('classify: PNG and JPEG, local = remote, and the summary says where each ran', () => {
    const local = edge(['classify', '--model', MOBILENET, '--placement', 'local', ...images()]);
    assert.equal(local.code, 0, local.stderr + local.stdout);
    assert.equal(local.json.images.length, 2);
    assert.match(local.stdout, /summary: 2 call\(s\): 2 local, 0 remote, 0 fell back/);
    const remote = edge(['classify', '--model', MOBILENET, '--remote', server.url, '--placement', 'remote', ...images()]);
    assert.equal(remote.code, 0, remote.stderr + remote.stdout);
    assert.match(remote.stdout, /summary: 2 call\(s\): 0 local, 2 remote/);
    for (let i = 0; i < 2; i++) {
      assert.equal(remote.json.images[i].report.ran_on, 'remote');
      const d = maxDiff(local.json.images[i].logits, remote.json.images[i].logits);
      assert.ok(d <= 1e-5, `${local.json.images[i].file}: local vs remote max |diff| ${d}`);
    }
    // The two pictures differ, and so do their logits: decoding and preprocessing reach the
    // model. ResNet-18 here: the seeded-random MobileNetV2 barely depends on its input (4e-7).
    const resnet = edge(['classify', '--model', RESNET, '--placement', 'local', ...images()]);
    assert.equal(resnet.code, 0, resnet.stderr + resnet.stdout);
    assert.ok(maxDiff(resnet.json.images[0].logits, resnet.json.images[1].logits) > 1e-2);
  });

  test('classify over the memory cap: auto goes remote, and says why', () => {
    const r = edge(['classify', '--model', MOBILENET, '--remote', server.url, '--memory-cap', '16M', images()[0]]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.json.placement, 'remote');
    assert.match(r.json.reason, /but 16\.0 MB is available \(memory cap 16\.0 MB\)/);
    assert.match(r.stdout, /ran remote http:\/\/127\.0\.0\.1:\d+ model 'mobilenetv2'/);
  });

  test('vad: silero v5 windows equal onnxruntime-node, locally and remotely; silence has no speech', async () => {
    const wav = path.join(dir, 'speech16k.wav');
    const want = await sileroReference(readWav(wav));
    for (const placement of ['local', 'remote']) {
      const r = edge(['vad', '--model', SILERO, '--remote', server.url, '--remote-model', 'silero_vad', '--placement', placement,
        wav, path.join(dir, 'silence16k.wav')]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal(r.json[placement], want.length + 62, `${placement}: every window ran ${placement}`);
      const got = r.json.files[0].probabilities;
      assert.ok(maxDiff(got, want) <= 1e-4, `${placement}: max |diff| vs onnxruntime-node ${maxDiff(got, want)}`);
      assert.equal(r.json.files[1].segments.length, 0, 'silence has no speech segment');
      assert.ok(r.json.files[1].probabilities.every((p) => p < 0.5));
    }
  });

  test('bad inputs and a stopped server: clear errors, exit 1, no hang', async () => {
    const missing = edge(['classify', '--model', MOBILENET, path.join(dir, 'nope.png')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /nope\.png: error: .*not a PNG\/JPEG image/);
    const cd = edge(['vad', '--model', SILERO, path.join(dir, 'cd44k.wav')]);
    assert.equal(cd.code, 1);
    assert.match(cd.stdout, /44100 Hz; silero VAD takes 16000 or 8000 Hz/);
    assert.equal(edge(['classify']).code, 2);
    const url = server.url;
    await server.kill();
    server = null;
    const t0 = Date.now();
    const down = edge(['classify', '--model', MOBILENET, '--remote', url, '--placement', 'remote', images()[0]]);
    assert.equal(down.code, 1);
    assert.match(down.stdout + down.stderr, /refused|connect|reach/i);
    assert.ok(Date.now() - t0 < 30_000);
    const fallback = edge(['classify', '--model', MOBILENET, '--remote', url, '--placement', 'prefer-remote', images()[0]]);
    assert.equal(fallback.code, 0, fallback.stdout + fallback.stderr);
    assert.equal(fallback.json.images[0].report.ran_on, 'local');
  });
});
