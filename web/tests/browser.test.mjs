// Browser test: the Tandem web package in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), against onnxruntime-node on the same model and input.
//
//   node --test web/tests/browser.test.mjs
//
// Needs web/dist/ (the built package), tests/models/generated/mobilenetv2.onnx (exported by the
// native test suite: tests/models/prepare.sh) and the npm tooling at the repository root
// (npm ci --ignore-scripts). The page web/tests/pages/mobilenet.html draws a deterministic
// synthetic picture (web/tests/pages/synthetic.mjs, shared with this file), runs MobileNetV2 on
// the main thread and in a module Web Worker, and sets window.__result. Checked here:
//   - logits match onnxruntime-node elementwise (|tandem - ort| <= 1e-5 + 1e-4 |ort|), same top-1,
//     on the main thread and in the worker;
//   - a cross-origin isolated page uses the 'simd-threads' build, a plain page the 'simd' build
//     with a reason that names crossOriginIsolated;
//   - a screenshot (build/web-test/mobilenet.png) has the viewport's size and a non-blank canvas;
//   - a malformed model rejects with an Error that names the model, without hanging.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import pngjs from 'pngjs';
import { startServer } from './serve.mjs';
import { syntheticInput, topK } from './pages/synthetic.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MODEL = path.join(REPO, 'tests', 'models', 'generated', 'mobilenetv2.onnx');
const DIST = path.join(REPO, 'web', 'dist', 'index.js');
const SHOT = path.join(REPO, 'build', 'web-test', 'mobilenet.png');
const PAGE = '/web/tests/pages/mobilenet.html';
const VIEWPORT = { width: 1280, height: 720 };
const PAGE_TIMEOUT_MS = 45_000;

let browser;
let servers = [];
let reference; // { logits: Float32Array, top1 }

// ---- helpers -------------------------------------------------------------------------------

// Loads the page and waits for window.__result (or fails with window.__error / the page's errors).
async function runPage(server, query = '') {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => logs.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) logs.push(`HTTP ${r.status()}: ${r.url()}`); });
  await page.goto(`${server.url}${PAGE}${query}`);
  try {
    await page.waitForFunction(() => window.__result !== undefined || window.__error !== undefined, null,
      { timeout: PAGE_TIMEOUT_MS, polling: 100 });
  } catch (e) {
    throw new Error(`the page did not finish in ${PAGE_TIMEOUT_MS / 1000} s (${e.message.split('\n')[0]})\n${logs.join('\n')}`);
  }
  const { result, error } = await page.evaluate(() => ({ result: window.__result, error: window.__error }));
  if (error !== undefined) {
    await context.close();
    assert.fail(`the page reported an error: ${error}\n${logs.join('\n')}`);
  }
  return { context, page, result, logs };
}

// Elementwise |got - want| <= atol + rtol |want| over all logits, and the same top-1.
function assertMatchesReference(got, what) {
  const want = reference.logits;
  assert.equal(got.logits.length, want.length, `${what}: ${got.logits.length} logits, onnxruntime-node has ${want.length}`);
  let worst = { i: -1, diff: 0, excess: -Infinity };
  let bad = 0;
  for (let i = 0; i < want.length; ++i) {
    const diff = Math.abs(got.logits[i] - want[i]);
    const tol = 1e-5 + 1e-4 * Math.abs(want[i]);
    if (!(diff <= tol)) ++bad;
    if (!(diff - tol <= worst.excess)) worst = { i, diff, excess: diff - tol };
  }
  const maxAbs = Math.max(...want.map((w, i) => Math.abs(got.logits[i] - w)));
  assert.equal(bad, 0, `${what}: ${bad} of ${want.length} logits outside 1e-5 + 1e-4*|ort| ` +
    `(max |diff| ${maxAbs.toExponential(3)}; worst logit ${worst.i}: tandem ${got.logits[worst.i]}, ort ${want[worst.i]})`);
  assert.equal(got.top5[0].index, reference.top1, `${what}: top-1 class ${got.top5[0].index}, onnxruntime-node says ${reference.top1}`);
  return maxAbs;
}

function report(t, result, maxAbs) {
  const l = result.latency;
  t.diagnostic(`main thread: max |tandem - ort| ${maxAbs.toExponential(2)}, top-1 ${result.top5[0].index}; ` +
    `create ${l.createMs.toFixed(0)} ms, first run ${l.firstRunMs.toFixed(0)} ms, warm ${l.warmMedianMs.toFixed(0)} ms`);
  t.diagnostic(`placement ${JSON.stringify(result.placement)}`);
  t.diagnostic(`diagnostics ${JSON.stringify(result.diagnostics)}`);
}

// ---- setup ---------------------------------------------------------------------------------

before(async () => {
  assert.ok(existsSync(CHROMIUM),
    `no Chromium at ${CHROMIUM}: install Debian's chromium (run scripts/setup, or apt-get install chromium) or set CHROMIUM=/path`);
  assert.ok(existsSync(MODEL),
    `${path.relative(REPO, MODEL)} is missing: it is exported by the native test suite (run tests/models/prepare.sh, or ctest)`);
  assert.ok(existsSync(DIST), `${path.relative(REPO, DIST)} is missing: build the web package first (see web/README.md)`);

  let chromium;
  let ort;
  try {
    ({ chromium } = await import('playwright-core'));
    ort = (await import('onnxruntime-node')).default;
  } catch (e) {
    assert.fail(`cannot load the npm tooling (${e.message.split('\n')[0]}): run "npm ci --ignore-scripts" in ${REPO}`);
  }

  // The reference: onnxruntime-node on the same synthetic input.
  const input = syntheticInput();
  const session = await ort.InferenceSession.create(MODEL);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input.data, input.dims) });
  const logits = out[session.outputNames[0]].data;
  await session.release();
  reference = { logits: Array.from(logits), top1: topK(logits, 1)[0].index };

  servers = [await startServer({ root: REPO, isolated: true }), await startServer({ root: REPO, isolated: false })];
  // launch() gives every run a fresh temporary profile (--user-data-dir) and removes it on close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
  await Promise.all(servers.map((s) => s.close()));
});

