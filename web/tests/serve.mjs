// A tiny loopback static file server for the browser test and the web benchmark.
//
//   import { startServer } from './serve.mjs';
//   const server = await startServer({ root: REPO, isolated: true });   // port 0: any free port
//   ... page.goto(`${server.url}/web/tests/pages/mobilenet.html`) ...
//   await server.close();
//
// Serves the files under `root` on 127.0.0.1 (GET and HEAD only), with the right MIME types for
// modules, wasm and models, `Cache-Control: no-store`, 403 for paths that try to leave `root`
// and 404 for missing files. With `isolated` (the default) every response carries COOP/COEP/CORP
// headers, so the page is `crossOriginIsolated` and may use SharedArrayBuffer (the threads build).
//
// Run it by hand: node web/tests/serve.mjs [--port N] [--no-isolation] [ROOT]
import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.ort': 'application/octet-stream',
  '.npy': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

export function mimeType(file) {
  return MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export async function startServer({ root, isolated = true, port = 0 } = {}) {
  if (!root) throw new Error('startServer: root (the folder to serve) is required');
  const base = path.resolve(root);

  const server = http.createServer(async (req, res) => {
    const headers = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
    if (isolated) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    const fail = (code, text) => {
      res.writeHead(code, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : `${code} ${text}\n`);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        headers.Allow = 'GET, HEAD';
        return fail(405, 'method not allowed');
      }
      // Reject any '..' segment in the raw request path (URL parsing would silently fold them
      // away), also percent-encoded or backslash-separated ones, and NUL bytes.
      const raw = (req.url ?? '/').split(/[?#]/)[0];
      let rel;
      try {
        const decoded = decodeURIComponent(raw);
        if (decoded.includes('\0') || decoded.split(/[\\/]/).includes('..')) return fail(403, 'forbidden');
        rel = decodeURIComponent(new URL(raw, 'http://localhost').pathname);
      } catch {
        return fail(400, 'bad request');
      }
      // Belt and braces: nothing may resolve outside the root.
      let file = path.resolve(base, `.${rel}`);
      if (file !== base && !file.startsWith(base + path.sep)) return fail(403, 'forbidden');
      let st;
      try {
        st = await fs.stat(file);
        if (st.isDirectory()) {
          file = path.join(file, 'index.html');
          st = await fs.stat(file);
        }
      } catch {
        return fail(404, 'not found');
      }
      if (!st.isFile()) return fail(404, 'not found');
      res.writeHead(200, { ...headers, 'Content-Type': mimeType(file), 'Content-Length': st.size });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).on('error', () => res.destroy()).pipe(res);
    } catch (e) {
      if (!res.headersSent) fail(500, e.message);
      else res.destroy();
    }
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: actual } = server.address();
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections?.();
    }),
  };
}

// CLI: serve a folder until interrupted.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let port = 8080;
  let isolated = true;
  let root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  for (let i = 0; i < args.length; ++i) {
    if (args[i] === '--port') port = Number(args[++i]);
    else if (args[i] === '--no-isolation') isolated = false;
    else root = path.resolve(args[i]);
  }
  const s = await startServer({ root, isolated, port });
  process.stderr.write(`serving ${root} at ${s.url}/ (${isolated ? 'cross-origin isolated' : 'not isolated'})\n`);
}
