// The remote side in the browser and Node: an Open Inference Protocol v2 client over fetch, the
// twin of backends/remote/oip_client.cc. Binary tensor extension by default with a JSON
// fallback, per-call deadlines (AbortController), retries with backoff only where the model
// provably did not run (503/429), a circuit breaker, and an API key.

import { arrayFor, Tensor, TensorType, typeCode } from './tensor.js';

export interface RemoteOptions {
  /** Server base URL, e.g. 'http://127.0.0.1:8000' (https for TLS). */
  url: string;
  /** The model's name on the server. */
  model: string;
  version?: string;
  /** Sent as 'Authorization: Bearer <key>'. */
  apiKey?: string;
  /** Binary tensor extension (default true); JSON when false or the server refuses it. */
  binary?: boolean;
  /** A call's deadline when the caller gives none (default 30000 ms). */
  timeoutMs?: number;
  /** Retries of 503/429 answers (the server turned the request away), default 2. */
  retries?: number;
  /** Consecutive failures that open the breaker (default 3), and how long it stays open (5000 ms). */
  breakerFailures?: number;
  breakerCooldownMs?: number;
}

// A page on another origin sees a server without CORS headers as unreachable: say so.
function corsHint(url: string): string {
  const page = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (!page || page === 'null') return '';
  let server: string;
  try { server = new URL(url).origin; } catch { return ''; }
  return server === page ? '' : ` From a page on ${page}, the server must also allow that origin (CORS; tandem serve --allow-origin ${page}).`;
}

export interface RemoteSignature {
  inputs: Array<{ name: string; type: TensorType; shape: number[] }>;
  outputs: Array<{ name: string; type: TensorType; shape: number[] }>;
}

export interface RemoteTimings {
  totalMs: number;
  queueMs: number;
  computeMs: number;
  networkMs: number;
  attempts: number;
  binary: boolean;
}

/** A remote failure, with the same codes as local errors ('unavailable', 'deadline_exceeded', ...). */
export class RemoteError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

const OIP_TYPES: Record<string, TensorType> = {
  FP32: 'float32', FP64: 'float64', INT8: 'int8', UINT8: 'uint8', INT16: 'int16', UINT16: 'uint16',
  INT32: 'int32', UINT32: 'uint32', INT64: 'int64', UINT64: 'uint64', BOOL: 'bool', FP16: 'float16',
};
const TYPE_TO_OIP: Record<string, string> = Object.fromEntries(Object.entries(OIP_TYPES).map(([k, v]) => [v, k]));

class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trial = false;
  private lastError = '';
  constructor(private readonly threshold: number, private readonly cooldownMs: number) {}
  allow(): boolean {
    if (this.failures < this.threshold) return true;
    if (Date.now() < this.openUntil || this.trial) return false;
    this.trial = true;  // half-open: one trial call
    return true;
  }
  success(): void { this.failures = 0; this.trial = false; }
  neutral(): void { this.trial = false; }
  failure(why: string): void {
    this.lastError = why;
    this.trial = false;
    if (++this.failures >= this.threshold) this.openUntil = Date.now() + this.cooldownMs;
  }
  health(): { available: boolean; reason: string } {
    if (this.failures < this.threshold || (Date.now() >= this.openUntil && !this.trial)) return { available: true, reason: '' };
    return {
      available: false,
      reason: `circuit breaker open after ${this.failures} consecutive failures (next try in ` +
        `${Math.max(0, this.openUntil - Date.now())} ms); last: ${this.lastError}`,
    };
  }
}

