#!/usr/bin/env node
// The hybrid main job: one `tandem run` command, two models, one memory budget (64 MB). The seed
// MLP (0.9 MB) fits and runs locally; a wide MLP (46 MB of weights: twice that to load and pack)
// does not, so the router sends it to `tandem serve` (started here on loopback) before reading a
// single weight. Both runs print where they ran and why.
//
//   node native/cli/hybrid_demo.mjs [path/to/tandem]      (default build/native/tandem)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';

const binary = path.resolve(process.argv[2] ?? 'build/native/tandem');
const models = path.resolve('build/models');
const small = path.join(models, 'seed_mlp.onnx');
const large = path.join(models, 'big_mlp.onnx');
const budget = '64M';

function die(message) {
  console.error(`hybrid demo: ${message}`);
  process.exit(1);
}
if (!existsSync(binary)) die(`no tandem binary at ${binary}; build it first (cmake --build --preset native)`);
mkdirSync(models, { recursive: true });
for (const [file, sizes] of [[small, null], [large, '784,4096,2048,10']]) {
  if (existsSync(file)) continue;
  console.log(`generating ${path.basename(file)}${sizes ? ` (sizes ${sizes})` : ''}`);
  const args = ['scripts/make_seed_mlp.py', file, ...(sizes ? ['--sizes', sizes] : [])];
  const r = spawnSync('/usr/bin/python3', args, { stdio: 'inherit' });
  if (r.status !== 0) die(`could not generate ${file} (needs python3-onnx and python3-numpy: scripts/setup)`);
}

// The server's repository: both models, by name.
const repo = path.join(models, 'hybrid-repository');
rmSync(repo, { recursive: true, force: true });
for (const [name, file] of [['seed_mlp', small], ['big_mlp', large]]) {
  mkdirSync(path.join(repo, name, '1'), { recursive: true });
  symlinkSync(file, path.join(repo, name, '1', 'model.onnx'));
}

const server = spawn(binary, ['serve', '--host', '127.0.0.1', '--http-port', '0', '--model-repository', repo],
  { stdio: ['ignore', 'pipe', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog += d; });
const url = await new Promise((resolve) => {
  let out = '';
  const timer = setTimeout(() => { server.kill('SIGKILL'); die(`the server did not start within 20 s\n${serverLog}`); }, 20_000);
  server.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/listening on (http:\/\/[\d.]+:\d+)/);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  server.on('exit', (code) => die(`the server exited (${code}) before listening\n${serverLog}`));
});
console.log(`tandem serve on ${url} (repository ${repo})\n`);

let failed = false;
for (const [file, expect] of [[small, 'local'], [large, 'remote']]) {
  const args = ['run', file, '--remote', url, '--memory-cap', budget, '--seed', '1'];
  console.log(`$ tandem ${args.join(' ')}`);
  const r = spawnSync(binary, args, { encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  const placed = (r.stdout.match(/^placement (\w+)/m) ?? [])[1];
  const ran = (r.stdout.match(/^ran on\s+(\w+)/m) ?? [])[1];
  if (r.status !== 0 || placed !== expect || ran !== expect) {
    console.error(`hybrid demo: expected ${path.basename(file)} to run ${expect}, got placement ${placed}, ran on ${ran}`);
    failed = true;
  }
  console.log();
}
server.removeAllListeners('exit');
server.kill('SIGTERM');
await new Promise((resolve) => server.on('exit', resolve));
if (failed) process.exit(1);
console.log(`both reported: the small model ran locally, the large one remotely (budget ${budget})`);
