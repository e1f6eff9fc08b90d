#!/usr/bin/env node
// The web demo's launcher: builds the site (the page, the tandem-web package, the models and their
// labels) under build/demo/, and starts `tandem serve` on it: the page and the models' OIP v2 API
// on one origin (--static), so the page is cross-origin isolated (the threads build) and needs no
// CORS. Ctrl-C stops it.
//
//   node demos/web/serve.mjs [--port 8000] [--host 127.0.0.1] [--tandem build/native/tandem]
//   node demos/web/serve.mjs --check     # build the site, start, answer one request, stop
//
// Also a module for tests: const demo = await startDemo({ port: 0 }); ... await demo.stop();
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const OUT = path.join(REPO, 'build', 'demo');
const GENERATED = path.join(REPO, 'tests', 'models', 'generated');
const PYTHON = process.env.TANDEM_PYTHON ?? '/usr/bin/python3';

// The demo's models: file, and the name tandem serve knows it by.
export const MODELS = {
  mobilenetv2: { file: path.join(GENERATED, 'mobilenetv2.onnx'), make: 'tests/models/prepare.sh' },
  bert_encoder: { file: path.join(GENERATED, 'bert_encoder.onnx'), make: 'tests/models/prepare.sh' },
  big_mlp: { file: path.join(REPO, 'build', 'models', 'big_mlp.onnx'), sizes: '784,4096,2048,10' },
};

class DemoError extends Error {}

function step(text) { process.stderr.write(`demo: ${text}\n`); }

function newer(src, dst) {
  return !existsSync(dst) || statSync(src).mtimeMs > statSync(dst).mtimeMs;
}

// Generates what is missing: the parity models (torch export) and the big MLP, and the labels.
function ensureModels() {
  if (!existsSync(MODELS.mobilenetv2.file) || !existsSync(MODELS.bert_encoder.file)) {
    step('exporting MobileNetV2 and the BERT-style encoder (tests/models/prepare.sh, about a minute)');
    const r = spawnSync(path.join(REPO, 'tests', 'models', 'prepare.sh'), { stdio: 'inherit' });
    if (r.status !== 0) throw new DemoError('could not export the models: run scripts/setup first (python3-torch, python3-onnx)');
  }
  if (!existsSync(MODELS.big_mlp.file)) {
    step(`generating big_mlp.onnx (an MLP of ${MODELS.big_mlp.sizes}: 46 MB of weights, over the page's budget)`);
    mkdirSync(path.dirname(MODELS.big_mlp.file), { recursive: true });
    const r = spawnSync(PYTHON, [path.join(REPO, 'scripts', 'make_seed_mlp.py'), MODELS.big_mlp.file, '--sizes', MODELS.big_mlp.sizes], { stdio: 'inherit' });
    if (r.status !== 0) throw new DemoError('could not generate big_mlp.onnx (needs python3-onnx, python3-numpy: scripts/setup)');
  }
}

// ImageNet's class names ship inside Debian's torchvision (no download).
function writeLabels(file) {
  if (existsSync(file)) return;
  const code = 'import json,sys,torchvision;json.dump(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"],open(sys.argv[1],"w"))';
  const r = spawnSync(PYTHON, ['-c', code, file], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new DemoError('could not write the ImageNet labels (needs python3-torchvision: scripts/setup)');
}

// build/demo/site: the page, /tandem/ (web/dist), /models/ (copies: the server refuses symlinks
// out of the site). build/demo/repository: the same models for tandem serve (symlinks).
export function buildSite() {
  const dist = path.join(REPO, 'web', 'dist', 'index.js');
  if (!existsSync(dist)) throw new DemoError('web/dist/ is missing: build the web package (scripts/setup, or cmake --build --preset wasm)');
  ensureModels();
  const site = path.join(OUT, 'site');
  mkdirSync(path.join(site, 'models'), { recursive: true });
  for (const f of readdirSync(HERE)) {
    if (f === 'serve.mjs' || f === 'README.md') continue;
    cpSync(path.join(HERE, f), path.join(site, f), { recursive: true });
  }
  cpSync(path.join(REPO, 'web', 'dist'), path.join(site, 'tandem'), { recursive: true });
  for (const [name, m] of Object.entries(MODELS)) {
    const dst = path.join(site, 'models', `${name}.onnx`);
    if (newer(m.file, dst)) copyFileSync(m.file, dst);
  }
  writeLabels(path.join(site, 'models', 'imagenet_labels.json'));
  const repo = path.join(OUT, 'repository');
  rmSync(repo, { recursive: true, force: true });
  for (const [name, m] of Object.entries(MODELS)) {
    mkdirSync(path.join(repo, name, '1'), { recursive: true });
    symlinkSync(m.file, path.join(repo, name, '1', 'model.onnx'));
  }
  writeFileSync(path.join(repo, 'big_mlp', 'config.json'), JSON.stringify({ max_batch_size: 8 }));
  return { site, repo };
}

export async function startDemo({ port = 8000, host = '127.0.0.1', tandem = path.join(REPO, 'build', 'native', 'tandem'), quiet = false } = {}) {
  if (!existsSync(tandem)) throw new DemoError(`no tandem binary at ${tandem}: build it first (scripts/setup)`);
  const { site, repo } = buildSite();
  const child = spawn(tandem, ['serve', '--host', host, '--http-port', String(port), '--model-repository', repo, '--static', site,
    ...(quiet ? ['--no-access-log'] : [])], { stdio: ['ignore', 'pipe', quiet ? 'pipe' : 'inherit'] });
  let log = '';
  child.stderr?.on('data', (d) => { log += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new DemoError(`tandem serve did not start within 30 s\n${log}`)); }, 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s,]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new DemoError(`tandem serve exited (${code}) before listening${log ? `:\n${log}` : ''}${port ? ` (is port ${port} in use? try --port 0)` : ''}`)); });
  });
  const exited = new Promise((r) => child.once('exit', r));
  return {
    url: url.replace('0.0.0.0', '127.0.0.1'), site, repo, child, log: () => log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

// CLI
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = { port: 8000, host: '127.0.0.1' };
  let check = false;
  for (let i = 0; i < args.length; ++i) {
    if (args[i] === '--port') opt.port = Number(args[++i]);
    else if (args[i] === '--host') opt.host = args[++i];
    else if (args[i] === '--tandem') opt.tandem = path.resolve(args[++i]);
    else if (args[i] === '--check') { check = true; opt.port = 0; opt.quiet = true; }
    else { console.error(`usage: node demos/web/serve.mjs [--port N] [--host ADDR] [--tandem PATH] [--check]\nunknown argument '${args[i]}'`); process.exit(2); }
  }
  try {
    const demo = await startDemo(opt);
    if (check) {
      const page = await fetch(`${demo.url}/`);
      const meta = await fetch(`${demo.url}/v2/models/mobilenetv2`);
      const ok = page.ok && meta.ok && (await page.text()).includes('Tandem');
      console.log(`web demo: page ${page.status}, model metadata ${meta.status} at ${demo.url}/`);
      await demo.stop();
      process.exit(ok ? 0 : 1);
    }
    console.log(`\nTandem web demo: open ${demo.url}/ in a browser (Ctrl-C stops the server)\n`);
    const stop = () => demo.stop().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (e) {
    console.error(`demo: ${e.message}`);
    process.exit(1);
  }
}
