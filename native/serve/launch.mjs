// Starts the native `tandem serve` (build/native/tandem) on a free loopback port, on a temporary
// repository of the given models (symlinked, not copied): for the web and demo tests, and for
// the examples (demos/examples) when they run remote without --server.
//
//   const server = await startTandemServe({ seed_mlp: '/path/seed_mlp.onnx' }, ['--allow-origin', origin]);
//   ... fetch(`${server.url}/v2/models/seed_mlp`) ...
//   await server.kill();   // SIGKILL, and the repository is removed
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TANDEM_BINARY = path.join(REPO, process.env.TANDEM_BINARY ?? 'build/native/tandem');

export function makeRepository(models) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tandem-web-repo-'));
  for (const [name, file] of Object.entries(models)) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run tests/models/prepare.sh (scripts/test native does)`);
    mkdirSync(path.join(dir, name, '1'), { recursive: true });
    symlinkSync(file, path.join(dir, name, '1', 'model.onnx'));
  }
  return dir;
}

// `models`: { name: file } for a fresh repository, or a repository folder (a string).
export function startTandemServe(models, args = []) {
  if (!existsSync(TANDEM_BINARY)) {
    throw new Error(`${TANDEM_BINARY} is missing: build the native preset first (scripts/test native)`);
  }
  const own = typeof models !== 'string';
  const repo = own ? makeRepository(models) : models;
  const child = spawn(TANDEM_BINARY, ['serve', '--host', '127.0.0.1', '--http-port', '0', '--model-repository', repo,
    '--no-access-log', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const cleanup = () => { if (own) rmSync(repo, { recursive: true, force: true }); };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); cleanup(); reject(new Error(`tandem serve did not start:\n${log}`)); }, 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1], child, repo, log: () => log,
          kill: () => new Promise((r) => {
            if (child.exitCode !== null || child.signalCode !== null) { cleanup(); return r(); }
            child.once('exit', () => { cleanup(); r(); });
            child.kill('SIGKILL');
          }),
        });
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); cleanup(); reject(new Error(`tandem serve exited ${code}:\n${log}`)); });
  });
}
