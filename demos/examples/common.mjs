// What the examples share: their command line, their models, and one way to open a session.
// The examples' own code never says where a call runs: `--placement` does, so the same code runs
// locally (tandem-web's wasm build under Node), remotely (any OIP v2 server), or either.
//
//   --placement auto|local|remote|prefer-remote   default auto (prefer local, fall back remote)
//   --server URL       an OIP v2 server (tandem serve, Triton, KServe) serving the examples' models
//                      under their names; without it, remote placements start `tandem serve` on
//                      loopback over build/examples/models (and stop it at exit)
//   --memory-cap SIZE  the local budget (e.g. 16M): a model over it goes remote under auto
//   --json FILE        also write the results (outputs, where each call ran and why) as JSON
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { startTandemServe } from '../../native/serve/launch.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
const OUT = path.join(REPO, 'build', 'examples');
const PYTHON = process.env.TANDEM_PYTHON ?? '/usr/bin/python3';
const DIST = path.join(REPO, 'web', 'dist', 'index.js');

// name (as the server knows it) -> file, and what makes it.
const made = (file) => ({ file: path.join(OUT, 'models', file), make: [PYTHON, path.join(HERE, 'make_models.py')] });
export const MODELS = {
  seed_mlp_torch: made('seed_mlp_torch.onnx'),
  seed_mlp_keras: made('seed_mlp_keras.onnx'),
  text_classifier: made('text_classifier.onnx'),
  recommender: made('recommender.onnx'),
  mobilenetv2: { file: path.join(REPO, 'tests', 'models', 'generated', 'mobilenetv2.onnx'),
    make: [path.join(REPO, 'tests', 'models', 'prepare.sh')] },
};

export class ExampleError extends Error {}

const PLACEMENTS = ['auto', 'local', 'remote', 'prefer-remote'];

function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)i?[bB]?$/.exec(text ?? '');
  if (!m) throw new ExampleError(`--memory-cap ${text}: expected a size such as 16M, 512K or 1G`);
  return Math.round(Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()));
}

// Parses the shared options plus an example's own (`extra`, node:util parseArgs form).
export function parseOptions(argv, extra = {}) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, options: {
        placement: { type: 'string', default: 'auto' }, server: { type: 'string' },
        'memory-cap': { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' }, ...extra,
      },
    });
  } catch (e) {
    throw new ExampleError(`${e.message} (--help lists the options)`);
  }
  const { values, positionals } = parsed;
  if (!PLACEMENTS.includes(values.placement)) {
    throw new ExampleError(`--placement ${values.placement}: expected one of ${PLACEMENTS.join(', ')}`);
  }
  return { ...values, memoryCap: values['memory-cap'] === undefined ? undefined : parseSize(values['memory-cap']), positionals };
}

function ensureModel(name) {
  const model = MODELS[name];
  if (existsSync(model.file)) return model.file;
  process.stderr.write(`examples: making ${path.relative(REPO, model.file)} (${path.basename(model.make.at(-1))})\n`);
  const r = spawnSync(model.make[0], model.make.slice(1), { stdio: ['ignore', 2, 2] });
  if (r.status !== 0 || !existsSync(model.file)) {
    throw new ExampleError(`could not make ${model.file}: run scripts/setup first (python3-torch, python3-onnx)`);
  }
  return model.file;
}

// A repository of every example model, for the loopback server: build/examples/repository.
function ensureRepository() {
  const repo = path.join(OUT, 'repository');
  for (const name of Object.keys(MODELS)) {
    const file = ensureModel(name);
    const link = path.join(repo, name, '1', 'model.onnx');
    if (existsSync(link)) continue;
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(file, link);
  }
  return repo;
}

// Runs an example: `main(ctx)` gets { options, open(name), print(text) } and returns its results;
// the sessions it opened are released and a loopback server it needed is stopped, whatever happens.
export async function runExample(usage, extra, main) {
  let options;
  const sessions = [];
  let server = null;
  try {
    options = parseOptions(process.argv.slice(2), extra);
    if (options.help) {
      process.stdout.write(`${usage}\n\nshared options: --placement auto|local|remote|prefer-remote, --server URL, ` +
        `--memory-cap SIZE, --json FILE\n`);
      return;
    }
    if (!existsSync(DIST)) throw new ExampleError(`${DIST} is missing: build the web package (scripts/setup does)`);
    const { InferenceSession, Tensor } = await import(pathToFileURL(DIST).href);
    let serverUrl = options.server;
    if (!serverUrl && options.placement !== 'local') {
      process.stderr.write('examples: no --server given: starting tandem serve on loopback over build/examples/repository\n');
      server = await startTandemServe(ensureRepository());
      serverUrl = server.url;
      process.stderr.write(`examples: serving on ${serverUrl}\n`);
    }
    const runs = [];
    const open = async (name) => {
      const session = await InferenceSession.create(ensureModel(name), {
        placement: options.placement,
        memoryCap: options.memoryCap,
        remote: serverUrl ? { url: serverUrl, model: name } : undefined,
      });
      sessions.push(session);
      const p = session.placement;
      console.log(`${name}: placed ${p.where} (${p.reason})`);
      // Runs one call and records where it ran: the same code whatever the placement.
      return {
        session,
        run: async (feeds) => {
          const out = await session.run(feeds);
          const r = session.lastRun;
          const run = { model: name, ranOn: r.ranOn, fellBack: r.fellBack, reason: r.fallbackReason || p.reason, totalMs: r.totalMs };
          if (options.json) Object.assign(run, { feeds: tensorsToJson(feeds), outputs: tensorsToJson(out) });
          runs.push(run);
          console.log(`${name}: ran ${r.ranOn}${r.fellBack ? ` after a fallback (${r.fallbackReason})` : ''} in ${r.totalMs.toFixed(1)} ms`);
          return out;
        },
      };
    };
    const results = await main({ options, open, Tensor });
    if (options.json) writeFileSync(options.json, JSON.stringify({ placement: options.placement, server: serverUrl ?? null, runs, results }, null, 1));
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exitCode = 1;
  } finally {
    for (const s of sessions) await s.release().catch(() => {});
    if (server) await server.kill();
  }
}

// { name: { type, dims, data } } with plain arrays (int64 as numbers), for the JSON file.
function tensorsToJson(tensors) {
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { type: t.type, dims: t.dims, data: Array.from(t.data, Number) }]));
}

// Exits with a clear message when an example's own option is not a whole number in [min, max].
export function intOption(options, name, min, max) {
  const v = Number(options[name]);
  if (!Number.isInteger(v) || v < min || v > max) throw new ExampleError(`--${name} ${options[name]}: expected a whole number from ${min} to ${max}`);
  return v;
}

// Deterministic pseudo-random numbers in [0, 1) (a 32-bit LCG), so runs are repeatable.
export function uniform(count, seed) {
  const out = new Float32Array(count);
  let v = seed >>> 0;
  for (let i = 0; i < count; i++) { v = (Math.imul(v, 1664525) + 1013904223) >>> 0; out[i] = v / 2 ** 32; }
  return out;
}
