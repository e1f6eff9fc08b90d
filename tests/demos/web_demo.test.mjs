// The web demo (demos/web) in headless Chromium against the `tandem serve` that serves it
// (demos/web/serve.mjs: the page, the package and the models' API on one origin). Checked:
//   - image classification runs locally (simd-threads: the page is cross-origin isolated) and its
//     logits match onnxruntime-node on the same pixels; forced remote gives the same logits;
//   - text similarity: the encoder's pooler output matches onnxruntime-node on the same tokens;
//   - the 46 MB model goes remote under auto (over the 64 MB budget) without a download, and
//     forced local says why it cannot;
//   - badges, latency and the capability list are on screen (screenshot: the badge colours);
//   - the server stopped: local runs go on, remote ones fail with a message, nothing hangs.
//
//   node --test tests/demos/web_demo.test.mjs
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { MODELS, startDemo } from '../../demos/web/serve.mjs';
import { tokenize } from '../../demos/web/tokenizer.mjs';
import pngjs from 'pngjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(REPO, 'build', 'demo-test');
const VIEWPORT = { width: 1280, height: 900 };

let demo, browser, page, ort;
const logs = [];

async function click(button, card) {
  await page.click(button);
  await page.waitForFunction((id) => {
    const b = document.querySelector(`#${id} .badge`);
    return b && b.textContent !== 'running ...' && b.dataset.side !== 'none';
  }, card, { timeout: 60_000, polling: 50 });
  return page.evaluate((id) => {
    const r = window.demo.results[id];
    const out = {};
    for (const [k, t] of Object.entries(r.output ?? {})) out[k] = Array.from(t.data);
    return { ...r, output: out, badge: document.querySelector(`#${id} .badge`).textContent,
      side: document.querySelector(`#${id} .badge`).dataset.side, why: document.querySelector(`#${id} .why`).textContent,
      latency: document.querySelector(`#${id} .latency`).textContent,
      progressShown: !document.querySelector(`#${id} progress`).hidden };
  }, card);
}

const setPlacement = (p) => page.evaluate((v) => window.demo.setPlacement(v), p);

function close(got, want, what, atol = 1e-5, rtol = 1e-4) {
  assert.equal(got.length, want.length, `${what}: length`);
  let bad = 0, worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    worst = Math.max(worst, d);
    if (!(d <= atol + rtol * Math.abs(want[i]))) bad++;
  }
  assert.equal(bad, 0, `${what}: ${bad} of ${want.length} values differ (max |diff| ${worst})`);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: run scripts/setup (apt-get install chromium) or set CHROMIUM`);
  const { chromium } = await import('playwright-core');
  ort = (await import('onnxruntime-node')).default;
  demo = await startDemo({ port: 0, quiet: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${demo.url}/`);
  await page.waitForFunction(() => window.demo !== undefined, null, { timeout: 30_000 });
  await page.evaluate(() => window.demo.ready);
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

