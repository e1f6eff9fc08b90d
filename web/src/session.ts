// LocalSession: a model in this page / process, over Tandem's C API (core/runtime/tandem.h).
// InferenceSession (hybrid.ts) wraps it with the router and the remote side.

import { CacheReport, modelBytes, ProgressCallback } from './model_source.js';
import { BuildName, loadBuild, WasmModule } from './runtime.js';
import { arrayFor, Tensor, TensorType, typeCode, typeName } from './tensor.js';

export interface LocalOptions {
  /** Threads for this session: 0 or undefined = one per core (capped, see env.diagnostics.maxThreads). */
  threads?: number;
  /** Download progress in bytes; total is 0 when the server does not say. */
  onProgress?: ProgressCallback;
  /** Keep downloaded models: browsers use the Cache API; Node a folder (a path, or true = ~/.cache/tandem/models). */
  cache?: boolean | string;
  /** Graph fusions (Conv+bias+activation, GELU, LayerNorm, ...). Default true. */
  optimize?: boolean;
}

export interface ValueMetadata {
  name: string;
  /** Element type, or 'unknown' when the model does not say. */
  type: TensorType | string;
  /** Dimensions: numbers, or the symbolic dimension's name ('batch'), or '?' when unnamed; null = rank unknown. */
  shape: Array<number | string> | null;
}

export interface LocalPlacement {
  build: BuildName;
  threads: number;
  /** Backend per partition for the last shapes run, e.g. ['xnnpack: 64 nodes']. */
  partitions: string[];
  reason: string;
}

export interface ModelInfo {
  irVersion: number;
  producer: string;
  producerVersion: string;
  /** Opset version per domain ('ai.onnx' for the default domain). */
  opsets: Record<string, number>;
  /** Node count and nodes per operator ('domain.Op' outside the default domain), after fusions. */
  nodes: number;
  ops: Record<string, number>;
}

// tandem_status values (core/runtime/tandem.h).
const STATUS_NAMES = ['ok', 'invalid argument', 'invalid model', 'unsupported', 'out of memory', 'not found',
  'i/o error', 'internal error', 'unavailable', 'deadline exceeded'];
const TANDEM_OUT_OF_MEMORY = 4;

const MB = 1024 * 1024;

export class Api {
  constructor(readonly m: WasmModule) {}
  get heap(): Uint8Array { return this.m.HEAPU8; }  // re-read: memory growth replaces the buffer
  view<T>(Ctor: { new (b: ArrayBufferLike, o: number, n: number): T }, ptr: number, count: number): T {
    return new Ctor(this.m.HEAPU8.buffer, ptr, count);
  }
  string(ptr: number): string { return ptr ? this.m.UTF8ToString(ptr >>> 0) : ''; }
  malloc(bytes: number): number {
    const p = this.m._malloc(Math.max(bytes, 1)) >>> 0;  // heaps past 2 GiB: pointers are unsigned
    if (!p) throw new Error(`out of wasm memory: cannot allocate ${(bytes / MB).toFixed(1)} MB (the wasm32 heap ends at 4096 MB)`);
    return p;
  }
  free(ptr: number): void { if (ptr) this.m._free(ptr); }
  check(status: number, what: string): void {
    if (status === 0) return;
    const message = this.string(this.m._tandem_last_error());
    const err = new Error(`${what}: ${message || STATUS_NAMES[status] || `status ${status}`}`);
    (err as Error & { code?: string }).code = (STATUS_NAMES[status] ?? 'error').replace(/[ /]/g, '_');
    throw err;
  }
  /** Bytes the heap can still give: the 4 GiB ceiling minus what is in use now. */
  available(): number {
    return Number(this.m._tandem_wasm_available_bytes());
  }
}

const finalizer = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry<() => void>((release) => release())
  : null;

