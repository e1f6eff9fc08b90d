// Getting model bytes: from memory, a file (Node), or a URL with progress and an optional cache
// (the Cache API in browsers, a folder of files in Node). A cache never hides a problem: a
// corrupt entry is detected by its hash and fetched again; a full cache is reported, and the
// model still loads.

import { isNode, nodeImport } from './runtime.js';

export type ProgressCallback = (loaded: number, total: number) => void;

export interface CacheReport {
  /** 'hit' = bytes came from the cache; 'stored' = fetched and stored; 'off' = no cache used. */
  status: 'hit' | 'stored' | 'miss-not-stored' | 'off';
  /** Why storing or reading failed (quota exceeded, corrupt entry replaced, ...). */
  error?: string;
}

export interface ModelBytes {
  bytes: Uint8Array;
  source: string;
  cache: CacheReport;
}

const CACHE_NAME = 'tandem-models';

function isUrl(s: string): boolean {
  return /^(https?|blob|data):/i.test(s);
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as unknown as ArrayBuffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function fetchWithProgress(url: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`cannot download the model from ${url}: ${(e as Error).message}; check the URL and that the server is reachable`);
  }
  if (!response.ok) throw new Error(`cannot download the model from ${url}: HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get('content-length')) || 0;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress?.(bytes.length, bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  onProgress?.(0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.(loaded, Math.max(total, loaded));
  }
  if (total > 0 && loaded !== total) {
    throw new Error(`the download of ${url} stopped at ${loaded} of ${total} bytes; try again`);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  onProgress?.(loaded, loaded);
  return bytes;
}

function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string };
  if (err?.name === 'QuotaExceededError') return `the model cache is full (storage quota exceeded): ${err.message}`;
  if ((err as { code?: string })?.code === 'ENOSPC') return `the model cache's disk is full: ${err.message}`;
  return err?.message ?? String(e);
}

// ---- Browsers: Cache API -------------------------------------------------------------------

async function browserCached(url: string, onProgress?: ProgressCallback): Promise<ModelBytes> {
  if (typeof caches === 'undefined') {
    const bytes = await fetchWithProgress(url, onProgress);
    return { bytes, source: url, cache: { status: 'miss-not-stored', error: 'the Cache API is unavailable here (needs a secure context)' } };
  }
  let cache: Cache | null = null;
  let error: string | undefined;
  try {
    cache = await caches.open(CACHE_NAME);
    const hit = await cache.match(url);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      const expected = hit.headers.get('x-tandem-sha256');
      if (expected && expected === (await sha256Hex(bytes))) {
        onProgress?.(bytes.length, bytes.length);
        return { bytes, source: url, cache: { status: 'hit' } };
      }
      error = 'the cached copy was corrupt and was fetched again';
      await cache.delete(url);
    }
  } catch (e) {
    error = describeError(e);
    cache = null;
  }
  const bytes = await fetchWithProgress(url, onProgress);
  if (!cache) return { bytes, source: url, cache: { status: 'miss-not-stored', error } };
  try {
    const headers = { 'content-type': 'application/octet-stream', 'x-tandem-sha256': await sha256Hex(bytes) };
    await cache.put(url, new Response(bytes as unknown as BodyInit, { headers }));
    return { bytes, source: url, cache: { status: 'stored', error } };
  } catch (e) {
    const message = describeError(e);
    console.warn(`tandem: model not cached: ${message}`);
    return { bytes, source: url, cache: { status: 'miss-not-stored', error: message } };
  }
}

// ---- Node: a folder of files, each with its sha256 -----------------------------------------

async function nodeCached(url: string, dir: string, onProgress?: ProgressCallback): Promise<ModelBytes> {
  const [fs, path] = await Promise.all([nodeImport('node:fs/promises'), nodeImport('node:path')]);
  const key = (await sha256Hex(new TextEncoder().encode(url))).slice(0, 32);
  const file = path.join(dir, `${key}.onnx`);
  const meta = path.join(dir, `${key}.json`);
  let error: string | undefined;
  try {
    const info = JSON.parse(await fs.readFile(meta, 'utf8'));
    const bytes = new Uint8Array(await fs.readFile(file));
    if (info.url === url && info.sha256 === (await sha256Hex(bytes))) {
      onProgress?.(bytes.length, bytes.length);
      return { bytes, source: url, cache: { status: 'hit' } };
    }
    error = 'the cached copy was corrupt and was fetched again';
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') error = `the cache entry could not be read (${describeError(e)}); fetched again`;
  }
  const bytes = await fetchWithProgress(url, onProgress);
  try {
    await fs.mkdir(dir, { recursive: true });
    // Write to temporary names and rename, so a crash never leaves a half-written entry.
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, file);
    const info = { url, sha256: await sha256Hex(bytes), bytes: bytes.length, stored: new Date().toISOString() };
    await fs.writeFile(`${meta}.${process.pid}.tmp`, JSON.stringify(info));
    await fs.rename(`${meta}.${process.pid}.tmp`, meta);
    return { bytes, source: url, cache: { status: 'stored', error } };
  } catch (e) {
    const message = describeError(e);
    console.warn(`tandem: model not cached in ${dir}: ${message}`);
    return { bytes, source: url, cache: { status: 'miss-not-stored', error: message } };
  }
}

async function defaultNodeCacheDir(): Promise<string> {
  const [os, path] = await Promise.all([nodeImport('node:os'), nodeImport('node:path')]);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'tandem', 'models');
}

/** Bytes of a model given as bytes, a path (Node), or a URL. */
export async function modelBytes(model: string | URL | ArrayBuffer | ArrayBufferView, cache: boolean | string | undefined,
                                 onProgress?: ProgressCallback): Promise<ModelBytes> {
  if (model instanceof ArrayBuffer) {
    return { bytes: new Uint8Array(model), source: 'bytes', cache: { status: 'off' } };
  }
  if (ArrayBuffer.isView(model)) {
    return { bytes: new Uint8Array(model.buffer, model.byteOffset, model.byteLength), source: 'bytes', cache: { status: 'off' } };
  }
  const text = model instanceof URL ? model.href : model;
  if (typeof text !== 'string' || text.length === 0) {
    throw new TypeError('the model must be a URL, a file path (Node), an ArrayBuffer or a Uint8Array');
  }
  if (isNode && !isUrl(text)) {
    const [fs, url] = await Promise.all([nodeImport('node:fs/promises'), nodeImport('node:url')]);
    const file = text.startsWith('file:') ? url.fileURLToPath(text) : text;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await fs.readFile(file));
    } catch (e) {
      throw new Error(`cannot read the model file '${file}': ${(e as Error).message}`);
    }
    onProgress?.(bytes.length, bytes.length);
    return { bytes, source: file, cache: { status: 'off' } };
  }
  const href = new URL(text, (globalThis as any).location?.href).href;
  if (!cache || href.startsWith('blob:') || href.startsWith('data:')) {
    return { bytes: await fetchWithProgress(href, onProgress), source: href, cache: { status: 'off' } };
  }
  if (isNode) return nodeCached(href, typeof cache === 'string' ? cache : await defaultNodeCacheDir(), onProgress);
  return browserCached(href, onProgress);
}