// ---- tests ---------------------------------------------------------------------------------

describe('tandem-web in headless Chromium', { timeout: 110_000 }, () => {
  test('cross-origin isolated page: simd-threads build, logits match onnxruntime-node, Web Worker too, screenshot', { timeout: 60_000 }, async (t) => {
    // threads=2: the threads build even where the platform reports one core.
    const { context, page, result } = await runPage(servers[0], '?threads=2');
    try {
      assert.equal(result.crossOriginIsolated, true, 'the isolated page is not crossOriginIsolated (server headers?)');
      assert.equal(result.diagnostics?.build, 'simd-threads',
        `crossOriginIsolated page: env.diagnostics is ${JSON.stringify(result.diagnostics)}`);
      assert.equal(result.placement?.where, 'local', `session.placement is ${JSON.stringify(result.placement)}`);
      report(t, result, assertMatchesReference(result, 'main thread (isolated)'));
      assert.ok(result.worker, 'no Web Worker result');
      t.diagnostic(`worker: max |tandem - ort| ${assertMatchesReference(result.worker, 'Web Worker (isolated)').toExponential(2)}, ` +
        `build ${result.worker.diagnostics?.build}`);

      // Screenshot: a PNG of the viewport's size whose canvas region is not blank.
      mkdirSync(path.dirname(SHOT), { recursive: true });
      await page.screenshot({ path: SHOT });
      const png = pngjs.PNG.sync.read(readFileSync(SHOT));  // 8-bit RGBA
      assert.deepEqual([png.width, png.height], [VIEWPORT.width, VIEWPORT.height], 'screenshot size is not the viewport size');
      const box = await page.locator('#canvas').boundingBox();
      assert.ok(box && box.width >= 200 && box.height >= 200, `canvas bounding box ${JSON.stringify(box)}`);
      const x0 = Math.ceil(box.x) + 2;
      const y0 = Math.ceil(box.y) + 2;
      const x1 = Math.floor(box.x + box.width) - 2;
      const y1 = Math.floor(box.y + box.height) - 2;
      const colours = new Set();
      let sum = 0;
      let sum2 = 0;
      let n = 0;
      for (let y = y0; y < y1; ++y) {
        for (let x = x0; x < x1; ++x) {
          const o = (y * png.width + x) * 4;
          const rgb = [png.data[o], png.data[o + 1], png.data[o + 2]];
          colours.add((rgb[0] << 16) | (rgb[1] << 8) | rgb[2]);
          for (const v of rgb) {
            sum += v;
            sum2 += v * v;
            ++n;
          }
        }
      }
      const variance = sum2 / n - (sum / n) ** 2;
      assert.ok(colours.size > 100 && variance > 500,
        `the canvas region of ${path.relative(REPO, SHOT)} looks blank: ${colours.size} colours, variance ${variance.toFixed(1)}`);
    } finally {
      await context.close();
    }
  });

  test('plain page (not isolated): simd build with a reason, logits match onnxruntime-node, Web Worker too', { timeout: 60_000 }, async (t) => {
    const { context, result } = await runPage(servers[1]);
    try {
      assert.equal(result.crossOriginIsolated, false);
      assert.equal(result.diagnostics?.build, 'simd', `plain page: env.diagnostics is ${JSON.stringify(result.diagnostics)}`);
      assert.match(String(result.diagnostics?.reason ?? ''), /crossOriginIsolated/,
        `env.diagnostics.reason should say why threads are off: ${JSON.stringify(result.diagnostics)}`);
      report(t, result, assertMatchesReference(result, 'main thread (not isolated)'));
      assert.ok(result.worker, 'no Web Worker result');
      assert.equal(result.worker.diagnostics?.build, 'simd', `worker on a plain page: ${JSON.stringify(result.worker.diagnostics)}`);
      t.diagnostic(`worker: max |tandem - ort| ${assertMatchesReference(result.worker, 'Web Worker (not isolated)').toExponential(2)}, ` +
        `build ${result.worker.diagnostics?.build}`);
    } finally {
      await context.close();
    }
  });

  test('a malformed model rejects with an Error that names the model', { timeout: 30_000 }, async (t) => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${servers[1].url}/web/tests/pages/`); // any page of the origin (404 is fine)
      const r = await page.evaluate(async (pkg) => {
        const { InferenceSession } = await import(pkg);
        const timeout = new Promise((resolve) => { setTimeout(() => resolve({ hung: true }), 15_000); });
        const attempt = InferenceSession.create(new Uint8Array([1, 2, 3])).then(
          () => ({ resolved: true }),
          (e) => ({ rejected: true, isError: e instanceof Error, message: String(e?.message ?? e) }));
        return Promise.race([attempt, timeout]);
      }, '/web/dist/index.js');
      assert.ok(!r.hung, 'InferenceSession.create(3 bytes) did not settle within 15 s');
      assert.ok(!r.resolved, 'InferenceSession.create(3 bytes) resolved');
      assert.ok(r.isError, `rejected with a non-Error: ${r.message}`);
      assert.match(r.message, /model/i, `the message should name the model: "${r.message}"`);
      t.diagnostic(`rejected with: ${r.message}`);
    } finally {
      await context.close();
    }
  });
});
