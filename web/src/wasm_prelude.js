// Prepended to Emscripten's ES module output (--extern-pre-js): under Node the generated code
// calls require() and reads __dirname, which ES modules lack. Browsers and workers skip this.
const __tandemNode = typeof process === 'object' && typeof process.versions === 'object' &&
  typeof process.versions.node === 'string' && typeof window === 'undefined';
const require = __tandemNode ? (await import('node:module')).createRequire(import.meta.url) : undefined;
const __dirname = __tandemNode ? require('node:path').dirname(require('node:url').fileURLToPath(import.meta.url)) : '';
