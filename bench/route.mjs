#!/usr/bin/env node
// What hybrid routing costs (issue 12): the router's decision, the routing layer on the local
// path, and a remote call's overhead above the model's compute on loopback (binary tensor
// extension vs JSON), for a 1x3x224x224 input (ResNet-18, MobileNetV2) and the seed MLP. The
// in-process peer is onnxruntime-node on the same model and input (its run time is the compute a
// remote call is compared with). Then a budget sweep: MLPs of 1-80 MB under budgets of 64 MB-8 GB,
// placed by `tandem run --memory-cap`, with the peak RSS of what ran locally. Writes the
// "## Hybrid routing" section of BENCHMARKS.md.
//
//   node bench/route.mjs [--runs 30] [--rounds 5] [--out BENCHMARKS.md] [--models resnet18,mobilenetv2,seed_mlp]
//
// Needs the native build (build/native: tandem, bench/tandem_route_bench) and the exported models
// (tests/models/prepare.sh).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { printHeaderComment, writeSection } from './sections.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const args = process.argv.slice(2);
if (args.includes('--help')) printHeaderComment(import.meta.url);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const runs = Number(opt('--runs', 30));
const rounds = Number(opt('--rounds', 5));
const out = path.resolve(opt('--out', path.join(REPO, 'BENCHMARKS.md')));
const names = opt('--models', 'resnet18,mobilenetv2,seed_mlp').split(',');
const TANDEM = path.join(REPO, 'build/native/tandem');
const BENCH = path.join(REPO, 'build/native/bench/tandem_route_bench');

let server;
function die(message) {
  console.error(`bench/route: ${message}`);
  server?.kill('SIGKILL');
  process.exit(1);
}
for (const f of [TANDEM, BENCH]) if (!existsSync(f)) die(`missing ${f}; build with: cmake --build --preset native`);
const file = (n) => (n === 'seed_mlp' ? path.join(REPO, 'tests/models/generated/seed_mlp.onnx')
  : path.join(REPO, 'tests/models/generated', `${n}.onnx`));
for (const n of names) if (!existsSync(file(n))) die(`missing ${file(n)}; run tests/models/prepare.sh`);

// The budget sweep's models: MLPs of 1 to 80 MB (scripts/make_seed_mlp.py --sizes), made once.
const SWEEP_DIR = path.join(REPO, 'bench/out/models');
const SWEEP = [['mlp_1mb', null], ['mlp_15mb', '784,2048,1024,10'], ['mlp_46mb', '784,4096,2048,10'], ['mlp_80mb', '784,4096,4096,10']];
const BUDGETS = [['64M', 64], ['128M', 128], ['256M', 256], ['8G', 8192]];
mkdirSync(SWEEP_DIR, { recursive: true });
for (const [n, sizes] of SWEEP) {
  const f = path.join(SWEEP_DIR, `${n}.onnx`);
  if (existsSync(f)) continue;
  const r = spawnSync('/usr/bin/python3', [path.join(REPO, 'scripts/make_seed_mlp.py'), f, ...(sizes ? ['--sizes', sizes] : [])], { encoding: 'utf8' });
  if (r.status !== 0) die(`cannot generate ${f}: ${r.stderr}`);
}