function serverTiming(header: string | null, metric: string): number {
  if (!header) return 0;
  for (const entry of header.split(',')) {
    const parts = entry.trim().split(';');
    if (parts[0] !== metric) continue;
    const dur = parts.find((p) => p.trim().startsWith('dur='));
    if (dur) return Number(dur.trim().slice(4)) || 0;
  }
  return 0;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RemoteModel {
  private readonly o: Required<Omit<RemoteOptions, 'version' | 'apiKey'>> & Pick<RemoteOptions, 'version' | 'apiKey'>;
  private readonly breaker: CircuitBreaker;
  private signature?: RemoteSignature;
  private binary: boolean;
  private readonly path: string;

  constructor(options: RemoteOptions) {
    if (!/^https?:\/\//.test(options?.url ?? '')) throw new RemoteError(`remote url '${options?.url}' must start with http:// or https://`, 'invalid_argument');
    if (!options.model) throw new RemoteError('the remote needs the model\'s name on the server (remote.model)', 'invalid_argument');
    this.o = { binary: true, timeoutMs: 30000, retries: 2, breakerFailures: 3, breakerCooldownMs: 5000, ...options, url: options.url.replace(/\/+$/, '') };
    this.breaker = new CircuitBreaker(this.o.breakerFailures, this.o.breakerCooldownMs);
    this.binary = this.o.binary;
    this.path = `/v2/models/${encodeURIComponent(this.o.model)}${this.o.version ? `/versions/${encodeURIComponent(this.o.version)}` : ''}`;
  }

  describe(): string { return `${this.o.url} model '${this.o.model}'`; }
  health(): { configured: true; available: boolean; reason: string } { return { configured: true, ...this.breaker.health() }; }

  async metadata(deadline = Infinity): Promise<RemoteSignature> {
    if (this.signature) return this.signature;
    if (!this.breaker.allow()) throw new RemoteError(this.breaker.health().reason, 'unavailable');
    try {
      const sig = await this.fetchMetadata(deadline === Infinity ? Date.now() + this.o.timeoutMs : deadline);
      this.breaker.success();
      this.signature = sig;
      return sig;
    } catch (e) {
      this.record(e as RemoteError);
      throw e;
    }
  }

  async infer(feeds: Record<string, Tensor>, deadline = Infinity, timings?: RemoteTimings): Promise<Record<string, Tensor>> {
    if (deadline === Infinity) deadline = Date.now() + this.o.timeoutMs;
    const sig = await this.metadata(deadline);
    this.checkFeeds(sig, feeds);
    if (!this.breaker.allow()) throw new RemoteError(this.breaker.health().reason, 'unavailable');
    const t: RemoteTimings = timings ?? { totalMs: 0, queueMs: 0, computeMs: 0, networkMs: 0, attempts: 0, binary: true };
    const t0 = performance.now();
    try {
      let r = await this.post(sig, feeds, this.binary, deadline, t);
      if (r.status !== 200 && this.binary && await rejectsBinary(r)) {
        r = await this.post(sig, feeds, false, deadline, t);  // a server without the binary extension
        if (r.status === 200) this.binary = false;
      }
      if (r.status !== 200) throw await httpError(this.describe(), r);
      const out = await this.decode(sig, r);
      this.breaker.success();
      return out;
    } catch (e) {
      this.record(e as RemoteError);
      throw e;
    } finally {
      t.totalMs = performance.now() - t0;
      t.networkMs = Math.max(0, t.totalMs - t.queueMs - t.computeMs);
    }
  }

  private record(e: RemoteError): void {
    if (e?.code === 'invalid_argument') this.breaker.neutral();
    else this.breaker.failure(e?.message ?? String(e));
  }

  // One request; 503/429 are retried with backoff (50 ms doubling, jitter) inside the deadline.
  private async request(path: string, init: RequestInit, deadline: number, t?: RemoteTimings): Promise<Response> {
    for (let attempt = 0; ; ++attempt) {
      if (t) t.attempts++;
      const left = deadline - Date.now();
      if (left <= 0) throw new RemoteError(`${this.describe()}: the deadline passed before the call`, 'deadline_exceeded');
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), left);
      let r: Response;
      try {
        r = await fetch(this.o.url + path, { ...init, signal: controller.signal, headers: { ...(init.headers as Record<string, string>), ...(this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {}) } });
        if (r.status !== 503 && r.status !== 429) {
          // The body is read under the same deadline (a server that stalls mid-answer).
          const body = new Uint8Array(await r.arrayBuffer());
          clearTimeout(timer);
          return new Response(body, { status: r.status, headers: r.headers });
        }
        await r.arrayBuffer().catch(() => undefined);
      } catch (e) {
        clearTimeout(timer);
        if (controller.signal.aborted) {
          throw new RemoteError(`${this.describe()}: no answer within the deadline (${Math.max(0, Math.round(left))} ms)`, 'deadline_exceeded');
        }
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        throw new RemoteError(`${this.describe()}: cannot reach the server (${cause?.code ?? cause?.message ?? (e as Error).message}); is it running?${corsHint(this.o.url)}`, 'unavailable');
      }
      clearTimeout(timer);
      const wait = (50 << attempt) * (1 + Math.random() / 2);
      if (attempt >= this.o.retries || wait >= deadline - Date.now()) return r;
      await sleep(wait);
    }
  }

  private async fetchMetadata(deadline: number): Promise<RemoteSignature> {
    const r = await this.request(this.path, { method: 'GET' }, deadline);
    if (r.status !== 200) throw await httpError(this.describe(), r);
    const bad = `${this.describe()}: the model metadata is not Open Inference Protocol v2 JSON`;
    let doc: { inputs?: unknown; outputs?: unknown };
    try { doc = await r.json(); } catch { throw new RemoteError(bad, 'unavailable'); }
    const list = (v: unknown) => {
      if (!Array.isArray(v)) throw new RemoteError(bad, 'unavailable');
      return v.map((t: { name?: unknown; datatype?: unknown; shape?: unknown }) => {
        const type = OIP_TYPES[String(t?.datatype)];
        if (typeof t?.name !== 'string' || !type || !Array.isArray(t.shape)) throw new RemoteError(`${bad} (tensor ${JSON.stringify(t)})`, 'unavailable');
        return { name: t.name, type, shape: t.shape.map(Number) };
      });
    };
    return { inputs: list(doc.inputs), outputs: list(doc.outputs) };
  }

  private checkFeeds(sig: RemoteSignature, feeds: Record<string, Tensor>): void {
    for (const name of Object.keys(feeds)) {
      if (!sig.inputs.some((i) => i.name === name)) throw new RemoteError(`'${name}' is not an input of this model`, 'invalid_argument');
    }
    for (const i of sig.inputs) {
      const t = feeds[i.name];
      if (!t) throw new RemoteError(`input '${i.name}' is missing`, 'invalid_argument');
      if (t.type !== i.type) throw new RemoteError(`input '${i.name}' expects dtype ${i.type} but got ${t.type}`, 'invalid_argument');
      if (t.dims.length !== i.shape.length || i.shape.some((d, k) => d >= 0 && d !== t.dims[k])) {
        throw new RemoteError(`input '${i.name}' expects shape [${i.shape.join(', ')}] but got [${t.dims.join(', ')}]`, 'invalid_argument');
      }
    }
  }

  private async post(sig: RemoteSignature, feeds: Record<string, Tensor>, binary: boolean, deadline: number, t: RemoteTimings): Promise<Response> {
    const left = deadline - Date.now();
    const header: Record<string, unknown> = {
      ...(left > 0 && Number.isFinite(left) ? { parameters: { timeout: Math.round(left * 1000) } } : {}),
      inputs: sig.inputs.map((i) => {
        const x = feeds[i.name];
        return { name: i.name, datatype: TYPE_TO_OIP[x.type], shape: x.dims,
          ...(binary ? { parameters: { binary_data_size: x.data.byteLength } } : { data: Array.from(x.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v)) }) };
      }),
      outputs: sig.outputs.map((o) => ({ name: o.name, parameters: { binary_data: binary } })),
    };
    const json = new TextEncoder().encode(JSON.stringify(header));
    let body: Uint8Array = json;
    const headers: Record<string, string> = { 'content-type': binary ? 'application/octet-stream' : 'application/json' };
    if (binary) {
      const total = json.length + sig.inputs.reduce((n, i) => n + feeds[i.name].data.byteLength, 0);
      body = new Uint8Array(total);
      body.set(json, 0);
      let at = json.length;
      for (const i of sig.inputs) {
        const d = feeds[i.name].data;
        body.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
        at += d.byteLength;
      }
      headers['inference-header-content-length'] = String(json.length);
    }
    t.binary = binary;
    const r = await this.request(`${this.path}/infer`, { method: 'POST', body: body as unknown as BodyInit, headers }, deadline, t);
    t.queueMs = serverTiming(r.headers.get('server-timing'), 'queue');
    t.computeMs = serverTiming(r.headers.get('server-timing'), 'compute');
    return r;
  }

  private async decode(sig: RemoteSignature, r: Response): Promise<Record<string, Tensor>> {
    const bad = `${this.describe()}: the answer is not an Open Inference Protocol v2 inference response`;
    const all = new Uint8Array(await r.arrayBuffer());
    const hlen = r.headers.get('inference-header-content-length');
    const jsonSize = hlen === null ? all.length : Number(hlen);
    if (!Number.isInteger(jsonSize) || jsonSize > all.length) throw new RemoteError(`${bad} (Inference-Header-Content-Length runs past the body)`, 'unavailable');
    let doc: { outputs?: Array<{ name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }> };
    try { doc = JSON.parse(new TextDecoder().decode(all.subarray(0, jsonSize))); } catch { throw new RemoteError(`${bad} (not JSON)`, 'unavailable'); }
    if (!Array.isArray(doc?.outputs)) throw new RemoteError(`${bad} (no "outputs" array)`, 'unavailable');
    let at = jsonSize;
    const result: Record<string, Tensor> = {};
    for (const o of doc.outputs) {
      const type = OIP_TYPES[o?.datatype];
      if (!type || !Array.isArray(o.shape)) throw new RemoteError(`${bad} (output ${JSON.stringify(o?.name)})`, 'unavailable');
      const size = o.parameters?.binary_data_size;
      let t: Tensor;
      try {
        if (size !== undefined) {
          if (at + size > all.length) throw new RemoteError(`${bad} (output '${o.name}' claims more binary data than the answer holds: truncated?)`, 'unavailable');
          const copy = all.slice(at, at + size);
          at += size;
          const Ctor = arrayFor(typeCode(type));
          if (size % Ctor.BYTES_PER_ELEMENT !== 0) throw new Error(`${size} bytes is not a whole number of ${type} elements`);
          t = new Tensor(type, new Ctor(copy.buffer, 0, size / Ctor.BYTES_PER_ELEMENT), o.shape);
        } else if (Array.isArray(o.data)) {
          t = new Tensor(type, o.data.flat(Infinity) as number[], o.shape);
        } else {
          throw new RemoteError(`${bad} (output '${o.name}' has neither data nor binary_data_size)`, 'unavailable');
        }
      } catch (e) {
        if (e instanceof RemoteError) throw e;
        throw new RemoteError(`${bad} (output '${o.name}': ${(e as Error).message})`, 'unavailable');
      }
      result[o.name] = t;
    }
    for (const o of sig.outputs) if (!result[o.name]) throw new RemoteError(`${bad} (output '${o.name}' is missing)`, 'unavailable');
    return result;
  }
}

async function errorText(r: Response): Promise<string> {
  const text = await r.clone().text().catch(() => '');
  try { return JSON.parse(text).error ?? text.slice(0, 200); } catch { return text.slice(0, 200); }
}

async function rejectsBinary(r: Response): Promise<boolean> {
  if (r.status === 415) return true;
  if (r.status !== 400) return false;
  const text = (await errorText(r)).toLowerCase();
  return ['json', 'parse', 'binary', 'header', 'format', 'content-type'].some((w) => text.includes(w));
}

async function httpError(where: string, r: Response): Promise<RemoteError> {
  const msg = `${where} answered HTTP ${r.status}: ${await errorText(r)}`;
  const code = r.status === 400 ? 'invalid_argument' : r.status === 404 ? 'not_found' : r.status === 413 ? 'out_of_memory'
    : r.status === 504 || r.status === 408 ? 'deadline_exceeded' : 'unavailable';
  return new RemoteError(msg, code);
}
