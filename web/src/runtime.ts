// Picks and loads one of the two WebAssembly builds, once per build:
//   tandem.mjs          SIMD128, one thread: works everywhere SIMD does;
//   tandem-threads.mjs  SIMD128 + pthreads: needs SharedArrayBuffer, i.e. crossOriginIsolated in
//                       browsers (COOP/COEP headers); always available in Node.
// The choice and its reason are public (env.diagnostics): a page that is not isolated gets the
// single-thread build and is told why, instead of silently running slower.

export type BuildName = 'simd' | 'simd-threads';

export interface Diagnostics {
  /** The build the last session was created on (null before any). */
  build: BuildName | null;
  simd: boolean;
  threadsSupported: boolean;
  crossOriginIsolated: boolean | null;  // null outside browsers
  /** Logical cores as reported by the platform. */
  hardwareConcurrency: number;
  /** Most threads a session can get (size of the threads build's worker pool, main thread included). */
  maxThreads: number;
  /** Why `build` was chosen, or why threads are unavailable. */
  reason: string;
  environment: 'node' | 'browser' | 'worker';
}

/** The Emscripten module: the C API plus its heap. */
export interface WasmModule {
  HEAPU8: Uint8Array;
  UTF8ToString(ptr: number): string;
  [fn: `_${string}`]: (...args: any[]) => any;
}

export const isNode = typeof process === 'object' && typeof process.versions === 'object' &&
  typeof (process.versions as Record<string, string>).node === 'string' && typeof window === 'undefined';
declare const WorkerGlobalScope: unknown;
const isWorker = !isNode && typeof WorkerGlobalScope !== 'undefined';

// Smallest module using a v128 instruction: validates only where SIMD128 is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8,
  0, 65, 0, 253, 15, 253, 98, 11]);

/** Imports a Node built-in without making TypeScript or bundlers resolve it for browsers. */
export function nodeImport(name: string): Promise<any> {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ name);
}

function hardwareConcurrency(): number {
  const nav = (globalThis as any).navigator;
  if (nav && typeof nav.hardwareConcurrency === 'number' && nav.hardwareConcurrency > 0) return nav.hardwareConcurrency;
  if (isNode) return Number(process.env.TANDEM_CORES) || nodeCores;
  return 1;
}
let nodeCores = 1;

const MAX_POOL_THREADS = 8;  // workers cost memory and start-up time; past 8 wasm rarely scales

function probe(): Diagnostics {
  const simd = typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  const isolated = isNode ? null : (globalThis as any).crossOriginIsolated === true;
  const sab = typeof SharedArrayBuffer === 'function';
  const cores = hardwareConcurrency();
  let threadsSupported = sab && (isNode || isolated === true);
  let reason: string;
  if (!simd) {
    reason = 'this runtime has no WebAssembly SIMD128; Tandem needs it (Chrome 91+, Firefox 89+, Safari 16.4+, Node 16.4+)';
    threadsSupported = false;
  } else if (!threadsSupported) {
    reason = isolated === false
      ? 'crossOriginIsolated is false, so SharedArrayBuffer (needed for threads) is unavailable: serve the page with ' +
        '"Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp" to enable threads'
      : 'SharedArrayBuffer is unavailable in this runtime: using the single-thread build';
  } else {
    reason = cores > 1 ? `threads available (${cores} cores)` : 'threads available but the platform reports one core';
  }
  return {
    build: null, simd, threadsSupported, crossOriginIsolated: isolated, hardwareConcurrency: cores,
    maxThreads: threadsSupported ? Math.max(1, Math.min(cores, MAX_POOL_THREADS)) : 1, reason,
    environment: isNode ? 'node' : isWorker ? 'worker' : 'browser',
  };
}

let diagnostics: Diagnostics | null = null;

