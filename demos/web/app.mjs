// The web demo: three scenarios on hybrid InferenceSessions (tandem-web), each showing where its
// call ran and why. The page is served by `tandem serve --static` (demos/web/serve.mjs), so the
// remote is this page's own origin. window.demo exposes the same actions to the browser test.
import { InferenceSession, Tensor, env } from './tandem/index.js';
import { tokenize } from './tokenizer.mjs';

const $ = (sel, root = document) => root.querySelector(sel);
const MB = 1024 * 1024;
const SIZE = 224;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

const results = {};  // card id -> the last outcome (for the test and for humans in the console)
const sessions = new Map();  // `${model}|${placement}|${budget}` -> Promise<InferenceSession>
let labels = [];

const placement = () => $('input[name=placement]:checked').value;
const budgetBytes = () => Math.max(1, Number($('#budget').value) || 64) * MB;

function logEvent(model, e) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${model}: ${e.kind} ${e.side} (${e.reason})`;
  $('#events').prepend(li);
}

// One session per model, placement and budget: changing either places the model again.
function sessionFor(card) {
  const model = card.dataset.model;
  const key = `${model}|${placement()}|${budgetBytes()}`;
  if (!sessions.has(key)) {
    const bar = $('progress.download', card);
    const created = InferenceSession.create(`./models/${model}.onnx`, {
      placement: placement(),
      memoryCap: budgetBytes(),
      remote: { url: location.origin, model, timeoutMs: 20000, retries: 1 },
      deadlineMs: 30000,
      onRoute: (e) => logEvent(model, e),
      onProgress: (loaded, total) => {
        bar.hidden = false;
        bar.max = total || loaded || 1;
        bar.value = loaded;
        bar.title = `${(loaded / MB).toFixed(1)} of ${((total || loaded) / MB).toFixed(1)} MB`;
      },
    });
    created.catch(() => sessions.delete(key));  // a failed creation is retried next time
    sessions.set(key, created);
  }
  return sessions.get(key);
}

function show(card, outcome) {
  const badge = $('.badge', card);
  if (outcome.error) {
    badge.dataset.side = 'error';
    badge.textContent = 'failed';
    $('.why', card).textContent = outcome.error;
    $('.latency', card).textContent = '';
  } else {
    badge.dataset.side = outcome.ranOn;
    badge.textContent = `${outcome.ranOn === 'local' ? 'local' : 'remote'}${outcome.fellBack ? ' (fallback)' : ''}`;
    const detail = outcome.ranOn === 'remote' ? ` (server compute ${outcome.computeMs.toFixed(1)} ms, network ${outcome.networkMs.toFixed(1)} ms)` : '';
    $('.latency', card).textContent = `${outcome.totalMs.toFixed(1)} ms${detail}`;
    $('.why', card).textContent = `${outcome.where}: ${outcome.fellBack ? outcome.fallbackReason : outcome.reason}`;
  }
  results[card.id] = outcome;
}

// Runs one scenario on its card: disables the button, shows where it ran, or the error.
async function runCard(card, feedsFor, render) {
  const button = $('button.run', card);
  button.disabled = true;
  $('.badge', card).dataset.side = 'none';
  $('.badge', card).textContent = 'running ...';
  try {
    const session = await sessionFor(card);
    const out = await session.run(await feedsFor(session));
    const r = session.lastRun;
    show(card, { ranOn: r.ranOn, where: r.where, fellBack: r.fellBack, fallbackReason: r.fallbackReason,
      reason: session.placement.reason, totalMs: r.totalMs, computeMs: r.computeMs, networkMs: r.networkMs,
      placement: placement(), build: session.placement.build ?? null });
    render(out);
    results[card.id].output = out;
    capabilities(session);
  } catch (e) {
    show(card, { error: e.message, code: e.code ?? null, placement: placement() });
  } finally {
    button.disabled = false;
  }
  return results[card.id];
}

// ---- image classification ----------------------------------------------------------------------

function samplePicture() {
  const ctx = $('#picture').getContext('2d');
  const g = ctx.createLinearGradient(0, 0, SIZE, SIZE);
  g.addColorStop(0, '#f6d365');
  g.addColorStop(1, '#fda085');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.fillStyle = '#2b5876';
  ctx.beginPath();
  ctx.arc(112, 120, 60, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = '#fff';
  ctx.fillRect(40, 30, 50, 30);
}

async function drawFile(file) {
  const bitmap = await createImageBitmap(file);
  const ctx = $('#picture').getContext('2d');
  // Centre crop to a square, then scale to 224 x 224 (as torchvision's transforms do).
  const side = Math.min(bitmap.width, bitmap.height);
  ctx.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, SIZE, SIZE);
}

function pictureTensor() {
  const { data } = $('#picture').getContext('2d').getImageData(0, 0, SIZE, SIZE);
  const x = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    for (let c = 0; c < 3; c++) x[c * SIZE * SIZE + i] = (data[4 * i + c] / 255 - MEAN[c]) / STD[c];
  }
  return new Tensor('float32', x, [1, 3, SIZE, SIZE]);
}

function showTop5(out) {
  const logits = out.logits.data;
  const max = Math.max(...logits);
  const exp = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  const top = exp.map((p, i) => ({ i, p: p / sum })).sort((a, b) => b.p - a.p).slice(0, 5);
  $('#top5').innerHTML = '';
  for (const t of top) {
    const li = document.createElement('li');
    li.textContent = `${labels[t.i] ?? `class ${t.i}`} (${(100 * t.p).toFixed(1)}%)`;
    $('#top5').append(li);
  }
}

// ---- text similarity ---------------------------------------------------------------------------

async function textFeeds() {
  const a = tokenize($('#text-a').value);
  const b = tokenize($('#text-b').value);
  const ids = new BigInt64Array(2 * 128);
  const mask = new BigInt64Array(2 * 128);
  ids.set(a.ids, 0); ids.set(b.ids, 128);
  mask.set(a.mask, 0); mask.set(b.mask, 128);
  textFeeds.pieces = [a.pieces, b.pieces];
  return { input_ids: new Tensor('int64', ids, [2, 128]), attention_mask: new Tensor('int64', mask, [2, 128]) };
}

function showSimilarity(out) {
  const v = out.pooler_output.data;
  const h = v.length / 2;
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < h; i++) { dot += v[i] * v[h + i]; na += v[i] * v[i]; nb += v[h + i] * v[h + i]; }
  const cos = dot / Math.sqrt(na * nb);
  $('#similarity').innerHTML = '';
  const p = document.createElement('p');
  p.innerHTML = `cosine similarity <strong>${cos.toFixed(4)}</strong>`;
  const tokens = document.createElement('p');
  tokens.className = 'note';
  tokens.textContent = `tokens: ${textFeeds.pieces[0].join(' ')}`;
  $('#similarity').append(p, tokens);
  results['card-text'].similarity = cos;
}

// ---- the large model ---------------------------------------------------------------------------

function bigFeeds() {
  const x = new Float32Array(784);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 37) % 101) / 101;
  return { input: new Tensor('float32', x, [1, 784]) };
}

function showBig(out) {
  const p = Array.from(out.probabilities.data);
  const best = p.indexOf(Math.max(...p));
  $('#big-result').textContent = `most likely class ${best} (p = ${p[best].toFixed(4)})`;
}

// ---- what the browser offers -------------------------------------------------------------------

let probed = null;
async function capabilities(session) {
  probed ??= await env.probe();
  const d = session?.placement.device;
  const items = [
    ['WebAssembly SIMD', probed.simd],
    [`threads (${probed.hardwareConcurrency} cores)`, probed.threadsSupported],
    ['cross-origin isolated', globalThis.crossOriginIsolated === true],
    [`device memory ${navigator.deviceMemory ? `${navigator.deviceMemory} GB` : 'unknown'}`, !!navigator.deviceMemory],
  ];
  if (session?.placement.build) items.push([`build ${session.placement.build}`, true]);
  if (d) items.push([`wasm heap room ${(d.heapBytes / MB).toFixed(0)} MB`, d.heapBytes > 0]);
  if (d?.storageFreeBytes) items.push([`storage ${(d.storageFreeBytes / 1e9).toFixed(1)} GB free`, true]);
  $('#caps').innerHTML = '';
  for (const [text, ok] of items) {
    const li = document.createElement('li');
    li.className = ok ? 'yes' : 'no';
    li.textContent = text;
    $('#caps').append(li);
  }
}

// ---- wiring ------------------------------------------------------------------------------------

const runImage = () => runCard($('#card-image'), () => ({ input: pictureTensor() }), showTop5);
const runText = () => runCard($('#card-text'), textFeeds, showSimilarity);
const runBig = () => runCard($('#card-big'), bigFeeds, showBig);

$('#run-image').addEventListener('click', runImage);
$('#run-text').addEventListener('click', runText);
$('#run-big').addEventListener('click', runBig);
$('#sample').addEventListener('click', samplePicture);
$('#file').addEventListener('change', (e) => e.target.files[0] && drawFile(e.target.files[0]));
const drop = $('#drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer.files[0];
  if (file?.type.startsWith('image/')) drawFile(file);
});

samplePicture();
const ready = Promise.all([
  capabilities(null),
  fetch('./models/imagenet_labels.json').then((r) => (r.ok ? r.json() : [])).then((l) => { labels = l; }).catch(() => {}),
]);
window.demo = { ready, results, runImage, runText, runBig, pictureTensor,
  setPlacement: (p) => { $(`input[name=placement][value=${p}]`).checked = true; } };
