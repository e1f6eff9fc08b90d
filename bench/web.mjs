#!/usr/bin/env node
// Benchmarks Tandem's WebAssembly build (the tandem-web package, web/dist) against
// onnxruntime-web (wasm execution provider) on the same models and inputs, in Node and in headless
// Chromium.
//
//   node bench/web.mjs [--models a,b] [--runs N] [--rounds K] [--warmup W] [--loads L] [--cold C]
//                      [--no-node] [--no-browser] [--no-threads] [--md FILE]
//
// Per model, environment (Node; Chromium page) and thread count, both runtimes run in the same
// process/page: load = create -> first result on a fresh session (the runtime already loaded),
// median of L (3); warm latency = one session per runtime, W warmup runs each (5), then K rounds
// (5) of N timed session.run calls (10) per side, alternating which side goes first; reported:
// median and min over all timed runs, ratio = Tandem median / ORT median (below 1: Tandem is
// faster). Cold start (MobileNetV2): module import -> first result in a fresh Node process /
// fresh browser context, median of C (5). 1-thread rows run on a plain page (not cross-origin
// isolated); 2-thread rows (when web/dist has the threads build) on an isolated page, Chromium
// only. Also the .wasm sizes, raw and gzip -9.
//
// Writes bench/out/web-results.json and the section "## WebAssembly (Tandem-wasm vs
// onnxruntime-web)" of BENCHMARKS.md (the rest of the file is kept) for a full run (default
// options), of bench/out/BENCHMARKS-web.md otherwise (or --md FILE). Progress goes to stderr.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

import { numel, readNpy } from '../tests/models/npy.mjs';
import { prng } from '../tests/models/prng.mjs';
import { startServer } from '../web/tests/serve.mjs';
import { benchModel, coldStart } from './web-harness.mjs';
import { printHeaderComment, writeSection } from './sections.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const OUT = path.join(HERE, 'out');
const GENERATED = path.join(REPO, 'tests', 'models', 'generated');
const DIST = path.join(REPO, 'web', 'dist');
const ORT_DIST = path.join(REPO, 'node_modules', 'onnxruntime-web', 'dist');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HEADING = '## WebAssembly (Tandem-wasm vs onnxruntime-web)';

// Where each side imports the runtimes from: Node (file URL / package name) and the page (URL).
const TANDEM_NODE = pathToFileURL(path.join(DIST, 'index.js')).href;
const TANDEM_PAGE = '/web/dist/index.js';
const ORT_NODE = 'onnxruntime-web'; // resolves to dist/ort.node.min.mjs under Node
const ORT_PAGE = '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

const MODELS = {
  mobilenetv2: 'MobileNetV2, 1x3x224x224',
  resnet18: 'ResNet-18, 1x3x224x224',
  bert_encoder: 'BERT-style encoder (3 layers, hidden 192), seq 128',
};

const log = (msg) => process.stderr.write(`${msg}\n`);
function die(msg) {
  log(`bench/web: ${msg}`);
  process.exit(2);
}