export async function getDiagnostics(): Promise<Diagnostics> {
  if (isNode && nodeCores === 1) {
    const os = await nodeImport('node:os');
    nodeCores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  diagnostics ??= probe();
  return diagnostics;
}

/** Synchronous view for env.diagnostics (filled in by the first session). */
export function currentDiagnostics(): Diagnostics {
  diagnostics ??= probe();
  return diagnostics;
}

/** Where the package's files are (dist/); overridable for CDNs and bundlers (env.wasmPaths). */
export const paths = { base: '' };

function fileUrl(file: string): string {
  return paths.base ? new URL(file, paths.base).href : new URL(`./${file}`, import.meta.url).href;
}

const modules = new Map<BuildName, Promise<WasmModule>>();

async function instantiate(build: BuildName, poolThreads: number): Promise<WasmModule> {
  const stem = build === 'simd' ? 'tandem' : 'tandem-threads';
  const moduleArg: Record<string, unknown> = {
    // Emscripten asks for tandem.wasm and tandem-threads.worker.js; the worker ships as .cjs.
    locateFile: (file: string) => fileUrl(file.endsWith('.worker.js') ? file.replace(/\.js$/, '.cjs') : file),
    tandemPoolSize: Math.max(0, poolThreads - 1),  // workers; the calling thread is the last one
    print: (s: string) => console.log(s),
    printErr: (s: string) => console.warn(s),
  };
  if (isNode) {
    const [{ readFile }, { fileURLToPath }] = await Promise.all([nodeImport('node:fs/promises'), nodeImport('node:url')]);
    const wasmUrl = fileUrl(`${stem}.wasm`);
    moduleArg.wasmBinary = await readFile(wasmUrl.startsWith('file:') ? fileURLToPath(wasmUrl) : wasmUrl);
    // Node resolves the worker script as a path.
    moduleArg.locateFile = (file: string) => {
      const url = fileUrl(file.endsWith('.worker.js') ? file.replace(/\.js$/, '.cjs') : file);
      return url.startsWith('file:') ? fileURLToPath(url) : url;
    };
  }
  let factory: (arg: object) => Promise<WasmModule>;
  try {
    factory = (await import(/* @vite-ignore */ fileUrl(`${stem}.mjs`))).default;
  } catch (e) {
    throw new Error(`cannot load Tandem's ${build} build from ${fileUrl(`${stem}.mjs`)}: ${(e as Error).message}` +
      (paths.base ? '' : ' (set env.wasmPaths to the folder holding the package\'s dist/ files)'));
  }
  const module = await factory(moduleArg);
  if (isNode && build === 'simd-threads') unrefWorkers(module);
  return module;
}

// Idle pool workers must not keep a Node process alive after the program is done.
function unrefWorkers(module: WasmModule): void {
  const pthread = (module as any).PThread;
  if (!pthread) return;
  for (const w of [...(pthread.unusedWorkers ?? []), ...(pthread.runningWorkers ?? [])]) w.unref?.();
}

/** The build for a session asking for `threads` (0 = automatic), loaded once. */
export async function loadBuild(threads: number): Promise<{ build: BuildName; module: WasmModule; threads: number; reason: string }> {
  const d = await getDiagnostics();
  if (!d.simd) throw new Error(`Tandem cannot run here: ${d.reason}`);
  const wanted = threads > 0 ? threads : d.maxThreads;
  const build: BuildName = d.threadsSupported && wanted > 1 ? 'simd-threads' : 'simd';
  if (!modules.has(build)) {
    const p = instantiate(build, d.maxThreads);
    modules.set(build, p);
    p.catch(() => modules.delete(build));  // a failed load can be retried
  }
  const module = await modules.get(build)!;
  d.build = build;
  const granted = build === 'simd' ? 1 : Math.min(wanted, d.maxThreads);
  let reason: string;
  if (build === 'simd' && wanted > 1) reason = `${wanted} threads asked for, running on 1: ${d.reason}`;
  else if (granted < wanted) reason = `${wanted} threads asked for, the worker pool has ${d.maxThreads}`;
  else if (build === 'simd') {
    // threads: auto on a platform without threads must say why, not "one thread asked for".
    reason = threads > 0 ? 'one thread asked for: the single-thread SIMD build' : `automatic threads, running on 1: ${d.reason}`;
  } else reason = `${granted} threads: ${d.reason}`;
  return { build, module, threads: granted, reason };
}
