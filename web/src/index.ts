// Tandem for the web: `import { InferenceSession, Tensor, env } from 'tandem-web'`.
// Runs ONNX models in WebAssembly (SIMD128, XNNPACK kernels, threads when the page is
// cross-origin isolated), in the main thread, a Web Worker, or Node.

import { currentDiagnostics, Diagnostics, getDiagnostics, paths } from './runtime.js';

export { InferenceSession } from './hybrid.js';
export type { DeviceFacts, Placement, PlacementMode, RouteEvent, RunOptions, RunReport, SessionOptions } from './hybrid.js';
export type { ModelInfo, ValueMetadata } from './session.js';
export { RemoteError } from './remote.js';
export type { RemoteOptions } from './remote.js';
export { Tensor } from './tensor.js';
export type { TensorData, TensorType } from './tensor.js';
export type { CacheReport, ProgressCallback } from './model_source.js';
export type { BuildName, Diagnostics } from './runtime.js';

export const env = {
  /** What this runtime supports and which build sessions use, with the reason. */
  get diagnostics(): Diagnostics {
    return currentDiagnostics();
  },
  /** Probes the runtime (SIMD, threads, cores) without loading a build. */
  probe(): Promise<Diagnostics> {
    return getDiagnostics();
  },
  /** Folder (URL) holding the package's .mjs/.wasm files, when they are not served next to index.js. */
  get wasmPaths(): string {
    return paths.base;
  },
  set wasmPaths(url: string) {
    paths.base = url && !url.endsWith('/') ? `${url}/` : url;
  },
};