const repo = path.join(os.tmpdir(), `tandem-route-bench-${process.pid}`);
rmSync(repo, { recursive: true, force: true });
for (const [n, f] of [...names.map((n) => [n, file(n)]), ...SWEEP.map(([n]) => [n, path.join(SWEEP_DIR, `${n}.onnx`)])]) {
  mkdirSync(path.join(repo, n, '1'), { recursive: true });
  symlinkSync(f, path.join(repo, n, '1', 'model.onnx'));
}
server = spawn(TANDEM, ['serve', '--host', '127.0.0.1', '--http-port', '0', '--model-repository', repo, '--no-access-log'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
server.stderr.on('data', () => {});
const url = await new Promise((resolve) => {
  let text = '';
  server.stdout.on('data', (d) => {
    text += d;
    const m = text.match(/listening on (http:\/\/[\d.]+:\d+)/);
    if (m) resolve(m[1]);
  });
  server.once('exit', (code) => die(`tandem serve exited (${code})`));
});

let ort;
try {
  ort = (await import('onnxruntime-node')).default;
} catch (e) {
  die(`cannot load onnxruntime-node (${e.message.split('\n')[0]}); run "npm ci --ignore-scripts"`);
}

// onnxruntime-node in process on the same shapes: the peer's compute.
async function ortMedian(model, inputsDesc) {
  const session = await ort.InferenceSession.create(model, { interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const feeds = {};
  for (const d of inputsDesc) {
    const n = d.shape.reduce((a, b) => a * b, 1);
    feeds[d.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => (i % 97) / 97), d.shape);
  }
  for (let i = 0; i < 5; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < runs * rounds; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const rows = [];
for (const n of names) {
  process.stdout.write(`bench/route: ${n} (${rounds} rounds x ${runs} runs per side) ... `);
  const r = spawnSync(BENCH, ['--model', file(n), '--remote', url, '--name', n, '--runs', String(runs), '--rounds', String(rounds)],
    { encoding: 'utf8' });
  if (r.status !== 0) die(`tandem_route_bench failed on ${n}:\n${r.stderr}`);
  const res = JSON.parse(r.stdout);
  res.ort_ms = await ortMedian(file(n), res.inputs);
  rows.push(res);
  console.log(`decision ${res.decision_ns.toFixed(0)} ns, remote overhead binary ${res.remote_binary.overhead_ms.toFixed(3)} ms, json ${res.remote_json.overhead_ms.toFixed(3)} ms`);
}
// Budget sweep: `tandem run --memory-cap B` places each model; its peak RSS says what a local
// run really took. Local need = a local-only run's peak RSS - the 1 MB model's (the process itself).
function tandemRun(model, extra) {
  const r = spawnSync(TANDEM, ['run', model, '--remote', url, '--seed', '1', ...extra], { encoding: 'utf8' });
  if (r.status !== 0) die(`tandem run ${model} ${extra.join(' ')} failed:\n${r.stderr}`);
  return {
    placed: (r.stdout.match(/^placement (\w+)/m) ?? [])[1],
    ran: (r.stdout.match(/^ran on\s+(\w+)/m) ?? [])[1],
    rss: Number((r.stdout.match(/^memory\s+peak RSS ([\d.]+) MB/m) ?? [])[1]),
  };
}
process.stdout.write('bench/route: budget sweep ... ');
const sweep = [];
const localRss = Object.fromEntries(SWEEP.map(([n]) => [n, tandemRun(path.join(SWEEP_DIR, `${n}.onnx`), ['--placement', 'local']).rss]));
const baseRss = localRss.mlp_1mb;
for (const [n] of SWEEP) {
  const need = Math.max(0, localRss[n] - baseRss);
  for (const [cap, mb] of BUDGETS) {
    const r = tandemRun(path.join(SWEEP_DIR, `${n}.onnx`), ['--memory-cap', cap]);
    const ok = r.placed === 'local' ? need <= mb : need > mb;
    sweep.push({ model: n, cap, mb, need, ...r, ok });
  }
}
console.log(`${sweep.filter((x) => x.ok).length} of ${sweep.length} as expected`);

server.removeAllListeners('exit');
server.kill('SIGTERM');
rmSync(repo, { recursive: true, force: true });

const f = (v, d = 3) => v.toFixed(d);
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).stdout.trim();
const L = [];
L.push('## Hybrid routing (HybridSession, OIP v2 client over loopback)', '');
L.push(`Measured by \`node bench/route.mjs\` on ${new Date().toISOString().slice(0, 10)} at ${commit}, ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), ` +
  `${rounds} rounds x ${runs} runs per side, medians (p90 in brackets). \`tandem serve\` and the client share the machine's cores. ` +
  'Overhead = client-observed total - server queue - server compute (from the server\'s `Server-Timing` header): ' +
  'what the protocol, the encoding and loopback add above the model. The peer column is onnxruntime-node running the ' +
  'same model and input in process.', '');
L.push('| model | input | decision | local: Session::run | local: HybridSession | remote binary: total | compute | overhead | remote JSON: total | overhead | ORT-node in process | remote binary / ORT |');
L.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  L.push(`| ${r.model} | ${r.label} | ${f(r.decision_ns / 1000, 2)} µs | ${f(r.session_run.total_ms)} ms | ${f(r.hybrid_local.total_ms)} ms | ` +
    `${f(r.remote_binary.total_ms)} ms | ${f(r.remote_binary.compute_ms)} ms | **${f(r.remote_binary.overhead_ms)} ms** (${f(r.remote_binary.overhead_p90_ms)}) | ` +
    `${f(r.remote_json.total_ms)} ms | ${f(r.remote_json.overhead_ms)} ms (${f(r.remote_json.overhead_p90_ms)}) | ${f(r.ort_ms)} ms | ` +
    `${f(r.remote_binary.total_ms / r.ort_ms, 2)} |`);
}
L.push('');
const worstDecision = Math.max(...rows.map((r) => r.decision_p90_ns)) / 1000;
const image = rows.filter((r) => r.label.includes('[1, 3, 224, 224]'));
L.push('Targets (issue 12):', '');
L.push(`- decision overhead < 50 µs: **${worstDecision < 50 ? 'met' : 'not met'}** (p90 at most ${f(worstDecision, 2)} µs; the router is a pure function of cached facts and the breaker's state).`);
for (const r of image) {
  L.push(`- remote overhead <= 1 ms above compute, 1x3x224x224, binary, ${r.model}: **${r.remote_binary.overhead_ms <= 1 ? 'met' : 'not met'}** ` +
    `(${f(r.remote_binary.overhead_ms)} ms; JSON ${f(r.remote_json.overhead_ms)} ms, ${f(r.remote_json.overhead_ms / r.remote_binary.overhead_ms, 1)}x the binary overhead).`);
}
const wrong = sweep.filter((x) => !x.ok);
L.push(`- never a local out-of-memory, never remote when local fits (MLPs of 1-80 MB x budgets of 64 MB-8 GB, measured below): ` +
  `**${wrong.length === 0 ? 'met' : `not met in ${wrong.length} of ${sweep.length} cases`}**. The unit test ` +
  '`Router.NeverLocalWhenTooLargeNeverRemoteWhenItFits` checks the same rule against the estimate over 1-90 MB x 64 MB-8 GB.');
L.push('');
L.push('### Budget sweep (`tandem run --memory-cap B --remote URL`)', '');
L.push(`Local need = peak RSS of a local-only run - peak RSS of the 1 MB model's run (${f(baseRss, 1)} MB: the process itself). ` +
  'Placement is decided before the weights are read (file size), then again on the memory plan.', '');
L.push('| model | local need (measured) | budget | placement | ran on | peak RSS | as it should be |');
L.push('|---|---|---|---|---|---|---|');
for (const x of sweep) {
  L.push(`| ${x.model} | ${f(x.need, 1)} MB | ${x.cap} | ${x.placed} | ${x.ran} | ${f(x.rss, 1)} MB | ${x.ok ? 'yes' : '**no**'} |`);
}
L.push('');
writeSection(out, L[0], L.join('\n'));
console.log(`bench/route: wrote "${L[0]}" to ${out}`);
