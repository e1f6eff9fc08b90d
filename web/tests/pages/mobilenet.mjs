// The browser test page: runs MobileNetV2 on a synthetic picture with the Tandem package, on the
// main thread and then in a module Web Worker, and reports the results in the page and in
// window.__result (window.__error on failure). Query parameters (all optional):
//   model=URL     the model (default /tests/models/generated/mobilenetv2.onnx)
//   threads=N     InferenceSession option `threads` (default: the package's choice)
//   worker=0      skip the Web Worker run
//   pkg=URL       the package entry (default /web/dist/index.js)
import { SIZE, syntheticInput, topK } from './synthetic.mjs';

const params = new URLSearchParams(location.search);
const PKG = params.get('pkg') || '/web/dist/index.js';
const MODEL = params.get('model') || '/tests/models/generated/mobilenetv2.onnx';
const THREADS = params.has('threads') ? Number(params.get('threads')) : undefined;
const WORKER = params.get('worker') !== '0';

const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

function paint(rgba) {
  const ctx = $('canvas').getContext('2d');
  ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba), SIZE, SIZE), 0, 0);
}

function showTop5(top5) {
  $('top5').tBodies[0].innerHTML = top5
    .map((t, i) => `<tr><td>${i + 1}</td><td>${t.index}</td><td>${t.score.toFixed(4)}</td></tr>`).join('');
}

async function runMain(input) {
  const { InferenceSession, Tensor, env } = await import(PKG);
  const t0 = performance.now();
  const session = await InferenceSession.create(MODEL, THREADS === undefined ? {} : { threads: THREADS });
  const t1 = performance.now();
  const feeds = { [session.inputNames[0]]: new Tensor('float32', input.data, input.dims) };
  let out = await session.run(feeds);
  const t2 = performance.now();
  const warm = [];
  for (let i = 0; i < 3; ++i) {
    const s = performance.now();
    out = await session.run(feeds);
    warm.push(performance.now() - s);
  }
  warm.sort((a, b) => a - b);
  const logits = out[session.outputNames[0]];
  const result = {
    logits: Array.from(logits.data),
    dims: Array.from(logits.dims),
    top5: topK(logits.data, 5),
    placement: session.placement,
    diagnostics: env.diagnostics,
    crossOriginIsolated: self.crossOriginIsolated === true,
    latency: { createMs: t1 - t0, firstRunMs: t2 - t1, warmMedianMs: warm[1] },
  };
  await session.release();
  return result;
}

function runWorker(input) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
    const done = (fn, v) => { worker.terminate(); fn(v); };
    worker.onmessage = ({ data }) => (data.error ? done(reject, new Error(`in the worker: ${data.error}`)) : done(resolve, data));
    worker.onerror = (e) => { e.preventDefault?.(); done(reject, new Error(`worker failed: ${e.message || 'error event (module failed to load?)'}`)); };
    worker.onmessageerror = () => done(reject, new Error('worker message could not be deserialised'));
    const data = input.data.slice();
    worker.postMessage({ pkg: new URL(PKG, location.href).href, model: new URL(MODEL, location.href).href, data, dims: input.dims, threads: THREADS }, [data.buffer]);
  });
}

async function main() {
  const input = syntheticInput(SIZE);
  paint(input.rgba);
  status(`running ${MODEL} on the main thread ...`);
  const result = await runMain(input);
  showTop5(result.top5);
  const l = result.latency;
  $('latency').textContent = `main thread: create ${fmt(l.createMs)} ms, first run ${fmt(l.firstRunMs)} ms, warm run ${fmt(l.warmMedianMs)} ms`;
  $('info').textContent = JSON.stringify({ placement: result.placement, diagnostics: result.diagnostics, crossOriginIsolated: result.crossOriginIsolated }, null, 2);
  if (WORKER) {
    status('running in a Web Worker ...');
    result.worker = await runWorker(input);
    const w = result.worker;
    $('worker').textContent = `Web Worker: top-1 class ${w.top5[0].index}, first run ${fmt(w.latency.firstRunMs)} ms, build ${w.diagnostics?.build}`;
  }
  status(`done: top-1 class ${result.top5[0].index}`);
  window.__result = result;
}

main().catch((e) => {
  const message = e && e.message ? e.message : String(e);
  $('status').className = 'error';
  status(`error: ${message}`);
  window.__error = message;
});
