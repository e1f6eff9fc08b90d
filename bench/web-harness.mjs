// The measuring half of bench/web.mjs, shared by Node and the Chromium page (bench/web-page.html):
// plain ES module, no Node APIs, imports the runtimes lazily so that cold-start timing can start
// before they load. Times in ms from performance.now().

// runtime: { name, create(bytes) -> session, Tensor, info(session) }.
// kind 'tandem': url = the tandem-web entry; kind 'ort': url = onnxruntime-web (wasm EP only).
export async function loadRuntime(kind, { url, threads }) {
  if (kind === 'ort') {
    const m = await import(url);
    const ort = m.InferenceSession ? m : m.default;
    ort.env.wasm.numThreads = threads;
    ort.env.logLevel = 'error';
    return {
      name: 'ort', Tensor: ort.Tensor, version: ort.env.versions?.web,
      create: (bytes) => ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }),
      info: () => ({ numThreads: ort.env.wasm.numThreads, simd: ort.env.wasm.simd }),
    };
  }
  if (kind === 'tandem') {
    const t = await import(url);
    return {
      name: 'tandem', Tensor: t.Tensor,
      create: (bytes) => t.InferenceSession.create(bytes, { threads }),
      info: (s) => ({ placement: plain(s?.placement), diagnostics: plain(t.env?.diagnostics) }),
    };
  }
  throw new Error(`unknown runtime '${kind}'`);
}

const plain = (x) => (x === undefined ? null : JSON.parse(JSON.stringify(x)));

const CTORS = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
  bool: Uint8Array, float16: Uint16Array,
};

// inputs: { name: { dtype, dims, bytes: Uint8Array (little-endian, C order) } }
export function makeFeeds(rt, inputs) {
  const feeds = {};
  for (const [name, { dtype, dims, bytes }] of Object.entries(inputs)) {
    const Ctor = CTORS[dtype];
    if (!Ctor) throw new Error(`input ${name}: unsupported dtype ${dtype}`);
    const data = new Ctor(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    feeds[name] = new rt.Tensor(dtype, data, dims);
  }
  return feeds;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN;
}

// Float copies of the outputs (for the cross-check between the runtimes).
function snapshot(out) {
  const r = {};
  for (const [k, v] of Object.entries(out)) r[k] = Float64Array.from(v.data, Number);
  return r;
}

// Largest |a - b| over the outputs both have.
export function maxAbsDiff(a, b) {
  let m = 0;
  for (const k of Object.keys(a)) {
    if (!b[k] || b[k].length !== a[k].length) return NaN;
    for (let i = 0; i < a[k].length; ++i) m = Math.max(m, Math.abs(a[k][i] - b[k][i]));
  }
  return m;
}

// `reps` fresh sessions: create -> first result (the runtime itself is already loaded).
export async function loadFirst(rt, modelBytes, inputs, reps) {
  const times = [];
  let outputs;
  let info;
  for (let i = 0; i < reps; ++i) {
    const bytes = modelBytes.slice();
    const feeds = makeFeeds(rt, inputs);
    const t0 = performance.now();
    const s = await rt.create(bytes);
    const out = await s.run(feeds);
    times.push(performance.now() - t0);
    if (i === 0) {
      outputs = snapshot(out);
      info = rt.info(s);
    }
    await s.release();
  }
  return { times, outputs, info };
}

// Warm latency, both runtimes on one session each: `warmup` untimed runs per side, then
// `rounds` rounds of `runs` timed runs per side, alternating which side goes first.
export async function warmLatency(rts, modelBytes, inputs, { warmup, rounds, runs }, log = () => {}) {
  const side = [];
  for (const rt of rts) {
    const s = await rt.create(modelBytes.slice());
    const feeds = makeFeeds(rt, inputs);
    for (let i = 0; i < warmup; ++i) await s.run(feeds);
    side.push({ rt, s, feeds, times: [] });
  }
  for (let r = 0; r < rounds; ++r) {
    const order = r % 2 ? [...side].reverse() : side;
    for (const x of order) {
      for (let i = 0; i < runs; ++i) {
        const t0 = performance.now();
        await x.s.run(x.feeds);
        x.times.push(performance.now() - t0);
      }
    }
    log(`round ${r + 1}/${rounds}: ${side.map((x) => `${x.rt.name} ${median(x.times.slice(-runs)).toFixed(2)} ms`).join(', ')}`);
  }
  for (const x of side) await x.s.release();
  return Object.fromEntries(side.map((x) => [x.rt.name, x.times]));
}

// One model, both runtimes: load + first run (median of `loadReps`), warm latency, output check.
// opts: { tandemUrl, ortUrl, threads, loadReps, warmup, rounds, runs }
export async function benchModel(modelBytes, inputs, opts, log = () => {}) {
  const tandem = await loadRuntime('tandem', { url: opts.tandemUrl, threads: opts.threads });
  const ort = await loadRuntime('ort', { url: opts.ortUrl, threads: opts.threads });
  const res = { tandem: {}, ort: {} };
  for (const rt of [tandem, ort]) {
    // The first session also instantiates the runtime's wasm: timed apart, as `init`.
    const init = await loadFirst(rt, modelBytes, inputs, 1);
    const l = await loadFirst(rt, modelBytes, inputs, opts.loadReps);
    res[rt.name] = { init: init.times[0], load: median(l.times), loadTimes: l.times, info: l.info, outputs: l.outputs };
    log(`${rt.name}: first session ${res[rt.name].init.toFixed(1)} ms, then load + first run ${res[rt.name].load.toFixed(1)} ms (median of ${opts.loadReps})`);
  }
  res.maxAbsDiff = maxAbsDiff(res.ort.outputs, res.tandem.outputs);
  res.maxAbsRef = Math.max(...Object.values(res.ort.outputs).map((a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
  delete res.tandem.outputs;
  delete res.ort.outputs;
  const times = await warmLatency([tandem, ort], modelBytes, inputs, opts, log);
  for (const k of ['tandem', 'ort']) {
    res[k].median = median(times[k]);
    res[k].min = Math.min(...times[k]);
    res[k].samples = times[k].length;
  }
  res.ratio = res.tandem.median / res.ort.median;
  return res;
}

// Cold start: module import -> first result in a fresh process / page. The model bytes are
// already in memory; what is timed is import (fetch/compile the wasm), create and one run.
export async function coldStart(kind, modelBytes, inputs, { url, threads }) {
  const t0 = performance.now();
  const rt = await loadRuntime(kind, { url, threads });
  const t1 = performance.now();
  const s = await rt.create(modelBytes);
  await s.run(makeFeeds(rt, inputs));
  const t2 = performance.now();
  await s.release();
  return { ms: t2 - t0, importMs: t1 - t0 };
}

// Base64 <-> bytes, for handing inputs to the page.
export function fromBase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; ++i) out[i] = bin.charCodeAt(i);
  return out;
}
