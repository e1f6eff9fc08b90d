// The browser hybrid test page: hybrid InferenceSessions of the seed MLP from a page on one origin
// against tandem serve on another. Reports every scenario in window.__result (window.__error when
// the page itself breaks). Query parameters:
//   remote=URL   a tandem serve that allows this page's origin (--allow-origin)
//   nocors=URL   a tandem serve that does not (the browser refuses its answers)
//   model=URL    the model here (default /tests/models/generated/seed_mlp.onnx)
const params = new URLSearchParams(location.search);
const REMOTE = params.get('remote');
const NOCORS = params.get('nocors');
const MODEL = params.get('model') || '/tests/models/generated/seed_mlp.onnx';
const log = (line) => { document.getElementById('log').textContent += `${line}\n`; };

function input(Tensor) {
  const x = new Float32Array(784);
  let v = 7;
  for (let i = 0; i < x.length; i++) { v = (v * 1103515245 + 12345) % 2147483648; x[i] = v / 2147483648; }
  return { input: new Tensor('float32', x, [1, 784]) };
}

// One scenario: create, run once, and report placement, run report, events and the output.
async function scenario(InferenceSession, Tensor, name, options, runOptions = {}) {
  const events = [];
  const t0 = performance.now();
  try {
    const s = await InferenceSession.create(MODEL, { ...options, onRoute: (e) => events.push(e) });
    const out = await s.run(input(Tensor), undefined, runOptions);
    const r = { name, placement: { where: s.placement.where, fallback: s.placement.fallback, reason: s.placement.reason,
      build: s.placement.build ?? null, device: s.placement.device }, lastRun: s.lastRun, events,
    output: Array.from(out.probabilities.data), ms: performance.now() - t0 };
    log(`${name}: ${s.lastRun.ranOn} (${s.lastRun.where})${s.lastRun.fellBack ? ` after ${s.lastRun.fallbackReason}` : ''}`);
    return r;
  } catch (e) {
    log(`${name}: error ${e.message}`);
    return { name, error: String(e.message), code: e.code ?? null, events, ms: performance.now() - t0 };
  }
}

try {
  const { InferenceSession, Tensor } = await import('/web/dist/index.js');
  const remote = (url) => ({ url, model: 'seed_mlp', timeoutMs: 10000, retries: 0 });
  const results = [];
  for (const [name, options, runOptions] of [
    ['local', { remote: remote(REMOTE) }],
    ['remote', { remote: remote(REMOTE), placement: 'remote' }],
    ['too-large', { remote: remote(REMOTE), memoryCap: 512 * 1024 }],
    ['per-call-remote', { remote: remote(REMOTE) }, { placement: 'remote' }],
    ['no-cors-prefer-remote', { remote: remote(NOCORS), placement: 'prefer-remote' }],
    ['no-cors-remote-only', { remote: remote(NOCORS), placement: 'remote' }],
  ]) results.push(await scenario(InferenceSession, Tensor, name, options, runOptions));
  window.__result = { origin: location.origin, crossOriginIsolated, results };
  document.getElementById('status').textContent = 'done';
} catch (e) {
  window.__error = String(e?.stack ?? e);
  document.getElementById('status').textContent = `error: ${e.message}`;
}