// ---- options --------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { models: null, runs: 10, rounds: 5, warmup: 5, loads: 3, cold: 5, node: true, browser: true, threads: true, md: null, partial: false };
  const count = (a, v, min = 1) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) die(`${a} takes a whole number >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : die(`${a} needs a value`));
    if (a === '--models') o.models = value().split(',').filter(Boolean);
    else if (a === '--runs') o.runs = count(a, value());
    else if (a === '--rounds') o.rounds = count(a, value());
    else if (a === '--warmup') o.warmup = count(a, value(), 0);
    else if (a === '--loads') o.loads = count(a, value());
    else if (a === '--cold') o.cold = count(a, value(), 0);
    else if (a === '--no-node') o.node = false;
    else if (a === '--no-browser') o.browser = false;
    else if (a === '--no-threads') o.threads = false;
    else if (a === '--md') o.md = path.resolve(value());
    else if (a === '-h' || a === '--help') printHeaderComment(import.meta.url); else die(`unknown option '${a}' (see --help)`);
    if (a !== '--md') o.partial = true;
  }
  if (!o.node && !o.browser) die('--no-node and --no-browser leave nothing to run');
  for (const m of o.models ?? []) if (!MODELS[m]) die(`unknown model '${m}'; choose from ${Object.keys(MODELS).join(', ')}`);
  return o;
}

// ---- models and inputs ----------------------------------------------------------------------

// { name: { dtype, dims, bytes } } from tests/models/generated/<model>/<input>.npy, or seeded
// random data from the declared input types where a file is missing.
async function inputsFor(name, modelFile, ort) {
  const manifest = JSON.parse(readFileSync(path.join(GENERATED, 'manifest.json'), 'utf8'));
  const names = manifest.models?.[name]?.inputs;
  const npy = (k) => path.join(GENERATED, name, `${k}.npy`);
  const asInput = (a) => ({ dtype: a.dtype, dims: a.shape, bytes: new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength) });
  if (names && names.every((k) => existsSync(npy(k)))) return Object.fromEntries(names.map((k) => [k, asInput(readNpy(npy(k)))]));

  log(`bench/web: ${name}: no exported inputs, using seeded random data from the model's input types`);
  const s = await ort.InferenceSession.create(modelFile, { executionProviders: ['wasm'] });
  const meta = s.inputMetadata ?? s.inputNames.map((n) => ({ name: n, type: 'float32', shape: [] }));
  await s.release();
  const rnd = prng(1234);
  const out = {};
  for (const m of meta) {
    const dims = (m.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const n = numel(dims);
    const ints = { int64: BigInt64Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array };
    let data;
    if (m.type === 'float32') data = Float32Array.from({ length: n }, () => 2 * rnd() - 1);
    else if (m.type === 'int64') data = BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rnd() * 100)));
    else if (ints[m.type]) data = ints[m.type].from({ length: n }, () => Math.floor(rnd() * (m.type === 'bool' ? 2 : 100)));
    else die(`${name}: input ${m.name} has type ${m.type}, which the benchmark cannot generate`);
    out[m.name] = asInput({ dtype: m.type, shape: dims, data });
  }
  return out;
}

const toPage = (inputs) => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k,
  { dtype: v.dtype, dims: v.dims, b64: Buffer.from(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength).toString('base64') }]));

// ---- Node -----------------------------------------------------------------------------------

