// InferenceSession: one run() that goes local (WebAssembly) or remote (an OIP v2 server), with
// fallbacks both ways; the JavaScript twin of core/route/hybrid_session.cc. The decision itself is
// the core's router (tandem_route_decide in the wasm module): JavaScript gathers the facts a
// browser has (the download size before downloading, the wasm heap, navigator.deviceMemory) and
// makes the fetch calls.

import { CacheReport, ProgressCallback } from './model_source.js';
import { isNode, loadBuild, nodeImport } from './runtime.js';
import { RemoteError, RemoteModel, RemoteOptions, RemoteSignature, RemoteTimings } from './remote.js';
import { Api, LocalOptions, LocalSession, ModelInfo, ValueMetadata } from './session.js';
import { Tensor } from './tensor.js';

export type PlacementMode = 'auto' | 'local' | 'remote' | 'prefer-local' | 'prefer-remote' | 'local-only' | 'remote-only';
type Side = 'local' | 'remote' | 'none';

export interface SessionOptions extends LocalOptions {
  /** auto (= prefer-local, the default), local (= local-only), remote (= remote-only), prefer-remote. */
  placement?: PlacementMode;
  /** The server that runs the model when it does not fit or cannot run here. */
  remote?: RemoteOptions;
  /** Never send data anywhere: the remote is not contacted, not even for metadata. */
  privacy?: boolean;
  /** Bytes this session may use here (an app-level budget); default: what the device has. */
  memoryCap?: number;
  /** Default per-call deadline in ms (the remote's timeoutMs when unset). */
  deadlineMs?: number;
  /** Called when the session is placed, falls back, and after each run. */
  onRoute?: (event: RouteEvent) => void;
  /** Download progress in bytes; total is 0 when the server does not say. */
  onProgress?: ProgressCallback;
  /** Keep downloaded models (browsers: the Cache API; Node: a folder). */
  cache?: boolean | string;
}

export interface RouteEvent {
  kind: 'placed' | 'fallback' | 'ran';
  side: Side;
  reason: string;
}

export interface Placement {
  /** Where calls go by default. */
  where: 'local' | 'remote';
  /** Where a failure goes. */
  fallback: Side;
  /** A sentence: the mode, the side, and why. */
  reason: string;
  /** The model's estimated local peak and the budget it was compared with (0 = unknown). */
  neededBytes: number;
  budgetBytes: number;
  budgetSource: string;
  /** The local build (when loaded): 'simd' | 'simd-threads', its threads and partitions. */
  build?: string;
  threads?: number;
  partitions?: string[];
  /** The remote endpoint, when one is configured. */
  remote?: string;
  /** What the device offered when the session was placed. */
  device: DeviceFacts;
}

export interface DeviceFacts {
  /** Bytes the wasm heap could still give (the 4 GiB wasm32 ceiling minus what is in use). */
  heapBytes: number;
  /** navigator.deviceMemory (GB, rounded by the browser), or null outside browsers. */
  deviceMemoryGB: number | null;
  /** Free storage for the model cache (navigator.storage.estimate), or null when unknown. */
  storageFreeBytes: number | null;
  /** Whether the page may use threads (SharedArrayBuffer); null outside browsers. */
  crossOriginIsolated: boolean | null;
}

export interface RunReport {
  ranOn: Side;
  where: string;
  fellBack: boolean;
  fallbackReason: string;
  totalMs: number;
  computeMs: number;
  queueMs: number;
  networkMs: number;
  remoteAttempts: number;
}

export interface RunOptions {
  placement?: PlacementMode;
  /** This call only; tightens, never loosens, the session's privacy. */
  privacy?: boolean;
  deadlineMs?: number;
}

const MODES: Record<PlacementMode, number> = {
  'auto': 0, 'prefer-local': 0, 'local': 1, 'local-only': 1, 'prefer-remote': 2, 'remote': 3, 'remote-only': 3,
};
const SIDES: Side[] = ['none', 'local', 'remote'];
const GiB = 1024 ** 3;

