#!/usr/bin/env node
// The server's main job: start `tandem serve` on the embedded default repository (the seed MLP),
// ask for the model's metadata, send one JSON inference over the Open Inference Protocol v2, print
// the answer, and stop the server with SIGTERM (which drains, then exits 0).
//
//   node native/serve/demo.mjs [path/to/tandem]      (default build/native/tandem)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const binary = process.argv[2] ?? 'build/native/tandem';
if (!existsSync(binary)) {
  console.error(`serve demo: no tandem binary at ${binary}; build it first (cmake --build --preset native)`);
  process.exit(1);
}
const server = spawn(binary, ['serve', '--host', '127.0.0.1', '--http-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
server.stderr.on('data', (d) => { stderr += d; });
const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));

function fail(message) {
  console.error(`serve demo: ${message}\n${stderr}`);
  server.kill('SIGKILL');
  process.exit(1);
}

let listening = false;
const base = await new Promise((resolve) => {
  let out = '';
  const timer = setTimeout(() => fail('the server did not start within 20 s'), 20_000);
  server.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/listening on (http:\/\/[\d.]+:\d+)/);
    if (m && !listening) {
      listening = true;
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  exited.then(({ code }) => { if (!listening) fail(`the server exited (${code}) before listening`); });
});
console.log(`tandem serve is up at ${base}`);

const meta = await (await fetch(`${base}/v2/models/seed_mlp`)).json();
console.log(`GET  /v2/models/seed_mlp -> ${JSON.stringify(meta)}`);
const input = meta.inputs[0];
const data = Array.from({ length: 784 }, (_, i) => Math.sin(i) * 0.5);
const request = { id: 'demo-1', inputs: [{ name: input.name, shape: [1, 784], datatype: input.datatype, data }] };
const response = await fetch(`${base}/v2/models/seed_mlp/infer`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request),
});
const result = await response.json();
if (response.status !== 200) fail(`infer answered ${response.status}: ${JSON.stringify(result)}`);
const out = result.outputs[0];
console.log(`POST /v2/models/seed_mlp/infer -> ${response.status}, id ${result.id}, ` +
  `${out.name} ${out.datatype}[${out.shape}] = [${out.data.map((v) => v.toFixed(4)).join(', ')}]`);

server.kill('SIGTERM');
const { code, signal } = await exited;
if (code !== 0) fail(`the server exited with ${code ?? signal} after SIGTERM`);
console.log('stopped with SIGTERM (drained, exit 0)');