function coldNode(kind, modelFile, name, inputsFile) {
  const url = kind === 'tandem' ? TANDEM_NODE : ORT_NODE;
  const script = `
    import { readFileSync } from 'node:fs';
    import { coldStart } from ${JSON.stringify(pathToFileURL(path.join(HERE, 'web-harness.mjs')).href)};
    const bytes = new Uint8Array(readFileSync(${JSON.stringify(modelFile)}));
    const j = JSON.parse(readFileSync(${JSON.stringify(inputsFile)}, 'utf8'));
    const inputs = Object.fromEntries(Object.entries(j).map(([k, v]) => [k, { ...v, bytes: new Uint8Array(Buffer.from(v.b64, 'base64')) }]));
    const r = await coldStart(${JSON.stringify(kind)}, bytes, inputs, { url: ${JSON.stringify(url)}, threads: 1 });
    process.stdout.write(JSON.stringify(r) + '\\n');
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: HERE, encoding: 'utf8', timeout: 300e3 });
  if (r.status !== 0) throw new Error(`cold start of ${kind} (${name}) in Node failed (${r.signal ?? `exit ${r.status}`}): ${(r.stderr || '').trim().split('\n').slice(-5).join(' / ')}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

// ---- Chromium -------------------------------------------------------------------------------

async function launchChromium() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup (or apt-get install chromium), or pass --no-browser`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM, headless: true, timeout: 60e3,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

// A fresh context (own HTTP cache: no compiled wasm carried over) with a page on the bench page.
async function freshPage(browser, server, tag) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => log(`  [${tag}] ${m.text()}`));
  page.on('pageerror', (e) => log(`  [${tag}] page error: ${e.message}`));
  await page.goto(`${server.url}/bench/web-page.html`);
  return { context, page };
}

async function benchInPage(browser, server, modelUrl, inputs, opts, tag) {
  const { context, page } = await freshPage(browser, server, tag);
  try {
    return await page.evaluate(async ({ modelUrl, inputs, opts }) => {
      const h = await import('/bench/web-harness.mjs');
      const bytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
      const ins = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, { dtype: v.dtype, dims: v.dims, bytes: h.fromBase64(v.b64) }]));
      const r = await h.benchModel(bytes, ins, opts, (m) => console.log(m));
      r.crossOriginIsolated = self.crossOriginIsolated === true;
      r.userAgent = navigator.userAgent;
      return r;
    }, { modelUrl, inputs, opts });
  } finally {
    await context.close();
  }
}

async function coldInPage(browser, server, kind, modelUrl, inputs) {
  const { context, page } = await freshPage(browser, server, `cold ${kind}`);
  try {
    return await page.evaluate(async ({ kind, modelUrl, inputs, url }) => {
      const bytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
      const h = await import('/bench/web-harness.mjs');
      const ins = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, { dtype: v.dtype, dims: v.dims, bytes: h.fromBase64(v.b64) }]));
      return h.coldStart(kind, bytes, ins, { url, threads: 1 });
    }, { kind, modelUrl, inputs, url: kind === 'tandem' ? TANDEM_PAGE : ORT_PAGE });
  } finally {
    await context.close();
  }
}

// ---- sizes and machine ----------------------------------------------------------------------

function sizes() {
  const row = (runtime, file) => {
    const buf = readFileSync(file);
    return { runtime, file: path.relative(REPO, file), raw: buf.length, gzip: gzipSync(buf, { level: 9 }).length };
  };
  const rows = (existsSync(DIST) ? readdirSync(DIST) : []).filter((f) => f.endsWith('.wasm')).sort().map((f) => row('Tandem', path.join(DIST, f)));
  rows.push(row('onnxruntime-web', path.join(ORT_DIST, 'ort-wasm-simd-threaded.wasm')));
  return rows;
}

function machine(ortVersion) {
  const git = (args) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' }).stdout?.trim() || '?';
  const dirty = (spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO, encoding: 'utf8' }).stdout ?? '').trim() !== '';
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? '?', cores: cpus.length, os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), node: process.version, onnxruntime_web: ortVersion,
    tandem_commit: `${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ' + uncommitted changes' : ''}`,
  };
}

// ---- report ---------------------------------------------------------------------------------

const f = (x, d = 2) => (!Number.isFinite(x) ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(d));
const kb = (n) => `${(n / 1024).toFixed(0)} KiB`;
const mb = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : kb(n));

function markdown(json) {
  const { machine: m, settings: s, results, cold, sizes: sz } = json;
  const L = [HEADING, '',
    'Tandem\'s wasm build (`web/dist`, the tandem-web package) against onnxruntime-web ' +
      `${m.onnxruntime_web} (wasm execution provider, SIMD) on the same models and inputs, both in one Node ` +
      'process or one Chromium page; written by `node bench/web.mjs` (see bench/README.md). Times in ms; ' +
      'ratio = Tandem / ORT (below 1: Tandem is faster).', '',
    `- machine: ${m.cpu}, ${m.cores} cores; ${m.os}; 1-minute load average ${m.load_average_start.toFixed(2)} at the start, ` +
      `${m.load_average_end.toFixed(2)} at the end${m.load_average_start > 1.5 ? ' (**loaded machine: numbers are noisy**)' : ''}`,
    `- date: ${m.date}; Tandem ${m.tandem_commit}, onnxruntime-web ${m.onnxruntime_web}, Node ${m.node}` +
      `${m.chromium ? `, Chromium ${m.chromium} (headless)` : ''}`,
    `- method: **warm** = median (and min) over ${s.rounds} rounds x ${s.runs} timed \`session.run\` calls per side after ` +
      `${s.warmup} warmups, sides alternating which goes first; **load** = model bytes in memory -> create -> first result on a fresh ` +
      `session, runtime already loaded, median of ${s.loads}; **cold** = module import -> first result in a fresh Node process / ` +
      `fresh browser context (wasm fetched and compiled, no code cache), median of ${s.cold}. ORT: \`env.wasm.numThreads\` = threads, ` +
      '`executionProviders: [\'wasm\']`, graphOptimizationLevel \'all\'; Tandem: `threads` option, default optimisations. ' +
      '1-thread Chromium rows on a plain page, 2-thread rows on a cross-origin isolated page (threads builds). ' +
      '**max |diff|**: largest difference between the two runtimes\' outputs (largest |output| in brackets).', '',
    '| model | where | threads | Tandem warm | Tandem min | ORT warm | ORT min | ratio | Tandem load | ORT load | load ratio | max \\|diff\\| |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|'];
  for (const r of results) {
    if (r.error) {
      L.push(`| ${MODELS[r.model]} | ${r.where} | ${r.threads} | failed: ${r.error.split('\n')[0].slice(0, 160).replace(/\|/g, '/')} | | | | | | | | |`);
      continue;
    }
    L.push(`| ${MODELS[r.model]} | ${r.where} | ${r.threads} | ${f(r.tandem.median)} | ${f(r.tandem.min)} | ${f(r.ort.median)} | ` +
      `${f(r.ort.min)} | **${r.ratio.toFixed(2)}** | ${f(r.tandem.load)} | ${f(r.ort.load)} | ${(r.tandem.load / r.ort.load).toFixed(2)} | ` +
      `${r.maxAbsDiff.toExponential(1)} (${f(r.maxAbsRef)}) |`);
  }
  if (cold.length) {
    L.push('', `Cold start, MobileNetV2 (module import -> first result, median of ${s.cold}):`, '',
      '| where | Tandem | ORT | ratio | Tandem import | ORT import |', '|---|--:|--:|--:|--:|--:|');
    for (const c of cold) {
      if (c.error) L.push(`| ${c.where} | failed: ${c.error.split('\n')[0].slice(0, 160).replace(/\|/g, '/')} | | | | |`);
      else L.push(`| ${c.where} | ${f(c.tandem.ms)} | ${f(c.ort.ms)} | **${(c.tandem.ms / c.ort.ms).toFixed(2)}** | ${f(c.tandem.importMs)} | ${f(c.ort.importMs)} |`);
    }
  }
  L.push('', 'Download size of the .wasm binaries (gzip: level 9):', '', '| runtime | file | raw | gzip |', '|---|---|--:|--:|');
  for (const z of sz) L.push(`| ${z.runtime} | \`${z.file}\` | ${mb(z.raw)} | ${mb(z.gzip)} |`);
  L.push('');
  return L.join('\n');
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(DIST, 'index.js'))) die(`${path.relative(REPO, DIST)}/index.js is missing: build the web package first`);
  if (!existsSync(path.join(GENERATED, 'manifest.json'))) die(`${path.relative(REPO, GENERATED)} is missing: run tests/models/prepare.sh`);
  let ort;
  try {
    ort = await import(ORT_NODE);
    ort.env.wasm.numThreads = 1; // before the first session: ORT reads it once, at initialisation
  } catch (e) {
    die(`cannot load onnxruntime-web (${e.message.split('\n')[0]}); run "npm ci --ignore-scripts" in ${REPO}`);
  }
  const ortVersion = JSON.parse(readFileSync(path.join(ORT_DIST, '..', 'package.json'), 'utf8')).version;
  const names = opts.models ?? Object.keys(MODELS);
  const threadsBuild = existsSync(path.join(DIST, 'tandem-threads.wasm'));
  const settings = { runs: opts.runs, rounds: opts.rounds, warmup: opts.warmup, loads: opts.loads, cold: opts.cold };
  const m = machine(ortVersion);
  m.load_average_start = os.loadavg()[0];
  if (m.load_average_start > 1.5) log(`bench/web: warning: load average ${m.load_average_start.toFixed(2)}; other work on this machine will skew the numbers`);
  log(`bench/web: ${names.join(', ')}; ${opts.rounds} rounds x ${opts.runs} runs after ${opts.warmup} warmups; ` +
    `onnxruntime-web ${ortVersion}; ${m.cpu}, ${m.cores} cores${threadsBuild ? '' : '; no threads build in web/dist'}`);
  mkdirSync(OUT, { recursive: true });

  const models = {};
  for (const name of names) {
    const file = path.join(GENERATED, `${name}.onnx`);
    if (!existsSync(file)) die(`${path.relative(REPO, file)} is missing: run tests/models/prepare.sh`);
    models[name] = { file, url: `/tests/models/generated/${name}.onnx`, inputs: await inputsFor(name, file, ort) };
  }
  const hOpts = (threads) => ({ ...settings, loadReps: opts.loads, threads });
  const results = [];
  const cold = [];
  const coldModel = 'mobilenetv2';
  let coldInputs = null;
  if (opts.cold > 0) {
    coldInputs = models[coldModel]?.inputs ?? await inputsFor(coldModel, path.join(GENERATED, `${coldModel}.onnx`), ort);
  }

  const run = async (r, fn) => {
    try {
      Object.assign(r, await fn());
      log(`bench/web: ${r.model} ${r.where} threads ${r.threads}: tandem ${f(r.tandem.median)} ms, ort ${f(r.ort.median)} ms, ` +
        `ratio ${r.ratio.toFixed(2)}; load ${f(r.tandem.load)} / ${f(r.ort.load)} ms; max |diff| ${r.maxAbsDiff.toExponential(1)}`);
    } catch (e) {
      r.error = e.message;
      log(`bench/web: ${r.model} ${r.where} threads ${r.threads}: FAILED: ${e.message}`);
    }
    results.push(r);
  };
  const coldRow = async (where, fn) => {
    const c = { where, tandem: { runs: [] }, ort: { runs: [] } };
    try {
      for (let i = 0; i < opts.cold; ++i) {
        for (const kind of i % 2 ? ['ort', 'tandem'] : ['tandem', 'ort']) c[kind].runs.push(await fn(kind));
        log(`bench/web: cold start ${where} ${i + 1}/${opts.cold}: tandem ${f(c.tandem.runs.at(-1).ms)} ms, ort ${f(c.ort.runs.at(-1).ms)} ms`);
      }
      for (const kind of ['tandem', 'ort']) {
        const med = (k) => [...c[kind].runs.map((x) => x[k])].sort((a, b) => a - b)[Math.floor((c[kind].runs.length - 1) / 2)];
        c[kind].ms = med('ms');
        c[kind].importMs = med('importMs');
      }
    } catch (e) {
      c.error = e.message;
      log(`bench/web: cold start ${where}: FAILED: ${e.message}`);
    }
    cold.push(c);
  };

  if (opts.node) {
    for (const name of names) {
      log(`bench/web: ${name} in Node, 1 thread ...`);
      await run({ model: name, where: 'Node', threads: 1 }, async () => {
        const bytes = new Uint8Array(readFileSync(models[name].file));
        return benchModel(bytes, models[name].inputs, { ...hOpts(1), tandemUrl: TANDEM_NODE, ortUrl: ORT_NODE }, (s) => log(`  [node ${name}] ${s}`));
      });
    }
    if (coldInputs) {
      const inputsFile = path.join(OUT, 'web-cold-inputs.json');
      writeFileSync(inputsFile, JSON.stringify(toPage(coldInputs)));
      await coldRow('Node', async (kind) => coldNode(kind, path.join(GENERATED, `${coldModel}.onnx`), coldModel, inputsFile));
    }
  }

  if (opts.browser) {
    let browser;
    const servers = {};
    try {
      browser = await launchChromium();
      m.chromium = browser.version();
      servers.plain = await startServer({ root: REPO, isolated: false });
      if (threadsBuild && opts.threads) servers.isolated = await startServer({ root: REPO, isolated: true });
      for (const name of names) {
        const inputs = toPage(models[name].inputs);
        log(`bench/web: ${name} in Chromium, 1 thread ...`);
        await run({ model: name, where: 'Chromium', threads: 1 }, () => benchInPage(browser, servers.plain, models[name].url, inputs,
          { ...hOpts(1), tandemUrl: TANDEM_PAGE, ortUrl: ORT_PAGE }, `chromium ${name}`));
        if (servers.isolated) {
          log(`bench/web: ${name} in Chromium (isolated), 2 threads ...`);
          await run({ model: name, where: 'Chromium', threads: 2 }, () => benchInPage(browser, servers.isolated, models[name].url, inputs,
            { ...hOpts(2), tandemUrl: TANDEM_PAGE, ortUrl: ORT_PAGE }, `chromium ${name} x2`));
        }
      }
      if (coldInputs) {
        const inputs = toPage(coldInputs);
        await coldRow('Chromium', (kind) => coldInPage(browser, servers.plain, kind, `/tests/models/generated/${coldModel}.onnx`, inputs));
      }
    } catch (e) {
      results.push({ model: names[0], where: 'Chromium', threads: 1, error: e.message });
      log(`bench/web: Chromium: FAILED: ${e.message}`);
    } finally {
      await browser?.close();
      for (const s of Object.values(servers)) await s.close();
    }
  }

  m.load_average_end = os.loadavg()[0];
  const json = { machine: m, settings: { ...settings, models: names, node: opts.node, browser: opts.browser }, results, cold, sizes: sizes() };
  writeFileSync(path.join(OUT, 'web-results.json'), `${JSON.stringify(json, null, 1)}\n`);
  const md = opts.md ?? (opts.partial ? path.join(OUT, 'BENCHMARKS-web.md') : path.join(REPO, 'BENCHMARKS.md'));
  writeSection(md, HEADING, markdown(json));
  log(`bench/web: wrote ${path.relative(REPO, md)} and ${path.relative(REPO, path.join(OUT, 'web-results.json'))}`);
  process.exit(results.some((r) => r.error) || cold.some((c) => c.error) ? 1 : 0);
}

main().catch((e) => die(e.stack || e));