interface Facts {
  localCopy: boolean;
  downloadBytes: number;
  planned: boolean;
  weightBytes: number;
  arenaBytes: number;
  ioBytes: number;
  flops: number;
  localFailure: string;
}

interface Decision { primary: Side; fallback: Side; reason: string; neededBytes: number; budgetBytes: number }

function modeCode(mode: PlacementMode | undefined): number {
  const code = MODES[mode ?? 'auto'];
  if (code === undefined) {
    throw new RangeError(`unknown placement '${String(mode)}'; choose auto (prefer-local), local (local-only), remote (remote-only) or prefer-remote`);
  }
  return code;
}

// The model's size before downloading it: a HEAD request's Content-Length, a file's size.
async function downloadSize(model: string | URL | ArrayBuffer | ArrayBufferView): Promise<number> {
  if (model instanceof ArrayBuffer) return model.byteLength;
  if (ArrayBuffer.isView(model)) return model.byteLength;
  let href = model instanceof URL ? model.href : model;
  // A page's relative URL ('./models/m.onnx') is sized like the absolute one it stands for.
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  if (!isNode && base && !/^[a-z][a-z0-9+.-]*:/i.test(href)) {
    try { href = new URL(href, base).href; } catch { /* not a URL: left as given */ }
  }
  if (/^(https?):/i.test(href)) {
    try {
      const r = await fetch(href, { method: 'HEAD' });
      return r.ok ? Number(r.headers.get('content-length')) || 0 : 0;
    } catch {
      return 0;  // unknown: the download itself will tell
    }
  }
  if (isNode && !/^(blob|data):/i.test(href)) {
    const fs = await nodeImport('node:fs/promises');
    const url = await nodeImport('node:url');
    try {
      return (await fs.stat(href.startsWith('file:') ? url.fileURLToPath(href) : href)).size;
    } catch {
      return 0;
    }
  }
  return 0;
}