export class LocalSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMetadata[];
  readonly outputMetadata: readonly ValueMetadata[];
  /** Where the model came from and what the cache did. */
  readonly source: { model: string; cache: CacheReport; bytes: number };
  private readonly api: Api;
  private handle: number;
  private readonly build: BuildName;
  private readonly threads: number;
  private readonly reason: string;
  private readonly token = {};

  private constructor(api: Api, handle: number, build: BuildName, threads: number, reason: string,
                      source: { model: string; cache: CacheReport; bytes: number }) {
    this.api = api;
    this.handle = handle;
    this.build = build;
    this.threads = threads;
    this.reason = reason;
    this.source = source;
    const m = api.m;
    const names = (count: number, get: (h: number, i: number) => number) =>
      Array.from({ length: count }, (_, i) => api.string(get(handle, i)));
    this.inputNames = Object.freeze(names(m._tandem_session_input_count(handle), m._tandem_session_input_name));
    this.outputNames = Object.freeze(names(m._tandem_session_output_count(handle), m._tandem_session_output_name));
    this.inputMetadata = Object.freeze(this.inputNames.map((name, i) => this.metadata(name, 0, i)));
    this.outputMetadata = Object.freeze(this.outputNames.map((name, i) => this.metadata(name, 1, i)));
    finalizer?.register(this, () => m._tandem_session_free(handle), this.token);
  }

  /** Loads a model (URL, Node file path, or bytes) and prepares it to run. `memoryCap` lowers the
   * heap's budget (bytes; the router's cap). */
  static async create(model: string | URL | ArrayBuffer | ArrayBufferView, options: LocalOptions = {},
                      memoryCap = 0): Promise<LocalSession> {
    const threads = options.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`threads must be a non-negative integer, got ${threads}`);
    const [{ bytes, source, cache }, loaded] = await Promise.all([
      modelBytes(model, options.cache, options.onProgress),
      loadBuild(threads),
    ]);
    const api = new Api(loaded.module);
    const m = api.m;

    // Refuse what cannot fit before copying anything into the heap: the file's bytes and the
    // weights decoded from them are both resident while loading.
    const heap = api.available();
    const available = memoryCap > 0 ? Math.min(memoryCap, heap) : heap;
    if (2 * bytes.length > available) {
      const err = new Error(`the model (${(bytes.length / MB).toFixed(1)} MB) cannot be loaded here: loading needs about ` +
        `${(2 * bytes.length / MB).toFixed(1)} MB but ${(available / MB).toFixed(1)} MB is available ` +
        `(${available < heap ? 'the memory cap' : 'wasm32 heaps end at 4096 MB'}); run it remotely or on a device with more memory`);
      (err as Error & { code?: string }).code = 'out_of_memory';
      throw err;
    }

    const data = api.malloc(bytes.length);
    const opts = api.malloc(32);
    const out = api.malloc(4);
    try {
      api.heap.set(bytes, data);
      m._tandem_session_options_init(opts);
      api.view(Int32Array, opts + 4, 1)[0] = loaded.threads;
      api.view(Int32Array, opts + 8, 1)[0] = options.optimize === false ? 0 : 1;
      // The core's memory plan refuses a model whose steady state does not fit in what is left.
      api.view(BigUint64Array, opts + 16, 1)[0] = BigInt(Math.max(available - bytes.length, 1));
      const status = m._tandem_session_load_bytes_with(data, bytes.length, opts, out);
      if (status === TANDEM_OUT_OF_MEMORY) {
        api.check(status, `the model from ${source} does not fit in this WebAssembly heap (4096 MB at most)`);
      }
      api.check(status, `cannot load the model from ${source}`);
      const handle = api.view(Uint32Array, out, 1)[0];
      return new LocalSession(api, handle, loaded.build, loaded.threads, loaded.reason,
                                  { model: source, cache, bytes: bytes.length });
    } finally {
      api.free(data);
      api.free(opts);
      api.free(out);
    }
  }

  /** Runs the model. Feeds are keyed by input name; every input must be given. */
  async run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    return this.runSync(feeds, fetches);
  }

  /** run() without the Promise: for callers that measure or that are already on a worker. */
  runSync(feeds: Record<string, Tensor>, fetches?: readonly string[]): Record<string, Tensor> {
    const handle = this.live('run');
    if (feeds === null || typeof feeds !== 'object') throw new TypeError('feeds must be an object of name -> Tensor');
    for (const name of Object.keys(feeds)) {
      if (!this.inputNames.includes(name)) {
        throw new Error(`'${name}' is not an input of this model; its inputs are ${this.inputNames.map((n) => `'${n}'`).join(', ')}`);
      }
    }
    const wanted = fetches ?? this.outputNames;
    for (const name of wanted) {
      if (!this.outputNames.includes(name)) {
        throw new Error(`'${name}' is not an output of this model; its outputs are ${this.outputNames.map((n) => `'${n}'`).join(', ')}`);
      }
    }
    const { api } = this;
    const m = api.m;
    const inputs = this.inputNames.map((name) => {
      const t = feeds[name];
      if (t === undefined) throw new Error(`input '${name}' is missing; the model needs ${this.inputNames.map((n) => `'${n}'`).join(', ')}`);
      if (!(t instanceof Tensor)) throw new TypeError(`input '${name}' must be a Tensor`);
      return t;
    });
    const nIn = inputs.length;
    const nOut = this.outputNames.length;
    const table = api.malloc(4 * (nIn + nOut));
    const made: number[] = [];
    try {
      for (let i = 0; i < nIn; ++i) made.push(this.toWasm(inputs[i], this.inputNames[i]));
      api.view(Uint32Array, table, nIn).set(made);
      api.check(m._tandem_session_run(handle, table, nIn, table + 4 * nIn, nOut), 'run failed');
      const outHandles = Array.from(api.view(Uint32Array, table + 4 * nIn, nOut));
      const result: Record<string, Tensor> = {};
      try {
        outHandles.forEach((h, i) => {
          if (wanted.includes(this.outputNames[i])) result[this.outputNames[i]] = this.fromWasm(h, this.outputNames[i]);
        });
      } finally {
        for (const h of outHandles) m._tandem_tensor_free(h);
      }
      return result;
    } finally {
      for (const h of made) m._tandem_tensor_free(h);
      api.free(table);
    }
  }

  /** Where the last run (or the load, for fixed shapes) was placed, and why. */
  get placement(): LocalPlacement {
    const handle = this.live('placement');
    const text = this.api.string(this.api.m._tandem_session_placement(handle));
    return { build: this.build, threads: this.threads, partitions: text.split('\n').filter((l) => l.length > 0), reason: this.reason };
  }

  /** The wasm module's C API (the router lives there too). */
  get wasm(): Api { return this.api; }

  /** IR version, producer, opsets and the operators of the graph as Tandem runs it (after fusions). */
  get modelInfo(): ModelInfo {
    const handle = this.live('modelInfo');
    const info: ModelInfo = { irVersion: 0, producer: '', producerVersion: '', opsets: {}, nodes: 0, ops: {} };
    for (const line of this.api.string(this.api.m._tandem_session_model_info(handle)).split('\n')) {
      const [key, a = '', b = ''] = line.split('\t');
      if (key === 'ir_version') info.irVersion = Number(a);
      else if (key === 'producer') [info.producer, info.producerVersion] = [a, b];
      else if (key === 'opset') info.opsets[a] = Number(b);
      else if (key === 'nodes') info.nodes = Number(a);
      else if (key === 'op') info.ops[a] = Number(b);
    }
    return info;
  }

  /** The memory plan for concrete input shapes (bytes): what a router compares with a budget. */
  memoryFacts(shapes: Record<string, readonly number[]>): { weights: number; arena: number; inputs: number; outputs: number; peak: number } {
    const handle = this.live('memoryFacts');
    const { api } = this;
    const dims: number[] = [];
    const ranks = this.inputNames.map((name) => {
      const s = shapes[name];
      if (!s) throw new Error(`memoryFacts needs a shape for input '${name}'`);
      dims.push(...s);
      return s.length;
    });
    const dimsPtr = api.malloc(8 * dims.length);
    const ranksPtr = api.malloc(4 * ranks.length);
    const out = api.malloc(40);
    try {
      api.view(BigInt64Array, dimsPtr, dims.length).set(dims.map((d) => BigInt(d)));
      api.view(Uint32Array, ranksPtr, ranks.length).set(ranks);
      api.check(api.m._tandem_session_memory_facts(handle, dimsPtr, ranksPtr, ranks.length, out), 'memoryFacts');
      const f = Array.from(api.view(BigUint64Array, out, 5), Number);
      return { weights: f[0], arena: f[1], inputs: f[2], outputs: f[3], peak: f[4] };
    } finally {
      api.free(dimsPtr);
      api.free(ranksPtr);
      api.free(out);
    }
  }

  /** Frees the model's memory. The session cannot run afterwards. */
  async release(): Promise<void> {
    if (this.handle === 0) return;
    finalizer?.unregister(this.token);
    this.api.m._tandem_session_free(this.handle);
    this.handle = 0;
  }

  private live(what: string): number {
    if (this.handle === 0) throw new Error(`${what}: this session was released; create a new one`);
    return this.handle;
  }

  private metadata(name: string, isOutput: number, index: number): ValueMetadata {
    const m = this.api.m;
    const rank = m._tandem_session_io_rank(this.handle, isOutput, index);
    const shape = rank < 0 ? null : Array.from({ length: rank }, (_, axis) => {
      const d = Number(m._tandem_session_io_dim(this.handle, isOutput, index, axis));
      return d >= 0 ? d : (this.api.string(m._tandem_session_io_dim_name(this.handle, isOutput, index, axis)) || '?');
    });
    return { name, type: typeName(m._tandem_session_io_dtype(this.handle, isOutput, index)), shape };
  }

  private toWasm(t: Tensor, name: string): number {
    const { api } = this;
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const data = api.malloc(bytes.length);
    const shape = api.malloc(8 * t.dims.length);
    const out = api.malloc(4);
    try {
      api.heap.set(bytes, data);
      api.view(BigInt64Array, shape, t.dims.length).set(t.dims.map((d) => BigInt(d)));
      api.check(api.m._tandem_tensor_create(typeCode(t.type), shape, t.dims.length, data, bytes.length, out), `input '${name}'`);
      return api.view(Uint32Array, out, 1)[0];
    } finally {
      api.free(data);
      api.free(shape);
      api.free(out);
    }
  }

  private fromWasm(h: number, name: string): Tensor {
    const { api } = this;
    const m = api.m;
    const code = m._tandem_tensor_dtype(h);
    const Ctor = arrayFor(code);
    const rank = m._tandem_tensor_rank(h);
    const dims = Array.from(api.view(BigInt64Array, m._tandem_tensor_shape(h) >>> 0, rank), Number);
    const byteSize = m._tandem_tensor_byte_size(h) >>> 0;
    const at = m._tandem_tensor_data(h) >>> 0;
    const count = byteSize / Ctor.BYTES_PER_ELEMENT;
    const data = new Ctor(count);
    if (count > 0) {
      new Uint8Array(data.buffer).set(api.heap.subarray(at, at + byteSize));
    }
    try {
      return new Tensor(typeName(code) as TensorType, data, dims);
    } catch (e) {
      throw new Error(`output '${name}': ${(e as Error).message}`);
    }
  }
}