describe('web demo in headless Chromium against tandem serve', { timeout: 240_000 }, () => {
  test('image classification: local (threads build) = onnxruntime-node = forced remote', async () => {
    const local = await click('#run-image', 'card-image');
    assert.equal(local.error, undefined, `${local.error}\n${logs.join('\n')}`);
    assert.equal(local.side, 'local');
    assert.equal(local.build, 'simd-threads', 'the page served by tandem serve --static is cross-origin isolated');
    assert.ok(local.progressShown, 'the download shows progress');
    assert.match(local.latency, /^[\d.]+ ms/);
    assert.match(local.why, /^local \(xnnpack.*prefer-local: local, needs [\d.]+ MB of 64\.0 MB/);
    assert.equal(await page.locator('#top5 li').count(), 5);
    const pixels = await page.evaluate(() => Array.from(window.demo.pictureTensor().data));
    const s = await ort.InferenceSession.create(MODELS.mobilenetv2.file);
    const want = (await s.run({ input: new ort.Tensor('float32', Float32Array.from(pixels), [1, 3, 224, 224]) })).logits.data;
    close(local.output.logits, Array.from(want), 'local logits vs onnxruntime-node');
    await setPlacement('remote');
    const remote = await click('#run-image', 'card-image');
    assert.equal(remote.error, undefined, remote.error);
    assert.equal(remote.side, 'remote');
    assert.match(remote.why, /^remote http:\/\/127\.0\.0\.1:\d+ model 'mobilenetv2'/);
    assert.match(remote.latency, /server compute [\d.]+ ms/);
    close(remote.output.logits, local.output.logits, 'remote vs local logits');
    await setPlacement('auto');
  });

  test('text similarity: the encoder matches onnxruntime-node on the same tokens', async () => {
    const r = await click('#run-text', 'card-text');
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.side, 'local');
    assert.ok(r.similarity > -1 && r.similarity < 1, `similarity ${r.similarity}`);
    const texts = await page.evaluate(() => [document.querySelector('#text-a').value, document.querySelector('#text-b').value]);
    const [a, b] = texts.map((t) => tokenize(t));
    const ids = new BigInt64Array(256); ids.set(a.ids, 0); ids.set(b.ids, 128);
    const mask = new BigInt64Array(256); mask.set(a.mask, 0); mask.set(b.mask, 128);
    const s = await ort.InferenceSession.create(MODELS.bert_encoder.file);
    const out = await s.run({ input_ids: new ort.Tensor('int64', ids, [2, 128]), attention_mask: new ort.Tensor('int64', mask, [2, 128]) });
    close(r.output.pooler_output, Array.from(out.pooler_output.data), 'pooler_output vs onnxruntime-node');
    assert.match(await page.locator('#similarity').textContent(), /tokens: \[CLS\] the cat sat on the mat \[SEP\]/);
  });

  test('the large model goes remote under auto, before any download; forced local says why not', async () => {
    const r = await click('#run-big', 'card-big');
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.side, 'remote');
    assert.equal(r.progressShown, false, 'nothing was downloaded');
    assert.match(r.why, /because the model needs [\d.]+ MB \(estimated from the file size\) but 64\.0 MB is available \(memory cap 64\.0 MB\)/);
    await setPlacement('local');
    const l = await click('#run-big', 'card-big');
    assert.equal(l.side, 'error');
    assert.match(l.error, /64\.0 MB/);
    await setPlacement('auto');
    await click('#run-big', 'card-big');
  });

  test('screenshot: badges in their colours, the capability list, results on screen', async () => {
    assert.equal((await click('#run-image', 'card-image')).side, 'local');  // auto again, after the forced remote run
    await click('#run-text', 'card-text');
    mkdirSync(SHOTS, { recursive: true });
    const file = path.join(SHOTS, 'web-demo.png');
    await page.screenshot({ path: file, fullPage: false });
    const png = pngjs.PNG.sync.read(readFileSync(file));  // 8-bit RGBA
    assert.equal(png.width, VIEWPORT.width);
    // The local badge (image card) is green, the remote one (large model) blue.
    for (const [card, rgb] of [['card-image', [0x0a, 0x7d, 0x45]], ['card-big', [0x1f, 0x5f, 0xbf]]]) {
      const box = await page.locator(`#${card} .badge`).boundingBox();
      assert.ok(box && box.y + box.height <= VIEWPORT.height, `${card}'s badge is on screen`);
      const x = Math.round(box.x + 3), y = Math.round(box.y + box.height / 2);
      const i = (y * png.width + x) * 4;
      const got = Array.from(png.data.subarray(i, i + 3));
      assert.ok(got.every((v, k) => Math.abs(v - rgb[k]) <= 8), `${card} badge colour ${got} (want ${rgb})`);
    }
    const caps = await page.locator('#caps li').allTextContents();
    assert.ok(caps.some((c) => /WebAssembly SIMD/.test(c)) && caps.some((c) => /cross-origin isolated/.test(c)), caps.join(', '));
    assert.ok((await page.locator('#events li').count()) >= 4, 'route events are listed');
  });

  test('server stopped: local runs go on, remote runs fail with a clear message and no hang', async () => {
    await demo.stop();
    const local = await click('#run-image', 'card-image');
    assert.equal(local.side, 'local', local.error);
    const t0 = Date.now();
    const big = await click('#run-big', 'card-big');
    assert.equal(big.side, 'error');
    assert.match(big.error, /cannot reach the server/);
    assert.ok(Date.now() - t0 < 30_000, `failed after ${Date.now() - t0} ms`);
    await setPlacement('remote');
    const forced = await click('#run-text', 'card-text');
    assert.equal(forced.side, 'error');
    assert.match(forced.error, /cannot reach the server|remote/);
  });
});