async function deviceFacts(api: Api): Promise<DeviceFacts> {
  const nav = (globalThis as { navigator?: { deviceMemory?: number; storage?: { estimate?: () => Promise<{ quota?: number; usage?: number }> } } }).navigator;
  let storageFreeBytes: number | null = null;
  try {
    const e = !isNode ? await nav?.storage?.estimate?.() : undefined;
    if (e?.quota !== undefined) storageFreeBytes = Math.max(0, e.quota - (e.usage ?? 0));
  } catch {
    // estimate() is unavailable (insecure context): unknown
  }
  return {
    heapBytes: api.available(),
    deviceMemoryGB: !isNode && Number(nav?.deviceMemory) > 0 ? Number(nav!.deviceMemory) : null,
    storageFreeBytes,
    crossOriginIsolated: isNode ? null : Boolean((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated),
  };
}

// What this device can give a model: the wasm heap, lowered (in browsers) to half of
// navigator.deviceMemory, since a tab shares the device with everything else.
function deviceBudget(api: Api): { bytes: number; source: string } {
  const heap = api.available();
  const nav = (globalThis as { navigator?: { deviceMemory?: number } }).navigator;
  const deviceMemory = !isNode ? Number(nav?.deviceMemory) : NaN;
  if (deviceMemory > 0 && deviceMemory * GiB / 2 < heap) {
    return { bytes: deviceMemory * GiB / 2, source: `half of navigator.deviceMemory (${deviceMemory} GB)` };
  }
  return { bytes: heap, source: 'the wasm32 heap (4096 MB at most)' };
}

export class InferenceSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMetadata[];
  readonly outputMetadata: readonly ValueMetadata[];
  /** Where the model came from and what the cache did (local loads only). */
  readonly source: { model: string; cache: CacheReport; bytes: number } | null;
  /** What the last run() did: where it ran, whether it fell back, and its timings. */
  lastRun: RunReport | null = null;

  private local: LocalSession | null;
  private placed: Decision;
  private lastLocalMs = -1;

  private constructor(private readonly model: string | URL | ArrayBuffer | ArrayBufferView,
                      private readonly options: SessionOptions, private readonly api: Api,
                      private readonly remote: RemoteModel | null, private readonly facts: Facts,
                      private readonly budget: { bytes: number; source: string }, private readonly device: DeviceFacts,
                      local: LocalSession | null, signature: RemoteSignature | null, placed: Decision) {
    this.local = local;
    this.placed = placed;
    this.source = local?.source ?? null;
    if (local) {
      this.inputNames = local.inputNames;
      this.outputNames = local.outputNames;
      this.inputMetadata = local.inputMetadata;
      this.outputMetadata = local.outputMetadata;
    } else {
      const meta = (l: RemoteSignature['inputs']) => Object.freeze(l.map((t) => ({ name: t.name, type: t.type, shape: t.shape.map((d) => (d >= 0 ? d : '?')) })));
      this.inputMetadata = meta(signature!.inputs);
      this.outputMetadata = meta(signature!.outputs);
      this.inputNames = Object.freeze(this.inputMetadata.map((m) => m.name));
      this.outputNames = Object.freeze(this.outputMetadata.map((m) => m.name));
    }
  }

  /** Places the model (before downloading it), then loads it here or checks it on the server. */
  static async create(model: string | URL | ArrayBuffer | ArrayBufferView, options: SessionOptions = {}): Promise<InferenceSession> {
    modeCode(options.placement);
    const threads = options.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`threads must be a non-negative integer, got ${threads}`);
    if (options.memoryCap !== undefined && !(options.memoryCap > 0)) throw new RangeError(`memoryCap must be a positive number of bytes, got ${options.memoryCap}`);
    const remote = options.remote ? new RemoteModel(options.remote) : null;
    const [loaded, downloadBytes] = await Promise.all([loadBuild(threads), downloadSize(model)]);
    const api = new Api(loaded.module);
    const facts: Facts = { localCopy: true, downloadBytes, planned: false, weightBytes: 0, arenaBytes: 0, ioBytes: 0, flops: 0, localFailure: '' };
    const budget = deviceBudget(api);
    const device = await deviceFacts(api);
    const decide = (down?: string) => InferenceSession.decide(api, facts, budget, options, remote, options.placement, options.privacy, down);
    const emit = (kind: RouteEvent['kind'], side: Side, reason: string) => options.onRoute?.({ kind, side, reason });

    let placed = decide();
    emit('placed', placed.primary, placed.reason);
    const box: { local: LocalSession | null } = { local: null };  // set by loadLocal
    let signature: RemoteSignature | null = null;
    const loadLocal = async () => {
      try {
        box.local = await LocalSession.create(model, options, options.memoryCap ?? 0);
        InferenceSession.plan(box.local, facts);
      } catch (e) {
        if ((e as { code?: string }).code === 'invalid_argument') throw e;
        facts.localFailure = (e as Error).message;
      }
    };
    if (placed.primary === 'local') {
      await loadLocal();
      const again = decide();
      if (!box.local && again.primary !== 'none') emit('fallback', again.primary, again.reason);
      placed = again;
    }
    if (placed.primary === 'remote') {
      try {
        const deadline = options.deadlineMs ? Date.now() + options.deadlineMs : Infinity;
        signature = await remote!.metadata(deadline);
      } catch (e) {
        const why = `${(e as RemoteError).code ?? 'error'}: ${(e as Error).message}`;
        placed = decide(why);
        if (placed.primary === 'local') {
          await loadLocal();
          if (!box.local) placed = decide(why);
        }
        if (placed.primary === 'none') throw Object.assign(new Error(`cannot run the model anywhere: ${placed.reason}`), { code: (e as RemoteError).code ?? 'unavailable' });
        emit('fallback', placed.primary, placed.reason);
      }
    }
    if (placed.primary === 'none') {
      throw Object.assign(new Error(`cannot run the model anywhere: ${placed.reason}`), { code: facts.localFailure ? 'out_of_memory' : 'unavailable' });
    }
    return new InferenceSession(model, options, api, remote, facts, budget, device, box.local, signature, placed);
  }

  /** Where calls go by default, and why. */
  get placement(): Placement {
    const p = this.placed;
    const lp = this.local?.placement;
    return {
      where: p.primary === 'remote' ? 'remote' : 'local', fallback: p.fallback, reason: p.reason,
      neededBytes: p.neededBytes, budgetBytes: p.budgetBytes, budgetSource: this.budget.source,
      ...(lp ? { build: lp.build, threads: lp.threads, partitions: lp.partitions } : {}),
      ...(this.remote ? { remote: this.remote.describe() } : {}),
      device: this.device,
    };
  }

  get modelInfo(): ModelInfo { return this.needLocal('modelInfo').modelInfo; }
  memoryFacts(shapes: Record<string, readonly number[]>) { return this.needLocal('memoryFacts').memoryFacts(shapes); }

  /** Runs the model where the router says; falls back to the other side when allowed. */
  async run(feeds: Record<string, Tensor>, fetches?: readonly string[], options: RunOptions = {}): Promise<Record<string, Tensor>> {
    const start = performance.now();
    const report: RunReport = { ranOn: 'none', where: '', fellBack: false, fallbackReason: '', totalMs: 0, computeMs: 0, queueMs: 0, networkMs: 0, remoteAttempts: 0 };
    this.lastRun = report;
    const privacy = this.options.privacy || options.privacy;
    const p = InferenceSession.decide(this.api, this.facts, this.budget, this.options, this.remote, options.placement ?? this.options.placement, privacy);
    if (options.placement === undefined && !options.privacy) this.placed = p;
    if (p.primary === 'none') throw Object.assign(new Error(`cannot run: ${p.reason}`), { code: 'unavailable' });
    const deadlineMs = options.deadlineMs ?? this.options.deadlineMs;
    const deadline = deadlineMs ? Date.now() + deadlineMs : Infinity;
    // A remote call with a local fallback leaves it time: twice the last local run, else a quarter.
    let first = deadline;
    if (p.primary === 'remote' && p.fallback === 'local' && deadline !== Infinity) {
      const reserve = this.lastLocalMs >= 0 ? Math.max(2 * this.lastLocalMs, 5) : deadlineMs! / 4;
      first = deadline - Math.min(reserve, deadlineMs! / 2);
    }
    try {
      const out = await this.runOn(p.primary, feeds, fetches, first, report);
      return this.ran(report, p.primary, start, out);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'invalid_argument' || p.fallback === 'none') {
        report.totalMs = performance.now() - start;
        if (code === 'invalid_argument') throw e;
        throw Object.assign(new Error(`${p.primary} run failed (${p.reason}; no fallback): ${(e as Error).message}`), { code });
      }
      report.fellBack = true;
      report.fallbackReason = `${p.primary} failed: ${code ?? 'error'}: ${(e as Error).message}`;
      if (Date.now() >= deadline) {
        throw Object.assign(new Error(`${report.fallbackReason}; no time left before the deadline for the ${p.fallback} fallback`), { code: 'deadline_exceeded' });
      }
      this.options.onRoute?.({ kind: 'fallback', side: p.fallback, reason: report.fallbackReason });
      try {
        const out = await this.runOn(p.fallback, feeds, fetches, deadline, report);
        return this.ran(report, p.fallback, start, out);
      } catch (e2) {
        report.totalMs = performance.now() - start;
        throw Object.assign(new Error(`${report.fallbackReason}; the ${p.fallback} fallback failed too: ${(e2 as Error).message}`),
          { code: (e2 as { code?: string }).code ?? 'unavailable' });
      }
    }
  }

  /** run() without the Promise, on the local side only. */
  runSync(feeds: Record<string, Tensor>, fetches?: readonly string[]): Record<string, Tensor> {
    return this.needLocal('runSync').runSync(feeds, fetches);
  }

  async release(): Promise<void> {
    await this.local?.release();
  }

  private ran(report: RunReport, side: Side, start: number, out: Record<string, Tensor>): Record<string, Tensor> {
    report.ranOn = side;
    report.totalMs = performance.now() - start;
    this.options.onRoute?.({ kind: 'ran', side, reason: report.where });
    return out;
  }

  private async runOn(side: Side, feeds: Record<string, Tensor>, fetches: readonly string[] | undefined, deadline: number,
                      report: RunReport): Promise<Record<string, Tensor>> {
    if (side === 'local') {
      if (!this.local) {
        if (this.facts.localFailure) throw Object.assign(new Error(this.facts.localFailure), { code: 'unavailable' });
        this.local = await LocalSession.create(this.model, this.options, this.options.memoryCap ?? 0);
        InferenceSession.plan(this.local, this.facts);
      }
      const t0 = performance.now();
      const out = this.local.runSync(feeds, fetches);
      report.computeMs = performance.now() - t0;
      this.lastLocalMs = report.computeMs;
      report.where = `local (${this.local.placement.partitions.join(', ')})`;
      return out;
    }
    const t: RemoteTimings = { totalMs: 0, queueMs: 0, computeMs: 0, networkMs: 0, attempts: 0, binary: true };
    try {
      const out = await this.remote!.infer(feeds, deadline, t);
      report.where = `remote ${this.remote!.describe()}`;
      Object.assign(report, { computeMs: t.computeMs, queueMs: t.queueMs, networkMs: t.networkMs });
      return fetches ? Object.fromEntries(fetches.map((n) => [n, out[n]])) : out;
    } finally {
      report.remoteAttempts += t.attempts;
    }
  }

  private needLocal(what: string): LocalSession {
    if (!this.local) throw new Error(`${what}: the model is not loaded here (${this.placed.reason})`);
    return this.local;
  }

  // The plan's numbers replace the file-size estimate (symbolic dimensions taken as 1).
  private static plan(local: LocalSession, facts: Facts): void {
    try {
      const shapes = Object.fromEntries(local.inputMetadata.map((m) => [m.name, (m.shape ?? []).map((d) => (typeof d === 'number' ? d : 1))]));
      const f = local.memoryFacts(shapes);
      Object.assign(facts, { planned: true, weightBytes: f.weights, arenaBytes: f.arena, ioBytes: f.inputs + f.outputs });
    } catch {
      // shapes the plan cannot take: keep the estimate
    }
  }

  // The core's router (tandem_route_decide), on facts gathered here.
  private static decide(api: Api, facts: Facts, budget: { bytes: number; source: string }, options: SessionOptions,
                        remote: RemoteModel | null, placement: PlacementMode | undefined, privacy: boolean | undefined,
                        remoteDown?: string): Decision {
    const m = api.m;
    const health = remoteDown !== undefined ? { available: false, reason: remoteDown } : remote?.health() ?? { available: true, reason: '' };
    const strings = [budget.source, health.reason, facts.localFailure].map((s) => {
      const bytes = new TextEncoder().encode(s);
      const p = api.malloc(bytes.length + 1);
      api.heap.set(bytes, p);
      api.heap[p + bytes.length] = 0;
      return p;
    });
    const f = api.malloc(112);
    const out = api.malloc(32);
    try {
      api.heap.fill(0, f, f + 112);
      const i32 = api.view(Int32Array, f, 8);
      i32.set([112, modeCode(placement), privacy ? 1 : 0, facts.localCopy ? 1 : 0, remote ? 1 : 0, health.available ? 1 : 0, facts.planned ? 1 : 0, 0]);
      api.view(BigUint64Array, f + 32, 8).set([facts.downloadBytes, facts.weightBytes, facts.arenaBytes, facts.ioBytes, facts.flops,
        budget.bytes, options.memoryCap ?? 0, 0].map((v) => BigInt(Math.max(0, Math.floor(v)))));
      api.view(Uint32Array, f + 96, 3).set(strings);
      api.check(m._tandem_route_decide(f, out), 'route');
      const d = api.view(Int32Array, out, 2);
      const sizes = api.view(BigUint64Array, out + 8, 2);
      return {
        primary: SIDES[d[0]], fallback: SIDES[d[1]], neededBytes: Number(sizes[0]), budgetBytes: Number(sizes[1]),
        reason: api.string(api.view(Uint32Array, out + 24, 1)[0]),
      };
    } finally {
      for (const p of strings) api.free(p);
      api.free(f);
      api.free(out);
    }
  }
}
